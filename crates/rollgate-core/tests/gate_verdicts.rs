//! Table tests of the gate's verdicts on a rollout and the writes they plan.

#[path = "gate/common.rs"]
mod common;

use common::*;

#[test]
fn rollout_lifecycle_table() {
    let cases: Vec<(&str, World, &str)> = vec![
        ("first sight, in progress: announce", World::new().at(1), "advance:verifying"),
        ("seen, in progress, within deadline", World::new().state("verifying").at(14), "wait"),
        ("in progress past the 15m deadline", World::new().state("verifying").at(16), "rollback"),
        ("COMPLETED: bake starts", World::new().state("verifying").rollout("COMPLETED", 2).at(5), "advance:baking"),
        (
            "baking, bake not over",
            World::new().state("baking").tag(keys::COMPLETED_AT, "2026-11-28T10:05:00Z").rollout("COMPLETED", 2).at(9),
            "wait",
        ),
        (
            "baking, bake over",
            World::new().state("baking").tag(keys::COMPLETED_AT, "2026-11-28T10:05:00Z").rollout("COMPLETED", 2).at(10),
            "healthy",
        ),
        // A count at one instant is no verdict: fewer tasks than desired with no failing signal
        // (tasks loading the model, a scale-out near the end of the bake) waits, up to the
        // deadline after the gate first saw the shortfall (never before the bake's end); only
        // then does it fail.
        (
            "bake over, tasks missing, first seen: the grace starts",
            World::new().state("baking").tag(keys::COMPLETED_AT, "2026-11-28T10:05:00Z").rollout("COMPLETED", 1).at(40),
            "wait",
        ),
        (
            "bake over, tasks missing, within the deadline",
            World::new().state("baking").tag(keys::COMPLETED_AT, "2026-11-28T10:05:00Z").rollout("COMPLETED", 1).at(10),
            "wait",
        ),
        (
            "bake over, tasks still missing past the deadline",
            World::new()
                .state("baking")
                .tag(keys::COMPLETED_AT, "2026-11-28T10:05:00Z")
                .tag(keys::SHORT_SINCE, "2@2026-11-28T10:10:00Z")
                .rollout("COMPLETED", 1)
                .at(26),
            "rollback",
        ),
        ("ECS says FAILED while live", World::new().state("verifying").rollout("FAILED", 0), "rollback"),
        ("already healthy", World::new().state("healthy"), "ignore"),
        (
            "already rolled back (and not live)",
            {
                let mut w = World::new().state("rolled-back");
                w.service.task_definition = Some(rev(2));
                w
            },
            "ignore",
        ),
        (
            "no ledger: not rollgate's",
            {
                let mut w = World::new();
                w.revision.tags = tags(&[("team", "ml")]);
                w
            },
            "ignore",
        ),
        (
            "another service's revision",
            World::new().tag(keys::SERVICE, "arn:aws:ecs:us-east-1:123456789012:service/x/y"),
            "ignore",
        ),
        (
            "replaced by a newer rollout",
            {
                let mut w = World::new().state("verifying");
                w.service.task_definition = Some(rev(4));
                w
            },
            "superseded",
        ),
    ];
    for (name, world, want) in cases {
        let v = world.verdict();
        let got = match &v {
            Verdict::Ignore(_) => "ignore".to_owned(),
            Verdict::Wait(_) | Verdict::Short { .. } => "wait".to_owned(),
            Verdict::Advance { state, .. } => format!("advance:{state}"),
            Verdict::Healthy => "healthy".to_owned(),
            Verdict::Superseded => "superseded".to_owned(),
            Verdict::Failed { resolution: Resolution::RollBack { .. }, .. } => "rollback".to_owned(),
            Verdict::Failed { resolution: Resolution::AlreadyRolledBack, .. } => "already".to_owned(),
            Verdict::Failed { resolution: Resolution::Finished { .. }, .. } => "finished".to_owned(),
            Verdict::Failed { resolution: Resolution::NoTarget, .. } => "no-target".to_owned(),
            Verdict::Failed {
                resolution: Resolution::RollBackToCopy { .. } | Resolution::Impossible { .. }, ..
            } => {
                unreachable!("only check_target makes these")
            }
        };
        assert_eq!(got, want, "{name}: {v:?}");
    }
}

#[test]
fn rollback_goes_to_the_last_known_good_not_n_minus_one() {
    let w = World::new().state("verifying").rollout("FAILED", 0);
    // previous is revision 2 too here; make the last good an older one to tell them apart.
    let mut w = w;
    w.service.tags.insert(keys::LAST_GOOD.into(), rev(1).to_string());
    assert_eq!(rolled_back_to(&w.verdict()), Some(rev(1)));
    // Without the service tag, the known-good recorded at deploy time is used.
    w.service.tags.remove(keys::LAST_GOOD);
    w.revision.tags.insert(keys::KNOWN_GOOD.into(), rev(1).to_string());
    assert_eq!(rolled_back_to(&w.verdict()), Some(rev(1)));
    // Never back to itself; with nothing known good, the service is left as it is.
    w.revision.tags.insert(keys::KNOWN_GOOD.into(), rev(3).to_string());
    assert!(matches!(w.verdict(), Verdict::Failed { resolution: Resolution::NoTarget, .. }));
    w.revision.tags.remove(keys::KNOWN_GOOD);
    assert!(matches!(w.verdict(), Verdict::Failed { resolution: Resolution::NoTarget, .. }));
}

#[test]
fn a_circuit_breaker_rollback_is_recorded_not_repeated() {
    let mut w = World::new().state("verifying").rollout("FAILED", 0);
    w.service.task_definition = Some(rev(2)); // ECS already put the service back
    w.service.deployments[0].status = DeploymentStatus::Active;
    w.service.deployments[0].rollout_state_reason =
        Some("ECS deployment circuit breaker: tasks failed to start.".into());
    let v = w.verdict();
    assert!(matches!(v, Verdict::Failed { resolution: Resolution::AlreadyRolledBack, .. }), "{v:?}");
    assert!(reason(&v).contains("circuit breaker"));
    let p = plan(&w.facts(), &v);
    assert_eq!(p.roll_back_to, None, "no second UpdateService");
    let n = p.notification.unwrap();
    assert_eq!(n.kind, NotificationKind::RolledBack);
    assert_eq!(n.rolled_back_by, Some(RolledBackBy::Ecs));
    assert_eq!(n.rolled_back_to.as_deref(), Some(rev(2).as_str()));
    // The failure is still recorded when ECS already removed the failed deployment.
    w.service.deployments.remove(0);
    w.reported_failure = Some("tasks failed to start".into());
    assert!(matches!(w.verdict(), Verdict::Failed { resolution: Resolution::AlreadyRolledBack, .. }));
}

#[test]
fn stopped_tasks_over_the_threshold_fail_with_the_cause() {
    let oom = "oom:model:512";
    let w = World::new().state("verifying").tag("rollgate:bad-task:a", oom).tag("rollgate:bad-task:b", oom);
    assert!(matches!(w.verdict(), Verdict::Wait(_)), "2 is the default threshold, not over it");
    let w = w.tag("rollgate:bad-task:c", oom);
    assert_eq!(reason(&w.verdict()), "3 tasks OOM-killed at 512 MiB: raise memory");
    let mut w = w;
    w.settings.max_bad_tasks = 5;
    assert!(matches!(w.verdict(), Verdict::Wait(_)));
}

#[test]
fn bad_task_reasons_name_what_to_do() {
    let cases: Vec<(Vec<StopCause>, &str)> = vec![
        (vec![StopCause::OutOfMemory { container: "m".into(), memory_mib: None }], "1 task OOM-killed: raise memory"),
        (
            vec![StopCause::NonZeroExit { container: "model".into(), code: 1 }; 3],
            "3 tasks exited with code 1 (container model): check the model's logs",
        ),
        (
            vec![StopCause::HealthCheck; 2],
            "2 tasks failed health checks: fix the health endpoint or raise the health check's startPeriod",
        ),
        (
            vec![StopCause::ImagePull, StopCause::ImagePull, StopCause::FailedToStart],
            "2 tasks could not pull the image: check that it exists and the execution role can pull it (and 1 task stopped for other reasons)",
        ),
    ];
    for (causes, want) in cases {
        assert_eq!(describe_bad_tasks(&causes), want);
        for c in &causes {
            assert_eq!(StopCause::from_tag_value(&c.to_tag_value()).as_ref(), Some(c));
        }
    }
}

#[test]
fn watched_alarms_fail_the_rollout_and_the_bake() {
    let mut w = World::new().state("verifying");
    w.alarms = vec!["other-service-5xx".into()];
    w.settings.alarm_prefix = Some("sentiment-".into());
    assert!(matches!(w.verdict(), Verdict::Wait(_)), "an alarm the service does not watch");
    w.alarms.push("sentiment-p99-latency".into());
    assert_eq!(reason(&w.verdict()), "alarm sentiment-p99-latency is in ALARM during the rollout");
    let mut w = w.state("baking").tag(keys::COMPLETED_AT, "2026-11-28T10:05:00Z").rollout("COMPLETED", 2).at(7);
    w.settings.alarm_prefix = None;
    w.settings.alarms = vec!["sentiment-p99-latency".into()];
    assert_eq!(reason(&w.verdict()), "alarm sentiment-p99-latency is in ALARM during the bake");
}

#[test]
fn an_alarm_that_fired_and_recovered_during_the_rollout_still_fails_it() {
    // The deployment started at T0 (10:00); the alarm is OK again when the gate looks.
    let entry = |alarm: &str, at: &str| AlarmEntry { alarm: alarm.into(), at: t(at) };
    let mut w =
        World::new().state("baking").tag(keys::COMPLETED_AT, "2026-11-28T10:05:00Z").rollout("COMPLETED", 2).at(7);
    w.settings.bake = Seconds(600);
    w.settings.alarms = vec!["sentiment-5xx".into()];
    w.entered = vec![entry("sentiment-5xx", "2026-11-28T09:58:00Z"), entry("other-5xx", "2026-11-28T10:03:00Z")];
    assert!(
        matches!(w.verdict(), Verdict::Wait(_)),
        "fired before the rollout started, or an alarm it does not watch: {:?}",
        w.verdict()
    );
    w.entered.push(entry("sentiment-5xx", "2026-11-28T10:06:30Z"));
    w.entered.push(entry("sentiment-5xx", "2026-11-28T10:04:10Z"));
    assert_eq!(
        reason(&w.verdict()),
        "alarm sentiment-5xx went into ALARM at 2026-11-28T10:04:10Z during the bake; it has recovered since",
        "the first entry since the start is named"
    );
    assert!(rolled_back_to(&w.verdict()).is_some());
    // Still in ALARM: the current state is what is reported.
    w.alarms = vec!["sentiment-5xx".into()];
    assert_eq!(reason(&w.verdict()), "alarm sentiment-5xx is in ALARM during the bake");
}

#[test]
fn alarm_history_is_needed_only_for_an_undecided_live_rollout_that_watches_alarms() {
    use rollgate_core::gate::alarm_window_start;
    let mut w = World::new();
    assert_eq!(alarm_window_start(&w.service), None, "the service watches no alarms");
    w.service.tags.insert(keys::ALARMS.into(), "sentiment-5xx".into());
    assert_eq!(alarm_window_start(&w.service), Some(t(T0)), "from the start of the live revision's deployment");
    w.service.tags.insert(keys::LAST_GOOD.into(), rev(3).to_string());
    assert_eq!(alarm_window_start(&w.service), None, "the live revision is the last known good");
    w.service.tags.insert(keys::LAST_GOOD.into(), rev(2).to_string());
    w.service.tags.insert(keys::DEADLINE.into(), "soon".into());
    assert_eq!(alarm_window_start(&w.service), None, "broken settings: the gate reports them instead");
}

#[test]
fn a_failing_smoke_test_fails_the_rollout() {
    let mut w =
        World::new().state("baking").tag(keys::COMPLETED_AT, "2026-11-28T10:05:00Z").rollout("COMPLETED", 2).at(10);
    w.smoke = Some(SmokeOutcome::Passed);
    assert_eq!(w.verdict(), Verdict::Healthy);
    w.smoke = Some(SmokeOutcome::Failed("smoke test http://x/ answered HTTP 500, expected 200".into()));
    assert!(reason(&w.verdict()).contains("HTTP 500"));
}

#[test]
fn smoke_test_judgement() {
    let s = SmokeTest {
        url: "http://m/predict".into(),
        body: None,
        expect_status: 200,
        expect_body: Some("positive".into()),
    };
    assert_eq!(s.judge(Ok((200, "{\"label\":\"positive\"}".into()))), SmokeOutcome::Passed);
    assert!(matches!(s.judge(Ok((200, "{\"label\":\"negative\"}".into()))), SmokeOutcome::Failed(_)));
    assert!(matches!(s.judge(Ok((503, String::new()))), SmokeOutcome::Failed(m) if m.contains("503")));
    assert!(matches!(s.judge(Err("connection refused".into())), SmokeOutcome::Failed(m) if m.contains("refused")));
}

#[test]
fn plans_write_the_ledger_and_notify() {
    let w = World::new().at(1);
    let p = plan(&w.facts(), &w.verdict());
    assert_eq!(p.tag_revision, vec![(keys::STATE.to_string(), "verifying".to_string())]);
    assert_eq!(p.notification.as_ref().map(|n| n.kind), Some(NotificationKind::Started));

    let w = World::new().state("baking").tag(keys::COMPLETED_AT, "2026-11-28T10:05:00Z").rollout("COMPLETED", 2).at(10);
    let p = plan(&w.facts(), &Verdict::Healthy);
    assert!(p.tag_revision.contains(&(keys::STATE.into(), "healthy".into())));
    assert_eq!(p.tag_service.set, vec![(keys::LAST_GOOD.to_string(), rev(3).to_string())]);
    let n = p.notification.unwrap();
    assert_eq!(
        (n.kind, n.digest.as_deref(), n.image_tag.as_deref()),
        (NotificationKind::Healthy, Some(D3), Some("v3"))
    );

    let w = World::new().state("verifying").rollout("FAILED", 0);
    let v = w.verdict();
    let p = plan(&w.facts(), &v);
    assert_eq!(p.roll_back_to, Some(rev(2)));
    // The rollback is a deployment the gate follows: rolling back, to revision 2, pointed at
    // from the service in the same write as the failure.
    assert!(p.tag_revision.contains(&(keys::STATE.into(), "rolling-back".into())));
    assert!(p.tag_revision.contains(&(keys::ROLLBACK_TO.into(), rev(2).to_string())));
    assert!(p.tag_revision.contains(&(keys::ROLLED_BACK_BY.into(), "rollgate".into())));
    assert!(p.tag_service.set.contains(&(keys::ROLLBACK.into(), rev(3).to_string())));
    assert!(p.tag_service.set.iter().any(|(k, _)| *k == format!("{}{D3}", keys::FAILED_PREFIX)));
    assert!(
        p.tag_service.set.contains(&(keys::HIGH_WATER.to_string(), T0.to_string())),
        "older pushes stay out after the rollback"
    );
    let json = serde_json::to_value(p.notification.unwrap()).unwrap();
    for field in [
        "schema_version",
        "verdict",
        "cluster",
        "service",
        "service_arn",
        "revision",
        "digest",
        "reason",
        "rolled_back_to",
        "rolled_back_by",
        "at",
    ] {
        assert!(json.get(field).is_some(), "notification lacks {field}: {json}");
    }
    assert_eq!(json["verdict"], "rolled-back");

    let mut w = World::new().state("verifying").rollout("FAILED", 0);
    w.service.tags.remove(keys::LAST_GOOD);
    w.revision.tags.remove(keys::KNOWN_GOOD);
    let p = plan(&w.facts(), &w.verdict());
    assert_eq!(p.roll_back_to, None);
    assert!(p.tag_revision.contains(&(keys::STATE.into(), "failed".into())));
    assert_eq!(p.notification.unwrap().kind, NotificationKind::Failed);

    assert!(plan(&w.facts(), &Verdict::Wait("x".into())).is_empty());
}

#[test]
fn settings_from_tags() {
    let s = GateSettings::from_tags(&tags(&[
        (keys::MAX_BAD_TASKS, "4"),
        (keys::DEADLINE, "30m"),
        (keys::BAKE, "0"),
        (keys::ALARMS, "a-5xx b-latency"),
        (keys::SMOKE_URL, "base64:aHR0cDovL20vcHJlZGljdD9tb2RlbD0x"),
        (keys::SMOKE_BODY, "base64:eyJ0ZXh0IjoiZ3JlYXQifQ=="),
        (keys::SMOKE_MATCH, "positive"),
    ]))
    .unwrap();
    assert_eq!((s.max_bad_tasks, s.deadline, s.bake), (4, Seconds(1800), Seconds(0)));
    assert_eq!(s.alarms, ["a-5xx", "b-latency"]);
    let smoke = s.smoke.unwrap();
    assert_eq!(smoke.url, "http://m/predict?model=1");
    assert_eq!(smoke.body.as_deref(), Some("{\"text\":\"great\"}"));
    assert_eq!((smoke.expect_status, smoke.expect_body.as_deref()), (200, Some("positive")));
    assert_eq!(GateSettings::from_tags(&Tags::new()).unwrap(), GateSettings::default());
    for (k, v) in [
        (keys::MAX_BAD_TASKS, "lots"),
        (keys::MAX_BAD_TASKS, "99"),
        (keys::DEADLINE, "soon"),
        (keys::BAKE, "1.5m"),
        (keys::BAKE, "5 fortnights"),
        (keys::SMOKE_URL, "ftp://x"),
        (keys::SMOKE_URL, "base64:!!"),
    ] {
        assert_eq!(GateSettings::from_tags(&tags(&[(k, v)])).unwrap_err().what, k, "{k}={v}");
    }
}

#[test]
fn rollout_states_round_trip() {
    for s in ["deploying", "verifying", "baking", "healthy", "failed", "rolled-back", "superseded"] {
        assert_eq!(RolloutState::parse(s).unwrap().as_str(), s);
    }
    assert_eq!(RolloutState::of(&Tags::new()), None);
    assert_eq!(RolloutState::of(&tags(&[(keys::DIGEST, D3)])), Some(RolloutState::Deploying));
}

#[test]
fn a_steady_pre_rollgate_revision_is_adopted_as_known_good_once() {
    use rollgate_core::gate::{Adoption, adopt_known_good};
    let mut w = World::new();
    w.service.tags.remove(keys::LAST_GOOD);
    w.revision.tags = tags(&[("team", "ml")]); // not a rollgate revision
    assert_eq!(adopt_known_good(&w.service, &w.revision), None, "its deployment is still IN_PROGRESS");
    let w = w.rollout("COMPLETED", 1);
    assert_eq!(adopt_known_good(&w.service, &w.revision), None, "1/2 tasks running is not steady");
    let mut w = w.rollout("COMPLETED", 2);
    assert_eq!(
        adopt_known_good(&w.service, &w.revision),
        Some((Adoption::PreRollgate, (keys::LAST_GOOD.to_owned(), rev(3).to_string())))
    );
    w.service.tags.insert(keys::LAST_GOOD.into(), rev(1).to_string());
    assert_eq!(adopt_known_good(&w.service, &w.revision), None, "a last known good already exists");
    w.service.tags.remove(keys::LAST_GOOD);
    w.revision.tags.insert(keys::DIGEST.into(), D3.into());
    assert_eq!(adopt_known_good(&w.service, &w.revision), None, "rollgate's own revisions earn it through the gate");
}

#[test]
fn a_verified_revision_the_service_does_not_point_at_yet_is_adopted() {
    // The healthy verdict marked revision 3 healthy, then failed to point the service at it.
    use rollgate_core::gate::{Adoption, adopt_known_good};
    let w = World::new().state("healthy");
    assert_ne!(w.service.tags.get(keys::LAST_GOOD), Some(&rev(3).to_string()));
    assert_eq!(
        adopt_known_good(&w.service, &w.revision),
        Some((Adoption::Verified, (keys::LAST_GOOD.to_owned(), rev(3).to_string())))
    );
    let mut pointed = World::new().state("healthy");
    pointed.service.tags.insert(keys::LAST_GOOD.into(), rev(3).to_string());
    assert_eq!(adopt_known_good(&pointed.service, &pointed.revision), None, "already the last known good");
    let mut failed = World::new().state("healthy");
    failed.service.tags.insert(format!("{}{D3}", keys::FAILED_PREFIX), "2026-11-28T10:00:00Z".into());
    assert_eq!(adopt_known_good(&failed.service, &failed.revision), None, "its digest failed on the service");
    for state in ["deploying", "baking", "rolled-back", "failed", "superseded"] {
        let w = World::new().state(state);
        assert_eq!(adopt_known_good(&w.service, &w.revision), None, "{state} is not verified healthy");
    }
}

#[test]
fn a_healthy_verdict_marks_the_revision_before_the_service_points_at_it() {
    use rollgate_core::gate::ServiceTagsAt;
    let w = World::new().state("baking");
    let healthy = plan(&w.facts(), &Verdict::Healthy);
    assert_eq!(healthy.service_tags_at, ServiceTagsAt::AfterRevision);
    assert!(healthy.tag_revision.contains(&(keys::STATE.into(), "healthy".into())));
    let failed =
        plan(&w.facts(), &Verdict::Failed { reason: "x".into(), resolution: Resolution::RollBack { to: rev(1) } });
    assert_eq!(failed.service_tags_at, ServiceTagsAt::BeforeRevision, "the failed mark comes before the state");
}

#[test]
fn a_failed_revision_that_becomes_live_again_is_rolled_back_at_most_once() {
    // ECS's circuit breaker (or a person) put the service back on revision 3, which was rolled
    // back once already: no second rollback, said once, left for a person.
    let w = World::new().state("rolled-back").tag(keys::ROLLBACK_TO, rev(2).as_str()).tag(keys::REASON, "boom");
    match w.verdict() {
        Verdict::Failed { resolution: Resolution::Impossible { target, why }, reason } => {
            assert_eq!(target, rev(2));
            assert_eq!(reason, "boom");
            assert!(why.contains("at most once"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    let p = plan(&w.facts(), &w.verdict());
    assert!(p.roll_back_to.is_none() && p.copy.is_none());
    assert!(p.tag_revision.contains(&(keys::STATE.into(), "rollback-failed".into())));
    assert_eq!(p.notification.unwrap().kind, NotificationKind::RollbackFailed);
    // A rollout that failed with no known good revision had no rollback: once there is one,
    // ECS running it again sends it back.
    let w = World::new().state("failed");
    match w.verdict() {
        Verdict::Failed { resolution: Resolution::RollBack { to }, reason } => {
            assert_eq!(to, rev(2));
            assert!(reason.contains("had failed"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Not live: nothing to do.
    let mut w = World::new().state("rolled-back");
    w.service.task_definition = Some(rev(2));
    assert!(matches!(w.verdict(), Verdict::Ignore(_)));
    // No known good revision: leave it (and never loop).
    let mut w = World::new().state("failed");
    w.service.tags.remove(keys::LAST_GOOD);
    w.revision.tags.remove(keys::KNOWN_GOOD);
    assert!(matches!(w.verdict(), Verdict::Ignore(_)));
}

#[test]
fn a_failure_recorded_on_the_service_but_not_on_the_revision_is_completed() {
    // The rollback and the service's failed-digest tag were written, the revision's state not.
    let mut w = World::new().state("verifying");
    w.service.task_definition = Some(rev(2));
    w.service.tags.insert(format!("{}{D3}", keys::FAILED_PREFIX), "2026-11-28T10:05:00Z".into());
    let v = w.verdict();
    assert!(matches!(v, Verdict::Failed { resolution: Resolution::Finished { .. }, .. }), "{v:?}");
    let p = plan(&w.facts(), &v);
    assert_eq!(p.roll_back_to, None, "no second rollback");
    assert!(p.tag_revision.contains(&(keys::STATE.into(), "rolling-back".into())));
    assert!(p.tag_revision.contains(&(keys::ROLLBACK_TO.into(), rev(2).to_string())), "followed to the live revision");
    let n = p.notification.unwrap();
    assert_eq!(n.rolled_back_by, Some(RolledBackBy::Rollgate), "the recording run rolled back");
    assert_eq!(n.rolled_back_to, Some(rev(2).to_string()));
    // ECS failed the deployment (its circuit breaker rolled back): said so.
    let w = w.rollout("FAILED", 0);
    let v = w.verdict();
    assert!(matches!(v, Verdict::Failed { resolution: Resolution::AlreadyRolledBack, .. }), "{v:?}");
    assert_eq!(plan(&w.facts(), &v).notification.unwrap().rolled_back_by, Some(RolledBackBy::Ecs));
}

#[test]
fn a_failure_recorded_before_its_rollback_landed_is_rolled_back_on_the_next_run() {
    // The failed-digest tag was written, then UpdateService failed: revision 3 is still live.
    let mut w = World::new().state("verifying");
    w.service.tags.insert(format!("{}{D3}", keys::FAILED_PREFIX), "2026-11-28T10:05:00Z".into());
    match w.verdict() {
        Verdict::Failed { resolution: Resolution::RollBack { to }, reason } => {
            assert_eq!(to, rev(2), "to the last known good");
            assert!(reason.contains("recorded as failed; finishing its rollback"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Whatever the signals say now: the verdict was already reached.
    let w = w.rollout("COMPLETED", 2);
    assert!(matches!(w.verdict(), Verdict::Failed { resolution: Resolution::RollBack { .. }, .. }));
}
