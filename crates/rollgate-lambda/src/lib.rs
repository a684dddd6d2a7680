//! rollgate-lambda: the glue every rollgate function shares.
//!
//! * [`telemetry`]: JSON logs, and failing a cold start with one clear line;
//! * [`FunctionError`]: an invocation error whose `errorType` is `Retryable` or `NonRetryable`;
//! * [`finish`]: turns a report that left retryable work undone into a `Retryable` error.

pub mod telemetry;

use lambda_runtime::Diagnostic;
use rollgate_core::ErrorClass;
use serde::Serialize;

/// A failed invocation. Its class becomes Lambda's `errorType`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FunctionError {
    pub class: ErrorClass,
    pub message: String,
}

impl FunctionError {
    pub fn non_retryable(message: impl ToString) -> Self {
        Self { class: ErrorClass::NonRetryable, message: message.to_string() }
    }
}

impl From<FunctionError> for Diagnostic {
    fn from(e: FunctionError) -> Self {
        Diagnostic { error_type: e.class.as_str().to_owned(), error_message: e.message }
    }
}

/// A function's result that may have left retryable work undone.
pub trait Report: Serialize {
    fn needs_retry(&self) -> bool;
    fn summary(&self) -> String;
}

/// Returns the report, or a `Retryable` error carrying it when a retry could finish the work.
/// Every rollgate step is idempotent, so Lambda's retry only redoes what is left.
pub fn finish<R: Report>(report: R) -> Result<R, FunctionError> {
    if report.needs_retry() {
        let details = serde_json::to_string(&report).unwrap_or_default();
        return Err(FunctionError {
            class: ErrorClass::Retryable,
            message: format!("{}; retry to finish: {details}", report.summary()),
        });
    }
    Ok(report)
}

macro_rules! report {
    ($($t:ty),*) => {$(
        impl Report for $t {
            fn needs_retry(&self) -> bool {
                <$t>::needs_retry(self)
            }
            fn summary(&self) -> String {
                <$t>::summary(self)
            }
        }
    )*};
}
report!(rollgate_core::report::DeployReport, rollgate_core::report::GateReport);
