//! Following a rollback to its outcome, and what a rollback target is now.

use super::*;

impl<A: GateApi> Gate<'_, A> {
    /// Follows the rollback the service's `rollgate:rollback` names to its outcome: the failed
    /// revision becomes `rolled-back` once the rollback's deployment completed, or
    /// `rollback-failed` (published once as `Rollback Failed`) when it did not hold.
    pub(super) async fn follow_rollback(
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
        // A revision rollgate did not roll out to this service: its ledger view.
        let view = outside_view(service, &snapshot.summary);
        let failed = view.as_ref().unwrap_or(&snapshot.summary);
        let verdict = judge_rollback(self.now, service, failed, settings);
        let Some((label, detail)) = verdict.label() else {
            // The failure was recorded, then the run died. If ECS no longer runs or lists
            // the revision (a deployment with no running task leaves the list at once),
            // nothing else will look at it: finish its verdict here.
            if !lists(service, &failed.arn) {
                self.revision(service, settings, &snapshot, None, None, report).await;
            }
            return;
        };
        let steps = match &view {
            Some(view) => self.outside_plan(service, view, plan_rollback(self.now, service, failed, &verdict)),
            None => plan_rollback(self.now, service, failed, &verdict),
        };
        if let Err(e) = carry_out(self.aws, self.aws, &service.arn, &failed.arn, steps).await {
            return report.failures.push(failure(&service.arn, e));
        }
        if matches!(verdict, RollbackVerdict::Failed(_)) {
            error!(cluster = service.arn.cluster_name(), service = service.arn.name(), revision = %failed.arn, reason = %detail, decision = label, "the rollback failed: the service is left for a person");
        } else {
            info!(cluster = service.arn.cluster_name(), service = service.arn.name(), revision = %failed.arn, reason = %detail, decision = label, "rollback");
        }
        report.rollouts.extend(rollback_outcome(service, failed, &verdict));
    }

    /// What a rollback target is now: whether ECS still has it, whether it is ACTIVE, whether
    /// its ECR images still exist, and what the tags it names images by name now. Images the
    /// gate may not read are not held against it (the rollback is followed anyway).
    pub(super) async fn target_facts(
        &self,
        service: &ServiceView,
        to: &TaskDefArn,
    ) -> Result<Option<Target>, AwsError> {
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
}

/// A rollback target as the gate found it ([`Gate::target_facts`]).
pub(super) struct Target {
    pub(super) snapshot: TaskDefSnapshot,
    /// Its ECR images that no longer exist.
    pub(super) gone: Vec<String>,
    /// Its ECR images named by tag, with the digest each tag names now.
    pub(super) tags_now: Vec<(String, rollgate_core::Digest)>,
}
