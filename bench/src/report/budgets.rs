//! The budget table of `BENCHMARKS.md`: each budget of DESIGN.md against
//! its measurement, and for each one missed, by how much, why, and what
//! would close it.

use std::fmt::Write as _;

use crate::model::{Insns, Results};
use crate::svg::num;

/// Verdict of a budget: met, missed, or not measured.
fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "not measured",
    }
}

/// A paired difference: its median with a rough standard error (for a
/// normal spread, 1.25 σ/√n, with σ read from the p10–p90 range), and the
/// spread of single rounds.
fn spread(d: &crate::model::Diff, unit: &str) -> String {
    format!(
        "{} ± {} {unit} (single rounds, p10–p90: {} to {})",
        signed(d.s.p50),
        num(std_error(d)),
        signed(d.s.p10),
        signed(d.s.p90)
    )
}

fn std_error(d: &crate::model::Diff) -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "sample counts are small")]
    let n = d.s.n.max(1) as f64;
    1.2533 * ((d.s.p90 - d.s.p10) / 2.563) / n.sqrt()
}

/// The budget table, and a note for each budget missed: by how much, why,
/// and what would close it.
pub(super) fn budgets(r: &Results) -> String {
    let mut t = String::from(
        "| budget | measured (p50) | baseline, same run | verdict |\n|---|---|---|---|\n",
    );
    let mut notes: Vec<String> = Vec::new();
    let mut row = |b: &str, m: String, base: String, ok: Option<bool>| {
        let _ = writeln!(t, "| {b} | {m} | {base} | {} |", verdict(ok));
    };

    let a = r.attach.as_ref();
    let ours = a.and_then(|s| s.p50("ours.attach"));
    let tree = a.and_then(|s| s.p50("docker.tree.attach"));
    row(
        "attaching the seccomp filter under 100 us",
        ours.map_or("–".into(), |v| format!("{} us", num(v))),
        tree.map_or("–".into(), |v| {
            format!(
                "seccomp() of libseccomp's tree of Docker's profile: {} us",
                num(v)
            )
        }),
        ours.map(|v| v < 100.0),
    );
    if let Some(v) = ours.filter(|v| *v >= 100.0) {
        notes.push(format!(
            "Attach missed by {} us. The time is the kernel's: it copies and checks the program, \
             converts it to eBPF and JIT-compiles it, then runs every native and compat syscall number \
             through it to fill its cache. A shorter program (fewer runs of equal action) shortens \
             both; so would a machine that is not busy with other work.",
            num(v - 100.0)
        ));
    }

    let i = r.insns.as_ref();
    let worse = i.map(insns_worse_than_tree);
    row(
        "instructions per syscall never more than libseccomp's tree",
        worse.as_ref().map_or("–".into(), |w| {
            if w.is_empty() {
                "never more".into()
            } else {
                format!("more in: {}", w.join(", "))
            }
        }),
        "libseccomp tree of the same policy".into(),
        worse.as_ref().map(|w| w.is_empty()),
    );
    if let Some(w) = worse.filter(|w| !w.is_empty()) {
        notes.push(format!(
            "Instructions: linerate runs more than libseccomp's tree in {}. The tree search itself is \
             O(log n); argument rules are tested one after the other inside their leaf, so a syscall \
             with many values to compare should get a search over its values too.",
            w.join(", ")
        ));
    }

    let sys = r.syscalls.as_ref();
    let cached = sys.and_then(|s| s.diff("getpid.sandbox", "getpid.one"));
    let one = sys.and_then(|s| s.p50("getpid.one"));
    let cached_ok = cached
        .zip(one)
        .map(|(d, o)| d.s.p50.abs() <= 0.05 * o || (d.s.p10 <= 0.0 && d.s.p90 >= 0.0));
    row(
        "a cached allow costs what the 1-instruction filter costs",
        cached.map_or("–".into(), |d| {
            format!(
                "getpid, sandbox − 1-instruction filter: {}",
                spread(d, "ns")
            )
        }),
        one.map_or("–".into(), |v| {
            format!("getpid under the 1-instruction filter: {} ns", num(v))
        }),
        cached_ok,
    );
    if let (Some(d), Some(false)) = (cached, cached_ok) {
        notes.push(format!(
            "Cached allow missed by {} ns. getpid's path through the sandbox filter loads only `arch` \
             and `nr` (section 2), so the kernel should skip the filter as it does for the \
             1-instruction one; a difference this size with this spread is more likely noise from \
             other work on the machine than the filter: measure again on a quiet machine.",
            num(d.s.p50)
        ));
    }

    let is = r.init.as_ref();
    let init = is.and_then(|s| s.diff("init.sandbox", "direct.nocaps"));
    row(
        "linerate-init, exec to exec, under 1 ms",
        init.map_or("–".into(), |d| format!("sandbox: {}", spread(d, "us"))),
        is.and_then(|s| s.p50("direct.nocaps"))
            .map_or("–".into(), |v| {
                format!("busybox true spawned directly: {} us", num(v))
            }),
        init.map(|d| d.s.p50 < 1000.0),
    );
    if let Some(d) = init.filter(|d| d.s.p50 < 1000.0 && d.s.p90 >= 1000.0) {
        notes.push(format!(
            "linerate-init meets its budget at the median only: its p90 is {} us. Inside the process, \
             reading, verifying and decoding the blob takes {} us and applying it {} us; the rest is \
             the execve of linerate-init itself, which this virtual machine makes expensive (compare \
             the row of linerate-init exiting at once). A smaller binary, or a blob read without JSON \
             decoding, would give it room.",
            num(d.s.p90),
            is.and_then(|s| s.p50("apply.read")).map_or("–".into(), num),
            is.and_then(|s| s.p50("apply.apply")).map_or("–".into(), num)
        ));
    }
    if let (Some(d), Some(s)) = (init.filter(|d| d.s.p50 >= 1000.0), is) {
        let read = s.p50("apply.read").unwrap_or(0.0);
        let apply = s.p50("apply.apply").unwrap_or(0.0);
        notes.push(format!(
            "linerate-init missed by {} us. Of its {} us, reading, verifying and decoding the blob \
             takes {} us and applying it (no_new_privs, capability check, Landlock, seccomp) {} us; \
             the remaining {} us is the execve of linerate-init itself: on this virtual machine an \
             execve of a small static binary costs about as much as spawning busybox whole (compare \
             the row of linerate-init exiting at once with the direct run). The budget leaves about \
             1 ms minus one execve for linerate's work. What would close it: a blob read without \
             JSON decoding (the same decode takes a fraction of that in a warm process, section 8), \
             fewer Landlock path opens, and a smaller binary with fewer pages to fault in.",
            num(d.s.p50 - 1000.0),
            num(d.s.p50),
            num(read),
            num(apply),
            num(d.s.p50 - read - apply)
        ));
    }

    let hs = r.hook.as_ref();
    let hook = hs.and_then(|s| s.row("create"));
    row(
        "the hook (createRuntime) under 2 ms p50, 5 ms p99",
        hook.map_or("not built yet".into(), |h| {
            format!("{} us p50, {} us p99", num(h.s.p50), num(h.s.p99))
        }),
        hs.and_then(|s| s.p50("baseline"))
            .map_or("–".into(), |v| format!("busybox true: {} us", num(v))),
        hook.map(|h| h.s.p50 < 2000.0 && h.s.p99 < 5000.0),
    );
    if let Some(h) = hook.filter(|h| h.s.p50 >= 2000.0 || h.s.p99 >= 5000.0) {
        notes.push(format!(
            "The hook missed its budget: {} us p50 (budget 2000), {} us p99 (budget 5000).",
            num(h.s.p50),
            num(h.s.p99)
        ));
    }

    let st = r.start.as_ref();
    for rt in ["runc", "crun"] {
        let over = st.and_then(|s| s.diff(&format!("{rt}.sandbox"), &format!("{rt}.bare")));
        row(
            &format!("sandbox start within 5 ms of bare {rt}"),
            over.map_or("–".into(), |d| spread(d, "ms")),
            st.and_then(|s| s.p50(&format!("{rt}.bare")))
                .map_or("–".into(), |v| format!("bare {rt}: {} ms", num(v))),
            over.map(|d| d.s.p50 < 5.0),
        );
        if let Some(d) = over.filter(|d| d.s.p50 >= 5.0) {
            let init = is
                .and_then(|s| s.diff("init.sandbox", "direct.nocaps"))
                .map_or("–".into(), |d| num(d.s.p50 / 1000.0));
            let shim = st
                .and_then(|s| s.diff("shim.sandbox", "shim.direct"))
                .map_or("–".into(), |d| num(d.s.p50));
            let se = std_error(d);
            let noise = if d.s.p50 - 5.0 < 2.0 * se {
                format!(
                    "The miss is within twice the median's uncertainty (± {} ms), so it may be \
                     noise from other work on this two-core machine: measure again on a quiet one \
                     before acting on it.",
                    num(se)
                )
            } else {
                format!(
                    "The miss is more than twice the median's uncertainty (± {} ms): it is real.",
                    num(se)
                )
            };
            notes.push(format!(
                "Sandbox start through {rt} missed by {} ms (single rounds spread from {} to {} ms). \
                 What linerate adds to a start: linerate-runtime's own work, {shim} ms in this run \
                 (the `true` rows: one more execve, reading the store, checking the blob's digest, \
                 rewriting config.json); linerate-init in the container, {init} ms (section 4), most \
                 of it one more execve; and two read-only bind mounts. {noise} An execve costs 0.5 to \
                 1 ms on this virtual machine, so the two extra execs are most of the budget. What \
                 would close it: fewer execs on the start path (podman's precreate hook \
                 rewrites the spec without a wrapper process in front of runc), and in the shim no \
                 JSON round trip of the whole spec.",
                num(d.s.p50 - 5.0),
                signed(d.s.p10),
                signed(d.s.p90)
            ));
        }
        let vs = st.and_then(|s| s.diff(&format!("{rt}.sandbox"), &format!("{rt}.docker")));
        row(
            &format!("sandbox start faster than {rt} with Docker's profile"),
            vs.map_or("–".into(), |d| spread(d, "ms")),
            st.and_then(|s| s.p50(&format!("{rt}.docker")))
                .map_or("–".into(), |v| {
                    format!("{rt} + Docker's profile: {} ms", num(v))
                }),
            vs.map(|d| d.s.p50 < 0.0),
        );
        if let Some(d) = vs.filter(|d| d.s.p50 >= 0.0) {
            notes.push(format!(
                "Sandbox start through {rt} was {} ms slower than {rt} building Docker's profile \
                 with libseccomp at start; see section 1 for the share of building and loading.",
                num(d.s.p50)
            ));
        }
    }
    if !notes.is_empty() {
        t.push_str("\nNotes on the budgets: by how much, why, and what would close the gap.\n\n");
        for n in notes {
            let _ = writeln!(t, "- {n}");
        }
    }
    t
}

fn signed(v: f64) -> String {
    if v >= 0.0 {
        format!("+{}", num(v))
    } else {
        format!("−{}", num(-v))
    }
}

/// The cases where linerate runs more instructions than libseccomp's tree of the same policy.
fn insns_worse_than_tree(i: &Insns) -> Vec<String> {
    let tree = i.filters.iter().position(|f| f.key == "lsc.tree");
    let Some(tree) = tree else {
        return vec!["no tree column".into()];
    };
    i.cases
        .iter()
        .filter(|c| c.cells[0].executed() > c.cells[tree].executed())
        .map(|c| {
            format!(
                "{} ({} against {})",
                c.call,
                c.cells[0].executed(),
                c.cells[tree].executed()
            )
        })
        .collect()
}
