//! The EventBridge envelope every event shares (`id`, `source`, `detail-type`, `account`,
//! `region`, `time`), read once per event, and the one error type of event intake.
//!
//! Parsing is strict: an event that does not have the documented shape is an
//! [`EventError`], which the functions report as `NonRetryable`.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};

use serde::{Deserialize, Serialize};

use crate::{AccountId, InputError, Region};

/// Why an event cannot be processed. Retrying the same bytes cannot help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Not JSON, or JSON whose envelope or detail does not have the documented shape (serde's message).
    #[error("malformed event: {0}")]
    Malformed(String),
    /// The event's `source` or `detail-type` is not one this parser takes.
    #[error("unexpected event: source {event_source:?} with detail-type {detail_type:?}, expected {expected}")]
    WrongKind {
        /// The event's `source`.
        event_source: String,
        /// The event's `detail-type`.
        detail_type: String,
        /// What the parser takes, in words.
        expected: String,
    },
    /// A field is present but invalid: an account that is not 12 digits, a region not shaped like
    /// `us-east-1`, a bad ARN, digest, repository name or tag.
    #[error("malformed event: {0}")]
    Invalid(#[from] InputError),
    /// A required field is absent or empty; the payload names it (e.g. `detail.image-digest`).
    #[error("malformed event: field {0:?} is missing")]
    Missing(&'static str),
}

/// The envelope fields every rollgate event needs, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Envelope {
    /// The event's `id` (a UUID EventBridge assigns; `reconcile:<tick id>:<short digest>` for an
    /// image the reconciler found); never empty.
    pub id: String,
    /// The account the event came from (`account`, 12 digits).
    pub account: AccountId,
    /// The region the event came from (`region`, e.g. `us-east-1`).
    pub region: Region,
    /// The event's `time` (RFC 3339 in the event), in UTC; an image's push time for one the
    /// reconciler found.
    pub time: DateTime<Utc>,
}

/// An event's `source` and `detail-type`, to pick its parser.
pub fn kind_of(raw: &str) -> Result<(String, String), EventError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "kebab-case")]
    struct Kind {
        source: String,
        detail_type: String,
    }
    let kind: Kind = serde_json::from_str(raw).map_err(|e| EventError::Malformed(e.to_string()))?;
    Ok((kind.source, kind.detail_type))
}

/// Parses an EventBridge event whose detail is `T`, checking source and detail-type.
pub fn parse_envelope<T>(raw: &str, source: &str, detail_type: &str) -> Result<(Envelope, T), EventError>
where
    T: Serialize + serde::de::DeserializeOwned,
{
    // The kind first: another kind of event (a scan, a replication) is named as such, not
    // reported as a malformed one because its detail has other fields.
    if let Ok((event_source, event_detail_type)) = kind_of(raw)
        && (event_source != source || event_detail_type != detail_type)
    {
        return Err(EventError::WrongKind {
            event_source,
            detail_type: event_detail_type,
            expected: format!("source {source:?} with detail-type {detail_type:?}"),
        });
    }
    let event: EventBridgeEvent<T> = serde_json::from_str(raw).map_err(|e| EventError::Malformed(e.to_string()))?;
    if event.source != source || event.detail_type != detail_type {
        return Err(EventError::WrongKind {
            event_source: event.source,
            detail_type: event.detail_type,
            expected: format!("source {source:?} with detail-type {detail_type:?}"),
        });
    }
    let id = event.id.filter(|s| !s.is_empty()).ok_or(EventError::Missing("id"))?;
    let account = AccountId::parse(event.account.as_deref().ok_or(EventError::Missing("account"))?)?;
    let region = Region::parse(event.region.as_deref().ok_or(EventError::Missing("region"))?)?;
    let time = event.time.ok_or(EventError::Missing("time"))?;
    Ok((Envelope { id, account, region, time }, event.detail))
}
