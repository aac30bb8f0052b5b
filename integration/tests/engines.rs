//! linerate as the users of podman 4.3 and containerd 1.6 run it: each
//! engine runs from private config and state in the test's folder, started
//! and stopped by the test, on an image built by hand from busybox and the
//! probe. Each container reports its policy from the inside.
//!
//! - podman with `--runtime linerate-runtime`: `run` and `exec`;
//! - podman with plain runc and only the installed hooks.d files
//!   (`--hooks-dir`), where the `precreate` hook rewrites the spec;
//! - containerd with `ctr run --runc-binary linerate-runtime`;
//! - the engine files `linerate install` writes.
//!
//! podman's own seccomp filter is turned off in every podman run (see
//! [`Podman::run`]) so that a filter the probe sees can only be linerate's.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use linerate_integration::checks::{probe, CAP_SETS, NO_CAPS};
use linerate_integration::hooks_file::check_hook_file;
use linerate_integration::policy::{
    assert_control, assert_minimal, assert_profile_from_world_store, assert_sandbox,
    assert_untouched, mount_source, policy_probe, PROFILE_MOUNT,
};
use linerate_integration::{
    compiled_digest, installed_hooks_dir, world_or_skip, Containerd, Engine, Podman, World,
    PROFILE_ANNOTATION,
};
use serde_json::Value;

const SANDBOX: &str = "io.linerate.level=sandbox";

fn runtime(w: &World) -> &str {
    w.bins()
        .runtime
        .to_str()
        .expect("temporary paths are UTF-8")
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// linerate-hook in the target folder, where `linerate install` points the
/// hooks.d files.
///
/// # Panics
///
/// When it is missing: the hooks-only path cannot be tested without it,
/// and a skip would let CI pass with it untested.
fn require_hook_binary(w: &World) -> PathBuf {
    let hook = w.bins().linerate.with_file_name("linerate-hook");
    assert!(
        hook.is_file(),
        "{} is missing: the podman hooks path runs `linerate-hook precreate` from the installed \
         hooks.d files, and this test fails rather than skips without it (build it with \
         `cargo build -p linerate-hook`)",
        hook.display()
    );
    hook
}

// ---- podman --runtime linerate-runtime --------------------------------

/// `podman run --runtime linerate-runtime --annotation
/// io.linerate.level=sandbox` runs at sandbox, with the profile of the
/// test's store.
#[test]
fn podman_runtime_sandbox() {
    let w = world_or_skip!(World::privileged(Engine::Runc));
    let p = world_or_skip!(Podman::start(&w));

    let run = p.run(
        &["--runtime", runtime(&w), "--annotation", SANDBOX],
        &policy_probe(),
    );
    let why = "podman --runtime linerate-runtime at sandbox";
    assert_sandbox(&run, why);
    assert_profile_from_world_store(&w, &p.spec(&run.id), why);
}

/// Without an annotation, `podman run --runtime linerate-runtime` runs at
/// minimal: the capabilities plain podman gives, the deny-list.
#[test]
fn podman_runtime_without_annotation_is_minimal() {
    let w = world_or_skip!(World::privileged(Engine::Runc));
    let p = world_or_skip!(Podman::start(&w));

    let plain = p.run(&[], &policy_probe());
    assert_control(&plain, "podman with runc");
    let run = p.run(&["--runtime", runtime(&w)], &policy_probe());
    assert_minimal(
        &run,
        &plain,
        "podman --runtime linerate-runtime without annotation",
    );
}

/// `podman exec` into a sandbox container started with `--runtime` runs
/// the new process at sandbox too: podman has conmon call
/// `linerate-runtime exec --process FILE ... ID`, which puts linerate-init
/// in front of it. The runtime here is a wrapper that records its command
/// lines and execs linerate-runtime.
#[test]
fn podman_exec_into_runtime_sandbox() {
    let w = world_or_skip!(World::privileged(Engine::Runc));
    let p = world_or_skip!(Podman::start(&w));
    let (recorded, log) = p.recording_runtime();

    let started = p.run_detached(
        &["--runtime", path_str(&recorded), "--annotation", SANDBOX],
        &["sleep", "600"],
    );
    started.expect_success();
    let run = p.exec(&started.id, &policy_probe());
    assert_sandbox(&run, "podman exec into a sandbox container (--runtime)");

    let calls = fs::read_to_string(&log).unwrap_or_default();
    let exec_with_process = calls.lines().any(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        words.contains(&"exec")
            && words
                .windows(2)
                .any(|pair| pair[0] == "--process" && pair[1].starts_with('/'))
    });
    assert!(
        exec_with_process,
        "podman exec should call `linerate-runtime exec --process FILE ...`; the runtime got:\n{calls}"
    );
    p.remove(&started.id);
}

// ---- podman with plain runc and the installed hooks -------------------

/// `podman run --hooks-dir <installed hooks.d> --annotation
/// io.linerate.level=sandbox` with plain runc: the precreate hook rewrites
/// the spec, and the container runs at sandbox with the test's store.
#[test]
fn podman_hooks_sandbox() {
    let w = world_or_skip!(World::privileged(Engine::Runc));
    let p = world_or_skip!(Podman::start(&w));
    require_hook_binary(&w);
    let hooks = installed_hooks_dir(&w);

    let run = p.run(
        &["--hooks-dir", path_str(&hooks), "--annotation", SANDBOX],
        &policy_probe(),
    );
    let why = "podman with runc and the installed hooks at sandbox";
    assert_sandbox(&run, why);
    assert_profile_from_world_store(&w, &p.spec(&run.id), why);
}

/// Through the hooks path, a container without annotation is untouched:
/// no filter, the capabilities plain podman gives, the engine's spec.
#[test]
fn podman_hooks_without_annotation_untouched() {
    let w = world_or_skip!(World::privileged(Engine::Runc));
    let p = world_or_skip!(Podman::start(&w));
    require_hook_binary(&w);
    let hooks = installed_hooks_dir(&w);

    let plain = p.run(&[], &policy_probe());
    assert_control(&plain, "podman with runc");
    let run = p.run(&["--hooks-dir", path_str(&hooks)], &policy_probe());
    let why = "podman with the installed hooks, no annotation";
    assert_untouched(&run, &plain, why);
    let spec = p.spec(&run.id);
    assert_eq!(
        mount_source(&spec, PROFILE_MOUNT),
        None,
        "{why}: the spec was rewritten\n{spec:#}"
    );
}

/// What `podman exec` gets on the hooks path. No hook runs on exec, and
/// podman builds the exec'd process from the container's process as the
/// precreate hook left it, minus linerate-init: its capability sets are
/// the rewritten (empty) ones, but no_new_privs is off, and there is no
/// seccomp filter and no Landlock. The container's first process keeps the
/// whole policy. This pins today's behaviour, a known limitation of the
/// hooks-only path; use `--runtime linerate-runtime` where exec matters.
#[test]
fn podman_hooks_exec_gets_rewritten_capabilities_only() {
    let w = world_or_skip!(World::privileged(Engine::Runc));
    let p = world_or_skip!(Podman::start(&w));
    require_hook_binary(&w);
    let hooks = installed_hooks_dir(&w);

    let started = p.run_detached(
        &["--hooks-dir", path_str(&hooks), "--annotation", SANDBOX],
        &["sleep", "600"],
    );
    started.expect_success();

    let first = p.exec(&started.id, &probe(&[&["status", "1"]]));
    first.expect_success();
    let why = "the first process of a sandbox container on the hooks path";
    first.assert_value("NoNewPrivs", "1", why);
    first.assert_value("Seccomp", "2", why);

    let run = p.exec(&started.id, &policy_probe());
    run.expect_success();
    let why = "podman exec on the hooks path (no hook runs on exec)";
    for set in CAP_SETS {
        run.assert_value(
            set,
            NO_CAPS,
            &format!("{why}: capabilities of the rewritten spec"),
        );
    }
    run.assert_value(
        "NoNewPrivs",
        "0",
        &format!("{why}: no_new_privs is not set"),
    );
    run.assert_value("Seccomp", "0", &format!("{why}: no seccomp filter"));
    assert!(
        run.value("keyctl").starts_with("ret:"),
        "{why}: keyctl reaches the kernel\n{run}"
    );
    run.assert_value("clone3", "errno:EINVAL", why);
    assert_eq!(
        run.all_values("write"),
        ["ok", "ok"],
        "{why}: no Landlock, /etc is writable\n{run}"
    );
    p.remove(&started.id);
}

/// hooks.d files installed next to a linerate-hook that is not there make
/// podman refuse an annotated container rather than run it without
/// linerate. The files are written by `linerate install` run from a folder
/// holding `linerate` alone, as after a half-removed install.
#[test]
fn podman_hooks_with_missing_binary_refuse_the_container() {
    let w = world_or_skip!(World::privileged(Engine::Runc));
    let p = world_or_skip!(Podman::start(&w));

    let bin = w.path().join("bin-without-hook");
    fs::create_dir_all(&bin).expect("create the folder");
    let linerate = bin.join("linerate");
    if fs::hard_link(&w.bins().linerate, &linerate).is_err() {
        fs::copy(&w.bins().linerate, &linerate).expect("copy linerate");
    }
    let prefix = w.path().join("prefix-without-hook");
    let mut install = std::process::Command::new(&linerate);
    install
        .arg("install")
        .arg("--store")
        .arg(w.store())
        .arg("--prefix")
        .arg(&prefix);
    w.set_env(&mut install);
    w.capture(&mut install, "").expect_success();
    let missing = bin.join("linerate-hook");
    assert!(!missing.exists(), "{} should not exist", missing.display());
    let hooks = prefix.join("usr/share/containers/oci/hooks.d");
    let precreate =
        fs::read_to_string(hooks.join("linerate-precreate.json")).expect("read the hook");
    assert!(
        precreate.contains(path_str(&missing)),
        "the installed precreate hook should run {}:\n{precreate}",
        missing.display()
    );

    let run = p.run(
        &["--hooks-dir", path_str(&hooks), "--annotation", SANDBOX],
        &policy_probe(),
    );
    assert!(
        !run.success() && !run.stdout.contains("Seccomp="),
        "podman ran a container that asked for sandbox although the linerate hook it needs is \
         missing; it must refuse it instead (podman drops, without a word, a hook whose \
         `hook.path` does not exist when it reads hooks.d)\n{run}"
    );
}

// ---- the installed hooks.d files ---------------------------------------

/// Every hooks.d file `linerate install --prefix` writes follows the hook
/// schema 1.0.0: its version, an absolute `hook.path`, known stages, and
/// `when.annotations` regexes (compiled as podman's RE2 would) that match
/// `io.linerate.level` and `io.linerate.profile` exactly, with the dots
/// escaped. Together the files cover precreate, a runtime stage and
/// poststop.
#[test]
fn installed_hooks_follow_schema_1_0_0() {
    let w = World::unprivileged();
    let prefix = w.path().join("prefix");
    w.cli(&["install"], &["--prefix", path_str(&prefix)])
        .expect_success();
    let dir = prefix.join("usr/share/containers/oci/hooks.d");

    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("read a folder entry").path())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "install wrote no hooks.d file in {}",
        dir.display()
    );

    let mut stages = BTreeSet::new();
    for file in &files {
        let name = file.display();
        assert!(
            file.extension().is_some_and(|e| e == "json"),
            "{name}: podman reads only *.json hook files"
        );
        let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("read {name}: {e}"));
        let doc: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
        stages.extend(check_hook_file(&doc, &name.to_string()));
    }

    assert!(
        stages.contains("precreate"),
        "no hook for precreate: {stages:?}"
    );
    assert!(
        stages.contains("poststop"),
        "no hook for poststop: {stages:?}"
    );
    assert!(
        stages.contains("createRuntime") || stages.contains("prestart"),
        "no hook for createRuntime or prestart: {stages:?}"
    );
}
// ---- containerd --------------------------------------------------------

/// `ctr run --runtime io.containerd.runc.v2 --runc-binary linerate-runtime
/// --annotation io.linerate.level=sandbox` runs at sandbox. A profile that
/// only the test's store holds runs too, so linerate-runtime got the test's
/// settings through the daemon and its shim.
#[test]
fn containerd_runc_binary_sandbox() {
    let w = world_or_skip!(World::privileged(Engine::Runc));
    let c = world_or_skip!(Containerd::start(&w));

    let run = c.run(
        &["--runc-binary", runtime(&w), "--annotation", SANDBOX],
        &policy_probe(),
    );
    assert_sandbox(&run, "ctr run --runc-binary linerate-runtime at sandbox");

    let name = format!("engines-{}", std::process::id());
    compiled_digest(&w.compile(
        "only-here.toml",
        &format!("extends = \"sandbox\"\nname = \"{name}\"\n"),
    ));
    let annotation = format!("{PROFILE_ANNOTATION}={name}");
    let run = c.run(
        &["--runc-binary", runtime(&w), "--annotation", &annotation],
        &policy_probe(),
    );
    assert_sandbox(&run, "ctr run with a profile only the test's store holds");
}

/// Without an annotation, `ctr run --runc-binary linerate-runtime` runs at
/// minimal: the capabilities and no_new_privs of ctr's own spec, the
/// deny-list.
#[test]
fn containerd_runc_binary_without_annotation_is_minimal() {
    let w = world_or_skip!(World::privileged(Engine::Runc));
    let c = world_or_skip!(Containerd::start(&w));

    let plain = c.run(&[], &policy_probe());
    assert_control(&plain, "ctr run with runc");
    let run = c.run(&["--runc-binary", runtime(&w)], &policy_probe());
    assert_minimal(
        &run,
        &plain,
        "ctr run --runc-binary linerate-runtime without annotation",
    );
}

// ---- linerate install and uninstall ------------------------------------

/// Every file under `dir` with its bytes and modification time.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("read a folder entry").path();
            let meta = fs::symlink_metadata(&path).expect("stat a file");
            if meta.is_dir() {
                todo.push(path);
            } else {
                let bytes =
                    fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
                out.insert(path, (bytes, meta.modified().expect("a modification time")));
            }
        }
    }
    out
}

fn contents(snap: &BTreeMap<PathBuf, (Vec<u8>, SystemTime)>) -> BTreeMap<&PathBuf, &Vec<u8>> {
    snap.iter().map(|(p, (bytes, _))| (p, bytes)).collect()
}

/// `linerate install --prefix P` a second time writes no engine file (each
/// is reported unchanged and keeps its bytes and time) and leaves the store
/// holding the same bytes.
#[test]
fn install_twice_changes_nothing() {
    let w = World::unprivileged();
    let prefix = w.path().join("prefix");
    let args = ["--prefix", path_str(&prefix), "--containerd"];
    w.cli(&["install"], &args).expect_success();
    let (engine_files, store) = (snapshot(&prefix), snapshot(&w.store()));
    assert_eq!(
        engine_files.len(),
        5,
        "install --containerd should write 5 engine files: {:?}",
        engine_files.keys()
    );

    let again = w.cli(&["install"], &args);
    again.expect_success();
    for path in engine_files.keys() {
        let line = format!("unchanged {}", path.display());
        assert!(
            again.stdout.lines().any(|l| l == line),
            "expected `{line}`\n{again}"
        );
    }
    assert!(
        !again.stdout.contains("wrote "),
        "the second install wrote a file\n{again}"
    );
    assert_eq!(
        snapshot(&prefix),
        engine_files,
        "the second install changed an engine file"
    );
    assert_eq!(
        contents(&snapshot(&w.store())),
        contents(&store),
        "the second install changed the store's contents"
    );
}

/// `linerate install --dry-run` names every file it would write and writes
/// nothing: no engine file, no store.
#[test]
fn install_dry_run_writes_nothing() {
    let w = World::unprivileged();
    let prefix = w.path().join("prefix");
    let run = w.cli(
        &["install"],
        &["--prefix", path_str(&prefix), "--containerd", "--dry-run"],
    );
    run.expect_success();

    assert!(
        !prefix.exists(),
        "--dry-run created {}\n{run}",
        prefix.display()
    );
    assert!(
        snapshot(&w.store()).is_empty(),
        "--dry-run wrote into the store {}\n{run}",
        w.store().display()
    );
    for file in [
        "usr/share/containers/oci/hooks.d/linerate-precreate.json",
        "usr/share/containers/oci/hooks.d/linerate-createruntime.json",
        "usr/share/containers/oci/hooks.d/linerate-poststop.json",
        "etc/containers/containers.conf.d/linerate.conf",
        "etc/containerd/conf.d/linerate.toml",
    ] {
        let line = format!("would write {}", prefix.join(file).display());
        assert!(
            run.stdout.lines().any(|l| l == line),
            "expected `{line}`\n{run}"
        );
    }
}

/// `linerate uninstall --prefix P` removes every engine file install wrote,
/// and keeps the store.
#[test]
fn uninstall_removes_the_files() {
    let w = World::unprivileged();
    let prefix = w.path().join("prefix");
    w.cli(
        &["install"],
        &["--prefix", path_str(&prefix), "--containerd"],
    )
    .expect_success();
    let installed = snapshot(&prefix);
    assert!(
        !installed.is_empty(),
        "install wrote nothing under {}",
        prefix.display()
    );
    let store = snapshot(&w.store());

    let run = w.cli(&["uninstall"], &["--prefix", path_str(&prefix)]);
    run.expect_success();
    let left: Vec<PathBuf> = snapshot(&prefix).into_keys().collect();
    assert!(left.is_empty(), "uninstall left {left:?}\n{run}");
    for path in installed.keys() {
        let line = format!("removed {}", path.display());
        assert!(
            run.stdout.lines().any(|l| l == line),
            "expected `{line}`\n{run}"
        );
    }
    assert_eq!(
        contents(&snapshot(&w.store())),
        contents(&store),
        "uninstall changed the store"
    );
}
