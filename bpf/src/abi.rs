//! The structures the programs share with user space, mirroring
//! `bpf/c/abi.h` field for field; both sides assert the same sizes.

/// Exec only from the policy's allow-list.
pub const RULE_EXEC: u32 = 1 << 0;
/// No open for write under `/proc/sys` or `/sys`.
pub const RULE_SYS_WRITE: u32 = 1 << 1;
/// No mount, umount, move_mount or pivot_root.
pub const RULE_MOUNT: u32 = 1 << 2;
/// No ptrace attach and no `PTRACE_TRACEME`.
pub const RULE_PTRACE: u32 = 1 << 3;
/// No `bpf()`.
pub const RULE_BPF: u32 = 1 << 4;
/// No module request or load, no kernel file read.
pub const RULE_MODULE: u32 = 1 << 5;
/// No `SOCK_RAW` and no `AF_PACKET`.
pub const RULE_RAW_SOCKET: u32 = 1 << 6;
/// Every exec is an audit event.
pub const RULE_AUDIT_EXEC: u32 = 1 << 7;
/// Every rule.
pub const RULES_ALL: u32 = (1 << 8) - 1;

/// Paths in the exec allow-list.
pub const EXEC_RULES: usize = 16;
/// Bytes of one allow-list path, NUL included.
pub const RULE_LEN: usize = 64;
/// Bytes of the container id kept for events.
pub const ID_LEN: usize = 64;
/// Bytes of an event's object.
pub const OBJECT_LEN: usize = 256;

/// The protocol number of the live self-test's `socket(AF_UNIX, SOCK_DGRAM, _)`.
pub const SELFTEST_PROTOCOL: i32 = 0x4c52;

/// Index of the count of events lost to a full ring buffer.
pub const STAT_DROPPED: u32 = 0;
/// Index of the count of self-test denials.
pub const STAT_SELFTEST: u32 = 1;
/// Index of the count of denials.
pub const STAT_DENIED: u32 = 2;

/// The key is a cgroup v2 id.
pub const SCOPE_CGROUP: u32 = 1;
/// The key is a mount namespace's inode.
pub const SCOPE_MNTNS: u32 = 2;

/// One container's policy: the value of `by_cgroup` and `by_mntns`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Policy {
    /// `RULE_*` bits.
    pub rules: u32,
    /// Set by the programs at the first exec in the container.
    pub armed: u32,
    /// How many entries of `exec` are used.
    pub n_exec: u32,
    /// Zero.
    pub reserved: u32,
    /// FNV-1a of the whole container id, which `container` may cut.
    pub id_hash: u64,
    /// The container id, NUL-padded, cut at `ID_LEN - 1` bytes.
    pub container: [u8; ID_LEN],
    /// Absolute paths, NUL-padded, without a trailing slash.
    pub exec: [[u8; RULE_LEN]; EXEC_RULES],
}

// SAFETY: `Policy` is `repr(C)`, made of integers and byte arrays with no
// padding (4 * 4 + 8 + 64 + 16 * 64 bytes), so every bit pattern is valid.
unsafe impl aya::Pod for Policy {}

/// One audit event, as the programs write it into the ring buffer.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct Event {
    /// `CLOCK_BOOTTIME`, in nanoseconds.
    pub time_ns: u64,
    /// The key of the container's entry.
    pub scope: u64,
    /// The hook's number: a pid, a bpf command, a family and type.
    pub arg: i64,
    /// The thread group id, as the host sees it.
    pub pid: u32,
    /// `HOOK_*`.
    pub hook: u16,
    /// 0 allowed, 1 denied.
    pub verdict: u16,
    /// `ALERT_*` bits.
    pub alerts: u32,
    /// [`SCOPE_CGROUP`] or [`SCOPE_MNTNS`].
    pub scope_kind: u32,
    /// The task's command name.
    pub comm: [u8; 16],
    /// The container id.
    pub container: [u8; ID_LEN],
    /// A path or a name, when the hook has one.
    pub object: [u8; OBJECT_LEN],
}

/// The hook names, by `HOOK_*` number.
pub const HOOKS: [&str; 15] = [
    "unknown",
    "exec",
    "file_open",
    "mount",
    "move_mount",
    "umount",
    "pivot_root",
    "ptrace",
    "ptrace_traceme",
    "bpf",
    "kernel_module_request",
    "kernel_read_file",
    "kernel_load_data",
    "socket_create",
    "armed",
];

/// A shell started.
pub const ALERT_SHELL: u32 = 1 << 0;
/// A file opened for write in an exec folder.
pub const ALERT_WRITE_BIN_DIR: u32 = 1 << 1;
/// An exec from `/tmp`, `/var/tmp` or `/dev/shm`.
pub const ALERT_EXEC_WRITABLE: u32 = 1 << 2;

/// The alert names, by bit.
pub const ALERTS: [(u32, &str); 3] = [
    (ALERT_SHELL, "shell_spawned"),
    (ALERT_WRITE_BIN_DIR, "write_to_binary_dir"),
    (ALERT_EXEC_WRITABLE, "exec_from_writable_dir"),
];

/// The text of a NUL-padded field.
pub fn text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_the_c_side() {
        // abi.h asserts the same sizes at compile time.
        assert_eq!(std::mem::size_of::<Policy>(), 1112);
        assert_eq!(std::mem::size_of::<Event>(), 376);
    }

    #[test]
    fn text_stops_at_the_first_nul() {
        assert_eq!(text(b"abc\0def"), "abc");
        assert_eq!(text(b"abc"), "abc");
    }
}
