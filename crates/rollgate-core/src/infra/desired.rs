//! The resources `rollgate up` manages, each described by canonical, typed attributes
//! ([`Value`]: text, list, map or JSON), so what AWS has and what the config wants compare
//! with `==` and diff field by field. Lists and maps stay lists and maps: no value is ever
//! joined into, or split out of, a string.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::app_config::{AppConfig, ConfigError};
use super::spec::{
    BuildProjectSpec, ClusterSpec, LoadBalancerSpec, LogGroupSpec, RepositorySpec, RoleSpec, ServiceSpec, Spec, TagMap,
    TaskDefinitionSpec,
};
pub use super::value::{Attrs, Value};
use crate::keys;
use crate::{AccountId, Region};

/// Tags on every resource rollgate creates; `down` deletes only what carries them.
pub const MANAGED_TAG: &str = keys::MANAGED;
/// `rollgate:app` = the app's name; with [`MANAGED_TAG`] = `true` it marks the app's resources.
pub const APP_TAG: &str = keys::APP;

/// The kinds, in dependency order (creation order; `down` goes backwards).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The app's ECR repository (named by [`AppConfig::repository_name`]).
    Repository,
    /// The CloudWatch Logs group of the tasks and the builds.
    LogGroup,
    /// The IAM role ECS pulls images and writes logs with (global).
    ExecutionRole,
    /// The IAM role the app's containers run as (global).
    TaskRole,
    /// The IAM role of the CodeBuild project (global).
    BuildRole,
    /// The CodeBuild project that bakes a model into an image.
    BuildProject,
    /// The ECS cluster.
    Cluster,
    /// The task-definition family (its first revision; later ones are rollgate's deploys).
    TaskDefinition,
    /// The ECS service.
    Service,
}

impl Kind {
    /// Every kind, in dependency order.
    pub const ALL: [Kind; 9] = [
        Kind::Repository,
        Kind::LogGroup,
        Kind::ExecutionRole,
        Kind::TaskRole,
        Kind::BuildRole,
        Kind::BuildProject,
        Kind::Cluster,
        Kind::TaskDefinition,
        Kind::Service,
    ];

    /// The kind in words for people, e.g. `IAM task role`.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Repository => "ECR repository",
            Kind::LogGroup => "log group",
            Kind::ExecutionRole => "IAM execution role",
            Kind::TaskRole => "IAM task role",
            Kind::BuildRole => "IAM CodeBuild role",
            Kind::BuildProject => "CodeBuild project",
            Kind::Cluster => "ECS cluster",
            Kind::TaskDefinition => "task definition",
            Kind::Service => "ECS service",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One resource as the config wants it. As JSON: `kind`, `name`, `attrs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resource {
    /// What kind of resource.
    pub kind: Kind,
    /// Its name in AWS, e.g. the role or repository name (not an ARN).
    pub name: String,
    /// The spec's canonical attributes ([`Spec::attrs`]): compared with AWS on every `up`.
    pub attrs: Attrs,
    /// What the drivers write.
    #[serde(skip)]
    pub spec: Spec,
}

impl Resource {
    /// A resource of `kind` named `name`, with `spec` and the attributes it compares by.
    pub fn new(kind: Kind, name: impl Into<String>, spec: Spec) -> Self {
        Self { kind, name: name.into(), attrs: spec.attrs(), spec }
    }
}

/// What a command acts on: the app, in one account and region. Every mutating command shows
/// it before it writes. As JSON: `{"account", "region", "app"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// The 12-digit account the command acts in (from STS).
    pub account: AccountId,
    /// The region the command acts in, e.g. `us-east-1`.
    pub region: Region,
    /// The app's name, `[app].name` in rollgate.toml.
    pub app: String,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "app {} in account {}, region {}", self.app, self.account, self.region)
    }
}

/// Where the resources live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    /// The 12-digit account (from STS GetCallerIdentity).
    pub account: AccountId,
    /// The region, e.g. `us-east-1`.
    pub region: Region,
}

impl Env {
    /// The ARN partition of the region: `aws`, `aws-cn` or `aws-us-gov`.
    pub fn partition(&self) -> &'static str {
        match self.region.partition() {
            crate::Partition::China => "aws-cn",
            crate::Partition::GovCloud => "aws-us-gov",
            crate::Partition::Aws => "aws",
        }
    }

    /// The [`Target`] of `app` here.
    pub fn target(&self, app: &str) -> Target {
        Target { account: self.account.clone(), region: self.region.clone(), app: app.to_owned() }
    }

    /// The ARN of IAM role `name` in this account: `arn:<partition>:iam::<account>:role/<name>`.
    pub fn role_arn(&self, name: &str) -> String {
        format!("arn:{}:iam::{}:role/{name}", self.partition(), self.account)
    }

    /// The URI of ECR repository `repo` here: `<account>.dkr.ecr.<region>.<domain>/<repo>`.
    pub fn repository_uri(&self, repo: &str) -> String {
        format!("{}/{repo}", crate::image::registry_host(&self.account, &self.region))
    }
}

/// The AWS managed policy of the execution role (its ARN depends on the partition).
pub const EXECUTION_POLICY_NAME: &str = "AmazonECSTaskExecutionRolePolicy";

/// The `rollgate:*` service tags that `up` owns (opt-in and gate settings). Tags the gate
/// writes (`rollgate:last-good`, `rollgate:failed:*`) are never touched by `up`.
pub const SERVICE_SETTING_KEYS: &[&str] = &[
    keys::REPOSITORY,
    keys::CONTAINER,
    keys::TAG_FILTER,
    // Never in rollgate.toml: the repository's lifecycle rule `up` writes expires untagged
    // images, so a service `up` manages deploys tagged pushes only; `up` removes this tag.
    keys::DEPLOY_UNTAGGED,
    keys::MAX_BAD_TASKS,
    keys::DEADLINE,
    keys::BAKE,
    keys::ALARMS,
    keys::ALARM_PREFIX,
    keys::SMOKE_URL,
    keys::SMOKE_BODY,
    keys::SMOKE_STATUS,
    keys::SMOKE_MATCH,
];

/// Whether `tags` mark a resource as `app`'s (`rollgate:managed=true`, `rollgate:app=<app>`):
/// the one ownership rule `plan`, `down` and the adapter's reads share.
pub fn app_owns(tags: &BTreeMap<String, String>, app: &str) -> bool {
    tags.get(MANAGED_TAG).map(String::as_str) == Some("true") && tags.get(APP_TAG).map(String::as_str) == Some(app)
}

/// Whether an ARN is in this account, region and partition: where the command acts.
impl Env {
    /// Whether `arn` has this partition, region and account (a global ARN, with no region, does not).
    pub fn contains(&self, arn: &crate::Arn<'_>) -> bool {
        arn.partition == self.partition() && arn.region == self.region.as_str() && arn.account == self.account.as_str()
    }
}

/// The IAM tag that says a region's copy of the app uses a (global) role: one per region,
/// `rollgate:region:<region>` = `in-use`. `down` in one region removes only its own tag, and
/// deletes the role only when no other region's tag is left (docs/architecture.md).
pub fn region_tag(region: &str) -> String {
    format!("{}{region}", keys::REGION_PREFIX)
}

/// The value of a [`region_tag`].
pub const REGION_IN_USE: &str = "in-use";

/// The trust policy of a role that `service` (e.g. `ecs-tasks.amazonaws.com`) assumes.
pub fn trust_policy(service: &str) -> serde_json::Value {
    serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})
}

/// Whether a kind lives in IAM, which is global: the same resource serves every region.
pub fn is_global(kind: Kind) -> bool {
    matches!(kind, Kind::ExecutionRole | Kind::TaskRole | Kind::BuildRole)
}

/// The config's ARNs checked against where the command acts (known only once STS answered):
/// a target group must be in this account and region, and a task-role policy must be AWS's
/// or this account's, since IAM attaches no other account's managed policy.
///
/// Errors: a [`ConfigError`] naming the field, the ARN's account and region, and the target.
pub fn check_against(config: &AppConfig, env: &Env) -> Result<(), ConfigError> {
    if let Some(tg) = &config.service.target_group_arn
        && let Ok(arn) = crate::Arn::parse(tg)
        && !env.contains(&arn)
    {
        return Err(ConfigError {
            field: "service.target_group_arn".into(),
            message: format!(
                "the target group is in account {}, region {}, but this command acts in account {}, region {}: ECS attaches only a target group of the service's own account and region",
                arn.account, arn.region, env.account, env.region
            ),
        });
    }
    for policy in &config.task.role_policy_arns {
        if let Ok(arn) = crate::Arn::parse(policy)
            && arn.account != "aws"
            && arn.account != env.account.as_str()
        {
            return Err(ConfigError {
                field: "task.role_policy_arns".into(),
                message: format!(
                    "{policy} belongs to account {}: IAM attaches only AWS managed policies or this account's ({})",
                    arn.account, env.account
                ),
            });
        }
    }
    Ok(())
}

/// Every resource the config wants, in dependency order.
pub fn desired(config: &AppConfig, env: &Env) -> Vec<Resource> {
    let app = config.app.name.as_str();
    let owned =
        |pairs: &[(&str, &str)]| -> TagMap { pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect() };
    let tags = owned(&[(MANAGED_TAG, "true"), (APP_TAG, app)]);
    let region_key = region_tag(env.region.as_str());
    let role_tags = owned(&[(MANAGED_TAG, "true"), (APP_TAG, app), (region_key.as_str(), REGION_IN_USE)]);
    let repo = config.repository_name();
    let log_group = config.log_group();
    let role = |kind, name: String, service: &str, mut managed: Vec<String>, inline: Option<serde_json::Value>| {
        managed.sort();
        managed.dedup();
        Resource::new(
            kind,
            name,
            Spec::Role(RoleSpec {
                trust_policy: trust_policy(service),
                managed_policies: managed,
                inline_policy: inline,
                tags: role_tags.clone(),
            }),
        )
    };

    // Safe for what rollgate deploys: tags are immutable (config refuses the rule with mutable
    // ones), untagged pushes do not deploy on the service `up` manages, and ECR never expires
    // an image an index lists ("If an image is referenced by a manifest list, it cannot be
    // expired", ECR lifecycle policies).
    let lifecycle = match config.repository.untagged_expiry_days {
        0 => None,
        days => Some(serde_json::json!({"rules": [{
            "rulePriority": 1,
            "description": "expire untagged images; deployed images keep their (immutable) tags",
            "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
                          "countNumber": days},
            "action": {"type": "expire"}
        }]})),
    };
    let repo_arn = format!("arn:{}:ecr:{}:{}:repository/{repo}", env.partition(), env.region, env.account);
    let logs_arn = format!("arn:{}:logs:{}:{}:log-group:{log_group}", env.partition(), env.region, env.account);
    let mut build_statements = vec![
        serde_json::json!({"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"}),
        serde_json::json!({"Effect": "Allow", "Resource": repo_arn, "Action": [
            "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload",
            "ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart"]}),
        serde_json::json!({"Effect": "Allow", "Resource": [logs_arn.clone(), format!("{logs_arn}:*")],
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"]}),
    ];
    if let Some(bucket) = &config.build.model_bucket {
        build_statements.push(serde_json::json!({"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": [format!("arn:{}:s3:::{bucket}", env.partition()), format!("arn:{}:s3:::{bucket}/*", env.partition())]}));
    }
    let build_policy = serde_json::json!({"Version": "2012-10-17", "Statement": build_statements});

    let t = &config.task;
    let image_uri = env.repository_uri(&repo);
    let task_definition = Resource::new(
        Kind::TaskDefinition,
        config.family(),
        Spec::TaskDefinition(TaskDefinitionSpec {
            cpu: t.cpu,
            memory: t.memory,
            container: t.container.clone(),
            port: t.port,
            health_check: t.health_check.clone(),
            health_check_start_period: t.health_check_start_period,
            cpu_architecture: t.cpu_architecture.clone(),
            environment: t.environment.clone(),
            log_group: log_group.clone(),
            execution_role: env.role_arn(&config.execution_role()),
            task_role: env.role_arn(&config.task_role()),
            tags: tags.clone(),
            initial_image: t.initial_image.clone().unwrap_or_else(|| format!("{image_uri}:bootstrap")),
        }),
    );

    let s = &config.service;
    let mut service_tags = tags.clone();
    service_tags.insert(keys::REPOSITORY.into(), repo.clone());
    service_tags.insert(keys::CONTAINER.into(), t.container.clone());
    // Validated when the configuration was read (`AppConfig::parse`), so encoding succeeds.
    service_tags.extend(config.gate.tags().unwrap_or_default());
    let sorted = |items: &[String]| {
        let mut v = items.to_vec();
        v.sort();
        v.dedup();
        v
    };
    let service = Resource::new(
        Kind::Service,
        config.service_name(),
        Spec::Service(ServiceSpec {
            cluster: config.cluster_name(),
            task_family: config.family(),
            desired_count: s.desired_count,
            // ECS accepts a grace period only for services behind a load balancer.
            health_check_grace_period: s.target_group_arn.as_ref().map(|_| s.health_check_grace_period),
            subnets: sorted(&s.subnets),
            security_groups: sorted(&s.security_groups),
            assign_public_ip: s.assign_public_ip,
            load_balancer: s.target_group_arn.as_ref().map(|tg| LoadBalancerSpec {
                target_group_arn: tg.clone(),
                container_name: t.container.clone(),
                container_port: t.port,
            }),
            tags: service_tags,
        }),
    );

    let execution_policy = format!("arn:{}:iam::aws:policy/service-role/{EXECUTION_POLICY_NAME}", env.partition());
    vec![
        Resource::new(
            Kind::Repository,
            repo.clone(),
            Spec::Repository(RepositorySpec {
                scan_on_push: config.repository.scan_on_push,
                tag_mutability: config.repository.tag_mutability.clone(),
                lifecycle_policy: lifecycle,
                tags: tags.clone(),
            }),
        ),
        Resource::new(
            Kind::LogGroup,
            log_group.clone(),
            Spec::LogGroup(LogGroupSpec { retention_days: config.logs.retention_days, tags: tags.clone() }),
        ),
        role(Kind::ExecutionRole, config.execution_role(), "ecs-tasks.amazonaws.com", vec![execution_policy], None),
        role(Kind::TaskRole, config.task_role(), "ecs-tasks.amazonaws.com", t.role_policy_arns.clone(), None),
        role(Kind::BuildRole, config.build_role(), "codebuild.amazonaws.com", vec![], Some(build_policy)),
        Resource::new(
            Kind::BuildProject,
            config.build_project(),
            Spec::BuildProject(BuildProjectSpec {
                image: config.build.image.clone(),
                compute_type: config.build.compute_type.clone(),
                privileged: true,
                service_role: env.role_arn(&config.build_role()),
                buildspec: crate::buildspec::BUILDSPEC.to_owned(),
                environment: [
                    ("REPOSITORY_URI", image_uri.as_str()),
                    ("BASE_IMAGE", config.build.base_image.as_deref().unwrap_or("")),
                    ("MODEL_DIR", "/opt/ml/model"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
                log_group,
                tags: tags.clone(),
            }),
        ),
        Resource::new(
            Kind::Cluster,
            config.cluster_name(),
            Spec::Cluster(ClusterSpec { container_insights: config.cluster.container_insights, tags }),
        ),
        task_definition,
        service,
    ]
}
