//! The profile source language: TOML, parsed with the line of every name so
//! that errors point at the source.
//!
//! ```toml
//! name = "web-server"
//! extends = "sandbox"          # a level, or a file relative to this one
//!
//! [process]
//! no_new_privs = true          # absent: as the container's spec asks
//!
//! [capabilities]
//! keep = ["CAP_NET_BIND_SERVICE"]   # absent section: as the spec asks
//!
//! [namespaces]
//! network = "private"          # or "spec"
//!
//! [seccomp]
//! default = "ENOSYS"           # for syscalls named nowhere: allow, log, kill, ERRNO
//! allow = ["read", "write"]
//! [seccomp.errno]
//! EPERM = ["keyctl"]
//! [[seccomp.rule]]             # refine one syscall by one argument
//! syscall = "ioctl"
//! arg = 1
//! eq = 0x5412                  # or ne, mask_any, mask_none, masked_eq, in, not_in
//! action = "EPERM"
//!
//! [landlock]
//! min_abi = 1                  # refuse to start below this Landlock ABI
//! missing = "skip"             # or "fail": a path absent from the container
//! read = ["/"]
//! write = ["/tmp"]
//! execute = ["/usr/bin"]
//! devices = ["/dev/null"]
//! scope = ["signal"]
//!
//! [lsm]
//! apparmor = "web-server"      # an AppArmor profile the host has loaded
//! selinux = "system_u:system_r:container_t:s0"
//! required = true              # the default: refuse to start where the
//!                              # host cannot apply a label named here
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// One profile source file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The name the profile is stored under.
    pub name: Option<String>,
    /// The level or file this profile builds on.
    pub extends: Option<Spanned<String>>,
    /// Process attributes.
    #[serde(default)]
    pub process: ProcessSection,
    /// Capabilities to keep; absent means as the spec asks.
    pub capabilities: Option<CapabilitiesSection>,
    /// Namespaces.
    #[serde(default)]
    pub namespaces: NamespacesSection,
    /// Seccomp.
    #[serde(default)]
    pub seccomp: SeccompSection,
    /// Landlock; absent means no Landlock ruleset.
    pub landlock: Option<LandlockSection>,
    /// Enforcement that needs BPF-LSM.
    #[serde(default)]
    pub hardened: HardenedSection,
    /// AppArmor and SELinux labels.
    pub lsm: Option<LsmSection>,
}

/// `[process]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessSection {
    /// Set no_new_privs; absent means as the spec asks.
    pub no_new_privs: Option<bool>,
}

/// `[capabilities]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilitiesSection {
    /// The capabilities kept, by their kernel names (`CAP_NET_BIND_SERVICE`).
    pub keep: Vec<Spanned<String>>,
}

/// `[namespaces]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespacesSection {
    /// The network namespace.
    pub network: Option<NetworkMode>,
}

/// Where the container's network namespace comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// As the spec asks.
    #[default]
    Spec,
    /// A new, private namespace (loopback only) unless the spec names one.
    Private,
}

/// `[seccomp]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeccompSection {
    /// The action for syscalls the profile names nowhere.
    pub default: Option<Spanned<String>>,
    /// Syscalls allowed.
    #[serde(default)]
    pub allow: Vec<Spanned<String>>,
    /// Syscalls refused, by the errno they fail with.
    #[serde(default)]
    pub errno: BTreeMap<String, Vec<Spanned<String>>>,
    /// Argument rules.
    #[serde(default)]
    pub rule: Vec<Spanned<RuleSource>>,
}

/// `[[seccomp.rule]]`: exactly one condition key must be set.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSource {
    /// The syscall's name.
    pub syscall: String,
    /// The argument's index, 0 to 5.
    pub arg: u8,
    /// The action when the condition holds.
    pub action: String,
    /// Condition: equal.
    pub eq: Option<u32>,
    /// Condition: not equal.
    pub ne: Option<u32>,
    /// Condition: any bit of the mask set.
    pub mask_any: Option<u32>,
    /// Condition: no bit of the mask set.
    pub mask_none: Option<u32>,
    /// Condition: `arg & mask == value`, written `[mask, value]`.
    pub masked_eq: Option<[u32; 2]>,
    /// Condition: one of the values.
    #[serde(rename = "in")]
    pub in_: Option<Vec<u32>>,
    /// Condition: none of the values.
    pub not_in: Option<Vec<u32>>,
}

/// `[landlock]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LandlockSection {
    /// The lowest Landlock ABI the profile accepts; below it the start fails.
    pub min_abi: Option<u8>,
    /// What a path absent from the container's filesystem does.
    pub missing: Option<MissingPath>,
    /// Paths readable (files and directories) beneath.
    #[serde(default)]
    pub read: Vec<String>,
    /// Paths fully writable beneath.
    #[serde(default)]
    pub write: Vec<String>,
    /// Paths executable (and readable) beneath.
    #[serde(default)]
    pub execute: Vec<String>,
    /// Device nodes that may be read, written and sent ioctls.
    #[serde(default)]
    pub devices: Vec<String>,
    /// Landlock scopes: `abstract_unix_socket`, `signal`.
    #[serde(default)]
    pub scope: Vec<Spanned<String>>,
}

/// What linerate-init does with a Landlock path missing from the container.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MissingPath {
    /// Skip the rule and report it; the rest of the ruleset is enforced.
    #[default]
    Skip,
    /// Refuse to start.
    Fail,
}

/// `[hardened]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HardenedSection {
    /// The profile needs BPF-LSM enforcement.
    pub bpf_lsm: Option<bool>,
}

/// `[lsm]`: the labels the runtime sets where the host runs that LSM.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LsmSection {
    /// The AppArmor profile the container's process runs under.
    pub apparmor: Option<Spanned<String>>,
    /// The SELinux label (`user:role:type[:level]`) of the container's process.
    pub selinux: Option<Spanned<String>>,
    /// Refuse to start where a named label cannot be applied; absent means true.
    pub required: Option<bool>,
}

/// Why a source could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// The 1-based line, when the parser knows it.
    pub line: Option<usize>,
    /// The parser's message, on one line.
    pub message: String,
}

impl Source {
    /// Parses a source's text.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        toml::from_str(text).map_err(|e| ParseError {
            line: e.span().map(|s| line_of(text, s.start)),
            message: e.message().replace('\n', " ").trim().to_owned(),
        })
    }
}

/// The 1-based line of a byte offset in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_their_lines() {
        let text = "[seccomp]\nallow = [\n  \"read\",\n  \"fooat2\",\n]\n";
        let src = Source::parse(text).unwrap();
        let lines: Vec<usize> = src
            .seccomp
            .allow
            .iter()
            .map(|s| line_of(text, s.span().start))
            .collect();
        assert_eq!(lines, [3, 4]);
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_refused_with_a_line() {
        let err = Source::parse("[seccomp]\nalow = []\n").unwrap_err();
        assert_eq!(err.line, Some(2));
        let err = Source::parse("[process]\nno_new_privs = \"yes\"\n").unwrap_err();
        assert_eq!(err.line, Some(2));
    }

    #[test]
    fn the_levels_parse() {
        for (name, text) in crate::levels::SOURCES {
            Source::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
