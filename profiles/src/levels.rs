//! The three levels, shipped as profile sources inside the binary.

/// `(name, source)` of each level, from the least to the most restrictive.
pub const SOURCES: [(&str, &str); 3] = [
    ("minimal", include_str!("../levels/minimal.toml")),
    ("sandbox", include_str!("../levels/sandbox.toml")),
    ("hardened", include_str!("../levels/hardened.toml")),
];

/// The source of a level, by its exact name.
pub fn source(name: &str) -> Option<&'static str> {
    SOURCES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_exact() {
        assert!(super::source("sandbox").is_some());
        assert!(super::source("Sandbox").is_none());
        assert!(super::source("sandboxx").is_none());
    }
}
