//! Container start: `runc run` and `crun run` of busybox `/bin/true`, bare,
//! with Docker's profile in `config.json`, and through linerate-runtime at
//! minimal and sandbox.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use linerate_profiles::Store;
use serde_json::{json, Value};

use super::process::busybox;
use super::{Ctx, Rounds, Variant};
use crate::libseccomp::docker_rules;
use crate::model::Section;

/// crun in a private mount namespace with cgroup v2, as RECIPES.md gives it:
/// crun 1.8 refuses the hybrid cgroup layout of these machines.
const CRUN_WRAPPER: &str = "#!/bin/sh\n\
exec unshare -m sh -c 'mount -t cgroup2 none /sys/fs/cgroup && exec crun --cgroup-manager=disabled \"$@\"' crun \"$@\"\n";

const VARIANTS: [&str; 4] = ["bare", "docker", "minimal", "sandbox"];

struct Setup {
    runc: PathBuf,
    /// `true`, standing in for the real runtime to time linerate-runtime alone.
    truth: PathBuf,
    crun_wrapper: PathBuf,
    runtime: PathBuf,
    init: PathBuf,
    store: PathBuf,
    dir: PathBuf,
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A busybox root filesystem shared by every bundle, read-only in the spec.
fn rootfs(dir: &Path) -> Result<PathBuf> {
    let root = dir.join("rootfs");
    for d in ["bin", "proc", "dev", "sys", "tmp", "etc"] {
        std::fs::create_dir_all(root.join(d))?;
    }
    std::fs::copy(busybox()?, root.join("bin/busybox"))?;
    for l in ["true", "sh"] {
        symlink("busybox", root.join("bin").join(l))?;
    }
    Ok(root)
}

fn write_bundle(dir: &Path, spec: &Value) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(spec)?)?;
    Ok(dir.to_owned())
}

fn setup(ctx: &Ctx<'_>) -> Result<Setup> {
    let dir = ctx.work.join("containers");
    std::fs::create_dir_all(&dir)?;
    let root = rootfs(&dir)?;
    let runc = which("runc").context("runc is not installed")?;

    let template_dir = dir.join("template");
    std::fs::create_dir_all(&template_dir)?;
    let out = Command::new(&runc)
        .arg("spec")
        .arg("--bundle")
        .arg(&template_dir)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "runc spec: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let mut spec: Value =
        serde_json::from_slice(&std::fs::read(template_dir.join("config.json"))?)?;
    spec["process"]["terminal"] = json!(false);
    spec["process"]["args"] = json!(["/bin/true"]);
    spec["root"] = json!({ "path": root, "readonly": true });

    let text = std::fs::read_to_string(&ctx.opts.profile)?;
    let (_, docker, _) = docker_rules(&serde_json::from_str(&text)?)?;

    for rt in ["runc", "crun"] {
        for v in VARIANTS {
            let mut s = spec.clone();
            match v {
                "docker" => s["linux"]["seccomp"] = docker.clone(),
                "minimal" | "sandbox" => s["annotations"] = json!({ "io.linerate.level": v }),
                _ => {}
            }
            if rt == "crun" {
                // The device filter would make crun raise RLIMIT_MEMLOCK, which fails here.
                if let Some(linux) = s["linux"].as_object_mut() {
                    linux.remove("resources");
                }
            }
            write_bundle(&dir.join(format!("{rt}-{v}")), &s)?;
        }
    }

    write_bundle(&dir.join("shim-sandbox"), &{
        let mut s = spec.clone();
        s["annotations"] = json!({ "io.linerate.level": "sandbox" });
        s
    })?;
    write_bundle(&dir.join("shim-direct"), &spec)?;
    let truth = which("true").context("no true on PATH")?;

    let crun_wrapper = dir.join("crun-wrapper");
    std::fs::write(&crun_wrapper, CRUN_WRAPPER)?;
    std::fs::set_permissions(&crun_wrapper, std::fs::Permissions::from_mode(0o755))?;

    let store = ctx.work.join("store");
    let s = Store::new(&store);
    for level in ["minimal", "sandbox"] {
        s.put(&ctx.blob(level).2, Some(level))
            .with_context(|| format!("storing {level}"))?;
    }
    let runtime = ctx.opts.bins.join("linerate-runtime");
    let init = ctx.opts.bins.join("linerate-init");
    anyhow::ensure!(
        runtime.is_file() && init.is_file(),
        "linerate-runtime and linerate-init are not built in {}",
        ctx.opts.bins.display()
    );
    Ok(Setup {
        runc,
        truth,
        crun_wrapper,
        runtime,
        init,
        store,
        dir,
    })
}

impl Setup {
    /// The command that starts one container of variant `v` under `rt`.
    fn command(&self, rt: &str, v: &str, id: &str) -> Command {
        let real: &Path = match rt {
            "runc" => &self.runc,
            "shim" => &self.truth,
            _ => &self.crun_wrapper,
        };
        let bundle = self.dir.join(format!("{rt}-{v}"));
        let state = self.dir.join(format!("{rt}-state"));
        let mut c = if v == "minimal" || v == "sandbox" {
            let mut c = Command::new(&self.runtime);
            c.env("LINERATE_RUNTIME", real)
                .env("LINERATE_STORE", &self.store)
                .env("LINERATE_INIT", &self.init)
                .env("LINERATE_CONFIG", self.dir.join("no-config.toml"));
            c
        } else {
            Command::new(real)
        };
        c.arg("--root")
            .arg(state)
            .arg("run")
            .arg("--bundle")
            .arg(bundle)
            .arg(id);
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    }

    /// Starts one container and waits for it: milliseconds.
    fn start(&self, rt: &str, v: &str, id: &str) -> Result<f64> {
        let mut c = self.command(rt, v, id);
        let t0 = Instant::now();
        let out = c
            .spawn()
            .with_context(|| format!("{rt} {v}"))?
            .wait_with_output()?;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        if !out.status.success() {
            bail!(
                "{rt} {v}: exit {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(ms)
    }
}

pub(super) fn start(ctx: &mut Ctx<'_>) -> Result<Section> {
    let rounds = ctx.opts.pick(100, 8);
    let setup = setup(ctx)?;
    let mut counter = 0u64;
    let mut id = |rt: &str, v: &str| {
        counter += 1;
        format!("lrb-{}-{rt}-{v}-{counter}", std::process::id())
    };

    // One start of each variant first: it warms the caches and finds what cannot run here.
    let mut runnable = Vec::new();
    for rt in ["runc", "crun"] {
        if rt == "crun" && which("crun").is_none() {
            ctx.notes
                .push("crun is not installed: its container starts are not measured.".to_owned());
            continue;
        }
        for v in VARIANTS {
            match setup.start(rt, v, &id(rt, v)) {
                Ok(_) => runnable.push((rt, v)),
                Err(e) => ctx.notes.push(format!(
                    "Container start, {rt} {v}: not measured, the first start failed: {e:#}"
                )),
            }
        }
    }

    // linerate-runtime's own work: the whole rewrite, then `true` in place of the runtime.
    for v in ["direct", "sandbox"] {
        match setup.start("shim", v, &id("shim", v)) {
            Ok(_) => runnable.push(("shim", v)),
            Err(e) => ctx
                .notes
                .push(format!("Container start, shim {v}: not measured: {e:#}")),
        }
    }

    let ids = std::cell::RefCell::new(id);
    let setup_ref = &setup;
    let mut variants: Vec<Variant<'_>> = runnable
        .iter()
        .map(|&(rt, v)| {
            let ids = &ids;
            Box::new(move || {
                let id = (ids.borrow_mut())(rt, v);
                Ok(vec![(
                    format!("{rt}.{v}"),
                    vec![setup_ref.start(rt, v, &id)?],
                )])
            }) as Variant<'_>
        })
        .collect();
    let r = Rounds::run(rounds, &mut variants)?;
    drop(variants);
    let mut s = r.section(
        "ms",
        1.0,
        &[
            ("runc.bare", "runc run, no seccomp (baseline)"),
            ("runc.docker", "runc run, Docker's profile in config.json"),
            ("runc.minimal", "linerate-runtime → runc, minimal"),
            ("runc.sandbox", "linerate-runtime → runc, sandbox"),
            ("crun.bare", "crun run, no seccomp (baseline)"),
            ("crun.docker", "crun run, Docker's profile in config.json"),
            ("crun.minimal", "linerate-runtime → crun, minimal"),
            ("crun.sandbox", "linerate-runtime → crun, sandbox"),
            (
                "shim.direct",
                "`true` with runc's arguments (baseline for the next row)",
            ),
            (
                "shim.sandbox",
                "linerate-runtime, sandbox, with `true` as the real runtime",
            ),
        ],
    );
    for rt in ["runc", "crun"] {
        for (a, b) in [
            ("docker", "bare"),
            ("minimal", "bare"),
            ("sandbox", "bare"),
            ("sandbox", "docker"),
        ] {
            s.diffs
                .extend(r.diff(&format!("{rt}.{a}"), &format!("{rt}.{b}"), 1.0));
        }
    }
    s.diffs.extend(r.diff("shim.sandbox", "shim.direct", 1.0));
    s.facts.push(
        "busybox /bin/true from a read-only busybox root filesystem, `runc spec` defaults otherwise; \
         wall time from spawn to exit of `run` (create, start, wait, delete); crun runs through the \
         unshare wrapper of RECIPES.md in every variant, without linux.resources"
            .to_owned(),
    );
    Ok(s)
}
