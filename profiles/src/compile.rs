//! From a resolved policy to a [`Blob`].

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use crate::blob::{self, Blob, Filter, LsmLabels, PathRule};
use crate::digest::Digest;
use crate::landlock as ll;
use crate::policy::{Policy, ResolveError};
use crate::seccomp::{codegen, Action, BPF_MAXINSNS};
use crate::syscalls::{self, Arch};

/// Why a profile does not compile.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The source chain could not be resolved.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// A level name that does not exist.
    #[error("unknown level `{0}` (minimal, sandbox, hardened)")]
    UnknownLevel(String),
    /// A syscall no architecture's table knows.
    #[error("{at}: unknown syscall `{name}`")]
    UnknownSyscall {
        /// Where it was named.
        at: String,
        /// The name.
        name: String,
    },
    /// The policy would refuse the `execve` that starts the container's command.
    #[error(
        "{at}: the profile does not allow execve, so the container's command could never start"
    )]
    ExecveRefused {
        /// Where execve's action comes from.
        at: String,
    },
    /// A capability name the kernel does not define.
    #[error("{at}: unknown capability `{name}`")]
    UnknownCapability {
        /// Where.
        at: String,
        /// The name.
        name: String,
    },
    /// A Landlock scope name that does not exist.
    #[error("{at}: unknown landlock scope `{name}` (abstract_unix_socket, signal)")]
    UnknownScope {
        /// Where.
        at: String,
        /// The name.
        name: String,
    },
    /// A Landlock ABI outside 1 to 7.
    #[error("landlock min_abi {0} is outside 1 to {max}", max = ll::MAX_ABI)]
    MinAbi(u8),
    /// An AppArmor or SELinux label the runtime could not hand to runc.
    #[error("{at}: {source}")]
    Label {
        /// Where the label was named.
        at: String,
        /// What is wrong with it.
        #[source]
        source: blob::LabelError,
    },
    /// A filter longer than the kernel accepts.
    #[error("the {arch:?} filter has {len} instructions, more than the kernel's {BPF_MAXINSNS}")]
    TooLong {
        /// The architecture.
        arch: Arch,
        /// Its length.
        len: usize,
    },
}

/// Compiles a built-in level.
pub fn compile_level(name: &str) -> Result<Blob, CompileError> {
    let policy =
        Policy::level(name).ok_or_else(|| CompileError::UnknownLevel(name.to_owned()))??;
    compile(&policy)
}

/// Compiles the source file at `path`.
pub fn compile_source(path: &Path) -> Result<Blob, CompileError> {
    compile(&Policy::file(path)?)
}

/// Compiles a resolved policy.
pub fn compile(policy: &Policy) -> Result<Blob, CompileError> {
    check_names(policy)?;
    check_execve(policy)?;

    let capabilities = match &policy.keep_caps {
        None => None,
        Some(names) => {
            let mut mask = 0u64;
            for n in names {
                let cap = caps::Capability::from_str(&n.name).map_err(|_| {
                    CompileError::UnknownCapability {
                        at: n.at.clone(),
                        name: n.name.clone(),
                    }
                })?;
                mask |= cap.bitmask();
            }
            Some(mask)
        }
    };

    let mut seccomp = Vec::new();
    for arch in Arch::ALL {
        let program = codegen::compile(policy, arch);
        if program.len() > BPF_MAXINSNS {
            return Err(CompileError::TooLong {
                arch,
                len: program.len(),
            });
        }
        seccomp.push(Filter {
            arch,
            program: program.iter().map(|i| i.pack()).collect(),
        });
    }

    let landlock = policy.landlock.as_ref().map(landlock).transpose()?;
    let labels = policy.labels.as_ref().map(labels).transpose()?.flatten();

    Ok(Blob {
        format: blob::FORMAT,
        compiler: format!("linerate-profiles {}", env!("CARGO_PKG_VERSION")),
        source_digest: Digest::of(policy.texts.join("\0").as_bytes()),
        syscall_table: syscalls::table_version().to_owned(),
        name: policy.name.clone(),
        no_new_privs: policy.no_new_privs,
        capabilities,
        network: policy.network,
        seccomp,
        landlock,
        bpf_lsm: policy.bpf_lsm,
        labels,
    })
}

/// The blob's labels, each checked on its own so that an error names its
/// line; `None` when the `[lsm]` sections name no label.
fn labels(l: &crate::policy::LabelPolicy) -> Result<Option<LsmLabels>, CompileError> {
    let crate::policy::LabelPolicy {
        apparmor,
        selinux,
        required,
    } = l;
    let only = |a: Option<&String>, s: Option<&String>| LsmLabels {
        apparmor: a.cloned(),
        selinux: s.cloned(),
        required: *required,
    };
    for (named, label) in [
        (apparmor, only(apparmor.as_ref().map(|n| &n.name), None)),
        (selinux, only(None, selinux.as_ref().map(|n| &n.name))),
    ] {
        if let Some(n) = named {
            label.check().map_err(|source| CompileError::Label {
                at: n.at.clone(),
                source,
            })?;
        }
    }
    if apparmor.is_none() && selinux.is_none() {
        return Ok(None);
    }
    Ok(Some(only(
        apparmor.as_ref().map(|n| &n.name),
        selinux.as_ref().map(|n| &n.name),
    )))
}

/// Every syscall a profile names must be known to at least one architecture:
/// a typo would otherwise drop out of the filter without a word.
fn check_names(policy: &Policy) -> Result<(), CompileError> {
    let known = |name: &str| Arch::ALL.iter().any(|a| a.number(name).is_some());
    let named = policy.seccomp.syscalls.iter().map(|(n, (_, at))| (n, at));
    let ruled = policy
        .seccomp
        .rules
        .iter()
        .flat_map(|(n, rs)| rs.iter().map(move |(_, at)| (n, at)));
    let mut unknown: Vec<(&String, &String)> =
        named.chain(ruled).filter(|(n, _)| !known(n)).collect();
    unknown.sort_by(|a, b| a.1.cmp(b.1));
    match unknown.first() {
        Some((name, at)) => Err(CompileError::UnknownSyscall {
            at: (*at).clone(),
            name: (*name).clone(),
        }),
        None => Ok(()),
    }
}

/// linerate-init's last act is `execve` of the command: a filter that
/// refuses it would leave the container unable to start.
fn check_execve(policy: &Policy) -> Result<(), CompileError> {
    let entry = policy.seccomp.syscalls.get("execve");
    let base = entry.map_or(policy.seccomp.default, |(a, _)| *a);
    let at = || match entry {
        Some((_, at)) => at.clone(),
        None => policy
            .name
            .clone()
            .map_or_else(|| "the profile".to_owned(), |n| format!("profile {n}")),
    };
    if !matches!(base, Action::Allow | Action::Log) {
        return Err(CompileError::ExecveRefused { at: at() });
    }
    if let Some((_, rule_at)) = policy.seccomp.rules.get("execve").and_then(|r| r.first()) {
        return Err(CompileError::ExecveRefused {
            at: rule_at.clone(),
        });
    }
    Ok(())
}

fn landlock(l: &crate::policy::LandlockPolicy) -> Result<blob::Landlock, CompileError> {
    if !(1..=ll::MAX_ABI).contains(&l.min_abi) {
        return Err(CompileError::MinAbi(l.min_abi));
    }

    let mut rights: BTreeMap<&str, u64> = BTreeMap::new();
    for (paths, access) in [
        (&l.read, ll::read()),
        (&l.execute, ll::execute()),
        (&l.write, ll::write()),
        (&l.devices, ll::devices()),
    ] {
        for p in paths {
            *rights.entry(p.as_str()).or_default() |= access;
        }
    }

    let mut scope = 0;
    for s in &l.scope {
        let bit = ll::SCOPES
            .iter()
            .find(|(n, _)| *n == s.name)
            .map(|(_, b)| *b);
        scope |= bit.ok_or_else(|| CompileError::UnknownScope {
            at: s.at.clone(),
            name: s.name.clone(),
        })?;
    }

    let abis = 1..=ll::MAX_ABI;
    Ok(blob::Landlock {
        min_abi: l.min_abi,
        missing: l.missing,
        handled_fs: abis.clone().map(ll::fs_all).collect(),
        scoped: abis.map(|a| scope & ll::scope_all(a)).collect(),
        rules: rights
            .into_iter()
            .map(|(p, a)| PathRule {
                path: p.to_owned(),
                access: a,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::interp::{run, SeccompData};
    use crate::syscalls::{AUDIT_ARCH_I386, X32_SYSCALL_BIT};

    fn text(t: &str) -> Result<Blob, CompileError> {
        compile(&Policy::text(Path::new("p.toml"), t.to_owned())?)
    }

    /// Argument values that cross every rule's boundary, with bits above 32.
    fn probe_args(policy: &Policy) -> Vec<[u64; 6]> {
        let mut values = vec![0u64, 1, u64::from(u32::MAX), u64::MAX, 1 << 32];
        for (rule, _) in policy.seccomp.rules.values().flatten() {
            use crate::seccomp::Cond::*;
            let vs: Vec<u32> = match &rule.cond {
                Eq(v) | Ne(v) | MaskAny(v) | MaskNone(v) => vec![*v],
                MaskedEq(m, v) => vec![*m, *v, *v | !*m],
                In(vs) | NotIn(vs) => vs.clone(),
            };
            for v in vs {
                for w in [v, v.wrapping_add(1), v.wrapping_sub(1)] {
                    values.push(u64::from(w));
                    values.push(u64::from(w) | 0xdead_0000_0000_0000);
                }
            }
        }
        let mut out = Vec::new();
        for v in values {
            for i in 0..6 {
                let mut a = [0u64; 6];
                a[i] = v;
                out.push(a);
            }
        }
        out
    }

    /// The property every filter must have: for every number, native or
    /// foreign, and argument values around every rule, the filter's verdict
    /// is the policy's.
    fn filter_matches_policy(policy: &Policy) {
        let blob = compile(policy).unwrap();
        let args = probe_args(policy);
        for arch in Arch::ALL {
            let prog = blob.filter(arch).unwrap().instructions();
            let verdict =
                |data: &SeccompData| Action::from_ret(run(&prog, data).unwrap().0).unwrap();
            for nr in (0..=arch.max_number() + 64).chain([1000, 4095, 0x3fff_ffff, u32::MAX]) {
                for a in &args {
                    let d = SeccompData::new(arch.audit_arch(), nr, *a);
                    let want = if arch == Arch::X86_64 && nr >= X32_SYSCALL_BIT {
                        crate::seccomp::FOREIGN_ABI
                    } else {
                        policy.verdict(arch, nr, a)
                    };
                    assert_eq!(verdict(&d), want, "{arch:?} nr {nr} args {a:x?}");
                }
                for foreign in [AUDIT_ARCH_I386, 0x4000_0028, 0, u32::MAX] {
                    let d = SeccompData::new(foreign, nr, [0; 6]);
                    assert_eq!(verdict(&d), crate::seccomp::FOREIGN_ABI);
                }
            }
            if arch == Arch::X86_64 {
                for &(_, nr) in arch.table() {
                    let d = SeccompData::new(arch.audit_arch(), nr | X32_SYSCALL_BIT, [0; 6]);
                    assert_eq!(verdict(&d), crate::seccomp::FOREIGN_ABI, "x32 {nr}");
                }
            }
        }
    }

    #[test]
    fn every_level_filter_matches_its_policy() {
        for (name, _) in crate::levels::SOURCES {
            filter_matches_policy(&Policy::level(name).unwrap().unwrap());
        }
    }

    #[test]
    fn a_profile_with_many_rules_matches_its_policy() {
        let p = Policy::text(
            Path::new("r.toml"),
            "extends = \"hardened\"\n\
             [[seccomp.rule]]\nsyscall = \"prctl\"\narg = 0\nmask_none = 0xff\naction = \"EINVAL\"\n\
             [[seccomp.rule]]\nsyscall = \"prctl\"\narg = 3\nne = 7\naction = \"kill\"\n\
             [[seccomp.rule]]\nsyscall = \"read\"\narg = 2\neq = 0\naction = \"log\"\n"
                .to_owned(),
        )
        .unwrap();
        filter_matches_policy(&p);
    }

    #[test]
    fn the_levels_compile_with_what_they_promise() {
        let minimal = compile_level("minimal").unwrap();
        assert_eq!(minimal.capabilities, None);
        assert_eq!(minimal.no_new_privs, None);
        assert!(minimal.landlock.is_none());
        let sandbox = compile_level("sandbox").unwrap();
        assert_eq!(sandbox.capabilities, Some(0));
        assert_eq!(sandbox.no_new_privs, Some(true));
        let l = sandbox.landlock.as_ref().unwrap();
        assert_eq!(l.handled_fs.len(), 7);
        assert!(l
            .rules
            .iter()
            .any(|r| r.path == "/tmp" && r.access == ll::write()));
        assert!(compile_level("hardened").unwrap().bpf_lsm);
        assert!(matches!(
            compile_level("Sandbox"),
            Err(CompileError::UnknownLevel(_))
        ));
    }

    #[test]
    fn compiling_is_deterministic() {
        assert_eq!(
            compile_level("sandbox").unwrap().to_bytes(),
            compile_level("sandbox").unwrap().to_bytes()
        );
    }

    #[test]
    fn an_unknown_syscall_is_named_with_its_line() {
        let err = text("extends = \"sandbox\"\n[seccomp]\nallow = [\n  \"landlock_create_ruleset\",\n  \"fooat2\",\n]\n")
            .unwrap_err();
        assert_eq!(err.to_string(), "p.toml:5: unknown syscall `fooat2`");
        let err =
            text("[[seccomp.rule]]\nsyscall = \"nope\"\narg = 0\neq = 1\naction = \"EPERM\"\n")
                .unwrap_err();
        assert!(err.to_string().contains("unknown syscall `nope`"), "{err}");
    }

    #[test]
    fn a_profile_that_refuses_execve_does_not_compile() {
        let err =
            text("[seccomp]\ndefault = \"EPERM\"\nallow = [\"read\", \"write\", \"exit_group\"]\n")
                .unwrap_err();
        assert!(matches!(err, CompileError::ExecveRefused { .. }), "{err}");
        assert!(err.to_string().contains("execve"));
        let err =
            text("extends = \"sandbox\"\n[seccomp.errno]\nEACCES = [\"execve\"]\n").unwrap_err();
        assert_eq!(err.to_string().split(':').nth(1), Some("3"));
    }

    #[test]
    fn capabilities_and_scopes_are_checked() {
        let b = text("[capabilities]\nkeep = [\"CAP_NET_BIND_SERVICE\"]\n").unwrap();
        assert_eq!(b.capabilities, Some(1 << 10));
        let err = text("[capabilities]\nkeep = [\"CAP_FLY\"]\n").unwrap_err();
        assert_eq!(err.to_string(), "p.toml:2: unknown capability `CAP_FLY`");
        assert!(text("[landlock]\nmin_abi = 1\nscope = [\"everything\"]\n").is_err());
        assert!(text("[landlock]\nmin_abi = 9\n").is_err());
    }

    #[test]
    fn labels_compile_into_the_blob_and_bad_ones_name_their_line() {
        let b = text("extends = \"sandbox\"\n[lsm]\napparmor = \"linerate-web\"\n").unwrap();
        assert_eq!(
            b.labels,
            Some(LsmLabels {
                apparmor: Some("linerate-web".into()),
                selinux: None,
                required: true,
            })
        );
        let b = text("[lsm]\nselinux = \"u:r:container_t:s0\"\nrequired = false\n").unwrap();
        let l = b.labels.unwrap();
        assert_eq!(
            (l.selinux.as_deref(), l.required),
            (Some("u:r:container_t:s0"), false)
        );
        assert_eq!(text("[lsm]\nrequired = false\n").unwrap().labels, None);

        let err = text("[lsm]\n\napparmor = \"unconfined\"\n").unwrap_err();
        assert!(err.to_string().starts_with("p.toml:3: "), "{err}");
        let err = text("[lsm]\nselinux = \"container_t\"\n").unwrap_err();
        assert!(matches!(err, CompileError::Label { .. }), "{err}");
        assert!(text("[lsm]\nsmack = \"x\"\n").is_err());
        for (name, _) in crate::levels::SOURCES {
            assert_eq!(compile_level(name).unwrap().labels, None, "{name}");
        }
    }

    #[test]
    fn scopes_appear_only_from_abi_6() {
        let b = compile_level("hardened").unwrap();
        let l = b.landlock.unwrap();
        assert_eq!(l.at_abi(5).1, 0);
        assert_eq!(
            l.at_abi(6).1,
            ll::SCOPE_SIGNAL | ll::SCOPE_ABSTRACT_UNIX_SOCKET
        );
        assert_eq!(l.unenforced_at(2).0 & ll::TRUNCATE, ll::TRUNCATE);
    }
}
