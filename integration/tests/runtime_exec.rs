//! `linerate-runtime` beyond a foreground run, through runc: a detached
//! start with `exec` into it, and `create` then `start`.

use linerate_integration::{checks, Engine};

const E: Engine = Engine::Runc;

#[test]
fn exec_into_detached_sandbox() {
    checks::exec_into_detached_sandbox(E);
}

#[test]
fn create_then_start_sandbox() {
    checks::create_then_start_sandbox(E);
}
