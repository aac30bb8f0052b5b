//! Reading and damaging a store on disk, which is an OCI image layout
//! (`index.json`, `blobs/sha256/<hex>`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The annotation OCI image layouts use to name a manifest.
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Every file under `blobs/sha256/`, sorted.
pub fn blob_files(store: &Path) -> Vec<PathBuf> {
    let dir = store.join("blobs/sha256");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// The file of blob `digest` (`sha256:<hex>` or bare hex).
pub fn blob_path(store: &Path, digest: &str) -> PathBuf {
    store
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// Flips the lowest bit of the middle byte of `path`, returning the old
/// contents so the test can put them back.
///
/// # Panics
///
/// When the file cannot be read or written, or is empty.
pub fn flip_byte(path: &Path) -> Vec<u8> {
    let original = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(!original.is_empty(), "{} is empty", path.display());
    let mut damaged = original.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x01;
    fs::write(path, &damaged).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    original
}

/// The blobs reachable from blob `digest`, itself included: every
/// `sha256:<hex>` string in a JSON blob that names a blob of the store is
/// followed, so a manifest brings its config and layers along.
pub fn reachable_blobs(store: &Path, digest: &str) -> Vec<PathBuf> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![digest.trim_start_matches("sha256:").to_owned()];
    while let Some(hex) = todo.pop() {
        let path = blob_path(store, &hex);
        if !path.is_file() || !seen.insert(hex) {
            continue;
        }
        let Ok(json) = serde_json::from_slice::<Value>(&fs::read(&path).unwrap_or_default()) else {
            continue;
        };
        let mut digests = Vec::new();
        collect_digests(&json, &mut digests);
        todo.extend(digests);
    }
    seen.into_iter().map(|hex| blob_path(store, &hex)).collect()
}

fn collect_digests(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => {
            if let Some(hex) = s.strip_prefix("sha256:").filter(|h| is_sha256_hex(h)) {
                out.push(hex.to_owned());
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_digests(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_digests(v, out)),
        _ => {}
    }
}

/// Whether `s` is 64 lowercase hexadecimal digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The digest of the manifest `index.json` names `name`, by the OCI
/// `org.opencontainers.image.ref.name` annotation (`name` or `...:name`)
/// or, failing that, by any annotation whose value is `name`.
pub fn named_digest(store: &Path, name: &str) -> Option<String> {
    let index: Value = serde_json::from_slice(&fs::read(store.join("index.json")).ok()?).ok()?;
    let manifests = index["manifests"].as_array()?;
    let by = |pred: &dyn Fn(&str, &str) -> bool| {
        manifests.iter().find_map(|m| {
            let annotations = m["annotations"].as_object()?;
            annotations
                .iter()
                .any(|(k, v)| v.as_str().is_some_and(|v| pred(k, v)))
                .then(|| m["digest"].as_str().map(str::to_owned))?
        })
    };
    let suffix = format!(":{name}");
    by(&|k, v| k == REF_NAME && (v == name || v.ends_with(&suffix)))
        .or_else(|| by(&|_, v| v == name))
}

/// What each blob is, by walking `index.json`: `manifest of NAME`,
/// `config of NAME`, `layer of NAME` (NAME the manifest's ref name, or its
/// digest); blobs no manifest names are left out.
pub fn describe_blobs(store: &Path) -> BTreeMap<PathBuf, String> {
    let mut roles = BTreeMap::new();
    let Some(index) = read_json(&store.join("index.json")) else {
        return roles;
    };
    for entry in index["manifests"].as_array().into_iter().flatten() {
        let Some(digest) = entry["digest"].as_str() else {
            continue;
        };
        let name = entry["annotations"][REF_NAME]
            .as_str()
            .unwrap_or(digest)
            .to_owned();
        let manifest_path = blob_path(store, digest);
        let manifest = read_json(&manifest_path);
        add_role(&mut roles, manifest_path, format!("manifest of {name}"));
        let Some(manifest) = manifest else { continue };
        if let Some(config) = manifest["config"]["digest"].as_str() {
            add_role(
                &mut roles,
                blob_path(store, config),
                format!("config of {name}"),
            );
        }
        for layer in manifest["layers"].as_array().into_iter().flatten() {
            if let Some(layer) = layer["digest"].as_str() {
                add_role(
                    &mut roles,
                    blob_path(store, layer),
                    format!("layer of {name}"),
                );
            }
        }
    }
    roles
}

fn add_role(roles: &mut BTreeMap<PathBuf, String>, blob: PathBuf, role: String) {
    roles
        .entry(blob)
        .and_modify(|known| {
            known.push_str(", ");
            known.push_str(&role);
        })
        .or_insert(role);
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_digests_through_json_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = dir.path().join("blobs/sha256");
        fs::create_dir_all(&blobs).unwrap();
        let (a, b, c) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
        let manifest = format!(
            r#"{{"config":{{"digest":"sha256:{b}"}},"layers":[{{"digest":"sha256:{c}"}}]}}"#
        );
        fs::write(blobs.join(&a), manifest).unwrap();
        fs::write(blobs.join(&b), "{}").unwrap();
        fs::write(blobs.join(&c), [0u8, 1, 2]).unwrap();
        fs::write(blobs.join("d".repeat(64)), "unrelated").unwrap();

        let found = reachable_blobs(dir.path(), &format!("sha256:{a}"));
        assert_eq!(found, [blobs.join(&a), blobs.join(&b), blobs.join(&c)]);

        let index = format!(
            r#"{{"manifests":[{{"digest":"sha256:{a}","annotations":{{"{REF_NAME}":"sandbox"}}}}]}}"#
        );
        fs::write(dir.path().join("index.json"), index).unwrap();
        assert_eq!(
            named_digest(dir.path(), "sandbox"),
            Some(format!("sha256:{a}"))
        );
        assert_eq!(named_digest(dir.path(), "minimal"), None);
    }

    #[test]
    fn flipping_changes_one_bit() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("blob");
        fs::write(&file, b"abc").unwrap();
        assert_eq!(flip_byte(&file), b"abc");
        assert_eq!(fs::read(&file).unwrap(), b"acc");
    }
}
