//! Bad input, each refused with one clear line and a non-zero exit, leaving
//! nothing half-applied: profiles the compiler must refuse (and the store
//! left as it was), `config.json` the shim must refuse or run with the full
//! policy, damaged or swapped blobs, names that could be paths, a store
//! others may write, and a level annotation in the wrong case.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use linerate_integration::checks::probe;
use linerate_integration::hostile::{assert_refused_untouched, spec_on_disk, INIT_IN_CONTAINER};
use linerate_integration::store::{blob_path, named_digest};
use linerate_integration::{world_or_skip, Bundle, Engine, Run, World, LEVEL_ANNOTATION};
use serde_json::json;

const E: Engine = Engine::Runc;

/// Asserts a CLI refusal: non-zero, one line on stderr starting `linerate:`
/// and containing `needle`, nothing on stdout.
fn assert_cli_refused(run: &Run, needle: &str) {
    assert!(!run.success(), "expected a refusal\n{run}");
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "expected one line on stderr\n{run}");
    assert!(lines[0].starts_with("linerate: "), "{run}");
    assert!(
        lines[0].contains(needle),
        "the line should say `{needle}`\n{run}"
    );
    assert!(run.stdout.trim().is_empty(), "{run}");
}

/// Profiles the compiler refuses, each with its reason; the store is left
/// byte for byte as it was.
#[test]
fn bad_profiles_are_refused_and_the_store_is_untouched() {
    let w = World::unprivileged();
    w.install();
    let index = fs::read(w.store().join("index.json")).expect("index.json");
    let blobs = linerate_integration::store::blob_files(&w.store());

    w.write_file("cycle-a.toml", "extends = \"cycle-b.toml\"\n");
    let cases: &[(&str, &str, &str)] = &[
        ("wrong-type.toml", "[process]\nno_new_privs = \"yes\"\n", "wrong-type.toml:2"),
        ("wrong-list.toml", "[seccomp]\nallow = \"read\"\n", "wrong-list.toml:2"),
        ("huge-arg.toml", "[[seccomp.rule]]\nsyscall = \"ioctl\"\narg = 300\neq = 1\naction = \"EPERM\"\n", "huge-arg.toml:3"),
        ("huge-eq.toml", "[[seccomp.rule]]\nsyscall = \"ioctl\"\narg = 1\neq = 99999999999999999999\naction = \"EPERM\"\n", "huge-eq.toml:4"),
        ("huge-abi.toml", "[landlock]\nmin_abi = 100000\n", "huge-abi.toml:2"),
        ("big-abi.toml", "[landlock]\nmin_abi = 200\n", "min_abi 200"),
        ("cycle-b.toml", "extends = \"cycle-a.toml\"\n", "cycle"),
        ("empty-allow.toml", "[seccomp]\ndefault = \"EPERM\"\nallow = []\n", "execve"),
        ("typo.toml", "extends = \"sandbox\"\n[seccomp]\nallow = [\"fooat2\"]\n", "fooat2"),
        ("not-toml.toml", "[seccomp\nallow = [", "not-toml.toml:1"),
        ("nul.toml", "name = \"a\u{0}b\"\n[seccomp]\nallow = [\"\u{0}\"]\n", "nul.toml"),
    ];
    for (file, text, needle) in cases {
        let run = w.compile(file, text);
        assert_cli_refused(&run, needle);
    }

    // Names that could be paths, given on the command line.
    let ok = w.write_file("ok.toml", "extends = \"sandbox\"\n");
    let ok = ok.to_str().expect("utf-8");
    for name in [
        "../x",
        "/etc/passwd",
        "a/b",
        ".hidden",
        "Upper",
        "",
        "sha256:abc",
    ] {
        let run = w.cli(&["compile"], &[ok, "--name", name]);
        assert_cli_refused(&run, "not a profile name");
    }

    assert_eq!(
        fs::read(w.store().join("index.json")).expect("index.json"),
        index,
        "index.json changed"
    );
    assert_eq!(
        linerate_integration::store::blob_files(&w.store()),
        blobs,
        "blobs were added"
    );
}

/// A profile that names itself like a path is refused too.
#[test]
fn a_profile_naming_itself_like_a_path_is_refused() {
    let w = World::unprivileged();
    let run = w.compile(
        "evil.toml",
        "name = \"../../etc/cron.d/x\"\nextends = \"sandbox\"\n",
    );
    assert_cli_refused(&run, "not a profile name");
    assert!(!w.path().join("etc").exists());
}

/// One line saying how a run ended, for the test log.
fn outcome(run: &Run) -> String {
    if run.success() {
        format!("ran, Seccomp={:?}", run.values().get("Seccomp"))
    } else {
        format!("refused: {}", run.stderr.trim().replace('\n', " | "))
    }
}

fn probe_bundle(w: &World) -> Bundle {
    w.bundle(&probe(&[&["status"]]))
}

/// A refused start through linerate-runtime, checked to the end.
fn refused(w: &World, bundle: &Bundle, why: &str) -> Run {
    assert_refused_untouched(w, w.runtime_command(), bundle, why)
}

/// One way to damage a spec.
type Edit = Box<dyn Fn(&mut serde_json::Value)>;

/// config.json without a process, with empty or non-string args, with a
/// process that is not an object, with linerate's own mount point taken,
/// or not an object at all: refused, untouched.
#[test]
fn bad_configs_are_refused_untouched() {
    let w = world_or_skip!(World::privileged(E));
    let edits: Vec<(&str, Edit)> = vec![
        (
            "no process",
            Box::new(|s| {
                s.as_object_mut().unwrap().remove("process");
            }),
        ),
        ("process null", Box::new(|s| s["process"] = json!(null))),
        ("empty args", Box::new(|s| s["process"]["args"] = json!([]))),
        (
            "args not strings",
            Box::new(|s| s["process"]["args"] = json!([1, 2])),
        ),
        (
            "args a string",
            Box::new(|s| s["process"]["args"] = json!("/bin/sh")),
        ),
        (
            "mount at /.linerate",
            Box::new(|s| {
                s["mounts"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"destination": "/.linerate", "type": "tmpfs", "source": "tmpfs"}))
            }),
        ),
        (
            "mount at /.linerate/init",
            Box::new(|s| {
                s["mounts"].as_array_mut().unwrap().push(
                    json!({"destination": "/.linerate/init/", "type": "tmpfs", "source": "tmpfs"}),
                )
            }),
        ),
        (
            "mounts not a list",
            Box::new(|s| s["mounts"] = json!({"a": 1})),
        ),
        (
            "capabilities not an object",
            Box::new(|s| s["process"]["capabilities"] = json!("all")),
        ),
        (
            "namespaces not a list",
            Box::new(|s| s["linux"]["namespaces"] = json!("none")),
        ),
        (
            "forged original",
            Box::new(|s| {
                s["annotations"]["io.linerate.original"] =
            json!(json!({"process": {"args": ["sh"]}, "mounts": [{"destination": "/host", "type": "bind", "source": "/"}], "namespaces": null}).to_string())
            }),
        ),
    ];
    for (why, edit) in &edits {
        let mut b = probe_bundle(&w).level("sandbox");
        edit(&mut b.spec);
        refused(&w, &b, why);
    }

    let b = probe_bundle(&w);
    fs::write(b.dir.join("config.json"), "[1, 2]").unwrap();
    let mut cmd = w.runtime_command();
    cmd.args(["run", "--bundle"]).arg(&b.dir).arg(&b.id);
    let run = w.capture(&mut cmd, &b.id);
    w.assert_refused(&run, "config.json an array");
    assert_eq!(
        fs::read_to_string(b.dir.join("config.json")).unwrap(),
        "[1, 2]"
    );
}

/// Relative paths: a relative cwd is refused by the runtime with nothing
/// run; a relative command is found like any other, under the policy.
#[test]
fn relative_paths_fail_closed() {
    let w = world_or_skip!(World::privileged(E));
    let run = w.run(&probe_bundle(&w).level("sandbox").cwd("tmp"));
    assert!(!run.success(), "a relative cwd must not start\n{run}");
    assert!(run.stdout.trim().is_empty(), "{run}");

    let run = w.run(
        &w.bundle(&["usr/bin/linerate-probe", "status"])
            .level("sandbox"),
    );
    eprintln!("NOTE: relative command: {}", outcome(&run));
    if run.success() {
        run.assert_value("Seccomp", "2", "a relative command runs under the filter");
        run.assert_value("NoNewPrivs", "1", "and no_new_privs");
    } else {
        assert!(run.stdout.trim().is_empty(), "{run}");
    }
}

/// A read-only root filesystem and a root filesystem reached through a
/// symlink: the container starts with the whole policy, or not at all.
#[test]
fn readonly_and_symlinked_rootfs_run_with_the_policy() {
    let w = world_or_skip!(World::privileged(E));
    let mut b = probe_bundle(&w).level("sandbox");
    b.spec["root"]["readonly"] = json!(true);
    let run = w.run(&b);
    run.expect_success();
    run.assert_value("Seccomp", "2", "read-only root");
    run.assert_value("NoNewPrivs", "1", "read-only root");

    let b = probe_bundle(&w).level("sandbox");
    let real = b.dir.join("real-rootfs");
    fs::rename(b.rootfs(), &real).unwrap();
    std::os::unix::fs::symlink(&real, b.rootfs()).unwrap();
    let run = w.run(&b);
    eprintln!("NOTE: symlinked root: {}", outcome(&run));
    if run.success() {
        run.assert_value("Seccomp", "2", "symlinked root");
        run.assert_value("NoNewPrivs", "1", "symlinked root");
    } else {
        assert!(run.stdout.trim().is_empty(), "{run}");
        w.assert_no_container(&b.id);
    }

    // A /.linerate that the image already has (a file in the way, or a
    // symlink pointing out) must not let the command run without the policy.
    let b = probe_bundle(&w).level("sandbox");
    fs::write(b.rootfs().join(".linerate"), "in the way").unwrap();
    let run = w.run(&b);
    eprintln!("NOTE: /.linerate a file: {}", outcome(&run));
    assert!(!run.success() || run.value("Seccomp") == "2", "{run}");
    let b = probe_bundle(&w).level("sandbox");
    std::os::unix::fs::symlink("/tmp", b.rootfs().join(".linerate")).unwrap();
    let run = w.run(&b);
    eprintln!("NOTE: /.linerate a symlink to /tmp: {}", outcome(&run));
    assert!(!run.success() || run.value("Seccomp") == "2", "{run}");
}

/// An empty file in place of the blob, a truncated blob, and the contents
/// of two profiles' blobs swapped: every one refused for its digest.
#[test]
fn truncated_and_swapped_blobs_are_refused() {
    let w = world_or_skip!(World::privileged(E));
    let ls = w.cli(&["store", "ls"], &[]);
    ls.expect_success();
    let layer = |name: &str| {
        let suffix = format!(" {name}");
        let line = ls
            .stdout
            .lines()
            .find(|l| l.ends_with(&suffix))
            .expect("the level is listed");
        blob_path(&w.store(), line.split(' ').next().expect("a digest"))
    };
    let (sandbox, minimal) = (layer("sandbox"), layer("minimal"));
    let (s, m) = (fs::read(&sandbox).unwrap(), fs::read(&minimal).unwrap());

    fs::write(&sandbox, &s[..s.len() / 2]).unwrap();
    let r = refused(
        &w,
        &probe_bundle(&w).level("sandbox"),
        "truncated sandbox blob",
    );
    assert!(
        r.stderr.contains("digest") || r.stderr.contains("not a linerate blob"),
        "{r}"
    );
    fs::write(&sandbox, b"").unwrap();
    refused(&w, &probe_bundle(&w).level("sandbox"), "empty sandbox blob");

    fs::write(&sandbox, &m).unwrap();
    fs::write(&minimal, &s).unwrap();
    for level in ["sandbox", "minimal"] {
        let r = refused(
            &w,
            &probe_bundle(&w).level(level),
            &format!("{level} blob swapped"),
        );
        assert!(
            r.stderr.contains("digest"),
            "the refusal names the digest\n{r}"
        );
    }
    fs::write(&sandbox, &s).unwrap();
    fs::write(&minimal, &m).unwrap();
    w.run(&probe_bundle(&w).level("sandbox")).expect_success();
}

/// Profile references that are paths, or digests of the wrong length or
/// case, and level annotations in the wrong case: refused.
#[test]
fn bad_references_are_refused() {
    let w = world_or_skip!(World::privileged(E));
    let sandbox = named_digest(&w.store(), "sandbox").expect("sandbox is named");
    let layer = linerate_integration::store::reachable_blobs(&w.store(), &sandbox);
    assert!(!layer.is_empty());
    let hex = "a".repeat(64);
    let refs = [
        "../sandbox".to_owned(),
        "../../../../etc/passwd".to_owned(),
        "/etc/passwd".to_owned(),
        w.store()
            .join("blobs/sha256")
            .join(&hex)
            .display()
            .to_string(),
        format!("sha256:{}", &hex[..63]),
        format!("sha256:{hex}0"),
        format!("sha256:{}", hex.to_uppercase()),
        format!("sha512:{hex}"),
        "sha256:".to_owned(),
        format!("sha256:../{}", &hex[..61]),
    ];
    for r in &refs {
        refused(&w, &probe_bundle(&w).profile(r), &format!("profile {r}"));
    }
    for level in [
        "SANDBOX",
        "Sandbox",
        "sandbox ",
        " sandbox",
        "sand\u{0}box",
        "sandbox\n",
        "hardened\u{200b}",
    ] {
        let b = probe_bundle(&w).annotation(LEVEL_ANNOTATION, level);
        refused(&w, &b, &format!("level {level:?}"));
    }
}

/// A store, its blob folder, a blob or index.json that others may write is
/// not trusted: the container is refused.
#[test]
fn a_store_writable_by_others_is_refused() {
    let w = world_or_skip!(World::privileged(E));
    let store = w.store();
    let digest = named_digest(&store, "sandbox").expect("sandbox is named");
    let manifest = blob_path(&store, &digest);
    let paths = [
        store.clone(),
        store.join("blobs/sha256"),
        store.join("index.json"),
        manifest,
    ];
    for p in &paths {
        let mode = fs::metadata(p).unwrap().permissions().mode();
        fs::set_permissions(p, fs::Permissions::from_mode(mode | 0o002)).unwrap();
        let r = refused(
            &w,
            &probe_bundle(&w).level("sandbox"),
            &format!("{} writable by others", p.display()),
        );
        assert!(
            r.stderr.contains("not trusted"),
            "the refusal says why\n{r}"
        );
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    }
    w.run(&probe_bundle(&w).level("sandbox")).expect_success();
}

/// After a refused start the rewritten spec never appears; after a good
/// one, its process starts with linerate-init.
#[test]
fn a_good_start_is_wrapped() {
    let w = world_or_skip!(World::privileged(E));
    let b = probe_bundle(&w).level("sandbox");
    w.run(&b).expect_success();
    assert_eq!(spec_on_disk(&b)["process"]["args"][0], INIT_IN_CONTAINER);
}
