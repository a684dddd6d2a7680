//! Shared fixtures of the gate's decision tests: a service with a rollout in flight
//! ([`World`]), revisions, tags, times and deployments. Each test binary uses part of it.
#![allow(dead_code, unused_imports)]

pub use chrono::{DateTime, Duration, Utc};
pub use rollgate_core::duration::Seconds;
pub use rollgate_core::events::{DeploymentEvent, GateTrigger, parse_gate_event};
pub use rollgate_core::gate::{
    Adoption, AlarmEntry, GatePlan, GateSettings, NotificationKind, Resolution, RollbackVerdict, RolledBackBy,
    RolloutFacts, RolloutState, ServiceTagsAt, SmokeOutcome, SmokeTest, StopCause, StopRecord, TargetFacts, Verdict,
    adopt_known_good, check_target, describe_bad_tasks, evaluate, finished_via_copy, judge_rollback, plan,
    plan_rollback, record_stop, rollback_refused,
};
pub use rollgate_core::ledger::keys;
pub use rollgate_core::service::{
    DeploymentStatus, DeploymentView, EcsRolloutState, ServiceView, Tags, TaskDefSummary,
};
pub use rollgate_core::{Digest, ServiceArn, TaskDefArn};

pub const SERVICE: &str = "arn:aws:ecs:us-east-1:123456789012:service/rollgate-demo/sentiment-api";

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

pub fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub fn rev(n: u32) -> TaskDefArn {
    TaskDefArn::parse(&format!("arn:aws:ecs:us-east-1:123456789012:task-definition/rollgate-demo:{n}")).unwrap()
}

pub fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub const T0: &str = "2026-11-28T10:00:00Z";

/// A service whose rollout of revision 3 (digest D3) is in flight; revision 1 predates rollgate,
/// revision 2 was verified healthy.
#[derive(Clone)]
pub struct World {
    pub service: ServiceView,
    pub revision: TaskDefSummary,
    pub settings: GateSettings,
    pub alarms: Vec<String>,
    pub entered: Vec<AlarmEntry>,
    pub smoke: Option<SmokeOutcome>,
    pub reported_failure: Option<String>,
    pub now: DateTime<Utc>,
}

pub const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

impl World {
    pub fn new() -> Self {
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

    pub fn facts(&self) -> RolloutFacts<'_> {
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

    pub fn verdict(&self) -> Verdict {
        evaluate(&self.facts())
    }

    pub fn tag(mut self, k: &str, v: &str) -> Self {
        self.revision.tags.insert(k.into(), v.into());
        self
    }

    pub fn state(self, s: &str) -> Self {
        self.tag(keys::STATE, s)
    }

    pub fn rollout(mut self, state: &str, running: i32) -> Self {
        let d = &mut self.service.deployments[0];
        d.rollout_state = EcsRolloutState::from_api(state);
        d.running_count = running;
        self
    }

    pub fn at(mut self, minutes_after_start: i64) -> Self {
        self.now = t(T0) + Duration::minutes(minutes_after_start);
        self
    }
}

pub fn deployment(id: &str, n: u32, status: &str, state: &str, running: i32) -> DeploymentView {
    DeploymentView {
        id: id.into(),
        status: DeploymentStatus::from_api(status),
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

pub fn rolled_back_to(v: &Verdict) -> Option<TaskDefArn> {
    match v {
        Verdict::Failed { resolution: Resolution::RollBack { to }, .. } => Some(to.clone()),
        _ => None,
    }
}

pub fn reason(v: &Verdict) -> String {
    match v {
        Verdict::Failed { reason, .. } => reason.clone(),
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// Revision 3 failed and the gate sent the service back to revision 2 at `T0 + 5 min`.
pub fn rolling_back() -> World {
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
    failed.status = DeploymentStatus::Active;
    w.service.deployments = vec![rollback, failed];
    w.now = t("2026-11-28T10:06:00Z");
    w
}

pub fn judge(w: &World) -> RollbackVerdict {
    judge_rollback(w.now, &w.service, &w.revision, &w.settings)
}
