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

/// How long an invocation may keep starting work: Lambda's deadline less a margin that
/// leaves room to finish the calls in flight and answer. Work not started by then is
/// reported as undone (and retried), never cut off in the middle of a write.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    until: Option<std::time::Instant>,
}

impl Budget {
    /// Time kept back from the deadline for a rollout already started (three calls, each
    /// bounded by the functions' 4 s call timeout) and for answering.
    pub const MARGIN: std::time::Duration = std::time::Duration::from_secs(13);

    pub const UNLIMITED: Budget = Budget { until: None };

    /// From the invocation's deadline (milliseconds since the epoch, as Lambda sends it).
    pub fn from_deadline_ms(deadline_ms: u64) -> Self {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let left = std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms));
        Self { until: Some(std::time::Instant::now() + left.saturating_sub(Self::MARGIN)) }
    }

    /// A budget that ends after `d` (tests).
    pub fn after(d: std::time::Duration) -> Self {
        Self { until: Some(std::time::Instant::now() + d) }
    }

    pub fn exhausted(&self) -> bool {
        self.until.is_some_and(|u| std::time::Instant::now() >= u)
    }
}

/// The message for work an invocation did not start because its time ran out.
pub const OUT_OF_TIME: &str = "not attempted: the invocation ran out of time; a retry finishes it";

/// A function's result that may have left retryable work undone.
pub trait Report: Serialize {
    fn needs_retry(&self) -> bool;
    fn summary(&self) -> String;
    /// Whether some of the work failed in a way a retry cannot fix (a misconfigured service,
    /// an unreadable cluster): the invocation then fails as `NonRetryable`, so the event
    /// reaches the dead-letter queue and its alarm instead of passing as a success.
    fn failed_for_good(&self) -> bool {
        false
    }
}

/// Returns the report; or a `Retryable` error carrying it when a retry could finish the work
/// (every rollgate step is idempotent, so Lambda's retry only redoes what is left); or a
/// `NonRetryable` error carrying it when part of the work failed for good.
pub fn finish<R: Report>(report: R) -> Result<R, FunctionError> {
    if report.needs_retry() {
        let details = serde_json::to_string(&report).unwrap_or_default();
        return Err(FunctionError {
            class: ErrorClass::Retryable,
            message: format!("{}; retry to finish: {details}", report.summary()),
        });
    }
    if report.failed_for_good() {
        let details = serde_json::to_string(&report).unwrap_or_default();
        return Err(FunctionError {
            class: ErrorClass::NonRetryable,
            message: format!("{}; fix what failed (the rest was done): {details}", report.summary()),
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
report!(rollgate_core::report::GateReport);

impl Report for rollgate_core::report::DeployReport {
    fn needs_retry(&self) -> bool {
        rollgate_core::report::DeployReport::needs_retry(self)
    }
    fn summary(&self) -> String {
        rollgate_core::report::DeployReport::summary(self)
    }
    fn failed_for_good(&self) -> bool {
        rollgate_core::report::DeployReport::failed_for_good(self)
    }
}
