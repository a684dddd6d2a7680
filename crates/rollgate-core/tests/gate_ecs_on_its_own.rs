//! What ECS does on its own (#15): a rollback is followed to its outcome, ECS's live state
//! outranks the ledger, and a count at one instant is no verdict.

#[path = "gate/common.rs"]
mod common;

use common::*;

#[test]
fn a_rollback_is_followed_until_it_completes_or_fails() {
    let label = |v: &RollbackVerdict| match v {
        RollbackVerdict::Stale(_) => "stale",
        RollbackVerdict::NotStarted => "not-started",
        RollbackVerdict::Wait(_) => "wait",
        RollbackVerdict::Completed(_) => "completed",
        RollbackVerdict::Failed(_) => "failed",
    };
    let cases: Vec<(&str, World, &str)> = vec![
        ("the rollback's deployment is in progress", rolling_back(), "wait"),
        (
            "a revision with no room for its rollback's keys: read from the service",
            {
                let mut w = rolling_back();
                for k in [keys::ROLLBACK_TO, keys::DECIDED_AT, keys::ROLLED_BACK_BY] {
                    w.revision.tags.remove(k);
                }
                w.service.tags.insert(keys::LAST_GOOD.into(), rev(2).to_string());
                w.service.deployments[0].rollout_state = Some(EcsRolloutState::Completed);
                w
            },
            "completed",
        ),
        (
            "the rollback's deployment completed",
            {
                let mut w = rolling_back();
                w.service.deployments[0].rollout_state = Some(EcsRolloutState::Completed);
                w
            },
            "completed",
        ),
        (
            "the rollback's deployment failed (no circuit-breaker rollback)",
            {
                let mut w = rolling_back();
                w.service.deployments[0].rollout_state = Some(EcsRolloutState::Failed);
                w.service.deployments[0].rollout_state_reason =
                    Some("ECS deployment circuit breaker: tasks failed to start.".into());
                w
            },
            "failed",
        ),
        (
            "ECS's circuit breaker put the failed revision back (ping-pong)",
            {
                let mut w = rolling_back();
                w.service.task_definition = Some(rev(3));
                w.service.deployments[0].rollout_state = Some(EcsRolloutState::Failed);
                w
            },
            "failed",
        ),
        ("the rollback did not complete within the deadline", rolling_back().at(5 + 15 + 1), "failed"),
        (
            "a newer rollout replaced the failed revision",
            {
                let mut w = rolling_back();
                w.service.task_definition = Some(rev(4));
                w
            },
            "completed",
        ),
        (
            "the rollout still awaits its verdict (failure recorded, rollback not yet made)",
            rolling_back().state("baking"),
            "not-started",
        ),
        ("the pointer names a settled rollback", rolling_back().state("rolled-back"), "stale"),
        ("the pointer names a failed rollback", rolling_back().state("rollback-failed"), "stale"),
    ];
    for (name, w, want) in cases {
        let v = judge(&w);
        assert_eq!(label(&v), want, "{name}: {v:?}");
    }
}

#[test]
fn a_failed_rollback_is_final_notified_once_and_never_rolled_back_again() {
    // Case 1 of #15: the rollback to revision 2 fails, ECS's circuit breaker returns to 3.
    let mut w = rolling_back();
    w.service.task_definition = Some(rev(3));
    w.service.deployments[0].rollout_state = Some(EcsRolloutState::Failed);
    w.service.deployments[0].rollout_state_reason = Some("CannotPullContainerError: image not found".into());
    let v = judge(&w);
    let RollbackVerdict::Failed(why) = &v else { panic!("{v:?}") };
    assert!(why.contains("did not hold") && why.contains("CannotPullContainerError"), "{why}");
    let p = plan_rollback(w.now, &w.service, &w.revision, &v);
    assert!(p.roll_back_to.is_none() && p.copy.is_none(), "no second rollback");
    assert!(p.tag_revision.contains(&(keys::STATE.into(), "rollback-failed".into())));
    assert_eq!(p.tag_service.remove, vec![keys::ROLLBACK.to_owned()]);
    let n = p.notification.clone().unwrap();
    assert_eq!(n.kind, NotificationKind::RollbackFailed);
    assert_eq!(n.kind.detail_type(), "Rollback Failed");
    assert_eq!(n.rolled_back_to, Some(rev(2).to_string()));
    assert_eq!(n.rollout_reason.as_deref(), Some("3 tasks OOM-killed at 512 MiB: raise memory"));
    // Once written, every later look at the service leaves it alone, whatever ECS does.
    let mut after = w.clone();
    for (k, v) in &p.tag_revision {
        after.revision.tags.insert(k.clone(), v.clone());
    }
    after.service.tags.remove(keys::ROLLBACK);
    assert!(matches!(after.verdict(), Verdict::Ignore(_)), "live again after a failed rollback: left for a person");
    assert!(!RolloutState::worth_evaluating(&after.service, &after.revision));
    after.service.task_definition = Some(rev(2));
    assert!(matches!(after.verdict(), Verdict::Ignore(_)));
    // A completed rollback settles with no notification (it was announced when it started).
    let mut done = rolling_back();
    done.service.deployments[0].rollout_state = Some(EcsRolloutState::Completed);
    let p = plan_rollback(done.now, &done.service, &done.revision, &judge(&done));
    assert!(p.notification.is_none());
    assert!(p.tag_revision.contains(&(keys::STATE.into(), "rolled-back".into())));
    assert_eq!(p.service_tags_at, ServiceTagsAt::AfterRevision, "the pointer goes after the commit point");
}

#[test]
fn a_rolling_back_revision_is_not_judged_as_a_rollout() {
    let mut w = rolling_back();
    assert!(matches!(w.verdict(), Verdict::Ignore(_)));
    // Even when ECS runs it again: the rollback's outcome decides (judge_rollback).
    w.service.task_definition = Some(rev(3));
    assert!(matches!(w.verdict(), Verdict::Ignore(_)));
    assert!(!RolloutState::in_flight(&w.revision.tags), "bad tasks are not recorded on it");
}

#[test]
fn an_unusable_rollback_target_is_copied_or_said_impossible_once() {
    let w = World::new().state("verifying").rollout("FAILED", 0);
    let v = w.verdict();
    let target = TaskDefSummary {
        arn: rev(2),
        containers: vec![],
        tags: tags(&[
            (keys::DIGEST, "sha256:2222222222222222222222222222222222222222222222222222222222222222"),
            (keys::STATE, "healthy"),
            (keys::SERVICE, SERVICE),
            ("rollgate:bad-task:abc", "oom:model:512"),
            ("team", "ml"),
        ]),
        platform: None,
        fargate_platform: None,
    };
    let (svc, failing) = (&w.service, &w.revision);
    // ACTIVE and its images there: unchanged.
    let ok = TargetFacts::Described { revision: &target, active: true, images_gone: vec![], tags_now: vec![] };
    assert_eq!(check_target(v.clone(), svc, failing, &ok), v);
    // Deregistered (case 2 of #15): a fresh copy of it, tagged to be found again.
    let inactive = TargetFacts::Described { revision: &target, active: false, images_gone: vec![], tags_now: vec![] };
    let copied = check_target(v.clone(), svc, failing, &inactive);
    let Verdict::Failed { resolution: Resolution::RollBackToCopy { of, tags: copy }, .. } = &copied else {
        panic!("{copied:?}")
    };
    assert_eq!(of, &rev(2));
    assert!(copy.contains(&(keys::COPY_OF.into(), rev(2).to_string())));
    assert!(copy.contains(&(keys::STATE.into(), "healthy".into())), "the copy keeps the target's verdict");
    assert!(copy.contains(&("team".into(), "ml".into())), "and the user's tags");
    assert!(!copy.iter().any(|(k, _)| k.starts_with(keys::BAD_TASK_PREFIX)));
    let p = plan(&w.facts(), &copied);
    assert_eq!(p.roll_back_to, None, "the copy's ARN is known once registered");
    assert_eq!(p.copy.as_ref().map(|c| &c.of), Some(&rev(2)));
    assert!(p.tag_revision.contains(&(keys::STATE.into(), "rolling-back".into())));
    assert!(p.tag_service.set.contains(&(keys::ROLLBACK.into(), rev(3).to_string())));
    // Deleted, or its image gone, or a tag it names now naming the failed image (a
    // pre-rollgate revision on `repo:latest`, and the failed push moved `latest`): impossible,
    // said once, in a final state.
    let latest = "123456789012.dkr.ecr.us-east-1.amazonaws.com/m:latest".to_owned();
    for facts in [
        TargetFacts::Gone,
        TargetFacts::Described {
            revision: &target,
            active: true,
            images_gone: vec!["123456789012.dkr.ecr.us-east-1.amazonaws.com/m@sha256:22".into()],
            tags_now: vec![],
        },
        TargetFacts::Described {
            revision: &target,
            active: true,
            images_gone: vec![],
            tags_now: vec![(latest.clone(), Digest::parse(D3).unwrap())],
        },
    ] {
        let v = check_target(v.clone(), svc, failing, &facts);
        let p = plan(&w.facts(), &v);
        assert!(p.roll_back_to.is_none() && p.copy.is_none(), "{v:?}");
        assert!(p.tag_revision.contains(&(keys::STATE.into(), "rollback-failed".into())));
        assert!(!p.tag_service.set.iter().any(|(k, _)| k == keys::ROLLBACK), "nothing to follow");
        let n = p.notification.unwrap();
        assert_eq!(n.kind, NotificationKind::RollbackFailed);
        assert!(n.reason.as_deref().is_some_and(|r| r.starts_with("cannot roll back to")), "{:?}", n.reason);
        assert!(n.rollout_reason.is_some());
    }
    // A tag naming a digest the service recorded as failed earlier is refused the same way;
    // one naming a good digest is a rollback like any other.
    let older = "sha256:4444444444444444444444444444444444444444444444444444444444444444";
    let mut marked = w.service.clone();
    marked.tags.insert(format!("{}{older}", keys::FAILED_PREFIX), T0.into());
    let moved = |d: &str| TargetFacts::Described {
        revision: &target,
        active: true,
        images_gone: vec![],
        tags_now: vec![(latest.clone(), Digest::parse(d).unwrap())],
    };
    let refused = check_target(v.clone(), &marked, failing, &moved(older));
    let Verdict::Failed { resolution: Resolution::Impossible { why, .. }, .. } = &refused else {
        panic!("{refused:?}")
    };
    assert!(why.contains("m:latest now names 444444444444"), "{why}");
    let good = "sha256:5555555555555555555555555555555555555555555555555555555555555555";
    assert_eq!(check_target(v.clone(), &marked, failing, &moved(good)), v);
    // Other verdicts pass through.
    assert_eq!(check_target(Verdict::Healthy, svc, failing, &TargetFacts::Gone), Verdict::Healthy);
}

#[test]
fn a_finished_rollback_to_a_copy_follows_the_live_copy() {
    // The earlier run copied the deregistered last known good (revision 2) to revision 9,
    // deployed it and died before its ledger writes: the ledger follows revision 9.
    let mut w = World::new().state("verifying");
    w.service.task_definition = Some(rev(9));
    w.service.tags.insert(format!("{}{D3}", keys::FAILED_PREFIX), T0.into());
    let v = w.verdict();
    assert_eq!(
        v,
        Verdict::Failed {
            reason: "the failure was recorded on the service; completing the ledger".into(),
            resolution: Resolution::Finished { to: Some(rev(2)) },
        }
    );
    let copy = TaskDefSummary {
        arn: rev(9),
        containers: vec![],
        tags: tags(&[(keys::COPY_OF, rev(2).as_str()), (keys::SERVICE, SERVICE)]),
        platform: None,
        fargate_platform: None,
    };
    let followed = finished_via_copy(v.clone(), &copy);
    assert_eq!(
        followed,
        Verdict::Failed {
            reason: "the failure was recorded on the service; completing the ledger".into(),
            resolution: Resolution::Finished { to: Some(rev(9)) },
        }
    );
    let p = plan(&w.facts(), &followed);
    assert!(p.tag_revision.contains(&(keys::ROLLBACK_TO.into(), rev(9).to_string())), "{p:?}");
    assert!(p.tag_service.set.contains(&(keys::ROLLBACK.into(), rev(3).to_string())));
    // A live revision that is not a copy of the target (a newer rollout) changes nothing.
    let mut other = copy.clone();
    other.tags.remove(keys::COPY_OF);
    assert_eq!(finished_via_copy(v.clone(), &other), v);
}

#[test]
fn a_copy_of_the_last_known_good_becomes_it_once_live() {
    let mut w = World::new();
    w.revision.arn = rev(9);
    w.revision.tags = tags(&[(keys::COPY_OF, rev(2).as_str()), (keys::SERVICE, SERVICE)]);
    w.service.task_definition = Some(rev(9));
    let (why, tag) = adopt_known_good(&w.service, &w.revision).unwrap();
    assert_eq!(why, Adoption::Copy);
    assert_eq!(tag, (keys::LAST_GOOD.into(), rev(9).to_string()));
    // A copy of another revision is not adopted.
    w.revision.tags.insert(keys::COPY_OF.into(), rev(1).to_string());
    assert!(adopt_known_good(&w.service, &w.revision).is_none());
}

#[test]
fn a_superseded_revision_that_ecs_runs_again_is_judged_like_any_rollout() {
    // The fourth instance: revision 3 was baking when 4 replaced it (superseded); 4 failed and
    // ECS's circuit breaker went back to the last deployment that completed: 3.
    let w = World::new().state("superseded").rollout("COMPLETED", 2).at(30);
    match w.verdict() {
        Verdict::Advance { state: RolloutState::Baking, .. } => {}
        other => panic!("re-baked from now: {other:?}"),
    }
    // It fails like any rollout when a signal says so.
    let mut w = World::new().state("superseded").rollout("COMPLETED", 2).at(30);
    w.alarms = vec!["p99".into()];
    w.settings.alarms = vec!["p99".into()];
    assert_eq!(rolled_back_to(&w.verdict()), Some(rev(2)));
    // Its abnormal stops count from the moment ECS runs it again, before its state moves on.
    let w = World::new().state("superseded").rollout("IN_PROGRESS", 1);
    assert!(RolloutState::counts_stops(&w.service, &w.revision));
    // Not live: stays superseded, and its stops do not count.
    let mut w = World::new().state("superseded");
    w.service.task_definition = Some(rev(4));
    assert!(matches!(w.verdict(), Verdict::Ignore(_)));
    assert!(!RolloutState::counts_stops(&w.service, &w.revision));
    // A healthy revision whose digest failed since (a person rolled it back) is no standing
    // verdict: live again, it goes back to the last known good.
    let mut w = World::new().state("healthy").rollout("COMPLETED", 2);
    w.service.tags.insert(format!("{}{D3}", keys::FAILED_PREFIX), T0.into());
    assert!(RolloutState::worth_evaluating(&w.service, &w.revision));
    assert_eq!(rolled_back_to(&w.verdict()), Some(rev(2)));
}

#[test]
fn counts_are_evidence_over_time_not_a_verdict_at_one_instant() {
    // Case 3 of #15: COMPLETED at 2/2, baked; autoscaling raised the desired count to 4.
    let bake_done = |running: i32, desired: i32, minutes: i64| {
        let mut w = World::new()
            .state("baking")
            .tag(keys::COMPLETED_AT, "2026-11-28T10:05:00Z")
            .rollout("COMPLETED", running)
            .at(minutes);
        w.service.deployments[0].desired_count = desired;
        w
    };
    // First sight of the shortfall: not yet healthy, not failed; when is recorded.
    let first = bake_done(2, 4, 11);
    let v = first.verdict();
    assert!(matches!(v, Verdict::Short { desired: 4, .. }), "{v:?}");
    let p = plan(&first.facts(), &v);
    assert_eq!(p.tag_revision, [(keys::SHORT_SINCE.to_owned(), "4@2026-11-28T10:11:00Z".to_owned())]);
    assert!(p.notification.is_none() && p.tag_service.is_empty());
    assert_eq!(bake_done(4, 4, 12).verdict(), Verdict::Healthy);
    // Scaled to zero: nothing to judge, whatever the time.
    assert!(matches!(bake_done(0, 0, 11).verdict(), Verdict::Wait(_)));
    assert!(matches!(bake_done(0, 0, 600).verdict(), Verdict::Wait(_)));
    // Still short the whole deadline after it was first seen short: a timeout is the signal,
    // with the counts named.
    let seen = |w: World, at: &str| w.tag(keys::SHORT_SINCE, at);
    assert!(matches!(seen(bake_done(2, 4, 11 + 15), "4@2026-11-28T10:11:00Z").verdict(), Verdict::Wait(_)));
    let v = seen(bake_done(2, 4, 11 + 15 + 1), "4@2026-11-28T10:11:00Z").verdict();
    let Verdict::Failed { reason, .. } = &v else { panic!("{v:?}") };
    assert!(reason.contains("2/4"), "{reason}");
    // Scaled up from zero hours after the bake (a nightly scale-to-zero): the first look at
    // 0/2 is a new shortfall, never a failure; a record of the night at zero, a record of a
    // lower count (or an unreadable one) starts the grace again.
    for stale in [None, Some("0@2026-11-28T12:00:00Z"), Some("1@2026-11-28T10:11:00Z"), Some("x@y")] {
        let mut w = bake_done(0, 2, 600);
        if let Some(s) = stale {
            w = w.tag(keys::SHORT_SINCE, s);
        }
        assert!(matches!(w.verdict(), Verdict::Short { desired: 2, .. }), "{stale:?}");
    }
    // Autoscaling flapping between two counts (3 -> 4 -> 3 -> 4), one task always short: only
    // a count above the highest recorded starts the grace again, so flapping cannot wait
    // forever.
    let mut w = seen(bake_done(3, 4, 11 + 10), "4@2026-11-28T10:11:00Z");
    w.service.deployments[0].desired_count = 3;
    w.service.deployments[0].running_count = 2;
    assert!(matches!(w.verdict(), Verdict::Wait(_)), "a scale-in keeps the record");
    let flapped = |minutes: i64, desired: i32| {
        let mut w = seen(bake_done(desired - 1, desired, minutes), "4@2026-11-28T10:11:00Z");
        w.service.deployments[0].updated_at = Some(w.now);
        w.verdict()
    };
    assert!(matches!(flapped(11 + 15, 3), Verdict::Wait(_)));
    assert!(matches!(flapped(11 + 16, 3), Verdict::Failed { .. }), "ECS's updatedAt moving does not extend it");
    assert!(matches!(flapped(11 + 16, 4), Verdict::Failed { .. }));
    assert!(matches!(flapped(11 + 16, 5), Verdict::Short { desired: 5, .. }), "a scale-out beyond it starts again");
    // Scaled to zero after a shortfall: the record says so (0@now), and the scale-up hours
    // later to the same count gets a grace of its own.
    let zero = seen(bake_done(0, 0, 30), "3@2026-11-28T10:11:00Z");
    let v = zero.verdict();
    assert!(matches!(v, Verdict::Short { desired: 0, .. }), "{v:?}");
    assert_eq!(
        plan(&zero.facts(), &v).tag_revision,
        [(keys::SHORT_SINCE.to_owned(), "0@2026-11-28T10:30:00Z".to_owned())]
    );
    assert!(matches!(seen(bake_done(0, 0, 31), "0@2026-11-28T10:30:00Z").verdict(), Verdict::Wait(_)), "recorded once");
    assert!(matches!(
        seen(bake_done(0, 3, 600), "0@2026-11-28T10:30:00Z").verdict(),
        Verdict::Short { desired: 3, .. }
    ));
    // A record from before this bake began (a configuration change's base, an earlier life of
    // a revision ECS put back) is another rollout's: the first look here starts a grace.
    let v = seen(bake_done(2, 4, 10 + 25), "4@2026-11-28T09:00:00Z").verdict();
    assert!(matches!(v, Verdict::Short { desired: 4, .. }), "{v:?}");
    // With no bake, ECS's `updatedAt` moving on every desired-count change does not move the
    // grace: flapping 4 <-> 3 from a record at 10:11 fails once the grace is over.
    for (minutes, desired) in [(11 + 16, 4), (11 + 30, 3), (11 + 600, 4)] {
        let mut w = World::new().state("verifying").rollout("COMPLETED", desired - 1).at(minutes);
        w.settings.bake = Seconds(0);
        w = w.tag(keys::SHORT_SINCE, "4@2026-11-28T10:11:00Z");
        w.service.deployments[0].desired_count = desired;
        w.service.deployments[0].updated_at = Some(w.now - Duration::minutes(2));
        let v = w.verdict();
        assert!(matches!(v, Verdict::Failed { .. }), "{minutes}: {v:?}");
    }
    // The record keeps room for the verdict that follows it: a revision one tag short of 50
    // (a person added tags) does not take it, and counts from the bake's end instead.
    let mut w = bake_done(2, 4, 11);
    for i in 0..rollgate_core::tags::MAX_TAGS - 4 - w.revision.tags.len() {
        w = w.tag(&format!("team:{i}"), "ml");
    }
    assert!(matches!(w.verdict(), Verdict::Short { .. }), "room for it and a verdict's three keys");
    let w = w.tag("team:last", "ml");
    assert!(matches!(w.verdict(), Verdict::Wait(_)), "no room: no record");
    // A revision a person filled to 50 still takes a verdict: only what overwrites lands.
    let mut full = bake_done(4, 4, 11);
    for i in 0..rollgate_core::tags::MAX_TAGS - full.revision.tags.len() {
        full = full.tag(&format!("team:{i}"), "ml");
    }
    let p = plan(&full.facts(), &full.verdict());
    assert_eq!(p.tag_revision, [(keys::STATE.to_owned(), "healthy".to_owned())]);
    // A revision already at ECS's 50 tags (an older rollgate kept less room) cannot take the
    // record: the grace runs from the bake's end instead of the shortfall waiting forever.
    let full = |minutes: i64| {
        let mut w = bake_done(2, 4, minutes);
        for i in 0..rollgate_core::tags::MAX_TAGS - w.revision.tags.len() {
            w = w.tag(&format!("team:{i}"), "ml");
        }
        assert_eq!(w.revision.tags.len(), rollgate_core::tags::MAX_TAGS);
        w
    };
    assert!(matches!(full(10 + 15).verdict(), Verdict::Wait(_)));
    assert!(matches!(full(10 + 15 + 1).verdict(), Verdict::Failed { .. }));
}

#[test]
fn a_rollback_aws_refuses_for_good_is_said_once_instead_of_retried() {
    // The target was deregistered after the gate checked it (ECS: "TaskDefinition is
    // inactive"), or access was denied: the refused call is not repeated on every run.
    let w = World::new().state("verifying").rollout("FAILED", 0);
    let refused = rollback_refused(w.verdict(), "UpdateService failed: ClientException: TaskDefinition is inactive");
    let Verdict::Failed { resolution: Resolution::Impossible { target, why }, .. } = &refused else {
        panic!("{refused:?}")
    };
    assert_eq!(target, &rev(2));
    assert!(why.contains("AWS refused the rollback") && why.contains("inactive"), "{why}");
    let p = plan(&w.facts(), &refused);
    assert!(p.roll_back_to.is_none() && p.copy.is_none(), "nothing more to refuse");
    assert!(p.tag_revision.contains(&(keys::STATE.into(), "rollback-failed".into())));
    assert_eq!(p.notification.map(|n| n.kind), Some(NotificationKind::RollbackFailed));
    // Verdicts without a rollback pass through.
    assert_eq!(rollback_refused(Verdict::Healthy, "x"), Verdict::Healthy);
}

#[test]
fn a_revision_registered_with_less_room_still_takes_the_gates_writes() {
    // An older rollgate kept 5 tags free on a revision; the gate now writes up to 8, and ECS
    // refuses a TagResource past 50 tags.
    let mut w = World::new().state("verifying").rollout("FAILED", 0);
    for i in 0..(50 - 5 - w.revision.tags.len()) {
        w.revision.tags.insert(format!("team:{i}"), "x".into());
    }
    assert_eq!(w.revision.tags.len(), 45);
    let fits = |existing: &Tags, p: &GatePlan| {
        let new =
            p.tag_revision.iter().filter(|(k, _)| !existing.contains_key(k)).count() + usize::from(p.copy.is_some());
        existing.len() + new <= 50
    };
    let v = w.verdict();
    let p = plan(&w.facts(), &v);
    assert!(fits(&w.revision.tags, &p), "{:?}", p.tag_revision);
    for key in [keys::STATE, keys::ROLLBACK_TO, keys::DECIDED_AT, keys::ROLLED_BACK_BY] {
        assert!(p.tag_revision.iter().any(|(k, _)| k == key), "{key} is kept: following the rollback needs it");
    }
    assert!(p.notification.as_ref().is_some_and(|n| n.reason.is_some()), "the reason still goes out");
    // The same with a copy, whose rollgate:rollback-to is added once it is registered.
    let target = TaskDefSummary {
        arn: rev(2),
        containers: vec![],
        tags: tags(&[(keys::STATE, "healthy")]),
        platform: None,
        fargate_platform: None,
    };
    let copy = check_target(
        v.clone(),
        &w.service,
        &w.revision,
        &TargetFacts::Described { revision: &target, active: false, images_gone: vec![], tags_now: vec![] },
    );
    assert!(fits(&w.revision.tags, &plan(&w.facts(), &copy)));
    // A revision with room keeps every tag (the reason too).
    let roomy = World::new().state("verifying").rollout("FAILED", 0);
    let p = plan(&roomy.facts(), &roomy.verdict());
    assert!(p.tag_revision.iter().any(|(k, _)| k == keys::REASON));
    // Abnormal stops: recorded while there is room for them and the rollback's keys, else
    // counted in the verdict only.
    let oom = StopCause::OutOfMemory { container: "model".into(), memory_mib: Some(512) };
    assert!(matches!(record_stop(&roomy.revision.tags, "t1", &oom, 3), StopRecord::Write(_)));
    assert!(matches!(record_stop(&w.revision.tags, "t1", &oom, 3), StopRecord::Write(_)));
    let mut full = w.revision.tags.clone();
    full.insert("team:x".into(), "x".into());
    full.insert("team:y".into(), "x".into());
    assert!(matches!(record_stop(&full, "t1", &oom, 3), StopRecord::NoRoom(_)));
    full.insert(format!("{}t1", keys::BAD_TASK_PREFIX), "oom".into());
    assert_eq!(record_stop(&full, "t1", &oom, 3), StopRecord::Known);
}
