//! Service discovery, the routines deploy and the health gate share: every service of the
//! configured clusters ([`discover_all`], the scan), or the services an index lookup named
//! ([`describe_found`]), each with its tags as ECS answers now, as [`ServiceView`]s.

use futures_util::{StreamExt, stream};
use rollgate_core::index::ByCluster;
use rollgate_core::service::ServiceView;

use crate::AwsError;
use crate::ecs::{DESCRIBE_SERVICES_BATCH, ServiceDirectory};

/// What discovery found: the services, and each cluster that could not be read with why.
#[derive(Debug, Default)]
pub struct Discovered {
    /// Every service of the clusters that were read, cluster by cluster as their reads finished.
    pub services: Vec<ServiceView>,
    /// The clusters whose ListServices or DescribeServices failed, with the error.
    pub unreadable: Vec<(String, AwsError)>,
}

/// Lists one cluster's services (ListServices, paginated) and describes them with their tags,
/// [`DESCRIBE_SERVICES_BATCH`] (10, ECS's limit) per DescribeServices call.
///
/// Errors: the first failed call; the cluster is then unreadable as a whole.
pub async fn discover<D: ServiceDirectory + Sync>(ecs: &D, cluster: &str) -> Result<Vec<ServiceView>, AwsError> {
    let arns = ecs.list_services(cluster).await?;
    describe(ecs, cluster, &arns).await
}

/// The services `arns` of one cluster, [`DESCRIBE_SERVICES_BATCH`] per DescribeServices call.
/// Errors: the first failed call.
async fn describe<D: ServiceDirectory + Sync>(
    ecs: &D,
    cluster: &str,
    arns: &[String],
) -> Result<Vec<ServiceView>, AwsError> {
    let mut services = Vec::with_capacity(arns.len());
    for batch in arns.chunks(DESCRIBE_SERVICES_BATCH) {
        services.extend(ecs.describe_services(cluster, batch).await?);
    }
    Ok(services)
}

impl Discovered {
    /// Both reads' services and unreadable clusters, `self`'s first.
    pub fn merge(mut self, other: Discovered) -> Discovered {
        self.services.extend(other.services);
        self.unreadable.extend(other.unreadable);
        self
    }
}

/// Each cluster's services, or the error that made it unreadable.
impl<'a> FromIterator<(&'a String, Result<Vec<ServiceView>, AwsError>)> for Discovered {
    fn from_iter<I: IntoIterator<Item = (&'a String, Result<Vec<ServiceView>, AwsError>)>>(reads: I) -> Self {
        let mut found = Discovered::default();
        for (cluster, read) in reads {
            match read {
                Ok(services) => found.services.extend(services),
                Err(e) => found.unreadable.push((cluster.clone(), e)),
            }
        }
        found
    }
}

/// [`discover`] for every cluster of `clusters` (names or ARNs), `max_in_flight` clusters at a
/// time. A cluster that cannot be read is reported in [`Discovered::unreadable`] and the others
/// are still read.
pub async fn discover_all<D: ServiceDirectory + Sync>(
    ecs: &D,
    clusters: &[String],
    max_in_flight: usize,
) -> Discovered {
    let listings: Vec<_> = stream::iter(clusters)
        .map(|cluster| async move { (cluster, discover(ecs, cluster).await) })
        .buffer_unordered(max_in_flight.max(1))
        .collect()
        .await;
    listings.into_iter().collect()
}

/// Describes the services an index lookup found (`rollgate_core::index::services_in`,
/// `sweep_services`), [`DESCRIBE_SERVICES_BATCH`] per DescribeServices call, `max_in_flight`
/// clusters at a time: what ECS answers now, whatever the index said. A service ECS no longer
/// has is absent from the answer. A cluster whose call fails is reported in
/// [`Discovered::unreadable`].
pub async fn describe_found<D: ServiceDirectory + Sync>(
    ecs: &D,
    found: &ByCluster,
    max_in_flight: usize,
) -> Discovered {
    let reads: Vec<_> = stream::iter(found)
        .map(|(cluster, services)| async move {
            let arns: Vec<String> = services.iter().map(ToString::to_string).collect();
            (cluster, describe(ecs, cluster, &arns).await)
        })
        .buffer_unordered(max_in_flight.max(1))
        .collect()
        .await;
    reads.into_iter().collect()
}

/// What a function does when the tagging index (`GetResources`) could not be read
/// ([`index_failure`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexFailure {
    /// The role may not call `tag:GetResources` (a stack from before it was granted): scan
    /// instead, and log the fix, so an upgrade never stops deploys.
    Denied,
    /// The function's credentials were refused (expired, unknown, a bad signature): every
    /// other call would be refused too, so fail with nothing written, and say so.
    Credentials,
    /// Another refusal (a `ValidationException` or `InvalidParameterException` would be a
    /// rollgate bug in the query): scan instead, and log the error to report.
    Refused,
    /// Throttled, a 5xx, a timeout: fail `Retryable`, nothing written, and let the retry look
    /// again. A scan here would cost the fleet's calls exactly when the account is throttled.
    Unavailable,
}

impl IndexFailure {
    /// Whether the run goes on with the scan of every watched cluster.
    pub fn scans(self) -> bool {
        matches!(self, Self::Denied | Self::Refused)
    }

    /// What the log says besides the error, for a person.
    pub fn advice(self) -> &'static str {
        match self {
            Self::Denied => {
                "the tagging index is denied; every watched cluster is scanned instead. Grant tag:GetResources (Resource \"*\"; the template does) or set ROLLGATE_DISCOVERY=scan"
            }
            Self::Refused => {
                "the tagging index refused rollgate's query; every watched cluster is scanned instead. This is a bug: report it with this error"
            }
            Self::Credentials => {
                "AWS refused the function's credentials (expired or invalid); nothing was written. Check the function's role and the environment's AWS_* variables"
            }
            Self::Unavailable => "the tagging index cannot be read now; nothing was written and the run is retried",
        }
    }
}

/// How to treat `e`, an error of `GetResources` ([`IndexFailure`]). Used by deploy's push and the
/// gate's sweep alike.
pub fn index_failure(e: &AwsError) -> IndexFailure {
    let denied = |code: &str| {
        matches!(code, "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "UnauthorizedException")
    };
    let credentials = |code: &str| {
        matches!(
            code,
            "ExpiredToken"
                | "ExpiredTokenException"
                | "UnrecognizedClientException"
                | "InvalidClientTokenId"
                | "InvalidSignatureException"
                | "SignatureDoesNotMatch"
                | "IncompleteSignature"
                | "IncompleteSignatureException"
                | "MissingAuthenticationToken"
                | "MissingAuthenticationTokenException"
        )
    };
    match (e.class(), e.code()) {
        (rollgate_core::ErrorClass::Retryable, _) => IndexFailure::Unavailable,
        (_, Some(code)) if denied(code) => IndexFailure::Denied,
        (_, Some(code)) if credentials(code) => IndexFailure::Credentials,
        _ => IndexFailure::Refused,
    }
}

#[cfg(test)]
mod index_failure_tests {
    use super::*;
    use rollgate_core::ErrorClass;

    fn api(code: &str, class: ErrorClass) -> AwsError {
        AwsError::Api { operation: "GetResources", code: code.to_owned(), message: String::new(), class }
    }

    #[test]
    fn only_a_denial_advises_granting_the_permission_and_only_a_transient_failure_fails_the_run() {
        let table = [
            ("AccessDeniedException", ErrorClass::NonRetryable, IndexFailure::Denied),
            ("AccessDenied", ErrorClass::NonRetryable, IndexFailure::Denied),
            ("InvalidParameterException", ErrorClass::NonRetryable, IndexFailure::Refused),
            ("ExpiredTokenException", ErrorClass::NonRetryable, IndexFailure::Credentials),
            ("UnrecognizedClientException", ErrorClass::NonRetryable, IndexFailure::Credentials),
            // The Tagging API's JSON protocol names them with the Exception suffix.
            ("IncompleteSignatureException", ErrorClass::NonRetryable, IndexFailure::Credentials),
            ("MissingAuthenticationTokenException", ErrorClass::NonRetryable, IndexFailure::Credentials),
            ("PaginationTokenExpiredException", ErrorClass::Retryable, IndexFailure::Unavailable),
            ("ThrottledException", ErrorClass::Retryable, IndexFailure::Unavailable),
            ("InternalServiceException", ErrorClass::Retryable, IndexFailure::Unavailable),
        ];
        for (code, class, want) in table {
            assert_eq!(index_failure(&api(code, class)), want, "{code}");
        }
        assert!(IndexFailure::Denied.advice().contains("tag:GetResources"));
        assert!(!IndexFailure::Refused.advice().contains("Grant"));
        assert!(IndexFailure::Denied.scans() && IndexFailure::Refused.scans());
        assert!(!IndexFailure::Unavailable.scans() && !IndexFailure::Credentials.scans());
    }
}
