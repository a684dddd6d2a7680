//! Rollouts ECS dropped before any gate run judged them: found in ECS's service-deployment
//! history (`rollgate_core::history`).

use super::*;

impl<A: GateApi> Gate<'_, A> {
    /// Judges the rollouts of service deployments ECS settled while no gate run saw them (its
    /// circuit breaker rolled one back and the rollback completed while every run failed),
    /// then records how far ECS's history was read (`rollgate_core::history`). Nothing is read
    /// while the service's current service deployment is the one recorded. `awaiting`: the
    /// listed revisions whose rollout awaited a verdict at this run; `tags_written`: whether
    /// this run may have written the service's tags already (its view's count is stale).
    pub(super) async fn history(
        &self,
        service: &ServiceView,
        settings: &GateSettings,
        awaiting: &BTreeSet<TaskDefArn>,
        tags_written: bool,
        report: &mut GateReport,
    ) {
        let live_awaits_verdict = service.task_definition.as_ref().is_some_and(|live| awaiting.contains(live));
        let Some(since) = history_due(service, self.now, live_awaits_verdict) else { return };
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
            wanted.sort_unstable();
            wanted.dedup();
            let revisions = match self.aws.revision_task_definitions(&wanted).await {
                Ok(r) => r,
                Err(e) => return report.failures.push(failure(&service.arn, e)),
            };
            let mut judged = BTreeSet::new();
            for orphan in &reading.orphans {
                let Some((_, revision)) = revisions.iter().find(|(r, _)| *r == orphan.target_revision) else {
                    continue; // ECS no longer has the service revision: nothing to judge
                };
                let step = orphan_step(service, revision, awaiting.contains(revision), judged.contains(revision));
                if step.hold {
                    held.insert(orphan.deployment.clone());
                }
                if !step.judge {
                    continue;
                }
                judged.insert(revision.clone());
                let snapshot = match self.aws.describe_task_definition(revision).await {
                    Ok(s) => s,
                    Err(e) if e.class() == ErrorClass::NonRetryable => continue, // deleted since
                    Err(e) => {
                        report.failures.push(failure(&service.arn, e));
                        continue;
                    }
                };
                // A revision rollgate did not roll out: its state is the service's record.
                let view = outside_view(service, &snapshot.summary);
                match RolloutState::of(&view.as_ref().unwrap_or(&snapshot.summary).tags) {
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
                        if !rolling_back_since(report, before, revision) {
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
                if rolling_back_since(report, before, revision) {
                    held.insert(orphan.deployment.clone());
                }
            }
        }
        // The record moves only once every rollout it passes was judged: a failed run reads
        // the same history again.
        let recorded = service.tags.get(keys::SEEN_DEPLOYMENT).and_then(|v| Seen::parse(v));
        let current = service.current_service_deployment.as_deref().map(deployment_id);
        let judged_nothing = report.rollouts.len() == rollouts_before;
        let Some(seen) = reading
            .record_for_run(&held, current, recorded.as_ref(), judged_nothing)
            .filter(|_| report.failures.len() == failures)
        else {
            return;
        };
        match record_step(service, tags_written || report.rollouts.len() > rollouts_before) {
            RecordStep::AwaitFreshView => {}
            RecordStep::NoRoom => warn!(
                cluster = service.arn.cluster_name(),
                service = service.arn.name(),
                "no tag room for {}: ECS's history is read again on every run",
                keys::SEEN_DEPLOYMENT
            ),
            RecordStep::Write => {
                if let Err(e) = self.aws.tag_resource(service.arn.as_str(), &[seen.tag()]).await {
                    report.failures.push(failure(&service.arn, e));
                }
            }
        }
    }

    /// What ECS's history says of an orphan ([`Orphaned`]): for a deployment its circuit
    /// breaker rolled back, the revision it went back to (DescribeServiceDeployments, then
    /// DescribeServiceRevisions).
    pub(super) async fn orphaned(&self, orphan: &rollgate_core::history::Orphan) -> Result<Orphaned, AwsError> {
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
}

/// Whether this run's report, from entry `before` on, left `revision` `rolling-back`.
fn rolling_back_since(report: &GateReport, before: usize, revision: &TaskDefArn) -> bool {
    report.rollouts[before..]
        .iter()
        .any(|r| r.revision == revision.as_str() && r.verdict == RolloutState::RollingBack.as_str())
}
