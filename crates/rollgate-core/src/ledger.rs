//! The ledger: what rollgate records in ECS tags. State lives in AWS itself.
//!
//! Every revision rollgate registers carries a [`RevisionRecord`] as tags; the
//! services carry their opt-in settings. Later stages (health gate, status,
//! rollback) read the same keys, so they are defined once, in [`crate::keys`].

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::{Digest, ImageTag, InputError, ServiceArn, Tags, TaskDefArn};

/// Every tag key rollgate reads or writes (defined in [`crate::keys`]).
pub use crate::keys;

pub use crate::tags::MAX_TAGS;

/// What a rollgate-registered revision came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevisionRecord {
    /// The deployed image's digest (`rollgate:digest`), `sha256:<64 hex>`.
    pub digest: Digest,
    /// The pushed tag (`rollgate:image-tag`); `None` for a push by digest. A tag over 256
    /// characters is not written, so it reads back as `None`.
    pub image_tag: Option<ImageTag>,
    /// When the image was pushed (`rollgate:pushed-at`: RFC 3339 UTC, whole seconds): the ECR
    /// event's time, or DescribeImages' `imagePushedAt` for the reconciler.
    pub pushed_at: DateTime<Utc>,
    /// The revision the service ran before this one (`rollgate:previous`).
    pub previous: Option<TaskDefArn>,
    /// The id of the event that started the rollout (`rollgate:event-id`, written through
    /// `tags::lossy`).
    pub event_id: String,
    /// The service the revision was registered for (`rollgate:service`), its long-format ARN.
    pub service: ServiceArn,
    /// The containers whose image the rollout set (`rollgate:container`, space-separated).
    pub containers: Vec<String>,
    /// Where a failure of this rollout goes back to, as known when it was deployed.
    pub known_good: Option<TaskDefArn>,
    /// What started the rollout: a push, or a configuration change by `rollgate up`.
    pub cause: Cause,
    /// Whether the digest is an image index or a single image (`rollgate:manifest`); `None`
    /// when not known (older revisions, events ECR could not classify).
    pub manifest: Option<Release>,
}

/// What kind of release a digest is (`rollgate:manifest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Release {
    /// An image index (multi-platform, or single-platform with attestations).
    Index,
    /// A single image manifest.
    Image,
}

impl Release {
    /// The `rollgate:manifest` value: `index` or `image`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Index => "index",
            Self::Image => "image",
        }
    }

    /// From a push's manifest kind: `None` for an unknown kind (and an artifact, which never
    /// deploys).
    pub fn of(kind: &crate::events::ManifestKind) -> Option<Self> {
        match kind {
            crate::events::ManifestKind::Index => Some(Self::Index),
            crate::events::ManifestKind::Image => Some(Self::Image),
            _ => None,
        }
    }
}

/// What started a rollout (`rollgate:cause`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// A push: the revision's image is new. Its failure marks the digest failed on the service.
    #[default]
    Push,
    /// `rollgate up` changed the configuration and kept the live image. Its failure says
    /// nothing about the image: it is recorded on the revision and in
    /// `rollgate:failed-config`, never as `rollgate:failed:<digest>`.
    Config,
}

impl Cause {
    /// The `rollgate:cause` value of [`Cause::Config`]; a push has no `rollgate:cause` tag.
    pub const CONFIG: &'static str = "config";
}

impl RevisionRecord {
    /// Reads the record from a revision's tags. `Ok(None)`: rollgate did not register it.
    pub fn from_tags(tags: &Tags) -> Result<Option<Self>, InputError> {
        let Some(digest) = tags.get(keys::DIGEST) else {
            return Ok(None);
        };
        let get = |key: &'static str| {
            tags.get(key).ok_or_else(|| InputError::new(key, "", "missing from a rollgate revision"))
        };
        // Errors name the tag key, so the message says which tag to fix.
        let named = |key: &'static str| move |e: InputError| InputError::new(key, e.value, e.why);
        let pushed_at = get(keys::PUSHED_AT)?;
        Ok(Some(Self {
            digest: Digest::parse(digest).map_err(named(keys::DIGEST))?,
            image_tag: tags
                .get(keys::IMAGE_TAG)
                .map(|t| ImageTag::parse(t))
                .transpose()
                .map_err(named(keys::IMAGE_TAG))?,
            pushed_at: DateTime::parse_from_rfc3339(pushed_at)
                .map_err(|e| InputError::new(keys::PUSHED_AT, pushed_at.as_str(), e.to_string()))?
                .with_timezone(&Utc),
            previous: tags
                .get(keys::PREVIOUS)
                .map(|p| TaskDefArn::parse(p))
                .transpose()
                .map_err(named(keys::PREVIOUS))?,
            event_id: get(keys::EVENT_ID)?.clone(),
            service: ServiceArn::parse(get(keys::SERVICE)?).map_err(named(keys::SERVICE))?,
            containers: get(keys::CONTAINER)?.split_whitespace().map(str::to_owned).collect(),
            known_good: tags
                .get(keys::KNOWN_GOOD)
                .map(|p| TaskDefArn::parse(p))
                .transpose()
                .map_err(named(keys::KNOWN_GOOD))?,
            cause: match tags.get(keys::CAUSE).map(String::as_str) {
                None => Cause::Push,
                Some(Cause::CONFIG) => Cause::Config,
                Some(other) => return Err(InputError::new(keys::CAUSE, other, "expected config, or no tag")),
            },
            manifest: match tags.get(keys::MANIFEST).map(String::as_str) {
                None => None,
                Some("index") => Some(Release::Index),
                Some("image") => Some(Release::Image),
                Some(other) => return Err(InputError::new(keys::MANIFEST, other, "expected index or image")),
            },
        }))
    }

    /// The record as tags, in a stable order.
    pub fn to_tags(&self) -> Vec<(String, String)> {
        let mut tags = vec![
            (keys::DIGEST, self.digest.to_string()),
            (keys::PUSHED_AT, self.pushed_at.to_rfc3339_opts(SecondsFormat::Secs, true)),
            (keys::EVENT_ID, crate::tags::lossy(&self.event_id)),
            (keys::SERVICE, self.service.to_string()),
            (keys::CONTAINER, crate::tags::lossy(&self.containers.join(" "))),
        ];
        // An ECR tag can be 300 characters, an ECS tag value 256: a longer one is not recorded.
        if let Some(tag) = self.image_tag.as_ref().filter(|t| t.as_str().len() <= 256) {
            tags.push((keys::IMAGE_TAG, tag.to_string()));
        }
        if let Some(prev) = &self.previous {
            tags.push((keys::PREVIOUS, prev.to_string()));
        }
        if let Some(good) = &self.known_good {
            tags.push((keys::KNOWN_GOOD, good.to_string()));
        }
        if self.cause == Cause::Config {
            tags.push((keys::CAUSE, Cause::CONFIG.to_owned()));
        }
        if let Some(release) = self.manifest {
            tags.push((keys::MANIFEST, release.as_str().to_owned()));
        }
        tags.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }
}

/// The tags of a new revision: the user's own tags from the base revision, then the record.
/// Old `rollgate:*` tags are not inherited: they describe the base revision, not this one.
///
/// `reserve` tags are left free for what the health gate writes later (its verdict tags and
/// up to `max_bad_tasks + 1` bad-task tags, `tags::revision_reserve`), so the revision never
/// needs more than 50: the user's tags beyond that room are not copied.
pub fn revision_tags(base: &Tags, record: &RevisionRecord, reserve: usize) -> Vec<(String, String)> {
    let own = record.to_tags();
    let room = MAX_TAGS.saturating_sub(own.len() + reserve);
    // Ownership first, so it is never the one left out.
    let ownership = [keys::MANAGED, keys::APP].into_iter().filter_map(|k| base.get_key_value(k));
    let users = user_tags(base).filter_map(|k| base.get_key_value(k));
    ownership.chain(users).take(room).map(|(k, v)| (k.clone(), v.clone())).chain(own).collect()
}

/// The keys of the user's own tags on a revision or service: neither rollgate's nor AWS's.
/// These are carried over to every revision rollgate registers, as room allows.
pub fn user_tags(tags: &Tags) -> impl Iterator<Item = &str> {
    tags.keys().map(String::as_str).filter(|k| !k.starts_with(keys::PREFIX) && !crate::tags::is_aws_key(k))
}

/// The ledger tags of a revision that `rollgate up` registers for a configuration change,
/// built from the live revision (`live`, with its `tags`) it copies. Shape: tag key to value.
///
/// The user's tags and the ownership tags are kept. When the live revision is a rollgate
/// rollout, its provenance (digest, push, service) is carried over, since the image is the
/// same, with a fresh verdict: `rollgate:state` = `deploying`, `rollgate:previous` = `live`,
/// `rollgate:known-good` = `live` when the service's last known good is `live`, and
/// `rollgate:cause` = `config`, so that a failure of this rollout is never held against the
/// image. Verdict tags of the live revision (state, times, reasons, bad tasks, its shortfall
/// record, its rollback, the revision it copies) are dropped: the new rollout starts its own.
pub fn config_revision_tags(live: &TaskDefArn, tags: &Tags, last_good: Option<&str>) -> Tags {
    let mut out: Tags = tags
        .iter()
        .filter(|(k, _)| {
            !([keys::STATE, keys::COMPLETED_AT, keys::DECIDED_AT].contains(&k.as_str())
                || keys::PER_ROLLOUT.contains(&k.as_str())
                || k.starts_with(keys::BAD_TASK_PREFIX)
                || k.starts_with("aws:"))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if tags.contains_key(keys::DIGEST) {
        out.insert(keys::STATE.into(), crate::rollout::RolloutState::Deploying.as_str().into());
        out.insert(keys::PREVIOUS.into(), live.to_string());
        out.insert(keys::CAUSE.into(), Cause::CONFIG.into());
        if last_good == Some(live.as_str()) {
            out.insert(keys::KNOWN_GOOD.into(), live.to_string());
        }
    }
    out
}

/// The ledger keys that identify a rollout: this digest, for this service. A revision carrying
/// a rollout's marker was registered for it (by this attempt or an earlier, unfinished one).
pub const ROLLOUT_MARKER: [&str; 2] = [keys::SERVICE, keys::DIGEST];

/// The ledger keys that identify the gate's copy of a rollback target: this target, for this
/// service (`gate::copy_tags`).
pub const COPY_MARKER: [&str; 2] = [keys::SERVICE, keys::COPY_OF];

/// The marker among a new revision's planned ledger tags: [`COPY_MARKER`] for a copy of a
/// rollback target, else [`ROLLOUT_MARKER`].
pub fn rollout_marker(planned: &[(String, String)]) -> Vec<(String, String)> {
    let keys: &[&str] = if planned.iter().any(|(k, _)| k == keys::COPY_OF) { &COPY_MARKER } else { &ROLLOUT_MARKER };
    planned.iter().filter(|(k, _)| keys.contains(&k.as_str())).cloned().collect()
}

/// Whether a revision's `tags` carry the whole `marker` (an empty marker matches nothing).
/// A configuration change's revision (`rollgate:cause=config`) and a rollback target's copy
/// (`rollgate:copy-of`) share an image's rollout marker but are not that push's rollout, so
/// they match only a copy marker.
pub fn carries_marker(tags: &Tags, marker: &[(String, String)]) -> bool {
    let copy = marker.iter().any(|(k, _)| k == keys::COPY_OF);
    marker.len() == ROLLOUT_MARKER.len()
        && marker.iter().all(|(k, v)| tags.get(k) == Some(v))
        && (copy || !(tags.contains_key(keys::CAUSE) || tags.contains_key(keys::COPY_OF)))
}

/// The time format of every timestamp tag: RFC 3339, UTC, whole seconds.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Reads a timestamp tag written by [`format_time`].
pub fn parse_time(key: &'static str, value: &str) -> Result<DateTime<Utc>, InputError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| InputError::new(key, value, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> RevisionRecord {
        RevisionRecord {
            digest: Digest::parse(&format!("sha256:{}", "ab".repeat(32))).unwrap(),
            image_tag: Some(ImageTag::parse("v2").unwrap()),
            pushed_at: DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z").unwrap().with_timezone(&Utc),
            previous: Some(TaskDefArn::parse("arn:aws:ecs:us-east-1:123456789012:task-definition/m:3").unwrap()),
            event_id: "e-1".into(),
            service: ServiceArn::parse("arn:aws:ecs:us-east-1:123456789012:service/c/s").unwrap(),
            containers: vec!["model".into()],
            known_good: Some(TaskDefArn::parse("arn:aws:ecs:us-east-1:123456789012:task-definition/m:1").unwrap()),
            cause: Cause::Push,
            manifest: Some(Release::Index),
        }
    }

    #[test]
    fn a_config_revision_keeps_the_provenance_and_says_it_is_a_config_change() {
        let live = TaskDefArn::parse("arn:aws:ecs:us-east-1:123456789012:task-definition/m:4").unwrap();
        let mut tags: Tags = record().to_tags().into_iter().collect();
        tags.insert(keys::STATE.into(), "healthy".into());
        tags.insert(keys::REASON.into(), "x".into());
        tags.insert("team".into(), "ml".into());
        let out = config_revision_tags(&live, &tags, Some(live.as_str()));
        let parsed = RevisionRecord::from_tags(&out).unwrap().unwrap();
        assert_eq!(parsed.cause, Cause::Config);
        assert_eq!(parsed.digest, record().digest);
        assert_eq!(parsed.previous.as_ref(), Some(&live));
        assert_eq!(parsed.known_good.as_ref(), Some(&live));
        assert_eq!(out[keys::STATE], "deploying");
        assert!(!out.contains_key(keys::REASON));
        assert_eq!(out["team"], "ml");
        // It is not the rollout of the push whose digest it carries.
        let marker = rollout_marker(&record().to_tags());
        assert!(carries_marker(&tags, &marker) && !carries_marker(&out, &marker));
        // A revision rollgate never deployed (the first one) stays outside the ledger.
        let plain: Tags = [("team".to_owned(), "ml".to_owned())].into_iter().collect();
        assert_eq!(config_revision_tags(&live, &plain, None), plain);
        // The live revision's own verdict tags stay with it: the new rollout starts its own.
        let verdict_keys = [
            keys::REASON,
            keys::SHORT_SINCE,
            keys::ROLLBACK_TO,
            keys::ROLLED_BACK_BY,
            keys::ROLLBACK_REASON,
            keys::COPY_OF,
        ];
        let mut with_verdicts = tags.clone();
        for k in verdict_keys {
            with_verdicts.insert(k.into(), "x".into());
        }
        let out = config_revision_tags(&live, &with_verdicts, Some(live.as_str()));
        assert!(verdict_keys.iter().all(|k| !out.contains_key(*k)), "{out:?}");
    }

    #[test]
    fn record_round_trips_through_tags() {
        let tags: Tags = record().to_tags().into_iter().collect();
        assert_eq!(RevisionRecord::from_tags(&tags).unwrap(), Some(record()));
        assert_eq!(RevisionRecord::from_tags(&Tags::new()).unwrap(), None);
    }

    #[test]
    fn broken_record_is_an_error() {
        let mut tags: Tags = record().to_tags().into_iter().collect();
        tags.insert(keys::PUSHED_AT.into(), "last tuesday".into());
        assert_eq!(RevisionRecord::from_tags(&tags).unwrap_err().what, keys::PUSHED_AT);
    }

    #[test]
    fn new_revision_keeps_user_tags_and_replaces_ledger_tags() {
        let base: Tags = [("team", "ml"), ("rollgate:digest", "sha256:old"), ("aws:cloudformation:stack-name", "x")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let tags = revision_tags(&base, &record(), 0);
        assert!(tags.contains(&("team".into(), "ml".into())));
        assert!(!tags.iter().any(|(k, _)| k.starts_with("aws:")));
        let digests: Vec<_> = tags.iter().filter(|(k, _)| k == keys::DIGEST).collect();
        assert_eq!(digests.len(), 1);
        assert_eq!(digests[0].1, record().digest.to_string());
    }

    #[test]
    fn never_more_than_fifty_tags() {
        let base: Tags = (0..60).map(|i| (format!("k{i}"), "v".to_string())).collect();
        assert_eq!(revision_tags(&base, &record(), 0).len(), MAX_TAGS);
        assert_eq!(revision_tags(&base, &record(), 9).len(), MAX_TAGS - 9);
    }
}
