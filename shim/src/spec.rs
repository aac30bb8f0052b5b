//! Rewrites a container's `config.json` for a profile: process arguments
//! behind linerate-init, capabilities, no_new_privs, the network namespace,
//! and read-only bind mounts carrying linerate-init and the blob.
//!
//! The spec is edited as a `serde_json::Value` rather than through
//! oci-spec's `Spec`: a round trip through typed structs would drop fields
//! newer than the crate and reorder the rest, and the runtime must get back
//! exactly what the engine wrote, plus linerate's changes.
//!
//! The fields replaced are saved in the annotation [`ORIGINAL`], so that a
//! second `create` on the same bundle (`runc run` twice) starts from the
//! engine's spec again instead of wrapping linerate-init in itself.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use caps::Capability;
use linerate_profiles::source::NetworkMode;
use linerate_profiles::{Blob, Digest};
use serde_json::{json, Map, Value};

use crate::init::{BLOB_PATH, INIT_PATH};
use crate::lsm_label::Labels;
use crate::select::DIGEST;

/// The annotation that keeps the fields linerate replaced.
pub const ORIGINAL: &str = "io.linerate.original";

/// The capability sets of `process.capabilities`.
const SETS: [&str; 5] = [
    "bounding",
    "effective",
    "permitted",
    "inheritable",
    "ambient",
];

/// Capabilities lent to linerate-init when no_new_privs is off: the kernel
/// attaches seccomp filters and Landlock rulesets without no_new_privs only
/// for a holder of CAP_SYS_ADMIN, and dropping the bounding set needs
/// CAP_SETPCAP. linerate-init drops both once the filters are attached.
const LENT: [Capability; 2] = [Capability::CAP_SYS_ADMIN, Capability::CAP_SETPCAP];

/// What to rewrite the spec for.
#[derive(Clone, Copy, Debug)]
pub struct Rewrite<'a> {
    /// The container's id.
    pub container: &'a str,
    /// The blob's digest.
    pub digest: &'a Digest,
    /// The blob.
    pub blob: &'a Blob,
    /// linerate-init on the host.
    pub init: &'a Path,
    /// The blob's file on the host.
    pub blob_file: &'a Path,
    /// Ask linerate-init to report what it enforced.
    pub verbose: bool,
    /// The AppArmor and SELinux labels decided for this host.
    pub labels: Labels<'a>,
}

/// Why a spec could not be rewritten.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The spec is not a JSON object.
    #[error("config.json is not a JSON object")]
    NotObject,
    /// No `process`, or no arguments.
    #[error("config.json has no process.args to run")]
    NoProcess,
    /// A field of the wrong type.
    #[error("config.json: {0} has the wrong type")]
    Type(&'static str),
    /// Something already mounted where linerate mounts.
    #[error("config.json already mounts {0}, where linerate mounts its init and profile")]
    MountPointTaken(String),
    /// The saved original is unreadable, or does not rewrite back to the spec.
    #[error("config.json: annotation {ORIGINAL} is not what linerate wrote for this spec and profile (give the runtime the engine's config.json)")]
    Original,
}

/// The spec's annotations.
pub fn annotations(spec: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(Value::Object(a)) = spec.get("annotations") {
        for (k, v) in a {
            if let Value::String(s) = v {
                out.insert(k.clone(), s.clone());
            }
        }
    }
    out
}

/// Undoes an earlier rewrite, if the spec carries one; returns whether it did.
pub fn restore(spec: &mut Value) -> Result<bool, SpecError> {
    let obj = spec.as_object_mut().ok_or(SpecError::NotObject)?;
    let Some(saved) = obj
        .get_mut("annotations")
        .and_then(Value::as_object_mut)
        .and_then(|a| a.remove(ORIGINAL))
    else {
        return Ok(false);
    };
    let saved: Value = saved
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or(SpecError::Original)?;
    if let Some(a) = obj.get_mut("annotations").and_then(Value::as_object_mut) {
        a.remove(DIGEST);
    }
    // A key absent from the saved original was absent from the spec; one
    // saved as null was null there.
    for key in ["process", "mounts"] {
        match saved.get(key) {
            None => obj.remove(key),
            Some(v) => obj.insert(key.to_owned(), v.clone()),
        };
    }
    if let Some(linux) = obj.get_mut("linux").and_then(Value::as_object_mut) {
        match saved.get("namespaces") {
            None => linux.remove("namespaces"),
            Some(v) => linux.insert("namespaces".to_owned(), v.clone()),
        };
    }
    Ok(true)
}

/// Rewrites `spec` in place for the profile; on error the spec is unchanged.
pub fn rewrite(spec: &mut Value, r: &Rewrite<'_>) -> Result<(), SpecError> {
    let mut base = spec.clone();
    if restore(&mut base)? {
        // Whoever writes annotations can write the saved fields too: honour
        // them only when they rewrite back to this very spec, so that a
        // forged original can never bring in its own mounts, namespaces,
        // user or capabilities.
        let args = spec.pointer("/process/args").and_then(Value::as_array);
        let arg_after = |flag: &str| {
            let a = args?;
            let i = a.iter().position(|v| v == flag)?;
            a.get(i + 1)?.as_str()
        };
        let digest: Option<Digest> = arg_after("--digest").and_then(|d| d.parse().ok());
        let source = |dest: &str| {
            let mounts = spec.get("mounts")?.as_array()?;
            mounts
                .iter()
                .rev()
                .find(|m| m["destination"] == dest)?
                .get("source")?
                .as_str()
                .map(Path::new)
        };
        // The profile itself may have been recompiled since: only what it
        // enforces must be the same.
        let previous = Rewrite {
            container: arg_after("--container").unwrap_or(r.container),
            digest: digest.as_ref().unwrap_or(r.digest),
            init: source(INIT_PATH).unwrap_or(r.init),
            blob_file: source(BLOB_PATH).unwrap_or(r.blob_file),
            verbose: args.is_some_and(|a| {
                a.iter()
                    .take_while(|v| *v != "--")
                    .any(|v| v == "--verbose")
            }),
            blob: r.blob,
            labels: r.labels,
        };
        if rewritten(&base, &previous)? != *spec {
            return Err(SpecError::Original);
        }
    }
    *spec = rewritten(&base, r)?;
    Ok(())
}

/// The rewrite of a spec that carries no saved original.
fn rewritten(base: &Value, r: &Rewrite<'_>) -> Result<Value, SpecError> {
    let mut new = base.clone();
    let obj = new.as_object_mut().ok_or(SpecError::NotObject)?;

    let mut original = Map::new();
    for key in ["process", "mounts"] {
        if let Some(v) = obj.get(key) {
            original.insert(key.to_owned(), v.clone());
        }
    }
    if let Some(ns) = obj.get("linux").and_then(|l| l.get("namespaces")) {
        original.insert("namespaces".to_owned(), ns.clone());
    }
    let original = Value::Object(original);

    let process = obj
        .get_mut("process")
        .and_then(Value::as_object_mut)
        .ok_or(SpecError::NoProcess)?;
    wrap_process(process, r)?;

    if r.blob.network == NetworkMode::Private {
        let linux = obj.entry("linux").or_insert_with(|| json!({}));
        let linux = linux.as_object_mut().ok_or(SpecError::Type("linux"))?;
        let ns = linux.entry("namespaces").or_insert_with(|| json!([]));
        let ns = ns
            .as_array_mut()
            .ok_or(SpecError::Type("linux.namespaces"))?;
        if !ns
            .iter()
            .any(|n| n.get("type").and_then(Value::as_str) == Some("network"))
        {
            ns.push(json!({ "type": "network" }));
        }
    }

    let mounts = obj.entry("mounts").or_insert_with(|| json!([]));
    let mounts = mounts.as_array_mut().ok_or(SpecError::Type("mounts"))?;
    for m in mounts.iter() {
        let dest = m.get("destination").and_then(Value::as_str).unwrap_or("");
        let clean = dest.trim_end_matches('/');
        if clean == "/.linerate"
            || clean.starts_with("/.linerate/")
            || clean.is_empty() && dest == "/"
        {
            return Err(SpecError::MountPointTaken(dest.to_owned()));
        }
    }
    mounts.push(json!({
        "destination": INIT_PATH, "type": "bind", "source": r.init,
        "options": ["bind", "ro", "nosuid", "nodev"],
    }));
    mounts.push(json!({
        "destination": BLOB_PATH, "type": "bind", "source": r.blob_file,
        "options": ["bind", "ro", "nosuid", "nodev", "noexec"],
    }));

    let ann = obj.entry("annotations").or_insert_with(|| json!({}));
    let ann = ann.as_object_mut().ok_or(SpecError::Type("annotations"))?;
    ann.insert(ORIGINAL.to_owned(), Value::String(original.to_string()));
    ann.insert(DIGEST.to_owned(), Value::String(r.digest.to_string()));
    Ok(new)
}

/// Puts linerate-init in front of a process's arguments and sets its
/// no_new_privs and capabilities for the profile: the spec's `process`, or
/// the process file of `runc exec --process`.
pub fn wrap_process(process: &mut Map<String, Value>, r: &Rewrite<'_>) -> Result<(), SpecError> {
    let args = process
        .get("args")
        .and_then(Value::as_array)
        .ok_or(SpecError::NoProcess)?;
    if args.is_empty() || !args.iter().all(Value::is_string) {
        return Err(SpecError::NoProcess);
    }

    let nnp = match r.blob.no_new_privs {
        Some(b) => {
            process.insert("noNewPrivileges".to_owned(), Value::Bool(b));
            b
        }
        None => process
            .get("noNewPrivileges")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    let lent = capabilities(process, r.blob.capabilities, nnp)?;
    // Set on every process, the exec'd ones included: a process file naming
    // another AppArmor profile (or `unconfined`) must not leave the profile's.
    let Labels { apparmor, selinux } = r.labels;
    if let Some(a) = apparmor {
        process.insert("apparmorProfile".to_owned(), json!(a));
    }
    if let Some(s) = selinux {
        process.insert("selinuxLabel".to_owned(), json!(s));
    }

    let mut init_args = vec![
        json!(INIT_PATH),
        json!("--digest"),
        json!(r.digest.to_string()),
        json!("--container"),
        json!(r.container),
    ];
    if lent != 0 {
        init_args.push(json!("--drop-caps"));
        init_args.push(json!(format!("{lent:#x}")));
    }
    if r.verbose {
        init_args.push(json!("--verbose"));
    }
    init_args.push(json!("--"));
    let args = process
        .get_mut("args")
        .and_then(Value::as_array_mut)
        .ok_or(SpecError::NoProcess)?;
    init_args.append(args);
    *args = init_args;
    Ok(())
}

fn names(v: Option<&Value>) -> Result<u64, SpecError> {
    let Some(v) = v else { return Ok(0) };
    let list = v
        .as_array()
        .ok_or(SpecError::Type("process.capabilities"))?;
    Ok(list
        .iter()
        .filter_map(Value::as_str)
        .filter_map(|n| Capability::from_str(n).ok())
        .fold(0, |m, c| m | c.bitmask()))
}

fn to_names(mask: u64) -> Value {
    let mut caps: Vec<Capability> = caps::all()
        .into_iter()
        .filter(|c| mask & c.bitmask() != 0)
        .collect();
    caps.sort_by_key(Capability::index);
    Value::Array(caps.iter().map(|c| Value::String(c.to_string())).collect())
}

/// Sets the capability sets for `keep` (never more than the spec's bounding
/// set), lends CAP_SYS_ADMIN and CAP_SETPCAP when no_new_privs is off, and
/// returns the mask lent.
fn capabilities(
    process: &mut Map<String, Value>,
    keep: Option<u64>,
    nnp: bool,
) -> Result<u64, SpecError> {
    let caps = process.entry("capabilities").or_insert_with(|| json!({}));
    let caps = caps
        .as_object_mut()
        .ok_or(SpecError::Type("process.capabilities"))?;

    if let Some(keep) = keep {
        let kept = keep & names(caps.get("bounding"))?;
        for set in SETS {
            caps.insert(set.to_owned(), to_names(kept));
        }
    }
    if nnp {
        return Ok(0);
    }

    let held = ["bounding", "effective", "permitted"]
        .iter()
        .map(|s| names(caps.get(*s)))
        .try_fold(u64::MAX, |m, n| n.map(|n| m & n))?;
    let lent = LENT.iter().fold(0, |m, c| m | c.bitmask()) & !held;
    if lent != 0 {
        for set in ["bounding", "effective", "permitted"] {
            let have = names(caps.get(set))?;
            caps.insert(set.to_owned(), to_names(have | lent));
        }
    }
    Ok(lent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use linerate_profiles::compile::compile_level;

    fn runc_spec() -> Value {
        json!({
            "ociVersion": "1.0.2",
            "process": {
                "args": ["sh"], "cwd": "/", "noNewPrivileges": true,
                "capabilities": {
                    "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                    "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                    "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                    "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
                },
                "somethingNew": {"kept": true}
            },
            "root": {"path": "rootfs"},
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}
        })
    }

    fn rewrite_for(spec: &mut Value, level: &str) -> Result<(), SpecError> {
        let blob = compile_level(level).unwrap();
        let digest = Digest::of(&blob.to_bytes());
        rewrite(
            spec,
            &Rewrite {
                container: "c1",
                digest: &digest,
                blob: &blob,
                init: Path::new("/usr/lib/linerate/linerate-init"),
                blob_file: Path::new("/store/blob"),
                verbose: false,
                labels: Labels::default(),
            },
        )
    }

    #[test]
    fn sandbox_clears_capabilities_adds_a_netns_and_wraps_the_command() {
        let mut spec = runc_spec();
        rewrite_for(&mut spec, "sandbox").unwrap();
        for set in SETS {
            assert_eq!(spec["process"]["capabilities"][set], json!([]), "{set}");
        }
        let args = spec["process"]["args"].as_array().unwrap();
        assert_eq!(args[0], INIT_PATH);
        assert_eq!(args[args.len() - 2..], [json!("--"), json!("sh")]);
        assert!(spec["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .contains(&json!({"type": "network"})));
        assert_eq!(spec["mounts"].as_array().unwrap().len(), 3);
        assert_eq!(spec["process"]["somethingNew"], json!({"kept": true}));
        assert!(spec["annotations"][DIGEST]
            .as_str()
            .unwrap()
            .starts_with("sha256:"));
    }

    #[test]
    fn rewriting_twice_equals_rewriting_once_and_restore_undoes_it() {
        let mut once = runc_spec();
        rewrite_for(&mut once, "sandbox").unwrap();
        let mut twice = once.clone();
        rewrite_for(&mut twice, "sandbox").unwrap();
        assert_eq!(once, twice);
        let mut back = once.clone();
        assert!(restore(&mut back).unwrap());
        let mut want = runc_spec();
        want["annotations"] = json!({});
        assert_eq!(back, want);
    }

    #[test]
    fn minimal_leaves_capabilities_and_lends_only_without_no_new_privs() {
        let mut spec = runc_spec();
        rewrite_for(&mut spec, "minimal").unwrap();
        assert_eq!(
            spec["process"]["capabilities"],
            runc_spec()["process"]["capabilities"]
        );
        assert!(!spec["process"]["args"]
            .as_array()
            .unwrap()
            .contains(&json!("--drop-caps")));

        let mut spec = runc_spec();
        spec["process"]["noNewPrivileges"] = json!(false);
        rewrite_for(&mut spec, "minimal").unwrap();
        let eff = spec["process"]["capabilities"]["effective"]
            .as_array()
            .unwrap();
        assert!(eff.contains(&json!("CAP_SYS_ADMIN")) && eff.contains(&json!("CAP_SETPCAP")));
        let args = spec["process"]["args"].as_array().unwrap();
        let i = args.iter().position(|a| a == "--drop-caps").unwrap();
        assert_eq!(
            args[i + 1],
            json!(format!("{:#x}", (1u64 << 21) | (1 << 8)))
        );
    }

    #[test]
    fn a_null_field_survives_a_second_rewrite() {
        let mut spec = runc_spec();
        spec["linux"]["namespaces"] = Value::Null;
        rewrite_for(&mut spec, "minimal").unwrap();
        let once = spec.clone();
        rewrite_for(&mut spec, "minimal").unwrap();
        assert_eq!(spec, once);
        assert!(restore(&mut spec).unwrap());
        assert_eq!(spec["linux"]["namespaces"], Value::Null);
    }

    #[test]
    fn bad_specs_are_refused_and_left_alone() {
        for mut spec in [
            json!({"root": {"path": "r"}}),
            json!({"process": {"args": []}}),
            json!({"process": {"args": [1]}}),
            json!([1, 2]),
        ] {
            let before = spec.clone();
            assert!(rewrite_for(&mut spec, "sandbox").is_err());
            assert_eq!(spec, before);
        }
        let mut spec = runc_spec();
        spec["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/.linerate", "type": "tmpfs"}));
        assert!(matches!(
            rewrite_for(&mut spec, "sandbox"),
            Err(SpecError::MountPointTaken(_))
        ));
    }

    #[test]
    fn a_kept_capability_is_never_more_than_the_bounding_set() {
        let mut spec = runc_spec();
        let mut blob = compile_level("sandbox").unwrap();
        blob.capabilities =
            Some(Capability::CAP_NET_BIND_SERVICE.bitmask() | Capability::CAP_SYS_ADMIN.bitmask());
        let digest = Digest::of(b"x");
        rewrite(
            &mut spec,
            &Rewrite {
                container: "c",
                digest: &digest,
                blob: &blob,
                init: Path::new("/i"),
                blob_file: Path::new("/b"),
                verbose: false,
                labels: Labels::default(),
            },
        )
        .unwrap();
        for set in SETS {
            assert_eq!(
                spec["process"]["capabilities"][set],
                json!(["CAP_NET_BIND_SERVICE"]),
                "{set}"
            );
        }
    }

    #[test]
    fn labels_replace_the_engines_and_survive_a_second_rewrite() {
        let blob = compile_level("sandbox").unwrap();
        let digest = Digest::of(&blob.to_bytes());
        let r = Rewrite {
            container: "c1",
            digest: &digest,
            blob: &blob,
            init: Path::new("/i"),
            blob_file: Path::new("/b"),
            verbose: false,
            labels: Labels {
                apparmor: Some("linerate-web"),
                selinux: Some("u:r:container_t:s0"),
            },
        };
        let mut spec = runc_spec();
        spec["process"]["apparmorProfile"] = json!("unconfined");
        rewrite(&mut spec, &r).unwrap();
        assert_eq!(spec["process"]["apparmorProfile"], "linerate-web");
        assert_eq!(spec["process"]["selinuxLabel"], "u:r:container_t:s0");
        let once = spec.clone();
        rewrite(&mut spec, &r).unwrap();
        assert_eq!(spec, once);
        assert!(restore(&mut spec).unwrap());
        assert_eq!(spec["process"]["apparmorProfile"], "unconfined");
        assert!(spec["process"].get("selinuxLabel").is_none());

        let mut spec = runc_spec();
        rewrite_for(&mut spec, "sandbox").unwrap();
        assert!(spec["process"].get("apparmorProfile").is_none());
    }
}
