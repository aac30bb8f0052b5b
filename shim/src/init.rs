//! linerate-init: read the blob, check its digest, install it, exec the
//! command. Nothing of linerate stays in the process after the exec.
//!
//! ```text
//! linerate-init --digest sha256:<hex> [--blob PATH] [--container ID]
//!               [--drop-caps MASK] [--verbose] -- CMD [ARGS...]
//! ```
//!
//! Exit codes, when the command never ran:
//!
//! | code | meaning |
//! |---|---|
//! | 121 | bad arguments |
//! | 122 | the blob is unreadable, too large, fails its digest or does not decode |
//! | 123 | the profile could not be installed in full (see the message) |
//! | 126 | the command could not be executed |
//! | 127 | the command was not found |

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use linerate_profiles::blob::{Blob, BlobError, MAX_BLOB_BYTES};
use linerate_profiles::Digest;

use crate::apply::{self, ApplyError, Options};

/// Where the runtime shim mounts linerate-init inside the container.
pub const INIT_PATH: &str = "/.linerate/init";
/// Where the runtime shim mounts the blob inside the container.
pub const BLOB_PATH: &str = "/.linerate/profile";

/// linerate-init's arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitArgs {
    /// The digest the blob must have.
    pub digest: Digest,
    /// Where the blob is.
    pub blob: PathBuf,
    /// The container, for messages.
    pub container: Option<String>,
    /// Capabilities lent by the shim, dropped after the filters are attached.
    pub drop_caps: u64,
    /// Report what was enforced on stderr.
    pub verbose: bool,
    /// Lower the capability sets to the profile's (a plain process) rather
    /// than only check them (a container, which the runtime prepared).
    pub reduce_caps: bool,
    /// The command and its arguments.
    pub command: Vec<OsString>,
}

/// Why linerate-init did not exec the command.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// Bad arguments.
    #[error("usage: {0}")]
    Usage(String),
    /// The blob could not be read.
    #[error("reading the profile {path}")]
    Read {
        /// The blob's path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The blob is larger than the limit.
    #[error("the profile {0} is larger than {MAX_BLOB_BYTES} bytes")]
    TooLarge(PathBuf),
    /// The blob fails its digest or does not decode.
    #[error("verifying the profile")]
    Blob(#[source] BlobError),
    /// The profile could not be installed.
    #[error("installing the profile")]
    Apply(#[source] ApplyError),
    /// The command could not be executed.
    #[error("exec {command}")]
    Exec {
        /// The command.
        command: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl InitError {
    /// The documented exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            InitError::Usage(_) => 121,
            InitError::Read { .. } | InitError::TooLarge(_) | InitError::Blob(_) => 122,
            InitError::Apply(_) => 123,
            InitError::Exec { source, .. } if source.kind() == std::io::ErrorKind::NotFound => 127,
            InitError::Exec { .. } => 126,
        }
    }
}

/// Parses linerate-init's arguments (without the program name).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<InitArgs, InitError> {
    let mut args = args.into_iter();
    let mut digest = None;
    let mut blob = PathBuf::from(BLOB_PATH);
    let mut container = None;
    let mut drop_caps = 0;
    let mut verbose = false;
    let usage = |m: &str| InitError::Usage(m.to_owned());

    loop {
        let arg = args
            .next()
            .ok_or_else(|| usage("missing `--` before the command"))?;
        let arg = arg
            .to_str()
            .ok_or_else(|| usage("an option is not UTF-8"))?
            .to_owned();
        let mut value = || {
            args.next()
                .and_then(|v| v.into_string().ok())
                .ok_or_else(|| InitError::Usage(format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--digest" => {
                digest = Some(
                    value()?
                        .parse()
                        .map_err(|e| InitError::Usage(format!("--digest: {e}")))?,
                )
            }
            "--blob" => blob = PathBuf::from(value()?),
            "--container" => container = Some(value()?),
            "--drop-caps" => {
                let v = value()?;
                let hex = v.strip_prefix("0x").unwrap_or(&v);
                drop_caps = u64::from_str_radix(hex, 16)
                    .map_err(|_| usage("--drop-caps takes a hex mask"))?;
            }
            "--verbose" => verbose = true,
            "--" => break,
            other => return Err(InitError::Usage(format!("unknown option {other}"))),
        }
    }
    let command: Vec<OsString> = args.collect();
    if command.is_empty() {
        return Err(usage("no command after `--`"));
    }
    let digest = digest.ok_or_else(|| usage("--digest is required"))?;
    Ok(InitArgs {
        digest,
        blob,
        container,
        drop_caps,
        verbose,
        reduce_caps: false,
        command,
    })
}

/// Reads the blob under the size limit and checks its digest.
pub fn read_blob(path: &std::path::Path, digest: &Digest) -> Result<Blob, InitError> {
    let file = File::open(path).map_err(|source| InitError::Read {
        path: path.to_owned(),
        source,
    })?;
    // Sized from the file so the read is one syscall, not a doubling series.
    let size = file
        .metadata()
        .map_or(0, |m| m.len())
        .min(MAX_BLOB_BYTES + 1);
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0) + 1);
    file.take(MAX_BLOB_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| InitError::Read {
            path: path.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > MAX_BLOB_BYTES {
        return Err(InitError::TooLarge(path.to_owned()));
    }
    Blob::verify(&bytes, digest).map_err(InitError::Blob)
}

/// Installs the profile and execs the command; returns only on failure.
pub fn run(args: InitArgs) -> InitError {
    let InitArgs {
        digest,
        blob,
        container: _,
        drop_caps,
        verbose,
        reduce_caps,
        command,
    } = args;

    let blob = match read_blob(&blob, &digest) {
        Ok(b) => b,
        Err(e) => return e,
    };

    let report = match apply::apply(
        &blob,
        &Options {
            drop_caps,
            reduce_caps,
        },
    ) {
        Ok(r) => r,
        Err(e) => return InitError::Apply(e),
    };
    if verbose {
        eprintln!("{}", describe(&digest, &report));
    }

    let err = Command::new(&command[0]).args(&command[1..]).exec();
    InitError::Exec {
        command: command[0].to_string_lossy().into_owned(),
        source: err,
    }
}

/// One line saying what was installed, for `--verbose`.
pub fn describe(digest: &Digest, report: &apply::Report) -> String {
    let mut line = format!(
        "linerate-init: digest={digest} no_new_privs={} seccomp_instructions={}",
        u8::from(report.no_new_privs),
        report.seccomp_instructions
    );
    match &report.landlock {
        None => line.push_str(" landlock=none"),
        Some(l) => {
            line.push_str(&format!(" landlock_abi={}", l.abi));
            if !l.skipped.is_empty() {
                line.push_str(&format!(" landlock_skipped={}", l.skipped.join(",")));
            }
            if l.unenforced_fs != 0 || l.unenforced_scope != 0 {
                line.push_str(&format!(
                    " landlock_unenforced_fs={:#x} landlock_unenforced_scope={:#x}",
                    l.unenforced_fs, l.unenforced_scope
                ));
            }
        }
    }
    line
}

/// The one line printed when linerate-init fails: the container, the step
/// and the causes, joined.
pub fn error_line(container: Option<&str>, err: &InitError) -> String {
    let mut line = String::from("linerate-init: ");
    if let Some(id) = container {
        line.push_str(&format!("container {id}: "));
    }
    line.push_str(&chain(err));
    line
}

/// An error and its causes on one line, separated by `: `.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_the_shims_arguments() {
        let d = format!("sha256:{}", "a".repeat(64));
        let a = parse(args(&[
            "--digest",
            &d,
            "--container",
            "c1",
            "--drop-caps",
            "0x200000",
            "--",
            "sh",
            "-c",
            "x",
        ]))
        .unwrap();
        assert_eq!(a.digest.to_string(), d);
        assert_eq!(a.drop_caps, 0x20_0000);
        assert_eq!(a.command, args(&["sh", "-c", "x"]));
        assert_eq!(a.blob, PathBuf::from(BLOB_PATH));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        let d = format!("sha256:{}", "a".repeat(64));
        for bad in [
            args(&["--digest", &d, "--"]),
            args(&["--digest", &d, "sh"]),
            args(&["--", "sh"]),
            args(&["--digest", "sha256:1", "--", "sh"]),
            args(&["--what", "--", "sh"]),
        ] {
            let err = parse(bad.clone()).unwrap_err();
            assert_eq!(err.exit_code(), 121, "{bad:?}");
        }
    }

    #[test]
    fn a_blob_with_another_digest_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("blob");
        let blob = linerate_profiles::compile::compile_level("minimal").unwrap();
        std::fs::write(&p, blob.to_bytes()).unwrap();
        let right = Digest::of(&blob.to_bytes());
        assert_eq!(read_blob(&p, &right).unwrap(), blob);
        let wrong = Digest::of(b"another");
        assert_eq!(read_blob(&p, &wrong).unwrap_err().exit_code(), 122);
        std::fs::write(&p, vec![b' '; usize::try_from(MAX_BLOB_BYTES).unwrap() + 1]).unwrap();
        assert!(matches!(read_blob(&p, &right), Err(InitError::TooLarge(_))));
    }
}
