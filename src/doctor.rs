//! `linerate doctor`: what this host can enforce, and for each level whether
//! it is enforced in full, degraded, or refused.

use std::path::Path;
use std::process::Command;

use linerate_profiles::compile::compile_level;
use linerate_profiles::store::Store;
use serde_json::{json, Value};

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

fn version(program: &str) -> Option<String> {
    let out = Command::new(program).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next().map(str::to_owned)
}

fn mount_type(target: &str) -> Option<String> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts
        .lines()
        .rev()
        .find_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.get(1) == Some(&target)).then(|| f.get(2).map(|s| (*s).to_owned()))
        })
        .flatten()
}

fn cgroup_layout() -> &'static str {
    match mount_type("/sys/fs/cgroup").as_deref() {
        Some("cgroup2") => "v2",
        Some(_) if Path::new("/sys/fs/cgroup/unified").is_dir() => "hybrid",
        Some(_) => "v1",
        None => "none",
    }
}

/// Every fact, and the verdict per level, as JSON.
pub(crate) fn report(store: &Store) -> Value {
    let actions = read("/proc/sys/kernel/seccomp/actions_avail").unwrap_or_default();
    let landlock = linerate_shim::apply::landlock::abi();
    let lsm = read("/sys/kernel/security/lsm");
    let bpf_lsm = lsm.as_deref().map(|l| l.split(',').any(|m| m == "bpf"));
    let store_state = match store.verify() {
        Ok(p) if p.is_empty() => {
            json!({ "ok": true, "profiles": store.list().map(|l| l.len()).unwrap_or(0) })
        }
        Ok(p) => json!({ "ok": false, "problems": p.len() }),
        Err(e) => json!({ "ok": false, "error": linerate_shim::init::chain(&e) }),
    };

    // The LSM list alone proves nothing (F7): the live self-test loads the
    // programs and checks that the kernel runs them.
    let bpf_lsm_checked = match linerate_bpf::ensure_active() {
        Ok(_) => (true, String::new()),
        Err(e) => (false, linerate_shim::init::chain(&e)),
    };
    let mac = linerate_shim::lsm_label::host(Path::new("/"));
    let apparmor_profiles = read(&format!("/{}", linerate_shim::lsm_label::APPARMOR_PROFILES))
        .map(|t| t.lines().count());
    let mut levels = serde_json::Map::new();
    let seccomp_ok = actions.split(' ').any(|a| a == "errno");
    for (name, _) in linerate_profiles::levels::SOURCES {
        let blob = compile_level(name).expect("the levels compile");
        let verdict = if !seccomp_ok {
            json!({ "state": "refused", "why": "the kernel has no seccomp errno action" })
        } else if blob.bpf_lsm && !bpf_lsm_checked.0 {
            json!({ "state": "refused", "why": bpf_lsm_checked.1 })
        } else if let Some(l) = &blob.landlock {
            match &landlock {
                Ok(abi) if *abi >= u32::from(l.min_abi) => {
                    let row = u8::try_from((*abi).min(7)).unwrap_or(7);
                    let (fs, scope) = l.unenforced_at(row);
                    if fs == 0 && scope == 0 {
                        json!({ "state": "full" })
                    } else {
                        json!({ "state": "degraded", "landlock_abi": abi,
                                "unenforced_fs": format!("{fs:#x}"), "unenforced_scope": format!("{scope:#x}") })
                    }
                }
                Ok(abi) => {
                    json!({ "state": "refused", "why": format!("Landlock ABI {abi} is below {}", l.min_abi) })
                }
                Err(e) => json!({ "state": "refused", "why": format!("no Landlock: {e}") }),
            }
        } else {
            json!({ "state": "full" })
        };
        levels.insert(name.to_owned(), verdict);
    }

    json!({
        "kernel": read("/proc/sys/kernel/osrelease"),
        "seccomp_actions": actions,
        "landlock_abi": landlock.as_ref().ok(),
        "lsm": lsm,
        "bpf_lsm_listed": bpf_lsm,
        "bpf_lsm_active": bpf_lsm_checked.0,
        "apparmor": { "running": mac.apparmor, "profiles_loaded": apparmor_profiles },
        "selinux": { "running": mac.selinux, "enforcing": mac.selinux_enforcing },
        "btf": Path::new("/sys/kernel/btf/vmlinux").exists(),
        "bpffs": mount_type("/sys/fs/bpf").as_deref() == Some("bpf"),
        "cgroup": cgroup_layout(),
        "runtimes": { "runc": version("runc"), "crun": version("crun") },
        "engines": { "podman": version("podman"), "containerd": version("containerd") },
        "store": { "path": store.root(), "state": store_state },
        "levels": levels,
    })
}

/// The report for people.
pub(crate) fn human(r: &Value) -> String {
    let s = |v: &Value| match v {
        Value::Null => "unknown (securityfs not mounted or file absent)".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut out = String::new();
    out.push_str(&format!("kernel            {}\n", s(&r["kernel"])));
    out.push_str(&format!("seccomp actions   {}\n", s(&r["seccomp_actions"])));
    out.push_str(&format!("landlock ABI      {}\n", s(&r["landlock_abi"])));
    out.push_str(&format!("LSMs              {}\n", s(&r["lsm"])));
    out.push_str(&format!("BPF-LSM listed    {}\n", s(&r["bpf_lsm_listed"])));
    out.push_str(&format!("BPF-LSM active    {}\n", s(&r["bpf_lsm_active"])));
    let apparmor = match (&r["apparmor"]["running"], &r["apparmor"]["profiles_loaded"]) {
        (Value::Bool(true), Value::Number(n)) => format!("running, {n} profiles loaded"),
        (Value::Bool(true), _) => "running, profile list unreadable".to_owned(),
        _ => "not running".to_owned(),
    };
    let selinux = match (&r["selinux"]["running"], &r["selinux"]["enforcing"]) {
        (Value::Bool(true), Value::Bool(true)) => "running, enforcing",
        (Value::Bool(true), _) => "running, permissive",
        _ => "not running",
    };
    out.push_str(&format!("AppArmor          {apparmor}\n"));
    out.push_str(&format!("SELinux           {selinux}\n"));
    out.push_str(&format!("BTF               {}\n", s(&r["btf"])));
    out.push_str(&format!("bpffs             {}\n", s(&r["bpffs"])));
    out.push_str(&format!("cgroups           {}\n", s(&r["cgroup"])));
    for (k, v) in r["runtimes"]
        .as_object()
        .into_iter()
        .flatten()
        .chain(r["engines"].as_object().into_iter().flatten())
    {
        out.push_str(&format!("{k:<17} {}\n", s(v)));
    }
    let st = &r["store"]["state"];
    let health = if st["ok"] == true {
        format!("ok, {} profiles", st["profiles"])
    } else if let Some(e) = st["error"].as_str() {
        format!("broken: {e}")
    } else {
        format!("{} profiles fail verification", st["problems"])
    };
    out.push_str(&format!(
        "store             {} ({health})\n",
        s(&r["store"]["path"])
    ));
    for (level, v) in r["levels"].as_object().into_iter().flatten() {
        let state = s(&v["state"]);
        let detail: Vec<String> = v
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| *k != "state")
            .map(|(k, x)| format!("{k}={}", s(x)))
            .collect();
        let line = format!("level {level:<11} {state} {}", detail.join(" "));
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
