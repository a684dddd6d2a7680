//! The health-gate handler: gather the facts of each in-flight rollout, ask rollgate-core
//! for a verdict, then carry out its plan (roll back, record, notify).

use std::collections::BTreeSet;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, stream};
use lambda_runtime::LambdaEvent;
use rollgate_aws::AwsError;
use rollgate_aws::cloudwatch::AlarmReader;
use rollgate_aws::codebuild::BuildLookup;
use rollgate_aws::ecr::ImagePresence;
use rollgate_aws::ecs::{
    ResourceTagger, ServiceDirectory, ServiceHistory, ServiceUpdater, TaskDefSnapshot, TaskDefinitions, write_tags,
};
use rollgate_aws::eventbridge::Notifier;
use rollgate_aws::execute::carry_out;
use rollgate_aws::index::ResourceIndex;
use rollgate_aws::probe::SmokeRunner;
use rollgate_core::config::GateConfig;
use rollgate_core::events::{DeploymentEvent, GateTrigger, parse_gate_event};
use rollgate_core::gate::{
    AlarmEntry, EcrImageId, GatePlan, GateSettings, Lineage, ReportedFailure, Resolution, RollbackVerdict,
    RolloutFacts, RolloutState, StopCause, StopRecord, TargetFacts, Verdict, adopt_known_good, alarm_window_start,
    check_target, ecr_images, evaluate, finished_via_copy, judge_rollback, may_write_record, on_service, outcome,
    outside_view, plan, plan_rollback, record_stop, refused_for_good, rollback_outcome, rollback_refused,
};
use rollgate_core::history::{
    Orphaned, RecordStep, Seen, deployment_id, history_due, lists, orphan_step, read_history, record_step,
};
use rollgate_core::index::{self, SweepPlan, sweep_plan};
use rollgate_core::ledger::keys;
use rollgate_core::report::{GateFailure, GateReport, Sweep};
use rollgate_core::service::{OptIn, ServiceStatus, ServiceView};
use rollgate_core::tags::TagWrite;
use rollgate_core::{ErrorClass, ServiceArn, TaskDefArn};
use rollgate_lambda::{Budget, FunctionError, OUT_OF_TIME, finish};
use serde_json::value::RawValue;
use tokio::sync::OnceCell;
use tracing::{error, info, warn};

mod clients;
mod history;
mod rollback;

pub use clients::GateApi;

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
        outside_written: Default::default(),
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
    /// Per service ARN: the revision whose `rollgate:outside` record this invocation wrote
    /// ([`Gate::outside_plan`]).
    outside_written: std::sync::Mutex<std::collections::BTreeMap<String, TaskDefArn>>,
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
            // Deleted (INACTIVE) or being deleted (DRAINING): nothing to judge or roll back.
            Some(view) if view.status != ServiceStatus::Active => {
                Err(format!("service {} is {}, not ACTIVE", service.name(), view.status))
            }
            Some(view) if OptIn::repository_tag(&view.tags).is_none() => {
                Err(format!("service {} has not opted in to rollgate", service.name()))
            }
            Some(view) => Ok(view),
        })
    }

    /// The services a scheduled run looks at, `max_in_flight` at a time
    /// (`rollgate_core::index::sweep_plan`): those with a rollout in flight, found through the
    /// tagging index (`rollgate_core::index::sweep_services`), and every opted-in service of the
    /// watched clusters whose turn of the full sweep this run is; with `ROLLGATE_DISCOVERY=scan`,
    /// or when the index refuses, every opted-in service of every watched cluster. Deployment and
    /// task events name their service and never wait for a sweep.
    async fn sweep(&self, report: &mut GateReport) {
        let c = self.config;
        let in_full = match sweep_plan(c.discovery, self.now, c.tick_secs, c.full_sweep_every.0, &c.clusters) {
            SweepPlan::Full => None,
            SweepPlan::InFlight { in_full } => Some(in_full),
        };
        let found = match in_full {
            None => {
                report.sweep = Some(Sweep::Full);
                rollgate_aws::discovery::discover_all(self.aws, &c.clusters, c.max_in_flight).await
            }
            Some(in_full) => {
                report.sweep = Some(Sweep::InFlight);
                let lookups = futures_util::future::try_join(
                    self.aws.resources(&index::rollouts_in_flight()),
                    self.aws.resources(&index::outside_records()),
                )
                .await;
                match lookups {
                    Ok((rollouts, outside)) => {
                        // The clusters swept in full are listed whole; the index's finds there
                        // would only be described twice.
                        let whole: Vec<String> = in_full.iter().map(|c| (*c).to_owned()).collect();
                        let mut services = index::sweep_services(&rollouts, &outside, &c.clusters);
                        services.retain(|_, listed| {
                            listed.retain(|s| !index::watches(&whole, s));
                            !listed.is_empty()
                        });
                        let (found, listed) = futures_util::future::join(
                            rollgate_aws::discovery::describe_found(self.aws, &services, c.max_in_flight),
                            rollgate_aws::discovery::discover_all(self.aws, &whole, c.max_in_flight),
                        )
                        .await;
                        report.clusters_in_turn = Some(whole);
                        found.merge(listed)
                    }
                    Err(e) => {
                        let failure = rollgate_aws::discovery::index_failure(&e);
                        error!(error = %e, "{}", failure.advice());
                        if failure.scans() {
                            report.sweep = Some(Sweep::Full);
                            rollgate_aws::discovery::discover_all(self.aws, &c.clusters, c.max_in_flight).await
                        } else {
                            report.failures.push(GateFailure {
                                cluster: "*".to_owned(),
                                service: None,
                                error: format!("cannot look up the rollouts in flight: {e}"),
                                class: e.class(),
                            });
                            return;
                        }
                    }
                }
            }
        };
        for (cluster, e) in found.unreadable {
            error!(cluster = %cluster, error = %e, "cannot list the cluster's services");
            report.failures.push(GateFailure { cluster, service: None, error: e.to_string(), class: e.class() });
        }
        // Only ACTIVE services: the index (and an emulator's ListServices) still names a deleted
        // one, and ECS refuses UpdateService on it.
        let services: Vec<ServiceView> = found
            .services
            .into_iter()
            .filter(|s| s.status == ServiceStatus::Active && OptIn::repository_tag(&s.tags).is_some())
            .collect();
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
            // A revision rollgate did not roll out to this service is judged through its
            // ledger view: its ledger is the service's `rollgate:outside` record.
            let view = outside_view(service, &snapshot.summary);
            let summary = view.as_ref().unwrap_or(&snapshot.summary);
            if RolloutState::in_flight(&summary.tags)
                || RolloutState::of(&summary.tags) == Some(RolloutState::RollingBack)
            {
                awaiting.insert(revision.clone());
            }
            // A rollback the service no longer points at (a newer failure's rollback replaced
            // the pointer) is followed all the same while ECS still runs or lists its revision.
            if RolloutState::of(&summary.tags) == Some(RolloutState::RollingBack) && pointer != Some(revision.as_str())
            {
                self.follow_rollback(service, &settings, revision.as_str(), report).await;
                continue;
            }
            if let Some((why, tag)) = adopt_known_good(service, summary) {
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
        let view = outside_view(service, &snapshot.summary);
        let summary = view.as_ref().unwrap_or(&snapshot.summary);
        let tags = &summary.tags;
        if !RolloutState::worth_evaluating(service, summary) {
            return; // not rollgate's, or already decided: nothing to read, nothing to write
        }
        let (alarms, entered) = match self.alarms_for(settings).await {
            Ok(a) => a,
            Err(e) => return report.failures.push(failure(&service.arn, e)),
        };
        let smoke = match &settings.smoke {
            Some(test) if service.completed(&summary.arn) => Some(test.judge(self.aws.run(test).await)),
            _ => None,
        };
        let lineage = self.lineage(summary).await;
        let facts = RolloutFacts {
            now: self.now,
            service,
            revision: summary,
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
            verdict = check_target(verdict, service, summary, &facts);
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
        let planned = |verdict: &Verdict| match &view {
            Some(view) => self.outside_plan(service, view, plan(&facts, verdict)),
            None => plan(&facts, verdict),
        };
        let steps = planned(&verdict);
        if let Err(e) = carry_out(self.aws, self.aws, &service.arn, &summary.arn, steps).await {
            if !refused_for_good(e.class(), e.operation()) {
                return report.failures.push(failure(&service.arn, e));
            }
            // AWS refused the rollback for good: said once, instead of refused again each run.
            warn!(cluster = service.arn.cluster_name(), service = service.arn.name(), error = %e, "the rollback was refused");
            verdict = rollback_refused(verdict, &e.to_string());
            let steps = planned(&verdict);
            if let Err(e) = carry_out(self.aws, self.aws, &service.arn, &summary.arn, steps).await {
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

    /// `plan`, made for the ledger view of a revision rollgate did not roll out, moved onto the
    /// service ([`on_service`]), with at most one revision's `rollgate:outside` record written
    /// per service and invocation ([`may_write_record`]).
    fn outside_plan(
        &self,
        service: &ServiceView,
        view: &rollgate_core::service::TaskDefSummary,
        plan: GatePlan,
    ) -> GatePlan {
        let mut plan = on_service(view, service, self.now, plan);
        if plan.tag_revision.is_empty() {
            return plan;
        }
        let mut written = self.outside_written.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if may_write_record(service, &view.arn, written.get(service.arn.as_str())) {
            written.insert(service.arn.to_string(), view.arn.clone());
        } else {
            plan.tag_revision.clear();
        }
        plan
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
