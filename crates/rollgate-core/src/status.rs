//! `rollgate status` and `rollgate rollback`: the ledger read back, and a manual rollback
//! planned like the gate's.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::TaskDefArn;
use crate::gate::{
    CopyTarget, GatePlan, Notification, NotificationKind, RolledBackBy, RolloutFacts, RolloutState, ServiceTagsAt,
};
use crate::ledger::{RevisionRecord, format_time, keys};
use crate::service::{ServiceView, TaskDefSummary};

/// One revision of a service's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryRow {
    /// The revision as `family:number`, e.g. `model-api:42`.
    pub revision: String,
    /// The revision's ARN, `arn:aws:ecs:<region>:<account>:task-definition/<family>:<n>`.
    pub arn: String,
    /// The pushed image tag (`rollgate:image-tag`); `None` without one or without a readable record.
    pub image_tag: Option<String>,
    /// The image digest, `sha256:<64 hex>`; `None` without a readable ledger record.
    pub digest: Option<String>,
    /// The model version baked into the image (`rollgate:model-version`), decoded.
    pub model_version: Option<String>,
    /// The CodeBuild build that made the image (`rollgate:build-id`), decoded.
    pub build_id: Option<String>,
    /// When the image was pushed (`rollgate:pushed-at`), RFC 3339 UTC, as stored.
    pub pushed_at: Option<String>,
    /// A rollout state, or `initial` for a revision that predates rollgate.
    pub state: String,
    /// Whether the service runs it now (its `taskDefinition`).
    pub live: bool,
    /// Whether it is the service's last known good revision (`rollgate:last-good`).
    pub last_good: bool,
    /// Deregistered (INACTIVE): ECS keeps describing it, but deploys only a fresh copy of it.
    pub deregistered: bool,
    /// Why the rollout failed (`rollgate:reason`), decoded.
    pub reason: Option<String>,
    /// Why its rollback failed or could not be made (state `rollback-failed`).
    pub rollback_reason: Option<String>,
    /// Where its rollback sent the service (`rolling-back`, `rolled-back`, `rollback-failed`).
    pub rollback_to: Option<String>,
    /// `push`, or `config` for a configuration change by `rollgate up` (same image);
    /// absent for a revision rollgate did not register.
    pub cause: Option<crate::ledger::Cause>,
}

/// The history, newest revision first. `inactive` names the revisions that are deregistered.
pub fn history(service: &ServiceView, revisions: &[TaskDefSummary], inactive: &[TaskDefArn]) -> Vec<HistoryRow> {
    let last_good = service.tags.get(keys::LAST_GOOD);
    let mut rows: Vec<HistoryRow> = revisions
        .iter()
        .map(|r| {
            let record = RevisionRecord::from_tags(&r.tags).ok().flatten();
            // Free text is stored through the tag codec (`tags::text`): shown decoded.
            let get = |k: &'static str| r.tags.get(k).map(|v| crate::tags::decode_or_stored(k, v));
            HistoryRow {
                revision: r.arn.revision().to_string(),
                arn: r.arn.to_string(),
                image_tag: record.as_ref().and_then(|rec| rec.image_tag.as_ref().map(ToString::to_string)),
                digest: record.as_ref().map(|rec| rec.digest.to_string()),
                model_version: get(keys::MODEL_VERSION),
                build_id: get(keys::BUILD_ID),
                pushed_at: get(keys::PUSHED_AT),
                // A revision rollgate did not roll out to this service has its state in the
                // service's `rollgate:outside` record.
                state: crate::gate::outside_state(service, &r.arn)
                    .filter(|_| record.as_ref().is_none_or(|rec| rec.service != service.arn))
                    .or_else(|| RolloutState::of(&r.tags))
                    .map_or("initial".to_owned(), |s| s.as_str().to_owned()),
                live: service.task_definition.as_ref() == Some(&r.arn),
                last_good: last_good == Some(&r.arn.to_string()),
                deregistered: inactive.contains(&r.arn),
                reason: get(keys::REASON),
                rollback_reason: get(keys::ROLLBACK_REASON),
                rollback_to: get(keys::ROLLBACK_TO),
                cause: record.as_ref().map(|rec| rec.cause),
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.arn
            .rsplit(':')
            .next()
            .and_then(|n| n.parse::<u32>().ok())
            .cmp(&a.arn.rsplit(':').next().and_then(|n| n.parse::<u32>().ok()))
    });
    rows
}

/// Why a manual rollback cannot go ahead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RollbackError {
    /// No `--to`, no `rollgate:last-good` and no `rollgate:known-good` on the live revision.
    #[error("the service has no last known good revision; name one with --to REVISION (see rollgate status)")]
    NoTarget,
    /// The target is the live revision; `last_good` says whether it is also the recorded last
    /// known good (a service fresh from `rollgate up` has none yet).
    #[error(
        "{revision} is already live{}: to go back further, name an older healthy revision with --to REVISION (see rollgate status)",
        if *last_good { " (it is the last known good)" } else { "" }
    )]
    AlreadyLive {
        /// The target, `family:number`.
        revision: String,
        /// Whether the target is the service's `rollgate:last-good`.
        last_good: bool,
    },
    /// The target is neither the last known good, nor healthy, nor a revision rollgate never
    /// judged.
    #[error("{revision} is {state}, not healthy: roll back only to a revision verified healthy or the initial one")]
    NotHealthy {
        /// The target, `family:number`.
        revision: String,
        /// Its `rollgate:state`, e.g. `failed`.
        state: String,
    },
    /// The target (`family:number`) is a rollout registered for another service.
    #[error("{0} belongs to another service")]
    OtherService(String),
    /// An image the target runs is not in ECR (DescribeImages answers no ACTIVE image): ECS
    /// could not start its tasks (`CannotPullContainerError`), an outage instead of a rollback.
    #[error(
        "{revision} runs {image}, which ECR does not hold (deleted, expired by a lifecycle rule, or never pushed, like the placeholder image `rollgate up` starts a service with): its tasks could not start; pick another revision from rollgate status"
    )]
    ImageGone {
        /// The target, `family:number`.
        revision: String,
        /// The first missing image, as the target names it.
        image: String,
    },
    /// The target is of another task-definition family than the live revision.
    #[error(
        "{target} is of task family {family}, not this service's ({live_family}): roll back only to a revision of the service's own family (see rollgate status)"
    )]
    OtherFamily {
        /// The target, `family:number`.
        target: String,
        /// The target's family.
        family: String,
        /// The live revision's family.
        live_family: String,
    },
}

/// The rollback target: `--to`, else the last known good revision, else the live
/// revision's recorded known good.
pub fn rollback_target(
    service: &ServiceView,
    live: &TaskDefSummary,
    to: Option<&TaskDefArn>,
) -> Result<TaskDefArn, RollbackError> {
    if let Some(to) = to {
        return Ok(to.clone());
    }
    service
        .tags
        .get(keys::LAST_GOOD)
        .and_then(|t| TaskDefArn::parse(t).ok())
        .or_else(|| RevisionRecord::from_tags(&live.tags).ok().flatten().and_then(|r| r.known_good))
        .ok_or(RollbackError::NoTarget)
}

/// A manual rollback from `live` to `target`, recorded in the ledger like the gate's:
/// the live revision is marked rolled back with the reason, its digest failed on the service.
/// A deregistered target (`target_active` false: ECS refuses to deploy it, "TaskDefinition is
/// inactive") is rolled back to through a fresh copy of it, as the gate does
/// ([`crate::gate::Resolution::RollBackToCopy`]); the copy becomes the last known good once
/// it runs.
///
/// `missing_images`: the target's ECR images that DescribeImages does not find (the caller
/// reads them, [`crate::gate::ecr_images`]). Errors ([`RollbackError`]): the target is live,
/// or live as a copy (`rollgate:copy-of`); of another family or service; not healthy; or an
/// image of it is missing (ECS could not start its tasks).
pub fn plan_manual_rollback(
    service: &ServiceView,
    live: &TaskDefSummary,
    target: &TaskDefSummary,
    target_active: bool,
    missing_images: &[String],
    now: DateTime<Utc>,
    reason: &str,
) -> Result<GatePlan, RollbackError> {
    // The live revision may be the gate's (or an earlier rollback's) fresh copy of a
    // deregistered target: rolling back to the original would roll the service back onto
    // itself and mark its own digest failed.
    if target.arn == live.arn || live.tags.get(keys::COPY_OF) == Some(&target.arn.to_string()) {
        return Err(RollbackError::AlreadyLive {
            revision: target.arn.revision().to_string(),
            last_good: service.tags.get(keys::LAST_GOOD) == Some(&target.arn.to_string()),
        });
    }
    // Another app's (or family's) revision would run its image and roles under this service.
    let (family, live_family) = (target.arn.revision().family, live.arn.revision().family);
    if family != live_family {
        return Err(RollbackError::OtherFamily { target: target.arn.revision().to_string(), family, live_family });
    }
    let target_state = RolloutState::of(&target.tags);
    let is_last_good = service.tags.get(keys::LAST_GOOD) == Some(&target.arn.to_string());
    if !(is_last_good || matches!(target_state, None | Some(RolloutState::Healthy))) {
        return Err(RollbackError::NotHealthy {
            revision: target.arn.revision().to_string(),
            state: target_state.map_or("initial", |s| s.as_str()).to_owned(),
        });
    }
    if let Ok(Some(record)) = RevisionRecord::from_tags(&target.tags)
        && record.service != service.arn
    {
        return Err(RollbackError::OtherService(target.arn.revision().to_string()));
    }
    if let Some(image) = missing_images.first() {
        return Err(RollbackError::ImageGone { revision: target.arn.revision().to_string(), image: image.clone() });
    }
    // A live revision rollgate did not roll out to this service (by hand, another service's
    // rollout) is never written to: its ledger is the service's `rollgate:outside` record, and
    // its failure is recorded as a configuration's, not another service's digest.
    let outside = crate::gate::outside_view(service, live);
    let record = RevisionRecord::from_tags(&live.tags).ok().flatten().filter(|_| outside.is_none());
    let at = format_time(now);
    let mut tag_revision = vec![
        (keys::DECIDED_AT.to_owned(), at.clone()),
        (keys::REASON.to_owned(), crate::tags::text(keys::REASON, reason)),
    ];
    // The target is healthy (or the last known good already): it is the last known good now,
    // so a later failure never rolls back to the revision being rolled back from.
    // A rollgate revision's rollback is followed by the gate to its outcome, like its own
    // (`gate::judge_rollback`): `Rollback Failed` if it does not hold.
    let mut extra = vec![(keys::LAST_GOOD.to_owned(), target.arn.to_string())];
    if outside.is_some() {
        extra.extend([
            (keys::FAILED_CONFIG.to_owned(), live.arn.to_string()),
            (keys::ROLLBACK.to_owned(), live.arn.to_string()),
        ]);
        tag_revision.push((keys::STATE.to_owned(), RolloutState::RollingBack.as_str().to_owned()));
    } else if record.is_some() {
        extra.push((keys::ROLLBACK.to_owned(), live.arn.to_string()));
        tag_revision.extend([
            (keys::STATE.to_owned(), RolloutState::RollingBack.as_str().to_owned()),
            (keys::ROLLED_BACK_BY.to_owned(), RolledBackBy::Manual.as_str().to_owned()),
        ]);
        // A copy's ARN is added by carry_out once it is registered.
        if target_active {
            tag_revision.push((keys::ROLLBACK_TO.to_owned(), target.arn.to_string()));
        }
    }
    let copy = (!target_active)
        .then(|| CopyTarget { of: target.arn.clone(), tags: crate::gate::copy_tags(target, &service.arn) });
    let tag_service = crate::gate::failure_tags(service, &live.arn, record.as_ref(), &at, extra);
    let settings = Default::default();
    let facts = RolloutFacts::bare(now, service, live, &settings);
    let notification = Notification::new(
        NotificationKind::RolledBack,
        &facts,
        record.as_ref(),
        Some(reason.to_owned()),
        Some(target.arn.clone()),
        Some(RolledBackBy::Manual),
    );
    let plan = GatePlan {
        roll_back_to: target_active.then(|| target.arn.clone()),
        copy,
        tag_revision,
        tag_service,
        service_tags_at: ServiceTagsAt::BeforeRevision,
        notification: Some(notification),
        revision_tags_on: crate::gate::RevisionTagsOn::Revision,
    };
    Ok(match &outside {
        Some(view) => crate::gate::on_service(view, service, now, plan),
        None => plan,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ServiceArn;
    use crate::service::Tags;

    const SVC: &str = "arn:aws:ecs:us-east-1:123456789012:service/c/api";

    fn rev(n: u32, tags: &[(&str, &str)]) -> TaskDefSummary {
        TaskDefSummary {
            platform: None,
            fargate_platform: None,
            arn: TaskDefArn::parse(&format!("arn:aws:ecs:us-east-1:123456789012:task-definition/m:{n}")).unwrap(),
            containers: vec![],
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    fn ledger(digest_char: char, state: &str) -> Vec<(&'static str, String)> {
        vec![
            (keys::DIGEST, format!("sha256:{}", digest_char.to_string().repeat(64))),
            (keys::PUSHED_AT, "2026-11-28T10:00:00Z".into()),
            (keys::EVENT_ID, "e".into()),
            (keys::SERVICE, SVC.into()),
            (keys::CONTAINER, "model".into()),
            (keys::STATE, state.into()),
            (keys::IMAGE_TAG, "v2".into()),
        ]
    }

    fn summary(n: u32, pairs: Vec<(&'static str, String)>) -> TaskDefSummary {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        rev(n, &pairs)
    }

    fn service(live: u32, last_good: Option<u32>) -> ServiceView {
        let mut tags = Tags::new();
        if let Some(n) = last_good {
            tags.insert(keys::LAST_GOOD.into(), rev(n, &[]).arn.to_string());
        }
        ServiceView {
            arn: ServiceArn::parse(SVC).unwrap(),
            status: crate::service::ServiceStatus::Active,
            task_definition: Some(rev(live, &[]).arn),
            tags,
            deployments: vec![],
            deployment_controller: crate::service::DeploymentController::Ecs,
            fargate: true,
            current_service_deployment: None,
        }
    }

    #[test]
    fn history_marks_live_and_last_good() {
        let revs = [rev(1, &[]), summary(2, ledger('a', "healthy")), summary(3, ledger('b', "rolled-back"))];
        let rows = history(&service(2, Some(2)), &revs, &[rev(1, &[]).arn]);
        let brief: Vec<_> =
            rows.iter().map(|r| (r.revision.as_str(), r.state.as_str(), r.live, r.last_good, r.deregistered)).collect();
        assert_eq!(
            brief,
            [
                ("m:3", "rolled-back", false, false, false),
                ("m:2", "healthy", true, true, false),
                ("m:1", "initial", false, false, true)
            ]
        );
        assert_eq!(rows[1].image_tag.as_deref(), Some("v2"));
    }

    /// A revision rollgate did not roll out (registered by hand) shows the state the service's
    /// `rollgate:outside` record holds for it; this service's own ledger always wins.
    #[test]
    fn history_shows_an_outside_revisions_state_from_the_service() {
        let mut svc = service(2, Some(2));
        svc.tags.insert(
            keys::OUTSIDE.into(),
            format!("rollback-failed@2026-12-03T12:00:00Z {}", rev(4, &[]).arn.revision()),
        );
        let revs = [summary(2, ledger('a', "healthy")), rev(4, &[])];
        let rows = history(&svc, &revs, &[]);
        let brief: Vec<_> = rows.iter().map(|r| (r.revision.as_str(), r.state.as_str())).collect();
        assert_eq!(brief, [("m:4", "rollback-failed"), ("m:2", "healthy")]);
        svc.tags.insert(keys::OUTSIDE.into(), format!("verifying@2026-12-03T12:00:00Z {}", rev(2, &[]).arn.revision()));
        assert_eq!(history(&svc, &revs, &[])[1].state, "healthy", "its own ledger wins");
    }

    /// `rollgate rollback` while a revision rollgate did not roll out runs (registered by hand,
    /// another service's rollout; found by a break-test): nothing is written to that revision
    /// (the CLI may not tag it, and another service's ledger is not this one's); the service
    /// records the rollback, which the gate follows, and the revision's failure.
    #[test]
    fn a_manual_rollback_of_an_outside_revision_writes_only_the_service() {
        let svc = service(4, Some(2));
        let other = "arn:aws:ecs:us-east-1:123456789012:service/c/worker";
        let mut borrowed = ledger('d', "healthy");
        borrowed.iter_mut().filter(|(k, _)| *k == keys::SERVICE).for_each(|(_, v)| *v = other.into());
        for live in [rev(4, &[("team", "ml")]), summary(4, borrowed)] {
            let target = summary(2, ledger('a', "healthy"));
            let plan = plan_manual_rollback(&svc, &live, &target, true, &[], Utc::now(), "manual").unwrap();
            assert_eq!(plan.revision_tags_on, crate::gate::RevisionTagsOn::Service);
            assert_eq!(plan.tag_revision.len(), 1);
            assert_eq!(plan.tag_revision[0].0, keys::OUTSIDE);
            assert!(plan.tag_revision[0].1.starts_with("rolling-back@"), "{:?}", plan.tag_revision);
            let set = &plan.tag_service.set;
            assert!(set.contains(&(keys::FAILED_CONFIG.into(), live.arn.to_string())), "{set:?}");
            assert!(set.contains(&(keys::ROLLBACK.into(), live.arn.to_string())));
            assert!(!set.iter().any(|(k, _)| k.starts_with(keys::FAILED_PREFIX)), "no other service's digest");
            assert_eq!(plan.roll_back_to, Some(rev(2, &[]).arn));
        }
    }

    #[test]
    fn manual_rollback_rules() {
        let live = summary(3, ledger('b', "verifying"));
        let svc = service(3, Some(2));
        assert_eq!(rollback_target(&svc, &live, None).unwrap(), rev(2, &[]).arn);
        assert_eq!(rollback_target(&service(3, None), &live, None), Err(RollbackError::NoTarget));

        let plan =
            plan_manual_rollback(&svc, &live, &summary(2, ledger('a', "healthy")), true, &[], Utc::now(), "manual")
                .unwrap();
        assert_eq!(plan.roll_back_to, Some(rev(2, &[]).arn));
        // The gate follows a manual rollback to its outcome, like its own.
        assert!(plan.tag_revision.contains(&(keys::STATE.into(), "rolling-back".into())));
        assert!(plan.tag_revision.contains(&(keys::ROLLBACK_TO.into(), rev(2, &[]).arn.to_string())));
        assert!(plan.tag_service.set.contains(&(keys::ROLLBACK.into(), live.arn.to_string())));
        assert!(plan.tag_service.set.iter().any(|(k, _)| k.starts_with(keys::FAILED_PREFIX)));
        assert!(
            plan.tag_service.set.contains(&(keys::LAST_GOOD.into(), rev(2, &[]).arn.to_string())),
            "the target is the last known good from now on"
        );
        assert_eq!(plan.notification.unwrap().rolled_back_by, Some(RolledBackBy::Manual));
        // A deregistered target: through a fresh copy of it, whose ARN carry_out records.
        let copied =
            plan_manual_rollback(&svc, &live, &summary(2, ledger('a', "healthy")), false, &[], Utc::now(), "manual")
                .unwrap();
        assert_eq!(copied.roll_back_to, None);
        let copy = copied.copy.expect("a copy");
        assert_eq!(copy.of, rev(2, &[]).arn);
        assert!(copy.tags.contains(&(keys::COPY_OF.into(), rev(2, &[]).arn.to_string())));
        assert!(!copied.tag_revision.iter().any(|(k, _)| k == keys::ROLLBACK_TO));
        assert!(copied.tag_revision.contains(&(keys::STATE.into(), "rolling-back".into())));

        assert!(matches!(
            plan_manual_rollback(&svc, &live, &live, true, &[], Utc::now(), "x"),
            Err(RollbackError::AlreadyLive { .. })
        ));
        // Said as it is: the live revision is the last known good only when recorded so.
        for (tags, says) in [(vec![], false), (vec![(keys::LAST_GOOD, live.arn.to_string())], true)] {
            let mut fresh = svc.clone();
            fresh.tags = tags.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            let e = plan_manual_rollback(&fresh, &live, &live, true, &[], Utc::now(), "x").unwrap_err();
            assert_eq!(e.to_string().contains("it is the last known good"), says, "{e}");
        }
        let unverified = summary(1, ledger('c', "rolled-back"));
        assert!(matches!(
            plan_manual_rollback(&svc, &live, &unverified, true, &[], Utc::now(), "x"),
            Err(RollbackError::NotHealthy { .. })
        ));
        assert!(
            plan_manual_rollback(&svc, &live, &rev(1, &[]), true, &[], Utc::now(), "x").is_ok(),
            "the initial revision is fine"
        );
        // ...unless its image is not in ECR (`rollgate up`'s placeholder never is).
        let gone = ["123456789012.dkr.ecr.us-east-1.amazonaws.com/app:bootstrap".to_owned()];
        let e = plan_manual_rollback(&svc, &live, &rev(1, &[]), true, &gone, Utc::now(), "x").unwrap_err();
        assert!(matches!(e, RollbackError::ImageGone { .. }) && e.to_string().contains("app:bootstrap"), "{e}");
        // The live revision is a fresh copy of the target: already live, not a rollback to itself.
        let mut copy = summary(4, ledger('d', "healthy"));
        copy.tags.insert(keys::COPY_OF.into(), live.arn.to_string());
        assert!(matches!(
            plan_manual_rollback(&svc, &copy, &live, false, &[], Utc::now(), "x"),
            Err(RollbackError::AlreadyLive { .. })
        ));
    }
}
