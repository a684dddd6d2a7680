//! Where a rollout stands (`rollgate:state` on its revision), and who rolled it back
//! (`rollgate:rolled-back-by`): the ledger's vocabulary, shared by deploy, the gate and `status`.

use std::fmt;

use serde::Serialize;

use crate::keys;
use crate::service::{ServiceView, Tags, TaskDefSummary};

/// Where a rollgate rollout stands, recorded as `rollgate:state` on its revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolloutState {
    /// Registered and handed to ECS by `deploy`.
    Deploying,
    /// Seen by the gate, announced, not yet COMPLETED.
    Verifying,
    /// COMPLETED; inside the bake window.
    Baking,
    /// Passed the gate: COMPLETED, baked, every desired task running, no failing signal.
    Healthy,
    /// Failed and left in place: there was no known good revision.
    Failed,
    /// Failed; the service is being sent back to `rollgate:rollback-to` (by rollgate, ECS's
    /// circuit breaker or a person), and the gate follows that rollback to its outcome.
    RollingBack,
    /// Failed and rolled back: the rollback's deployment completed (or a newer rollout
    /// replaced it).
    RolledBack,
    /// Failed, and its rollback failed or could not be made: the service is left for a person.
    /// The gate never rolls this rollout back again.
    RollbackFailed,
    /// A newer rollout replaced it before a verdict.
    Superseded,
}

impl RolloutState {
    /// The `rollgate:state` value: `deploying`, `verifying`, `baking`, `healthy`, `failed`,
    /// `rolling-back`, `rolled-back`, `rollback-failed` or `superseded`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deploying => "deploying",
            Self::Verifying => "verifying",
            Self::Baking => "baking",
            Self::Healthy => "healthy",
            Self::Failed => "failed",
            Self::RollingBack => "rolling-back",
            Self::RolledBack => "rolled-back",
            Self::RollbackFailed => "rollback-failed",
            Self::Superseded => "superseded",
        }
    }

    /// The state [`RolloutState::as_str`] names; `None` for any other string.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Deploying,
            Self::Verifying,
            Self::Baking,
            Self::Healthy,
            Self::Failed,
            Self::RollingBack,
            Self::RolledBack,
            Self::RollbackFailed,
            Self::Superseded,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
    }

    /// The rollout's outcome is settled. A settled state is not the last word on what runs:
    /// when ECS runs such a revision again, the gate judges it again ([`crate::gate::evaluate`]), except a
    /// rollout whose rollback failed, which is left for a person.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Healthy | Self::Failed | Self::RolledBack | Self::RollbackFailed | Self::Superseded)
    }

    /// Deploying, verifying or baking: the rollout awaits its verdict.
    pub fn awaits_verdict(self) -> bool {
        matches!(self, Self::Deploying | Self::Verifying | Self::Baking)
    }

    /// Whether the tags are those of a rollgate rollout still awaiting its verdict.
    pub fn in_flight(tags: &Tags) -> bool {
        Self::of(tags).is_some_and(Self::awaits_verdict)
    }

    /// Whether an abnormal stop of a task `service` ran from `revision` counts against it: a
    /// rollout of this service (its `rollgate:service`) awaiting its verdict, or a superseded
    /// one that ECS runs again (it is judged like any rollout from then on,
    /// [`crate::gate::evaluate`]; its state moves on at its next verdict). Another service's
    /// tasks never count: two services of one task family can run the same revision (a
    /// person pointed one at the other's), and a stop of one is no evidence against the
    /// other's rollout.
    pub fn counts_stops(service: &ServiceView, revision: &TaskDefSummary) -> bool {
        if revision.tags.get(keys::SERVICE).map(String::as_str) != Some(service.arn.as_str()) {
            return false;
        }
        let live = service.task_definition.as_ref() == Some(&revision.arn);
        match Self::of(&revision.tags) {
            Some(state) if state.awaits_verdict() => true,
            Some(Self::Superseded) => live,
            _ => false,
        }
    }

    /// Whether the gate has anything to judge about `revision` on `service`: a rollout awaiting
    /// its verdict, or a settled one that ECS runs again (a failed, rolled-back or superseded
    /// revision put back by ECS's circuit breaker or a person; a healthy one whose digest has
    /// failed since). A rollback in flight is followed from the service's `rollgate:rollback`
    /// ([`crate::gate::judge_rollback`]); a failed rollback is left for a person.
    pub fn worth_evaluating(service: &ServiceView, revision: &TaskDefSummary) -> bool {
        let live = service.task_definition.as_ref() == Some(&revision.arn);
        match Self::of(&revision.tags) {
            Some(state) if state.awaits_verdict() => true,
            Some(Self::RolledBack | Self::Failed | Self::Superseded | Self::Healthy) => live,
            _ => false,
        }
    }

    /// The state recorded on a revision's tags (a rollgate revision without one is deploying).
    pub fn of(tags: &Tags) -> Option<Self> {
        (tags.contains_key(keys::DIGEST) || tags.contains_key(keys::OUTSIDE))
            .then(|| tags.get(keys::STATE).and_then(|s| Self::parse(s)).unwrap_or(Self::Deploying))
    }
}

impl fmt::Display for RolloutState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
