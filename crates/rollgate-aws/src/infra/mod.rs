//! Reading and converging the base infrastructure (`rollgate plan / up / down`).
//!
//! One driver per resource kind, in a module of its own: it reads what AWS has into the same
//! canonical attributes rollgate-core's [`Spec::attrs`] gives the desired resource (so the plan
//! is a comparison), and creates, updates and deletes from the kind's typed spec. This module
//! holds the clients, and dispatches a plan's steps to the drivers.

use aws_sdk_codebuild as codebuild;
use rollgate_core::infra::desired::{APP_TAG, Env, MANAGED_TAG, Value};
use rollgate_core::infra::plan::{Change, LIVE_TASK_DEFINITION, Observed, Step};
use rollgate_core::infra::{Attrs, Kind, Resource, Spec};
use rollgate_core::{AccountId, Region};

use crate::AwsError;

mod build_project;
mod cluster;
mod log_group;
mod repository;
mod role;
mod service;
mod task_definition;
mod teardown;

/// Every client `rollgate up` needs, built from one `SdkConfig`.
#[derive(Debug, Clone)]
pub struct Infra {
    ecr: aws_sdk_ecr::Client,
    ecs: aws_sdk_ecs::Client,
    iam: aws_sdk_iam::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    codebuild: codebuild::Client,
    sts: aws_sdk_sts::Client,
    region: Option<String>,
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

/// A builder's refusal (a required field missing): a rollgate bug, reported as such.
fn built<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, AwsError> {
    result.map_err(|e| AwsError::Config(format!("{e} (a rollgate bug: please report it)")))
}

/// A count or a number of seconds as the SDK takes it (`i32`); the config's checks keep it in range.
fn int(field: &str, value: u32) -> Result<i32, AwsError> {
    i32::try_from(value).map_err(|_| AwsError::Config(format!("{field} = {value} is out of range")))
}

fn attrs<const N: usize>(pairs: [(&str, Value); N]) -> Attrs {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Only the ownership tags are compared; other tags are the user's.
fn managed_tags<'a>(tags: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    Value::map(tags.filter(|(k, _)| *k == MANAGED_TAG || *k == APP_TAG))
}

/// Which attributes a step's update changes.
struct Changed<'a>(&'a [rollgate_core::infra::AttrDiff]);

impl Changed<'_> {
    fn has(&self, attr: &str) -> bool {
        self.0.iter().any(|d| d.attr == attr)
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
            codebuild: codebuild::Client::new(config),
            sts: aws_sdk_sts::Client::new(config),
            region: config.region().map(ToString::to_string),
        }
    }

    /// The account and region the resources go to (STS GetCallerIdentity).
    ///
    /// Errors: no region configured, or STS's answer lacks the account.
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
    /// revision is the one the task definition is compared with (not the family's newest),
    /// whatever its status (housekeeping may have deregistered it; ECS still describes it).
    /// A resource that does not exist is absent from the answer. One read per resource (the
    /// Describe/Get call of its kind, plus its tags where the read does not carry them).
    ///
    /// Errors: the first read AWS refuses or that fails, other than its "not found" answer
    /// (e.g. `AccessDeniedException` naming the missing permission).
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
        match &r.spec {
            Spec::Repository(_) => self.read_repository(&r.name).await,
            Spec::LogGroup(_) => self.read_log_group(&r.name).await,
            Spec::Role(_) => self.read_role(&r.name).await,
            Spec::BuildProject(_) => self.read_build_project(&r.name).await,
            Spec::Cluster(_) => self.read_cluster(&r.name).await,
            Spec::TaskDefinition(spec) => {
                // The live revision: the service's, else the family's latest.
                let service = so_far.iter().find(|((k, _), _)| *k == Kind::Service).map(|(_, a)| a);
                match service.and_then(|a| a.get(LIVE_TASK_DEFINITION)).and_then(Value::as_opt) {
                    Some(arn) => self.read_task_definition(arn, &spec.container, true).await,
                    None => self.read_task_definition(&r.name, &spec.container, false).await,
                }
            }
            Spec::Service(spec) => self.read_service(&spec.cluster, &r.name).await,
        }
    }

    /// Carries out one step of a plan. A task-definition revision it registers is recorded in
    /// `ctx.new_revision`, for the service step that follows.
    ///
    /// Errors: a conflict step (never carried out), or the first AWS call that fails.
    pub async fn apply(&self, step: &Step, env: &Env, ctx: &mut ApplyContext) -> Result<(), AwsError> {
        let r = &step.resource;
        let name = r.name.as_str();
        let diffs = match &step.change {
            Change::Unchanged | Change::Use { .. } => return Ok(()),
            Change::Conflict { owner } => {
                return Err(AwsError::Config(format!(
                    "{} {name} belongs to {owner}: rollgate does not take it over",
                    r.kind.label()
                )));
            }
            Change::Create => None,
            Change::Update { diffs } => Some(Changed(diffs)),
        };
        match (&r.spec, diffs) {
            (Spec::Repository(spec), None) => self.create_repository(name, spec).await,
            (Spec::Repository(spec), Some(changed)) => self.update_repository(name, spec, &changed, ctx).await,
            (Spec::LogGroup(spec), None) => self.create_log_group(name, spec).await,
            (Spec::LogGroup(spec), Some(changed)) => self.update_log_group(name, spec, &changed, ctx).await,
            (Spec::Role(spec), None) => self.create_role(name, spec).await,
            (Spec::Role(spec), Some(changed)) => self.update_role(r.kind, name, spec, &changed, ctx).await,
            (Spec::BuildProject(spec), changed) => self.put_build_project(name, spec, changed.is_none()).await,
            (Spec::Cluster(spec), None) => self.create_cluster(name, spec).await,
            (Spec::Cluster(spec), Some(changed)) => self.update_cluster(name, spec, &changed, ctx).await,
            (Spec::TaskDefinition(spec), _) => {
                let revision = step.revision.as_ref().ok_or_else(|| {
                    AwsError::Config(format!("the plan has no revision for {name} (a rollgate bug: please report it)"))
                })?;
                ctx.new_revision = Some(self.register_task_definition(spec, revision, env).await?);
                Ok(())
            }
            (Spec::Service(spec), None) => self.create_service(name, spec, ctx).await,
            (Spec::Service(spec), Some(changed)) => self.update_service(name, spec, &changed, ctx).await,
        }
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
}
