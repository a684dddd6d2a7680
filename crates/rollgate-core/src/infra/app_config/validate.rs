//! Every field's check against what AWS accepts, before any AWS call.

use super::{AppConfig, ConfigError, err};
use crate::{ImageTag, RepositoryName};

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
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
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
}
