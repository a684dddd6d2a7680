//! rollgate.toml: one file, validated field by field before any AWS call.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::duration::Seconds;
use crate::filter::TagFilter;
use crate::keys;
use crate::tags;

/// A configuration problem, naming the field and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    /// The field's path, e.g. `task.memory`, `gate.bake` or a section name such as `app`.
    pub field: String,
    /// What is wrong and what to do; from [`AppConfig::parse_file`], with `(<file> line N)`.
    pub message: String,
}

fn err(field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError { field: field.to_owned(), message: message.into() }
}

/// rollgate.toml, parsed: unknown sections and fields are errors. Read it with
/// [`AppConfig::parse`] or [`AppConfig::parse_file`], which validate every field.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// `[app]` (required).
    pub app: AppSection,
    /// `[repository]`: the app's ECR repository.
    #[serde(default)]
    pub repository: RepositorySection,
    /// `[cluster]`: the ECS cluster.
    #[serde(default)]
    pub cluster: ClusterSection,
    /// `[logs]`: the CloudWatch Logs group.
    #[serde(default)]
    pub logs: LogsSection,
    /// `[task]` (required): the Fargate task definition.
    pub task: TaskSection,
    /// `[service]` (required): the ECS service.
    pub service: ServiceSection,
    /// `[gate]`: the health gate's settings, written as service tags.
    #[serde(default)]
    pub gate: GateSection,
    /// `[build]`: the CodeBuild project that bakes models into images.
    #[serde(default)]
    pub build: BuildSection,
}

/// `[app]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSection {
    /// Names every resource (`<name>-execution`, `/rollgate/<name>`...) and tags them.
    pub name: String,
}

/// `[repository]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RepositorySection {
    /// Defaults to the app name.
    pub name: Option<String>,
    /// Whether ECR scans each pushed image (`scanOnPush`; default `true`).
    pub scan_on_push: bool,
    /// `IMMUTABLE` (default) or `MUTABLE`.
    pub tag_mutability: String,
    /// Untagged images older than this many days expire (a lifecycle rule); `0`: no rule.
    /// With MUTABLE tags it must be `0`: pushing a tag again leaves the image it named
    /// untagged, and the rule would delete it while it is live or the rollback target.
    pub untagged_expiry_days: u32,
}

impl Default for RepositorySection {
    fn default() -> Self {
        Self { name: None, scan_on_push: true, tag_mutability: "IMMUTABLE".into(), untagged_expiry_days: 14 }
    }
}

/// `[cluster]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSection {
    /// The cluster's name, 1-255 letters, digits, `-` and `_`; defaults to the app name.
    pub name: Option<String>,
    /// Whether the cluster's `containerInsights` setting is `enabled` (default `true`).
    pub container_insights: bool,
}

impl Default for ClusterSection {
    fn default() -> Self {
        Self { name: None, container_insights: true }
    }
}

/// `[logs]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsSection {
    /// Days CloudWatch Logs keeps events (default 30): one of the values PutRetentionPolicy
    /// accepts, <https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html>.
    pub retention_days: u32,
}

impl Default for LogsSection {
    fn default() -> Self {
        Self { retention_days: 30 }
    }
}

/// `[task]`: one Fargate task definition, one container.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSection {
    /// Fargate task CPU units: 256, 512, 1024, 2048, 4096, 8192 or 16384.
    pub cpu: u32,
    /// MiB; must be a valid Fargate pair with `cpu`.
    pub memory: u32,
    /// The container's name, letters, digits, `-` and `_` (default `model`).
    #[serde(default = "default_container")]
    pub container: String,
    /// The container port, 1-65535 (default 8080).
    #[serde(default = "default_port")]
    pub port: u16,
    /// The image of the first revision, before the first push. Defaults to `<repository>:bootstrap`.
    #[serde(default)]
    pub initial_image: Option<String>,
    /// The container health check, a shell command (`CMD-SHELL`) that exits 0 when ready
    /// (default `curl -fsS http://localhost:8080/health || exit 1`).
    #[serde(default = "default_health_command")]
    pub health_check: String,
    /// Seconds a model may take to load before failed health checks count (ECS allows 0-300).
    #[serde(default = "default_start_period")]
    pub health_check_start_period: u32,
    /// `X86_64` or `ARM64`.
    #[serde(default = "default_arch")]
    pub cpu_architecture: String,
    /// Environment variables of the container, name to value; names are letters, digits and `_`,
    /// not starting with a digit.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// IAM managed policy ARNs attached to the task role: what the model's code may call
    /// (e.g. read its model from S3). `up` attaches exactly these.
    #[serde(default)]
    pub role_policy_arns: Vec<String>,
}

fn default_container() -> String {
    "model".into()
}
fn default_port() -> u16 {
    8080
}
fn default_health_command() -> String {
    "curl -fsS http://localhost:8080/health || exit 1".into()
}
fn default_start_period() -> u32 {
    300
}
fn default_arch() -> String {
    "X86_64".into()
}

/// `[service]`: a Fargate service in `awsvpc` mode.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSection {
    /// The service's name, 1-255 letters, digits, `-` and `_`; defaults to the app name.
    pub name: Option<String>,
    /// Tasks to run (default 2).
    #[serde(default = "default_desired")]
    pub desired_count: u32,
    /// Subnet ids, `subnet-` and 8 or 17 hex digits; at least one.
    #[serde(default)]
    pub subnets: Vec<String>,
    /// Security group ids, `sg-` and 8 or 17 hex digits; at least one.
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Whether tasks get a public IP (`assignPublicIp` ENABLED; default `false`).
    #[serde(default)]
    pub assign_public_ip: bool,
    /// Seconds ECS ignores load-balancer health checks after a task starts.
    #[serde(default = "default_grace")]
    pub health_check_grace_period: u32,
    /// A load balancer target group the container's port is registered with:
    /// `arn:<partition>:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<16 hex>`.
    #[serde(default)]
    pub target_group_arn: Option<String>,
}

fn default_desired() -> u32 {
    2
}
fn default_grace() -> u32 {
    600
}

/// Health-gate settings, written as the service's `rollgate:*` tags.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct GateSection {
    /// `rollgate:tag-filter`: a glob, `semver:<req>` or `regex:<pattern>` (default `*`).
    pub tag_filter: Option<String>,
    /// `rollgate:deadline`: a duration such as `15m`, not zero (default 15m).
    pub deadline: Option<String>,
    /// `rollgate:bake`: a duration such as `5m` (default 5m).
    pub bake: Option<String>,
    /// `rollgate:max-bad-tasks`: 0-20 (default 2).
    pub max_bad_tasks: Option<u32>,
    /// `rollgate:alarms`: CloudWatch alarm names, none with whitespace.
    #[serde(default)]
    pub alarms: Vec<String>,
    /// `rollgate:alarm-prefix`: alarms whose name starts with it are watched; not empty.
    pub alarm_prefix: Option<String>,
    /// `rollgate:smoke-url`: an `http://` or `https://` URL with a host and no credentials.
    pub smoke_url: Option<String>,
    /// `rollgate:smoke-body`: sent with POST; needs `smoke_url`.
    pub smoke_body: Option<String>,
    /// `rollgate:smoke-status`: the expected HTTP status, 100-599; needs `smoke_url`.
    pub smoke_status: Option<u16>,
    /// `rollgate:smoke-match`: text the response must contain; needs `smoke_url`.
    pub smoke_match: Option<String>,
}

impl GateSection {
    /// The settings as (service tag key, value) pairs, values as the gate reads them (not yet
    /// encoded), in a stable order. Absent settings are left out.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let g = self;
        let all: [(&'static str, Option<String>); 10] = [
            (keys::TAG_FILTER, g.tag_filter.clone()),
            (keys::DEADLINE, g.deadline.clone()),
            (keys::BAKE, g.bake.clone()),
            (keys::MAX_BAD_TASKS, g.max_bad_tasks.map(|n| n.to_string())),
            (keys::ALARMS, (!g.alarms.is_empty()).then(|| g.alarms.join(" "))),
            (keys::ALARM_PREFIX, g.alarm_prefix.clone()),
            (keys::SMOKE_URL, g.smoke_url.clone()),
            (keys::SMOKE_BODY, g.smoke_body.clone()),
            (keys::SMOKE_STATUS, g.smoke_status.map(|n| n.to_string())),
            (keys::SMOKE_MATCH, g.smoke_match.clone()),
        ];
        all.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect()
    }

    /// The settings as service tags, each value through the tag codec ([`tags::encode`]:
    /// `base64:` when AWS's tag alphabet does not allow it). Validated first.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the `gate.<field>` that is invalid or too long for a tag.
    pub fn tags(&self) -> Result<Vec<(String, String)>, ConfigError> {
        self.validate()?;
        self.settings()
            .into_iter()
            .map(|(key, value)| {
                let field = format!("gate.{}", key.trim_start_matches(keys::PREFIX).replace('-', "_"));
                tags::encode(key, &value).map(|v| (key.to_owned(), v)).map_err(|e| err(&field, e.to_string()))
            })
            .collect()
    }

    /// Checks every setting as the health gate will read it.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the `gate.<field>`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let g = self;
        if let Some(f) = &g.tag_filter {
            TagFilter::parse(f).map_err(|e| err("gate.tag_filter", e.why))?;
        }
        for (field, value) in [("gate.deadline", &g.deadline), ("gate.bake", &g.bake)] {
            if let Some(v) = value {
                let d = Seconds::parse("duration", v).map_err(|e| err(field, e.why))?;
                if field == "gate.deadline" && d.0 == 0 {
                    return Err(err(field, "0s would fail every rollout at once: give the rollout time, e.g. 15m"));
                }
            }
        }
        if let Some(bad) = g.alarms.iter().find(|a| a.is_empty() || a.chars().any(char::is_whitespace)) {
            // rollgate:alarms holds the names separated by spaces: a name with a space would be
            // read back as two alarms.
            return Err(err(
                "gate.alarms",
                format!(
                    "{bad:?}: alarm names with spaces cannot be watched by name yet; use alarm_prefix, or rename the alarm"
                ),
            ));
        }
        if g.max_bad_tasks.is_some_and(|n| n > 20) {
            return Err(err("gate.max_bad_tasks", "0 to 20"));
        }
        if let Some(url) = &g.smoke_url
            && !is_http_url(url)
        {
            return Err(err("gate.smoke_url", format!("{url:?} is not an http:// or https:// URL with a host")));
        }
        // The URL is stored in a tag and shown in verdicts, reasons and logs: no secrets in it.
        if let Some(url) = g.smoke_url.as_deref().and_then(|u| url::Url::parse(u).ok())
            && (!url.username().is_empty() || url.password().is_some())
        {
            return Err(err(
                "gate.smoke_url",
                "has credentials (user:password@): the URL is stored in a tag and shown in verdicts and logs. Use an endpoint that needs none, reachable only from inside the VPC",
            ));
        }
        if g.alarm_prefix.as_deref() == Some("") {
            return Err(err("gate.alarm_prefix", "empty: it would watch every alarm; remove it, or name a prefix"));
        }
        if let Some(status) = g.smoke_status
            && !(100..=599).contains(&status)
        {
            return Err(err("gate.smoke_status", format!("{status} is not an HTTP status (100-599)")));
        }
        Ok(())
    }
}

/// `[build]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BuildSection {
    /// The serving image the model is baked into (FROM of the generated Dockerfile).
    pub base_image: Option<String>,
    /// The CodeBuild compute type, one that runs Docker: `BUILD_GENERAL1_SMALL` to
    /// `BUILD_GENERAL1_2XLARGE` (default `BUILD_GENERAL1_MEDIUM`).
    pub compute_type: String,
    /// The CodeBuild build image (default `aws/codebuild/standard:7.0`).
    pub image: String,
    /// S3 bucket model artifacts are uploaded to (the build role may read it).
    pub model_bucket: Option<String>,
    /// The key prefix of model artifacts in `model_bucket` (default `models/`): the stack's
    /// `ModelPrefix` parameter, `model-build`'s `ROLLGATE_MODEL_PREFIX`. Not validated.
    pub model_prefix: String,
}

impl Default for BuildSection {
    fn default() -> Self {
        Self {
            base_image: None,
            compute_type: "BUILD_GENERAL1_MEDIUM".into(),
            image: "aws/codebuild/standard:7.0".into(),
            model_bucket: None,
            model_prefix: "models/".into(),
        }
    }
}

mod errors;
mod validate;

use errors::{header_line, placeholders, toml_error};
pub use validate::is_http_url;

impl AppConfig {
    /// Parses and validates the text of a file named rollgate.toml ([`Self::parse_file`]).
    ///
    /// Errors: the first [`ConfigError`], as [`Self::parse_file`] gives it.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        Self::parse_file(text, "rollgate.toml")
    }

    /// Parses and validates `text`, read from `file` (named in every error, with a line).
    ///
    /// Errors: a [`ConfigError`] whose `field` is the path (`task.cpu`, a section name) and
    /// whose message says what is wrong, where (`<file> line N`) and what to do.
    pub fn parse_file(text: &str, file: &str) -> Result<Self, ConfigError> {
        let de = toml::Deserializer::parse(text).map_err(|e| toml_error(text, file, "", &e))?;
        let config: Self = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            toml_error(text, file, &path, e.inner())
        })?;
        if let Ok(value) = text.parse::<toml::Table>() {
            // The first placeholder in the file's order (the table is sorted by key).
            let mut found = Vec::new();
            placeholders(&toml::Value::Table(value), "", &mut found);
            let located = found.into_iter().map(|(field, v)| (header_line(text, &field), field, v));
            if let Some((line, field, v)) = located.min_by_key(|(line, ..)| line.unwrap_or(usize::MAX)) {
                let at = line.map_or_else(|| format!(" ({file})"), |l| format!(" ({file} line {l})"));
                return Err(err(
                    &field,
                    format!("{v:?} is a placeholder from the documentation{at}: put your own value"),
                ));
            }
        }
        config.validate().map_err(|e| {
            let line = header_line(text, &e.field)
                .or_else(|| e.field.rsplit_once('.').and_then(|(section, _)| header_line(text, section)));
            let at = line.map_or_else(|| format!(" ({file})"), |l| format!(" ({file} line {l})"));
            ConfigError { message: format!("{}{at}", e.message), ..e }
        })?;
        Ok(config)
    }

    /// `[repository] name`, else the app name.
    pub fn repository_name(&self) -> String {
        self.repository.name.clone().unwrap_or_else(|| self.app.name.clone())
    }
    /// `[cluster] name`, else the app name.
    pub fn cluster_name(&self) -> String {
        self.cluster.name.clone().unwrap_or_else(|| self.app.name.clone())
    }
    /// `[service] name`, else the app name.
    pub fn service_name(&self) -> String {
        self.service.name.clone().unwrap_or_else(|| self.app.name.clone())
    }
    /// The task-definition family: the app name.
    pub fn family(&self) -> String {
        self.app.name.clone()
    }
    /// The log group: `/rollgate/<app>`.
    pub fn log_group(&self) -> String {
        format!("/rollgate/{}", self.app.name)
    }
    /// The execution role's name: `<app>-execution`.
    pub fn execution_role(&self) -> String {
        format!("{}-execution", self.app.name)
    }
    /// The task role's name: `<app>-task`.
    pub fn task_role(&self) -> String {
        format!("{}-task", self.app.name)
    }
    /// The CodeBuild role's name: `<app>-codebuild`.
    pub fn build_role(&self) -> String {
        format!("{}-codebuild", self.app.name)
    }
    /// The CodeBuild project's name: `<app>-image-build`.
    pub fn build_project(&self) -> String {
        format!("{}-image-build", self.app.name)
    }
}

#[cfg(test)]
mod tests;
