//! Finding the workspace binaries the tests drive.

use std::path::{Path, PathBuf};

/// The workspace binaries, all from one cargo target folder.
#[derive(Clone, Debug)]
pub struct Binaries {
    /// The `linerate` CLI.
    pub linerate: PathBuf,
    /// The OCI runtime shim.
    pub runtime: PathBuf,
    /// The container's first process; the shim finds it next to itself.
    pub init: PathBuf,
    /// The static test program run inside containers.
    pub probe: PathBuf,
}

impl Binaries {
    /// Finds the binaries in [`target_dir`].
    ///
    /// # Panics
    ///
    /// When one is missing, with a message saying how to build it.
    pub fn find() -> Binaries {
        let dir = target_dir();
        let find = |name: &str| {
            let path = dir.join(name);
            assert!(
                path.is_file(),
                "{} is missing: run `cargo build --workspace` first (binaries are looked up in {})",
                path.display(),
                dir.display(),
            );
            path
        };
        Binaries {
            linerate: find("linerate"),
            runtime: find("linerate-runtime"),
            init: find("linerate-init"),
            probe: find("linerate-probe"),
        }
    }
}

/// The cargo output folder of the running test: the parent of the `deps`
/// folder that holds the test executable (`target/<triple>/debug` when the
/// workspace names a build target, else `target/debug`). Outside a test
/// executable: `$CARGO_TARGET_DIR` or `<workspace>/target`, with the
/// host triple's folder preferred when it exists.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::current_exe()
        .ok()
        .as_deref()
        .and_then(profile_dir_of)
    {
        return dir;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    let triple = target
        .join(format!("{}-unknown-linux-gnu", std::env::consts::ARCH))
        .join("debug");
    if triple.is_dir() {
        return triple;
    }
    target.join("debug")
}

/// `target/debug` for `target/debug/deps/NAME-HASH`.
fn profile_dir_of(exe: &Path) -> Option<PathBuf> {
    let deps = exe.parent()?;
    if deps.file_name()? != "deps" {
        return None;
    }
    deps.parent().map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_dir_is_parent_of_deps() {
        let exe = Path::new("/w/target/debug/deps/levels-0123abcd");
        assert_eq!(profile_dir_of(exe), Some(PathBuf::from("/w/target/debug")));
        let exe = Path::new("/w/target/x86_64-unknown-linux-gnu/debug/deps/cases-01");
        let dir = PathBuf::from("/w/target/x86_64-unknown-linux-gnu/debug");
        assert_eq!(profile_dir_of(exe), Some(dir));
        assert_eq!(profile_dir_of(Path::new("/w/target/debug/linerate")), None);
    }
}
