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

/// Each cluster's services, or the error that made it unreadable.
impl Discovered {
    /// Both reads' services and unreadable clusters, `self`'s first.
    pub fn merge(mut self, other: Discovered) -> Discovered {
        self.services.extend(other.services);
        self.unreadable.extend(other.unreadable);
        self
    }
}

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
