//! The tag codec: every tag rollgate reads or writes goes through here.
//!
//! AWS's rules for ECS tags (ECS API model, shapes `TagKey`, `TagValue` and `Tags`; "Tagging
//! your Amazon ECS resources", section Tag restrictions,
//! <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-using-tags.html>):
//!
//! * a key is 1 to 128 characters, a value 0 to 256, both only from
//!   `[\p{L}\p{Z}\p{N}_.:/=+\-@]` (letters, separators such as the space, numbers and
//!   `_ . : / = + - @`);
//! * at most 50 tags per resource (the user's and rollgate's together);
//! * keys starting with `aws:` (any case) are AWS's own and cannot be written.
//!
//! rollgate's settings often need other characters (`v*`, `semver:>=1.4, <2`, a URL with a
//! query, a JSON body), so a value goes through [`encode`]: written as it is when AWS allows
//! it, else as `base64:<standard base64 of its UTF-8>`, which only uses allowed characters.
//! [`decode`] reverses it. A plain value that itself starts with `base64:` is encoded too, so
//! decoding is never ambiguous. The longest value that fits once encoded is 186 bytes of
//! UTF-8 (`base64:` plus 248 base64 characters).
//!
//! The 50-tag budget: [`check_budget`] counts a write against what the resource carries,
//! [`SERVICE_LEDGER_RESERVE`] keeps room on a service for the tags the gate adds later, and
//! [`failure_write`] bounds the failed-digest record (see [`MAX_FAILED_TAGS`]).

use std::sync::LazyLock;

use regex::Regex;

use crate::Tags;
pub use crate::keys;
use crate::{Digest, InputError};

/// Tags per resource (ECS, ECR, IAM).
pub const MAX_TAGS: usize = 50;
/// Characters in a tag key.
pub const MAX_KEY_CHARS: usize = 128;
/// Characters in a tag value.
pub const MAX_VALUE_CHARS: usize = 256;
/// The marker of an encoded value.
pub const BASE64_PREFIX: &str = "base64:";
/// Full `rollgate:failed:<digest>` tags a service keeps; older failures move to the compact
/// `rollgate:failed-digests` list ([`MAX_FAILED_DIGESTS`] entries).
pub const MAX_FAILED_TAGS: usize = 10;
/// Short digests (12 hex digits, as `Digest::short`) that fit in `rollgate:failed-digests`:
/// 19 × 13 characters - 1 = 246 ≤ 256.
pub const MAX_FAILED_DIGESTS: usize = MAX_VALUE_CHARS / 13;
/// Keys the health gate may add to a service after it opted in: `rollgate:last-good`,
/// `rollgate:high-water`, `rollgate:failed-config`, `rollgate:failed-digests`,
/// `rollgate:rollback`, `rollgate:seen-deployment` and one `rollgate:failed:<digest>`.
/// `rollgate track` and `rollgate up` refuse a service whose other tags leave less room than
/// this.
pub const SERVICE_LEDGER_RESERVE: usize = 7;

/// Tags the health gate adds to a revision after deploy registered it, besides bad tasks:
/// `rollgate:completed-at`, `rollgate:short-since`, `rollgate:decided-at`, `rollgate:reason`,
/// `rollgate:build-id`, `rollgate:model-version`, `rollgate:rollback-to`,
/// `rollgate:rolled-back-by`, `rollgate:rollback-reason` (`rollgate:state` is written at
/// registration).
pub const REVISION_GATE_TAGS: usize = 9;

/// The tags to keep free on a new revision for the gate: [`REVISION_GATE_TAGS`] and one
/// `rollgate:bad-task:<task>` per abnormal stop up to the first over `max_bad_tasks`.
pub fn revision_reserve(max_bad_tasks: u32) -> usize {
    REVISION_GATE_TAGS + max_bad_tasks as usize + 1
}

static ALLOWED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$").expect("the tag alphabet compiles"));

/// Why a tag cannot be written. Each message names the tag and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// The key breaks AWS's key rules.
    #[error(
        "tag key {key:?} is not allowed: {why} (AWS allows 1-128 letters, digits, spaces and _ . : / = + - @, not starting with aws:)"
    )]
    BadKey {
        /// The key as given.
        key: String,
        /// Which rule it breaks: empty, too long, a character, or the `aws:` prefix.
        why: &'static str,
    },
    /// The value is longer than 256 characters even once encoded.
    #[error(
        "{key}: the value is too long for a tag ({bytes} bytes; {max} fit once encoded, AWS allows 256 characters a value): shorten it"
    )]
    TooLong {
        /// The tag key the value is for.
        key: String,
        /// The value's length in bytes of UTF-8.
        bytes: usize,
        /// The most bytes that fit once encoded (186).
        max: usize,
    },
    /// The resource would carry more than 50 tags (or leave the gate too little room).
    #[error("{resource} would carry {count} tags ({detail}); AWS allows 50 a resource: remove some of its other tags")]
    TooMany {
        /// The resource, as the caller names it (e.g. `service api`).
        resource: String,
        /// The tags it would carry at the write's peak.
        count: usize,
        /// How the count is made up, for a person.
        detail: String,
    },
}

/// Whether AWS accepts `s` as a tag value as it is (alphabet and length).
pub fn is_allowed(s: &str) -> bool {
    s.chars().count() <= MAX_VALUE_CHARS && ALLOWED.is_match(s)
}

/// Whether `key` is one of AWS's own (`aws:` in any case): reserved, and not counted against
/// the 50 tags a resource.
pub fn is_aws_key(key: &str) -> bool {
    key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:"))
}

/// Checks a tag key against AWS's rules.
pub fn check_key(key: &str) -> Result<(), TagError> {
    let bad = |why| Err(TagError::BadKey { key: key.to_owned(), why });
    if key.is_empty() {
        return bad("empty");
    }
    if key.chars().count() > MAX_KEY_CHARS {
        return bad("longer than 128 characters");
    }
    if !ALLOWED.is_match(key) {
        return bad("it has a character AWS does not allow in tag keys");
    }
    if is_aws_key(key) {
        return bad("the aws: prefix is reserved for AWS");
    }
    Ok(())
}

/// The tag value that stands for `value`: `value` itself when AWS allows it (and it does not
/// start with `base64:`), else `base64:` + standard base64. Errors when even the encoding is
/// longer than 256 characters.
pub fn encode(key: &str, value: &str) -> Result<String, TagError> {
    if is_allowed(value) && !value.starts_with(BASE64_PREFIX) {
        return Ok(value.to_owned());
    }
    let encoded = format!("{BASE64_PREFIX}{}", crate::base64::encode(value.as_bytes()));
    if encoded.len() > MAX_VALUE_CHARS {
        let max = (MAX_VALUE_CHARS - BASE64_PREFIX.len()) / 4 * 3;
        return Err(TagError::TooLong { key: key.to_owned(), bytes: value.len(), max });
    }
    Ok(encoded)
}

/// The value a tag stands for: a `base64:` value decoded, any other as it is. Errors name the
/// tag `key`.
pub fn decode(key: &'static str, value: &str) -> Result<String, InputError> {
    let Some(b64) = value.strip_prefix(BASE64_PREFIX) else {
        return Ok(value.to_owned());
    };
    let bytes = crate::base64::decode(b64.trim())
        .ok_or_else(|| InputError::new(key, value, "not valid base64 after base64:"))?;
    String::from_utf8(bytes).map_err(|_| InputError::new(key, value, "base64 value is not UTF-8 text"))
}

/// The value a tag stands for, for people to read: [`decode`]d, or as stored when it does not
/// decode (a hand-written `base64:` that is not base64).
pub fn decode_or_stored(key: &'static str, value: &str) -> String {
    decode(key, value).unwrap_or_else(|_| value.to_owned())
}

/// Free text (a failure reason, a model version, a build id) as a tag value: through
/// [`encode`], so it reads back exactly with [`decode`]; text too long for a tag once encoded
/// is cut, at a character boundary, and ends with `…`.
pub fn text(key: &str, value: &str) -> String {
    if let Ok(v) = encode(key, value) {
        return v;
    }
    let chars: Vec<char> = value.chars().collect();
    // The longest prefix that fits: encoded length grows with the prefix.
    let (mut lo, mut hi) = (0, chars.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        let candidate: String = chars[..mid].iter().chain(['…'].iter()).collect();
        if encode(key, &candidate).is_ok() { lo = mid } else { hi = mid - 1 }
    }
    let cut: String = chars[..lo].iter().chain(['…'].iter()).collect();
    encode(key, &cut).unwrap_or_default()
}

/// A free-text value made writable the lossy way: characters AWS does not allow become `_`,
/// and it is cut at 256 characters. For values that are matched as they are stored.
pub fn lossy(v: &str) -> String {
    v.chars()
        .map(|c| if ALLOWED.is_match(c.encode_utf8(&mut [0; 4])) { c } else { '_' })
        .take(MAX_VALUE_CHARS)
        .collect()
}

/// Writes to one resource's tags: `set` (TagResource merges, a key it already has is
/// overwritten) and `remove` (UntagResource). The executor removes first when
/// `remove_first`, else sets first; [`check_budget`] holds in between either way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagWrite {
    /// Tags to add or overwrite (TagResource), key and value as stored.
    pub set: Vec<(String, String)>,
    /// Tag keys to remove (UntagResource).
    pub remove: Vec<String>,
    /// Whether the executor removes before it sets.
    pub remove_first: bool,
}

impl TagWrite {
    /// A write that only sets (and removes nothing).
    pub fn set(set: Vec<(String, String)>) -> Self {
        Self { set, ..Self::default() }
    }

    /// Whether the write sets and removes nothing.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }

    /// The tags after the write.
    pub fn apply(&self, existing: &Tags) -> Tags {
        let mut out = existing.clone();
        let remove = |out: &mut Tags| {
            for k in &self.remove {
                out.remove(k);
            }
        };
        if self.remove_first {
            remove(&mut out);
        }
        out.extend(self.set.iter().cloned());
        if !self.remove_first {
            remove(&mut out);
        }
        out
    }

    /// The most tags the resource carries at any point of the write, as AWS counts them
    /// (its own `aws:` tags aside).
    pub fn peak(&self, existing: &Tags) -> usize {
        let mut mid = existing.clone();
        if self.remove_first {
            for k in &self.remove {
                mid.remove(k);
            }
        }
        mid.extend(self.set.iter().cloned());
        let count = |t: &Tags| t.keys().filter(|k| !is_aws_key(k)).count();
        count(&mid).max(count(&self.apply(existing)))
    }
}

/// Checks that `write` keeps `resource` (named in the error) within 50 tags at every step.
pub fn check_budget(resource: &str, existing: &Tags, write: &TagWrite) -> Result<(), TagError> {
    let peak = write.peak(existing);
    if peak <= MAX_TAGS {
        return Ok(());
    }
    Err(TagError::TooMany {
        resource: resource.to_owned(),
        count: peak,
        detail: format!("{} now, {} added", existing.len(), peak.saturating_sub(existing.len())),
    })
}

/// Checks that a service opted in with `tags` leaves the health gate room for its ledger
/// ([`SERVICE_LEDGER_RESERVE`]).
pub fn check_service_room(resource: &str, tags: &Tags) -> Result<(), TagError> {
    let gate_keys = [
        keys::LAST_GOOD,
        keys::HIGH_WATER,
        keys::FAILED_CONFIG,
        keys::FAILED_DIGESTS,
        keys::ROLLBACK,
        keys::SEEN_DEPLOYMENT,
    ];
    let others = tags
        .keys()
        .filter(|k| !gate_keys.contains(&k.as_str()) && !k.starts_with(keys::FAILED_PREFIX) && !is_aws_key(k))
        .count();
    if others + SERVICE_LEDGER_RESERVE <= MAX_TAGS {
        return Ok(());
    }
    Err(TagError::TooMany {
        resource: resource.to_owned(),
        count: others + SERVICE_LEDGER_RESERVE,
        detail: format!(
            "{others} of its own and rollgate's settings, plus {SERVICE_LEDGER_RESERVE} kept free for the health gate's ledger"
        ),
    })
}

/// How a service records that a digest failed on it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FailedMark {
    /// Its own `rollgate:failed:<digest>` tag, whose value is when it failed.
    Tagged {
        /// The tag's value: when the digest failed, RFC 3339 UTC.
        at: String,
    },
    /// Its short digest in `rollgate:failed-digests` (an older failure).
    Listed,
}

impl std::fmt::Display for FailedMark {
    /// Where the record is and how to lift it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tagged { at } => {
                write!(f, "at {at} (remove its {}<digest> tag to allow it again)", keys::FAILED_PREFIX)
            }
            Self::Listed => write!(
                f,
                "earlier (listed in {}; remove its short digest from that list to allow it again)",
                keys::FAILED_DIGESTS
            ),
        }
    }
}

/// Whether (and how) the service records `digest` as failed: its `rollgate:failed:<digest>`
/// tag, or its short digest in the compact `rollgate:failed-digests` list. `None`: it never
/// failed here (or was forgotten beyond the bound, see [`failure_write`]).
pub fn failed_mark(tags: &Tags, digest: &Digest) -> Option<FailedMark> {
    if let Some(at) = tags.get(&format!("{}{digest}", keys::FAILED_PREFIX)) {
        return Some(FailedMark::Tagged { at: at.clone() });
    }
    failed_digests(tags).iter().any(|short| short == digest.short()).then_some(FailedMark::Listed)
}

/// The short digests in `rollgate:failed-digests`, newest first.
pub fn failed_digests(tags: &Tags) -> Vec<String> {
    tags.get(keys::FAILED_DIGESTS).map(|v| v.split_whitespace().map(str::to_owned).collect()).unwrap_or_default()
}

/// The service tag writes that record `digest` as failed at `now` (RFC 3339), bounded.
///
/// The newest [`MAX_FAILED_TAGS`] failures keep a `rollgate:failed:<digest>` tag (its value
/// the time); an older one is moved, as its 12-digit short digest, to the front of
/// `rollgate:failed-digests`, which keeps the newest [`MAX_FAILED_DIGESTS`]. `extra` (the
/// high-water mark, `rollgate:last-good`) is set in the same write. The write sets before it
/// removes, so a failure is recorded somewhere at every step; only when the service has no
/// room for that does it remove first. A service therefore never passes 50 tags because of
/// failures, however many there are.
pub fn failure_write(tags: &Tags, digest: &Digest, now: &str, extra: Vec<(String, String)>) -> TagWrite {
    let key = format!("{}{digest}", keys::FAILED_PREFIX);
    let mut set = extra;
    if failed_mark(tags, digest).is_some() {
        if tags.contains_key(&key) {
            set.push((key, now.to_owned()));
        }
        return TagWrite::set(set);
    }
    // Full failure tags, newest first (RFC 3339 UTC times sort as text; ties by key).
    let mut full: Vec<(&String, &String)> = tags.iter().filter(|(k, _)| k.starts_with(keys::FAILED_PREFIX)).collect();
    full.sort_by(|a, b| (b.1, b.0).cmp(&(a.1, a.0)));
    let plan = |keep: usize, full_tag: bool| {
        let pruned: Vec<&(&String, &String)> = full.iter().skip(keep).collect();
        let mut compact: Vec<String> = if full_tag { Vec::new() } else { vec![digest.short().to_owned()] };
        compact.extend(pruned.iter().map(|(k, _)| short_of(k)));
        compact.extend(failed_digests(tags));
        compact.truncate(MAX_FAILED_DIGESTS);
        let mut write = set.clone();
        if full_tag {
            write.push((key.clone(), now.to_owned()));
        }
        if !compact.is_empty() && (!full_tag || !pruned.is_empty()) {
            write.push((keys::FAILED_DIGESTS.to_owned(), compact.join(" ")));
        }
        TagWrite { set: write, remove: pruned.iter().map(|(k, _)| (*k).clone()).collect(), remove_first: false }
    };
    // Set first, pruning as many full tags as the budget needs.
    for keep in (0..MAX_FAILED_TAGS).rev() {
        let write = plan(keep, true);
        if write.peak(tags) <= MAX_TAGS {
            return write;
        }
    }
    // No room to set before removing: remove the full tags first (the failure is briefly
    // recorded only by the revision's own state), then, if even that is too much, keep this
    // failure in the compact list only.
    let write = TagWrite { remove_first: true, ..plan(0, true) };
    if write.peak(tags) <= MAX_TAGS {
        return write;
    }
    TagWrite { remove_first: true, ..plan(0, false) }
}

fn short_of(failed_key: &str) -> String {
    let digest = failed_key.strip_prefix(keys::FAILED_PREFIX).unwrap_or(failed_key);
    match Digest::parse(digest) {
        Ok(d) => d.short().to_owned(),
        Err(_) => digest.chars().filter(char::is_ascii_hexdigit).take(12).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_outside_the_alphabet_are_encoded_and_decode_back() {
        let table = [
            ("*", false),
            ("v*", false),
            ("release-?", false),
            ("semver:^2", false),
            ("semver:>=1.4, <2", false),
            ("regex:^v[0-9]+\\.[0-9]+$", false),
            ("https://m.example/predict?x=1&y=2", false),
            ("{\"text\": \"great\"}", false),
            ("v1.2", true),
            ("model api", true),
            ("arn:aws:ecs:us-east-1:123456789012:task-definition/m:3", true),
            ("2026-11-28T10:00:00Z", true),
            ("modèle-ünïcode", true),
            ("base64:Zm9v", false),
            ("", true),
        ];
        for (value, plain) in table {
            let tag = encode("k", value).unwrap();
            assert!(is_allowed(&tag), "{value} -> {tag}");
            assert_eq!(tag == value, plain, "{value} -> {tag}");
            assert_eq!(decode("k", &tag).unwrap(), value);
        }
    }

    #[test]
    fn too_long_even_encoded_is_an_error_naming_the_key() {
        let fits = "*".repeat(186);
        assert!(encode("rollgate:smoke-body", &fits).unwrap().len() <= MAX_VALUE_CHARS);
        let err = encode("rollgate:smoke-body", &"*".repeat(187)).unwrap_err();
        assert!(err.to_string().starts_with("rollgate:smoke-body: the value is too long"), "{err}");
    }

    #[test]
    fn keys_follow_aws_rules() {
        for ok in ["rollgate:failed:sha256:ab", "team", "cost center"] {
            check_key(ok).unwrap();
        }
        for bad in ["", "aws:x", "AWS:x", "a*b", &"k".repeat(129)] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn free_text_reads_back_exactly_or_cut_with_an_ellipsis() {
        let reason = "3 tasks exited (code 137): see https://x/logs?task=1";
        assert_eq!(decode("r", &text("r", reason)).unwrap(), reason);
        let long = "é(".repeat(200);
        let stored = text("r", &long);
        assert!(is_allowed(&stored) && stored.len() <= MAX_VALUE_CHARS, "{stored}");
        let back = decode("r", &stored).unwrap();
        assert!(back.ends_with('…') && long.starts_with(back.trim_end_matches('…')), "{back}");
    }

    #[test]
    fn lossy_keeps_allowed_text() {
        assert_eq!(lossy("exit 1 (OOM) in model!"), "exit 1 _OOM_ in model_");
        assert!(is_allowed(&lossy(&"é*".repeat(300))));
    }

    fn digest(i: usize) -> Digest {
        // Distinct short digests (the first 12 hex digits).
        Digest::parse(&format!("sha256:{i:012x}{}", "0".repeat(52))).unwrap()
    }

    #[test]
    fn failures_stay_within_the_budget_and_are_never_forgotten_while_listed() {
        let mut tags: Tags = (0..30).map(|i| (format!("user-{i}"), "v".to_owned())).collect();
        tags.insert(keys::REPOSITORY.into(), "model".into());
        for i in 0..60 {
            let now = format!("2026-11-28T10:{:02}:{:02}Z", i / 60, i % 60);
            let write = failure_write(&tags, &digest(i), &now, vec![(keys::HIGH_WATER.into(), now.clone())]);
            check_budget("service", &tags, &write).unwrap();
            tags = write.apply(&tags);
            // The newest failures are all still recorded.
            let recorded = (0..=i).rev().take_while(|j| failed_mark(&tags, &digest(*j)).is_some()).count();
            assert!(recorded >= (i + 1).min(MAX_FAILED_DIGESTS), "after {i}: {recorded}");
            assert!(tags.len() <= MAX_TAGS);
        }
        let full = tags.keys().filter(|k| k.starts_with(keys::FAILED_PREFIX)).count();
        assert!(full <= MAX_FAILED_TAGS);
        assert_eq!(failed_digests(&tags).len(), MAX_FAILED_DIGESTS);
    }

    #[test]
    fn a_full_service_removes_before_it_sets() {
        // 45 tags besides the ledger's (the most `track` allows: the user's and rollgate's
        // settings), the gate's three, two failures.
        let mut tags: Tags = (0..45).map(|i| (format!("user-{i}"), "v".to_owned())).collect();
        for k in [keys::HIGH_WATER, keys::LAST_GOOD, keys::FAILED_CONFIG] {
            tags.insert(k.into(), "x".into());
        }
        for i in 1..=2 {
            tags.insert(format!("{}{}", keys::FAILED_PREFIX, digest(i)), format!("2026-11-28T10:00:0{i}Z"));
        }
        assert_eq!(tags.len(), MAX_TAGS);
        let write = failure_write(&tags, &digest(3), "2026-11-28T11:00:00Z", vec![]);
        check_budget("service", &tags, &write).unwrap_or_else(|e| panic!("{e}: {write:?}"));
        assert!(write.remove_first);
        let after = write.apply(&tags);
        for i in 1..=3 {
            assert!(failed_mark(&after, &digest(i)).is_some(), "{i}");
        }
        // Full: the next failure is only listed.
        let mut full: Tags = (0..46).map(|i| (format!("user-{i}"), "v".to_owned())).collect();
        full.insert(keys::FAILED_DIGESTS.into(), digest(1).short().into());
        for k in [keys::HIGH_WATER, keys::LAST_GOOD, keys::FAILED_CONFIG] {
            full.insert(k.into(), "x".into());
        }
        let write = failure_write(&full, &digest(4), "2026-11-28T11:00:00Z", vec![]);
        check_budget("service", &full, &write).unwrap();
        assert!(failed_mark(&write.apply(&full), &digest(4)).is_some());
    }

    #[test]
    fn room_for_the_ledger() {
        let tags: Tags = (0..43).map(|i| (format!("user-{i}"), "v".to_owned())).collect();
        check_service_room("s", &tags).unwrap();
        let mut more = tags.clone();
        more.insert("one-more".into(), "v".into());
        let err = check_service_room("service s", &more).unwrap_err().to_string();
        assert!(err.contains("service s would carry 51 tags") && err.contains("ledger"), "{err}");
    }
}
