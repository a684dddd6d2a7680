//! What a verdict writes, in which order ([`plan`], [`GatePlan`]), within ECS's 50 tags.

use super::facts::RolloutFacts;
use super::failure::failure_tags;
use super::notification::{Notification, NotificationKind};
use super::verdict::{Resolution, RolledBackBy, Verdict};
use crate::TaskDefArn;
use crate::keys;
use crate::ledger::{RevisionRecord, format_time};
use crate::rollout::RolloutState;
use crate::service::Tags;
use crate::tags::TagWrite;

/// The writes that carry out a verdict, in the order the handler performs them:
/// 1. the service's tags, when [`ServiceTagsAt::BeforeRevision`]: a failure is recorded
///    (`rollgate:failed:<digest>`, the high-water mark) before anything is done about it, so
///    a retry knows the verdict whatever happened next;
/// 2. the rollback: a retry that finds the failure recorded finishes it, or, when the
///    service already moved (the answer was lost), records it without a second rollback;
/// 3. the notification;
/// 4. the revision's tags: its state is the commit point, since the gate stops judging a
///    revision whose state is final, so whatever comes before it is redone by a retry;
/// 5. the service's tags, when [`ServiceTagsAt::AfterRevision`].
///
/// Every tag names only what is already written: a rolled-back revision's digest is already
/// marked failed on its service, and the service's last known good is already marked healthy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GatePlan {
    /// Roll the service back to this revision with UpdateService; `None`: no rollback.
    pub roll_back_to: Option<TaskDefArn>,
    /// Roll back to a fresh copy of this target instead (it can no longer be deployed): the
    /// copy is registered (or an earlier run's copy reused) and the service pointed at it; its
    /// ARN goes into the revision's `rollgate:rollback-to` and the notification.
    pub copy: Option<CopyTarget>,
    /// The rollout revision's tag writes (`rollgate:state` and the like), fitted to its 50 tags.
    pub tag_revision: Vec<(String, String)>,
    /// Service tag writes, within the 50-tag budget (`tags::failure_write`).
    pub tag_service: TagWrite,
    /// Whether `tag_service` is written before or after `tag_revision`.
    pub service_tags_at: ServiceTagsAt,
    /// The verdict notification to publish; `None` for a verdict that announces nothing.
    pub notification: Option<Notification>,
    /// Where `tag_revision` is written: the rollout's revision, or the service for a revision
    /// rollgate did not roll out to it (its ledger is the service's `rollgate:outside`,
    /// [`on_service`](crate::gate::on_service)).
    pub revision_tags_on: RevisionTagsOn,
}

/// Where a plan's revision write goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RevisionTagsOn {
    /// The rollout's own revision (its ledger).
    #[default]
    Revision,
    /// The service: the write is its `rollgate:outside` record.
    Service,
}

/// Where a plan's service tags go relative to its revision tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServiceTagsAt {
    /// Failures: the failed-digest mark and the high-water mark record the verdict and guard
    /// deploys, so they are written first, before the rollback and the revision's final state.
    #[default]
    BeforeRevision,
    /// A healthy verdict: the service's last known good points at the revision only once the
    /// revision is marked healthy. If this last write fails, the next gate run finishes it
    /// ([`Adoption::Verified`](crate::gate::Adoption::Verified)).
    AfterRevision,
}

/// A rollback target to copy into a fresh revision ([`Resolution::RollBackToCopy`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyTarget {
    /// The rollback target that can no longer be deployed.
    pub of: TaskDefArn,
    /// The copy's tags ([`copy_tags`](crate::gate::copy_tags)).
    pub tags: Vec<(String, String)>,
}

impl GatePlan {
    /// Whether the plan writes nothing: no rollback, copy, tag write or notification.
    pub fn is_empty(&self) -> bool {
        self.roll_back_to.is_none()
            && self.copy.is_none()
            && self.tag_revision.is_empty()
            && self.tag_service.is_empty()
            && self.notification.is_none()
    }
}

/// Turns a verdict into writes. The revision's write fits its 50 tags
/// ([`fit_revision_write`]).
pub fn plan(f: &RolloutFacts<'_>, verdict: &Verdict) -> GatePlan {
    let mut p = plan_writes(f, verdict);
    // carry_out adds `rollgate:rollback-to` once a copy is registered.
    let pending = usize::from(p.copy.is_some());
    p.tag_revision = fit_revision_write(&f.revision.tags, std::mem::take(&mut p.tag_revision), pending);
    let (fitted, dropped) = fit_service_write(&f.service.tags, std::mem::take(&mut p.tag_service));
    p.tag_service = fitted;
    if dropped.iter().any(|k| k.starts_with(keys::FAILED_PREFIX) || k == keys::FAILED_DIGESTS)
        && let Some(n) = p.notification.as_mut()
    {
        let note = format!(
            "the service has no room for rollgate's failure record (ECS allows {} tags): its digest is not kept out of later deploys; remove some of the service's own tags",
            crate::tags::MAX_TAGS
        );
        n.reason = Some(n.reason.take().map_or(note.clone(), |r| format!("{r}; {note}")));
    }
    p
}

/// Service tags of a write that a verdict can do without, least needed first: the rollback
/// pointer (a rolling-back revision is followed while ECS runs or lists it), the high-water
/// mark, the failure record.
const DROPPABLE_SERVICE_TAGS: [&str; 3] = [keys::ROLLBACK, keys::HIGH_WATER, keys::FAILED_DIGESTS];

/// Fits a service's tag write into ECS's 50 tags: returns the write and the new keys it left
/// out. The gate keeps room on an opted-in service ([`crate::tags::SERVICE_LEDGER_RESERVE`],
/// checked by `track` and `up`), but a person or an IaC tool may add tags up to 50 later, and
/// ECS refuses a TagResource past 50
/// (<https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-using-tags.html#tag-restrictions>).
/// A refused failure record would block the rollback behind it on every run, leaving the bad
/// rollout live. So the new keys are dropped, least needed first
/// (`DROPPABLE_SERVICE_TAGS`, then a new `rollgate:failed:<digest>`), until the write fits;
/// overwrites always fit. The rollback still happens, and its notification says what was not
/// recorded ([`plan`]).
pub fn fit_service_write(existing: &Tags, mut write: TagWrite) -> (TagWrite, Vec<String>) {
    fn drop_new(existing: &Tags, write: &mut TagWrite, dropped: &mut Vec<String>, pick: impl Fn(&str) -> bool) {
        write.set.retain(|(k, _)| {
            let go = !existing.contains_key(k) && pick(k);
            if go {
                dropped.push(k.clone());
            }
            !go
        });
    }
    let fits = |write: &TagWrite| write.peak(existing) <= crate::tags::MAX_TAGS;
    let mut dropped = Vec::new();
    for key in DROPPABLE_SERVICE_TAGS {
        if fits(&write) {
            break;
        }
        drop_new(existing, &mut write, &mut dropped, |k| k == key);
    }
    if !fits(&write) {
        drop_new(existing, &mut write, &mut dropped, |k| k.starts_with(keys::FAILED_PREFIX));
    }
    if dropped.iter().any(|k| k == keys::FAILED_DIGESTS) {
        // The compact list would have kept the full failure tags this write removes: without
        // it, they stay.
        write.remove.clear();
        write.remove_first = false;
    }
    if !fits(&write) {
        drop_new(existing, &mut write, &mut dropped, |_| true);
    }
    (write, dropped)
}

/// Tags of a revision's write that only inform a person (`rollgate status`, the notification
/// carries the same text), least useful first: dropped when the revision has no room for them.
const INFORMATIVE_REVISION_TAGS: [&str; 4] = [keys::MODEL_VERSION, keys::BUILD_ID, keys::ROLLBACK_REASON, keys::REASON];

/// Fits a revision's tag write into ECS's 50 tags per resource, with `pending` more new keys
/// to come in the same write. A revision registered by an older rollgate kept less room for
/// the gate than the gate now writes ([`crate::tags::revision_reserve`]), and ECS refuses a
/// TagResource past 50 tags (<https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-using-tags.html#tag-restrictions>);
/// a refused state write would leave the verdict undone on every run. So the informative tags
/// (`INFORMATIVE_REVISION_TAGS`) that are new to the revision are dropped, least useful
/// first, until the write fits. `rollgate:state` is always there already (it is written at
/// registration), so the commit point costs no room; the keys that following a rollback
/// needs (`rollgate:rollback-to`, `rollgate:decided-at`, `rollgate:rolled-back-by`,
/// `rollgate:completed-at`) are kept while they fit. When even they do not (a person added
/// tags up to 50 after registration), only overwrites of keys the revision has are written:
/// the state still lands, and the service's own tags carry the rollback.
pub fn fit_revision_write(existing: &Tags, mut write: Vec<(String, String)>, pending: usize) -> Vec<(String, String)> {
    let new = |w: &[(String, String)]| w.iter().filter(|(k, _)| !existing.contains_key(k)).count() + pending;
    for key in INFORMATIVE_REVISION_TAGS {
        if existing.len() + new(&write) <= crate::tags::MAX_TAGS {
            break;
        }
        write.retain(|(k, _)| k != key || existing.contains_key(k));
    }
    if existing.len() + new(&write) > crate::tags::MAX_TAGS {
        // A person filled the revision with their own tags after it was registered: only what
        // overwrites a key it has fits, and `rollgate:state` (the verdict's commit point) is
        // one. A write that ECS refuses would leave the verdict undone, and said, on every run.
        write.retain(|(k, _)| existing.contains_key(k));
    }
    write
}

fn plan_writes(f: &RolloutFacts<'_>, verdict: &Verdict) -> GatePlan {
    let now = format_time(f.now);
    let state_tags = |state: RolloutState| vec![(keys::STATE.to_owned(), state.as_str().to_owned())];
    let record = RevisionRecord::from_tags(&f.revision.tags).ok().flatten();
    let failure_write = |extra: Vec<(String, String)>| {
        let mut write = failure_tags(f.service, &f.revision.arn, record.as_ref(), &now, extra);
        if record.is_none() && super::facts::is_view(f.revision) {
            // A revision rollgate did not roll out fails as a configuration: the revision is
            // recorded, never its image's digest.
            write.set.insert(0, (keys::FAILED_CONFIG.to_owned(), f.revision.arn.to_string()));
        }
        write
    };
    let failed_digest_tag = || failure_write(Vec::new());
    let notify = |kind: NotificationKind, reason: Option<String>, to: Option<&TaskDefArn>, by: Option<RolledBackBy>| {
        Some(Notification::new(kind, f, record.as_ref(), reason, to.cloned(), by))
    };
    match verdict {
        Verdict::Ignore(_) | Verdict::Wait(_) => GatePlan::default(),
        Verdict::Advance { state, announce_start, .. } => {
            let mut tag_revision = state_tags(*state);
            if *state == RolloutState::Baking {
                tag_revision.push((keys::COMPLETED_AT.to_owned(), now.clone()));
            }
            if let Some(l) = f.lineage.filter(|_| *announce_start) {
                tag_revision.push((keys::BUILD_ID.to_owned(), crate::tags::text(keys::BUILD_ID, &l.build_id)));
                if let Some(v) = &l.model_version {
                    tag_revision.push((keys::MODEL_VERSION.to_owned(), crate::tags::text(keys::MODEL_VERSION, v)));
                }
            }
            GatePlan {
                tag_revision,
                notification: if *announce_start { notify(NotificationKind::Started, None, None, None) } else { None },
                ..GatePlan::default()
            }
        }
        Verdict::Superseded => GatePlan { tag_revision: state_tags(RolloutState::Superseded), ..GatePlan::default() },
        Verdict::Short { desired, .. } => GatePlan {
            tag_revision: vec![(keys::SHORT_SINCE.to_owned(), format!("{desired}@{now}"))],
            ..GatePlan::default()
        },
        Verdict::Healthy => {
            let mut tag_revision = state_tags(RolloutState::Healthy);
            tag_revision.push((keys::DECIDED_AT.to_owned(), now.clone()));
            GatePlan {
                tag_revision,
                tag_service: TagWrite::set(vec![(keys::LAST_GOOD.to_owned(), f.revision.arn.to_string())]),
                service_tags_at: ServiceTagsAt::AfterRevision,
                notification: notify(NotificationKind::Healthy, None, None, None),
                ..GatePlan::default()
            }
        }
        Verdict::Failed { reason, resolution } => {
            let live = f.service.task_definition.clone().filter(|t| t != &f.revision.arn);
            // Where the service goes back to (a copy's ARN is known once it is registered),
            // and who sends it there.
            let (roll_back_to, copy, target, by) = match resolution {
                Resolution::RollBack { to } => (Some(to.clone()), None, Some(to.clone()), RolledBackBy::Rollgate),
                Resolution::RollBackToCopy { of, tags } => {
                    (None, Some(CopyTarget { of: of.clone(), tags: tags.clone() }), None, RolledBackBy::Rollgate)
                }
                // Where ECS's circuit breaker went: its service deployment says, for a rollout
                // found in its history (what runs now may be a newer rollout); else what runs.
                Resolution::AlreadyRolledBack => {
                    (None, None, f.orphaned.and_then(|o| o.rolled_back_to.clone()).or(live), RolledBackBy::Ecs)
                }
                // The earlier run sent the service to the rollback target it would pick again
                // (not necessarily what runs now: a newer rollout may have replaced it since).
                Resolution::Finished { to } => (None, None, to.clone().or(live), RolledBackBy::Rollgate),
                Resolution::NoTarget | Resolution::Impossible { .. } => (None, None, None, RolledBackBy::Rollgate),
            };
            let followed = target.is_some() || copy.is_some();
            let mut tag_revision = match resolution {
                Resolution::NoTarget => state_tags(RolloutState::Failed),
                Resolution::Impossible { .. } => state_tags(RolloutState::RollbackFailed),
                _ if followed => state_tags(RolloutState::RollingBack),
                // ECS already moved on, and not to a revision: nothing to follow.
                _ => state_tags(RolloutState::RolledBack),
            };
            // A rollout rolled back before keeps when its one rollback started.
            if RolloutState::of(&f.revision.tags) != Some(RolloutState::RolledBack) {
                tag_revision.push((keys::DECIDED_AT.to_owned(), now.clone()));
            }
            let kind = match resolution {
                Resolution::NoTarget => NotificationKind::Failed,
                Resolution::Impossible { target, why } => {
                    let why = format!("cannot roll back to {}: {why}", target.revision());
                    tag_revision
                        .push((keys::ROLLBACK_REASON.to_owned(), crate::tags::text(keys::ROLLBACK_REASON, &why)));
                    NotificationKind::RollbackFailed
                }
                _ => NotificationKind::RolledBack,
            };
            tag_revision.push((keys::REASON.to_owned(), crate::tags::text(keys::REASON, reason)));
            if let Some(to) = &target {
                tag_revision.push((keys::ROLLBACK_TO.to_owned(), to.to_string()));
            }
            if followed || matches!(resolution, Resolution::AlreadyRolledBack | Resolution::Finished { .. }) {
                tag_revision.push((keys::ROLLED_BACK_BY.to_owned(), by.as_str().to_owned()));
            }
            let tag_service = if followed && f.orphaned.is_none() {
                failure_write(vec![(keys::ROLLBACK.to_owned(), f.revision.arn.to_string())])
            } else {
                failed_digest_tag()
            };
            let by = (kind == NotificationKind::RolledBack).then_some(by);
            let mut notification = notify(kind, Some(reason.clone()), target.as_ref(), by);
            if let (Some(n), Resolution::Impossible { target, why }) = (notification.as_mut(), resolution) {
                n.reason = Some(format!("cannot roll back to {}: {why}", target.revision()));
                n.rolled_back_to = Some(target.to_string());
                n.rollout_reason = Some(reason.clone());
            }
            GatePlan {
                notification,
                roll_back_to,
                copy,
                tag_revision,
                tag_service,
                service_tags_at: ServiceTagsAt::BeforeRevision,
                revision_tags_on: RevisionTagsOn::Revision,
            }
        }
    }
}
