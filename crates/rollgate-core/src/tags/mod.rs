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

use crate::InputError;
use crate::Tags;
pub use crate::keys;

mod failed;
pub use failed::{FailedMark, failed_digests, failed_mark, failure_write};

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
/// `rollgate:rollback`, `rollgate:seen-deployment`, `rollgate:outside` and one
/// `rollgate:failed:<digest>`.
/// `rollgate track` and `rollgate up` refuse a service whose other tags leave less room than
/// this.
pub const SERVICE_LEDGER_RESERVE: usize = 8;

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
        keys::OUTSIDE,
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

#[cfg(test)]
mod tests;
