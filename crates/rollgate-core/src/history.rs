//! ECS's service-deployment history: how the gate finds a rollout whose deployment ECS
//! dropped before any gate run judged it.
//!
//! The gate judges the revisions a service runs or lists. A rollout whose deployment failed,
//! was rolled back by ECS's circuit breaker and left the list while every gate run failed
//! (or was late) is in neither. ECS keeps each service's deployments as *service
//! deployments* (since October 2024, for 90 days;
//! <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-deployment.html>),
//! and DescribeServices names the newest in `currentServiceDeployment`. The service's
//! `rollgate:seen-deployment` records the newest one whose outcome the gate has read; while
//! the two differ, the gate reads the history since the record ([`history_due`]), judges the
//! target of every settled one that ECS no longer runs or lists ([`read_history`]), and moves
//! the record up to the newest settled one with only settled ones before it, stopping at one
//! whose rollout ECS still lists without a verdict ([`HistoryReading::record`]): ECS may drop
//! that one later, before any verdict. A service whose current service deployment is the
//! recorded one costs nothing more than before.

use chrono::{DateTime, Duration, Utc};

use crate::TaskDefArn;
use crate::keys;
use crate::service::{ServiceDeploymentBrief, ServiceDeploymentStatus, ServiceView};

/// How far back a service with no record is read: one day.
pub const LOOKBACK: Duration = Duration::days(1);

/// The record in `rollgate:seen-deployment`: `<id>@<time>` (RFC 3339, whole seconds), then
/// ` <current id>` when the history was read through the current service deployment
/// ([`Seen::through`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The service deployment's id: the last segment of its ARN.
    pub id: String,
    /// When ECS created it.
    pub created_at: DateTime<Utc>,
    /// The current service deployment, when a run read the history through it and everything
    /// before it is judged: only its own rollout, which ECS runs and the gate judges from what
    /// ECS shows, held the record back. While that rollout is live and awaits its verdict, the
    /// history is not read again ([`history_due`]): a rollout in flight costs one read a run,
    /// not two.
    pub through: Option<String>,
}

impl Seen {
    /// Reads a tag value; `None` for one rollgate did not write.
    pub fn parse(value: &str) -> Option<Self> {
        let (record, through) = match value.split_once(' ') {
            Some((record, through)) => (record, Some(Some(through).filter(|t| !t.is_empty() && !t.contains(' '))?)),
            None => (value, None),
        };
        let (id, at) = record.split_once('@')?;
        let created_at = DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc);
        (!id.is_empty()).then(|| Self { id: id.to_owned(), created_at, through: through.map(str::to_owned) })
    }

    /// The tag value (only characters ECS allows in a tag value).
    pub fn to_tag_value(&self) -> String {
        let record = format!("{}@{}", self.id, self.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        match &self.through {
            Some(through) => format!("{record} {through}"),
            None => record,
        }
    }

    /// The tag that records it.
    pub fn tag(&self) -> (String, String) {
        (keys::SEEN_DEPLOYMENT.to_owned(), self.to_tag_value())
    }
}

/// The id of a service deployment ARN (its last path segment).
pub fn deployment_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Since when the service's history must be read (ListServiceDeployments `createdAt.after`),
/// or `None` when its current service deployment is the one recorded (or it has none), or the
/// history was read through it ([`Seen::through`]) and `live_awaits_verdict`: the revision the
/// service runs is a rollout still awaiting its verdict (or its rollback's outcome), judged
/// from what ECS shows. Once ECS runs another revision (it rolled the rollout back, a person
/// moved the service), or the rollout has its verdict, the history is read again. With no
/// readable record, or one dated more than [`LOOKBACK`] after `now` (a person edited it: it
/// would hide every deployment; ECS's clock and the event's may differ by seconds, never by a
/// day): the last [`LOOKBACK`].
pub fn history_due(service: &ServiceView, now: DateTime<Utc>, live_awaits_verdict: bool) -> Option<DateTime<Utc>> {
    let current = deployment_id(service.current_service_deployment.as_deref()?);
    match service.tags.get(keys::SEEN_DEPLOYMENT).and_then(|v| Seen::parse(v)) {
        Some(seen) if seen.id == current => None,
        Some(seen) if live_awaits_verdict && seen.through.as_deref() == Some(current) => None,
        Some(seen) if seen.created_at <= now + LOOKBACK => Some(seen.created_at),
        _ => Some(now - LOOKBACK),
    }
}

/// What the gate knows of a rollout it found in ECS's history, no longer run or listed
/// ([`crate::gate::RolloutFacts::orphaned`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Orphaned {
    /// The revision ECS's circuit breaker rolled the service back to (DescribeServiceDeployments
    /// `rollback.serviceRevisionArn`, then DescribeServiceRevisions), when it rolled back.
    pub rolled_back_to: Option<TaskDefArn>,
}

/// A settled service deployment whose target revision may be a rollout nobody judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    /// The service deployment's id ([`deployment_id`]).
    pub deployment: String,
    /// Its ARN (`arn:aws:ecs:<region>:<account>:service-deployment/<cluster>/<service>/<id>`).
    pub deployment_arn: String,
    /// The service revision it deployed (DescribeServiceRevisions names its task definition).
    pub target_revision: String,
    /// For a deployment ECS rolled back: the failure, as ECS reported it; `None` for one that
    /// completed or that a newer deployment stopped (its rollout was superseded).
    pub failure: Option<String>,
}

/// What the history says ([`read_history`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HistoryReading {
    /// Targets to judge if ECS no longer runs or lists them, oldest first.
    pub orphans: Vec<Orphan>,
    /// Every service deployment read but the recorded one, oldest first, and whether ECS
    /// settled it.
    order: Vec<(Seen, bool)>,
}

impl HistoryReading {
    /// The new record: the newest service deployment with only settled ones before it, none
    /// of them `held` (ids of deployments whose rollout ECS still runs or lists without a
    /// verdict, the current one included: the judgement of a listed revision may wait, and
    /// ECS may drop it before any verdict, so its deployment is read again until it has one).
    /// `None` when the record does not move.
    pub fn record(&self, held: &std::collections::BTreeSet<String>) -> Option<Seen> {
        self.order
            .iter()
            .take_while(|(seen, settled)| *settled && !held.contains(&seen.id))
            .last()
            .map(|(s, _)| s.clone())
    }

    /// The record a run writes, if it changes: [`HistoryReading::record`], or, when the only
    /// deployment held is `current` (the live rollout's own, which awaits its verdict) and
    /// `judged_nothing` (this run judged no orphan, so none is half done), that record (or the
    /// `recorded` one when it does not move) read through `current` ([`Seen::through`]).
    pub fn record_for_run(
        &self,
        held: &std::collections::BTreeSet<String>,
        current: Option<&str>,
        recorded: Option<&Seen>,
        judged_nothing: bool,
    ) -> Option<Seen> {
        let moved = self.record(held);
        let through = current.filter(|c| judged_nothing && held.len() == 1 && held.contains(*c));
        let new = match through {
            Some(current) => {
                moved.or_else(|| recorded.cloned()).map(|base| Seen { through: Some(current.to_owned()), ..base })
            }
            None => moved,
        };
        new.filter(|n| Some(n) != recorded)
    }
}

/// Reads `briefs` (the service deployments since the record, any order).
///
/// * Every one but the recorded one, and but the current one when it completed (its target is
///   what the service runs), whose outcome ECS settled or that ECS is rolling back is an
///   [`Orphan`] candidate: the handler judges its target only when ECS neither runs nor lists
///   it, and the verdict rules make a settled revision's second look a no-op.
/// * The record ([`HistoryReading::record`]) moves to the newest deployment with only settled
///   ones before it: one still in progress is read again on the next run.
pub fn read_history(service: &ServiceView, briefs: &[ServiceDeploymentBrief]) -> HistoryReading {
    let recorded = service.tags.get(keys::SEEN_DEPLOYMENT).and_then(|v| Seen::parse(v));
    let current = service.current_service_deployment.as_deref().map(deployment_id);
    let mut sorted: Vec<&ServiceDeploymentBrief> =
        briefs.iter().filter(|b| recorded.as_ref().is_none_or(|r| r.id != deployment_id(&b.arn))).collect();
    sorted.sort_by_key(|b| b.created_at);
    let mut reading = HistoryReading::default();
    for b in sorted {
        let id = deployment_id(&b.arn);
        let live_target = b.status == ServiceDeploymentStatus::Successful && Some(id) == current;
        if let Some(target) = b.target_revision.as_ref().filter(|_| !live_target)
            && (b.status.settled() || b.status.rolled_back())
        {
            reading.orphans.push(Orphan {
                deployment: id.to_owned(),
                deployment_arn: b.arn.clone(),
                target_revision: target.clone(),
                failure: b
                    .status
                    .rolled_back()
                    .then(|| b.status_reason.clone().unwrap_or_else(|| "ECS rolled the deployment back".to_owned())),
            });
        }
        reading.order.push((Seen { id: id.to_owned(), created_at: b.created_at, through: None }, b.status.settled()));
    }
    reading
}

/// Whether ECS runs `revision` on `service` or lists a deployment of it
/// (DescribeServices' `taskDefinition` and `deployments`): such a revision is judged from what
/// ECS shows, not from the history.
pub fn lists(service: &ServiceView, revision: &TaskDefArn) -> bool {
    service.task_definition.as_ref() == Some(revision)
        || service.deployments.iter().any(|d| d.task_definition.as_ref() == Some(revision))
}

/// What a history run does with an orphan's target revision ([`orphan_step`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrphanStep {
    /// Hold the record before the orphan's deployment: ECS lists its rollout, which awaits a
    /// verdict, and may drop it before any run gives one.
    pub hold: bool,
    /// Read the revision and judge it (or follow its rollback): ECS neither runs nor lists
    /// it, it is not the last known good, and this run has not judged it already.
    pub judge: bool,
}

/// The step for an orphan whose target is `revision`. `awaiting`: whether the revision's
/// rollout awaited a verdict at this run; `judged`: whether this run judged it already (an
/// earlier orphan with the same target).
pub fn orphan_step(service: &ServiceView, revision: &TaskDefArn, awaiting: bool, judged: bool) -> OrphanStep {
    let listed = lists(service, revision);
    let last_good = service.tags.get(keys::LAST_GOOD).map(String::as_str) == Some(revision.as_str());
    OrphanStep { hold: listed && awaiting, judge: !(listed || last_good || judged) }
}

/// Whether the new record ([`HistoryReading::record`]) is written now ([`record_step`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordStep {
    /// Tag the service with it.
    Write,
    /// Not yet: the record would add a tag, and the service's view predates this run's own
    /// tag writes, so its tag count is stale. The next run reads the same history, judges
    /// nothing twice, and writes it from a fresh view.
    AwaitFreshView,
    /// Never while the service holds [`crate::tags::MAX_TAGS`] tags: the history is read again
    /// on every run (said in the log).
    NoRoom,
}

/// The step for the record. `tags_written`: whether this run may have written the service's
/// tags already (a verdict, or a judged orphan).
pub fn record_step(service: &ServiceView, tags_written: bool) -> RecordStep {
    let adds_a_tag = !service.tags.contains_key(keys::SEEN_DEPLOYMENT);
    if adds_a_tag && tags_written {
        RecordStep::AwaitFreshView
    } else if adds_a_tag && service.tags.len() >= crate::tags::MAX_TAGS {
        RecordStep::NoRoom
    } else {
        RecordStep::Write
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::ServiceArn;
    use crate::service::{DeploymentController, Tags};

    const ARN: &str = "arn:aws:ecs:us-east-1:123456789012:service-deployment/prod/web/";

    fn at(minute: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-12-02T10:{minute:02}:00Z")).unwrap().with_timezone(&Utc)
    }

    fn service(current: Option<&str>, seen: Option<&str>) -> ServiceView {
        let mut tags = Tags::new();
        if let Some(seen) = seen {
            tags.insert(keys::SEEN_DEPLOYMENT.to_owned(), seen.to_owned());
        }
        ServiceView {
            arn: ServiceArn::parse("arn:aws:ecs:us-east-1:123456789012:service/prod/web").unwrap(),
            status: crate::service::ServiceStatus::Active,
            task_definition: None,
            tags,
            deployments: Vec::new(),
            deployment_controller: DeploymentController::Ecs,
            fargate: true,
            current_service_deployment: current.map(|id| format!("{ARN}{id}")),
        }
    }

    fn brief(id: &str, status: &str, minute: u32) -> ServiceDeploymentBrief {
        ServiceDeploymentBrief {
            arn: format!("{ARN}{id}"),
            status: ServiceDeploymentStatus::from_api(status),
            status_reason: Some(format!("{id} {status}")),
            created_at: at(minute),
            target_revision: Some(format!("rev-{id}")),
        }
    }

    #[test]
    fn a_history_read_through_the_live_rollouts_deployment_is_not_read_again_while_it_awaits_its_verdict() {
        let now = at(30);
        let through = service(Some("b"), Some("a@2026-12-02T10:01:00Z b"));
        assert_eq!(history_due(&through, now, true), None, "the live rollout awaits its verdict");
        assert_eq!(history_due(&through, now, false), Some(at(1)), "it has one, or ECS runs another revision");
        let newer = service(Some("c"), Some("a@2026-12-02T10:01:00Z b"));
        assert_eq!(history_due(&newer, now, true), Some(at(1)), "a newer deployment");
        let seen = Seen::parse("a@2026-12-02T10:01:00Z b").unwrap();
        assert_eq!(seen.through.as_deref(), Some("b"));
        assert_eq!(Seen::parse(&seen.to_tag_value()), Some(seen));
        assert_eq!(Seen::parse("a@2026-12-02T10:01:00Z b c"), None, "one id after the record");
        assert_eq!(Seen::parse("a@2026-12-02T10:01:00Z "), None);

        // The record a run writes: through the current deployment only when it is the one held
        // and the run judged nothing; the same record is not written again.
        let r = read_history(&service(Some("b"), Some("a@2026-12-02T10:01:00Z")), &[brief("b", "IN_PROGRESS", 2)]);
        let recorded = Seen::parse("a@2026-12-02T10:01:00Z").unwrap();
        let held: BTreeSet<String> = ["b".to_owned()].into();
        let written = r.record_for_run(&held, Some("b"), Some(&recorded), true).unwrap();
        assert_eq!(written.to_tag_value(), "a@2026-12-02T10:01:00Z b");
        assert_eq!(r.record_for_run(&held, Some("b"), Some(&recorded), false), None, "an orphan was judged");
        assert_eq!(r.record_for_run(&BTreeSet::new(), Some("b"), Some(&recorded), true), None, "nothing held");
        let two: BTreeSet<String> = ["b".to_owned(), "x".to_owned()].into();
        assert_eq!(r.record_for_run(&two, Some("b"), Some(&recorded), true), None, "another rollout held");
        assert_eq!(r.record_for_run(&held, Some("b"), Some(&written), true), None, "already written");
        // A settled deployment before the held one moves the record and marks it read through.
        let r = read_history(
            &service(Some("c"), Some("a@2026-12-02T10:01:00Z")),
            &[brief("b", "SUCCESSFUL", 2), brief("c", "IN_PROGRESS", 3)],
        );
        let held: BTreeSet<String> = ["c".to_owned()].into();
        assert_eq!(
            r.record_for_run(&held, Some("c"), Some(&recorded), true).map(|s| s.to_tag_value()),
            Some("b@2026-12-02T10:02:00Z c".to_owned())
        );
    }

    #[test]
    fn the_history_is_read_only_when_ecs_has_a_deployment_the_record_does_not_name() {
        let now = at(30);
        assert_eq!(history_due(&service(None, None), now, false), None, "no service deployments (older services)");
        assert_eq!(history_due(&service(Some("a"), Some("a@2026-12-02T10:01:00Z")), now, false), None);
        assert_eq!(history_due(&service(Some("b"), Some("a@2026-12-02T10:01:00Z")), now, false), Some(at(1)));
        assert_eq!(history_due(&service(Some("b"), None), now, false), Some(now - LOOKBACK));
        assert_eq!(history_due(&service(Some("b"), Some("not a record")), now, false), Some(now - LOOKBACK));
        let future = "abcdefghijklmnopqrstu@2030-01-01T00:00:00Z";
        assert_eq!(
            history_due(&service(Some("b"), Some(future)), now, false),
            Some(now - LOOKBACK),
            "a record from the future"
        );
    }

    #[test]
    fn a_rollback_ecs_finished_alone_is_an_orphan_with_its_failure_and_the_record_moves() {
        let s = service(Some("b"), Some("a@2026-12-02T10:01:00Z"));
        let r = read_history(&s, &[brief("b", "ROLLBACK_SUCCESSFUL", 5), brief("a", "SUCCESSFUL", 1)]);
        assert_eq!(
            r.orphans,
            vec![Orphan {
                deployment: "b".into(),
                deployment_arn: format!("{ARN}b"),
                target_revision: "rev-b".into(),
                failure: Some("b ROLLBACK_SUCCESSFUL".into())
            }]
        );
        let seen = r.record(&BTreeSet::new());
        assert_eq!(seen, Some(Seen { id: "b".into(), created_at: at(5), through: None }));
        assert_eq!(
            Seen::parse(&seen.unwrap().to_tag_value()),
            Some(Seen { id: "b".into(), created_at: at(5), through: None })
        );
        assert_eq!(r.record(&BTreeSet::from(["b".to_owned()])), None, "b's rollout is listed without a verdict");
    }

    #[test]
    fn the_record_stops_before_a_deployment_in_progress_and_stopped_ones_are_superseded() {
        let s = service(Some("d"), None);
        let briefs = [
            brief("a", "SUCCESSFUL", 1),
            brief("b", "STOPPED", 2),
            brief("c", "ROLLBACK_IN_PROGRESS", 3),
            brief("d", "IN_PROGRESS", 4),
        ];
        let r = read_history(&s, &briefs);
        let failures: Vec<_> = r.orphans.iter().map(|o| (o.target_revision.as_str(), o.failure.is_some())).collect();
        assert_eq!(failures, [("rev-a", false), ("rev-b", false), ("rev-c", true)]);
        assert_eq!(
            r.record(&BTreeSet::new()),
            Some(Seen { id: "b".into(), created_at: at(2), through: None }),
            "c is not settled yet"
        );
        let held = BTreeSet::from(["b".to_owned()]);
        assert_eq!(
            r.record(&held),
            Some(Seen { id: "a".into(), created_at: at(1), through: None }),
            "b's rollout awaits a verdict"
        );
        let done = read_history(&service(Some("d"), None), &[brief("d", "SUCCESSFUL", 4)]);
        assert_eq!(done.orphans, [], "the current, completed deployment's target is live");
        assert_eq!(done.record(&BTreeSet::new()), Some(Seen { id: "d".into(), created_at: at(4), through: None }));
        let unknown = read_history(&s, &[brief("e", "SOMETHING_NEW", 5)]);
        assert_eq!(unknown.orphans, [], "an unknown status is never settled");
        assert_eq!(unknown.record(&BTreeSet::new()), None);
    }
}
