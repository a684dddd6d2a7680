//! The deploy handler: parse the push, discover the services that track it, plan each
//! rollout with rollgate-core, then execute the plans with bounded parallelism.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use futures_util::{StreamExt, stream};
use lambda_runtime::LambdaEvent;
use rollgate_aws::AwsError;
use rollgate_aws::ecr::ImageCatalog;
use rollgate_aws::ecs::{ServiceDirectory, ServiceUpdater, TaskDefinitions};
use rollgate_aws::index::ResourceIndex;
use rollgate_core::config::DeployConfig;
use rollgate_core::deploy::INDEX_GRACE;
use rollgate_core::deploy::{Decision, Match, SkipReason, match_service, plan_rollout};
use rollgate_core::events::{EcrAction, EventError, ManifestKind, PushEvent, RawEvent};
use rollgate_core::events::{SCHEDULE_DETAIL_TYPE, SCHEDULE_SOURCE, ScheduleDetail};
use rollgate_core::image::Manifest;
use rollgate_core::index::{self, Discovery};
use rollgate_core::ledger::rollout_marker;
use rollgate_core::reconcile::{Candidate, RepoImage, candidates};
use rollgate_core::registration::{Compensation, Registration, compensation, registration};
use rollgate_core::report::{ClusterFailure, DeployReport, Outcome, ServiceOutcome};
use rollgate_core::service::{OptIn, ServiceView};
use rollgate_core::{AccountId, Digest, ErrorClass, RepositoryName, TaskDefArn};
use rollgate_lambda::{Budget, FunctionError, OUT_OF_TIME, finish};
use serde_json::value::RawValue;
use tracing::{error, info, warn};

mod reconcile;

use reconcile::reconcile_event;
pub use reconcile::{reconcile, reconcile_within};

/// Everything the deploy function needs from AWS.
pub trait DeployApi: ServiceDirectory + ResourceIndex + TaskDefinitions + ServiceUpdater + ImageCatalog + Sync {}
impl<T: ServiceDirectory + ResourceIndex + TaskDefinitions + ServiceUpdater + ImageCatalog + Sync> DeployApi for T {}

/// The Lambda entry point: a push event or the reconciler's schedule. A report that left
/// retryable work undone becomes a `Retryable` error, so Lambda's retry finishes it
/// (deploys are idempotent).
pub async fn invoke<A: DeployApi>(
    aws: &A,
    config: &DeployConfig,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<DeployReport, FunctionError> {
    // Starts no rollout past the deadline's reserve (`Budget::MARGIN`): the rest is reported
    // undone (`Retryable`), so Lambda's retry finishes it and no rollout is cut mid-write.
    let budget = Budget::from_deadline_ms(event.context.deadline);
    // Read once: its `source` routes it, and the route's parser takes the same reading.
    let event = RawEvent::parse(event.payload.get());
    let report = if event.as_ref().is_ok_and(|e| e.source == SCHEDULE_SOURCE) {
        reconcile_event(aws, config, event, budget).await?
    } else {
        handle_event(aws, config, event, budget).await?
    };
    finish(report)
}

/// Handles one EventBridge event, given as raw JSON.
pub async fn handle<A: DeployApi>(aws: &A, config: &DeployConfig, raw: &str) -> Result<DeployReport, FunctionError> {
    handle_within(aws, config, raw, Budget::UNLIMITED).await
}

/// [`handle`], starting no rollout once `budget` is spent: those services are reported as
/// undone (`Retryable`), so the invocation never dies in the middle of a write.
pub async fn handle_within<A: DeployApi>(
    aws: &A,
    config: &DeployConfig,
    raw: &str,
    budget: Budget,
) -> Result<DeployReport, FunctionError> {
    handle_event(aws, config, RawEvent::parse(raw), budget).await
}

/// [`handle_within`] of an event already read (or the error reading it).
async fn handle_event<A: DeployApi>(
    aws: &A,
    config: &DeployConfig,
    event: Result<RawEvent, EventError>,
    budget: Budget,
) -> Result<DeployReport, FunctionError> {
    let mut push = match event.and_then(|e| EcrAction::from_event(&e)) {
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
        arrival = %push.arrival,
        manifest = ?push.manifest,
        repository = %push.repository,
        digest = %push.digest,
        tag = push.tag.as_ref().map(|t| t.as_str()),
        "push received"
    );

    let mut report = DeployReport { event_id: push.envelope.id.clone(), ..DeployReport::default() };
    let mut candidates: Vec<(ServiceView, OptIn)> = Vec::new();
    for service in discover_tracking(aws, config, &push, &mut report).await? {
        match match_service(&push, &service, &config.trusted_registries) {
            Match::NotTracking => {}
            Match::Candidate(opt_in) => candidates.push((service, opt_in)),
            Match::Skip(reason) => report.services.push(skipped(&push, &service, reason)),
            Match::Misconfigured(e) => {
                let error = format!("{e}; fix the service's tags");
                report.services.push(failed(&push, &service, error, ErrorClass::NonRetryable));
            }
        }
    }

    // What arrived and what it runs on, from its manifest (and a single image's config), for
    // the platform check; also what an event that did not say carries (replication, pull
    // through cache, events from before ECR sent media types). One lookup per push, only when
    // a service would take it: a foreign or untracked push costs no call.
    if !candidates.is_empty() {
        match aws.manifest(&push.envelope.account, push.repository.as_str(), &push.digest).await {
            Ok(Some(manifest)) => {
                if let Some(reason) = manifest.not_runnable() {
                    info!(event_id = %push.envelope.id, %reason, decision = "ignored", "event deploys nothing");
                    return Ok(DeployReport { ignored: Some(reason), ..report });
                }
                if push.manifest == ManifestKind::Unknown {
                    push.manifest = match manifest {
                        Manifest::Index { .. } => ManifestKind::Index,
                        _ => ManifestKind::Image,
                    };
                }
                push.platforms = manifest.platforms();
            }
            Ok(None) => {
                let reason = format!(
                    "{} is not in {} (deleted since it was pushed, or archived): nothing to deploy",
                    push.digest, push.repository
                );
                info!(event_id = %push.envelope.id, %reason, decision = "ignored", "event deploys nothing");
                return Ok(DeployReport { ignored: Some(reason), ..report });
            }
            Err(e) => {
                error!(event_id = %push.envelope.id, error = %e, "cannot read the image's manifest");
                return Err(FunctionError {
                    class: e.class(),
                    message: format!("cannot read the image's manifest: {e}"),
                });
            }
        }
    }
    let rollouts: Vec<_> = stream::iter(&candidates)
        .map(|(service, opt_in)| rollout(aws, &push, service, opt_in, budget))
        .buffer_unordered(config.max_in_flight)
        .collect()
        .await;
    report.services.extend(rollouts);
    report.services.sort_by(|a, b| (&a.cluster, &a.service).cmp(&(&b.cluster, &b.service)));
    report.cluster_failures.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    info!(event_id = %report.event_id, summary = %report.summary(), "event done");
    Ok(report)
}

/// The services of the configured clusters that may track the push's repository, as ECS
/// describes them now: those the tagging index lists with the repository's
/// `rollgate:repository` (`rollgate_core::index::tracking`), or every service with
/// `ROLLGATE_DISCOVERY=scan`. Clusters that cannot be read are reported.
///
/// When the index refuses for good (no `tag:GetResources`: a stack from before it was
/// granted), the push is served by the scan and the fix is logged. When it fails for now
/// (throttled), the push fails `Retryable` with nothing written, and Lambda's retry serves it.
async fn discover_tracking<A: DeployApi>(
    aws: &A,
    config: &DeployConfig,
    push: &PushEvent,
    report: &mut DeployReport,
) -> Result<Vec<ServiceView>, FunctionError> {
    if config.discovery == Discovery::Scan {
        return Ok(discover_all(aws, config, report).await);
    }
    let found = match aws.resources(&index::tracking(&push.repository)).await {
        Ok(found) => found,
        Err(e) => {
            let failure = rollgate_aws::discovery::index_failure(&e);
            error!(event_id = %push.envelope.id, error = %e, "{}", failure.advice());
            if failure.scans() {
                return Ok(discover_all(aws, config, report).await);
            }
            return Err(FunctionError {
                class: e.class(),
                message: format!("cannot look up the services tracking {}: {e}", push.repository),
            });
        }
    };
    let candidates = index::services_in(&found, &config.clusters);
    let described = rollgate_aws::discovery::describe_found(aws, &candidates, config.max_in_flight).await;
    for (cluster, e) in described.unreadable {
        error!(cluster = %cluster, error = %e, "cannot describe the cluster's services");
        report.cluster_failures.push(ClusterFailure { cluster, error: e.to_string(), class: e.class() });
    }
    Ok(described.services)
}

/// Every service of every configured cluster; clusters that cannot be read are reported.
async fn discover_all<A: DeployApi>(aws: &A, config: &DeployConfig, report: &mut DeployReport) -> Vec<ServiceView> {
    discover_clusters(aws, config, &config.clusters, report).await
}

/// Every service of `clusters`, each unreadable cluster reported.
async fn discover_clusters<A: DeployApi>(
    aws: &A,
    config: &DeployConfig,
    clusters: &[String],
    report: &mut DeployReport,
) -> Vec<ServiceView> {
    let found = rollgate_aws::discovery::discover_all(aws, clusters, config.max_in_flight).await;
    for (cluster, e) in found.unreadable {
        error!(cluster = %cluster, error = %e, "cannot list the cluster's services");
        report.cluster_failures.push(ClusterFailure { cluster, error: e.to_string(), class: e.class() });
    }
    found.services
}

/// Plans and executes the rollout of one candidate service.
async fn rollout<A: DeployApi>(
    aws: &A,
    push: &PushEvent,
    service: &ServiceView,
    opt_in: &OptIn,
    budget: Budget,
) -> ServiceOutcome {
    if budget.exhausted() {
        return failed(push, service, OUT_OF_TIME.to_owned(), ErrorClass::Retryable);
    }
    let Some(current) = &service.task_definition else {
        let error = "the service has no task definition ARN; create it with one".to_owned();
        return failed(push, service, error, ErrorClass::NonRetryable);
    };
    // The family's latest revision is, as a rule, the live one: one call serves both. When it
    // is not, it (or a revision between it and the live one) may be the revision an earlier
    // attempt at this very push registered before failing (a lost answer): then it is reused,
    // never registered twice (rollgate_core::registration).
    // A family with no ACTIVE revision at all (housekeeping deregistered every one, the live
    // one too: ECS answers ClientException) holds no earlier attempt either; the live revision
    // is still described (DescribeTaskDefinition answers INACTIVE revisions) and copied.
    let latest = match aws.describe_latest(&current.revision().family).await {
        Ok(s) => Some(s),
        Err(e) if e.code() == Some("ClientException") => None,
        Err(e) => return failed(push, service, e.to_string(), e.class()),
    };
    let live_snapshot;
    let snapshot = match &latest {
        Some(latest) if &latest.summary.arn == current => latest,
        _ => {
            live_snapshot = match aws.describe_task_definition(current).await {
                Ok(s) => s,
                Err(e) => return failed(push, service, e.to_string(), e.class()),
            };
            &live_snapshot
        }
    };
    let plan = match plan_rollout(push, service, opt_in, &snapshot.summary) {
        Ok(Decision::Rollout(plan)) => plan,
        Ok(Decision::Skip(reason)) => return skipped(push, service, reason),
        Err(e) => return failed(push, service, e.to_string(), ErrorClass::NonRetryable),
    };
    if !plan.dropped_tags.is_empty() {
        warn!(
            cluster = service.arn.cluster_name(),
            service = service.arn.name(),
            base = %plan.base,
            dropped = %plan.dropped_tags.join(" "),
            "the base revision's own tags do not all fit on the new revision (ECS allows 50, and room is kept for the health gate's tags); these are not copied"
        );
    }
    let marker = rollout_marker(&plan.tags);
    let step = match &latest {
        Some(latest) if latest.is_active() => registration(&marker, current, &latest.summary),
        _ => Registration::Register,
    };
    let step = match aws.settle_registration(&marker, current, step).await {
        Ok(step) => step,
        Err(e) => return failed(push, service, e.to_string(), e.class()),
    };
    let revision = match step {
        Registration::Reuse(arn) => {
            info!(revision = %arn, decision = "reused", "an earlier attempt registered this revision");
            arn
        }
        Registration::Register | Registration::Look { .. } => {
            match aws.register_copy(snapshot, &plan.images, &plan.tags).await {
                Ok(arn) => arn,
                Err(e) => return failed(push, service, e.to_string(), e.class()),
            }
        }
    };
    if let Err(e) = aws.update_service(&service.arn, &revision).await {
        return unfinished(aws, push, service, &revision, e).await;
    }
    info!(
        cluster = service.arn.cluster_name(),
        service = service.arn.name(),
        digest = %push.digest,
        containers = %plan.containers.join(" "),
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

/// UpdateService failed after the revision was registered. Either the update landed and only
/// the answer was lost (then the rollout is done), or it did not (then the revision is
/// deregistered, so a retry registers a fresh one and no orphan is left). Failure path only:
/// the happy path keeps its five calls.
async fn unfinished<A: DeployApi>(
    aws: &A,
    push: &PushEvent,
    service: &ServiceView,
    revision: &TaskDefArn,
    error: AwsError,
) -> ServiceOutcome {
    let name = service.arn.to_string();
    let read = aws.describe_services(service.arn.cluster_name(), std::slice::from_ref(&name)).await;
    let landed = read.as_ref().ok().map(|found| found.iter().any(|s| s.task_definition.as_ref() == Some(revision)));
    match compensation(landed) {
        Compensation::Deployed => {
            info!(cluster = service.arn.cluster_name(), service = service.arn.name(), revision = %revision,
                  decision = "deployed", "UpdateService's answer was lost, but the update landed");
            ServiceOutcome {
                cluster: service.arn.cluster_name().to_owned(),
                service: service.arn.name().to_owned(),
                outcome: Outcome::Deployed {
                    revision: revision.to_string(),
                    previous: service.task_definition.as_ref().map(ToString::to_string).unwrap_or_default(),
                },
            }
        }
        Compensation::Keep => {
            let e = read.err().map(|e| e.to_string()).unwrap_or_default();
            let error = format!("could not update the service ({error}) nor check whether it was updated ({e})");
            failed(push, service, error, ErrorClass::Retryable)
        }
        Compensation::Deregister => {
            let cleanup = match aws.deregister(revision).await {
                Ok(()) => format!("deregistered {revision}"),
                // Kept, the retry finds it as an earlier attempt's revision and reuses it.
                Err(e) => format!("{revision} is left registered but not live ({e})"),
            };
            failed(push, service, format!("could not update the service: {error}; {cleanup}"), error.class())
        }
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

fn failed_service(service: &ServiceView, error: String, class: ErrorClass) -> ServiceOutcome {
    warn!(cluster = service.arn.cluster_name(), service = service.arn.name(), reason = %error, decision = "failed", "reconcile failed");
    ServiceOutcome {
        cluster: service.arn.cluster_name().to_owned(),
        service: service.arn.name().to_owned(),
        outcome: Outcome::Failed { error, class },
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
