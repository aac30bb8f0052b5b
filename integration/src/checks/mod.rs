//! Checks shared by the test files. Each takes the [`Engine`](crate::Engine)
//! so that runc and crun run the same assertions; each builds its own
//! [`World`](crate::World) and returns early (after a loud skip) when it
//! cannot run.
//!
//! Where a check expects a filter's errno, it first runs the same probe
//! under the plain runtime (no linerate) and asserts that the kernel itself
//! does not already give that errno, so an expected EPERM can only come
//! from linerate.

mod cases;
mod minimal;
mod refusal;
mod runtime;
mod sandbox;

pub use cases::*;
pub use minimal::*;
pub use refusal::*;
pub use runtime::*;
pub use sandbox::*;

use crate::{Run, PROBE_IN_CONTAINER};

/// The capability sets of /proc/PID/status.
pub const CAP_SETS: [&str; 5] = ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"];

/// An empty capability set as /proc/PID/status prints it.
pub const NO_CAPS: &str = "0000000000000000";

/// The argument vector running the probe with `commands`, joined by `--`.
pub fn probe<'a>(commands: &[&[&'a str]]) -> Vec<&'a str> {
    let mut args = vec![PROBE_IN_CONTAINER];
    for (i, command) in commands.iter().enumerate() {
        if i > 0 {
            args.push("--");
        }
        args.extend_from_slice(command);
    }
    args
}

/// The argument vector running `script` with busybox sh.
pub fn sh(script: &str) -> Vec<&str> {
    vec!["/bin/sh", "-c", script]
}

/// Asserts that under the plain runtime `key` was not refused by the
/// kernel with `errno` (or by a signal): the probe's arguments must let the
/// call through, or the check under linerate proves nothing.
pub fn assert_kernel_allows(control: &Run, key: &str, errno: &str) {
    let got = control.value(key);
    assert!(
        got != format!("errno:{errno}") && !got.starts_with("signal:"),
        "control under the plain runtime: the kernel already gives `{key}={got}`, so the probe \
         cannot tell a filter's {errno} from the kernel's\n{control}"
    );
}

/// Asserts the Seccomp mode (2, a filter) and the no_new_privs flag.
fn assert_filtered(run: &Run, no_new_privs: &str, why: &str) {
    run.assert_value("Seccomp", "2", why);
    run.assert_value("NoNewPrivs", no_new_privs, why);
}

/// Asserts that every capability set is empty.
fn assert_no_caps(run: &Run, why: &str) {
    for set in CAP_SETS {
        run.assert_value(set, NO_CAPS, why);
    }
}
