//! `linerate install` and `linerate uninstall`: the levels into the store,
//! and the files that let each engine call linerate.
//!
//! | engine | file | what |
//! |---|---|---|
//! | podman, CRI-O | `usr/share/containers/oci/hooks.d/linerate-*.json` (the folder podman 4 and CRI-O read by default; `/etc/containers/oci/hooks.d` is read only when configured) | hooks (schema 1.0.0) that run `linerate-hook` for containers with a linerate annotation |
//! | podman | `etc/containers/containers.conf.d/linerate.conf` | a runtime named `linerate`, for `podman --runtime linerate` |
//! | containerd | `etc/containerd/conf.d/linerate.toml` (with `--containerd`) | a CRI runtime handler `linerate` (runc v2 shim, `BinaryName` = linerate-runtime) |

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::json;

/// One file install writes.
pub(crate) struct EngineFile {
    /// Its path under the prefix.
    pub(crate) path: PathBuf,
    /// Its contents.
    pub(crate) contents: String,
}

/// The regex a hook's `when.annotations` matches: either annotation, any value
/// (the hook itself refuses values it does not know, so podman never runs
/// a container that asked for a level unprotected).
const ANNOTATION_KEY: &str = r"^io\.linerate\.(level|profile)$";

/// A hook file for `stage`.
///
/// The hook runs through `/usr/bin/env`: podman silently drops a hook whose
/// own path is missing and would then run the container unprotected, while
/// a missing `linerate-hook` behind `env` fails the start (exit 127).
/// podman gives a hook only the environment the file names, so the store
/// and config linerate was installed with are written into it.
fn hook(bin: &Path, env: &[String], stage: &str, arg: &str) -> String {
    let doc = json!({
        "version": "1.0.0",
        "hook": {
            "path": "/usr/bin/env",
            "args": ["env", bin.join("linerate-hook"), arg],
            "env": env,
        },
        "when": { "annotations": { ANNOTATION_KEY: ".*" } },
        "stages": [stage],
    });
    let mut s = serde_json::to_string_pretty(&doc).expect("serializes");
    s.push('\n');
    s
}

/// The containerd runtime handler, as a config fragment.
pub(crate) fn containerd_stanza(bin: &Path) -> String {
    format!(
        "version = 2\n\n\
         [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.linerate]\n  \
         runtime_type = \"io.containerd.runc.v2\"\n  \
         pod_annotations = [\"io.linerate.*\"]\n\n\
         [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.linerate.options]\n  \
         BinaryName = \"{}\"\n",
        bin.join("linerate-runtime").display()
    )
}

/// Every engine file, for binaries in `bin` and the environment hooks get.
pub(crate) fn engine_files(bin: &Path, env: &[String], containerd: bool) -> Vec<EngineFile> {
    let hooks = Path::new("usr/share/containers/oci/hooks.d");
    let mut files = vec![
        EngineFile {
            path: hooks.join("linerate-precreate.json"),
            contents: hook(bin, env, "precreate", "precreate"),
        },
        EngineFile {
            path: hooks.join("linerate-createruntime.json"),
            contents: hook(bin, env, "createRuntime", "createRuntime"),
        },
        EngineFile {
            path: hooks.join("linerate-poststop.json"),
            contents: hook(bin, env, "poststop", "poststop"),
        },
        EngineFile {
            path: PathBuf::from("etc/containers/containers.conf.d/linerate.conf"),
            contents: format!(
                "# Written by linerate install: `podman --runtime linerate`.\n[engine.runtimes]\nlinerate = [\"{}\"]\n",
                bin.join("linerate-runtime").display()
            ),
        },
    ];
    if containerd {
        files.push(EngineFile {
            path: PathBuf::from("etc/containerd/conf.d/linerate.toml"),
            contents: containerd_stanza(bin),
        });
    }
    files
}

/// What happened to one file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Written (or would be, in a dry run).
    Written,
    /// Already as it should be.
    Unchanged,
    /// Removed.
    Removed,
    /// Not there.
    Absent,
}

/// Writes each file under `prefix` unless it already holds the same bytes.
pub(crate) fn write(
    prefix: &Path,
    files: &[EngineFile],
    dry_run: bool,
) -> Result<Vec<(PathBuf, Outcome)>> {
    let mut out = Vec::new();
    for f in files {
        let path = prefix.join(&f.path);
        if std::fs::read(&path).is_ok_and(|b| b == f.contents.as_bytes()) {
            out.push((path, Outcome::Unchanged));
            continue;
        }
        if !dry_run {
            let dir = path.parent().expect("engine files are in folders");
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
            let tmp = path.with_extension("linerate-tmp");
            std::fs::write(&tmp, &f.contents)
                .with_context(|| format!("write {}", tmp.display()))?;
            std::fs::rename(&tmp, &path).with_context(|| format!("rename {}", path.display()))?;
        }
        out.push((path, Outcome::Written));
    }
    Ok(out)
}

/// Removes each file install writes under `prefix`.
pub(crate) fn remove(
    prefix: &Path,
    files: &[EngineFile],
    dry_run: bool,
) -> Result<Vec<(PathBuf, Outcome)>> {
    let mut out = Vec::new();
    for f in files {
        let path = prefix.join(&f.path);
        if !path.exists() {
            out.push((path, Outcome::Absent));
            continue;
        }
        if !dry_run {
            std::fs::remove_file(&path).with_context(|| format!("remove {}", path.display()))?;
        }
        out.push((path, Outcome::Removed));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_match_the_annotations_with_escaped_dots() {
        let env = ["LINERATE_STORE=/s".to_owned()];
        let files = engine_files(Path::new("/usr/local/bin"), &env, false);
        let pre: serde_json::Value = serde_json::from_str(&files[0].contents).unwrap();
        assert_eq!(pre["version"], "1.0.0");
        assert_eq!(pre["stages"], json!(["precreate"]));
        assert_eq!(pre["hook"]["path"], "/usr/bin/env");
        assert_eq!(
            pre["hook"]["args"],
            json!(["env", "/usr/local/bin/linerate-hook", "precreate"])
        );
        assert_eq!(pre["hook"]["env"], json!(["LINERATE_STORE=/s"]));
        let when = pre["when"]["annotations"].as_object().unwrap();
        assert!(when.contains_key(r"^io\.linerate\.(level|profile)$"));
    }

    #[test]
    fn installing_twice_changes_nothing_and_uninstall_takes_it_away() {
        let dir = tempfile::tempdir().unwrap();
        let files = engine_files(Path::new("/opt/lr"), &[], true);
        assert!(write(dir.path(), &files, true)
            .unwrap()
            .iter()
            .all(|(_, o)| *o == Outcome::Written));
        assert!(!dir.path().join("etc").exists(), "a dry run writes nothing");
        write(dir.path(), &files, false).unwrap();
        assert!(write(dir.path(), &files, false)
            .unwrap()
            .iter()
            .all(|(_, o)| *o == Outcome::Unchanged));
        assert!(remove(dir.path(), &files, false)
            .unwrap()
            .iter()
            .all(|(_, o)| *o == Outcome::Removed));
        assert!(remove(dir.path(), &files, false)
            .unwrap()
            .iter()
            .all(|(_, o)| *o == Outcome::Absent));
    }
}
