//! Loading the programs once, pinning them, and proving they run.
//!
//! ```text
//! /sys/fs/bpf/linerate/<version>/by_cgroup   the maps, pinned by name
//!                                /by_mntns
//!                                /events
//!                                /selftest
//!                                /stats
//!                                /link_<program>   one pinned link per hook
//! ```
//!
//! `<version>` is drawn from the object's sha256, so a new linerate never
//! writes into maps that older programs read, nor the reverse: the old
//! version keeps enforcing its containers until `gc` finds it empty. Loading
//! takes an exclusive lock on [`LOCK_PATH`], so two hooks racing load once;
//! a folder left half-pinned by a killed loader is emptied and pinned again.
//!
//! BPF-LSM is active only if the kernel runs the programs: with `bpf`
//! missing from `lsm=` they load and attach without error and never run.
//! [`ensure_active`] therefore reads the LSM list and then makes a call that
//! only a running program can refuse (see [`SELFTEST_PROTOCOL`]).

use std::borrow::BorrowMut;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use aya::maps::{HashMap, Map, MapData};
use aya::programs::{links::FdLink, Lsm, ProgramError};
use aya::{Btf, Ebpf, EbpfLoader};
use sha2::{Digest as _, Sha256};

use crate::abi::SELFTEST_PROTOCOL;
use crate::sys;

/// Where linerate pins its programs and maps.
pub const PIN_ROOT: &str = "/sys/fs/bpf/linerate";
/// The list of active LSMs.
pub const LSM_LIST: &str = "/sys/kernel/security/lsm";
/// The lock taken while loading.
pub const LOCK_PATH: &str = "/run/linerate/bpf.lock";

/// The compiled programs, built by `build.rs`.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/linerate.bpf.o"));

/// The maps, by name.
pub const MAPS: [&str; 5] = ["by_cgroup", "by_mntns", "events", "selftest", "stats"];

/// The programs: function name in `bpf/c/linerate.bpf.c` and LSM hook.
pub const PROGRAMS: [(&str, &str); 13] = [
    ("exec_check", "bprm_check_security"),
    ("open_check", "file_open"),
    ("mount_check", "sb_mount"),
    ("move_mount_check", "move_mount"),
    ("umount_check", "sb_umount"),
    ("pivotroot_check", "sb_pivotroot"),
    ("ptrace_check", "ptrace_access_check"),
    ("traceme_check", "ptrace_traceme"),
    ("bpf_check", "bpf"),
    ("module_request_check", "kernel_module_request"),
    ("kernel_read_file_check", "kernel_read_file"),
    ("kernel_load_data_check", "kernel_load_data"),
    ("socket_check", "socket_create"),
];

/// Why BPF-LSM cannot enforce a hardened container here.
#[derive(Debug, thiserror::Error)]
pub enum LsmError {
    /// The LSM list is readable and lacks `bpf`.
    #[error("BPF-LSM is not active: `bpf` is missing from the active LSMs ({list}); boot with lsm=...,bpf")]
    NotInLsmList {
        /// The list, as read.
        list: String,
    },
    /// The programs are attached but the self-test saw none run.
    #[error(
        "BPF-LSM is not active: the programs are attached but the live self-test saw none run \
         ({outcome}); the kernel attaches LSM programs without running them when `bpf` is missing from lsm="
    )]
    SelfTest {
        /// What the self-test call returned instead of EPERM.
        outcome: String,
    },
    /// The object could not be parsed or relocated against the kernel's BTF.
    #[error("preparing the BPF-LSM programs")]
    Object(#[source] aya::EbpfError),
    /// The kernel refused a program.
    #[error("the kernel refused BPF-LSM program {program} on hook {hook}{log}")]
    Program {
        /// The program.
        program: &'static str,
        /// Its hook.
        hook: &'static str,
        /// The verifier's last line, if it said anything.
        log: String,
        /// The cause: the syscall's error, without aya's copy of the whole
        /// verifier log, which can run to megabytes.
        #[source]
        source: io::Error,
    },
    /// The kernel's BTF is unreadable.
    #[error("reading the kernel's BTF (/sys/kernel/btf/vmlinux)")]
    Btf(#[source] aya::BtfError),
    /// A file operation failed.
    #[error("{op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The BPF file system is not mounted.
    #[error("/sys/fs/bpf is not a BPF file system (mount -t bpf bpf /sys/fs/bpf)")]
    NoBpfFs,
    /// Pinning failed.
    #[error("pinning {path}")]
    Pin {
        /// The pin.
        path: PathBuf,
        /// The cause.
        #[source]
        source: aya::pin::PinError,
    },
    /// A pinned map could not be opened or used.
    #[error("map {path}")]
    Map {
        /// The pin.
        path: PathBuf,
        /// The cause.
        #[source]
        source: aya::maps::MapError,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> LsmError + 'a {
    move |source| LsmError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// This build's version folder name: `v` and 16 hex digits of the object's sha256.
pub fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let hash = Sha256::digest(OBJECT);
        let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("v{hex}")
    })
}

/// The programs' version folder, pinned and proven to run.
#[derive(Clone, Debug)]
pub struct Pinned {
    dir: PathBuf,
}

impl Pinned {
    /// A version folder, without checking it.
    pub fn at(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Opens a pinned map.
    pub fn map(&self, name: &str) -> Result<MapData, LsmError> {
        let path = self.dir.join(name);
        MapData::from_pin(&path).map_err(|source| LsmError::Map { path, source })
    }

    /// Whether every map and link is pinned.
    fn complete(&self) -> bool {
        MAPS.iter().all(|m| self.dir.join(m).exists())
            && PROGRAMS
                .iter()
                .all(|(p, _)| self.dir.join(format!("link_{p}")).exists())
    }
}

/// What `/sys/kernel/security/lsm` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LsmList {
    /// The active LSMs, in order.
    Listed(Vec<String>),
    /// The file could not be read (securityfs not mounted, or no LSM support).
    Unreadable(String),
}

impl LsmList {
    /// Reads the list from `path`.
    pub fn read(path: &Path) -> Self {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text),
            Err(e) => Self::Unreadable(format!("{}: {e}", path.display())),
        }
    }

    /// Parses the comma-separated list.
    pub fn parse(text: &str) -> Self {
        Self::Listed(
            text.trim()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    /// Whether the list says that bpf is not active; an unreadable list says nothing.
    pub fn lacks_bpf(&self) -> Option<String> {
        match self {
            Self::Listed(l) if !l.iter().any(|s| s == "bpf") => Some(l.join(",")),
            _ => None,
        }
    }
}

/// Makes sure the programs of this version are loaded, attached, pinned and
/// running, loading them if needed; refuses when BPF-LSM is not active.
pub fn ensure_active() -> Result<Pinned, LsmError> {
    if let Some(list) = LsmList::read(Path::new(LSM_LIST)).lacks_bpf() {
        return Err(LsmError::NotInLsmList { list });
    }

    let pinned = Pinned::at(Path::new(PIN_ROOT).join(version()));
    if pinned.complete() {
        pinned_selftest(&pinned)?;
        return Ok(pinned);
    }

    let lock = lock()?;
    if pinned.complete() {
        drop(lock);
        pinned_selftest(&pinned)?;
        return Ok(pinned);
    }

    let mut ebpf = load()?;
    let links = attach(&mut ebpf)?;
    let map = ebpf
        .map_mut("selftest")
        .ok_or_else(|| missing_map("selftest"))?;
    let path = Path::new("selftest");
    let mut table =
        HashMap::<&mut MapData, u32, u32>::try_from(map).map_err(|source| LsmError::Map {
            path: path.to_owned(),
            source,
        })?;
    selftest(&mut table, path)?;
    pin(&ebpf, links, &pinned.dir)?;
    drop(lock);
    tracing::debug!(dir = %pinned.dir.display(), "BPF-LSM programs loaded and pinned");
    Ok(pinned)
}

fn missing_map(name: &str) -> LsmError {
    LsmError::Map {
        path: PathBuf::from(name),
        source: aya::maps::MapError::InvalidName {
            name: name.to_owned(),
        },
    }
}

fn lock() -> Result<File, LsmError> {
    let path = Path::new(LOCK_PATH);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io_err("opening", path))?;
    sys::lock_exclusive(&file).map_err(io_err("locking", path))?;
    Ok(file)
}

/// Parses the object and relocates it against the running kernel's BTF.
fn load() -> Result<Ebpf, LsmError> {
    let btf = Btf::from_sys_fs().map_err(LsmError::Btf)?;
    let mut ebpf = EbpfLoader::new()
        .btf(Some(&btf))
        .load(OBJECT)
        .map_err(LsmError::Object)?;
    for (name, hook) in PROGRAMS {
        let program = ebpf
            .program_mut(name)
            .unwrap_or_else(|| panic!("the object has no program {name}"));
        let lsm: &mut Lsm = program
            .try_into()
            .unwrap_or_else(|_| panic!("{name} is not an LSM program"));
        lsm.load(hook, &btf)
            .map_err(|source| program_error(name, hook, source))?;
    }
    Ok(ebpf)
}

fn program_error(program: &'static str, hook: &'static str, error: ProgramError) -> LsmError {
    let (source, log) = match error {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            let text = verifier_log.to_string();
            let last = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim();
            let last: String = last.chars().take(200).collect();
            (
                io_error,
                if last.is_empty() {
                    String::new()
                } else {
                    format!(" (verifier: {last})")
                },
            )
        }
        ProgramError::SyscallError(e) => (e.io_error, format!(" ({})", e.call)),
        other => (io::Error::other(other.to_string()), String::new()),
    };
    LsmError::Program {
        program,
        hook,
        log,
        source,
    }
}

/// Attaches every program; the links detach when dropped unless pinned.
fn attach(ebpf: &mut Ebpf) -> Result<Vec<(&'static str, FdLink)>, LsmError> {
    let mut links = Vec::new();
    for (name, hook) in PROGRAMS {
        let lsm: &mut Lsm = ebpf
            .program_mut(name)
            .and_then(|p| p.try_into().ok())
            .unwrap_or_else(|| panic!("{name} is loaded above"));
        let id = lsm
            .attach()
            .map_err(|source| program_error(name, hook, source))?;
        let link = lsm
            .take_link(id)
            .map_err(|source| program_error(name, hook, source))?;
        links.push((name, FdLink::from(link)));
    }
    Ok(links)
}

/// Asks the programs to refuse a call that nothing else refuses with EPERM.
fn selftest<T: BorrowMut<MapData>>(
    table: &mut HashMap<T, u32, u32>,
    path: &Path,
) -> Result<(), LsmError> {
    let map_err = |source| LsmError::Map {
        path: path.to_owned(),
        source,
    };
    let me = std::process::id();
    table.insert(me, 1, 0).map_err(map_err)?;
    let outcome = sys::unix_socket(SELFTEST_PROTOCOL);
    let removed = table.remove(&me);
    match outcome {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => removed.map_err(map_err),
        Err(e) => Err(LsmError::SelfTest {
            outcome: e.to_string(),
        }),
        Ok(()) => Err(LsmError::SelfTest {
            outcome: "the socket was created".to_owned(),
        }),
    }
}

fn pinned_selftest(pinned: &Pinned) -> Result<(), LsmError> {
    let path = pinned.dir.join("selftest");
    let mut table = HashMap::<MapData, u32, u32>::try_from(Map::HashMap(pinned.map("selftest")?))
        .map_err(|source| LsmError::Map {
        path: path.clone(),
        source,
    })?;
    selftest(&mut table, &path)
}

/// Pins the maps, then the links: a folder is complete once its last link is pinned.
fn pin(ebpf: &Ebpf, links: Vec<(&'static str, FdLink)>, dir: &Path) -> Result<(), LsmError> {
    if sys::fs_magic(Path::new("/sys/fs/bpf")).ok() != Some(BPF_FS_MAGIC) {
        return Err(LsmError::NoBpfFs);
    }
    std::fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
    clear(dir)?;
    for name in MAPS {
        let path = dir.join(name);
        let map = ebpf.map(name).ok_or_else(|| missing_map(name))?;
        map.pin(&path)
            .map_err(|source| LsmError::Pin { path, source })?;
    }
    for (name, link) in links {
        let path = dir.join(format!("link_{name}"));
        link.pin(&path)
            .map_err(|source| LsmError::Pin { path, source })?;
    }
    Ok(())
}

/// `BPF_FS_MAGIC`.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// Removes every pin in a version folder; the folder stays.
pub(crate) fn clear(dir: &Path) -> Result<(), LsmError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(LsmError::Io {
                op: "reading",
                path: dir.to_owned(),
                source: e,
            })
        }
    };
    for entry in entries {
        let path = entry.map_err(io_err("reading", dir))?.path();
        std::fs::remove_file(&path).map_err(io_err("unpinning", &path))?;
    }
    Ok(())
}

/// Every version folder under [`PIN_ROOT`], this build's included if present.
pub fn versions() -> Result<Vec<Pinned>, LsmError> {
    let root = Path::new(PIN_ROOT);
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(LsmError::Io {
                op: "reading",
                path: root.to_owned(),
                source: e,
            })
        }
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err("reading", root))?;
        if entry.file_type().map_err(io_err("reading", root))?.is_dir() {
            out.push(Pinned::at(entry.path()));
        }
    }
    out.sort_by(|a, b| a.dir.cmp(&b.dir));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lsm_list_decides_only_when_readable() {
        assert_eq!(
            LsmList::parse("lockdown,capability,landlock,yama,bpf\n").lacks_bpf(),
            None
        );
        assert_eq!(
            LsmList::parse("capability,landlock,lockdown,yama\n")
                .lacks_bpf()
                .as_deref(),
            Some("capability,landlock,lockdown,yama")
        );
        assert_eq!(
            LsmList::parse("bpfx,xbpf").lacks_bpf().as_deref(),
            Some("bpfx,xbpf")
        );
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            LsmList::read(&dir.path().join("none")),
            LsmList::Unreadable(_)
        ));
        assert_eq!(LsmList::read(&dir.path().join("none")).lacks_bpf(), None);
    }

    #[test]
    fn the_version_names_this_object() {
        let v = version();
        assert_eq!(v.len(), 17);
        assert!(v.starts_with('v') && v[1..].chars().all(|c| c.is_ascii_hexdigit()));
    }
}
