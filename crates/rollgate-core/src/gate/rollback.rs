//! Following a rollback to its outcome ([`judge_rollback`], [`plan_rollback`]).

use chrono::{DateTime, Utc};

use super::facts::RolloutFacts;
use super::notification::{Notification, NotificationKind};
use super::plan::{GatePlan, ServiceTagsAt, fit_revision_write};
use super::settings::GateSettings;
use super::verdict::RolledBackBy;
use crate::TaskDefArn;
use crate::keys;
use crate::ledger::{RevisionRecord, parse_time};
use crate::rollout::RolloutState;
use crate::service::{ServiceView, Tags, TaskDefSummary};
use crate::tags::TagWrite;

/// A rollback in flight, read from the failed revision's ledger: state `rolling-back`,
/// `rollgate:rollback-to`, `rollgate:rolled-back-by` and `rollgate:decided-at` (its start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackRecord {
    /// The rollback's target revision (`rollgate:rollback-to`).
    pub to: TaskDefArn,
    /// Who rolled back (`rollgate:rolled-back-by`; `rollgate` when the tag is absent or unreadable).
    pub by: RolledBackBy,
    /// When the rollback started (`rollgate:decided-at`), UTC.
    pub started: DateTime<Utc>,
}

impl RollbackRecord {
    /// `None` unless the revision is rolling back with a readable target and start.
    pub fn from_tags(tags: &Tags) -> Option<Self> {
        if RolloutState::of(tags) != Some(RolloutState::RollingBack) {
            return None;
        }
        Some(Self {
            to: tags.get(keys::ROLLBACK_TO).and_then(|t| TaskDefArn::parse(t).ok())?,
            by: tags.get(keys::ROLLED_BACK_BY).and_then(|b| RolledBackBy::parse(b)).unwrap_or(RolledBackBy::Rollgate),
            started: tags.get(keys::DECIDED_AT).and_then(|t| parse_time(keys::DECIDED_AT, t).ok())?,
        })
    }
}

/// Where a followed rollback stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackVerdict {
    /// The service's `rollgate:rollback` names a revision that is not rolling back (its
    /// rollback was settled, and removing the pointer failed): remove it.
    Stale(String),
    /// The rollout still awaits its verdict: the failure was recorded on the service, and the
    /// rollout's own evaluation finishes the rollback ([`evaluate`](crate::gate::evaluate)).
    NotStarted,
    /// The rollback's deployment is still in flight, within the deadline; the text says what the gate saw.
    Wait(String),
    /// The rollback's deployment completed, or a newer rollout replaced the failed revision.
    Completed(String),
    /// The rollback failed: ECS runs the failed revision again (its circuit breaker rolled the
    /// rollback back), the rollback's deployment failed, or it did not complete in time.
    Failed(String),
}

impl RollbackVerdict {
    /// The verdict's name in reports and logs, with its reason: `rollback-settled` (a stale
    /// pointer removed), `rolling-back`, `rolled-back` or `rollback-failed`; `None` before the
    /// rollback started.
    pub fn label(&self) -> Option<(&'static str, &str)> {
        match self {
            Self::NotStarted => None,
            Self::Stale(why) => Some(("rollback-settled", why)),
            Self::Wait(why) => Some((RolloutState::RollingBack.as_str(), why)),
            Self::Completed(why) => Some((RolloutState::RolledBack.as_str(), why)),
            Self::Failed(why) => Some((RolloutState::RollbackFailed.as_str(), why)),
        }
    }
}

/// The report line of the followed rollback of `failed` on `service`: `None` before it
/// started and for a stale pointer (no rollout's state changes).
pub fn rollback_outcome(
    service: &ServiceView,
    failed: &TaskDefSummary,
    verdict: &RollbackVerdict,
) -> Option<crate::report::RolloutOutcome> {
    if matches!(verdict, RollbackVerdict::Stale(_)) {
        return None;
    }
    let (label, why) = verdict.label()?;
    Some(crate::report::RolloutOutcome {
        cluster: service.arn.cluster_name().to_owned(),
        service: service.arn.name().to_owned(),
        revision: failed.arn.to_string(),
        verdict: label.to_owned(),
        detail: why.to_owned(),
        rolled_back_to: failed.tags.get(keys::ROLLBACK_TO).cloned(),
    })
}

/// Whether a failed call of a rollback's plan means AWS refused the rollback for good: a
/// non-retryable UpdateService (e.g. `ClientException: TaskDefinition is inactive`, access
/// denied) or RegisterTaskDefinition of the target's copy. Such a rollback is
/// `rollback-failed`, said once ([`rollback_refused`]), instead of the same refused call on
/// every run; any other failure is retried.
pub fn refused_for_good(class: crate::ErrorClass, operation: Option<&str>) -> bool {
    class == crate::ErrorClass::NonRetryable && matches!(operation, Some("UpdateService" | "RegisterTaskDefinition"))
}

/// Judges the rollback of `failed` (named by the service's `rollgate:rollback`): the gate
/// follows a rollback to its outcome like any deployment. It never starts another: a failed
/// rollback is final, and the service is left for a person.
///
/// The rollback's deadline is the service's `rollgate:deadline`, from the rollback's start.
pub fn judge_rollback(
    now: DateTime<Utc>,
    service: &ServiceView,
    failed: &TaskDefSummary,
    settings: &GateSettings,
) -> RollbackVerdict {
    let name = failed.arn.revision();
    match RolloutState::of(&failed.tags) {
        Some(RolloutState::RollingBack) => {}
        Some(state) if state.awaits_verdict() => return RollbackVerdict::NotStarted,
        state => {
            return RollbackVerdict::Stale(format!(
                "{name} is {}, not rolling back",
                state.map_or("not a rollgate revision", RolloutState::as_str)
            ));
        }
    }
    // A revision a person tagged to ECS's 50 tags took only its state
    // ([`fit_revision_write`]): its rollback went to the service's last known good, and started
    // with the deployment ECS made for it.
    let from_service = || {
        let to = service.tags.get(keys::LAST_GOOD).and_then(|t| TaskDefArn::parse(t).ok())?;
        let started = service.deployment_of(&to).and_then(|d| d.created_at)?;
        Some(RollbackRecord { to, by: RolledBackBy::Rollgate, started })
    };
    let Some(rollback) = RollbackRecord::from_tags(&failed.tags).or_else(from_service) else {
        return RollbackVerdict::Failed(format!("{name} is rolling back, but its ledger has no readable target"));
    };
    let to = rollback.to.revision();
    let live = service.task_definition.as_ref();
    let deployment = service.deployment_of(&rollback.to);
    let ecs_reason = || {
        deployment
            .filter(|d| d.failed())
            .and_then(|d| d.rollout_state_reason.clone())
            .map_or(String::new(), |r| format!(" (ECS: {r})"))
    };
    if live == Some(&failed.arn) {
        return RollbackVerdict::Failed(format!(
            "the rollback to {to} did not hold: ECS runs {name} again{}",
            ecs_reason()
        ));
    }
    if live != Some(&rollback.to) {
        let now_live = live.map_or("no revision".to_owned(), |l| l.revision().to_string());
        return RollbackVerdict::Completed(format!("{name} no longer runs: the service moved on to {now_live}"));
    }
    match deployment {
        Some(d) if d.completed() => RollbackVerdict::Completed(format!("the rollback to {to} completed")),
        Some(d) if d.failed() => RollbackVerdict::Failed(format!(
            "the rollback's ECS deployment of {to} failed: {}",
            d.rollout_state_reason.as_deref().unwrap_or("no reason given")
        )),
        _ if now - rollback.started > settings.deadline.as_chrono() => RollbackVerdict::Failed(format!(
            "the rollback to {to} did not complete within the {} deadline",
            settings.deadline
        )),
        _ => RollbackVerdict::Wait(format!("rolling back to {to}")),
    }
}

/// The writes that settle a followed rollback, in [`GatePlan`]'s order: the notification (a
/// failed rollback only: `Rollback Failed`, once), the failed revision's final state (the
/// commit point), then removing the service's `rollgate:rollback` pointer.
pub fn plan_rollback(
    now: DateTime<Utc>,
    service: &ServiceView,
    failed: &TaskDefSummary,
    verdict: &RollbackVerdict,
) -> GatePlan {
    let mut p = plan_rollback_writes(now, service, failed, verdict);
    p.tag_revision = fit_revision_write(&failed.tags, std::mem::take(&mut p.tag_revision), 0);
    p
}

fn plan_rollback_writes(
    now: DateTime<Utc>,
    service: &ServiceView,
    failed: &TaskDefSummary,
    verdict: &RollbackVerdict,
) -> GatePlan {
    let unpoint = TagWrite { set: Vec::new(), remove: vec![keys::ROLLBACK.to_owned()], remove_first: false };
    let settle = |state: RolloutState, extra: Vec<(String, String)>| {
        let mut tags = vec![(keys::STATE.to_owned(), state.as_str().to_owned())];
        tags.extend(extra);
        tags
    };
    match verdict {
        RollbackVerdict::NotStarted | RollbackVerdict::Wait(_) => GatePlan::default(),
        RollbackVerdict::Stale(_) => {
            GatePlan { tag_service: unpoint, service_tags_at: ServiceTagsAt::AfterRevision, ..GatePlan::default() }
        }
        RollbackVerdict::Completed(_) => GatePlan {
            tag_revision: settle(RolloutState::RolledBack, Vec::new()),
            tag_service: unpoint,
            service_tags_at: ServiceTagsAt::AfterRevision,
            ..GatePlan::default()
        },
        RollbackVerdict::Failed(why) => {
            let rollout_reason = failed.tags.get(keys::REASON).map(|r| crate::tags::decode_or_stored(keys::REASON, r));
            let rollback = RollbackRecord::from_tags(&failed.tags);
            let record = RevisionRecord::from_tags(&failed.tags).ok().flatten();
            let settings = GateSettings::default();
            let facts = RolloutFacts::bare(now, service, failed, &settings);
            let mut notification = Notification::new(
                NotificationKind::RollbackFailed,
                &facts,
                record.as_ref(),
                Some(why.clone()),
                rollback.as_ref().map(|r| r.to.clone()),
                rollback.as_ref().map(|r| r.by),
            );
            notification.rollout_reason = rollout_reason;
            GatePlan {
                notification: Some(notification),
                // `rollgate:decided-at` keeps when the rollback started.
                tag_revision: settle(
                    RolloutState::RollbackFailed,
                    vec![(keys::ROLLBACK_REASON.to_owned(), crate::tags::text(keys::ROLLBACK_REASON, why))],
                ),
                tag_service: unpoint,
                service_tags_at: ServiceTagsAt::AfterRevision,
                ..GatePlan::default()
            }
        }
    }
}
