//! The sandbox level: no capabilities, no_new_privs, an allow-list filter
//! (EPERM for known refused calls, ENOSYS for unknown ones), Landlock, and
//! a private network namespace.

use std::collections::BTreeSet;

use super::{assert_filtered, assert_kernel_allows, assert_no_caps, probe, sh};
use crate::{world_or_skip, Engine, World, USER_HOME, USER_UID};

/// The calls sandbox refuses with EPERM.
pub const SANDBOX_REFUSED: [&str; 6] = [
    "keyctl",
    "unshare-user",
    "io_uring_setup",
    "ptrace",
    "bpf",
    "clone-newuser",
];

/// sandbox as `uid`: every capability set empty, no_new_privs set, a
/// seccomp filter.
pub fn sandbox_drops_privileges(engine: Engine, uid: u32) {
    let w = world_or_skip!(World::privileged(engine));
    let run = w.run(
        &w.bundle(&probe(&[&["status"]]))
            .user(uid, uid)
            .level("sandbox"),
    );
    run.expect_success();
    let why = format!("sandbox as uid {uid} ({engine:?})");
    assert_no_caps(&run, &why);
    assert_filtered(&run, "1", &why);
}

/// sandbox refuses the known dangerous calls with EPERM, each of which the
/// kernel lets through under the plain runtime.
pub fn sandbox_refuses_with_eperm(engine: Engine) {
    let w = world_or_skip!(World::privileged(engine));
    let commands: Vec<[&str; 2]> = SANDBOX_REFUSED.iter().map(|c| ["syscall", c]).collect();
    let commands: Vec<&[&str]> = commands.iter().map(|c| c.as_slice()).collect();
    let args = probe(&commands);

    let plain = w.run_plain(&w.bundle(&args));
    plain.expect_success();
    let run = w.run(&w.bundle(&args).level("sandbox"));
    run.expect_success();

    for call in SANDBOX_REFUSED {
        assert_kernel_allows(&plain, call, "EPERM");
        run.assert_value(
            call,
            "errno:EPERM",
            "sandbox refuses a known call with EPERM",
        );
    }
}

/// F1 and F2 at sandbox: a raw clone3, an unassigned number (1000) and a
/// number the kernel has but the 6.1 table lacks (462, mseal) all fail with
/// ENOSYS so that libc falls back; a thread still starts; the legacy clone
/// with CLONE_NEWUSER and keyctl stay EPERM.
pub fn sandbox_hides_unknown_calls(engine: Engine) {
    let w = world_or_skip!(World::privileged(engine));
    let args = probe(&[
        &["syscall", "clone3"],
        &["nr", "1000"],
        &["nr", "462"],
        &["thread"],
        &["syscall", "clone-newuser"],
        &["syscall", "keyctl"],
    ]);

    let plain = w.run_plain(&w.bundle(&args));
    plain.expect_success();
    plain.assert_value("clone3", "errno:EINVAL", "control: the kernel runs clone3");
    assert_kernel_allows(&plain, "nr_462", "ENOSYS");

    let run = w.run(&w.bundle(&args).level("sandbox"));
    run.expect_success();
    let why = "sandbox answers a call it does not know with ENOSYS";
    run.assert_value("clone3", "errno:ENOSYS", why);
    run.assert_value("nr_1000", "errno:ENOSYS", why);
    run.assert_value("nr_462", "errno:ENOSYS", why);
    run.assert_value("thread", "ok", "glibc falls back from clone3 to clone");
    run.assert_value(
        "clone-newuser",
        "errno:EPERM",
        "clone with CLONE_NEWUSER stays refused",
    );
    run.assert_value("keyctl", "errno:EPERM", "a known refused call gets EPERM");
}

/// Landlock at sandbox as `uid`: a write outside the writable paths fails
/// with EACCES (in /etc for root; in a folder uid 1000 owns for uid 1000,
/// so that file permissions allow it), while /tmp stays writable. The
/// plain runtime shows both writes succeed without linerate.
pub fn sandbox_landlock_writes(engine: Engine, uid: u32) {
    let w = world_or_skip!(World::privileged(engine));
    let outside = if uid == 0 {
        "/etc/x".to_owned()
    } else {
        format!("{USER_HOME}/x")
    };
    let args = probe(&[&["write", &outside], &["write", "/tmp/x"]]);

    let plain = w.run_plain(&w.bundle(&args).user(uid, uid));
    plain.expect_success();
    assert_eq!(
        plain.all_values("write"),
        ["ok", "ok"],
        "control: both writes allowed\n{plain}"
    );

    let run = w.run(&w.bundle(&args).user(uid, uid).level("sandbox"));
    run.expect_success();
    assert_eq!(
        run.all_values("write"),
        ["errno:EACCES", "ok"],
        "sandbox as uid {uid}: write {outside} refused with EACCES, /tmp/x allowed\n{run}"
    );
}

/// Landlock at sandbox: a copy of busybox in /tmp cannot be executed
/// (EACCES) while /bin/true can.
pub fn sandbox_landlock_exec(engine: Engine) {
    let w = world_or_skip!(World::privileged(engine));
    let script = "cp /bin/busybox /tmp/busybox && exec /usr/bin/linerate-probe \
                  exec /tmp/busybox true -- exec /bin/true";

    let plain = w.run_plain(&w.bundle(&sh(script)));
    plain.expect_success();
    assert_eq!(
        plain.all_values("exec"),
        ["ok", "ok"],
        "control: both execs run\n{plain}"
    );

    let run = w.run(&w.bundle(&sh(script)).level("sandbox"));
    run.expect_success();
    assert_eq!(
        run.all_values("exec"),
        ["errno:EACCES", "ok"],
        "sandbox: exec from /tmp refused with EACCES, /bin/true runs\n{run}"
    );
    run.assert_value("exec_status", "exit:0", "/bin/true ran");
}

/// sandbox gives a spec without a network namespace a private one with
/// loopback only. The same spec at minimal shares the host's interfaces,
/// which shows the spec really has no namespace of its own.
pub fn sandbox_private_network(engine: Engine) {
    let w = world_or_skip!(World::privileged(engine));
    let args = probe(&[&["netdevs"]]);

    let bundle = w.bundle(&args).without_network_namespace().level("minimal");
    assert!(!bundle.has_network_namespace());
    let control = w.run(&bundle);
    control.expect_success();
    let host = host_netdevs();
    let seen: BTreeSet<String> = control
        .value("netdevs")
        .split(',')
        .map(str::to_owned)
        .collect();
    assert_eq!(
        seen, host,
        "control: minimal without a network namespace sees the host's\n{control}"
    );
    if host.len() < 2 {
        eprintln!("WARNING: the host has only loopback; the network check below proves little");
    }

    let run = w.run(&w.bundle(&args).without_network_namespace().level("sandbox"));
    run.expect_success();
    run.assert_value("netdevs", "lo", "sandbox gives a private network namespace");
}

fn host_netdevs() -> BTreeSet<String> {
    let text = std::fs::read_to_string("/proc/net/dev").expect("read /proc/net/dev");
    text.lines()
        .skip(2)
        .filter_map(|l| l.split_once(':').map(|(name, _)| name.trim().to_owned()))
        .collect()
}

/// F4: the busybox root filesystem lacks /lib, /lib64, /var and /app that
/// the sandbox rules may name; the rest is still enforced.
pub fn sandbox_enforced_without_lib64(engine: Engine) {
    let w = world_or_skip!(World::privileged(engine));
    let args = probe(&[
        &["write", "/etc/x"],
        &["write", "/usr/bin/x"],
        &["write", "/tmp/x"],
        &["exec", "/bin/true"],
        &["status"],
    ]);
    let bundle = w.bundle(&args).level("sandbox");
    for absent in ["lib", "lib64", "var", "app"] {
        assert!(
            !bundle.rootfs().join(absent).exists(),
            "the test rootfs should lack /{absent}"
        );
    }

    let run = w.run(&bundle);
    run.expect_success();
    assert_eq!(
        run.all_values("write"),
        ["errno:EACCES", "errno:EACCES", "ok"],
        "F4: missing paths are skipped, /etc and /usr/bin stay read-only, /tmp writable\n{run}"
    );
    run.assert_value("exec", "ok", "F4: /bin stays executable");
    assert_filtered(&run, "1", "F4: sandbox still filters");
}

/// F5: in /tmp a file is written twice with `>`, truncated (truncate(2)
/// and O_TRUNC), a folder made, the file moved into it; a write to /etc
/// still fails.
pub fn sandbox_tmp_file_operations(engine: Engine) {
    let w = world_or_skip!(World::privileged(engine));
    let script = "cd /tmp
        step() { name=$1; shift; if \"$@\" 2>/dev/null; then echo \"$name=ok\"; else echo \"$name=failed\"; fi; }
        step write1 sh -c 'echo one > /tmp/f'
        step write2 sh -c 'echo two > /tmp/f'
        step truncate truncate -s 0 /tmp/f
        step otrunc sh -c ': > /tmp/f'
        step mkdir mkdir /tmp/d
        step mv mv /tmp/f /tmp/d/f
        step moved test -f /tmp/d/f
        step etc sh -c 'echo x > /etc/f5'";

    let plain = w.run_plain(&w.bundle(&sh(script)));
    plain.expect_success();
    plain.assert_value("etc", "ok", "control: /etc is writable without linerate");

    let run = w.run(&w.bundle(&sh(script)).level("sandbox"));
    run.expect_success();
    for step in [
        "write1", "write2", "truncate", "otrunc", "mkdir", "mv", "moved",
    ] {
        run.assert_value(step, "ok", "F5: file operations in /tmp work at sandbox");
    }
    run.assert_value("etc", "failed", "F5: /etc stays read-only at sandbox");
}

/// F6 b: sandbox as uid 1000 starts, with every capability set empty and
/// the same refusals as for root.
pub fn sandbox_as_user(engine: Engine) {
    let w = world_or_skip!(World::privileged(engine));
    let home = format!("{USER_HOME}/x");
    let args = probe(&[
        &["status"],
        &["syscall", "keyctl"],
        &["syscall", "clone3"],
        &["thread"],
        &["write", &home],
        &["write", "/tmp/x"],
    ]);
    let run = w.run(&w.bundle(&args).user(USER_UID, USER_UID).level("sandbox"));
    run.expect_success();

    let why = "F6 b: sandbox as uid 1000";
    run.assert_value("Uid", "1000 1000 1000 1000", why);
    assert_no_caps(&run, why);
    assert_filtered(&run, "1", why);
    run.assert_value("keyctl", "errno:EPERM", why);
    run.assert_value("clone3", "errno:ENOSYS", why);
    run.assert_value("thread", "ok", why);
    assert_eq!(
        run.all_values("write"),
        ["errno:EACCES", "ok"],
        "{why}: Landlock\n{run}"
    );
}
