//! Probe commands that attack linerate from inside a container: writing to
//! its binaries through their paths or `/proc/PID/exe`, new mount
//! namespaces, and cgroup v1 mounts (the way to `release_agent`).

use std::collections::BTreeSet;
use std::ffi::CString;
use std::io;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use super::Outcome;

/// Opens `path` for writing and writes back its own first byte: proves
/// the write would land, without changing the file.
pub(crate) fn overwrite(path: &str) -> Outcome {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) => return e.into(),
    };
    let mut first = [0u8; 1];
    if let Err(e) = file.read_exact_at(&mut first, 0) {
        return e.into();
    }
    match file.write_all_at(&first, 0) {
        Ok(()) => Outcome::Ok,
        Err(e) => e.into(),
    }
}

/// For `millis` milliseconds, tries [`overwrite`] on `/proc/PID/exe` of
/// every other process it sees (the moment a runtime or linerate-init
/// enters the container is the target). Prints how many tries ran, how
/// many writes would have landed, the errnos seen and the executables.
pub(crate) fn hunt_exe(millis: u64) {
    let me = std::process::id().to_string();
    let deadline = Instant::now() + Duration::from_millis(millis);
    let (mut tries, mut landed) = (0u64, 0u64);
    let mut errnos = BTreeSet::new();
    let mut exes = BTreeSet::new();
    while Instant::now() < deadline {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            break;
        };
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == me || !name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let exe = format!("/proc/{name}/exe");
            if let Ok(target) = std::fs::read_link(&exe) {
                exes.insert(target.display().to_string().replace(' ', "_"));
            }
            tries += 1;
            match overwrite(&exe) {
                Outcome::Ok => landed += 1,
                other => {
                    errnos.insert(other.to_string());
                }
            }
        }
    }
    super::emit("hunt_tries", tries);
    super::emit("hunt_landed", landed);
    super::emit(
        "hunt_errors",
        errnos.into_iter().collect::<Vec<_>>().join(","),
    );
    super::emit("hunt_exes", exes.into_iter().collect::<Vec<_>>().join(","));
}

/// `unshare(CLONE_NEWNS)`.
pub(crate) fn unshare_mount() -> Outcome {
    super::raw(
        libc::SYS_unshare,
        [libc::c_long::from(libc::CLONE_NEWNS), 0, 0, 0, 0, 0],
    )
}

/// Mounts a named cgroup v1 hierarchy on `dir` (creating it), then
/// unmounts it again: `ok` means the container could have reached a v1
/// hierarchy's `release_agent`.
pub(crate) fn mount_cgroup1(dir: &str) -> Outcome {
    if let Err(e) = std::fs::create_dir_all(dir) {
        return e.into();
    }
    let (Ok(target), Ok(fstype), Ok(data)) = (
        CString::new(dir),
        CString::new("cgroup"),
        CString::new("none,name=linerate-probe"),
    ) else {
        return Outcome::Text("bad-path".to_owned());
    };
    // SAFETY: every pointer is a NUL-terminated string that outlives the call.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            data.as_ptr().cast(),
        )
    };
    if rc != 0 {
        return io::Error::last_os_error().into();
    }
    // SAFETY: `target` is a NUL-terminated path.
    unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    Outcome::Ok
}

/// `ioctl(0, TIOCSTI | 1 << 32, "x")`: the request with a bit above 32 set,
/// which the kernel truncates to TIOCSTI.
pub(crate) fn tiocsti_high() -> Outcome {
    let byte = b'x';
    super::raw(
        libc::SYS_ioctl,
        [
            0,
            0x1_0000_5412,
            std::ptr::from_ref(&byte) as libc::c_long,
            0,
            0,
            0,
        ],
    )
}
