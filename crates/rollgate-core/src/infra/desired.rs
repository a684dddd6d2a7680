//! The resources `rollgate up` manages, each described by canonical string attributes, so
//! what AWS has and what the config wants compare with `==` and diff field by field.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::config::AppConfig;
use crate::ledger::keys;
use crate::{AccountId, Region};

/// Attribute name to canonical value.
pub type Attrs = BTreeMap<String, String>;

/// Tags on every resource rollgate creates; `down` deletes only what carries them.
pub const MANAGED_TAG: &str = keys::MANAGED;
pub const APP_TAG: &str = keys::APP;

/// The kinds, in dependency order (creation order; `down` goes backwards).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Repository,
    LogGroup,
    ExecutionRole,
    TaskRole,
    BuildRole,
    BuildProject,
    Cluster,
    TaskDefinition,
    Service,
}

impl Kind {
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

/// One resource as the config wants it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resource {
    pub kind: Kind,
    pub name: String,
    /// Compared with AWS on every `up`.
    pub attrs: Attrs,
    /// Used only when creating (e.g. the first image, which rollgate's deploys own afterwards).
    pub create_only: Attrs,
}

/// Where the resources live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    pub account: AccountId,
    pub region: Region,
}

impl Env {
    pub fn partition(&self) -> &'static str {
        match self.region.partition() {
            crate::Partition::China => "aws-cn",
            crate::Partition::GovCloud => "aws-us-gov",
            crate::Partition::Aws => "aws",
        }
    }

    pub fn role_arn(&self, name: &str) -> String {
        format!("arn:{}:iam::{}:role/{name}", self.partition(), self.account)
    }

    pub fn repository_uri(&self, repo: &str) -> String {
        format!("{}/{repo}", crate::image::registry_host(&self.account, &self.region))
    }
}

pub const EXECUTION_POLICY: &str = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy";

/// Canonical tag list: `k=v` pairs sorted by key, joined by `, `.
pub fn tags_attr<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let sorted: BTreeMap<&str, &str> = tags.into_iter().collect();
    sorted.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
}

/// Reads a canonical tag list back.
pub fn parse_tags_attr(s: &str) -> BTreeMap<String, String> {
    s.split(", ")
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
}

/// JSON, canonical: keys sorted, no whitespace.
pub fn canonical_json(v: &serde_json::Value) -> String {
    // serde_json's default map is a BTreeMap, so a round trip sorts keys.
    serde_json::to_string(v).unwrap_or_default()
}

/// The `rollgate:*` service tags that `up` owns (opt-in and gate settings). Tags the gate
/// writes (`rollgate:last-good`, `rollgate:failed:*`) are never touched by `up`.
pub const SERVICE_SETTING_KEYS: &[&str] = &[
    keys::REPOSITORY,
    keys::CONTAINER,
    keys::TAG_FILTER,
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

/// Every resource the config wants, in dependency order.
pub fn desired(config: &AppConfig, env: &Env) -> Vec<Resource> {
    let app = config.app.name.as_str();
    let managed = [(MANAGED_TAG, "true"), (APP_TAG, app)];
    let tags = tags_attr(managed);
    let repo = config.repository_name();
    let log_group = config.log_group();
    let resource = |kind, name: String, attrs: Vec<(&str, String)>| Resource {
        kind,
        name,
        attrs: attrs.into_iter().map(|(k, v)| (k.to_owned(), v)).chain([("tags".to_owned(), tags.clone())]).collect(),
        create_only: Attrs::new(),
    };
    let role = |kind, name: String, service: &str, managed: &str, inline: String| {
        resource(
            kind,
            name,
            vec![
                ("trusted_service", service.to_owned()),
                ("managed_policies", managed.to_owned()),
                ("inline_policy", inline),
            ],
        )
    };

    let lifecycle = serde_json::json!({"rules": [{
        "rulePriority": 1,
        "description": "expire untagged images; deployed images keep their (immutable) tags",
        "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
                      "countNumber": config.repository.untagged_expiry_days},
        "action": {"type": "expire"}
    }]});
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
    let environment = tags_attr(t.environment.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let mut task_definition = resource(
        Kind::TaskDefinition,
        config.family(),
        vec![
            ("cpu", t.cpu.to_string()),
            ("memory", t.memory.to_string()),
            ("container", t.container.clone()),
            ("port", t.port.to_string()),
            ("health_check", t.health_check.clone()),
            ("health_check_start_period", t.health_check_start_period.to_string()),
            ("cpu_architecture", t.cpu_architecture.clone()),
            ("environment", environment),
            ("log_group", log_group.clone()),
            ("execution_role", env.role_arn(&config.execution_role())),
            ("task_role", env.role_arn(&config.task_role())),
        ],
    );
    task_definition
        .create_only
        .insert("image".into(), t.initial_image.clone().unwrap_or_else(|| format!("{image_uri}:bootstrap")));

    let s = &config.service;
    let g = &config.gate;
    let mut service_tags: Vec<(&str, String)> = vec![
        (MANAGED_TAG, "true".into()),
        (APP_TAG, app.into()),
        (keys::REPOSITORY, repo.clone()),
        (keys::CONTAINER, t.container.clone()),
    ];
    let settings: [(&str, Option<String>); 10] = [
        (keys::TAG_FILTER, g.tag_filter.clone()),
        (keys::DEADLINE, g.deadline.clone()),
        (keys::BAKE, g.bake.clone()),
        (keys::MAX_BAD_TASKS, g.max_bad_tasks.map(|n| n.to_string())),
        (keys::ALARMS, (!g.alarms.is_empty()).then(|| g.alarms.join(" "))),
        (keys::ALARM_PREFIX, g.alarm_prefix.clone()),
        (keys::SMOKE_URL, g.smoke_url.as_deref().map(tag_safe)),
        (keys::SMOKE_BODY, g.smoke_body.as_deref().map(tag_safe)),
        (keys::SMOKE_STATUS, g.smoke_status.map(|n| n.to_string())),
        (keys::SMOKE_MATCH, g.smoke_match.as_deref().map(tag_safe)),
    ];
    service_tags.extend(settings.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
    let service = Resource {
        kind: Kind::Service,
        name: config.service_name(),
        attrs: [
            ("cluster", config.cluster_name()),
            ("task_family", config.family()),
            ("desired_count", s.desired_count.to_string()),
            ("circuit_breaker", "enable, rollback".to_owned()),
            // ECS accepts a grace period only for services behind a load balancer.
            (
                "health_check_grace_period",
                if s.target_group_arn.is_some() { s.health_check_grace_period.to_string() } else { String::new() },
            ),
            ("subnets", sorted_list(&s.subnets)),
            ("security_groups", sorted_list(&s.security_groups)),
            ("assign_public_ip", if s.assign_public_ip { "ENABLED" } else { "DISABLED" }.to_owned()),
            ("target_group", s.target_group_arn.clone().unwrap_or_default()),
            ("tags", tags_attr(service_tags.iter().map(|(k, v)| (*k, v.as_str())))),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
        create_only: Attrs::new(),
    };

    vec![
        resource(
            Kind::Repository,
            repo.clone(),
            vec![
                ("scan_on_push", config.repository.scan_on_push.to_string()),
                ("tag_mutability", config.repository.tag_mutability.clone()),
                ("lifecycle_policy", canonical_json(&lifecycle)),
            ],
        ),
        resource(Kind::LogGroup, log_group.clone(), vec![("retention_days", config.logs.retention_days.to_string())]),
        role(Kind::ExecutionRole, config.execution_role(), "ecs-tasks.amazonaws.com", EXECUTION_POLICY, String::new()),
        role(Kind::TaskRole, config.task_role(), "ecs-tasks.amazonaws.com", "", String::new()),
        role(Kind::BuildRole, config.build_role(), "codebuild.amazonaws.com", "", canonical_json(&build_policy)),
        resource(
            Kind::BuildProject,
            config.build_project(),
            vec![
                ("image", config.build.image.clone()),
                ("compute_type", config.build.compute_type.clone()),
                ("privileged", "true".to_owned()),
                ("service_role", env.role_arn(&config.build_role())),
                ("buildspec", crate::buildspec::BUILDSPEC.to_owned()),
                (
                    "environment",
                    tags_attr([
                        ("REPOSITORY_URI", image_uri.as_str()),
                        ("BASE_IMAGE", config.build.base_image.as_deref().unwrap_or("")),
                        ("MODEL_DIR", "/opt/ml/model"),
                    ]),
                ),
                ("log_group", log_group),
            ],
        ),
        resource(
            Kind::Cluster,
            config.cluster_name(),
            vec![(
                "container_insights",
                if config.cluster.container_insights { "enabled" } else { "disabled" }.to_owned(),
            )],
        ),
        task_definition,
        service,
    ]
}

fn sorted_list(items: &[String]) -> String {
    let mut v = items.to_vec();
    v.sort();
    v.join(", ")
}

/// A tag value as written: plain when the tag alphabet allows it, `base64:` otherwise.
pub fn tag_safe(v: &str) -> String {
    if v.chars().all(|c| c.is_alphanumeric() || " _.:/=+-@".contains(c)) {
        v.to_owned()
    } else {
        format!("base64:{}", crate::base64::encode(v.as_bytes()))
    }
}
