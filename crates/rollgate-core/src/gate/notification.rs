//! The notifications a verdict publishes (EventBridge, source `rollgate`).

use serde::Serialize;

use super::facts::RolloutFacts;
use super::verdict::RolledBackBy;
use crate::TaskDefArn;
use crate::keys;
use crate::ledger::{RevisionRecord, format_time};

/// The EventBridge detail-types rollgate publishes, with source `rollgate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotificationKind {
    /// `Rollout Started`: the gate first saw a rollout rollgate deployed.
    Started,
    /// `Rollout Healthy`: COMPLETED and baked with no failing signal; now the last known good.
    Healthy,
    /// `Rollout Rolled Back`: a signal failed and the service is being sent back to its last known
    /// good revision (by rollgate, ECS's circuit breaker or a person).
    RolledBack,
    /// `Rollout Failed`: a signal failed and there was no known good revision; the service is left as it is.
    Failed,
    /// The rollout failed and its rollback failed, or could not be made.
    RollbackFailed,
}

impl NotificationKind {
    /// The EventBridge `detail-type` of the verdict, e.g. `Rollout Rolled Back`.
    pub fn detail_type(self) -> &'static str {
        match self {
            Self::Started => "Rollout Started",
            Self::Healthy => "Rollout Healthy",
            Self::RolledBack => "Rollout Rolled Back",
            Self::Failed => "Rollout Failed",
            Self::RollbackFailed => "Rollback Failed",
        }
    }
}

/// The EventBridge `source` of verdict notifications: `rollgate`.
pub const NOTIFICATION_SOURCE: &str = crate::notify::SOURCE;

/// A verdict, as published to EventBridge (`source: rollgate`). The schema is documented
/// in docs/notifications.md; fields are only ever added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    /// Which verdict; sets the `detail-type` (not serialized in the detail).
    #[serde(skip)]
    pub kind: NotificationKind,
    /// The detail schema's version: `1`.
    pub schema_version: u32,
    /// The verdict, serialized kebab-case: `started`, `healthy`, `rolled-back`, `failed`, `rollback-failed`.
    pub verdict: NotificationKind,
    /// The cluster's name.
    pub cluster: String,
    /// The service's name.
    pub service: String,
    /// The service's ARN.
    pub service_arn: String,
    /// The ARN of the rollout's task-definition revision.
    pub revision: String,
    /// The image digest it deployed, `sha256:<64 hex>`; `None` when the revision has no ledger record.
    pub digest: Option<String>,
    /// The pushed tag; `None` for an untagged push or without a ledger record.
    pub image_tag: Option<String>,
    /// The ARN of the revision it replaced; `None` when not recorded.
    pub previous: Option<String>,
    /// The model version and build that made the image (model builds only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// The CodeBuild build ID that made the image (model builds only); omitted when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_id: Option<String>,
    /// Failures only: why it failed and what to do; for `Rollback Failed`, why the rollback failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Rollbacks only: the ARN of the revision the service was sent back to (the rollback's target).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolled_back_to: Option<String>,
    /// Rollbacks only: who rolled back (`rollgate`, `ecs` or `manual`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolled_back_by: Option<RolledBackBy>,
    /// `Rollback Failed` only: why the rollout itself failed (`reason` says why its rollback
    /// failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout_reason: Option<String>,
    /// When the verdict was reached: the triggering event's time, RFC 3339 UTC, whole seconds.
    pub at: String,
}

impl Notification {
    /// The EventBridge entry: detail-type by verdict, resources the service and the revision.
    pub fn outgoing(&self) -> crate::notify::Outgoing {
        crate::notify::Outgoing::new(
            self.kind.detail_type(),
            self,
            vec![self.service_arn.clone(), self.revision.clone()],
        )
    }

    pub(crate) fn new(
        kind: NotificationKind,
        f: &RolloutFacts<'_>,
        record: Option<&RevisionRecord>,
        reason: Option<String>,
        rolled_back_to: Option<TaskDefArn>,
        rolled_back_by: Option<RolledBackBy>,
    ) -> Self {
        Self {
            kind,
            schema_version: 1,
            verdict: kind,
            cluster: f.service.arn.cluster_name().to_owned(),
            service: f.service.arn.name().to_owned(),
            service_arn: f.service.arn.to_string(),
            revision: f.revision.arn.to_string(),
            digest: record.map(|r| r.digest.to_string()),
            image_tag: record.and_then(|r| r.image_tag.as_ref().map(ToString::to_string)),
            previous: record.and_then(|r| r.previous.as_ref().map(ToString::to_string)),
            model_version: f.lineage.and_then(|l| l.model_version.clone()).or_else(|| {
                f.revision.tags.get(keys::MODEL_VERSION).map(|v| crate::tags::decode_or_stored(keys::MODEL_VERSION, v))
            }),
            build_id: f.lineage.map(|l| l.build_id.clone()).or_else(|| {
                f.revision.tags.get(keys::BUILD_ID).map(|v| crate::tags::decode_or_stored(keys::BUILD_ID, v))
            }),
            reason,
            rolled_back_to: rolled_back_to.map(|t| t.to_string()),
            rolled_back_by,
            rollout_reason: None,
            at: format_time(f.now),
        }
    }
}
