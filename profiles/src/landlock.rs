//! Landlock access masks, computed at compile time for every ABI so that
//! linerate-init only picks the row of the ABI it finds.

use landlock::{Access, AccessFs, ABI};

/// The highest Landlock ABI the compiler knows.
pub const MAX_ABI: u8 = 7;

/// `LANDLOCK_ACCESS_FS_EXECUTE`.
pub const EXECUTE: u64 = 1 << 0;
/// `LANDLOCK_ACCESS_FS_WRITE_FILE`.
pub const WRITE_FILE: u64 = 1 << 1;
/// `LANDLOCK_ACCESS_FS_READ_FILE`.
pub const READ_FILE: u64 = 1 << 2;
/// `LANDLOCK_ACCESS_FS_READ_DIR`.
pub const READ_DIR: u64 = 1 << 3;
/// `LANDLOCK_ACCESS_FS_TRUNCATE` (ABI 3).
pub const TRUNCATE: u64 = 1 << 14;
/// `LANDLOCK_ACCESS_FS_IOCTL_DEV` (ABI 5).
pub const IOCTL_DEV: u64 = 1 << 15;

/// The rights that apply to a file as well as a directory; a rule on a file
/// may hold only these.
pub const ACCESS_FILE: u64 = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV;

/// `LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET` (ABI 6).
pub const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
/// `LANDLOCK_SCOPE_SIGNAL` (ABI 6).
pub const SCOPE_SIGNAL: u64 = 1 << 1;

/// The scope names a profile may use.
pub const SCOPES: &[(&str, u64)] = &[
    ("abstract_unix_socket", SCOPE_ABSTRACT_UNIX_SOCKET),
    ("signal", SCOPE_SIGNAL),
];

fn abi(n: u8) -> ABI {
    match n {
        1 => ABI::V1,
        2 => ABI::V2,
        3 => ABI::V3,
        4 => ABI::V4,
        5 => ABI::V5,
        6 => ABI::V6,
        _ => ABI::V7,
    }
}

/// Every filesystem right ABI `n` defines (1 to [`MAX_ABI`]).
pub fn fs_all(n: u8) -> u64 {
    AccessFs::from_all(abi(n)).bits()
}

/// The scopes ABI `n` defines.
pub fn scope_all(n: u8) -> u64 {
    if n >= 6 {
        SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
    } else {
        0
    }
}

/// Rights of a read-only path.
pub fn read() -> u64 {
    READ_FILE | READ_DIR
}

/// Rights of an executable path.
pub fn execute() -> u64 {
    EXECUTE | READ_FILE | READ_DIR
}

/// Rights of a writable path: everything but execute, which only the
/// `execute` paths grant, so nothing written can be run.
pub fn write() -> u64 {
    fs_all(MAX_ABI) & !EXECUTE
}

/// Rights of a device node (or a folder of them, such as `/dev/pts`).
pub fn devices() -> u64 {
    READ_FILE | READ_DIR | WRITE_FILE | TRUNCATE | IOCTL_DEV
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_grow_with_the_abi() {
        assert_eq!(fs_all(1), (1 << 13) - 1);
        assert_eq!(fs_all(2), (1 << 14) - 1);
        assert_eq!(fs_all(3), (1 << 15) - 1);
        assert_eq!(fs_all(4), fs_all(3));
        assert_eq!(fs_all(5), (1 << 16) - 1);
        assert_eq!(fs_all(7), fs_all(5));
        assert_eq!(fs_all(1) & TRUNCATE, 0);
        assert_eq!(write() & EXECUTE, 0);
    }
}
