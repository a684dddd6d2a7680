//! ECS capabilities, as small traits over domain types, and their SDK adapter.

use std::future::Future;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{Compatibility, LaunchType, ServiceField, Tag, TaskDefinition, TaskDefinitionField};
use aws_smithy_types::retry::RetryConfig;
use rollgate_core::registration::{EARLIER_ATTEMPT_LOOKBACK, Registration, earlier_attempt};
use rollgate_core::service::{
    ContainerImage, DeploymentController, DeploymentView, ServiceDeploymentBrief, ServiceDeploymentStatus, ServiceView,
    Tags, TaskDefSummary,
};
use rollgate_core::tags::TagWrite;
use rollgate_core::{ServiceArn, TaskDefArn};
use tracing::warn;

use crate::AwsError;

mod history;
pub mod memory;

pub use history::*;

/// DescribeServices takes at most 10 services per call.
pub const DESCRIBE_SERVICES_BATCH: usize = 10;

/// Finding services and reading their tags.
pub trait ServiceDirectory {
    /// Every service ARN in a cluster (name or ARN) that can opt in: services with the short,
    /// pre-2021 ARN format cannot be tagged, and are left out
    /// ([ListServices](https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListServices.html),
    /// every page, 100 a page). Errors: [`AwsError::Api`] when a page's call fails
    /// (`ClusterNotFoundException` for a cluster that does not exist).
    fn list_services(&self, cluster: &str) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;

    /// Up to [`DESCRIBE_SERVICES_BATCH`] services of one cluster, with their tags
    /// ([DescribeServices](https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeServices.html)
    /// with `include=TAGS`). A service answered in an unreadable shape is left out with a
    /// warning; one ECS reports in `failures` (e.g. `MISSING`) is absent from the answer.
    /// Errors: [`AwsError::Api`] when the call fails.
    fn describe_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> impl Future<Output = Result<Vec<ServiceView>, AwsError>> + Send;
}

/// A task-definition revision as ECS returned it: the summary rollgate decides on,
/// and the full definition it copies from.
#[derive(Debug, Clone)]
pub struct TaskDefSnapshot {
    /// The parts rollgate decides on: ARN, containers and images, tags, platform.
    pub summary: TaskDefSummary,
    definition: TaskDefinition,
}

impl TaskDefSnapshot {
    /// Whether the revision is ACTIVE (not deregistered).
    pub fn is_active(&self) -> bool {
        self.definition.status.as_ref().is_none_or(|s| *s == aws_sdk_ecs::types::TaskDefinitionStatus::Active)
    }

    /// A snapshot with an empty definition, for in-memory stand-ins in tests.
    #[cfg(test)]
    pub(crate) fn for_test(summary: TaskDefSummary, active: bool) -> Self {
        use aws_sdk_ecs::types::TaskDefinitionStatus;
        let status = if active { TaskDefinitionStatus::Active } else { TaskDefinitionStatus::Inactive };
        Self { summary, definition: TaskDefinition::builder().status(status).build() }
    }
}

/// Reading and registering task-definition revisions.
pub trait TaskDefinitions {
    /// One revision with its tags (DescribeTaskDefinition with `include=TAGS`; it answers INACTIVE
    /// revisions too: see [`TaskDefSnapshot::is_active`]). Errors: [`AwsError::Api`] when the call fails
    /// (`ClientException` for a revision ECS has deleted); [`AwsError::Incomplete`] without
    /// `taskDefinition` or `taskDefinitionArn`; [`AwsError::Config`] when that ARN does not parse.
    fn describe_task_definition(
        &self,
        arn: &TaskDefArn,
    ) -> impl Future<Output = Result<TaskDefSnapshot, AwsError>> + Send;

    /// The family's latest active revision (DescribeTaskDefinition by family name).
    fn describe_latest(&self, family: &str) -> impl Future<Output = Result<TaskDefSnapshot, AwsError>> + Send;

    /// The ACTIVE revisions of `live`'s family numbered from `below - 1` down to the one after
    /// `live`, newest first, at most `limit` of them: one DescribeTaskDefinition of
    /// `family:number` each (it answers INACTIVE revisions too, which are left out). A revision
    /// ECS has deleted (ClientException "Unable to describe task definition") is skipped.
    /// Errors: any other failed call.
    fn describe_active_between(
        &self,
        live: &TaskDefArn,
        below: u32,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<TaskDefSnapshot>, AwsError>> + Send
    where
        Self: Sync,
    {
        async move {
            let mut found = Vec::new();
            for number in (live.revision().number + 1..below).rev().take(limit as usize) {
                match self.describe_task_definition(&live.with_number(number)).await {
                    Ok(snapshot) if snapshot.is_active() => found.push(snapshot),
                    Ok(_) => {}
                    Err(e) if e.code() == Some("ClientException") => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(found)
        }
    }

    /// Carries out a [`Registration::Look`] step of [`rollgate_core::registration::registration`]:
    /// reads the ACTIVE revisions between `live` and the step's `below`
    /// ([`Self::describe_active_between`], at most [`EARLIER_ATTEMPT_LOOKBACK`]) and answers
    /// `Reuse` of the newest that [`earlier_attempt`] recognises by `marker`, else `Register`.
    /// Any other step is answered as it is, without a call. Errors: a failed read.
    fn settle_registration(
        &self,
        marker: &[(String, String)],
        live: &TaskDefArn,
        step: Registration,
    ) -> impl Future<Output = Result<Registration, AwsError>> + Send
    where
        Self: Sync,
    {
        async move {
            let Registration::Look { below, .. } = step else { return Ok(step) };
            let found = self.describe_active_between(live, below, EARLIER_ATTEMPT_LOOKBACK).await?;
            Ok(found.iter().find_map(|s| earlier_attempt(marker, &s.summary)).unwrap_or(Registration::Register))
        }
    }

    /// Deregisters a revision (cleaning up after a rollout that could not be completed).
    fn deregister(&self, arn: &TaskDefArn) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Registers a copy of `base` in which only the named containers get their new image
    /// (`images`: container name, digest-pinned image URI), with `tags` applied on create
    /// ([RegisterTaskDefinition](https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html);
    /// every field it accepts is copied). Returns the new revision's ARN. Errors:
    /// [`AwsError::Api`] when ECS refuses (e.g. `ClientException` for an invalid definition,
    /// or more than 50 tags) or the call fails; [`AwsError::Incomplete`] without an ARN.
    fn register_copy(
        &self,
        base: &TaskDefSnapshot,
        images: &[(String, String)],
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<TaskDefArn, AwsError>> + Send;
}

/// Pointing a service at a revision.
pub trait ServiceUpdater {
    /// UpdateService with only `taskDefinition` set: starts an ECS deployment of the revision
    /// (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html>). Errors:
    /// [`AwsError::Api`] when ECS refuses or the call fails.
    fn update_service(
        &self,
        service: &ServiceArn,
        task_definition: &TaskDefArn,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// Tagging ECS resources (services and task-definition revisions): the ledger's writes.
pub trait ResourceTagger {
    /// TagResource: sets `tags` (key, value), overwriting keys the resource has. Nothing to
    /// set: no call.
    fn tag_resource(&self, arn: &str, tags: &[(String, String)]) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// UntagResource: removes the tag `keys`. Nothing to remove: no call.
    fn untag_resource(&self, arn: &str, keys: &[String]) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// Carries out one [`TagWrite`] on `arn` in its order (set then remove, or remove first), so
/// the resource stays within ECS's 50 tags at every step (`rollgate_core::tags`).
pub async fn write_tags<T: ResourceTagger + Sync>(tagger: &T, arn: &str, write: &TagWrite) -> Result<(), AwsError> {
    if write.remove_first {
        tagger.untag_resource(arn, &write.remove).await?;
        tagger.tag_resource(arn, &write.set).await
    } else {
        tagger.tag_resource(arn, &write.set).await?;
        tagger.untag_resource(arn, &write.remove).await
    }
}

/// The SDK adapter for every ECS capability, and for finding ECS resources by tag
/// ([`crate::index::ResourceIndex`], through the Resource Groups Tagging API's client).
#[derive(Debug, Clone)]
pub struct Ecs {
    client: Client,
    tagging: aws_sdk_resourcegroupstagging::Client,
}

impl Ecs {
    /// The adapter over an ECS client and a tagging client built from `config` (region,
    /// credentials, endpoint, retries).
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self { client: Client::new(config), tagging: aws_sdk_resourcegroupstagging::Client::new(config) }
    }
}

impl crate::index::ResourceIndex for Ecs {
    async fn resources(
        &self,
        query: &rollgate_core::index::IndexQuery,
    ) -> Result<Vec<rollgate_core::index::Indexed>, AwsError> {
        crate::index::get_resources(&self.tagging, query).await
    }
}

impl ServiceDirectory for Ecs {
    async fn list_services(&self, cluster: &str) -> Result<Vec<String>, AwsError> {
        let mut arns = Vec::new();
        let mut pages = self.client.list_services().cluster(cluster).max_results(100).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("ListServices", e))?;
            // A short-ARN (pre-2021) service cannot carry tags, so it never opts in: it is not
            // described at all (a policy on service/<cluster>/* does not even cover it).
            arns.extend(page.service_arns.unwrap_or_default().into_iter().filter(|a| !ServiceArn::is_short(a)));
        }
        Ok(arns)
    }

    async fn describe_services(&self, cluster: &str, services: &[String]) -> Result<Vec<ServiceView>, AwsError> {
        if services.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .describe_services()
            .cluster(cluster)
            .set_services(Some(services.to_vec()))
            .include(ServiceField::Tags)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeServices", e))?;
        // One service ECS describes in a way rollgate cannot read never costs its batch (and
        // so its cluster) a deploy: it is left out, with a warning that names it.
        let mut views = Vec::with_capacity(services.len());
        for s in out.services.unwrap_or_default() {
            let Some(arn) = s.service_arn.as_deref() else {
                warn!(cluster, "DescribeServices returned a service without serviceArn; left out");
                continue;
            };
            let arn = match ServiceArn::in_cluster(arn, s.cluster_arn.as_deref().unwrap_or(cluster)) {
                Ok(arn) => arn,
                Err(e) => {
                    warn!(cluster, service = arn, error = %e, "cannot read this service's ARN; left out");
                    continue;
                }
            };
            let fargate = s.launch_type.as_ref().is_some_and(|l| *l == LaunchType::Fargate)
                || (!s.capacity_provider_strategy().is_empty()
                    && s.capacity_provider_strategy()
                        .iter()
                        .all(|c| matches!(c.capacity_provider(), "FARGATE" | "FARGATE_SPOT")));
            views.push(ServiceView {
                arn,
                status: rollgate_core::service::ServiceStatus::from_api(s.status.as_deref().unwrap_or_default()),
                // Emulators and old services may report a family:revision; keep only real ARNs.
                task_definition: s.task_definition.and_then(|t| TaskDefArn::parse(&t).ok()),
                tags: tags_of(s.tags),
                deployments: s.deployments.unwrap_or_default().into_iter().map(deployment_view).collect(),
                deployment_controller: DeploymentController::from_api(
                    s.deployment_controller.as_ref().map(|c| c.r#type.as_str()),
                ),
                fargate,
                current_service_deployment: s.current_service_deployment,
            });
        }
        Ok(views)
    }
}

impl Ecs {
    /// A revision (by ARN, family:revision, or family for the latest), with its tags.
    async fn describe(&self, id: &str) -> Result<TaskDefSnapshot, AwsError> {
        let out = self
            .client
            .describe_task_definition()
            .task_definition(id)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeTaskDefinition", e))?;
        let definition = out
            .task_definition
            .ok_or(AwsError::Incomplete { operation: "DescribeTaskDefinition", field: "taskDefinition" })?;
        let containers = definition
            .container_definitions()
            .iter()
            .map(|c| ContainerImage {
                name: c.name().unwrap_or_default().to_owned(),
                image: c.image().unwrap_or_default().to_owned(),
            })
            .collect();
        let arn = definition
            .task_definition_arn()
            .map(TaskDefArn::parse)
            .transpose()
            .map_err(|e| AwsError::Config(e.to_string()))?
            .ok_or(AwsError::Incomplete { operation: "DescribeTaskDefinition", field: "taskDefinitionArn" })?;
        let runtime = definition.runtime_platform();
        let platform = rollgate_core::image::Platform::of_task(
            runtime.and_then(|r| r.cpu_architecture()).map(|c| c.as_str()),
            runtime.and_then(|r| r.operating_system_family()).map(|o| o.as_str()),
            // Fargate's defaults apply only to a Fargate-only task definition: one that also
            // allows EC2 may run on an EC2 host, whose architecture decides.
            {
                let compatibilities = definition.requires_compatibilities();
                !compatibilities.is_empty() && compatibilities.iter().all(|c| *c == Compatibility::Fargate)
            },
        );
        let fargate_platform = rollgate_core::image::Platform::of_task(
            runtime.and_then(|r| r.cpu_architecture()).map(|c| c.as_str()),
            runtime.and_then(|r| r.operating_system_family()).map(|o| o.as_str()),
            true,
        );
        let summary = TaskDefSummary { arn, containers, tags: tags_of(out.tags), platform, fargate_platform };
        Ok(TaskDefSnapshot { summary, definition })
    }
}

impl TaskDefinitions for Ecs {
    async fn describe_latest(&self, family: &str) -> Result<TaskDefSnapshot, AwsError> {
        self.describe(family).await
    }

    async fn deregister(&self, arn: &TaskDefArn) -> Result<(), AwsError> {
        self.client
            .deregister_task_definition()
            .task_definition(arn.as_str())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DeregisterTaskDefinition", e))?;
        Ok(())
    }

    async fn describe_task_definition(&self, arn: &TaskDefArn) -> Result<TaskDefSnapshot, AwsError> {
        self.describe(arn.as_str()).await
    }

    async fn register_copy(
        &self,
        base: &TaskDefSnapshot,
        images: &[(String, String)],
        tags: &[(String, String)],
    ) -> Result<TaskDefArn, AwsError> {
        let d = &base.definition;
        let containers = d
            .container_definitions
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|mut c| {
                if let Some((_, image)) = images.iter().find(|(name, _)| c.name.as_ref() == Some(name)) {
                    c.image = Some(image.clone());
                }
                c
            })
            .collect();
        let marker = rollgate_core::ledger::rollout_marker(tags);
        let marker = marker.as_slice();
        let tags = to_sdk_tags(tags);
        // Every field RegisterTaskDefinition accepts, copied from the base revision.
        // (inferenceAccelerators is left out: AWS retired Elastic Inference and rejects it.)
        let request = self
            .client
            .register_task_definition()
            .set_family(d.family.clone())
            .set_task_role_arn(d.task_role_arn.clone())
            .set_execution_role_arn(d.execution_role_arn.clone())
            .set_network_mode(d.network_mode.clone())
            .set_container_definitions(Some(containers))
            .set_volumes(d.volumes.clone())
            .set_placement_constraints(d.placement_constraints.clone())
            .set_requires_compatibilities(d.requires_compatibilities.clone())
            .set_cpu(d.cpu.clone())
            .set_memory(d.memory.clone())
            .set_pid_mode(d.pid_mode.clone())
            .set_ipc_mode(d.ipc_mode.clone())
            .set_proxy_configuration(d.proxy_configuration.clone())
            .set_ephemeral_storage(d.ephemeral_storage.clone())
            .set_runtime_platform(d.runtime_platform.clone())
            .set_enable_fault_injection(d.enable_fault_injection)
            .set_tags(Some(tags));
        // RegisterTaskDefinition has no client token: an attempt whose answer is lost may
        // still have registered. So the SDK does not retry it blindly; before each new
        // attempt rollgate looks for the revision the lost attempt may have made (same
        // family, same ledger event and digest) and uses it.
        let attempts = self.client.config().retry_config().map_or(1, |r| r.max_attempts()).max(1);
        let mut last_error = None;
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(100 << attempt.min(5))).await;
                // If even the lookup fails, do not register blindly: fail Retryable, and the
                // next invocation finds the revision as the family's latest (handler::rollout).
                if let Some(found) = self.find_registered(d.family.as_deref().unwrap_or_default(), marker).await? {
                    return Ok(found);
                }
            }
            let sent = request
                .clone()
                .customize()
                .config_override(aws_sdk_ecs::config::Builder::default().retry_config(RetryConfig::disabled()))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("RegisterTaskDefinition", e));
            match sent {
                Ok(out) => {
                    let arn = out.task_definition.and_then(|t| t.task_definition_arn).ok_or(AwsError::Incomplete {
                        operation: "RegisterTaskDefinition",
                        field: "taskDefinitionArn",
                    })?;
                    return TaskDefArn::parse(&arn).map_err(|e| AwsError::Config(e.to_string()));
                }
                Err(e) if e.class() == rollgate_core::ErrorClass::Retryable => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or(AwsError::Incomplete { operation: "RegisterTaskDefinition", field: "response" }))
    }
}

impl Ecs {
    /// A recent revision of `family` that an attempt of this call registered: one of the five
    /// newest ACTIVE revisions (ListTaskDefinitions, newest first) that core's [`earlier_attempt`]
    /// recognises by `marker`, the rule a later invocation applies too
    /// ([`TaskDefinitions::settle_registration`]). Within one call a lost attempt is the
    /// family's newest or nearly so, so the five newest are enough. Errors: a failed read.
    async fn find_registered(&self, family: &str, marker: &[(String, String)]) -> Result<Option<TaskDefArn>, AwsError> {
        if marker.len() != rollgate_core::ledger::ROLLOUT_MARKER.len() {
            return Ok(None);
        }
        let recent = self
            .client
            .list_task_definitions()
            .family_prefix(family)
            .sort(aws_sdk_ecs::types::SortOrder::Desc)
            .max_results(5)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListTaskDefinitions", e))?
            .task_definition_arns
            .unwrap_or_default();
        for arn in recent {
            let Ok(arn) = TaskDefArn::parse(&arn) else { continue };
            if arn.revision().family != family {
                continue;
            }
            let snapshot = self.describe_task_definition(&arn).await?;
            if snapshot.is_active() && earlier_attempt(marker, &snapshot.summary).is_some() {
                return Ok(Some(arn));
            }
        }
        Ok(None)
    }
}

impl ServiceUpdater for Ecs {
    async fn update_service(&self, service: &ServiceArn, task_definition: &TaskDefArn) -> Result<(), AwsError> {
        self.client
            .update_service()
            .cluster(service.cluster_name())
            .service(service.as_str())
            .task_definition(task_definition.as_str())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("UpdateService", e))?;
        Ok(())
    }
}

impl ResourceTagger for Ecs {
    async fn tag_resource(&self, arn: &str, tags: &[(String, String)]) -> Result<(), AwsError> {
        if tags.is_empty() {
            return Ok(());
        }
        self.client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(to_sdk_tags(tags)))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("TagResource", e))?;
        Ok(())
    }

    async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.client
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("UntagResource", e))?;
        Ok(())
    }
}

fn to_sdk_tags(tags: &[(String, String)]) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

fn deployment_view(d: aws_sdk_ecs::types::Deployment) -> DeploymentView {
    DeploymentView {
        id: d.id.unwrap_or_default(),
        status: rollgate_core::service::DeploymentStatus::from_api(d.status.as_deref().unwrap_or_default()),
        task_definition: d.task_definition.and_then(|t| TaskDefArn::parse(&t).ok()),
        rollout_state: d.rollout_state.and_then(|r| rollgate_core::service::EcsRolloutState::from_api(r.as_str())),
        rollout_state_reason: d.rollout_state_reason,
        desired_count: d.desired_count,
        running_count: d.running_count,
        failed_tasks: d.failed_tasks,
        created_at: d.created_at.and_then(to_chrono),
        updated_at: d.updated_at.and_then(to_chrono),
    }
}

fn to_chrono(t: aws_smithy_types::DateTime) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

fn tags_of(tags: Option<Vec<Tag>>) -> Tags {
    tags.unwrap_or_default().into_iter().filter_map(|t| Some((t.key?, t.value.unwrap_or_default()))).collect()
}
