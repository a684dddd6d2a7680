//! Whether a rollback target can still be deployed (deregistered, images gone, a tag that
//! now names a failed image), and the ECR images a revision names.

use super::verdict::{Resolution, Verdict};
use crate::keys;
use crate::ledger::RevisionRecord;
use crate::service::{ServiceView, TaskDefSummary};
use crate::{Digest, ServiceArn};

/// What the gate found out about a rollback target before sending the service back to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetFacts<'a> {
    /// DescribeTaskDefinition answered (it returns INACTIVE revisions too).
    Described {
        /// The target revision as DescribeTaskDefinition returned it.
        revision: &'a TaskDefSummary,
        /// `false`: deregistered (INACTIVE). ECS refuses to deploy it: "TaskDefinition is
        /// inactive" (<https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deregister-task-definition-v2.html>).
        active: bool,
        /// Its images that no longer exist in their ECR repository (deleted, or expired by a
        /// lifecycle policy): a task of it cannot start (CannotPullContainerError).
        images_gone: Vec<String>,
        /// Its ECR images named by a mutable tag (`repo:latest`), with the digest each tag
        /// names now (DescribeImages). ECS resolves a tag when a deployment starts
        /// (<https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-ecs.html#deployment-container-image-stability>),
        /// so a rollback to the revision deploys what the tag names now, not what ran.
        tags_now: Vec<(String, Digest)>,
    },
    /// ECS no longer has the revision: deleted after it was deregistered
    /// (DeleteTaskDefinitions), so there is nothing to deploy or copy.
    Gone,
}

/// Checks a rollback verdict against what its target is now. A target that ECS would refuse
/// (INACTIVE) becomes a rollback to a fresh copy of it; a target that cannot work at all
/// (deleted, its image gone, or a tag it names now naming the failed image of `failing` or one
/// the service records as failed) makes the rollback [`Resolution::Impossible`], said once in
/// the verdict. Any other verdict is returned as it is.
pub fn check_target(
    verdict: Verdict,
    service: &ServiceView,
    failing: &TaskDefSummary,
    target: &TargetFacts<'_>,
) -> Verdict {
    let Verdict::Failed { reason, resolution: Resolution::RollBack { to } } = verdict else { return verdict };
    let failing_digest = RevisionRecord::from_tags(&failing.tags).ok().flatten().map(|r| r.digest);
    let is_failed =
        |d: &Digest| failing_digest.as_ref() == Some(d) || crate::tags::failed_mark(&service.tags, d).is_some();
    let impossible = |why: String| Verdict::Failed {
        reason: reason.clone(),
        resolution: Resolution::Impossible { target: to.clone(), why },
    };
    match target {
        TargetFacts::Gone => impossible(
            "ECS no longer has that revision (deregistered, then deleted); deploy a known good image by hand"
                .to_owned(),
        ),
        TargetFacts::Described { images_gone, .. } if !images_gone.is_empty() => impossible(format!(
            "its image {} no longer exists in ECR (deleted, or expired by a lifecycle policy); deploy a known good image by hand",
            images_gone.join(", ")
        )),
        TargetFacts::Described { tags_now, .. } if tags_now.iter().any(|(_, d)| is_failed(d)) => {
            let moved = tags_now
                .iter()
                .filter(|(_, d)| is_failed(d))
                .map(|(image, d)| format!("{image} now names {}", d.short()))
                .collect::<Vec<_>>();
            impossible(format!(
                "it names its image by a tag, and {}, a failed image (ECS resolves a tag when a deployment starts, so the rollback would deploy it again); deploy a known good digest by hand, and pin images by digest",
                moved.join(", ")
            ))
        }
        TargetFacts::Described { revision, active: false, .. } => Verdict::Failed {
            resolution: Resolution::RollBackToCopy { of: to, tags: copy_tags(revision, &service.arn) },
            reason,
        },
        TargetFacts::Described { .. } => Verdict::Failed { reason, resolution: Resolution::RollBack { to } },
    }
}

/// A [`Resolution::Finished`] whose target was deregistered: the earlier run rolled back to a
/// fresh copy of it and died before recording where. When the `live` revision is that copy
/// (its `rollgate:copy-of` names the target), the rollback went to the copy, and the ledger
/// follows the copy's deployment, not the deregistered target's. Any other verdict is
/// returned as it is.
pub fn finished_via_copy(verdict: Verdict, live: &TaskDefSummary) -> Verdict {
    match verdict {
        Verdict::Failed { reason, resolution: Resolution::Finished { to: Some(to) } }
            if live.arn != to && live.tags.get(keys::COPY_OF).is_some_and(|c| c == to.as_str()) =>
        {
            Verdict::Failed { reason, resolution: Resolution::Finished { to: Some(live.arn.clone()) } }
        }
        other => other,
    }
}

/// A rollback that AWS refused for good (a non-retryable error of `UpdateService` or of
/// registering the target's copy: the target was deregistered after the gate checked it, the
/// service's deployment controller changed, access was denied). Repeating the refused call on
/// every run is no answer: the verdict becomes [`Resolution::Impossible`] with AWS's refusal as
/// the reason, carried out once (`rollback-failed`, `Rollback Failed`). Any other verdict is
/// returned as it is.
pub fn rollback_refused(verdict: Verdict, refusal: &str) -> Verdict {
    match verdict {
        Verdict::Failed {
            reason,
            resolution: Resolution::RollBack { to } | Resolution::RollBackToCopy { of: to, .. },
        } => Verdict::Failed {
            reason,
            resolution: Resolution::Impossible { target: to, why: format!("AWS refused the rollback: {refusal}") },
        },
        other => other,
    }
}

/// The tags of a fresh copy of a rollback `target`: the target's own (its ledger record, its
/// healthy verdict, the user's tags), without the tags that belong to one rollout's judgement
/// (bad tasks, reason, rollback) or to AWS, plus `rollgate:copy-of` (the target) and
/// `rollgate:service`, which a retry uses to find a copy it already registered. At most 50.
pub fn copy_tags(target: &TaskDefSummary, service: &ServiceArn) -> Vec<(String, String)> {
    let mut tags =
        vec![(keys::COPY_OF.to_owned(), target.arn.to_string()), (keys::SERVICE.to_owned(), service.to_string())];
    tags.extend(
        target
            .tags
            .iter()
            .filter(|(k, _)| {
                !keys::PER_ROLLOUT.contains(&k.as_str())
                    && k.as_str() != keys::SERVICE
                    && !k.starts_with(keys::BAD_TASK_PREFIX)
                    && !crate::tags::is_aws_key(k)
            })
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    tags.truncate(crate::tags::MAX_TAGS);
    tags
}

/// An image of a task definition stored in ECR, as DescribeImages names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrImage {
    /// The image string as the container definition has it.
    pub image: String,
    /// The account of the ECR registry that holds it (12 digits).
    pub registry: crate::AccountId,
    /// The repository's name.
    pub repository: String,
    /// Its digest when pinned, else its tag (`latest` when it names none).
    pub id: EcrImageId,
}

/// How a container definition names its ECR image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EcrImageId {
    /// Pinned by digest (`repo@sha256:<64 hex>`): the digest.
    Digest(String),
    /// Named by tag (`repo:<tag>`, or `repo` alone for `latest`): the tag.
    Tag(String),
}

/// The images of `revision` stored in an ECR registry of `region`: those whose presence the
/// gate can check before rolling back to the revision. Images of other registries (Docker
/// Hub, ECR Public, another region) are not checked.
pub fn ecr_images(revision: &TaskDefSummary, region: &crate::Region) -> Vec<EcrImage> {
    revision
        .containers
        .iter()
        .filter_map(|c| {
            let image = crate::image::ImageRef::parse(&c.image);
            let (registry, image_region) = image.registry.as_deref().and_then(crate::image::ecr_registry)?;
            (&image_region == region).then(|| EcrImage {
                image: c.image.clone(),
                registry,
                repository: image.repository.clone(),
                id: match (image.digest, image.tag) {
                    (Some(d), _) => EcrImageId::Digest(d),
                    (None, tag) => EcrImageId::Tag(tag.unwrap_or_else(|| "latest".to_owned())),
                },
            })
        })
        .collect()
}
