//! The health-gate handler: gather the facts of each in-flight rollout, ask rollgate-core
//! for a verdict, then carry out its plan (roll back, record, notify).

use std::collections::BTreeSet;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, stream};
use lambda_runtime::LambdaEvent;
use rollgate_aws::AwsError;
use rollgate_aws::cloudwatch::AlarmReader;
use rollgate_aws::codebuild::{BuildLookup, BuildOfImage};
use rollgate_aws::ecr::ImagePresence;
use rollgate_aws::ecs::{
    DESCRIBE_SERVICES_BATCH, ResourceTagger, ServiceDirectory, ServiceHistory, ServiceUpdater, TaskDefSnapshot,
    TaskDefinitions, write_tags,
};
use rollgate_aws::eventbridge::Notifier;
use rollgate_aws::execute::carry_out;
use rollgate_aws::probe::SmokeRunner;
use rollgate_core::config::GateConfig;
use rollgate_core::ecs_event::{DeploymentEvent, GateTrigger, parse_gate_event};
use rollgate_core::gate::{
    AlarmEntry, EcrImageId, GateSettings, Lineage, ReportedFailure, Resolution, RollbackVerdict, RolloutFacts,
    RolloutState, StopCause, StopRecord, TargetFacts, Verdict, adopt_known_good, alarm_window_start, check_target,
    ecr_images, evaluate, finished_via_copy, judge_rollback, outcome, plan, plan_rollback, record_stop,
    rollback_refused,
};
use rollgate_core::history::{Orphaned, deployment_id, history_due, read_history};
use rollgate_core::ledger::keys;
use rollgate_core::report::{GateFailure, GateReport, RolloutOutcome};
use rollgate_core::service::{DeploymentView, OptIn, ServiceView};
use rollgate_core::tags::TagWrite;
use rollgate_core::{ErrorClass, ServiceArn, TaskDefArn};
use rollgate_lambda::{Budget, FunctionError, OUT_OF_TIME, finish};
use serde_json::value::RawValue;
use tokio::sync::OnceCell;
use tracing::{error, info, warn};

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

/// The Lambda entry point.
pub async fn invoke<A: GateApi>(
    aws: &A,
    config: &GateConfig,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<GateReport, FunctionError> {
    let budget = Budget::from_deadline_ms(event.context.deadline);
    finish(handle_within(aws, config, event.payload.get(), budget).await?)
}

/// Handles one trigger event, given as raw JSON.
pub async fn handle<A: GateApi>(aws: &A, config: &GateConfig, raw: &str) -> Result<GateReport, FunctionError> {
    handle_within(aws, config, raw, Budget::UNLIMITED).await
}

/// [`handle`], evaluating no further service once `budget` is spent: those are reported as
/// undone (`Retryable`) and the next scheduled sweep covers them anyway.
pub async fn handle_within<A: GateApi>(
    aws: &A,
    config: &GateConfig,
    raw: &str,
    budget: Budget,
) -> Result<GateReport, FunctionError> {
    let trigger = parse_gate_event(raw).map_err(|e| {
        error!(reason = %e, decision = "rejected", "malformed event; nothing written");
        FunctionError::non_retryable(e)
    })?;
    let gate = Gate {
        aws,
        config,
        now: trigger.envelope().time,
        alarms: OnceCell::new(),
        alarm_window: OnceLock::new(),
        entered: OnceCell::new(),
        budget,
    };
    let mut report = GateReport { event_id: trigger.envelope().id.clone(), ..GateReport::default() };
    match trigger {
        GateTrigger::Ignored { reason, .. } => {
            report.trigger = "ignored".into();
            report.ignored = Some(reason);
        }
        GateTrigger::Deployment { service, deployment_id, event, reason, .. } => {
            report.trigger = "deployment".into();
            let reported = (event == DeploymentEvent::Failed)
                .then(|| reason.unwrap_or_else(|| "ECS reported the deployment FAILED".to_owned()));
            match gate.opted_in(&service).await {
                Ok(Ok(view)) => {
                    let failure = ReportedFailure { deployment_id: &deployment_id, reason: reported.as_deref() };
                    gate.set_alarm_window([&view]);
                    gate.service(&view, &failure, &mut report).await;
                }
                Ok(Err(reason)) => report.ignored = Some(reason),
                Err(e) => report.failures.push(failure(&service, e)),
            }
        }
        GateTrigger::TaskStopped { service, task_id, task_definition, cause, .. } => {
            report.trigger = "task-stopped".into();
            let Some(cause) = cause else {
                report.ignored = Some("a normal stop (scale-in, replacement or user stop)".into());
                return Ok(logged(report));
            };
            match gate.opted_in(&service).await {
                Ok(Ok(view)) => {
                    gate.set_alarm_window([&view]);
                    gate.task_stopped(&view, &task_definition, &task_id, &cause, &mut report).await;
                }
                Ok(Err(reason)) => report.ignored = Some(reason),
                Err(e) => report.failures.push(failure(&service, e)),
            }
        }
        GateTrigger::Tick { .. } => {
            report.trigger = "schedule".into();
            gate.sweep(&mut report).await;
        }
    }
    Ok(logged(report))
}

fn logged(report: GateReport) -> GateReport {
    match &report.ignored {
        Some(reason) => info!(event_id = %report.event_id, %reason, decision = "ignored", "nothing to verify"),
        None => info!(event_id = %report.event_id, summary = %report.summary(), "event done"),
    }
    report
}

fn failure(service: &ServiceArn, e: AwsError) -> GateFailure {
    error!(cluster = service.cluster_name(), service = service.name(), error = %e, "cannot evaluate");
    GateFailure {
        cluster: service.cluster_name().to_owned(),
        service: Some(service.name().to_owned()),
        error: e.to_string(),
        class: e.class(),
    }
}

struct Gate<'a, A> {
    aws: &'a A,
    config: &'a GateConfig,
    now: DateTime<Utc>,
    /// Read once per invocation, and only if a service watches alarms.
    alarms: OnceCell<Vec<String>>,
    /// Since when alarm history is needed: the earliest start of a rollout this invocation may
    /// judge against alarms (`alarm_window_start`), set once the services are known.
    alarm_window: OnceLock<Option<DateTime<Utc>>>,
    /// Entries into ALARM since `alarm_window`: read once per invocation, when needed.
    entered: OnceCell<Vec<AlarmEntry>>,
    budget: Budget,
}

impl<A: GateApi> Gate<'_, A> {
    /// The service, if the gate should look at it at all; `Ok(Err(reason))` when not.
    async fn opted_in(&self, service: &ServiceArn) -> Result<Result<ServiceView, String>, AwsError> {
        if !self.config.watches_cluster(service.cluster_name()) {
            return Ok(Err(format!("cluster {} is not in ROLLGATE_CLUSTERS", service.cluster_name())));
        }
        let found = self.aws.describe_services(service.cluster_name(), &[service.to_string()]).await?;
        Ok(match found.into_iter().next() {
            None => Err(format!("service {} does not exist", service.name())),
            Some(view) if OptIn::repository_tag(&view.tags).is_none() => {
                Err(format!("service {} has not opted in to rollgate", service.name()))
            }
            Some(view) => Ok(view),
        })
    }

    /// Every opted-in service of every watched cluster, `max_in_flight` at a time.
    async fn sweep(&self, report: &mut GateReport) {
        let listings: Vec<_> = stream::iter(&self.config.clusters)
            .map(|cluster| async move { (cluster, self.discover(cluster).await) })
            .buffer_unordered(self.config.max_in_flight)
            .collect()
            .await;
        let mut services = Vec::new();
        for (cluster, listing) in listings {
            match listing {
                Ok(found) => services.extend(found.into_iter().filter(|s| OptIn::repository_tag(&s.tags).is_some())),
                Err(e) => {
                    error!(cluster = %cluster, error = %e, "cannot list the cluster's services");
                    report.failures.push(GateFailure {
                        cluster: cluster.clone(),
                        service: None,
                        error: e.to_string(),
                        class: e.class(),
                    });
                }
            }
        }
        self.set_alarm_window(&services);
        let results: Vec<GateReport> = stream::iter(&services)
            .map(|service| async move {
                let mut part = GateReport::default();
                self.service(service, &ReportedFailure::NONE, &mut part).await;
                part
            })
            .buffer_unordered(self.config.max_in_flight)
            .collect()
            .await;
        for part in results {
            report.rollouts.extend(part.rollouts);
            report.failures.extend(part.failures);
        }
        report.rollouts.sort_by(|a, b| (&a.cluster, &a.service).cmp(&(&b.cluster, &b.service)));
    }

    async fn discover(&self, cluster: &str) -> Result<Vec<ServiceView>, AwsError> {
        let arns = self.aws.list_services(cluster).await?;
        let mut services = Vec::with_capacity(arns.len());
        for batch in arns.chunks(DESCRIBE_SERVICES_BATCH) {
            services.extend(self.aws.describe_services(cluster, batch).await?);
        }
        Ok(services)
    }

    /// Evaluates every rollout a service may have in flight: the revision it runs and those
    /// its deployments still reference, except its last known good revision.
    async fn service(&self, service: &ServiceView, reported: &ReportedFailure<'_>, report: &mut GateReport) {
        if self.budget.exhausted() {
            report.failures.push(GateFailure {
                cluster: service.arn.cluster_name().to_owned(),
                service: Some(service.arn.name().to_owned()),
                error: OUT_OF_TIME.to_owned(),
                class: ErrorClass::Retryable,
            });
            return;
        }
        let Some(settings) = self.settings(service, report) else { return };
        let (rollouts_before, mut adopted) = (report.rollouts.len(), false);
        if let Some(failed) = service.tags.get(keys::ROLLBACK) {
            self.follow_rollback(service, &settings, failed, report).await;
        }
        let last_good = service.tags.get(keys::LAST_GOOD).map(String::as_str);
        let mut seen = BTreeSet::new();
        let targets: Vec<&TaskDefArn> = service
            .task_definition
            .iter()
            .chain(service.deployments.iter().filter_map(|d| d.task_definition.as_ref()))
            .filter(|t| Some(t.as_str()) != last_good && seen.insert(t.as_str()))
            .collect();
        let pointer = service.tags.get(keys::ROLLBACK).map(String::as_str);
        // Listed revisions whose rollout awaited a verdict, or whose rollback an outcome: ECS's
        // history is read again until each has one (`HistoryReading::record`), so one that ECS
        // drops first is still found (its rollback then followed from the history).
        let mut awaiting: BTreeSet<TaskDefArn> = BTreeSet::new();
        for revision in targets {
            let snapshot = match self.aws.describe_task_definition(revision).await {
                Ok(snapshot) => snapshot,
                Err(e) => {
                    report.failures.push(failure(&service.arn, e));
                    continue;
                }
            };
            if RolloutState::in_flight(&snapshot.summary.tags)
                || RolloutState::of(&snapshot.summary.tags) == Some(RolloutState::RollingBack)
            {
                awaiting.insert(revision.clone());
            }
            // A rollback the service no longer points at (a newer failure's rollback replaced
            // the pointer) is followed all the same while ECS still runs or lists its revision.
            if RolloutState::of(&snapshot.summary.tags) == Some(RolloutState::RollingBack)
                && pointer != Some(revision.as_str())
            {
                self.follow_rollback(service, &settings, revision.as_str(), report).await;
                continue;
            }
            if let Some((why, tag)) = adopt_known_good(service, &snapshot.summary) {
                info!(
                    cluster = service.arn.cluster_name(),
                    service = service.arn.name(),
                    revision = %revision,
                    decision = "known-good",
                    "{}",
                    why.describe()
                );
                if let Err(e) = self.aws.tag_resource(service.arn.as_str(), &[tag]).await {
                    report.failures.push(failure(&service.arn, e));
                }
                adopted = true;
                continue;
            }
            let reported = reported.for_revision(service, revision);
            self.revision(service, &settings, &snapshot, reported, None, report).await;
        }
        let tags_written = adopted || report.rollouts.len() > rollouts_before;
        self.history(service, &settings, &awaiting, tags_written, report).await;
    }

    /// Judges the rollouts of service deployments ECS settled while no gate run saw them (its
    /// circuit breaker rolled one back and the rollback completed while every run failed),
    /// then records how far ECS's history was read (`rollgate::history`). Nothing is read
    /// while the service's current service deployment is the one recorded. `awaiting`: the
    /// listed revisions whose rollout awaited a verdict at this run; `tags_written`: whether
    /// this run may have written the service's tags already (its view's count is stale).
    async fn history(
        &self,
        service: &ServiceView,
        settings: &GateSettings,
        awaiting: &BTreeSet<TaskDefArn>,
        tags_written: bool,
        report: &mut GateReport,
    ) {
        let Some(since) = history_due(service, self.now) else { return };
        let briefs = match self.aws.service_deployments_since(&service.arn, since).await {
            Ok(b) => b,
            Err(e) => return report.failures.push(failure(&service.arn, e)),
        };
        let reading = read_history(service, &briefs);
        let (failures, rollouts_before) = (report.failures.len(), report.rollouts.len());
        let mut held = BTreeSet::new();
        // The live revision is the current deployment's target: while its rollout awaits a
        // verdict, the record stays before that deployment (a configuration change or a newer
        // push may replace it before any run sees it listed).
        if let Some(current) = service.current_service_deployment.as_deref()
            && service.task_definition.as_ref().is_some_and(|live| awaiting.contains(live))
        {
            held.insert(deployment_id(current).to_owned());
        }
        if !reading.orphans.is_empty() {
            let mut wanted: Vec<String> = reading.orphans.iter().map(|o| o.target_revision.clone()).collect();
            wanted.dedup();
            let revisions = match self.aws.revision_task_definitions(&wanted).await {
                Ok(r) => r,
                Err(e) => return report.failures.push(failure(&service.arn, e)),
            };
            let last_good = service.tags.get(keys::LAST_GOOD).map(String::as_str);
            let mut judged = BTreeSet::new();
            for orphan in &reading.orphans {
                let Some((_, revision)) = revisions.iter().find(|(r, _)| *r == orphan.target_revision) else {
                    continue; // ECS no longer has the service revision: nothing to judge
                };
                let listed = service.task_definition.as_ref() == Some(revision)
                    || service.deployments.iter().any(|d| d.task_definition.as_ref() == Some(revision));
                if listed && awaiting.contains(revision) {
                    held.insert(orphan.deployment.clone()); // ECS may drop it before its verdict
                }
                if listed || Some(revision.as_str()) == last_good || !judged.insert(revision.clone()) {
                    continue; // judged from what ECS runs and lists, or settled
                }
                let snapshot = match self.aws.describe_task_definition(revision).await {
                    Ok(s) => s,
                    Err(e) if e.class() == ErrorClass::NonRetryable => continue, // deleted since
                    Err(e) => {
                        report.failures.push(failure(&service.arn, e));
                        continue;
                    }
                };
                match RolloutState::of(&snapshot.summary.tags) {
                    Some(state) if state.awaits_verdict() => {
                        info!(cluster = service.arn.cluster_name(), service = service.arn.name(), revision = %revision, failure = orphan.failure.as_deref(), "a rollout ECS settled while no gate run saw it");
                        let orphaned = match self.orphaned(orphan).await {
                            Ok(o) => o,
                            Err(e) => {
                                report.failures.push(failure(&service.arn, e));
                                continue;
                            }
                        };
                        let before = report.rollouts.len();
                        self.revision(service, settings, &snapshot, orphan.failure.as_deref(), Some(&orphaned), report)
                            .await;
                        let rolling_back = report.rollouts[before..].iter().any(|r| {
                            r.revision == revision.as_str() && r.verdict == RolloutState::RollingBack.as_str()
                        });
                        if !rolling_back {
                            continue;
                        }
                    }
                    Some(RolloutState::RollingBack) => {}
                    _ => continue,
                }
                // Its rollback is followed here, not through the service's `rollgate:rollback`
                // (another rollout's rollback may hold that pointer): settled now if ECS
                // finished it, else read again from the history on the next run.
                let before = report.rollouts.len();
                self.follow_rollback(service, settings, revision.as_str(), report).await;
                if report.rollouts[before..]
                    .iter()
                    .any(|r| r.revision == revision.as_str() && r.verdict == RolloutState::RollingBack.as_str())
                {
                    held.insert(orphan.deployment.clone());
                }
            }
        }
        // The record moves only once every rollout it passes was judged: a failed run reads
        // the same history again.
        let Some(seen) = reading.record(&held).filter(|_| report.failures.len() == failures) else { return };
        let adds_a_tag = !service.tags.contains_key(keys::SEEN_DEPLOYMENT);
        if adds_a_tag && (tags_written || report.rollouts.len() > rollouts_before) {
            // The view's tag count predates this run's writes: the first record waits for the
            // next run's fresh view (it reads the same history and judges nothing twice).
            return;
        }
        if adds_a_tag && service.tags.len() >= rollgate_core::tags::MAX_TAGS {
            warn!(
                cluster = service.arn.cluster_name(),
                service = service.arn.name(),
                "no tag room for {}: ECS's history is read again on every run",
                keys::SEEN_DEPLOYMENT
            );
            return;
        }
        if let Err(e) = self.aws.tag_resource(service.arn.as_str(), &[seen.tag()]).await {
            report.failures.push(failure(&service.arn, e));
        }
    }

    /// What ECS's history says of an orphan ([`Orphaned`]): for a deployment its circuit
    /// breaker rolled back, the revision it went back to (DescribeServiceDeployments, then
    /// DescribeServiceRevisions).
    async fn orphaned(&self, orphan: &rollgate_core::history::Orphan) -> Result<Orphaned, AwsError> {
        if orphan.failure.is_none() {
            return Ok(Orphaned::default());
        }
        let Some((_, to)) =
            self.aws.rollback_revisions(std::slice::from_ref(&orphan.deployment_arn)).await?.into_iter().next()
        else {
            return Ok(Orphaned::default());
        };
        let rolled_back_to = self.aws.revision_task_definitions(&[to]).await?.into_iter().next().map(|(_, td)| td);
        Ok(Orphaned { rolled_back_to })
    }

    /// Follows the rollback the service's `rollgate:rollback` names to its outcome: the failed
    /// revision becomes `rolled-back` once the rollback's deployment completed, or
    /// `rollback-failed` (published once as `Rollback Failed`) when it did not hold.
    async fn follow_rollback(
        &self,
        service: &ServiceView,
        settings: &GateSettings,
        failed: &str,
        report: &mut GateReport,
    ) {
        let read = match TaskDefArn::parse(failed) {
            Ok(arn) => self.aws.describe_task_definition(&arn).await,
            Err(e) => Err(AwsError::Config(e.to_string())),
        };
        let snapshot = match read {
            Ok(snapshot) => snapshot,
            Err(e) if e.class() == ErrorClass::NonRetryable => {
                // The pointer names no revision ECS has (deleted since): nothing to follow.
                warn!(cluster = service.arn.cluster_name(), service = service.arn.name(), error = %e, "{} names no readable revision; removed", keys::ROLLBACK);
                let unpoint =
                    TagWrite { set: Vec::new(), remove: vec![keys::ROLLBACK.to_owned()], remove_first: false };
                if let Err(e) = write_tags(self.aws, service.arn.as_str(), &unpoint).await {
                    report.failures.push(failure(&service.arn, e));
                }
                return;
            }
            Err(e) => return report.failures.push(failure(&service.arn, e)),
        };
        let failed = &snapshot.summary;
        let verdict = judge_rollback(self.now, service, failed, settings);
        let (label, detail) = match &verdict {
            RollbackVerdict::NotStarted => {
                // The failure was recorded, then the run died. If ECS no longer runs or lists
                // the revision (a deployment with no running task leaves the list at once),
                // nothing else will look at it: finish its verdict here.
                let listed = service.task_definition.as_ref() == Some(&failed.arn)
                    || service.deployments.iter().any(|d| d.task_definition.as_ref() == Some(&failed.arn));
                if !listed {
                    self.revision(service, settings, &snapshot, None, None, report).await;
                }
                return;
            }
            RollbackVerdict::Stale(why) => {
                info!(cluster = service.arn.cluster_name(), service = service.arn.name(), reason = %why, "stale rollback pointer removed");
                ("rollback-settled", why.clone())
            }
            RollbackVerdict::Wait(why) => ("rolling-back", why.clone()),
            RollbackVerdict::Completed(why) => ("rolled-back", why.clone()),
            RollbackVerdict::Failed(why) => ("rollback-failed", why.clone()),
        };
        let steps = plan_rollback(self.now, service, failed, &verdict);
        if let Err(e) = carry_out(self.aws, self.aws, &service.arn, &failed.arn, steps).await {
            return report.failures.push(failure(&service.arn, e));
        }
        if matches!(verdict, RollbackVerdict::Failed(_)) {
            error!(cluster = service.arn.cluster_name(), service = service.arn.name(), revision = %failed.arn, reason = %detail, decision = label, "the rollback failed: the service is left for a person");
        } else {
            info!(cluster = service.arn.cluster_name(), service = service.arn.name(), revision = %failed.arn, reason = %detail, decision = label, "rollback");
        }
        if !matches!(verdict, RollbackVerdict::Stale(_)) {
            report.rollouts.push(RolloutOutcome {
                cluster: service.arn.cluster_name().to_owned(),
                service: service.arn.name().to_owned(),
                revision: failed.arn.to_string(),
                verdict: label.to_owned(),
                detail,
                rolled_back_to: failed.tags.get(keys::ROLLBACK_TO).cloned(),
            });
        }
    }

    /// What a rollback target is now: whether ECS still has it, whether it is ACTIVE, whether
    /// its ECR images still exist, and what the tags it names images by name now. Images the
    /// gate may not read are not held against it (the rollback is followed anyway).
    async fn target_facts(&self, service: &ServiceView, to: &TaskDefArn) -> Result<Option<Target>, AwsError> {
        let snapshot = match self.aws.describe_task_definition(to).await {
            Ok(s) => s,
            // ECS: "Unable to describe task definition." for a revision it no longer has.
            Err(e) if e.code() == Some("ClientException") => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut gone = Vec::new();
        let mut tags_now = Vec::new();
        for image in ecr_images(&snapshot.summary, &service.arn.region()) {
            match self.aws.image_digest(&image.registry, &image.repository, &image.id).await {
                Ok(Some(digest)) => {
                    if matches!(image.id, EcrImageId::Tag(_)) {
                        tags_now.push((image.image, digest));
                    }
                }
                Ok(None) => gone.push(image.image),
                Err(e) if e.class() == ErrorClass::NonRetryable => {
                    warn!(image = %image.image, error = %e, "cannot check the rollback target's image; rolling back anyway");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Some(Target { snapshot, gone, tags_now }))
    }

    /// Records an abnormal task stop on its revision, then evaluates that rollout.
    async fn task_stopped(
        &self,
        service: &ServiceView,
        revision: &TaskDefArn,
        task_id: &str,
        cause: &StopCause,
        report: &mut GateReport,
    ) {
        let Some(settings) = self.settings(service, report) else { return };
        let mut snapshot = match self.aws.describe_task_definition(revision).await {
            Ok(s) => s,
            Err(e) => return report.failures.push(failure(&service.arn, e)),
        };
        if !RolloutState::counts_stops(service, &snapshot.summary) {
            report.ignored = Some(format!("{} is not an in-flight rollgate rollout", revision.revision()));
            return;
        }
        match record_stop(&snapshot.summary.tags, task_id, cause, settings.max_bad_tasks) {
            StopRecord::Known => {}
            StopRecord::Write(tag) => {
                if let Err(e) = self.aws.tag_resource(revision.as_str(), std::slice::from_ref(&tag)).await {
                    return report.failures.push(failure(&service.arn, e));
                }
                info!(
                    cluster = service.arn.cluster_name(),
                    service = service.arn.name(),
                    revision = %revision,
                    task = task_id,
                    cause = %tag.1,
                    "abnormal task stop recorded"
                );
                snapshot.summary.tags.insert(tag.0, tag.1);
            }
            StopRecord::NoRoom(tag) => {
                warn!(cluster = service.arn.cluster_name(), service = service.arn.name(), revision = %revision, task = task_id, "no tag room left on the revision: the abnormal stop counts in this verdict only");
                snapshot.summary.tags.insert(tag.0, tag.1);
            }
        }
        self.revision(service, &settings, &snapshot, None, None, report).await;
    }

    fn settings(&self, service: &ServiceView, report: &mut GateReport) -> Option<GateSettings> {
        match GateSettings::from_tags(&service.tags) {
            Ok(s) => Some(s),
            Err(e) => {
                let error = format!("{e}; fix the service's tags");
                warn!(cluster = service.arn.cluster_name(), service = service.arn.name(), reason = %error, "bad gate settings");
                report.failures.push(GateFailure {
                    cluster: service.arn.cluster_name().to_owned(),
                    service: Some(service.arn.name().to_owned()),
                    error,
                    class: ErrorClass::NonRetryable,
                });
                None
            }
        }
    }

    /// Judges one rollout and carries out the verdict.
    async fn revision(
        &self,
        service: &ServiceView,
        settings: &GateSettings,
        snapshot: &TaskDefSnapshot,
        reported_failure: Option<&str>,
        orphaned: Option<&Orphaned>,
        report: &mut GateReport,
    ) {
        let tags = &snapshot.summary.tags;
        if !RolloutState::worth_evaluating(service, &snapshot.summary) {
            return; // not rollgate's, or already decided: nothing to read, nothing to write
        }
        let (alarms, entered) = match self.alarms_for(settings).await {
            Ok(a) => a,
            Err(e) => return report.failures.push(failure(&service.arn, e)),
        };
        let smoke = match &settings.smoke {
            Some(test) if service.completed(&snapshot.summary.arn) => Some(test.judge(self.aws.run(test).await)),
            _ => None,
        };
        let lineage = self.lineage(&snapshot.summary).await;
        let facts = RolloutFacts {
            now: self.now,
            service,
            revision: &snapshot.summary,
            settings,
            alarms_in_alarm: alarms,
            alarms_entered: entered,
            smoke: smoke.as_ref(),
            reported_failure,
            lineage: lineage.as_ref(),
            orphaned,
        };
        let mut verdict = evaluate(&facts);
        if let Verdict::Failed { resolution: Resolution::RollBack { to }, .. } = &verdict {
            let target = match self.target_facts(service, to).await {
                Ok(t) => t,
                Err(e) => return report.failures.push(failure(&service.arn, e)),
            };
            let facts = match &target {
                Some(t) => TargetFacts::Described {
                    revision: &t.snapshot.summary,
                    active: t.snapshot.is_active(),
                    images_gone: t.gone.clone(),
                    tags_now: t.tags_now.clone(),
                },
                None => TargetFacts::Gone,
            };
            verdict = check_target(verdict, service, &snapshot.summary, &facts);
        }
        if let (Verdict::Failed { resolution: Resolution::Finished { to: Some(to) }, .. }, Some(live)) =
            (&verdict, &service.task_definition)
            && to != live
        {
            // The earlier run may have rolled back to a copy of a deregistered target.
            match self.aws.describe_task_definition(live).await {
                Ok(live) => verdict = finished_via_copy(verdict, &live.summary),
                Err(e) => return report.failures.push(failure(&service.arn, e)),
            }
        }
        let steps = plan(&facts, &verdict);
        if let Err(e) = carry_out(self.aws, self.aws, &service.arn, &snapshot.summary.arn, steps).await {
            let refused = e.class() == ErrorClass::NonRetryable
                && matches!(e.operation(), Some("UpdateService" | "RegisterTaskDefinition"));
            if !refused {
                return report.failures.push(failure(&service.arn, e));
            }
            // AWS refused the rollback for good: said once, instead of refused again each run.
            warn!(cluster = service.arn.cluster_name(), service = service.arn.name(), error = %e, "the rollback was refused");
            verdict = rollback_refused(verdict, &e.to_string());
            let steps = plan(&facts, &verdict);
            if let Err(e) = carry_out(self.aws, self.aws, &service.arn, &snapshot.summary.arn, steps).await {
                return report.failures.push(failure(&service.arn, e));
            }
        }
        let Some(outcome) = outcome(&facts, &verdict) else { return };
        info!(
            cluster = %outcome.cluster,
            service = %outcome.service,
            revision = %outcome.revision,
            digest = tags.get(keys::DIGEST).map(String::as_str),
            decision = %outcome.verdict,
            reason = %outcome.detail,
            rolled_back_to = outcome.rolled_back_to.as_deref(),
            "verdict"
        );
        report.rollouts.push(outcome);
    }

    /// On first sight of a rollout, which model build made its image (model builds only).
    /// Lineage is informative: failing to find it never blocks a verdict.
    async fn lineage(&self, revision: &rollgate_core::service::TaskDefSummary) -> Option<Lineage> {
        let project = self.config.build_project.as_deref()?;
        if RolloutState::of(&revision.tags) != Some(RolloutState::Deploying) {
            return None;
        }
        let tag = revision.tags.get(keys::IMAGE_TAG)?;
        match self.aws.build_of_image(project, tag).await {
            Ok(found) => found.map(|b| Lineage { model_version: b.model_version, build_id: b.build_id }),
            Err(e) => {
                warn!(revision = %revision.arn, error = %e, "cannot look up the image's build; lineage not recorded");
                None
            }
        }
    }

    /// Records since when this invocation needs alarm history: the earliest alarm window of
    /// the services it is about to judge.
    fn set_alarm_window<'s>(&self, services: impl IntoIterator<Item = &'s ServiceView>) {
        let earliest = services.into_iter().filter_map(alarm_window_start).min();
        let _ = self.alarm_window.set(earliest);
    }

    /// The alarms now in ALARM and the entries into ALARM since the alarm window opened: one
    /// `DescribeAlarms` and at most one `DescribeAlarmHistory` per invocation, and none unless
    /// the service watches alarms.
    async fn alarms_for(&self, settings: &GateSettings) -> Result<(&[String], &[AlarmEntry]), AwsError> {
        if !settings.watches_alarms() {
            return Ok((&[], &[]));
        }
        let now = self.alarms.get_or_try_init(|| self.aws.alarms_in_alarm()).await?;
        let entered = match self.alarm_window.get().copied().flatten() {
            Some(since) => self.entered.get_or_try_init(|| self.aws.alarms_entered(since)).await?.as_slice(),
            None => &[],
        };
        Ok((now, entered))
    }
}

/// A rollback target as the gate found it ([`Gate::target_facts`]).
struct Target {
    snapshot: TaskDefSnapshot,
    /// Its ECR images that no longer exist.
    gone: Vec<String>,
    /// Its ECR images named by tag, with the digest each tag names now.
    tags_now: Vec<(String, rollgate_core::Digest)>,
}
