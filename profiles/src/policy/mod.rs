//! A profile resolved through its `extends` chain: what the container gets,
//! independent of any architecture or filter layout.

mod fold;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fold::fold;

use crate::seccomp::{Action, ArgRule};
use crate::source::{self, MissingPath, NetworkMode, Source};
use crate::syscalls::Arch;

/// The longest `extends` chain accepted.
const MAX_EXTENDS_DEPTH: usize = 16;

/// A resolved profile.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// The name the profile's own source gives, never a parent's.
    pub name: Option<String>,
    /// Set no_new_privs; `None` leaves it as the spec asks.
    pub no_new_privs: Option<bool>,
    /// Capabilities kept, by name, with their lines; `None` leaves them as the spec asks.
    pub keep_caps: Option<Vec<Named>>,
    /// The network namespace.
    pub network: NetworkMode,
    /// Seccomp.
    pub seccomp: SeccompPolicy,
    /// Landlock; `None` applies no ruleset.
    pub landlock: Option<LandlockPolicy>,
    /// The profile needs BPF-LSM.
    pub bpf_lsm: bool,
    /// AppArmor and SELinux labels; `None` when no source has `[lsm]`.
    pub labels: Option<LabelPolicy>,
    /// The text of every source in the chain, root first, for the source digest.
    pub texts: Vec<String>,
}

/// A name written in a source, with where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    /// The name.
    pub name: String,
    /// `file:line` of the name.
    pub at: String,
}

/// The seccomp part of a policy.
#[derive(Clone, Debug, PartialEq)]
pub struct SeccompPolicy {
    /// The action for syscalls named nowhere, and for numbers no table knows.
    pub default: Action,
    /// The base action of each named syscall.
    pub syscalls: BTreeMap<String, (Action, String)>,
    /// Argument rules by syscall, in source order; the first that holds wins.
    pub rules: BTreeMap<String, Vec<(ArgRule, String)>>,
}

/// The Landlock part of a policy.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct LandlockPolicy {
    /// The lowest acceptable Landlock ABI.
    pub min_abi: u8,
    /// What a missing path does.
    pub missing: MissingPath,
    /// Readable paths.
    pub read: Vec<String>,
    /// Writable paths.
    pub write: Vec<String>,
    /// Executable paths.
    pub execute: Vec<String>,
    /// Device nodes.
    pub devices: Vec<String>,
    /// Scopes, with where they were written.
    pub scope: Vec<Named>,
}

/// The `[lsm]` part of a policy: each key of a later source overrides the
/// same key of an earlier one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelPolicy {
    /// The AppArmor profile, with where it was named.
    pub apparmor: Option<Named>,
    /// The SELinux label, with where it was named.
    pub selinux: Option<Named>,
    /// Refuse to start where a named label cannot be applied.
    pub required: bool,
}

/// Why a profile could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A source file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A source is not valid TOML for the profile language.
    #[error("{at}")]
    Parse {
        /// `file:line` or the file alone.
        at: String,
        /// The parser's error.
        #[source]
        source: source::ParseError,
    },
    /// `extends` names neither a level nor a file.
    #[error("{at}: extends `{name}`, which is neither a level nor a file")]
    ExtendsNotFound {
        /// Where.
        at: String,
        /// What it named.
        name: String,
    },
    /// `extends` loops.
    #[error("{at}: extends `{name}` again: the chain is a cycle")]
    ExtendsCycle {
        /// Where.
        at: String,
        /// What it named.
        name: String,
    },
    /// `extends` is deeper than the limit.
    #[error("{at}: extends chain deeper than {MAX_EXTENDS_DEPTH}")]
    ExtendsTooDeep {
        /// Where.
        at: String,
    },
    /// An action or errno name is unknown.
    #[error("{at}: unknown action `{name}` (allow, log, kill or an errno name such as EPERM)")]
    UnknownAction {
        /// Where.
        at: String,
        /// The name.
        name: String,
    },
    /// A syscall is both allowed and refused in one source.
    #[error("{at}: `{name}` is named twice in one source with different actions")]
    Conflict {
        /// Where.
        at: String,
        /// The syscall.
        name: String,
    },
    /// A rule is malformed.
    #[error("{at}: rule for `{syscall}`: {reason}")]
    Rule {
        /// Where.
        at: String,
        /// The syscall.
        syscall: String,
        /// Why.
        reason: &'static str,
    },
    /// A Landlock field is malformed.
    #[error("{at}: landlock: {reason}")]
    Landlock {
        /// Where.
        at: String,
        /// Why.
        reason: String,
    },
}

/// Where a source comes from: a built-in level or a file.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Origin {
    Level(&'static str),
    File(PathBuf),
}

impl Origin {
    fn label(&self) -> String {
        match self {
            Origin::Level(n) => format!("level {n}"),
            Origin::File(p) => p.display().to_string(),
        }
    }
}

/// One parsed source with its origin and text.
struct Layer {
    origin: Origin,
    text: String,
    source: Source,
}

impl Layer {
    fn at(&self, offset: usize) -> String {
        format!(
            "{}:{}",
            self.origin.label(),
            source::line_of(&self.text, offset)
        )
    }
}

impl Policy {
    /// Resolves a built-in level.
    pub fn level(name: &str) -> Option<Result<Self, ResolveError>> {
        let (n, text) = crate::levels::SOURCES.iter().find(|(n, _)| *n == name)?;
        Some(resolve(Origin::Level(n), (*text).to_owned()))
    }

    /// Resolves the source file at `path`.
    pub fn file(path: &Path) -> Result<Self, ResolveError> {
        let text = read(path)?;
        resolve(Origin::File(path.to_owned()), text)
    }

    /// Resolves a source given as text, as if read from `path`.
    pub fn text(path: &Path, text: String) -> Result<Self, ResolveError> {
        resolve(Origin::File(path.to_owned()), text)
    }

    /// The action the policy gives a native syscall with these arguments:
    /// the meaning that every compiled filter must reproduce.
    pub fn verdict(&self, arch: Arch, nr: u32, args: &[u64; 6]) -> Action {
        let Some(name) = arch.name(nr) else {
            return self.seccomp.default;
        };
        if let Some(rules) = self.seccomp.rules.get(name) {
            for (rule, _) in rules {
                if rule.cond.holds(args[usize::from(rule.arg)]) {
                    return rule.action;
                }
            }
        }
        self.seccomp
            .syscalls
            .get(name)
            .map_or(self.seccomp.default, |(a, _)| *a)
    }
}

fn read(path: &Path) -> Result<String, ResolveError> {
    std::fs::read_to_string(path).map_err(|source| ResolveError::Read {
        path: path.to_owned(),
        source,
    })
}

fn parse(origin: Origin, text: String) -> Result<Layer, ResolveError> {
    match Source::parse(&text) {
        Ok(source) => Ok(Layer {
            origin,
            text,
            source,
        }),
        Err(source) => {
            let at = match source.line {
                Some(line) => format!("{}:{line}", origin.label()),
                None => origin.label(),
            };
            Err(ResolveError::Parse { at, source })
        }
    }
}

/// Loads the chain from `origin` up to its root and folds it, root first.
fn resolve(origin: Origin, text: String) -> Result<Policy, ResolveError> {
    let mut chain = vec![parse(origin, text)?];
    loop {
        let layer = chain.last().expect("the chain starts with one layer");
        let Some(extends) = &layer.source.extends else {
            break;
        };
        let at = layer.at(extends.span().start);
        let name = extends.get_ref().clone();
        if chain.len() >= MAX_EXTENDS_DEPTH {
            return Err(ResolveError::ExtendsTooDeep { at });
        }
        let next = locate(&layer.origin, &name).ok_or_else(|| ResolveError::ExtendsNotFound {
            at: at.clone(),
            name: name.clone(),
        })?;
        if chain.iter().any(|l| l.origin == next) {
            return Err(ResolveError::ExtendsCycle { at, name });
        }
        let text = match &next {
            Origin::Level(n) => crate::levels::source(n)
                .expect("located levels exist")
                .to_owned(),
            Origin::File(p) => read(p)?,
        };
        chain.push(parse(next, text)?);
    }
    chain.reverse();
    fold(&chain)
}

/// Finds what `extends = name` means in a source from `from`: a level name,
/// else a file relative to the including file.
fn locate(from: &Origin, name: &str) -> Option<Origin> {
    if let Some((n, _)) = crate::levels::SOURCES.iter().find(|(n, _)| *n == name) {
        return Some(Origin::Level(n));
    }
    let Origin::File(path) = from else {
        return None;
    };
    let candidate = path.parent().unwrap_or(Path::new(".")).join(name);
    let canonical = candidate.canonicalize().ok()?;
    canonical.is_file().then_some(Origin::File(canonical))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_child_overrides_its_parent() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "web.toml",
            "extends = \"sandbox\"\n[capabilities]\nkeep = [\"CAP_NET_BIND_SERVICE\"]\n[seccomp]\nallow = [\"ptrace\"]\n",
        );
        let policy = Policy::file(&p).unwrap();
        assert_eq!(policy.no_new_privs, Some(true));
        assert_eq!(policy.keep_caps.unwrap()[0].name, "CAP_NET_BIND_SERVICE");
        assert_eq!(policy.seccomp.syscalls["ptrace"].0, Action::Allow);
        assert_eq!(policy.seccomp.syscalls["keyctl"].0, Action::Errno(1));
        assert_eq!(policy.texts.len(), 2);
        assert_eq!(policy.name, None, "the parent's name is not inherited");
    }

    #[test]
    fn cycles_and_missing_parents_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.toml", "extends = \"b.toml\"\n");
        let b = write(dir.path(), "b.toml", "extends = \"a.toml\"\n");
        let err = Policy::file(&b).unwrap_err();
        assert!(matches!(err, ResolveError::ExtendsCycle { .. }), "{err}");
        let c = write(dir.path(), "c.toml", "extends = \"nowhere\"\n");
        assert!(matches!(
            Policy::file(&c).unwrap_err(),
            ResolveError::ExtendsNotFound { .. }
        ));
        let d = write(dir.path(), "d.toml", "extends = \"d.toml\"\n");
        assert!(matches!(
            Policy::file(&d).unwrap_err(),
            ResolveError::ExtendsCycle { .. }
        ));
    }

    #[test]
    fn labels_fold_key_by_key_and_are_required_by_default() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "base.toml",
            "extends = \"sandbox\"\n[lsm]\napparmor = \"base\"\nselinux = \"u:r:t:s0\"\n",
        );
        let child = write(
            dir.path(),
            "child.toml",
            "extends = \"base.toml\"\n\n[lsm]\napparmor = \"child\"\nrequired = false\n",
        );
        let base = Policy::file(&dir.path().join("base.toml")).unwrap();
        assert!(base.labels.unwrap().required);
        let l = Policy::file(&child).unwrap().labels.unwrap();
        assert_eq!(l.apparmor.as_ref().unwrap().name, "child");
        assert!(l.apparmor.unwrap().at.ends_with("child.toml:4"));
        assert_eq!(l.selinux.unwrap().name, "u:r:t:s0");
        assert!(!l.required);
        assert_eq!(Policy::level("hardened").unwrap().unwrap().labels, None);
    }

    #[test]
    fn one_source_cannot_allow_and_refuse_a_syscall() {
        let err = Policy::text(
            Path::new("x.toml"),
            "[seccomp]\nallow = [\"read\"]\n[seccomp.errno]\nEPERM = [\"read\"]\n".into(),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("x.toml:4:"), "{err}");
    }

    #[test]
    fn rules_need_exactly_one_condition() {
        for body in ["", "eq = 1\nne = 2\n"] {
            let text = format!(
                "[[seccomp.rule]]\nsyscall = \"ioctl\"\narg = 1\naction = \"EPERM\"\n{body}"
            );
            let err = Policy::text(Path::new("r.toml"), text).unwrap_err();
            assert!(matches!(err, ResolveError::Rule { .. }), "{err}");
        }
        let text = "[[seccomp.rule]]\nsyscall = \"ioctl\"\narg = 6\naction = \"EPERM\"\neq = 1\n";
        assert!(Policy::text(Path::new("r.toml"), text.into()).is_err());
    }

    #[test]
    fn verdicts_follow_rules_then_base_then_default() {
        let p = Policy::level("sandbox").unwrap().unwrap();
        let clone = Arch::X86_64.number("clone").unwrap();
        let mut args = [0u64; 6];
        assert_eq!(p.verdict(Arch::X86_64, clone, &args), Action::Allow);
        args[0] = 0x1000_0000;
        assert_eq!(p.verdict(Arch::X86_64, clone, &args), Action::Errno(1));
        let clone3 = Arch::X86_64.number("clone3").unwrap();
        assert_eq!(p.verdict(Arch::X86_64, clone3, &args), Action::Errno(38));
        assert_eq!(p.verdict(Arch::X86_64, 1000, &args), Action::Errno(38));
    }
}
