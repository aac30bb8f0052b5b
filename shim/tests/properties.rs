//! Property tests of the shim's parsers of outside data: `config.json` as
//! `spec::rewrite` and the podman precreate step see it, linerate-init's
//! arguments, and the runc command line. None may panic; a spec is either
//! refused and left untouched, or comes out starting linerate-init in front
//! of exactly the command it asked for, with linerate's mounts last.
//!
//! Each property runs `PROPTEST_CASES` cases (default below); set it higher
//! for a longer run: `PROPTEST_CASES=20000 cargo test -p linerate-shim --test properties`.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::sync::OnceLock;

use linerate_profiles::compile::compile_level;
use linerate_profiles::{Blob, Digest};
use linerate_shim::init::{self, BLOB_PATH, INIT_PATH};
use linerate_shim::spec::{self, Rewrite, SpecError, ORIGINAL};
use linerate_shim::{runtime, select};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use serde_json::{json, Value};

fn cases(default: u32) -> Config {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    Config {
        cases: n,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        max_global_rejects: n,
        ..Config::default()
    }
}

/// Each level's blob and digest, compiled once.
fn level(name: &str) -> &'static (Blob, Digest) {
    static LEVELS: OnceLock<Vec<(String, (Blob, Digest))>> = OnceLock::new();
    let all = LEVELS.get_or_init(|| {
        ["minimal", "sandbox", "hardened"]
            .iter()
            .map(|n| {
                let b = compile_level(n).expect("levels compile");
                let d = Digest::of(&b.to_bytes());
                ((*n).to_owned(), (b, d))
            })
            .collect()
    });
    &all.iter().find(|(n, _)| n == name).expect("a level").1
}

fn rewrite_with<'a>(
    blob: &'a Blob,
    digest: &'a Digest,
    container: &'a str,
    verbose: bool,
) -> Rewrite<'a> {
    Rewrite {
        container,
        digest,
        blob,
        init: Path::new("/usr/local/bin/linerate-init"),
        blob_file: Path::new("/var/lib/linerate/store/blobs/sha256/x"),
        verbose,
        labels: linerate_shim::lsm_label::Labels::default(),
    }
}

/// A spec as runc writes it.
fn runc_spec() -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "user": {"uid": 1000, "gid": 1000},
            "args": ["sh", "-c", "echo hi"], "cwd": "/", "noNewPrivileges": false,
            "capabilities": {
                "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_KILL"]
            }
        },
        "root": {"path": "rootfs", "readonly": true},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}], "maskedPaths": ["/proc/kcore"]},
        "annotations": {"io.linerate.level": "sandbox"}
    })
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(null)),
        Just(json!(true)),
        Just(json!(-1)),
        Just(json!(1e300)),
        Just(json!("")),
        Just(json!("/.linerate")),
        Just(json!("/.linerate/init")),
        Just(json!("//.linerate/")),
        Just(json!("relative/path")),
        Just(json!(INIT_PATH)),
        Just(json!("--")),
        Just(json!("--digest")),
        Just(json!(["sh"])),
        Just(json!([])),
        Just(json!([1, 2])),
        Just(json!({})),
        Just(json!({"type": "network"})),
        Just(json!({"destination": "/.linerate/init", "type": "tmpfs"})),
        Just(json!({"destination": "/x", "type": "bind", "source": "/"})),
        Just(json!({"bounding": ["CAP_SYS_ADMIN"], "effective": "CAP_SYS_ADMIN"})),
        "\\PC{0,12}".prop_map(Value::String),
    ]
}

/// Arbitrary JSON, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "process",
                        "args",
                        "mounts",
                        "linux",
                        "namespaces",
                        "annotations",
                        "capabilities",
                        "noNewPrivileges",
                        "destination",
                        "x"
                    ]),
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

/// Sets the value at a random place of `v` (by indices into objects and
/// arrays), or removes it.
fn edit(v: &mut Value, path: &[usize], with: Option<&Value>) {
    let Some((&first, rest)) = path.split_first() else {
        if let Some(w) = with {
            *v = w.clone();
        }
        return;
    };
    match v {
        Value::Object(m) if !m.is_empty() => {
            let key = m.keys().nth(first % m.len()).cloned().expect("in range");
            if rest.is_empty() && with.is_none() {
                m.remove(&key);
            } else {
                edit(m.get_mut(&key).expect("present"), rest, with);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            let i = first % a.len();
            if rest.is_empty() && with.is_none() {
                a.remove(i);
            } else {
                edit(&mut a[i], rest, with);
            }
        }
        _ => {
            if let Some(w) = with {
                *v = w.clone();
            }
        }
    }
}

/// A runc spec, possibly already rewritten by linerate, with random edits,
/// or arbitrary JSON.
fn hostile_spec() -> impl Strategy<Value = Value> {
    let edits = prop::collection::vec(
        (
            prop::collection::vec(any::<usize>(), 0..5),
            prop::option::of(any_json()),
        ),
        0..5,
    );
    prop_oneof![
        3 => (any::<bool>(), prop::sample::select(vec!["minimal", "sandbox"]), edits).prop_map(|(pre, lvl, edits)| {
            let mut s = runc_spec();
            if pre {
                let (b, d) = level(lvl);
                spec::rewrite(&mut s, &rewrite_with(b, d, "old", false)).expect("runc's spec rewrites");
            }
            for (path, with) in &edits {
                edit(&mut s, path, with.as_ref());
            }
            s
        }),
        1 => any_json(),
    ]
}

/// The command the spec would have run without linerate: its process.args
/// after an honest restore.
fn command_of(spec: &Value) -> Option<Vec<Value>> {
    let mut s = spec.clone();
    spec::restore(&mut s).ok()?;
    s.pointer("/process/args")?.as_array().cloned()
}

fn check_rewrite(input: &Value, lvl: &str) -> Result<(), TestCaseError> {
    let (blob, digest) = level(lvl);
    let r = rewrite_with(blob, digest, "c1", false);
    let mut out = input.clone();
    match spec::rewrite(&mut out, &r) {
        Err(e) => {
            prop_assert_eq!(&out, input, "a refused spec is left untouched");
            prop_assert!(!e.to_string().contains('\n'));
        }
        Ok(()) => {
            let args = out
                .pointer("/process/args")
                .and_then(Value::as_array)
                .expect("args");
            prop_assert_eq!(&args[0], &json!(INIT_PATH));
            prop_assert_eq!(&args[1..3], &[json!("--digest"), json!(digest.to_string())]);
            let dash = args.iter().position(|a| a == "--").expect("a `--`");
            let command = command_of(input).expect("an accepted spec has a command");
            prop_assert!(!command.is_empty());
            prop_assert_eq!(
                &args[dash + 1..],
                command.as_slice(),
                "the command is the engine's"
            );

            let mounts = out["mounts"].as_array().expect("mounts");
            let n = mounts.len();
            prop_assert!(n >= 2);
            prop_assert_eq!(&mounts[n - 2]["destination"], &json!(INIT_PATH));
            prop_assert_eq!(&mounts[n - 1]["destination"], &json!(BLOB_PATH));
            prop_assert_eq!(
                &out["annotations"][select::DIGEST],
                &json!(digest.to_string())
            );

            if lvl == "sandbox" {
                prop_assert_eq!(&out["process"]["noNewPrivileges"], &json!(true));
                for set in [
                    "bounding",
                    "effective",
                    "permitted",
                    "inheritable",
                    "ambient",
                ] {
                    prop_assert_eq!(&out["process"]["capabilities"][set], &json!([]), "{}", set);
                }
                let ns = out["linux"]["namespaces"].as_array().expect("namespaces");
                prop_assert!(ns.iter().any(|n| n["type"] == "network"));
            }

            // Idempotent: the runtime may see the same bundle again.
            let mut again = out.clone();
            spec::rewrite(&mut again, &r).expect("a rewritten spec rewrites again");
            prop_assert_eq!(&again, &out);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(3000))]

    /// Hostile specs at sandbox and minimal: refused untouched, or wrapped.
    #[test]
    fn rewrite_refuses_or_wraps(input in hostile_spec(), sandbox in any::<bool>()) {
        check_rewrite(&input, if sandbox { "sandbox" } else { "minimal" })?;
    }

    /// linerate-init's argument parser, on arguments built from its own
    /// options, junk and bytes that are not UTF-8.
    #[test]
    fn init_parse_never_panics(args in prop::collection::vec(prop_oneof![
        prop::sample::select(vec!["--digest", "--blob", "--container", "--drop-caps", "--verbose", "--", "-", "0x", "0xffffffffffffffffff", "sh"])
            .prop_map(OsString::from),
        Just(OsString::from(format!("sha256:{}", "a".repeat(64)))),
        Just(OsString::from(format!("sha256:{}", "a".repeat(63)))),
        Just(OsString::from(format!("sha256:{}", "A".repeat(64)))),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(OsString::from_vec),
    ], 0..10)) {
        if let Ok(a) = init::parse(args.clone()) {
            let dash = args.iter().position(|a| a == "--").expect("`--` is required");
            prop_assert_eq!(&a.command[..], &args[dash + 1..]);
            prop_assert!(!a.command.is_empty());
        } else {
            prop_assert_eq!(init::parse(args).unwrap_err().exit_code(), 121);
        }
    }

    /// The runc command line: split, create and exec read anything.
    #[test]
    fn runtime_args_never_panic(args in prop::collection::vec(prop_oneof![
        prop::sample::select(vec![
            "--root", "--log", "--root=/r", "create", "run", "exec", "--bundle", "-b", "--bundle=", "--config",
            "-f", "--pid-file", "--process", "-p", "--cap", "-c", "--", "-", "-t", "--detach", "--frob", "c1", "",
        ]).prop_map(str::to_owned),
        "\\PC{0,8}",
    ], 0..12)) {
        let inv = runtime::split(&args);
        let mut back = inv.globals.clone();
        back.extend(inv.command.clone());
        back.extend(inv.rest.clone());
        prop_assert_eq!(&back, &args, "split loses nothing");
        if let Ok(c) = runtime::create(&inv.rest) {
            prop_assert!(inv.rest.contains(&c.id));
        }
        if let Ok(e) = runtime::exec(&inv.rest) {
            prop_assert!(inv.rest.contains(&e.id));
            prop_assert!(e.process.is_none() || inv.rest.iter().any(|a| a.starts_with("--process") || a == "-p"));
        }
    }
}

proptest! {
    #![proptest_config(cases(500))]

    /// The podman precreate step on bytes: any prefix of a good spec, junk,
    /// or hostile JSON, refused or rewritten.
    #[test]
    fn precreate_refuses_or_rewrites(input in hostile_spec(), cut in prop::option::of(any::<prop::sample::Index>()), junk in prop::collection::vec(any::<u8>(), 0..16)) {
        let (dir, cfg, init_file) = precreate_world();
        let _ = dir;
        let mut bytes = serde_json::to_vec(&input).expect("serializes");
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len() + 1));
            bytes.extend(junk);
        }
        if let Ok(out) = linerate_shim::precreate::precreate(bytes.as_slice(), cfg, init_file.clone()) {
            let v: Value = serde_json::from_slice(&out).expect("precreate writes JSON");
            prop_assert_eq!(&v["process"]["args"][0], &json!(INIT_PATH));
        }
    }
}

fn precreate_world() -> &'static (
    tempfile::TempDir,
    linerate_shim::config::Config,
    std::path::PathBuf,
) {
    static W: OnceLock<(
        tempfile::TempDir,
        linerate_shim::config::Config,
        std::path::PathBuf,
    )> = OnceLock::new();
    W.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = linerate_profiles::Store::new(dir.path().join("s"));
        for n in ["minimal", "sandbox"] {
            store.put(&level(n).0, Some(n)).expect("put");
        }
        let init_file = dir.path().join("linerate-init");
        std::fs::write(&init_file, b"").expect("write");
        let cfg = linerate_shim::config::Config {
            runtime: "runc".into(),
            default_level: "minimal".into(),
            store: Some(store.root().to_owned()),
            init: None,
            verbose: false,
        };
        (dir, cfg, init_file)
    })
}

/// A forged `io.linerate.original` (annotations are the one part of a spec
/// that a pod's author writes) must not bring its own mounts, namespaces,
/// user or capabilities: it is refused unless it rewrites back to the spec.
#[test]
fn a_forged_original_is_refused() {
    let (blob, digest) = level("minimal");
    let r = rewrite_with(blob, digest, "c1", false);
    let forged = json!({
        "process": {"user": {"uid": 0, "gid": 0}, "args": ["sh"], "capabilities": {
            "bounding": ["CAP_SYS_ADMIN"], "effective": ["CAP_SYS_ADMIN"], "permitted": ["CAP_SYS_ADMIN"]}},
        "mounts": [{"destination": "/host", "type": "bind", "source": "/", "options": ["rbind"]}],
        "namespaces": null,
    });
    let mut s = runc_spec();
    s["annotations"][ORIGINAL] = json!(forged.to_string());
    let before = s.clone();
    assert!(matches!(
        spec::rewrite(&mut s, &r),
        Err(SpecError::Original)
    ));
    assert_eq!(s, before);

    // The same forgery grafted onto a spec linerate did rewrite.
    let mut s = runc_spec();
    spec::rewrite(&mut s, &r).unwrap();
    s["annotations"][ORIGINAL] = json!(forged.to_string());
    assert!(matches!(
        spec::rewrite(&mut s, &r),
        Err(SpecError::Original)
    ));

    // An honest rewrite still runs again, under another id or verbosity too,
    // and a rewrite for another profile is refused rather than mixed.
    let mut s = runc_spec();
    spec::rewrite(&mut s, &r).unwrap();
    let mut again = s.clone();
    spec::rewrite(&mut again, &rewrite_with(blob, digest, "c2", true)).unwrap();
    let recompiled = Digest::of(b"the same level, recompiled");
    spec::rewrite(
        &mut s.clone(),
        &rewrite_with(blob, &recompiled, "c1", false),
    )
    .unwrap();
    let (sb, sd) = level("sandbox");
    assert!(matches!(
        spec::rewrite(&mut s, &rewrite_with(sb, sd, "c1", false)),
        Err(SpecError::Original)
    ));
}
