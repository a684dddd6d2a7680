//! The notifications a verdict publishes (EventBridge, source `rollgate`).

use super::*;

/// The EventBridge detail-types rollgate publishes, with source `rollgate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotificationKind {
    Started,
    Healthy,
    RolledBack,
    Failed,
    /// The rollout failed and its rollback failed, or could not be made.
    RollbackFailed,
}

impl NotificationKind {
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

pub const NOTIFICATION_SOURCE: &str = crate::notify::SOURCE;

/// A verdict, as published to EventBridge (`source: rollgate`). The schema is documented
/// in docs/notifications.md; fields are only ever added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    #[serde(skip)]
    pub kind: NotificationKind,
    pub schema_version: u32,
    pub verdict: NotificationKind,
    pub cluster: String,
    pub service: String,
    pub service_arn: String,
    pub revision: String,
    pub digest: Option<String>,
    pub image_tag: Option<String>,
    pub previous: Option<String>,
    /// The model version and build that made the image (model builds only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolled_back_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolled_back_by: Option<RolledBackBy>,
    /// `Rollback Failed` only: why the rollout itself failed (`reason` says why its rollback
    /// failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout_reason: Option<String>,
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
