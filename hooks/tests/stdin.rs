//! linerate-hook run as a runtime runs it: state on stdin, one line on
//! stderr and a documented exit code when it refuses (case F8), and the
//! refusal of a hardened container where BPF-LSM is not active (case F7,
//! this host's side; the VM suite tests both boot lines).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use linerate_profiles::compile::compile_level;
use linerate_profiles::store::Store;

/// A store with the three levels and a bundle whose config.json asks for `level`.
fn world(level: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("store"));
    for name in ["minimal", "sandbox", "hardened"] {
        store
            .put(&compile_level(name).unwrap(), Some(name))
            .unwrap();
    }
    std::fs::create_dir(dir.path().join("bundle")).unwrap();
    let spec = format!(
        r#"{{"ociVersion":"1.0.2","process":{{"args":["sh"]}},"annotations":{{"io.linerate.level":"{level}"}}}}"#
    );
    std::fs::write(dir.path().join("bundle/config.json"), spec).unwrap();
    dir
}

/// Runs the hook with `input` on stdin, or with stdin closed when `None`.
fn hook(dir: &Path, stage: &str, input: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_linerate-hook"))
        .arg(stage)
        .env("LINERATE_STORE", dir.join("store"))
        .env("LINERATE_CONFIG", dir.join("none.toml"))
        .env_remove("LINERATE_BPF_SCOPE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    if let Some(bytes) = input {
        // A hook that refuses before reading (an unknown stage) closes its
        // stdin: the write may then meet a broken pipe, which is its answer.
        if let Err(e) = stdin.write_all(bytes) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
        }
    }
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn state(dir: &Path, annotations: &str) -> String {
    format!(
        r#"{{"ociVersion":"1.0.2","id":"c1","status":"creating","pid":{},"bundle":"{}"{annotations}}}"#,
        std::process::id(),
        dir.join("bundle").display()
    )
}

fn one_line(out: &Output) -> String {
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err:?}");
    assert!(err.starts_with("linerate-hook: "), "{err}");
    err
}

#[test]
fn truncated_empty_and_garbage_states_are_refused_in_one_line() {
    let dir = world("hardened");
    let full = state(dir.path(), "");
    for input in [
        &full.as_bytes()[..full.len() - 1],
        &full.as_bytes()[..10],
        b"",
        b"\x00\xff",
        b"[]",
    ] {
        let out = hook(dir.path(), "createRuntime", Some(input));
        assert_eq!(
            out.status.code(),
            Some(3),
            "{input:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let err = one_line(&out);
        assert!(err.contains("state"), "{err}");
    }
    let out = hook(dir.path(), "createRuntime", None);
    assert_eq!(out.status.code(), Some(3));
    assert!(one_line(&out).contains("closed before any byte"));
}

#[test]
fn annotations_missing_from_the_state_come_from_the_bundle() {
    // A sandbox bundle: nothing to do, whatever the kernel.
    let dir = world("sandbox");
    for ann in ["", r#","annotations":null"#, r#","annotations":{}"#] {
        let out = hook(
            dir.path(),
            "createRuntime",
            Some(state(dir.path(), ann).as_bytes()),
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{ann}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stderr.is_empty());
    }

    // A hardened bundle: the hook goes on to BPF-LSM, which proves it read
    // the level from config.json. Here BPF-LSM is either inactive (exit 5)
    // or the pid given is the test's own, whose namespace is the runtime's
    // (exit 6); never success.
    let dir = world("hardened");
    let out = hook(
        dir.path(),
        "createRuntime",
        Some(state(dir.path(), r#","annotations":null"#).as_bytes()),
    );
    let err = one_line(&out);
    match out.status.code() {
        Some(5) => assert!(err.contains("container c1: bpf-lsm:"), "{err}"),
        Some(6) => assert!(err.contains("shares the runtime's"), "{err}"),
        other => panic!("exit {other:?}: {err}"),
    }
}

#[test]
fn a_missing_bundle_config_is_refused() {
    let dir = world("hardened");
    std::fs::remove_file(dir.path().join("bundle/config.json")).unwrap();
    let out = hook(
        dir.path(),
        "prestart",
        Some(state(dir.path(), "").as_bytes()),
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(one_line(&out).contains("config.json"));
}

#[test]
fn poststop_with_nothing_to_remove_succeeds_twice() {
    let dir = world("hardened");
    let stopped = format!(
        r#"{{"ociVersion":"1.0.2","id":"gone","status":"stopped","bundle":"{}"}}"#,
        dir.path().display()
    );
    for _ in 0..2 {
        let out = hook(dir.path(), "poststop", Some(stopped.as_bytes()));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn unknown_stages_are_usage_errors() {
    let dir = world("sandbox");
    let out = hook(dir.path(), "poststart", Some(b"{}"));
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line(&out).contains("usage"));
}

#[test]
fn hardened_is_refused_where_bpf_lsm_is_not_active() {
    let list = linerate_bpf::loader::LsmList::read(Path::new(linerate_bpf::loader::LSM_LIST));
    if list.lacks_bpf().is_none() && matches!(list, linerate_bpf::loader::LsmList::Listed(_)) {
        eprintln!("SKIPPED: bpf is an active LSM on this host ({list:?}); scripts/vm-test.sh tests the refusal");
        return;
    }
    // Either the list says bpf is missing, or it is unreadable and the
    // kernel must refuse the programs or the self-test must see none run.
    let err = linerate_bpf::ensure_active().unwrap_err();
    let msg = linerate_shim::init::chain(&err);
    assert!(
        msg.contains("BPF-LSM is not active") || msg.contains("the kernel refused BPF-LSM program"),
        "{msg}"
    );
    let blob = compile_level("hardened").unwrap();
    assert!(linerate_shim::hardened::check(&blob).is_err());
}

/// podman shows a failing hook's exit status, not its stderr: the refusal
/// must reach the kernel log too.
#[test]
fn a_precreate_refusal_reaches_the_kernel_log() {
    let writable = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/kmsg")
        .is_ok();
    let readable = Command::new("dmesg")
        .output()
        .is_ok_and(|o| o.status.success());
    if !(writable && readable) {
        assert!(
            std::env::var_os("LINERATE_REQUIRE_PRIVILEGED").is_none(),
            "/dev/kmsg or dmesg unavailable, and LINERATE_REQUIRE_PRIVILEGED is set"
        );
        eprintln!("SKIPPED: a_precreate_refusal_reaches_the_kernel_log: /dev/kmsg or dmesg unavailable (not root?)");
        return;
    }
    let dir = world("sandbox");
    // A level nobody else writes, so an older line cannot pass the test.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let level = format!("sandbox-{}-{nanos}", std::process::id());
    let spec = format!(
        r#"{{"process":{{"args":["sh"]}},"annotations":{{"io.linerate.level":"{level}"}}}}"#
    );
    let out = hook(dir.path(), "precreate", Some(spec.as_bytes()));
    assert!(!out.status.success());
    let line = one_line(&out);
    assert!(line.contains(&level), "{line}");
    let dmesg = Command::new("dmesg").output().unwrap();
    let log = String::from_utf8_lossy(&dmesg.stdout);
    assert!(log.contains(&line), "{line:?} not in the kernel log");
}
