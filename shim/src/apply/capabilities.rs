//! Capability sets: checked against the profile, never raised. The runtime
//! sets them from the rewritten spec, in the order the kernel needs around
//! the uid change; linerate-init only verifies the result, and drops what
//! the shim lent it for attaching filters.

use caps::{CapSet, Capability, CapsHashSet};

/// The sets checked, with the names `/proc/self/status` gives them.
const SETS: [(CapSet, &str); 5] = [
    (CapSet::Bounding, "bounding"),
    (CapSet::Permitted, "permitted"),
    (CapSet::Effective, "effective"),
    (CapSet::Inheritable, "inheritable"),
    (CapSet::Ambient, "ambient"),
];

/// Why the capability sets are not acceptable.
#[derive(Debug, thiserror::Error)]
pub enum CapabilitiesError {
    /// A set holds a capability the profile does not keep.
    #[error("the {set} set holds {cap}, which the profile does not keep")]
    Extra {
        /// The set.
        set: &'static str,
        /// The capability.
        cap: Capability,
    },
    /// Reading or changing a set failed.
    #[error("{op} the {set} set")]
    Syscall {
        /// What was being done.
        op: &'static str,
        /// The set.
        set: &'static str,
        /// The cause.
        #[source]
        source: caps::errors::CapsError,
    },
}

fn mask(set: &CapsHashSet) -> u64 {
    set.iter().fold(0, |m, c| m | c.bitmask())
}

fn caps_in(mask: u64) -> impl Iterator<Item = Capability> {
    caps::all()
        .into_iter()
        .filter(move |c| mask & c.bitmask() != 0)
}

/// Checks that no set holds a capability outside `allowed`.
pub fn check(allowed: u64) -> Result<(), CapabilitiesError> {
    for (set, name) in SETS {
        let have = caps::read(None, set).map_err(|source| CapabilitiesError::Syscall {
            op: "reading",
            set: name,
            source,
        })?;
        if let Some(cap) = caps_in(mask(&have) & !allowed).next() {
            return Err(CapabilitiesError::Extra { set: name, cap });
        }
    }
    Ok(())
}

/// Drops the capabilities in `lent` from every set: the bounding set first,
/// while CAP_SETPCAP is still effective, then the rest in one go each.
pub fn drop(lent: u64) -> Result<(), CapabilitiesError> {
    for cap in caps_in(lent) {
        caps::drop(None, CapSet::Bounding, cap).map_err(|source| CapabilitiesError::Syscall {
            op: "dropping from",
            set: "bounding",
            source,
        })?;
    }
    for (set, name) in [
        (CapSet::Inheritable, "inheritable"),
        (CapSet::Effective, "effective"),
        (CapSet::Permitted, "permitted"),
    ] {
        retain(set, name, !lent)?;
    }
    Ok(())
}

/// Keeps in one set only the capabilities in `mask`.
fn retain(set: CapSet, name: &'static str, mask: u64) -> Result<(), CapabilitiesError> {
    let have = caps::read(None, set).map_err(|source| CapabilitiesError::Syscall {
        op: "reading",
        set: name,
        source,
    })?;
    let kept: CapsHashSet = have
        .into_iter()
        .filter(|c| mask & c.bitmask() != 0)
        .collect();
    caps::set(None, set, &kept).map_err(|source| CapabilitiesError::Syscall {
        op: "setting",
        set: name,
        source,
    })
}

/// Lowers every set to at most `keep`: the bounding set first, while
/// CAP_SETPCAP is still effective, then ambient, inheritable, and the
/// effective and permitted sets together.
pub fn reduce(keep: u64) -> Result<(), CapabilitiesError> {
    let bounding =
        caps::read(None, CapSet::Bounding).map_err(|source| CapabilitiesError::Syscall {
            op: "reading",
            set: "bounding",
            source,
        })?;
    drop(mask(&bounding) & !keep)?;
    for (set, name) in [
        (CapSet::Ambient, "ambient"),
        (CapSet::Inheritable, "inheritable"),
        (CapSet::Effective, "effective"),
        (CapSet::Permitted, "permitted"),
    ] {
        retain(set, name, keep)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_capabilities_agree() {
        let m = Capability::CAP_NET_BIND_SERVICE.bitmask() | Capability::CAP_SYS_ADMIN.bitmask();
        let caps: Vec<_> = caps_in(m).collect();
        assert_eq!(caps.len(), 2);
        assert_eq!(mask(&caps.into_iter().collect()), m);
    }

    #[test]
    fn the_calling_process_passes_with_everything_allowed() {
        check(u64::MAX).unwrap();
    }
}
