//! linerate-bench: linerate's measurements side by side with what people
//! run today (libseccomp loading Docker's default profile, runc and crun
//! with that profile), written to `bench/results/latest.json` and rendered
//! into `BENCHMARKS.md` with SVG charts.
//!
//! `scripts/bench.sh [--quick]` builds everything and runs `linerate-bench
//! run`, then `linerate-bench report`. Every timed sample runs in a fresh
//! process; variants are interleaved round by round, so that load from
//! other work on the machine falls on all of them alike; results are
//! medians with their spread, and ratios against a baseline of the same run.
//! Nothing here asserts a duration.

mod child;
mod libseccomp;
mod measure;
mod model;
mod report;
mod stats;
mod svg;
mod sys;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "linerate-bench",
    about = "linerate's benchmarks against libseccomp, runc and crun"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run every measurement and write the results as JSON.
    Run {
        /// Fewer samples: proves the benchmark works, in CI, not for judging.
        #[arg(long)]
        quick: bool,
        /// The compiled `bench/c/seccomp_bench`.
        #[arg(long)]
        helper: PathBuf,
        /// The folder holding linerate-runtime and linerate-init (release).
        #[arg(long)]
        bins: PathBuf,
        /// A scratch folder, emptied first.
        #[arg(long)]
        work: PathBuf,
        /// The results file.
        #[arg(long)]
        out: PathBuf,
        /// Docker's default profile.
        #[arg(long, default_value = "/usr/share/containers/seccomp.json")]
        profile: PathBuf,
        /// The command line to print in the report.
        #[arg(long, default_value = "scripts/bench.sh")]
        command_line: String,
        /// Run only these sections (attach, insns, syscalls, init, hook, start, landlock, compile).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
    /// Render the results into Markdown and SVG charts.
    Report {
        /// The results file.
        #[arg(long)]
        results: PathBuf,
        /// The Markdown file to write.
        #[arg(long)]
        md: PathBuf,
        /// The folder for the SVG charts, referenced relative to the Markdown file.
        #[arg(long)]
        svg_dir: PathBuf,
    },
    /// One timed sample in a fresh process; used by `run`.
    #[command(hide = true)]
    Child {
        #[command(subcommand)]
        what: child::Child,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Run {
            quick,
            helper,
            bins,
            work,
            out,
            profile,
            command_line,
            only,
        } => {
            let opts = measure::Options {
                quick,
                helper,
                bins,
                work,
                profile,
                command_line,
                only,
            };
            measure::run(&opts, &out)
        }
        Cmd::Report {
            results,
            md,
            svg_dir,
        } => report::write(&results, &md, &svg_dir),
        Cmd::Child { what } => child::run(what),
    };
    if let Err(e) = result {
        let causes: Vec<String> = e.chain().map(ToString::to_string).collect();
        eprintln!("linerate-bench: {}", causes.join(": "));
        std::process::exit(1);
    }
}
