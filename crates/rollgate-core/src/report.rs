//! What a deploy invocation did, per service: the function's result.

use serde::Serialize;

use crate::ErrorClass;
use crate::deploy::SkipReason;

/// The outcome for one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Deployed { revision: String, previous: String },
    Skipped { reason: String, detail: SkipReason },
    Failed { error: String, class: ErrorClass },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceOutcome {
    pub cluster: String,
    pub service: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// A cluster whose services could not be listed: its services' outcomes are unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterFailure {
    pub cluster: String,
    pub error: String,
    pub class: ErrorClass,
}

/// A trusted registry's repository the reconciler could not read (ROLLGATE_TRUSTED_REGISTRIES;
/// its repository policy must let the deploy role read it). The other registries' images were
/// still reconciled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistryFailure {
    pub registry: String,
    pub repository: String,
    pub error: String,
    pub class: ErrorClass,
}

/// The deploy function's result for one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct DeployReport {
    pub event_id: String,
    /// Set when the event deploys nothing by design (a DELETE, a failed push).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    pub services: Vec<ServiceOutcome>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cluster_failures: Vec<ClusterFailure>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub registry_failures: Vec<RegistryFailure>,
}

impl DeployReport {
    pub fn deployed(&self) -> impl Iterator<Item = &ServiceOutcome> {
        self.services.iter().filter(|s| matches!(s.outcome, Outcome::Deployed { .. }))
    }

    /// Whether a retry of the same event could finish what this run left undone.
    /// Deploys are idempotent (a redelivery skips what is done), so retrying is safe.
    pub fn needs_retry(&self) -> bool {
        let retryable = |c: &ErrorClass| *c == ErrorClass::Retryable;
        self.cluster_failures.iter().any(|f| retryable(&f.class))
            || self.registry_failures.iter().any(|f| retryable(&f.class))
            || self.services.iter().any(|s| matches!(&s.outcome, Outcome::Failed { class, .. } if retryable(class)))
    }

    /// Whether something failed that a retry cannot fix: a cluster that could not be listed,
    /// a trusted registry that could not be read, or a service that could not be deployed.
    /// Deploy then fails the invocation, so the event reaches the dead-letter queue instead of
    /// passing as done.
    pub fn failed_for_good(&self) -> bool {
        !self.cluster_failures.is_empty()
            || !self.registry_failures.is_empty()
            || self.services.iter().any(|s| matches!(s.outcome, Outcome::Failed { .. }))
    }

    /// One line for logs and error messages: counts per outcome.
    pub fn summary(&self) -> String {
        let count = |f: fn(&Outcome) -> bool| self.services.iter().filter(|s| f(&s.outcome)).count();
        format!(
            "{} deployed, {} skipped, {} failed, {} clusters unreadable",
            count(|o| matches!(o, Outcome::Deployed { .. })),
            count(|o| matches!(o, Outcome::Skipped { .. })),
            count(|o| matches!(o, Outcome::Failed { .. })),
            self.cluster_failures.len()
        )
    }
}

/// What the health gate concluded about one rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RolloutOutcome {
    pub cluster: String,
    pub service: String,
    pub revision: String,
    /// `waiting`, `verifying`, `baking`, `healthy`, `rolled-back`, `failed`, `superseded`.
    pub verdict: String,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolled_back_to: Option<String>,
}

/// Something the gate could not evaluate or carry out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateFailure {
    pub cluster: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    pub error: String,
    pub class: ErrorClass,
}

/// The health gate's result for one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct GateReport {
    pub event_id: String,
    /// `deployment`, `task-stopped` or `schedule`.
    pub trigger: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    pub rollouts: Vec<RolloutOutcome>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<GateFailure>,
}

impl GateReport {
    pub fn needs_retry(&self) -> bool {
        self.failures.iter().any(|f| f.class == ErrorClass::Retryable)
    }

    pub fn summary(&self) -> String {
        let count = |v: &str| self.rollouts.iter().filter(|r| r.verdict == v).count();
        format!(
            "{} rollouts evaluated: {} healthy, {} rolled back, {} failed, {} errors",
            self.rollouts.len(),
            count("healthy"),
            count("rolled-back"),
            count("failed"),
            self.failures.len()
        )
    }
}
