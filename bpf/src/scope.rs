//! What names one container for its whole life: the key of its entry.
//!
//! On a host with the unified layout (cgroup2 at `/sys/fs/cgroup`) every
//! container the runtime creates has a cgroup of its own, which its later
//! `exec`s join; the cgroup's id is a 64-bit kernfs id that the kernel never
//! hands out twice while it runs. On a hybrid host the v2 cgroup may be the
//! runtime's own (runc places containers in the v1 hierarchies), so the key
//! is the inode of the container's mount namespace, which every OCI
//! container has of its own and which `exec` enters too.
//!
//! # Current limitations
//!
//! A mount namespace's inode can be reused once the namespace is freed. An
//! entry left by a container that vanished without poststop, delete or gc
//! could then apply to a new namespace: more rules than asked, never fewer.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::abi::{SCOPE_CGROUP, SCOPE_MNTNS};
use crate::sys;

/// `CGROUP2_SUPER_MAGIC`.
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// How the key is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The cgroup on a unified host, else the mount namespace.
    Auto,
    /// Always the cgroup (fails on a hybrid host).
    Cgroup,
    /// Always the mount namespace.
    MountNs,
}

impl Mode {
    /// `LINERATE_BPF_SCOPE`: `cgroup`, `mntns` or `auto` (the default).
    pub fn from_env() -> Result<Self, ScopeError> {
        match std::env::var("LINERATE_BPF_SCOPE").ok().as_deref() {
            None | Some("" | "auto") => Ok(Self::Auto),
            Some("cgroup") => Ok(Self::Cgroup),
            Some("mntns") => Ok(Self::MountNs),
            Some(other) => Err(ScopeError::Mode(other.to_owned())),
        }
    }
}

/// The key of one container's entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// A cgroup v2 id.
    Cgroup(u64),
    /// A mount namespace's inode.
    MountNs(u64),
}

impl Scope {
    /// The map that holds entries of this kind.
    pub fn map_name(self) -> &'static str {
        match self {
            Self::Cgroup(_) => "by_cgroup",
            Self::MountNs(_) => "by_mntns",
        }
    }

    /// The key.
    pub fn key(self) -> u64 {
        match self {
            Self::Cgroup(k) | Self::MountNs(k) => k,
        }
    }

    /// `SCOPE_CGROUP` or `SCOPE_MNTNS`.
    pub fn kind(self) -> u32 {
        match self {
            Self::Cgroup(_) => SCOPE_CGROUP,
            Self::MountNs(_) => SCOPE_MNTNS,
        }
    }
}

/// Why no key could be found for a container.
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    /// An unknown `LINERATE_BPF_SCOPE`.
    #[error("LINERATE_BPF_SCOPE={0}: expected cgroup, mntns or auto")]
    Mode(String),
    /// A file of the process could not be read.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The process has no cgroup v2 path.
    #[error("{0} names no cgroup v2 (is this a unified-layout host?)")]
    NoCgroup(PathBuf),
    /// A cgroup the programs cannot find: not on a cgroup2 mount, the root,
    /// or deeper than the programs walk.
    #[error("cgroup {0} cannot key the rules: {1}")]
    Unreachable(String, &'static str),
    /// The container shares the caller's cgroup or mount namespace, so its
    /// key would name the runtime too.
    #[error("the container shares the runtime's {0}: its rules would bind the runtime too")]
    Shared(&'static str),
}

/// The key for the container whose first process is `pid`, as this
/// process (the hook, in the runtime's namespaces) sees it.
pub fn of_pid(pid: u32, mode: Mode) -> Result<Scope, ScopeError> {
    let unified = sys::fs_magic(Path::new("/sys/fs/cgroup")).ok() == Some(CGROUP2_SUPER_MAGIC);
    match mode {
        Mode::Cgroup => cgroup(pid),
        Mode::MountNs => mount_ns(pid),
        Mode::Auto if unified => match cgroup(pid) {
            Err(ScopeError::Shared(_) | ScopeError::Unreachable(..)) => mount_ns(pid),
            other => other,
        },
        Mode::Auto => mount_ns(pid),
    }
}

fn read(path: &Path) -> Result<String, ScopeError> {
    std::fs::read_to_string(path).map_err(|source| ScopeError::Read {
        path: path.to_owned(),
        source,
    })
}

fn inode(path: &Path) -> Result<u64, ScopeError> {
    std::fs::metadata(path)
        .map(|m| m.ino())
        .map_err(|source| ScopeError::Read {
            path: path.to_owned(),
            source,
        })
}

/// The v2 path in a `/proc/<pid>/cgroup` text: the `0::` line.
pub fn v2_path(text: &str) -> Option<&str> {
    text.lines().find_map(|l| l.strip_prefix("0::"))
}

fn cgroup(pid: u32) -> Result<Scope, ScopeError> {
    let file = PathBuf::from(format!("/proc/{pid}/cgroup"));
    let text = read(&file)?;
    let path = v2_path(&text).ok_or_else(|| ScopeError::NoCgroup(file.clone()))?;
    let mine = read(Path::new("/proc/self/cgroup"))?;
    if v2_path(&mine) == Some(path) {
        return Err(ScopeError::Shared("cgroup"));
    }
    // The programs look a task's cgroup up by its ancestors from level 1 to
    // MAX_CGROUP_DEPTH on the cgroup2 hierarchy: a key they could never
    // reach would leave the container without rules and the hook at exit 0.
    if sys::fs_magic(Path::new("/sys/fs/cgroup")).ok() != Some(CGROUP2_SUPER_MAGIC) {
        return Err(ScopeError::Unreachable(
            path.to_owned(),
            "/sys/fs/cgroup is not cgroup2",
        ));
    }
    if !(1..=MAX_CGROUP_DEPTH).contains(&depth(path)) {
        return Err(ScopeError::Unreachable(
            path.to_owned(),
            "the root cgroup, or deeper than the programs walk",
        ));
    }
    let dir = Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    Ok(Scope::Cgroup(inode(&dir)?))
}

/// How deep the BPF programs walk a task's cgroup ancestors
/// (`MAX_CGROUP_DEPTH` in `linerate.bpf.c`).
pub const MAX_CGROUP_DEPTH: usize = 12;

/// The level of a cgroup v2 path: `/` is 0, `/a/b` is 2.
fn depth(path: &str) -> usize {
    path.split('/').filter(|c| !c.is_empty()).count()
}

fn mount_ns(pid: u32) -> Result<Scope, ScopeError> {
    let ns = inode(Path::new(&format!("/proc/{pid}/ns/mnt")))?;
    if ns == inode(Path::new("/proc/self/ns/mnt"))? {
        return Err(ScopeError::Shared("mount namespace"));
    }
    Ok(Scope::MountNs(ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depths_count_path_components() {
        assert_eq!(depth("/"), 0);
        assert_eq!(depth("/a"), 1);
        assert_eq!(depth("/a/b/"), 2);
        assert!(depth(&"/x".repeat(MAX_CGROUP_DEPTH + 1)) > MAX_CGROUP_DEPTH);
    }

    #[test]
    fn the_v2_line_is_found_among_v1_lines() {
        let hybrid = "12:pids:/user.slice\n1:name=systemd:/init.scope\n0::/init.scope\n";
        assert_eq!(v2_path(hybrid), Some("/init.scope"));
        assert_eq!(v2_path("0::/\n"), Some("/"));
        assert_eq!(v2_path("3:cpu:/x\n"), None);
    }

    #[test]
    fn this_process_shares_its_own_namespace() {
        let me = std::process::id();
        assert!(matches!(
            mount_ns(me),
            Err(ScopeError::Shared("mount namespace"))
        ));
        assert!(matches!(
            of_pid(u32::MAX, Mode::MountNs),
            Err(ScopeError::Read { .. })
        ));
    }
}
