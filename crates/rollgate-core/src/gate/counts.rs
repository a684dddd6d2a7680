//! A completed rollout whose running count is short of its desired count: autoscaling moved
//! the count, or tasks are still starting. Judged with a grace, never as a failure at once.

use chrono::{DateTime, Utc};

use super::facts::RolloutFacts;
use super::signals::ROLLBACK_STATE_KEYS;
use super::verdict::{Verdict, fail};
use crate::keys;
use crate::ledger::{format_time, parse_time};
use crate::service::DeploymentView;

/// After the bake: all desired tasks running is healthy. Fewer, with no failing signal (no
/// abnormal stop, alarm or failed smoke test: those were judged before), is "not yet": tasks
/// still loading the model, or autoscaling raised the desired count. A count at one instant is
/// no verdict, so the gate waits, up to the deadline counted from when it first saw the count
/// short (`rollgate:short-since = <m>@<time>`, recorded by [`Verdict::Short`]), and never from
/// before the bake's end.
///
/// * A desired count above `m`, the highest the record has seen short, is a scale-out: its
///   new tasks get a whole grace, so the record starts again (`<desired>@now`).
/// * A desired count at or below `m` (a scale-in, autoscaling flapping between two counts)
///   keeps the record's time: tasks that could not start at the higher count had their
///   grace, so flapping cannot hold a rollout back forever.
/// * Scaled to zero, nothing runs and nothing is judged; the record becomes `0@now`, so tasks
///   started later (a nightly scale-to-zero) get a whole grace of their own.
///
/// The gate's own record, not ECS's `updatedAt`, starts the grace: whether ECS moves a
/// deployment's `updatedAt` on a desired-count change is not documented, and moving the grace
/// with every change would let a flapping count wait forever. A revision with no room for the
/// record (an older rollgate filled its 50 tags), and a revision rollgate did not roll out,
/// count from the bake's end.
pub(super) fn judge_counts(f: &RolloutFacts<'_>, d: &DeploymentView, completed_at: DateTime<Utc>) -> Verdict {
    // A record from before this bake began is another rollout's (a configuration change's
    // base, an earlier life of a revision ECS put back): this shortfall is a first sight.
    let record =
        f.revision.tags.get(keys::SHORT_SINCE).and_then(|v| parse_short_since(v)).filter(|(_, at)| *at >= completed_at);
    // Overwriting the record costs no room; adding it keeps room for a rollback's state keys,
    // as an abnormal stop's record does ([`record_stop`]).
    // A revision rollgate did not roll out keeps no such record (its ledger is one service
    // tag, [`super::outside`]): its grace counts from the bake's end, like a full revision's.
    let room = !super::facts::is_view(f.revision)
        && (f.revision.tags.contains_key(keys::SHORT_SINCE)
            || f.revision.tags.len() + 1 + ROLLBACK_STATE_KEYS <= crate::tags::MAX_TAGS);
    if d.desired_count == 0 {
        // Scaled to zero (scheduled scaling, a person): nothing runs, so there is no evidence
        // either way.
        let note = "the service is scaled to zero: nothing runs to judge".to_owned();
        return match record {
            Some((m, _)) if m > 0 && room => Verdict::Short { desired: 0, note },
            _ => Verdict::Wait(note),
        };
    }
    if d.running_count >= d.desired_count {
        return Verdict::Healthy;
    }
    let counts = format!("{}/{} tasks running", d.running_count, d.desired_count);
    let bake_end = completed_at + f.settings.bake.as_chrono();
    let since = match record {
        Some((m, at)) if m > 0 && d.desired_count <= m => at.max(bake_end),
        _ if !room => bake_end,
        _ => {
            return Verdict::Short {
                desired: d.desired_count,
                note: format!(
                    "{counts} and no failing signal (tasks still starting, or a scale-out): not yet healthy; the {} grace starts now",
                    f.settings.deadline
                ),
            };
        }
    };
    if f.now - since <= f.settings.deadline.as_chrono() {
        return Verdict::Wait(format!(
            "{counts} and no failing signal (tasks still starting, or a scale-out): not yet healthy; waiting up to the {} deadline from {}, when the gate first saw the count short",
            f.settings.deadline,
            format_time(since)
        ));
    }
    fail(
        f,
        format!(
            "only {counts} {} after the gate first saw the count short (no abnormal stop, alarm or failed smoke test); raise rollgate:deadline if tasks start slowly",
            f.settings.deadline
        ),
    )
}

/// `rollgate:short-since` = `<desired>@<RFC 3339 time>`; `None` when unreadable (then the
/// shortfall is recorded again).
fn parse_short_since(value: &str) -> Option<(i32, DateTime<Utc>)> {
    let (desired, at) = value.split_once('@')?;
    Some((desired.parse().ok()?, parse_time(keys::SHORT_SINCE, at).ok()?))
}
