//! Processes: compile time, linerate-init from exec to exec, the hook, and
//! Landlock's cost on open().

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use linerate_profiles::compile::compile_level;
use linerate_profiles::syscalls::Arch;
use linerate_profiles::Blob;

use super::{Ctx, Rounds, Variant};
use crate::model::{CompileRow, Section};
use crate::stats::Summary;

/// The static busybox that every process measurement runs as its command.
pub(super) fn busybox() -> Result<PathBuf> {
    ["/usr/bin/busybox", "/bin/busybox"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .context("no busybox (install busybox-static)")
}

/// Compile time and blob size per level; the digest check and decode that
/// linerate-init does on every start.
pub(super) fn compile(ctx: &Ctx<'_>) -> Result<Vec<CompileRow>> {
    let rounds = ctx.opts.pick(30, 5);
    let per = ctx.opts.pick(10, 3);
    let levels = ["minimal", "sandbox", "hardened"];
    let mut variants: Vec<Variant<'_>> = Vec::new();
    for level in levels {
        variants.push(Box::new(move || {
            let mut c = Vec::new();
            let mut v = Vec::new();
            for _ in 0..per {
                let t0 = Instant::now();
                let blob = compile_level(level)?;
                let t1 = Instant::now();
                let bytes = blob.to_bytes();
                let digest = linerate_profiles::Digest::of(&bytes);
                let t2 = Instant::now();
                let back = Blob::verify(&bytes, &digest)?;
                let t3 = Instant::now();
                anyhow::ensure!(back == blob, "a blob did not decode to itself");
                c.push((t1 - t0).as_secs_f64() * 1e6);
                v.push((t3 - t2).as_secs_f64() * 1e6);
            }
            Ok(vec![
                (format!("{level}.compile"), c),
                (format!("{level}.verify"), v),
            ])
        }));
    }
    let r = Rounds::run(rounds, &mut variants)?;
    drop(variants);
    let mut rows = Vec::new();
    for level in levels {
        let blob = &ctx.blob(level).2;
        let len = |a| blob.filter(a).map_or(0, |f| f.program.len());
        rows.push(CompileRow {
            level: level.to_owned(),
            compile_us: Summary::of(&r.samples[&format!("{level}.compile")]),
            verify_us: Summary::of(&r.samples[&format!("{level}.verify")]),
            blob_bytes: blob.to_bytes().len(),
            insns_x86_64: len(Arch::X86_64),
            insns_aarch64: len(Arch::Aarch64),
        });
    }
    Ok(rows)
}

/// Spawns `cmd`, waits, and returns the wall time in microseconds; the
/// capabilities are dropped in the child first when `drop_caps`.
fn timed(cmd: &mut Command, drop_caps: bool) -> Result<f64> {
    timed_exit(cmd, drop_caps, 0)
}

/// As [`timed`], expecting exit code `code`.
fn timed_exit(cmd: &mut Command, drop_caps: bool, code: i32) -> Result<f64> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    crate::sys::before_exec(cmd, drop_caps);
    let t0 = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("spawning {:?}", cmd.get_program()))?;
    let out = child.wait_with_output()?;
    let us = t0.elapsed().as_secs_f64() * 1e6;
    if out.status.code() != Some(code) {
        bail!(
            "{:?} exited with {}: {}",
            cmd.get_program(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(us)
}

/// linerate-init from its exec to the exec of the command, as the
/// difference with running the command directly.
pub(super) fn init(ctx: &mut Ctx<'_>) -> Result<Section> {
    let rounds = ctx.opts.pick(100, 8);
    let per = ctx.opts.pick(5, 3);
    let busybox = busybox()?;
    let init = ctx.opts.bins.join("linerate-init");
    anyhow::ensure!(init.is_file(), "{} is not built", init.display());
    let ctx_ref: &Ctx<'_> = ctx;

    let direct = |drop_caps: bool| {
        let busybox = busybox.clone();
        move || -> Result<Vec<f64>> {
            (0..per)
                .map(|_| timed(Command::new(&busybox).arg("true"), drop_caps))
                .collect()
        }
    };
    let through = |level: &str, drop_caps: bool| {
        let (blob, digest, _) = ctx_ref.blob(level).clone();
        let (init, busybox) = (init.clone(), busybox.clone());
        move || -> Result<Vec<f64>> {
            (0..per)
                .map(|_| {
                    let mut c = Command::new(&init);
                    c.arg("--digest")
                        .arg(digest.to_string())
                        .arg("--blob")
                        .arg(&blob)
                        .arg("--")
                        .arg(&busybox)
                        .arg("true");
                    timed(&mut c, drop_caps)
                })
                .collect()
        }
    };
    let (d_caps, d_nocaps) = (direct(false), direct(true));
    let (i_min, i_sand) = (through("minimal", false), through("sandbox", true));
    let (blob, digest, _) = ctx_ref.blob("sandbox").clone();
    let blob = blob.to_str().context("path")?.to_owned();
    let digest = digest.to_string();
    // linerate-init refusing its arguments at once: the floor of exec and exit.
    let init_exit = || -> Result<Vec<f64>> {
        (0..per)
            .map(|_| timed_exit(&mut Command::new(&init), true, 121))
            .collect()
    };
    let mut variants: Vec<Variant<'_>> = vec![
        Box::new(move || Ok(vec![("direct.caps".to_owned(), d_caps()?)])),
        Box::new(move || Ok(vec![("direct.nocaps".to_owned(), d_nocaps()?)])),
        Box::new(move || Ok(vec![("init.minimal".to_owned(), i_min()?)])),
        Box::new(move || Ok(vec![("init.sandbox".to_owned(), i_sand()?)])),
        Box::new(move || Ok(vec![("init.exit".to_owned(), init_exit()?)])),
        Box::new(|| {
            let lines = ctx_ref.child(&["apply", &blob, &digest, &per.to_string()])?;
            Ok(vec![
                (
                    "apply.read".to_owned(),
                    lines.iter().map(|l| l[0] / 1000.0).collect(),
                ),
                (
                    "apply.apply".to_owned(),
                    lines.iter().map(|l| l[1] / 1000.0).collect(),
                ),
            ])
        }),
    ];
    let r = Rounds::run(rounds, &mut variants)?;
    drop(variants);
    let mut s = r.section(
        "us",
        1.0,
        &[
            (
                "direct.caps",
                "busybox true, spawned directly (baseline, capabilities kept)",
            ),
            ("init.minimal", "linerate-init minimal, then busybox true"),
            (
                "direct.nocaps",
                "busybox true, spawned directly, capabilities dropped (baseline)",
            ),
            ("init.sandbox", "linerate-init sandbox, then busybox true"),
            (
                "init.exit",
                "linerate-init exiting at once on a usage error (exec and exit only)",
            ),
            (
                "apply.read",
                "inside init: read, verify and decode the sandbox blob",
            ),
            (
                "apply.apply",
                "inside init: apply sandbox (no_new_privs, capability check, Landlock, seccomp)",
            ),
        ],
    );
    s.diffs.extend(r.diff("init.minimal", "direct.caps", 1.0));
    s.diffs.extend(r.diff("init.sandbox", "direct.nocaps", 1.0));
    s.diffs.extend(r.diff("init.exit", "direct.nocaps", 1.0));
    s.facts.push(format!(
        "wall time from spawn to exit of {} true; linerate-init's cost is the difference with the direct run, \
         paired round by round; it includes one more execve of a static binary",
        busybox.display()
    ));
    Ok(s)
}

fn find_hook(bins: &Path) -> Option<PathBuf> {
    let here = bins.join("linerate-hook");
    if here.is_file() {
        return Some(here);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("linerate-hook"))
        .find(|p| p.is_file())
}

/// The hook from exec to exit, when it exists: createRuntime and poststop
/// of a sandbox container, the path every container that is not hardened
/// takes. A hardened entry needs BPF-LSM, which this host refuses.
pub(super) fn hook(ctx: &mut Ctx<'_>) -> Result<Option<Section>> {
    let Some(hook) = find_hook(&ctx.opts.bins) else {
        ctx.notes.push(format!(
            "The hook: not built yet (no linerate-hook in {} or on PATH); not measured.",
            ctx.opts.bins.display()
        ));
        return Ok(None);
    };
    let runs = ctx.opts.pick(1000, 100);
    let busybox = busybox()?;
    let store = ctx.work.join("hook-store");
    let s = linerate_profiles::Store::new(&store);
    for level in ["minimal", "sandbox"] {
        s.put(&ctx.blob(level).2, Some(level))?;
    }
    let config = ctx.work.join("no-config.toml");
    let state = |status: &str| {
        serde_json::json!({
            "ociVersion": "1.0.2",
            "id": "linerate-bench-hook",
            "status": status,
            "pid": std::process::id(),
            "bundle": ctx.work.display().to_string(),
            "annotations": { "io.linerate.level": "sandbox" },
        })
        .to_string()
    };
    let (creating, stopped) = (state("creating"), state("stopped"));
    let run = |program: &Path, arg: &str, input: &str| -> Result<f64> {
        use std::io::Write;
        let mut cmd = Command::new(program);
        cmd.arg(arg)
            .env("LINERATE_STORE", &store)
            .env("LINERATE_CONFIG", &config)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let t0 = Instant::now();
        let mut child = cmd.spawn()?;
        // A program that does not read its input (the baseline) may be gone already.
        let stdin = child.stdin.take().context("stdin");
        match stdin?.write_all(input.as_bytes()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
            _ => {}
        }
        let out = child.wait_with_output()?;
        let us = t0.elapsed().as_secs_f64() * 1e6;
        if !out.status.success() {
            bail!(
                "{} {arg} exited with {}: {}",
                program.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(us)
    };
    let per = 10;
    let many = |program: &Path, arg: &str, input: &str| -> Result<Vec<f64>> {
        (0..per).map(|_| run(program, arg, input)).collect()
    };
    let mut variants: Vec<Variant<'_>> = vec![
        Box::new(|| {
            Ok(vec![(
                "create".to_owned(),
                many(&hook, "createRuntime", &creating)?,
            )])
        }),
        Box::new(|| {
            Ok(vec![(
                "poststop".to_owned(),
                many(&hook, "poststop", &stopped)?,
            )])
        }),
        Box::new(|| {
            Ok(vec![(
                "baseline".to_owned(),
                many(&busybox, "true", &creating)?,
            )])
        }),
    ];
    let r = match Rounds::run(runs / per, &mut variants) {
        Ok(r) => r,
        Err(e) => {
            ctx.notes.push(format!(
                "The hook: {} failed, not measured: {e:#}",
                hook.display()
            ));
            return Ok(None);
        }
    };
    drop(variants);
    let mut s = r.section(
        "us",
        1.0,
        &[
            ("create", "linerate-hook createRuntime, sandbox container"),
            ("poststop", "linerate-hook poststop, sandbox container"),
            (
                "baseline",
                "busybox true with the same stdin (exec and exit only)",
            ),
        ],
    );
    s.diffs.extend(r.diff("create", "baseline", 1.0));
    s.diffs.extend(r.diff("poststop", "baseline", 1.0));
    s.facts.push(format!(
        "{runs} runs of each, {}; a hardened container's entry needs BPF-LSM, which this host's kernel \
         refuses, so that path is for the VM",
        hook.display()
    ));
    Ok(Some(s))
}

/// ns per open()+close() at several path depths, with and without the
/// sandbox Landlock ruleset.
pub(super) fn landlock(ctx: &mut Ctx<'_>) -> Result<Section> {
    let rounds = ctx.opts.pick(12, 3);
    let iters: u64 = if ctx.opts.quick { 20_000 } else { 200_000 };
    let base = ctx.work.join("ll");
    let depths = [1usize, 10, 25];
    let mut files = Vec::new();
    for depth in depths {
        let mut dir = base.join(format!("depth{depth}"));
        for _ in 1..depth {
            dir = dir.join("d");
        }
        std::fs::create_dir_all(&dir)?;
        let file = dir.join("f");
        std::fs::write(&file, b"x")?;
        files.push((depth, file));
    }
    let (blob, digest, _) = ctx.blob("sandbox").clone();
    let (blob, digest) = (
        blob.to_str().context("path")?.to_owned(),
        digest.to_string(),
    );
    let ctx_ref: &Ctx<'_> = ctx;
    let mut variants: Vec<Variant<'_>> = Vec::new();
    for (depth, file) in &files {
        for ruleset in [false, true] {
            let file = file.to_str().context("path")?.to_owned();
            let (blob, digest) = (blob.clone(), digest.clone());
            variants.push(Box::new(move || {
                let iters = iters.to_string();
                let mut args = vec!["landlock", file.as_str(), iters.as_str(), "1"];
                if ruleset {
                    args.extend(["--blob", blob.as_str(), "--digest", digest.as_str()]);
                }
                let key = format!("depth{depth}.{}", if ruleset { "sandbox" } else { "none" });
                Ok(vec![(
                    key,
                    ctx_ref.child(&args)?.into_iter().map(|l| l[0]).collect(),
                )])
            }));
        }
    }
    let r = Rounds::run(rounds, &mut variants)?;
    drop(variants);
    let mut s = r.section(
        "ns",
        1.0,
        &[
            ("depth1.none", "depth 1, no ruleset"),
            ("depth1.sandbox", "depth 1, sandbox ruleset"),
            ("depth10.none", "depth 10, no ruleset"),
            ("depth10.sandbox", "depth 10, sandbox ruleset"),
            ("depth25.none", "depth 25, no ruleset"),
            ("depth25.sandbox", "depth 25, sandbox ruleset"),
        ],
    );
    for d in depths {
        s.diffs
            .extend(r.diff(&format!("depth{d}.sandbox"), &format!("depth{d}.none"), 1.0));
    }
    let base_depth = base.components().count() - 1;
    s.facts.push(format!(
        "depth N: open(O_RDONLY)+close of a file inside N nested directories under a folder {base_depth} \
         components below / (the absolute path has {base_depth}+N+1 components), {iters} times per fresh \
         process; the sandbox ruleset grants read at / only, so Landlock walks every component up to the root"
    ));
    Ok(s)
}
