//! What the commands print: text for people, JSON for scripts.

use std::fmt::Write as _;

use rollgate_core::infra::AppConfig;
use rollgate_core::infra::desired::Env;
use rollgate_core::service::ServiceView;
use rollgate_core::status::HistoryRow;
use serde::Serialize;

use crate::Failure;

/// `track` / `untrack`: what changed, then every rollgate tag decoded.
pub fn settings(
    service: &ServiceView,
    write: &rollgate_core::tags::TagWrite,
    after: &[rollgate_core::track::Setting],
    tracked: bool,
    dry_run: bool,
) -> String {
    let mut out = String::new();
    let state = if tracked { "tracked by rollgate" } else { "not tracked" };
    let after_change = if dry_run && !write.is_empty() { " after this change" } else { "" };
    let _ = writeln!(
        out,
        "service {} in cluster {}: {state}{after_change}",
        service.arn.name(),
        service.arn.cluster_name()
    );
    let verb = if dry_run { "would " } else { "" };
    if write.is_empty() {
        let _ = writeln!(out, "no change");
    }
    for (k, _) in &write.set {
        let _ = writeln!(out, "{verb}set {k}");
    }
    for k in &write.remove {
        let _ = writeln!(out, "{verb}remove {k}");
    }
    if !after.is_empty() {
        let width = after.iter().map(|s| s.key.len()).max().unwrap_or(0);
        let _ = writeln!(out);
        for s in after {
            let stored = if s.stored == s.value { String::new() } else { format!("   (stored as {})", s.stored) };
            // A decoded value may hold anything: control characters are shown escaped, so a
            // tag cannot forge lines or colours on the terminal.
            let value = if s.value.chars().any(char::is_control) { format!("{:?}", s.value) } else { s.value.clone() };
            let _ = writeln!(out, "  {:width$}  {value}{stored}", s.key);
        }
    }
    out
}

pub fn json(value: &impl Serialize) -> Result<(), Failure> {
    let json = serde_json::to_string_pretty(value).map_err(|e| Failure::Aws(e.into()))?;
    text(&format!("{json}\n"));
    Ok(())
}

/// Writes to stdout. A reader that went away (`rollgate status | head`) is not an error:
/// the rest of the output is dropped, as other command-line tools do, instead of a panic.
pub fn text(s: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes()).and_then(|()| out.flush());
}

/// A value as `sam deploy --parameter-overrides` reads it: plain, or in double quotes when it
/// holds a space or a quote, as SAM CLI's `Key="a value"` form. SAM keeps backslashes as they
/// are (a regex tag filter survives); a `"` inside is escaped.
pub fn sam_value(v: &str) -> String {
    if v.chars().any(|c| c.is_whitespace() || c == '"' || c == '\'') {
        format!("\"{}\"", v.replace('"', "\\\""))
    } else {
        v.to_owned()
    }
}

/// What `up` leaves behind, and what `sam deploy` needs from it.
#[derive(Debug, Serialize)]
pub struct Outputs {
    pub changes: usize,
    pub cluster: String,
    pub service: String,
    pub repository: String,
    pub repository_uri: String,
    pub task_family: String,
    pub execution_role_arn: String,
    pub task_role_arn: String,
    pub codebuild_project: String,
    pub log_group: String,
    /// `sam deploy --parameter-overrides <this>`.
    pub sam_parameter_overrides: String,
}

impl Outputs {
    pub fn new(config: &AppConfig, env: &Env, changes: usize) -> Self {
        let execution_role_arn = env.role_arn(&config.execution_role());
        let task_role_arn = env.role_arn(&config.task_role());
        // template.yaml's parameters. Clusters go as ARNs: the template derives every scoped
        // service ARN from them, which CloudFormation cannot do from names.
        let cluster_arn =
            format!("arn:{}:ecs:{}:{}:cluster/{}", env.partition(), env.region, env.account, config.cluster_name());
        let sam_parameter_overrides = [
            ("ClusterArns", cluster_arn),
            ("Repositories", config.repository_name()),
            ("TaskRoleArn", task_role_arn.clone()),
            ("ExecutionRoleArn", execution_role_arn.clone()),
            ("BuildProject", config.build_project()),
            ("ModelBucket", config.build.model_bucket.clone().unwrap_or_default()),
            ("ModelPrefix", config.build.model_prefix.clone()),
            ("TagFilter", config.gate.tag_filter.clone().unwrap_or_else(|| "*".to_owned())),
        ]
        .iter()
        .map(|(k, v)| format!("{k}={}", sam_value(v)))
        .collect::<Vec<_>>()
        .join(" ");
        Self {
            changes,
            cluster: config.cluster_name(),
            service: config.service_name(),
            repository: config.repository_name(),
            repository_uri: env.repository_uri(&config.repository_name()),
            task_family: config.family(),
            execution_role_arn,
            task_role_arn,
            codebuild_project: config.build_project(),
            log_group: config.log_group(),
            sam_parameter_overrides,
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let rows = [
            ("cluster", &self.cluster),
            ("service", &self.service),
            ("repository", &self.repository_uri),
            ("task family", &self.task_family),
            ("execution role", &self.execution_role_arn),
            ("task role", &self.task_role_arn),
            ("CodeBuild project", &self.codebuild_project),
            ("log group", &self.log_group),
        ];
        for (k, v) in rows {
            let _ = writeln!(out, "{k:<18} {v}");
        }
        let _ = writeln!(
            out,
            "\nInstall the functions with:\n  sam build && sam deploy --parameter-overrides '{}'",
            self.sam_parameter_overrides.replace('\'', "'\\''")
        );
        out
    }
}

/// The ledger as a table, newest revision first.
pub fn history(service: &ServiceView, rows: &[HistoryRow]) -> String {
    let mut out = format!("{} ({})\n", service.arn.name(), service.arn.cluster_name());
    let _ = writeln!(
        out,
        "  {:<22} {:<12} {:<14} {:<10} {:<21} {:<15} NOTE",
        "REVISION", "TAG", "DIGEST", "MODEL", "PUSHED", "STATE"
    );
    for r in rows {
        let mark = match (r.live, r.last_good) {
            (true, true) => "live, last good",
            (true, false) => "live",
            (false, true) => "last good",
            _ => "",
        };
        let digest = r.digest.as_deref().map(|d| d.trim_start_matches("sha256:").chars().take(12).collect::<String>());
        let config = (r.cause == Some(rollgate_core::ledger::Cause::Config)).then_some("config change");
        // A failed rollback leaves the service for a person: say so first, while it stands.
        let rollback = r.rollback_reason.as_deref().map(|why| {
            if r.state == rollgate_core::gate::RolloutState::RollbackFailed.as_str() {
                format!("{why} (left for a person)")
            } else {
                format!("an earlier rollback failed: {why}")
            }
        });
        let deregistered = r.deregistered.then_some("deregistered");
        let note =
            [Some(mark).filter(|m| !m.is_empty()), deregistered, config, rollback.as_deref(), r.reason.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("; ");
        let _ = writeln!(
            out,
            "  {:<22} {:<12} {:<14} {:<10} {:<21} {:<15} {note}",
            r.revision,
            r.image_tag.as_deref().unwrap_or("-"),
            digest.as_deref().unwrap_or("-"),
            r.model_version.as_deref().unwrap_or("-"),
            r.pushed_at.as_deref().unwrap_or("-"),
            r.state,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    /// SAM CLI reads `Key="a value"`; the printed command survives a paste into a shell.
    #[test]
    fn sam_values_with_spaces_and_quotes_are_quoted() {
        assert_eq!(super::sam_value("v*"), "v*");
        assert_eq!(super::sam_value("semver:>=1.4, <2"), "\"semver:>=1.4, <2\"");
        assert_eq!(super::sam_value("a\"b"), "\"a\\\"b\"");
        assert_eq!(super::sam_value("regex:v[0-9]+(\\.[0-9]+)"), "regex:v[0-9]+(\\.[0-9]+)");
    }
}
