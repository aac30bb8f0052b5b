//! Applies a blob's Landlock ruleset with the masks of the running ABI.
//!
//! The kernel's ABI is read first, and the blob's row for it is applied as a
//! hard requirement: what the ABI cannot enforce was decided at compile time
//! and is reported, never dropped silently by a best-effort fallback.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;

use landlock::{
    AccessFs, BitFlags, CompatLevel, Compatible, PathBeneath, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope,
};
use linerate_profiles::blob::Landlock;
use linerate_profiles::landlock::{ACCESS_FILE, MAX_ABI};
use linerate_profiles::source::MissingPath;

use crate::sys;

/// What Landlock enforces on this process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The kernel's Landlock ABI.
    pub abi: u32,
    /// Paths the profile names that the filesystem lacks: their rules were skipped.
    pub skipped: Vec<String>,
    /// Filesystem rights the profile asks for that this ABI cannot enforce.
    pub unenforced_fs: u64,
    /// Scopes the profile asks for that this ABI cannot enforce.
    pub unenforced_scope: u64,
}

/// Why Landlock was not enforced.
#[derive(Debug, thiserror::Error)]
pub enum LandlockError {
    /// The kernel has no Landlock, or it is disabled.
    #[error("the kernel has no usable Landlock")]
    Unavailable(#[source] std::io::Error),
    /// The kernel's ABI is older than the profile accepts.
    #[error("the kernel's Landlock ABI {found} is older than the profile's minimum {min}")]
    TooOld {
        /// The kernel's ABI.
        found: u32,
        /// The profile's minimum.
        min: u8,
    },
    /// A path is missing and the profile says that is fatal.
    #[error("{0} does not exist and the profile requires it")]
    Missing(String),
    /// A path could not be opened.
    #[error("open {path}")]
    Open {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Building or enforcing the ruleset failed.
    #[error("ruleset")]
    Ruleset(#[source] landlock::RulesetError),
    /// The kernel accepted the ruleset but enforces none of it.
    #[error("the ruleset is not enforced")]
    NotEnforced,
}

/// The running kernel's Landlock ABI, or why it has none.
pub fn abi() -> Result<u32, std::io::Error> {
    sys::landlock_abi()
}

/// Builds the ruleset for the running ABI and restricts the calling process.
pub fn restrict_self(l: &Landlock) -> Result<Report, LandlockError> {
    let abi = sys::landlock_abi().map_err(LandlockError::Unavailable)?;
    if abi < u32::from(l.min_abi) {
        return Err(LandlockError::TooOld {
            found: abi,
            min: l.min_abi,
        });
    }
    let row = u8::try_from(abi.min(u32::from(MAX_ABI))).expect("clamped to 7");
    let (handled, scoped) = l.at_abi(row);
    let (unenforced_fs, unenforced_scope) = l.unenforced_at(row);

    let ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(BitFlags::<AccessFs>::from_bits_truncate(handled))
        .map_err(LandlockError::Ruleset)?;
    let ruleset = if scoped != 0 {
        ruleset
            .scope(BitFlags::<Scope>::from_bits_truncate(scoped))
            .map_err(LandlockError::Ruleset)?
    } else {
        ruleset
    };
    let mut created = ruleset
        .create()
        .map_err(LandlockError::Ruleset)?
        .no_new_privs(false);

    let mut skipped = Vec::new();
    for rule in &l.rules {
        let file = match open_path(&rule.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if l.missing == MissingPath::Fail {
                    return Err(LandlockError::Missing(rule.path.clone()));
                }
                skipped.push(rule.path.clone());
                continue;
            }
            Err(source) => {
                return Err(LandlockError::Open {
                    path: rule.path.clone(),
                    source,
                })
            }
        };
        let is_dir = file
            .metadata()
            .map_err(|source| LandlockError::Open {
                path: rule.path.clone(),
                source,
            })?
            .is_dir();
        let mut access = rule.access & handled;
        if !is_dir {
            access &= ACCESS_FILE;
        }
        if access == 0 {
            continue;
        }
        let beneath = PathBeneath::new(file, BitFlags::<AccessFs>::from_bits_truncate(access));
        created = created.add_rule(beneath).map_err(LandlockError::Ruleset)?;
    }

    let status = created.restrict_self().map_err(LandlockError::Ruleset)?;
    if status.ruleset == RulesetStatus::NotEnforced {
        return Err(LandlockError::NotEnforced);
    }
    Ok(Report {
        abi,
        skipped,
        unenforced_fs,
        unenforced_scope,
    })
}

/// Opens a path for a rule: `O_PATH` reads nothing and needs no permission
/// on the file itself.
fn open_path(path: &str) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
        .open(path)
}
