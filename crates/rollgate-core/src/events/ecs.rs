//! The health gate's triggers: ECS deployment and task state changes, and the schedule.

use serde::{Deserialize, Serialize};

use super::envelope::{Envelope, EventError, RawEvent};
use super::schedule::{SCHEDULE_DETAIL_TYPE, SCHEDULE_SOURCE, ScheduleDetail};
use crate::tags::lossy as sanitize_tag_value;
use crate::{Arn, InputError, ServiceArn, TaskDefArn};

/// The EventBridge `source` of ECS events.
pub const ECS_SOURCE: &str = "aws.ecs";
/// The `detail-type` of an ECS service deployment state change (ECS deployment state change
/// events: <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_service_deployment_events.html>).
pub const DEPLOYMENT_DETAIL_TYPE: &str = "ECS Deployment State Change";
/// The `detail-type` of an ECS task state change (ECS task state change events:
/// <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_task_events.html>).
pub const TASK_DETAIL_TYPE: &str = "ECS Task State Change";

/// The detail of an "ECS Deployment State Change" event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStateDetail {
    /// `INFO`, `WARN` or `ERROR`, as ECS sends it.
    pub event_type: String,
    /// `SERVICE_DEPLOYMENT_IN_PROGRESS`, `SERVICE_DEPLOYMENT_COMPLETED` or `SERVICE_DEPLOYMENT_FAILED`.
    pub event_name: String,
    /// The ECS deployment's ID, `ecs-svc/<digits>`.
    pub deployment_id: String,
    /// When ECS updated the deployment, an ISO 8601 timestamp as ECS sends it; `None` when absent.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// ECS's free text, e.g. the circuit breaker's message on a failure; `None` when absent.
    #[serde(default)]
    pub reason: Option<String>,
}

/// One container of an "ECS Task State Change" event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskContainer {
    /// The container's name in the task definition.
    pub name: String,
    /// The container's exit code; `None` when ECS reports none (e.g. the container never started).
    #[serde(default)]
    pub exit_code: Option<i64>,
    /// Why the container stopped, e.g. `OutOfMemoryError: ...` or `CannotPullContainerError: ...`;
    /// `None` when ECS gives none.
    #[serde(default)]
    pub reason: Option<String>,
    /// The container's status (`PENDING`, `RUNNING`, `STOPPED`); `None` when absent.
    #[serde(default)]
    pub last_status: Option<String>,
    /// The container's memory in MiB, as a decimal string (`"512"`); `None` when the event omits it.
    #[serde(default)]
    pub memory: Option<String>,
    /// The digest of the image the container ran, `sha256:<64 hex>`; `None` when the event omits it.
    #[serde(default)]
    pub image_digest: Option<String>,
}

/// The detail of an "ECS Task State Change" event (the fields the gate reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStateDetail {
    /// The cluster's ARN, `arn:<partition>:ecs:<region>:<account>:cluster/<name>`.
    pub cluster_arn: String,
    /// The task's ARN; its last path segment is the task ID.
    pub task_arn: String,
    /// The ARN of the task definition revision the task runs, `...:task-definition/<family>:<revision>`.
    pub task_definition_arn: String,
    /// The task's status (`PROVISIONING` ... `RUNNING` ... `STOPPED`); the gate acts on `STOPPED` only.
    pub last_status: String,
    /// `service:<service name>` for a task a service started; `None` or another value for a
    /// standalone task.
    #[serde(default)]
    pub group: Option<String>,
    /// ECS's stop code (`TaskFailedToStart`, `EssentialContainerExited`, `UserInitiated`,
    /// `SpotInterruption`, `TerminationNotice`, ...); `None` when the event has none.
    #[serde(default)]
    pub stop_code: Option<String>,
    /// ECS's free-text reason for the stop; `None` when absent.
    #[serde(default)]
    pub stopped_reason: Option<String>,
    /// The task's containers; empty when the event lists none.
    #[serde(default)]
    pub containers: Vec<TaskContainer>,
    /// The task-level memory in MiB, as a decimal string (`"512"`); `None` when the event omits it.
    #[serde(default)]
    pub memory: Option<String>,
}

/// A deployment's lifecycle event, as ECS names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DeploymentEvent {
    /// `SERVICE_DEPLOYMENT_IN_PROGRESS`: ECS started rolling out the deployment.
    InProgress,
    /// `SERVICE_DEPLOYMENT_COMPLETED`: the deployment reached steady state.
    Completed,
    /// `SERVICE_DEPLOYMENT_FAILED`: the deployment failed (e.g. the circuit breaker tripped).
    Failed,
}

/// What woke the health gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateTrigger {
    /// An ECS Deployment State Change for a long-ARN service, with an event name the gate acts on.
    Deployment {
        /// The validated event envelope.
        envelope: Envelope,
        /// The service, from the event's `resources`.
        service: ServiceArn,
        /// The ECS deployment's ID, `ecs-svc/<digits>`; never empty.
        deployment_id: String,
        /// Which of the three deployment events this is.
        event: DeploymentEvent,
        /// The detail's `reason`; `None` when ECS sent none.
        reason: Option<String>,
    },
    /// An ECS Task State Change of a service's task whose `lastStatus` is `STOPPED`.
    TaskStopped {
        /// The validated event envelope.
        envelope: Envelope,
        /// The task's service, built from the cluster ARN and the task's `group` (`service:<name>`).
        service: ServiceArn,
        /// The task ID: the last segment of the task ARN (ASCII letters, digits and `-`).
        task_id: String,
        /// The task definition revision the task ran.
        task_definition: TaskDefArn,
        /// `None`: a normal stop (scale-in, replacement, user stop): not counted against the rollout.
        cause: Option<StopCause>,
    },
    /// A Scheduled Event from the gate's schedule rule.
    Tick {
        /// The validated event envelope.
        envelope: Envelope,
    },
    /// A well-formed event the gate has nothing to do with (a running task, a standalone task).
    Ignored {
        /// The validated event envelope.
        envelope: Envelope,
        /// Why the gate ignores it, in words.
        reason: String,
    },
}

impl GateTrigger {
    /// The validated envelope of whichever trigger this is.
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
///
/// Dispatches on `source` and `detail-type`. Errors: `EventError::WrongKind` for any other kind;
/// `Malformed`, `Missing` or `Invalid` for an event that lacks a required field or has a bad ARN,
/// account, region or time. An event the gate does not act on is `Ok(GateTrigger::Ignored)`.
pub fn parse_gate_event(raw: &str) -> Result<GateTrigger, EventError> {
    GateTrigger::from_event(&RawEvent::parse(raw)?)
}

impl GateTrigger {
    /// [`parse_gate_event`] of an event already read.
    pub fn from_event(event: &RawEvent) -> Result<Self, EventError> {
        gate_trigger(event)
    }
}

fn gate_trigger(event: &RawEvent) -> Result<GateTrigger, EventError> {
    match (event.source.as_str(), event.detail_type.as_str()) {
        (ECS_SOURCE, DEPLOYMENT_DETAIL_TYPE) => parse_deployment(event),
        (ECS_SOURCE, TASK_DETAIL_TYPE) => parse_task(event),
        (SCHEDULE_SOURCE, SCHEDULE_DETAIL_TYPE) => {
            let (envelope, _) = event.envelope::<ScheduleDetail>(SCHEDULE_SOURCE, SCHEDULE_DETAIL_TYPE)?;
            Ok(GateTrigger::Tick { envelope })
        }
        (source, detail_type) => Err(EventError::WrongKind {
            event_source: source.to_owned(),
            detail_type: detail_type.to_owned(),
            expected: "an ECS deployment or task state change, or a Scheduled Event".to_owned(),
        }),
    }
}

fn parse_deployment(event: &RawEvent) -> Result<GateTrigger, EventError> {
    let (envelope, detail) = event.envelope::<DeploymentStateDetail>(ECS_SOURCE, DEPLOYMENT_DETAIL_TYPE)?;
    let resources = event.resources()?;
    let service =
        resources.iter().find(|r| r.contains(":service/")).ok_or(EventError::Missing("resources[service ARN]"))?;
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

fn parse_task(event: &RawEvent) -> Result<GateTrigger, EventError> {
    let (envelope, detail) = event.envelope::<TaskStateDetail>(ECS_SOURCE, TASK_DETAIL_TYPE)?;
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

/// Why a task of a rollout stopped abnormally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "cause", rename_all = "kebab-case")]
pub enum StopCause {
    /// A container's reason contains `OutOfMemoryError`: the kernel killed it for its memory limit.
    OutOfMemory {
        /// The container's name.
        container: String,
        /// The container's (else the task's) memory in MiB; `None` when neither is given or parses.
        memory_mib: Option<u32>,
    },
    /// Stop code `EssentialContainerExited` and a container exited non-zero (the first such).
    NonZeroExit {
        /// The container's name.
        container: String,
        /// Its exit code, never 0.
        code: i64,
    },
    /// The stopped reason mentions a health check (any case), e.g. an ELB or container health check failed.
    HealthCheck,
    /// `CannotPullContainerError` in the task's or a container's reason: ECS could not pull the image.
    ImagePull,
    /// `CannotStartContainerError`, `CannotCreateContainerError`, or stop code `TaskFailedToStart`.
    FailedToStart,
}

impl StopCause {
    /// Classifies a STOPPED task. `None` is a normal stop: scale-in, replacement by a
    /// deployment, a user's stop, a Spot interruption.
    ///
    /// The task's `stopCode` comes first: `UserInitiated` (StopTask by a person or a script),
    /// `SpotInterruption` and `TerminationNotice` are stops the model did not cause, whatever
    /// free text a person put in the reason ("restarting after a failed health check"). A
    /// container that could not be created or started (`CannotStartContainerError`,
    /// `CannotCreateContainerError`, with `EssentialContainerExited` and no exit code) failed
    /// to start. Stop codes and messages:
    /// <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Task.html#ECS-Type-Task-stopCode>
    /// and <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-error-codes.html>
    pub fn classify(task: &TaskStateDetail) -> Option<Self> {
        let reason = task.stopped_reason.as_deref().unwrap_or_default();
        let lower = reason.to_ascii_lowercase();
        let container_reason =
            |needle: &str| task.containers.iter().find(|c| c.reason.as_deref().is_some_and(|r| r.contains(needle)));
        if let Some(c) = container_reason("OutOfMemoryError") {
            let memory = c.memory.as_deref().or(task.memory.as_deref());
            return Some(Self::OutOfMemory {
                container: c.name.clone(),
                memory_mib: memory.and_then(|m| m.parse().ok()),
            });
        }
        if reason.contains("CannotPullContainerError") || container_reason("CannotPullContainerError").is_some() {
            return Some(Self::ImagePull);
        }
        if matches!(task.stop_code.as_deref(), Some("UserInitiated" | "SpotInterruption" | "TerminationNotice")) {
            return None;
        }
        if ["CannotStartContainerError", "CannotCreateContainerError"]
            .iter()
            .any(|e| reason.contains(e) || container_reason(e).is_some())
        {
            return Some(Self::FailedToStart);
        }
        if lower.contains("health check") {
            return Some(Self::HealthCheck);
        }
        match task.stop_code.as_deref() {
            Some("TaskFailedToStart") => Some(Self::FailedToStart),
            Some("EssentialContainerExited") => task
                .containers
                .iter()
                .find_map(|c| c.exit_code.filter(|code| *code != 0).map(|code| (c, code)))
                .map(|(c, code)| Self::NonZeroExit { container: c.name.clone(), code }),
            _ => None,
        }
    }

    /// The compact form stored in a `rollgate:bad-task:<id>` tag.
    pub fn to_tag_value(&self) -> String {
        match self {
            Self::OutOfMemory { container, memory_mib } => {
                format!("oom:{}:{}", sanitize_tag_value(container), memory_mib.map_or(String::new(), |m| m.to_string()))
            }
            Self::NonZeroExit { container, code } => {
                format!("exit:{}:{code}", sanitize_tag_value(container))
            }
            Self::HealthCheck => "health".to_owned(),
            Self::ImagePull => "pull".to_owned(),
            Self::FailedToStart => "start".to_owned(),
        }
    }

    /// Parses the form [`StopCause::to_tag_value`] writes (`oom:<container>:<MiB>`, `exit:<container>:<code>`,
    /// `health`, `pull`, `start`); `None` for anything else.
    pub fn from_tag_value(v: &str) -> Option<Self> {
        let mut parts = v.splitn(3, ':');
        match (parts.next()?, parts.next(), parts.next()) {
            ("oom", Some(c), m) => {
                Some(Self::OutOfMemory { container: c.to_owned(), memory_mib: m.and_then(|m| m.parse().ok()) })
            }
            ("exit", Some(c), Some(code)) => {
                Some(Self::NonZeroExit { container: c.to_owned(), code: code.parse().ok()? })
            }
            ("health", None, None) => Some(Self::HealthCheck),
            ("pull", None, None) => Some(Self::ImagePull),
            ("start", None, None) => Some(Self::FailedToStart),
            _ => None,
        }
    }

    pub(crate) fn kind(&self) -> u8 {
        match self {
            Self::OutOfMemory { .. } => 0,
            Self::NonZeroExit { .. } => 1,
            Self::HealthCheck => 2,
            Self::ImagePull => 3,
            Self::FailedToStart => 4,
        }
    }
}
