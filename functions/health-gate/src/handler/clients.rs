//! The gate's AWS capabilities ([`GateApi`]) and the production adapters that provide them.

use super::*;

/// Everything the gate needs from AWS and the network.
pub trait GateApi:
    ServiceDirectory
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

/// The production adapters, bundled so one value implements [`GateApi`].
pub struct Clients<E, C, N, P, B, R> {
    pub ecs: E,
    pub cloudwatch: C,
    pub events: N,
    pub probe: P,
    pub builds: B,
    /// ECR: whether a rollback target's images still exist.
    pub ecr: R,
}

mod delegate {
    //! Each capability of [`Clients`] is served by the adapter that owns it.
    use super::*;

    impl<E: ServiceDirectory + Sync, C: Sync, N: Sync, P: Sync, B: Sync, R: Sync> ServiceDirectory
        for Clients<E, C, N, P, B, R>
    {
        async fn list_services(&self, cluster: &str) -> Result<Vec<String>, AwsError> {
            self.ecs.list_services(cluster).await
        }
        async fn describe_services(&self, cluster: &str, services: &[String]) -> Result<Vec<ServiceView>, AwsError> {
            self.ecs.describe_services(cluster, services).await
        }
    }

    impl<E: ServiceHistory + Sync, C: Sync, N: Sync, P: Sync, B: Sync, R: Sync> ServiceHistory
        for Clients<E, C, N, P, B, R>
    {
        async fn service_deployments_since(
            &self,
            service: &ServiceArn,
            since: DateTime<Utc>,
        ) -> Result<Vec<rollgate_core::service::ServiceDeploymentBrief>, AwsError> {
            self.ecs.service_deployments_since(service, since).await
        }
        async fn revision_task_definitions(&self, revisions: &[String]) -> Result<Vec<(String, TaskDefArn)>, AwsError> {
            self.ecs.revision_task_definitions(revisions).await
        }
        async fn rollback_revisions(&self, deployments: &[String]) -> Result<Vec<(String, String)>, AwsError> {
            self.ecs.rollback_revisions(deployments).await
        }
    }

    impl<E: TaskDefinitions + Sync, C: Sync, N: Sync, P: Sync, B: Sync, R: Sync> TaskDefinitions
        for Clients<E, C, N, P, B, R>
    {
        async fn describe_task_definition(&self, arn: &TaskDefArn) -> Result<TaskDefSnapshot, AwsError> {
            self.ecs.describe_task_definition(arn).await
        }
        async fn deregister(&self, arn: &TaskDefArn) -> Result<(), AwsError> {
            self.ecs.deregister(arn).await
        }
        async fn describe_latest(&self, family: &str) -> Result<TaskDefSnapshot, AwsError> {
            self.ecs.describe_latest(family).await
        }
        async fn register_copy(
            &self,
            base: &TaskDefSnapshot,
            images: &[(String, String)],
            tags: &[(String, String)],
        ) -> Result<TaskDefArn, AwsError> {
            self.ecs.register_copy(base, images, tags).await
        }
    }

    impl<E: ServiceUpdater + Sync, C: Sync, N: Sync, P: Sync, B: Sync, R: Sync> ServiceUpdater
        for Clients<E, C, N, P, B, R>
    {
        async fn update_service(&self, service: &ServiceArn, task_definition: &TaskDefArn) -> Result<(), AwsError> {
            self.ecs.update_service(service, task_definition).await
        }
    }

    impl<E: ResourceTagger + Sync, C: Sync, N: Sync, P: Sync, B: Sync, R: Sync> ResourceTagger
        for Clients<E, C, N, P, B, R>
    {
        async fn tag_resource(&self, arn: &str, tags: &[(String, String)]) -> Result<(), AwsError> {
            self.ecs.tag_resource(arn, tags).await
        }

        async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
            self.ecs.untag_resource(arn, keys).await
        }
    }

    impl<E: Sync, C: AlarmReader + Sync, N: Sync, P: Sync, B: Sync, R: Sync> AlarmReader for Clients<E, C, N, P, B, R> {
        async fn alarms_in_alarm(&self) -> Result<Vec<String>, AwsError> {
            self.cloudwatch.alarms_in_alarm().await
        }

        async fn alarms_entered(&self, since: DateTime<Utc>) -> Result<Vec<AlarmEntry>, AwsError> {
            self.cloudwatch.alarms_entered(since).await
        }
    }

    impl<E: Sync, C: Sync, N: Notifier + Sync, P: Sync, B: Sync, R: Sync> Notifier for Clients<E, C, N, P, B, R> {
        async fn publish(&self, events: &[rollgate_core::notify::Outgoing]) -> Result<(), AwsError> {
            self.events.publish(events).await
        }
    }

    impl<E: Sync, C: Sync, N: Sync, P: SmokeRunner + Sync, B: Sync, R: Sync> SmokeRunner for Clients<E, C, N, P, B, R> {
        async fn run(&self, test: &rollgate_core::gate::SmokeTest) -> Result<(u16, String), String> {
            self.probe.run(test).await
        }
    }

    impl<E: Sync, C: Sync, N: Sync, P: Sync, B: BuildLookup + Sync, R: Sync> BuildLookup for Clients<E, C, N, P, B, R> {
        async fn build_of_image(&self, project: &str, image_tag: &str) -> Result<Option<BuildOfImage>, AwsError> {
            self.builds.build_of_image(project, image_tag).await
        }
    }

    impl<E: Sync, C: Sync, N: Sync, P: Sync, B: Sync, R: ImagePresence + Sync> ImagePresence for Clients<E, C, N, P, B, R> {
        async fn image_digest(
            &self,
            registry: &rollgate_core::AccountId,
            repository: &str,
            id: &rollgate_core::gate::EcrImageId,
        ) -> Result<Option<rollgate_core::Digest>, AwsError> {
            self.ecr.image_digest(registry, repository, id).await
        }
    }
}
