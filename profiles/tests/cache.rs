//! The promise the filter layout makes to the kernel's seccomp cache: a
//! syscall the policy allows without argument rules never runs the filter,
//! because the kernel proves its result a constant allow when the filter is
//! attached; a syscall with argument rules, a refused one or one of a
//! foreign ABI always runs it.
//!
//! Checked for every level and a profile with extra rules, on every
//! architecture, with the interpreter's emulation of the kernel's test.

use std::path::Path;

use linerate_profiles::compile::compile;
use linerate_profiles::seccomp::interp::const_allow;
use linerate_profiles::seccomp::Action;
use linerate_profiles::syscalls::{Arch, AUDIT_ARCH_I386, X32_SYSCALL_BIT};
use linerate_profiles::{levels, Policy};

/// `AUDIT_ARCH_ARM`: 32-bit Arm, the compat ABI of aarch64.
const AUDIT_ARCH_ARM: u32 = 0x4000_0028;

/// Whether the policy allows `nr` whatever its arguments, by a constant:
/// allowed, with no argument rule to look at.
fn allowed_outright(policy: &Policy, arch: Arch, nr: u32) -> bool {
    let ruled = arch
        .name(nr)
        .and_then(|name| policy.seccomp.rules.get(name))
        .is_some_and(|rules| !rules.is_empty());
    !ruled && policy.verdict(arch, nr, &[0; 6]) == Action::Allow
}

fn cache_matches_policy(what: &str, policy: &Policy) {
    let blob = compile(policy).unwrap();
    for arch in Arch::ALL {
        let prog = blob.filter(arch).unwrap().instructions();
        let native = arch.audit_arch();
        let mut cached = 0;
        let mut filtered = 0;

        // Every number of the table and some past it, which a newer kernel may know.
        for nr in 0..=arch.max_number() + 64 {
            let name = arch.name(nr).unwrap_or("(unnamed)");
            if allowed_outright(policy, arch, nr) {
                assert!(
                    const_allow(&prog, native, nr),
                    "{what} {arch:?}: {name} ({nr}) is allowed outright, yet the filter runs for it"
                );
                cached += 1;
            } else {
                assert!(
                    !const_allow(&prog, native, nr),
                    "{what} {arch:?}: {name} ({nr}) has rules or is refused, yet the cache allows it"
                );
                filtered += 1;
            }

            let other = Arch::ALL.into_iter().find(|a| *a != arch).unwrap();
            for foreign in [AUDIT_ARCH_I386, AUDIT_ARCH_ARM, other.audit_arch(), 0] {
                assert!(
                    !const_allow(&prog, foreign, nr),
                    "{what} {arch:?}: foreign arch {foreign:#x} nr {nr} is cached"
                );
            }
            if arch == Arch::X86_64 {
                assert!(
                    !const_allow(&prog, native, nr | X32_SYSCALL_BIT),
                    "{what}: x32 nr {nr} is cached"
                );
            }
        }

        // Neither side of the promise may hold vacuously.
        assert!(
            cached > 100,
            "{what} {arch:?}: only {cached} numbers cached"
        );
        assert!(filtered > 0, "{what} {arch:?}: no number runs the filter");
    }
}

#[test]
fn every_level_keeps_outright_allows_in_the_kernel_cache() {
    for (name, _) in levels::SOURCES {
        cache_matches_policy(name, &Policy::level(name).unwrap().unwrap());
    }
}

#[test]
fn a_rule_takes_its_syscall_out_of_the_cache() {
    // `read` and `prctl` are allowed outright at hardened; a rule on either
    // must make the filter run for it.
    let text = "extends = \"hardened\"\n\
                [[seccomp.rule]]\nsyscall = \"prctl\"\narg = 3\nne = 7\naction = \"kill\"\n\
                [[seccomp.rule]]\nsyscall = \"read\"\narg = 2\neq = 0\naction = \"log\"\n";
    let policy = Policy::text(Path::new("r.toml"), text.to_owned()).unwrap();
    let hardened = compile(&Policy::level("hardened").unwrap().unwrap()).unwrap();
    let ruled = compile(&policy).unwrap();
    for arch in Arch::ALL {
        for name in ["read", "prctl"] {
            let nr = arch.number(name).unwrap();
            let before = hardened.filter(arch).unwrap().instructions();
            let after = ruled.filter(arch).unwrap().instructions();
            assert!(
                const_allow(&before, arch.audit_arch(), nr),
                "{arch:?} {name}"
            );
            assert!(
                !const_allow(&after, arch.audit_arch(), nr),
                "{arch:?} {name}"
            );
        }
    }
    cache_matches_policy("hardened with rules", &policy);
}
