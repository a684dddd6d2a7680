//! The gate's triggers as ECS and EventBridge send them (fixtures in events/): which parse,
//! which are failing signals, which are refused.

#[path = "gate/common.rs"]
mod common;

use common::*;

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
