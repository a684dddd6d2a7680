//! rollgate.toml: one file, validated field by field before any AWS call.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::duration::Seconds;
use crate::filter::TagFilter;
use crate::{ImageTag, RepositoryName};

/// A configuration problem, naming the field and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

fn err(field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError { field: field.to_owned(), message: message.into() }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    pub app: AppSection,
    #[serde(default)]
    pub repository: RepositorySection,
    #[serde(default)]
    pub cluster: ClusterSection,
    #[serde(default)]
    pub logs: LogsSection,
    pub task: TaskSection,
    pub service: ServiceSection,
    #[serde(default)]
    pub gate: GateSection,
    #[serde(default)]
    pub build: BuildSection,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSection {
    /// Names every resource (`<name>-execution`, `/rollgate/<name>`...) and tags them.
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RepositorySection {
    /// Defaults to the app name.
    pub name: Option<String>,
    pub scan_on_push: bool,
    /// `IMMUTABLE` (default) or `MUTABLE`.
    pub tag_mutability: String,
    /// Untagged images older than this many days expire.
    pub untagged_expiry_days: u32,
}

impl Default for RepositorySection {
    fn default() -> Self {
        Self { name: None, scan_on_push: true, tag_mutability: "IMMUTABLE".into(), untagged_expiry_days: 14 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSection {
    pub name: Option<String>,
    pub container_insights: bool,
}

impl Default for ClusterSection {
    fn default() -> Self {
        Self { name: None, container_insights: true }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsSection {
    pub retention_days: u32,
}

impl Default for LogsSection {
    fn default() -> Self {
        Self { retention_days: 30 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSection {
    /// Fargate task CPU units: 256, 512, 1024, 2048, 4096, 8192 or 16384.
    pub cpu: u32,
    /// MiB; must be a valid Fargate pair with `cpu`.
    pub memory: u32,
    #[serde(default = "default_container")]
    pub container: String,
    #[serde(default = "default_port")]
    pub port: u16,
    /// The image of the first revision, before the first push. Defaults to `<repository>:bootstrap`.
    #[serde(default)]
    pub initial_image: Option<String>,
    #[serde(default = "default_health_command")]
    pub health_check: String,
    /// Seconds a model may take to load before failed health checks count (ECS allows 0-300).
    #[serde(default = "default_start_period")]
    pub health_check_start_period: u32,
    /// `X86_64` or `ARM64`.
    #[serde(default = "default_arch")]
    pub cpu_architecture: String,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
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

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSection {
    pub name: Option<String>,
    #[serde(default = "default_desired")]
    pub desired_count: u32,
    #[serde(default)]
    pub subnets: Vec<String>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    #[serde(default)]
    pub assign_public_ip: bool,
    /// Seconds ECS ignores load-balancer health checks after a task starts.
    #[serde(default = "default_grace")]
    pub health_check_grace_period: u32,
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
    pub tag_filter: Option<String>,
    pub deadline: Option<String>,
    pub bake: Option<String>,
    pub max_bad_tasks: Option<u32>,
    #[serde(default)]
    pub alarms: Vec<String>,
    pub alarm_prefix: Option<String>,
    pub smoke_url: Option<String>,
    pub smoke_body: Option<String>,
    pub smoke_status: Option<u16>,
    pub smoke_match: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BuildSection {
    /// The serving image the model is baked into (FROM of the generated Dockerfile).
    pub base_image: Option<String>,
    pub compute_type: String,
    pub image: String,
    /// S3 bucket model artifacts are uploaded to (the build role may read it).
    pub model_bucket: Option<String>,
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

/// Names the field of a TOML error: `<section>.<key>` where the parser stopped, and the line.
fn toml_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let message = e.message().trim().to_owned();
    let Some(span) = e.span() else {
        return err("rollgate.toml", message);
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.lines().count().max(1);
    let section =
        before.lines().rev().find_map(|l| l.trim().strip_prefix('[').and_then(|l| l.strip_suffix(']'))).map(str::trim);
    let key = message.split('`').nth(1).filter(|_| message.starts_with("unknown field"));
    let field = match (section, key) {
        (Some(s), Some(k)) => format!("{s}.{k}"),
        (None, Some(k)) => k.to_owned(),
        (Some(s), None) => s.to_owned(),
        (None, None) => "rollgate.toml".to_owned(),
    };
    err(&field, format!("{message} (rollgate.toml line {line})"))
}

/// Valid Fargate (cpu, memory) combinations, memory as (min, max, step) MiB.
const FARGATE: &[(u32, u32, u32, u32)] = &[
    (256, 512, 2048, 512),
    (512, 1024, 4096, 1024),
    (1024, 2048, 8192, 1024),
    (2048, 4096, 16384, 1024),
    (4096, 8192, 30720, 1024),
    (8192, 16384, 61440, 4096),
    (16384, 32768, 122880, 8192),
];

impl AppConfig {
    /// Parses and validates the file's text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let name = &self.app.name;
        let name_ok = (2..=32).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        if !name_ok {
            return Err(err("app.name", "2-32 lowercase letters, digits and '-' (it prefixes every resource name)"));
        }
        RepositoryName::parse(&self.repository_name()).map_err(|e| err("repository.name", e.why))?;
        if !matches!(self.repository.tag_mutability.as_str(), "IMMUTABLE" | "MUTABLE") {
            return Err(err("repository.tag_mutability", "IMMUTABLE or MUTABLE"));
        }
        if self.repository.untagged_expiry_days == 0 {
            return Err(err("repository.untagged_expiry_days", "at least 1 day"));
        }
        const RETENTION: &[u32] =
            &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];
        if !RETENTION.contains(&self.logs.retention_days) {
            return Err(err("logs.retention_days", format!("one of CloudWatch Logs' values: {RETENTION:?}")));
        }
        let t = &self.task;
        match FARGATE.iter().find(|(cpu, ..)| *cpu == t.cpu) {
            None => return Err(err("task.cpu", "a Fargate size: 256, 512, 1024, 2048, 4096, 8192 or 16384")),
            Some(&(cpu, min, max, step)) => {
                if t.memory < min || t.memory > max || !(t.memory - min).is_multiple_of(step) {
                    return Err(err(
                        "task.memory",
                        format!(
                            "{} MiB is not valid with cpu {cpu} on Fargate: use {min} to {max} in steps of {step}",
                            t.memory
                        ),
                    ));
                }
            }
        }
        if t.container.is_empty() || !t.container.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(err("task.container", "letters, digits, '-' and '_'"));
        }
        if t.port == 0 {
            return Err(err("task.port", "a port from 1 to 65535"));
        }
        if t.health_check_start_period > 300 {
            return Err(err("task.health_check_start_period", "ECS allows at most 300 seconds"));
        }
        if !matches!(t.cpu_architecture.as_str(), "X86_64" | "ARM64") {
            return Err(err("task.cpu_architecture", "X86_64 or ARM64"));
        }
        let s = &self.service;
        if s.subnets.is_empty() {
            return Err(err(
                "service.subnets",
                "at least one subnet id is required, e.g. subnets = [\"subnet-0abc123\"]",
            ));
        }
        if let Some(bad) = s.subnets.iter().find(|id| !id.starts_with("subnet-")) {
            return Err(err("service.subnets", format!("{bad:?} is not a subnet id (subnet-...)")));
        }
        if s.security_groups.is_empty() {
            return Err(err(
                "service.security_groups",
                "at least one security group id is required, e.g. [\"sg-0abc123\"]",
            ));
        }
        if let Some(bad) = s.security_groups.iter().find(|id| !id.starts_with("sg-")) {
            return Err(err("service.security_groups", format!("{bad:?} is not a security group id (sg-...)")));
        }
        if let Some(tg) = &s.target_group_arn
            && !tg.starts_with("arn:") | !tg.contains(":targetgroup/")
        {
            return Err(err("service.target_group_arn", "an Elastic Load Balancing target group ARN"));
        }
        let g = &self.gate;
        if let Some(f) = &g.tag_filter {
            TagFilter::parse(f).map_err(|e| err("gate.tag_filter", e.why))?;
        }
        for (field, value) in [("gate.deadline", &g.deadline), ("gate.bake", &g.bake)] {
            if let Some(v) = value {
                Seconds::parse("duration", v).map_err(|e| err(field, e.why))?;
            }
        }
        if g.max_bad_tasks.is_some_and(|n| n > 20) {
            return Err(err("gate.max_bad_tasks", "0 to 20"));
        }
        if let Some(url) = &g.smoke_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(err("gate.smoke_url", "must start with http:// or https://"));
        }
        if let Some(img) = &t.initial_image
            && img.trim().is_empty()
        {
            return Err(err("task.initial_image", "empty; remove it to use <repository>:bootstrap"));
        }
        ImageTag::parse("bootstrap").map_err(|e| err("task.initial_image", e.why))?;
        Ok(())
    }

    pub fn repository_name(&self) -> String {
        self.repository.name.clone().unwrap_or_else(|| self.app.name.clone())
    }
    pub fn cluster_name(&self) -> String {
        self.cluster.name.clone().unwrap_or_else(|| self.app.name.clone())
    }
    pub fn service_name(&self) -> String {
        self.service.name.clone().unwrap_or_else(|| self.app.name.clone())
    }
    pub fn family(&self) -> String {
        self.app.name.clone()
    }
    pub fn log_group(&self) -> String {
        format!("/rollgate/{}", self.app.name)
    }
    pub fn execution_role(&self) -> String {
        format!("{}-execution", self.app.name)
    }
    pub fn task_role(&self) -> String {
        format!("{}-task", self.app.name)
    }
    pub fn build_role(&self) -> String {
        format!("{}-codebuild", self.app.name)
    }
    pub fn build_project(&self) -> String {
        format!("{}-image-build", self.app.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const MINIMAL: &str = r#"
[app]
name = "sentiment"
[task]
cpu = 1024
memory = 4096
[service]
subnets = ["subnet-0abc"]
security_groups = ["sg-0abc"]
"#;

    #[test]
    fn minimal_config_gets_defaults() {
        let c = AppConfig::parse(MINIMAL).unwrap();
        assert_eq!(
            (c.repository_name(), c.cluster_name(), c.service_name()),
            ("sentiment".into(), "sentiment".into(), "sentiment".into())
        );
        assert_eq!(c.repository.tag_mutability, "IMMUTABLE");
        assert_eq!((c.task.container.as_str(), c.task.port, c.task.health_check_start_period), ("model", 8080, 300));
        assert_eq!(c.service.desired_count, 2);
    }

    #[test]
    fn every_bad_field_is_named() {
        let cases: &[(&str, &str, &str)] = &[
            ("memory = 4096", "memory = 4000", "task.memory"),
            ("cpu = 1024", "cpu = 1000", "task.cpu"),
            ("subnets = [\"subnet-0abc\"]", "subnets = []", "service.subnets"),
            ("subnets = [\"subnet-0abc\"]", "subnets = [\"vpc-1\"]", "service.subnets"),
            ("security_groups = [\"sg-0abc\"]", "security_groups = []", "service.security_groups"),
            ("name = \"sentiment\"", "name = \"Sentiment App\"", "app.name"),
            ("[task]", "[task]\nhealth_check_start_period = 600", "task.health_check_start_period"),
            ("[task]", "[task]\ncpu_architecture = \"ARM\"", "task.cpu_architecture"),
        ];
        for (from, to, field) in cases {
            let text = MINIMAL.replace(from, to);
            assert_eq!(AppConfig::parse(&text).unwrap_err().field, *field, "{to}");
        }
        for extra in [
            "[logs]\nretention_days = 2",
            "[gate]\ntag_filter = \"regex:(\"",
            "[gate]\nbake = \"soon\"",
            "[repository]\ntag_mutability = \"sometimes\"",
        ] {
            assert!(AppConfig::parse(&format!("{MINIMAL}\n{extra}")).is_err(), "{extra}");
        }
    }

    #[test]
    fn unknown_fields_and_missing_sections_are_errors() {
        let unknown = AppConfig::parse(&format!("{MINIMAL}\n[gate]\nbake_time = \"5m\"")).unwrap_err();
        assert!(unknown.message.contains("unknown field `bake_time`"), "{unknown}");
        assert_eq!(unknown.field, "gate.bake_time");
        assert!(unknown.message.contains("line"), "{unknown}");
        assert!(AppConfig::parse("[app]\nname = \"x1\"").unwrap_err().message.contains("missing field"));
        assert!(AppConfig::parse("not toml").is_err());
    }
}
