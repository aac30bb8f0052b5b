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
    /// AppArmor and SELinux labels. Absent from blobs that name none, so
    /// those keep the bytes (and digests) they had before labels existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<LsmLabels>,
}

/// The labels a profile names for the host's own LSMs; the runtime applies them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LsmLabels {
    /// The AppArmor profile, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apparmor: Option<String>,
    /// The SELinux label, `user:role:type[:level]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selinux: Option<String>,
    /// Refuse the container where a named label cannot be applied.
    pub required: bool,
}

/// The longest label accepted.
pub const MAX_LABEL_BYTES: usize = 1024;

/// Why a label is not one the runtime may hand to runc.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LabelError {
    /// Empty, too long, or with whitespace or control characters.
    #[error("{lsm} label `{label}` must be 1 to {MAX_LABEL_BYTES} bytes without spaces or control characters")]
    Malformed {
        /// `apparmor` or `selinux`.
        lsm: &'static str,
        /// The label, escaped.
        label: String,
    },
    /// AppArmor's name for no confinement.
    #[error("apparmor profile `unconfined` confines nothing; name a profile")]
    Unconfined,
    /// An SELinux label without user, role and type.
    #[error("selinux label `{0}` is not user:role:type[:level]")]
    SelinuxFields(String),
}

impl LsmLabels {
    /// Checks both labels' syntax.
    pub fn check(&self) -> Result<(), LabelError> {
        let Self {
            apparmor,
            selinux,
            required: _,
        } = self;
        let malformed = |lsm, label: &str| LabelError::Malformed {
            lsm,
            label: label.escape_debug().to_string(),
        };
        let clean = |l: &str| {
            !l.is_empty()
                && l.len() <= MAX_LABEL_BYTES
                && !l.chars().any(|c| c.is_whitespace() || c.is_control())
        };
        if let Some(a) = apparmor {
            if !clean(a) {
                return Err(malformed("apparmor", a));
            }
            if a == "unconfined" {
                return Err(LabelError::Unconfined);
            }
        }
        if let Some(s) = selinux {
            if !clean(s) {
                return Err(malformed("selinux", s));
            }
            let mut fields = s.splitn(4, ':');
            if !(0..3).all(|_| fields.next().is_some_and(|f| !f.is_empty())) {
                return Err(LabelError::SelinuxFields(s.clone()));
            }
        }
        Ok(())
    }
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
    /// A label the compiler would have refused.
    #[error("blob labels")]
    Label(#[source] LabelError),
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
        if let Some(labels) = &blob.labels {
            labels.check().map_err(BlobError::Label)?;
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

    #[test]
    fn labels_are_optional_and_unknown_label_keys_are_refused() {
        let mut blob = crate::compile::compile_level("sandbox").unwrap();
        let plain = String::from_utf8(blob.to_bytes()).unwrap();
        assert!(
            !plain.contains("labels"),
            "a blob without labels keeps its old bytes"
        );

        blob.labels = Some(LsmLabels {
            apparmor: Some("web".into()),
            selinux: None,
            required: false,
        });
        let bytes = blob.to_bytes();
        assert_eq!(Blob::verify(&bytes, &Digest::of(&bytes)).unwrap(), blob);

        let text = String::from_utf8(bytes).unwrap();
        let extra = text.replace("\"required\":false", "\"required\":false,\"smack\":\"x\"");
        assert!(matches!(
            Blob::verify(extra.as_bytes(), &Digest::of(extra.as_bytes())),
            Err(BlobError::Decode(_))
        ));
        let bad = text.replace("\"web\"", "\"unconfined\"");
        assert!(matches!(
            Blob::verify(bad.as_bytes(), &Digest::of(bad.as_bytes())),
            Err(BlobError::Label(LabelError::Unconfined))
        ));
    }

    #[test]
    fn label_syntax() {
        let l = |a: Option<&str>, s: Option<&str>| LsmLabels {
            apparmor: a.map(str::to_owned),
            selinux: s.map(str::to_owned),
            required: true,
        };
        assert!(l(
            Some("linerate-web"),
            Some("system_u:system_r:container_t:s0:c1,c2")
        )
        .check()
        .is_ok());
        assert!(l(None, Some("u:r:t")).check().is_ok());
        for bad in ["", "a b", "a\nb", "unconfined"] {
            assert!(l(Some(bad), None).check().is_err(), "{bad:?}");
        }
        for bad in ["", "u:r", "u::t:s0", "u:r:t s0", "container_t"] {
            assert!(l(None, Some(bad)).check().is_err(), "{bad:?}");
        }
        assert!(l(Some(&"a".repeat(MAX_LABEL_BYTES + 1)), None)
            .check()
            .is_err());
    }
}
