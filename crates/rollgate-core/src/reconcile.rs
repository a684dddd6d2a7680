//! The reconciler: ECR's push events are best effort, so on a schedule every opted-in
//! service is compared with its repository, and the newest image that passes its filter
//! (and is not failed on it) is deployed through the same rules as a push event.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::events::{Envelope, PushEvent};
use crate::service::{OptIn, ServiceView};
use crate::{AccountId, Digest, ImageTag};

/// One image of a repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoImage {
    /// The registry (account) that holds it.
    pub registry: AccountId,
    /// The image's manifest digest, `sha256:<64 hex>` (DescribeImages' `imageDigest`).
    pub digest: Digest,
    /// Its tags (`imageTags`); empty for an untagged image.
    pub tags: Vec<ImageTag>,
    /// When it was pushed (`imagePushedAt`,
    /// <https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ImageDetail.html>).
    pub pushed_at: DateTime<Utc>,
    /// From DescribeImages' `imageManifestMediaType` and `artifactMediaType`.
    pub manifest: crate::events::ManifestKind,
    /// `imageStatus` ARCHIVED or ACTIVATING: not pullable as it is.
    pub archived: bool,
    /// A referrer (`subjectManifestDigest` set): a signature, SBOM or attestation of another
    /// image, never a release.
    pub referrer: bool,
}

impl RepoImage {
    /// Whether the image can be a release: pullable (not archived), not a referrer (a
    /// signature, SBOM or attestation of another image), not an artifact.
    pub fn is_release_candidate(&self) -> bool {
        !self.archived && !self.referrer && !matches!(self.manifest, crate::events::ManifestKind::Artifact { .. })
    }
}

/// A push the reconciler may deploy on a service, with what must be checked first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The image as a push event (time = imagePushedAt; account = the registry holding it).
    pub push: PushEvent,
    /// For an untagged image: the indexes of its registry pushed within the grace window after
    /// it, any of which may list it as a child (children are pushed before their index). The
    /// reconciler reads their manifests and drops the image if one lists it. Empty otherwise.
    pub indexes_to_read: Vec<Digest>,
}

/// How many candidates the reconciler tries per service and registry, newest first, before it
/// gives up (each may cost a manifest read; a registry the service does not pull from is passed
/// over without reads, so a busy central registry never hides the service's own).
pub const MAX_CANDIDATES: usize = 10;

/// The pushes a service may have missed, newest first: its eligible images (release
/// candidates that pass its filter and are not failed on it), at most [`MAX_CANDIDATES`] per
/// registry.
/// The reconciler tries them in order and deploys the first that suits the service (right
/// platform, right registry); `deploy` then applies the usual rules, so an image that is
/// already live or older than the live one changes nothing.
///
/// Untagged images count only for a service with `rollgate:deploy-untagged=true`, and only
/// once `grace` ([`crate::deploy::INDEX_GRACE`]) has passed since their push: they may be part
/// of a multi-platform push (a push event never deploys one,
/// [`crate::deploy::SkipReason::AwaitingIndex`]).
pub fn candidates(
    service: &ServiceView,
    opt_in: &OptIn,
    images: &[RepoImage],
    tick: &Envelope,
    grace: chrono::Duration,
) -> Vec<Candidate> {
    let failed = |d: &Digest| crate::tags::failed_mark(&service.tags, d).is_some();
    let mut eligible: Vec<(&RepoImage, Option<ImageTag>)> = images
        .iter()
        .filter(|i| i.is_release_candidate() && !failed(&i.digest))
        .filter_map(|i| {
            let mut tags: Vec<&ImageTag> = i.tags.iter().filter(|t| opt_in.filter.matches(Some(t))).collect();
            tags.sort();
            let tag = tags.first().map(|t| (*t).clone());
            let untagged_ok = i.tags.is_empty() && opt_in.deploy_untagged && tick.time - i.pushed_at >= grace;
            (tag.is_some() || untagged_ok).then_some((i, tag))
        })
        .collect();
    eligible.sort_by(|(a, _), (b, _)| (b.pushed_at, &b.digest).cmp(&(a.pushed_at, &a.digest)));
    let mut per_registry: std::collections::HashMap<&AccountId, usize> = std::collections::HashMap::new();
    eligible
        .into_iter()
        .filter(|(i, _)| {
            let n = per_registry.entry(&i.registry).or_default();
            *n += 1;
            *n <= MAX_CANDIDATES
        })
        .map(|(i, tag)| {
            let indexes_to_read = if i.tags.is_empty() {
                images
                    .iter()
                    .filter(|x| {
                        x.manifest == crate::events::ManifestKind::Index
                            && x.registry == i.registry
                            && x.digest != i.digest
                            && x.pushed_at >= i.pushed_at
                            && x.pushed_at - i.pushed_at <= grace
                    })
                    .map(|x| x.digest.clone())
                    .collect()
            } else {
                Vec::new()
            };
            Candidate {
                push: PushEvent {
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
                    arrival: crate::events::Arrival::Catalog,
                    platforms: None,
                },
                indexes_to_read,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys;
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
            manifest: crate::events::ManifestKind::Image,
            archived: false,
            referrer: false,
        }
    }

    /// The digests of the candidates, newest first.
    fn order(c: &[Candidate]) -> Vec<char> {
        c.iter().map(|c| c.push.digest.as_str().chars().last().unwrap()).collect()
    }

    /// The newest image is not a release: an archived image, a referrer (a signature of
    /// another image) or an artifact. The reconciler's candidates leave them out.
    #[test]
    fn archived_images_referrers_and_artifacts_are_never_candidates() {
        let svc = service(&[(keys::TAG_FILTER, "v*")]);
        let opt = OptIn::from_tags(&svc.tags).unwrap().unwrap();
        let release = img('a', &["v1"], 1);
        let newer: [(&str, RepoImage); 3] = [
            ("archived", RepoImage { archived: true, ..img('b', &["v2"], 2) }),
            ("referrer", RepoImage { referrer: true, ..img('c', &["v3"], 3) }),
            (
                "artifact",
                RepoImage {
                    manifest: crate::events::ManifestKind::Artifact { media_type: "text/sbom+json".into() },
                    ..img('d', &["v4"], 4)
                },
            ),
        ];
        for (what, image) in newer {
            let found = candidates(&svc, &opt, &[release.clone(), image], &tick(), crate::deploy::INDEX_GRACE);
            assert_eq!(order(&found), ['a'], "{what}");
        }
    }

    fn service(extra: &[(&str, &str)]) -> ServiceView {
        let mut tags: Tags = [(keys::REPOSITORY.to_owned(), "model".to_owned())].into();
        tags.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        ServiceView {
            arn: ServiceArn::parse("arn:aws:ecs:us-east-1:123456789012:service/c/s").unwrap(),
            status: crate::service::ServiceStatus::Active,
            task_definition: None,
            tags,
            deployments: vec![],
            deployment_controller: crate::service::DeploymentController::Ecs,
            fargate: true,
            current_service_deployment: None,
        }
    }

    fn tick() -> Envelope {
        Envelope {
            id: "tick".into(),
            account: AccountId::parse("123456789012").unwrap(),
            region: Region::parse("us-east-1").unwrap(),
            time: DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z").unwrap().with_timezone(&Utc),
        }
    }

    /// Untagged images (for a service with rollgate:deploy-untagged) wait out the grace
    /// window, and each carries the indexes that could list it: those of its registry pushed
    /// within the window after it, and only those (a bounded read, however old the repository).
    #[test]
    fn an_untagged_image_waits_for_the_grace_window_and_names_the_indexes_to_check() {
        let svc = service(&[(keys::DEPLOY_UNTAGGED, "true")]);
        let opt = OptIn::from_tags(&svc.tags).unwrap().unwrap();
        let at = |minutes_ago: i64, c: char, tags: &[&str], index: bool| RepoImage {
            pushed_at: tick().time - chrono::Duration::minutes(minutes_ago),
            manifest: if index { crate::events::ManifestKind::Index } else { crate::events::ManifestKind::Image },
            ..img(c, tags, 0)
        };
        let old_index = at(300, '0', &["v0"], true);
        let child = at(20, 'c', &[], false);
        let its_index =
            RepoImage { pushed_at: child.pushed_at + chrono::Duration::seconds(1), ..at(0, 'e', &[], true) };
        let later_index = at(2, '9', &["v9"], true);
        let fresh = at(1, 'f', &[], false);
        let images = [old_index, child.clone(), its_index.clone(), later_index, fresh];
        let found = candidates(&svc, &opt, &images, &tick(), crate::deploy::INDEX_GRACE);
        assert_eq!(order(&found), ['9', 'e', 'c', '0'], "the fresh untagged image waits; newest first");
        let child_candidate = found.iter().find(|c| c.push.digest == child.digest).unwrap();
        assert_eq!(child_candidate.indexes_to_read, vec![its_index.digest.clone()], "only its window's indexes");
        assert!(found[0].indexes_to_read.is_empty(), "a tagged image needs no check");
        // Without the opt-in, untagged images are not candidates at all.
        let plain = service(&[]);
        let opt_plain = OptIn::from_tags(&plain.tags).unwrap().unwrap();
        assert_eq!(order(&candidates(&plain, &opt_plain, &images, &tick(), crate::deploy::INDEX_GRACE)), ['9', '0']);
    }

    #[test]
    fn newest_eligible_image_comes_first_and_failed_digests_stay_out() {
        let images = [img('a', &["v1"], 1), img('b', &["v2"], 2), img('c', &["latest"], 3), img('d', &[], 4)];
        let svc = service(&[(keys::TAG_FILTER, "v*")]);
        let opt = OptIn::from_tags(&svc.tags).unwrap().unwrap();
        let found = candidates(&svc, &opt, &images, &tick(), crate::deploy::INDEX_GRACE);
        assert_eq!(order(&found), ['b', 'a']);
        assert_eq!(found[0].push.tag.as_ref().unwrap().as_str(), "v2");
        assert_eq!(found[0].push.envelope.time, images[1].pushed_at);

        let failed = format!("{}{}", keys::FAILED_PREFIX, images[1].digest);
        let svc = service(&[(keys::TAG_FILTER, "v*"), (&failed, "x")]);
        assert_eq!(order(&candidates(&svc, &opt, &images, &tick(), crate::deploy::INDEX_GRACE)), ['a']);
        assert!(candidates(&svc, &opt, &[], &tick(), crate::deploy::INDEX_GRACE).is_empty());
        let many: Vec<RepoImage> = (0..15).map(|m| img(char::from_digit(m % 10, 10).unwrap(), &["v1"], m)).collect();
        assert_eq!(candidates(&svc, &opt, &many, &tick(), crate::deploy::INDEX_GRACE).len(), MAX_CANDIDATES);
        // Per registry: a busy central registry does not push the service's own images out.
        let central = AccountId::parse("210987654321").unwrap();
        let mut mixed: Vec<RepoImage> = (0..15)
            .map(|m| RepoImage {
                registry: central.clone(),
                ..img(char::from_digit(m % 10, 10).unwrap(), &["v1"], m + 10)
            })
            .collect();
        mixed.push(img('a', &["v1"], 1));
        let found = candidates(&svc, &opt, &mixed, &tick(), crate::deploy::INDEX_GRACE);
        assert_eq!(found.len(), MAX_CANDIDATES + 1);
        assert_eq!(found.last().unwrap().push.envelope.account.as_str(), "123456789012");
    }
}
