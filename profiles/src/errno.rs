//! Symbolic errno names used in profile sources.

/// The errno names a profile may use, with their values on Linux.
pub const NAMES: &[(&str, i32)] = &[
    ("EPERM", libc::EPERM),
    ("ENOENT", libc::ENOENT),
    ("ESRCH", libc::ESRCH),
    ("EIO", libc::EIO),
    ("ENXIO", libc::ENXIO),
    ("EBADF", libc::EBADF),
    ("EAGAIN", libc::EAGAIN),
    ("ENOMEM", libc::ENOMEM),
    ("EACCES", libc::EACCES),
    ("EFAULT", libc::EFAULT),
    ("ENODEV", libc::ENODEV),
    ("EINVAL", libc::EINVAL),
    ("ENOTTY", libc::ENOTTY),
    ("EROFS", libc::EROFS),
    ("ENOSYS", libc::ENOSYS),
    ("EOPNOTSUPP", libc::EOPNOTSUPP),
    ("EPROTONOSUPPORT", libc::EPROTONOSUPPORT),
    ("EAFNOSUPPORT", libc::EAFNOSUPPORT),
];

/// The value of an errno name, such as `EPERM`.
pub fn value(name: &str) -> Option<u16> {
    NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| u16::try_from(*v).ok())
}

/// The name of an errno value, if it is one of [`NAMES`].
pub fn name(value: u16) -> Option<&'static str> {
    NAMES
        .iter()
        .find(|(_, v)| *v == i32::from(value))
        .map(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (n, v) in NAMES {
            assert_eq!(value(n).map(i32::from), Some(*v));
            assert_eq!(name(u16::try_from(*v).unwrap()), Some(*n));
        }
        assert_eq!(value("EWHATEVER"), None);
    }
}
