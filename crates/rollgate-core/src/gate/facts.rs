//! What the gate knows when it judges one rollout ([`RolloutFacts`]), and the signals it
//! gathers for it ([`AlarmEntry`], [`Lineage`]).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::settings::GateSettings;
use super::signals::SmokeOutcome;
use crate::service::{ServiceView, TaskDefSummary};

/// Everything the gate knows when it judges one rollout.
#[derive(Debug, Clone)]
pub struct RolloutFacts<'a> {
    /// The event's time: verdicts are reproducible, and tests choose the clock.
    pub now: DateTime<Utc>,
    /// The service as DescribeServices returned it (tags, deployments, live revision).
    pub service: &'a ServiceView,
    /// The rollout's revision, with its tags.
    pub revision: &'a TaskDefSummary,
    /// The service's gate settings, from its `rollgate:*` tags.
    pub settings: &'a GateSettings,
    /// Names of alarms currently in ALARM (all of them; the settings pick).
    pub alarms_in_alarm: &'a [String],
    /// Alarms' entries into ALARM since the rollout started (from their history): an alarm
    /// that fired and recovered between two gate runs still fails the rollout.
    pub alarms_entered: &'a [AlarmEntry],
    /// The smoke test's outcome ([`SmokeTest::judge`](crate::gate::SmokeTest::judge)); `None` when no smoke test ran.
    pub smoke: Option<&'a SmokeOutcome>,
    /// Set when an ECS event said this revision's deployment failed.
    pub reported_failure: Option<&'a str>,
    /// Which model build made the image, when the gate could find out.
    pub lineage: Option<&'a Lineage>,
    /// Set when the rollout was found in ECS's service-deployment history, no longer run or
    /// listed ([`crate::history`]): where ECS's circuit breaker sent the service, and no
    /// `rollgate:rollback` pointer (the history follows its rollback).
    pub orphaned: Option<&'a crate::history::Orphaned>,
}

impl<'a> RolloutFacts<'a> {
    /// Facts with no signal gathered (no alarms, smoke test, reported failure, lineage or
    /// history): what a notification about a decision made elsewhere (a followed rollback,
    /// `rollgate rollback`) describes the rollout with.
    pub fn bare(
        now: DateTime<Utc>,
        service: &'a ServiceView,
        revision: &'a TaskDefSummary,
        settings: &'a GateSettings,
    ) -> Self {
        Self {
            now,
            service,
            revision,
            settings,
            alarms_in_alarm: &[],
            alarms_entered: &[],
            smoke: None,
            reported_failure: None,
            lineage: None,
            orphaned: None,
        }
    }
}

/// An alarm's entry into ALARM, from its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmEntry {
    /// The CloudWatch alarm's name.
    pub alarm: String,
    /// When it entered ALARM: the DescribeAlarmHistory item's `Timestamp`, UTC.
    pub at: DateTime<Utc>,
}

/// Model lineage: the build that made the image, and the model version it baked in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lineage {
    /// The build's `MODEL_VERSION` environment variable; `None` when it had none.
    pub model_version: Option<String>,
    /// The CodeBuild build ID, `<project>:<build uuid>`.
    pub build_id: String,
}

/// Whether `revision` is the ledger view of a revision rollgate did not roll out to its
/// service ([`outside_view`](crate::gate::outside_view)): its `rollgate:outside` marker.
pub fn is_view(revision: &TaskDefSummary) -> bool {
    revision.tags.contains_key(crate::keys::OUTSIDE)
}
