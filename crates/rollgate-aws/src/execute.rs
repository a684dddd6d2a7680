//! Carrying out a verdict's plan: the one place the ledger's writes happen, for the health
//! gate and for `rollgate rollback` alike.

use rollgate_core::gate::{CopyTarget, GatePlan, RevisionTagsOn, ServiceTagsAt};
use rollgate_core::ledger::{keys, rollout_marker};
use rollgate_core::registration::{Registration, registration};
use rollgate_core::{ErrorClass, ServiceArn, TaskDefArn};

use crate::AwsError;
use crate::ecs::{ResourceTagger, ServiceUpdater, TaskDefinitions, write_tags};
use crate::eventbridge::Notifier;

/// Carries out `plan` in [`GatePlan`]'s order: a failure's record on the service, the
/// rollback (to a fresh copy of the target when the plan says so), the notification, the
/// revision's state (the commit point: a retry redoes everything before it), and the
/// service's last known good when it points at the revision.
///
/// Returns the revision the service was sent back to (a copy's ARN once registered), if the
/// plan rolls back.
pub async fn carry_out<E, N>(
    ecs: &E,
    notifier: &N,
    service: &ServiceArn,
    revision: &TaskDefArn,
    mut plan: GatePlan,
) -> Result<Option<TaskDefArn>, AwsError>
where
    E: ServiceUpdater + ResourceTagger + TaskDefinitions + Sync,
    N: Notifier,
{
    if plan.service_tags_at == ServiceTagsAt::BeforeRevision {
        write_tags(ecs, service.as_str(), &plan.tag_service).await?;
    }
    if let Some(copy) = &plan.copy {
        let to = copy_of_target(ecs, copy).await?;
        if plan.revision_tags_on == RevisionTagsOn::Revision {
            plan.tag_revision.push((keys::ROLLBACK_TO.to_owned(), to.to_string()));
        }
        if let Some(n) = plan.notification.as_mut() {
            n.rolled_back_to = Some(to.to_string());
        }
        plan.roll_back_to = Some(to);
    }
    if let Some(to) = &plan.roll_back_to {
        ecs.update_service(service, to).await?;
    }
    if let Some(n) = plan.notification {
        notifier.publish(&[n.outgoing()]).await?;
    }
    let ledger = match plan.revision_tags_on {
        RevisionTagsOn::Revision => revision.as_str(),
        RevisionTagsOn::Service => service.as_str(),
    };
    ecs.tag_resource(ledger, &plan.tag_revision).await?;
    if plan.service_tags_at == ServiceTagsAt::AfterRevision {
        write_tags(ecs, service.as_str(), &plan.tag_service).await?;
    }
    Ok(plan.roll_back_to)
}

/// A fresh, deployable copy of a rollback target that ECS no longer deploys (INACTIVE): the
/// copy an earlier, unfinished attempt registered (an ACTIVE revision above the target carrying
/// the copy's marker: the family's latest, or one of the five below it), else a new registration.
async fn copy_of_target<E: TaskDefinitions + Sync>(ecs: &E, copy: &CopyTarget) -> Result<TaskDefArn, AwsError> {
    let base = ecs.describe_task_definition(&copy.of).await?;
    let marker = rollout_marker(&copy.tags);
    // An earlier attempt's copy lies above the target: the family's latest, or below it when a
    // push registered after it; the same rule as a push's revision (rollgate_core::registration).
    let step = match ecs.describe_latest(&copy.of.revision().family).await {
        Ok(latest) => registration(&marker, &copy.of, &latest.summary),
        Err(e) if e.class() == ErrorClass::Retryable => return Err(e),
        // No ACTIVE revision in the family.
        Err(_) => Registration::Register,
    };
    match ecs.settle_registration(&marker, &copy.of, step).await? {
        Registration::Reuse(arn) => Ok(arn),
        Registration::Register | Registration::Look { .. } => ecs.register_copy(&base, &[], &copy.tags).await,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use rollgate_core::gate::{CopyTarget, GatePlan, RevisionTagsOn, ServiceTagsAt};
    use rollgate_core::ledger::keys;
    use rollgate_core::notify::Outgoing;
    use rollgate_core::service::TaskDefSummary;
    use rollgate_core::{ServiceArn, TaskDefArn};

    use super::carry_out;
    use crate::AwsError;
    use crate::ecs::{ResourceTagger, ServiceUpdater, TaskDefSnapshot, TaskDefinitions};
    use crate::eventbridge::Notifier;

    const SERVICE: &str = "arn:aws:ecs:us-east-1:123456789012:service/c/api";
    const REVISION: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:3";

    /// Records each write; the write numbered `fail_at` (from 0) fails.
    struct Recorder {
        writes: Mutex<Vec<String>>,
        fail_at: Option<usize>,
        /// The family's latest ACTIVE revision's tags (`None`: the family has none).
        latest: Option<Vec<(String, String)>>,
        /// The tags of ACTIVE revision api:9 when the latest is api:11, a push's.
        buried: Option<Vec<(String, String)>>,
    }

    impl Recorder {
        fn new(fail_at: Option<usize>) -> Self {
            Self { writes: Mutex::new(Vec::new()), fail_at, latest: None, buried: None }
        }
        fn write(&self, what: String) -> Result<(), AwsError> {
            let mut writes = self.writes.lock().unwrap_or_else(|e| e.into_inner());
            if self.fail_at == Some(writes.len()) {
                return Err(AwsError::Api {
                    operation: "TagResource",
                    code: "InternalFailure".into(),
                    message: "injected".into(),
                    class: rollgate_core::ErrorClass::Retryable,
                });
            }
            writes.push(what);
            Ok(())
        }
        fn writes(&self) -> Vec<String> {
            self.writes.lock().unwrap_or_else(|e| e.into_inner()).clone()
        }
    }

    impl ServiceUpdater for Recorder {
        async fn update_service(&self, _: &ServiceArn, to: &TaskDefArn) -> Result<(), AwsError> {
            self.write(format!("update {}", to.revision()))
        }
    }

    impl ResourceTagger for Recorder {
        async fn tag_resource(&self, arn: &str, tags: &[(String, String)]) -> Result<(), AwsError> {
            let what = if arn == SERVICE { "service" } else { "revision" };
            self.write(format!("tag {what} {}", tags.iter().map(|t| t.0.as_str()).collect::<Vec<_>>().join(",")))
        }

        async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
            if keys.is_empty() {
                return Ok(());
            }
            let what = if arn == SERVICE { "service" } else { "revision" };
            self.write(format!("untag {what} {}", keys.join(",")))
        }
    }

    fn summary(arn: &str, tags: &[(String, String)]) -> TaskDefSummary {
        TaskDefSummary {
            arn: TaskDefArn::parse(arn).unwrap(),
            containers: vec![],
            tags: tags.iter().cloned().collect(),
            platform: None,
            fargate_platform: None,
        }
    }

    impl TaskDefinitions for Recorder {
        async fn describe_task_definition(&self, arn: &TaskDefArn) -> Result<TaskDefSnapshot, AwsError> {
            match &self.buried {
                Some(tags) if arn.as_str() == COPY => Ok(TaskDefSnapshot::for_test(summary(COPY, tags), true)),
                _ => Ok(TaskDefSnapshot::for_test(summary(arn.as_str(), &[]), false)),
            }
        }
        async fn describe_latest(&self, _: &str) -> Result<TaskDefSnapshot, AwsError> {
            if self.buried.is_some() {
                let push = [(keys::DIGEST.to_owned(), "sha256:1".to_owned())];
                return Ok(TaskDefSnapshot::for_test(summary(&COPY.replace(":9", ":11"), &push), true));
            }
            match &self.latest {
                Some(tags) => Ok(TaskDefSnapshot::for_test(summary(COPY, tags), true)),
                None => Err(AwsError::Api {
                    operation: "DescribeTaskDefinition",
                    code: "ClientException".into(),
                    message: "Unable to describe task definition.".into(),
                    class: rollgate_core::ErrorClass::NonRetryable,
                }),
            }
        }
        async fn deregister(&self, _: &TaskDefArn) -> Result<(), AwsError> {
            unreachable!("carry_out never deregisters")
        }
        async fn register_copy(
            &self,
            base: &TaskDefSnapshot,
            images: &[(String, String)],
            _: &[(String, String)],
        ) -> Result<TaskDefArn, AwsError> {
            assert!(images.is_empty(), "a rollback copy changes no image");
            self.write(format!("register copy of {}", base.summary.arn.revision()))?;
            Ok(TaskDefArn::parse(COPY).unwrap())
        }
    }

    const COPY: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:9";

    impl Notifier for Recorder {
        async fn publish(&self, _: &[Outgoing]) -> Result<(), AwsError> {
            self.write("notify".into())
        }
    }

    fn plan(at: ServiceTagsAt, roll_back_to: Option<&str>) -> GatePlan {
        GatePlan {
            roll_back_to: roll_back_to.map(|r| TaskDefArn::parse(r).unwrap()),
            copy: None,
            tag_revision: vec![("rollgate:state".into(), "x".into())],
            tag_service: rollgate_core::tags::TagWrite::set(vec![match at {
                ServiceTagsAt::AfterRevision => ("rollgate:last-good".into(), REVISION.into()),
                ServiceTagsAt::BeforeRevision => ("rollgate:high-water".into(), "2026-11-28T10:00:00Z".into()),
            }]),
            service_tags_at: at,
            notification: None,
            revision_tags_on: RevisionTagsOn::Revision,
        }
    }

    /// A revision rollgate did not roll out keeps its ledger on the service: the commit write
    /// goes to the service, in the same place of the order, and the revision is never written.
    #[tokio::test]
    async fn an_outside_revisions_ledger_is_written_to_the_service() {
        let prior = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:2";
        let mut p = plan(ServiceTagsAt::BeforeRevision, Some(prior));
        p.revision_tags_on = RevisionTagsOn::Service;
        p.tag_revision = vec![(keys::OUTSIDE.into(), format!("rolling-back@2026-12-03T12:00:00Z {REVISION}"))];
        let (writes, ok) = run(p, None).await;
        assert!(ok);
        assert_eq!(writes, ["tag service rollgate:high-water", "update api:2", "tag service rollgate:outside"]);
    }

    async fn run(plan: GatePlan, fail_at: Option<usize>) -> (Vec<String>, bool) {
        let recorder = Recorder::new(fail_at);
        let service = ServiceArn::parse(SERVICE).unwrap();
        let revision = TaskDefArn::parse(REVISION).unwrap();
        let ok = carry_out(&recorder, &recorder, &service, &revision, plan).await.is_ok();
        (recorder.writes(), ok)
    }

    #[tokio::test]
    async fn a_healthy_verdict_marks_the_revision_before_pointing_the_service_at_it() {
        let (writes, ok) = run(plan(ServiceTagsAt::AfterRevision, None), None).await;
        assert!(ok);
        assert_eq!(writes, ["tag revision rollgate:state", "tag service rollgate:last-good"]);
        // The service write fails: the revision is marked, the service still points at the
        // old last known good (the gate's next run adopts the new one).
        let (writes, ok) = run(plan(ServiceTagsAt::AfterRevision, None), Some(1)).await;
        assert!(!ok);
        assert_eq!(writes, ["tag revision rollgate:state"]);
    }

    #[tokio::test]
    async fn a_failure_is_recorded_then_rolled_back_then_the_revision_marked() {
        let prior = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:2";
        let (writes, ok) = run(plan(ServiceTagsAt::BeforeRevision, Some(prior)), None).await;
        assert!(ok);
        assert_eq!(writes, ["tag service rollgate:high-water", "update api:2", "tag revision rollgate:state"]);
        // Any write failing stops the rest, so the revision's final state is never written
        // before what it relies on.
        for fail_at in 0..3 {
            let (writes, ok) = run(plan(ServiceTagsAt::BeforeRevision, Some(prior)), Some(fail_at)).await;
            assert!(!ok);
            assert_eq!(writes.len(), fail_at);
        }
    }

    #[tokio::test]
    async fn an_inactive_target_is_copied_once_and_the_copy_deployed() {
        let prior = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:2";
        let copy_tags =
            vec![(keys::COPY_OF.to_owned(), prior.to_owned()), (keys::SERVICE.to_owned(), SERVICE.to_owned())];
        let mut copying = plan(ServiceTagsAt::BeforeRevision, None);
        copying.copy = Some(CopyTarget { of: TaskDefArn::parse(prior).unwrap(), tags: copy_tags.clone() });
        let service = ServiceArn::parse(SERVICE).unwrap();
        let revision = TaskDefArn::parse(REVISION).unwrap();

        let fresh = Recorder::new(None);
        carry_out(&fresh, &fresh, &service, &revision, copying.clone()).await.unwrap();
        assert_eq!(
            fresh.writes(),
            [
                "tag service rollgate:high-water",
                "register copy of api:2",
                "update api:9",
                "tag revision rollgate:state,rollgate:rollback-to"
            ]
        );
        // A retry after the copy was registered (its answer lost, or a later write failed)
        // finds it as the family's latest revision and registers no second one.
        let retry = Recorder { latest: Some(copy_tags.clone()), ..Recorder::new(None) };
        carry_out(&retry, &retry, &service, &revision, copying.clone()).await.unwrap();
        assert_eq!(
            retry.writes(),
            ["tag service rollgate:high-water", "update api:9", "tag revision rollgate:state,rollgate:rollback-to"]
        );
        // ... and when a push registered a revision after it, finds it below the latest.
        let buried = Recorder { buried: Some(copy_tags.clone()), ..Recorder::new(None) };
        carry_out(&buried, &buried, &service, &revision, copying.clone()).await.unwrap();
        assert_eq!(
            buried.writes(),
            ["tag service rollgate:high-water", "update api:9", "tag revision rollgate:state,rollgate:rollback-to"]
        );
        // A latest revision that is not this copy (another target's, or a push's) is not reused.
        let other = Recorder {
            latest: Some(vec![
                (keys::COPY_OF.to_owned(), "x".to_owned()),
                (keys::SERVICE.to_owned(), SERVICE.to_owned()),
            ]),
            ..Recorder::new(None)
        };
        carry_out(&other, &other, &service, &revision, copying).await.unwrap();
        assert!(other.writes().contains(&"register copy of api:2".to_owned()));
    }
}
