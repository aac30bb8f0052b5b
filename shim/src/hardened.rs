//! What the shim does for a profile that needs BPF-LSM (level `hardened`):
//! refuse it where BPF-LSM is not active, add linerate-hook to the spec so
//! the runtime writes and removes the container's entry, and remove the
//! entry itself on `delete`, after the runtime has removed the container.

use std::path::{Path, PathBuf};
use std::process::Command;

use linerate_bpf::{entries, LsmError};
use linerate_profiles::Blob;
use serde_json::{json, Value};

/// The hook stages linerate-hook is added to, with the argument it gets.
const STAGES: [(&str, &str); 2] = [("createRuntime", "createRuntime"), ("poststop", "poststop")];

/// Refuses a profile that needs BPF-LSM unless BPF-LSM is active here (the
/// LSM list names `bpf` and a live self-test sees the programs run),
/// loading and pinning the programs on first use. Other profiles pass.
pub fn check(blob: &Blob) -> Result<(), LsmError> {
    if !blob.bpf_lsm {
        return Ok(());
    }
    linerate_bpf::ensure_active().map(drop)
}

/// linerate-hook on the host: `LINERATE_HOOK`, else beside this program.
pub fn hook_path() -> Result<PathBuf, String> {
    let p = match std::env::var_os("LINERATE_HOOK").filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => std::env::current_exe()
            .map_err(|e| format!("locating this program: {e}"))?
            .with_file_name("linerate-hook"),
    };
    p.canonicalize()
        .map_err(|e| format!("linerate-hook at {}: {e}", p.display()))
}

/// Adds linerate-hook to the spec's `createRuntime` and `poststop` hooks for
/// a profile that needs BPF-LSM; a second call adds nothing. Hooks the
/// engine wrote stay, before linerate's.
pub fn add_hooks(spec: &mut Value, blob: &Blob, hook: &Path) -> Result<(), &'static str> {
    if !blob.bpf_lsm {
        return Ok(());
    }
    let obj = spec
        .as_object_mut()
        .ok_or("config.json is not a JSON object")?;
    let hooks = obj.entry("hooks").or_insert_with(|| json!({}));
    let hooks = hooks
        .as_object_mut()
        .ok_or("config.json: hooks has the wrong type")?;
    for (stage, arg) in STAGES {
        let entry = json!({ "path": hook, "args": ["linerate-hook", arg] });
        let list = hooks.entry(stage).or_insert_with(|| json!([]));
        let list = list
            .as_array_mut()
            .ok_or("config.json: a hook stage has the wrong type")?;
        if !list.contains(&entry) {
            list.push(entry);
        }
    }
    Ok(())
}

/// The container id of `delete [--force|-f] ID`.
pub fn delete_id(rest: &[String]) -> Option<&str> {
    rest.iter()
        .rev()
        .find(|a| !a.starts_with('-'))
        .map(String::as_str)
}

/// Runs the real runtime's `delete`, then, once it has succeeded (the
/// container's processes are gone), removes the container's BPF-LSM
/// entries, which a killed runtime's poststop never removed. Returns the
/// runtime's exit code. Removing nothing is not an error; a failure to
/// remove is reported on stderr and left to `linerate gc`.
pub fn run_delete(real: &Path, args: &[String], rest: &[String]) -> i32 {
    let status = match Command::new(real).args(args).status() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("linerate-runtime: runtime: running {}: {e}", real.display());
            return 125;
        }
    };
    if status.success() {
        if let Some(id) = delete_id(rest) {
            if let Err(e) = entries::remove_container(id) {
                eprintln!(
                    "linerate-runtime: container {id}: delete: {} (linerate gc will sweep it)",
                    crate::init::chain(&e)
                );
            }
        }
    }
    status.code().unwrap_or(125)
}

#[cfg(test)]
mod tests {
    use super::*;
    use linerate_profiles::compile::compile_level;

    #[test]
    fn hooks_are_added_once_and_only_for_bpf_lsm() {
        let hardened = compile_level("hardened").unwrap();
        let mut spec =
            json!({"process": {"args": ["sh"]}, "hooks": {"poststop": [{"path": "/engine"}]}});
        add_hooks(&mut spec, &hardened, Path::new("/usr/bin/linerate-hook")).unwrap();
        let once = spec.clone();
        add_hooks(&mut spec, &hardened, Path::new("/usr/bin/linerate-hook")).unwrap();
        assert_eq!(spec, once);
        assert_eq!(
            spec["hooks"]["createRuntime"][0]["args"],
            json!(["linerate-hook", "createRuntime"])
        );
        assert_eq!(spec["hooks"]["poststop"][0]["path"], "/engine");
        assert_eq!(
            spec["hooks"]["poststop"][1]["args"],
            json!(["linerate-hook", "poststop"])
        );

        let sandbox = compile_level("sandbox").unwrap();
        let mut spec = json!({"process": {"args": ["sh"]}});
        add_hooks(&mut spec, &sandbox, Path::new("/h")).unwrap();
        assert!(spec.get("hooks").is_none());
        assert!(add_hooks(&mut json!({"hooks": []}), &hardened, Path::new("/h")).is_err());
    }

    #[test]
    fn only_bpf_lsm_profiles_are_checked() {
        assert!(check(&compile_level("sandbox").unwrap()).is_ok());
    }

    #[test]
    fn the_delete_id_is_the_last_operand() {
        let v = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(delete_id(&v("--force c1")), Some("c1"));
        assert_eq!(delete_id(&v("c2 -f")), Some("c2"));
        assert_eq!(delete_id(&v("--force")), None);
    }
}
