//! Instructions per syscall, counted with an interpreter on every filter
//! compared, and a check that libseccomp's translation of each level gives
//! linerate's verdicts.

use anyhow::{bail, Context, Result};
use linerate_profiles::seccomp::interp::{const_allow, run, SeccompData};
use linerate_profiles::seccomp::SockFilter;
use linerate_profiles::syscalls::{Arch, AUDIT_ARCH_I386, X32_SYSCALL_BIT};
use linerate_profiles::Policy;

use super::seccomp::{programs, SIGCHLD, TCGETS};
use super::Ctx;
use crate::libseccomp::{docker_rules, policy_rules, Layout};
use crate::model::{Case, Cell, FilterInfo, Insns};

/// What a filter's return value means, in words.
fn verdict(ret: u32) -> String {
    let data = ret & 0xffff;
    match ret & 0xffff_0000 {
        0x7fff_0000 => "allow".to_owned(),
        0x7ffc_0000 => "log".to_owned(),
        0x8000_0000 => "kill process".to_owned(),
        0x0000_0000 => "kill thread".to_owned(),
        0x0003_0000 => "trap".to_owned(),
        0x0005_0000 => match data {
            1 => "EPERM".to_owned(),
            22 => "EINVAL".to_owned(),
            38 => "ENOSYS".to_owned(),
            97 => "EAFNOSUPPORT".to_owned(),
            e => format!("errno {e}"),
        },
        other => format!("{other:#x}"),
    }
}

fn cell(prog: &[SockFilter], d: &SeccompData) -> Result<Cell> {
    let (ret, path) = run(prog, d)?;
    let in_cache = match d.arch {
        a if a == Arch::X86_64.audit_arch() => d.nr <= Arch::X86_64.max_number(),
        AUDIT_ARCH_I386 => d.nr < 460,
        _ => false,
    };
    Ok(Cell {
        cached: in_cache && const_allow(prog, d.arch, d.nr),
        path,
        verdict: verdict(ret),
    })
}

/// Checks that libseccomp's program for a translated level gives linerate's
/// verdict for every number and for argument values around every rule.
fn check_translation(level: &str, ours: &[SockFilter], theirs: &[SockFilter]) -> Result<usize> {
    let policy = Policy::level(level).context("level")??;
    let mut values = vec![0u64, 1, 2, 3, 10, 16, 17, u64::from(u32::MAX), TCGETS];
    for (rule, _) in policy.seccomp.rules.values().flatten() {
        use linerate_profiles::seccomp::Cond::*;
        let vs: Vec<u32> = match &rule.cond {
            Eq(v) | Ne(v) | MaskAny(v) | MaskNone(v) => vec![*v],
            MaskedEq(m, v) => vec![*m, *v, *v | !*m, *v ^ 1],
            In(vs) | NotIn(vs) => vs.clone(),
        };
        for v in vs {
            values.extend([v, v.wrapping_add(1), v.wrapping_sub(1)].map(u64::from));
        }
    }
    let native = Arch::X86_64.audit_arch();
    let ruled: Vec<u32> = policy
        .seccomp
        .rules
        .keys()
        .filter_map(|n| Arch::X86_64.number(n))
        .collect();
    let mut probes: Vec<[u64; 6]> = Vec::new();
    for &v in &values {
        for i in 0..3 {
            let mut args = [0u64; 6];
            args[i] = v;
            probes.push(args);
        }
    }
    let mut pairs: Vec<[u64; 6]> = Vec::new();
    for &a in &values {
        for &b in &values {
            pairs.push([a, b, 0, 0, 0, 0]);
        }
    }
    let mut checked = 0;
    for nr in 0..=Arch::X86_64.max_number() + 64 {
        let set = if ruled.contains(&nr) { &pairs } else { &probes };
        for &args in set {
            let d = SeccompData::new(native, nr, args);
            let (a, _) = run(ours, &d)?;
            let (b, _) = run(theirs, &d)?;
            if a != b {
                bail!("libseccomp's translation of {level} differs at nr {nr} args {args:x?}: {} against {}", verdict(b), verdict(a));
            }
            checked += 1;
        }
    }
    for d in [
        SeccompData::new(AUDIT_ARCH_I386, 20, [0; 6]),
        SeccompData::new(native, 39 | X32_SYSCALL_BIT, [0; 6]),
    ] {
        let (a, b) = (run(ours, &d)?.0, run(theirs, &d)?.0);
        if a != b {
            bail!("libseccomp's translation of {level} differs for a foreign call {d:?}: {} against {}", verdict(b), verdict(a));
        }
    }
    Ok(checked)
}

/// Instructions per syscall on every filter.
pub(super) fn insns(ctx: &mut Ctx<'_>) -> Result<Insns> {
    let p = programs(ctx)?;
    let native = Arch::X86_64.audit_arch();
    let nr = |name: &str| Arch::X86_64.number(name).expect("x86_64 knows it");
    let lens =
        |f: &dyn Fn(&str) -> usize| format!("sandbox {}, hardened {}", f("sandbox"), f("hardened"));
    let filters = vec![
        FilterInfo {
            key: "ours".into(),
            label: "linerate".into(),
            len: lens(&|l| p.ours(l).len()),
        },
        FilterInfo {
            key: "lsc.linear".into(),
            label: "libseccomp linear, same policy".into(),
            len: lens(&|l| p.translated(l, Layout::Linear).len()),
        },
        FilterInfo {
            key: "lsc.tree".into(),
            label: "libseccomp tree, same policy".into(),
            len: lens(&|l| p.translated(l, Layout::Tree).len()),
        },
        FilterInfo {
            key: "docker.linear".into(),
            label: "Docker's profile, libseccomp linear".into(),
            len: p.docker(Layout::Linear).len().to_string(),
        },
        FilterInfo {
            key: "docker.tree".into(),
            label: "Docker's profile, libseccomp tree".into(),
            len: p.docker(Layout::Tree).len().to_string(),
        },
    ];

    let cases: Vec<(&str, &str, &str, SeccompData)> = vec![
        (
            "cached allow",
            "getpid()",
            "sandbox",
            SeccompData::new(native, nr("getpid"), [0; 6]),
        ),
        (
            "cached allow",
            "read(fd, buf, n)",
            "sandbox",
            SeccompData::new(native, nr("read"), [3, 0, 64, 0, 0, 0]),
        ),
        (
            "argument-checked",
            "clone(SIGCHLD)",
            "sandbox",
            SeccompData::new(native, nr("clone"), [SIGCHLD, 0, 0, 0, 0, 0]),
        ),
        (
            "argument-checked",
            "ioctl(fd, TCGETS)",
            "hardened",
            SeccompData::new(native, nr("ioctl"), [3, TCGETS, 0, 0, 0, 0]),
        ),
        (
            "argument-checked",
            "personality(0xffffffff)",
            "hardened",
            SeccompData::new(native, nr("personality"), [0xffff_ffff, 0, 0, 0, 0, 0]),
        ),
        (
            "argument-checked",
            "socket(AF_INET, SOCK_STREAM, 0)",
            "hardened",
            SeccompData::new(native, nr("socket"), [2, 1, 0, 0, 0, 0]),
        ),
        (
            "refused",
            "mount(...)",
            "sandbox",
            SeccompData::new(native, nr("mount"), [0; 6]),
        ),
        (
            "refused",
            "ptrace(...)",
            "sandbox",
            SeccompData::new(native, nr("ptrace"), [0; 6]),
        ),
        (
            "unknown number",
            "syscall 1000",
            "sandbox",
            SeccompData::new(native, 1000, [0; 6]),
        ),
        (
            "foreign ABI",
            "i386 getpid (int 0x80)",
            "sandbox",
            SeccompData::new(AUDIT_ARCH_I386, 20, [0; 6]),
        ),
        (
            "foreign ABI",
            "x32 getpid",
            "sandbox",
            SeccompData::new(native, 39 | X32_SYSCALL_BIT, [0; 6]),
        ),
    ];
    let mut out = Vec::new();
    for (kind, call, level, d) in cases {
        let cells = vec![
            cell(p.ours(level), &d)?,
            cell(p.translated(level, Layout::Linear), &d)?,
            cell(p.translated(level, Layout::Tree), &d)?,
            cell(p.docker(Layout::Linear), &d)?,
            cell(p.docker(Layout::Tree), &d)?,
        ];
        out.push(Case {
            kind: kind.into(),
            call: call.into(),
            level: level.into(),
            cells,
        });
    }

    // The longest path through each filter over every number, at sandbox.
    let progs: [&[SockFilter]; 5] = [
        p.ours("sandbox"),
        p.translated("sandbox", Layout::Linear),
        p.translated("sandbox", Layout::Tree),
        p.docker(Layout::Linear),
        p.docker(Layout::Tree),
    ];
    let mut worst = vec![0usize; progs.len()];
    for nr in 0..=Arch::X86_64.max_number() + 64 {
        for (w, prog) in worst.iter_mut().zip(progs) {
            *w = (*w).max(run(prog, &SeccompData::new(native, nr, [0; 6]))?.1);
        }
    }

    let mut facts = Vec::new();
    for level in ["sandbox", "hardened"] {
        let policy = Policy::level(level).context("level")??;
        let (_, rules) = policy_rules(&policy)?;
        let mut checked = 0;
        for layout in Layout::BOTH {
            checked += check_translation(level, p.ours(level), p.translated(level, layout))?;
        }
        let text = std::fs::read_to_string(ctx.work.join(format!("{level}.rules")))?;
        let per: Vec<String> = policy
            .seccomp
            .rules
            .keys()
            .filter_map(|name| {
                let nr = Arch::X86_64.number(name)?;
                let n = text
                    .lines()
                    .filter(|l| l.split_whitespace().nth(2) == Some(&format!("#{nr}")))
                    .count();
                Some(format!("{name} {n}"))
            })
            .collect();
        facts.push(format!(
            "{level} as libseccomp rules: {rules} rules, of which for the syscalls with argument rules: {}. \
             libseccomp compares an argument at most once per rule and lets a rule without conditions replace \
             the conditional ones, so \"refuse these values, allow the rest\" becomes one rule per value and \
             the rest as ranges and aligned blocks; both layouts give linerate's verdict on all {checked} probes \
             (every x86_64 number, argument values around every rule, an i386 and an x32 call)",
            per.join(", ")
        ));
    }
    let text = std::fs::read_to_string(&ctx.opts.profile)?;
    let (_, _, n) = docker_rules(&serde_json::from_str(&text)?)?;
    facts.push(format!(
        "Docker's profile: {n} rules for x86_64, i386 and x32 with podman's default capabilities; i386 and x32 calls are allowed by it, refused by linerate"
    ));
    Ok(Insns {
        filters,
        cases: out,
        worst,
        facts,
    })
}
