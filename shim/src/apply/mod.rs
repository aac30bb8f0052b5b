//! Installs a compiled profile on the calling process: no_new_privs, a check
//! of the capability sets, Landlock, and the seccomp filter last, so that
//! nothing after it needs a syscall the filter may refuse.
//!
//! Used by linerate-init inside a container and by `linerate exec` on the
//! host: one path, so what a test sees through one is what the other does.

pub mod capabilities;
pub mod landlock;

use linerate_profiles::blob::Blob;
use linerate_profiles::seccomp::{SockFilter, BPF_MAXINSNS};
use linerate_profiles::syscalls::Arch;

use crate::sys;

/// What the caller adds to the profile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Capabilities the runtime shim granted only so that filters can be
    /// attached without no_new_privs; dropped once they are.
    pub drop_caps: u64,
    /// Lower the capability sets to what the profile keeps instead of only
    /// checking them: for a plain process (`linerate exec`), which no
    /// runtime has prepared.
    pub reduce_caps: bool,
}

/// What was installed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// no_new_privs is set on the process.
    pub no_new_privs: bool,
    /// The Landlock outcome, when the profile has a ruleset.
    pub landlock: Option<landlock::Report>,
    /// The filter's length in instructions.
    pub seccomp_instructions: usize,
}

/// Why a profile could not be installed. Each is fatal: the command never runs.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// prctl(PR_SET_NO_NEW_PRIVS) failed.
    #[error("prctl(PR_SET_NO_NEW_PRIVS)")]
    NoNewPrivs(#[source] std::io::Error),
    /// The capability sets are not what the profile allows.
    #[error("capabilities")]
    Capabilities(#[source] capabilities::CapabilitiesError),
    /// Landlock could not be enforced as the profile asks.
    #[error("landlock")]
    Landlock(#[source] landlock::LandlockError),
    /// The blob has no filter for this architecture.
    #[error("the profile has no seccomp filter for {0:?}")]
    NoFilter(Arch),
    /// A filter the kernel would refuse.
    #[error("the seccomp filter has {0} instructions; the kernel takes 1 to {BPF_MAXINSNS}")]
    FilterLength(usize),
    /// seccomp(SECCOMP_SET_MODE_FILTER) failed.
    #[error("seccomp(SECCOMP_SET_MODE_FILTER)")]
    Seccomp(#[source] std::io::Error),
}

/// Attaches a filter to the calling thread exactly as [`apply`] does (one
/// `seccomp()` call, no flags, no_new_privs untouched); for benchmarks.
pub fn attach_seccomp_filter(prog: &[SockFilter]) -> std::io::Result<()> {
    sys::seccomp_set_mode_filter(prog)
}

/// The architecture this binary runs on.
pub fn native_arch() -> Arch {
    if cfg!(target_arch = "aarch64") {
        Arch::Aarch64
    } else {
        Arch::X86_64
    }
}

/// Installs `blob` on the calling process.
pub fn apply(blob: &Blob, options: &Options) -> Result<Report, ApplyError> {
    let Options {
        drop_caps,
        reduce_caps,
    } = *options;

    let filter = blob
        .filter(native_arch())
        .ok_or(ApplyError::NoFilter(native_arch()))?;
    let program = filter.instructions();
    if program.is_empty() || program.len() > BPF_MAXINSNS {
        return Err(ApplyError::FilterLength(program.len()));
    }

    if blob.no_new_privs == Some(true) {
        sys::set_no_new_privs().map_err(ApplyError::NoNewPrivs)?;
    }
    let no_new_privs = sys::no_new_privs().map_err(ApplyError::NoNewPrivs)?;

    if let (Some(keep), true) = (blob.capabilities, reduce_caps) {
        capabilities::reduce(keep).map_err(ApplyError::Capabilities)?;
    }
    if let Some(keep) = blob.capabilities {
        capabilities::check(keep | drop_caps).map_err(ApplyError::Capabilities)?;
    }

    let landlock = match &blob.landlock {
        Some(l) => Some(landlock::restrict_self(l).map_err(ApplyError::Landlock)?),
        None => None,
    };

    sys::seccomp_set_mode_filter(&program).map_err(ApplyError::Seccomp)?;

    if drop_caps != 0 {
        capabilities::drop(drop_caps).map_err(ApplyError::Capabilities)?;
    }

    Ok(Report {
        no_new_privs,
        landlock,
        seccomp_instructions: program.len(),
    })
}
