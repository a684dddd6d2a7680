//! Error classification shared by every function.

use serde::Serialize;

/// Whether retrying the same input can succeed.
///
/// Lambda reports this as the invocation's `errorType`, so retry policies and
/// dead-letter routing can tell a throttled API call from a malformed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ErrorClass {
    /// A transient failure (throttling, 5xx, network): the same event may succeed later.
    Retryable,
    /// The input or the configuration is wrong: retrying cannot help.
    NonRetryable,
}

impl ErrorClass {
    /// The Lambda `errorType` string: `Retryable` or `NonRetryable`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Retryable => "Retryable",
            ErrorClass::NonRetryable => "NonRetryable",
        }
    }
}

/// A value from outside (an event field, a tag, an env var) that is not what it must be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: {why}")]
pub struct InputError {
    /// What was wrong, e.g. a tag key (`rollgate:bake`), an env var or `account id`.
    pub what: &'static str,
    /// The offending value as received (some callers shorten it, e.g. a manifest to 80 characters).
    pub value: String,
    /// What the value must be, in words for a person.
    pub why: String,
}

impl InputError {
    /// An error about `value` of `what`, explained by `why`.
    pub fn new(what: &'static str, value: impl Into<String>, why: impl Into<String>) -> Self {
        Self { what, value: value.into(), why: why.into() }
    }
}
