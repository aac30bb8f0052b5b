//! Attacks from inside a container at each level: overwriting linerate-init,
//! its profile or the runtime through their paths and `/proc/PID/exe`
//! (also while `linerate-runtime exec` enters the container), io_uring,
//! userfaultfd, ptrace, keyctl, bpf, perf_event_open, foreign ABIs, new
//! user and mount namespaces, mounting cgroup v1 (the way to
//! `release_agent`), and TIOCSTI with bits above 32. Host binaries keep
//! their hashes; each attempt is refused where DESIGN.md says.
//!
//! hardened is refused at start today, so its filter is checked through
//! the BPF interpreter against the same calls.

use std::time::Duration;

use linerate_integration::checks::probe;
use linerate_integration::hostile::{assert_unchanged, host_binaries};
use linerate_integration::{world_or_skip, Bundle, Engine, Run, World};
use linerate_profiles::compile::compile;
use linerate_profiles::seccomp::interp::{run, SeccompData};
use linerate_profiles::seccomp::Action;
use linerate_profiles::syscalls::{Arch, AUDIT_ARCH_I386, X32_SYSCALL_BIT};
use linerate_profiles::Policy;
use serde_json::json;

const E: Engine = Engine::Runc;
const EPERM: Action = Action::Errno(1);

/// The verdict of a level's compiled x86_64 filter.
fn verdict(level: &str, arch: u32, nr: u32, args: [u64; 6]) -> Action {
    let policy = Policy::level(level).expect("a level").expect("resolves");
    let blob = compile(&policy).expect("compiles");
    let prog = blob
        .filter(Arch::X86_64)
        .expect("x86_64 filter")
        .instructions();
    let (ret, _) = run(&prog, &SeccompData::new(arch, nr, args)).expect("runs to a return");
    Action::from_ret(ret).expect("one of linerate's actions")
}

fn nr(name: &str) -> u32 {
    Arch::X86_64
        .number(name)
        .unwrap_or_else(|| panic!("x86_64 has {name}"))
}

/// TIOCSTI with bit 32 set in the request, which the kernel truncates to
/// 0x5412: hardened refuses it exactly like TIOCSTI (and TIOCLINUX), while
/// a harmless ioctl passes.
#[test]
fn hardened_refuses_tiocsti_with_high_bits() {
    let x86 = Arch::X86_64.audit_arch();
    for request in [
        0x5412u64,
        0x1_0000_5412,
        0xffff_ffff_0000_5412,
        0x541c,
        0x8000_0000_0000_541c,
    ] {
        assert_eq!(
            verdict("hardened", x86, nr("ioctl"), [0, request, 0, 0, 0, 0]),
            EPERM,
            "ioctl {request:#x}"
        );
    }
    assert_eq!(
        verdict("hardened", x86, nr("ioctl"), [0, 0x5401, 0, 0, 0, 0]),
        Action::Allow,
        "TCGETS"
    );
}

/// The host-level calls, at every level through the interpreter: refused
/// with EPERM, natively, through `int 0x80` and through x32.
#[test]
fn every_level_filter_refuses_the_attack_calls() {
    let x86 = Arch::X86_64.audit_arch();
    let everywhere = [
        "io_uring_setup",
        "io_uring_enter",
        "userfaultfd",
        "keyctl",
        "add_key",
        "bpf",
        "perf_event_open",
    ];
    let from_sandbox = [
        "ptrace",
        "unshare",
        "mount",
        "setns",
        "fsopen",
        "open_by_handle_at",
        "process_vm_writev",
    ];
    for level in ["minimal", "sandbox", "hardened"] {
        for call in everywhere.iter().chain(if level == "minimal" {
            &[][..]
        } else {
            &from_sandbox[..]
        }) {
            assert_eq!(
                verdict(level, x86, nr(call), [0; 6]),
                EPERM,
                "{level}: {call}"
            );
            assert_eq!(
                verdict(level, x86, nr(call) | X32_SYSCALL_BIT, [0; 6]),
                EPERM,
                "{level}: x32 {call}"
            );
            let i386 = linerate_profiles::syscalls::i386_number(call).unwrap_or(20);
            assert_eq!(
                verdict(level, AUDIT_ARCH_I386, i386, [0; 6]),
                EPERM,
                "{level}: int 0x80 {call}"
            );
        }
        // clone with namespace flags, from sandbox up.
        if level != "minimal" {
            let newuser = 0x1000_0000;
            assert_eq!(
                verdict(level, x86, nr("clone"), [newuser, 0, 0, 0, 0, 0]),
                EPERM,
                "{level}: clone NEWUSER"
            );
        }
    }
}

/// The probe commands every in-container attack runs.
fn attack_args() -> Vec<&'static str> {
    probe(&[
        &["status"],
        &["syscall", "io_uring_setup"],
        &["syscall", "userfaultfd"],
        &["syscall", "ptrace"],
        &["syscall", "keyctl"],
        &["syscall", "bpf"],
        &["syscall", "perf_event_open"],
        &["syscall", "unshare-user"],
        &["unshare-mount"],
        &["mount-cgroup1", "/tmp/cg"],
        &["int80", "getpid"],
        &["x32", "getpid"],
        &["tiocsti-high"],
        &["overwrite", "/.linerate/init"],
        &["overwrite", "/.linerate/profile"],
        &["overwrite", "/proc/self/exe"],
        &["overwrite", "/proc/1/exe"],
    ])
}

/// A spec that also grants CAP_SYS_ADMIN, so that a refusal at sandbox is
/// linerate's doing and not the runtime's default capabilities'.
fn with_sys_admin(mut b: Bundle) -> Bundle {
    for set in ["bounding", "effective", "permitted"] {
        if let Some(list) = b.spec["process"]["capabilities"][set].as_array_mut() {
            list.push(json!("CAP_SYS_ADMIN"));
        }
    }
    b
}

fn refused(value: &str) -> bool {
    value.starts_with("errno:") || value.starts_with("signal:")
}

/// minimal and sandbox, from inside: the calls refused where the level
/// says, linerate's files and the probe's own executable never writable,
/// and the host's binaries unchanged.
#[test]
fn attacks_from_inside_are_refused() {
    let w = world_or_skip!(World::privileged(E));
    let hashes = host_binaries(&w);

    let plain = w.run_plain(&with_sys_admin(w.bundle(&attack_args())));
    plain.expect_success();
    // The control: with CAP_SYS_ADMIN and no linerate, the kernel lets every
    // probed call through, so an EPERM below is linerate's.
    for call in [
        "io_uring_setup",
        "userfaultfd",
        "keyctl",
        "bpf",
        "perf_event_open",
        "int80_getpid",
        "x32_getpid",
        "ptrace",
        "unshare-user",
        "unshare_mount",
        "mount_cgroup1",
    ] {
        linerate_integration::checks::assert_kernel_allows(&plain, call, "EPERM");
    }

    let mut runs: Vec<(&str, Run)> = Vec::new();
    for level in ["minimal", "sandbox"] {
        let run = w.run(&with_sys_admin(w.bundle(&attack_args())).level(level));
        run.expect_success();
        runs.push((level, run));
    }
    for (level, run) in &runs {
        run.assert_value("Seccomp", "2", level);
        for call in [
            "io_uring_setup",
            "userfaultfd",
            "keyctl",
            "bpf",
            "perf_event_open",
            "int80_getpid",
            "x32_getpid",
        ] {
            run.assert_value(call, "errno:EPERM", &format!("{level} refuses {call}"));
        }
        for v in run.all_values("overwrite") {
            assert!(
                refused(&v),
                "{level}: an overwrite went through: {v}\n{run}"
            );
        }
    }
    let sandbox = &runs[1].1;
    for call in ["ptrace", "unshare-user", "unshare_mount", "mount_cgroup1"] {
        sandbox.assert_value(call, "errno:EPERM", &format!("sandbox refuses {call}"));
    }
    sandbox.assert_value("NoNewPrivs", "1", "sandbox");
    sandbox.assert_value(
        "CapEff",
        "0000000000000000",
        "sandbox drops the spec's CAP_SYS_ADMIN",
    );
    assert_unchanged(&hashes);
}

/// While a container hunts for `/proc/PID/exe` of every process that
/// enters it, `linerate-runtime exec` enters 12 times (runc init, then
/// linerate-init, run there for a moment): no write ever lands and the
/// host binaries keep their hashes.
#[test]
fn exec_entering_a_hostile_container_exposes_no_binary() {
    let w = world_or_skip!(World::privileged(E));
    let hashes = host_binaries(&w);
    for level in ["minimal", "sandbox"] {
        let b = w.bundle(&probe(&[&["hunt-exe", "2500"]])).level(level);
        w.run_detached(&b).expect_success();
        let mut entered = 0;
        for _ in 0..12 {
            if w.exec(&b.id, &["/bin/true"]).success() {
                entered += 1;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(entered > 0, "{level}: exec never entered the container");
        let out = w.wait_stopped(&b);
        let stdout = std::fs::read_to_string(b.dir.join("run.stdout")).unwrap_or_default();
        let landed = stdout
            .lines()
            .find_map(|l| l.strip_prefix("hunt_landed="))
            .unwrap_or("missing")
            .to_owned();
        eprintln!("NOTE: {level}: {entered} execs during the hunt:\n{stdout}");
        assert_eq!(
            landed, "0",
            "{level}: a write to a /proc/PID/exe landed\n{stdout}\n{out}"
        );
        w.remove(&b.id);
    }
    assert_unchanged(&hashes);
}
