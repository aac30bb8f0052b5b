//! `/etc/linerate/config.toml` (or `LINERATE_CONFIG`), with the environment
//! overriding it.
//!
//! ```toml
//! runtime = "runc"            # or "crun", or an absolute path
//! default_level = "minimal"   # for containers that ask for nothing
//! store = "/var/lib/linerate/store"
//! init = "/usr/local/lib/linerate/linerate-init"
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where the config lives unless `LINERATE_CONFIG` says otherwise.
pub const DEFAULT_PATH: &str = "/etc/linerate/config.toml";

/// The settings, after the environment is applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The real runtime: a name looked up on `PATH`, or a path.
    pub runtime: String,
    /// The level of containers without an annotation.
    pub default_level: String,
    /// The store's root.
    pub store: Option<PathBuf>,
    /// linerate-init on the host.
    pub init: Option<PathBuf>,
    /// Pass `--verbose` to linerate-init.
    pub verbose: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    runtime: Option<String>,
    default_level: Option<String>,
    store: Option<PathBuf>,
    init: Option<PathBuf>,
    verbose: Option<bool>,
}

/// Why the config could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but could not be read.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid config.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
}

impl Config {
    /// Reads the config file (absent means defaults) and applies
    /// `LINERATE_RUNTIME`, `LINERATE_STORE`, `LINERATE_INIT`, `LINERATE_LOG`.
    pub fn load() -> Result<Self, ConfigError> {
        let path = std::env::var_os("LINERATE_CONFIG")
            .map_or_else(|| PathBuf::from(DEFAULT_PATH), PathBuf::from);
        let mut config = Self::from_file(&path)?;
        if let Some(r) = env("LINERATE_RUNTIME") {
            config.runtime = r;
        }
        if let Some(s) = env("LINERATE_STORE") {
            config.store = Some(s.into());
        }
        if let Some(i) = env("LINERATE_INIT") {
            config.init = Some(i.into());
        }
        if env("LINERATE_LOG").is_some_and(|l| l == "debug" || l == "info") {
            config.verbose = true;
        }
        Ok(config)
    }

    /// Reads one config file; a missing file gives the defaults.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let file = match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str::<File>(&text).map_err(|e| ConfigError::Parse {
                path: path.to_owned(),
                message: e.message().replace('\n', " "),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => File::default(),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let File {
            runtime,
            default_level,
            store,
            init,
            verbose,
        } = file;
        Ok(Self {
            runtime: runtime.unwrap_or_else(|| "runc".to_owned()),
            default_level: default_level.unwrap_or_else(|| "minimal".to_owned()),
            store,
            init,
            verbose: verbose.unwrap_or(false),
        })
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_gives_defaults_and_a_bad_one_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::from_file(&dir.path().join("none.toml")).unwrap();
        assert_eq!(
            (c.runtime.as_str(), c.default_level.as_str()),
            ("runc", "minimal")
        );
        let p = dir.path().join("bad.toml");
        std::fs::write(&p, "runtim = \"crun\"\n").unwrap();
        assert!(Config::from_file(&p).is_err());
        std::fs::write(&p, "runtime = \"crun\"\ndefault_level = \"sandbox\"\n").unwrap();
        let c = Config::from_file(&p).unwrap();
        assert_eq!(
            (c.runtime.as_str(), c.default_level.as_str()),
            ("crun", "sandbox")
        );
    }
}
