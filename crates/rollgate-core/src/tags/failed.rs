//! The failed-digest record on a service: which digests the gate failed, bounded to fit AWS's tag limits.

use super::{MAX_FAILED_DIGESTS, MAX_FAILED_TAGS, MAX_TAGS, TagWrite};
use crate::keys;
use crate::{Digest, Tags};

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
