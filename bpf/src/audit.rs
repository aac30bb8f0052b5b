//! Draining the audit ring buffer as JSON lines.
//!
//! The programs write one [`crate::abi::Event`] per denial, per exec
//! in a hardened container, and per alert. The ring buffer has one reader
//! at a time: an event read here is gone for other readers.

use std::os::fd::AsRawFd;
use std::time::Duration;

use aya::maps::{Map, MapData, RingBuf};
use serde::Serialize;

use crate::abi::{self, Event, ALERTS, HOOKS, SCOPE_CGROUP};
use crate::loader::{self, LsmError};

/// One event, as `linerate audit --json` prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    /// `CLOCK_BOOTTIME`, in nanoseconds.
    pub time_ns: u64,
    /// The container id (cut at 63 bytes).
    pub container: String,
    /// `cgroup` or `mntns`.
    pub scope: &'static str,
    /// The cgroup id or mount namespace inode.
    pub scope_id: u64,
    /// The thread group, as the host sees it.
    pub pid: u32,
    /// The command name.
    pub command: String,
    /// The LSM hook.
    pub hook: &'static str,
    /// `allow` or `deny`.
    pub verdict: &'static str,
    /// The path or name acted on, if any.
    pub object: String,
    /// The hook's number (a pid, a bpf command, family << 16 | type).
    pub arg: i64,
    /// Threat alerts raised by the event.
    pub alerts: Vec<&'static str>,
}

impl AuditEvent {
    /// Decodes an event; `None` if the bytes are too short.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < std::mem::size_of::<Event>() {
            return None;
        }
        // SAFETY: the length was checked, `Event` is plain integers and byte
        // arrays (any bit pattern is valid), and read_unaligned copes with
        // the ring buffer's 8-byte alignment.
        let e: Event = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<Event>()) };
        Some(Self {
            time_ns: e.time_ns,
            container: abi::text(&e.container),
            scope: if e.scope_kind == SCOPE_CGROUP {
                "cgroup"
            } else {
                "mntns"
            },
            scope_id: e.scope,
            pid: e.pid,
            command: abi::text(&e.comm),
            hook: HOOKS.get(usize::from(e.hook)).copied().unwrap_or("unknown"),
            verdict: if e.verdict == 0 { "allow" } else { "deny" },
            object: abi::text(&e.object),
            arg: e.arg,
            alerts: ALERTS
                .iter()
                .filter(|(bit, _)| e.alerts & bit != 0)
                .map(|(_, n)| *n)
                .collect(),
        })
    }

    /// One line for a person.
    pub fn line(&self) -> String {
        let alerts = if self.alerts.is_empty() {
            String::new()
        } else {
            format!(" ALERT {}", self.alerts.join(","))
        };
        format!(
            "{} {} pid {} ({}) {} {} {}{alerts}",
            self.container, self.verdict, self.pid, self.command, self.hook, self.object, self.arg
        )
    }
}

/// Reads every pending event of every version, calling `sink` for each; with
/// `follow`, then waits for more until `sink` fails. Returns how many were read.
pub fn drain<E>(
    follow: bool,
    mut sink: impl FnMut(AuditEvent) -> Result<(), E>,
) -> Result<Result<usize, E>, LsmError> {
    let mut rings = Vec::new();
    for pinned in loader::versions()? {
        let path = pinned.dir().join("events");
        if !path.exists() {
            continue;
        }
        let data = pinned.map("events")?;
        let ring = RingBuf::try_from(Map::RingBuf(data))
            .map_err(|source| LsmError::Map { path, source })?;
        rings.push(ring);
    }

    let mut count = 0;
    loop {
        for ring in &mut rings {
            while let Some(item) = ring.next() {
                if let Some(event) = AuditEvent::decode(&item) {
                    count += 1;
                    if let Err(e) = sink(event) {
                        return Ok(Err(e));
                    }
                }
            }
        }
        if !follow {
            return Ok(Ok(count));
        }
        wait(&rings, Duration::from_millis(500));
    }
}

/// Why `linerate audit` stopped.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The pinned ring buffer could not be opened.
    #[error("opening the audit ring buffer")]
    Open(#[source] LsmError),
    /// Writing an event failed.
    #[error("writing an event")]
    Write(#[source] std::io::Error),
}

/// `linerate audit [--follow] [--json]`: writes every pending event to
/// `out`, one per line, as JSON or for a person; with `follow`, keeps
/// waiting for more. A closed `out` (a pipe whose reader left) ends a
/// follow quietly. Returns how many events were written.
pub fn print(follow: bool, json: bool, out: &mut dyn std::io::Write) -> Result<usize, AuditError> {
    let written = drain(follow, |e: AuditEvent| {
        let line = if json {
            serde_json::to_string(&e).expect("an event serializes")
        } else {
            e.line()
        };
        writeln!(out, "{line}")?;
        if follow {
            out.flush()?;
        }
        Ok::<(), std::io::Error>(())
    })
    .map_err(AuditError::Open)?;
    match written {
        Ok(n) => Ok(n),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(AuditError::Write(e)),
    }
}

/// Waits until a ring has data, or `timeout`.
fn wait(rings: &[RingBuf<MapData>], timeout: Duration) {
    let mut fds: Vec<libc::pollfd> = rings
        .iter()
        .map(|r| libc::pollfd {
            fd: r.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    if fds.is_empty() {
        std::thread::sleep(timeout);
        return;
    }
    // SAFETY: `fds` is a live array of `fds.len()` pollfd structs; poll only
    // writes their `revents`.
    unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_decodes_with_its_alerts() {
        let mut e = Event {
            time_ns: 5,
            scope: 42,
            arg: -1,
            pid: 77,
            hook: 1,
            verdict: 1,
            alerts: abi::ALERT_EXEC_WRITABLE | abi::ALERT_SHELL,
            scope_kind: abi::SCOPE_MNTNS,
            comm: [0; 16],
            container: [0; abi::ID_LEN],
            object: [0; abi::OBJECT_LEN],
        };
        e.comm[..2].copy_from_slice(b"sh");
        e.container[..2].copy_from_slice(b"c1");
        e.object[..7].copy_from_slice(b"/tmp/sh");
        // SAFETY: reading the bytes of a plain repr(C) value that lives across the call.
        let bytes = unsafe {
            std::slice::from_raw_parts((&raw const e).cast::<u8>(), std::mem::size_of::<Event>())
        };
        let d = AuditEvent::decode(bytes).unwrap();
        assert_eq!(
            (d.hook, d.verdict, d.scope, d.pid),
            ("exec", "deny", "mntns", 77)
        );
        assert_eq!(d.alerts, vec!["shell_spawned", "exec_from_writable_dir"]);
        let json = serde_json::to_string(&d).unwrap();
        assert!(
            json.contains("\"object\":\"/tmp/sh\"") && json.contains("\"container\":\"c1\""),
            "{json}"
        );
        assert!(AuditEvent::decode(&bytes[..10]).is_none());
    }
}
