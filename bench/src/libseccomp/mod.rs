//! The libseccomp side: policies written as rules for `bench/c/seccomp_bench`,
//! which builds, exports, loads and times them with libseccomp.
//!
//! Two policies go through it. Docker's default profile, as
//! containers-common ships it, resolved the way podman resolves it for its
//! default capabilities (see [`docker_rules`]); and linerate's own levels,
//! translated rule for rule (see [`policy_rules`]) so that the instruction
//! counts compare two layouts of one policy.

mod docker;
mod translate;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use linerate_profiles::seccomp::{Action, SockFilter};

pub(crate) use docker::docker_rules;
pub(crate) use translate::policy_rules;

use crate::cbpf;

/// libseccomp's two layouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// The default: rules sorted by priority, tested one after the other.
    Linear,
    /// `SCMP_FLTATR_CTL_OPTIMIZE = 2`: a binary tree over syscall numbers.
    Tree,
}

impl Layout {
    pub(crate) const BOTH: [Layout; 2] = [Layout::Linear, Layout::Tree];

    pub(crate) fn word(self) -> &'static str {
        match self {
            Layout::Linear => "linear",
            Layout::Tree => "tree",
        }
    }
}

/// The compiled helper.
#[derive(Clone, Debug)]
pub(crate) struct Helper {
    pub(crate) path: PathBuf,
}

impl Helper {
    fn output(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(&self.path)
            .args(args)
            .output()
            .with_context(|| format!("running {}", self.path.display()))?;
        ensure!(
            out.status.success(),
            "{} {}: {}",
            self.path.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(String::from_utf8(out.stdout)?)
    }

    /// Builds `rules` with libseccomp in `layout` and returns its BPF.
    pub(crate) fn export(
        &self,
        rules: &Path,
        layout: Layout,
        out: &Path,
    ) -> Result<Vec<SockFilter>> {
        self.output(&["export", &path_str(rules)?, layout.word(), &path_str(out)?])?;
        let bytes = std::fs::read(out).with_context(|| format!("reading {}", out.display()))?;
        Ok(cbpf::from_bytes(&bytes))
    }

    /// `n` fresh children building and loading `rules`: (build ns, load ns) each.
    pub(crate) fn build_load(
        &self,
        rules: &Path,
        layout: Layout,
        n: usize,
    ) -> Result<Vec<(f64, f64)>> {
        let text = self.output(&[
            "build-load",
            &path_str(rules)?,
            layout.word(),
            &n.to_string(),
        ])?;
        text.lines()
            .map(|l| {
                let mut w = l.split_whitespace().map(str::parse::<f64>);
                match (w.next(), w.next()) {
                    (Some(Ok(b)), Some(Ok(l))) => Ok((b, l)),
                    _ => bail!("unexpected helper output `{l}`"),
                }
            })
            .collect()
    }

    /// `n` fresh children attaching the raw program in `bpf`: ns each.
    pub(crate) fn attach(&self, bpf: &Path, n: usize) -> Result<Vec<f64>> {
        let text = self.output(&["attach", &path_str(bpf)?, &n.to_string()])?;
        text.lines()
            .map(|l| {
                l.trim()
                    .parse::<f64>()
                    .with_context(|| format!("helper output `{l}`"))
            })
            .collect()
    }

    /// One fresh child: attach `bpf` (or nothing), then ns per call of `syscall`.
    pub(crate) fn syscall_loop(
        &self,
        bpf: Option<&Path>,
        syscall: &str,
        iters: u64,
    ) -> Result<f64> {
        let bpf = match bpf {
            Some(p) => path_str(p)?,
            None => "none".to_owned(),
        };
        let text = self.output(&["loop", &bpf, syscall, &iters.to_string()])?;
        text.trim()
            .parse::<f64>()
            .with_context(|| format!("helper output `{text}`"))
    }
}

fn path_str(p: &Path) -> Result<String> {
    p.to_str()
        .map(str::to_owned)
        .with_context(|| format!("{} is not UTF-8", p.display()))
}

/// The word of an action in the rules file.
pub(crate) fn action_word(a: Action) -> String {
    match a {
        Action::Allow => "allow".to_owned(),
        Action::Log => "log".to_owned(),
        Action::KillProcess => "kill_process".to_owned(),
        Action::Errno(e) => format!("errno:{e}"),
    }
}
