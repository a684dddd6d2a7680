//! Events rollgate publishes to EventBridge, with source `rollgate`.

use serde::Serialize;

/// The EventBridge `Source` of every event rollgate publishes.
pub const SOURCE: &str = "rollgate";

/// One EventBridge entry, ready to put.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outgoing {
    /// The entry's `DetailType`, e.g. `Model Build Failed`.
    pub detail_type: String,
    /// The detail, as JSON.
    pub detail: String,
    /// The entry's `Resources`: what the event is about (a service and a revision ARN, a build id).
    pub resources: Vec<String>,
}

impl Outgoing {
    /// An entry with `detail` serialized as JSON (`{}` if serialization fails), for PutEvents
    /// (<https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsRequestEntry.html>).
    pub fn new(detail_type: &str, detail: &impl Serialize, resources: Vec<String>) -> Self {
        Self {
            detail_type: detail_type.to_owned(),
            // Serializing plain structs of strings and numbers cannot fail.
            detail: serde_json::to_string(detail).unwrap_or_else(|_| "{}".to_owned()),
            resources,
        }
    }
}
