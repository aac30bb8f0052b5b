//! linerate's policy as libseccomp rules, with the same verdicts.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use anyhow::{bail, Result};
use linerate_profiles::seccomp::{Action, Cond};
use linerate_profiles::syscalls::Arch;
use linerate_profiles::Policy;

use super::action_word;

/// One libseccomp comparison: `arg OP datum` (for `Meq`, `arg & mask == datum`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Atom {
    Eq(u8, u64),
    Ne(u8, u64),
    Lt(u8, u64),
    Gt(u8, u64),
    Meq(u8, u64, u64),
}

impl Atom {
    fn arg(self) -> u8 {
        match self {
            Atom::Eq(a, _)
            | Atom::Ne(a, _)
            | Atom::Lt(a, _)
            | Atom::Gt(a, _)
            | Atom::Meq(a, _, _) => a,
        }
    }

    fn holds(self, v: u64) -> bool {
        match self {
            Atom::Eq(_, d) => v == d,
            Atom::Ne(_, d) => v != d,
            Atom::Lt(_, d) => v < d,
            Atom::Gt(_, d) => v > d,
            Atom::Meq(_, m, d) => v & m == d,
        }
    }

    fn word(self) -> String {
        match self {
            Atom::Eq(a, d) => format!("{a}:eq:{d:#x}"),
            Atom::Ne(a, d) => format!("{a}:ne:{d:#x}"),
            Atom::Lt(a, d) => format!("{a}:lt:{d:#x}"),
            Atom::Gt(a, d) => format!("{a}:gt:{d:#x}"),
            Atom::Meq(a, m, d) => format!("{a}:meq:{m:#x}:{d:#x}"),
        }
    }
}

/// A set of argument values: a union of conjunctions of comparisons. libseccomp
/// takes one conjunction per rule and compares each argument at most once in it.
type Region = Vec<Vec<Atom>>;

fn bits(m: u32) -> impl Iterator<Item = u64> {
    (0..32)
        .map(|b| 1u64 << b)
        .filter(move |b| u64::from(m) & b != 0)
}

/// The values of one argument outside the sorted set `vs`, as single comparisons:
/// below the least, above the greatest, and the gaps as aligned blocks.
fn outside(arg: u8, vs: &[u32]) -> Region {
    let vs: BTreeSet<u64> = vs.iter().map(|v| u64::from(*v)).collect();
    let (Some(&lo), Some(&hi)) = (vs.first(), vs.last()) else {
        return vec![vec![]];
    };
    let mut out = Vec::new();
    if lo > 0 {
        out.push(vec![Atom::Lt(arg, lo)]);
    }
    out.push(vec![Atom::Gt(arg, hi)]);
    let sorted: Vec<u64> = vs.into_iter().collect();
    for w in sorted.windows(2) {
        let (mut from, to) = (w[0] + 1, w[1] - 1);
        while from <= to && w[1] > w[0] + 1 {
            // The largest aligned block starting at `from` that ends by `to`.
            let mut size = if from == 0 {
                1u64 << 63
            } else {
                1u64 << from.trailing_zeros()
            };
            while from + (size - 1) > to {
                size >>= 1;
            }
            out.push(vec![Atom::Meq(arg, !(size - 1), from)]);
            from += size;
        }
    }
    out
}

/// The values for which `cond` on `arg` holds (`yes`) or fails (`!yes`).
fn region(arg: u8, cond: &Cond, yes: bool) -> Region {
    let one = |a| vec![vec![a]];
    let any_bit = |m: u32| {
        bits(m)
            .map(|b| vec![Atom::Meq(arg, b, b)])
            .collect::<Region>()
    };
    let each = |vs: &[u32]| {
        vs.iter()
            .map(|v| vec![Atom::Eq(arg, u64::from(*v))])
            .collect::<Region>()
    };
    match (cond, yes) {
        (Cond::Eq(v), true) | (Cond::Ne(v), false) => one(Atom::Eq(arg, u64::from(*v))),
        (Cond::Eq(v), false) | (Cond::Ne(v), true) => one(Atom::Ne(arg, u64::from(*v))),
        (Cond::MaskAny(m), true) | (Cond::MaskNone(m), false) => any_bit(*m),
        (Cond::MaskAny(m), false) | (Cond::MaskNone(m), true) => {
            one(Atom::Meq(arg, u64::from(*m), 0))
        }
        (Cond::MaskedEq(m, v), true) => one(Atom::Meq(arg, u64::from(*m), u64::from(*v))),
        (Cond::MaskedEq(m, v), false) => bits(*m)
            .map(|b| vec![Atom::Meq(arg, b, (u64::from(*v) & b) ^ b)])
            .collect(),
        (Cond::In(vs), true) | (Cond::NotIn(vs), false) => each(vs),
        (Cond::In(vs), false) | (Cond::NotIn(vs), true) => outside(arg, vs),
    }
}

/// The intersection of two regions, with conjunctions that compare one
/// argument twice merged where one comparison is an equality.
fn and(a: &Region, b: &Region) -> Result<Region> {
    let mut out = Vec::new();
    for x in a {
        'pairs: for y in b {
            let mut conj: Vec<Atom> = x.clone();
            for &atom in y {
                match conj.iter().position(|c| c.arg() == atom.arg()) {
                    None => conj.push(atom),
                    Some(i) => match (conj[i], atom) {
                        (Atom::Eq(_, v), other) | (other, Atom::Eq(_, v)) => {
                            if !other.holds(v) {
                                continue 'pairs;
                            }
                            conj[i] = Atom::Eq(atom.arg(), v);
                        }
                        (p, q) => bail!(
                            "cannot compare argument {} twice in one rule ({p:?}, {q:?})",
                            p.arg()
                        ),
                    },
                }
            }
            conj.sort();
            out.push(conj);
        }
    }
    Ok(out)
}

/// linerate's policy for x86_64 as libseccomp rules, with the same verdict
/// for every syscall number and every argument whose high 32 bits are zero
/// (linerate compares the low 32 bits of an argument; libseccomp all 64).
///
/// A syscall's argument rules are a first-match list; libseccomp's rules
/// for one syscall must not overlap with different actions, so each action
/// gets the region where its rule holds and every earlier one fails. What no
/// rule of a syscall matches falls to the filter's default action, so the
/// base action needs its region too.
pub(crate) fn policy_rules(policy: &Policy) -> Result<(String, usize)> {
    let mut text = String::new();
    let sc = &policy.seccomp;
    writeln!(text, "default {}", action_word(sc.default))?;
    writeln!(
        text,
        "badarch {}",
        action_word(linerate_profiles::seccomp::FOREIGN_ABI)
    )?;
    writeln!(text, "arch x86_64")?;
    let mut count = 0;
    for &(name, nr) in Arch::X86_64.table() {
        let base = sc.syscalls.get(name).map_or(sc.default, |(a, _)| *a);
        let rules = sc.rules.get(name).map(Vec::as_slice).unwrap_or_default();
        if rules.is_empty() {
            if base != sc.default {
                writeln!(text, "rule {} #{nr}", action_word(base))?;
                count += 1;
            }
            continue;
        }
        // `earlier`: where every rule so far fails.
        let mut earlier: Region = vec![vec![]];
        let mut regions: Vec<(Action, Region)> = Vec::new();
        for (rule, _) in rules {
            regions.push((
                rule.action,
                and(&earlier, &region(rule.arg, &rule.cond, true))?,
            ));
            earlier = and(&earlier, &region(rule.arg, &rule.cond, false))?;
        }
        regions.push((base, earlier));
        for (action, region) in regions {
            if action == sc.default {
                continue;
            }
            for conj in region {
                let atoms: Vec<String> = conj.iter().map(|a| a.word()).collect();
                writeln!(
                    text,
                    "rule {} #{nr} {}",
                    action_word(action),
                    atoms.join(" ")
                )?;
                count += 1;
            }
        }
    }
    Ok((text, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_become_aligned_blocks_that_cover_them_exactly() {
        let r = outside(0, &[0, 8, 0x20000, 0x20008, 0xffff_ffff]);
        let covered = |v: u64| r.iter().any(|c| c.iter().all(|a| a.holds(v)));
        for v in [
            1u64,
            7,
            9,
            0x1ffff,
            0x20001,
            0x20007,
            0x20009,
            0xffff_fffe,
            1 << 32,
        ] {
            assert!(covered(v), "{v:#x}");
        }
        for v in [0u64, 8, 0x20000, 0x20008, 0xffff_ffff] {
            assert!(!covered(v), "{v:#x}");
        }
    }

    /// Evaluates a rules file as libseccomp would for a native call: the
    /// action of the rule that matches, else the default. Two matching rules
    /// with different actions would be an ambiguous translation.
    fn evaluate(text: &str, nr: u32, args: &[u64; 6]) -> String {
        let mut default = String::new();
        let mut hit: Option<String> = None;
        for line in text.lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            match w[0] {
                "default" => default = w[1].to_owned(),
                "rule" if w[2] == format!("#{nr}") => {
                    let holds = w[3..].iter().all(|c| {
                        let p: Vec<&str> = c.split(':').collect();
                        let v = args[p[0].parse::<usize>().unwrap()];
                        let d = |i: usize| {
                            u64::from_str_radix(p[i].trim_start_matches("0x"), 16).unwrap()
                        };
                        match p[1] {
                            "eq" => v == d(2),
                            "ne" => v != d(2),
                            "lt" => v < d(2),
                            "gt" => v > d(2),
                            "meq" => v & d(2) == d(3),
                            other => panic!("op {other}"),
                        }
                    });
                    if holds {
                        if let Some(h) = &hit {
                            assert_eq!(
                                h, w[1],
                                "rules with different actions overlap at nr {nr} {args:x?}"
                            );
                        }
                        hit = Some(w[1].to_owned());
                    }
                }
                _ => {}
            }
        }
        hit.unwrap_or(default)
    }

    #[test]
    fn the_translation_gives_the_policy_verdict_without_overlaps() {
        for level in ["sandbox", "hardened"] {
            let p = Policy::level(level).unwrap().unwrap();
            let (text, _) = policy_rules(&p).unwrap();
            let mut values = vec![
                0u64,
                1,
                2,
                3,
                7,
                8,
                9,
                10,
                16,
                17,
                0x5412,
                0x541c,
                0x20008,
                0xffff_ffff,
            ];
            values.extend([0x7E02_0000u64, 0x1000_0000, 0x0002_0000, 0x23, 0x13]);
            for name in p.seccomp.rules.keys() {
                let nr = Arch::X86_64.number(name).unwrap();
                for &a in &values {
                    for &b in &values {
                        let args = [a, b, 0, 0, 0, 0];
                        assert_eq!(
                            evaluate(&text, nr, &args),
                            action_word(p.verdict(Arch::X86_64, nr, &args)),
                            "{level} {name} {args:x?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_levels_translate() {
        for level in ["minimal", "sandbox", "hardened"] {
            let p = Policy::level(level).unwrap().unwrap();
            let (text, count) = policy_rules(&p).unwrap();
            assert!(count > 0 && text.starts_with("default "), "{level}");
        }
    }
}
