//! The results file, `bench/results/latest.json`: everything the report
//! shows, so that the report can be rendered again without measuring.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stats::Summary;

/// One run of the benchmark.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Results {
    pub(crate) machine: Machine,
    /// The command that reproduces the run.
    pub(crate) command: String,
    pub(crate) quick: bool,
    /// UTC, `YYYY-MM-DD HH:MM`.
    pub(crate) date: String,
    /// Wall time of the whole run.
    pub(crate) seconds: f64,
    pub(crate) attach: Option<Section>,
    pub(crate) insns: Option<Insns>,
    pub(crate) syscalls: Option<Section>,
    pub(crate) init: Option<Section>,
    pub(crate) hook: Option<Section>,
    pub(crate) start: Option<Section>,
    pub(crate) landlock: Option<Section>,
    pub(crate) compile: Option<Vec<CompileRow>>,
    /// Lines for the report about what was skipped and why.
    pub(crate) notes: Vec<String>,
}

/// The machine the run measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Machine {
    pub(crate) nproc: usize,
    pub(crate) kernel: String,
    pub(crate) cpu: String,
    pub(crate) os: String,
    /// Versions of the tools compared with: runc, crun, libseccomp.
    pub(crate) tools: BTreeMap<String, String>,
    pub(crate) landlock_abi: Option<u32>,
    /// `/proc/loadavg`'s 1-minute figure at the start and at the end of the
    /// run: how busy the shared machine was.
    #[serde(default)]
    pub(crate) load: String,
}

/// Timed variants of one measurement.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Section {
    /// The unit of every summary.
    pub(crate) unit: String,
    /// Rounds the variants were interleaved over.
    pub(crate) rounds: usize,
    pub(crate) rows: Vec<Row>,
    /// Overheads: medians of per-round differences between two rows.
    pub(crate) diffs: Vec<Diff>,
    /// Free-form facts about the section, shown under its table.
    pub(crate) facts: Vec<String>,
}

/// One variant.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Row {
    /// A stable key, such as `runc.bare`.
    pub(crate) key: String,
    /// What the reader sees.
    pub(crate) label: String,
    pub(crate) s: Summary,
}

/// `a - b`, paired round by round.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Diff {
    pub(crate) a: String,
    pub(crate) b: String,
    pub(crate) s: Summary,
}

impl Section {
    pub(crate) fn row(&self, key: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.key == key)
    }

    pub(crate) fn p50(&self, key: &str) -> Option<f64> {
        self.row(key).map(|r| r.s.p50)
    }

    pub(crate) fn diff(&self, a: &str, b: &str) -> Option<&Diff> {
        self.diffs.iter().find(|d| d.a == a && d.b == b)
    }
}

/// Instructions per syscall, counted with an interpreter.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Insns {
    /// The filters, in column order.
    pub(crate) filters: Vec<FilterInfo>,
    pub(crate) cases: Vec<Case>,
    /// The longest path any syscall takes through each filter, in column order.
    pub(crate) worst: Vec<usize>,
    /// Facts: translation checks, rule counts.
    pub(crate) facts: Vec<String>,
}

/// One filter compared.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct FilterInfo {
    pub(crate) key: String,
    pub(crate) label: String,
    /// Its length in instructions, per level where it depends on one.
    pub(crate) len: String,
}

/// One syscall, counted on every filter.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Case {
    pub(crate) kind: String,
    pub(crate) call: String,
    /// The linerate level whose policy the `ours` and translated columns use.
    pub(crate) level: String,
    /// One cell per filter, in column order.
    pub(crate) cells: Vec<Cell>,
}

/// One syscall on one filter.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Cell {
    /// The kernel's cache proves the call allowed: the filter does not run.
    pub(crate) cached: bool,
    /// Instructions the filter runs when it runs.
    pub(crate) path: usize,
    /// What it returns, as text (`allow`, `errno 1`, ...).
    pub(crate) verdict: String,
}

impl Cell {
    /// Instructions the kernel runs for the call.
    pub(crate) fn executed(&self) -> usize {
        if self.cached {
            0
        } else {
            self.path
        }
    }
}

/// One level, compiled.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct CompileRow {
    pub(crate) level: String,
    /// Compile time, microseconds.
    pub(crate) compile_us: Summary,
    /// Digest check and decode of the blob (linerate-init's read), microseconds.
    pub(crate) verify_us: Summary,
    pub(crate) blob_bytes: usize,
    pub(crate) insns_x86_64: usize,
    pub(crate) insns_aarch64: usize,
}
