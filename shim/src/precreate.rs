//! The spec rewrite as a podman `precreate` hook: `config.json` in on stdin,
//! the rewritten spec out on stdout, so that podman users need only the
//! installed hooks.d files and `--annotation`.

use std::io::Read;
use std::path::{Path, PathBuf};

use linerate_profiles::store::Store;
use serde_json::Value;

use crate::config::Config;
use crate::lsm_label::{self, LabelError};
use crate::select::{self, SelectError};
use crate::spec::{self, SpecError};

/// The largest spec read from stdin.
pub const MAX_SPEC_BYTES: u64 = 8 << 20;

/// Why the spec was not rewritten.
#[derive(Debug, thiserror::Error)]
pub enum PrecreateError {
    /// stdin could not be read.
    #[error("reading the spec from stdin")]
    Read(#[source] std::io::Error),
    /// stdin holds more than the limit.
    #[error("the spec on stdin is larger than {MAX_SPEC_BYTES} bytes")]
    TooLarge,
    /// stdin is not JSON.
    #[error("the spec on stdin is not JSON")]
    Json(#[source] serde_json::Error),
    /// The level or profile could not be selected.
    #[error("selecting the profile")]
    Select(#[source] SelectError),
    /// linerate-init was not found.
    #[error("linerate-init at {0} does not exist")]
    Init(PathBuf),
    /// The profile's AppArmor or SELinux label cannot be applied here.
    #[error("labels")]
    Label(#[source] LabelError),
    /// The spec could not be rewritten.
    #[error("rewriting the spec")]
    Spec(#[source] SpecError),
}

/// Reads a spec from `input` (to its end, under the limit), rewrites it for
/// its annotation, and returns the new spec's bytes.
pub fn precreate(
    input: impl Read,
    config: &Config,
    init: PathBuf,
) -> Result<Vec<u8>, PrecreateError> {
    let mut bytes = Vec::new();
    input
        .take(MAX_SPEC_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(PrecreateError::Read)?;
    if bytes.len() as u64 > MAX_SPEC_BYTES {
        return Err(PrecreateError::TooLarge);
    }
    let mut doc: Value = serde_json::from_slice(&bytes).map_err(PrecreateError::Json)?;

    let request = select::request(&spec::annotations(&doc), &config.default_level)
        .map_err(PrecreateError::Select)?;
    let store = Store::locate(config.store.as_deref());
    let (digest, blob) = select::resolve(&store, &request).map_err(PrecreateError::Select)?;
    if !init.is_file() {
        return Err(PrecreateError::Init(init));
    }
    let labels =
        lsm_label::decide(blob.labels.as_ref(), Path::new("/")).map_err(PrecreateError::Label)?;

    // podman gives no container id before create; the hostname it sets is
    // the short id, which is what its users see.
    let container = doc
        .get("hostname")
        .and_then(Value::as_str)
        .unwrap_or("podman")
        .to_owned();
    // The hook's precreate stage is this function: its boundary logs here.
    if !labels.skipped.is_empty() {
        tracing::info!(container_id = %container, skipped = ?labels.skipped,
            "labels of LSMs this host does not run left out (not required)");
    }
    let blob_file = store.blob_path(&digest);
    let rewrite = spec::Rewrite {
        container: &container,
        digest: &digest,
        blob: &blob,
        init: &init,
        blob_file: &blob_file,
        verbose: config.verbose,
        labels: labels.labels,
    };
    spec::rewrite(&mut doc, &rewrite).map_err(PrecreateError::Spec)?;
    Ok(serde_json::to_vec(&doc).expect("a JSON value serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(store: &std::path::Path) -> Config {
        Config {
            runtime: "runc".into(),
            default_level: "minimal".into(),
            store: Some(store.to_owned()),
            init: None,
            verbose: false,
        }
    }

    #[test]
    fn rewrites_a_sandbox_spec_and_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("s"));
        let blob = linerate_profiles::compile::compile_level("sandbox").unwrap();
        store.put(&blob, Some("sandbox")).unwrap();
        let init = dir.path().join("linerate-init");
        std::fs::write(&init, b"").unwrap();
        let cfg = config(store.root());

        let spec = br#"{"process": {"args": ["sh"]}, "hostname": "abc", "annotations": {"io.linerate.level": "sandbox"}}"#;
        let out: Value =
            serde_json::from_slice(&precreate(&spec[..], &cfg, init.clone()).unwrap()).unwrap();
        assert_eq!(out["process"]["args"][0], crate::init::INIT_PATH);
        assert_eq!(out["process"]["noNewPrivileges"], true);

        for bad in [&b"{\"process\": "[..], b"", b"[]"] {
            assert!(precreate(bad, &cfg, init.clone()).is_err());
        }
        let unknown =
            br#"{"process": {"args": ["sh"]}, "annotations": {"io.linerate.level": "Sandbox"}}"#;
        assert!(matches!(
            precreate(&unknown[..], &cfg, init.clone()),
            Err(PrecreateError::Select(_))
        ));
        let missing_init = dir.path().join("nothing");
        assert!(matches!(
            precreate(&spec[..], &cfg, missing_init),
            Err(PrecreateError::Init(_))
        ));
    }
}
