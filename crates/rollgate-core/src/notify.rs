//! Events rollgate publishes to EventBridge, with source `rollgate`.

use serde::Serialize;

pub const SOURCE: &str = "rollgate";

/// One EventBridge entry, ready to put.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outgoing {
    pub detail_type: String,
    /// The detail, as JSON.
    pub detail: String,
    pub resources: Vec<String>,
}

impl Outgoing {
    pub fn new(detail_type: &str, detail: &impl Serialize, resources: Vec<String>) -> Self {
        Self {
            detail_type: detail_type.to_owned(),
            // Serializing plain structs of strings and numbers cannot fail.
            detail: serde_json::to_string(detail).unwrap_or_else(|_| "{}".to_owned()),
            resources,
        }
    }
}
