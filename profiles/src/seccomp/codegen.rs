//! From a policy to a classic BPF program, laid out as a binary search over
//! syscall numbers.
//!
//! Written here rather than with seccompiler or libseccomp: seccompiler lays
//! rules out as a linear chain, and libseccomp builds its tree at run time in
//! C; linerate needs the tree built ahead of time and stored.
//!
//! The program, for one architecture:
//!
//! ```text
//!   ld  arch
//!   jeq AUDIT_ARCH_<native>, +1     ; anything else is a foreign ABI
//!   ret FOREIGN_ABI
//!   ld  nr
//!   jge X32_SYSCALL_BIT, foreign    ; x86_64 only: x32 and out-of-range numbers
//!   <tree>
//! ```
//!
//! The tree splits the numbers into runs of equal action and searches them
//! with `jge`, so every path reads only `arch` and `nr` until a leaf: the
//! kernel's seccomp cache then proves each allowed number constant and skips
//! the filter for it. A leaf with argument rules loads the low word of the
//! argument it tests.

use super::{data, op, Action, ArgRule, Cond, SockFilter, FOREIGN_ABI};
use crate::policy::Policy;
use crate::syscalls::{Arch, X32_SYSCALL_BIT};

/// What a run of syscall numbers gets.
#[derive(Clone, Debug, PartialEq)]
enum Leaf {
    /// A constant action.
    Ret(Action),
    /// Argument rules, then the base action.
    Rules(Vec<ArgRule>, Action),
}

/// A run of numbers `[first, next run's first)` with one leaf.
#[derive(Clone, Debug)]
struct Run {
    first: u32,
    leaf: Leaf,
}

fn stmt(code: u16, k: u32) -> SockFilter {
    SockFilter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> SockFilter {
    SockFilter { code, jt, jf, k }
}

fn ret(a: Action) -> SockFilter {
    stmt(op::RET_K, a.ret())
}

/// Compiles the policy's seccomp part for `arch`.
pub fn compile(policy: &Policy, arch: Arch) -> Vec<SockFilter> {
    let runs = runs(policy, arch);
    let tree = tree(&runs);

    let mut prog = vec![
        stmt(op::LD_W_ABS, data::ARCH),
        jump(op::JMP_JEQ_K, arch.audit_arch(), 1, 0),
        ret(FOREIGN_ABI),
        stmt(op::LD_W_ABS, data::NR),
    ];
    if arch == Arch::X86_64 {
        // Number at or past the x32 bit: jump over the tree to its own refusal.
        prog.push(jump(op::JMP_JGE_K, X32_SYSCALL_BIT, 0, 1));
        prog.push(ret(FOREIGN_ABI));
    }
    prog.extend(tree);
    prog
}

/// Splits every number into runs of one leaf. Numbers past the table, and
/// holes in it, get the default action.
fn runs(policy: &Policy, arch: Arch) -> Vec<Run> {
    let default = Leaf::Ret(policy.seccomp.default);
    let mut runs: Vec<Run> = vec![Run {
        first: 0,
        leaf: default.clone(),
    }];
    let mut push = |first: u32, leaf: Leaf| {
        let last = runs.last().expect("runs start non-empty");
        if last.leaf == leaf && matches!(leaf, Leaf::Ret(_)) {
            return;
        }
        if last.first == first {
            runs.pop();
        }
        runs.push(Run { first, leaf });
    };
    let mut next = 0u32;
    for &(name, nr) in arch.table() {
        if nr > next {
            push(next, default.clone());
        }
        let base = policy
            .seccomp
            .syscalls
            .get(name)
            .map_or(policy.seccomp.default, |(a, _)| *a);
        let leaf = match policy.seccomp.rules.get(name) {
            Some(rules) if !rules.is_empty() => {
                Leaf::Rules(rules.iter().map(|(r, _)| r.clone()).collect(), base)
            }
            _ => Leaf::Ret(base),
        };
        push(nr, leaf);
        next = nr + 1;
    }
    push(next, default);
    runs
}

/// Emits a self-contained block (every path ends in `ret`) that searches `runs`.
fn tree(runs: &[Run]) -> Vec<SockFilter> {
    if let [run] = runs {
        return leaf(&run.leaf);
    }
    let mid = runs.len() / 2;
    let left = tree(&runs[..mid]);
    let right = tree(&runs[mid..]);
    let split = runs[mid].first;

    let mut out = Vec::with_capacity(left.len() + right.len() + 2);
    match u8::try_from(left.len()) {
        Ok(skip) => out.push(jump(op::JMP_JGE_K, split, skip, 0)),
        Err(_) => {
            // Too far for an 8-bit offset: fall into a long jump.
            let far = u32::try_from(left.len()).expect("programs are short");
            out.push(jump(op::JMP_JGE_K, split, 0, 1));
            out.push(stmt(op::JMP_JA, far));
        }
    }
    out.extend(left);
    out.extend(right);
    out
}

fn leaf(leaf: &Leaf) -> Vec<SockFilter> {
    match leaf {
        Leaf::Ret(a) => vec![ret(*a)],
        Leaf::Rules(rules, base) => {
            let mut out = Vec::new();
            for rule in rules {
                out.push(stmt(op::LD_W_ABS, data::arg_low(rule.arg)));
                test(&mut out, &rule.cond, rule.action);
            }
            out.push(ret(*base));
            out
        }
    }
}

/// Appends a test of the loaded word: `ret action` when `cond` holds, fall
/// through to the next instruction after the block when it does not.
fn test(out: &mut Vec<SockFilter>, cond: &Cond, action: Action) {
    match cond {
        Cond::Eq(v) => out.push(jump(op::JMP_JEQ_K, *v, 0, 1)),
        Cond::Ne(v) => out.push(jump(op::JMP_JEQ_K, *v, 1, 0)),
        Cond::MaskAny(m) => out.push(jump(op::JMP_JSET_K, *m, 0, 1)),
        Cond::MaskNone(m) => out.push(jump(op::JMP_JSET_K, *m, 1, 0)),
        Cond::MaskedEq(m, v) => {
            out.push(stmt(op::ALU_AND_K, *m));
            out.push(jump(op::JMP_JEQ_K, *v, 0, 1));
        }
        Cond::In(vs) => {
            // Each match jumps to the `ret`; no match skips it.
            let n = vs.len();
            for (i, v) in vs.iter().enumerate() {
                let to_ret = u8::try_from(n - i).expect("at most 64 values");
                out.push(jump(op::JMP_JEQ_K, *v, to_ret, 0));
            }
            out.push(stmt(op::JMP_JA, 1));
        }
        Cond::NotIn(vs) => {
            // Each match jumps past the `ret`; no match falls onto it.
            let n = vs.len();
            for (i, v) in vs.iter().enumerate() {
                let past_ret = u8::try_from(n - i).expect("at most 64 values");
                out.push(jump(op::JMP_JEQ_K, *v, past_ret, 0));
            }
        }
    }
    out.push(ret(action));
}

#[cfg(test)]
mod tests {
    use super::super::interp::{run, SeccompData};
    use super::*;

    fn level(name: &str) -> Policy {
        Policy::level(name).unwrap().unwrap()
    }

    #[test]
    fn every_level_fits_the_kernel_limit_and_ends_in_returns() {
        for (name, _) in crate::levels::SOURCES {
            for arch in Arch::ALL {
                let prog = compile(&level(name), arch);
                assert!(prog.len() <= super::super::BPF_MAXINSNS, "{name} {arch:?}");
                assert_eq!(prog.last().unwrap().code, op::RET_K);
            }
        }
    }

    #[test]
    fn the_search_is_logarithmic() {
        let p = level("sandbox");
        let prog = compile(&p, Arch::X86_64);
        let runs = runs(&p, Arch::X86_64).len();
        let depth = usize::BITS - (runs - 1).leading_zeros();
        let bound = 6 + usize::try_from(depth).unwrap() + 1;
        let mut worst = 0;
        for nr in 0..600 {
            if p.seccomp
                .rules
                .contains_key(Arch::X86_64.name(nr).unwrap_or(""))
            {
                continue;
            }
            let d = SeccompData::new(Arch::X86_64.audit_arch(), nr, [0; 6]);
            let (_, steps) = run(&prog, &d).unwrap();
            worst = worst.max(steps);
        }
        assert!(
            worst <= bound,
            "worst path {worst} instructions for {runs} runs"
        );
    }

    #[test]
    fn long_left_branches_get_a_long_jump() {
        // Every syscall with a rule makes a leaf of several instructions, so the
        // left half of the tree outgrows an 8-bit offset.
        let mut p = level("minimal");
        for &(name, _) in Arch::X86_64.table() {
            let rule = ArgRule {
                arg: 0,
                cond: Cond::In(vec![1, 2, 3]),
                action: Action::Errno(1),
            };
            p.seccomp
                .rules
                .insert(name.to_owned(), vec![(rule, String::new())]);
        }
        let prog = compile(&p, Arch::X86_64);
        assert!(prog.iter().any(|i| i.code == op::JMP_JA && i.k > 255));
        for &(_, nr) in Arch::X86_64.table() {
            for a0 in [0u64, 2, 4] {
                let d = SeccompData::new(Arch::X86_64.audit_arch(), nr, [a0, 0, 0, 0, 0, 0]);
                let want = p.verdict(Arch::X86_64, nr, &d.args);
                assert_eq!(
                    Action::from_ret(run(&prog, &d).unwrap().0),
                    Some(want),
                    "nr {nr}"
                );
            }
        }
    }
}
