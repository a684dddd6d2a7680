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

/// The push the service should have received: its newest eligible image, as a push event
/// (time = imagePushedAt), or `None` when no image qualifies. `deploy` then applies the usual
/// rules, so an image that is already live or older than the live one changes nothing.
pub fn missed_push(service: &ServiceView, opt_in: &OptIn, images: &[RepoImage], tick: &Envelope) -> Option<PushEvent> {
    let failed = |d: &Digest| crate::tags::failed_mark(&service.tags, d).is_some();
    images
        .iter()
        .filter(|i| i.is_release_candidate() && !failed(&i.digest))
        .filter_map(|i| {
            let mut tags: Vec<&ImageTag> = i.tags.iter().filter(|t| opt_in.filter.matches(Some(t))).collect();
            tags.sort();
            let tag = tags.first().map(|t| (*t).clone());
            (tag.is_some() || (i.tags.is_empty() && opt_in.deploy_untagged)).then_some((i, tag))
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
            arrival: crate::event::Arrival::Push,
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
            let picked = missed_push(&svc, &opt, &[release.clone(), image], &tick()).unwrap();
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

    #[test]
    fn newest_eligible_image_wins() {
        let images = [img('a', &["v1"], 1), img('b', &["v2"], 2), img('c', &["latest"], 3), img('d', &[], 4)];
        let svc = service(&[(keys::TAG_FILTER, "v*")]);
        let opt = OptIn::from_tags(&svc.tags).unwrap().unwrap();
        let push = missed_push(&svc, &opt, &images, &tick()).unwrap();
        assert_eq!(push.tag.unwrap().as_str(), "v2");
        assert_eq!(push.envelope.time, images[1].pushed_at);

        let failed = format!("{}{}", keys::FAILED_PREFIX, images[1].digest);
        let svc = service(&[(keys::TAG_FILTER, "v*"), (&failed, "x")]);
        assert_eq!(
            missed_push(&svc, &opt, &images, &tick()).unwrap().tag.unwrap().as_str(),
            "v1",
            "a failed digest stays out"
        );

        // The newest image is untagged: it deploys only when the service opted in.
        let any = service(&[]);
        let opt_any = OptIn::from_tags(&any.tags).unwrap().unwrap();
        assert_ne!(
            missed_push(&any, &opt_any, &images, &tick()).unwrap().digest,
            images[3].digest,
            "untagged images are not releases by default"
        );
        let untagged_ok = service(&[(keys::DEPLOY_UNTAGGED, "true")]);
        let opt_untagged = OptIn::from_tags(&untagged_ok.tags).unwrap().unwrap();
        assert_eq!(
            missed_push(&untagged_ok, &opt_untagged, &images, &tick()).unwrap().digest,
            images[3].digest,
            "with rollgate:deploy-untagged=true the newest untagged image deploys"
        );
        assert!(missed_push(&svc, &opt, &[], &tick()).is_none());
    }
}
