//! Faults around linerate: the real runtime missing, unusable or failing
//! after the spec was rewritten; the store's disk full in the middle of
//! `linerate compile`; two compiles writing one store at once; and SIGKILL
//! of linerate-runtime and linerate-init at any moment. Afterwards no
//! command runs without its policy, no partial blob is visible, and the
//! store still serves the previous version of every name.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use linerate_integration::checks::{probe, sh};
use linerate_integration::hostile::{
    assert_refused_untouched, config_on_disk, leftovers, run_bounded, script, sha256_file,
    spec_on_disk, INIT_IN_CONTAINER,
};
use linerate_integration::{compiled_digest, require_root, world_or_skip, Engine, World};
use serde_json::Value;

const E: Engine = Engine::Runc;

/// The real runtime is missing, not executable, or a folder: refused with
/// one line, config.json untouched.
#[test]
fn unusable_runtime_is_refused_untouched() {
    let w = world_or_skip!(World::privileged(E));
    let not_exec = w.write_file("not-exec", "#!/bin/sh\nexit 0\n");
    fs::set_permissions(&not_exec, fs::Permissions::from_mode(0o644)).unwrap();
    for runtime in [
        PathBuf::from("/nonexistent/runc"),
        not_exec,
        w.path().to_owned(),
        PathBuf::from("no-such-runtime"),
    ] {
        let mut cmd = w.runtime_command();
        cmd.env("LINERATE_RUNTIME", &runtime);
        let b = w.bundle(&probe(&[&["status"]])).level("sandbox");
        assert_refused_untouched(&w, cmd, &b, &format!("runtime {}", runtime.display()));
    }
}

/// A runtime that fails after linerate rewrote the spec (exit 1, or killed
/// by a signal): linerate-runtime passes its failure on, the container never
/// runs, and the bundle is left either as the engine wrote it or as a
/// faithful rewrite: running it again through linerate gives the same
/// spec, and even the real runtime alone, bypassing linerate, starts
/// linerate-init with the policy.
#[test]
fn a_runtime_failing_after_the_rewrite_leaves_a_usable_bundle() {
    let w = world_or_skip!(World::privileged(E));
    for (name, body) in [
        ("exit1", "echo 'fake runtime: failed' >&2\nexit 1"),
        ("killed", "kill -9 $$"),
    ] {
        let fake = script(&w, name, body);
        let b = w.bundle(&probe(&[&["status"]])).level("sandbox");
        let mut cmd = w.runtime_command();
        cmd.env("LINERATE_RUNTIME", &fake);
        let run = w.run_with(cmd, &b);
        assert!(!run.success(), "{name}: the failure is passed on\n{run}");
        assert!(run.stdout.trim().is_empty(), "{name}: nothing ran\n{run}");
        w.assert_no_container(&b.id);

        let after = spec_on_disk(&b);
        eprintln!(
            "NOTE: {name}: exit {:?}, config.json left {}",
            run.status.code(),
            if after["process"]["args"][0] == INIT_IN_CONTAINER {
                "rewritten"
            } else {
                "as written"
            }
        );
        if after["process"]["args"][0] != INIT_IN_CONTAINER {
            continue;
        }

        // Again through linerate: the same spec comes out, and it runs.
        let mut cmd = w.runtime_command();
        cmd.args(["run", "--bundle"]).arg(&b.dir).arg(&b.id);
        let again = w.capture(&mut cmd, &b.id);
        again.expect_success();
        again.assert_value("Seccomp", "2", "rerun through linerate");
        assert_eq!(
            spec_on_disk(&b),
            after,
            "{name}: a rerun rewrites to the same spec"
        );

        // The real runtime alone on the left-over bundle still runs the policy.
        let mut cmd = w.engine_command();
        cmd.args(["run", "--bundle"])
            .arg(&b.dir)
            .arg(format!("{}-plain", b.id));
        let plain = w.capture(&mut cmd, &format!("{}-plain", b.id));
        plain.expect_success();
        plain.assert_value("Seccomp", "2", "plain runc on a rewritten bundle");
        plain.assert_value("NoNewPrivs", "1", "plain runc on a rewritten bundle");
    }
}

/// Every file under blobs/sha256 hashes to its name: no partial blob is
/// visible; and no temporary file is left in the store.
fn assert_store_whole(store: &Path) {
    for blob in linerate_integration::store::blob_files(store) {
        let name = blob.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        assert_eq!(
            sha256_file(&blob),
            name,
            "{} does not match its name",
            blob.display()
        );
    }
    let left = leftovers(store, ".tmp-", "\u{0}");
    assert!(
        left.is_empty(),
        "temporary files left in the store: {left:?}"
    );
    let index: Value = serde_json::from_slice(&fs::read(store.join("index.json")).unwrap())
        .expect("index.json is JSON");
    assert!(index["manifests"].is_array(), "{index}");
}

/// Unmounts `dir` when dropped.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The store on a small tmpfs, filled so that a new version of a name
/// runs out of space at each step of `linerate compile` (blob, config,
/// manifest, index.json): the compile fails with one line, no partial blob
/// appears, and the name keeps serving its previous version.
#[test]
fn disk_full_during_compile_keeps_the_previous_version() {
    if !require_root() {
        return;
    }
    let w = World::unprivileged();
    let mnt = w.path().join("small");
    fs::create_dir_all(&mnt).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=512k,mode=0755", "tmpfs"])
        .arg(&mnt)
        .status();
    assert!(
        ok.is_ok_and(|s| s.success()),
        "mount a tmpfs on {}",
        mnt.display()
    );
    let _mounted = Mounted(mnt.clone());
    let store = mnt.join("store");
    let cli = |args: &[&str]| {
        let mut cmd = Command::new(&w.bins().linerate);
        cmd.args(args).arg("--store").arg(&store);
        w.set_env(&mut cmd);
        w.capture(&mut cmd, "")
    };

    let v1 = w.write_file("v1.toml", "name = \"web\"\nextends = \"sandbox\"\n");
    let first = compiled_digest(&cli(&["compile", v1.to_str().unwrap()]));
    let filler = mnt.join("filler");

    let mut failures = 0;
    for (i, free_kib) in [0u64, 4, 8, 12, 16, 20, 24, 28, 32, 40, 48]
        .into_iter()
        .enumerate()
    {
        // A new, bigger version each time, so that nothing is already stored.
        let extra: Vec<String> = (0..i + 1).map(|_| "\"ptrace\"".to_owned()).collect();
        let text = format!(
            "name = \"web\"\nextends = \"sandbox\"\n# version {i}\n[seccomp]\nallow = [{}]\n",
            extra.join(", ")
        );
        let v2 = w.write_file(&format!("v2-{i}.toml"), &text);

        let _ = fs::remove_file(&filler);
        let stat = nix_free_bytes(&mnt);
        let fill = stat.saturating_sub(free_kib * 1024);
        let mut f = fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 4096];
        let mut written = 0;
        while written < fill {
            use std::io::Write;
            if f.write_all(&chunk).is_err() {
                break;
            }
            written += 4096;
        }
        drop(f);

        let run = cli(&["compile", v2.to_str().unwrap()]);
        assert_store_whole(&store);
        if run.success() {
            // It fitted: the name moved, and the store is whole.
            let _ = fs::remove_file(&filler);
            let back = cli(&["compile", v1.to_str().unwrap()]);
            assert_eq!(compiled_digest(&back), first);
            continue;
        }
        failures += 1;
        assert_eq!(run.stderr_lines().len(), 1, "one line\n{run}");
        assert!(run.stdout.trim().is_empty(), "{run}");
        let _ = fs::remove_file(&filler);
        let ls = cli(&["store", "ls"]);
        ls.expect_success();
        assert!(
            ls.stdout.contains(&format!("{first} web")),
            "`web` still names its first version\n{ls}"
        );
        cli(&["store", "verify"]).expect_success();
        cli(&["store", "show", "web"]).expect_success();
    }
    assert!(
        failures >= 3,
        "the disk was never full enough to fail a compile ({failures} failures)"
    );
    eprintln!(
        "NOTE: disk full: {failures} of 11 compiles failed for space, the store stayed whole"
    );
}

/// Free bytes on the filesystem of `dir`.
fn nix_free_bytes(dir: &Path) -> u64 {
    let out = Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(dir)
        .output()
        .expect("df");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .expect("df prints a number")
}

/// 20 pairs of `linerate compile` writing one store at once, 40 processes:
/// each pair two names, and one name that every process writes. At the
/// end index.json is valid and names all 40 profiles, the shared name
/// points at one of the versions, and `store verify` passes.
#[test]
fn concurrent_compiles_lose_nothing() {
    let w = World::unprivileged();
    w.install();
    let mut children = Vec::new();
    for i in 0..20 {
        for side in ["a", "b"] {
            let text = format!("name = \"p{i}-{side}\"\nextends = \"sandbox\"\n# {i}{side}\n");
            let file = w.write_file(&format!("p{i}-{side}.toml"), &text);
            let shared = w.write_file(
                &format!("s{i}-{side}.toml"),
                &format!("name = \"shared\"\nextends = \"minimal\"\n# {i}{side}\n"),
            );
            let script = format!(
                "{bin} compile {f} --store {s} && {bin} compile {g} --store {s}",
                bin = w.bins().linerate.display(),
                f = file.display(),
                g = shared.display(),
                s = w.store().display()
            );
            let mut cmd = Command::new("sh");
            cmd.args(["-c", &script])
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            w.set_env(&mut cmd);
            children.push(cmd.spawn().expect("spawn compile"));
        }
    }
    for c in children {
        let out = c.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "a concurrent compile failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let ls = w.cli(&["store", "ls"], &[]);
    ls.expect_success();
    for i in 0..20 {
        for side in ["a", "b"] {
            assert!(
                ls.stdout.contains(&format!(" p{i}-{side}\n")),
                "p{i}-{side} was lost\n{ls}"
            );
        }
    }
    assert_eq!(
        ls.stdout.lines().filter(|l| l.ends_with(" shared")).count(),
        1,
        "{ls}"
    );
    for level in ["minimal", "sandbox", "hardened"] {
        assert!(
            ls.stdout.contains(&format!(" {level}\n")),
            "{level} was lost\n{ls}"
        );
    }
    w.cli(&["store", "verify"], &[]).expect_success();
    assert_store_whole(&w.store());
}

/// SIGKILL of linerate-runtime at random moments of `run`: whatever the
/// moment, the command either never ran or ran with the policy, the
/// bundle is as written or a faithful rewrite, and cleanup leaves nothing.
#[test]
fn killing_the_runtime_at_any_moment_never_runs_without_policy() {
    let w = world_or_skip!(World::privileged(E));
    let script = "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status > /tmp/status.tmp && mv /tmp/status.tmp /tmp/status";
    let mut ran = 0;
    for i in 0..16u64 {
        let b = w.bundle(&sh(script)).level("sandbox");
        w.write_config(&b);
        let mut cmd = w.runtime_command();
        cmd.args(["run", "--bundle"])
            .arg(&b.dir)
            .arg(&b.id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("spawn linerate-runtime");
        std::thread::sleep(Duration::from_millis(i * i));
        let _ = child.kill();
        let _ = child.wait();
        w.remove(&b.id);

        let status = b.rootfs().join("tmp/status");
        if let Ok(text) = fs::read_to_string(&status) {
            ran += 1;
            assert!(
                text.contains("Seccomp:\t2") && text.contains("NoNewPrivs:\t1"),
                "ran without the policy: {text}"
            );
        }
        let spec = spec_on_disk(&b);
        if spec["process"]["args"][0] == INIT_IN_CONTAINER {
            let mut again = spec.clone();
            assert!(
                linerate_shim_like_restore(&mut again),
                "a rewritten spec keeps its original"
            );
        }
        w.assert_no_container(&b.id);
    }
    eprintln!("NOTE: runtime killed 16 times; the command ran (with its policy) {ran} times");
}

/// Whether `spec` carries the saved original, as linerate writes it.
fn linerate_shim_like_restore(spec: &mut Value) -> bool {
    spec["annotations"]["io.linerate.original"]
        .as_str()
        .is_some_and(|s| serde_json::from_str::<Value>(s).is_ok())
}

/// The container's first process killed between create and start (before
/// linerate-init ever runs): start fails, the command never runs.
#[test]
fn killing_the_container_before_init_never_runs_the_command() {
    let w = world_or_skip!(World::privileged(E));
    let b = w.bundle(&sh("touch /tmp/ran")).level("sandbox");
    w.create(&b).expect_success();
    let pid = w
        .state(&b.id)
        .and_then(|s| s["pid"].as_i64())
        .expect("a created container has a pid");
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill");
    std::thread::sleep(Duration::from_millis(100));
    let start = w.start(&b.id);
    assert!(!start.success(), "start after the kill must fail\n{start}");
    w.remove(&b.id);
    assert!(!b.rootfs().join("tmp/ran").exists(), "the command ran");
    let _ = config_on_disk(&b);
}

/// linerate-init itself killed: blocked reading its profile (a FIFO), and
/// at random moments of its run on the host as an unprivileged user.
/// Whenever the command ran, it ran with the whole policy.
#[test]
fn killing_linerate_init_never_runs_the_command_without_policy() {
    if !require_root() {
        return;
    }
    let w = World::unprivileged();
    w.install();
    let ls = w.cli(&["store", "ls"], &[]);
    let digest = ls
        .stdout
        .lines()
        .find(|l| l.ends_with(" sandbox"))
        .and_then(|l| l.split(' ').next())
        .expect("sandbox")
        .to_owned();
    let blob = linerate_integration::store::blob_path(&w.store(), &digest);
    let work = w.path().join("kill");
    fs::create_dir_all(&work).unwrap();
    fs::set_permissions(w.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&work, fs::Permissions::from_mode(0o777)).unwrap();
    let nobody = |cmd: &mut Command| {
        // SAFETY: prctl, setgroups, setgid and setuid are async-signal-safe
        // and touch nothing of the parent.
        unsafe {
            cmd.pre_exec(|| {
                for cap in 0..64 {
                    libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0);
                }
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(65534) != 0
                    || libc::setuid(65534) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    };

    // Blocked on its profile.
    let fifo = work.join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    fs::set_permissions(&fifo, fs::Permissions::from_mode(0o666)).unwrap();
    let marker = work.join("ran-fifo");
    let mut cmd = Command::new(&w.bins().init);
    cmd.args(["--digest", &digest, "--blob"])
        .arg(&fifo)
        .arg("--")
        .args(["/bin/touch"])
        .arg(&marker);
    nobody(&mut cmd);
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn linerate-init");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        child.try_wait().unwrap().is_none(),
        "linerate-init waits for its profile"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !marker.exists(),
        "the command ran although linerate-init was killed before installing anything"
    );

    // A full run for reference, then kills at moments spread over it.
    let script = |out: &Path| {
        format!(
            "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status > {0}.tmp && mv {0}.tmp {0}",
            out.display()
        )
    };
    let full = work.join("full");
    let mut cmd = Command::new(&w.bins().init);
    cmd.args(["--digest", &digest, "--blob"])
        .arg(&blob)
        .arg("--")
        .args(["/bin/sh", "-c", &script(&full)]);
    nobody(&mut cmd);
    let started = Instant::now();
    let (code, _, err, _) = run_bounded(cmd, Duration::from_secs(20));
    let took = started.elapsed();
    assert_eq!(code, Some(0), "linerate-init runs the command: {err}");
    let text = fs::read_to_string(&full).unwrap();
    assert!(
        text.contains("Seccomp:\t2") && text.contains("NoNewPrivs:\t1"),
        "{text}"
    );

    let mut ran = 0;
    for i in 0..24u32 {
        let out = work.join(format!("ran-{i}"));
        let mut cmd = Command::new(&w.bins().init);
        cmd.args(["--digest", &digest, "--blob"])
            .arg(&blob)
            .arg("--")
            .args(["/bin/sh", "-c", &script(&out)]);
        nobody(&mut cmd);
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn linerate-init");
        std::thread::sleep(took * i / 30);
        let _ = child.kill();
        let _ = child.wait();
        if let Ok(text) = fs::read_to_string(&out) {
            ran += 1;
            assert!(
                text.contains("Seccomp:\t2") && text.contains("NoNewPrivs:\t1"),
                "ran without the policy: {text}"
            );
        }
    }
    eprintln!("NOTE: linerate-init killed 24 times over {took:?}; the command completed {ran} times, always under the policy");
}
