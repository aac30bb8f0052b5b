//! Helpers for the hostile-input, fault, load and attack tests: the
//! fail-closed contract checked on the bundle as well as on the output,
//! file hashes, fake runtimes, and a runner for many containers at once.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::{Bundle, Run, World};

/// Where the shim mounts linerate-init inside a container.
pub const INIT_IN_CONTAINER: &str = "/.linerate/init";

/// The sha256 of a file, as hex.
///
/// # Panics
///
/// When the file cannot be read.
pub fn sha256_file(path: &Path) -> String {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The host binaries a container must never be able to change: linerate's
/// and the real runtime's, with their hashes.
pub fn host_binaries(w: &World) -> Vec<(PathBuf, String)> {
    let mut files = vec![
        w.bins().init.clone(),
        w.bins().runtime.clone(),
        w.bins().linerate.clone(),
    ];
    files.extend(crate::which("runc"));
    files
        .into_iter()
        .map(|p| {
            let h = sha256_file(&p);
            (p, h)
        })
        .collect()
}

/// Asserts that every binary still has the hash it had.
pub fn assert_unchanged(before: &[(PathBuf, String)]) {
    for (path, hash) in before {
        assert_eq!(&sha256_file(path), hash, "{} changed", path.display());
    }
}

/// Writes an executable shell script to `name` in the world's folder.
pub fn script(w: &World, name: &str, body: &str) -> PathBuf {
    let path = w.write_file(name, &format!("#!/bin/sh\n{body}\n"));
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod the script");
    path
}

/// The bundle's `config.json` as it is on disk now.
pub fn config_on_disk(bundle: &Bundle) -> Vec<u8> {
    let path = bundle.dir.join("config.json");
    fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Runs `bundle` through `cmd` (a runtime command with its environment)
/// and asserts the whole fail-closed contract: refused with one line naming
/// the container, nothing printed from inside, no container left, and
/// `config.json` byte for byte as it was written (nothing half-applied).
pub fn assert_refused_untouched(w: &World, cmd: Command, bundle: &Bundle, why: &str) -> Run {
    let run = w.run_with(cmd, bundle);
    let after = config_on_disk(bundle);
    w.assert_refused(&run, why);
    let written = written_config(w, bundle);
    assert!(
        after == written,
        "{why}: config.json was changed by a refused start\n{run}"
    );
    assert!(
        !bundle.rootfs().join(".linerate").exists(),
        "{why}: a refused start created /.linerate in the root filesystem\n{run}"
    );
    run
}

/// What [`World::write_config`] writes for `bundle`.
fn written_config(w: &World, bundle: &Bundle) -> Vec<u8> {
    w.write_config(bundle);
    config_on_disk(bundle)
}

/// A parsed `config.json` from disk.
pub fn spec_on_disk(bundle: &Bundle) -> Value {
    serde_json::from_slice(&config_on_disk(bundle)).expect("config.json is JSON")
}

/// Non-empty `linerate` files under `/run/linerate` whose names contain
/// `marker` (the tests' container ids), recursively.
pub fn run_files(marker: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, marker: &str, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, marker, out);
            } else if p.to_string_lossy().contains(marker) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/run/linerate"), marker, &mut out);
    out
}

/// Lines of /proc/mounts that mention `needle`.
pub fn mounts_mentioning(needle: &str) -> Vec<String> {
    fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

/// How many descriptors this process has open.
pub fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd")
        .map(Iterator::count)
        .unwrap_or(0)
}

/// Files under `dir` whose name starts with `prefix` or contains `infix`,
/// recursively: temporary files a killed or failed write left behind.
pub fn leftovers(dir: &Path, prefix: &str, infix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(p);
            } else if name.starts_with(prefix) || name.contains(infix) {
                out.push(p);
            }
        }
    }
    out
}

/// Runs `cmd` with stdin closed and output captured, killing it after
/// `limit`; for threads, which cannot share a [`World`].
pub fn run_bounded(mut cmd: Command, limit: Duration) -> (Option<i32>, String, String, bool) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let out = child.stdout.take().expect("piped");
    let err = child.stderr.take().expect("piped");
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let (out, err) = (read(Box::new(out)), read(Box::new(err)));
    let started = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if started.elapsed() > limit {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    (
        status.code(),
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
        timed_out,
    )
}
