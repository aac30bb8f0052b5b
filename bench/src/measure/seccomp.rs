//! Seccomp: the programs compared, filter attach, and syscall cost.

use std::path::PathBuf;

use anyhow::{Context, Result};
use linerate_profiles::seccomp::SockFilter;
use linerate_profiles::syscalls::Arch;
use linerate_profiles::Policy;

use super::{Ctx, Rounds, Variant};
use crate::libseccomp::{docker_rules, policy_rules, to_bytes, Layout};
use crate::model::Section;

/// `SIGCHLD`, the flags of a plain fork through clone.
pub(super) const SIGCHLD: u64 = 17;
/// `TCGETS`, an ioctl request no level refuses.
pub(super) const TCGETS: u64 = 0x5401;

/// The programs compared, written to the work folder.
pub(super) struct Programs {
    /// linerate's filter, by level.
    ours: Vec<(String, Vec<SockFilter>)>,
    /// libseccomp's output for linerate's policy, by level and layout.
    translated: Vec<(String, Layout, Vec<SockFilter>)>,
    /// libseccomp's output for Docker's profile, by layout.
    docker: Vec<(Layout, Vec<SockFilter>)>,
}

impl Programs {
    pub(super) fn ours(&self, level: &str) -> &[SockFilter] {
        &self
            .ours
            .iter()
            .find(|(l, _)| l == level)
            .expect("built for every level")
            .1
    }

    pub(super) fn translated(&self, level: &str, layout: Layout) -> &[SockFilter] {
        &self
            .translated
            .iter()
            .find(|(l, y, _)| l == level && *y == layout)
            .expect("built")
            .2
    }

    pub(super) fn docker(&self, layout: Layout) -> &[SockFilter] {
        &self
            .docker
            .iter()
            .find(|(y, _)| *y == layout)
            .expect("built")
            .1
    }
}

fn bpf_path(ctx: &Ctx<'_>, name: &str) -> PathBuf {
    ctx.work.join(format!("{name}.bpf"))
}

/// Writes every program once; later sections read the files.
pub(super) fn programs(ctx: &mut Ctx<'_>) -> Result<Programs> {
    let text = std::fs::read_to_string(&ctx.opts.profile)
        .with_context(|| format!("reading Docker's profile {}", ctx.opts.profile.display()))?;
    let profile: serde_json::Value = serde_json::from_str(&text).context("Docker's profile")?;
    let (rules, _, _) = docker_rules(&profile)?;
    let docker_rules_path = ctx.work.join("docker.rules");
    std::fs::write(&docker_rules_path, rules)?;
    let mut docker = Vec::new();
    for layout in Layout::BOTH {
        let out = bpf_path(ctx, &format!("docker-{}", layout.word()));
        docker.push((layout, ctx.helper.export(&docker_rules_path, layout, &out)?));
    }

    let mut ours = Vec::new();
    let mut translated = Vec::new();
    for level in ["sandbox", "hardened"] {
        let prog = ctx
            .blob(level)
            .2
            .filter(Arch::X86_64)
            .context("no x86_64 filter")?
            .instructions();
        std::fs::write(bpf_path(ctx, level), to_bytes(&prog))?;
        ours.push((level.to_owned(), prog));
        let policy = Policy::level(level).context("level")??;
        let (rules, _) = policy_rules(&policy)?;
        let path = ctx.work.join(format!("{level}.rules"));
        std::fs::write(&path, rules)?;
        for layout in Layout::BOTH {
            let out = bpf_path(ctx, &format!("{level}-libseccomp-{}", layout.word()));
            translated.push((
                level.to_owned(),
                layout,
                ctx.helper.export(&path, layout, &out)?,
            ));
        }
    }
    let one = [SockFilter {
        code: 0x06,
        jt: 0,
        jf: 0,
        k: 0x7fff_0000,
    }];
    std::fs::write(bpf_path(ctx, "one"), to_bytes(&one))?;
    Ok(Programs {
        ours,
        translated,
        docker,
    })
}

/// Writes every program the sections read: linerate's, libseccomp's and the
/// one-instruction filter.
pub(super) fn prepare(ctx: &mut Ctx<'_>) -> Result<()> {
    programs(ctx).map(|_| ())
}

/// Filter attach: ours against libseccomp building and loading Docker's profile.
pub(super) fn attach(ctx: &mut Ctx<'_>) -> Result<Section> {
    let rounds = ctx.opts.pick(20, 5);
    let n = ctx.opts.pick(10, 4);
    let helper = ctx.helper.clone();
    let ours_bpf = bpf_path(ctx, "sandbox");
    let rules = ctx.work.join("docker.rules");
    let (blob, digest, _) = ctx.blob("sandbox").clone();
    let digest = digest.to_string();
    let blob = blob.to_str().context("path")?.to_owned();
    let ctx_ref: &Ctx<'_> = ctx;

    let mut variants: Vec<Variant<'_>> = vec![
        Box::new(|| {
            Ok(vec![(
                "ours.attach".to_owned(),
                helper.attach(&ours_bpf, n)?,
            )])
        }),
        Box::new(|| {
            let lines = ctx_ref.child(&["blob-attach", &blob, &digest, &n.to_string()])?;
            let read = lines.iter().map(|l| l[0]).collect();
            let total = lines.iter().map(|l| l[0] + l[1]).collect();
            Ok(vec![
                ("ours.read".to_owned(), read),
                ("ours.blob".to_owned(), total),
            ])
        }),
    ];
    for layout in Layout::BOTH {
        let helper = helper.clone();
        let rules = rules.clone();
        let w = layout.word();
        variants.push(Box::new(move || {
            let s = helper.build_load(&rules, layout, n)?;
            Ok(vec![
                (format!("docker.{w}.build"), s.iter().map(|x| x.0).collect()),
                (format!("docker.{w}.load"), s.iter().map(|x| x.1).collect()),
                (
                    format!("docker.{w}.total"),
                    s.iter().map(|x| x.0 + x.1).collect(),
                ),
            ])
        }));
        let helper = ctx_ref.helper.clone();
        let bpf = bpf_path(ctx_ref, &format!("docker-{w}"));
        variants.push(Box::new(move || {
            Ok(vec![(
                format!("docker.{w}.attach"),
                helper.attach(&bpf, n)?,
            )])
        }));
    }
    let r = Rounds::run(rounds, &mut variants)?;
    drop(variants);
    Ok(r.section(
        "us",
        1000.0,
        &[
            (
                "ours.attach",
                "linerate sandbox: seccomp() of the stored program",
            ),
            (
                "ours.blob",
                "linerate sandbox: read, verify and decode the blob, then seccomp()",
            ),
            ("ours.read", "  of which read, verify and decode"),
            (
                "docker.tree.total",
                "libseccomp tree: build Docker's profile and load it",
            ),
            ("docker.tree.build", "  of which build the rules"),
            (
                "docker.tree.load",
                "  of which seccomp_load (generate BPF, seccomp())",
            ),
            (
                "docker.tree.attach",
                "  seccomp() of libseccomp's tree program alone",
            ),
            (
                "docker.linear.total",
                "libseccomp linear: build Docker's profile and load it",
            ),
            ("docker.linear.build", "  of which build the rules"),
            (
                "docker.linear.load",
                "  of which seccomp_load (generate BPF, seccomp())",
            ),
            (
                "docker.linear.attach",
                "  seccomp() of libseccomp's linear program alone",
            ),
        ],
    ))
}

/// ns per getpid and ioctl call under each filter, each sample in a fresh child.
pub(super) fn syscalls(ctx: &mut Ctx<'_>) -> Result<Section> {
    let rounds = ctx.opts.pick(15, 4);
    let iters: u64 = if ctx.opts.quick { 200_000 } else { 1_000_000 };
    let filters: [(&str, Option<PathBuf>); 6] = [
        ("none", None),
        ("one", Some(bpf_path(ctx, "one"))),
        ("sandbox", Some(bpf_path(ctx, "sandbox"))),
        ("hardened", Some(bpf_path(ctx, "hardened"))),
        ("docker.linear", Some(bpf_path(ctx, "docker-linear"))),
        ("docker.tree", Some(bpf_path(ctx, "docker-tree"))),
    ];
    let helper = ctx.helper.clone();
    let mut variants: Vec<Variant<'_>> = Vec::new();
    for call in ["getpid", "ioctl"] {
        for (key, bpf) in &filters {
            let helper = &helper;
            variants.push(Box::new(move || {
                Ok(vec![(
                    format!("{call}.{key}"),
                    vec![helper.syscall_loop(bpf.as_deref(), call, iters)?],
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
            ("getpid.none", "getpid, no filter"),
            ("getpid.one", "getpid, 1-instruction filter (ret ALLOW)"),
            ("getpid.sandbox", "getpid, linerate sandbox"),
            ("getpid.hardened", "getpid, linerate hardened"),
            (
                "getpid.docker.linear",
                "getpid, Docker's profile (libseccomp linear, its default layout)",
            ),
            (
                "getpid.docker.tree",
                "getpid, Docker's profile (libseccomp tree)",
            ),
            ("ioctl.none", "ioctl TCGETS, no filter"),
            ("ioctl.one", "ioctl TCGETS, 1-instruction filter"),
            ("ioctl.sandbox", "ioctl TCGETS, linerate sandbox"),
            (
                "ioctl.hardened",
                "ioctl TCGETS, linerate hardened (argument rule: runs the filter)",
            ),
            (
                "ioctl.docker.linear",
                "ioctl TCGETS, Docker's profile (libseccomp linear)",
            ),
            (
                "ioctl.docker.tree",
                "ioctl TCGETS, Docker's profile (libseccomp tree)",
            ),
        ],
    );
    for call in ["getpid", "ioctl"] {
        for f in ["one", "sandbox", "hardened", "docker.linear", "docker.tree"] {
            s.diffs
                .extend(r.diff(&format!("{call}.{f}"), &format!("{call}.none"), 1.0));
        }
        for f in ["sandbox", "hardened"] {
            s.diffs
                .extend(r.diff(&format!("{call}.{f}"), &format!("{call}.one"), 1.0));
        }
    }
    s.facts.push(format!(
        "{iters} calls per sample after a warm-up of a tenth as many; one fresh process per sample"
    ));
    Ok(s)
}
