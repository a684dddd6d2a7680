//! One typed spec per resource kind: what `rollgate up` writes. Each spec also has its
//! canonical attributes ([`Spec::attrs`]), the form the plan compares with what AWS has, so a
//! driver writes typed fields (numbers as numbers, lists as lists, absent as `None`) and the
//! plan still diffs attribute by attribute.

use std::collections::BTreeMap;

use super::value::{Attrs, Value};

/// Tag key to value.
pub type TagMap = BTreeMap<String, String>;

/// An ECR repository (CreateRepository, PutImageScanningConfiguration,
/// PutImageTagMutability, PutLifecyclePolicy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositorySpec {
    /// Scan each image on push (`imageScanningConfiguration.scanOnPush`).
    pub scan_on_push: bool,
    /// `MUTABLE` or `IMMUTABLE` (validated by the config: `AppConfig::parse`).
    pub tag_mutability: String,
    /// The lifecycle policy document; `None`: no policy.
    pub lifecycle_policy: Option<serde_json::Value>,
    /// The repository's rollgate tags.
    pub tags: TagMap,
}

/// A CloudWatch Logs group (CreateLogGroup, PutRetentionPolicy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogGroupSpec {
    /// Days to keep events; one of the values PutRetentionPolicy accepts (validated by the config).
    pub retention_days: u32,
    /// The log group's rollgate tags.
    pub tags: TagMap,
}

/// An IAM role (CreateRole, UpdateAssumeRolePolicy, AttachRolePolicy, PutRolePolicy). IAM is
/// global: the same role serves the app in every region (the region's tag says it is in use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSpec {
    /// The whole trust policy: a statement added by hand is drift.
    pub trust_policy: serde_json::Value,
    /// Managed policy ARNs attached to it (sorted, without duplicates).
    pub managed_policies: Vec<String>,
    /// The region's inline policy (`rollgate-<region>`); `None`: none.
    pub inline_policy: Option<serde_json::Value>,
    /// The role's tags: the app's, and `rollgate:region:<region>`.
    pub tags: TagMap,
}

/// A CodeBuild project that bakes a model into an image (CreateProject, UpdateProject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildProjectSpec {
    /// The build image, e.g. `aws/codebuild/standard:7.0`.
    pub image: String,
    /// The compute type, e.g. `BUILD_GENERAL1_SMALL`.
    pub compute_type: String,
    /// Privileged mode (needed to run Docker).
    pub privileged: bool,
    /// The ARN of the project's service role.
    pub service_role: String,
    /// The buildspec (YAML text).
    pub buildspec: String,
    /// Environment variables, name to value.
    pub environment: TagMap,
    /// The CloudWatch Logs group builds write to.
    pub log_group: String,
    /// The project's rollgate tags.
    pub tags: TagMap,
}

/// An ECS cluster (CreateCluster, UpdateClusterSettings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    /// The `containerInsights` setting: `enabled` when true, else `disabled`.
    pub container_insights: bool,
    /// The cluster's rollgate tags.
    pub tags: TagMap,
}

/// The app's task-definition family: what its revisions run (RegisterTaskDefinition, Fargate,
/// `awsvpc`, one essential container).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDefinitionSpec {
    /// Task CPU units (e.g. 1024 = 1 vCPU).
    pub cpu: u32,
    /// Task memory, MiB.
    pub memory: u32,
    /// The container's name.
    pub container: String,
    /// The container port (TCP).
    pub port: u16,
    /// The health check's shell command (`CMD-SHELL`, every 30 s, 5 s timeout, 3 retries).
    pub health_check: String,
    /// The health check's start period, seconds.
    pub health_check_start_period: u32,
    /// `X86_64` or `ARM64`.
    pub cpu_architecture: String,
    /// The container's environment variables.
    pub environment: TagMap,
    /// The awslogs group the container logs to.
    pub log_group: String,
    /// The execution role's ARN.
    pub execution_role: String,
    /// The task role's ARN.
    pub task_role: String,
    /// The family's rollgate tags (on every revision `up` registers).
    pub tags: TagMap,
    /// The image of the first revision; later revisions keep the live one's image, which
    /// rollgate's deploys own. Not compared.
    pub initial_image: String,
}

/// The target group a service registers its tasks with, and the container and port it sends
/// traffic to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancerSpec {
    /// The target group's ARN.
    pub target_group_arn: String,
    /// The container that takes the traffic.
    pub container_name: String,
    /// Its port.
    pub container_port: u16,
}

/// The ECS service (CreateService, UpdateService), on Fargate with the deployment circuit
/// breaker and rollback on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// The cluster's name.
    pub cluster: String,
    /// The task-definition family it runs.
    pub task_family: String,
    /// Tasks to run.
    pub desired_count: u32,
    /// Seconds ECS ignores failing load-balancer health checks after a task starts; only for
    /// a service behind a load balancer (ECS refuses it otherwise).
    pub health_check_grace_period: Option<u32>,
    /// The `awsvpc` subnets (sorted: AWS does not keep their order).
    pub subnets: Vec<String>,
    /// The security groups (sorted).
    pub security_groups: Vec<String>,
    /// Whether tasks get a public IP.
    pub assign_public_ip: bool,
    /// The target group, if the service is behind a load balancer.
    pub load_balancer: Option<LoadBalancerSpec>,
    /// The service's rollgate tags: the app's, its opt-in and the gate's settings.
    pub tags: TagMap,
}

/// A resource's typed spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// An ECR repository.
    Repository(RepositorySpec),
    /// A log group.
    LogGroup(LogGroupSpec),
    /// An IAM role (execution, task or build role).
    Role(RoleSpec),
    /// A CodeBuild project.
    BuildProject(BuildProjectSpec),
    /// An ECS cluster.
    Cluster(ClusterSpec),
    /// A task-definition family.
    TaskDefinition(TaskDefinitionSpec),
    /// An ECS service.
    Service(ServiceSpec),
}

fn json(v: &Option<serde_json::Value>) -> Value {
    v.clone().map_or(Value::Absent, Value::Json)
}

impl Spec {
    /// The spec as canonical attributes, as the adapter reads them from AWS: numbers and
    /// booleans as their text, lists as sets, maps as maps, an absent value as
    /// [`Value::Absent`].
    pub fn attrs(&self) -> Attrs {
        let pairs: Vec<(&str, Value)> = match self {
            Spec::Repository(r) => vec![
                ("scan_on_push", Value::text(r.scan_on_push.to_string())),
                ("tag_mutability", Value::text(&r.tag_mutability)),
                ("lifecycle_policy", json(&r.lifecycle_policy)),
                ("tags", Value::Map(r.tags.clone())),
            ],
            Spec::LogGroup(l) => vec![
                ("retention_days", Value::text(l.retention_days.to_string())),
                ("tags", Value::Map(l.tags.clone())),
            ],
            Spec::Role(r) => vec![
                ("trust_policy", Value::Json(r.trust_policy.clone())),
                ("managed_policies", Value::set(r.managed_policies.iter().cloned())),
                ("inline_policy", json(&r.inline_policy)),
                // Inline policies other than rollgate's own (`rollgate-<region>`): none. One
                // added by hand to a role rollgate manages is drift that `up` removes.
                ("other_inline_policies", Value::List(vec![])),
                ("tags", Value::Map(r.tags.clone())),
            ],
            Spec::BuildProject(b) => vec![
                ("image", Value::text(&b.image)),
                ("compute_type", Value::text(&b.compute_type)),
                ("privileged", Value::text(b.privileged.to_string())),
                ("service_role", Value::text(&b.service_role)),
                ("buildspec", Value::text(&b.buildspec)),
                ("environment", Value::Map(b.environment.clone())),
                ("log_group", Value::text(&b.log_group)),
                ("tags", Value::Map(b.tags.clone())),
            ],
            Spec::Cluster(c) => vec![
                ("container_insights", Value::text(if c.container_insights { "enabled" } else { "disabled" })),
                ("tags", Value::Map(c.tags.clone())),
            ],
            Spec::TaskDefinition(t) => vec![
                ("cpu", Value::text(t.cpu.to_string())),
                ("memory", Value::text(t.memory.to_string())),
                ("container", Value::text(&t.container)),
                ("port", Value::text(t.port.to_string())),
                ("health_check", Value::text(&t.health_check)),
                ("health_check_start_period", Value::text(t.health_check_start_period.to_string())),
                ("cpu_architecture", Value::text(&t.cpu_architecture)),
                ("environment", Value::Map(t.environment.clone())),
                ("log_group", Value::text(&t.log_group)),
                ("execution_role", Value::text(&t.execution_role)),
                ("task_role", Value::text(&t.task_role)),
                ("tags", Value::Map(t.tags.clone())),
            ],
            Spec::Service(s) => vec![
                ("cluster", Value::text(&s.cluster)),
                ("task_family", Value::text(&s.task_family)),
                ("desired_count", Value::text(s.desired_count.to_string())),
                ("circuit_breaker", Value::map([("enable", "true"), ("rollback", "true")])),
                ("health_check_grace_period", Value::opt(s.health_check_grace_period.map(|g| g.to_string()))),
                ("subnets", Value::set(s.subnets.iter().cloned())),
                ("security_groups", Value::set(s.security_groups.iter().cloned())),
                ("assign_public_ip", Value::text(if s.assign_public_ip { "ENABLED" } else { "DISABLED" })),
                (
                    "load_balancer",
                    s.load_balancer.as_ref().map_or(Value::Absent, |lb| {
                        Value::map([
                            ("target_group_arn", lb.target_group_arn.clone()),
                            ("container_name", lb.container_name.clone()),
                            ("container_port", lb.container_port.to_string()),
                        ])
                    }),
                ),
                ("tags", Value::Map(s.tags.clone())),
            ],
        };
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    /// The spec's tags.
    pub fn tags(&self) -> &TagMap {
        match self {
            Spec::Repository(r) => &r.tags,
            Spec::LogGroup(l) => &l.tags,
            Spec::Role(r) => &r.tags,
            Spec::BuildProject(b) => &b.tags,
            Spec::Cluster(c) => &c.tags,
            Spec::TaskDefinition(t) => &t.tags,
            Spec::Service(s) => &s.tags,
        }
    }
}
