//! The raw syscalls of this crate: a lock on a folder, a file system's
//! magic number, and the self-test's socket.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `flock(fd, LOCK_EX)`: held until `file` is closed.
pub(crate) fn lock_exclusive(file: &File) -> io::Result<()> {
    loop {
        // SAFETY: flock takes a descriptor that `file` keeps open, and an integer.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// The `f_type` of the file system holding `path`.
pub(crate) fn fs_magic(path: &Path) -> io::Result<i64> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut buf = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `c` is a NUL-terminated path and `buf` a statfs-sized buffer
    // that the kernel fills on success.
    let rc = unsafe { libc::statfs(c.as_ptr(), buf.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statfs returned 0, so it wrote the whole struct.
    let st = unsafe { buf.assume_init() };
    Ok(st.f_type)
}

/// `socket(AF_UNIX, SOCK_DGRAM, protocol)`; a descriptor it returns is closed at once.
pub(crate) fn unix_socket(protocol: i32) -> io::Result<()> {
    // SAFETY: socket takes integers only.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            protocol,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket and is owned by nothing else.
    unsafe { libc::close(fd) };
    Ok(())
}
