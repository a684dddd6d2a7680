//! The report line of a verdict ([`outcome`]) and the failure an ECS event reports
//! ([`ReportedFailure`]): what the health gate says about each rollout it judged.

use super::facts::RolloutFacts;
use super::verdict::{Resolution, Verdict};
use crate::TaskDefArn;
use crate::report::RolloutOutcome;
use crate::service::ServiceView;

/// An ECS report that a deployment failed (a `SERVICE_DEPLOYMENT_FAILED` event): the
/// deployment's id (`ecs-svc/<digits>`) and ECS's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportedFailure<'a> {
    /// The failed deployment's ID, `ecs-svc/<digits>`; empty in [`ReportedFailure::NONE`].
    pub deployment_id: &'a str,
    /// The event's `reason`; `None` when ECS gave none.
    pub reason: Option<&'a str>,
}

impl ReportedFailure<'_> {
    /// No report: a scheduled sweep, or an event that is not a failure.
    pub const NONE: ReportedFailure<'static> = ReportedFailure { deployment_id: "", reason: None };

    /// The failure reason that applies to `revision`: only to the revision of the failed
    /// deployment, while ECS lists it. The gate judges only revisions ECS runs or lists, so an
    /// event about a deployment ECS already removed (late, or redelivered) applies to none of
    /// them: each is judged from its own deployment, never from an event about another one.
    pub fn for_revision(&self, service: &ServiceView, revision: &TaskDefArn) -> Option<&str> {
        let d = service.deployments.iter().find(|d| d.id == self.deployment_id)?;
        self.reason.filter(|_| d.task_definition.as_ref() == Some(revision))
    }
}

/// The report line for `verdict` on the rollout `f` describes: its label (`waiting`, a
/// [`RolloutState`](crate::rollout::RolloutState), `failed`), the reason, and where the service goes back to; `None` for a
/// verdict not worth reporting ([`Verdict::Ignore`]).
pub fn outcome(f: &RolloutFacts<'_>, verdict: &Verdict) -> Option<RolloutOutcome> {
    let (service, revision, orphaned) = (f.service, &f.revision.arn, f.orphaned);
    let (label, detail, to) = match verdict {
        Verdict::Ignore(_) => return None,
        Verdict::Wait(note) | Verdict::Short { note, .. } => ("waiting".to_owned(), note.clone(), None),
        Verdict::Advance { state, note, .. } => (state.as_str().to_owned(), note.clone(), None),
        Verdict::Healthy => ("healthy".to_owned(), "verified; now the last known good revision".to_owned(), None),
        Verdict::Superseded => ("superseded".to_owned(), "a newer rollout replaced it".to_owned(), None),
        Verdict::Failed { reason, resolution } => match resolution {
            Resolution::RollBack { to } => ("rolling-back".to_owned(), reason.clone(), Some(to.to_string())),
            Resolution::RollBackToCopy { of, .. } => (
                "rolling-back".to_owned(),
                format!("{reason} ({} is deregistered: rolling back to a fresh copy of it)", of.revision()),
                None,
            ),
            Resolution::Impossible { target, why } => (
                "rollback-failed".to_owned(),
                format!("{reason}; cannot roll back to {}: {why}", target.revision()),
                Some(target.to_string()),
            ),
            Resolution::AlreadyRolledBack => (
                "rolling-back".to_owned(),
                format!("{reason} (ECS's circuit breaker already rolled back)"),
                orphaned
                    .and_then(|o| o.rolled_back_to.as_ref())
                    .or(service.task_definition.as_ref())
                    .map(ToString::to_string),
            ),
            Resolution::Finished { to } => (
                "rolling-back".to_owned(),
                format!("{reason} (an earlier run rolled back)"),
                to.as_ref().or(service.task_definition.as_ref()).map(ToString::to_string),
            ),
            Resolution::NoTarget => (
                "failed".to_owned(),
                format!("{reason}; no known good revision to roll back to, the service is left as it is"),
                None,
            ),
        },
    };
    Some(RolloutOutcome {
        cluster: service.arn.cluster_name().to_owned(),
        service: service.arn.name().to_owned(),
        revision: revision.to_string(),
        verdict: label,
        detail,
        rolled_back_to: to,
    })
}
