//! The gate's AWS capabilities ([`GateApi`]); `rollgate_aws::Aws` with its ECS, ECR, CloudWatch,
//! EventBridge, probe and CodeBuild parts provides them all.

use super::*;

/// Everything the gate needs from AWS and the network.
pub trait GateApi:
    ServiceDirectory
    + ResourceIndex
    + ServiceHistory
    + TaskDefinitions
    + ServiceUpdater
    + ResourceTagger
    + AlarmReader
    + Notifier
    + SmokeRunner
    + BuildLookup
    + ImagePresence
    + Sync
{
}
impl<T> GateApi for T where
    T: ServiceDirectory
        + ResourceIndex
        + ServiceHistory
        + TaskDefinitions
        + ServiceUpdater
        + ResourceTagger
        + AlarmReader
        + Notifier
        + SmokeRunner
        + BuildLookup
        + ImagePresence
        + Sync
{
}
