//! From a container's annotations to a verified blob.

use std::collections::BTreeMap;

use linerate_profiles::store::{Store, StoreError};
use linerate_profiles::{Blob, Digest};

/// The annotation that picks a level.
pub const LEVEL: &str = "io.linerate.level";
/// The annotation that picks a profile by name or digest.
pub const PROFILE: &str = "io.linerate.profile";
/// The annotation the shim writes with the digest it installed.
pub const DIGEST: &str = "io.linerate.digest";

/// The levels, by their exact names.
pub const LEVELS: [&str; 3] = ["minimal", "sandbox", "hardened"];

/// What the container asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// A level.
    Level(String),
    /// A profile name or `sha256:` digest.
    Profile(String),
}

/// Why no blob was selected.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    /// Both annotations are set.
    #[error("both {LEVEL} and {PROFILE} are set; set one")]
    Both,
    /// A level that does not exist.
    #[error("unknown level `{0}` (minimal, sandbox, hardened)")]
    UnknownLevel(String),
    /// The store cannot give the blob.
    #[error("profile `{reference}`")]
    Store {
        /// What was asked for.
        reference: String,
        /// The cause.
        #[source]
        source: Box<StoreError>,
    },
    /// The profile needs BPF-LSM, which linerate does not enforce yet.
    #[error("profile `{reference}` needs BPF-LSM enforcement (level hardened); refusing to start the container with less")]
    Hardened {
        /// What was asked for.
        reference: String,
        /// Why BPF-LSM cannot enforce it here.
        #[source]
        source: Box<linerate_bpf::LsmError>,
    },
}

/// Reads the request from annotations; none means `default_level`.
pub fn request(
    annotations: &BTreeMap<String, String>,
    default_level: &str,
) -> Result<Request, SelectError> {
    match (annotations.get(LEVEL), annotations.get(PROFILE)) {
        (Some(_), Some(_)) => Err(SelectError::Both),
        (Some(l), None) => level(l),
        (None, Some(p)) => Ok(Request::Profile(p.clone())),
        (None, None) => level(default_level),
    }
}

fn level(name: &str) -> Result<Request, SelectError> {
    if LEVELS.contains(&name) {
        Ok(Request::Level(name.to_owned()))
    } else {
        Err(SelectError::UnknownLevel(name.to_owned()))
    }
}

/// Resolves a request in the store and reads and verifies its blob.
pub fn resolve(store: &Store, request: &Request) -> Result<(Digest, Blob), SelectError> {
    let reference = match request {
        Request::Level(l) | Request::Profile(l) => l.as_str(),
    };
    let err = |source| SelectError::Store {
        reference: reference.to_owned(),
        source: Box::new(source),
    };
    let digest = store.resolve(reference).map_err(err)?;
    let blob = store.get(&digest).map_err(err)?;
    crate::hardened::check(&blob).map_err(|source| SelectError::Hardened {
        reference: reference.to_owned(),
        source: Box::new(source),
    })?;
    Ok((digest, blob))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn levels_are_exact_and_the_default_applies() {
        assert_eq!(
            request(&ann(&[]), "minimal").unwrap(),
            Request::Level("minimal".into())
        );
        assert_eq!(
            request(&ann(&[(LEVEL, "sandbox")]), "minimal").unwrap(),
            Request::Level("sandbox".into())
        );
        for bad in ["Sandbox", "sandboxx", "", " sandbox"] {
            assert!(matches!(
                request(&ann(&[(LEVEL, bad)]), "minimal"),
                Err(SelectError::UnknownLevel(_))
            ));
        }
        assert!(matches!(
            request(&ann(&[(LEVEL, "sandbox"), (PROFILE, "x")]), "minimal"),
            Err(SelectError::Both)
        ));
        assert!(request(&ann(&[]), "nope").is_err());
    }

    #[test]
    fn hardened_is_refused_until_bpf_lsm_is_enforced() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        for (name, _) in linerate_profiles::levels::SOURCES {
            store
                .put(
                    &linerate_profiles::compile::compile_level(name).unwrap(),
                    Some(name),
                )
                .unwrap();
        }
        assert!(resolve(&store, &Request::Level("sandbox".into())).is_ok());
        assert!(matches!(
            resolve(&store, &Request::Level("hardened".into())),
            Err(SelectError::Hardened { .. })
        ));
        let zero = format!("sha256:{}", "0".repeat(64));
        assert!(matches!(
            resolve(&store, &Request::Profile(zero)),
            Err(SelectError::Store { .. })
        ));
    }
}
