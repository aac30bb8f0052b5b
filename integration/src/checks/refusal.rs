//! Failing closed: every start linerate cannot enforce is refused with a
//! non-zero exit and one line on stderr naming the container, and leaves
//! no container behind.

use super::probe;
use crate::store::{blob_files, describe_blobs, flip_byte, named_digest, reachable_blobs};
use crate::{world_or_skip, Bundle, Engine, World};

/// A container that would print something if it ever ran.
fn probe_bundle(w: &World) -> Bundle {
    w.bundle(&probe(&[&["status"]]))
}

/// hardened as `uid` is refused (it is not enforced yet) and says so.
pub fn hardened_refused(engine: Engine, uid: u32) {
    let w = world_or_skip!(World::privileged(engine));
    let run = w.run(&probe_bundle(&w).user(uid, uid).level("hardened"));
    w.assert_refused(&run, "hardened is not enforced yet");
    assert!(
        run.stderr.to_lowercase().contains("hardened"),
        "the refusal should name the level it cannot enforce\n{run}"
    );
}

/// An annotation `key=value` that names nothing valid is refused.
pub fn annotation_refused(engine: Engine, key: &str, value: &str) {
    let w = world_or_skip!(World::privileged(engine));
    let run = w.run(&probe_bundle(&w).annotation(key, value));
    w.assert_refused(&run, &format!("{key}={value} must be refused"));
}

/// A digest-pinned profile that is not in the store is refused.
pub fn unknown_digest_refused(engine: Engine) {
    let digest = format!("sha256:{}", "0".repeat(64));
    annotation_refused(engine, crate::PROFILE_ANNOTATION, &digest);
}

/// Every blob the digest-pinned profile reaches, damaged one at a time,
/// refuses the container; with the blob restored the same profile runs.
pub fn tampered_profile_refused(engine: Engine) {
    let w = world_or_skip!(World::privileged(engine));
    let digest = crate::compiled_digest(&w.compile("tamper.toml", "extends = \"sandbox\"\n"));
    let blobs = reachable_blobs(&w.store(), &digest);
    assert!(
        !blobs.is_empty(),
        "the digest {digest} names no blob under blobs/sha256"
    );

    for blob in &blobs {
        let original = flip_byte(blob);
        let run = w.run(&probe_bundle(&w).profile(&digest));
        w.assert_refused(&run, &format!("{} was damaged", blob.display()));
        std::fs::write(blob, original).expect("restore the blob");
    }

    let run = w.run(&probe_bundle(&w).profile(&digest));
    run.expect_success();
    run.assert_value("Seccomp", "2", "the undamaged profile runs");
}

/// The blobs behind the sandbox level (its manifest, config and layers),
/// damaged one at a time, each refuse a sandbox container.
pub fn tampered_level_refused(engine: Engine) {
    let w = world_or_skip!(World::privileged(engine));
    let store = w.store();
    let digest = named_digest(&store, "sandbox").expect("linerate install names sandbox");

    let roles = describe_blobs(&store);
    let mut accepted = Vec::new();
    for blob in reachable_blobs(&store, &digest) {
        let role = roles.get(&blob).map_or("blob", String::as_str);
        let original = flip_byte(&blob);
        let run = w.run(&probe_bundle(&w).level("sandbox"));
        if run.success() {
            accepted.push(format!("{role} ({})", blob.display()));
        } else {
            w.assert_refused(&run, &format!("damaged {role} {}", blob.display()));
        }
        std::fs::write(&blob, original).expect("restore the blob");
    }
    assert!(
        accepted.is_empty(),
        "a sandbox container started although these blobs were damaged: {accepted:#?}"
    );
}

/// Every blob damaged: sandbox, minimal and no annotation are all refused,
/// and `linerate store verify` fails.
pub fn tampered_store_refused(engine: Engine) {
    let w = world_or_skip!(World::privileged(engine));
    for blob in blob_files(&w.store()) {
        flip_byte(&blob);
    }
    for level in [Some("sandbox"), Some("minimal"), None] {
        let bundle = probe_bundle(&w);
        let bundle = match level {
            Some(level) => bundle.level(level),
            None => bundle,
        };
        let run = w.run(&bundle);
        w.assert_refused(&run, &format!("damaged store, level {level:?}"));
    }
    let verify = w.cli(&["store", "verify"], &[]);
    assert!(
        !verify.success(),
        "`store verify` must fail on a damaged store\n{verify}"
    );
}

/// An empty store refuses sandbox and the default level alike.
pub fn empty_store_refused(engine: Engine) {
    let w = world_or_skip!(World::privileged(engine));
    std::fs::remove_dir_all(w.store()).expect("remove the store");
    std::fs::create_dir_all(w.store()).expect("create an empty store");
    for level in [Some("sandbox"), None] {
        let bundle = probe_bundle(&w);
        let bundle = match level {
            Some(level) => bundle.level(level),
            None => bundle,
        };
        let run = w.run(&bundle);
        w.assert_refused(&run, &format!("empty store, level {level:?}"));
    }
}

/// A real runtime that does not exist fails with one line naming the
/// container.
pub fn missing_runtime_refused(engine: Engine) {
    let w = world_or_skip!(World::privileged(engine));
    let mut cmd = w.runtime_command();
    cmd.env("LINERATE_RUNTIME", "/nonexistent");
    let run = w.run_with(cmd, &probe_bundle(&w).level("sandbox"));
    w.assert_refused(&run, "LINERATE_RUNTIME=/nonexistent");
}
