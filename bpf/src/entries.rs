//! A container's entry: built from its compiled profile, written at create,
//! removed at poststop or delete, and swept by `gc` when the container is
//! gone without either.

use std::collections::HashSet;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use aya::maps::{HashMap, Map, MapData, MapError};
use linerate_profiles::blob::Blob;
use linerate_profiles::landlock::EXECUTE;

use crate::abi::{self, Policy, EXEC_RULES, ID_LEN, RULES_ALL, RULE_LEN};
use crate::loader::{self, LsmError, Pinned};
use crate::scope::Scope;

/// linerate-init inside the container: the runtime's exec of it arms the rules.
const INIT: &str = "/.linerate/init";

/// Where a profile without Landlock execute rules may exec from.
pub const DEFAULT_EXEC: [&str; 7] = [
    "/bin",
    "/sbin",
    "/usr/bin",
    "/usr/sbin",
    "/usr/local/bin",
    "/usr/local/sbin",
    "/usr/libexec",
];

/// Why a profile cannot be turned into an entry.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    /// The profile does not ask for BPF-LSM.
    #[error("the profile does not ask for BPF-LSM")]
    NotHardened,
    /// More exec paths than an entry holds.
    #[error("the profile allows exec from {0} paths; a BPF-LSM entry holds {EXEC_RULES}")]
    TooManyPaths(usize),
    /// A path longer than an entry holds, or not absolute.
    #[error("exec path `{0}` is not absolute or longer than {max} bytes", max = RULE_LEN - 1)]
    BadPath(String),
}

/// FNV-1a, 64 bits: tells container ids apart where the entry cuts them.
pub fn id_hash(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn copy(dst: &mut [u8], src: &str) {
    let n = src.len().min(dst.len() - 1);
    dst[..n].copy_from_slice(&src.as_bytes()[..n]);
}

/// The entry for `container` under `blob`: every rule; exec from the
/// profile's Landlock execute paths (or [`DEFAULT_EXEC`]) and linerate-init.
pub fn policy_for(blob: &Blob, container: &str) -> Result<Policy, PolicyError> {
    if !blob.bpf_lsm {
        return Err(PolicyError::NotHardened);
    }

    let mut paths: Vec<String> = match &blob.landlock {
        Some(l) if l.rules.iter().any(|r| r.access & EXECUTE != 0) => l
            .rules
            .iter()
            .filter(|r| r.access & EXECUTE != 0)
            .map(|r| r.path.clone())
            .collect(),
        _ => DEFAULT_EXEC.iter().map(|p| (*p).to_owned()).collect(),
    };
    paths.push(INIT.to_owned());
    paths.sort();
    paths.dedup();
    if paths.len() > EXEC_RULES {
        return Err(PolicyError::TooManyPaths(paths.len()));
    }

    let mut policy = Policy {
        rules: RULES_ALL,
        armed: 0,
        n_exec: 0,
        reserved: 0,
        id_hash: id_hash(container),
        container: [0; ID_LEN],
        exec: [[0; RULE_LEN]; EXEC_RULES],
    };
    copy(&mut policy.container, container);
    for (slot, path) in policy.exec.iter_mut().zip(&paths) {
        let trimmed = path.trim_end_matches('/');
        if !path.starts_with('/') || trimmed.is_empty() || trimmed.len() >= RULE_LEN {
            return Err(PolicyError::BadPath(path.clone()));
        }
        copy(slot, trimmed);
    }
    policy.n_exec = u32::try_from(paths.len()).expect("at most EXEC_RULES");
    Ok(policy)
}

/// Whether `policy` belongs to the container `id`.
pub fn belongs_to(policy: &Policy, id: &str) -> bool {
    let mut cut = [0u8; ID_LEN];
    copy(&mut cut, id);
    policy.id_hash == id_hash(id) && policy.container == cut
}

fn table(pinned: &Pinned, name: &str) -> Result<HashMap<MapData, u64, Policy>, LsmError> {
    let path = pinned.dir().join(name);
    HashMap::try_from(Map::HashMap(pinned.map(name)?))
        .map_err(|source| LsmError::Map { path, source })
}

fn map_err(pinned: &Pinned, name: &str) -> impl FnOnce(MapError) -> LsmError {
    let path = pinned.dir().join(name);
    move |source| LsmError::Map { path, source }
}

/// Writes a container's entry; an entry already under the key (a namespace
/// inode reused after a container vanished) is replaced.
pub fn install(pinned: &Pinned, scope: Scope, policy: &Policy) -> Result<(), LsmError> {
    let mut t = table(pinned, scope.map_name())?;
    t.insert(scope.key(), policy, 0)
        .map_err(map_err(pinned, scope.map_name()))
}

/// Every entry in one version's maps: map name, key, policy.
pub fn entries(pinned: &Pinned) -> Result<Vec<(&'static str, u64, Policy)>, LsmError> {
    let mut out = Vec::new();
    for name in ["by_cgroup", "by_mntns"] {
        let t = table(pinned, name)?;
        for item in t.iter() {
            let (k, v) = item.map_err(map_err(pinned, name))?;
            out.push((name, k, v));
        }
    }
    Ok(out)
}

fn remove_where(
    pinned: &Pinned,
    mut gone: impl FnMut(&'static str, u64, &Policy) -> bool,
) -> Result<usize, LsmError> {
    let mut removed = 0;
    for (name, key, policy) in entries(pinned)? {
        if !gone(name, key, &policy) {
            continue;
        }
        let mut t = table(pinned, name)?;
        match t.remove(&key) {
            Ok(()) => removed += 1,
            // Removed meanwhile by another cleanup: harmless.
            Err(MapError::KeyNotFound) => {}
            Err(e) => return Err(map_err(pinned, name)(e)),
        }
    }
    Ok(removed)
}

/// Removes every entry of the container `id` whose key no longer holds a
/// process, in every version; returns how many. Nothing pinned, or nothing
/// for `id`, is not an error.
///
/// An id is unique only within one runtime root (containerd keeps one per
/// namespace): an entry of the same id whose cgroup or mount namespace
/// still holds processes belongs to another, running container and stays.
/// Poststop and delete run once the container's processes are gone; an
/// entry kept by mistake only adds rules, and `linerate gc` removes it.
pub fn remove_container(id: &str) -> Result<usize, LsmError> {
    let versions = loader::versions()?;
    if versions.is_empty() {
        return Ok(0);
    }
    let live = Live::scan().map_err(|source| LsmError::Io {
        op: "scanning for live containers in",
        path: PathBuf::from("/proc"),
        source,
    })?;
    let mut removed = 0;
    for pinned in versions {
        if pinned.dir().join("by_cgroup").exists() {
            removed += remove_where(&pinned, |map, key, p| {
                belongs_to(p, id) && !live.holds(map, key)
            })?;
        }
    }
    Ok(removed)
}

/// The entries present now, by map, key and container: what a sweep may
/// remove. Taken before the scan of what is live, so that an entry a hook
/// writes after that scan is never judged by it.
pub fn snapshot() -> Result<HashSet<(&'static str, u64, String)>, LsmError> {
    let mut out = HashSet::new();
    for pinned in loader::versions()? {
        if pinned.dir().join("by_cgroup").exists() {
            for (map, key, p) in entries(&pinned)? {
                out.insert((map, key, abi::text(&p.container)));
            }
        }
    }
    Ok(out)
}

/// What a sweep did, or would do.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    /// Entries found, before the sweep.
    pub entries: usize,
    /// Entries whose container is gone, removed (or, in a dry run, to remove).
    pub removed: Vec<String>,
    /// Entries kept.
    pub kept: usize,
    /// Old version folders found empty and unpinned.
    pub versions_removed: Vec<String>,
}

/// The cgroup ids and mount namespaces that are in use now.
#[derive(Clone, Debug, Default)]
pub struct Live {
    /// Inodes of every cgroup v2 folder that holds a process (itself or
    /// beneath), or `None` if no cgroup2 is mounted. A cgroup left empty by
    /// a killed runtime is not in use: its container is gone.
    pub cgroups: Option<HashSet<u64>>,
    /// Inodes of the mount namespaces of every process.
    pub mount_ns: HashSet<u64>,
}

impl Live {
    /// Reads them from `/proc` and the cgroup2 mount.
    pub fn scan() -> io::Result<Self> {
        let cgroups = match cgroup2_mount()? {
            Some(root) => {
                let mut set = HashSet::new();
                walk(&root, &mut set)?;
                Some(set)
            }
            None => None,
        };
        let mut mount_ns = HashSet::new();
        for entry in std::fs::read_dir("/proc")? {
            let entry = entry?;
            let name = entry.file_name();
            if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            // A process that exits meanwhile is simply not live.
            if let Ok(m) = std::fs::metadata(entry.path().join("ns/mnt")) {
                mount_ns.insert(m.ino());
            }
        }
        Ok(Self { cgroups, mount_ns })
    }

    /// Whether the entry's container may still run.
    pub fn holds(&self, map: &str, key: u64) -> bool {
        match map {
            "by_cgroup" => self.cgroups.as_ref().is_none_or(|s| s.contains(&key)),
            _ => self.mount_ns.contains(&key),
        }
    }
}

/// The first cgroup2 mount in `/proc/self/mountinfo`.
fn cgroup2_mount() -> io::Result<Option<PathBuf>> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")?;
    Ok(text.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        if right.split(' ').next() != Some("cgroup2") {
            return None;
        }
        left.split(' ').nth(4).map(PathBuf::from)
    }))
}

fn walk(dir: &Path, set: &mut HashSet<u64>) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    // `populated 1` in cgroup.events: a process here or beneath. A file
    // that cannot be read proves nothing: count the cgroup as live, so that
    // a sweep never removes the rules of a container it could not see.
    match std::fs::read_to_string(dir.join("cgroup.events")) {
        Ok(events) if !events.lines().any(|l| l == "populated 1") => {}
        // The root cgroup has no cgroup.events; a removed one is gone.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        _ => {
            set.insert(meta.ino());
        }
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            walk(&entry.path(), set)?;
        }
    }
    Ok(())
}

/// Removes entries whose container is gone, and unpins old versions left
/// with no entries; with `dry_run`, only reports. Only entries in `before`
/// (taken before `live` was scanned) are candidates. Running it twice, or
/// beside a poststop, is harmless.
pub fn gc(
    before: &HashSet<(&'static str, u64, String)>,
    live: &Live,
    dry_run: bool,
) -> Result<GcReport, LsmError> {
    let gone = |map: &'static str, key: u64, p: &Policy| {
        before.contains(&(map, key, abi::text(&p.container))) && !live.holds(map, key)
    };
    let mut report = GcReport::default();
    for pinned in loader::versions()? {
        if !pinned.dir().join("by_cgroup").exists() {
            continue;
        }
        let all = entries(&pinned)?;
        report.entries += all.len();
        if dry_run {
            for (map, key, p) in &all {
                if gone(map, *key, p) {
                    report.removed.push(abi::text(&p.container));
                } else {
                    report.kept += 1;
                }
            }
            continue;
        }
        remove_where(&pinned, |map, key, p| {
            let g = gone(map, key, p);
            if g {
                report.removed.push(abi::text(&p.container));
            }
            g
        })?;
        let left = entries(&pinned)?.len();
        report.kept += left;
        let current = pinned
            .dir()
            .file_name()
            .is_some_and(|n| n == loader::version());
        if left == 0 && !current {
            loader::clear(pinned.dir())?;
            let dir = pinned.dir();
            std::fs::remove_dir(dir).map_err(|source| LsmError::Io {
                op: "removing",
                path: dir.to_owned(),
                source,
            })?;
            report.versions_removed.push(dir.display().to_string());
        }
    }
    Ok(report)
}

/// Why `linerate gc` failed.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// `/proc` or the cgroup2 mount could not be scanned.
    #[error("scanning /proc and the cgroup2 mount for live containers")]
    Scan(#[source] io::Error),
    /// A map could not be read or written.
    #[error("sweeping BPF-LSM entries")]
    Sweep(#[source] LsmError),
}

/// `linerate gc [--dry-run]`: scans what is live now and sweeps the rest.
pub fn gc_now(dry_run: bool) -> Result<GcReport, GcError> {
    let before = snapshot().map_err(GcError::Sweep)?;
    let live = Live::scan().map_err(GcError::Scan)?;
    gc(&before, &live, dry_run).map_err(GcError::Sweep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use linerate_profiles::compile::compile_level;

    fn path(p: &Policy, i: usize) -> String {
        abi::text(&p.exec[i])
    }

    #[test]
    fn hardened_exec_paths_come_from_landlock_and_include_init() {
        let blob = compile_level("hardened").unwrap();
        let p = policy_for(&blob, "c1").unwrap();
        assert_eq!(p.rules, RULES_ALL);
        assert_eq!(p.armed, 0);
        let paths: Vec<String> = (0..p.n_exec as usize).map(|i| path(&p, i)).collect();
        assert!(
            paths.contains(&"/usr/bin".to_owned()) && paths.contains(&INIT.to_owned()),
            "{paths:?}"
        );
        assert!(
            !paths.iter().any(|s| s == "/tmp" || s.ends_with('/')),
            "{paths:?}"
        );
        assert!((p.n_exec as usize..EXEC_RULES).all(|i| p.exec[i] == [0; RULE_LEN]));
        assert!(belongs_to(&p, "c1") && !belongs_to(&p, "c2"));
    }

    #[test]
    fn levels_without_bpf_lsm_have_no_entry() {
        for level in ["minimal", "sandbox"] {
            assert_eq!(
                policy_for(&compile_level(level).unwrap(), "c"),
                Err(PolicyError::NotHardened)
            );
        }
    }

    #[test]
    fn a_profile_without_landlock_gets_the_default_paths() {
        let mut blob = compile_level("hardened").unwrap();
        blob.landlock = None;
        let p = policy_for(&blob, "c").unwrap();
        assert_eq!(p.n_exec as usize, DEFAULT_EXEC.len() + 1);
    }

    #[test]
    fn too_many_or_bad_paths_are_refused() {
        let mut blob = compile_level("hardened").unwrap();
        let l = blob.landlock.as_mut().unwrap();
        let rule = |path: String| linerate_profiles::blob::PathRule {
            path,
            access: EXECUTE,
        };
        l.rules
            .extend((0..EXEC_RULES).map(|i| rule(format!("/opt/{i}"))));
        assert!(matches!(
            policy_for(&blob, "c"),
            Err(PolicyError::TooManyPaths(_))
        ));
        let l = blob.landlock.as_mut().unwrap();
        l.rules = vec![rule(format!("/{}", "x".repeat(RULE_LEN)))];
        assert!(matches!(
            policy_for(&blob, "c"),
            Err(PolicyError::BadPath(_))
        ));
        blob.landlock.as_mut().unwrap().rules = vec![rule("/".to_owned())];
        assert!(matches!(
            policy_for(&blob, "c"),
            Err(PolicyError::BadPath(_))
        ));
    }

    #[test]
    fn long_ids_that_share_a_prefix_stay_apart() {
        let blob = compile_level("hardened").unwrap();
        let a = format!("{}a", "0".repeat(70));
        let b = format!("{}b", "0".repeat(70));
        let p = policy_for(&blob, &a).unwrap();
        assert_eq!(abi::text(&p.container).len(), ID_LEN - 1);
        assert!(belongs_to(&p, &a) && !belongs_to(&p, &b));
    }

    #[test]
    fn liveness_follows_the_scan() {
        let live = Live {
            cgroups: Some([5].into()),
            mount_ns: [7].into(),
        };
        assert!(live.holds("by_cgroup", 5) && !live.holds("by_cgroup", 6));
        assert!(live.holds("by_mntns", 7) && !live.holds("by_mntns", 5));
        let unknown = Live {
            cgroups: None,
            mount_ns: HashSet::new(),
        };
        assert!(
            unknown.holds("by_cgroup", 1),
            "without a cgroup2 mount nothing can be judged gone"
        );
        let scan = Live::scan().unwrap();
        let me = std::fs::metadata("/proc/self/ns/mnt").unwrap().ino();
        assert!(scan.mount_ns.contains(&me));
    }
}
