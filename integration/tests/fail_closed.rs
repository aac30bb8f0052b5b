//! Failing closed through runc: an unknown level, a missing profile, a
//! damaged store or a missing runtime refuses the container with one line
//! naming it, and leaves nothing behind.

use linerate_integration::{checks, Engine, LEVEL_ANNOTATION};

const E: Engine = Engine::Runc;

#[test]
fn misspelt_level_refused() {
    checks::annotation_refused(E, LEVEL_ANNOTATION, "sandboxx");
}

#[test]
fn capitalised_level_refused() {
    checks::annotation_refused(E, LEVEL_ANNOTATION, "Sandbox");
}

#[test]
fn empty_level_refused() {
    checks::annotation_refused(E, LEVEL_ANNOTATION, "");
}

#[test]
fn unknown_digest_refused() {
    checks::unknown_digest_refused(E);
}

#[test]
fn tampered_profile_blob_refused() {
    checks::tampered_profile_refused(E);
}

#[test]
fn tampered_level_blob_refused() {
    checks::tampered_level_refused(E);
}

#[test]
fn tampered_store_refused() {
    checks::tampered_store_refused(E);
}

#[test]
fn empty_store_refused() {
    checks::empty_store_refused(E);
}

#[test]
fn missing_runtime_refused() {
    checks::missing_runtime_refused(E);
}
