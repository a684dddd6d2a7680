//! A live revision rollgate did not roll out to the service (a hand or CloudFormation
//! revision, the pre-rollgate revision put back, another service's rollout): judged like any
//! rollout through its ledger view, with its ledger kept on the service (#15).

#[path = "gate/common.rs"]
mod common;

use common::*;
use rollgate_core::gate::{OutsideRecord, RevisionTagsOn, is_outside, on_service, outside_view};

const WORKER: &str = "arn:aws:ecs:us-east-1:123456789012:service/rollgate-demo/worker";

/// Revision 3 registered by hand (no rollgate tag) and live; revision 2 the last known good.
fn hand() -> World {
    let mut w = World::new();
    w.revision.tags = tags(&[("team", "ml")]);
    w
}

/// Another service's rollout revision, healthy there, that a person pointed this service at.
fn borrowed() -> World {
    let mut w = World::new().state("healthy");
    w.revision.tags.insert(keys::SERVICE.into(), WORKER.into());
    w
}

/// One gate run over the world: the verdict on the ledger view, and the plan moved onto the
/// service. The plan's service writes are applied to the world (as ECS would store them).
fn run(w: &mut World) -> (Verdict, GatePlan) {
    let view = outside_view(&w.service, &w.revision).expect("an outside revision has a ledger view");
    let facts = RolloutFacts { revision: &view, ..w.facts() };
    let verdict = evaluate(&facts);
    let p = on_service(&view, &w.service, w.now, plan(&facts, &verdict));
    assert_eq!(p.revision_tags_on, RevisionTagsOn::Service);
    apply(w, &p);
    (verdict, p)
}

fn apply(w: &mut World, p: &GatePlan) {
    w.service.tags = p.tag_service.apply(&w.service.tags);
    w.service.tags.extend(p.tag_revision.iter().cloned());
    if let Some(to) = &p.roll_back_to {
        w.service.task_definition = Some(to.clone());
    }
}

fn record(w: &World) -> OutsideRecord {
    OutsideRecord::of(&w.service).expect("the service records the outside revision")
}

#[test]
fn a_healthy_hand_revision_is_judged_like_a_rollout_and_becomes_the_last_known_good() {
    for mut w in [hand(), borrowed()] {
        assert!(is_outside(&w.service, &w.revision));
        // First sight: announced, recorded on the service, nothing written to the revision.
        let (v, p) = run(&mut w);
        assert!(matches!(v, Verdict::Advance { state: RolloutState::Verifying, announce_start: true, .. }), "{v:?}");
        assert_eq!(p.notification.as_ref().map(|n| n.kind), Some(NotificationKind::Started));
        assert_eq!(record(&w).state, RolloutState::Verifying);
        // COMPLETED: the bake starts now.
        w = w.rollout("COMPLETED", 2).at(5);
        let (v, _) = run(&mut w);
        assert!(matches!(v, Verdict::Advance { state: RolloutState::Baking, .. }), "{v:?}");
        assert_eq!((record(&w).state, record(&w).at), (RolloutState::Baking, w.now));
        // Within the bake, nothing; after it, healthy: the last known good is the revision.
        let baked = w.now + w.settings.bake.as_chrono();
        w.now = baked - Duration::seconds(1);
        assert!(matches!(run(&mut w).0, Verdict::Wait(_)));
        w.now = baked;
        let (v, p) = run(&mut w);
        assert_eq!(v, Verdict::Healthy);
        assert_eq!(p.service_tags_at, ServiceTagsAt::AfterRevision);
        assert_eq!(w.service.tags.get(keys::LAST_GOOD).map(String::as_str), Some(rev(3).as_str()));
        assert_eq!(record(&w).state, RolloutState::Healthy);
        assert_eq!(outside_view(&w.service, &w.revision), None, "the last known good is not judged again");
        assert!(!w.service.tags.keys().any(|k| k.starts_with(keys::FAILED_PREFIX)));
    }
}

#[test]
fn a_failing_hand_revision_is_rolled_back_once_and_its_rollback_followed() {
    for mut w in [hand(), borrowed()] {
        run(&mut w); // verifying
        w.service.deployments[0].rollout_state = EcsRolloutState::from_api("FAILED");
        w.service.deployments[0].rollout_state_reason = Some("tasks failed to start".into());
        let (v, p) = run(&mut w.clone().at(3));
        assert!(
            matches!(&v, Verdict::Failed { resolution: Resolution::RollBack { to }, .. } if *to == rev(2)),
            "{v:?}"
        );
        // The failure is recorded before the rollback, as a configuration's: the revision,
        // never a digest; the rollback pointer names it; the record says rolling back.
        assert_eq!(p.service_tags_at, ServiceTagsAt::BeforeRevision);
        assert!(p.tag_service.set.contains(&(keys::FAILED_CONFIG.into(), rev(3).to_string())));
        assert!(p.tag_service.set.contains(&(keys::ROLLBACK.into(), rev(3).to_string())));
        assert!(!p.tag_service.set.iter().any(|(k, _)| k.starts_with(keys::FAILED_PREFIX)));
        assert_eq!(p.notification.as_ref().map(|n| n.kind), Some(NotificationKind::RolledBack));
        assert_eq!(p.roll_back_to, Some(rev(2)));

        // The rollback's answer was lost: the failure is recorded, the record is not, ECS
        // still runs the revision. The next run finishes the rollback (the one rollback).
        let mut lost = w.clone().at(4);
        lost.service.tags = p.tag_service.apply(&lost.service.tags);
        let (v, _) = run(&mut lost);
        assert!(
            matches!(&v, Verdict::Failed { resolution: Resolution::RollBack { .. }, reason } if reason.contains("finishing its rollback")),
            "{v:?}"
        );

        // Carried out: the rollback is followed from the service's pointer to its outcome.
        let mut w = w.at(3);
        run(&mut w);
        assert_eq!((record(&w).state, w.service.task_definition.clone()), (RolloutState::RollingBack, Some(rev(2))));
        w.service.deployments[1].status = DeploymentStatus::from_api("PRIMARY");
        w.service.deployments[1].rollout_state = EcsRolloutState::from_api("IN_PROGRESS");
        w.service.deployments[1].created_at = Some(w.now);
        let view = outside_view(&w.service, &w.revision).expect("a rollback in flight stays in view");
        w.now += Duration::minutes(1);
        assert!(matches!(judge_rollback(w.now, &w.service, &view, &w.settings), RollbackVerdict::Wait(_)));
        w.service.deployments[1].rollout_state = EcsRolloutState::from_api("COMPLETED");
        let verdict = judge_rollback(w.now, &w.service, &view, &w.settings);
        assert!(matches!(verdict, RollbackVerdict::Completed(_)), "{verdict:?}");
        let p = on_service(&view, &w.service, w.now, plan_rollback(w.now, &w.service, &view, &verdict));
        apply(&mut w, &p);
        assert_eq!(record(&w).state, RolloutState::RolledBack);
        assert_eq!(record(&w).at, t(T0) + Duration::minutes(3), "the record keeps when its rollback started");
        assert!(!w.service.tags.contains_key(keys::ROLLBACK));

        // ECS (its circuit breaker) or a person runs it again: no second rollback. Said once.
        w.service.task_definition = Some(rev(3));
        w.now += Duration::minutes(5);
        let (v, p) = run(&mut w);
        assert!(matches!(v, Verdict::Failed { resolution: Resolution::Impossible { .. }, .. }), "{v:?}");
        assert_eq!(p.roll_back_to, None);
        assert_eq!(p.notification.as_ref().map(|n| n.kind), Some(NotificationKind::RollbackFailed));
        assert_eq!(record(&w).state, RolloutState::RollbackFailed);
        let (v, p) = run(&mut w.at(20));
        assert!(matches!(v, Verdict::Ignore(_)), "{v:?}");
        assert!(p.is_empty(), "left for a person: nothing more is written or said");
    }
}

/// The failing signals an outside revision is judged by, each a rollback: ECS's failed
/// deployment, a watched alarm, a failed smoke test, the deadline; a short count after the
/// bake is "not yet" until the deadline.
#[test]
fn an_outside_revision_fails_on_the_signals_a_rollout_fails_on() {
    let fails = |w: &World| {
        let mut w = w.clone();
        matches!(run(&mut w).0, Verdict::Failed { resolution: Resolution::RollBack { .. }, .. })
    };
    let mut alarmed = hand();
    alarmed.settings.alarms = vec!["p99".into()];
    alarmed.alarms = vec!["p99".into()];
    assert!(fails(&alarmed));
    let mut late = hand().at(0);
    run(&mut late);
    assert!(fails(&late.at(60 * 24)), "past the deadline, still IN_PROGRESS");
    let mut smoke = hand().rollout("COMPLETED", 2);
    smoke.smoke = Some(SmokeOutcome::Failed("golden inference answered 500".into()));
    assert!(fails(&smoke));

    let mut short = hand().rollout("COMPLETED", 2);
    run(&mut short); // baking
    short.service.deployments[0].desired_count = 4; // autoscaling, near the end of the bake
    short.now += short.settings.bake.as_chrono();
    assert!(matches!(run(&mut short).0, Verdict::Wait(_) | Verdict::Short { .. }), "not yet healthy, not failed");
    short.now += short.settings.deadline.as_chrono() + Duration::seconds(1);
    assert!(fails(&short), "still short past the deadline from the bake's end");
}

/// The record fits ECS's tag rules, and a service a person filled to 50 tags still gets its
/// rollback: only the record is left out.
#[test]
fn the_record_keeps_to_the_tag_rules() {
    let mut full = hand().rollout("FAILED", 0);
    for i in full.service.tags.len()..rollgate_core::tags::MAX_TAGS {
        full.service.tags.insert(format!("owner-{i}"), "x".into());
    }
    let view = outside_view(&full.service, &full.revision).unwrap();
    let facts = RolloutFacts { revision: &view, ..full.facts() };
    let verdict = evaluate(&facts);
    let p = on_service(&view, &full.service, full.now, plan(&facts, &verdict));
    assert_eq!(p.roll_back_to, Some(rev(2)), "the rollback goes ahead");
    assert!(p.tag_revision.is_empty(), "no room for the record");
    assert!(p.tag_service.peak(&full.service.tags) <= rollgate_core::tags::MAX_TAGS);

    let mut w = hand();
    run(&mut w);
    let value = &w.service.tags[keys::OUTSIDE];
    assert!(rollgate_core::tags::is_allowed(value) && value.len() <= rollgate_core::tags::MAX_VALUE_CHARS);
}

/// What is not an outside revision: this service's own rollouts, the last known good, a gate
/// copy of it, a service with no last known good yet (its steady revision is adopted).
#[test]
fn the_services_own_revisions_are_never_outside() {
    let w = World::new();
    assert_eq!(outside_view(&w.service, &w.revision), None, "this service's rollout");
    let mut good = hand();
    good.service.task_definition = Some(rev(2));
    good.revision.arn = rev(2);
    assert_eq!(outside_view(&good.service, &good.revision), None, "the last known good");
    let mut first = hand();
    first.service.tags.remove(keys::LAST_GOOD);
    assert_eq!(outside_view(&first.service, &first.revision), None, "no last known good yet");
    let copy = World::new().tag(keys::COPY_OF, rev(2).as_str());
    assert_eq!(outside_view(&copy.service, &copy.revision), None, "a gate copy carries this service's ledger");
    // The gate's copy of a deregistered pre-rollgate target has no rollout ledger, only its
    // marker and service: still the gate's own.
    let mut bare_copy = hand();
    bare_copy.revision.tags.insert(keys::COPY_OF.into(), rev(1).to_string());
    bare_copy.revision.tags.insert(keys::SERVICE.into(), SERVICE.into());
    assert_eq!(outside_view(&bare_copy.service, &bare_copy.revision), None);
    bare_copy.revision.tags.insert(keys::SERVICE.into(), WORKER.into());
    assert!(outside_view(&bare_copy.service, &bare_copy.revision).is_some(), "another service's copy is not");
}

/// No room for the record (a person filled the service's 50 tags): the revision is not
/// announced on every run (nothing records that it was), and a failure still rolls it back.
#[test]
fn without_room_for_the_record_nothing_is_said_on_every_run() {
    let mut full = hand();
    for i in full.service.tags.len()..rollgate_core::tags::MAX_TAGS {
        full.service.tags.insert(format!("owner-{i}"), "x".into());
    }
    for _ in 0..3 {
        let (v, p) = run(&mut full);
        assert!(matches!(v, Verdict::Advance { announce_start: true, .. }), "{v:?}");
        assert!(p.notification.is_none() && p.tag_revision.is_empty(), "{p:?}");
    }
}

/// A hand revision whose deployment failed before any gate run saw it live (ECS's circuit
/// breaker already went back to the last known good; a break-test's probe): its failure is
/// published once, as ECS's rollback, and recorded, instead of nothing at all.
#[test]
fn a_hand_revision_that_failed_unseen_is_published_once() {
    let mut w = hand();
    w.service.task_definition = Some(rev(2));
    w.service.deployments[0].rollout_state = EcsRolloutState::from_api("FAILED");
    w.service.deployments[1].status = DeploymentStatus::from_api("PRIMARY");
    // A service with no room to record the failure would say it on every run: not judged.
    let mut full = w.clone();
    for i in full.service.tags.len()..rollgate_core::tags::MAX_TAGS {
        full.service.tags.insert(format!("owner-{i}"), "x".into());
    }
    assert_eq!(outside_view(&full.service, &full.revision), None);
    let (v, p) = run(&mut w);
    assert!(matches!(v, Verdict::Failed { resolution: Resolution::AlreadyRolledBack, .. }), "{v:?}");
    assert_eq!(p.roll_back_to, None, "ECS rolled back already");
    let n = p.notification.as_ref().unwrap();
    assert_eq!((n.kind, n.rolled_back_by), (NotificationKind::RolledBack, Some(RolledBackBy::Ecs)));
    assert_eq!(w.service.tags.get(keys::FAILED_CONFIG).map(String::as_str), Some(rev(3).as_str()));
    // ECS's rollback is followed like the gate's own.
    assert_eq!(record(&w).state, RolloutState::RollingBack);
    assert_eq!(w.service.tags.get(keys::ROLLBACK).map(String::as_str), Some(rev(3).as_str()));
    // Judged once: the record and the failure name it now; another revision's record later
    // does not bring it back while the failure is recorded.
    w.service.tags.insert(keys::OUTSIDE.into(), "verifying@2026-11-28T10:00:00Z rollgate-demo:9".into());
    assert_eq!(outside_view(&w.service, &w.revision), None);
}
