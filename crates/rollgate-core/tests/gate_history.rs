//! What ECS and people do beside a rollout: ECS's service-deployment history, a followed
//! rollback's outcome, a forced deployment of the rollout, another service's tasks (#15, #16).

#[path = "gate/common.rs"]
mod common;

use common::*;

/// ECS's history: what a run does with an orphan's target, and when it records how far it
/// read. ECS's live state decides: a revision ECS runs or lists is judged from that, not from
/// the history, and its deployment holds the record while its rollout awaits a verdict.
#[test]
fn an_orphan_is_judged_only_where_nothing_else_judges_it() {
    use rollgate_core::history::{OrphanStep, RecordStep, lists, orphan_step, record_step};
    let w = World::new(); // runs 3, lists 3 and 2; last good 2
    assert!(lists(&w.service, &rev(3)) && lists(&w.service, &rev(2)) && !lists(&w.service, &rev(4)));
    let step = |n: u32, awaiting: bool, judged: bool| orphan_step(&w.service, &rev(n), awaiting, judged);
    let (judge, skip, hold) = (
        OrphanStep { hold: false, judge: true },
        OrphanStep { hold: false, judge: false },
        OrphanStep { hold: true, judge: false },
    );
    assert_eq!(step(4, false, false), judge, "neither run nor listed: judged from the history");
    assert_eq!(step(4, true, false), judge);
    assert_eq!(step(4, false, true), skip, "judged once per run");
    assert_eq!(step(3, true, false), hold, "listed and awaiting a verdict: held, judged from what ECS lists");
    assert_eq!(step(3, false, false), skip);
    let mut gone = World::new();
    gone.service.deployments.clear();
    gone.service.task_definition = Some(rev(5));
    assert_eq!(orphan_step(&gone.service, &rev(2), false, false), skip, "the last known good is settled");
    assert_eq!(orphan_step(&gone.service, &rev(3), true, false), judge, "dropped by ECS: judged");

    // The record: a first record adds a tag, so it waits for a view newer than this run's own
    // writes, and never takes the 50th tag; a record already there is overwritten in place.
    assert_eq!(record_step(&w.service, false), RecordStep::Write);
    assert_eq!(record_step(&w.service, true), RecordStep::AwaitFreshView);
    let mut full = World::new();
    for i in full.service.tags.len()..rollgate_core::tags::MAX_TAGS {
        full.service.tags.insert(format!("owner-{i}"), "x".into());
    }
    assert_eq!(record_step(&full.service, false), RecordStep::NoRoom);
    full.service.tags.remove("owner-49");
    full.service.tags.insert(keys::SEEN_DEPLOYMENT.into(), "abc@2026-11-28T10:00:00Z".into());
    assert_eq!(record_step(&full.service, true), RecordStep::Write, "an overwrite needs no room");
}

/// A followed rollback's report line, and which refusals end it for good.
#[test]
fn a_followed_rollback_reports_its_state_and_a_refusal_for_good_ends_it() {
    use rollgate_core::ErrorClass::{NonRetryable, Retryable};
    use rollgate_core::gate::{refused_for_good, rollback_outcome};
    let w = rolling_back();
    let line = |v: &RollbackVerdict| rollback_outcome(&w.service, &w.revision, v).map(|o| (o.verdict, o.detail));
    assert_eq!(line(&RollbackVerdict::NotStarted), None);
    assert_eq!(line(&RollbackVerdict::Stale("pointer".into())), None, "a stale pointer changes no rollout");
    assert_eq!(line(&RollbackVerdict::Wait("in flight".into())), Some(("rolling-back".into(), "in flight".into())));
    assert_eq!(line(&RollbackVerdict::Completed("done".into())), Some(("rolled-back".into(), "done".into())));
    assert_eq!(line(&RollbackVerdict::Failed("no".into())), Some(("rollback-failed".into(), "no".into())));
    let o = rollback_outcome(&w.service, &w.revision, &judge(&w)).unwrap();
    assert_eq!((o.revision.as_str(), o.rolled_back_to), (rev(3).as_str(), Some(rev(2).to_string())));

    assert!(refused_for_good(NonRetryable, Some("UpdateService")));
    assert!(refused_for_good(NonRetryable, Some("RegisterTaskDefinition")));
    assert!(!refused_for_good(Retryable, Some("UpdateService")), "throttled: retried");
    assert!(!refused_for_good(NonRetryable, Some("TagResource")), "the ledger's write: retried");
    assert!(!refused_for_good(NonRetryable, None));
}

/// Two services of one task family can run the same revision (a person pointed one at the
/// other's rollout). An abnormal stop of one service's task is no evidence against the other's
/// rollout: it counts only on the service the revision was rolled out to.
#[test]
fn another_services_task_stops_never_count_against_a_rollout() {
    let w = World::new().rollout("IN_PROGRESS", 1);
    assert!(RolloutState::counts_stops(&w.service, &w.revision), "its own service's stop counts");
    let mut worker = w.service.clone();
    worker.arn = ServiceArn::parse("arn:aws:ecs:us-east-1:123456789012:service/prod/worker").unwrap();
    assert!(!RolloutState::counts_stops(&worker, &w.revision), "the worker runs the api's revision");
    let mut untagged = w.revision.clone();
    untagged.tags.remove(keys::SERVICE);
    assert!(!RolloutState::counts_stops(&w.service, &untagged), "no ledger: no rollout of this service");
}

/// A person forces a new deployment of a rollout in its bake; it fails and ECS's circuit
/// breaker returns to the rollout's own completed deployment. The newest deployment of the
/// revision is in progress (later COMPLETED), the failed one is still listed: a failing signal.
#[test]
fn a_failed_deployment_of_the_rollout_fails_it_even_when_a_newer_one_of_it_runs() {
    let mut w = World::new().state("baking").rollout("COMPLETED", 2).at(10);
    let mut rollback = deployment("ecs-svc/3c", 3, "PRIMARY", "IN_PROGRESS", 1);
    rollback.created_at = Some(t(T0) + Duration::minutes(9));
    let mut forced = deployment("ecs-svc/3b", 3, "ACTIVE", "FAILED", 0);
    forced.created_at = Some(t(T0) + Duration::minutes(8));
    forced.rollout_state_reason = Some("ECS deployment circuit breaker: tasks failed to start.".into());
    w.service.deployments = vec![rollback, forced];
    assert_eq!(rolled_back_to(&w.verdict()), Some(rev(2)), "{:?}", w.verdict());
    assert!(reason(&w.verdict()).contains("circuit breaker"), "{}", reason(&w.verdict()));
    // Without the failed one, the same rollout waits for its newest deployment.
    w.service.deployments.truncate(1);
    assert!(matches!(w.verdict(), Verdict::Wait(_) | Verdict::Advance { .. }), "{:?}", w.verdict());
}

/// A person filled the service with their own tags up to 50 after it opted in. A failed
/// rollout is still rolled back and said: the service's failure record drops what does not
/// fit (ECS refuses a TagResource past 50, which blocked the rollback on every run), and the
/// notification says the digest is not kept out.
#[test]
fn a_full_service_still_gets_its_rollback_and_is_told_what_was_not_recorded() {
    let mut w = World::new().rollout("FAILED", 0);
    for i in w.service.tags.len()..rollgate_core::tags::MAX_TAGS {
        w.service.tags.insert(format!("owner-{i}"), "x".into());
    }
    let verdict = w.verdict();
    assert_eq!(rolled_back_to(&verdict), Some(rev(2)));
    let p = rollgate_core::gate::plan(&w.facts(), &verdict);
    assert_eq!(p.roll_back_to, Some(rev(2)), "the rollback is not blocked");
    assert!(p.tag_service.peak(&w.service.tags) <= rollgate_core::tags::MAX_TAGS, "{:?}", p.tag_service);
    let reason = p.notification.as_ref().and_then(|n| n.reason.clone()).unwrap_or_default();
    assert!(reason.contains("no room for rollgate's failure record"), "{reason}");
    // With room, the record is written whole and the notification says nothing of it.
    let w = World::new().rollout("FAILED", 0);
    let p = rollgate_core::gate::plan(&w.facts(), &w.verdict());
    assert!(p.tag_service.set.iter().any(|(k, _)| k.starts_with(keys::FAILED_PREFIX)), "{:?}", p.tag_service);
    assert!(!p.notification.unwrap().reason.unwrap_or_default().contains("no room"));
}
