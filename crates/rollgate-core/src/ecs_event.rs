//! The health gate's triggers: ECS deployment and task state changes, and the schedule.

use serde::{Deserialize, Serialize};

use crate::event::{Envelope, EventError, parse_envelope};
use crate::gate::StopCause;
use crate::{Arn, InputError, ServiceArn, TaskDefArn};

pub const ECS_SOURCE: &str = "aws.ecs";
pub const DEPLOYMENT_DETAIL_TYPE: &str = "ECS Deployment State Change";
pub const TASK_DETAIL_TYPE: &str = "ECS Task State Change";
pub const SCHEDULE_SOURCE: &str = "aws.events";
pub const SCHEDULE_DETAIL_TYPE: &str = "Scheduled Event";

/// The detail of an "ECS Deployment State Change" event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStateDetail {
    pub event_type: String,
    pub event_name: String,
    pub deployment_id: String,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// One container of an "ECS Task State Change" event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskContainer {
    pub name: String,
    #[serde(default)]
    pub exit_code: Option<i64>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub last_status: Option<String>,
    #[serde(default)]
    pub memory: Option<String>,
    #[serde(default)]
    pub image_digest: Option<String>,
}

/// The detail of an "ECS Task State Change" event (the fields the gate reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStateDetail {
    pub cluster_arn: String,
    pub task_arn: String,
    pub task_definition_arn: String,
    pub last_status: String,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub stop_code: Option<String>,
    #[serde(default)]
    pub stopped_reason: Option<String>,
    #[serde(default)]
    pub containers: Vec<TaskContainer>,
    #[serde(default)]
    pub memory: Option<String>,
}

/// The scheduled event's detail is an empty object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ScheduleDetail {}

/// A deployment's lifecycle event, as ECS names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DeploymentEvent {
    InProgress,
    Completed,
    Failed,
}

/// What woke the health gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateTrigger {
    Deployment {
        envelope: Envelope,
        service: ServiceArn,
        deployment_id: String,
        event: DeploymentEvent,
        reason: Option<String>,
    },
    TaskStopped {
        envelope: Envelope,
        service: ServiceArn,
        task_id: String,
        task_definition: TaskDefArn,
        /// `None`: a normal stop (scale-in, replacement, user stop): not counted against the rollout.
        cause: Option<StopCause>,
    },
    Tick {
        envelope: Envelope,
    },
    /// A well-formed event the gate has nothing to do with (a running task, a standalone task).
    Ignored {
        envelope: Envelope,
        reason: String,
    },
}

impl GateTrigger {
    pub fn envelope(&self) -> &Envelope {
        match self {
            Self::Deployment { envelope, .. }
            | Self::TaskStopped { envelope, .. }
            | Self::Tick { envelope }
            | Self::Ignored { envelope, .. } => envelope,
        }
    }
}

/// Parses any of the gate's trigger events, strictly.
pub fn parse_gate_event(raw: &str) -> Result<GateTrigger, EventError> {
    let (source, detail_type) = crate::event::kind_of(raw)?;
    match (source.as_str(), detail_type.as_str()) {
        (ECS_SOURCE, DEPLOYMENT_DETAIL_TYPE) => parse_deployment(raw),
        (ECS_SOURCE, TASK_DETAIL_TYPE) => parse_task(raw),
        (SCHEDULE_SOURCE, SCHEDULE_DETAIL_TYPE) => {
            let (envelope, _) = parse_envelope::<ScheduleDetail>(raw, SCHEDULE_SOURCE, SCHEDULE_DETAIL_TYPE)?;
            Ok(GateTrigger::Tick { envelope })
        }
        (source, detail_type) => Err(EventError::WrongKind {
            event_source: source.to_owned(),
            detail_type: detail_type.to_owned(),
            expected: "an ECS deployment or task state change, or a Scheduled Event".to_owned(),
        }),
    }
}

fn parse_deployment(raw: &str) -> Result<GateTrigger, EventError> {
    #[derive(Deserialize)]
    struct Resources {
        #[serde(default)]
        resources: Vec<String>,
    }
    let (envelope, detail) = parse_envelope::<DeploymentStateDetail>(raw, ECS_SOURCE, DEPLOYMENT_DETAIL_TYPE)?;
    let resources: Resources = serde_json::from_str(raw).map_err(|e| EventError::Malformed(e.to_string()))?;
    let service = resources
        .resources
        .iter()
        .find(|r| r.contains(":service/"))
        .ok_or(EventError::Missing("resources[service ARN]"))?;
    // A pre-2021 service's short ARN does not name its cluster; ECS cannot tag such a
    // service, so it never opts in to rollgate, and its events concern nothing rollgate runs.
    if ServiceArn::is_short(service) {
        let reason = format!(
            "{service} has the short, pre-2021 ARN format: ECS cannot tag such a service, so rollgate never tracks it"
        );
        return Ok(GateTrigger::Ignored { envelope, reason });
    }
    let service = ServiceArn::parse(service)?;
    let event = match detail.event_name.as_str() {
        "SERVICE_DEPLOYMENT_IN_PROGRESS" => DeploymentEvent::InProgress,
        "SERVICE_DEPLOYMENT_COMPLETED" => DeploymentEvent::Completed,
        "SERVICE_DEPLOYMENT_FAILED" => DeploymentEvent::Failed,
        other => {
            return Ok(GateTrigger::Ignored {
                envelope,
                reason: format!("deployment event {other} is not one the gate acts on"),
            });
        }
    };
    if detail.deployment_id.is_empty() {
        return Err(EventError::Missing("detail.deploymentId"));
    }
    Ok(GateTrigger::Deployment { envelope, service, deployment_id: detail.deployment_id, event, reason: detail.reason })
}

fn parse_task(raw: &str) -> Result<GateTrigger, EventError> {
    let (envelope, detail) = parse_envelope::<TaskStateDetail>(raw, ECS_SOURCE, TASK_DETAIL_TYPE)?;
    if detail.last_status != "STOPPED" {
        let reason = format!("task is {}, not STOPPED", detail.last_status);
        return Ok(GateTrigger::Ignored { envelope, reason });
    }
    let Some(service_name) = detail.group.as_deref().and_then(|g| g.strip_prefix("service:")) else {
        let reason = "the task does not belong to a service".to_owned();
        return Ok(GateTrigger::Ignored { envelope, reason });
    };
    let cluster = Arn::parse(&detail.cluster_arn)?;
    let cluster_name = cluster
        .resource
        .strip_prefix("cluster/")
        .ok_or_else(|| InputError::new("detail.clusterArn", detail.cluster_arn.as_str(), "expected a cluster ARN"))?;
    let service = ServiceArn::parse(&format!(
        "arn:{}:ecs:{}:{}:service/{cluster_name}/{service_name}",
        cluster.partition, cluster.region, cluster.account
    ))?;
    let task_id = detail
        .task_arn
        .rsplit('/')
        .next()
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .ok_or_else(|| InputError::new("detail.taskArn", detail.task_arn.as_str(), "expected a task ARN"))?
        .to_owned();
    Ok(GateTrigger::TaskStopped {
        envelope,
        service,
        task_id,
        task_definition: TaskDefArn::parse(&detail.task_definition_arn)?,
        cause: StopCause::classify(&detail),
    })
}
