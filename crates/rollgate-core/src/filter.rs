//! Image-tag filters: which pushed tags a service deploys (`rollgate:tag-filter`).

use std::fmt;

use crate::{ImageTag, InputError};

/// A parsed tag filter.
///
/// * a glob (the default, `*`): `*` matches any run of characters (none included), `?`
///   exactly one; compiled once, by `globset`, when the filter is parsed;
/// * `semver:<requirement>`: the tag, with an optional leading `v`, is a semantic version
///   that satisfies the requirement (`semver:^2`, `semver:>=1.4, <2`);
/// * `regex:<pattern>`: the pattern matches the whole tag.
#[derive(Debug, Clone)]
pub enum TagFilter {
    /// A glob of `[A-Za-z0-9_.-]` plus `*` and `?`; case-sensitive, whole tag.
    Glob(TagGlob),
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
    /// regex (or one over 1 MiB compiled), or a glob with a character no tag can contain
    /// (among them `[` and `{`: a tag glob has no character classes or alternatives, the
    /// language the README's `rollgate:tag-filter` row promises is `*` and `?` only).
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
        TagGlob::parse(spec).map(Self::Glob).map_err(bad)
    }

    /// Whether a push with this tag deploys. A push without a tag (by digest only)
    /// passes only the match-everything glob `*`.
    pub fn matches(&self, tag: Option<&ImageTag>) -> bool {
        let Some(tag) = tag else {
            return matches!(self, Self::Glob(g) if g.as_str() == Self::DEFAULT);
        };
        let tag = tag.as_str();
        match self {
            Self::Glob(glob) => glob.is_match(tag),
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
        Self::Glob(TagGlob::parse(Self::DEFAULT).expect("`*` is a valid tag glob"))
    }
}

impl fmt::Display for TagFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Glob(g) => f.write_str(g.as_str()),
            Self::Semver(r) => write!(f, "semver:{r}"),
            Self::Regex(re) => {
                let s = re.as_str();
                let inner = s.strip_prefix("^(?:").and_then(|s| s.strip_suffix(")$")).unwrap_or(s);
                write!(f, "regex:{inner}")
            }
        }
    }
}

/// A tag glob as written and its matcher, compiled once when parsed.
///
/// The language is `*` (any run of characters, possibly none) and `?` (exactly one
/// character) over the characters an ECR image tag may contain, `[A-Za-z0-9_.-]`
/// ([ECR `ImageIdentifier.imageTag`](https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ImageIdentifier.html)),
/// matched case-sensitively against the whole tag. Runs of stars (`**`) mean the same as one.
#[derive(Debug, Clone)]
pub struct TagGlob {
    matcher: globset::GlobMatcher,
}

impl TagGlob {
    /// Compiles a glob. Errors (a reason, for the caller's [`InputError`]): an empty
    /// pattern, `[` or `{` (no classes or alternatives: the documented language is `*` and
    /// `?` only, and accepting them would widen what a filter matches without notice), or
    /// any other character no tag can contain.
    fn parse(pattern: &str) -> Result<Self, String> {
        if pattern.is_empty() {
            return Err("empty filter; use * to deploy every tag".into());
        }
        if let Some(c) = pattern.chars().find(|c| "[]{}".contains(*c)) {
            return Err(format!(
                "{c:?}: a tag glob has no character classes or alternatives, only * and ?; \
                 write regex:<pattern> for those"
            ));
        }
        if let Some(c) = pattern.chars().find(|c| !(c.is_ascii_alphanumeric() || "_.-*?".contains(*c))) {
            return Err(format!(
                "{c:?} cannot appear in a tag; globs use * and ?, or write semver:<req> or regex:<pattern>"
            ));
        }
        // Tags have no `/` and no `\`, so path separators and escapes never come into play;
        // both are switched off anyway so that `*` means exactly "any run of characters".
        let glob = globset::GlobBuilder::new(pattern)
            .literal_separator(false)
            .backslash_escape(false)
            .build()
            .map_err(|e| format!("not a valid glob: {e}"))?;
        Ok(Self { matcher: glob.compile_matcher() })
    }

    /// The glob as written.
    pub fn as_str(&self) -> &str {
        self.matcher.glob().glob()
    }

    /// Whether the glob matches the whole of `tag`.
    pub fn is_match(&self, tag: &str) -> bool {
        self.matcher.is_match(tag)
    }
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
            // Edge cases of the glob language.
            ("*", "a", true),
            ("**", "v1", true),
            ("v**", "v1.2", true),
            ("v**", "x1", false),
            ("*v", "v", true),
            ("v*", "v", true),
            ("*v*", "prev1", true),
            ("*v*", "prod", false),
            ("??", "ab", true),
            ("??", "a", false),
            ("??", "abc", false),
            ("???", "a_c", true),
            ("v?*", "v", false),
            ("v?*", "v1", true),
            ("a*a", "a", false),
            ("a*a", "aa", true),
            ("release-candidate", "release", false),
            ("release-*-gpu", "release--gpu", true),
            ("rel*", "REL1", false),
            (".*", "x.y", false),
            ("*.*", "x.y", true),
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
    fn empty_and_short_text() {
        // No tag is empty (ImageTag refuses it), but the matcher itself is total.
        let glob = |p: &str| TagGlob::parse(p).unwrap();
        assert!(glob("*").is_match(""));
        assert!(glob("**").is_match(""));
        assert!(!glob("?").is_match(""));
        assert!(!glob("a*").is_match(""));
        assert!(!glob("abc").is_match("ab"));
        assert_eq!(glob("v?.*").as_str(), "v?.*");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2_000, failure_persistence: None, ..Default::default() })]

        /// The glob means what the docs say: `*` is `.*`, `?` is `.`, everything else is
        /// literal, over the whole tag (the same language as the hand-written matcher it
        /// replaced).
        #[test]
        fn globs_agree_with_their_regex_reading(pattern in "[ab.*?-]{1,8}", text in "[ab.-]{0,10}") {
            let regex: String = pattern
                .chars()
                .map(|c| match c {
                    '*' => ".*".to_owned(),
                    '?' => ".".to_owned(),
                    c => regex::escape(&c.to_string()),
                })
                .collect();
            let oracle = regex::Regex::new(&format!("^(?:{regex})$")).unwrap();
            let glob = TagGlob::parse(&pattern).unwrap();
            proptest::prop_assert_eq!(glob.is_match(&text), oracle.is_match(&text), "{} vs {:?}", pattern, text);
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
        for spec in ["", "semver:not-a-req", "regex:(", "regex:", "v[0-9]", "a/b", "{a,b}", "v]", "a\\*"] {
            let err = TagFilter::parse(spec).unwrap_err();
            assert_eq!(err.what, "rollgate:tag-filter", "{spec}");
        }
        let class = TagFilter::parse("v[0-9]").unwrap_err().to_string();
        assert!(class.contains("no character classes or alternatives"), "{class}");
    }

    #[test]
    fn display_round_trips() {
        for spec in ["*", "v*", "v?.*", "semver:^2", "regex:v[0-9]+"] {
            let shown = TagFilter::parse(spec).unwrap().to_string();
            let again = TagFilter::parse(&shown).unwrap();
            assert_eq!(again.to_string(), shown);
        }
    }
}
