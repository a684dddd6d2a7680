//! The reconciler: ECR's push events are best effort, so on a schedule every opted-in
//! service is compared with its repository, and the newest image that passes its filter
//! (and is not failed on it) is deployed through the same rules as a push event.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::event::{Envelope, PushEvent};
use crate::service::{OptIn, ServiceView};
use crate::{AccountId, Digest, ImageTag};

/// One image of a repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoImage {
    /// The registry (account) that holds it.
    pub registry: AccountId,
    pub digest: Digest,
    pub tags: Vec<ImageTag>,
    pub pushed_at: DateTime<Utc>,
    /// From DescribeImages' `imageManifestMediaType` and `artifactMediaType`.
    pub manifest: crate::event::ManifestKind,
    /// `imageStatus` ARCHIVED or ACTIVATING: not pullable as it is.
    pub archived: bool,
    /// A referrer (`subjectManifestDigest` set): a signature, SBOM or attestation of another
    /// image, never a release.
    pub referrer: bool,
}

impl RepoImage {
    /// Whether the image can be a release: pullable, not a referrer, not an artifact.
    pub fn is_release_candidate(&self) -> bool {
        self.not_a_release().is_none()
    }

    /// Why the image cannot be a release, if it cannot: archived (not pullable), a referrer
    /// (a signature, SBOM or attestation of another image) or an artifact.
    pub fn not_a_release(&self) -> Option<String> {
        if let crate::event::ManifestKind::Artifact { media_type } = &self.manifest {
            return Some(format!("an artifact ({media_type}), not a container image: only releases deploy"));
        }
        if self.referrer {
            return Some("a referrer (it has a subject): a signature, SBOM or attestation, not a release".to_owned());
        }
        if self.archived {
            return Some("archived in ECR: it cannot be pulled until it is restored".to_owned());
        }
        None
    }
}

/// How the reconciler treats untagged images (services with `rollgate:deploy-untagged=true`
/// only): such an image may be part of a multi-platform push, so it deploys only once `grace`
/// ([`crate::deploy::INDEX_GRACE`]) has passed since its push and no index of the repository
/// lists it (`children`: every manifest the repository's recent indexes list; `None`: not
/// read, so none qualifies). A push event never deploys one
/// ([`crate::deploy::SkipReason::AwaitingIndex`]).
#[derive(Debug, Clone, Default)]
pub struct Untagged<'a> {
    pub grace: chrono::Duration,
    pub children: Option<&'a std::collections::HashSet<Digest>>,
}

impl RepoImage {
    /// An untagged image (or index) may be a child of an index.
    pub fn may_be_a_child(&self) -> bool {
        self.tags.is_empty()
    }
}

/// The indexes whose manifests the reconciler must read to know which untagged images are
/// their children: every index pushed at or after the oldest untagged single image that the
/// grace window lets through (children are pushed before their index). Newest first.
pub fn indexes_to_read(images: &[RepoImage], tick: &Envelope, grace: chrono::Duration) -> Vec<Digest> {
    let Some(oldest) =
        images.iter().filter(|i| i.may_be_a_child() && tick.time - i.pushed_at >= grace).map(|i| i.pushed_at).min()
    else {
        return Vec::new();
    };
    let mut indexes: Vec<&RepoImage> =
        images.iter().filter(|i| i.manifest == crate::event::ManifestKind::Index && i.pushed_at >= oldest).collect();
    indexes.sort_by_key(|i| std::cmp::Reverse(i.pushed_at));
    indexes.into_iter().map(|i| i.digest.clone()).collect()
}

/// The push the service should have received: its newest eligible image, as a push event
/// (time = imagePushedAt), or `None` when no image qualifies. `deploy` then applies the usual
/// rules, so an image that is already live or older than the live one changes nothing.
pub fn missed_push(
    service: &ServiceView,
    opt_in: &OptIn,
    images: &[RepoImage],
    tick: &Envelope,
    untagged: &Untagged<'_>,
) -> Option<PushEvent> {
    let failed = |d: &Digest| crate::tags::failed_mark(&service.tags, d).is_some();
    let untagged_ok = |i: &RepoImage| {
        opt_in.deploy_untagged
            && tick.time - i.pushed_at >= untagged.grace
            && untagged.children.is_some_and(|c| !c.contains(&i.digest))
    };
    images
        .iter()
        .filter(|i| i.is_release_candidate() && !failed(&i.digest))
        .filter_map(|i| {
            let mut tags: Vec<&ImageTag> = i.tags.iter().filter(|t| opt_in.filter.matches(Some(t))).collect();
            tags.sort();
            let tag = tags.first().map(|t| (*t).clone());
            (tag.is_some() || (i.tags.is_empty() && untagged_ok(i))).then_some((i, tag))
        })
        .max_by_key(|(i, _)| (i.pushed_at, i.digest.clone()))
        .map(|(i, tag)| PushEvent {
            envelope: Envelope {
                id: format!("reconcile:{}:{}", tick.id, i.digest.short()),
                // The registry that holds the image: it names the image the rollout pins.
                account: i.registry.clone(),
                region: tick.region.clone(),
                time: i.pushed_at,
            },
            repository: opt_in.repository.clone(),
            digest: i.digest.clone(),
            tag,
            manifest: i.manifest.clone(),
            arrival: crate::event::Arrival::Catalog,
            platforms: None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::keys;
    use crate::service::Tags;
    use crate::{Region, ServiceArn};

    fn img(c: char, tags: &[&str], minute: u32) -> RepoImage {
        RepoImage {
            registry: AccountId::parse("123456789012").unwrap(),
            digest: Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap(),
            tags: tags.iter().map(|t| ImageTag::parse(t).unwrap()).collect(),
            pushed_at: DateTime::parse_from_rfc3339(&format!("2026-11-28T10:{minute:02}:00Z"))
                .unwrap()
                .with_timezone(&Utc),
            manifest: crate::event::ManifestKind::Image,
            archived: false,
            referrer: false,
        }
    }

    /// The newest image is not a release: an archived image, a referrer (a signature of
    /// another image) or an artifact. The reconciler picks the newest release instead.
    #[test]
    fn archived_images_referrers_and_artifacts_are_never_picked() {
        let svc = service(&[(keys::TAG_FILTER, "v*")]);
        let opt = OptIn::from_tags(&svc.tags).unwrap().unwrap();
        let release = img('a', &["v1"], 1);
        let newer: [(&str, RepoImage); 3] = [
            ("archived", RepoImage { archived: true, ..img('b', &["v2"], 2) }),
            ("referrer", RepoImage { referrer: true, ..img('c', &["v3"], 3) }),
            (
                "artifact",
                RepoImage {
                    manifest: crate::event::ManifestKind::Artifact { media_type: "text/sbom+json".into() },
                    ..img('d', &["v4"], 4)
                },
            ),
        ];
        for (what, image) in newer {
            let picked = missed_push(&svc, &opt, &[release.clone(), image], &tick(), &Untagged::default()).unwrap();
            assert_eq!(picked.digest, release.digest, "{what}");
        }
    }

    fn service(extra: &[(&str, &str)]) -> ServiceView {
        let mut tags: Tags = [(keys::REPOSITORY.to_owned(), "model".to_owned())].into();
        tags.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        ServiceView {
            arn: ServiceArn::parse("arn:aws:ecs:us-east-1:123456789012:service/c/s").unwrap(),
            status: "ACTIVE".into(),
            task_definition: None,
            tags,
            deployments: vec![],
            deployment_controller: crate::service::DeploymentController::Ecs,
        }
    }

    fn tick() -> Envelope {
        Envelope {
            id: "tick".into(),
            account: AccountId::parse("123456789012").unwrap(),
            region: Region::parse("us-east-1").unwrap(),
            time: Utc::now(),
        }
    }

    /// Untagged images (for a service with rollgate:deploy-untagged) wait out the grace
    /// window, and never deploy when an index lists them: a multi-platform push deploys its
    /// index, whatever order the reconciler meets them in.
    #[test]
    fn an_untagged_image_waits_for_the_grace_window_and_never_outranks_its_index() {
        let svc = service(&[(keys::DEPLOY_UNTAGGED, "true")]);
        let opt = OptIn::from_tags(&svc.tags).unwrap().unwrap();
        let mut child = img('c', &[], 2);
        child.pushed_at = tick().time - chrono::Duration::minutes(20);
        let mut fresh = img('f', &[], 3);
        fresh.pushed_at = tick().time - chrono::Duration::minutes(1);
        let mut index = img('e', &[], 1);
        index.manifest = crate::event::ManifestKind::Index;
        index.pushed_at = child.pushed_at + chrono::Duration::milliseconds(600);
        let images = [child.clone(), fresh.clone(), index.clone()];
        let grace = crate::deploy::INDEX_GRACE;
        assert_eq!(indexes_to_read(&images, &tick(), grace), vec![index.digest.clone()]);
        let children: std::collections::HashSet<Digest> = [child.digest.clone()].into();
        let with = Untagged { grace, children: Some(&children) };
        let picked = missed_push(&svc, &opt, &images, &tick(), &with).unwrap();
        assert_eq!(picked.digest, index.digest, "the index, not its child, nor the image inside the window");
        let none = std::collections::HashSet::new();
        let without = Untagged { grace, children: Some(&none) };
        assert_eq!(missed_push(&svc, &opt, &images, &tick(), &without).unwrap().digest, index.digest);
        let only_child = [child.clone()];
        assert_eq!(missed_push(&svc, &opt, &only_child, &tick(), &without).unwrap().digest, child.digest);
        assert!(missed_push(&svc, &opt, &only_child, &tick(), &with).is_none(), "a child never deploys");
        assert!(missed_push(&svc, &opt, &[fresh], &tick(), &without).is_none(), "inside the grace window");
    }

    #[test]
    fn newest_eligible_image_wins() {
        let images = [img('a', &["v1"], 1), img('b', &["v2"], 2), img('c', &["latest"], 3), img('d', &[], 4)];
        let svc = service(&[(keys::TAG_FILTER, "v*")]);
        let opt = OptIn::from_tags(&svc.tags).unwrap().unwrap();
        let push = missed_push(&svc, &opt, &images, &tick(), &Untagged::default()).unwrap();
        assert_eq!(push.tag.unwrap().as_str(), "v2");
        assert_eq!(push.envelope.time, images[1].pushed_at);

        let failed = format!("{}{}", keys::FAILED_PREFIX, images[1].digest);
        let svc = service(&[(keys::TAG_FILTER, "v*"), (&failed, "x")]);
        assert_eq!(
            missed_push(&svc, &opt, &images, &tick(), &Untagged::default()).unwrap().tag.unwrap().as_str(),
            "v1",
            "a failed digest stays out"
        );

        // The newest image is untagged: it deploys only when the service opted in.
        let any = service(&[]);
        let opt_any = OptIn::from_tags(&any.tags).unwrap().unwrap();
        assert_ne!(
            missed_push(&any, &opt_any, &images, &tick(), &Untagged::default()).unwrap().digest,
            images[3].digest,
            "untagged images are not releases by default"
        );
        let untagged_ok = service(&[(keys::DEPLOY_UNTAGGED, "true")]);
        let opt_untagged = OptIn::from_tags(&untagged_ok.tags).unwrap().unwrap();
        let none = std::collections::HashSet::new();
        let after_grace = Untagged { grace: chrono::Duration::zero(), children: Some(&none) };
        assert_eq!(
            missed_push(&untagged_ok, &opt_untagged, &images, &tick(), &after_grace).unwrap().digest,
            images[3].digest,
            "with rollgate:deploy-untagged=true the newest untagged image deploys, once no index lists it"
        );
        assert_ne!(
            missed_push(&untagged_ok, &opt_untagged, &images, &tick(), &Untagged::default()).unwrap().digest,
            images[3].digest,
            "not before the indexes were read"
        );
        assert!(missed_push(&svc, &opt, &[], &tick(), &Untagged::default()).is_none());
    }
}
