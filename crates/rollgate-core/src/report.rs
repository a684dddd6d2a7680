//! What a deploy invocation did, per service: the function's result.

use serde::Serialize;

use crate::ErrorClass;
use crate::deploy::SkipReason;

/// The outcome for one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The service was updated to the push's revision (registered now, or by an earlier
    /// unfinished attempt).
    Deployed {
        /// The new task-definition ARN, `arn:aws:ecs:<region>:<account>:task-definition/<family>:<n>`.
        revision: String,
        /// The task-definition ARN the service ran before (empty when unknown).
        previous: String,
    },
    /// Nothing was changed, by design.
    Skipped {
        /// Why, for a person.
        reason: String,
        /// Why, as data.
        detail: SkipReason,
    },
    /// The rollout could not be made.
    Failed {
        /// What failed.
        error: String,
        /// Whether a retry of the event may succeed.
        class: ErrorClass,
    },
}

/// One service's line in a [`DeployReport`]; serialized flat, with `outcome` as a field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceOutcome {
    /// The cluster's name (not its ARN).
    pub cluster: String,
    /// The service's name (not its ARN).
    pub service: String,
    /// What happened to the service.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// A cluster whose services could not be listed: its services' outcomes are unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterFailure {
    /// The cluster as configured in `ROLLGATE_CLUSTERS` (a name or an ARN).
    pub cluster: String,
    /// Why listing failed (the AWS error).
    pub error: String,
    /// Whether a retry may list it.
    pub class: ErrorClass,
}

/// A trusted registry's repository the reconciler could not read (ROLLGATE_TRUSTED_REGISTRIES;
/// its repository policy must let the deploy role read it). The other registries' images were
/// still reconciled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistryFailure {
    /// The registry's account id, 12 digits.
    pub registry: String,
    /// The repository name in that registry.
    pub repository: String,
    /// Why reading failed (the AWS error), with a hint about the repository policy.
    pub error: String,
    /// Whether a retry may read it.
    pub class: ErrorClass,
}

/// The deploy function's result for one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct DeployReport {
    /// The id of the EventBridge event the report is about.
    pub event_id: String,
    /// Set when the event deploys nothing by design (a DELETE, a failed push).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    /// One line per opted-in service the event concerned.
    pub services: Vec<ServiceOutcome>,
    /// Clusters whose services could not be listed (omitted from JSON when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cluster_failures: Vec<ClusterFailure>,
    /// Trusted registries that could not be read (omitted from JSON when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub registry_failures: Vec<RegistryFailure>,
    /// For a reconciler run whose sweep is spread over `ROLLGATE_RECONCILE_EVERY`: the watched
    /// clusters whose turn it was (`crate::index::clusters_in_turn`; omitted otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clusters_in_turn: Option<Vec<String>>,
}

impl DeployReport {
    /// The services a rollout was started on.
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
    /// The cluster's name (not its ARN).
    pub cluster: String,
    /// The service's name (not its ARN).
    pub service: String,
    /// The rollout's task-definition ARN,
    /// `arn:aws:ecs:<region>:<account>:task-definition/<family>:<n>`.
    pub revision: String,
    /// `waiting`, or a [`crate::rollout::RolloutState`] (`verifying`, `baking`, `healthy`,
    /// `failed`, `rolling-back`, `rolled-back`, `rollback-failed`, `superseded`).
    pub verdict: String,
    /// The reason for the verdict, for a person.
    pub detail: String,
    /// The task-definition ARN the service was (or is being) sent back to, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolled_back_to: Option<String>,
}

/// Something the gate could not evaluate or carry out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateFailure {
    /// The cluster: its name, or as configured in `ROLLGATE_CLUSTERS` when it could not be listed.
    pub cluster: String,
    /// The service's name; `None` when the whole cluster could not be listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// What failed (the AWS error, or running out of time).
    pub error: String,
    /// Whether a retry of the event may succeed.
    pub class: ErrorClass,
}

/// The health gate's result for one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct GateReport {
    /// The id of the EventBridge event the report is about.
    pub event_id: String,
    /// `deployment`, `task-stopped` or `schedule`.
    pub trigger: String,
    /// Why the event needed no evaluation (a normal task stop, a revision no rollout of rollgate's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    /// One line per rollout the gate judged (verdicts not worth reporting are left out).
    pub rollouts: Vec<RolloutOutcome>,
    /// What could not be evaluated or carried out (omitted from JSON when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<GateFailure>,
    /// For a scheduled run: which services it looked at (omitted otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<Sweep>,
    /// For a scheduled run that looked at the rollouts in flight: the watched clusters whose
    /// every opted-in service it swept too, their turn of the full sweep
    /// (`crate::index::sweep_plan`; often none; omitted for other runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clusters_in_turn: Option<Vec<String>>,
}

/// Which services a scheduled gate run looked at (`crate::index::sweep_plan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sweep {
    /// Those with a rollout in flight, from the tagging index, and every opted-in service of
    /// the clusters in `clusters_in_turn`.
    InFlight,
    /// Every opted-in service of every watched cluster.
    Full,
}

impl GateReport {
    /// Whether a failure is retryable, so a retry of the event could finish the work.
    pub fn needs_retry(&self) -> bool {
        self.failures.iter().any(|f| f.class == ErrorClass::Retryable)
    }

    /// One line for logs: rollouts judged, then the count of `healthy`, `rolled-back` and `failed`
    /// verdicts (`rolling-back` and `rollback-failed` are in the total only) and of failures.
    pub fn summary(&self) -> String {
        let count = |v: &str| self.rollouts.iter().filter(|r| r.verdict == v).count();
        format!(
            "{} rollouts evaluated: {} healthy, {} rolling back, {} rolled back, {} rollbacks failed, {} failed, {} errors",
            self.rollouts.len(),
            count("healthy"),
            count("rolling-back"),
            count("rolled-back"),
            count("rollback-failed"),
            count("failed"),
            self.failures.len()
        )
    }
}
