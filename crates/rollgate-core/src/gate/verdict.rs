//! The gate's judgement of one rollout ([`Verdict`]), what happens to a failed one
//! ([`Resolution`]), and the failure verdict with its rollback target ([`fail`]).

use serde::Serialize;

use super::facts::RolloutFacts;
use crate::TaskDefArn;
use crate::ledger::{RevisionRecord, keys};
use crate::rollout::RolloutState;

/// Who put the service back on a good revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolledBackBy {
    /// The health gate, after a failed verdict.
    Rollgate,
    /// ECS's deployment circuit breaker, before the gate acted.
    Ecs,
    /// A person, with `rollgate rollback`.
    Manual,
}

impl RolledBackBy {
    /// The `rollgate:rolled-back-by` value: `rollgate`, `ecs` or `manual`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rollgate => "rollgate",
            Self::Ecs => "ecs",
            Self::Manual => "manual",
        }
    }

    /// The value [`RolledBackBy::as_str`] names; `None` for any other string.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Rollgate, Self::Ecs, Self::Manual].into_iter().find(|by| by.as_str() == s)
    }
}

/// The gate's judgement of one rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not the gate's business (not a rollgate revision, another service's, already decided).
    Ignore(String),
    /// Still in flight; nothing changes.
    Wait(String),
    /// Still in flight; record the new state (announcing the start when first seen).
    Advance {
        /// The state to record in `rollgate:state` (verifying or baking).
        state: RolloutState,
        /// Whether this is the first sight of the rollout: notify that it started and tag its lineage.
        announce_start: bool,
        /// What the gate saw, for the log.
        note: String,
    },
    /// Still in flight after the bake, with fewer tasks running than `desired` and no failing
    /// signal, where the grace for the missing tasks starts now (a first shortfall, or a
    /// scale-out beyond the count recorded): recorded as `rollgate:short-since =
    /// <desired>@<now>`. `desired` 0 (scaled to zero) records that nothing runs, so a later
    /// scale-up gets a grace of its own.
    Short {
        /// The deployment's desired count, to record with the time.
        desired: i32,
        /// What the gate saw, for the log.
        note: String,
    },
    /// COMPLETED, baked, every desired task running, and no failing signal.
    Healthy,
    /// Replaced by a newer rollout before a verdict.
    Superseded,
    /// A failing signal (ECS's deployment failed, too many abnormal task stops, a watched alarm, a
    /// failed smoke test, the deadline passed), or a failed revision that ECS runs again.
    Failed {
        /// Why, in words (the failure reason recorded and notified).
        reason: String,
        /// What happens to the service.
        resolution: Resolution,
    },
}

/// What happens to a failed rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Roll the service back to the last known good revision with UpdateService.
    RollBack {
        /// The revision to roll back to; never the failed one.
        to: TaskDefArn,
    },
    /// The target can no longer be deployed (deregistered: ECS refuses an INACTIVE revision
    /// with "TaskDefinition is inactive"), so roll back to a fresh revision that copies it
    /// ([`check_target`](crate::gate::check_target)). A copy registered by an earlier, unfinished run is reused.
    RollBackToCopy {
        /// The revision the copy copies (the deregistered rollback target).
        of: TaskDefArn,
        /// The copy's tags: the target's, without its per-rollout gate tags, plus
        /// `rollgate:copy-of`.
        tags: Vec<(String, String)>,
    },
    /// ECS's circuit breaker already rolled back: record it, no second rollback.
    AlreadyRolledBack,
    /// An earlier run of the gate rolled back and recorded the failure, then did not finish
    /// (its invocation failed, or the rollback's answer was lost): complete the ledger.
    Finished {
        /// Where that run sent the service: the target it would pick again, or the live copy
        /// of it that run registered ([`finished_via_copy`](crate::gate::finished_via_copy)); `None`: no target is known.
        to: Option<TaskDefArn>,
    },
    /// No known good revision: the service is left as it is.
    NoTarget,
    /// There is a known good revision, but no rollback to it can work (it was deleted, or its
    /// image is gone): the service is left as it is, and the verdict says why.
    Impossible {
        /// The known good revision no rollback can reach.
        target: TaskDefArn,
        /// Why not, in words.
        why: String,
    },
}

/// A failure verdict with the rollback target ([`rollback_target`]).
pub(super) fn fail(f: &RolloutFacts<'_>, reason: String) -> Verdict {
    let resolution = match rollback_target(f) {
        Some(to) => Resolution::RollBack { to },
        None => Resolution::NoTarget,
    };
    Verdict::Failed { reason, resolution }
}

/// Where a failed rollout goes back to: the service's last known good revision, else the one
/// known when the revision was deployed. Never the failing revision itself.
pub(super) fn rollback_target(f: &RolloutFacts<'_>) -> Option<TaskDefArn> {
    let rev = &f.revision.arn;
    let from_service = f.service.tags.get(keys::LAST_GOOD).and_then(|t| TaskDefArn::parse(t).ok());
    let from_revision = RevisionRecord::from_tags(&f.revision.tags).ok().flatten().and_then(|r| r.known_good);
    from_service.into_iter().chain(from_revision).find(|t| t != rev)
}
