//! Runs the measurements and writes the results file.

mod containers;
mod insns;
mod process;
mod seccomp;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};
use linerate_profiles::compile::compile_level;
use linerate_profiles::{Blob, Digest};

use crate::libseccomp::Helper;
use crate::model::{Machine, Results, Row, Section};
use crate::stats::{paired_diff, Summary};

/// What `linerate-bench run` was asked to do.
pub(crate) struct Options {
    pub(crate) quick: bool,
    pub(crate) helper: PathBuf,
    pub(crate) bins: PathBuf,
    pub(crate) work: PathBuf,
    pub(crate) profile: PathBuf,
    pub(crate) command_line: String,
    pub(crate) only: Vec<String>,
}

impl Options {
    /// `full` samples in full mode, `quick` in quick mode.
    pub(crate) fn pick(&self, full: usize, quick: usize) -> usize {
        if self.quick {
            quick
        } else {
            full
        }
    }

    fn wants(&self, section: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == section)
    }
}

/// What every section needs: the options, the helper, the compiled levels
/// written as blobs, and a scratch folder.
pub(crate) struct Ctx<'a> {
    pub(crate) opts: &'a Options,
    pub(crate) helper: Helper,
    pub(crate) work: PathBuf,
    /// `(blob file, digest, blob)` by level name.
    pub(crate) blobs: BTreeMap<String, (PathBuf, Digest, Blob)>,
    pub(crate) notes: Vec<String>,
}

impl Ctx<'_> {
    pub(crate) fn blob(&self, level: &str) -> &(PathBuf, Digest, Blob) {
        &self.blobs[level]
    }

    /// This program, to run `child` samples.
    pub(crate) fn me() -> Result<PathBuf> {
        std::env::current_exe().context("locating linerate-bench")
    }

    /// Runs `linerate-bench child ARGS` and returns its lines, split into numbers.
    pub(crate) fn child(&self, args: &[&str]) -> Result<Vec<Vec<f64>>> {
        let out = Command::new(Self::me()?)
            .arg("child")
            .args(args)
            .output()
            .context("running a child sample")?;
        anyhow::ensure!(
            out.status.success(),
            "child {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        String::from_utf8(out.stdout)?
            .lines()
            .map(|l| {
                l.split_whitespace()
                    .map(|w| {
                        w.parse::<f64>()
                            .with_context(|| format!("child output `{l}`"))
                    })
                    .collect()
            })
            .collect()
    }
}

/// One variant of a measurement: each call takes samples, as `(key, samples)`.
pub(crate) type Variant<'f> = Box<dyn FnMut() -> Result<Vec<(String, Vec<f64>)>> + 'f>;

/// Samples of several variants, taken round by round in a rotating order.
pub(crate) struct Rounds {
    pub(crate) rounds: usize,
    /// Keys in first-seen order, with their samples.
    pub(crate) keys: Vec<String>,
    pub(crate) samples: BTreeMap<String, Vec<f64>>,
    /// One value per round for each key: the round's median, for paired differences.
    pub(crate) per_round: BTreeMap<String, Vec<f64>>,
}

impl Rounds {
    /// Runs `rounds` rounds; in each, every variant's closure once, in an
    /// order shuffled afresh each round so that no variant always follows
    /// the same one (a heavy variant leaves work behind, such as a network
    /// namespace the kernel tears down later). A closure returns one or more
    /// samples; several keys may come from one closure as `(key, samples)`.
    pub(crate) fn run<'f>(rounds: usize, variants: &mut [Variant<'f>]) -> Result<Rounds> {
        let mut out = Rounds {
            rounds,
            keys: Vec::new(),
            samples: BTreeMap::new(),
            per_round: BTreeMap::new(),
        };
        let n = variants.len();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..rounds {
            let mut order: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                // xorshift64: a fixed seed, so runs shuffle alike.
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                #[allow(clippy::cast_possible_truncation, reason = "the modulus is below n")]
                let j = (rng % (i as u64 + 1)) as usize;
                order.swap(i, j);
            }
            for i in order {
                for (key, s) in (variants[i])()? {
                    if !out.keys.contains(&key) {
                        out.keys.push(key.clone());
                    }
                    out.per_round
                        .entry(key.clone())
                        .or_default()
                        .push(Summary::of(&s).p50);
                    out.samples.entry(key).or_default().extend(s);
                }
            }
        }
        Ok(out)
    }

    /// A section with one row per key, in `unit`, each sample divided by `scale`.
    pub(crate) fn section(&self, unit: &str, scale: f64, labels: &[(&str, &str)]) -> Section {
        let rows = labels
            .iter()
            .filter_map(|(k, label)| {
                let s = self.samples.get(*k)?;
                Some(Row {
                    key: (*k).to_owned(),
                    label: (*label).to_owned(),
                    s: Summary::of(s).scaled(scale),
                })
            })
            .collect();
        Section {
            unit: unit.to_owned(),
            rounds: self.rounds,
            rows,
            diffs: Vec::new(),
            facts: Vec::new(),
        }
    }

    /// `a - b`, paired by round, in the section's scale.
    pub(crate) fn diff(&self, a: &str, b: &str, scale: f64) -> Option<crate::model::Diff> {
        let (x, y) = (self.per_round.get(a)?, self.per_round.get(b)?);
        Some(crate::model::Diff {
            a: a.to_owned(),
            b: b.to_owned(),
            s: paired_diff(x, y).scaled(scale),
        })
    }
}

/// Runs every section and writes the results file.
pub(crate) fn run(opts: &Options, out: &Path) -> Result<()> {
    let started = Instant::now();
    let load_at_start = load_average();
    if opts.work.exists() {
        std::fs::remove_dir_all(&opts.work)
            .with_context(|| format!("emptying {}", opts.work.display()))?;
    }
    std::fs::create_dir_all(&opts.work)
        .with_context(|| format!("creating {}", opts.work.display()))?;
    let work = opts.work.canonicalize()?;

    let mut blobs = BTreeMap::new();
    for level in ["minimal", "sandbox", "hardened"] {
        let blob = compile_level(level).with_context(|| format!("compiling {level}"))?;
        let bytes = blob.to_bytes();
        let digest = Digest::of(&bytes);
        let path = work.join(format!("{level}.blob"));
        std::fs::write(&path, &bytes)?;
        blobs.insert(level.to_owned(), (path, digest, blob));
    }
    let mut ctx = Ctx {
        opts,
        helper: Helper {
            path: opts.helper.clone(),
        },
        work,
        blobs,
        notes: Vec::new(),
    };

    let mut results = Results {
        machine: machine(),
        command: opts.command_line.clone(),
        quick: opts.quick,
        date: date(),
        ..Results::default()
    };

    let step = |name: &str| {
        eprintln!(
            "linerate-bench: {name} ({:.0} s so far)",
            started.elapsed().as_secs_f64()
        )
    };
    seccomp::prepare(&mut ctx)?;
    if opts.wants("compile") {
        step("compile time and blob size");
        results.compile = Some(process::compile(&ctx)?);
    }
    if opts.wants("insns") {
        step("instructions per syscall");
        results.insns = Some(insns::insns(&mut ctx)?);
    }
    if opts.wants("attach") {
        step("filter attach");
        results.attach = Some(seccomp::attach(&mut ctx)?);
    }
    if opts.wants("syscalls") {
        step("syscall cost");
        results.syscalls = Some(seccomp::syscalls(&mut ctx)?);
    }
    if opts.wants("init") {
        step("linerate-init");
        results.init = Some(process::init(&mut ctx)?);
    }
    if opts.wants("hook") {
        step("the hook");
        results.hook = process::hook(&mut ctx)?;
    }
    if opts.wants("landlock") {
        step("Landlock");
        results.landlock = Some(process::landlock(&mut ctx)?);
    }
    if opts.wants("start") {
        step("container start");
        results.start = Some(containers::start(&mut ctx)?);
    }
    results.machine.landlock_abi = crate::sys::landlock_abi();
    results.machine.load = format!(
        "{load_at_start} at the start, {} at the end",
        load_average()
    );
    results.notes = ctx.notes;
    results.seconds = started.elapsed().as_secs_f64();
    step("done");

    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut text = serde_json::to_string_pretty(&results)?;
    text.push('\n');
    std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

fn first_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "not found".to_owned())
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|r| r.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("PRETTY_NAME=")
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_default();
    let mut tools = BTreeMap::new();
    tools.insert("runc".to_owned(), first_line("runc", &["--version"]));
    tools.insert("crun".to_owned(), first_line("crun", &["--version"]));
    tools.insert(
        "libseccomp".to_owned(),
        first_line("dpkg-query", &["-W", "-f", "${Version}", "libseccomp2"]),
    );
    Machine {
        nproc: std::thread::available_parallelism().map_or(0, usize::from),
        kernel: first_line("uname", &["-r"]),
        cpu,
        os,
        tools,
        landlock_abi: None,
        load: String::new(),
    }
}

/// The 1-minute load average.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn date() -> String {
    first_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
}
