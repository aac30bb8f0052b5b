//! The store: an OCI image layout holding each compiled profile as an
//! artifact, so that registries and OCI tools can carry profiles between
//! hosts.
//!
//! ```text
//! <root>/oci-layout                 {"imageLayoutVersion": "1.0.0"}
//! <root>/index.json                 one manifest per profile; names in
//!                                   org.opencontainers.image.ref.name
//! <root>/blobs/sha256/<hex>         manifests, the empty config, the blobs
//! ```
//!
//! A profile's digest is its blob's. Every write goes to a temporary file
//! that is renamed into place, so a reader never sees half a file, and
//! `index.json` is rewritten under an exclusive lock. Every read checks the
//! owner and mode of the file and the digest of its bytes.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use oci_spec::image::{
    DescriptorBuilder, ImageIndex, ImageIndexBuilder, ImageManifest, ImageManifestBuilder,
    MediaType, OciLayoutBuilder,
};

mod files;

use files::{check_trusted, io, read_limited, write_atomic};

use crate::blob::{self, Blob, BlobError};
use crate::digest::Digest;

/// Where the store lives unless `LINERATE_STORE` or `--store` says otherwise.
pub const DEFAULT_ROOT: &str = "/var/lib/linerate/store";

/// The annotation OCI layouts use for a manifest's name.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The artifact type of a compiled profile's manifest.
pub const ARTIFACT_TYPE: &str = "application/vnd.linerate.profile.v1";

/// The largest manifest or index read.
const MAX_METADATA_BYTES: u64 = 4 << 20;

/// A store rooted at a folder.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

/// One profile in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its name, if it has one.
    pub name: Option<String>,
    /// The blob's digest: the profile's identity.
    pub digest: Digest,
    /// The manifest's digest.
    pub manifest: Digest,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("{op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file others could change.
    #[error("{path} is writable by group or others, or owned by another user: not trusted")]
    Untrusted {
        /// The file.
        path: PathBuf,
    },
    /// A file past its size limit.
    #[error("{path} is larger than {limit} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// A blob that fails its digest or does not decode.
    #[error("blob {digest}")]
    Blob {
        /// The blob.
        digest: Digest,
        /// The cause.
        #[source]
        source: BlobError,
    },
    /// `index.json` or a manifest that is not what it should be.
    #[error("{path}: {reason}")]
    Layout {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No profile by that name.
    #[error("no profile named `{0}` in the store")]
    NoName(String),
    /// No blob with that digest.
    #[error("no blob {0} in the store")]
    NoBlob(Digest),
    /// A name that cannot be a profile name.
    #[error(
        "`{0}` is not a profile name (a-z, 0-9, `.`, `_`, `-`; at most 128; not starting with `.`)"
    )]
    BadName(String),
}

/// Checks a profile name: no path separators, no `..`, no upper case.
pub fn check_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadName(name.to_owned()))
    }
}

impl Store {
    /// The store at `root`; nothing is read or created yet.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The store `--store`, else `LINERATE_STORE`, else [`DEFAULT_ROOT`] names.
    pub fn locate(flag: Option<&Path>) -> Self {
        match (flag, std::env::var_os("LINERATE_STORE")) {
            (Some(p), _) => Self::new(p),
            (None, Some(p)) if !p.is_empty() => Self::new(p),
            _ => Self::new(DEFAULT_ROOT),
        }
    }

    /// The store's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of the blob with `digest`.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    /// Creates the layout if it is missing; harmless when it exists.
    pub fn init(&self) -> Result<(), StoreError> {
        let blobs = self.root.join("blobs/sha256");
        for dir in [
            self.root.as_path(),
            self.root.join("blobs").as_path(),
            blobs.as_path(),
        ] {
            if !dir.is_dir() {
                fs::create_dir_all(dir).map_err(io("create", dir))?;
                fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
                    .map_err(io("chmod", dir))?;
            }
        }
        let layout = self.root.join("oci-layout");
        if !layout.exists() {
            let l = OciLayoutBuilder::default()
                .image_layout_version("1.0.0")
                .build()
                .expect("static fields");
            let bytes = serde_json::to_vec(&l).expect("serializes");
            write_atomic(&layout, &bytes)?;
        }
        if !self.index_path().exists() {
            let _lock = self.lock()?;
            if !self.index_path().exists() {
                self.write_index(&empty_index())?;
            }
        }
        Ok(())
    }

    /// Stores a blob as an artifact, names it if `name` is given (moving the
    /// name from any older profile), and returns its digest.
    pub fn put(&self, blob: &Blob, name: Option<&str>) -> Result<Digest, StoreError> {
        if let Some(n) = name {
            check_name(n)?;
        }
        self.init()?;

        let bytes = blob.to_bytes();
        let digest = self.put_bytes(&bytes)?;
        let empty = self.put_bytes(b"{}")?;

        let layer = descriptor(
            MediaType::Other(blob::MEDIA_TYPE.to_owned()),
            bytes.len(),
            &digest,
            None,
        );
        let config = descriptor(MediaType::EmptyJSON, 2, &empty, None);
        let mut annotations = HashMap::new();
        annotations.insert(
            "io.linerate.source-digest".to_owned(),
            blob.source_digest.to_string(),
        );
        annotations.insert("io.linerate.compiler".to_owned(), blob.compiler.clone());
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .artifact_type(MediaType::Other(ARTIFACT_TYPE.to_owned()))
            .config(config)
            .layers(vec![layer])
            .annotations(annotations)
            .build()
            .expect("all fields set");
        let manifest_bytes = canonical_json(&manifest, false);
        let manifest_digest = self.put_bytes(&manifest_bytes)?;

        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let names = name.map(|n| HashMap::from([(REF_NAME.to_owned(), n.to_owned())]));
        let entry = descriptor(
            MediaType::ImageManifest,
            manifest_bytes.len(),
            &manifest_digest,
            names,
        );
        let mut manifests: Vec<_> = index
            .manifests()
            .iter()
            .filter(|d| {
                let same_name = name.is_some() && ref_name(d) == name;
                let same_unnamed =
                    d.digest().to_string() == manifest_digest.to_string() && ref_name(d) == name;
                !same_name && !same_unnamed
            })
            .cloned()
            .collect();
        manifests.push(entry);
        index.set_manifests(manifests);
        self.write_index(&index)?;
        Ok(digest)
    }

    /// Resolves a reference: `sha256:<hex>` or a profile name.
    pub fn resolve(&self, reference: &str) -> Result<Digest, StoreError> {
        if reference.starts_with("sha256:") {
            let digest: Digest = reference
                .parse()
                .map_err(|_| StoreError::BadName(reference.to_owned()))?;
            return Ok(digest);
        }
        check_name(reference)?;
        // Every container start resolves a name: read the one manifest it
        // names, not every profile in the store.
        let index = self.read_index()?;
        let descriptor = index
            .manifests()
            .iter()
            .find(|d| ref_name(d) == Some(reference))
            .ok_or_else(|| StoreError::NoName(reference.to_owned()))?;
        Ok(self.entry(descriptor)?.digest)
    }

    /// Reads the blob with `digest`, checking who may write it and its digest.
    pub fn get(&self, digest: &Digest) -> Result<Blob, StoreError> {
        let bytes = self.read_trusted(digest, blob::MAX_BLOB_BYTES)?;
        Blob::verify(&bytes, digest).map_err(|source| StoreError::Blob {
            digest: *digest,
            source,
        })
    }

    /// Every profile in `index.json`.
    pub fn list(&self) -> Result<Vec<Entry>, StoreError> {
        let index = self.read_index()?;
        index.manifests().iter().map(|d| self.entry(d)).collect()
    }

    /// The profile a manifest descriptor of `index.json` points at, with its
    /// manifest and config read and checked against their digests.
    fn entry(&self, d: &oci_spec::image::Descriptor) -> Result<Entry, StoreError> {
        let manifest: Digest = d
            .digest()
            .to_string()
            .parse()
            .map_err(|_| self.bad_index("a manifest digest is not sha256"))?;
        let bytes = self.read_verified(&manifest, MAX_METADATA_BYTES)?;
        let m = ImageManifest::from_reader(bytes.as_slice()).map_err(|e| StoreError::Layout {
            path: self.blob_path(&manifest),
            reason: e.to_string(),
        })?;
        let layout = |reason: &str| StoreError::Layout {
            path: self.blob_path(&manifest),
            reason: reason.to_owned(),
        };
        // The config is not used, but a store with a damaged blob is a
        // damaged store: check it like the rest.
        let config: Digest = m
            .config()
            .digest()
            .to_string()
            .parse()
            .map_err(|_| layout("the config digest is not sha256"))?;
        self.read_verified(&config, MAX_METADATA_BYTES)?;
        let layer = m
            .layers()
            .iter()
            .find(|l| l.media_type().to_string() == blob::MEDIA_TYPE)
            .ok_or_else(|| layout("no linerate profile layer"))?;
        let digest = layer
            .digest()
            .to_string()
            .parse()
            .map_err(|_| layout("the layer digest is not sha256"))?;
        Ok(Entry {
            name: ref_name(d).map(str::to_owned),
            digest,
            manifest,
        })
    }

    /// Checks every profile: each manifest and blob is trusted and matches
    /// its digest. Returns the problems found, one per profile.
    /// A damaged manifest or config makes the whole listing fail, which is
    /// returned as the error.
    pub fn verify(&self) -> Result<Vec<(Entry, StoreError)>, StoreError> {
        let mut problems = Vec::new();
        for e in self.list()? {
            if let Err(err) = self.get(&e.digest) {
                problems.push((e, err));
            }
        }
        Ok(problems)
    }

    fn bad_index(&self, reason: &str) -> StoreError {
        StoreError::Layout {
            path: self.index_path(),
            reason: reason.to_owned(),
        }
    }

    fn read_index(&self) -> Result<ImageIndex, StoreError> {
        let path = self.index_path();
        // The index picks the blob behind every name: one that others may
        // write could point `sandbox` at `minimal`'s verified blob.
        for p in [self.root.as_path(), path.as_path()] {
            check_trusted(p)?;
        }
        let bytes = read_limited(&path, MAX_METADATA_BYTES)?;
        ImageIndex::from_reader(bytes.as_slice()).map_err(|e| StoreError::Layout {
            path,
            reason: e.to_string(),
        })
    }

    fn write_index(&self, index: &ImageIndex) -> Result<(), StoreError> {
        let bytes = canonical_json(index, true);
        write_atomic(&self.index_path(), &bytes)
    }

    /// Holds an exclusive lock on the store while `index.json` changes.
    fn lock(&self) -> Result<File, StoreError> {
        let path = self.root.join(".lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o644)
            .open(&path)
            .map_err(io("open", &path))?;
        f.lock().map_err(io("lock", &path))?;
        Ok(f)
    }

    fn put_bytes(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::of(bytes);
        let path = self.blob_path(&digest);
        if let Ok(existing) =
            self.read_trusted(&digest, blob::MAX_BLOB_BYTES.max(MAX_METADATA_BYTES))
        {
            if existing == bytes {
                return Ok(digest);
            }
        }
        write_atomic(&path, bytes)?;
        Ok(digest)
    }

    /// Reads a blob that is trusted and matches its digest.
    fn read_verified(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>, StoreError> {
        let bytes = self.read_trusted(digest, limit)?;
        let found = Digest::of(&bytes);
        if found != *digest {
            return Err(StoreError::Blob {
                digest: *digest,
                source: BlobError::Digest {
                    expected: *digest,
                    found,
                },
            });
        }
        Ok(bytes)
    }

    fn read_trusted(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(digest);
        if !path.exists() {
            return Err(StoreError::NoBlob(*digest));
        }
        for p in [
            self.root.as_path(),
            path.parent().expect("blobs have a folder"),
            path.as_path(),
        ] {
            check_trusted(p)?;
        }
        read_limited(&path, limit)
    }
}

/// JSON with object keys sorted: oci-spec keeps annotations in a `HashMap`,
/// whose order would change a manifest's digest from one run to the next.
fn canonical_json<T: serde::Serialize>(value: &T, pretty: bool) -> Vec<u8> {
    let v = serde_json::to_value(value).expect("serializes");
    if pretty {
        serde_json::to_vec_pretty(&v).expect("serializes")
    } else {
        serde_json::to_vec(&v).expect("serializes")
    }
}

fn empty_index() -> ImageIndex {
    ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(Vec::new())
        .build()
        .expect("all fields set")
}

fn descriptor(
    media_type: MediaType,
    size: usize,
    digest: &Digest,
    annotations: Option<HashMap<String, String>>,
) -> oci_spec::image::Descriptor {
    let d: oci_spec::image::Digest = digest
        .to_string()
        .parse()
        .expect("sha256 digests are OCI digests");
    let mut b = DescriptorBuilder::default()
        .media_type(media_type)
        .size(size as u64)
        .digest(d);
    if let Some(a) = annotations {
        b = b.annotations(a);
    }
    b.build().expect("all fields set")
}

fn ref_name(d: &oci_spec::image::Descriptor) -> Option<&str> {
    d.annotations().as_ref()?.get(REF_NAME).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::compile_level;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::new(dir.path().join("store"));
        (dir, s)
    }

    #[test]
    fn names_resolve_to_blobs_that_verify() {
        let (_d, s) = store();
        let blob = compile_level("sandbox").unwrap();
        let digest = s.put(&blob, Some("sandbox")).unwrap();
        assert_eq!(s.resolve("sandbox").unwrap(), digest);
        assert_eq!(s.resolve(&digest.to_string()).unwrap(), digest);
        assert_eq!(s.get(&digest).unwrap(), blob);
        assert!(s.verify().unwrap().is_empty());
        assert!(s.root().join("oci-layout").is_file());
    }

    #[test]
    fn putting_twice_changes_nothing_and_a_name_moves() {
        let (_d, s) = store();
        let a = s
            .put(&compile_level("sandbox").unwrap(), Some("p"))
            .unwrap();
        let index = fs::read(s.root().join("index.json")).unwrap();
        s.put(&compile_level("sandbox").unwrap(), Some("p"))
            .unwrap();
        assert_eq!(fs::read(s.root().join("index.json")).unwrap(), index);
        let b = s
            .put(&compile_level("minimal").unwrap(), Some("p"))
            .unwrap();
        assert_ne!(a, b);
        assert_eq!(s.resolve("p").unwrap(), b);
        assert_eq!(s.list().unwrap().len(), 1);
    }

    #[test]
    fn tampered_untrusted_and_missing_blobs_are_refused() {
        let (_d, s) = store();
        let digest = s
            .put(&compile_level("minimal").unwrap(), Some("minimal"))
            .unwrap();
        let path = s.blob_path(&digest);

        let mut bytes = fs::read(&path).unwrap();
        bytes[10] ^= 0x20;
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(s.get(&digest), Err(StoreError::Blob { .. })));
        assert_eq!(s.verify().unwrap().len(), 1);

        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
        assert!(matches!(s.get(&digest), Err(StoreError::Untrusted { .. })));

        let zero: Digest = format!("sha256:{}", "0".repeat(64)).parse().unwrap();
        assert!(matches!(s.get(&zero), Err(StoreError::NoBlob(_))));
        assert!(matches!(s.resolve("nothing"), Err(StoreError::NoName(_))));
    }

    #[test]
    fn a_damaged_config_blob_fails_listing_and_verification() {
        let (_d, s) = store();
        s.put(&compile_level("minimal").unwrap(), Some("minimal"))
            .unwrap();
        let config = s.blob_path(&Digest::of(b"{}"));
        fs::write(&config, b"{ }").unwrap();
        assert!(matches!(s.list(), Err(StoreError::Blob { .. })));
        assert!(s.verify().is_err());
        assert!(s.resolve("minimal").is_err());
    }

    #[test]
    fn names_that_could_be_paths_are_refused() {
        for bad in [
            "../x",
            "/etc/passwd",
            "a/b",
            "",
            ".hidden",
            "Sandbox",
            "sha256:abc",
        ] {
            let (_d, s) = store();
            s.init().unwrap();
            assert!(s.resolve(bad).is_err(), "{bad}");
        }
        check_name("web-server_2.1").unwrap();
    }

    #[test]
    fn a_broken_index_is_an_error_not_an_empty_store() {
        let (_d, s) = store();
        s.init().unwrap();
        fs::write(
            s.root().join("index.json"),
            b"{\"schemaVersion\": 2, \"manifests\": 7}",
        )
        .unwrap();
        assert!(matches!(s.list(), Err(StoreError::Layout { .. })));
    }
}
