//! Table tests of the health gate's decisions, driven by the fixtures in events/.

use chrono::{DateTime, Duration, Utc};
use rollgate_core::duration::Seconds;
use rollgate_core::ecs_event::{DeploymentEvent, GateTrigger, parse_gate_event};
use rollgate_core::gate::{
    Adoption, AlarmEntry, GatePlan, GateSettings, NotificationKind, Resolution, RollbackVerdict, RolledBackBy,
    RolloutFacts, RolloutState, ServiceTagsAt, SmokeOutcome, SmokeTest, StopCause, StopRecord, TargetFacts, Verdict,
    adopt_known_good, check_target, describe_bad_tasks, evaluate, finished_via_copy, judge_rollback, plan,
    plan_rollback, record_stop, rollback_refused,
};
use rollgate_core::ledger::keys;
use rollgate_core::service::{DeploymentView, EcsRolloutState, ServiceView, Tags, TaskDefSummary};
use rollgate_core::{Digest, ServiceArn, TaskDefArn};

const SERVICE: &str = "arn:aws:ecs:us-east-1:123456789012:service/rollgate-demo/sentiment-api";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn rev(n: u32) -> TaskDefArn {
    TaskDefArn::parse(&format!("arn:aws:ecs:us-east-1:123456789012:task-definition/rollgate-demo:{n}")).unwrap()
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

const T0: &str = "2026-11-28T10:00:00Z";

#[test]
fn trigger_fixtures_parse() {
    match parse_gate_event(&fixture("ecs-deployment-failed.json")).unwrap() {
        GateTrigger::Deployment { service, event, reason, .. } => {
            assert_eq!(service.as_str(), SERVICE);
            assert_eq!(event, DeploymentEvent::Failed);
            assert!(reason.unwrap().contains("circuit breaker"));
        }
        other => panic!("{other:?}"),
    }
    for (name, want) in [
        ("ecs-deployment-in-progress.json", DeploymentEvent::InProgress),
        ("ecs-deployment-completed.json", DeploymentEvent::Completed),
    ] {
        assert!(
            matches!(parse_gate_event(&fixture(name)).unwrap(), GateTrigger::Deployment { event, .. } if event == want)
        );
    }
    match parse_gate_event(&fixture("ecs-task-stopped-oom.json")).unwrap() {
        GateTrigger::TaskStopped { service, task_id, task_definition, cause, .. } => {
            assert_eq!(service.as_str(), SERVICE);
            assert_eq!(task_id, "c13b4cb40f1f4fe4a2971f76ae5a47ad");
            assert_eq!(task_definition, rev(2));
            assert_eq!(cause, Some(StopCause::OutOfMemory { container: "model".into(), memory_mib: Some(512) }));
        }
        other => panic!("{other:?}"),
    }
    let cause = |name: &str| match parse_gate_event(&fixture(name)).unwrap() {
        GateTrigger::TaskStopped { cause, .. } => cause,
        other => panic!("{other:?}"),
    };
    assert_eq!(cause("ecs-task-stopped-scale-in.json"), None, "a scale-in is a normal stop");
    assert_eq!(cause("ecs-task-stopped-pull-error.json"), Some(StopCause::ImagePull));
    assert!(matches!(parse_gate_event(&fixture("scheduled-tick.json")).unwrap(), GateTrigger::Tick { .. }));
}

/// Stopped tasks as ECS reports them (stop codes from the Task API reference, messages from
/// "Amazon ECS stopped task error messages"), each derived from the OOM fixture: which are a
/// failing signal and which are stops the model did not cause.
#[test]
fn real_stop_shapes_are_classified_by_stop_code_first() {
    let good: serde_json::Value = serde_json::from_str(&fixture("ecs-task-stopped-oom.json")).unwrap();
    let shape = |stop_code: &str, reason: &str, container_reason: Option<&str>, exit: Option<i64>| {
        let mut e = good.clone();
        e["detail"]["stopCode"] = stop_code.into();
        e["detail"]["stoppedReason"] = reason.into();
        let c = &mut e["detail"]["containers"][0];
        c["reason"] = container_reason.map_or(serde_json::Value::Null, Into::into);
        c["exitCode"] = exit.map_or(serde_json::Value::Null, Into::into);
        match parse_gate_event(&e.to_string()).unwrap() {
            GateTrigger::TaskStopped { cause, .. } => cause,
            other => panic!("{other:?}"),
        }
    };
    let exit = |code| Some(StopCause::NonZeroExit { container: "model".into(), code });
    let cases: Vec<(&str, Option<StopCause>)> = vec![
        ("EssentialContainerExited|Essential container in task exited|-|1", exit(1)),
        ("EssentialContainerExited|Essential container in task exited|-|0", None),
        (
            "EssentialContainerExited|Essential container in task exited|CannotStartContainerError: Error response from daemon: failed to create shim task|-",
            Some(StopCause::FailedToStart),
        ),
        (
            "EssentialContainerExited|Essential container in task exited|CannotCreateContainerError: Error response from daemon: devmapper|-",
            Some(StopCause::FailedToStart),
        ),
        (
            "TaskFailedToStart|ResourceInitializationError: unable to pull secrets or registry auth|-|-",
            Some(StopCause::FailedToStart),
        ),
        (
            "TaskFailedToStart|CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref|-|-",
            Some(StopCause::ImagePull),
        ),
        (
            "ServiceSchedulerInitiated|Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/0123456789abcdef)|-|137",
            Some(StopCause::HealthCheck),
        ),
        ("ServiceSchedulerInitiated|Task failed container health checks|-|137", Some(StopCause::HealthCheck)),
        (
            "ServiceSchedulerInitiated|Scaling activity initiated by (deployment ecs-svc/1234567890123456789)|-|143",
            None,
        ),
        ("ServiceSchedulerInitiated|Service is being scaled in|-|143", None),
        ("SpotInterruption|Your Spot Task was interrupted.|-|143", None),
        ("TerminationNotice|Task stopped because the underlying host is being terminated|-|143", None),
        ("UserInitiated|Task stopped by user|-|143", None),
        // A person's free text names a health check: still a person's stop.
        ("UserInitiated|restarting by hand after a failed health check on the ALB|-|143", None),
        (
            "EssentialContainerExited|Essential container in task exited|OutOfMemoryError: Container killed due to memory usage|137",
            Some(StopCause::OutOfMemory { container: "model".into(), memory_mib: Some(512) }),
        ),
    ];
    for (case, want) in cases {
        let parts: Vec<&str> = case.split('|').collect();
        let opt = |s: &str| (s != "-").then(|| s.to_owned());
        let got = shape(parts[0], parts[1], opt(parts[2]).as_deref(), opt(parts[3]).map(|c| c.parse().unwrap()));
        assert_eq!(got, want, "{case}");
    }
}

/// A pre-2021 service's deployment event carries its short ARN: the gate ignores it (such a
/// service cannot be tagged, so it is never tracked) instead of failing on it.
#[test]
fn a_short_arn_services_deployment_event_is_ignored() {
    let mut event: serde_json::Value = serde_json::from_str(&fixture("ecs-deployment-completed.json")).unwrap();
    event["resources"][0] = "arn:aws:ecs:us-east-1:123456789012:service/sentiment-api".into();
    match parse_gate_event(&event.to_string()).unwrap() {
        GateTrigger::Ignored { reason, .. } => assert!(reason.contains("cannot tag"), "{reason}"),
        other => panic!("{other:?}"),
    }
    event["resources"][0] = "arn:aws:ecs:us-east-1:123456789012:service/".into();
    assert!(parse_gate_event(&event.to_string()).is_err());
}

#[test]
fn malformed_or_foreign_trigger_events_are_errors() {
    let good: serde_json::Value = serde_json::from_str(&fixture("ecs-task-stopped-oom.json")).unwrap();
    let cases: &[(&str, serde_json::Value)] = &[
        ("/source", "aws.s3".into()),
        ("/detail/taskDefinitionArn", "rollgate-demo:2".into()),
        ("/detail/clusterArn", "not-an-arn".into()),
        ("/detail/taskArn", "".into()),
        ("/detail/lastStatus", serde_json::Value::Null),
        ("/time", "soon".into()),
    ];
    for (pointer, value) in cases {
        let mut e = good.clone();
        *e.pointer_mut(pointer).unwrap() = value.clone();
        assert!(parse_gate_event(&e.to_string()).is_err(), "{pointer}={value}");
    }
    let mut dep: serde_json::Value = serde_json::from_str(&fixture("ecs-deployment-failed.json")).unwrap();
    dep["resources"] = serde_json::json!([]);
    assert!(parse_gate_event(&dep.to_string()).is_err());
    assert!(parse_gate_event(&fixture("ecr-push.json")).is_err(), "a push is not a gate event");
    for raw in ["", "{}", "[]", "null"] {
        assert!(parse_gate_event(raw).is_err(), "{raw:?}");
    }
    // Well-formed events the gate does not act on are ignored, not errors.
    let mut running = good.clone();
    running["detail"]["lastStatus"] = "RUNNING".into();
    assert!(matches!(parse_gate_event(&running.to_string()).unwrap(), GateTrigger::Ignored { .. }));
    let mut standalone = good;
    standalone["detail"]["group"] = "family:batch".into();
    assert!(matches!(parse_gate_event(&standalone.to_string()).unwrap(), GateTrigger::Ignored { .. }));
}

/// A service whose rollout of revision 3 (digest D3) is in flight; revision 1 predates rollgate,
/// revision 2 was verified healthy.
#[derive(Clone)]
struct World {
    service: ServiceView,
    revision: TaskDefSummary,
    settings: GateSettings,
    alarms: Vec<String>,
    entered: Vec<AlarmEntry>,
    smoke: Option<SmokeOutcome>,
    reported_failure: Option<String>,
    now: DateTime<Utc>,
}

const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

impl World {
    fn new() -> Self {
        let service = ServiceView {
            arn: ServiceArn::parse(SERVICE).unwrap(),
            status: rollgate_core::service::ServiceStatus::Active,
            task_definition: Some(rev(3)),
            tags: tags(&[(keys::REPOSITORY, "rollgate-demo"), (keys::LAST_GOOD, rev(2).as_str())]),
            deployments: vec![
                deployment("ecs-svc/3", 3, "PRIMARY", "IN_PROGRESS", 0),
                deployment("ecs-svc/2", 2, "ACTIVE", "COMPLETED", 2),
            ],
            deployment_controller: rollgate_core::service::DeploymentController::Ecs,
            fargate: true,
            current_service_deployment: None,
        };
        let revision = TaskDefSummary {
            platform: None,
            fargate_platform: None,
            arn: rev(3),
            containers: vec![],
            tags: tags(&[
                (keys::DIGEST, D3),
                (keys::IMAGE_TAG, "v3"),
                (keys::PUSHED_AT, T0),
                (keys::PREVIOUS, rev(2).as_str()),
                (keys::KNOWN_GOOD, rev(1).as_str()),
                (keys::EVENT_ID, "e3"),
                (keys::SERVICE, SERVICE),
                (keys::CONTAINER, "model"),
                (keys::STATE, "deploying"),
            ]),
        };
        Self {
            service,
            revision,
            settings: GateSettings::default(),
            alarms: vec![],
            entered: vec![],
            smoke: None,
            reported_failure: None,
            now: t("2026-11-28T10:01:00Z"),
        }
    }

    fn facts(&self) -> RolloutFacts<'_> {
        RolloutFacts {
            now: self.now,
            service: &self.service,
            revision: &self.revision,
            settings: &self.settings,
            alarms_in_alarm: &self.alarms,
            alarms_entered: &self.entered,
            smoke: self.smoke.as_ref(),
            reported_failure: self.reported_failure.as_deref(),
            lineage: None,
            orphaned: None,
        }
    }

    fn verdict(&self) -> Verdict {
        evaluate(&self.facts())
    }

    fn tag(mut self, k: &str, v: &str) -> Self {
        self.revision.tags.insert(k.into(), v.into());
        self
    }

    fn state(self, s: &str) -> Self {
        self.tag(keys::STATE, s)
    }

    fn rollout(mut self, state: &str, running: i32) -> Self {
        let d = &mut self.service.deployments[0];
        d.rollout_state = EcsRolloutState::from_api(state);
        d.running_count = running;
        self
    }

    fn at(mut self, minutes_after_start: i64) -> Self {
        self.now = t(T0) + Duration::minutes(minutes_after_start);
        self
    }
}

fn deployment(id: &str, n: u32, status: &str, state: &str, running: i32) -> DeploymentView {
    DeploymentView {
        id: id.into(),
        status: status.into(),
        task_definition: Some(rev(n)),
        rollout_state: EcsRolloutState::from_api(state),
        rollout_state_reason: None,
        desired_count: 2,
        running_count: running,
        failed_tasks: 0,
        created_at: Some(t(T0)),
        updated_at: Some(t(T0)),
    }
}

fn rolled_back_to(v: &Verdict) -> Option<TaskDefArn> {
    match v {
        Verdict::Failed { resolution: Resolution::RollBack { to }, .. } => Some(to.clone()),
        _ => None,
    }
}

fn reason(v: &Verdict) -> String {
    match v {
        Verdict::Failed { reason, .. } => reason.clone(),
        other => panic!("expected a failure, got {other:?}"),
    }
}

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
    w.service.deployments[0].status = "ACTIVE".into();
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
        (keys::BAKE, "5 minutes"),
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

// ---------------------------------------------------------------------------------------
// What ECS does on its own (#15): a rollback is followed to its outcome, ECS's live state
// outranks the ledger, and a count at one instant is no verdict.
// ---------------------------------------------------------------------------------------

/// Revision 3 failed and the gate sent the service back to revision 2 at `T0 + 5 min`.
fn rolling_back() -> World {
    let mut w = World::new()
        .state("rolling-back")
        .tag(keys::ROLLBACK_TO, rev(2).as_str())
        .tag(keys::ROLLED_BACK_BY, "rollgate")
        .tag(keys::DECIDED_AT, "2026-11-28T10:05:00Z")
        .tag(keys::REASON, "3 tasks OOM-killed at 512 MiB: raise memory");
    w.service.task_definition = Some(rev(2));
    w.service.tags.insert(keys::ROLLBACK.into(), rev(3).to_string());
    let mut rollback = deployment("ecs-svc/2b", 2, "PRIMARY", "IN_PROGRESS", 0);
    rollback.created_at = Some(t("2026-11-28T10:05:00Z"));
    let mut failed = deployment("ecs-svc/3", 3, "ACTIVE", "COMPLETED", 2);
    failed.status = "ACTIVE".into();
    w.service.deployments = vec![rollback, failed];
    w.now = t("2026-11-28T10:06:00Z");
    w
}

fn judge(w: &World) -> RollbackVerdict {
    judge_rollback(w.now, &w.service, &w.revision, &w.settings)
}

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
