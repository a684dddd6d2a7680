//! The ECS service: DescribeServices; CreateService, UpdateService, TagResource,
//! UntagResource; UpdateService (desired count 0), DeleteService and the services-inactive
//! waiter (`down`).

use aws_sdk_ecs::types as ecs;
use rollgate_core::TaskDefArn;
use rollgate_core::infra::desired::{APP_TAG, MANAGED_TAG, SERVICE_SETTING_KEYS, Value};
use rollgate_core::infra::plan::{ALL_TAGS, LAST_GOOD, LIVE_TASK_DEFINITION};
use rollgate_core::infra::spec::ServiceSpec;
use rollgate_core::infra::{Attrs, Kind};
use rollgate_core::ledger::keys;
use rollgate_core::service::ServiceStatus;

use super::cluster::ecs_tags;
use super::{ApplyContext, Changed, Infra, absent, api, attrs, built, int};
use crate::AwsError;

fn network(spec: &ServiceSpec) -> Result<ecs::NetworkConfiguration, AwsError> {
    let vpc = built(
        ecs::AwsVpcConfiguration::builder()
            .set_subnets(Some(spec.subnets.clone()))
            .set_security_groups(Some(spec.security_groups.clone()))
            .assign_public_ip(if spec.assign_public_ip {
                ecs::AssignPublicIp::Enabled
            } else {
                ecs::AssignPublicIp::Disabled
            })
            .build(),
    )?;
    Ok(ecs::NetworkConfiguration::builder().awsvpc_configuration(vpc).build())
}

/// The circuit breaker with rollback (what rollgate's gate works with), and ECS's default
/// rolling percentages.
fn deployment_configuration() -> ecs::DeploymentConfiguration {
    ecs::DeploymentConfiguration::builder()
        .deployment_circuit_breaker(ecs::DeploymentCircuitBreaker::builder().enable(true).rollback(true).build())
        .maximum_percent(200)
        .minimum_healthy_percent(100)
        .build()
}

fn load_balancers(spec: &ServiceSpec) -> Vec<ecs::LoadBalancer> {
    spec.load_balancer
        .iter()
        .map(|lb| {
            ecs::LoadBalancer::builder()
                .target_group_arn(&lb.target_group_arn)
                .container_name(&lb.container_name)
                .container_port(i32::from(lb.container_port))
                .build()
        })
        .collect()
}

fn grace_period(spec: &ServiceSpec) -> Result<Option<i32>, AwsError> {
    spec.health_check_grace_period.map(|g| int("health_check_grace_period", g)).transpose()
}

impl Infra {
    pub(super) async fn read_service(&self, cluster: &str, name: &str) -> Result<Option<Attrs>, AwsError> {
        let out = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(name)
            .include(ecs::ServiceField::Tags)
            .send()
            .await
            .map_err(api("DescribeServices"));
        let Some(out) = absent(out, &["ClusterNotFoundException"])? else { return Ok(None) };
        let Some(s) = out
            .services
            .unwrap_or_default()
            .into_iter()
            .find(|s| s.status.as_deref().map(ServiceStatus::from_api) == Some(ServiceStatus::Active))
        else {
            return Ok(None);
        };
        let vpc = s.network_configuration.as_ref().and_then(|n| n.awsvpc_configuration.as_ref());
        let breaker = s
            .deployment_configuration
            .as_ref()
            .and_then(|d| d.deployment_circuit_breaker.as_ref())
            .map_or((false, false), |b| (b.enable, b.rollback));
        let live = s.task_definition.clone().unwrap_or_default();
        let family = TaskDefArn::parse(&live).map(|a| a.revision().family).unwrap_or_default();
        let tags = s.tags.clone().unwrap_or_default();
        let owned = |k: &str| k == MANAGED_TAG || k == APP_TAG || SERVICE_SETTING_KEYS.contains(&k);
        let tag_pairs = || tags.iter().filter_map(|t| Some((t.key.as_deref()?, t.value.as_deref()?)));
        Ok(Some(attrs([
            ("cluster", Value::text(s.cluster_arn.as_deref().and_then(|a| a.rsplit('/').next()).unwrap_or(cluster))),
            ("task_family", Value::text(family)),
            ("desired_count", Value::text(s.desired_count.to_string())),
            ("circuit_breaker", Value::map([("enable", breaker.0.to_string()), ("rollback", breaker.1.to_string())])),
            (
                "health_check_grace_period",
                Value::opt(
                    s.health_check_grace_period_seconds
                        .filter(|_| !s.load_balancers().is_empty())
                        .map(|g| g.to_string()),
                ),
            ),
            ("subnets", Value::set(vpc.map(|v| v.subnets().to_vec()).unwrap_or_default())),
            ("security_groups", Value::set(vpc.map(|v| v.security_groups().to_vec()).unwrap_or_default())),
            (
                "assign_public_ip",
                Value::text(
                    vpc.and_then(|v| v.assign_public_ip.as_ref())
                        .map(|a| a.as_str().to_owned())
                        .unwrap_or_else(|| "DISABLED".into()),
                ),
            ),
            (
                "load_balancer",
                s.load_balancers().first().map_or(Value::Absent, |l| {
                    Value::map([
                        ("target_group_arn", l.target_group_arn.clone().unwrap_or_default()),
                        ("container_name", l.container_name.clone().unwrap_or_default()),
                        ("container_port", l.container_port.map(|p| p.to_string()).unwrap_or_default()),
                    ])
                }),
            ),
            ("tags", Value::map(tag_pairs().filter(|(k, _)| owned(k)))),
            // Every tag, the owner's too: `up` counts them against AWS's 50 (check_tag_budget).
            (ALL_TAGS, Value::map(tag_pairs())),
            (LIVE_TASK_DEFINITION, Value::text(live)),
            (LAST_GOOD, Value::opt(tag_pairs().find(|(k, _)| *k == keys::LAST_GOOD).map(|(_, v)| v.to_owned()))),
            ("arn", Value::opt(s.service_arn)),
        ])))
    }

    pub(super) async fn create_service(
        &self,
        name: &str,
        spec: &ServiceSpec,
        ctx: &ApplyContext,
    ) -> Result<(), AwsError> {
        let task_definition = ctx
            .new_revision
            .clone()
            .or_else(|| ctx.observed_arn(Kind::TaskDefinition, &spec.task_family))
            .unwrap_or_else(|| spec.task_family.clone());
        self.ecs
            .create_service()
            // CreateService is not idempotent by name ("Creation of service was not
            // idempotent"): a retry after a lost answer would be refused. The SDK resends the
            // same input, so one client token per call makes the retry return the service.
            .client_token(uuid::Uuid::new_v4().to_string())
            .cluster(&spec.cluster)
            .service_name(name)
            .task_definition(task_definition)
            .desired_count(int("desired_count", spec.desired_count)?)
            .launch_type(ecs::LaunchType::Fargate)
            .network_configuration(network(spec)?)
            .deployment_configuration(deployment_configuration())
            .set_health_check_grace_period_seconds(grace_period(spec)?)
            .set_load_balancers(Some(load_balancers(spec)).filter(|l| !l.is_empty()))
            .enable_ecs_managed_tags(true)
            .propagate_tags(ecs::PropagateTags::Service)
            .set_tags(Some(ecs_tags(&spec.tags)))
            .send()
            .await
            .map_err(api("CreateService"))?;
        Ok(())
    }

    pub(super) async fn update_service(
        &self,
        name: &str,
        spec: &ServiceSpec,
        changed: &Changed<'_>,
        ctx: &ApplyContext,
    ) -> Result<(), AwsError> {
        let arn = ctx.observed_arn(Kind::Service, name).unwrap_or_default();
        let settings_changed = changed.0.iter().any(|d| d.attr != "tags");
        // Tags first, as for the repository; settings no longer configured are removed last.
        let mut removed = Vec::new();
        if changed.has("tags") {
            let had =
                ctx.observed(Kind::Service, name).and_then(|o| o.get("tags")).map(Value::as_map).unwrap_or_default();
            removed = had.keys().filter(|k| !spec.tags.contains_key(*k)).cloned().collect();
            self.tag_ecs(&arn, &spec.tags).await?;
        }
        if settings_changed {
            let mut update = self.ecs.update_service().cluster(&spec.cluster).service(name);
            if changed.has("desired_count") {
                update = update.desired_count(int("desired_count", spec.desired_count)?);
            }
            if changed.has("subnets") || changed.has("security_groups") || changed.has("assign_public_ip") {
                update = update.network_configuration(network(spec)?);
            }
            if changed.has("circuit_breaker") {
                update = update.deployment_configuration(deployment_configuration());
            }
            if changed.has("health_check_grace_period") {
                update = update.set_health_check_grace_period_seconds(grace_period(spec)?);
            }
            if changed.has("load_balancer") {
                update = update.set_load_balancers(Some(load_balancers(spec)));
            }
            if let Some(revision) = ctx.new_revision.as_ref().filter(|_| changed.has(LIVE_TASK_DEFINITION)) {
                update = update.task_definition(revision);
            }
            update.send().await.map_err(api("UpdateService"))?;
        }
        if !removed.is_empty() {
            self.ecs
                .untag_resource()
                .resource_arn(&arn)
                .set_tag_keys(Some(removed))
                .send()
                .await
                .map_err(api("UntagResource"))?;
        }
        Ok(())
    }

    /// Scales the service to 0, deletes it (`force`), and waits up to 10 minutes for it to be
    /// INACTIVE: a deleted service drains its tasks first (DRAINING), and ECS refuses to
    /// delete its cluster until then (the SDK's services-inactive waiter).
    pub(super) async fn delete_service(&self, cluster: &str, name: &str) -> Result<(), AwsError> {
        self.ecs
            .update_service()
            .cluster(cluster)
            .service(name)
            .desired_count(0)
            .send()
            .await
            .map_err(api("UpdateService"))?;
        self.ecs
            .delete_service()
            .cluster(cluster)
            .service(name)
            .force(true)
            .send()
            .await
            .map_err(api("DeleteService"))?;
        use aws_sdk_ecs::client::Waiters as _;
        self.ecs
            .wait_until_services_inactive()
            .cluster(cluster)
            .services(name)
            .wait(std::time::Duration::from_secs(600))
            .await
            .map_err(|e| AwsError::Config(format!("waiting for service {name} to drain: {e}")))?;
        Ok(())
    }
}
