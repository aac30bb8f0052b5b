//! The policy a process reports from inside a container an engine
//! started: sandbox, minimal, or untouched by linerate, each judged against
//! the same engine without linerate where the engine's own spec matters.

use std::path::Path;

use serde_json::Value;

use crate::checks::{probe, CAP_SETS, NO_CAPS};
use crate::{Run, World};

/// What a process reports: its capability sets, no_new_privs and seccomp
/// mode, a call sandbox refuses with EPERM (keyctl), one it does not know
/// (clone3), a write outside the writable paths and one inside.
pub const POLICY_PROBE: [&[&str]; 5] = [
    &["status"],
    &["syscall", "keyctl"],
    &["syscall", "clone3"],
    &["write", "/etc/x"],
    &["write", "/tmp/x"],
];

/// Where linerate mounts the blob in the container.
pub const PROFILE_MOUNT: &str = "/.linerate/profile";

/// The probe's arguments for [`POLICY_PROBE`].
pub fn policy_probe() -> Vec<&'static str> {
    probe(&POLICY_PROBE)
}

/// sandbox: every capability set empty, no_new_privs, a filter, keyctl
/// EPERM, clone3 ENOSYS, /etc read-only and /tmp writable.
pub fn assert_sandbox(run: &Run, why: &str) {
    run.expect_success();
    for set in CAP_SETS {
        run.assert_value(set, NO_CAPS, why);
    }
    run.assert_value("NoNewPrivs", "1", why);
    run.assert_value("Seccomp", "2", why);
    run.assert_value("keyctl", "errno:EPERM", why);
    run.assert_value("clone3", "errno:ENOSYS", why);
    assert_eq!(
        run.all_values("write"),
        ["errno:EACCES", "ok"],
        "{why}: write /etc/x refused with EACCES, /tmp/x allowed\n{run}"
    );
}

/// The engine without linerate: no filter at all and keyctl reaches the
/// kernel, so that a filter or an EPERM seen later is linerate's.
pub fn assert_control(plain: &Run, engine: &str) {
    plain.expect_success();
    let why = format!("control: {engine} without linerate");
    plain.assert_value("Seccomp", "0", &why);
    let keyctl = plain.value("keyctl");
    assert!(
        keyctl.starts_with("ret:"),
        "{why}: keyctl should reach the kernel, got `{keyctl}`\n{plain}"
    );
}

/// minimal: the capability sets and no_new_privs of the engine's spec
/// (as `plain` shows them), the deny-list (keyctl EPERM) and nothing of
/// sandbox (clone3 runs, /etc writable).
pub fn assert_minimal(run: &Run, plain: &Run, why: &str) {
    run.expect_success();
    for key in CAP_SETS.iter().chain(&["NoNewPrivs"]) {
        run.assert_value(key, &plain.value(key), why);
    }
    run.assert_value("Seccomp", "2", why);
    run.assert_value("keyctl", "errno:EPERM", why);
    run.assert_value("clone3", "errno:EINVAL", why);
    assert_eq!(
        run.all_values("write"),
        ["ok", "ok"],
        "{why}: no Landlock\n{run}"
    );
}

/// Untouched by linerate: exactly what the engine alone gives.
pub fn assert_untouched(run: &Run, plain: &Run, why: &str) {
    run.expect_success();
    for key in CAP_SETS.iter().chain(&["NoNewPrivs", "Seccomp"]) {
        run.assert_value(key, &plain.value(key), why);
    }
    run.assert_value("Seccomp", "0", why);
    assert!(
        run.value("keyctl").starts_with("ret:"),
        "{why}: keyctl runs\n{run}"
    );
    run.assert_value("clone3", "errno:EINVAL", why);
    assert_eq!(
        run.all_values("write"),
        ["ok", "ok"],
        "{why}: no Landlock\n{run}"
    );
}

/// The source of the mount at `destination` in a spec, if any.
pub fn mount_source(spec: &Value, destination: &str) -> Option<String> {
    spec["mounts"]
        .as_array()?
        .iter()
        .find(|m| m["destination"] == destination)
        .and_then(|m| m["source"].as_str().map(str::to_owned))
}

/// The container's blob came from the world's store, not from a store
/// the host may have: the engine passed the test's settings through.
pub fn assert_profile_from_world_store(w: &World, spec: &Value, why: &str) {
    let source = mount_source(spec, PROFILE_MOUNT)
        .unwrap_or_else(|| panic!("{why}: the spec mounts nothing at {PROFILE_MOUNT}\n{spec:#}"));
    assert!(
        Path::new(&source).starts_with(w.store()),
        "{why}: the profile mounted at {PROFILE_MOUNT} is {source}, outside the test's store {}; \
         linerate did not get the test's LINERATE_STORE and used another store",
        w.store().display()
    );
}
