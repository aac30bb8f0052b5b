//! Docker's default profile, resolved as podman resolves it.

use std::fmt::Write as _;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

/// podman's default capabilities (`default_capabilities` in
/// `/usr/share/containers/containers.conf`), which decide the profile's
/// `includes.caps` and `excludes.caps` entries.
pub(crate) const PODMAN_CAPS: [&str; 11] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

/// Docker's default profile, resolved for x86_64 and [`PODMAN_CAPS`]: the
/// rules file for the helper, the `linux.seccomp` object runc reads from
/// `config.json`, and the number of rules.
pub(crate) fn docker_rules(profile: &Value) -> Result<(String, Value, usize)> {
    let default = profile["defaultAction"].as_str().context("defaultAction")?;
    let default_errno = profile["defaultErrnoRet"].as_u64().unwrap_or(1);
    let word = |action: &str, errno: Option<u64>| -> Result<String> {
        Ok(match action {
            "SCMP_ACT_ALLOW" => "allow".to_owned(),
            "SCMP_ACT_LOG" => "log".to_owned(),
            "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => "kill".to_owned(),
            "SCMP_ACT_KILL_PROCESS" => "kill_process".to_owned(),
            "SCMP_ACT_TRAP" => "trap".to_owned(),
            "SCMP_ACT_ERRNO" => format!("errno:{}", errno.unwrap_or(1)),
            other => bail!("action {other} is not supported here"),
        })
    };
    let mut text = String::new();
    writeln!(text, "default {}", word(default, Some(default_errno))?)?;
    // x86_64 with its sub-architectures, as the profile's archMap gives them.
    let mut arches = vec!["SCMP_ARCH_X86_64".to_owned()];
    for m in profile["archMap"].as_array().into_iter().flatten() {
        if m["architecture"] == "SCMP_ARCH_X86_64" {
            for s in m["subArchitectures"].as_array().into_iter().flatten() {
                arches.extend(s.as_str().map(str::to_owned));
            }
        }
    }
    for a in &arches {
        let w = match a.as_str() {
            "SCMP_ARCH_X86_64" => "x86_64",
            "SCMP_ARCH_X86" => "x86",
            "SCMP_ARCH_X32" => "x32",
            other => bail!("architecture {other}"),
        };
        writeln!(text, "arch {w}")?;
    }

    // An absent or empty list asks for nothing.
    let has_all = |list: &Value, of: &[&str]| {
        list.as_array()
            .is_none_or(|l| l.iter().all(|c| of.iter().any(|x| c == x)))
    };
    let has_any = |list: &Value, of: &[&str]| {
        list.as_array()
            .is_some_and(|l| l.iter().any(|c| of.iter().any(|x| c == x)))
    };
    let mut oci = Vec::new();
    let mut count = 0;
    for entry in profile["syscalls"].as_array().context("syscalls")? {
        let inc = &entry["includes"];
        let exc = &entry["excludes"];
        let arch_ok = inc["arches"]
            .as_array()
            .is_none_or(|a| a.is_empty() || has_any(&inc["arches"], &["amd64"]));
        if !arch_ok || has_any(&exc["arches"], &["amd64"]) {
            continue;
        }
        if !has_all(&inc["caps"], &PODMAN_CAPS) || has_any(&exc["caps"], &PODMAN_CAPS) {
            continue;
        }
        let action = entry["action"].as_str().context("action")?;
        let errno = entry["errnoRet"].as_u64();
        let mut atoms = Vec::new();
        for a in entry["args"].as_array().into_iter().flatten() {
            let idx = a["index"].as_u64().context("index")?;
            let v = a["value"].as_u64().context("value")?;
            let v2 = a["valueTwo"].as_u64().unwrap_or(0);
            let op = match a["op"].as_str().context("op")? {
                "SCMP_CMP_EQ" => "eq",
                "SCMP_CMP_NE" => "ne",
                "SCMP_CMP_LT" => "lt",
                "SCMP_CMP_LE" => "le",
                "SCMP_CMP_GT" => "gt",
                "SCMP_CMP_GE" => "ge",
                "SCMP_CMP_MASKED_EQ" => "meq",
                other => bail!("comparison {other}"),
            };
            atoms.push(if op == "meq" {
                format!("{idx}:meq:{v:#x}:{v2:#x}")
            } else {
                format!("{idx}:{op}:{v:#x}")
            });
        }
        let names: Vec<&str> = entry["names"]
            .as_array()
            .context("names")?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for n in &names {
            writeln!(
                text,
                "rule {} {n} {}",
                word(action, errno)?,
                atoms.join(" ")
            )?;
            count += 1;
        }
        let mut s = json!({ "names": names, "action": action });
        if let Some(e) = errno {
            s["errnoRet"] = json!(e);
        }
        if let Some(args) = entry["args"].as_array().filter(|a| !a.is_empty()) {
            s["args"] = json!(args);
        }
        oci.push(s);
    }
    let seccomp = json!({
        "defaultAction": default,
        "defaultErrnoRet": default_errno,
        "architectures": arches,
        "syscalls": oci,
    });
    Ok((text, seccomp, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_entries_follow_podmans_capabilities_and_architecture() {
        let profile = json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "archMap": [{ "architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"] }],
            "syscalls": [
                { "names": ["getpid"], "action": "SCMP_ACT_ALLOW" },
                { "names": ["bpf"], "action": "SCMP_ACT_ALLOW", "includes": { "caps": ["CAP_SYS_ADMIN"] } },
                { "names": ["bpf"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "excludes": { "caps": ["CAP_SYS_ADMIN"] } },
                { "names": ["chroot"], "action": "SCMP_ACT_ALLOW", "includes": { "caps": ["CAP_SYS_CHROOT"] } },
                { "names": ["set_tls"], "action": "SCMP_ACT_ALLOW", "includes": { "arches": ["arm"] } },
                { "names": ["personality"], "action": "SCMP_ACT_ALLOW",
                  "args": [{ "index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ" }] },
            ],
        });
        let (text, oci, n) = docker_rules(&profile).unwrap();
        let rules: Vec<&str> = text.lines().filter(|l| l.starts_with("rule")).collect();
        assert_eq!(
            rules,
            [
                "rule allow getpid ",
                "rule errno:1 bpf ",
                "rule allow chroot ",
                "rule allow personality 0:eq:0x8"
            ]
        );
        assert_eq!(n, 4);
        assert!(text.contains("default errno:38\narch x86_64\narch x86\n"));
        assert_eq!(
            oci["architectures"],
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])
        );
        assert_eq!(oci["syscalls"].as_array().unwrap().len(), 4);
    }
}
