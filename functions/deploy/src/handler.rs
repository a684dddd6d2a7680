//! The deploy handler: parse the push, discover the services that track it, plan each
//! rollout with rollgate-core, then execute the plans with bounded parallelism.

use futures_util::{StreamExt, stream};
use lambda_runtime::LambdaEvent;
use rollgate_aws::AwsError;
use rollgate_aws::ecs::{DESCRIBE_SERVICES_BATCH, ServiceDirectory, ServiceUpdater, TaskDefinitions};
use rollgate_core::ErrorClass;
use rollgate_core::config::DeployConfig;
use rollgate_core::deploy::{Decision, Match, SkipReason, match_service, plan_rollout};
use rollgate_core::event::{EcrAction, PushEvent, parse_ecr_event};
use rollgate_core::report::{ClusterFailure, DeployReport, Outcome, ServiceOutcome};
use rollgate_core::service::{OptIn, ServiceView};
use rollgate_lambda::{FunctionError, finish};
use serde_json::value::RawValue;
use tracing::{error, info, warn};

/// Everything the deploy function needs from AWS.
pub trait DeployApi: ServiceDirectory + TaskDefinitions + ServiceUpdater + Sync {}
impl<T: ServiceDirectory + TaskDefinitions + ServiceUpdater + Sync> DeployApi for T {}

/// The Lambda entry point: runs [`handle`] and turns a report that left retryable work
/// undone into a `Retryable` error, so Lambda's retry finishes it (deploys are idempotent).
pub async fn invoke<A: DeployApi>(
    aws: &A,
    config: &DeployConfig,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<DeployReport, FunctionError> {
    finish(handle(aws, config, event.payload.get()).await?)
}

/// Handles one EventBridge event, given as raw JSON.
pub async fn handle<A: DeployApi>(aws: &A, config: &DeployConfig, raw: &str) -> Result<DeployReport, FunctionError> {
    let push = match parse_ecr_event(raw) {
        Ok(EcrAction::Push(push)) => push,
        Ok(EcrAction::Ignored { envelope, reason }) => {
            info!(event_id = %envelope.id, %reason, decision = "ignored", "event deploys nothing");
            return Ok(DeployReport { event_id: envelope.id, ignored: Some(reason), ..DeployReport::default() });
        }
        Err(e) => {
            error!(reason = %e, decision = "rejected", "malformed event; nothing written");
            return Err(FunctionError::non_retryable(e));
        }
    };
    info!(
        event_id = %push.envelope.id,
        repository = %push.repository,
        digest = %push.digest,
        tag = push.tag.as_ref().map(|t| t.as_str()),
        "push received"
    );

    let mut report = DeployReport { event_id: push.envelope.id.clone(), ..DeployReport::default() };
    let listings: Vec<_> = stream::iter(&config.clusters)
        .map(|cluster| async move { (cluster, discover(aws, cluster).await) })
        .buffer_unordered(config.max_in_flight)
        .collect()
        .await;

    let mut candidates = Vec::new();
    for (cluster, listing) in listings {
        match listing {
            Err(e) => {
                error!(cluster = %cluster, error = %e, "cannot list the cluster's services");
                report.cluster_failures.push(ClusterFailure {
                    cluster: cluster.clone(),
                    error: e.to_string(),
                    class: e.class(),
                });
            }
            Ok(services) => {
                for service in services {
                    match match_service(&push, &service) {
                        Match::NotTracking => {}
                        Match::Candidate(opt_in) => candidates.push((service, opt_in)),
                        Match::Skip(reason) => report.services.push(skipped(&push, &service, reason)),
                        Match::Misconfigured(e) => {
                            let error = format!("{e}; fix the service's tags");
                            report.services.push(failed(&push, &service, error, ErrorClass::NonRetryable));
                        }
                    }
                }
            }
        }
    }

    let rollouts: Vec<_> = stream::iter(&candidates)
        .map(|(service, opt_in)| rollout(aws, &push, service, opt_in))
        .buffer_unordered(config.max_in_flight)
        .collect()
        .await;
    report.services.extend(rollouts);
    report.services.sort_by(|a, b| (&a.cluster, &a.service).cmp(&(&b.cluster, &b.service)));
    report.cluster_failures.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    info!(event_id = %report.event_id, summary = %report.summary(), "event done");
    Ok(report)
}

/// Lists a cluster's services and describes them, with tags, 10 at a time.
async fn discover<A: DeployApi>(aws: &A, cluster: &str) -> Result<Vec<ServiceView>, AwsError> {
    let arns = aws.list_services(cluster).await?;
    let mut services = Vec::with_capacity(arns.len());
    for batch in arns.chunks(DESCRIBE_SERVICES_BATCH) {
        services.extend(aws.describe_services(cluster, batch).await?);
    }
    Ok(services)
}

/// Plans and executes the rollout of one candidate service.
async fn rollout<A: DeployApi>(aws: &A, push: &PushEvent, service: &ServiceView, opt_in: &OptIn) -> ServiceOutcome {
    let Some(current) = &service.task_definition else {
        let error = "the service has no task definition ARN; create it with one".to_owned();
        return failed(push, service, error, ErrorClass::NonRetryable);
    };
    let snapshot = match aws.describe_task_definition(current).await {
        Ok(s) => s,
        Err(e) => return failed(push, service, e.to_string(), e.class()),
    };
    let plan = match plan_rollout(push, service, opt_in, &snapshot.summary) {
        Ok(Decision::Rollout(plan)) => plan,
        Ok(Decision::Skip(reason)) => return skipped(push, service, reason),
        Err(e) => return failed(push, service, e.to_string(), ErrorClass::NonRetryable),
    };
    let revision = match aws.register_copy(&snapshot, &plan.container, &plan.image, &plan.tags).await {
        Ok(arn) => arn,
        Err(e) => return failed(push, service, e.to_string(), e.class()),
    };
    if let Err(e) = aws.update_service(&service.arn, &revision).await {
        let error = format!("registered {revision} but could not update the service: {e}");
        return failed(push, service, error, e.class());
    }
    info!(
        cluster = service.arn.cluster_name(),
        service = service.arn.name(),
        digest = %push.digest,
        container = %plan.container,
        revision = %revision,
        previous = %plan.base,
        decision = "deployed",
        "rollout started"
    );
    ServiceOutcome {
        cluster: service.arn.cluster_name().to_owned(),
        service: service.arn.name().to_owned(),
        outcome: Outcome::Deployed { revision: revision.to_string(), previous: plan.base.to_string() },
    }
}

fn skipped(push: &PushEvent, service: &ServiceView, reason: SkipReason) -> ServiceOutcome {
    let text = reason.to_string();
    info!(
        cluster = service.arn.cluster_name(),
        service = service.arn.name(),
        digest = %push.digest,
        reason = %text,
        decision = "skipped",
        "no rollout"
    );
    ServiceOutcome {
        cluster: service.arn.cluster_name().to_owned(),
        service: service.arn.name().to_owned(),
        outcome: Outcome::Skipped { reason: text, detail: reason },
    }
}

fn failed(push: &PushEvent, service: &ServiceView, error: String, class: ErrorClass) -> ServiceOutcome {
    warn!(
        cluster = service.arn.cluster_name(),
        service = service.arn.name(),
        digest = %push.digest,
        reason = %error,
        class = class.as_str(),
        decision = "failed",
        "rollout failed"
    );
    ServiceOutcome {
        cluster: service.arn.cluster_name().to_owned(),
        service: service.arn.name().to_owned(),
        outcome: Outcome::Failed { error, class },
    }
}
