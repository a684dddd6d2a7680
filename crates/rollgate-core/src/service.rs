//! What rollgate knows about an ECS service and its task definition, as plain data.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::filter::TagFilter;
use crate::keys;
use crate::{InputError, RepositoryName, ServiceArn, TaskDefArn};

pub use crate::Tags;

/// An ECS service as discovery sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceView {
    /// The service's ARN, as DescribeServices returns it.
    pub arn: ServiceArn,
    /// The service's `status` (`ACTIVE`, `DRAINING`, `INACTIVE`).
    pub status: ServiceStatus,
    /// The revision the service was last asked to run.
    pub task_definition: Option<TaskDefArn>,
    /// The service's tags, key to value as ECS stores them (values not decoded).
    pub tags: Tags,
    /// The service's deployments, PRIMARY first as ECS lists them.
    pub deployments: Vec<DeploymentView>,
    /// Who deploys the service: rollgate can deploy only ECS-controlled services.
    pub deployment_controller: DeploymentController,
    /// Whether its tasks run on Fargate (`launchType` FARGATE, or a capacity provider
    /// strategy of FARGATE / FARGATE_SPOT only): then Fargate's platform defaults apply to a task
    /// definition without `runtimePlatform`, whatever compatibilities it lists.
    pub fargate: bool,
    /// DescribeServices `currentServiceDeployment`: the ARN of the service's newest ECS
    /// service deployment (`arn:<partition>:ecs:<region>:<account>:service-deployment/<cluster>/<service>/<id>`);
    /// absent for services with none since ECS began keeping them (October 2024) and for
    /// other deployment controllers.
    pub current_service_deployment: Option<String>,
}

/// A service deployment's status (ECS `ServiceDeploymentStatus`,
/// <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceDeployment.html>).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceDeploymentStatus {
    /// `PENDING`: created, not started (stages:
    /// <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-deployment.html>).
    Pending,
    /// `IN_PROGRESS`: ECS is replacing tasks.
    InProgress,
    /// `SUCCESSFUL`: completed, at its target service revision.
    Successful,
    /// `STOPPED`: the deployment was stopped (a completed-stage status).
    Stopped,
    /// `STOP_REQUESTED`: a stop was requested and is under way.
    StopRequested,
    /// `ROLLBACK_REQUESTED`: a rollback was requested (circuit breaker, alarm, or StopServiceDeployment).
    RollbackRequested,
    /// `ROLLBACK_IN_PROGRESS`: ECS is rolling back to the previous service revision.
    RollbackInProgress,
    /// `ROLLBACK_SUCCESSFUL`: rolled back to the previous service revision.
    RollbackSuccessful,
    /// `ROLLBACK_FAILED`: the rollback did not succeed.
    RollbackFailed,
    /// A status this version of rollgate does not know: never treated as settled.
    Other(String),
}

impl ServiceDeploymentStatus {
    /// From the API's string.
    pub fn from_api(s: &str) -> Self {
        match s {
            "PENDING" => Self::Pending,
            "IN_PROGRESS" => Self::InProgress,
            "SUCCESSFUL" => Self::Successful,
            "STOPPED" => Self::Stopped,
            "STOP_REQUESTED" => Self::StopRequested,
            "ROLLBACK_REQUESTED" => Self::RollbackRequested,
            "ROLLBACK_IN_PROGRESS" => Self::RollbackInProgress,
            "ROLLBACK_SUCCESSFUL" => Self::RollbackSuccessful,
            "ROLLBACK_FAILED" => Self::RollbackFailed,
            other => Self::Other(other.to_owned()),
        }
    }

    /// ECS is done with it: its outcome no longer changes.
    pub fn settled(&self) -> bool {
        matches!(self, Self::Successful | Self::Stopped | Self::RollbackSuccessful | Self::RollbackFailed)
    }

    /// ECS rolled it back (or is rolling it back, or failed to): its target revision failed.
    pub fn rolled_back(&self) -> bool {
        matches!(
            self,
            Self::RollbackRequested | Self::RollbackInProgress | Self::RollbackSuccessful | Self::RollbackFailed
        )
    }
}

/// A service's `status` (DescribeServices; `ACTIVE`, `DRAINING` or `INACTIVE`:
/// <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Service.html>).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceStatus {
    /// `ACTIVE`: the service runs and can be deployed to.
    Active,
    /// Being deleted.
    Draining,
    /// Deleted.
    Inactive,
    /// A status this version of rollgate does not know: never deployed to.
    Other(String),
}

impl ServiceStatus {
    /// From the API's string.
    pub fn from_api(s: &str) -> Self {
        match s {
            "ACTIVE" => Self::Active,
            "DRAINING" => Self::Draining,
            "INACTIVE" => Self::Inactive,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The API's string.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Active => "ACTIVE",
            Self::Draining => "DRAINING",
            Self::Inactive => "INACTIVE",
            Self::Other(s) => s,
        }
    }
}

impl std::fmt::Display for ServiceStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One ECS service deployment, as ListServiceDeployments lists it (`ServiceDeploymentBrief`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceDeploymentBrief {
    /// Its ARN; the last path segment is its id.
    pub arn: String,
    /// Its status.
    pub status: ServiceDeploymentStatus,
    /// Why it has its status (for a rollback, the failure), when ECS says.
    pub status_reason: Option<String>,
    /// When ECS created it (`createdAt`), UTC.
    pub created_at: DateTime<Utc>,
    /// The ARN of the service revision it deploys (DescribeServiceRevisions gives its task definition).
    pub target_revision: Option<String>,
}

/// A service's deployment controller (DescribeServices `deploymentController.type`;
/// <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeploymentController.html>).
/// Absent means ECS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentController {
    /// Rolling updates by ECS itself: the only kind rollgate deploys (UpdateService).
    #[default]
    Ecs,
    /// Blue/green by CodeDeploy: ECS refuses UpdateService with a new task definition.
    CodeDeploy,
    /// A third-party controller, through task sets.
    External,
}

impl DeploymentController {
    /// From DescribeServices' `deploymentController.type`; unknown values count as
    /// [`DeploymentController::External`] (not deployable by UpdateService).
    pub fn from_api(value: Option<&str>) -> Self {
        match value {
            None | Some("ECS") => Self::Ecs,
            Some("CODE_DEPLOY") => Self::CodeDeploy,
            Some(_) => Self::External,
        }
    }

    /// The API's string: `ECS`, `CODE_DEPLOY` or `EXTERNAL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ecs => "ECS",
            Self::CodeDeploy => "CODE_DEPLOY",
            Self::External => "EXTERNAL",
        }
    }
}

/// One ECS deployment of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeploymentView {
    /// The deployment's ID, `ecs-svc/<digits>`.
    pub id: String,
    /// Its place among the service's deployments: `PRIMARY`, `ACTIVE` or `INACTIVE`.
    pub status: DeploymentStatus,
    /// The revision it deploys; `None` when absent or not a task-definition ARN.
    pub task_definition: Option<TaskDefArn>,
    /// ECS's rollout state of the deployment (absent when ECS does not track it).
    pub rollout_state: Option<EcsRolloutState>,
    /// ECS's text for the rollout state (e.g. the circuit breaker's message); `None` when absent.
    pub rollout_state_reason: Option<String>,
    /// Tasks the deployment wants running.
    pub desired_count: i32,
    /// Its tasks in the `RUNNING` state.
    pub running_count: i32,
    /// ECS's `failedTasks`: consecutive tasks that did not launch, reach RUNNING or pass health checks.
    pub failed_tasks: i32,
    /// When ECS created it, UTC; `None` when absent.
    pub created_at: Option<DateTime<Utc>>,
    /// When ECS last updated it, UTC; `None` when absent.
    pub updated_at: Option<DateTime<Utc>>,
}

/// A deployment's `status` as ECS reports it
/// (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Deployment.html>).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentStatus {
    /// `PRIMARY`: the most recent deployment, the one ECS is moving the service to.
    Primary,
    /// `ACTIVE`: an earlier deployment that still has tasks running, being replaced.
    Active,
    /// `INACTIVE`: a deployment whose tasks have all been replaced.
    Inactive,
    /// A status this version of rollgate does not know (or none: the empty string).
    Other(String),
}

impl DeploymentStatus {
    /// From the API's string.
    pub fn from_api(s: &str) -> Self {
        match s {
            "PRIMARY" => Self::Primary,
            "ACTIVE" => Self::Active,
            "INACTIVE" => Self::Inactive,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The API's string.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Primary => "PRIMARY",
            Self::Active => "ACTIVE",
            Self::Inactive => "INACTIVE",
            Self::Other(s) => s,
        }
    }
}

impl std::fmt::Display for DeploymentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A deployment's `rolloutState` as ECS reports it
/// (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Deployment.html>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EcsRolloutState {
    /// ECS is still replacing tasks.
    InProgress,
    /// Every desired task of the deployment reached a steady state.
    Completed,
    /// The deployment failed (its circuit breaker tripped, or it was stopped).
    Failed,
}

impl EcsRolloutState {
    /// From the API's value; an unknown value is `None` (treated as not tracked).
    pub fn from_api(value: &str) -> Option<Self> {
        match value {
            "IN_PROGRESS" => Some(Self::InProgress),
            "COMPLETED" => Some(Self::Completed),
            "FAILED" => Some(Self::Failed),
            _ => None,
        }
    }

    /// The API's string: `IN_PROGRESS`, `COMPLETED` or `FAILED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "IN_PROGRESS",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
        }
    }
}

impl DeploymentView {
    /// ECS reports the deployment COMPLETED.
    pub fn completed(&self) -> bool {
        self.rollout_state == Some(EcsRolloutState::Completed)
    }

    /// ECS reports the deployment FAILED.
    pub fn failed(&self) -> bool {
        self.rollout_state == Some(EcsRolloutState::Failed)
    }
}

impl ServiceView {
    /// Whether ECS's deployment of `revision` COMPLETED (`rolloutState`).
    pub fn completed(&self, revision: &TaskDefArn) -> bool {
        self.deployment_of(revision).is_some_and(DeploymentView::completed)
    }

    /// The newest deployment that runs `revision`.
    pub fn deployment_of(&self, revision: &TaskDefArn) -> Option<&DeploymentView> {
        self.deployments.iter().filter(|d| d.task_definition.as_ref() == Some(revision)).max_by_key(|d| d.created_at)
    }
}

/// A service's opt-in to rollgate, read from its `rollgate:*` tags.
#[derive(Debug, Clone)]
pub struct OptIn {
    /// The ECR repository the service tracks (`rollgate:repository`).
    pub repository: RepositoryName,
    /// Containers named by `rollgate:container` (names separated by spaces or commas), which
    /// move with every container whose image comes from the repository. Empty: only those.
    pub containers: Vec<String>,
    /// Which tags deploy (`rollgate:tag-filter`); every tag when the tag is absent.
    pub filter: TagFilter,
    /// Whether a push without a tag may deploy (`rollgate:deploy-untagged` = `true`). Off by
    /// default: `docker buildx --push` sends its per-platform manifests and its attestations
    /// untagged, before the tagged image index; only the index is the release.
    pub deploy_untagged: bool,
}

impl OptIn {
    /// The `rollgate:repository` tag's value (decoded; as stored if it does not decode), if
    /// the service has opted in at all.
    pub fn repository_tag(tags: &Tags) -> Option<String> {
        tags.get(keys::REPOSITORY).map(|v| crate::tags::decode_or_stored(keys::REPOSITORY, v))
    }

    /// Reads the opt-in tags, each value through the tag codec (`crate::tags::decode`).
    /// `Ok(None)` means the service has not opted in.
    pub fn from_tags(tags: &Tags) -> Result<Option<Self>, InputError> {
        let get = |key: &'static str| tags.get(key).map(|v| crate::tags::decode(key, v)).transpose();
        let Some(repository) = get(keys::REPOSITORY)? else {
            return Ok(None);
        };
        let repository =
            RepositoryName::parse(&repository).map_err(|e| InputError::new(keys::REPOSITORY, e.value, e.why))?;
        let containers = match get(keys::CONTAINER)? {
            None => Vec::new(),
            Some(value) => {
                let names: Vec<String> = value
                    .split(|c: char| c.is_whitespace() || c == ',')
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
                    .collect();
                if names.is_empty() {
                    return Err(InputError::new(keys::CONTAINER, value, "empty; remove the tag or name a container"));
                }
                names
            }
        };
        // Tag values allow few characters: `v*` is stored as `base64:dio=` (crate::tags).
        let filter = match get(keys::TAG_FILTER)? {
            Some(spec) => TagFilter::parse(spec.trim())?,
            None => TagFilter::default(),
        };
        let deploy_untagged = match get(keys::DEPLOY_UNTAGGED)?.as_deref().map(str::trim) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(InputError::new(keys::DEPLOY_UNTAGGED, other, "true or false")),
        };
        Ok(Some(Self { repository, containers, filter, deploy_untagged }))
    }
}

/// One container of a task definition: its name and image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerImage {
    /// The container's name.
    pub name: String,
    /// The container's image as the task definition states it, e.g.
    /// `<account>.dkr.ecr.<region>.amazonaws.com/<repo>@sha256:<64 hex>` or `<repo>:<tag>`.
    pub image: String,
}

/// The parts of a task-definition revision that rollgate decides on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskDefSummary {
    /// The revision's ARN.
    pub arn: TaskDefArn,
    /// Its container definitions, in task-definition order.
    pub containers: Vec<ContainerImage>,
    /// The revision's tags, key to value as ECS stores them (values not decoded).
    pub tags: Tags,
    /// The platform its tasks run on ([`crate::image::Platform::of_task`]); `None` when the
    /// task definition leaves it to the host.
    pub platform: Option<crate::image::Platform>,
    /// The platform its tasks run on when a service runs them on Fargate (its `runtimePlatform`
    /// with Fargate's defaults), for task definitions that also allow EC2 or list nothing.
    pub fargate_platform: Option<crate::image::Platform>,
}

impl TaskDefSummary {
    /// The platform the service's tasks run on: the task definition's, or Fargate's defaults
    /// when the service runs on Fargate; `None` when the host decides (no check).
    pub fn platform_for(&self, service: &ServiceView) -> Option<&crate::image::Platform> {
        self.platform.as_ref().or(if service.fargate { self.fargate_platform.as_ref() } else { None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_statuses_round_trip() {
        for s in ["PRIMARY", "ACTIVE", "INACTIVE", "DRAINING", ""] {
            assert_eq!(DeploymentStatus::from_api(s).as_str(), s);
        }
        assert_eq!(DeploymentStatus::from_api("PRIMARY"), DeploymentStatus::Primary);
        assert_eq!(DeploymentStatus::from_api("primary"), DeploymentStatus::Other("primary".into()));
    }

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn opt_in_defaults() {
        let opt = OptIn::from_tags(&tags(&[("rollgate:repository", "model")])).unwrap().unwrap();
        assert_eq!(opt.repository.as_str(), "model");
        assert!(opt.containers.is_empty());
        assert_eq!(opt.filter.to_string(), "*");
        assert!(OptIn::from_tags(&tags(&[("team", "ml")])).unwrap().is_none());
    }

    #[test]
    fn opt_in_errors_name_the_tag() {
        let cases = [
            (tags(&[("rollgate:repository", "Bad Name")]), "rollgate:repository"),
            (tags(&[("rollgate:repository", "model"), ("rollgate:container", " ")]), "rollgate:container"),
            (tags(&[("rollgate:repository", "model"), ("rollgate:tag-filter", "regex:(")]), "rollgate:tag-filter"),
        ];
        for (t, key) in cases {
            assert_eq!(OptIn::from_tags(&t).unwrap_err().what, key);
        }
    }
}
