//! model-build's triggers: an S3 upload or a CodeBuild build's state change, read from one
//! envelope.

use super::codebuild::{BUILD_DETAIL_TYPE, BuildStateDetail, CODEBUILD_SOURCE};
use super::envelope::{Envelope, EventError, RawEvent};
use super::s3::{ObjectCreatedDetail, S3_DETAIL_TYPE, S3_SOURCE};

/// What `model-build` reacts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelTrigger {
    /// An S3 object was created: maybe a model artifact to build.
    Upload {
        /// The event's envelope (id, account, region, time).
        envelope: Envelope,
        /// The bucket and object.
        detail: ObjectCreatedDetail,
    },
    /// A CodeBuild build changed status: maybe a failed model build to report.
    Build {
        /// The event's envelope (id, account, region, time).
        envelope: Envelope,
        /// The build's status, project and environment.
        detail: BuildStateDetail,
    },
}

/// Parses an S3 `Object Created` or a CodeBuild `Build State Change` event. Errors:
/// `Malformed` (not JSON, or a detail of the wrong shape), `WrongKind` (any other source or
/// detail-type), `Missing`/`Invalid` (an absent id, account, region or time; a bad account or region).
pub fn parse_model_event(raw: &str) -> Result<ModelTrigger, EventError> {
    ModelTrigger::from_event(&RawEvent::parse(raw)?)
}

impl ModelTrigger {
    /// [`parse_model_event`] of an event already read.
    pub fn from_event(event: &RawEvent) -> Result<Self, EventError> {
        match (event.source.as_str(), event.detail_type.as_str()) {
            (S3_SOURCE, S3_DETAIL_TYPE) => {
                let (envelope, detail) = event.envelope(S3_SOURCE, S3_DETAIL_TYPE)?;
                Ok(Self::Upload { envelope, detail })
            }
            (CODEBUILD_SOURCE, BUILD_DETAIL_TYPE) => {
                let (envelope, detail) = event.envelope(CODEBUILD_SOURCE, BUILD_DETAIL_TYPE)?;
                Ok(Self::Build { envelope, detail })
            }
            (source, detail_type) => Err(EventError::WrongKind {
                event_source: source.to_owned(),
                detail_type: detail_type.to_owned(),
                expected: "an S3 Object Created or a CodeBuild Build State Change event".to_owned(),
            }),
        }
    }
}
