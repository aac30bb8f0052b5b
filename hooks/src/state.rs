//! The OCI state a runtime writes on a hook's stdin, read whole and under a
//! size limit, with the bundle's `config.json` standing in for annotations
//! the state lacks.
//!
//! Runtimes differ: runc passes the spec's annotations, some engines pass
//! none or `null`, and a runtime that dies mid-write closes stdin early. The
//! hook reads to the end before deciding anything, so a truncated state is
//! refused whole rather than half used.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The most bytes of state read from stdin.
pub(crate) const MAX_STATE_BYTES: u64 = 1 << 20;
/// The most bytes of `config.json` read for annotations.
pub(crate) const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// The fields of the OCI state the hook uses.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub(crate) struct State {
    /// The container id.
    pub(crate) id: String,
    /// `creating`, `created`, `running`, `stopped`.
    #[serde(default)]
    pub(crate) status: Option<String>,
    /// The container's first process on the host; absent at poststop.
    #[serde(default)]
    pub(crate) pid: Option<u32>,
    /// The bundle folder.
    pub(crate) bundle: PathBuf,
    /// The annotations; absent and `null` both read as none.
    #[serde(default)]
    pub(crate) annotations: Option<BTreeMap<String, String>>,
}

/// Why the state could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StateError {
    /// Reading stdin failed.
    #[error("reading the state on stdin")]
    Read(#[source] std::io::Error),
    /// Stdin was closed before any byte.
    #[error("no state on stdin: it was closed before any byte")]
    Empty,
    /// More than the limit.
    #[error("the state on stdin is larger than {MAX_STATE_BYTES} bytes")]
    TooLarge,
    /// Not a state: truncated, malformed, or missing `id` or `bundle`.
    #[error("the state on stdin is not a complete OCI state ({read} bytes read)")]
    Parse {
        /// Bytes read.
        read: usize,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The bundle's config could not be read.
    #[error("reading {path} for the annotations the state lacks")]
    Config {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The bundle's config is larger than the limit.
    #[error("{0} is larger than {MAX_CONFIG_BYTES} bytes")]
    ConfigTooLarge(PathBuf),
    /// The bundle's config is not JSON.
    #[error("{path} is not JSON")]
    ConfigParse {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
}

/// Reads all of `input` (at most [`MAX_STATE_BYTES`]) and parses the state.
pub(crate) fn read_state(input: impl Read) -> Result<State, StateError> {
    let mut bytes = Vec::new();
    input
        .take(MAX_STATE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(StateError::Read)?;
    if bytes.is_empty() {
        return Err(StateError::Empty);
    }
    if bytes.len() as u64 > MAX_STATE_BYTES {
        return Err(StateError::TooLarge);
    }
    serde_json::from_slice(&bytes).map_err(|source| StateError::Parse {
        read: bytes.len(),
        source,
    })
}

/// Whether annotations carry anything linerate reads.
fn names_linerate(a: &BTreeMap<String, String>) -> bool {
    a.keys().any(|k| k.starts_with("io.linerate."))
}

/// The container's annotations: the state's when they name linerate, else
/// those of `config.json` in the bundle (resolved against the bundle when
/// relative), else none.
pub(crate) fn annotations(state: &State) -> Result<BTreeMap<String, String>, StateError> {
    if let Some(a) = &state.annotations {
        if names_linerate(a) {
            return Ok(a.clone());
        }
    }
    let path = state.bundle.join("config.json");
    let spec = read_config(&path)?;
    let from_config = linerate_shim::spec::annotations(&spec);
    if names_linerate(&from_config) {
        return Ok(from_config);
    }
    Ok(state.annotations.clone().unwrap_or_default())
}

fn read_config(path: &Path) -> Result<serde_json::Value, StateError> {
    let file = std::fs::File::open(path).map_err(|source| StateError::Config {
        path: path.to_owned(),
        source,
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| StateError::Config {
            path: path.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(StateError::ConfigTooLarge(path.to_owned()));
    }
    serde_json::from_slice(&bytes).map_err(|source| StateError::ConfigParse {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"{"ociVersion":"1.0.2","id":"c1","status":"creating","pid":42,"bundle":"/b","annotations":{"io.linerate.level":"hardened"}}"#;

    fn bundle(annotations: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let spec = format!(
            r#"{{"ociVersion":"1.0.2","process":{{"args":["sh"]}},"annotations":{annotations}}}"#
        );
        std::fs::write(dir.path().join("config.json"), spec).unwrap();
        dir
    }

    fn state_in(dir: &Path, annotations: Option<&str>) -> String {
        let b = dir.display();
        match annotations {
            Some(a) => format!(
                r#"{{"ociVersion":"1.0.2","id":"c1","pid":42,"bundle":"{b}","annotations":{a}}}"#
            ),
            None => format!(r#"{{"ociVersion":"1.0.2","id":"c1","pid":42,"bundle":"{b}"}}"#),
        }
    }

    #[test]
    fn a_full_state_is_read() {
        let s = read_state(FULL.as_bytes()).unwrap();
        assert_eq!(
            (s.id.as_str(), s.pid, s.status.as_deref()),
            ("c1", Some(42), Some("creating"))
        );
        assert_eq!(annotations(&s).unwrap()["io.linerate.level"], "hardened");
    }

    #[test]
    fn missing_or_null_annotations_fall_back_to_the_bundle() {
        let dir = bundle(r#"{"io.linerate.level":"hardened","other":"x"}"#);
        for a in [
            None,
            Some("null"),
            Some("{}"),
            Some(r#"{"io.container.manager":"libpod"}"#),
        ] {
            let s = read_state(state_in(dir.path(), a).as_bytes()).unwrap();
            let got = annotations(&s).unwrap();
            assert_eq!(
                got.get("io.linerate.level").map(String::as_str),
                Some("hardened"),
                "{a:?}"
            );
        }
    }

    #[test]
    fn the_state_wins_over_the_bundle_when_it_names_linerate() {
        let dir = bundle(r#"{"io.linerate.level":"hardened"}"#);
        let s =
            read_state(state_in(dir.path(), Some(r#"{"io.linerate.level":"sandbox"}"#)).as_bytes())
                .unwrap();
        assert_eq!(annotations(&s).unwrap()["io.linerate.level"], "sandbox");
    }

    #[test]
    fn neither_naming_linerate_gives_the_state_annotations() {
        let dir = bundle("null");
        let s = read_state(state_in(dir.path(), Some(r#"{"a":"b"}"#)).as_bytes()).unwrap();
        assert_eq!(annotations(&s).unwrap().len(), 1);
        let s = read_state(state_in(dir.path(), None).as_bytes()).unwrap();
        assert!(annotations(&s).unwrap().is_empty());
    }

    #[test]
    fn truncated_empty_and_oversized_input_are_refused() {
        for cut in [1, FULL.len() / 2, FULL.len() - 1] {
            let err = read_state(&FULL.as_bytes()[..cut]).unwrap_err();
            assert!(
                matches!(err, StateError::Parse { read, .. } if read == cut),
                "{cut}: {err}"
            );
        }
        assert!(matches!(read_state(&b""[..]), Err(StateError::Empty)));
        let big = format!(
            "{}{}",
            FULL,
            " ".repeat(usize::try_from(MAX_STATE_BYTES).unwrap())
        );
        assert!(matches!(
            read_state(big.as_bytes()),
            Err(StateError::TooLarge)
        ));
        assert!(matches!(
            read_state(&br#"{"id":"c1"}"#[..]),
            Err(StateError::Parse { .. })
        ));
    }

    #[test]
    fn a_failing_stdin_is_an_error_not_a_short_state() {
        struct Broken(usize);
        impl Read for Broken {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0 == 0 {
                    return Err(std::io::Error::other("the runtime died"));
                }
                let n = self.0.min(buf.len()).min(FULL.len());
                buf[..n].copy_from_slice(&FULL.as_bytes()[..n]);
                self.0 = 0;
                Ok(n)
            }
        }
        assert!(matches!(
            read_state(Broken(FULL.len())),
            Err(StateError::Read(_))
        ));
    }

    #[test]
    fn a_missing_or_broken_bundle_config_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let s = read_state(state_in(dir.path(), None).as_bytes()).unwrap();
        assert!(matches!(annotations(&s), Err(StateError::Config { .. })));
        std::fs::write(dir.path().join("config.json"), "{\"annotations\":").unwrap();
        assert!(matches!(
            annotations(&s),
            Err(StateError::ConfigParse { .. })
        ));
    }
}
