//! Running a command with a deadline and capturing its output.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long one runtime or CLI call may take before the test fails: far
/// above the tens of milliseconds a container start takes here, low enough
/// that a hang (F12) fails the test instead of stalling the run.
pub(crate) const DEADLINE: Duration = Duration::from_secs(60);

/// What a finished command gave.
pub(crate) struct Captured {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) timed_out: bool,
}

/// Runs `cmd` with stdin closed, capturing stdout and stderr. When it
/// outlives [`DEADLINE`] it is killed, `on_timeout` runs (to kill what the
/// command left behind, such as a container still holding the pipes), and
/// the result says `timed_out`.
///
/// # Panics
///
/// When the command cannot be started.
pub(crate) fn capture(cmd: &mut Command, on_timeout: impl FnOnce()) -> Captured {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());

    let (status, timed_out) = wait_with_deadline(&mut child, cmd, on_timeout);
    Captured {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        timed_out,
    }
}

/// Waits for `child` (started from `cmd`) until [`DEADLINE`]; past it,
/// kills the child, runs `on_timeout` and says so.
pub(crate) fn wait_with_deadline(
    child: &mut Child,
    cmd: &Command,
    on_timeout: impl FnOnce(),
) -> (ExitStatus, bool) {
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return (status, false),
            Ok(None) if started.elapsed() > DEADLINE => {
                let _ = child.kill();
                let status = child
                    .wait()
                    .unwrap_or_else(|e| panic!("wait for {cmd:?}: {e}"));
                on_timeout();
                return (status, true);
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("wait for {cmd:?}: {e}"),
        }
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Runs `cmd` to the end with no output captured and returns whether it
/// succeeded; for cleanup, where failures are expected and harmless.
pub(crate) fn quietly(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
