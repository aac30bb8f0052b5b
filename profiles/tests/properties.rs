//! Property tests of every parser in this crate that reads outside data: the
//! profile source, the resolver and compiler behind it, the blob decoder
//! and the store's `index.json`. None may panic, whatever it is fed; what
//! they accept must mean what it says.
//!
//! Each property runs `PROPTEST_CASES` cases (default below, bounded so the
//! whole file takes seconds); set it higher for a longer run, for example
//! `PROPTEST_CASES=20000 cargo test -p linerate-profiles --test properties`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use linerate_profiles::blob::{Blob, BlobError};
use linerate_profiles::compile::{compile, compile_level};
use linerate_profiles::seccomp::interp::{const_allow, run, SeccompData};
use linerate_profiles::seccomp::{Action, FOREIGN_ABI};
use linerate_profiles::source::Source;
use linerate_profiles::store::Store;
use linerate_profiles::syscalls::{Arch, X32_SYSCALL_BIT};
use linerate_profiles::{levels, Digest, Policy};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

/// Cases per property: `PROPTEST_CASES`, else `default`.
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

/// Snippets that a mutation splices into a source: keys, sections, values of
/// the wrong type, numbers past every limit, broken quoting.
const SNIPPETS: &[&str] = &[
    "\n[seccomp]\n",
    "\n[landlock]\n",
    "\n[[seccomp.rule]]\n",
    "\n[capabilities]\n",
    "\n[process]\n",
    "\n[namespaces]\n",
    "\n[hardened]\n",
    "\n[seccomp.errno]\n",
    "allow = [\"read\"]\n",
    "default = \"EPERM\"\n",
    "default = \"kill\"\n",
    "default = 7\n",
    "no_new_privs = \"yes\"\n",
    "keep = [\"CAP_SYS_ADMIN\"]\n",
    "keep = \"all\"\n",
    "min_abi = 255\n",
    "min_abi = 0\n",
    "min_abi = -1\n",
    "arg = 9999999999999999999999\n",
    "eq = 4294967296\n",
    "eq = -1\n",
    "in = []\n",
    "not_in = [1, 2, 3]\n",
    "masked_eq = [1]\n",
    "extends = \"sandbox\"\n",
    "extends = \"p.toml\"\n",
    "extends = \"../../../etc/passwd\"\n",
    "extends = \"/\"\n",
    "EPERM = [\"execve\"]\n",
    "EXXX = [\"read\"]\n",
    "scope = [\"signal\", \"nope\"]\n",
    "read = [\"relative\"]\n",
    "write = [\"/a/../b\"]\n",
    "network = \"host\"\n",
    "\"",
    "[",
    "]",
    "=",
    "\u{0}",
    "\u{feff}",
    "\\u0000",
    "1e999",
    "0x",
    "'''",
    "\"\"\"",
    "#",
    "\r\n",
];

/// A level's source with a few random edits: bytes dropped, snippets
/// inserted, lines duplicated.
fn mutated_source() -> impl Strategy<Value = String> {
    let level = prop::sample::select(
        levels::SOURCES
            .iter()
            .map(|(_, t)| (*t).to_owned())
            .collect::<Vec<_>>(),
    );
    let edit = (
        0usize..3,
        any::<prop::sample::Index>(),
        0usize..40,
        prop::sample::select(SNIPPETS),
    );
    (level, prop::collection::vec(edit, 1..6)).prop_map(|(mut text, edits)| {
        for (kind, at, len, snippet) in edits {
            let mut i = at.index(text.len() + 1);
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            match kind {
                0 => {
                    let mut end = (i + len).min(text.len());
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    text.replace_range(i..end, "");
                }
                1 => text.insert_str(i, snippet),
                _ => {
                    let line = text[i..].lines().next().unwrap_or("").to_owned();
                    text.insert_str(i, &format!("{line}\n"));
                }
            }
        }
        text
    })
}

/// Syscall names the tables know, a few they do not, and an empty one.
fn syscall_name() -> impl Strategy<Value = String> {
    let known: Vec<String> = Arch::X86_64
        .table()
        .iter()
        .map(|(n, _)| (*n).to_owned())
        .collect();
    prop_oneof![
        60 => prop::sample::select(known),
        1 => prop::sample::select(vec!["fooat2".to_owned(), String::new(), "READ".to_owned(), "read ".to_owned()]),
    ]
}

fn action_name() -> impl Strategy<Value = String> {
    let valid = [
        "allow",
        "log",
        "kill",
        "EPERM",
        "ENOSYS",
        "EACCES",
        "EAFNOSUPPORT",
        "EINVAL",
    ];
    prop_oneof![
        20 => prop::sample::select(valid.map(str::to_owned).to_vec()),
        1 => prop::sample::select(["Allow", "EWHAT", ""].map(str::to_owned).to_vec()),
    ]
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// One `[[seccomp.rule]]`: usually valid, sometimes with no condition, two
/// conditions, an argument past 5 or an empty list.
fn rule() -> impl Strategy<Value = String> {
    let value = prop_oneof![Just(0u32), Just(0x5412), Just(u32::MAX), any::<u32>()];
    let cond = prop_oneof![
        value.clone().prop_map(|v| format!("eq = {v}")),
        value.clone().prop_map(|v| format!("ne = {v}")),
        value.clone().prop_map(|v| format!("mask_any = {v}")),
        value.clone().prop_map(|v| format!("mask_none = {v}")),
        (value.clone(), value.clone()).prop_map(|(m, v)| format!("masked_eq = [{m}, {v}]")),
        prop_oneof![9 => prop::collection::vec(value.clone(), 1..10), 1 => prop::collection::vec(value.clone(), 0..70)]
            .prop_map(|v| format!("in = {v:?}")),
        prop::collection::vec(value, 0..5).prop_map(|v| format!("not_in = {v:?}")),
    ];
    let arg = prop_oneof![12 => 0u8..6, 1 => 6u8..=255];
    let conds = prop_oneof![12 => prop::collection::vec(cond.clone(), 1..2), 1 => prop::collection::vec(cond, 0..3)];
    (syscall_name(), arg, action_name(), conds).prop_map(|(s, arg, act, conds)| {
        format!(
            "[[seccomp.rule]]\nsyscall = {}\narg = {arg}\naction = {}\n{}\n",
            toml_str(&s),
            toml_str(&act),
            conds.join("\n")
        )
    })
}

/// A whole profile built from parts, valid more often than not.
fn structured_source() -> impl Strategy<Value = String> {
    let extends = prop_oneof![
        12 => prop::sample::select(vec!["", "minimal", "sandbox", "hardened"]),
        1 => prop::sample::select(vec!["p.toml", "missing.toml", "Sandbox"]),
    ];
    let names = prop::collection::vec(syscall_name(), 0..30);
    let errno = prop::collection::vec(
        (
            prop::sample::select(vec![
                "EPERM", "EACCES", "ENOSYS", "EPERM", "EACCES", "ENOSYS", "EBOGUS",
            ]),
            syscall_name(),
        ),
        0..6,
    );
    let path = prop_oneof![
        20 => prop::sample::select(vec!["/", "/tmp", "/usr/bin", "/dev/null"]),
        1 => prop::sample::select(vec!["tmp", "/a/../b", ""]),
    ];
    let paths = prop::collection::vec(path, 0..4);
    let abi = prop_oneof![20 => 1u8..=7, 1 => prop::sample::select(vec![0u8, 8, 255])];
    let scope = prop_oneof![20 => prop::sample::select(vec!["signal", "abstract_unix_socket"]), 1 => Just("x")];
    let landlock = prop::option::of((
        abi,
        paths.clone(),
        paths,
        prop::collection::vec(scope, 0..3),
    ));
    let cap = prop_oneof![20 => prop::sample::select(vec!["CAP_NET_BIND_SERVICE", "CAP_SYS_ADMIN"]), 1 => Just("CAP_FLY")];
    let caps = prop::option::of(prop::collection::vec(cap, 0..3));
    (
        extends,
        prop::option::of(action_name()),
        names,
        errno,
        prop::collection::vec(rule(), 0..5),
        landlock,
        caps,
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(extends, default, allow, errno, rules, landlock, caps, nnp)| {
            let mut t = String::new();
            if !extends.is_empty() {
                t.push_str(&format!("extends = {}\n", toml_str(extends)));
            }
            if let Some(nnp) = nnp {
                t.push_str(&format!("[process]\nno_new_privs = {nnp}\n"));
            }
            if let Some(caps) = caps {
                t.push_str(&format!("[capabilities]\nkeep = {caps:?}\n"));
            }
            t.push_str("[seccomp]\n");
            if let Some(d) = default {
                t.push_str(&format!("default = {}\n", toml_str(&d)));
            }
            let mut allow = allow;
            if allow.len() % 4 != 0 {
                allow.push("execve".to_owned());
            }
            t.push_str(&format!("allow = {allow:?}\n"));
            let mut by_errno: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
            for (e, s) in errno {
                by_errno.entry(e).or_default().push(s);
            }
            t.push_str("[seccomp.errno]\n");
            for (e, list) in by_errno {
                t.push_str(&format!("{e} = {list:?}\n"));
            }
            for r in rules {
                t.push_str(&r);
            }
            if let Some((abi, read, write, scope)) = landlock {
                t.push_str(&format!("[landlock]\nmin_abi = {abi}\nread = {read:?}\nwrite = {write:?}\nscope = {scope:?}\n"));
            }
            t
        })
}

/// Resolves and compiles `text` as `p.toml` in an empty folder (so that
/// `extends = "p.toml"` is a cycle and any other file is missing). When it
/// compiles, the blob must round-trip, its filters must agree with the
/// policy on `probes`, and refusals must be one line.
fn check_compiles_faithfully(
    text: &str,
    probes: &[(u32, [u64; 6])],
) -> Result<bool, TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("p.toml");
    std::fs::write(&path, text).expect("write the source");
    let policy = match Policy::file(&path) {
        Ok(p) => p,
        Err(e) => {
            prop_assert!(
                !e.to_string().contains('\n'),
                "a refusal is one line: {e:?}"
            );
            return Ok(false);
        }
    };
    let blob = match compile(&policy) {
        Ok(b) => b,
        Err(e) => {
            prop_assert!(
                !e.to_string().contains('\n'),
                "a refusal is one line: {e:?}"
            );
            return Ok(false);
        }
    };

    let bytes = blob.to_bytes();
    prop_assert_eq!(
        &Blob::verify(&bytes, &Digest::of(&bytes)).expect("a compiled blob verifies"),
        &blob
    );
    prop_assert!(matches!(
        policy.verdict(Arch::X86_64, policy_execve(), &[0; 6]),
        Action::Allow | Action::Log
    ));

    for arch in Arch::ALL {
        let prog = blob
            .filter(arch)
            .expect("a filter per architecture")
            .instructions();
        let verdict = |d: &SeccompData| run(&prog, d).map(|(ret, _)| Action::from_ret(ret));
        for &(nr, args) in probes {
            let nr = nr % (arch.max_number() + 40);
            let want = policy.verdict(arch, nr, &args);
            prop_assert_eq!(
                verdict(&SeccompData::new(arch.audit_arch(), nr, args)),
                Ok(Some(want)),
                "{:?} nr {}",
                arch,
                nr
            );
            prop_assert_eq!(
                verdict(&SeccompData::new(0x4000_0003, nr, args)),
                Ok(Some(FOREIGN_ABI))
            );
            if arch == Arch::X86_64 {
                let x32 = SeccompData::new(arch.audit_arch(), nr | X32_SYSCALL_BIT, args);
                prop_assert_eq!(verdict(&x32), Ok(Some(FOREIGN_ABI)));
            }
        }
    }
    Ok(true)
}

fn policy_execve() -> u32 {
    Arch::X86_64.number("execve").expect("x86_64 has execve")
}

/// Syscall numbers and arguments with values around the rules' constants
/// and bits set above 32.
fn probes() -> impl Strategy<Value = Vec<(u32, [u64; 6])>> {
    let word = prop_oneof![
        Just(0u64),
        Just(0x5412),
        Just(0x1_0000_5412),
        Just(0xffff_ffff),
        Just(u64::MAX),
        any::<u32>().prop_map(u64::from),
        any::<u64>(),
    ];
    prop::collection::vec((any::<u32>(), prop::array::uniform6(word)), 1..40)
}

proptest! {
    #![proptest_config(cases(2000))]

    /// Any text at all: parsed or refused with an error, never a panic.
    #[test]
    fn source_parse_never_panics(text in "\\PC{0,400}") {
        let _ = Source::parse(&text);
    }

    /// Any bytes, as the CLI would read them (lossily, through a file).
    #[test]
    fn policy_text_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if let Ok(p) = Policy::text(Path::new("/nonexistent/p.toml"), text) {
            let _ = compile(&p);
        }
    }
}

proptest! {
    #![proptest_config(cases(600))]

    /// The levels with random edits: resolved and compiled, or refused in one line.
    #[test]
    fn mutated_levels_compile_or_refuse(text in mutated_source(), probes in probes()) {
        check_compiles_faithfully(&text, &probes)?;
    }

    /// Generated profiles: whatever compiles gives filters that agree with
    /// the policy on every probe, foreign ABIs refused first.
    #[test]
    fn generated_profiles_compile_faithfully(text in structured_source(), probes in probes()) {
        check_compiles_faithfully(&text, &probes)?;
    }
}

/// The sandbox blob, its bytes and its digest, compiled once.
fn sandbox() -> &'static (Blob, Vec<u8>) {
    static S: std::sync::OnceLock<(Blob, Vec<u8>)> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        let b = compile_level("sandbox").expect("sandbox compiles");
        let bytes = b.to_bytes();
        (b, bytes)
    })
}

proptest! {
    #![proptest_config(cases(2000))]

    /// Random bytes under their own digest: decoded or refused, never a panic.
    #[test]
    fn blob_verify_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let _ = Blob::verify(&bytes, &Digest::of(&bytes));
    }

    /// A valid blob with bytes flipped, dropped or cut: under the digest of
    /// the original it is always refused for its digest; under its own
    /// digest it decodes or is refused, and what decodes has usable parts.
    #[test]
    fn mutated_blobs_are_refused_by_digest(
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let (_, good) = sandbox();
        let mut bytes = good.clone();
        for (at, x) in &flips {
            let i = at.index(bytes.len());
            bytes[i] ^= x;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        prop_assume!(bytes != *good);
        let refused = matches!(Blob::verify(&bytes, &Digest::of(good)), Err(BlobError::Digest { .. }));
        prop_assert!(refused);
        if let Ok(b) = Blob::verify(&bytes, &Digest::of(&bytes)) {
            for f in &b.seccomp {
                let _ = f.instructions();
            }
            if let Some(l) = &b.landlock {
                for abi in 0..=u8::MAX {
                    let _ = l.at_abi(abi);
                    let _ = l.unenforced_at(abi);
                }
            }
        }
    }

    /// Filters decoded from any packed words run in the interpreter, and in
    /// its emulation of the kernel's cache, to a result or an error.
    #[test]
    fn interpreter_never_panics(words in prop::collection::vec(any::<u64>(), 0..64), nr in any::<u32>()) {
        let f = linerate_profiles::blob::Filter { arch: Arch::X86_64, program: words };
        let prog = f.instructions();
        let _ = run(&prog, &SeccompData::new(Arch::X86_64.audit_arch(), nr, [0; 6]));
        let _ = const_allow(&prog, Arch::X86_64.audit_arch(), nr);
    }
}

/// A store with the three levels, written once; each case copies its
/// `index.json` and damages the copy.
fn store_with_levels() -> &'static (tempfile::TempDir, Vec<u8>) {
    static S: std::sync::OnceLock<(tempfile::TempDir, Vec<u8>)> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(dir.path().join("s"));
        for (name, _) in levels::SOURCES {
            store
                .put(&compile_level(name).expect("levels compile"), Some(name))
                .expect("put");
        }
        let index = std::fs::read(store.root().join("index.json")).expect("index.json");
        (dir, index)
    })
}

/// A JSON value edited at one random place: a value replaced with another
/// type, a key dropped, a string changed.
fn mutate_json(v: &mut serde_json::Value, path: &[usize], with: &serde_json::Value) {
    use serde_json::Value;
    let Some((&first, rest)) = path.split_first() else {
        *v = with.clone();
        return;
    };
    match v {
        Value::Object(m) if !m.is_empty() => {
            let key = m.keys().nth(first % m.len()).cloned().expect("in range");
            if rest.is_empty() && first % 3 == 0 {
                m.remove(&key);
            } else {
                mutate_json(m.get_mut(&key).expect("present"), rest, with);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            let i = first % a.len();
            mutate_json(&mut a[i], rest, with);
        }
        _ => *v = with.clone(),
    }
}

fn json_leaf() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    prop_oneof![
        Just(json!(null)),
        Just(json!(-1)),
        Just(json!(1e300)),
        Just(json!(u64::MAX)),
        Just(json!("")),
        Just(json!("sha256:00")),
        Just(json!(format!("sha256:{}", "0".repeat(64)))),
        Just(json!("sha512:abc")),
        Just(json!("../../../../etc/passwd")),
        Just(json!([])),
        Just(json!({})),
        "\\PC{0,20}".prop_map(serde_json::Value::String),
    ]
}

proptest! {
    #![proptest_config(cases(1500))]

    /// `index.json` damaged anywhere: `list`, `resolve` and `verify` return
    /// an answer or an error, never a panic, and every name they resolve
    /// still leads to a blob that verifies (a damaged index can hide a
    /// profile but never swap in unverified bytes).
    #[test]
    fn store_list_survives_a_damaged_index(
        edits in prop::collection::vec((prop::collection::vec(any::<usize>(), 0..6), json_leaf()), 1..4),
        raw_cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let (dir, index) = store_with_levels();
        let case = tempfile::tempdir_in(dir.path()).expect("tempdir");
        let root = case.path().join("s");
        std::fs::create_dir(&root).expect("mkdir");
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        // Share the blobs; only index.json differs.
        std::os::unix::fs::symlink(dir.path().join("s/blobs"), root.join("blobs")).expect("symlink");
        let mut text = index.clone();
        if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(index) {
            for (path, leaf) in &edits {
                mutate_json(&mut v, path, leaf);
            }
            text = serde_json::to_vec(&v).expect("serializes");
        }
        if let Some(cut) = raw_cut {
            text.truncate(cut.index(text.len() + 1));
        }
        std::fs::write(root.join("index.json"), &text).expect("write index");

        let store = Store::new(&root);
        if let Ok(entries) = store.list() {
            for e in entries {
                let _ = store.get(&e.digest);
            }
        }
        for name in ["minimal", "sandbox", "hardened", "../x", "sha256:0"] {
            if let Ok(d) = store.resolve(name) {
                let _ = store.get(&d);
            }
        }
        let _ = store.verify();
    }
}
