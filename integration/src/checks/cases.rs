//! Cases from the field (shared/cases/CASES.md) that need a running
//! container and are not a plain property of one level.

use super::{assert_filtered, probe, CAP_SETS};
use crate::store::named_digest;
use crate::{cap_mask, compiled_digest, world_or_skip, Engine, World, USER_UID};

/// A profile that keeps one capability on top of sandbox.
pub const KEEP_NET_BIND_SERVICE: &str = "\
extends = \"sandbox\"

[capabilities]
keep = [\"CAP_NET_BIND_SERVICE\"]
";

/// CAP_NET_BIND_SERVICE in a capability mask.
const NET_BIND_SERVICE: u64 = 1 << 10;

/// F6 c: the profile keeping CAP_NET_BIND_SERVICE, compiled with
/// `linerate compile` and pinned by digest, run as uid 1000: that one
/// capability in every set and port 80 bound. The same container at plain
/// sandbox has no capability and cannot bind port 80.
pub fn profile_keeps_one_capability(engine: Engine) {
    let w = world_or_skip!(World::privileged(engine));
    let sandbox_before = named_digest(&w.store(), "sandbox");
    let digest = compiled_digest(&w.compile("keep-bind.toml", KEEP_NET_BIND_SERVICE));
    assert_eq!(
        named_digest(&w.store(), "sandbox"),
        sandbox_before,
        "compiling a profile without a name that extends sandbox re-pointed the name `sandbox`"
    );
    let args = probe(&[&["status"], &["bind", "80"]]);

    let control = w.run(&w.bundle(&args).user(USER_UID, USER_UID).level("sandbox"));
    control.expect_success();
    control.assert_value(
        "bind",
        "errno:EACCES",
        "control: sandbox without the capability",
    );

    let run = w.run(&w.bundle(&args).user(USER_UID, USER_UID).profile(&digest));
    run.expect_success();
    for set in CAP_SETS {
        let mask = cap_mask(&run.value(set));
        assert_eq!(
            mask, NET_BIND_SERVICE,
            "F6 c: {set} should hold exactly CAP_NET_BIND_SERVICE (0x400), is {mask:#x}\n{run}"
        );
    }
    assert_filtered(&run, "1", "F6 c: the profile extends sandbox");
    run.assert_value(
        "bind",
        "ok",
        "F6 c: uid 1000 binds port 80 with the kept capability",
    );
}

/// F10: the working directory `/proc/self/fd/N` for N in 3..=20 at
/// `level`: either the start is refused (and leaves nothing behind) or the
/// directory resolves inside the container and the process sees only fds
/// 0 to 2.
pub fn cwd_in_proc_self_fd(engine: Engine, level: &str) {
    let w = world_or_skip!(World::privileged(engine));
    let args = probe(&[&["cwd"], &["fds"]]);
    let mut started = 0;
    let mut first_refusal = None;
    for n in 3..=20 {
        let cwd = format!("/proc/self/fd/{n}");
        let run = w.run(&w.bundle(&args).cwd(&cwd).level(level));
        if !run.success() {
            assert!(
                !run.stdout.contains("fds="),
                "F10: a failed start ran the probe\n{run}"
            );
            w.assert_no_container(&run.id);
            first_refusal.get_or_insert(run.stderr.trim().to_owned());
            continue;
        }
        started += 1;
        let dir = run.value("cwd");
        assert!(
            dir.starts_with('/') && !dir.contains("unreachable"),
            "F10: cwd {cwd} at {level} resolves outside the container: {dir}\n{run}"
        );
        run.assert_value(
            "fds",
            "0,1,2",
            &format!("F10: cwd {cwd} at {level}, no leaked fd"),
        );
    }
    eprintln!("F10 at {level}: {started} of 18 starts went ahead, the others were refused");
    if let Some(stderr) = first_refusal {
        eprintln!("F10 at {level}: the first refusal said: {stderr}");
    }
}

/// F10's second half: at `level` with an ordinary working directory, the
/// process sees only fds 0 to 2.
pub fn no_leaked_fds(engine: Engine, level: &str) {
    let w = world_or_skip!(World::privileged(engine));
    let run = w.run(&w.bundle(&probe(&[&["fds"]])).level(level));
    run.expect_success();
    run.assert_value(
        "fds",
        "0,1,2",
        &format!("F10: nothing of linerate open at {level}"),
    );
}
