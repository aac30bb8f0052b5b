//! AppArmor and SELinux labels: whether this host can apply the labels a
//! profile names, and which ones the spec gets.
//!
//! The runtime applies a label (runc writes it to `/proc/self/attr/...`
//! before it execs the container's first process); linerate only decides
//! here, before the spec is written, so that a label the host cannot apply
//! refuses the container with a reason instead of failing inside runc, or
//! being ignored. Every path is read below a root given by the caller, so
//! that tests run against a fake sysfs.
//!
//! # Current limitations
//!
//! An SELinux label is passed on unchecked: a label the loaded policy does
//! not know fails in the runtime, not here. A loaded AppArmor profile in
//! complain mode counts as loaded.

use std::io::Read;
use std::path::{Path, PathBuf};

use linerate_profiles::blob::LsmLabels;

/// `Y` when AppArmor is enabled.
pub const APPARMOR_ENABLED: &str = "sys/module/apparmor/parameters/enabled";
/// The kernel's active LSMs, comma separated.
pub const LSM_LIST: &str = "sys/kernel/security/lsm";
/// The AppArmor profiles loaded, one `name (mode)` a line.
pub const APPARMOR_PROFILES: &str = "sys/kernel/security/apparmor/profiles";
/// Present when SELinux is running (enforcing or permissive).
pub const SELINUX_ENFORCE: &str = "sys/fs/selinux/enforce";

/// The most bytes read from one of these files.
const MAX_READ: u64 = 4 << 20;

/// The labels the spec gets, borrowed from the blob.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Labels<'a> {
    /// `process.apparmorProfile`.
    pub apparmor: Option<&'a str>,
    /// `process.selinuxLabel`.
    pub selinux: Option<&'a str>,
}

/// What [`decide`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision<'a> {
    /// The labels to set.
    pub labels: Labels<'a>,
    /// The LSMs whose label is left out, because the host does not run them
    /// and the profile does not require it: the caller logs them.
    pub skipped: Vec<&'static str>,
    /// The mode of the AppArmor profile, as the kernel lists it.
    pub apparmor_mode: Option<String>,
}

/// Why a profile's labels cannot be applied here.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// The profile requires a label of an LSM this host does not run.
    #[error(
        "the profile requires {lsm} label `{label}`, but this host does not run {lsm} ({why})"
    )]
    NotRunning {
        /// `AppArmor` or `SELinux`.
        lsm: &'static str,
        /// The label.
        label: String,
        /// What was looked at.
        why: String,
    },
    /// The AppArmor profile is not loaded.
    #[error("AppArmor profile `{name}` is not loaded (not listed in {})", list.display())]
    NotLoaded {
        /// The profile.
        name: String,
        /// The list read.
        list: PathBuf,
    },
    /// The list of loaded AppArmor profiles could not be read.
    #[error("AppArmor profile `{name}`: reading {}", list.display())]
    List {
        /// The profile.
        name: String,
        /// The list.
        list: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The host's LSMs, as seen below `root`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostLsms {
    /// AppArmor is running.
    pub apparmor: bool,
    /// SELinux is running.
    pub selinux: bool,
    /// SELinux enforces (false when permissive or not running).
    pub selinux_enforcing: bool,
}

fn read_small(path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_READ)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// Which of AppArmor and SELinux the host below `root` runs. AppArmor runs
/// when its module parameter says `Y` or the LSM list names it; SELinux
/// runs when its filesystem has `enforce`.
pub fn host(root: &Path) -> HostLsms {
    let enabled =
        read_small(&root.join(APPARMOR_ENABLED)).is_ok_and(|t| t.trim_start().starts_with('Y'));
    let listed = read_small(&root.join(LSM_LIST))
        .is_ok_and(|t| t.trim().split(',').any(|m| m == "apparmor"));
    let enforce = read_small(&root.join(SELINUX_ENFORCE));
    HostLsms {
        apparmor: enabled || listed,
        selinux: enforce.is_ok(),
        selinux_enforcing: enforce.is_ok_and(|t| t.trim() == "1"),
    }
}

/// The mode of AppArmor profile `name` in the list below `root`
/// (`enforce`, `complain`, ...), `None` when it is not loaded.
pub fn apparmor_mode(root: &Path, name: &str) -> std::io::Result<Option<String>> {
    let text = read_small(&root.join(APPARMOR_PROFILES))?;
    Ok(text.lines().find_map(|line| {
        let (n, mode) = line.rsplit_once(" (")?;
        (n == name).then(|| mode.trim_end_matches(')').to_owned())
    }))
}

/// Decides which of the profile's labels the spec gets on the host below
/// `root` (`/` outside tests). A label of an LSM the host does not run
/// refuses the container when the profile requires it and is skipped
/// otherwise; an AppArmor profile must also be loaded.
pub fn decide<'a>(labels: Option<&'a LsmLabels>, root: &Path) -> Result<Decision<'a>, LabelError> {
    let Some(LsmLabels {
        apparmor,
        selinux,
        required,
    }) = labels
    else {
        return Ok(Decision::default());
    };
    let host = host(root);
    let mut out = Decision::default();

    if let Some(name) = apparmor {
        if host.apparmor {
            let list = root.join(APPARMOR_PROFILES);
            let mode = apparmor_mode(root, name).map_err(|source| LabelError::List {
                name: name.clone(),
                list: list.clone(),
                source,
            })?;
            let Some(mode) = mode else {
                return Err(LabelError::NotLoaded {
                    name: name.clone(),
                    list,
                });
            };
            out.labels.apparmor = Some(name);
            out.apparmor_mode = Some(mode);
        } else if *required {
            return Err(LabelError::NotRunning {
                lsm: "AppArmor",
                label: name.clone(),
                why: format!(
                    "{} is not Y and {} does not list apparmor",
                    root.join(APPARMOR_ENABLED).display(),
                    root.join(LSM_LIST).display()
                ),
            });
        } else {
            out.skipped.push("apparmor");
        }
    }

    if let Some(label) = selinux {
        if host.selinux {
            out.labels.selinux = Some(label);
        } else if *required {
            return Err(LabelError::NotRunning {
                lsm: "SELinux",
                label: label.clone(),
                why: format!("no {}", root.join(SELINUX_ENFORCE).display()),
            });
        } else {
            out.skipped.push("selinux");
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    fn labels(a: Option<&str>, s: Option<&str>, required: bool) -> LsmLabels {
        LsmLabels {
            apparmor: a.map(str::to_owned),
            selinux: s.map(str::to_owned),
            required,
        }
    }

    const PROFILES: &str =
        "linerate-test (enforce)\nweb server (complain)\n/usr/bin/man (enforce)\n";

    #[test]
    fn apparmor_running_and_loaded_sets_the_label() {
        let root = fake(&[
            (APPARMOR_ENABLED, "Y\n"),
            (LSM_LIST, "lockdown,capability,landlock,yama,apparmor,bpf"),
            (APPARMOR_PROFILES, PROFILES),
        ]);
        let l = labels(Some("linerate-test"), None, true);
        let d = decide(Some(&l), root.path()).unwrap();
        assert_eq!(d.labels.apparmor, Some("linerate-test"));
        assert_eq!(d.apparmor_mode.as_deref(), Some("enforce"));
        assert_eq!(d.labels.selinux, None);
        assert!(d.skipped.is_empty());
        assert_eq!(
            apparmor_mode(root.path(), "web server").unwrap().as_deref(),
            Some("complain")
        );
        assert_eq!(apparmor_mode(root.path(), "linerate").unwrap(), None);
    }

    #[test]
    fn either_signal_means_apparmor_runs() {
        let by_param = fake(&[(APPARMOR_ENABLED, "Y")]);
        assert!(host(by_param.path()).apparmor);
        let by_list = fake(&[(LSM_LIST, "capability,apparmor")]);
        assert!(host(by_list.path()).apparmor);
        let neither = fake(&[
            (APPARMOR_ENABLED, "N"),
            (LSM_LIST, "capability,bpf,apparmorx"),
        ]);
        assert!(!host(neither.path()).apparmor);
    }

    #[test]
    fn an_unloaded_or_unlisted_apparmor_profile_is_refused() {
        let root = fake(&[(APPARMOR_ENABLED, "Y"), (APPARMOR_PROFILES, PROFILES)]);
        for name in ["missing", "linerate", "web"] {
            let l = labels(Some(name), None, false);
            let err = decide(Some(&l), root.path()).unwrap_err();
            assert!(matches!(err, LabelError::NotLoaded { .. }), "{err}");
        }
        // Running but the list is unreadable (securityfs not mounted).
        let root = fake(&[(APPARMOR_ENABLED, "Y")]);
        let l = labels(Some("linerate-test"), None, true);
        assert!(matches!(
            decide(Some(&l), root.path()),
            Err(LabelError::List { .. })
        ));
    }

    #[test]
    fn a_required_label_of_an_absent_lsm_refuses_and_an_optional_one_is_skipped() {
        let root = fake(&[
            (APPARMOR_ENABLED, "N"),
            (LSM_LIST, "capability,landlock,bpf"),
        ]);
        let l = labels(Some("linerate-test"), Some("u:r:container_t:s0"), true);
        let err = decide(Some(&l), root.path()).unwrap_err().to_string();
        assert!(err.contains("AppArmor label `linerate-test`"), "{err}");
        assert!(err.contains("does not list apparmor"), "{err}");
        let l = labels(None, Some("u:r:container_t:s0"), true);
        let err = decide(Some(&l), root.path()).unwrap_err().to_string();
        assert!(err.contains("does not run SELinux"), "{err}");

        let l = labels(Some("linerate-test"), Some("u:r:container_t:s0"), false);
        let d = decide(Some(&l), root.path()).unwrap();
        assert_eq!(d.labels, Labels::default());
        assert_eq!(d.skipped, ["apparmor", "selinux"]);
        assert_eq!(decide(None, root.path()).unwrap(), Decision::default());
    }

    #[test]
    fn selinux_running_sets_its_label() {
        let root = fake(&[(SELINUX_ENFORCE, "0")]);
        let h = host(root.path());
        assert!(h.selinux && !h.selinux_enforcing && !h.apparmor);
        let l = labels(None, Some("system_u:system_r:container_t:s0:c1,c2"), true);
        let d = decide(Some(&l), root.path()).unwrap();
        assert_eq!(
            d.labels.selinux,
            Some("system_u:system_r:container_t:s0:c1,c2")
        );
    }
}
