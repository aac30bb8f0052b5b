//! Samples that must run in a process of their own: a filter or a Landlock
//! ruleset stays on a process for good. Each subcommand forks one child per
//! sample and prints one line per sample on stdout.

use std::ffi::CString;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use linerate_profiles::seccomp::SockFilter;
use linerate_profiles::syscalls::Arch;
use linerate_profiles::Digest;
use linerate_shim::apply::{self, Options};
use linerate_shim::init::read_blob;

use crate::sys;

#[derive(Subcommand)]
pub(crate) enum Child {
    /// linerate-init's seccomp path: read and verify the blob, attach its filter.
    /// Prints `read_ns attach_ns`.
    BlobAttach {
        blob: PathBuf,
        digest: String,
        n: usize,
    },
    /// linerate-init's whole install, with every capability dropped first as the
    /// runtime does for sandbox. Prints `read_ns apply_ns`.
    Apply {
        blob: PathBuf,
        digest: String,
        n: usize,
    },
    /// ns per open()+close() of `path`, under the blob's Landlock ruleset or none.
    Landlock {
        path: PathBuf,
        iters: u64,
        n: usize,
        /// The blob whose ruleset to apply; none when absent.
        #[arg(long)]
        blob: Option<PathBuf>,
        #[arg(long)]
        digest: Option<String>,
    },
}

pub(crate) fn run(what: Child) -> Result<()> {
    match what {
        Child::BlobAttach { blob, digest, n } => {
            let digest: Digest = digest.parse().context("digest")?;
            samples(n, || {
                set_no_new_privs()?;
                let t0 = Instant::now();
                let b = read_blob(&blob, &digest)
                    .map_err(|e| anyhow::anyhow!(linerate_shim::init::chain(&e)))?;
                let prog = b
                    .filter(Arch::X86_64)
                    .context("no x86_64 filter")?
                    .instructions();
                let t1 = Instant::now();
                attach(&prog)?;
                let t2 = Instant::now();
                Ok(format!("{} {}", (t1 - t0).as_nanos(), (t2 - t1).as_nanos()))
            })
        }
        Child::Apply { blob, digest, n } => {
            let digest: Digest = digest.parse().context("digest")?;
            samples(n, || {
                drop_all_caps()?;
                let t0 = Instant::now();
                let b = read_blob(&blob, &digest)
                    .map_err(|e| anyhow::anyhow!(linerate_shim::init::chain(&e)))?;
                let t1 = Instant::now();
                apply::apply(&b, &Options::default())
                    .map_err(|e| anyhow::anyhow!(linerate_shim::init::chain(&e)))?;
                let t2 = Instant::now();
                Ok(format!("{} {}", (t1 - t0).as_nanos(), (t2 - t1).as_nanos()))
            })
        }
        Child::Landlock {
            path,
            iters,
            n,
            blob,
            digest,
        } => {
            let ruleset = match (blob, digest) {
                (Some(b), Some(d)) => {
                    let blob = read_blob(&b, &d.parse().context("digest")?)
                        .map_err(|e| anyhow::anyhow!(linerate_shim::init::chain(&e)))?;
                    Some(blob.landlock.context("the blob has no Landlock ruleset")?)
                }
                (None, None) => None,
                _ => bail!("--blob and --digest go together"),
            };
            let c = CString::new(path.as_os_str().as_encoded_bytes()).context("path")?;
            samples(n, || {
                if let Some(l) = &ruleset {
                    set_no_new_privs()?;
                    apply::landlock::restrict_self(l)
                        .map_err(|e| anyhow::anyhow!(linerate_shim::init::chain(&e)))?;
                }
                let warm = iters / 10 + 1;
                let mut t0 = Instant::now();
                for i in 0..warm + iters {
                    if i == warm {
                        t0 = Instant::now();
                    }
                    sys::open_close(&c).with_context(|| format!("open {}", path.display()))?;
                }
                #[allow(
                    clippy::cast_precision_loss,
                    reason = "nanoseconds and counts fit a double"
                )]
                let per = t0.elapsed().as_nanos() as f64 / iters as f64;
                Ok(format!("{per:.1}"))
            })
        }
    }
}

/// Runs `f` in `n` fresh children, one after the other; each prints its line.
fn samples(n: usize, f: impl Fn() -> Result<String>) -> Result<()> {
    std::io::stdout().flush()?;
    for _ in 0..n {
        let status = sys::fork_wait(|| match f() {
            Ok(line) => {
                let mut out = std::io::stdout().lock();
                i32::from(writeln!(out, "{line}").and_then(|()| out.flush()).is_err())
            }
            Err(e) => {
                eprintln!("linerate-bench child: {e:#}");
                1
            }
        })
        .context("forking a sample")?;
        if status != 0 {
            bail!("a sample failed (wait status {status:#x})");
        }
    }
    Ok(())
}

fn set_no_new_privs() -> Result<()> {
    sys::set_no_new_privs().context("prctl(PR_SET_NO_NEW_PRIVS)")
}

fn attach(prog: &[SockFilter]) -> Result<()> {
    linerate_shim::apply::attach_seccomp_filter(prog).context("seccomp(SECCOMP_SET_MODE_FILTER)")
}

/// Empties every capability set, the bounding set first, as a runtime does
/// for a sandbox container; the process keeps uid 0.
pub(crate) fn drop_all_caps() -> Result<()> {
    for cap in caps::all() {
        caps::drop(None, caps::CapSet::Bounding, cap)
            .with_context(|| format!("dropping {cap} from the bounding set"))?;
    }
    for set in [
        caps::CapSet::Ambient,
        caps::CapSet::Inheritable,
        caps::CapSet::Effective,
        caps::CapSet::Permitted,
    ] {
        caps::clear(None, set).with_context(|| format!("clearing {set:?}"))?;
    }
    Ok(())
}
