//! A hooks.d file checked against the OCI hook schema 1.0.0 that podman
//! and CRI-O read, with its `when.annotations` regexes compiled as podman's
//! RE2 would compile them.

use regex::Regex;
use serde_json::Value;

use crate::{LEVEL_ANNOTATION, PROFILE_ANNOTATION};

/// The stages OCI runtimes and podman know for hooks.
pub const KNOWN_STAGES: [&str; 7] = [
    "precreate",
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Annotation keys a linerate hook must not match: what an unescaped dot
/// would let through, and near misses the anchors must stop.
pub const NOT_LINERATE_KEYS: [&str; 6] = [
    "ioXlinerateXlevel",
    "io-linerate-level",
    "io.linerateXlevel",
    "xio.linerate.level",
    "io.linerate.levelx",
    "io.linerate.level.extra",
];

/// Checks one hook file against schema 1.0.0 and returns its stages.
pub fn check_hook_file(doc: &Value, name: &str) -> Vec<String> {
    let obj = doc
        .as_object()
        .unwrap_or_else(|| panic!("{name}: not a JSON object"));
    for key in obj.keys() {
        assert!(
            ["version", "hook", "when", "stages"].contains(&key.as_str()),
            "{name}: `{key}` is not a field of schema 1.0.0"
        );
    }
    assert_eq!(doc["version"], "1.0.0", "{name}: version");

    let hook = &doc["hook"];
    let path = hook["path"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: no hook.path"));
    assert!(
        path.starts_with('/'),
        "{name}: hook.path `{path}` is not absolute"
    );
    if let Some(args) = hook.get("args") {
        let args = args
            .as_array()
            .unwrap_or_else(|| panic!("{name}: hook.args is not a list"));
        assert!(
            !args.is_empty() && args.iter().all(Value::is_string),
            "{name}: hook.args should be strings, argv[0] first"
        );
    }
    if let Some(env) = hook.get("env") {
        let env = env
            .as_array()
            .unwrap_or_else(|| panic!("{name}: hook.env is not a list"));
        for var in env {
            let ok = var
                .as_str()
                .and_then(|v| v.split_once('='))
                .is_some_and(|(k, _)| !k.is_empty());
            assert!(ok, "{name}: hook.env entry {var} is not KEY=VALUE");
        }
    }
    if let Some(timeout) = hook.get("timeout") {
        assert!(
            timeout.as_u64().is_some_and(|t| t > 0),
            "{name}: hook.timeout {timeout}"
        );
    }

    let stages: Vec<String> = doc["stages"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: stages is not a list"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("{name}: a stage is not a string"))
                .to_owned()
        })
        .collect();
    assert!(!stages.is_empty(), "{name}: no stages");
    for stage in &stages {
        assert!(
            KNOWN_STAGES.contains(&stage.as_str()),
            "{name}: unknown stage `{stage}`"
        );
    }

    let when = doc["when"]
        .as_object()
        .unwrap_or_else(|| panic!("{name}: no `when`"));
    assert_ne!(
        when.get("always"),
        Some(&Value::Bool(true)),
        "{name}: a linerate hook must not run for every container"
    );
    let annotations = when
        .get("annotations")
        .and_then(Value::as_object)
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| panic!("{name}: `when.annotations` is missing or empty"));
    check_annotation_regexes(annotations, name);
    stages
}

/// The `when.annotations` regexes of one file: each compiles; together they
/// match both linerate annotations with any level name as value, and no
/// key in [`NOT_LINERATE_KEYS`].
pub fn check_annotation_regexes(annotations: &serde_json::Map<String, Value>, name: &str) {
    let mut rules = Vec::new();
    for (key, value) in annotations {
        let value = value
            .as_str()
            .unwrap_or_else(|| panic!("{name}: the value regex of `{key}` is not a string"));
        let key_re = Regex::new(key).unwrap_or_else(|e| panic!("{name}: key regex `{key}`: {e}"));
        let value_re =
            Regex::new(value).unwrap_or_else(|e| panic!("{name}: value regex `{value}`: {e}"));
        rules.push((key.clone(), key_re, value_re));
    }

    for annotation in [LEVEL_ANNOTATION, PROFILE_ANNOTATION] {
        assert!(
            rules.iter().any(|(_, k, _)| k.is_match(annotation)),
            "{name}: no `when.annotations` key matches `{annotation}`"
        );
    }
    for level in ["minimal", "sandbox", "hardened"] {
        assert!(
            rules
                .iter()
                .any(|(_, k, v)| k.is_match(LEVEL_ANNOTATION) && v.is_match(level)),
            "{name}: the hook does not fire for {LEVEL_ANNOTATION}={level}"
        );
    }
    for near_miss in NOT_LINERATE_KEYS {
        for (key, key_re, _) in &rules {
            assert!(
                !key_re.is_match(near_miss),
                "{name}: key regex `{key}` also matches `{near_miss}` (an unescaped dot or a \
                 missing anchor)"
            );
        }
    }
}
