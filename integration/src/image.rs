//! A container image made by hand, for engines that run images rather
//! than bundles: an OCI image layout with one uncompressed layer (a root
//! filesystem as [`World::bundle`](crate::World::bundle) builds it, busybox
//! and the probe), its config and manifest, packed into one tarball that
//! `podman load` and `ctr images import` both read. Nothing is pulled from
//! a registry.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use sha2::{Digest, Sha256};

/// The name both engines give the image: `org.opencontainers.image.ref.name`
/// for podman, `io.containerd.image.name` for containerd.
pub const IMAGE_NAME: &str = "localhost/linerate-probe:test";

const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";
const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// Packs `rootfs` as an OCI image layout tarball in `work` (which must not
/// exist yet) and returns the tarball's path. The image runs `/bin/sh`
/// with the usual `PATH`.
///
/// # Panics
///
/// When a file cannot be written or `tar` fails.
pub fn oci_archive(rootfs: &Path, work: &Path) -> PathBuf {
    let layout = work.join("layout");
    let blobs = layout.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap_or_else(|e| panic!("create {}: {e}", blobs.display()));

    let layer_tar = work.join("layer.tar");
    tar(rootfs, &layer_tar);
    let (layer, layer_size) = hash_file(&layer_tar);
    let layer_blob = blobs.join(&layer);
    fs::rename(&layer_tar, &layer_blob)
        .unwrap_or_else(|e| panic!("move the layer to {}: {e}", layer_blob.display()));

    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
            "WorkingDir": "/",
        },
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{layer}")] },
    });
    let (config, config_size) = put_json(&blobs, &config);

    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": { "mediaType": CONFIG_TYPE, "digest": format!("sha256:{config}"), "size": config_size },
        "layers": [{ "mediaType": LAYER_TYPE, "digest": format!("sha256:{layer}"), "size": layer_size }],
    });
    let (manifest, manifest_size) = put_json(&blobs, &manifest);

    let index = json!({
        "schemaVersion": 2,
        "mediaType": INDEX_TYPE,
        "manifests": [{
            "mediaType": MANIFEST_TYPE,
            "digest": format!("sha256:{manifest}"),
            "size": manifest_size,
            "annotations": {
                "org.opencontainers.image.ref.name": IMAGE_NAME,
                "io.containerd.image.name": IMAGE_NAME,
            },
        }],
    });
    write(&layout.join("index.json"), index.to_string().as_bytes());
    write(
        &layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    );

    let archive = work.join("image.tar");
    tar(&layout, &archive);
    archive
}

/// Packs the contents of `dir` into the tarball `out`, with numeric owners
/// so that the root filesystem keeps its uids.
fn tar(dir: &Path, out: &Path) {
    let status = Command::new("tar")
        .arg("--create")
        .arg("--file")
        .arg(out)
        .arg("--numeric-owner")
        .arg("--directory")
        .arg(dir)
        .arg(".")
        .status()
        .unwrap_or_else(|e| panic!("run tar: {e}"));
    assert!(
        status.success(),
        "tar of {} failed: {status}",
        dir.display()
    );
}

/// Stores `value` as a blob and returns its hex digest and size.
fn put_json(blobs: &Path, value: &serde_json::Value) -> (String, u64) {
    let bytes = value.to_string().into_bytes();
    let hex = hex(&Sha256::digest(&bytes));
    write(&blobs.join(&hex), &bytes);
    (hex, bytes.len() as u64)
}

/// The hex sha256 and the size of a file, read in chunks.
fn hash_file(path: &Path) -> (String, u64) {
    let mut file = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("read {}: {e}", path.display()),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    (hex(&hasher.finalize()), size)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write(path: &Path, bytes: &[u8]) {
    fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
