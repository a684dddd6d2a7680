//! How a rollout gets its revision, and what it does when UpdateService fails: the two steps
//! of a deploy that keep a retry from registering one push twice or leaving a revision behind.
//!
//! ECS's RegisterTaskDefinition takes no client token, so an attempt whose answer was lost may
//! still have registered, and a retry cannot tell by asking again. Every revision rollgate
//! registers for a push carries the push's marker ([`crate::ledger::ROLLOUT_MARKER`]: the
//! service and the digest), so a later attempt recognises an earlier one's revision anywhere
//! above the live revision and uses it. Only ACTIVE revisions count: a deregistered one can
//! never be deployed (ECS refuses UpdateService to an INACTIVE revision).
//!
//! An earlier revision is used even when it was copied from another base than the live one
//! (the service moved in between): a revision carrying the marker may be one ECS ran and then
//! rolled back, which the gate has yet to judge, so it is never deregistered here, and a second
//! revision for the push is never registered beside it.
//!
//! RegisterTaskDefinition:
//! <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html>

use crate::TaskDefArn;
use crate::ledger::carries_marker;
use crate::service::TaskDefSummary;

/// How many revisions below the family's latest (and above the live one) a deploy reads,
/// newest first, when it looks for an earlier attempt's revision. Revisions above the live one
/// are rollouts that failed or were rolled back, configuration changes nobody deployed, and
/// lost attempts; a lost attempt is rarely more than a few revisions down.
pub const EARLIER_ATTEMPT_LOOKBACK: u32 = 5;

/// What a rollout does about its revision ([`registration`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// No earlier attempt registered this push: register the plan's revision.
    Register,
    /// An earlier attempt registered it: deploy that revision.
    Reuse(TaskDefArn),
    /// The family holds revisions between the live one and the latest, where an earlier
    /// attempt's revision may be: read the revisions numbered `above + 1 ..= below - 1`, newest
    /// first and at most [`EARLIER_ATTEMPT_LOOKBACK`] of them, and decide with [`earlier_attempt`].
    Look {
        /// The live revision's number (exclusive lower bound).
        above: u32,
        /// The family's latest revision number (exclusive upper bound).
        below: u32,
    },
}

/// The step before registering, from the family's latest ACTIVE revision (DescribeTaskDefinition
/// by family name: the call that, as a rule, also reads the live revision, so the happy path
/// costs nothing more).
///
/// `marker` is the new revision's ([`crate::ledger::rollout_marker`] of its planned tags: a push's, or the
/// gate's copy of a rollback target's); `live` is the revision above which an earlier attempt
/// can be (the live one for a push, the copied target for a copy).
///
/// * The latest is `live`: nothing newer exists, so no earlier attempt: `Register`.
/// * The latest carries the marker: `Reuse` it.
/// * Otherwise, when revisions lie between `live` and the latest: `Look` there.
pub fn registration(marker: &[(String, String)], live: &TaskDefArn, latest: &TaskDefSummary) -> Registration {
    if &latest.arn == live {
        return Registration::Register;
    }
    if let Some(found) = earlier_attempt(marker, latest) {
        return found;
    }
    let (above, below) = (live.revision(), latest.arn.revision());
    if above.family == below.family && below.number > above.number + 1 {
        Registration::Look { above: above.number, below: below.number }
    } else {
        Registration::Register
    }
}

/// Whether `candidate`, an ACTIVE revision of the family, carries `marker` and so is an
/// earlier attempt at the same revision (`Reuse` it), or not (`None`: another push's, a
/// configuration change, another copy; [`carries_marker`]).
pub fn earlier_attempt(marker: &[(String, String)], candidate: &TaskDefSummary) -> Option<Registration> {
    carries_marker(&candidate.tags, marker).then(|| Registration::Reuse(candidate.arn.clone()))
}

/// What UpdateService's failure leaves to do, once the service has been read again
/// (`landed`: whether it now runs the new revision; `None`: the read failed too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compensation {
    /// The update landed and only its answer was lost: the rollout is done.
    Deployed,
    /// The update did not land: deregister the new revision, so a retry registers afresh and
    /// no revision is left behind; the invocation fails with UpdateService's error.
    Deregister,
    /// Unknown: keep the revision (a retry finds it as an earlier attempt and reuses it) and
    /// fail retryable.
    Keep,
}

/// The step after a failed UpdateService.
pub fn compensation(landed: Option<bool>) -> Compensation {
    match landed {
        Some(true) => Compensation::Deployed,
        Some(false) => Compensation::Deregister,
        None => Compensation::Keep,
    }
}
