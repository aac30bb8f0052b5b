//! Folding an `extends` chain, root first, into one [`Policy`]: later
//! sources override earlier ones, key by key.

use std::collections::BTreeMap;

use super::{LabelPolicy, LandlockPolicy, Layer, Named, Policy, ResolveError, SeccompPolicy};
use crate::seccomp::{Action, ArgRule, Cond};
use crate::source::{self, NetworkMode, RuleSource, Source};

fn action(layer: &Layer, s: &toml::Spanned<String>) -> Result<Action, ResolveError> {
    Action::parse(s.get_ref()).ok_or_else(|| ResolveError::UnknownAction {
        at: layer.at(s.span().start),
        name: s.get_ref().clone(),
    })
}

pub(super) fn fold(chain: &[Layer]) -> Result<Policy, ResolveError> {
    let mut policy = Policy {
        name: None,
        no_new_privs: None,
        keep_caps: None,
        network: NetworkMode::Spec,
        seccomp: SeccompPolicy {
            default: Action::Allow,
            syscalls: BTreeMap::new(),
            rules: BTreeMap::new(),
        },
        landlock: None,
        bpf_lsm: false,
        labels: None,
        texts: chain.iter().map(|l| l.text.clone()).collect(),
    };

    for layer in chain {
        let Source {
            name,
            extends: _,
            process,
            capabilities,
            namespaces,
            seccomp,
            landlock,
            hardened,
            lsm,
        } = &layer.source;

        // A name belongs to the file that writes it: a profile extending
        // `sandbox` must not be stored under the name `sandbox`.
        policy.name.clone_from(name);
        if process.no_new_privs.is_some() {
            policy.no_new_privs = process.no_new_privs;
        }
        if let Some(caps) = capabilities {
            let named = caps.keep.iter().map(|c| Named {
                name: c.get_ref().clone(),
                at: layer.at(c.span().start),
            });
            policy.keep_caps = Some(named.collect());
        }
        if let Some(network) = namespaces.network {
            policy.network = network;
        }
        if let Some(hardened) = hardened.bpf_lsm {
            policy.bpf_lsm = hardened;
        }

        if let Some(section) = lsm {
            fold_labels(layer, section, &mut policy.labels);
        }

        fold_seccomp(layer, seccomp, &mut policy.seccomp)?;

        if let Some(section) = landlock {
            let l = policy.landlock.get_or_insert_with(LandlockPolicy::default);
            fold_landlock(layer, section, l)?;
        }
    }
    Ok(policy)
}

fn fold_labels(layer: &Layer, section: &source::LsmSection, out: &mut Option<LabelPolicy>) {
    let source::LsmSection {
        apparmor,
        selinux,
        required,
    } = section;
    let l = out.get_or_insert(LabelPolicy {
        apparmor: None,
        selinux: None,
        required: true,
    });
    let named = |s: &toml::Spanned<String>| Named {
        name: s.get_ref().clone(),
        at: layer.at(s.span().start),
    };
    if let Some(a) = apparmor {
        l.apparmor = Some(named(a));
    }
    if let Some(s) = selinux {
        l.selinux = Some(named(s));
    }
    if let Some(r) = required {
        l.required = *r;
    }
}

fn fold_seccomp(
    layer: &Layer,
    section: &source::SeccompSection,
    out: &mut SeccompPolicy,
) -> Result<(), ResolveError> {
    let source::SeccompSection {
        default,
        allow,
        errno,
        rule,
    } = section;

    if let Some(d) = default {
        out.default = action(layer, d)?;
    }

    // Within one source a syscall has one action; across sources the later wins.
    let mut here: BTreeMap<&str, Action> = BTreeMap::new();
    let named = allow.iter().map(|s| (s, Action::Allow));
    let mut refused = Vec::new();
    for (errno_name, list) in errno {
        let Some(e) = crate::errno::value(errno_name) else {
            let at = list
                .first()
                .map_or_else(|| layer.origin.label(), |s| layer.at(s.span().start));
            return Err(ResolveError::UnknownAction {
                at,
                name: errno_name.clone(),
            });
        };
        refused.extend(list.iter().map(|s| (s, Action::Errno(e))));
    }
    for (s, a) in named.chain(refused) {
        let at = layer.at(s.span().start);
        if here.insert(s.get_ref(), a).is_some_and(|old| old != a) {
            return Err(ResolveError::Conflict {
                at,
                name: s.get_ref().clone(),
            });
        }
        out.syscalls.insert(s.get_ref().clone(), (a, at));
    }

    for r in rule {
        let at = layer.at(r.span().start);
        let (syscall, rule) = arg_rule(layer, r.get_ref(), &at)?;
        out.rules.entry(syscall).or_default().push((rule, at));
    }
    Ok(())
}

/// The most values an `in` or `not_in` list may hold: each is one
/// instruction on the syscall's path.
const MAX_VALUES: usize = 64;

fn arg_rule(layer: &Layer, r: &RuleSource, at: &str) -> Result<(String, ArgRule), ResolveError> {
    let RuleSource {
        syscall,
        arg,
        action: act,
        eq,
        ne,
        mask_any,
        mask_none,
        masked_eq,
        in_,
        not_in,
    } = r;
    let bad = |reason| ResolveError::Rule {
        at: at.to_owned(),
        syscall: syscall.clone(),
        reason,
    };

    if *arg > 5 {
        return Err(bad("arg must be 0 to 5"));
    }
    let mut conds = Vec::new();
    conds.extend(eq.map(Cond::Eq));
    conds.extend(ne.map(Cond::Ne));
    conds.extend(mask_any.map(Cond::MaskAny));
    conds.extend(mask_none.map(Cond::MaskNone));
    conds.extend(masked_eq.map(|[m, v]| Cond::MaskedEq(m, v)));
    conds.extend(in_.clone().map(Cond::In));
    conds.extend(not_in.clone().map(Cond::NotIn));
    if conds.len() != 1 {
        return Err(bad(
            "needs exactly one of eq, ne, mask_any, mask_none, masked_eq, in, not_in",
        ));
    }
    let cond = conds.remove(0);
    if let Cond::In(v) | Cond::NotIn(v) = &cond {
        if v.is_empty() || v.len() > MAX_VALUES {
            return Err(bad("in and not_in need 1 to 64 values"));
        }
    }
    let action = Action::parse(act).ok_or_else(|| ResolveError::UnknownAction {
        at: at.to_owned(),
        name: act.clone(),
    })?;
    let _ = layer;
    Ok((
        syscall.clone(),
        ArgRule {
            arg: *arg,
            cond,
            action,
        },
    ))
}

fn fold_landlock(
    layer: &Layer,
    section: &source::LandlockSection,
    out: &mut LandlockPolicy,
) -> Result<(), ResolveError> {
    let source::LandlockSection {
        min_abi,
        missing,
        read,
        write,
        execute,
        devices,
        scope,
    } = section;
    if let Some(abi) = min_abi {
        out.min_abi = *abi;
    }
    if let Some(m) = missing {
        out.missing = *m;
    }
    for (list, into) in [
        (read, &mut out.read),
        (write, &mut out.write),
        (execute, &mut out.execute),
        (devices, &mut out.devices),
    ] {
        for p in list {
            if !p.starts_with('/') || p.split('/').any(|c| c == "..") {
                return Err(ResolveError::Landlock {
                    at: layer.origin.label(),
                    reason: format!("path `{p}` must be absolute and free of `..`"),
                });
            }
            if !into.contains(p) {
                into.push(p.clone());
            }
        }
    }
    for s in scope {
        if !out.scope.iter().any(|n| n.name == *s.get_ref()) {
            out.scope.push(Named {
                name: s.get_ref().clone(),
                at: layer.at(s.span().start),
            });
        }
    }
    Ok(())
}
