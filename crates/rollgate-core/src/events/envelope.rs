//! The EventBridge envelope every event shares (`id`, `source`, `detail-type`, `account`,
//! `region`, `time`), read once per event, and the one error type of event intake.
//!
//! Parsing is strict: an event that does not have the documented shape is an
//! [`EventError`], which the functions report as `NonRetryable`.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// An EventBridge event read once from its JSON: its kind (`source`, `detail-type`), which
/// picks its parser, and the rest as sent, checked only by the parser that takes the kind
/// ([`RawEvent::envelope`]). Another kind of event (a scan, a replication) is so named,
/// whatever its other fields hold, not reported as a malformed one.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RawEvent {
    /// The event's `source`, e.g. `aws.ecr`.
    pub source: String,
    /// The event's `detail-type`, e.g. `ECR Image Action`.
    pub detail_type: String,
    #[serde(default)]
    version: Value,
    #[serde(default)]
    id: Value,
    #[serde(default)]
    account: Value,
    #[serde(default)]
    time: Value,
    #[serde(default)]
    region: Value,
    #[serde(default, deserialize_with = "present")]
    resources: Option<Value>,
    /// `None` when the event has no `detail` (a `null` one is `Some(Value::Null)`).
    #[serde(default, deserialize_with = "present")]
    detail: Option<Value>,
}

/// A field that is present, even as `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

fn malformed(e: serde_json::Error) -> EventError {
    EventError::Malformed(e.to_string())
}

/// An optional envelope field as `T`: absent or `null` is `None`.
fn optional<T: DeserializeOwned>(v: &Value) -> Result<Option<T>, EventError> {
    Option::<T>::deserialize(v).map_err(malformed)
}

impl RawEvent {
    /// Reads an event's JSON: `Malformed` when it is not JSON, not an object, or has no
    /// string `source` and `detail-type`.
    pub fn parse(raw: &str) -> Result<Self, EventError> {
        serde_json::from_str(raw).map_err(malformed)
    }

    /// Whether the event is of this kind.
    pub fn is(&self, source: &str, detail_type: &str) -> bool {
        self.source == source && self.detail_type == detail_type
    }

    /// The validated envelope and the detail as `T` of an event that must be of kind
    /// `source`/`detail-type`: `WrongKind` for another kind, `Malformed` for an envelope
    /// field of the wrong type or a detail of the wrong shape, `Missing`/`Invalid` for an
    /// absent id, account, region or time, or a bad account or region.
    pub fn envelope<T: DeserializeOwned>(&self, source: &str, detail_type: &str) -> Result<(Envelope, T), EventError> {
        if !self.is(source, detail_type) {
            return Err(EventError::WrongKind {
                event_source: self.source.clone(),
                detail_type: self.detail_type.clone(),
                expected: format!("source {source:?} with detail-type {detail_type:?}"),
            });
        }
        // Every field EventBridge documents is checked for its type, as when the whole event
        // was one typed struct.
        optional::<String>(&self.version)?;
        let id = optional::<String>(&self.id)?;
        let account = optional::<String>(&self.account)?;
        let time = optional::<DateTime<Utc>>(&self.time)?;
        let region = optional::<String>(&self.region)?;
        optional::<Vec<String>>(self.resources.as_ref().unwrap_or(&Value::Null))?;
        let detail = self.detail.as_ref().ok_or_else(|| EventError::Malformed("missing field `detail`".to_owned()))?;
        let detail = T::deserialize(detail).map_err(malformed)?;
        let id = id.filter(|s| !s.is_empty()).ok_or(EventError::Missing("id"))?;
        let account = AccountId::parse(account.as_deref().ok_or(EventError::Missing("account"))?)?;
        let region = Region::parse(region.as_deref().ok_or(EventError::Missing("region"))?)?;
        let time = time.ok_or(EventError::Missing("time"))?;
        Ok((Envelope { id, account, region, time }, detail))
    }

    /// The event's `resources` (ARNs); empty when absent, `Malformed` when not a list of strings.
    pub fn resources(&self) -> Result<Vec<String>, EventError> {
        self.resources.as_ref().map_or(Ok(Vec::new()), |r| Vec::<String>::deserialize(r).map_err(malformed))
    }
}
