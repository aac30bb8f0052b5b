//! The compiled blob: everything linerate-init and the runtime shim need,
//! stored under its sha256 digest.
//!
//! JSON, read by serde_json: a sandbox blob is about 10 KiB and parses in tens
//! of microseconds. Filters are stored packed, one integer per instruction.

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::seccomp::SockFilter;
use crate::source::{MissingPath, NetworkMode};
use crate::syscalls::Arch;

/// The blob format this crate writes and reads.
pub const FORMAT: u32 = 1;

/// The largest blob linerate-init reads.
pub const MAX_BLOB_BYTES: u64 = 1 << 20;

/// The media type of a blob in the store.
pub const MEDIA_TYPE: &str = "application/vnd.linerate.profile.v1+json";

/// A compiled profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blob {
    /// [`FORMAT`].
    pub format: u32,
    /// The compiler that made it: `linerate-profiles <version>`.
    pub compiler: String,
    /// The digest of the source chain it was compiled from.
    pub source_digest: Digest,
    /// The syscall table the filters were built from.
    pub syscall_table: String,
    /// The profile's name, if it has one.
    pub name: Option<String>,
    /// Set no_new_privs; `None` leaves the spec's choice.
    pub no_new_privs: Option<bool>,
    /// Capabilities kept (a mask of `CAP_*` bits); `None` leaves the spec's.
    pub capabilities: Option<u64>,
    /// The network namespace.
    pub network: NetworkMode,
    /// One seccomp filter per architecture.
    pub seccomp: Vec<Filter>,
    /// The Landlock ruleset, if any.
    pub landlock: Option<Landlock>,
    /// The profile needs BPF-LSM enforcement.
    pub bpf_lsm: bool,
}

/// A seccomp filter for one architecture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// The architecture.
    pub arch: Arch,
    /// The instructions, packed by [`SockFilter::pack`].
    pub program: Vec<u64>,
}

impl Filter {
    /// The instructions.
    pub fn instructions(&self) -> Vec<SockFilter> {
        self.program
            .iter()
            .map(|&v| SockFilter::unpack(v))
            .collect()
    }
}

/// A Landlock ruleset with its masks for every ABI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Landlock {
    /// The lowest ABI at which the ruleset may be applied.
    pub min_abi: u8,
    /// What a path missing from the container does.
    pub missing: MissingPath,
    /// The filesystem rights handled, for ABI 1 at index 0 up to ABI 7.
    pub handled_fs: Vec<u64>,
    /// The scopes asked for, for ABI 1 at index 0 up to ABI 7.
    pub scoped: Vec<u64>,
    /// Path rules, with every right they grant on the newest ABI.
    pub rules: Vec<PathRule>,
}

impl Landlock {
    /// The handled filesystem rights and scopes at `abi`, which the caller
    /// has checked to be at least 1; ABIs past the table use its last row.
    pub fn at_abi(&self, abi: u8) -> (u64, u64) {
        let i = usize::from(abi.clamp(1, crate::landlock::MAX_ABI) - 1);
        (
            self.handled_fs.get(i).copied().unwrap_or(0),
            self.scoped.get(i).copied().unwrap_or(0),
        )
    }

    /// The rights and scopes the profile asks for that `abi` cannot enforce.
    pub fn unenforced_at(&self, abi: u8) -> (u64, u64) {
        let (fs, scope) = self.at_abi(abi);
        let (all_fs, all_scope) = self.at_abi(crate::landlock::MAX_ABI);
        (all_fs & !fs, all_scope & !scope)
    }
}

/// One path and the rights granted beneath it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathRule {
    /// The absolute path inside the container.
    pub path: String,
    /// `LANDLOCK_ACCESS_FS_*` rights.
    pub access: u64,
}

/// Why bytes are not a usable blob.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The bytes do not hash to the expected digest.
    #[error("digest mismatch: expected {expected}, found {found}")]
    Digest {
        /// What the caller asked for.
        expected: Digest,
        /// What the bytes hash to.
        found: Digest,
    },
    /// The bytes are not a blob.
    #[error("not a linerate blob")]
    Decode(#[source] serde_json::Error),
    /// A blob of another format.
    #[error("blob format {0} is not {FORMAT}")]
    Format(u32),
}

impl Blob {
    /// The canonical bytes of the blob.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a blob always serializes")
    }

    /// Checks that `bytes` hash to `expected`, then decodes them.
    pub fn verify(bytes: &[u8], expected: &Digest) -> Result<Self, BlobError> {
        let found = Digest::of(bytes);
        if found != *expected {
            return Err(BlobError::Digest {
                expected: *expected,
                found,
            });
        }
        let blob: Blob = serde_json::from_slice(bytes).map_err(BlobError::Decode)?;
        if blob.format != FORMAT {
            return Err(BlobError::Format(blob.format));
        }
        Ok(blob)
    }

    /// The filter for `arch`, if the blob has one.
    pub fn filter(&self, arch: Arch) -> Option<&Filter> {
        self.seccomp.iter().find(|f| f.arch == arch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flipped_byte_is_refused() {
        let blob = crate::compile::compile_level("sandbox").unwrap();
        let bytes = blob.to_bytes();
        let digest = Digest::of(&bytes);
        assert_eq!(Blob::verify(&bytes, &digest).unwrap(), blob);
        let mut bad = bytes.clone();
        bad[bytes.len() / 2] ^= 1;
        assert!(matches!(
            Blob::verify(&bad, &digest),
            Err(BlobError::Digest { .. })
        ));
        assert!(matches!(
            Blob::verify(b"{}", &Digest::of(b"{}")),
            Err(BlobError::Decode(_))
        ));
    }
}
