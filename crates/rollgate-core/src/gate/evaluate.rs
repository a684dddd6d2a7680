//! The verdict on one rollout ([`evaluate`]) from its facts ([`RolloutFacts`]), and the
//! adoption of a pre-rollgate revision as the last known good.

use chrono::{DateTime, Utc};

use super::counts::judge_counts;
use super::facts::RolloutFacts;
use super::failure::recorded_failed;
use super::settings::GateSettings;
use super::signals::{SmokeOutcome, bad_tasks, describe_bad_tasks};
use super::verdict::{Resolution, Verdict, fail, rollback_target};
use crate::TaskDefArn;
use crate::keys;
use crate::ledger::{RevisionRecord, format_time, parse_time};
use crate::rollout::RolloutState;
use crate::service::{ServiceView, TaskDefSummary};

/// Since when the gate needs alarm history to judge `service`: the start of the live
/// revision's deployment, when the service watches alarms and that revision is not its last
/// known good already (a decided rollout reads no alarms). `None`: no history needed.
pub fn alarm_window_start(service: &ServiceView) -> Option<DateTime<Utc>> {
    let live = service.task_definition.as_ref()?;
    if service.tags.get(keys::LAST_GOOD) == Some(&live.to_string()) {
        return None;
    }
    GateSettings::from_tags(&service.tags).ok().filter(GateSettings::watches_alarms)?;
    service.deployment_of(live)?.created_at
}

/// Why the gate records a live revision as the service's last known good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adoption {
    /// The revision that was live and steady before rollgate's first rollout (no rollgate
    /// ledger, its deployment COMPLETED with every task running) on a service without a last
    /// known good revision.
    PreRollgate,
    /// A revision the gate already verified healthy whose service does not point at it yet:
    /// the healthy verdict marks the revision first and the service second, and this finishes
    /// a verdict whose second write failed.
    Verified,
    /// A copy the gate registered of the last known good revision (which could no longer be
    /// deployed) now runs: the copy is the last known good.
    Copy,
}

impl Adoption {
    /// The reason in one sentence, e.g. "the steady pre-rollgate revision is the last known good".
    pub fn describe(self) -> &'static str {
        match self {
            Self::PreRollgate => "the steady pre-rollgate revision is the last known good",
            Self::Verified => "the live revision was verified healthy: it is the last known good",
            Self::Copy => "the live revision copies the last known good: it is the last known good",
        }
    }
}

/// Whether the live `revision` should be recorded as the service's last known good, and the
/// tag that records it. Once recorded, later sweeps skip it until the next rollout.
pub fn adopt_known_good(service: &ServiceView, revision: &TaskDefSummary) -> Option<(Adoption, (String, String))> {
    let live = service.task_definition.as_ref() == Some(&revision.arn);
    let current = service.tags.get(keys::LAST_GOOD);
    if !live || current == Some(&revision.arn.to_string()) {
        return None;
    }
    let copies_last_good = current.is_some() && revision.tags.get(keys::COPY_OF) == current;
    let adoption = match RolloutState::of(&revision.tags) {
        _ if copies_last_good => Some(Adoption::Copy),
        None => {
            let steady = service
                .deployment_of(&revision.arn)
                .is_some_and(|d| d.completed() && d.running_count >= d.desired_count);
            (current.is_none() && steady).then_some(Adoption::PreRollgate)
        }
        Some(RolloutState::Healthy) => {
            let ours = RevisionRecord::from_tags(&revision.tags).ok().flatten().filter(|r| r.service == service.arn);
            ours.is_some_and(|r| !recorded_failed(service, &revision.arn, &r)).then_some(Adoption::Verified)
        }
        Some(_) => None,
    };
    adoption.map(|a| (a, (keys::LAST_GOOD.to_owned(), revision.arn.to_string())))
}

/// Judges one rollout.
pub fn evaluate(f: &RolloutFacts<'_>) -> Verdict {
    let rev = &f.revision.arn;
    let Some(state) = RolloutState::of(&f.revision.tags) else {
        return Verdict::Ignore(format!("{} was not registered by rollgate", rev.revision()));
    };
    // A ledger view of a revision rollgate did not roll out to this service: its ledger is the
    // service's `rollgate:outside` record ([`super::outside`]).
    let outside = super::facts::is_view(f.revision);
    match RevisionRecord::from_tags(&f.revision.tags) {
        Ok(Some(record)) if record.service == f.service.arn => {}
        Ok(None) if outside => {}
        Ok(_) => return Verdict::Ignore(format!("{} belongs to another service", rev.revision())),
        Err(e) => {
            return Verdict::Ignore(format!("{} has broken ledger tags: {e}", rev.revision()));
        }
    }
    let live = f.service.task_definition.as_ref() == Some(rev);
    match state {
        RolloutState::RollingBack => {
            return Verdict::Ignore(format!(
                "{} is rolling back; the gate follows the rollback from the service's {}",
                rev.revision(),
                keys::ROLLBACK
            ));
        }
        RolloutState::RollbackFailed => {
            return Verdict::Ignore(format!(
                "{}'s rollback failed: the service is left for a person (see rollgate status)",
                rev.revision()
            ));
        }
        _ => {}
    }
    let record = RevisionRecord::from_tags(&f.revision.tags).ok().flatten();
    let recorded = match &record {
        Some(r) => recorded_failed(f.service, rev, r),
        None => outside && super::failure::config_failed(f.service, rev),
    };
    if live && state == RolloutState::RolledBack {
        // Its one automatic rollback happened, and ECS runs it again: its circuit breaker went
        // back to it (its deployment was still the last one that completed, because a newer
        // rollout replaced the rollback before it completed), or a person deployed it. Rolling
        // back again is how rollback loops start: said once, and left for a person.
        let reason = f
            .revision
            .tags
            .get(keys::REASON)
            .map_or_else(|| "it failed earlier".to_owned(), |r| crate::tags::decode_or_stored(keys::REASON, r));
        let target = f
            .revision
            .tags
            .get(keys::ROLLBACK_TO)
            .or_else(|| f.service.tags.get(keys::LAST_GOOD))
            .and_then(|t| TaskDefArn::parse(t).ok());
        if let Some(target) = target.filter(|t| t != rev) {
            return Verdict::Failed {
                reason,
                resolution: Resolution::Impossible {
                    target,
                    why: "it was rolled back once already and ECS runs it again (its circuit breaker went back to it, or a person deployed it); a failed rollout is rolled back at most once".to_owned(),
                },
            };
        }
    }
    // ECS's live state outranks the ledger: a settled revision that ECS runs again (its circuit
    // breaker, or a person, put it back) is judged again unless it stands verified healthy.
    let failed_before = state == RolloutState::Failed || (state == RolloutState::Healthy && recorded);
    if live && failed_before {
        // A failed digest must not stay live. This rollback cannot loop: the target is the
        // last known good, never this revision, and a rollback that fails is final.
        let reason = format!("{} had failed but is live again; back to the last known good", rev.revision());
        return match fail(f, reason) {
            Verdict::Failed { resolution: Resolution::NoTarget, .. } => {
                Verdict::Ignore(format!("{} failed earlier and there is no known good revision", rev.revision()))
            }
            v => v,
        };
    }
    // A rollout replaced before its verdict that ECS runs again (its circuit breaker went back
    // to the last deployment that completed): judged from its current deployment like any
    // rollout.
    let state = if live && state == RolloutState::Superseded { RolloutState::Verifying } else { state };
    if state.is_final() {
        return Verdict::Ignore(format!("{} is already {state}", rev.revision()));
    }
    let deployment = f.service.deployment_of(rev);
    // Any failed deployment of the revision ECS lists, not only its newest: a person's
    // force-new-deployment of a rollout in its bake that fails, and that ECS's circuit breaker
    // rolls back to the rollout's own completed deployment, leaves the newest deployment of
    // the revision COMPLETED beside the failed one (and the FAILED event names the failed one).
    let failed_deployment = f
        .service
        .deployments
        .iter()
        .filter(|d| d.task_definition.as_ref() == Some(rev) && d.failed())
        .max_by_key(|d| d.created_at);
    let ecs_failed = failed_deployment.is_some() || (live && f.reported_failure.is_some());
    let failure_reason = || {
        // Only a failed deployment's reason says why it failed ("ECS deployment ... in
        // progress." is no failure reason).
        let reason = failed_deployment
            .and_then(|d| d.rollout_state_reason.clone())
            .or_else(|| f.reported_failure.map(str::to_owned))
            .unwrap_or_else(|| "the ECS deployment failed".to_owned());
        format!("ECS deployment failed: {reason}")
    };

    // A failure is recorded on the service before anything else is done about it, so a
    // failure that is recorded but not final was decided by an invocation that did not finish.
    if live && recorded {
        // Its rollback did not land (or its answer was lost and it did not): roll back now.
        return fail(f, format!("{} was recorded as failed; finishing its rollback", rev.revision()));
    }
    if !live {
        // The failure was recorded on the service but the revision's state was not (its
        // invocation failed midway): finish the ledger.
        if recorded {
            // ECS's own failed deployment says its circuit breaker did it; otherwise the
            // recording run rolled back itself.
            return Verdict::Failed {
                reason: "the failure was recorded on the service; completing the ledger".to_owned(),
                resolution: if ecs_failed {
                    Resolution::AlreadyRolledBack
                } else {
                    Resolution::Finished { to: rollback_target(f) }
                },
            };
        }
        return if ecs_failed || f.reported_failure.is_some() {
            Verdict::Failed { reason: failure_reason(), resolution: Resolution::AlreadyRolledBack }
        } else {
            Verdict::Superseded
        };
    }
    if ecs_failed {
        return fail(f, failure_reason());
    }
    let bad = bad_tasks(&f.revision.tags);
    if bad.len() > f.settings.max_bad_tasks as usize {
        return fail(f, describe_bad_tasks(&bad));
    }
    let phase = if state == RolloutState::Baking { "the bake" } else { "the rollout" };
    if let Some(alarm) = f.alarms_in_alarm.iter().find(|a| f.settings.watches(a)) {
        return fail(f, format!("alarm {alarm} is in ALARM during {phase}"));
    }
    let started = deployment.and_then(|d| d.created_at);
    if let Some(entry) = f
        .alarms_entered
        .iter()
        .filter(|e| f.settings.watches(&e.alarm) && started.is_some_and(|s| e.at >= s))
        .min_by_key(|e| e.at)
    {
        return fail(
            f,
            format!(
                "alarm {} went into ALARM at {} during {phase}; it has recovered since",
                entry.alarm,
                format_time(entry.at)
            ),
        );
    }
    let Some(d) = deployment else {
        return Verdict::Wait(format!("ECS shows no deployment of {} yet", rev.revision()));
    };
    let counts = format!("{}/{} tasks running", d.running_count, d.desired_count);

    if !d.completed() {
        let started = d.created_at.unwrap_or(f.now);
        if f.now - started > f.settings.deadline.as_chrono() {
            return fail(
                f,
                format!(
                    "not COMPLETED within the {} deadline ({counts}); raise rollgate:deadline if the model loads slowly",
                    f.settings.deadline
                ),
            );
        }
        return if state == RolloutState::Deploying {
            Verdict::Advance {
                state: RolloutState::Verifying,
                announce_start: true,
                note: format!("rollout in progress, {counts}"),
            }
        } else {
            Verdict::Wait(format!("rollout in progress, {counts}"))
        };
    }

    if let Some(SmokeOutcome::Failed(why)) = f.smoke {
        return fail(f, why.clone());
    }
    let completed_at = f.revision.tags.get(keys::COMPLETED_AT).and_then(|t| parse_time(keys::COMPLETED_AT, t).ok());
    let Some(completed_at) = completed_at.filter(|_| state == RolloutState::Baking) else {
        if f.settings.bake.0 == 0 {
            // No bake: the grace is counted from the shortfall's record, never from before the
            // deployment started (its `createdAt`, which, unlike `updatedAt`, does not move).
            return judge_counts(f, d, d.created_at.unwrap_or(f.now));
        }
        return Verdict::Advance {
            state: RolloutState::Baking,
            announce_start: state == RolloutState::Deploying,
            note: format!("COMPLETED; baking for {}", f.settings.bake),
        };
    };
    if f.now - completed_at >= f.settings.bake.as_chrono() {
        return judge_counts(f, d, completed_at);
    }
    Verdict::Wait(format!("baking until {}", format_time(completed_at + f.settings.bake.as_chrono())))
}
