//! AWS errors, classified for Lambda's retry handling.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use rollgate_core::ErrorClass;

/// Why a call to AWS (or its set-up) failed; [`AwsError::class`] says whether a retry may help.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AwsError {
    /// An API call failed.
    #[error("{operation} failed: {code}: {message}")]
    Api {
        /// The API operation, e.g. `UpdateService`.
        operation: &'static str,
        /// AWS's error code (`ThrottlingException`; `Unknown` when it gave none), or rollgate's
        /// name for a failure AWS did not code, e.g. `Timeout`, `DispatchFailure`, `BlobDownload`.
        code: String,
        /// AWS's message and ` (HTTP <status>)`, or the error's chain of causes, for a person.
        message: String,
        /// From [`AwsError::from_sdk`]: retryable for HTTP 5xx and 429, a throttling or
        /// transient code, a timeout, a connection failure or an unreadable answer.
        class: ErrorClass,
    },
    /// AWS answered, but without a field rollgate needs.
    #[error("{operation} returned no {field}")]
    Incomplete {
        /// The API operation, e.g. `StartBuild`.
        operation: &'static str,
        /// The missing field, as the SDK names it, e.g. `build.id`.
        field: &'static str,
    },
    /// The local configuration (env vars, options) is unusable.
    #[error("configuration: {0}")]
    Config(String),
}

/// Error codes that mean "slow down" or "try again": AWS's throttling and transient codes.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    // GetResources, 15 minutes after a page: the query starts over.
    "PaginationTokenExpiredException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "ServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalServerError",
    "RequestTimeout",
    "RequestTimeoutException",
];

impl AwsError {
    /// Whether retrying the event may succeed: an API error's own class; missing fields and
    /// configuration errors are never retryable.
    pub fn class(&self) -> ErrorClass {
        match self {
            AwsError::Api { class, .. } => *class,
            AwsError::Incomplete { .. } | AwsError::Config(_) => ErrorClass::NonRetryable,
        }
    }

    /// The API operation that failed (`UpdateService`), for an [`AwsError::Api`] or an
    /// [`AwsError::Incomplete`].
    pub fn operation(&self) -> Option<&'static str> {
        match self {
            Self::Api { operation, .. } | Self::Incomplete { operation, .. } => Some(operation),
            Self::Config(_) => None,
        }
    }

    /// The error code AWS returned (or rollgate's name for the failure, see
    /// [`AwsError::Api`]), if this is an API error.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Classifies an SDK error. The SDK has already retried what its retry policy allows,
    /// so this decides whether the whole event is worth retrying later.
    pub fn from_sdk<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let (code, message, class) = match &err {
            SdkError::ServiceError(ctx) => {
                let status = ctx.raw().status().as_u16();
                let code = ctx.err().code().unwrap_or("Unknown").to_owned();
                let message = ctx.err().message().unwrap_or_default().to_owned();
                let transient = status >= 500 || status == 429 || TRANSIENT_CODES.contains(&code.as_str());
                let class = if transient { ErrorClass::Retryable } else { ErrorClass::NonRetryable };
                (code, format!("{message} (HTTP {status})"), class)
            }
            SdkError::ConstructionFailure(_) => {
                ("ConstructionFailure".to_owned(), error_chain(&err), ErrorClass::NonRetryable)
            }
            // Timeouts, connection failures and unparseable responses can all pass.
            SdkError::TimeoutError(_) => ("Timeout".to_owned(), error_chain(&err), ErrorClass::Retryable),
            SdkError::DispatchFailure(_) => ("DispatchFailure".to_owned(), error_chain(&err), ErrorClass::Retryable),
            _ => ("ResponseError".to_owned(), error_chain(&err), ErrorClass::Retryable),
        };
        AwsError::Api { operation, code, message, class }
    }
}

/// The error and its sources, joined: SDK errors hide the useful part in the chain.
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.join(": ")
}
