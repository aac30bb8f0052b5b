//! The result of one command, with the probe's `key=value` output parsed.

use std::collections::BTreeMap;
use std::fmt;
use std::process::ExitStatus;

/// A finished command: a container run, or a call of the CLI.
#[derive(Debug)]
pub struct Run {
    /// The container id, or empty for a command that is not a container.
    pub id: String,
    /// The command line, for messages.
    pub command: String,
    /// How it ended.
    pub status: ExitStatus,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
}

impl Run {
    /// Whether it exited with 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Panics, showing everything, unless it exited with 0.
    pub fn expect_success(&self) -> &Run {
        assert!(self.success(), "expected success:\n{self}");
        self
    }

    /// The last value printed for each key (lines without `=` are skipped).
    pub fn values(&self) -> BTreeMap<String, String> {
        self.stdout
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect()
    }

    /// Every value printed for `key`, in order.
    pub fn all_values(&self, key: &str) -> Vec<String> {
        self.stdout
            .lines()
            .filter_map(|line| line.split_once('='))
            .filter(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }

    /// The value printed for `key`.
    ///
    /// # Panics
    ///
    /// When the key was not printed, showing the whole run.
    pub fn value(&self, key: &str) -> String {
        match self.values().remove(key) {
            Some(value) => value,
            None => panic!("no `{key}=` line in the output:\n{self}"),
        }
    }

    /// Asserts that `key` has the value `expected`, with `why` and the whole
    /// run in the message.
    pub fn assert_value(&self, key: &str, expected: &str, why: &str) {
        let got = self.value(key);
        assert_eq!(
            got, expected,
            "{why}: `{key}` is `{got}`, expected `{expected}`\n{self}"
        );
    }

    /// The non-empty lines of stderr.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "--- command: {}", self.command)?;
        if !self.id.is_empty() {
            writeln!(f, "--- container: {}", self.id)?;
        }
        writeln!(f, "--- status: {}", self.status)?;
        writeln!(f, "--- stdout:\n{}", self.stdout.trim_end())?;
        write!(f, "--- stderr:\n{}", self.stderr.trim_end())
    }
}

/// Parses a `Cap*` value of /proc/PID/status (hexadecimal).
///
/// # Panics
///
/// When it is not hexadecimal.
pub fn cap_mask(value: &str) -> u64 {
    u64::from_str_radix(value, 16).unwrap_or_else(|_| panic!("not a capability mask: {value}"))
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    fn run(stdout: &str) -> Run {
        Run {
            id: "c1".to_owned(),
            command: "probe".to_owned(),
            status: ExitStatus::from_raw(0),
            stdout: stdout.to_owned(),
            stderr: String::new(),
        }
    }

    #[test]
    fn values_take_the_first_equals_sign() {
        let r = run("keyctl=errno:EPERM\nnoise\nfd.3=/a=b\nexec=ok\nexec=errno:EACCES\n");
        assert_eq!(r.value("keyctl"), "errno:EPERM");
        assert_eq!(r.value("fd.3"), "/a=b");
        assert_eq!(r.value("exec"), "errno:EACCES");
        assert_eq!(r.all_values("exec"), ["ok", "errno:EACCES"]);
    }

    #[test]
    fn cap_masks_are_hex() {
        assert_eq!(cap_mask("0000000000000400"), 0x400);
    }
}
