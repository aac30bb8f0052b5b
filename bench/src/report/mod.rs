//! `BENCHMARKS.md` and its charts, rendered from the results file alone.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

use self::budgets::budgets;
use crate::model::{Insns, Results, Section};
use crate::svg::{bars, num, Bar};

mod budgets;

/// Renders `results` into `md`, with charts in `svg_dir`.
pub(crate) fn write(results: &Path, md: &Path, svg_dir: &Path) -> Result<()> {
    let text = std::fs::read_to_string(results)
        .with_context(|| format!("reading {}", results.display()))?;
    let r: Results = serde_json::from_str(&text).context("the results file")?;
    std::fs::create_dir_all(svg_dir)?;
    let md_dir = md
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let rel = relative(svg_dir, md_dir);
    let mut charts = Vec::new();
    let out = render(&r, &rel, &mut charts)?;
    for (name, svg) in charts {
        std::fs::write(svg_dir.join(name), svg)?;
    }
    std::fs::write(md, out).with_context(|| format!("writing {}", md.display()))?;
    Ok(())
}

/// `to` as seen from `from`, when `to` is below it; else `to` as given.
fn relative(to: &Path, from: &Path) -> String {
    let (t, f) = (
        to.canonicalize().unwrap_or(to.into()),
        from.canonicalize().unwrap_or(from.into()),
    );
    t.strip_prefix(&f)
        .map_or_else(|_| to.display().to_string(), |p| p.display().to_string())
}

fn chart(
    s: &Section,
    keys: &[(&str, &str)],
    log: bool,
    title: &str,
    name: &str,
    rel: &str,
    charts: &mut Vec<(String, String)>,
) -> String {
    let rows: Vec<Bar> = keys
        .iter()
        .filter_map(|(k, label)| s.row(k).map(|row| (row, label)))
        .map(|(row, label)| Bar {
            label: (*label).to_owned(),
            p50: row.s.p50,
            p10: row.s.p10,
            p90: row.s.p90,
            ours: label.contains("linerate"),
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    charts.push((name.to_owned(), bars(title, &s.unit, &rows, log)));
    format!("![{title}]({rel}/{name})\n\n")
}

fn table(s: &Section) -> String {
    let u = &s.unit;
    let mut t = format!(
        "| variant | p50 ({u}) | p10–p90 ({u}) | p99 ({u}) | n |\n|---|---:|---:|---:|---:|\n"
    );
    for row in &s.rows {
        let label = match row.label.strip_prefix("  ") {
            Some(rest) => format!("&nbsp;&nbsp;&nbsp;{rest}"),
            None => row.label.clone(),
        };
        let _ = writeln!(
            t,
            "| {label} | {} | {}–{} | {} | {} |",
            num(row.s.p50),
            num(row.s.p10),
            num(row.s.p90),
            num(row.s.p99),
            row.s.n
        );
    }
    t.push('\n');
    if !s.diffs.is_empty() {
        let _ = writeln!(t, "| overhead, paired by round | p50 ({u}) | p10–p90 ({u}) | ratio of medians |\n|---|---:|---:|---:|");
        for d in &s.diffs {
            let la = s.row(&d.a).map_or(d.a.as_str(), |r| r.label.trim());
            let lb = s.row(&d.b).map_or(d.b.as_str(), |r| r.label.trim());
            let ratio = match (s.p50(&d.a), s.p50(&d.b)) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
                _ => "–".to_owned(),
            };
            let _ = writeln!(
                t,
                "| {la} − {lb} | {} | {}–{} | {ratio} |",
                num(d.s.p50),
                num(d.s.p10),
                num(d.s.p90)
            );
        }
        t.push('\n');
    }
    for f in &s.facts {
        let _ = writeln!(t, "- {f}");
    }
    if !s.facts.is_empty() {
        t.push('\n');
    }
    let _ = writeln!(t, "{} interleaved rounds.\n", s.rounds);
    t
}

fn insns_section(i: &Insns) -> String {
    let mut t = String::from("| case | call | level | ");
    t.push_str(
        &i.filters
            .iter()
            .map(|f| f.label.clone())
            .collect::<Vec<_>>()
            .join(" | "),
    );
    t.push_str(" |\n|---|---|---|");
    t.push_str(&"---:|".repeat(i.filters.len()));
    t.push('\n');
    for c in &i.cases {
        let cells: Vec<String> = c
            .cells
            .iter()
            .map(|x| {
                if x.cached {
                    format!("0 (cached; path {}) {}", x.path, x.verdict)
                } else {
                    format!("{} {}", x.path, x.verdict)
                }
            })
            .collect();
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} |",
            c.kind,
            c.call,
            c.level,
            cells.join(" | ")
        );
    }
    let _ = writeln!(
        t,
        "| longest path, any number | | sandbox | {} |",
        i.worst
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(
        t,
        "| filter length | | | {} |\n",
        i.filters
            .iter()
            .map(|f| f.len.clone())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    t.push_str(
        "Each cell: instructions the kernel runs for the call, then the verdict. \"cached\" means the kernel's \
         seccomp cache proves the call allowed from its number alone (the path loads only `arch` and `nr` and ends \
         in `ret ALLOW`), so the filter does not run at all; the path it would take is given beside it.\n\n",
    );
    for f in &i.facts {
        let _ = writeln!(t, "- {f}");
    }
    t.push('\n');
    t
}

fn ratio_line(s: &Section, a: &str, b: &str, what: &str) -> String {
    match (s.p50(a), s.p50(b)) {
        (Some(x), Some(y)) if x > 0.0 => format!(
            "- {what}: {} {u} against {} {u}, {}\n",
            num(x),
            num(y),
            if y >= x {
                format!("{:.1}× faster", y / x)
            } else {
                format!("{:.1}× slower", x / y)
            },
            u = s.unit
        ),
        _ => String::new(),
    }
}

fn render(r: &Results, rel: &str, charts: &mut Vec<(String, String)>) -> Result<String> {
    let mut o = String::new();
    let m = &r.machine;
    o.push_str("# Benchmarks\n\n");
    o.push_str(
        "Generated by `linerate-bench report` from [`bench/results/latest.json`](bench/results/latest.json); \
         do not edit by hand: run `scripts/bench.sh` to measure again and regenerate this file and its charts.\n\n",
    );
    if r.quick {
        o.push_str("> **Quick mode**: few samples, to prove the benchmark runs. These numbers are not for judging; run `scripts/bench.sh` without `--quick`.\n\n");
    }
    let _ = writeln!(
        o,
        "- Machine: {} CPUs ({}), kernel {}, {}, Landlock ABI {}",
        m.nproc,
        m.cpu,
        m.kernel,
        m.os,
        m.landlock_abi.map_or("none".into(), |a| a.to_string())
    );
    let tools: Vec<String> = m.tools.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let _ = writeln!(o, "- Compared with: {}", tools.join("; "));
    let _ = writeln!(
        o,
        "- Run: {}, {} mode, {:.0} s; command: `{}`; load average (1 min) {}",
        r.date,
        if r.quick { "quick" } else { "full" },
        r.seconds,
        r.command,
        if m.load.is_empty() {
            "not recorded"
        } else {
            &m.load
        }
    );
    o.push_str(
        "- Method: every timed sample runs in a fresh process; the variants of a measurement are interleaved \
         round by round in an order shuffled each round, so that load from other work on this shared machine falls on all of \
         them alike. Tables give the median (p50) with the 10th–90th percentile spread; ratios are of medians of \
         the same run; overheads are medians of per-round paired differences, given in the budget table with a rough \
         standard error of that median (±).\n\n",
    );

    o.push_str("## Budgets (DESIGN.md)\n\n");
    o.push_str(&budgets(r));
    o.push('\n');

    if let Some(s) = &r.attach {
        o.push_str("## 1. Filter attach\n\nInstalling the sandbox filter, against libseccomp building and loading Docker's default profile (containers-common's `seccomp.json`) in its linear and its binary-tree layout (`SCMP_FLTATR_CTL_OPTIMIZE = 2`). Each sample is one fresh child with no_new_privs already set. DESIGN.md's anchors for libseccomp (about 200 us for the tree, 700 us linear) match the rows \"seccomp() of libseccomp's program alone\": the kernel's share, which grows with the program's length; its \"about 10 ms to build at start\" is the build and seccomp_load rows.\n\n");
        o.push_str(&chart(
            s,
            &[
                ("ours.attach", "linerate: seccomp() of the stored program"),
                (
                    "ours.blob",
                    "linerate: blob read, verified, decoded, attached",
                ),
                (
                    "docker.tree.attach",
                    "libseccomp tree: seccomp() of its program",
                ),
                (
                    "docker.linear.attach",
                    "libseccomp linear: seccomp() of its program",
                ),
                ("docker.tree.total", "libseccomp tree: build and load"),
                ("docker.linear.total", "libseccomp linear: build and load"),
            ],
            true,
            "Filter attach",
            "attach.svg",
            rel,
            charts,
        ));
        o.push_str(&table(s));
        o.push_str(&ratio_line(
            s,
            "ours.blob",
            "docker.tree.total",
            "linerate (blob to filter) against libseccomp's tree, built and loaded",
        ));
        o.push_str(&ratio_line(
            s,
            "ours.blob",
            "docker.linear.total",
            "linerate against libseccomp's linear layout, built and loaded",
        ));
        o.push_str(&ratio_line(
            s,
            "ours.attach",
            "docker.tree.attach",
            "the kernel's share alone: seccomp() of our program against libseccomp's tree program",
        ));
        o.push('\n');
    }

    if let Some(i) = &r.insns {
        o.push_str("## 2. Instructions per syscall\n\nCounted with a classic BPF interpreter over the exact programs: linerate's compiled level, libseccomp's export (`seccomp_export_bpf`) of the same level translated rule for rule into libseccomp rules, and libseccomp's export of Docker's profile as it is. linerate-runtime refuses hardened containers until BPF-LSM enforcement lands; its seccomp filter is compiled all the same and counted here.\n\n");
        o.push_str(&insns_section(i));
    }

    if let Some(s) = &r.syscalls {
        o.push_str("## 3. Syscall cost\n\nA loop of `getpid` and of `ioctl(/dev/null, TCGETS)` (fails with ENOTTY after the filter) in a fresh child per sample.\n\n");
        o.push_str(&chart(
            s,
            &[
                ("getpid.none", "getpid, no filter"),
                ("getpid.one", "getpid, 1-instruction filter"),
                ("getpid.sandbox", "getpid, linerate sandbox"),
                ("getpid.docker.linear", "getpid, Docker's profile, linear"),
                ("getpid.docker.tree", "getpid, Docker's profile, tree"),
                ("ioctl.none", "ioctl, no filter"),
                ("ioctl.one", "ioctl, 1-instruction filter"),
                ("ioctl.sandbox", "ioctl, linerate sandbox"),
                (
                    "ioctl.hardened",
                    "ioctl, linerate hardened (runs the filter)",
                ),
                ("ioctl.docker.linear", "ioctl, Docker's profile, linear"),
                ("ioctl.docker.tree", "ioctl, Docker's profile, tree"),
            ],
            false,
            "ns per syscall",
            "syscalls.svg",
            rel,
            charts,
        ));
        o.push_str(&table(s));
    }

    if let Some(s) = &r.init {
        o.push_str("## 4. linerate-init\n\nFrom the exec of linerate-init to the exec of the command, measured as the wall time of `linerate-init ... -- busybox true` less that of `busybox true` spawned the same way. At sandbox, every capability is dropped before the exec, as the runtime does; minimal keeps them.\n\n");
        o.push_str(&table(s));
    }

    o.push_str("## 5. The hook\n\n");
    match &r.hook {
        Some(s) => {
            o.push_str("From exec to exit, with the OCI state on stdin, as runc calls it.\n\n");
            o.push_str(&table(s));
        }
        None => o.push_str("Not built yet: there was no `linerate-hook` binary when this ran, so the hook is not measured. Budget: 2 ms p50, 5 ms p99 from exec to exit.\n\n"),
    }

    if let Some(s) = &r.start {
        o.push_str("## 6. Container start\n\n");
        o.push_str(&chart(
            s,
            &[
                ("runc.bare", "runc, no seccomp"),
                ("runc.docker", "runc, Docker's profile"),
                ("runc.minimal", "linerate-runtime → runc, minimal"),
                ("runc.sandbox", "linerate-runtime → runc, sandbox"),
                ("crun.bare", "crun, no seccomp"),
                ("crun.docker", "crun, Docker's profile"),
                ("crun.minimal", "linerate-runtime → crun, minimal"),
                ("crun.sandbox", "linerate-runtime → crun, sandbox"),
            ],
            false,
            "Container start, busybox /bin/true",
            "start.svg",
            rel,
            charts,
        ));
        o.push_str(&table(s));
    }

    if let Some(s) = &r.landlock {
        o.push_str("## 7. Landlock\n\n");
        o.push_str(&chart(
            s,
            &[
                ("depth1.none", "depth 1, no ruleset"),
                ("depth1.sandbox", "depth 1, linerate sandbox ruleset"),
                ("depth10.none", "depth 10, no ruleset"),
                ("depth10.sandbox", "depth 10, linerate sandbox ruleset"),
                ("depth25.none", "depth 25, no ruleset"),
                ("depth25.sandbox", "depth 25, linerate sandbox ruleset"),
            ],
            false,
            "open()+close() by path depth",
            "landlock.svg",
            rel,
            charts,
        ));
        o.push_str(&table(s));
    }

    if let Some(rows) = &r.compile {
        o.push_str("## 8. Compile\n\nAhead of time, once per profile (`linerate compile`, `linerate install`); the digest check and decode runs in linerate-init on every start.\n\n");
        o.push_str("| level | compile p50 (us) | p10–p90 | verify + decode p50 (us) | p10–p90 | blob bytes | x86_64 instructions | aarch64 instructions |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for c in rows {
            let _ = writeln!(
                o,
                "| {} | {} | {}–{} | {} | {}–{} | {} | {} | {} |",
                c.level,
                num(c.compile_us.p50),
                num(c.compile_us.p10),
                num(c.compile_us.p90),
                num(c.verify_us.p50),
                num(c.verify_us.p10),
                num(c.verify_us.p90),
                c.blob_bytes,
                c.insns_x86_64,
                c.insns_aarch64
            );
        }
        o.push('\n');
    }

    o.push_str(
        "## 9. BPF-LSM\n\nThe host kernel refuses BPF-LSM programs, so the open and exec loop with and \
         without a hardened container's entries has to run in the QEMU VM (TCG, emulated: a ratio only). \
         This benchmark does not measure it yet: ",
    );
    o.push_str(if r.hook.is_some() {
        "the loop still has to be carried into the VM's initramfs with the hook writing the entries.\n\n"
    } else {
        "it needs the hook and the BPF programs, which were not built when this ran.\n\n"
    });

    if !r.notes.is_empty() {
        o.push_str("## Notes\n\n");
        for n in &r.notes {
            let _ = writeln!(o, "- {n}");
        }
        o.push('\n');
    }
    Ok(o)
}
