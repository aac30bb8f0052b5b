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
        ensure!(
            bytes.len() % 8 == 0,
            "{}: {} bytes, not whole instructions",
            out.display(),
            bytes.len()
        );
        Ok(from_bytes(&bytes))
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

/// Reads a program as `seccomp_export_bpf` writes it: `struct sock_filter`
/// in native byte order, 8 bytes each.
fn from_bytes(bytes: &[u8]) -> Vec<SockFilter> {
    bytes
        .chunks_exact(8)
        .map(|c| SockFilter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect()
}

/// The bytes of a program, as `seccomp_export_bpf` writes it and the
/// helper's `attach` reads it.
pub(crate) fn to_bytes(prog: &[SockFilter]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prog.len() * 8);
    for i in prog {
        out.extend(i.code.to_ne_bytes());
        out.extend([i.jt, i.jf]);
        out.extend(i.k.to_ne_bytes());
    }
    out
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

#[cfg(test)]
mod tests {
    use linerate_profiles::compile::compile_level;
    use linerate_profiles::syscalls::Arch;

    use super::*;

    #[test]
    fn programs_survive_the_helper_file_format() {
        let blob = compile_level("hardened").unwrap();
        for arch in Arch::ALL {
            let prog = blob.filter(arch).unwrap().instructions();
            let bytes = to_bytes(&prog);
            assert_eq!(bytes.len(), prog.len() * 8);
            assert_eq!(from_bytes(&bytes), prog);
        }
    }
}
