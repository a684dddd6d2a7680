//! The health gate against the emulator: every verdict of the health-gate issue, with time
//! taken from the events (no sleeps), checked through boto3.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use health_gate::handler::handle;
use rollgate_aws::cloudwatch::CloudWatch;
use rollgate_aws::codebuild::CodeBuild;
use rollgate_aws::ecs::Ecs;
use rollgate_aws::eventbridge::EventBridge;
use rollgate_aws::probe::HttpProbe;
use rollgate_core::ErrorClass;
use rollgate_core::config::{DeployConfig, GateConfig};
use rollgate_core::duration::Seconds;
use rollgate_core::report::GateReport;
use serde_json::{Value, json};
use support::fixtures::fixture_json;
use support::{Scenario, ServiceSpec};

/// One opted-in service, its pre-rollgate revision, and the clients of both functions.
struct Gated {
    s: Scenario,
    cluster: String,
    repo: String,
    base: String,
    service_arn: String,
    pushes: u32,
    build_project: Option<String>,
}

impl Gated {
    fn new(test: &str, settings: &[(&str, &str)]) -> Self {
        let s = Scenario::new(test);
        let cluster = s.cluster("c");
        let repo = s.repository("model");
        let base = s.model_task_definition("model", &repo);
        let mut tags = vec![("rollgate:repository", repo.clone())];
        tags.extend(settings.iter().map(|(k, v)| (*k, v.to_string())));
        let service_arn = s.service(ServiceSpec { cluster: &cluster, name: "api", task_definition: &base, tags });
        Self { s, cluster, repo, base, service_arn, pushes: 0, build_project: None }
    }

    fn config(&self) -> GateConfig {
        GateConfig {
            clusters: vec![self.cluster.clone()],
            max_in_flight: 4,
            event_bus: "default".into(),
            smoke_timeout: Seconds(2),
            build_project: self.build_project.clone(),
            discovery: Default::default(),
            tick_secs: 60,
            // Every tick sweeps every service, as a full sweep does: these tests are about
            // verdicts; tests/fleet.rs is about which services a tick finds.
            full_sweep_every: Seconds(60),
        }
    }

    /// Pushes an image and runs the real deploy handler; returns (digest, revision, push event).
    async fn deploy(&mut self, tag: &str) -> (String, String, String) {
        self.pushes += 1;
        let digest = self.s.push_image(&self.repo, tag);
        let time = format!("2026-11-28T{:02}:00:00Z", 8 + self.pushes);
        let event = self.s.push_event(&self.repo, &digest, tag, &time);
        let report = self.run_deploy(&event).await;
        let revision = match &report.services[0].outcome {
            rollgate_core::report::Outcome::Deployed { revision, .. } => revision.clone(),
            other => panic!("deploy of {tag}: {other:?}"),
        };
        (digest, revision, event)
    }

    async fn run_deploy(&self, event: &str) -> rollgate_core::report::DeployReport {
        let sdk = self.s.function_options("deploy").load().await;
        let (ecs, ecr) = (Ecs::new(&sdk), rollgate_aws::ecr::Ecr::new(&sdk));
        let config = DeployConfig {
            clusters: vec![self.cluster.clone()],
            max_in_flight: 4,
            trusted_registries: vec![],
            discovery: Default::default(),
            reconcile: Default::default(),
        };
        deploy::handler::handle(&rollgate_aws::Aws::new().with_ecs(ecs).with_ecr(ecr), &config, event).await.unwrap()
    }

    async fn gate(&self, event: &Value) -> GateReport {
        self.try_gate(event).await.unwrap_or_else(|e| panic!("gate failed: {e}"))
    }

    async fn try_gate(&self, event: &Value) -> Result<GateReport, rollgate_lambda::FunctionError> {
        self.try_gate_with(self.s.function_options("health-gate"), event).await
    }

    /// The gate through the fault proxy (its key's faults as `fault` sets them), with the SDK's
    /// standard retries, `attempts` a call.
    async fn gate_through_faults(&self, fault: Value, attempts: u32, event: &Value) -> GateReport {
        support::faults::faults().configure(&self.s.function_key("health-gate"), fault);
        let mut options = self.s.function_options("health-gate");
        options.endpoint_url = Some(support::faults::faults().url.clone());
        options.max_attempts = Some(attempts);
        self.try_gate_with(options, event).await.unwrap_or_else(|e| panic!("gate failed: {e}"))
    }

    async fn try_gate_with(
        &self,
        options: rollgate_aws::AwsOptions,
        event: &Value,
    ) -> Result<GateReport, rollgate_lambda::FunctionError> {
        let sdk = options.load().await;
        let clients = rollgate_aws::Aws {
            ecs: Ecs::new(&sdk),
            cloudwatch: CloudWatch::new(&sdk),
            events: EventBridge::new(&sdk, "default"),
            probe: HttpProbe::new(StdDuration::from_secs(2)).unwrap(),
            builds: CodeBuild::new(&sdk),
            ecr: rollgate_aws::ecr::Ecr::new(&sdk),
        };
        handle(&clients, &self.config(), &event.to_string()).await
    }

    fn service(&self) -> Value {
        self.s.describe_service(&self.cluster, "api")
    }

    /// A CloudWatch metric alarm named `name`, in state OK.
    fn put_alarm(&self, name: &str) {
        self.s.boto(
            "cloudwatch",
            "put_metric_alarm",
            json!({"AlarmName": name, "MetricName": "HTTPCode_Target_5XX_Count", "Namespace": "AWS/ApplicationELB",
                   "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 5.0,
                   "ComparisonOperator": "GreaterThanThreshold"}),
        );
    }

    fn set_alarm(&self, name: &str, state: &str) {
        self.s.boto(
            "cloudwatch",
            "set_alarm_state",
            json!({"AlarmName": name, "StateValue": state, "StateReason": "5xx burst"}),
        );
    }

    fn live(&self) -> String {
        self.service()["taskDefinition"].as_str().unwrap().to_owned()
    }

    fn service_tags(&self) -> serde_json::Map<String, Value> {
        self.s.service_tags(&self.cluster, "api")
    }

    fn state(&self, revision: &str) -> String {
        self.s.revision_state(revision)
    }

    /// A queue that receives every verdict the gate publishes for this cluster.
    fn verdict_queue(&self) -> String {
        self.s.event_queue("verdicts", &json!({"source": ["rollgate"], "detail": {"cluster": [self.cluster]}}))
    }

    /// Pushes `tag`, makes its rollout healthy and lets a scheduled run a minute later see it
    /// (ECS's history record moves onto its deployment); the verdicts so far are drained.
    /// Returns the revision and when it was made healthy.
    async fn healthy_and_seen(&mut self, tag: &str, queue: &str) -> (String, DateTime<Utc>) {
        let (_, revision, _) = self.deploy(tag).await;
        let at = self.make_healthy(&revision).await;
        self.gate(&self.tick(at + Duration::minutes(1))).await;
        self.s.drain_queue(queue);
        (revision, at)
    }

    /// ECS's circuit breaker fails the live rollout (of `tag`) and completes its rollback,
    /// with no gate run in between.
    fn rolled_back_by_ecs_unseen(&self, tag: &str) {
        self.force("FAILED", json!({"rollback": true, "reason": format!("{tag}: tasks failed to start.")}));
        self.force("COMPLETED", json!({}));
    }

    fn deployment(&self, revision: &str) -> Value {
        self.service()["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["taskDefinition"] == json!(revision))
            .cloned()
            .unwrap_or_else(|| panic!("no deployment of {revision}"))
    }

    /// When ECS started the deployment of `revision`.
    fn started(&self, revision: &str) -> DateTime<Utc> {
        let created = self.deployment(revision)["createdAt"].as_str().unwrap().to_owned();
        DateTime::parse_from_rfc3339(&created).unwrap().with_timezone(&Utc)
    }

    fn force(&self, state: &str, extra: Value) {
        let mut body = json!({"cluster": self.cluster, "service": "api", "state": state});
        body.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
        self.s.em.force_rollout(body);
    }

    fn deployment_event(&self, name: &str, revision: &str, at: DateTime<Utc>) -> Value {
        let id = format!("{}-{name}-{}", self.s.name, at.timestamp());
        let deployment = &self.deployment(revision)["id"];
        self.s.deployment_event(&id, name, &self.service_arn, deployment, &rfc3339(at))
    }

    fn task_stopped(&self, fixture: &str, revision: &str, task: u32, at: DateTime<Utc>) -> Value {
        self.s.task_stopped_event(fixture, &self.cluster, "api", revision, task.into(), &rfc3339(at))
    }

    fn tick(&self, at: DateTime<Utc>) -> Value {
        let mut e = fixture_json("scheduled-tick.json");
        e["id"] = json!(format!("{}-tick-{}", self.s.name, at.timestamp()));
        e["time"] = json!(rfc3339(at));
        e
    }

    /// Completes `revision`'s deployment and reports it COMPLETED three minutes after it
    /// started: the gate starts the bake. Returns when the deployment started.
    async fn complete(&self, revision: &str) -> DateTime<Utc> {
        let t0 = self.started(revision);
        self.force("COMPLETED", json!({}));
        let report = self
            .gate(&self.deployment_event("SERVICE_DEPLOYMENT_COMPLETED", revision, t0 + Duration::minutes(3)))
            .await;
        assert_eq!(verdicts(&report), ["baking"], "{report:?}");
        t0
    }

    /// ECS completes the rollback's deployment, and the gate's next sweep (at `at`) settles the
    /// rollback: the failed revision is `rolled-back`.
    async fn settle_rollback(&self, at: DateTime<Utc>) -> GateReport {
        self.force("COMPLETED", json!({}));
        let report = self.gate(&self.tick(at)).await;
        assert!(verdicts(&report).contains(&"rolled-back"), "{report:?}");
        report
    }

    /// Takes `revision` through COMPLETED and the bake; returns when it was declared healthy.
    async fn make_healthy(&self, revision: &str) -> DateTime<Utc> {
        let t0 = self.complete(revision).await;
        let report = self.gate(&self.tick(t0 + Duration::minutes(9))).await;
        assert_eq!(verdicts(&report), ["healthy"], "{report:?}");
        t0 + Duration::minutes(9)
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn verdicts(report: &GateReport) -> Vec<&str> {
    report.rollouts.iter().map(|r| r.verdict.as_str()).collect()
}

#[tokio::test]
async fn a_failed_rollout_goes_back_to_the_last_known_good_revision() {
    let mut g = Gated::new("gate-failed", &[]);
    let (digest, v1, _) = g.deploy("v1").await;
    let t0 = g.started(&v1);
    let report = g.gate(&g.deployment_event("SERVICE_DEPLOYMENT_IN_PROGRESS", &v1, t0)).await;
    assert_eq!(verdicts(&report), ["verifying"], "{report:?}");

    g.force("FAILED", json!({"reason": "tasks failed to start"}));
    let report = g.gate(&g.deployment_event("SERVICE_DEPLOYMENT_FAILED", &v1, t0 + Duration::minutes(2))).await;
    assert_eq!(verdicts(&report), ["rolling-back"], "{report:?}");
    assert_eq!(report.rollouts[0].rolled_back_to.as_deref(), Some(g.base.as_str()));

    // What AWS shows: back on the pre-rollgate revision, the digest marked failed, and the
    // rollback followed until ECS completes it.
    assert_eq!(g.live(), g.base);
    assert_eq!(g.state(&v1), "rolling-back");
    assert_eq!(g.service_tags()["rollgate:rollback"], json!(v1));
    let (_, tags) = g.s.describe_task_definition(&v1);
    assert!(tags["rollgate:reason"].as_str().unwrap().contains("tasks failed to start"), "{tags:?}");
    assert!(g.service_tags().contains_key(&format!("rollgate:failed:{digest}")));

    // A duplicate of the same event makes no second rollback (the rollback is still followed).
    let updates = g.s.count_calls("UpdateService");
    let again = g.gate(&g.deployment_event("SERVICE_DEPLOYMENT_FAILED", &v1, t0 + Duration::minutes(2))).await;
    assert_eq!(verdicts(&again), ["rolling-back"], "{again:?}");
    assert_eq!(g.s.count_calls("UpdateService"), updates);

    // ECS completes the rollback: settled, the pointer gone, nothing more to do.
    g.settle_rollback(t0 + Duration::minutes(4)).await;
    assert_eq!(g.state(&v1), "rolled-back");
    assert!(!g.service_tags().contains_key("rollgate:rollback"));
    let quiet = g.gate(&g.tick(t0 + Duration::minutes(5))).await;
    assert!(quiet.rollouts.is_empty(), "{quiet:?}");
    assert_eq!(g.s.count_calls("UpdateService"), updates);
}

/// The rollback target was deregistered, so the gate registers a copy of it; the copy's
/// RegisterTaskDefinition lands but its answer is lost. The retry finds the copy the lost attempt
/// made (ListTaskDefinitions, under the template's policy) and rolls back to it: one copy, live.
#[tokio::test]
async fn a_rollback_copy_whose_answer_is_lost_is_found_not_registered_twice() {
    let mut g = Gated::new("gate-copy-lost", &[]);
    let (_, v1, _) = g.deploy("v1").await;
    let t0 = g.started(&v1);
    g.gate(&g.deployment_event("SERVICE_DEPLOYMENT_IN_PROGRESS", &v1, t0)).await;
    g.s.boto("ecs", "deregister_task_definition", json!({"taskDefinition": g.base}));
    g.force("FAILED", json!({"reason": "tasks failed to start"}));
    let lost = json!({"seed": 5, "operations": {"RegisterTaskDefinition": {"reset_after": 1.0}}, "max_faults": 1});
    let failed = g.deployment_event("SERVICE_DEPLOYMENT_FAILED", &v1, t0 + Duration::minutes(2));
    let report = g.gate_through_faults(lost, 3, &failed).await;
    assert_eq!(verdicts(&report), ["rolling-back"], "{report:?}");
    let copies: Vec<String> =
        g.s.revisions("model")
            .into_iter()
            .filter(|arn| g.s.describe_task_definition(arn).1.get("rollgate:copy-of") == Some(&json!(g.base)))
            .collect();
    assert_eq!(copies.len(), 1, "one copy of the target: {copies:?}");
    assert_eq!(g.live(), copies[0]);
    let key = g.s.function_key("health-gate");
    let allowed: Vec<String> =
        support::iam::decisions(&g.s.em.url, &key).into_iter().filter(|d| d.2).map(|d| d.0).collect();
    assert!(allowed.iter().any(|a| a == "ecs:ListTaskDefinitions"), "found through the lookup: {allowed:?}");
}

#[tokio::test]
async fn the_healthy_path_sets_the_last_known_good_and_a_later_failure_returns_to_it() {
    let mut g = Gated::new("gate-healthy", &[]);
    let (_, v1, _) = g.deploy("v1").await;
    g.make_healthy(&v1).await;
    assert_eq!(g.state(&v1), "healthy");
    assert_eq!(g.service_tags()["rollgate:last-good"], json!(v1));

    // v2 is deployed but never verified; v3 follows it and fails: back to v1, not to v2 (n-1).
    let (_, v2, _) = g.deploy("v2").await;
    let (_, v3, _) = g.deploy("v3").await;
    assert_eq!(g.s.describe_task_definition(&v3).1["rollgate:previous"], json!(v2));
    g.force("FAILED", json!({}));
    let t0 = g.started(&v3);
    let report = g.gate(&g.deployment_event("SERVICE_DEPLOYMENT_FAILED", &v3, t0 + Duration::minutes(1))).await;
    assert!(verdicts(&report).contains(&"rolling-back"), "{report:?}");
    assert_eq!(g.live(), v1);
    assert_eq!(g.state(&v2), "superseded");
}

#[tokio::test]
async fn a_healthy_verdict_whose_last_write_failed_is_finished_by_the_next_run() {
    let mut g = Gated::new("gate-half-healthy", &[]);
    let (_, v1, _) = g.deploy("v1").await;
    let at = g.make_healthy(&v1).await;
    // As if the verdict's last write (the service's last known good) had failed: the revision
    // is marked healthy, the service still points at the pre-rollgate revision.
    g.s.boto(
        "ecs",
        "tag_resource",
        json!({"resourceArn": g.service_arn, "tags": [{"key": "rollgate:last-good", "value": g.base}]}),
    );
    let (writes, events) = (g.s.writes().len(), g.s.count_calls("PutEvents"));
    g.gate(&g.tick(at + Duration::minutes(1))).await;
    assert_eq!(g.service_tags()["rollgate:last-good"], json!(v1));
    assert_eq!(g.s.writes()[writes..], [("ecs".to_owned(), "TagResource".to_owned())], "one write: the service's tag");
    assert_eq!(g.s.count_calls("PutEvents"), events, "the verdict was already published");
    // Finished: the next run writes only the first record of ECS's history it read (deferred
    // by a run that wrote the service's tags: its view's tag count was stale), then nothing.
    let writes = g.s.writes().len();
    g.gate(&g.tick(at + Duration::minutes(2))).await;
    assert!(g.service_tags().contains_key("rollgate:seen-deployment"));
    assert_eq!(g.s.writes().len(), writes + 1);
    g.gate(&g.tick(at + Duration::minutes(3))).await;
    assert_eq!(g.s.writes().len(), writes + 1);
}

#[tokio::test]
async fn an_alarm_that_fired_and_recovered_between_two_gate_runs_rolls_back() {
    let mut g = Gated::new("gate-flap", &[("rollgate:bake", "10m")]);
    let alarm = format!("{}-5xx", g.s.name);
    g.put_alarm(&alarm);
    g.s.boto(
        "ecs",
        "tag_resource",
        json!({"resourceArn": g.service_arn, "tags": [{"key": "rollgate:alarms", "value": alarm}]}),
    );
    // A burst before the rollout started is not the new image's doing.
    g.set_alarm(&alarm, "ALARM");
    g.set_alarm(&alarm, "OK");
    let (digest, v1, _) = g.deploy("v1").await;
    let t0 = g.complete(&v1).await;

    // During the bake the alarm fires and recovers before the gate's next run.
    g.set_alarm(&alarm, "ALARM");
    g.set_alarm(&alarm, "OK");
    let report = g.gate(&g.tick(t0 + Duration::minutes(5))).await;
    assert_eq!(verdicts(&report), ["rolling-back"], "{report:?}");
    let detail = &report.rollouts[0].detail;
    assert!(detail.contains(&format!("alarm {alarm} went into ALARM at")) && detail.contains("recovered"), "{detail}");
    // What AWS shows.
    assert_eq!(g.live(), g.base);
    assert_eq!(g.state(&v1), "rolling-back");
    assert!(g.service_tags().contains_key(&format!("rollgate:failed:{digest}")));
    assert_eq!(g.s.count_calls("DescribeAlarmHistory"), 2, "one per invocation that judged the rollout");
}

#[tokio::test]
async fn an_alarm_in_alarm_during_the_bake_rolls_back() {
    let mut g = Gated::new("gate-alarm", &[("rollgate:alarm-prefix", "gate-alarm-")]);
    let alarm = format!("gate-alarm-{}-p99", g.s.name);
    g.put_alarm(&alarm);
    let (_, v1, _) = g.deploy("v1").await;
    let t0 = g.complete(&v1).await;

    g.set_alarm(&alarm, "ALARM");
    let report = g.gate(&g.tick(t0 + Duration::minutes(5))).await;
    assert_eq!(verdicts(&report), ["rolling-back"], "{report:?}");
    assert!(report.rollouts[0].detail.contains(&format!("alarm {alarm} is in ALARM during the bake")), "{report:?}");
    assert_eq!(g.live(), g.base);
    assert_eq!(
        g.s.count_calls("DescribeAlarms"),
        2,
        "one DescribeAlarms per invocation: the COMPLETED event, the tick"
    );
}

#[tokio::test]
async fn three_oom_kills_roll_back_with_that_reason() {
    let mut g = Gated::new("gate-oom", &[]);
    let (_, v1, _) = g.deploy("v1").await;
    let t0 = g.started(&v1);
    for task in 1..=2 {
        let report = g.gate(&g.task_stopped("ecs-task-stopped-oom.json", &v1, task, t0 + Duration::minutes(1))).await;
        assert!(!verdicts(&report).contains(&"rolling-back"), "{report:?}");
    }
    // A duplicate delivery of task 2 does not count twice.
    g.gate(&g.task_stopped("ecs-task-stopped-oom.json", &v1, 2, t0 + Duration::minutes(1))).await;
    assert_eq!(g.live(), v1);
    // Normal stops (scale-in) are not counted and write nothing.
    let writes = g.s.writes().len();
    let report = g.gate(&g.task_stopped("ecs-task-stopped-scale-in.json", &v1, 9, t0 + Duration::minutes(1))).await;
    assert!(report.ignored.is_some(), "{report:?}");
    assert_eq!(g.s.writes().len(), writes);

    let report = g.gate(&g.task_stopped("ecs-task-stopped-oom.json", &v1, 3, t0 + Duration::minutes(2))).await;
    assert_eq!(verdicts(&report), ["rolling-back"], "{report:?}");
    assert_eq!(report.rollouts[0].detail, "3 tasks OOM-killed at 512 MiB: raise memory");
    assert_eq!(g.live(), g.base);
    let (_, tags) = g.s.describe_task_definition(&v1);
    assert_eq!(tags["rollgate:reason"], "3 tasks OOM-killed at 512 MiB: raise memory");
}

#[tokio::test]
async fn an_exceeded_deadline_rolls_back() {
    let mut g = Gated::new("gate-deadline", &[("rollgate:deadline", "10m")]);
    let (_, v1, _) = g.deploy("v1").await;
    let t0 = g.started(&v1);
    let report = g.gate(&g.tick(t0 + Duration::minutes(9))).await;
    assert_eq!(verdicts(&report), ["verifying"], "{report:?}");
    let report = g.gate(&g.tick(t0 + Duration::minutes(9) + Duration::seconds(30))).await;
    assert_eq!(verdicts(&report), ["waiting"], "{report:?}");
    assert_eq!(g.live(), v1);
    let report = g.gate(&g.tick(t0 + Duration::minutes(11))).await;
    assert_eq!(verdicts(&report), ["rolling-back"], "{report:?}");
    assert!(report.rollouts[0].detail.contains("not COMPLETED within the 10m deadline"), "{report:?}");
    assert_eq!(g.live(), g.base);
}

#[tokio::test]
async fn after_a_circuit_breaker_rollback_there_is_no_second_update() {
    let mut g = Gated::new("gate-breaker", &[]);
    let (digest, v1, _) = g.deploy("v1").await;
    let t0 = g.started(&v1);
    g.force("FAILED", json!({"rollback": true, "reason": "ECS deployment circuit breaker: tasks failed to start."}));
    assert_eq!(g.live(), g.base, "the emulator's circuit breaker moved the service back");
    let updates = g.s.count_calls("UpdateService");

    let report = g.gate(&g.deployment_event("SERVICE_DEPLOYMENT_FAILED", &v1, t0 + Duration::minutes(4))).await;
    assert_eq!(verdicts(&report), ["rolling-back"], "{report:?}");
    assert!(report.rollouts[0].detail.contains("circuit breaker already rolled back"), "{report:?}");
    assert_eq!(g.s.count_calls("UpdateService"), updates, "no second UpdateService");
    // ECS's own rollback is followed too, to its outcome.
    assert_eq!(g.state(&v1), "rolling-back");
    let report = g.settle_rollback(t0 + Duration::minutes(5)).await;
    assert_eq!(verdicts(&report), ["rolled-back"], "{report:?}");
    assert_eq!(g.state(&v1), "rolled-back");
    assert!(g.service_tags().contains_key(&format!("rollgate:failed:{digest}")));
    // The scheduled sweep afterwards finds nothing in flight.
    let report = g.gate(&g.tick(t0 + Duration::minutes(6))).await;
    assert!(report.rollouts.is_empty(), "{report:?}");
}

#[tokio::test]
async fn redelivering_the_failed_push_deploys_nothing() {
    let mut g = Gated::new("gate-redeliver", &[]);
    let (_, v1, push) = g.deploy("v1").await;
    g.force("FAILED", json!({}));
    g.gate(&g.deployment_event("SERVICE_DEPLOYMENT_FAILED", &v1, g.started(&v1))).await;
    assert_eq!(g.live(), g.base);
    let revisions = g.s.revisions("model");

    let report = g.run_deploy(&push).await;
    match &report.services[0].outcome {
        rollgate_core::report::Outcome::Skipped { reason, .. } => {
            assert!(reason.contains("failed on this service"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(g.s.revisions("model"), revisions);
    assert_eq!(g.live(), g.base);
    // A new digest deploys normally.
    let (_, v2, _) = g.deploy("v2").await;
    assert_eq!(g.live(), v2);
}

#[tokio::test]
async fn events_for_services_that_are_not_rollgates_write_nothing() {
    let s = Scenario::new("gate-foreign");
    let cluster = s.cluster("c");
    let repo = s.repository("model");
    let def = s.model_task_definition("model", &repo);
    let arn = s.service(ServiceSpec { cluster: &cluster, name: "api", task_definition: &def, tags: vec![] });
    let g = Gated {
        s,
        cluster: cluster.clone(),
        repo,
        base: def.clone(),
        service_arn: arn,
        pushes: 0,
        build_project: None,
    };
    g.s.boto(
        "ecs",
        "update_service",
        json!({"cluster": cluster, "service": "api", "taskDefinition": def, "forceNewDeployment": true}),
    );
    g.force("FAILED", json!({}));
    let now = Utc::now();
    let events = [
        g.deployment_event("SERVICE_DEPLOYMENT_FAILED", &def, now),
        g.task_stopped("ecs-task-stopped-oom.json", &def, 1, now),
        g.tick(now + Duration::hours(1)),
    ];
    for event in &events {
        let report = g.gate(event).await;
        assert!(report.rollouts.is_empty(), "{report:?}");
    }
    // A cluster the gate does not watch is not even read.
    let mut elsewhere = g.deployment_event("SERVICE_DEPLOYMENT_FAILED", &def, now);
    elsewhere["resources"] = json!(["arn:aws:ecs:us-east-1:123456789012:service/not-watched/api"]);
    assert!(g.gate(&elsewhere).await.ignored.unwrap().contains("not in ROLLGATE_CLUSTERS"));
    assert_eq!(g.s.writes(), vec![], "nothing written");
    assert_eq!(g.live(), def);
}

#[tokio::test]
async fn malformed_gate_events_are_non_retryable_and_call_nothing() {
    let g = Gated::new("gate-malformed", &[]);
    let mut broken = fixture_json("ecs-task-stopped-oom.json");
    broken["detail"]["taskDefinitionArn"] = json!("not-an-arn");
    for event in [broken, fixture_json("ecr-push.json"), json!({"detail-type": "ECS Task State Change"}), json!([])] {
        let err = g.try_gate(&event).await.unwrap_err();
        assert_eq!(err.class, ErrorClass::NonRetryable, "{event}");
    }
    assert_eq!(g.s.calls(), vec![]);
}

#[tokio::test]
async fn with_no_known_good_revision_the_service_is_left_as_it_is() {
    let s = Scenario::new("gate-no-target");
    let cluster = s.cluster("c");
    let repo = s.repository("model");
    let service_arn = format!("arn:aws:ecs:us-east-1:123456789012:service/{cluster}/api");
    // A revision already carrying a rollgate ledger, with nothing known good behind it.
    let image = format!("{}/{repo}@sha256:{}", s.registry(), "e".repeat(64));
    let lonely = s.register(json!({
        "family": format!("{}-model", s.name),
        "containerDefinitions": [{"name": "model", "image": image, "essential": true}],
        "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256", "memory": "512",
        "tags": [
            {"key": "rollgate:digest", "value": format!("sha256:{}", "e".repeat(64))},
            {"key": "rollgate:pushed-at", "value": "2026-11-28T09:00:00Z"},
            {"key": "rollgate:event-id", "value": "e"},
            {"key": "rollgate:service", "value": service_arn},
            {"key": "rollgate:container", "value": "model"},
            {"key": "rollgate:state", "value": "verifying"}
        ]
    }));
    s.service(ServiceSpec {
        cluster: &cluster,
        name: "api",
        task_definition: &lonely,
        tags: vec![("rollgate:repository", repo.clone())],
    });
    let g = Gated { s, cluster, repo, base: lonely.clone(), service_arn, pushes: 0, build_project: None };
    g.s.boto("ecs", "update_service", json!({"cluster": g.cluster, "service": "api", "forceNewDeployment": true}));
    g.force("FAILED", json!({}));
    let report = g.gate(&g.tick(Utc::now())).await;
    assert_eq!(verdicts(&report), ["failed"], "{report:?}");
    assert!(report.rollouts[0].detail.contains("no known good revision"), "{report:?}");
    assert_eq!(g.live(), lonely);
    assert_eq!(g.s.count_calls("UpdateService"), 0);
    assert_eq!(g.state(&lonely), "failed");
}

/// A one-shot HTTP server on loopback that answers every request with `status` and `body`.
fn model_endpoint(status: u16, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/predict", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let reply =
                format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    url
}

#[tokio::test]
async fn the_smoke_test_gates_the_verdict() {
    for (status, body, want) in [
        (200, "{\"label\": \"positive\"}", "healthy"),
        (500, "boom", "rolling-back"),
        (200, "{\"label\": \"negative\"}", "rolling-back"),
    ] {
        let url = model_endpoint(status, body);
        let mut g = Gated::new(
            "gate-smoke",
            &[
                ("rollgate:smoke-url", &url),
                ("rollgate:smoke-body", "base64:eyJ0ZXh0IjogImdyZWF0In0="),
                ("rollgate:smoke-match", "positive"),
                ("rollgate:bake", "0"),
            ],
        );
        let (_, v1, _) = g.deploy("v1").await;
        g.force("COMPLETED", json!({}));
        let report = g.gate(&g.deployment_event("SERVICE_DEPLOYMENT_COMPLETED", &v1, g.started(&v1))).await;
        assert_eq!(verdicts(&report), [want], "HTTP {status} {body}: {report:?}");
    }
}

#[tokio::test]
async fn every_verdict_is_published_with_the_documented_schema() {
    let mut g = Gated::new("gate-notify", &[]);
    let queue = g.verdict_queue();

    let (digest, v1, _) = g.deploy("v1").await;
    let t0 = g.started(&v1);
    g.gate(&g.deployment_event("SERVICE_DEPLOYMENT_IN_PROGRESS", &v1, t0)).await; // started
    g.make_healthy(&v1).await; // healthy
    let (_, v2, _) = g.deploy("v2").await;
    g.force("FAILED", json!({}));
    g.gate(&g.deployment_event("SERVICE_DEPLOYMENT_FAILED", &v2, g.started(&v2))).await; // rolled back

    let received = g.s.drain_queue(&queue);
    let kinds: Vec<&str> = received.iter().map(|e| e["detail-type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Rollout Started", "Rollout Healthy", "Rollout Rolled Back"], "{received:?}");
    for e in &received {
        assert_eq!(e["source"], "rollgate");
        let d = &e["detail"];
        assert_eq!(d["schema_version"], 1);
        assert_eq!(d["cluster"], json!(g.cluster));
        assert_eq!(d["service"], "api");
        assert_eq!(d["service_arn"], json!(g.service_arn));
        for field in ["verdict", "revision", "digest", "image_tag", "previous", "at"] {
            assert!(d.get(field).is_some(), "{field} missing: {d}");
        }
    }
    assert_eq!(received[0]["detail"]["digest"], json!(digest));
    let rb = &received[2]["detail"];
    assert_eq!(
        (rb["verdict"].as_str(), rb["rolled_back_to"].as_str(), rb["rolled_back_by"].as_str()),
        (Some("rolled-back"), Some(v1.as_str()), Some("rollgate"))
    );
    assert!(rb["reason"].is_string());
}

/// ECS allows 50 tags a service. 60 failed rollouts on a service that carries 40 tags of its
/// owner's: the service never passes 50 tags (checked through boto3 after every verdict), the
/// newest failures stay recorded, a digest moved to `rollgate:failed-digests` is never
/// redeployed, and one forgotten beyond that is kept out by the high-water mark.
#[tokio::test]
async fn sixty_failed_rollouts_stay_within_fifty_tags() {
    let owner_tags: Vec<(String, String)> = (0..40).map(|i| (format!("cost-center-{i}"), format!("cc {i}"))).collect();
    let settings: Vec<(&str, &str)> = owner_tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let g = Gated::new("gate-sixty", &settings);
    let base_time = DateTime::parse_from_rfc3339("2026-11-28T00:00:00Z").unwrap().with_timezone(&Utc);
    let mut failed: Vec<(String, String)> = Vec::new(); // (digest, tag)
    for i in 0..60 {
        let tag = format!("v{i}");
        let digest = g.s.push_image(&g.repo, &tag);
        let at = base_time + Duration::minutes(10 * i);
        // ECR's push time is the event's, as in AWS (moto stamps the wall clock).
        g.s.em.set_pushed_at(&g.repo, &digest, at.timestamp());
        let event = g.s.push_event(&g.repo, &digest, &tag, &rfc3339(at));
        let report = g.run_deploy(&event).await;
        let revision = match &report.services[0].outcome {
            rollgate_core::report::Outcome::Deployed { revision, .. } => revision.clone(),
            other => panic!("push {i}: {other:?}"),
        };
        g.force("FAILED", json!({}));
        let report = g.gate(&g.deployment_event("SERVICE_DEPLOYMENT_FAILED", &revision, g.started(&revision))).await;
        assert_eq!(verdicts(&report).last(), Some(&"rolling-back"), "push {i}: {report:?}");
        let tags = g.service_tags();
        assert!(tags.len() <= 50, "after failure {i}: {} tags", tags.len());
        failed.push((digest, tag));
    }
    let tags = g.service_tags();
    let full: Vec<&String> = tags.keys().filter(|k| k.starts_with("rollgate:failed:")).collect();
    assert!(!full.is_empty() && full.len() <= 10, "{full:?}");
    let listed = tags["rollgate:failed-digests"].as_str().unwrap().split(' ').count();
    assert_eq!(listed, rollgate_core::tags::MAX_FAILED_DIGESTS);
    // Every owner tag is still there.
    assert!(owner_tags.iter().all(|(k, v)| tags.get(k).and_then(Value::as_str) == Some(v)));

    let revisions = g.s.revisions("model");
    let later = base_time + Duration::days(1);
    let retag = |digest: &str, tag: &str| {
        let manifest = g.s.boto(
            "ecr",
            "batch_get_image",
            json!({"repositoryName": g.repo, "imageIds": [{"imageDigest": digest}]}),
        )["images"][0]["imageManifest"]
            .clone();
        g.s.boto("ecr", "put_image", json!({"repositoryName": g.repo, "imageTag": tag, "imageManifest": manifest}));
    };
    // The newest failure pushed again under a new tag, with a later time: still failed.
    let newest = failed.last().unwrap().0.clone();
    retag(&newest, "again-newest");
    let report = g.run_deploy(&g.s.push_event(&g.repo, &newest, "again-newest", &rfc3339(later))).await;
    assert!(format!("{report:?}").contains("failed on this service"), "{report:?}");
    // One that lost its own tag and is only listed: still never redeployed.
    let listed_only = &failed[60 - full.len() - 1].0;
    assert!(!tags.contains_key(&format!("rollgate:failed:{listed_only}")));
    retag(listed_only, "again-listed");
    let report = g.run_deploy(&g.s.push_event(&g.repo, listed_only, "again-listed", &rfc3339(later))).await;
    assert!(
        format!("{report:?}").contains("failed on this service earlier (listed in rollgate:failed-digests"),
        "{report:?}"
    );
    // The oldest, forgotten: its push redelivered is older than the high-water mark, and the
    // reconciler never picks it (it picks the newest image, which failed).
    let (oldest, oldest_tag) = &failed[0];
    let report =
        g.run_deploy(&g.s.push_event(&g.repo, oldest, oldest_tag, &rfc3339(base_time + Duration::minutes(1)))).await;
    assert!(format!("{report:?}").contains("older than the newest rolled-back push"), "{report:?}");
    let mut tick = fixture_json("scheduled-tick.json");
    tick["time"] = json!(rfc3339(later));
    let sdk = g.s.function_options("deploy").load().await;
    let config = DeployConfig {
        clusters: vec![g.cluster.clone()],
        max_in_flight: 4,
        trusted_registries: vec![],
        discovery: Default::default(),
        reconcile: Default::default(),
    };
    let ecr = rollgate_aws::ecr::Ecr::new(&sdk);
    let report = deploy::handler::reconcile(
        &rollgate_aws::Aws::new().with_ecs(Ecs::new(&sdk)).with_ecr(ecr.clone()),
        &config,
        &tick.to_string(),
    )
    .await
    .unwrap();
    assert_eq!(report.deployed().count(), 0, "{report:?}");
    assert_eq!(g.s.revisions("model"), revisions, "no revision registered");
    assert_eq!(g.live(), g.base);
}

/// A late or redelivered `SERVICE_DEPLOYMENT_FAILED` for a deployment ECS no longer lists does
/// not fail a rollout ECS still lists: v2, replaced by v3 while still rolling out, is
/// superseded, and neither its digest nor the live v3 is touched. (Found by a break test: the
/// event's reason was applied to every revision but the live one, so v2 was marked failed and
/// "rolled back by ECS" to the newer v3.)
#[tokio::test]
async fn a_stale_failed_event_fails_no_rollout_that_ecs_still_lists() {
    let mut g = Gated::new("gate-stale-failed", &[]);
    let (_, v1, _) = g.deploy("v1").await;
    let at = g.make_healthy(&v1).await;
    let (d2, v2, _) = g.deploy("v2").await;
    let r = g.gate(&g.deployment_event("SERVICE_DEPLOYMENT_IN_PROGRESS", &v2, at + Duration::minutes(1))).await;
    assert_eq!(verdicts(&r), ["verifying"], "{r:?}");
    let (_, v3, _) = g.deploy("v3").await;
    let listed: Vec<Value> =
        g.service()["deployments"].as_array().unwrap().iter().map(|d| d["taskDefinition"].clone()).collect();
    assert!(listed.contains(&json!(v2)) && listed.contains(&json!(v3)), "{listed:?}");
    let events = g.s.count_calls("PutEvents");
    let stale = g.s.deployment_event(
        "gate-stale",
        "SERVICE_DEPLOYMENT_FAILED",
        &g.service_arn,
        &json!("ecs-svc/1234567890123456789"),
        &rfc3339(at + Duration::minutes(2)),
    );
    let r = g.gate(&stale).await;
    assert!(!verdicts(&r).iter().any(|v| v.contains("roll") || *v == "failed"), "{r:?}");
    assert_eq!(g.state(&v2), "superseded");
    let tags = g.service_tags();
    assert!(!tags.contains_key(&format!("rollgate:failed:{d2}")), "{tags:?}");
    assert!(!tags.contains_key("rollgate:rollback"), "{tags:?}");
    assert_eq!(g.live(), v3);
    assert_eq!(verdicts(&r), ["verifying", "superseded"], "v3 announced (Rollout Started), v2 superseded");
    assert_eq!(g.s.count_calls("PutEvents"), events + 1, "only Rollout Started");
}

/// Issue #15's last instance: ECS's circuit breaker rolls a rollout back, and the rollback
/// completes, while no gate run sees it (they failed, or were late). ECS then neither runs nor
/// lists the failed revision; its service-deployment history still has it.
#[tokio::test]
async fn a_rollout_ecs_rolled_back_while_no_gate_run_saw_it_is_judged_from_ecs_history() {
    let mut g = Gated::new("gate-orphan", &[]);
    let (_, v1, _) = g.deploy("v1").await;
    let at = g.make_healthy(&v1).await;
    let (d2, v2, _) = g.deploy("v2").await;
    g.force("FAILED", json!({"rollback": true, "reason": "ECS deployment circuit breaker: tasks failed to start."}));
    g.force("COMPLETED", json!({}));
    let listed: Vec<Value> =
        g.service()["deployments"].as_array().unwrap().iter().map(|d| d["taskDefinition"].clone()).collect();
    assert_eq!(listed, [json!(v1)], "ECS dropped v2's deployment");
    assert_eq!(g.state(&v2), "deploying", "no gate run saw v2");
    let (events, updates) = (g.s.count_calls("PutEvents"), g.s.count_calls("UpdateService"));

    // Judged, and its rollback (ECS's, complete) followed to its end in the same run: the
    // history, not the service's rollgate:rollback pointer, follows a dropped rollout.
    let r = g.gate(&g.tick(at + Duration::minutes(20))).await;
    assert_eq!(verdicts(&r), ["rolling-back", "rolled-back"], "{r:?}");
    assert!(r.rollouts[0].detail.contains("tasks failed to start"), "ECS's reason: {r:?}");
    assert_eq!(r.rollouts[0].rolled_back_to.as_deref(), Some(v1.as_str()), "where ECS went: {r:?}");
    assert_eq!(g.s.count_calls("UpdateService"), updates, "ECS already rolled back: no second rollback");
    let tags = g.service_tags();
    assert!(tags.contains_key(&format!("rollgate:failed:{d2}")), "the digest is kept out");
    assert!(!tags.contains_key("rollgate:rollback"), "no pointer: {tags:?}");
    assert_eq!(g.state(&v2), "rolled-back");
    assert_eq!(g.s.count_calls("PutEvents"), events + 1, "one Rollout Rolled Back");
    // The first record waits for a run that wrote nothing else to the service's tags.
    let r = g.gate(&g.tick(at + Duration::minutes(21))).await;
    assert!(r.rollouts.is_empty() && r.failures.is_empty(), "{r:?}");

    // Read once: the record names ECS's current service deployment, so later sweeps read no
    // history and publish nothing.
    let seen = g.service_tags()["rollgate:seen-deployment"].as_str().unwrap().to_owned();
    let current = g.service()["currentServiceDeployment"].as_str().unwrap().to_owned();
    assert!(current.ends_with(&format!("/{}", seen.split('@').next().unwrap())), "{seen} names {current}");
    let lists = g.s.count_calls("ListServiceDeployments");
    let r = g.gate(&g.tick(at + Duration::minutes(22))).await;
    assert!(r.rollouts.is_empty() && r.failures.is_empty(), "{r:?}");
    assert_eq!(g.s.count_calls("ListServiceDeployments"), lists, "nothing new in ECS's history: not read");
    assert_eq!(g.s.count_calls("PutEvents"), events + 1);
}

/// The same gap through a rollout the gate last saw live and baking: v2 completed and is
/// baking when `rollgate up` changes the configuration (a copy of v2 with more memory, carrying
/// v2's ledger), and ECS completes that change, dropping v2, before any gate run sees it. The
/// gate's history record must not have moved onto v2's deployment while v2 had no verdict
/// (the storm found this: v2 stayed `baking` forever).
#[tokio::test]
async fn a_rollout_ecs_dropped_after_the_gate_last_saw_it_baking_is_still_judged() {
    let mut g = Gated::new("gate-orphan-baking", &[]);
    let (_, v1, _) = g.deploy("v1").await;
    let at = g.make_healthy(&v1).await;
    let bake = json!({"resourceArn": g.service_arn, "tags": [{"key": "rollgate:bake", "value": "10m"}]});
    g.s.boto("ecs", "tag_resource", bake);
    let (d2, v2, _) = g.deploy("v2").await;
    g.force("COMPLETED", json!({}));
    let r = g.gate(&g.tick(at + Duration::minutes(1))).await;
    assert!(r.failures.is_empty(), "{r:?}");
    assert_eq!(g.state(&v2), "baking", "{r:?}");

    // `rollgate up` moves the service to a configuration copy of v2, and ECS completes it.
    let (def, tags) = g.s.describe_task_definition(&v2);
    let tags: rollgate_core::service::Tags =
        tags.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect();
    let v2_arn = rollgate_core::TaskDefArn::parse(&v2).unwrap();
    let config_tags = rollgate_core::ledger::config_revision_tags(&v2_arn, &tags, Some(v1.as_str()));
    let config = g.s.register(json!({
        "family": def["family"], "containerDefinitions": def["containerDefinitions"],
        "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256", "memory": "1024",
        "tags": config_tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
    }));
    g.s.boto("ecs", "update_service", json!({"cluster": g.cluster, "service": "api", "taskDefinition": config}));
    g.force("COMPLETED", json!({}));
    let listed: Vec<Value> =
        g.service()["deployments"].as_array().unwrap().iter().map(|d| d["taskDefinition"].clone()).collect();
    assert_eq!(listed, [json!(config)], "ECS dropped v2's deployment");

    let r = g.gate(&g.tick(at + Duration::minutes(2))).await;
    assert!(r.failures.is_empty(), "{r:?}");
    assert_eq!(g.state(&v2), "superseded", "v2 has a verdict: {r:?}");
    assert!(!g.service_tags().contains_key(&format!("rollgate:failed:{d2}")));
}

// ---------------------------------------------------------------------------------------------
// ECS's service-deployment history, against what a break-testing round tried (2026-12-02):
// rollouts dropped unseen in a row, next to a newer push, next to a listed failure, on a full
// service, with a lost or edited record. Six of these failed before the fixes.
// ---------------------------------------------------------------------------------------------

/// The detail-types and (verdict, revision, rolled_back_to) of what the gate published.
fn published(received: &[Value]) -> Vec<(String, String, String, String)> {
    received
        .iter()
        .map(|e| {
            let d = &e["detail"];
            (
                e["detail-type"].as_str().unwrap_or("").to_owned(),
                d["verdict"].as_str().unwrap_or("").to_owned(),
                d["revision"].as_str().unwrap_or("").to_owned(),
                d["rolled_back_to"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Two failed rollouts in a row, each rolled back by ECS's circuit breaker while no gate run
/// saw it. Both must end with a final verdict (`rolled-back`), each published once.
#[tokio::test]
async fn two_rollouts_ecs_rolled_back_unseen_in_a_row_both_end_rolled_back() {
    let mut g = Gated::new("probe-two-orphans", &[]);
    let queue = g.verdict_queue();
    let (v1, at) = g.healthy_and_seen("v1", &queue).await; // the record moves onto v1's deployment
    let (d2, v2, _) = g.deploy("v2").await;
    g.rolled_back_by_ecs_unseen("v2");
    let (d3, v3, _) = g.deploy("v3").await;
    g.force("FAILED", json!({"rollback": true, "reason": "v3: tasks failed to start."}));
    g.force("COMPLETED", json!({}));
    assert_eq!(g.live(), v1);
    let updates = g.s.count_calls("UpdateService");

    let mut log = Vec::new();
    for m in 20..25 {
        let r = g.gate(&g.tick(at + Duration::minutes(m))).await;
        log.push(format!(
            "t+{m}: {:?} failures={:?}",
            r.rollouts.iter().map(|o| (&o.revision, &o.verdict)).collect::<Vec<_>>(),
            r.failures
        ));
    }
    let received = published(&g.s.drain_queue(&queue));
    let mut rolled_back: Vec<&str> =
        received.iter().filter(|(k, ..)| k == "Rollout Rolled Back").map(|(_, _, rev, _)| rev.as_str()).collect();
    rolled_back.sort();
    assert_eq!(rolled_back, [v2.as_str(), v3.as_str()], "each said once: {received:#?}");
    let tags = g.service_tags();
    assert_eq!(g.s.count_calls("UpdateService"), updates, "ECS already rolled back both");
    assert!(tags.contains_key(&format!("rollgate:failed:{d2}")), "v2's digest kept out");
    assert!(tags.contains_key(&format!("rollgate:failed:{d3}")), "v3's digest kept out");
    assert!(!tags.contains_key("rollgate:rollback"), "no rollback left to follow: {tags:?}");
    assert_eq!((g.state(&v2), g.state(&v3)), ("rolled-back".to_owned(), "rolled-back".to_owned()), "{log:#?}");
}

/// v2 is rolled back by ECS while no gate run sees it; then v3 is pushed and its deployment is
/// still in progress at the next gate run. v2 went back to v1 (ECS's circuit breaker), so its
/// verdict must say so; and when v3 later fails on its own, v2 must not become
/// `rollback-failed` (its rollback succeeded).
#[tokio::test]
async fn a_rollout_dropped_unseen_records_where_ecs_went_not_the_newer_push_in_progress() {
    let mut g = Gated::new("probe-orphan-then-push", &[]);
    let queue = g.verdict_queue();
    let (v1, _) = g.healthy_and_seen("v1", &queue).await;
    let (_, v2, _) = g.deploy("v2").await;
    g.rolled_back_by_ecs_unseen("v2");
    let (_, v3, _) = g.deploy("v3").await; // in progress
    let s3 = g.started(&v3);
    let r = g.gate(&g.tick(s3 + Duration::minutes(2))).await;
    let v2_outcome = r.rollouts.iter().find(|o| o.revision == v2).cloned();
    // v3 fails too; ECS's circuit breaker rolls it back to v1.
    g.force("FAILED", json!({"rollback": true, "reason": "v3: tasks failed to start."}));
    let r = g.gate(&g.tick(s3 + Duration::minutes(4))).await;
    assert!(r.failures.is_empty(), "{r:?}");
    g.force("COMPLETED", json!({}));
    for m in 5..8 {
        let r = g.gate(&g.tick(s3 + Duration::minutes(m))).await;
        assert!(r.failures.is_empty(), "{r:?}");
    }
    let received = published(&g.s.drain_queue(&queue));
    let (_, v2_tags) = g.s.describe_task_definition(&v2);
    assert_eq!(v2_tags.get("rollgate:rollback-to").and_then(Value::as_str), Some(v1.as_str()), "ECS went back to v1");
    assert_eq!(g.live(), v1);
    assert_eq!(g.state(&v2), "rolled-back", "v2's rollback (ECS's) succeeded");
    assert_eq!(g.state(&v3), "rolled-back");
    assert!(
        !received.iter().any(|(kind, _, rev, _)| kind == "Rollback Failed" && rev == &v2),
        "no Rollback Failed for v2: {received:#?}"
    );
    let v2_outcome = v2_outcome.expect("v2 judged at s3+2");
    assert_eq!(
        v2_outcome.rolled_back_to.as_deref(),
        Some(v1.as_str()),
        "ECS rolled v2 back to v1, not to v3: {v2_outcome:?}"
    );
}

/// The same, but v3 completes (healthy path) before the gate runs at all.
#[tokio::test]
async fn a_rollout_dropped_unseen_records_where_ecs_went_not_the_newer_push_completed() {
    let mut g = Gated::new("probe-orphan-then-done", &[]);
    let queue = g.verdict_queue();
    let (v1, at) = g.healthy_and_seen("v1", &queue).await;
    let (_, v2, _) = g.deploy("v2").await;
    g.rolled_back_by_ecs_unseen("v2");
    let (_, v3, _) = g.deploy("v3").await;
    g.force("COMPLETED", json!({}));
    for m in 20..23 {
        let r = g.gate(&g.tick(at + Duration::minutes(m))).await;
        assert!(r.failures.is_empty(), "{r:?}");
    }
    let received = published(&g.s.drain_queue(&queue));
    let said: Vec<_> = received.iter().filter(|(_, _, rev, _)| *rev == v2).collect();
    assert_eq!(said.len(), 1, "{received:#?}");
    assert_eq!(said[0].3, v1, "the notification names v1: {received:#?}");
    let (_, v2_tags) = g.s.describe_task_definition(&v2);
    assert_eq!(g.state(&v2), "rolled-back");
    assert_eq!(v2_tags.get("rollgate:rollback-to").and_then(Value::as_str), Some(v1.as_str()), "ECS went back to v1");
    let _ = v3;
}

/// A rollout the gate already judged and published (rolled back by ECS, seen by the gate)
/// must not be judged or published again when the history is re-read (the record was
/// removed by a person or an IaC tool that manages the service's tags).
#[tokio::test]
async fn a_judged_rollout_is_not_judged_again_when_the_history_record_is_lost() {
    let mut g = Gated::new("probe-judged-once", &[]);
    let queue = g.verdict_queue();
    let (_, v1, _) = g.deploy("v1").await;
    let at = g.make_healthy(&v1).await;
    let (_, v2, _) = g.deploy("v2").await;
    g.force("FAILED", json!({"rollback": true, "reason": "v2: tasks failed to start."}));
    let r = g.gate(&g.deployment_event("SERVICE_DEPLOYMENT_FAILED", &v2, at + Duration::minutes(2))).await;
    assert_eq!(verdicts(&r), ["rolling-back"], "{r:?}");
    g.settle_rollback(at + Duration::minutes(3)).await;
    g.gate(&g.tick(at + Duration::minutes(4))).await;
    assert_eq!(g.state(&v2), "rolled-back");
    let before = g.s.drain_queue(&queue).len();
    let puts = g.s.count_calls("PutEvents");
    for value in [None, Some("garbage"), Some("nope@2026-01-01T00:00:00Z")] {
        match value {
            None => {
                g.s.boto(
                    "ecs",
                    "untag_resource",
                    json!({"resourceArn": g.service_arn, "tagKeys": ["rollgate:seen-deployment"]}),
                );
            }
            Some(v) => {
                g.s.boto(
                    "ecs",
                    "tag_resource",
                    json!({"resourceArn": g.service_arn, "tags": [{"key": "rollgate:seen-deployment", "value": v}]}),
                );
            }
        }
        let r = g.gate(&g.tick(at + Duration::minutes(5))).await;
        assert!(r.rollouts.is_empty() && r.failures.is_empty(), "{value:?}: {r:?}");
        let seen = g.service_tags().get("rollgate:seen-deployment").cloned();
        assert!(
            seen.as_ref().and_then(Value::as_str).is_some_and(|s| s.contains('@') && !s.starts_with("nope")),
            "{seen:?}"
        );
    }
    assert_eq!(g.s.count_calls("PutEvents"), puts, "nothing published again");
    assert!(g.s.drain_queue(&queue).is_empty(), "{before} before");
    assert_eq!(g.state(&v2), "rolled-back");
}

/// A person edits `rollgate:seen-deployment` to a well-formed value with a time in the future
/// (or copies another service's record). A rollout ECS then drops unseen must still be judged.
#[tokio::test]
async fn a_history_record_dated_in_the_future_hides_no_dropped_rollout() {
    let mut g = Gated::new("probe-future-record", &[]);
    let (_, v1, _) = g.deploy("v1").await;
    let at = g.make_healthy(&v1).await;
    g.gate(&g.tick(at + Duration::minutes(1))).await;
    g.s.boto(
        "ecs",
        "tag_resource",
        json!({"resourceArn": g.service_arn, "tags": [{"key": "rollgate:seen-deployment", "value": "abcdefghijklmnopqrstu@2030-01-01T00:00:00Z"}]}),
    );
    let (_, v2, _) = g.deploy("v2").await;
    g.rolled_back_by_ecs_unseen("v2");
    for m in 20..23 {
        let r = g.gate(&g.tick(at + Duration::minutes(m))).await;
        assert!(r.failures.is_empty(), "{r:?}");
    }
    assert_ne!(g.state(&v2), "deploying", "v2 was never judged");
}

/// A service whose tags leave no room for `rollgate:seen-deployment`: upgraded from the
/// rollgate before this change (its reserve of 6 allowed 44 of the owner's tags), filled to 50
/// by earlier failures (last-good, high-water, failed-digests, 3 failed:<digest>). The gate
/// must not fail, must judge a dropped rollout once and publish once; the cost is re-reading
/// the history on every run.
#[tokio::test]
async fn a_service_at_fifty_tags_still_gets_an_orphan_verdict_once() {
    let owner: Vec<(String, String)> = (0..43).map(|i| (format!("owner-{i}"), format!("o{i}"))).collect();
    let settings: Vec<(&str, &str)> = owner.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut g = Gated::new("probe-full-service", &settings);
    let queue = g.verdict_queue();
    let (_, v1, _) = g.deploy("v1").await;
    let at = g.make_healthy(&v1).await;
    g.gate(&g.tick(at + Duration::minutes(1))).await;
    g.s.boto("ecs", "untag_resource", json!({"resourceArn": g.service_arn, "tagKeys": ["rollgate:seen-deployment"]}));
    let mut fill = vec![
        json!({"key": "rollgate:high-water", "value": "2026-11-28T08:30:00Z"}),
        json!({"key": "rollgate:failed-digests", "value": "aaaaaaaaaaaa"}),
    ];
    for (i, c) in ["b", "c", "d"].iter().enumerate() {
        fill.push(json!({"key": format!("rollgate:failed:sha256:{}", c.repeat(64)), "value": format!("2026-11-28T08:4{i}:00Z")}));
    }
    g.s.boto("ecs", "tag_resource", json!({"resourceArn": g.service_arn, "tags": fill}));
    assert_eq!(g.service_tags().len(), 50);
    g.s.drain_queue(&queue);
    let (_, v2, _) = g.deploy("v2").await;
    let s2 = g.started(&v2);
    g.rolled_back_by_ecs_unseen("v2");
    let lists = g.s.count_calls("ListServiceDeployments");
    let describes = g.s.count_calls("DescribeTaskDefinition");
    let mut failures = Vec::new();
    for m in 5..11 {
        let r = g.gate(&g.tick(s2 + Duration::minutes(m))).await;
        failures.extend(r.failures);
        assert!(g.service_tags().len() <= 50);
    }
    let received = published(&g.s.drain_queue(&queue));
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(g.state(&v2), "rolled-back");
    assert_eq!(received.iter().filter(|p| p.2 == v2).count(), 1, "published once: {received:#?}");
    // Only a cost: the history is read while the record cannot be written.
    assert!(g.s.count_calls("ListServiceDeployments") - lists <= 6);
    assert!(g.s.count_calls("DescribeTaskDefinition") - describes <= 12);
}

/// v2 is rolled back by ECS while the gate is down; v3 then fails too, and the gate's first
/// run after the outage sees v3 FAILED (ECS's rollback of v3 in progress) and finds v2 in the
/// history in the same run. ECS then completes v3's rollback (dropping v3) before the next run.
/// Both must end `rolled-back`.
#[tokio::test]
async fn a_listed_failure_and_an_orphan_judged_in_one_run_both_settle() {
    let mut g = Gated::new("probe-listed-and-orphan", &[]);
    let (_, v1, _) = g.deploy("v1").await;
    let at = g.make_healthy(&v1).await;
    g.gate(&g.tick(at + Duration::minutes(1))).await;
    let (_, v2, _) = g.deploy("v2").await;
    g.rolled_back_by_ecs_unseen("v2");
    let (_, v3, _) = g.deploy("v3").await;
    let s3 = g.started(&v3);
    g.force("FAILED", json!({"rollback": true, "reason": "v3: tasks failed to start."}));
    let r = g.gate(&g.tick(s3 + Duration::minutes(2))).await;
    assert!(r.failures.is_empty(), "{r:?}");
    g.force("COMPLETED", json!({})); // ECS's rollback of v3 completes: v3 leaves the list
    for m in 3..6 {
        let r = g.gate(&g.tick(s3 + Duration::minutes(m))).await;
        assert!(r.failures.is_empty(), "{r:?}");
    }
    assert_eq!(g.live(), v1);
    assert_eq!((g.state(&v2), g.state(&v3)), ("rolled-back".to_owned(), "rolled-back".to_owned()));
}

/// A service that has no record yet (upgraded from the rollgate before this change) with 48
/// tags: 44 of the owner's (what the previous reserve of 6 allowed), last-good, high-water,
/// failed-digests and one failed:<digest>. A rollout dropped unseen is judged (2 new keys:
/// its failed:<digest> and rollgate:rollback = 50 tags), then the record is written from the
/// run's stale view of the tags (48 < 50). Expect: no failed run.
#[tokio::test]
async fn the_first_history_record_waits_for_a_fresh_tag_count() {
    let owner: Vec<(String, String)> = (0..43).map(|i| (format!("owner-{i}"), format!("o{i}"))).collect();
    let settings: Vec<(&str, &str)> = owner.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut g = Gated::new("probe-stale-count", &settings);
    let (_, v1, _) = g.deploy("v1").await;
    let at = g.make_healthy(&v1).await;
    g.gate(&g.tick(at + Duration::minutes(1))).await;
    g.s.boto("ecs", "untag_resource", json!({"resourceArn": g.service_arn, "tagKeys": ["rollgate:seen-deployment"]}));
    g.s.boto(
        "ecs",
        "tag_resource",
        json!({"resourceArn": g.service_arn, "tags": [
            {"key": "rollgate:high-water", "value": "2026-11-28T08:30:00Z"},
            {"key": "rollgate:failed-digests", "value": "aaaaaaaaaaaa"},
            {"key": format!("rollgate:failed:sha256:{}", "b".repeat(64)), "value": "2026-11-28T08:40:00Z"},
        ]}),
    );
    assert_eq!(g.service_tags().len(), 48);
    let (_, v2, _) = g.deploy("v2").await;
    let s2 = g.started(&v2);
    g.rolled_back_by_ecs_unseen("v2");
    let mut failures = Vec::new();
    for m in 5..9 {
        let r = g.gate(&g.tick(s2 + Duration::minutes(m))).await;
        failures.extend(r.failures);
    }
    assert_eq!(g.state(&v2), "rolled-back");
    assert!(failures.is_empty(), "{failures:?}");
}

/// What people do (found by a break-test): during v2's bake a person runs
/// `aws ecs update-service --force-new-deployment`. That deployment of v2 fails, and ECS's
/// circuit breaker returns to the last COMPLETED deployment, v2's own first one. ECS reported a
/// deployment of v2 FAILED during its bake: a failing signal, although the newest deployment
/// of v2 completes (the gate read only the newest, and declared v2 healthy).
#[tokio::test]
async fn a_failed_forced_deployment_during_the_bake_fails_the_rollout() {
    let mut g = Gated::new("gate-forced-fails", &[("rollgate:bake", "5m")]);
    let queue = g.verdict_queue();
    let (_, v1, _) = g.deploy("v1").await;
    g.make_healthy(&v1).await;
    let (digest2, v2, _) = g.deploy("v2").await;
    let t0 = g.complete(&v2).await;
    g.s.boto("ecs", "update_service", json!({"cluster": g.cluster, "service": "api", "forceNewDeployment": true}));
    let forced = g.deployment(&v2)["id"].clone();
    g.force("FAILED", json!({"rollback": true, "reason": "ECS deployment circuit breaker: tasks failed to start."}));
    assert_eq!(g.live(), v2, "the breaker went back to v2's own completed deployment");
    let at = t0 + Duration::minutes(5);
    let event = g.s.deployment_event(
        &format!("{}-forced-failed", g.s.name),
        "SERVICE_DEPLOYMENT_FAILED",
        &g.service_arn,
        &forced,
        &rfc3339(at),
    );
    let r = g.gate(&event).await;
    assert_eq!(verdicts(&r), ["rolling-back"], "{r:?}");
    assert_eq!(g.live(), v1, "back to the last known good");
    g.force("COMPLETED", json!({}));
    g.gate(&g.tick(t0 + Duration::minutes(12))).await;
    assert_eq!(g.state(&v2), "rolled-back");
    assert!(g.service_tags().contains_key(&format!("rollgate:failed:{digest2}")));
    let received = published(&g.s.drain_queue(&queue));
    assert!(!received.iter().any(|(kind, _, rev, _)| kind == "Rollout Healthy" && rev == &v2), "{received:#?}");
}

/// Two opted-in services of one task family: a person points `worker` at `api`'s rollout
/// revision (`--task-definition <family>` resolves to the newest). worker's tasks of that
/// revision are OOM-killed: no evidence against api's rollout, which must not be rolled back
/// for them (the stops were recorded on api's revision, and api was rolled back).
#[tokio::test]
async fn another_services_task_stops_never_fail_a_rollout_of_a_shared_revision() {
    let mut g = Gated::new("gate-shared-revision", &[("rollgate:bake", "5m")]);
    let tags = vec![("rollgate:repository", g.repo.clone()), ("rollgate:bake", "5m".to_owned())];
    g.s.service(ServiceSpec { cluster: &g.cluster, name: "worker", task_definition: &g.base, tags });
    g.deploy("v1").await;
    let api_rev = g.live();
    let worker_rev = g.s.describe_service(&g.cluster, "worker")["taskDefinition"].as_str().unwrap().to_owned();
    assert_ne!(api_rev, worker_rev, "one push, a revision per service");
    let t0 = g.started(&api_rev);
    g.s.boto("ecs", "update_service", json!({"cluster": g.cluster, "service": "worker", "taskDefinition": api_rev}));
    let updates = g.s.count_calls("UpdateService");
    for task in 301..=303 {
        let at = rfc3339(t0 + Duration::minutes(1));
        let e = g.s.task_stopped_event("ecs-task-stopped-oom.json", &g.cluster, "worker", &api_rev, task, &at);
        g.gate(&e).await;
    }
    let (_, api_tags) = g.s.describe_task_definition(&api_rev);
    let bad: Vec<_> = api_tags.keys().filter(|k| k.starts_with("rollgate:bad-task")).collect();
    assert!(bad.is_empty(), "worker's stops recorded against api's rollout: {bad:?}");
    g.gate(&g.tick(t0 + Duration::minutes(2))).await;
    assert_eq!(g.live(), api_rev, "api is not rolled back for worker's tasks");
    assert_eq!(g.s.count_calls("UpdateService"), updates, "no rollback");
}

/// A person added their own tags to an opted-in service up to ECS's 50 (found by a new
/// user's walk-through). v2 fails: the gate still rolls it back and says so once, with what it
/// could not record. The failure record was refused past 50 tags, and the refusal blocked the
/// rollback on every run, leaving the bad rollout live.
#[tokio::test]
async fn a_service_filled_to_fifty_tags_still_gets_its_rollback() {
    let mut g = Gated::new("gate-full-service", &[]);
    let queue = g.verdict_queue();
    let (v1, _) = g.healthy_and_seen("v1", &queue).await;
    let (_, v2, _) = g.deploy("v2").await;
    let have = g.service_tags().len();
    let fill: Vec<Value> = (have..50).map(|i| json!({"key": format!("team-{i}"), "value": "x"})).collect();
    g.s.boto("ecs", "tag_resource", json!({"resourceArn": g.service_arn, "tags": fill}));
    assert_eq!(g.service_tags().len(), 50);
    g.force("FAILED", json!({}));
    let t0 = g.started(&v2);
    let r = g.gate(&g.deployment_event("SERVICE_DEPLOYMENT_FAILED", &v2, t0)).await;
    assert!(r.failures.is_empty(), "the rollback is not blocked: {r:?}");
    assert_eq!(g.live(), v1, "back to the last known good");
    assert_eq!(g.service_tags().len(), 50, "ECS's limit held");
    let received = g.s.drain_queue(&queue);
    let rolled_back: Vec<&Value> = received.iter().filter(|e| e["detail-type"] == "Rollout Rolled Back").collect();
    assert_eq!(rolled_back.len(), 1, "{received:#?}");
    let reason = rolled_back[0]["detail"]["reason"].as_str().unwrap_or("");
    assert!(reason.contains("no room for rollgate's failure record"), "{reason}");
    g.force("COMPLETED", json!({}));
    for m in [10, 11] {
        let r = g.gate(&g.tick(t0 + Duration::minutes(m))).await;
        assert!(r.failures.is_empty(), "{r:?}");
    }
    assert_eq!(g.state(&v2), "rolled-back");
    assert!(g.s.drain_queue(&queue).is_empty(), "said once");
}

/// The notifications published about `revision`, by detail-type, in order.
fn kinds_for(received: &[Value], revision: &str) -> Vec<String> {
    received
        .iter()
        .filter(|e| e["detail"]["revision"] == json!(revision))
        .map(|e| e["detail-type"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// ECS's live state outranks rollgate's records, also for a revision rollgate did not roll
/// out (#15): a person points the service at a revision registered by hand. It is judged like
/// any rollout (announced, baked, verified) with its ledger on the service, since the revision
/// is not rollgate's, and once healthy it is the last known good. Before, the gate ignored it:
/// "not registered by rollgate".
#[tokio::test]
async fn a_hand_revision_a_person_deploys_is_judged_and_a_healthy_one_becomes_the_last_known_good() {
    let (g, queue, hand, t0) = Gated::hand_verifying("gate-hand-healthy").await;
    g.force("COMPLETED", json!({}));
    let r = g.gate(&g.deployment_event("SERVICE_DEPLOYMENT_COMPLETED", &hand, t0 + Duration::minutes(3))).await;
    assert_eq!(verdicts(&r), ["baking"], "{r:?}");
    let r = g.gate(&g.tick(t0 + Duration::minutes(9))).await;
    assert_eq!(verdicts(&r), ["healthy"], "{r:?}");
    let tags = g.service_tags();
    assert_eq!(tags["rollgate:last-good"], json!(hand));
    assert!(tags["rollgate:outside"].as_str().unwrap().starts_with("healthy@"), "{tags:?}");
    let (_, hand_tags) = g.s.describe_task_definition(&hand);
    assert!(
        !hand_tags.keys().any(|k| k.starts_with("rollgate:")),
        "the hand revision is not written to: {hand_tags:?}"
    );
    assert_eq!(kinds_for(&g.s.drain_queue(&queue), &hand), ["Rollout Started", "Rollout Healthy"]);
    assert!(g.gate(&g.tick(t0 + Duration::minutes(10))).await.rollouts.is_empty(), "decided once");
}

/// A break-test's shape (#15): once a last known good exists, a person points the service at
/// the pre-rollgate revision, and its deployment fails. The gate rolls it back to the last
/// known good, once, follows that rollback to its outcome, and when ECS runs the revision
/// again says `Rollback Failed` once and leaves the service for a person. Its failure is a
/// configuration's: the revision is recorded, no digest is kept out. Before, the failure was
/// not even published.
#[tokio::test]
async fn the_pre_rollgate_revision_put_back_and_failing_is_rolled_back_once() {
    let mut g = Gated::new("gate-pre-rollgate-back", &[("rollgate:bake", "5m")]);
    let queue = g.verdict_queue();
    let (v1, _) = g.healthy_and_seen("v1", &queue).await;
    let base = g.base.clone();
    g.s.boto("ecs", "update_service", json!({"cluster": g.cluster, "service": "api", "taskDefinition": base}));
    let t0 = g.started(&base);
    g.force("FAILED", json!({"reason": "tasks failed to start"}));
    let updates = g.s.count_calls("UpdateService");
    let r = g.gate(&g.deployment_event("SERVICE_DEPLOYMENT_FAILED", &base, t0 + Duration::minutes(2))).await;
    assert_eq!(verdicts(&r), ["rolling-back"], "{r:?}");
    assert_eq!(g.live(), v1);
    assert_eq!(g.s.count_calls("UpdateService"), updates + 1, "one rollback");
    let tags = g.service_tags();
    assert_eq!(tags["rollgate:failed-config"], json!(base));
    assert!(!tags.keys().any(|k| k.starts_with("rollgate:failed:")), "no digest kept out: {tags:?}");
    g.settle_rollback(t0 + Duration::minutes(5)).await;
    assert!(g.service_tags()["rollgate:outside"].as_str().unwrap().starts_with("rolled-back@"));
    assert!(!g.service_tags().contains_key("rollgate:rollback"));

    // ECS runs it again (a person, or its circuit breaker): no second rollback, said once.
    g.s.boto("ecs", "update_service", json!({"cluster": g.cluster, "service": "api", "taskDefinition": base}));
    let updates = g.s.count_calls("UpdateService");
    for m in [8, 9, 10] {
        g.gate(&g.tick(t0 + Duration::minutes(m))).await;
    }
    assert_eq!(g.s.count_calls("UpdateService"), updates, "at most one automatic rollback");
    assert_eq!(g.live(), base, "left for a person");
    assert!(g.service_tags()["rollgate:outside"].as_str().unwrap().starts_with("rollback-failed@"));
    let (_, base_tags) = g.s.describe_task_definition(&base);
    assert!(!base_tags.keys().any(|k| k.starts_with("rollgate:")), "{base_tags:?}");
    assert_eq!(kinds_for(&g.s.drain_queue(&queue), &base), ["Rollout Rolled Back", "Rollback Failed"]);
}

/// A break-test's other shape (#15): while the gate rolls a failed push back, a person rolls
/// forward to a revision registered by hand, which fails too. The push's rollback is settled
/// ("moved on"), and the hand revision is judged and rolled back to the last known good once.
#[tokio::test]
async fn a_hand_revision_deployed_during_a_rollback_is_judged_and_rolled_back_once() {
    let mut g = Gated::new("gate-hand-during-rollback", &[("rollgate:bake", "5m")]);
    let queue = g.verdict_queue();
    let (v1, _) = g.healthy_and_seen("v1", &queue).await;
    let (_, v2, _) = g.deploy("v2").await;
    let t0 = g.started(&v2);
    g.force("FAILED", json!({}));
    let r = g.gate(&g.deployment_event("SERVICE_DEPLOYMENT_FAILED", &v2, t0 + Duration::minutes(1))).await;
    assert_eq!(verdicts(&r), ["rolling-back"], "{r:?}");
    let hand = g.hand_deploy("model");
    let r = g.gate(&g.tick(t0 + Duration::minutes(2))).await;
    assert_eq!(g.state(&v2), "rolled-back", "{r:?}");
    g.force("FAILED", json!({"reason": "essential container exited"}));
    let updates = g.s.count_calls("UpdateService");
    let r = g.gate(&g.deployment_event("SERVICE_DEPLOYMENT_FAILED", &hand, t0 + Duration::minutes(3))).await;
    assert_eq!(verdicts(&r), ["rolling-back"], "{r:?}");
    assert_eq!((g.live(), g.s.count_calls("UpdateService")), (v1.clone(), updates + 1));
    g.settle_rollback(t0 + Duration::minutes(6)).await;
    for m in [7, 8] {
        g.gate(&g.tick(t0 + Duration::minutes(m))).await;
    }
    assert_eq!((g.live(), g.s.count_calls("UpdateService")), (v1, updates + 1), "once");
    let received = g.s.drain_queue(&queue);
    assert_eq!(kinds_for(&received, &hand).iter().filter(|k| *k == "Rollout Rolled Back").count(), 1, "{received:#?}");
}

/// A hand revision a push replaces before its verdict (the storm found it): ECS drops its
/// deployment once the push's completes, and the gate settles it as `superseded`, as it does
/// a rollout, instead of leaving it `verifying` for good.
#[tokio::test]
async fn a_hand_revision_a_push_replaces_before_its_verdict_is_superseded() {
    let (mut g, _queue, hand, t0) = Gated::hand_verifying("gate-hand-superseded").await;
    let (_, v2, _) = g.deploy("v2").await;
    g.force("COMPLETED", json!({}));
    let listed: Vec<Value> = g.service()["deployments"].as_array().unwrap().clone();
    assert!(!listed.iter().any(|d| d["taskDefinition"] == json!(hand)), "ECS dropped it: {listed:?}");
    let r = g.gate(&g.deployment_event("SERVICE_DEPLOYMENT_COMPLETED", &v2, t0 + Duration::minutes(3))).await;
    assert!(g.service_tags()["rollgate:outside"].as_str().unwrap().starts_with("superseded@"), "{r:?}");
}

impl Gated {
    /// v1 verified healthy, then a person deploys a hand revision that the gate's next run
    /// (a minute after its deployment started) sees as `verifying`. Returns the service, its
    /// verdict queue, the hand revision and when its deployment started.
    async fn hand_verifying(name: &str) -> (Self, String, String, DateTime<Utc>) {
        let mut g = Gated::new(name, &[("rollgate:bake", "5m")]);
        let queue = g.verdict_queue();
        g.healthy_and_seen("v1", &queue).await;
        let hand = g.hand_deploy("model");
        let t0 = g.started(&hand);
        let r = g.gate(&g.tick(t0 + Duration::minutes(1))).await;
        assert_eq!(verdicts(&r), ["verifying"], "{r:?}");
        (g, queue, hand, t0)
    }

    /// A revision registered by hand in family `family` (no rollgate tag), deployed by a person.
    fn hand_deploy(&self, family: &str) -> String {
        let hand = self.s.model_task_definition(family, &self.repo);
        self.s.boto(
            "ecs",
            "update_service",
            json!({"cluster": self.cluster, "service": "api", "taskDefinition": hand}),
        );
        hand
    }

    fn outside(&self) -> String {
        self.service_tags().get("rollgate:outside").and_then(Value::as_str).unwrap_or("").to_owned()
    }
}

/// Two hand revisions in a row (a break-test's probe): h2 fails at first sight while ECS still
/// lists h1. The run judged the live h2 first (rolled back), then the listed h1 from the
/// service's view read before that write, and h1's `superseded` record overwrote h2's
/// `rolling-back`: h2's one rollback was forgotten, and h2 put back was rolled back again.
#[tokio::test]
async fn a_second_hand_revision_keeps_its_record_and_its_one_rollback() {
    let mut g = Gated::new("gate-two-hands", &[("rollgate:bake", "5m")]);
    let queue = g.verdict_queue();
    let (v1, _) = g.healthy_and_seen("v1", &queue).await;
    let h1 = g.hand_deploy("hand");
    let t0 = g.started(&h1);
    g.gate(&g.tick(t0 + Duration::minutes(1))).await;
    let h2 = g.hand_deploy("hand");
    let t2 = g.started(&h2);
    g.force("FAILED", json!({"reason": "h2 exited"}));
    let updates = g.s.count_calls("UpdateService");
    let r = g.gate(&g.deployment_event("SERVICE_DEPLOYMENT_FAILED", &h2, t2 + Duration::minutes(1))).await;
    assert!(verdicts(&r).contains(&"rolling-back"), "{r:?}");
    let h2_name = h2.rsplit('/').next().unwrap();
    assert!(g.outside().starts_with("rolling-back@") && g.outside().ends_with(h2_name), "{}", g.outside());
    g.force("COMPLETED", json!({}));
    for m in [2, 3] {
        g.gate(&g.tick(t2 + Duration::minutes(m))).await;
    }
    assert!(!g.service_tags().contains_key("rollgate:rollback"));
    assert!(g.outside().starts_with("rolled-back@"), "{}", g.outside());
    g.s.boto("ecs", "update_service", json!({"cluster": g.cluster, "service": "api", "taskDefinition": h2}));
    for m in [6, 7, 8] {
        g.gate(&g.tick(t2 + Duration::minutes(m))).await;
    }
    assert_eq!(g.s.count_calls("UpdateService"), updates + 1, "h2's one rollback");
    assert!(g.outside().starts_with("rollback-failed@"), "{}", g.outside());
    let kinds = kinds_for(&g.s.drain_queue(&queue), &h2);
    assert_eq!(kinds, ["Rollout Rolled Back", "Rollback Failed"]);
    let _ = v1;
}

/// No room for the record (a break-test's probes): a service its owners filled to 50 tags,
/// and a hand revision whose family is too long for the record (ECS allows 255 characters;
/// the record holds about 210). Before, the first was announced on every run, and the second
/// failed every run with ECS's refusal of a tag value over 256 characters. Now nothing is
/// announced or written, and a failure still rolls the revision back once, said once.
#[tokio::test]
async fn a_hand_revision_without_room_for_its_record_is_still_rolled_back_once() {
    for (name, fill, family) in
        [("gate-hand-full", true, "hand".to_owned()), ("gate-hand-long", false, "h".repeat(220))]
    {
        let mut g = Gated::new(name, &[("rollgate:bake", "5m")]);
        let queue = g.verdict_queue();
        let (v1, _) = g.healthy_and_seen("v1", &queue).await;
        if fill {
            let have = g.service_tags().len();
            let tags: Vec<Value> = (have..50).map(|i| json!({"key": format!("team-{i}"), "value": "x"})).collect();
            g.s.boto("ecs", "tag_resource", json!({"resourceArn": g.service_arn, "tags": tags}));
        }
        let family = family[..family.len().min(255 - g.s.name.len() - 1)].to_owned();
        let hand = g.hand_deploy(&family);
        let t0 = g.started(&hand);
        for m in [1, 2, 3] {
            let r = g.gate(&g.tick(t0 + Duration::minutes(m))).await;
            assert!(r.failures.is_empty(), "{name}: {r:?}");
        }
        assert_eq!(g.outside(), "", "{name}: no record");
        let updates = g.s.count_calls("UpdateService");
        g.force("FAILED", json!({"reason": "essential container exited"}));
        let r = g.gate(&g.deployment_event("SERVICE_DEPLOYMENT_FAILED", &hand, t0 + Duration::minutes(4))).await;
        assert!(r.failures.is_empty(), "{name}: {r:?}");
        g.force("COMPLETED", json!({}));
        for m in [5, 6] {
            g.gate(&g.tick(t0 + Duration::minutes(m))).await;
        }
        assert_eq!((g.live(), g.s.count_calls("UpdateService")), (v1, updates + 1), "{name}: one rollback");
        assert!(g.service_tags().len() <= 50);
        assert_eq!(kinds_for(&g.s.drain_queue(&queue), &hand), ["Rollout Rolled Back"], "{name}");
    }
}

/// A hand revision whose deployment failed and was rolled back by ECS's circuit breaker
/// before any gate run saw it live (a break-test's probe): its failure is published once, as
/// ECS's rollback, and recorded on the service; before, nothing was said at all.
#[tokio::test]
async fn a_hand_revision_ecs_rolled_back_before_the_gate_saw_it_is_published_once() {
    let mut g = Gated::new("gate-hand-unseen", &[("rollgate:bake", "5m")]);
    let queue = g.verdict_queue();
    let (v1, _) = g.healthy_and_seen("v1", &queue).await;
    let hand = g.hand_deploy("hand");
    let t0 = g.started(&hand);
    g.force("FAILED", json!({"rollback": true, "reason": "hand: tasks failed to start."}));
    assert_eq!(g.live(), v1);
    let updates = g.s.count_calls("UpdateService");
    for m in [2, 3, 4] {
        g.gate(&g.tick(t0 + Duration::minutes(m))).await;
    }
    g.force("COMPLETED", json!({}));
    for m in [5, 6] {
        g.gate(&g.tick(t0 + Duration::minutes(m))).await;
    }
    assert_eq!(g.s.count_calls("UpdateService"), updates, "ECS rolled back; the gate does not");
    assert_eq!(g.service_tags()["rollgate:failed-config"], json!(hand));
    let received = g.s.drain_queue(&queue);
    let rolled: Vec<&Value> = received
        .iter()
        .filter(|e| e["detail"]["revision"] == json!(hand) && e["detail-type"] == "Rollout Rolled Back")
        .collect();
    assert_eq!(rolled.len(), 1, "{received:#?}");
    assert_eq!(rolled[0]["detail"]["rolled_back_by"], "ecs");
}
