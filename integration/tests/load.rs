//! Load: 100 containers through linerate-runtime at sandbox, 10 at a time.
//! Every one shows its policy from inside, and nothing leaks: descriptors
//! of the test process, mounts, files under /run/linerate, temporary
//! files beside config.json or in the store, containers.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use linerate_integration::checks::probe;
use linerate_integration::hostile::{
    leftovers, mounts_mentioning, open_fds, run_bounded, run_files,
};
use linerate_integration::{world_or_skip, Engine, World};

const CONTAINERS: usize = 100;
const AT_ONCE: usize = 10;

#[test]
fn a_hundred_sandbox_containers_all_enforced_nothing_leaked() {
    let w = world_or_skip!(World::privileged(Engine::Runc));
    let marker = format!("lr-{}-", std::process::id());
    let world_path = w.path().display().to_string();

    // Build every bundle and its command first: a World stays on this thread.
    let mut jobs = Vec::new();
    for _ in 0..CONTAINERS {
        let b = w.bundle(&probe(&[&["status"]])).level("sandbox");
        w.write_config(&b);
        let mut cmd = w.runtime_command();
        cmd.args(["run", "--bundle"]).arg(&b.dir).arg(&b.id);
        jobs.push((b, cmd));
    }

    let fds_before = open_fds();
    let mounts_before = mounts_mentioning(&world_path);
    let run_before = run_files(&marker);

    let started = Instant::now();
    let queue = Mutex::new(
        jobs.into_iter()
            .map(|(b, cmd)| (b.id.clone(), b.dir.clone(), cmd))
            .collect::<Vec<_>>(),
    );
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..AT_ONCE {
            s.spawn(|| loop {
                let Some((id, dir, cmd)) = queue.lock().unwrap().pop() else {
                    break;
                };
                let out = run_bounded(cmd, Duration::from_secs(60));
                results.lock().unwrap().push((id, dir, out));
            });
        }
    });
    let took = started.elapsed();

    let results = results.into_inner().unwrap();
    assert_eq!(results.len(), CONTAINERS);
    let mut failed = Vec::new();
    for (id, _, (code, stdout, stderr, timed_out)) in &results {
        let ok = *code == Some(0)
            && !timed_out
            && stdout.lines().any(|l| l == "NoNewPrivs=1")
            && stdout.lines().any(|l| l == "Seccomp=2")
            && stdout.lines().any(|l| l == "CapEff=0000000000000000");
        if !ok {
            failed.push(format!(
                "{id}: code {code:?} timed out {timed_out}\n{stdout}\n{stderr}"
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {CONTAINERS} containers did not show their policy:\n{}",
        failed.len(),
        failed.join("\n")
    );

    assert_eq!(
        open_fds(),
        fds_before,
        "descriptors leaked into the test process"
    );
    assert_eq!(
        mounts_mentioning(&world_path),
        mounts_before,
        "mounts left behind"
    );
    assert_eq!(
        run_files(&marker),
        run_before,
        "files left under /run/linerate"
    );
    let left = leftovers(&w.path().join("bundles"), "\u{0}", ".linerate-");
    assert!(left.is_empty(), "temporary spec files left: {left:?}");
    let left = leftovers(&w.store(), ".tmp-", "\u{0}");
    assert!(left.is_empty(), "temporary store files left: {left:?}");
    let containers = w.containers();
    assert!(containers.is_empty(), "containers left: {containers:?}");
    w.cli(&["store", "verify"], &[]).expect_success();
    eprintln!("NOTE: {CONTAINERS} sandbox containers, {AT_ONCE} at a time, in {took:?}");
}
