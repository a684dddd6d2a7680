//! rollgate.toml: one file, validated field by field before any AWS call.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::duration::Seconds;
use crate::filter::TagFilter;
use crate::keys;
use crate::tags;
use crate::{ImageTag, RepositoryName};

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

/// The sections of rollgate.toml, for "did you mean" on an unknown one.
const SECTIONS: &[&str] = &["app", "repository", "cluster", "logs", "task", "service", "gate", "build"];

/// The 1-based line of byte offset `at`.
fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

/// The line of the `[section]` header (or of `section.key`'s key), if the file has it.
fn header_line(text: &str, section: &str) -> Option<usize> {
    let (table, key) = match section.rsplit_once('.') {
        Some((t, k)) => (t, Some(k)),
        None => (section, None),
    };
    let mut in_table = table.is_empty();
    for (n, line) in text.lines().enumerate() {
        // A header may carry a comment: `[task]   # the Fargate task`.
        let t = line.trim();
        let t = if t.starts_with('[') { t.split('#').next().unwrap_or_default().trim() } else { t };
        if let Some(h) = t.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            in_table = h.trim().trim_matches(['[', ']']).trim() == table;
            if key.is_none() && in_table {
                return Some(n + 1);
            }
        } else if in_table
            && let Some(k) = key
            && t.split('=').next().map(str::trim) == Some(k)
        {
            return Some(n + 1);
        }
    }
    None
}

/// Names the field of a TOML error by its path (`task.cpu`, `gate.bake_time`, a section), at
/// a real line of the file `file`: a missing field at its section's header, anything else at
/// the value or key the parser stopped on.
fn toml_error(text: &str, file: &str, path: &str, e: &toml::de::Error) -> ConfigError {
    let message = e.message().trim().to_owned();
    let quoted = message.split('`').nth(1).unwrap_or_default().to_owned();
    let path = if path == "." { String::new() } else { path.to_owned() };
    let join = |a: &str, b: &str| if a.is_empty() { b.to_owned() } else { format!("{a}.{b}") };
    let at = |line: Option<usize>| line.map(|l| format!(" ({file} line {l})")).unwrap_or_default();
    let span_line = e.span().map(|s| line_of(text, s.start));
    if message.starts_with("missing field") {
        let field = join(&path, &quoted);
        let (what, line) = if path.is_empty() {
            (format!("the [{quoted}] section is missing"), None)
        } else {
            (format!("missing field `{quoted}` in [{path}]"), header_line(text, &path))
        };
        let where_ = if line.is_some() { at(line) } else { format!(" ({file})") };
        return err(&field, format!("{what}{where_}; the README's configuration reference lists every field"));
    }
    if message.starts_with("unknown field") {
        let top_level = path.is_empty() || path == quoted;
        let field = if path.ends_with(&quoted) { path.clone() } else { join(&path, &quoted) };
        let is_table =
            text.parse::<toml::Table>().ok().and_then(|t| t.get(&quoted).map(toml::Value::is_table)).unwrap_or(true);
        if top_level && !is_table {
            return err(
                &quoted,
                format!(
                    "`{quoted}` is outside any section{}: every setting belongs in a section such as [app] (sections: {})",
                    at(span_line),
                    SECTIONS.join(", ")
                ),
            );
        }
        if top_level {
            let hint = strsim_closest(&quoted, SECTIONS).map(|s| format!("; did you mean [{s}]?")).unwrap_or_default();
            return err(
                &quoted,
                format!(
                    "unknown section [{quoted}]{}{hint} (sections: {})",
                    at(header_line(text, &quoted).or(span_line)),
                    SECTIONS.join(", ")
                ),
            );
        }
        return err(&field, format!("{message}{}", at(header_line(text, &field).or(span_line))));
    }
    let field = if path.is_empty() { file.to_owned() } else { path };
    err(&field, format!("{message}{}", at(span_line)))
}

/// The known name closest to `name`, if any is close (a typo).
fn strsim_closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known.iter().map(|k| (strsim::damerau_levenshtein(name, k), *k)).filter(|(d, _)| *d <= 2).min().map(|(_, k)| k)
}

/// AWS's id formats: a prefix, then 8 or 17 lowercase hex digits (EC2's short and long ids).
fn is_ec2_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17) && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// An Elastic Load Balancing target group ARN:
/// `arn:<partition>:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<16 hex>`.
fn is_target_group_arn(arn: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(
            r"^arn:aws(-cn|-us-gov)?:elasticloadbalancing:[a-z]{2,4}(-[a-z]+)+-\d{1,2}:\d{12}:targetgroup/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}$",
        )
        .expect("valid regex")
    })
    .is_match(arn)
}

/// A container image reference as Docker's distribution grammar has it:
/// `[registry[:port]/]name[:tag][@sha256:<64 hex>]`.
fn is_image_reference(image: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        let component = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
        let host = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]+)?/)?";
        regex::Regex::new(&format!(
            r"^{host}{component}(?:/{component})*(?::[A-Za-z0-9_][A-Za-z0-9._-]{{0,127}})?(?:@sha256:[0-9a-f]{{64}})?$"
        ))
        .expect("valid regex")
    })
    .is_match(image)
}

/// An IAM managed policy ARN: `arn:<partition>:iam::<12 digits or aws>:policy/<path/><name>`.
fn is_policy_arn(arn: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(r"^arn:aws(-cn|-us-gov)?:iam::(\d{12}|aws):policy/([\w+=,.@-]+/)*[\w+=,.@-]{1,128}$")
            .expect("valid regex")
    })
    .is_match(arn)
}

/// An `http://` or `https://` URL with a host (WHATWG URL parsing, by the `url` crate).
pub fn is_http_url(s: &str) -> bool {
    url::Url::parse(s)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()))
}

/// An S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens, starting and ending
/// with a letter or digit.
fn is_bucket_name(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && b.starts_with(|c: char| c.is_ascii_alphanumeric())
        && b.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Every string in the file that is a documentation placeholder (`…`, `<your-subnet>`), with
/// its field path.
fn placeholders(value: &toml::Value, path: &str, found: &mut Vec<(String, String)>) {
    match value {
        toml::Value::String(s) => {
            let angle = s.starts_with('<') && s.ends_with('>');
            if s.contains('\u{2026}') || angle || s.trim() == "..." {
                found.push((path.to_owned(), s.clone()));
            }
        }
        toml::Value::Array(items) => items.iter().for_each(|v| placeholders(v, path, found)),
        toml::Value::Table(t) => {
            for (k, v) in t {
                placeholders(v, &if path.is_empty() { k.clone() } else { format!("{path}.{k}") }, found);
            }
        }
        _ => {}
    }
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
    /// Parses and validates the text of a file named rollgate.toml.
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
        // ECS names: 1-255 letters, digits, hyphens and underscores.
        let ecs_name = |n: &str| {
            (1..=255).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        for (field, name) in [("cluster.name", self.cluster_name()), ("service.name", self.service_name())] {
            if !ecs_name(&name) {
                return Err(err(field, format!("{name:?}: 1-255 letters, digits, '-' and '_'")));
            }
        }
        if !matches!(self.repository.tag_mutability.as_str(), "IMMUTABLE" | "MUTABLE") {
            return Err(err("repository.tag_mutability", "IMMUTABLE or MUTABLE"));
        }
        if self.repository.tag_mutability == "MUTABLE" && self.repository.untagged_expiry_days > 0 {
            return Err(err(
                "repository.untagged_expiry_days",
                format!(
                    "{} days with tag_mutability = \"MUTABLE\": pushing a tag again leaves the image it named untagged, and the lifecycle rule would then delete it while it is live or the rollback target. Keep tag_mutability = \"IMMUTABLE\" (the default), or set untagged_expiry_days = 0 (no lifecycle rule)",
                    self.repository.untagged_expiry_days
                ),
            ));
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
        if let Some(bad) = s.subnets.iter().find(|id| !is_ec2_id(id, "subnet-")) {
            return Err(err(
                "service.subnets",
                format!("{bad:?} is not a subnet id: subnet- and 8 or 17 hex digits, e.g. subnet-0123456789abcdef0"),
            ));
        }
        if s.security_groups.is_empty() {
            return Err(err(
                "service.security_groups",
                "at least one security group id is required, e.g. [\"sg-0abc123\"]",
            ));
        }
        if let Some(bad) = s.security_groups.iter().find(|id| !is_ec2_id(id, "sg-")) {
            return Err(err(
                "service.security_groups",
                format!("{bad:?} is not a security group id: sg- and 8 or 17 hex digits, e.g. sg-0123456789abcdef0"),
            ));
        }
        if let Some(tg) = &s.target_group_arn
            && !is_target_group_arn(tg)
        {
            return Err(err(
                "service.target_group_arn",
                format!(
                    "{tg:?} is not a target group ARN: arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<16 hex digits>"
                ),
            ));
        }
        // Also checks that each setting fits in a tag once encoded (else `desired` could not write it).
        self.gate.tags()?;
        if self.gate.smoke_url.is_none() {
            let g = &self.gate;
            let set = [
                ("gate.smoke_body", g.smoke_body.is_some()),
                ("gate.smoke_match", g.smoke_match.is_some()),
                ("gate.smoke_status", g.smoke_status.is_some()),
            ];
            if let Some((field, _)) = set.iter().find(|(_, on)| *on) {
                return Err(err(
                    field,
                    "needs smoke_url: the gate calls that URL; without it this setting does nothing",
                ));
            }
        }
        if let Some(bad) = t.role_policy_arns.iter().find(|a| !is_policy_arn(a)) {
            return Err(err(
                "task.role_policy_arns",
                format!("{bad:?} is not an IAM policy ARN: arn:aws:iam::<account or aws>:policy/<path/name>"),
            ));
        }
        if t.health_check.trim().is_empty() {
            return Err(err("task.health_check", "empty: a shell command that exits 0 when the model is ready"));
        }
        if let Some(img) = &t.initial_image
            && !is_image_reference(img)
        {
            return Err(err(
                "task.initial_image",
                format!(
                    "{img:?} is not an image reference such as registry/name:tag; remove it to use <repository>:bootstrap"
                ),
            ));
        }
        if let Some(img) = &self.build.base_image
            && !is_image_reference(img)
        {
            return Err(err(
                "build.base_image",
                format!("{img:?} is not an image reference such as registry/name:tag"),
            ));
        }
        if let Some(b) = &self.build.model_bucket
            && !is_bucket_name(b)
        {
            return Err(err(
                "build.model_bucket",
                format!("{b:?} is not an S3 bucket name: 3-63 lowercase letters, digits, '.' and '-'"),
            ));
        }
        const DOCKER_COMPUTE: &[&str] = &[
            "BUILD_GENERAL1_SMALL",
            "BUILD_GENERAL1_MEDIUM",
            "BUILD_GENERAL1_LARGE",
            "BUILD_GENERAL1_XLARGE",
            "BUILD_GENERAL1_2XLARGE",
        ];
        if !DOCKER_COMPUTE.contains(&self.build.compute_type.as_str()) {
            return Err(err(
                "build.compute_type",
                "a CodeBuild compute type that can run Docker: BUILD_GENERAL1_SMALL, _MEDIUM, _LARGE, _XLARGE or _2XLARGE",
            ));
        }
        if let Some(bad) = t.environment.keys().find(|k| {
            k.is_empty()
                || k.starts_with(|c: char| c.is_ascii_digit())
                || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        }) {
            return Err(err(
                "task.environment",
                format!("{bad:?} is not an environment variable name (letters, digits, _)"),
            ));
        }
        ImageTag::parse_for_docker("bootstrap").map_err(|e| err("task.initial_image", e.why))?;
        Ok(())
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
mod tests {
    use super::*;

    pub const MINIMAL: &str = r#"
[app]
name = "sentiment"
[task]
cpu = 1024
memory = 4096
[service]
subnets = ["subnet-0123abcd"]
security_groups = ["sg-0123abcd"]
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
            ("subnets = [\"subnet-0123abcd\"]", "subnets = []", "service.subnets"),
            ("subnets = [\"subnet-0123abcd\"]", "subnets = [\"vpc-1\"]", "service.subnets"),
            ("subnets = [\"subnet-0123abcd\"]", "subnets = [\"subnet-xyz\"]", "service.subnets"),
            ("subnets = [\"subnet-0123abcd\"]", "subnets = [\"subnet-0123abc\"]", "service.subnets"),
            ("security_groups = [\"sg-0123abcd\"]", "security_groups = []", "service.security_groups"),
            ("security_groups = [\"sg-0123abcd\"]", "security_groups = [\"sg-12\"]", "service.security_groups"),
            ("name = \"sentiment\"", "name = \"Sentiment App\"", "app.name"),
            ("[task]", "[task]\nhealth_check_start_period = 600", "task.health_check_start_period"),
            ("[task]", "[task]\ncpu_architecture = \"ARM\"", "task.cpu_architecture"),
            ("[task]", "[task]\ninitial_image = \"not an image\"", "task.initial_image"),
            ("[task]", "[task]\nhealth_check = \" \"", "task.health_check"),
            (
                "[service]",
                "[service]\ntarget_group_arn = \"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/x\"",
                "service.target_group_arn",
            ),
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
            "[repository]\ntag_mutability = \"MUTABLE\"",
            "[repository]\ntag_mutability = \"MUTABLE\"\nuntagged_expiry_days = 1",
            "[build]\ncompute_type = \"BUILD_LAMBDA_1GB\"",
            "[build]\nmodel_bucket = \"My_Bucket\"",
            "[task.environment]\n\"1BAD\" = \"x\"",
            "[gate]\nsmoke_status = 999",
            "[gate]\nalarms = [\"model 5xx\"]",
            "[cluster]\nname = \"bad cluster!\"",
            "[service]\nname = \"Bad_Name!\"",
            "[task]\nrole_policy_arns = [\"AmazonS3ReadOnlyAccess\"]",
            "[gate]\nsmoke_url = \"http://\"",
            "[gate]\ndeadline = \"0s\"",
            "[gate]\nsmoke_url = \"http://user:secret@m:8080/predict\"",
            "[gate]\nalarm_prefix = \"\"",
            "[gate]\nsmoke_body = \"{}\"",
        ] {
            assert!(AppConfig::parse(&format!("{MINIMAL}\n{extra}")).is_err(), "{extra}");
        }
        // A setting too long for a tag once encoded is refused by its name, not dropped.
        let body = format!("[gate]\nsmoke_url = \"http://m/predict\"\nsmoke_body = \"{}\"", "{x}".repeat(70));
        let err = AppConfig::parse(&format!("{MINIMAL}\n{body}")).unwrap_err();
        assert!(err.to_string().contains("gate.smoke_body") && err.to_string().contains("too long"), "{err}");
        // Real ids and references pass.
        let ok = MINIMAL
            .replace("subnet-0123abcd", "subnet-0123456789abcdef0")
            .replace("[service]", "[service]\ntarget_group_arn = \"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/model/73e2d6bc24d8a067\"")
            .replace("[task]", "[task]\ninitial_image = \"123456789012.dkr.ecr.us-east-1.amazonaws.com/model:v1\"");
        AppConfig::parse(&ok).unwrap();
    }

    /// The error table of docs/bad-input.md (section "rollgate.toml"): field, and message parts.
    #[test]
    fn errors_name_the_section_the_field_the_file_and_a_real_line() {
        let table: &[(&str, &str, &[&str])] = &[
            // A missing field: named with its section, at the section's header line.
            (&MINIMAL.replace("cpu = 1024\n", ""), "task.cpu", &["missing field `cpu` in [task]", "other.toml line 4"]),
            // A missing field of the last section, after blank lines.
            (
                &MINIMAL.replace("memory = 4096\n", "\n\n"),
                "task.memory",
                &["missing field `memory` in [task]", "other.toml line 4"],
            ),
            // A rule of rollgate's: at the key's line, or its section's when the key is absent.
            (
                &MINIMAL.replace("security_groups = [\"sg-0123abcd\"]\n", "\n\n"),
                "service.security_groups",
                &["at least one", "other.toml line 7"],
            ),
            (
                &MINIMAL.replace("memory = 4096", "memory = 4000"),
                "task.memory",
                &["not valid with cpu 1024", "other.toml line 6"],
            ),
            // A missing section.
            (
                &MINIMAL.replace("[task]\ncpu = 1024\nmemory = 4096\n", ""),
                "task",
                &["the [task] section is missing", "other.toml"],
            ),
            // A mistyped section: its own name, a suggestion, and its line.
            (
                &format!("{MINIMAL}[gates]\nbake = \"5m\"\n"),
                "gates",
                &["unknown section [gates]", "did you mean [gate]?", "other.toml line 10"],
            ),
            // A mistyped key.
            (
                &format!("{MINIMAL}[gate]\nbake_time = \"5m\"\n"),
                "gate.bake_time",
                &["unknown field `bake_time`", "other.toml line 11"],
            ),
            // A wrong type.
            (&MINIMAL.replace("cpu = 1024", "cpu = \"1024\""), "task.cpu", &["invalid type", "other.toml line 5"]),
            // The README's example, copied with its placeholders.
            (
                &MINIMAL.replace("[task]", "[task]\ninitial_image = \"\u{2026}\""),
                "task.initial_image",
                &["placeholder", "other.toml line 5"],
            ),
            (
                &MINIMAL.replace("subnet-0123abcd", "<your-subnet>"),
                "service.subnets",
                &["placeholder", "other.toml line 8"],
            ),
            ("not toml", "other.toml", &["other.toml line 1"]),
            // A key outside any section.
            (&format!("name = \"x\"\n{MINIMAL}"), "name", &["outside any section", "other.toml line 1"]),
            // Headers with comments, as in the README's reference, keep real lines.
            (
                &MINIMAL.replace("[task]", "[task]   # the task").replace("memory = 4096", "memory = 4000"),
                "task.memory",
                &["other.toml line 6"],
            ),
            // The first placeholder in the file's order, not in the alphabet's.
            (
                &format!(
                    "{}[build]\nbase_image = \"\u{2026}\"\n",
                    MINIMAL.replace("[task]", "[task]\ninitial_image = \"\u{2026}\"")
                ),
                "task.initial_image",
                &["other.toml line 5"],
            ),
        ];
        for (text, field, parts) in table {
            let e = AppConfig::parse_file(text, "other.toml").unwrap_err();
            assert_eq!(e.field, *field, "{e}\n{text}");
            for part in *parts {
                assert!(e.to_string().contains(part), "{part:?} missing from: {e}");
            }
            assert!(!e.to_string().contains("rollgate.toml"), "names the file it was given: {e}");
        }
    }
}
