//! What an engine can leave behind in a test's folder once the test is
//! done with it: processes it started (conmon and its cleanup command,
//! containerd shims) and mounts, either of which would keep the folder
//! from being deleted.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// How long an engine's helpers may take to exit after the engine is done.
const LINGER: Duration = Duration::from_secs(10);

/// Waits, up to [`LINGER`], until no process has `dir` in its command
/// line; past that it returns anyway, since the caller only cleans up.
pub(crate) fn wait_for_processes_naming(dir: &Path) {
    let needle = dir.as_os_str().as_bytes();
    let me = std::process::id().to_string();
    let started = Instant::now();
    while started.elapsed() < LINGER {
        let Ok(entries) = fs::read_dir("/proc") else {
            return;
        };
        let lingering = entries.filter_map(Result::ok).any(|entry| {
            let name = entry.file_name();
            let is_pid = name.as_bytes().iter().all(u8::is_ascii_digit);
            is_pid
                && name.as_bytes() != me.as_bytes()
                && fs::read(entry.path().join("cmdline"))
                    .is_ok_and(|cmdline| cmdline.windows(needle.len()).any(|w| w == needle))
        });
        if !lingering {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Detaches every mount at or under `dir`, deepest first, ignoring errors:
/// an engine killed mid-run may leave its overlay or shm mounts behind.
pub(crate) fn unmount_under(dir: &Path) {
    let mut points = mount_points_under(dir);
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for point in points {
        let Ok(c) = CString::new(point.as_os_str().as_bytes()) else {
            continue;
        };
        // SAFETY: `c` is a NUL-terminated path that outlives the call.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

/// The mount points of this mount namespace at or under `dir`.
fn mount_points_under(dir: &Path) -> Vec<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|point| PathBuf::from(unescape(point)))
        .filter(|point| point.starts_with(dir))
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)))
            .and_then(|d| {
                let value = d.iter().fold(0u32, |n, b| n * 8 + u32::from(b - b'0'));
                u8::try_from(value).ok()
            });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape(r"/tmp/a\040b"), "/tmp/a b");
        assert_eq!(unescape(r"/tmp/a\\b"), r"/tmp/a\\b");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
