//! A failed rollout's record on its service ([`failure_tags`]), and whether a revision has
//! one ([`recorded_failed`]).

use crate::TaskDefArn;
use crate::ledger::{Cause, RevisionRecord, format_time, keys, parse_time};
use crate::service::ServiceView;
use crate::tags::TagWrite;

/// The service tags a failed rollout leaves: its digest failed, and the high-water mark of
/// pushes (so older pushes never deploy over the rollback), with `extra` tags set in the same
/// write. The failed-digest record is bounded ([`crate::tags::failure_write`]).
///
/// A configuration change's rollout ([`Cause::Config`]) kept the live image, so its failure
/// says nothing about the image: it leaves only `rollgate:failed-config` = the revision, the
/// record a retry needs to finish the rollback, and never marks the digest.
pub(crate) fn failure_tags(
    service: &ServiceView,
    revision: &TaskDefArn,
    record: Option<&RevisionRecord>,
    now: &str,
    mut extra: Vec<(String, String)>,
) -> TagWrite {
    let Some(record) = record else { return TagWrite::set(extra) };
    if record.cause == Cause::Config {
        extra.insert(0, (keys::FAILED_CONFIG.to_owned(), revision.to_string()));
        return TagWrite::set(extra);
    }
    let current = service.tags.get(keys::HIGH_WATER).and_then(|t| parse_time(keys::HIGH_WATER, t).ok());
    if current.is_none_or(|c| record.pushed_at > c) {
        extra.insert(0, (keys::HIGH_WATER.to_owned(), format_time(record.pushed_at)));
    }
    crate::tags::failure_write(&service.tags, &record.digest, now, extra)
}

/// Whether the service records `revision` (with its `record`) as failed: its digest for a
/// push, the revision itself for a configuration change (`failure_tags`).
pub fn recorded_failed(service: &ServiceView, revision: &TaskDefArn, record: &RevisionRecord) -> bool {
    match record.cause {
        Cause::Push => crate::tags::failed_mark(&service.tags, &record.digest).is_some(),
        Cause::Config => config_failed(service, revision),
    }
}

/// Whether the service's `rollgate:failed-config` names `revision`: a configuration change's
/// failure, or that of a revision rollgate did not roll out (`gate::outside`).
pub fn config_failed(service: &ServiceView, revision: &TaskDefArn) -> bool {
    service.tags.get(keys::FAILED_CONFIG).is_some_and(|r| r == revision.as_str())
}
