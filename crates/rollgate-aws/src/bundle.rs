//! One way to lend AWS to a function: [`Aws`], a function's capability adapters in one value.
//!
//! Each handler takes one `&A` bounded by the capability traits it uses (deploy's `DeployApi`,
//! the gate's `GateApi`, model-build's `ModelApi`), and every function's `main.rs` builds an
//! [`Aws`] from one `SdkConfig`, with the parts it needs. Each trait is served by the part that
//! owns it: ECS's by `ecs`, ECR's by `ecr`, and so on. A part a function does not use stays
//! `()`. A test swaps one part for an in-memory stand-in and keeps the others real.

use chrono::{DateTime, Utc};
use rollgate_core::gate::{AlarmEntry, EcrImageId, SmokeTest};
use rollgate_core::image::Manifest;
use rollgate_core::index::{IndexQuery, Indexed};
use rollgate_core::model::BuildPlan;
use rollgate_core::notify::Outgoing;
use rollgate_core::reconcile::RepoImage;
use rollgate_core::service::{ServiceDeploymentBrief, ServiceView, Tags};
use rollgate_core::{AccountId, Digest, ServiceArn, TaskDefArn};

use crate::AwsError;
use crate::cloudwatch::AlarmReader;
use crate::codebuild::{BuildLookup, BuildOfImage, BuildStarter};
use crate::ecr::{ImageCatalog, ImagePresence, RepositoryTags};
use crate::ecs::{ResourceTagger, ServiceDirectory, ServiceHistory, ServiceUpdater, TaskDefSnapshot, TaskDefinitions};
use crate::eventbridge::Notifier;
use crate::index::ResourceIndex;
use crate::probe::SmokeRunner;

/// A function's AWS capabilities: `ecs` serves [`ServiceDirectory`], [`ServiceHistory`],
/// [`TaskDefinitions`], [`ServiceUpdater`], [`ResourceTagger`] and [`ResourceIndex`]; `ecr` serves
/// [`ImageCatalog`], [`ImagePresence`] and [`RepositoryTags`]; `cloudwatch` [`AlarmReader`];
/// `events` [`Notifier`]; `probe` [`SmokeRunner`]; `builds` [`BuildLookup`] and
/// [`BuildStarter`]. Build it with [`Aws::new`] and the `with_*` methods.
#[derive(Debug, Clone, Default)]
pub struct Aws<E = (), R = (), C = (), N = (), P = (), B = ()> {
    /// ECS (production: [`crate::ecs::Ecs`]).
    pub ecs: E,
    /// ECR (production: [`crate::ecr::Ecr`]).
    pub ecr: R,
    /// CloudWatch alarms (production: [`crate::cloudwatch::CloudWatch`]).
    pub cloudwatch: C,
    /// EventBridge notifications (production: [`crate::eventbridge::EventBridge`]).
    pub events: N,
    /// The smoke test's HTTP client (production: [`crate::probe::HttpProbe`]).
    pub probe: P,
    /// CodeBuild (production: [`crate::codebuild::CodeBuild`]).
    pub builds: B,
}

impl Aws {
    /// No capability yet: add each part the function uses with a `with_*` method.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<E, R, C, N, P, B> Aws<E, R, C, N, P, B> {
    /// With `ecs` serving the ECS capabilities.
    pub fn with_ecs<X>(self, ecs: X) -> Aws<X, R, C, N, P, B> {
        let Aws { ecr, cloudwatch, events, probe, builds, .. } = self;
        Aws { ecs, ecr, cloudwatch, events, probe, builds }
    }
    /// With `ecr` serving the ECR capabilities.
    pub fn with_ecr<X>(self, ecr: X) -> Aws<E, X, C, N, P, B> {
        let Aws { ecs, cloudwatch, events, probe, builds, .. } = self;
        Aws { ecs, ecr, cloudwatch, events, probe, builds }
    }
    /// With `cloudwatch` serving [`AlarmReader`].
    pub fn with_cloudwatch<X>(self, cloudwatch: X) -> Aws<E, R, X, N, P, B> {
        let Aws { ecs, ecr, events, probe, builds, .. } = self;
        Aws { ecs, ecr, cloudwatch, events, probe, builds }
    }
    /// With `events` serving [`Notifier`].
    pub fn with_events<X>(self, events: X) -> Aws<E, R, C, X, P, B> {
        let Aws { ecs, ecr, cloudwatch, probe, builds, .. } = self;
        Aws { ecs, ecr, cloudwatch, events, probe, builds }
    }
    /// With `probe` serving [`SmokeRunner`].
    pub fn with_probe<X>(self, probe: X) -> Aws<E, R, C, N, X, B> {
        let Aws { ecs, ecr, cloudwatch, events, builds, .. } = self;
        Aws { ecs, ecr, cloudwatch, events, probe, builds }
    }
    /// With `builds` serving the CodeBuild capabilities.
    pub fn with_builds<X>(self, builds: X) -> Aws<E, R, C, N, P, X> {
        let Aws { ecs, ecr, cloudwatch, events, probe, .. } = self;
        Aws { ecs, ecr, cloudwatch, events, probe, builds }
    }
}

impl<E: ServiceDirectory + Sync, R: Sync, C: Sync, N: Sync, P: Sync, B: Sync> ServiceDirectory
    for Aws<E, R, C, N, P, B>
{
    async fn list_services(&self, cluster: &str) -> Result<Vec<String>, AwsError> {
        self.ecs.list_services(cluster).await
    }
    async fn describe_services(&self, cluster: &str, services: &[String]) -> Result<Vec<ServiceView>, AwsError> {
        self.ecs.describe_services(cluster, services).await
    }
}

impl<E: ResourceIndex + Sync, R: Sync, C: Sync, N: Sync, P: Sync, B: Sync> ResourceIndex for Aws<E, R, C, N, P, B> {
    async fn resources(&self, query: &IndexQuery) -> Result<Vec<Indexed>, AwsError> {
        self.ecs.resources(query).await
    }
}

impl<E: ServiceHistory + Sync, R: Sync, C: Sync, N: Sync, P: Sync, B: Sync> ServiceHistory for Aws<E, R, C, N, P, B> {
    async fn service_deployments_since(
        &self,
        service: &ServiceArn,
        since: DateTime<Utc>,
    ) -> Result<Vec<ServiceDeploymentBrief>, AwsError> {
        self.ecs.service_deployments_since(service, since).await
    }
    async fn revision_task_definitions(&self, revisions: &[String]) -> Result<Vec<(String, TaskDefArn)>, AwsError> {
        self.ecs.revision_task_definitions(revisions).await
    }
    async fn rollback_revisions(&self, deployments: &[String]) -> Result<Vec<(String, String)>, AwsError> {
        self.ecs.rollback_revisions(deployments).await
    }
}

impl<E: TaskDefinitions + Sync, R: Sync, C: Sync, N: Sync, P: Sync, B: Sync> TaskDefinitions for Aws<E, R, C, N, P, B> {
    async fn describe_task_definition(&self, arn: &TaskDefArn) -> Result<TaskDefSnapshot, AwsError> {
        self.ecs.describe_task_definition(arn).await
    }
    async fn describe_latest(&self, family: &str) -> Result<TaskDefSnapshot, AwsError> {
        self.ecs.describe_latest(family).await
    }
    async fn describe_active_between(
        &self,
        live: &TaskDefArn,
        below: u32,
        limit: u32,
    ) -> Result<Vec<TaskDefSnapshot>, AwsError> {
        self.ecs.describe_active_between(live, below, limit).await
    }
    async fn deregister(&self, arn: &TaskDefArn) -> Result<(), AwsError> {
        self.ecs.deregister(arn).await
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

impl<E: ServiceUpdater + Sync, R: Sync, C: Sync, N: Sync, P: Sync, B: Sync> ServiceUpdater for Aws<E, R, C, N, P, B> {
    async fn update_service(&self, service: &ServiceArn, task_definition: &TaskDefArn) -> Result<(), AwsError> {
        self.ecs.update_service(service, task_definition).await
    }
}

impl<E: ResourceTagger + Sync, R: Sync, C: Sync, N: Sync, P: Sync, B: Sync> ResourceTagger for Aws<E, R, C, N, P, B> {
    async fn tag_resource(&self, arn: &str, tags: &[(String, String)]) -> Result<(), AwsError> {
        self.ecs.tag_resource(arn, tags).await
    }
    async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        self.ecs.untag_resource(arn, keys).await
    }
}

impl<E: Sync, R: ImageCatalog + Sync, C: Sync, N: Sync, P: Sync, B: Sync> ImageCatalog for Aws<E, R, C, N, P, B> {
    async fn images(&self, registry: &AccountId, repository: &str) -> Result<Vec<RepoImage>, AwsError> {
        self.ecr.images(registry, repository).await
    }
    async fn manifest(
        &self,
        registry: &AccountId,
        repository: &str,
        digest: &Digest,
    ) -> Result<Option<Manifest>, AwsError> {
        self.ecr.manifest(registry, repository, digest).await
    }
}

impl<E: Sync, R: ImagePresence + Sync, C: Sync, N: Sync, P: Sync, B: Sync> ImagePresence for Aws<E, R, C, N, P, B> {
    async fn image_digest(
        &self,
        registry: &AccountId,
        repository: &str,
        id: &EcrImageId,
    ) -> Result<Option<Digest>, AwsError> {
        self.ecr.image_digest(registry, repository, id).await
    }
}

impl<E: Sync, R: RepositoryTags + Sync, C: Sync, N: Sync, P: Sync, B: Sync> RepositoryTags for Aws<E, R, C, N, P, B> {
    async fn repository_tags(&self, repository_arn: &str) -> Result<Tags, AwsError> {
        self.ecr.repository_tags(repository_arn).await
    }
    async fn tag_repository(&self, repository_arn: &str, tags: &[(String, String)]) -> Result<(), AwsError> {
        self.ecr.tag_repository(repository_arn, tags).await
    }
}

impl<E: Sync, R: Sync, C: AlarmReader + Sync, N: Sync, P: Sync, B: Sync> AlarmReader for Aws<E, R, C, N, P, B> {
    async fn alarms_in_alarm(&self) -> Result<Vec<String>, AwsError> {
        self.cloudwatch.alarms_in_alarm().await
    }
    async fn alarms_entered(&self, since: DateTime<Utc>) -> Result<Vec<AlarmEntry>, AwsError> {
        self.cloudwatch.alarms_entered(since).await
    }
}

impl<E: Sync, R: Sync, C: Sync, N: Notifier + Sync, P: Sync, B: Sync> Notifier for Aws<E, R, C, N, P, B> {
    async fn publish(&self, events: &[Outgoing]) -> Result<(), AwsError> {
        self.events.publish(events).await
    }
}

impl<E: Sync, R: Sync, C: Sync, N: Sync, P: SmokeRunner + Sync, B: Sync> SmokeRunner for Aws<E, R, C, N, P, B> {
    async fn run(&self, test: &SmokeTest) -> Result<(u16, String), String> {
        self.probe.run(test).await
    }
}

impl<E: Sync, R: Sync, C: Sync, N: Sync, P: Sync, B: BuildLookup + Sync> BuildLookup for Aws<E, R, C, N, P, B> {
    async fn build_of_image(&self, project: &str, image_tag: &str) -> Result<Option<BuildOfImage>, AwsError> {
        self.builds.build_of_image(project, image_tag).await
    }
}

impl<E: Sync, R: Sync, C: Sync, N: Sync, P: Sync, B: BuildStarter + Sync> BuildStarter for Aws<E, R, C, N, P, B> {
    async fn start_build(&self, plan: &BuildPlan) -> Result<String, AwsError> {
        self.builds.start_build(plan).await
    }
}
