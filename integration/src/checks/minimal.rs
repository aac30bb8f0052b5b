//! The minimal level: the spec's own capabilities and no_new_privs, a
//! deny-list of host-level calls, foreign ABIs refused, no Landlock.

use super::{assert_kernel_allows, probe, sh, CAP_SETS};
use crate::{world_or_skip, Engine, World, USER_UID};

/// The calls the minimal deny-list refuses with EPERM.
pub const HOST_LEVEL_CALLS: [&str; 5] = [
    "keyctl",
    "bpf",
    "userfaultfd",
    "io_uring_setup",
    "perf_event_open",
];

/// minimal, as root and as uid 1000: every capability set and
/// no_new_privs exactly as the plain runtime gives for the same spec, and
/// a seccomp filter installed.
pub fn minimal_keeps_spec_capabilities(engine: Engine) {
    let w = world_or_skip!(World::privileged(engine));
    let args = probe(&[&["status"]]);
    for uid in [0, USER_UID] {
        let plain = w.run_plain(&w.bundle(&args).user(uid, uid));
        plain.expect_success();
        let run = w.run(&w.bundle(&args).user(uid, uid).level("minimal"));
        run.expect_success();

        for key in CAP_SETS.iter().chain(&["NoNewPrivs"]) {
            let why = format!("minimal as uid {uid} keeps {key} as the spec asks ({engine:?})");
            run.assert_value(key, &plain.value(key), &why);
        }
        run.assert_value("Seccomp", "2", "minimal installs its deny-list");
    }
}

/// No annotation at all runs as minimal: the spec's capabilities, the
/// deny-list (keyctl EPERM) but nothing of sandbox (clone3 runs, /etc is
/// writable).
pub fn no_annotation_means_minimal(engine: Engine) {
    let w = world_or_skip!(World::privileged(engine));
    let args = probe(&[
        &["status"],
        &["syscall", "keyctl"],
        &["syscall", "clone3"],
        &["write", "/etc/x"],
    ]);
    let plain = w.run_plain(&w.bundle(&args));
    plain.expect_success();
    assert_kernel_allows(&plain, "keyctl", "EPERM");

    let run = w.run(&w.bundle(&args));
    run.expect_success();
    let why = "a container without annotation runs at minimal";
    run.assert_value("Seccomp", "2", why);
    for set in CAP_SETS {
        run.assert_value(set, &plain.value(set), why);
    }
    run.assert_value("keyctl", "errno:EPERM", why);
    run.assert_value("clone3", "errno:EINVAL", why);
    run.assert_value("write", "ok", why);
}

/// minimal refuses the host-level calls with EPERM, each of which the
/// kernel lets through under the plain runtime.
pub fn minimal_refuses_host_level_calls(engine: Engine) {
    let w = world_or_skip!(World::privileged(engine));
    let commands: Vec<[&str; 2]> = HOST_LEVEL_CALLS.iter().map(|c| ["syscall", c]).collect();
    let commands: Vec<&[&str]> = commands.iter().map(|c| c.as_slice()).collect();
    let args = probe(&commands);

    let plain = w.run_plain(&w.bundle(&args));
    plain.expect_success();
    let run = w.run(&w.bundle(&args).level("minimal"));
    run.expect_success();

    for call in HOST_LEVEL_CALLS {
        assert_kernel_allows(&plain, call, "EPERM");
        run.assert_value(
            call,
            "errno:EPERM",
            "minimal's deny-list refuses host-level calls",
        );
    }
}

/// minimal lets clone3 run (EINVAL for a null argument) and threads start
/// (F1 at minimal).
pub fn minimal_runs_clone3_and_threads(engine: Engine) {
    let w = world_or_skip!(World::privileged(engine));
    let run = w.run(
        &w.bundle(&probe(&[&["status"], &["syscall", "clone3"], &["thread"]]))
            .level("minimal"),
    );
    run.expect_success();
    run.assert_value("Seccomp", "2", "minimal installs its filter");
    run.assert_value(
        "clone3",
        "errno:EINVAL",
        "minimal lets clone3 reach the kernel",
    );
    run.assert_value("thread", "ok", "a thread starts at minimal");
}

/// minimal applies no Landlock: /etc is writable and a binary copied to
/// /tmp runs.
pub fn minimal_has_no_landlock(engine: Engine) {
    let w = world_or_skip!(World::privileged(engine));
    let script = "cp /bin/busybox /tmp/busybox && exec /usr/bin/linerate-probe \
                  status -- write /etc/x -- exec /tmp/busybox true";
    let run = w.run(&w.bundle(&sh(script)).level("minimal"));
    run.expect_success();
    run.assert_value("Seccomp", "2", "minimal installs its filter");
    run.assert_value("write", "ok", "minimal leaves /etc writable");
    run.assert_value("exec", "ok", "minimal lets a binary in /tmp run");
    run.assert_value("exec_status", "exit:0", "the binary in /tmp ran");
}

/// Foreign ABIs (F3) at `level`: getpid and keyctl through `int 0x80`
/// with their i386 numbers and through the x32 numbering never run; they
/// fail with EPERM. The plain runtime shows the i386 path is live here.
pub fn foreign_abis_refused(engine: Engine, level: &str) {
    let w = world_or_skip!(World::privileged(engine));
    let calls = ["int80_getpid", "int80_keyctl", "x32_getpid", "x32_keyctl"];
    let args = probe(&[
        &["int80", "getpid"],
        &["int80", "keyctl"],
        &["x32", "getpid"],
        &["x32", "keyctl"],
    ]);

    let plain = w.run_plain(&w.bundle(&args));
    plain.expect_success();
    assert!(
        plain.value("int80_getpid").starts_with("ret:"),
        "control: IA32 emulation should be on (int 0x80 getpid returns a pid)\n{plain}"
    );
    for call in calls {
        assert_kernel_allows(&plain, call, "EPERM");
    }

    let run = w.run(&w.bundle(&args).level(level));
    run.expect_success();
    for call in calls {
        run.assert_value(
            call,
            "errno:EPERM",
            &format!("{level} refuses foreign ABIs"),
        );
    }
}
