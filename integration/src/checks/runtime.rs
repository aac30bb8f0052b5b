//! Commands of `linerate-runtime` beyond a foreground `run`: detached
//! starts, `create` then `start`, and `exec` into a running container.

use super::{assert_filtered, assert_no_caps, probe};
use crate::{world_or_skip, Engine, World};

/// What a process under sandbox reports: no capability, no_new_privs, the
/// filter, keyctl EPERM, clone3 ENOSYS, /etc read-only.
const SANDBOX_PROBE: [&[&str]; 4] = [
    &["status"],
    &["syscall", "keyctl"],
    &["syscall", "clone3"],
    &["write", "/etc/x"],
];

fn assert_sandboxed(run: &crate::Run, why: &str) {
    run.expect_success();
    assert_no_caps(run, why);
    assert_filtered(run, "1", why);
    run.assert_value("keyctl", "errno:EPERM", why);
    run.assert_value("clone3", "errno:ENOSYS", why);
    run.assert_value("write", "errno:EACCES", why);
}

/// `linerate-runtime exec` into a detached sandbox container (`run -d`)
/// runs the new process under the same policy as the first.
pub fn exec_into_detached_sandbox(engine: Engine) {
    let w = world_or_skip!(World::privileged(engine));
    let bundle = w.bundle(&["sleep", "60"]).level("sandbox");
    w.run_detached(&bundle).expect_success();

    let state = w.state(&bundle.id);
    let status = state.as_ref().map(|s| s["status"].clone());
    assert_eq!(
        status,
        Some(serde_json::json!("running")),
        "the detached container runs"
    );

    let run = w.exec(&bundle.id, &probe(&SANDBOX_PROBE));
    assert_sandboxed(&run, "a process entering a sandbox container later");
    w.remove(&bundle.id);
}

/// `create` then `start` (the engines' path) applies sandbox too.
pub fn create_then_start_sandbox(engine: Engine) {
    let w = world_or_skip!(World::privileged(engine));
    let bundle = w.bundle(&probe(&SANDBOX_PROBE)).level("sandbox");
    w.create(&bundle).expect_success();
    w.start(&bundle.id).expect_success();
    let run = w.wait_stopped(&bundle);
    assert_sandboxed(&run, "a sandbox container made with create and start");
    w.remove(&bundle.id);
}
