//! The main checks again through crun (behind the wrapper of RECIPES.md),
//! so that nothing depends on runc's own behaviour.

use linerate_integration::{checks, Engine, LEVEL_ANNOTATION, USER_UID};

const E: Engine = Engine::Crun;

#[test]
fn crun_minimal_keeps_spec_capabilities() {
    checks::minimal_keeps_spec_capabilities(E);
}

#[test]
fn crun_minimal_refuses_host_level_calls() {
    checks::minimal_refuses_host_level_calls(E);
}

#[test]
fn crun_sandbox_drops_privileges_as_root() {
    checks::sandbox_drops_privileges(E, 0);
}

#[test]
fn crun_sandbox_as_user() {
    checks::sandbox_as_user(E);
}

#[test]
fn crun_sandbox_refuses_with_eperm() {
    checks::sandbox_refuses_with_eperm(E);
}

#[test]
fn crun_sandbox_hides_unknown_calls() {
    checks::sandbox_hides_unknown_calls(E);
}

#[test]
fn crun_foreign_abis_refused_at_sandbox() {
    checks::foreign_abis_refused(E, "sandbox");
}

#[test]
fn crun_sandbox_landlock_writes_as_root() {
    checks::sandbox_landlock_writes(E, 0);
}

#[test]
fn crun_sandbox_landlock_writes_as_user() {
    checks::sandbox_landlock_writes(E, USER_UID);
}

#[test]
fn crun_sandbox_landlock_exec() {
    checks::sandbox_landlock_exec(E);
}

#[test]
fn crun_sandbox_private_network() {
    checks::sandbox_private_network(E);
}

#[test]
fn crun_tmp_file_operations() {
    checks::sandbox_tmp_file_operations(E);
}

#[test]
fn crun_f10_cwd_in_proc_self_fd_minimal() {
    checks::cwd_in_proc_self_fd(E, "minimal");
}

#[test]
fn crun_f10_cwd_in_proc_self_fd_sandbox() {
    checks::cwd_in_proc_self_fd(E, "sandbox");
}

#[test]
fn crun_no_leaked_fds_sandbox() {
    checks::no_leaked_fds(E, "sandbox");
}

#[test]
fn crun_profile_keeps_net_bind_service() {
    checks::profile_keeps_one_capability(E);
}

#[test]
fn crun_hardened_refused() {
    checks::hardened_refused(E, 0);
}

#[test]
fn crun_misspelt_level_refused() {
    checks::annotation_refused(E, LEVEL_ANNOTATION, "sandboxx");
}

#[test]
fn crun_tampered_profile_blob_refused() {
    checks::tampered_profile_refused(E);
}

#[test]
fn crun_exec_into_detached_sandbox() {
    checks::exec_into_detached_sandbox(E);
}

#[test]
fn crun_create_then_start_sandbox() {
    checks::create_then_start_sandbox(E);
}
