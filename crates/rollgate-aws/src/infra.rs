//! Reading and converging the base infrastructure (`rollgate plan / up / down`).
//!
//! Each kind of resource is read into the same canonical attributes rollgate-core's
//! `desired` produces, so the plan is a comparison; writes are per kind and per attribute.

use std::collections::BTreeMap;

use aws_sdk_codebuild::types as cb;
use aws_sdk_ecs::types as ecs;
use rollgate_core::infra::desired::{APP_TAG, Env, MANAGED_TAG, SERVICE_SETTING_KEYS, Value, app_owns, region_tag};
use rollgate_core::infra::plan::{ALL_TAGS, Change, LIVE_TASK_DEFINITION, Observed, Step};
use rollgate_core::infra::{Attrs, Kind, Resource};
use rollgate_core::ledger::keys;
use rollgate_core::{AccountId, Region, TaskDefArn};

use crate::AwsError;

/// Every client `rollgate up` needs, built from one `SdkConfig`.
#[derive(Debug, Clone)]
pub struct Infra {
    ecr: aws_sdk_ecr::Client,
    ecs: aws_sdk_ecs::Client,
    iam: aws_sdk_iam::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    codebuild: aws_sdk_codebuild::Client,
    sts: aws_sdk_sts::Client,
    region: Option<String>,
}

/// Observed on a role only: the regions whose copy of the app uses it (its
/// `rollgate:region:<region>` tags), so `down` in one region never deletes another's role.
use rollgate_core::infra::teardown::{REGIONS_IN_USE, RegionFacts, TeardownAction, TeardownStep};

/// Observed on the service only: its `rollgate:last-good` tag.
const LAST_GOOD_ATTR: &str = "last_good";

/// The name of the inline policy rollgate writes on a role: one per region, since it names
/// that region's repository and log group, and a role serves the app in every region.
fn inline_policy_name(region: Option<&str>) -> String {
    format!("rollgate-{}", region.unwrap_or("global"))
}

fn api<E>(
    op: &'static str,
) -> impl FnOnce(
    aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> AwsError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    move |e| AwsError::from_sdk(op, e)
}

/// `Ok(None)` for the "does not exist" codes of a read, the error otherwise.
fn absent<T>(result: Result<T, AwsError>, codes: &[&str]) -> Result<Option<T>, AwsError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.code().is_some_and(|c| codes.contains(&c)) => Ok(None),
        Err(e) => Err(e),
    }
}

impl Infra {
    /// The ECR, ECS, IAM, CloudWatch Logs, CodeBuild and STS clients of `config`, and its region
    /// (`None` makes [`Infra::env`] fail).
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            ecr: aws_sdk_ecr::Client::new(config),
            ecs: aws_sdk_ecs::Client::new(config),
            iam: aws_sdk_iam::Client::new(config),
            logs: aws_sdk_cloudwatchlogs::Client::new(config),
            codebuild: aws_sdk_codebuild::Client::new(config),
            sts: aws_sdk_sts::Client::new(config),
            region: config.region().map(ToString::to_string),
        }
    }

    /// The account and region the resources go to.
    pub async fn env(&self) -> Result<Env, AwsError> {
        let region = self
            .region
            .clone()
            .ok_or_else(|| AwsError::Config("no AWS region: set AWS_REGION or a region in your AWS profile".into()))?;
        let id = self.sts.get_caller_identity().send().await.map_err(api("GetCallerIdentity"))?;
        let account = id.account.ok_or(AwsError::Incomplete { operation: "GetCallerIdentity", field: "Account" })?;
        Ok(Env {
            account: AccountId::parse(&account).map_err(|e| AwsError::Config(e.to_string()))?,
            region: Region::parse(&region).map_err(|e| AwsError::Config(e.to_string()))?,
        })
    }

    /// Reads what AWS has for each desired resource. The service is read first: its live
    /// revision is the one the task definition is compared with (not the family's newest).
    pub async fn observe(&self, desired: &[Resource]) -> Result<Observed, AwsError> {
        let mut observed = Observed::new();
        let service_first = desired
            .iter()
            .filter(|r| r.kind == Kind::Service)
            .chain(desired.iter().filter(|r| r.kind != Kind::Service));
        for r in service_first {
            if let Some(attrs) = self.read(r, &observed).await? {
                observed.insert((r.kind, r.name.clone()), attrs);
            }
        }
        Ok(observed)
    }

    async fn read(&self, r: &Resource, so_far: &Observed) -> Result<Option<Attrs>, AwsError> {
        match r.kind {
            Kind::Repository => self.read_repository(&r.name).await,
            Kind::LogGroup => self.read_log_group(&r.name).await,
            Kind::ExecutionRole | Kind::TaskRole | Kind::BuildRole => self.read_role(&r.name).await,
            Kind::BuildProject => self.read_build_project(&r.name).await,
            Kind::Cluster => self.read_cluster(&r.name).await,
            Kind::TaskDefinition => {
                // The live revision: the service's, else the family's latest.
                let service = so_far.iter().find(|((k, _), _)| *k == Kind::Service).map(|(_, a)| a);
                let live = match service.and_then(|a| a.get(LIVE_TASK_DEFINITION)).and_then(Value::as_opt) {
                    Some(arn) => arn.to_owned(),
                    None => r.name.clone(),
                };
                let container = r.attrs.get("container").map(Value::as_text).unwrap_or_default();
                self.read_task_definition(&live, container).await
            }
            Kind::Service => {
                let cluster = r.attrs.get("cluster").map(Value::as_text).unwrap_or_default();
                self.read_service(cluster, &r.name).await
            }
        }
    }

    /// A repository's lifecycle policy text (GetLifecyclePolicy); `None` when the repository
    /// or its policy does not exist.
    pub async fn lifecycle_policy(&self, repository: &str) -> Result<Option<String>, AwsError> {
        let out =
            self.ecr.get_lifecycle_policy().repository_name(repository).send().await.map_err(api("GetLifecyclePolicy"));
        Ok(absent(out, &["LifecyclePolicyNotFoundException", "RepositoryNotFoundException"])?
            .and_then(|l| l.lifecycle_policy_text))
    }

    async fn read_repository(&self, name: &str) -> Result<Option<Attrs>, AwsError> {
        let out =
            self.ecr.describe_repositories().repository_names(name).send().await.map_err(api("DescribeRepositories"));
        let Some(out) = absent(out, &["RepositoryNotFoundException"])? else { return Ok(None) };
        let Some(repo) = out.repositories.unwrap_or_default().into_iter().next() else { return Ok(None) };
        let lifecycle =
            self.ecr.get_lifecycle_policy().repository_name(name).send().await.map_err(api("GetLifecyclePolicy"));
        let lifecycle = absent(lifecycle, &["LifecyclePolicyNotFoundException"])?
            .and_then(|l| l.lifecycle_policy_text)
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .map_or(Value::Absent, Value::Json);
        let arn = repo.repository_arn.clone().unwrap_or_default();
        let tags =
            self.ecr.list_tags_for_resource().resource_arn(&arn).send().await.map_err(api("ListTagsForResource"))?;
        let tags = tags.tags.unwrap_or_default().into_iter().map(|t| (t.key, t.value)).collect::<Vec<_>>();
        Ok(Some(attrs([
            (
                "scan_on_push",
                Value::text(repo.image_scanning_configuration.map(|c| c.scan_on_push).unwrap_or(false).to_string()),
            ),
            ("tag_mutability", Value::opt(repo.image_tag_mutability.map(|m| m.as_str().to_owned()))),
            ("lifecycle_policy", lifecycle),
            ("tags", managed_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            (ALL_TAGS, Value::map(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            ("arn", Value::text(arn)),
        ])))
    }

    async fn read_log_group(&self, name: &str) -> Result<Option<Attrs>, AwsError> {
        let out = self
            .logs
            .describe_log_groups()
            .log_group_name_prefix(name)
            .send()
            .await
            .map_err(api("DescribeLogGroups"))?;
        let Some(group) =
            out.log_groups.unwrap_or_default().into_iter().find(|g| g.log_group_name.as_deref() == Some(name))
        else {
            return Ok(None);
        };
        let arn = group.arn.clone().unwrap_or_default().trim_end_matches(":*").to_owned();
        let tags =
            self.logs.list_tags_for_resource().resource_arn(&arn).send().await.map_err(api("ListTagsForResource"))?;
        let tags = tags.tags.unwrap_or_default();
        Ok(Some(attrs([
            ("retention_days", Value::opt(group.retention_in_days.map(|d| d.to_string()))),
            ("tags", managed_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            (ALL_TAGS, Value::map(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            ("arn", Value::text(arn)),
        ])))
    }

    async fn read_role(&self, name: &str) -> Result<Option<Attrs>, AwsError> {
        let out = self.iam.get_role().role_name(name).send().await.map_err(api("GetRole"));
        let Some(out) = absent(out, &["NoSuchEntity"])? else { return Ok(None) };
        let Some(role) = out.role else { return Ok(None) };
        let trust = role
            .assume_role_policy_document
            .as_deref()
            .and_then(|d| serde_json::from_str::<serde_json::Value>(&percent_decode(d)).ok())
            .map_or(Value::Absent, Value::Json);
        let tags = role.tags.unwrap_or_default();
        let this_region = self.region.as_deref().map(region_tag);
        let regions: Vec<String> =
            tags.iter().filter_map(|t| t.key.strip_prefix(keys::REGION_PREFIX).map(str::to_owned)).collect();
        let attached = self
            .iam
            .list_attached_role_policies()
            .role_name(name)
            .send()
            .await
            .map_err(api("ListAttachedRolePolicies"))?;
        let managed: Vec<String> =
            attached.attached_policies.unwrap_or_default().into_iter().filter_map(|p| p.policy_arn).collect();
        let inline = self
            .iam
            .get_role_policy()
            .role_name(name)
            .policy_name(inline_policy_name(self.region.as_deref()))
            .send()
            .await
            .map_err(api("GetRolePolicy"));
        let inline = absent(inline, &["NoSuchEntity"])?
            .and_then(|p| serde_json::from_str::<serde_json::Value>(&percent_decode(&p.policy_document)).ok())
            .map_or(Value::Absent, Value::Json);
        let names =
            self.iam.list_role_policies().role_name(name).send().await.map_err(api("ListRolePolicies"))?.policy_names;
        let others = names.into_iter().filter(|n| !n.starts_with("rollgate-"));
        let compared = |k: &str| k == MANAGED_TAG || k == APP_TAG || Some(k) == this_region.as_deref();
        Ok(Some(attrs([
            ("trust_policy", trust),
            ("managed_policies", Value::set(managed)),
            ("inline_policy", inline),
            ("other_inline_policies", Value::set(others)),
            ("tags", Value::map(tags.iter().filter(|t| compared(&t.key)).map(|t| (t.key.as_str(), t.value.as_str())))),
            (ALL_TAGS, Value::map(tags.iter().map(|t| (t.key.as_str(), t.value.as_str())))),
            (REGIONS_IN_USE, Value::set(regions)),
            ("arn", Value::text(role.arn)),
        ])))
    }

    async fn read_build_project(&self, name: &str) -> Result<Option<Attrs>, AwsError> {
        let out = self.codebuild.batch_get_projects().names(name).send().await.map_err(api("BatchGetProjects"))?;
        let Some(p) = out.projects.unwrap_or_default().into_iter().next() else { return Ok(None) };
        let env = p.environment.as_ref();
        let vars: BTreeMap<String, String> = env
            .map(|e| e.environment_variables().iter().map(|v| (v.name.clone(), v.value.clone())).collect())
            .unwrap_or_default();
        let tags = p.tags.unwrap_or_default();
        Ok(Some(attrs([
            ("image", Value::opt(env.map(|e| e.image.clone()))),
            ("compute_type", Value::opt(env.map(|e| e.compute_type.as_str().to_owned()))),
            ("privileged", Value::text(env.and_then(|e| e.privileged_mode).unwrap_or(false).to_string())),
            ("service_role", Value::opt(p.service_role)),
            ("buildspec", Value::opt(p.source.and_then(|s| s.buildspec))),
            ("environment", Value::Map(vars)),
            ("log_group", Value::opt(p.logs_config.and_then(|l| l.cloud_watch_logs).and_then(|c| c.group_name))),
            ("tags", managed_tags(tags.iter().filter_map(|t| Some((t.key.as_deref()?, t.value.as_deref()?))))),
            (ALL_TAGS, Value::map(tags.iter().filter_map(|t| Some((t.key.as_deref()?, t.value.as_deref()?))))),
            ("arn", Value::opt(p.arn)),
        ])))
    }

    async fn read_cluster(&self, name: &str) -> Result<Option<Attrs>, AwsError> {
        let out = self
            .ecs
            .describe_clusters()
            .clusters(name)
            .include(ecs::ClusterField::Settings)
            .include(ecs::ClusterField::Tags)
            .send()
            .await
            .map_err(api("DescribeClusters"))?;
        let Some(c) = out.clusters.unwrap_or_default().into_iter().find(|c| c.status.as_deref() == Some("ACTIVE"))
        else {
            return Ok(None);
        };
        let insights = c
            .settings
            .unwrap_or_default()
            .into_iter()
            .find(|s| s.name.as_ref().map(|n| n.as_str()) == Some("containerInsights"))
            .and_then(|s| s.value)
            .unwrap_or_else(|| "disabled".into());
        let tags = c.tags.unwrap_or_default();
        Ok(Some(attrs([
            ("container_insights", Value::text(insights)),
            ("tags", managed_tags(tags.iter().filter_map(|t| Some((t.key.as_deref()?, t.value.as_deref()?))))),
            (ALL_TAGS, Value::map(tags.iter().filter_map(|t| Some((t.key.as_deref()?, t.value.as_deref()?))))),
            ("arn", Value::opt(c.cluster_arn)),
        ])))
    }

    async fn read_task_definition(&self, id: &str, container: &str) -> Result<Option<Attrs>, AwsError> {
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
        // revision is never a base to build on.
        let Some(d) = out.task_definition.filter(|d| d.status.as_ref() == Some(&ecs::TaskDefinitionStatus::Active))
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
            ("tags", managed_tags(tags.iter().filter_map(|t| Some((t.key.as_deref()?, t.value.as_deref()?))))),
            ("arn", Value::opt(d.task_definition_arn.clone())),
        ])))
    }

    async fn read_service(&self, cluster: &str, name: &str) -> Result<Option<Attrs>, AwsError> {
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
        let Some(s) = out.services.unwrap_or_default().into_iter().find(|s| s.status.as_deref() == Some("ACTIVE"))
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
            (
                "tags",
                Value::map(
                    tags.iter()
                        .filter_map(|t| Some((t.key.as_deref()?, t.value.as_deref()?)))
                        .filter(|(k, _)| owned(k)),
                ),
            ),
            // Every tag, the owner's too: `up` counts them against AWS's 50 (check_tag_budget).
            (ALL_TAGS, Value::map(tags.iter().filter_map(|t| Some((t.key.as_deref()?, t.value.as_deref()?))))),
            (LIVE_TASK_DEFINITION, Value::text(live)),
            (
                LAST_GOOD_ATTR,
                Value::opt(
                    tags.iter().find(|t| t.key.as_deref() == Some(keys::LAST_GOOD)).and_then(|t| t.value.clone()),
                ),
            ),
            ("arn", Value::opt(s.service_arn)),
        ])))
    }

    /// Carries out one step of a plan. A task-definition revision it registers is recorded in
    /// `ctx.new_revision`, for the service step that follows.
    pub async fn apply(&self, step: &Step, env: &Env, ctx: &mut ApplyContext) -> Result<(), AwsError> {
        let r = &step.resource;
        match (&step.change, r.kind) {
            (Change::Unchanged | Change::Use { .. }, _) => Ok(()),
            (Change::Conflict { owner }, kind) => Err(AwsError::Config(format!(
                "{} {} belongs to {owner}: rollgate does not take it over",
                kind.label(),
                r.name
            ))),
            (Change::Create, Kind::Repository) => self.create_repository(r).await,
            (Change::Create, Kind::LogGroup) => self.create_log_group(r).await,
            (Change::Create, Kind::ExecutionRole | Kind::TaskRole | Kind::BuildRole) => self.create_role(r).await,
            (Change::Create, Kind::BuildProject) => self.put_build_project(r, env, true).await,
            (Change::Create, Kind::Cluster) => self.create_cluster(r).await,
            (Change::Create, Kind::TaskDefinition) => {
                ctx.new_revision = Some(self.register_task_definition(r, env, None, None).await?);
                Ok(())
            }
            (Change::Create, Kind::Service) => self.create_service(r, ctx).await,
            (Change::Update { diffs }, kind) => {
                let changed = |a: &str| diffs.iter().any(|d| d.attr == a);
                let tags = changed("tags").then(|| map(&r.attrs, "tags"));
                match kind {
                    Kind::Repository => self.update_repository(r, &changed, tags).await,
                    Kind::LogGroup => self.update_log_group(r, &changed, tags, ctx).await,
                    Kind::ExecutionRole | Kind::TaskRole | Kind::BuildRole => {
                        self.update_role(r, &changed, tags, ctx).await
                    }
                    Kind::BuildProject => self.put_build_project(r, env, false).await,
                    Kind::Cluster => self.update_cluster(r, &changed, tags, ctx).await,
                    Kind::TaskDefinition => {
                        let live = ctx.observed_arn(Kind::TaskDefinition, &r.name);
                        let last_good = ctx.last_good();
                        ctx.new_revision =
                            Some(self.register_task_definition(r, env, live.as_deref(), last_good.as_deref()).await?);
                        Ok(())
                    }
                    Kind::Service => self.update_service(r, diffs, ctx).await,
                }
            }
        }
    }

    async fn create_repository(&self, r: &Resource) -> Result<(), AwsError> {
        let tags = map(&r.attrs, "tags");
        self.ecr
            .create_repository()
            .repository_name(&r.name)
            .image_scanning_configuration(
                aws_sdk_ecr::types::ImageScanningConfiguration::builder()
                    .scan_on_push(text(&r.attrs, "scan_on_push") == "true")
                    .build(),
            )
            .image_tag_mutability(text(&r.attrs, "tag_mutability").into())
            .set_tags(Some(tags.iter().map(|(k, v)| ecr_tag(k, v)).collect::<Result<_, _>>()?))
            .send()
            .await
            .map_err(api("CreateRepository"))?;
        self.write_lifecycle_policy(r, false).await
    }

    /// Puts the repository's desired lifecycle policy; with none desired
    /// (`untagged_expiry_days = 0`), deletes the one an `existing` repository may have.
    async fn write_lifecycle_policy(&self, r: &Resource, existing: bool) -> Result<(), AwsError> {
        match r.attrs.get("lifecycle_policy") {
            None | Some(Value::Absent) if existing => {
                let deleted = self
                    .ecr
                    .delete_lifecycle_policy()
                    .repository_name(&r.name)
                    .send()
                    .await
                    .map_err(api("DeleteLifecyclePolicy"));
                absent(deleted, &["LifecyclePolicyNotFoundException"])?;
            }
            None | Some(Value::Absent) => {}
            Some(policy) => {
                self.ecr
                    .put_lifecycle_policy()
                    .repository_name(&r.name)
                    .lifecycle_policy_text(policy.as_json_text())
                    .send()
                    .await
                    .map_err(api("PutLifecyclePolicy"))?;
            }
        }
        Ok(())
    }

    async fn update_repository(
        &self,
        r: &Resource,
        changed: &dyn Fn(&str) -> bool,
        tags: Option<BTreeMap<String, String>>,
    ) -> Result<(), AwsError> {
        // Tags first: ownership is recorded before anything changes, and a policy that lets
        // rollgate change only what is tagged as its own (docs/iam/cli-policy.json) allows the rest.
        if let Some(tags) = tags {
            let arn = self.read_repository(&r.name).await?.map(|a| text(&a, "arn").to_owned()).unwrap_or_default();
            self.ecr
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(tags.iter().map(|(k, v)| ecr_tag(k, v)).collect::<Result<_, _>>()?))
                .send()
                .await
                .map_err(api("TagResource"))?;
        }
        if changed("scan_on_push") {
            self.ecr
                .put_image_scanning_configuration()
                .repository_name(&r.name)
                .image_scanning_configuration(
                    aws_sdk_ecr::types::ImageScanningConfiguration::builder()
                        .scan_on_push(text(&r.attrs, "scan_on_push") == "true")
                        .build(),
                )
                .send()
                .await
                .map_err(api("PutImageScanningConfiguration"))?;
        }
        if changed("tag_mutability") {
            self.ecr
                .put_image_tag_mutability()
                .repository_name(&r.name)
                .image_tag_mutability(text(&r.attrs, "tag_mutability").into())
                .send()
                .await
                .map_err(api("PutImageTagMutability"))?;
        }
        if changed("lifecycle_policy") {
            self.write_lifecycle_policy(r, true).await?;
        }
        Ok(())
    }

    async fn create_log_group(&self, r: &Resource) -> Result<(), AwsError> {
        self.logs
            .create_log_group()
            .log_group_name(&r.name)
            .set_tags(Some(map(&r.attrs, "tags").into_iter().collect()))
            .send()
            .await
            .map_err(api("CreateLogGroup"))?;
        self.put_retention(r).await
    }

    async fn put_retention(&self, r: &Resource) -> Result<(), AwsError> {
        let days: i32 = number(&r.attrs, "retention_days")?;
        self.logs
            .put_retention_policy()
            .log_group_name(&r.name)
            .retention_in_days(days)
            .send()
            .await
            .map_err(api("PutRetentionPolicy"))?;
        Ok(())
    }

    async fn update_log_group(
        &self,
        r: &Resource,
        changed: &dyn Fn(&str) -> bool,
        tags: Option<BTreeMap<String, String>>,
        ctx: &ApplyContext,
    ) -> Result<(), AwsError> {
        // Tags first, as in update_repository.
        if let Some(tags) = tags {
            self.logs
                .tag_resource()
                .resource_arn(ctx.observed_arn(Kind::LogGroup, &r.name).unwrap_or_default())
                .set_tags(Some(tags.into_iter().collect()))
                .send()
                .await
                .map_err(api("TagResource"))?;
        }
        if changed("retention_days") {
            self.put_retention(r).await?;
        }
        Ok(())
    }

    async fn create_role(&self, r: &Resource) -> Result<(), AwsError> {
        let tags = map(&r.attrs, "tags");
        self.iam
            .create_role()
            .role_name(&r.name)
            .assume_role_policy_document(json_text(&r.attrs, "trust_policy"))
            .description("Managed by rollgate")
            .set_tags(Some(tags.iter().map(|(k, v)| iam_tag(k, v)).collect::<Result<_, _>>()?))
            .send()
            .await
            .map_err(api("CreateRole"))?;
        for arn in list(&r.attrs, "managed_policies") {
            self.iam
                .attach_role_policy()
                .role_name(&r.name)
                .policy_arn(arn)
                .send()
                .await
                .map_err(api("AttachRolePolicy"))?;
        }
        self.put_inline_policy(r).await
    }

    /// Deletes this region's inline policy from `role`, if it has one.
    async fn delete_region_policy(&self, role: &str) -> Result<(), AwsError> {
        let deleted = self
            .iam
            .delete_role_policy()
            .role_name(role)
            .policy_name(inline_policy_name(self.region.as_deref()))
            .send()
            .await;
        absent(deleted.map_err(api("DeleteRolePolicy")), &["NoSuchEntity"]).map(drop)
    }

    async fn put_inline_policy(&self, r: &Resource) -> Result<(), AwsError> {
        let policy = r.attrs.get("inline_policy").map(Value::as_json_text).unwrap_or_default();
        if policy.is_empty() {
            return self.delete_region_policy(&r.name).await;
        }
        self.iam
            .put_role_policy()
            .role_name(&r.name)
            .policy_name(inline_policy_name(self.region.as_deref()))
            .policy_document(policy)
            .send()
            .await
            .map_err(api("PutRolePolicy"))?;
        Ok(())
    }

    async fn update_role(
        &self,
        r: &Resource,
        changed: &dyn Fn(&str) -> bool,
        tags: Option<BTreeMap<String, String>>,
        ctx: &ApplyContext,
    ) -> Result<(), AwsError> {
        // Tags first, as in update_repository.
        if let Some(tags) = tags {
            self.iam
                .tag_role()
                .role_name(&r.name)
                .set_tags(Some(tags.iter().map(|(k, v)| iam_tag(k, v)).collect::<Result<_, _>>()?))
                .send()
                .await
                .map_err(api("TagRole"))?;
        }
        if changed("trust_policy") {
            self.iam
                .update_assume_role_policy()
                .role_name(&r.name)
                .policy_document(json_text(&r.attrs, "trust_policy"))
                .send()
                .await
                .map_err(api("UpdateAssumeRolePolicy"))?;
        }
        if changed("managed_policies") {
            let want = list(&r.attrs, "managed_policies");
            let have = ctx.observed(r.kind, &r.name).map(|a| list(a, "managed_policies")).unwrap_or_default();
            for arn in want.iter().filter(|w| !have.contains(w)) {
                self.iam
                    .attach_role_policy()
                    .role_name(&r.name)
                    .policy_arn(arn.as_str())
                    .send()
                    .await
                    .map_err(api("AttachRolePolicy"))?;
            }
            for arn in have.iter().filter(|h| !want.contains(h)) {
                self.iam
                    .detach_role_policy()
                    .role_name(&r.name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(api("DetachRolePolicy"))?;
            }
        }
        if changed("inline_policy") {
            self.put_inline_policy(r).await?;
        }
        if changed("other_inline_policies") {
            let extra = ctx.observed(r.kind, &r.name).map(|a| list(a, "other_inline_policies")).unwrap_or_default();
            for policy in extra {
                self.iam
                    .delete_role_policy()
                    .role_name(&r.name)
                    .policy_name(policy)
                    .send()
                    .await
                    .map_err(api("DeleteRolePolicy"))?;
            }
        }
        Ok(())
    }

    async fn put_build_project(&self, r: &Resource, env: &Env, create: bool) -> Result<(), AwsError> {
        let a = &r.attrs;
        let variables = map(a, "environment")
            .into_iter()
            .map(|(k, v)| {
                cb::EnvironmentVariable::builder()
                    .name(k)
                    .value(v)
                    .r#type(cb::EnvironmentVariableType::Plaintext)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AwsError::Config(e.to_string()))?;
        let environment = cb::ProjectEnvironment::builder()
            .r#type(cb::EnvironmentType::LinuxContainer)
            .image(text(a, "image"))
            .compute_type(text(a, "compute_type").into())
            .privileged_mode(text(a, "privileged") == "true")
            .set_environment_variables(Some(variables))
            .build()
            .map_err(|e| AwsError::Config(e.to_string()))?;
        let source = cb::ProjectSource::builder()
            .r#type(cb::SourceType::NoSource)
            .buildspec(text(a, "buildspec"))
            .build()
            .map_err(|e| AwsError::Config(e.to_string()))?;
        let artifacts = cb::ProjectArtifacts::builder()
            .r#type(cb::ArtifactsType::NoArtifacts)
            .build()
            .map_err(|e| AwsError::Config(e.to_string()))?;
        let logs = cb::LogsConfig::builder()
            .cloud_watch_logs(
                cb::CloudWatchLogsConfig::builder()
                    .status(cb::LogsConfigStatusType::Enabled)
                    .group_name(text(a, "log_group"))
                    .stream_name("codebuild")
                    .build()
                    .map_err(|e| AwsError::Config(e.to_string()))?,
            )
            .build();
        let tags: Vec<cb::Tag> =
            map(a, "tags").into_iter().map(|(k, v)| cb::Tag::builder().key(k).value(v).build()).collect();
        let _ = env;
        if !create {
            self.codebuild
                .update_project()
                .name(&r.name)
                .source(source)
                .artifacts(artifacts)
                .environment(environment)
                .service_role(text(a, "service_role"))
                .logs_config(logs)
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(api("UpdateProject"))?;
            return Ok(());
        }
        // A role created seconds ago may not be assumable by CodeBuild yet (IAM is eventually
        // consistent): retry that one error with backoff.
        let mut delay = std::time::Duration::from_secs(2);
        for attempt in 1.. {
            let result = self
                .codebuild
                .create_project()
                .name(&r.name)
                .description("Builds the model image (managed by rollgate)")
                .source(source.clone())
                .artifacts(artifacts.clone())
                .environment(environment.clone())
                .service_role(text(a, "service_role"))
                .logs_config(logs.clone())
                .timeout_in_minutes(60)
                .set_tags(Some(tags.clone()))
                .send()
                .await
                .map_err(api("CreateProject"));
            match result {
                Ok(_) => return Ok(()),
                Err(e) if attempt < 8 && e.to_string().contains("not authorized to perform: sts:AssumeRole") => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(10));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn create_cluster(&self, r: &Resource) -> Result<(), AwsError> {
        self.ecs
            .create_cluster()
            .cluster_name(&r.name)
            .settings(insights(text(&r.attrs, "container_insights")))
            .set_tags(Some(ecs_tags(&map(&r.attrs, "tags"))))
            .send()
            .await
            .map_err(api("CreateCluster"))?;
        Ok(())
    }

    async fn update_cluster(
        &self,
        r: &Resource,
        changed: &dyn Fn(&str) -> bool,
        tags: Option<BTreeMap<String, String>>,
        ctx: &ApplyContext,
    ) -> Result<(), AwsError> {
        // Tags first, as in update_repository.
        if tags.is_some() {
            let arn = ctx.observed_arn(Kind::Cluster, &r.name).unwrap_or_default();
            self.tag_ecs(&arn, &map(&r.attrs, "tags")).await?;
        }
        if changed("container_insights") {
            self.ecs
                .update_cluster_settings()
                .cluster(&r.name)
                .settings(insights(text(&r.attrs, "container_insights")))
                .send()
                .await
                .map_err(api("UpdateClusterSettings"))?;
        }
        Ok(())
    }

    async fn tag_ecs(&self, arn: &str, tags: &BTreeMap<String, String>) -> Result<(), AwsError> {
        self.ecs
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(ecs_tags(tags)))
            .send()
            .await
            .map_err(api("TagResource"))?;
        Ok(())
    }

    /// Registers the family's revision from the config. With a live revision, copies it
    /// (keeping its image, which rollgate's deploys own) and carries its ledger over, so
    /// the health gate verifies the configuration change like any rollout.
    async fn register_task_definition(
        &self,
        r: &Resource,
        env: &Env,
        live: Option<&str>,
        last_good: Option<&str>,
    ) -> Result<String, AwsError> {
        let a = &r.attrs;
        let initial = || r.create_only.get("image").map(|v| v.as_text().to_owned()).unwrap_or_default();
        let (image, mut tags) = match live {
            Some(arn) => {
                let out = self
                    .ecs
                    .describe_task_definition()
                    .task_definition(arn)
                    .include(ecs::TaskDefinitionField::Tags)
                    .send()
                    .await
                    .map_err(api("DescribeTaskDefinition"))?;
                let def = out.task_definition.unwrap_or_else(|| ecs::TaskDefinition::builder().build());
                let image = def
                    .container_definitions()
                    .iter()
                    .find(|c| c.name() == Some(text(a, "container")))
                    .and_then(|c| c.image.clone())
                    .unwrap_or_else(initial);
                let tags: BTreeMap<String, String> =
                    out.tags.unwrap_or_default().into_iter().filter_map(|t| Some((t.key?, t.value?))).collect();
                let live_arn = TaskDefArn::parse(arn).map_err(|e| AwsError::Config(e.to_string()))?;
                (image, rollgate_core::ledger::config_revision_tags(&live_arn, &tags, last_good))
            }
            None => (initial(), BTreeMap::new()),
        };
        tags.extend(map(a, "tags"));
        let health = ecs::HealthCheck::builder()
            .command("CMD-SHELL")
            .command(text(a, "health_check"))
            .interval(30)
            .timeout(5)
            .retries(3)
            .start_period(number(a, "health_check_start_period")?)
            .build()
            .map_err(|e| AwsError::Config(e.to_string()))?;
        let logs = ecs::LogConfiguration::builder()
            .log_driver(ecs::LogDriver::Awslogs)
            .options("awslogs-group", text(a, "log_group"))
            .options("awslogs-region", env.region.as_str())
            .options("awslogs-stream-prefix", text(a, "container"))
            .build()
            .map_err(|e| AwsError::Config(e.to_string()))?;
        let environment = map(a, "environment")
            .into_iter()
            .map(|(k, v)| ecs::KeyValuePair::builder().name(k).value(v).build())
            .collect();
        let container = ecs::ContainerDefinition::builder()
            .name(text(a, "container"))
            .image(image)
            .essential(true)
            .port_mappings(
                ecs::PortMapping::builder()
                    .container_port(number(a, "port")?)
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
            .family(&r.name)
            .network_mode(ecs::NetworkMode::Awsvpc)
            .requires_compatibilities(ecs::Compatibility::Fargate)
            .cpu(text(a, "cpu"))
            .memory(text(a, "memory"))
            .runtime_platform(
                ecs::RuntimePlatform::builder()
                    .cpu_architecture(text(a, "cpu_architecture").into())
                    .operating_system_family(ecs::OsFamily::Linux)
                    .build(),
            )
            .execution_role_arn(text(a, "execution_role"))
            .task_role_arn(text(a, "task_role"))
            .container_definitions(container)
            .set_tags(Some(tags.iter().map(|(k, v)| ecs::Tag::builder().key(k).value(v).build()).collect()))
            .send()
            .await
            .map_err(api("RegisterTaskDefinition"))?;
        out.task_definition
            .and_then(|t| t.task_definition_arn)
            .ok_or(AwsError::Incomplete { operation: "RegisterTaskDefinition", field: "taskDefinitionArn" })
    }

    async fn create_service(&self, r: &Resource, ctx: &ApplyContext) -> Result<(), AwsError> {
        let a = &r.attrs;
        let task_definition = ctx
            .new_revision
            .clone()
            .or_else(|| ctx.observed_arn(Kind::TaskDefinition, text(a, "task_family")))
            .unwrap_or_else(|| text(a, "task_family").to_owned());
        let grace = a
            .get("health_check_grace_period")
            .and_then(Value::as_opt)
            .map(str::parse::<i32>)
            .transpose()
            .map_err(bad_number("health_check_grace_period"))?;
        self.ecs
            .create_service()
            // CreateService is not idempotent by name ("Creation of service was not
            // idempotent"): a retry after a lost answer would be refused. The SDK resends the
            // same input, so one client token per call makes the retry return the service.
            .client_token(uuid::Uuid::new_v4().to_string())
            .cluster(text(a, "cluster"))
            .service_name(&r.name)
            .task_definition(task_definition)
            .desired_count(number(a, "desired_count")?)
            .launch_type(ecs::LaunchType::Fargate)
            .network_configuration(network(a)?)
            .deployment_configuration(deployment_configuration())
            .set_health_check_grace_period_seconds(grace)
            .set_load_balancers(load_balancers(a)?)
            .enable_ecs_managed_tags(true)
            .propagate_tags(ecs::PropagateTags::Service)
            .set_tags(Some(ecs_tags(&map(a, "tags"))))
            .send()
            .await
            .map_err(api("CreateService"))?;
        Ok(())
    }

    async fn update_service(
        &self,
        r: &Resource,
        diffs: &[rollgate_core::infra::AttrDiff],
        ctx: &ApplyContext,
    ) -> Result<(), AwsError> {
        let a = &r.attrs;
        let changed = |k: &str| diffs.iter().any(|d| d.attr == k);
        let arn = ctx.observed_arn(Kind::Service, &r.name).unwrap_or_default();
        let settings_changed = diffs.iter().any(|d| d.attr != "tags");
        // Tags first, as in update_repository; settings no longer configured are removed last.
        let mut removed = Vec::new();
        if changed("tags") {
            let want = map(a, "tags");
            let had = ctx.observed(Kind::Service, &r.name).map(|o| map(o, "tags")).unwrap_or_default();
            removed = had.keys().filter(|k| !want.contains_key(*k)).cloned().collect();
            self.tag_ecs(&arn, &want).await?;
        }
        if settings_changed {
            let mut update = self.ecs.update_service().cluster(text(a, "cluster")).service(&r.name);
            if changed("desired_count") {
                update = update.desired_count(number(a, "desired_count")?);
            }
            if changed("subnets") || changed("security_groups") || changed("assign_public_ip") {
                update = update.network_configuration(network(a)?);
            }
            if changed("circuit_breaker") {
                update = update.deployment_configuration(deployment_configuration());
            }
            if changed("health_check_grace_period") {
                update = update.set_health_check_grace_period_seconds(
                    a.get("health_check_grace_period")
                        .and_then(Value::as_opt)
                        .map(str::parse::<i32>)
                        .transpose()
                        .map_err(bad_number("health_check_grace_period"))?,
                );
            }
            if changed("load_balancer") {
                update = update.set_load_balancers(Some(load_balancers(a)?.unwrap_or_default()));
            }
            if let Some(revision) = ctx.new_revision.as_ref().filter(|_| changed(LIVE_TASK_DEFINITION)) {
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
}

impl Infra {
    /// How many images a repository holds (`None`: no such repository).
    pub async fn image_count(&self, repository: &str) -> Result<Option<usize>, AwsError> {
        let mut count = 0;
        let mut pages = self.ecr.list_images().repository_name(repository).into_paginator().send();
        while let Some(page) = pages.next().await {
            let Some(page) = absent(page.map_err(api("ListImages")), &["RepositoryNotFoundException"])? else {
                return Ok(None);
            };
            count += page.image_ids.map_or(0, |ids| ids.len());
        }
        Ok(Some(count))
    }

    /// What `down` must know about the region beyond the resources rollgate.toml names: every
    /// ACTIVE service tagged as `app`'s in any cluster, and the ACTIVE services in `cluster`.
    /// Costs one ListClusters page per 100 clusters, one ListServices page per 100 services and
    /// one DescribeServices per 10: `down` is rare, and must not miss a running service.
    ///
    /// `family` is the app's task family: services that are not the app's but run one of its
    /// revisions (a hand-made canary, a half-adopted service) are listed in `family_users`.
    pub async fn region_facts(
        &self,
        app: &str,
        cluster: &str,
        repository: &str,
        family: &str,
    ) -> Result<RegionFacts, AwsError> {
        let mut facts = RegionFacts::default();
        let mut clusters = self.ecs.list_clusters().into_paginator().items().send();
        let mut cluster_arns = Vec::new();
        while let Some(arn) = clusters.next().await {
            cluster_arns.push(arn.map_err(api("ListClusters"))?);
        }
        for cluster_arn in cluster_arns {
            let cluster_name = cluster_arn.rsplit('/').next().unwrap_or_default().to_owned();
            let mut pages = self.ecs.list_services().cluster(&cluster_arn).into_paginator().items().send();
            let mut service_arns = Vec::new();
            while let Some(arn) = pages.next().await {
                service_arns.push(arn.map_err(api("ListServices"))?);
            }
            for chunk in service_arns.chunks(10) {
                let out = self
                    .ecs
                    .describe_services()
                    .cluster(&cluster_arn)
                    .set_services(Some(chunk.to_vec()))
                    .include(ecs::ServiceField::Tags)
                    .send()
                    .await
                    .map_err(api("DescribeServices"))?;
                for svc in out.services.unwrap_or_default() {
                    if svc.status.as_deref() != Some("ACTIVE") {
                        continue;
                    }
                    let name = svc.service_name.clone().unwrap_or_default();
                    let tags: BTreeMap<String, String> =
                        svc.tags.unwrap_or_default().into_iter().filter_map(|t| Some((t.key?, t.value?))).collect();
                    // Every revision the service runs or is moving to.
                    let revisions = svc
                        .task_definition
                        .iter()
                        .chain(svc.deployments.iter().flatten().filter_map(|d| d.task_definition.as_ref()));
                    let runs_family = revisions
                        .filter_map(|arn| TaskDefArn::parse(arn).ok())
                        .any(|arn| arn.revision().family == family);
                    if app_owns(&tags, app) {
                        facts.app_services.push((cluster_name.clone(), name.clone()));
                    } else {
                        if rollgate_core::service::OptIn::repository_tag(&tags).as_deref() == Some(repository) {
                            facts.repository_users.push(format!("{cluster_name}/{name}"));
                        }
                        if runs_family {
                            facts.family_users.push(format!("{cluster_name}/{name}"));
                        }
                    }
                    if cluster_name == cluster {
                        facts.cluster_services.push(name);
                    }
                }
            }
        }
        Ok(facts)
    }

    /// Carries out one step of a `down` plan (rollgate-core's `plan_teardown`).
    pub async fn teardown(&self, step: &TeardownStep, app: &str) -> Result<(), AwsError> {
        let r = &step.resource;
        match &step.action {
            TeardownAction::Missing | TeardownAction::NotOurs | TeardownAction::KeepOccupied { .. } => return Ok(()),
            TeardownAction::ReleaseRegion { .. } => {
                // This region's inline policy goes; the role and the other regions' stay.
                self.delete_region_policy(&r.name).await?;
                let key = self.region.as_deref().map(region_tag);
                if let Some(key) = key {
                    self.iam.untag_role().role_name(&r.name).tag_keys(key).send().await.map_err(api("UntagRole"))?;
                }
                return Ok(());
            }
            TeardownAction::Delete => {}
        }
        if r.kind == Kind::TaskDefinition {
            return self.deregister_family(&r.name, app).await;
        }
        match r.kind {
            Kind::Service => {
                let cluster = text(&r.attrs, "cluster");
                self.ecs
                    .update_service()
                    .cluster(cluster)
                    .service(&r.name)
                    .desired_count(0)
                    .send()
                    .await
                    .map_err(api("UpdateService"))?;
                self.ecs
                    .delete_service()
                    .cluster(cluster)
                    .service(&r.name)
                    .force(true)
                    .send()
                    .await
                    .map_err(api("DeleteService"))?;
                // A deleted service drains its tasks first (DRAINING), and ECS refuses to delete
                // its cluster until it is INACTIVE: wait, as the SDK's waiter does, up to 10 min.
                use aws_sdk_ecs::client::Waiters as _;
                self.ecs
                    .wait_until_services_inactive()
                    .cluster(cluster)
                    .services(&r.name)
                    .wait(std::time::Duration::from_secs(600))
                    .await
                    .map_err(|e| AwsError::Config(format!("waiting for service {} to drain: {e}", r.name)))?;
            }
            Kind::Cluster => {
                self.ecs.delete_cluster().cluster(&r.name).send().await.map_err(api("DeleteCluster"))?;
            }
            Kind::BuildProject => {
                self.codebuild.delete_project().name(&r.name).send().await.map_err(api("DeleteProject"))?;
            }
            Kind::ExecutionRole | Kind::TaskRole | Kind::BuildRole => {
                // What is attached now (not what the config wants): IAM refuses DeleteRole
                // while any policy is attached.
                let attached = self
                    .iam
                    .list_attached_role_policies()
                    .role_name(&r.name)
                    .send()
                    .await
                    .map_err(api("ListAttachedRolePolicies"))?;
                for arn in attached.attached_policies.unwrap_or_default().into_iter().filter_map(|p| p.policy_arn) {
                    self.iam
                        .detach_role_policy()
                        .role_name(&r.name)
                        .policy_arn(arn)
                        .send()
                        .await
                        .map_err(api("DetachRolePolicy"))?;
                }
                let inline =
                    self.iam.list_role_policies().role_name(&r.name).send().await.map_err(api("ListRolePolicies"))?;
                for name in inline.policy_names {
                    self.iam
                        .delete_role_policy()
                        .role_name(&r.name)
                        .policy_name(name)
                        .send()
                        .await
                        .map_err(api("DeleteRolePolicy"))?;
                }
                self.iam.delete_role().role_name(&r.name).send().await.map_err(api("DeleteRole"))?;
            }
            Kind::LogGroup => {
                self.logs.delete_log_group().log_group_name(&r.name).send().await.map_err(api("DeleteLogGroup"))?;
            }
            Kind::Repository => {
                self.ecr
                    .delete_repository()
                    .repository_name(&r.name)
                    .force(true)
                    .send()
                    .await
                    .map_err(api("DeleteRepository"))?;
            }
            Kind::TaskDefinition => unreachable!("handled above"),
        }
        Ok(())
    }

    /// Deregisters every active revision of the family that carries this app's tags.
    async fn deregister_family(&self, family: &str, app: &str) -> Result<(), AwsError> {
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

    /// Active revisions of a family, newest first.
    pub async fn revisions(&self, family: &str) -> Result<Vec<String>, AwsError> {
        self.revisions_in(family, ecs::TaskDefinitionStatus::Active).await
    }

    /// Every revision of a family ECS still describes, ACTIVE and deregistered (INACTIVE),
    /// newest first: a history with CI deregistering old revisions still shows the last
    /// known good and what ran. Two ListTaskDefinitions listings (ECS lists one status at a
    /// time; its default is ACTIVE).
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

/// What `apply` learned along the way: what AWS had, and the revision it registered.
#[derive(Debug, Clone, Default)]
pub struct ApplyContext {
    /// What AWS had, by kind and name ([`Infra::observe`]'s answer): the ARNs and live revision
    /// `apply` needs.
    pub observed: Observed,
    /// The task-definition revision `apply` registered, if any:
    /// `arn:aws:ecs:<region>:<account>:task-definition/<family>:<n>`.
    pub new_revision: Option<String>,
}

impl ApplyContext {
    fn observed(&self, kind: Kind, name: &str) -> Option<&Attrs> {
        self.observed.get(&(kind, name.to_owned()))
    }

    fn observed_arn(&self, kind: Kind, name: &str) -> Option<String> {
        self.observed(kind, name).and_then(|a| a.get("arn")).and_then(Value::as_opt).map(str::to_owned)
    }

    /// The service's `rollgate:last-good`, as observed.
    fn last_good(&self) -> Option<String> {
        self.observed
            .iter()
            .find(|((k, _), _)| *k == Kind::Service)
            .and_then(|(_, a)| a.get(LAST_GOOD_ATTR))
            .and_then(Value::as_opt)
            .map(str::to_owned)
    }
}

/// An attribute's text (`""` when absent): every desired resource has the attributes its
/// kind's writer reads, as built by rollgate-core's `desired`.
fn text<'a>(a: &'a Attrs, key: &str) -> &'a str {
    a.get(key).map(Value::as_text).unwrap_or_default()
}

fn json_text(a: &Attrs, key: &str) -> String {
    a.get(key).map(Value::as_json_text).unwrap_or_default()
}

fn list(a: &Attrs, key: &str) -> Vec<String> {
    a.get(key).map(|v| v.as_list().to_vec()).unwrap_or_default()
}

fn map(a: &Attrs, key: &str) -> BTreeMap<String, String> {
    a.get(key).map(Value::as_map).unwrap_or_default()
}

/// A numeric attribute; a missing or malformed one is an error, never a silent default.
fn number<T: std::str::FromStr>(a: &Attrs, key: &'static str) -> Result<T, AwsError> {
    text(a, key).parse().map_err(|_| bad_number(key)(()))
}

fn bad_number<E>(key: &'static str) -> impl Fn(E) -> AwsError {
    move |_| AwsError::Config(format!("attribute {key} is not a number (a rollgate bug: please report it)"))
}

fn attrs<const N: usize>(pairs: [(&str, Value); N]) -> Attrs {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Only the ownership tags are compared; other tags are the user's.
fn managed_tags<'a>(tags: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    Value::map(tags.filter(|(k, _)| *k == MANAGED_TAG || *k == APP_TAG))
}

fn insights(value: &str) -> ecs::ClusterSetting {
    ecs::ClusterSetting::builder().name(ecs::ClusterSettingName::ContainerInsights).value(value).build()
}

fn ecs_tags(tags: &BTreeMap<String, String>) -> Vec<ecs::Tag> {
    tags.iter().map(|(k, v)| ecs::Tag::builder().key(k).value(v).build()).collect()
}

fn ecr_tag(k: &str, v: &str) -> Result<aws_sdk_ecr::types::Tag, AwsError> {
    aws_sdk_ecr::types::Tag::builder().key(k).value(v).build().map_err(|e| AwsError::Config(e.to_string()))
}

fn iam_tag(k: &str, v: &str) -> Result<aws_sdk_iam::types::Tag, AwsError> {
    aws_sdk_iam::types::Tag::builder().key(k).value(v).build().map_err(|e| AwsError::Config(e.to_string()))
}

fn network(a: &Attrs) -> Result<ecs::NetworkConfiguration, AwsError> {
    let vpc = ecs::AwsVpcConfiguration::builder()
        .set_subnets(Some(list(a, "subnets")))
        .set_security_groups(Some(list(a, "security_groups")))
        .assign_public_ip(text(a, "assign_public_ip").into())
        .build()
        .map_err(|e| AwsError::Config(e.to_string()))?;
    Ok(ecs::NetworkConfiguration::builder().awsvpc_configuration(vpc).build())
}

fn deployment_configuration() -> ecs::DeploymentConfiguration {
    ecs::DeploymentConfiguration::builder()
        .deployment_circuit_breaker(ecs::DeploymentCircuitBreaker::builder().enable(true).rollback(true).build())
        .maximum_percent(200)
        .minimum_healthy_percent(100)
        .build()
}

fn load_balancers(a: &Attrs) -> Result<Option<Vec<ecs::LoadBalancer>>, AwsError> {
    let lb = map(a, "load_balancer");
    let Some(tg) = lb.get("target_group_arn") else { return Ok(None) };
    let port: i32 = lb
        .get("container_port")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| AwsError::Config("load_balancer.container_port is not a number".into()))?;
    let container = lb.get("container_name").cloned().unwrap_or_default();
    Ok(Some(vec![
        ecs::LoadBalancer::builder().target_group_arn(tg).container_name(container).container_port(port).build(),
    ]))
}

/// IAM returns policy documents URL-encoded (RFC 3986 percent-encoding).
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn percent_decoding() {
        assert_eq!(super::percent_decode("%7B%22a%22%3A1%7D"), "{\"a\":1}");
        assert_eq!(super::percent_decode("{\"a\": 1}"), "{\"a\": 1}");
        assert_eq!(super::percent_decode("100%"), "100%");
    }
}
