//! Image-tag filters: which pushed tags a service deploys (`rollgate:tag-filter`).

use std::fmt;

use crate::{ImageTag, InputError};

/// A parsed tag filter.
///
/// * a glob (the default, `*`): `*` matches any run of characters, `?` exactly one;
/// * `semver:<requirement>`: the tag, with an optional leading `v`, is a semantic version
///   that satisfies the requirement (`semver:^2`, `semver:>=1.4, <2`);
/// * `regex:<pattern>`: the pattern matches the whole tag.
#[derive(Debug, Clone)]
pub enum TagFilter {
    /// A glob as written, of `[A-Za-z0-9_.-]` plus `*` and `?`; case-sensitive, whole tag.
    Glob(String),
    /// A semantic-version requirement, with Cargo's rules: a prerelease matches only a
    /// comparator that names a prerelease of the same version.
    Semver(semver::VersionReq),
    /// The pattern, anchored as `^(?:<pattern>)$`.
    Regex(regex::Regex),
}

impl TagFilter {
    /// The filter of a service without `rollgate:tag-filter`: every tag.
    pub const DEFAULT: &'static str = "*";

    /// Parses a filter as written in `rollgate:tag-filter` (already decoded). Errors, named
    /// `rollgate:tag-filter`: an empty spec, an invalid semver requirement, an empty or invalid
    /// regex (or one over 1 MiB compiled), or a glob with a character no tag can contain.
    pub fn parse(spec: &str) -> Result<Self, InputError> {
        let bad = |why: String| InputError::new("rollgate:tag-filter", spec, why);
        if let Some(req) = spec.strip_prefix("semver:") {
            let req = semver::VersionReq::parse(req.trim())
                .map_err(|e| bad(format!("{e}; write e.g. semver:^2 or semver:>=1.4, <2")))?;
            return Ok(Self::Semver(req));
        }
        if let Some(pattern) = spec.strip_prefix("regex:") {
            if pattern.is_empty() {
                return Err(bad("the pattern is empty".into()));
            }
            let anchored = format!("^(?:{pattern})$");
            let re = regex::RegexBuilder::new(&anchored)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| bad(format!("not a valid regular expression: {e}")))?;
            return Ok(Self::Regex(re));
        }
        if spec.is_empty() {
            return Err(bad("empty filter; use * to deploy every tag".into()));
        }
        if let Some(c) = spec.chars().find(|c| !(c.is_ascii_alphanumeric() || "_.-*?".contains(*c))) {
            return Err(bad(format!(
                "{c:?} cannot appear in a tag; globs use * and ?, or write semver:<req> or regex:<pattern>"
            )));
        }
        Ok(Self::Glob(spec.to_owned()))
    }

    /// Whether a push with this tag deploys. A push without a tag (by digest only)
    /// passes only the match-everything glob `*`.
    pub fn matches(&self, tag: Option<&ImageTag>) -> bool {
        let Some(tag) = tag else {
            return matches!(self, Self::Glob(g) if g == "*");
        };
        let tag = tag.as_str();
        match self {
            Self::Glob(pattern) => glob_match(pattern.as_bytes(), tag.as_bytes()),
            Self::Regex(re) => re.is_match(tag),
            Self::Semver(req) => {
                let version = tag.strip_prefix('v').unwrap_or(tag);
                semver::Version::parse(version).is_ok_and(|v| req.matches(&v))
            }
        }
    }

    /// The version a tag carries, for filters that order versions.
    pub fn version_of(tag: &str) -> Option<semver::Version> {
        semver::Version::parse(tag.strip_prefix('v').unwrap_or(tag)).ok()
    }
}

impl Default for TagFilter {
    fn default() -> Self {
        Self::Glob(Self::DEFAULT.to_owned())
    }
}

impl fmt::Display for TagFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Glob(g) => f.write_str(g),
            Self::Semver(r) => write!(f, "semver:{r}"),
            Self::Regex(re) => {
                let s = re.as_str();
                let inner = s.strip_prefix("^(?:").and_then(|s| s.strip_suffix(")$")).unwrap_or(s);
                write!(f, "regex:{inner}")
            }
        }
    }
}

/// Iterative glob matching with single-star backtracking: linear in practice, no recursion.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(s: &str) -> ImageTag {
        ImageTag::parse(s).unwrap()
    }

    #[test]
    fn table() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "anything", true),
            ("v*", "v1.2.3", true),
            ("v*", "latest", false),
            ("release-*", "release-2024", true),
            ("release-*", "prerelease-2024", false),
            ("v?.0", "v2.0", true),
            ("v?.0", "v10.0", false),
            ("*-gpu", "v1-gpu", true),
            ("*-gpu", "v1-cpu", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("latest", "latest", true),
            ("latest", "latest2", false),
            ("semver:^2", "v2.3.1", true),
            ("semver:^2", "2.0.0", true),
            ("semver:^2", "v3.0.0", false),
            ("semver:^2", "v2.0.0-rc.1", false),
            ("semver:^2", "latest", false),
            ("semver:>=1.4, <2", "1.9.9", true),
            ("semver:>=1.4, <2", "1.3.0", false),
            ("regex:v[0-9]+", "v12", true),
            ("regex:v[0-9]+", "v12-rc", false),
            ("regex:prod|staging", "staging", true),
            ("regex:prod|staging", "xprod", false),
        ];
        for (spec, t, want) in cases {
            let filter = TagFilter::parse(spec).unwrap();
            assert_eq!(filter.matches(Some(&tag(t))), *want, "{spec} vs {t}");
        }
    }

    #[test]
    fn untagged_pushes_pass_only_the_wildcard() {
        assert!(TagFilter::default().matches(None));
        assert!(!TagFilter::parse("v*").unwrap().matches(None));
        assert!(!TagFilter::parse("semver:*").unwrap().matches(None));
    }

    #[test]
    fn bad_filters_name_the_problem() {
        for spec in ["", "semver:not-a-req", "regex:(", "regex:", "v[0-9]", "a/b"] {
            let err = TagFilter::parse(spec).unwrap_err();
            assert_eq!(err.what, "rollgate:tag-filter", "{spec}");
        }
    }

    #[test]
    fn display_round_trips() {
        for spec in ["*", "v*", "semver:^2", "regex:v[0-9]+"] {
            let shown = TagFilter::parse(spec).unwrap().to_string();
            let again = TagFilter::parse(&shown).unwrap();
            assert_eq!(again.to_string(), shown);
        }
    }
}
