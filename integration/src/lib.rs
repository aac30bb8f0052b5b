//! End-to-end tests of linerate through real OCI runtimes.
//!
//! Each test builds its own [`World`]: a temporary folder holding a store
//! filled by `linerate install`, a runtime state root, and bundles whose
//! root filesystem is `/bin/busybox` plus the static `linerate-probe`. A
//! container runs through `linerate-runtime` in front of runc or crun (the
//! [`Engine`]), and the probe reports from the inside what the level
//! allowed, as `key=value` lines that [`Run::value`] reads.
//!
//! The workspace binaries are found in the cargo target folder of the test
//! executable; build them first with `cargo build --workspace`.
//!
//! Tests that need root or a runtime print `SKIPPED: <reason>` on stderr
//! and pass when they cannot run, unless `LINERATE_REQUIRE_PRIVILEGED=1`
//! is set, which turns every such skip into a failure (CI sets it).
//!
//! # Current limitations
//!
//! The crun wrapper gives crun a private mount namespace with cgroup2 and
//! `--cgroup-manager=disabled`, so crun containers have no cgroup of their
//! own.

use std::io::Write;

mod bins;
mod bundle;
pub mod checks;
mod containerd;
pub mod hooks_file;
pub mod hostile;
mod image;
mod mounts;
mod podman;
pub mod policy;
mod process;
mod run;
pub mod store;
mod world;

pub use bins::{target_dir, Binaries};
pub use bundle::{Bundle, PROBE_IN_CONTAINER, USER_HOME, USER_UID};
pub use containerd::{Containerd, RUNC_V2};
pub use image::{oci_archive, IMAGE_NAME};
pub use podman::{installed_hooks_dir, Podman};
pub use run::{cap_mask, Run};
pub use world::{Engine, World};

/// The annotation choosing a level.
pub const LEVEL_ANNOTATION: &str = "io.linerate.level";

/// The annotation choosing a named or digest-pinned profile.
pub const PROFILE_ANNOTATION: &str = "io.linerate.profile";

/// The environment variable that turns skips of privileged tests into
/// failures.
pub const REQUIRE_PRIVILEGED_ENV: &str = "LINERATE_REQUIRE_PRIVILEGED";

/// Returns from the calling test when `$world` is `None` (the reason was
/// already printed by [`World::privileged`]).
#[macro_export]
macro_rules! world_or_skip {
    ($world:expr) => {
        match $world {
            Some(world) => world,
            None => return,
        }
    };
}

/// The name of the running test, as libtest names its thread.
pub fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_owned()
}

/// Skips the running test with a loud line on stderr, or fails it when
/// [`REQUIRE_PRIVILEGED_ENV`] is `1`.
pub fn skip(reason: &str) {
    let test = test_name();
    if std::env::var(REQUIRE_PRIVILEGED_ENV).as_deref() == Ok("1") {
        panic!("{test}: {reason}, and {REQUIRE_PRIVILEGED_ENV}=1 forbids skipping");
    }
    // Written to the stderr handle, not with eprintln!, which libtest
    // captures: a skip must show in a plain `cargo test` run.
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {reason}");
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Skips (see [`skip`]) unless the tests run as root; returns whether the
/// test may go on.
pub fn require_root() -> bool {
    if is_root() {
        return true;
    }
    skip("not running as root");
    false
}

/// Finds `program` on `PATH`.
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;

    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The digest `linerate compile` printed: its whole stdout must be
/// `sha256:<64 lowercase hex>`.
///
/// # Panics
///
/// When the compile failed or printed anything else.
pub fn compiled_digest(run: &Run) -> String {
    run.expect_success();
    let digest = run.stdout.trim();
    let valid = digest
        .strip_prefix("sha256:")
        .is_some_and(store::is_sha256_hex);
    assert!(
        valid,
        "`linerate compile` should print sha256:<64 hex> alone on stdout\n{run}"
    );
    digest.to_owned()
}
