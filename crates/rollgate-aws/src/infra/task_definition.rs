//! The app's task-definition family: DescribeTaskDefinition (the live revision); the plan's
//! new revision (RegisterTaskDefinition); ListTaskDefinitions and DeregisterTaskDefinition
//! (`down`, `status`).

use std::collections::BTreeMap;

use aws_sdk_ecs::types as ecs;
use rollgate_core::TaskDefArn;
use rollgate_core::infra::Attrs;
use rollgate_core::infra::desired::{Env, Value, app_owns};
use rollgate_core::infra::plan::{LIVE_IMAGE, LIVE_TAGS, NewRevision};
use rollgate_core::infra::spec::TaskDefinitionSpec;

use super::cluster::ecs_tags;
use super::{Infra, absent, api, attrs, built, int, managed_tags};
use crate::AwsError;

impl Infra {
    /// The live revision `id` (the ARN the service runs, or the family for its newest ACTIVE
    /// revision) as canonical attributes, with its `container`'s image and every tag (observed
    /// only: what the plan's new revision keeps). `None`: no such revision; or, read by family,
    /// an INACTIVE one (after `down`: never a base to build on).
    ///
    /// A revision the service runs is read whatever its status: housekeeping (CI, a cleanup
    /// script) deregisters old revisions, the live one too, and ECS keeps running and scaling
    /// it ([DeregisterTaskDefinition](https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeregisterTaskDefinition.html));
    /// DescribeTaskDefinition still answers it. Reading it as absent would make `up` register a
    /// revision with the placeholder image and move the service onto it.
    pub(super) async fn read_task_definition(
        &self,
        id: &str,
        container: &str,
        live: bool,
    ) -> Result<Option<Attrs>, AwsError> {
        let out = self
            .ecs
            .describe_task_definition()
            .task_definition(id)
            .include(ecs::TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(api("DescribeTaskDefinition"));
        let Some(out) = absent(out, &["ClientException"])? else { return Ok(None) };
        // ECS resolves a bare family to its newest ACTIVE revision; a deregistered (INACTIVE)
        // revision is a base to build on only while the service runs it.
        let Some(d) =
            out.task_definition.filter(|d| live || d.status.as_ref() == Some(&ecs::TaskDefinitionStatus::Active))
        else {
            return Ok(None);
        };
        let c = d.container_definitions().iter().find(|c| c.name() == Some(container));
        let health = c.and_then(|c| c.health_check.as_ref());
        let env: BTreeMap<String, String> = c
            .map(|c| {
                c.environment().iter().filter_map(|kv| Some((kv.name()?.to_owned(), kv.value()?.to_owned()))).collect()
            })
            .unwrap_or_default();
        let log_group = c
            .and_then(|c| c.log_configuration.as_ref())
            .and_then(|l| l.options.as_ref())
            .and_then(|o| o.get("awslogs-group").cloned())
            .unwrap_or_default();
        let tags = out.tags.unwrap_or_default();
        let tag_pairs = || tags.iter().filter_map(|t| Some((t.key.as_deref()?, t.value.as_deref()?)));
        Ok(Some(attrs([
            ("cpu", Value::opt(d.cpu.clone())),
            ("memory", Value::opt(d.memory.clone())),
            ("container", Value::opt(c.and_then(|c| c.name.clone()))),
            (
                "port",
                Value::opt(
                    c.and_then(|c| c.port_mappings().first().and_then(|p| p.container_port)).map(|p| p.to_string()),
                ),
            ),
            ("health_check", Value::opt(health.and_then(|h| h.command().get(1).cloned()))),
            ("health_check_start_period", Value::opt(health.and_then(|h| h.start_period).map(|s| s.to_string()))),
            (
                "cpu_architecture",
                Value::text(
                    d.runtime_platform
                        .as_ref()
                        .and_then(|p| p.cpu_architecture.as_ref())
                        .map(|a| a.as_str().to_owned())
                        .unwrap_or_else(|| "X86_64".into()),
                ),
            ),
            ("environment", Value::Map(env)),
            ("log_group", Value::text(log_group)),
            ("execution_role", Value::opt(d.execution_role_arn.clone())),
            ("task_role", Value::opt(d.task_role_arn.clone())),
            ("tags", managed_tags(tag_pairs())),
            // The image the new revision keeps: the container's; when the config renamed it,
            // the image of the revision's only container (never the placeholder over a live app).
            (
                LIVE_IMAGE,
                Value::opt(
                    c.or(match d.container_definitions() {
                        [only] => Some(only),
                        _ => None,
                    })
                    .and_then(|c| c.image.clone()),
                ),
            ),
            (LIVE_TAGS, Value::map(tag_pairs())),
            ("arn", Value::opt(d.task_definition_arn.clone())),
        ])))
    }

    /// Registers the plan's revision of the family: the config's settings, the image and tags
    /// the plan chose ([`NewRevision`]), so the health gate verifies the configuration change
    /// like any rollout. Returns its ARN.
    pub(super) async fn register_task_definition(
        &self,
        spec: &TaskDefinitionSpec,
        revision: &NewRevision,
        env: &Env,
    ) -> Result<String, AwsError> {
        let health = built(
            ecs::HealthCheck::builder()
                .command("CMD-SHELL")
                .command(&spec.health_check)
                .interval(30)
                .timeout(5)
                .retries(3)
                .start_period(int("health_check_start_period", spec.health_check_start_period)?)
                .build(),
        )?;
        let logs = built(
            ecs::LogConfiguration::builder()
                .log_driver(ecs::LogDriver::Awslogs)
                .options("awslogs-group", &spec.log_group)
                .options("awslogs-region", env.region.as_str())
                .options("awslogs-stream-prefix", &spec.container)
                .build(),
        )?;
        let environment =
            spec.environment.iter().map(|(k, v)| ecs::KeyValuePair::builder().name(k).value(v).build()).collect();
        let container = ecs::ContainerDefinition::builder()
            .name(&spec.container)
            .image(&revision.image)
            .essential(true)
            .port_mappings(
                ecs::PortMapping::builder()
                    .container_port(i32::from(spec.port))
                    .protocol(ecs::TransportProtocol::Tcp)
                    .build(),
            )
            .health_check(health)
            .log_configuration(logs)
            .set_environment(Some(environment))
            .build();
        let out = self
            .ecs
            .register_task_definition()
            .family(&revision.family)
            .network_mode(ecs::NetworkMode::Awsvpc)
            .requires_compatibilities(ecs::Compatibility::Fargate)
            .cpu(spec.cpu.to_string())
            .memory(spec.memory.to_string())
            .runtime_platform(
                ecs::RuntimePlatform::builder()
                    .cpu_architecture(spec.cpu_architecture.as_str().into())
                    .operating_system_family(ecs::OsFamily::Linux)
                    .build(),
            )
            .execution_role_arn(&spec.execution_role)
            .task_role_arn(&spec.task_role)
            .container_definitions(container)
            .set_tags(Some(ecs_tags(&revision.tags)))
            .send()
            .await
            .map_err(api("RegisterTaskDefinition"))?;
        out.task_definition
            .and_then(|t| t.task_definition_arn)
            .ok_or(AwsError::Incomplete { operation: "RegisterTaskDefinition", field: "taskDefinitionArn" })
    }

    /// Deregisters every active revision of the family that carries this app's tags.
    pub(super) async fn deregister_family(&self, family: &str, app: &str) -> Result<(), AwsError> {
        for arn in self.revisions(family).await? {
            let out = self
                .ecs
                .describe_task_definition()
                .task_definition(&arn)
                .include(ecs::TaskDefinitionField::Tags)
                .send()
                .await
                .map_err(api("DescribeTaskDefinition"))?;
            let tags: BTreeMap<String, String> =
                out.tags.unwrap_or_default().into_iter().filter_map(|t| Some((t.key?, t.value?))).collect();
            if !app_owns(&tags, app) {
                continue;
            }
            self.ecs
                .deregister_task_definition()
                .task_definition(&arn)
                .send()
                .await
                .map_err(api("DeregisterTaskDefinition"))?;
        }
        Ok(())
    }

    /// Active revisions of a family, newest first
    /// ([ListTaskDefinitions](https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListTaskDefinitions.html),
    /// every page). Errors: [`AwsError::Api`] when a page's call fails.
    pub async fn revisions(&self, family: &str) -> Result<Vec<String>, AwsError> {
        self.revisions_in(family, ecs::TaskDefinitionStatus::Active).await
    }

    /// Every revision of a family ECS still describes, ACTIVE and deregistered (INACTIVE),
    /// newest first: a history with CI deregistering old revisions still shows the last
    /// known good and what ran. Two ListTaskDefinitions listings (ECS lists one status at a
    /// time; its default is ACTIVE). Errors: [`AwsError::Api`] when a page's call fails.
    pub async fn revisions_any_status(&self, family: &str) -> Result<Vec<String>, AwsError> {
        let mut arns = self.revisions_in(family, ecs::TaskDefinitionStatus::Active).await?;
        arns.extend(self.revisions_in(family, ecs::TaskDefinitionStatus::Inactive).await?);
        let number = |a: &String| TaskDefArn::parse(a).ok().map(|t| t.revision().number);
        arns.sort_by_key(|a| std::cmp::Reverse(number(a)));
        Ok(arns)
    }

    async fn revisions_in(&self, family: &str, status: ecs::TaskDefinitionStatus) -> Result<Vec<String>, AwsError> {
        let mut arns = Vec::new();
        let mut pages = self
            .ecs
            .list_task_definitions()
            .family_prefix(family)
            .status(status)
            .sort(ecs::SortOrder::Desc)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(api("ListTaskDefinitions"))?;
            // familyPrefix matches prefixes: keep this family's revisions only.
            arns.extend(
                page.task_definition_arns
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|a| TaskDefArn::parse(a).is_ok_and(|t| t.revision().family == family)),
            );
        }
        Ok(arns)
    }
}
