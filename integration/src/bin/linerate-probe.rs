//! A small static program that the integration tests run inside containers
//! to observe, from the inside, what a security level allows.
//!
//! ```text
//! linerate-probe COMMAND [ARG..] [-- COMMAND [ARG..]]..
//! ```
//!
//! Several commands can run in one process, separated by a lone `--`. Every
//! command prints `key=value` lines on stdout, and a value is one of
//! `ok`, `ret:N` (a raw return value), `errno:ENAME`, `signal:SIGNAME` (the
//! forked child making the call died of that signal) or plain text. Refused
//! calls are results, not failures: the exit code is 0 whenever every command
//! was understood, and 2 for a usage error.
//!
//! Raw system calls run in a forked child, so that a call which changes the
//! process (a new user namespace, being traced) or a filter that kills
//! leaves the probe itself unchanged and able to report.

use std::ffi::CString;
use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use names::{errno_name, signal_name};

#[path = "linerate-probe/names.rs"]
mod names;

#[path = "linerate-probe/attacks.rs"]
mod attacks;

const USAGE: &str = "\
usage: linerate-probe COMMAND [ARG..] [-- COMMAND [ARG..]]..
commands:
  status [PID]          Cap*, NoNewPrivs, Seccomp, Uid, Gid of /proc/PID/status (self)
  syscall NAME          keyctl unshare-user io_uring_setup ptrace bpf clone3
                        clone-newuser perf_event_open userfaultfd getpid
  nr N                  raw syscall number N with zero arguments
  int80 NAME|N          the i386 call through `int 0x80`, zero arguments
  x32 NAME|N            the x86_64 call with the x32 bit (1 << 30) set
  write PATH            create or truncate PATH and write a line to it
  exec PATH [ARG..]     fork and execve PATH, report errno or exit status
  thread                spawn a thread and join it
  fds                   open descriptors of the probe with their targets
  netdevs               network interfaces from /proc/net/dev
  bind PORT             bind TCP 0.0.0.0:PORT
  cwd                   the working directory
  overwrite PATH        open PATH read-write and write its first byte back
  hunt-exe MILLIS       overwrite /proc/PID/exe of every other process, for a while
  unshare-mount         unshare(CLONE_NEWNS)
  mount-cgroup1 DIR     mount a named cgroup v1 hierarchy on DIR, then unmount it
  tiocsti-high          ioctl(0, TIOCSTI with bit 32 set)";

/// The x32 ABI marker bit of an x86_64 system call number.
const X32_SYSCALL_BIT: libc::c_long = 0x4000_0000;

/// What one probed operation gave.
enum Outcome {
    Ok,
    Ret(i64),
    Errno(i32),
    Signal(i32),
    Exit(i32),
    Text(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok => f.write_str("ok"),
            Outcome::Ret(n) => write!(f, "ret:{n}"),
            Outcome::Errno(e) => write!(f, "errno:{}", errno_name(*e)),
            Outcome::Signal(s) => write!(f, "signal:{}", signal_name(*s)),
            Outcome::Exit(c) => write!(f, "exit:{c}"),
            Outcome::Text(t) => f.write_str(t),
        }
    }
}

impl From<io::Error> for Outcome {
    fn from(e: io::Error) -> Self {
        match e.raw_os_error() {
            Some(n) => Outcome::Errno(n),
            None => Outcome::Text(format!("error:{}", e.to_string().replace(' ', "_"))),
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args[0] == "-h" || args[0] == "--help" {
        eprintln!("{USAGE}");
        std::process::exit(2);
    }

    for command in args.split(|a| a == "--").filter(|c| !c.is_empty()) {
        if let Err(message) = run(command) {
            let _ = io::stdout().flush();
            eprintln!("linerate-probe: {message}\n{USAGE}");
            std::process::exit(2);
        }
    }
    let _ = io::stdout().flush();
}

fn emit(key: &str, value: impl fmt::Display) {
    println!("{key}={value}");
}

fn run(command: &[String]) -> Result<(), String> {
    let name = command[0].as_str();
    let rest = &command[1..];
    let one = || match rest {
        [arg] => Ok(arg.as_str()),
        _ => Err(format!("{name} takes exactly one argument")),
    };

    match name {
        "status" => status(rest.first().map(String::as_str)),
        "syscall" => {
            let call = one()?;
            emit(call, in_child(named_syscall(call)?));
        }
        "nr" => {
            let arg = one()?;
            let nr: libc::c_long = arg.parse().map_err(|_| format!("bad number {arg}"))?;
            emit(&format!("nr_{nr}"), in_child(move || raw(nr, [0; 6])));
        }
        "int80" => {
            let arg = one()?;
            let nr = i386_number(arg).ok_or(format!("no i386 number known for {arg}"))?;
            emit(&format!("int80_{arg}"), in_child(move || int80(nr)));
        }
        "x32" => {
            let arg = one()?;
            let nr = native_number(arg).ok_or(format!("no number known for {arg}"))?;
            emit(
                &format!("x32_{arg}"),
                in_child(move || raw(nr | X32_SYSCALL_BIT, [0; 6])),
            );
        }
        "write" => emit("write", write_file(one()?)),
        "exec" => {
            let Some(path) = rest.first() else {
                return Err("exec needs a path".to_owned());
            };
            exec(path, rest)?;
        }
        "thread" => emit("thread", thread()),
        "fds" => fds(),
        "netdevs" => netdevs(),
        "bind" => {
            let arg = one()?;
            let port: u16 = arg.parse().map_err(|_| format!("bad port {arg}"))?;
            emit("bind", bind(port));
        }
        "cwd" => match std::env::current_dir() {
            Ok(dir) => emit("cwd", dir.display()),
            Err(e) => emit("cwd", Outcome::from(e)),
        },
        "overwrite" => emit("overwrite", attacks::overwrite(one()?)),
        "hunt-exe" => {
            let arg = one()?;
            attacks::hunt_exe(arg.parse().map_err(|_| format!("bad milliseconds {arg}"))?);
        }
        "unshare-mount" => emit("unshare_mount", in_child(attacks::unshare_mount)),
        "mount-cgroup1" => {
            let dir = one()?.to_owned();
            emit(
                "mount_cgroup1",
                in_child(move || attacks::mount_cgroup1(&dir)),
            );
        }
        "tiocsti-high" => emit("tiocsti_high", in_child(attacks::tiocsti_high)),
        other => return Err(format!("unknown command {other}")),
    }
    Ok(())
}

/// Prints the security-relevant lines of a status file, `Name=value` with
/// runs of whitespace folded into one space.
fn status(pid: Option<&str>) {
    let path = format!("/proc/{}/status", pid.unwrap_or("self"));
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => return emit("status", Outcome::from(e)),
    };
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let wanted = key.starts_with("Cap")
            || key.starts_with("Seccomp")
            || matches!(key, "NoNewPrivs" | "Uid" | "Gid");
        if wanted {
            emit(key, value.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
}

/// Runs `f` in a forked child and returns what it printed, or how it died.
fn in_child(f: impl FnOnce() -> Outcome) -> Outcome {
    let _ = io::stdout().flush();
    let (read_end, write_end) = match pipe() {
        Ok(ends) => ends,
        Err(e) => return Outcome::Text(format!("fork-failed:{}", Outcome::from(e))),
    };

    // SAFETY: the probe is single-threaded here (threads it spawns are joined
    // before the command returns), so the child may run ordinary code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Outcome::Text(format!(
            "fork-failed:{}",
            Outcome::from(io::Error::last_os_error())
        ));
    }
    if pid == 0 {
        drop(read_end);
        let mut out = std::fs::File::from(write_end);
        let _ = out.write_all(f().to_string().as_bytes());
        // SAFETY: leaves the child at once, without running the parent's
        // exit handlers or flushing its copied buffers.
        unsafe { libc::_exit(0) };
    }

    drop(write_end);
    let mut result = String::new();
    let _ = std::fs::File::from(read_end).read_to_string(&mut result);
    match wait(pid) {
        Outcome::Exit(0) if !result.is_empty() => Outcome::Text(result),
        Outcome::Exit(c) => Outcome::Text(format!("child-exit:{c}")),
        died => died,
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Waits for `pid` and turns its end into `Exit` or `Signal`.
fn wait(pid: libc::pid_t) -> Outcome {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid place for waitpid to write to.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Outcome::Text(format!("wait-failed:{}", Outcome::from(e)));
        }
    }
    if libc::WIFSIGNALED(status) {
        Outcome::Signal(libc::WTERMSIG(status))
    } else {
        Outcome::Exit(libc::WEXITSTATUS(status))
    }
}

/// A raw system call: `ret:N` or `errno:E`.
fn raw(nr: libc::c_long, a: [libc::c_long; 6]) -> Outcome {
    // SAFETY: the probe makes arbitrary calls on purpose; every pointer
    // argument passed here is null or points at a live buffer of the size
    // the call expects, and the calls run in a child that exits right after.
    let r = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
    if r == -1 {
        Outcome::Errno(io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Outcome::Ret(r)
    }
}

fn ptr<T>(p: *mut T) -> libc::c_long {
    p as libc::c_long
}

/// Returns the call for `syscall NAME`, with arguments chosen so that the
/// kernel itself accepts the call (or fails it with something other than
/// EPERM) for an unprivileged process: an EPERM then comes from a filter.
fn named_syscall(name: &str) -> Result<Box<dyn FnOnce() -> Outcome>, String> {
    let call: Box<dyn FnOnce() -> Outcome> = match name {
        "getpid" => Box::new(|| raw(libc::SYS_getpid, [0; 6])),
        // KEYCTL_GET_KEYRING_ID of the session keyring, without creating one.
        "keyctl" => Box::new(|| raw(libc::SYS_keyctl, [0, -3, 0, 0, 0, 0])),
        "unshare-user" => Box::new(|| {
            raw(
                libc::SYS_unshare,
                [libc::c_long::from(libc::CLONE_NEWUSER), 0, 0, 0, 0, 0],
            )
        }),
        "io_uring_setup" => Box::new(|| {
            // struct io_uring_params is 120 bytes; zero asks for defaults.
            let mut params = [0u8; 120];
            raw(
                libc::SYS_io_uring_setup,
                [1, ptr(params.as_mut_ptr()), 0, 0, 0, 0],
            )
        }),
        "ptrace" => Box::new(|| {
            raw(
                libc::SYS_ptrace,
                [libc::c_long::from(libc::PTRACE_TRACEME), 0, 0, 0, 0, 0],
            )
        }),
        // An unassigned command: the kernel answers EINVAL, a filter EPERM.
        "bpf" => Box::new(|| raw(libc::SYS_bpf, [0x7fff, 0, 0, 0, 0, 0])),
        // A null struct of size 0: EINVAL when the call runs, ENOSYS when a
        // filter hides it.
        "clone3" => Box::new(|| raw(libc::SYS_clone3, [0; 6])),
        "clone-newuser" => Box::new(clone_newuser),
        "perf_event_open" => Box::new(perf_event_open),
        // UFFD_USER_MODE_ONLY is allowed without privilege.
        "userfaultfd" => Box::new(|| {
            raw(
                libc::SYS_userfaultfd,
                [libc::c_long::from(libc::O_CLOEXEC) | 1, 0, 0, 0, 0, 0],
            )
        }),
        other => return Err(format!("unknown syscall {other}")),
    };
    Ok(call)
}

/// The legacy `clone` with CLONE_NEWUSER; the child leaves at once.
fn clone_newuser() -> Outcome {
    let flags = libc::c_long::from(libc::CLONE_NEWUSER | libc::SIGCHLD);
    // SAFETY: without CLONE_VM the child gets a copy of the address space and
    // continues on its copy of this stack; it only calls _exit.
    let r = unsafe { libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0) };
    if r == 0 {
        // SAFETY: leaves the child of the raw clone without touching anything.
        unsafe { libc::_exit(0) };
    }
    if r < 0 {
        return Outcome::Errno(io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    match wait(libc::pid_t::try_from(r).unwrap_or(-1)) {
        Outcome::Exit(0) => Outcome::Ok,
        other => Outcome::Text(format!("child:{other}")),
    }
}

/// A software dummy event of this process, user space only: allowed at
/// perf_event_paranoid 2 without privilege.
fn perf_event_open() -> Outcome {
    const PERF_TYPE_SOFTWARE: u32 = 1;
    const PERF_COUNT_SW_DUMMY: u64 = 9;
    const ATTR_SIZE: u32 = 128;
    const EXCLUDE_KERNEL_AND_HV: u64 = (1 << 5) | (1 << 6) | 1;

    let mut attr = [0u8; 136];
    attr[0..4].copy_from_slice(&PERF_TYPE_SOFTWARE.to_ne_bytes());
    attr[4..8].copy_from_slice(&ATTR_SIZE.to_ne_bytes());
    attr[8..16].copy_from_slice(&PERF_COUNT_SW_DUMMY.to_ne_bytes());
    attr[40..48].copy_from_slice(&EXCLUDE_KERNEL_AND_HV.to_ne_bytes());
    raw(
        libc::SYS_perf_event_open,
        [ptr(attr.as_mut_ptr()), 0, -1, -1, 0, 0],
    )
}

/// The native number of a call the probe knows by name.
fn native_number(name: &str) -> Option<libc::c_long> {
    let nr = match name {
        "getpid" => libc::SYS_getpid,
        "keyctl" => libc::SYS_keyctl,
        "unshare" => libc::SYS_unshare,
        "ptrace" => libc::SYS_ptrace,
        "bpf" => libc::SYS_bpf,
        "clone3" => libc::SYS_clone3,
        "io_uring_setup" => libc::SYS_io_uring_setup,
        "userfaultfd" => libc::SYS_userfaultfd,
        "perf_event_open" => libc::SYS_perf_event_open,
        other => return other.parse().ok(),
    };
    Some(nr)
}

/// The i386 number of a call (arch/x86/entry/syscalls/syscall_32.tbl).
fn i386_number(name: &str) -> Option<u32> {
    let nr = match name {
        "getpid" => 20,
        "ptrace" => 26,
        "getuid32" => 199,
        "keyctl" => 288,
        "unshare" => 310,
        "perf_event_open" => 336,
        "bpf" => 357,
        "userfaultfd" => 374,
        "io_uring_setup" => 425,
        "clone3" => 435,
        other => return other.parse().ok(),
    };
    Some(nr)
}

/// The i386 entry through `int 0x80`, every argument register zero.
#[cfg(target_arch = "x86_64")]
fn int80(nr: u32) -> Outcome {
    let ret: u64;
    // SAFETY: `int 0x80` enters the kernel's compat entry; the kernel
    // preserves every register but eax (r8-r11 are declared clobbered for
    // older kernels that zeroed them). rbx cannot be an asm operand, so it is
    // saved in a scratch register and restored; the stack is not touched.
    unsafe {
        std::arch::asm!(
            "mov {saved}, rbx",
            "xor ebx, ebx",
            "int 0x80",
            "mov rbx, {saved}",
            saved = out(reg) _,
            inlateout("rax") u64::from(nr) => ret,
            in("rcx") 0u64,
            in("rdx") 0u64,
            in("rsi") 0u64,
            in("rdi") 0u64,
            lateout("r8") _,
            lateout("r9") _,
            lateout("r10") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    let eax = i32::from_ne_bytes(u32::try_from(ret & 0xffff_ffff).unwrap_or(0).to_ne_bytes());
    if (-4095..0).contains(&eax) {
        Outcome::Errno(-eax)
    } else {
        Outcome::Ret(i64::from(eax))
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn int80(_nr: u32) -> Outcome {
    Outcome::Text("unsupported".to_owned())
}

fn write_file(path: &str) -> Outcome {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(path);
    match file.and_then(|mut f| f.write_all(b"linerate-probe\n")) {
        Ok(()) => Outcome::Ok,
        Err(e) => e.into(),
    }
}

/// Forks and execs `path` with `argv`; prints `exec=errno:E` when the
/// execve fails, else `exec=ok` and `exec_status=exit:N`.
fn exec(path: &str, argv: &[String]) -> Result<(), String> {
    let to_c = |s: &str| CString::new(s).map_err(|_| format!("argument with a NUL: {s}"));
    let c_path = to_c(path)?;
    let c_args = argv
        .iter()
        .map(|a| to_c(a))
        .collect::<Result<Vec<_>, _>>()?;
    let mut c_argv: Vec<*const libc::c_char> = c_args.iter().map(|a| a.as_ptr()).collect();
    c_argv.push(std::ptr::null());

    let (read_end, write_end) = pipe().map_err(|e| format!("pipe: {e}"))?;
    let _ = io::stdout().flush();
    // SAFETY: single-threaded here; the child only calls execv, write, _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        emit("exec", Outcome::from(io::Error::last_os_error()));
        return Ok(());
    }
    if pid == 0 {
        // SAFETY: `c_path` and `c_argv` are NUL-terminated and outlive the call.
        unsafe { libc::execv(c_path.as_ptr(), c_argv.as_ptr()) };
        let errno = io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(0)
            .to_ne_bytes();
        // SAFETY: writes four bytes from a live buffer to our own pipe, then
        // leaves without running anything of the parent's.
        unsafe {
            libc::write(
                std::os::fd::AsRawFd::as_raw_fd(&write_end),
                errno.as_ptr().cast(),
                4,
            );
            libc::_exit(127);
        }
    }

    drop(write_end);
    let mut errno = Vec::new();
    let _ = std::fs::File::from(read_end).read_to_end(&mut errno);
    let status = wait(pid);
    match <[u8; 4]>::try_from(errno.as_slice()) {
        Ok(bytes) => emit("exec", Outcome::Errno(i32::from_ne_bytes(bytes))),
        Err(_) => {
            emit("exec", Outcome::Ok);
            emit("exec_status", status);
        }
    }
    Ok(())
}

fn thread() -> Outcome {
    match std::thread::Builder::new().spawn(|| 7) {
        Ok(handle) => match handle.join() {
            Ok(7) => Outcome::Ok,
            _ => Outcome::Text("join-failed".to_owned()),
        },
        Err(e) => e.into(),
    }
}

/// Lists /proc/self/fd: `fd.N=target` for each descriptor, then `fds=` the
/// numbers in order and `fds_self=` the one the listing itself holds, which
/// is left out of the others.
fn fds() {
    let dir_path = CString::from(c"/proc/self/fd");
    // SAFETY: `dir_path` is a NUL-terminated path.
    let dir = unsafe { libc::opendir(dir_path.as_ptr()) };
    if dir.is_null() {
        return emit("fds", Outcome::from(io::Error::last_os_error()));
    }
    // SAFETY: `dir` is an open directory stream.
    let own = unsafe { libc::dirfd(dir) };

    let mut numbers = Vec::new();
    loop {
        // SAFETY: `dir` is open; the entry stays valid until the next readdir.
        let entry = unsafe { libc::readdir(dir) };
        if entry.is_null() {
            break;
        }
        // SAFETY: `d_name` of a returned entry is a NUL-terminated string.
        let name = unsafe { std::ffi::CStr::from_ptr((*entry).d_name.as_ptr()) };
        if let Some(n) = name.to_str().ok().and_then(|s| s.parse::<i32>().ok()) {
            numbers.push(n);
        }
    }
    numbers.sort_unstable();
    numbers.retain(|&n| n != own);
    for n in &numbers {
        let target = std::fs::read_link(format!("/proc/self/fd/{n}"))
            .map(|t| t.display().to_string())
            .unwrap_or_else(|e| Outcome::from(e).to_string());
        emit(&format!("fd.{n}"), target);
    }
    // SAFETY: `dir` is open and is not used after this.
    unsafe { libc::closedir(dir) };

    let list: Vec<String> = numbers.iter().map(i32::to_string).collect();
    emit("fds", list.join(","));
    emit("fds_self", own);
}

fn netdevs() {
    match std::fs::read_to_string("/proc/net/dev") {
        Ok(text) => {
            let names: Vec<&str> = text
                .lines()
                .skip(2)
                .filter_map(|l| l.split_once(':').map(|(name, _)| name.trim()))
                .collect();
            emit("netdevs", names.join(","));
        }
        Err(e) => emit("netdevs", Outcome::from(e)),
    }
}

fn bind(port: u16) -> Outcome {
    match std::net::TcpListener::bind((std::net::Ipv4Addr::UNSPECIFIED, port)) {
        Ok(_) => Outcome::Ok,
        Err(e) => e.into(),
    }
}
