//! The raw syscalls the benchmark makes: forking a sample, no_new_privs,
//! attaching a filter, the open loop, the Landlock ABI, and dropping
//! capabilities between fork and exec. Every `unsafe` of the crate is here.

use std::ffi::CStr;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Runs `f` in a forked child, which exits with the code `f` returns; the
/// parent waits and returns the raw wait status.
pub(crate) fn fork_wait(f: impl FnOnce() -> i32) -> io::Result<i32> {
    // SAFETY: linerate-bench is single-threaded, so the child may run any code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        let code = f();
        // SAFETY: ends the child at once, without running the parent's exit
        // handlers or flushing its buffers a second time.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for the child forked above; `status` is a valid out pointer.
    if unsafe { libc::waitpid(pid, &raw mut status, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(status)
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`.
pub(crate) fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `open(path, O_RDONLY)` then `close`.
pub(crate) fn open_close(path: &CStr) -> io::Result<()> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened here and is closed once.
    unsafe { libc::close(fd) };
    Ok(())
}

/// The running kernel's Landlock ABI, if it has Landlock.
pub(crate) fn landlock_abi() -> Option<u32> {
    // SAFETY: with a null attribute pointer, size 0 and the VERSION flag the
    // call only returns the ABI number.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    u32::try_from(rc).ok()
}

/// Makes `cmd` fork (rather than spawn by other means) and, when `drop`,
/// empty every capability set in the child before the exec: every variant
/// of a measurement then starts its process the same way.
pub(crate) fn before_exec(cmd: &mut Command, drop: bool) {
    // SAFETY: linerate-bench is single-threaded, so the forked child may
    // allocate; the closure only makes capability syscalls.
    unsafe {
        cmd.pre_exec(move || {
            if drop {
                crate::child::drop_all_caps().map_err(io::Error::other)?;
            }
            Ok(())
        });
    }
}
