//! Amazon ECR events: a push, replication and pull-through-cache actions, as deploy's
//! [`EcrAction`] (<https://docs.aws.amazon.com/AmazonECR/latest/userguide/ecr-eventbridge.html>).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::envelope::{Envelope, EventError, RawEvent};
use crate::{Digest, ImageTag, RepositoryName};

/// The EventBridge `source` of Amazon ECR events
/// (<https://docs.aws.amazon.com/AmazonECR/latest/userguide/ecr-eventbridge.html>).
pub const ECR_SOURCE: &str = "aws.ecr";
/// The `detail-type` of an ECR push or delete (same page).
pub const ECR_DETAIL_TYPE: &str = "ECR Image Action";

/// The detail of an "ECR Image Action" event, exactly as AWS documents it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct EcrImageActionDetail {
    /// `PUSH` or `DELETE`.
    pub action_type: String,
    /// `SUCCESS` or `FAILURE`.
    pub result: String,
    /// The repository's name, without registry or tag.
    pub repository_name: String,
    /// The image's digest, `sha256:<64 hex>`; `None` when ECR sends none (e.g. a failed push).
    #[serde(default)]
    pub image_digest: Option<String>,
    /// The tag pushed or deleted; `None` (or empty) for a push by digest.
    #[serde(default)]
    pub image_tag: Option<String>,
    /// The manifest's media type (an OCI or Docker manifest or index); `None` in events before 2024.
    #[serde(default)]
    pub manifest_media_type: Option<String>,
    /// The image config's or artifact's media type (e.g. `application/vnd.oci.image.config.v1+json`);
    /// `None` in events before 2024 and when ECR sends none.
    #[serde(default)]
    pub artifact_media_type: Option<String>,
}

/// The `detail-type` of an ECR replication into this repository (ECR events page, as above).
pub const ECR_REPLICATION_DETAIL_TYPE: &str = "ECR Replication Action";
/// The `detail-type` of a pull through cache sync from an upstream registry (ECR events page).
pub const ECR_PULL_THROUGH_CACHE_DETAIL_TYPE: &str = "ECR Pull Through Cache Action";

/// The detail of an "ECR Replication Action" event (sent in the destination account and
/// region; [ECR events](https://docs.aws.amazon.com/AmazonECR/latest/userguide/ecr-eventbridge.html)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct EcrReplicationDetail {
    /// `REPLICATE`.
    pub action_type: String,
    /// `SUCCESS` or `FAILED`.
    pub result: String,
    /// The destination repository's name.
    pub repository_name: String,
    /// The replicated image's digest, `sha256:<64 hex>`; `None` when absent.
    #[serde(default)]
    pub image_digest: Option<String>,
    /// The replicated tag; `None` when absent.
    #[serde(default)]
    pub image_tag: Option<String>,
    /// The account replicated from (12 digits, unvalidated); `None` when absent.
    #[serde(default)]
    pub source_account: Option<String>,
    /// The region replicated from (unvalidated); `None` when absent.
    #[serde(default)]
    pub source_region: Option<String>,
}

/// The detail of an "ECR Pull Through Cache Action" event (same page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct EcrPullThroughCacheDetail {
    /// `SUCCESS` when the image was cached; any other value is a failed sync.
    pub sync_status: String,
    /// The cache repository's name.
    pub repository_name: String,
    /// The synced image's digest, `sha256:<64 hex>`; `None` when absent.
    #[serde(default)]
    pub image_digest: Option<String>,
    /// The synced tag; `None` when absent.
    #[serde(default)]
    pub image_tag: Option<String>,
    /// The upstream registry, e.g. `public.ecr.aws`; `None` when absent.
    #[serde(default)]
    pub upstream_registry_url: Option<String>,
}

/// How an image arrived in the repository. All three deploy alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum Arrival {
    /// `ECR Image Action` PUSH.
    Push,
    /// `ECR Replication Action` REPLICATE, from another region or account.
    Replication {
        /// The detail's `source-account`; `None` when absent.
        source_account: Option<String>,
        /// The detail's `source-region`; `None` when absent.
        source_region: Option<String>,
    },
    /// `ECR Pull Through Cache Action`: synced from an upstream registry.
    PullThroughCache {
        /// The detail's `upstream-registry-url`; `None` when absent.
        upstream: Option<String>,
    },
    /// Found in the repository by the reconciler (DescribeImages), not announced by an event.
    Catalog,
}

impl fmt::Display for Arrival {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Push => f.write_str("push"),
            Self::Replication { source_account, source_region } => write!(
                f,
                "replication from {}/{}",
                source_account.as_deref().unwrap_or("?"),
                source_region.as_deref().unwrap_or("?")
            ),
            Self::PullThroughCache { upstream } => {
                write!(f, "pull through cache from {}", upstream.as_deref().unwrap_or("?"))
            }
            Self::Catalog => f.write_str("found by the reconciler"),
        }
    }
}

/// An image that arrived in a repository (a successful push, replication or pull-through
/// cache sync): what deploys. Named a push because all three deploy like one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushEvent {
    /// The validated event envelope (for [`Arrival::Catalog`], one the reconciler built, whose
    /// account is the registry's).
    pub envelope: Envelope,
    /// The repository the image arrived in.
    pub repository: RepositoryName,
    /// The image's digest, `sha256:<64 hex>` (an index's digest for a multi-platform release).
    pub digest: Digest,
    /// Absent when an image is pushed by digest only.
    pub tag: Option<ImageTag>,
    /// What was pushed, from the event's media types ([`ManifestKind::Unknown`] when the event
    /// does not say: replication, pull through cache, events before 2024; deploy then asks ECR).
    pub manifest: ManifestKind,
    /// How the image arrived.
    pub arrival: Arrival,
    /// The platforms the release runs on, as ECR's manifest (and, for a single image, its
    /// config) state them. Not in any event: deploy asks ECR before planning. `None` = not
    /// known, and then not checked.
    pub platforms: Option<Vec<crate::image::Platform>>,
}

/// What a push is, from the event's `manifest-media-type` and `artifact-media-type` (ECR sends
/// them since 2024; older events have neither). Media types: the OCI image spec
/// (`application/vnd.oci.image.index.v1+json`, `...manifest.v1+json`, `...config.v1+json`) and
/// Docker's distribution formats (`...manifest.list.v2+json`, `...manifest.v2+json`,
/// `application/vnd.docker.container.image.v1+json`). events/SOURCES.md names the samples.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ManifestKind {
    /// An image index (manifest list): a multi-platform release.
    Index,
    /// A single image manifest with an image config: a standalone image, or one platform's
    /// image inside an index (then pushed untagged).
    Image,
    /// Not a runnable image: a signature, SBOM, attestation, cache or other artifact.
    Artifact {
        /// The media type, or what the tag or type says (`cosign .sig (tag ...)`, an OCI
        /// referrers index, a Docker schema 1 manifest).
        media_type: String,
    },
    /// The event does not say (events before ECR sent media types).
    Unknown,
}

const INDEX_TYPES: [&str; 2] =
    ["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"];
const MANIFEST_TYPES: [&str; 2] =
    ["application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"];
const IMAGE_CONFIG_TYPES: [&str; 2] =
    ["application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"];

impl ManifestKind {
    /// Classifies a push. A cosign signature, attestation or SBOM is stored as an ordinary
    /// image manifest under the tag `sha256-<64 hex>.sig` (`.att`, `.sbom`), and a registry
    /// without the OCI referrers API keeps an image's referrers in an index tagged
    /// `sha256-<64 hex>` (the OCI distribution spec's "referrers tag schema"): the tag says it.
    pub fn classify(manifest_media_type: Option<&str>, artifact_media_type: Option<&str>, tag: Option<&str>) -> Self {
        let digest_tag = |d: &str| {
            d.strip_prefix("sha256-").is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        };
        if let Some(t) = tag {
            match t.split_once('.') {
                Some((digest, suffix)) if matches!(suffix, "sig" | "att" | "sbom") && digest_tag(digest) => {
                    return Self::Artifact { media_type: format!("cosign .{suffix} (tag {t})") };
                }
                None if digest_tag(t) => {
                    return Self::Artifact { media_type: format!("an OCI referrers index (tag {t})") };
                }
                _ => {}
            }
        }
        let manifest = manifest_media_type.filter(|m| !m.is_empty());
        let artifact = artifact_media_type.filter(|a| !a.is_empty());
        match (manifest, artifact) {
            (None, None) => Self::Unknown,
            (Some(m), _) if INDEX_TYPES.contains(&m) => Self::Index,
            (Some(m), None) if MANIFEST_TYPES.contains(&m) => Self::Image,
            (Some(m), Some(a)) if MANIFEST_TYPES.contains(&m) && IMAGE_CONFIG_TYPES.contains(&a) => Self::Image,
            (_, Some(a)) if !IMAGE_CONFIG_TYPES.contains(&a) => Self::Artifact { media_type: a.to_owned() },
            (Some(m), _) if m.starts_with("application/vnd.docker.distribution.manifest.v1") => Self::Artifact {
                media_type: format!("{m}: a Docker schema 1 manifest, which current runtimes cannot pull"),
            },
            (Some(m), _) => Self::Artifact { media_type: m.to_owned() },
            (None, Some(a)) => Self::Artifact { media_type: a.to_owned() },
        }
    }
}

/// What an ECR event means for rollgate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EcrAction {
    /// A successful push, replication or pull-through sync of a runnable image or index.
    Push(PushEvent),
    /// A well-formed event that deploys nothing (a DELETE, a failed push...).
    Ignored {
        /// The validated event envelope.
        envelope: Envelope,
        /// Why nothing deploys, in words (e.g. `action-type DELETE with result SUCCESS: ...`).
        reason: String,
    },
}

/// Parses and validates an ECR event that can bring an image: `ECR Image Action`,
/// `ECR Replication Action` or `ECR Pull Through Cache Action`. Errors: [`EventError`] for any
/// other kind or a malformed event.
pub fn parse_ecr_event(raw: &str) -> Result<EcrAction, EventError> {
    EcrAction::from_event(&RawEvent::parse(raw)?)
}

impl EcrAction {
    /// [`parse_ecr_event`] of an event already read.
    pub fn from_event(event: &RawEvent) -> Result<Self, EventError> {
        ecr_action(event)
    }
}

fn ecr_action(event: &RawEvent) -> Result<EcrAction, EventError> {
    let (envelope, result, repository, digest, tag, media, arrival) = match event.detail_type.as_str() {
        ECR_REPLICATION_DETAIL_TYPE => {
            let (envelope, d) = event.envelope::<EcrReplicationDetail>(ECR_SOURCE, ECR_REPLICATION_DETAIL_TYPE)?;
            let ok = d.action_type == "REPLICATE" && d.result == "SUCCESS";
            let result = (!ok).then(|| format!("action-type {} with result {}", d.action_type, d.result));
            let arrival = Arrival::Replication { source_account: d.source_account, source_region: d.source_region };
            (envelope, result, d.repository_name, d.image_digest, d.image_tag, (None, None), arrival)
        }
        ECR_PULL_THROUGH_CACHE_DETAIL_TYPE => {
            let (envelope, d) =
                event.envelope::<EcrPullThroughCacheDetail>(ECR_SOURCE, ECR_PULL_THROUGH_CACHE_DETAIL_TYPE)?;
            let result = (d.sync_status != "SUCCESS").then(|| format!("sync-status {}", d.sync_status));
            let arrival = Arrival::PullThroughCache { upstream: d.upstream_registry_url };
            (envelope, result, d.repository_name, d.image_digest, d.image_tag, (None, None), arrival)
        }
        _ => {
            let (envelope, d) = event.envelope::<EcrImageActionDetail>(ECR_SOURCE, ECR_DETAIL_TYPE)?;
            let ok = d.action_type == "PUSH" && d.result == "SUCCESS";
            let result = (!ok).then(|| format!("action-type {} with result {}", d.action_type, d.result));
            let media = (d.manifest_media_type, d.artifact_media_type);
            (envelope, result, d.repository_name, d.image_digest, d.image_tag, media, Arrival::Push)
        }
    };
    if let Some(result) = result {
        let reason = format!("{result}: only images that arrived successfully deploy");
        return Ok(EcrAction::Ignored { envelope, reason });
    }
    let repository = RepositoryName::parse(&repository)?;
    let digest = Digest::parse(digest.as_deref().ok_or(EventError::Missing("detail.image-digest"))?)?;
    let tag = tag.as_deref().filter(|t| !t.is_empty()).map(ImageTag::parse).transpose()?;
    let manifest = ManifestKind::classify(media.0.as_deref(), media.1.as_deref(), tag.as_ref().map(ImageTag::as_str));
    if let ManifestKind::Artifact { media_type } = &manifest {
        let reason = format!("an artifact ({media_type}), not a container image: only releases deploy");
        return Ok(EcrAction::Ignored { envelope, reason });
    }
    Ok(EcrAction::Push(PushEvent { envelope, repository, digest, tag, manifest, arrival, platforms: None }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn sample_push_parses() {
        let EcrAction::Push(push) = parse_ecr_event(&fixture("ecr-push.json")).unwrap() else {
            panic!("expected a push");
        };
        assert_eq!(push.repository.as_str(), "rollgate-demo");
        assert_eq!(push.tag.as_ref().map(ImageTag::as_str), Some("v1.0.0"));
        assert_eq!(push.envelope.account.as_str(), "123456789012");
        assert_eq!(push.envelope.region.as_str(), "us-east-1");
    }

    #[test]
    fn fixtures_that_deploy_nothing_are_ignored() {
        for name in ["ecr-delete.json", "ecr-push-failed.json"] {
            assert!(matches!(parse_ecr_event(&fixture(name)), Ok(EcrAction::Ignored { .. })), "{name}");
        }
    }

    #[test]
    fn other_tag_fixture_parses() {
        let EcrAction::Push(push) = parse_ecr_event(&fixture("ecr-push-other-tag.json")).unwrap() else {
            panic!("expected a push");
        };
        assert_eq!(push.tag.as_ref().map(ImageTag::as_str), Some("latest"));
    }

    /// AWS's documented samples and real (or derived) event shapes from events/ (sources in
    /// events/SOURCES.md), as a table: what each one is for deploy.
    #[test]
    fn real_ecr_events_as_a_table() {
        // (fixture, expected): "push <kind> <tag or ->", "ignored <reason part>", "error <part>".
        let table: &[(&str, &str)] = &[
            // AWS's documented push sample: its digest has 60 hex digits, not 64.
            ("aws-ecr-push-documented.json", "error sha256"),
            ("aws-ecr-push-untagged-captured.json", "push image -"),
            ("aws-ecr-push-oci-image.json", "push image v1.1.0"),
            ("aws-ecr-push-docker-v2.json", "push image v1.1.0"),
            ("aws-ecr-push-index-oci.json", "push index v1.1.0"),
            ("aws-ecr-push-index-docker-manifest-list.json", "push index v1.1.0"),
            ("aws-ecr-push-untagged-child.json", "push image -"),
            ("aws-ecr-push-notation-signature.json", "ignored application/vnd.cncf.notary.signature"),
            ("aws-ecr-push-cosign-signature.json", "ignored cosign .sig"),
            (
                "aws-ecr-push-attestation-oci-artifact.json",
                "ignored application/vnd.docker.attestation.manifest.v1+json",
            ),
            // buildx's default attestation has an image's media types: only being untagged
            // keeps it out (rollgate:deploy-untagged is off by default).
            ("aws-ecr-push-attestation.json", "push image -"),
            ("aws-ecr-delete-documented.json", "ignored action-type DELETE"),
            // Replication and pull-through cache deploy like pushes; their events carry no media
            // types, so deploy asks ECR. AWS's samples have invalid digests (and the pull-through
            // one is dated 2023-02-29); the derived ones are the same shapes with valid values.
            ("aws-ecr-pull-through-cache.json", "error out of range"),
            ("aws-ecr-replication.json", "error sha256"),
            ("aws-ecr-replication-failed.json", "ignored result FAILED"),
            ("aws-ecr-replication-derived.json", "push unknown v1"),
            ("aws-ecr-pull-through-cache-derived.json", "push unknown v1"),
            // Not events that bring an image, named as such.
            ("aws-ecr-scan.json", "error unexpected event"),
            ("aws-ecr-referrer.json", "error unexpected event"),
            ("buildx/01-push-image-linux-amd64.json", "push image -"),
            ("buildx/05-push-index-v1.json", "push index v1"),
            ("buildx-push-by-digest/07-imagetools-create-index-v1.json", "push index v1"),
            ("ecr-push.json", "push unknown v1.0.0"),
        ];
        for (name, want) in table {
            let got = match parse_ecr_event(&fixture(name)) {
                Ok(EcrAction::Push(p)) => {
                    let kind = match p.manifest {
                        ManifestKind::Index => "index",
                        ManifestKind::Image => "image",
                        ManifestKind::Unknown => "unknown",
                        ManifestKind::Artifact { .. } => "artifact",
                    };
                    format!("push {kind} {}", p.tag.as_ref().map_or("-", ImageTag::as_str))
                }
                Ok(EcrAction::Ignored { reason, .. }) => format!("ignored {reason}"),
                Err(e) => format!("error {e}"),
            };
            let (verb, detail) = want.split_once(' ').unwrap();
            assert!(got.starts_with(verb) && got.contains(detail), "{name}: want {want:?}, got {got:?}");
        }
    }

    /// Tags and media types that say "not an image", without a fixture: the OCI referrers tag
    /// schema (`sha256-<hex>`, an index of referrers), cosign's suffixes, Docker schema 1.
    #[test]
    fn tags_and_media_types_that_name_artifacts() {
        let hex = "a".repeat(64);
        let oci = Some("application/vnd.oci.image.manifest.v1+json");
        let config = Some("application/vnd.oci.image.config.v1+json");
        for tag in [format!("sha256-{hex}"), format!("sha256-{hex}.sig"), format!("sha256-{hex}.att")] {
            assert!(matches!(ManifestKind::classify(oci, config, Some(&tag)), ManifestKind::Artifact { .. }), "{tag}");
        }
        for tag in ["sha256-abc", "v1", "sha256", "latest"] {
            assert_eq!(ManifestKind::classify(oci, config, Some(tag)), ManifestKind::Image, "{tag}");
        }
        let schema1 =
            ManifestKind::classify(Some("application/vnd.docker.distribution.manifest.v1+prettyjws"), None, None);
        assert!(
            matches!(&schema1, ManifestKind::Artifact { media_type } if media_type.contains("schema 1")),
            "{schema1:?}"
        );
    }

    #[test]
    fn malformed_fixture_is_an_error() {
        assert!(parse_ecr_event(&fixture("ecr-push-malformed.json")).is_err());
    }

    #[test]
    fn every_broken_field_is_an_error() {
        let good: serde_json::Value = serde_json::from_str(&fixture("ecr-push.json")).unwrap();
        let cases: &[(&str, serde_json::Value)] = &[
            ("/source", "aws.s3".into()),
            ("/detail-type", "Object Created".into()),
            ("/account", "12".into()),
            ("/account", serde_json::Value::Null),
            ("/region", "nowhere".into()),
            ("/time", "yesterday".into()),
            ("/time", serde_json::Value::Null),
            ("/id", "".into()),
            ("/detail/image-digest", "sha256:short".into()),
            ("/detail/image-digest", serde_json::Value::Null),
            ("/detail/repository-name", "Not/Valid".into()),
            ("/detail/image-tag", "bad tag!".into()),
            ("/detail/action-type", serde_json::Value::Null),
            ("/detail", "not an object".into()),
        ];
        for (pointer, value) in cases {
            let mut event = good.clone();
            *event.pointer_mut(pointer).unwrap() = value.clone();
            let err = parse_ecr_event(&event.to_string());
            assert!(err.is_err(), "{pointer} = {value} should be rejected, got {err:?}");
        }
        for raw in ["", "null", "[]", "{}", "{\"detail\": {}}"] {
            assert!(parse_ecr_event(raw).is_err(), "{raw:?}");
        }
    }
}
