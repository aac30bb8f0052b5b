//! The `linerate` CLI on the host: the store commands and `linerate exec`
//! of a plain process.

use std::process::Command;

use linerate_integration::checks::{CAP_SETS, NO_CAPS};
use linerate_integration::store::{blob_files, describe_blobs, flip_byte};
use linerate_integration::{compiled_digest, require_root, Run, World};

const LEVELS: [&str; 3] = ["minimal", "sandbox", "hardened"];

fn installed() -> World {
    let w = World::unprivileged();
    w.install();
    w
}

/// `linerate install` writes an OCI image layout holding the three levels;
/// `store verify` accepts it; installing again changes nothing.
#[test]
fn install_fills_the_store() {
    let w = installed();
    for file in ["oci-layout", "index.json"] {
        assert!(w.store().join(file).is_file(), "the store lacks {file}");
    }
    assert!(!blob_files(&w.store()).is_empty(), "the store has no blobs");

    let ls = w.cli(&["store", "ls"], &[]);
    ls.expect_success();
    for level in LEVELS {
        assert!(
            ls.stdout.contains(level),
            "`store ls` does not list {level}\n{ls}"
        );
    }
    w.cli(&["store", "verify"], &[]).expect_success();

    let index = std::fs::read(w.store().join("index.json")).expect("read index.json");
    w.install();
    let again = std::fs::read(w.store().join("index.json")).expect("read index.json");
    assert_eq!(index, again, "installing twice changes index.json");
    let ls_again = w.cli(&["store", "ls"], &[]);
    assert_eq!(
        ls.stdout, ls_again.stdout,
        "installing twice changes `store ls`"
    );
}

/// `store show` describes each level.
#[test]
fn store_show_finds_each_level() {
    let w = installed();
    for level in LEVELS {
        let show = w.cli(&["store", "show", level], &[]);
        show.expect_success();
        assert!(
            !show.stdout.trim().is_empty(),
            "`store show {level}` printed nothing\n{show}"
        );
    }
}

/// One flipped bit in any blob makes `store verify` fail.
#[test]
fn store_verify_detects_each_damaged_blob() {
    let w = installed();
    let roles = describe_blobs(&w.store());
    let mut accepted = Vec::new();
    for blob in blob_files(&w.store()) {
        let original = flip_byte(&blob);
        let verify = w.cli(&["store", "verify"], &[]);
        if verify.success() {
            let role = roles.get(&blob).map_or("blob", String::as_str);
            accepted.push(format!("{role} ({})", blob.display()));
        }
        std::fs::write(&blob, original).expect("restore the blob");
    }
    assert!(
        accepted.is_empty(),
        "`store verify` accepts these damaged blobs: {accepted:#?}"
    );
    w.cli(&["store", "verify"], &[]).expect_success();
}

/// `linerate compile` prints the digest alone; compiling again gives the
/// same digest, and `store show` finds it.
#[test]
fn compile_prints_a_stable_digest() {
    let w = installed();
    let source = "extends = \"sandbox\"\n";
    let first = compiled_digest(&w.compile("p.toml", source));
    let second = compiled_digest(&w.compile("p.toml", source));
    assert_eq!(
        first, second,
        "compiling the same source twice gives two digests"
    );

    let show = w.cli(&["store", "show", &first], &[]);
    show.expect_success();
    w.cli(&["store", "verify"], &[]).expect_success();
}

/// Where [`host_exec`] puts the probe.
const HOST_PROBE: &str = "/usr/local/bin/linerate-probe";

/// `linerate exec --level L -- PROBE ARGS..` on the host.
///
/// sandbox lets only system binary folders execute, so the probe must
/// live in one: it is copied to /usr/local/bin on a tmpfs mounted in a
/// private mount namespace (`unshare -m`), which leaves the host's
/// /usr/local/bin untouched.
fn host_exec(w: &World, level: &str, args: &[&str]) -> Run {
    let script = "mount -t tmpfs -o size=64m,mode=0755 linerate-it /usr/local/bin \
                  && cp \"$0\" /usr/local/bin/linerate-probe && exec \"$@\"";
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", script])
        .arg(&w.bins().probe)
        .arg(&w.bins().linerate)
        .args(["exec", "--store"])
        .arg(w.store())
        .args(["--level", level, "--", HOST_PROBE])
        .args(args);
    w.set_env(&mut cmd);
    w.capture(&mut cmd, "")
}

/// `linerate exec --level sandbox` on the host: no_new_privs, a filter,
/// keyctl refused.
#[test]
fn host_exec_sandbox() {
    if !require_root() {
        return;
    }
    let w = installed();
    let run = host_exec(&w, "sandbox", &["status", "--", "syscall", "keyctl"]);
    run.expect_success();
    run.assert_value("NoNewPrivs", "1", "linerate exec at sandbox");
    run.assert_value("Seccomp", "2", "linerate exec at sandbox");
    run.assert_value("keyctl", "errno:EPERM", "linerate exec at sandbox");
}

/// `linerate exec --level minimal` leaves the capabilities as they were,
/// and installs the deny-list.
#[test]
fn host_exec_minimal_keeps_capabilities() {
    if !require_root() {
        return;
    }
    let w = installed();
    let before = std::process::Command::new(&w.bins().probe)
        .arg("status")
        .output()
        .unwrap();
    let before = Run {
        id: String::new(),
        command: "linerate-probe status".to_owned(),
        status: before.status,
        stdout: String::from_utf8_lossy(&before.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&before.stderr).into_owned(),
    };
    assert_ne!(
        before.value("CapEff"),
        NO_CAPS,
        "the tests run with capabilities"
    );

    let run = host_exec(&w, "minimal", &["status", "--", "syscall", "keyctl"]);
    run.expect_success();
    for set in CAP_SETS {
        run.assert_value(
            set,
            &before.value(set),
            "linerate exec at minimal keeps capabilities",
        );
    }
    run.assert_value(
        "Seccomp",
        "2",
        "linerate exec at minimal installs the deny-list",
    );
    run.assert_value("keyctl", "errno:EPERM", "linerate exec at minimal");
}
