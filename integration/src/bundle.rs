//! OCI bundles: a busybox root filesystem and a `runc spec` config edited
//! for the test.

use std::fs;
use std::io;
use std::os::unix::fs::{chown, symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{json, Value};

/// Where busybox-static installs the static busybox.
pub(crate) const BUSYBOX: &str = "/bin/busybox";

/// Where the probe lives inside every root filesystem.
pub const PROBE_IN_CONTAINER: &str = "/usr/bin/linerate-probe";

/// The unprivileged user of every root filesystem.
pub const USER_UID: u32 = 1000;

/// A folder in the root filesystem owned by [`USER_UID`] and outside every
/// writable path of the levels, so that a refused write there is Landlock's
/// doing and not file permissions'.
pub const USER_HOME: &str = "/home/user";

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n";
const GROUP: &str = "root:x:0:\nuser:x:1000:\n";

/// A bundle folder with its container id and the config it will be run
/// with; edit the config with the builder methods, then run it with
/// [`World::run`](crate::World::run).
#[derive(Clone, Debug)]
pub struct Bundle {
    /// The bundle folder (holding `config.json` and `rootfs`).
    pub dir: PathBuf,
    /// A container id unique in the whole test run.
    pub id: String,
    /// The OCI runtime config, written to `config.json` before each run.
    pub spec: Value,
}

impl Bundle {
    pub(crate) fn new(dir: PathBuf, id: String, mut spec: Value, args: &[&str]) -> Bundle {
        spec["process"]["terminal"] = json!(false);
        spec["root"]["readonly"] = json!(false);
        spec["annotations"] = json!({});
        let mut bundle = Bundle { dir, id, spec };
        bundle.spec["process"]["args"] = json!(args);
        bundle
    }

    /// The root filesystem folder.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// Sets the process arguments.
    pub fn args(mut self, args: &[&str]) -> Bundle {
        self.spec["process"]["args"] = json!(args);
        self
    }

    /// Adds an annotation.
    pub fn annotation(mut self, key: &str, value: &str) -> Bundle {
        self.spec["annotations"][key] = json!(value);
        self
    }

    /// Asks for a level with `io.linerate.level`.
    pub fn level(self, level: &str) -> Bundle {
        self.annotation(crate::LEVEL_ANNOTATION, level)
    }

    /// Asks for a profile with `io.linerate.profile`.
    pub fn profile(self, reference: &str) -> Bundle {
        self.annotation(crate::PROFILE_ANNOTATION, reference)
    }

    /// Runs the process as `uid`:`gid`.
    pub fn user(mut self, uid: u32, gid: u32) -> Bundle {
        self.spec["process"]["user"] = json!({ "uid": uid, "gid": gid });
        self
    }

    /// Sets the working directory.
    pub fn cwd(mut self, cwd: &str) -> Bundle {
        self.spec["process"]["cwd"] = json!(cwd);
        self
    }

    /// Removes the network namespace from the spec, so the container would
    /// share the host's network unless linerate gives it one.
    pub fn without_network_namespace(mut self) -> Bundle {
        if let Some(namespaces) = self.spec["linux"]["namespaces"].as_array_mut() {
            namespaces.retain(|ns| ns["type"] != "network");
        }
        self
    }

    /// Whether the spec has a network namespace of its own.
    pub fn has_network_namespace(&self) -> bool {
        self.spec["linux"]["namespaces"]
            .as_array()
            .is_some_and(|nss| nss.iter().any(|ns| ns["type"] == "network"))
    }

    /// Writes `config.json`, leaving out `linux.resources` when `resources`
    /// is false (crun cannot apply them here).
    pub(crate) fn write_config(&self, resources: bool) {
        let mut spec = self.spec.clone();
        if !resources {
            if let Some(linux) = spec["linux"].as_object_mut() {
                linux.remove("resources");
            }
        }
        let text = serde_json::to_string_pretty(&spec).expect("a JSON value serializes");
        let path = self.dir.join("config.json");
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

/// Builds a root filesystem at `rootfs`: busybox and its applets, the
/// probe, `/etc/passwd` and `/etc/group` with root and [`USER_UID`], a
/// world-writable `/tmp`, and [`USER_HOME`]. It has no `/lib`, `/lib64`,
/// `/var` or `/app`. `busybox` and `probe` are hard-linked when they are on
/// the same filesystem, copied otherwise.
pub(crate) fn build_rootfs(rootfs: &Path, busybox: &Path, probe: &Path) -> io::Result<()> {
    for dir in [
        "bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "root",
    ] {
        fs::create_dir_all(rootfs.join(dir))?;
    }
    fs::set_permissions(rootfs.join("root"), fs::Permissions::from_mode(0o700))?;

    let tmp = rootfs.join("tmp");
    fs::create_dir_all(&tmp)?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777))?;

    let home = rootfs.join(USER_HOME.trim_start_matches('/'));
    fs::create_dir_all(&home)?;
    chown(&home, Some(USER_UID), Some(USER_UID))?;

    link_or_copy(busybox, &rootfs.join("bin/busybox"))?;
    for applet in applets() {
        let path = rootfs.join(applet);
        if applet != "bin/busybox" && !path.exists() {
            symlink("/bin/busybox", path)?;
        }
    }
    link_or_copy(
        probe,
        &rootfs.join(PROBE_IN_CONTAINER.trim_start_matches('/')),
    )?;

    fs::write(rootfs.join("etc/passwd"), PASSWD)?;
    fs::write(rootfs.join("etc/group"), GROUP)?;
    Ok(())
}

fn link_or_copy(from: &Path, to: &Path) -> io::Result<()> {
    if fs::hard_link(from, to).is_err() {
        fs::copy(from, to)?;
    }
    fs::set_permissions(to, fs::Permissions::from_mode(0o755))
}

/// The applets of the host's busybox as relative paths (`bin/sh`), from
/// `busybox --list-full`, asked once per test process.
fn applets() -> &'static [String] {
    static APPLETS: OnceLock<Vec<String>> = OnceLock::new();
    APPLETS.get_or_init(|| {
        let out = Command::new(BUSYBOX)
            .arg("--list-full")
            .output()
            .unwrap_or_else(|e| panic!("{BUSYBOX} --list-full: {e} (install busybox-static)"));
        assert!(out.status.success(), "{BUSYBOX} --list-full failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().trim_start_matches('/').to_owned())
            .filter(|l| !l.is_empty() && !l.contains(".."))
            .collect()
    })
}
