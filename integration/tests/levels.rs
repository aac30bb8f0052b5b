//! The level table of DESIGN.md through runc: each row observed from
//! inside a container started by `linerate-runtime`.

use linerate_integration::checks;
use linerate_integration::{Engine, USER_UID};

const E: Engine = Engine::Runc;

#[test]
fn minimal_keeps_spec_capabilities() {
    checks::minimal_keeps_spec_capabilities(E);
}

#[test]
fn no_annotation_means_minimal() {
    checks::no_annotation_means_minimal(E);
}

#[test]
fn minimal_refuses_host_level_calls() {
    checks::minimal_refuses_host_level_calls(E);
}

#[test]
fn minimal_runs_clone3_and_threads() {
    checks::minimal_runs_clone3_and_threads(E);
}

#[test]
fn minimal_has_no_landlock() {
    checks::minimal_has_no_landlock(E);
}

#[test]
fn sandbox_drops_privileges_as_root() {
    checks::sandbox_drops_privileges(E, 0);
}

#[test]
fn sandbox_drops_privileges_as_user() {
    checks::sandbox_drops_privileges(E, USER_UID);
}

#[test]
fn sandbox_refuses_with_eperm() {
    checks::sandbox_refuses_with_eperm(E);
}

#[test]
fn sandbox_landlock_writes_as_root() {
    checks::sandbox_landlock_writes(E, 0);
}

#[test]
fn sandbox_landlock_writes_as_user() {
    checks::sandbox_landlock_writes(E, USER_UID);
}

#[test]
fn sandbox_landlock_exec() {
    checks::sandbox_landlock_exec(E);
}

#[test]
fn sandbox_private_network() {
    checks::sandbox_private_network(E);
}

#[test]
fn hardened_refused_as_root() {
    checks::hardened_refused(E, 0);
}

#[test]
fn hardened_refused_as_user() {
    checks::hardened_refused(E, USER_UID);
}
