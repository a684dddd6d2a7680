//! Incoming EventBridge events, parsed into typed, validated domain events.
//!
//! Parsing is strict: an event that does not have the documented shape is an
//! [`EventError`], which the functions report as `NonRetryable`.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{AccountId, Digest, ImageTag, InputError, Region, RepositoryName};

/// Why an event cannot be processed. Retrying the same bytes cannot help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("malformed event: {0}")]
    Malformed(String),
    #[error("unexpected event: source {event_source:?} with detail-type {detail_type:?}, expected {expected}")]
    WrongKind { event_source: String, detail_type: String, expected: String },
    #[error("malformed event: {0}")]
    Invalid(#[from] InputError),
    #[error("malformed event: field {0:?} is missing")]
    Missing(&'static str),
}

/// The envelope fields every rollgate event needs, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Envelope {
    pub id: String,
    pub account: AccountId,
    pub region: Region,
    pub time: DateTime<Utc>,
}

/// An event's `source` and `detail-type`, to pick its parser.
pub fn kind_of(raw: &str) -> Result<(String, String), EventError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "kebab-case")]
    struct Kind {
        source: String,
        detail_type: String,
    }
    let kind: Kind = serde_json::from_str(raw).map_err(|e| EventError::Malformed(e.to_string()))?;
    Ok((kind.source, kind.detail_type))
}

/// Parses an EventBridge event whose detail is `T`, checking source and detail-type.
pub fn parse_envelope<T>(raw: &str, source: &str, detail_type: &str) -> Result<(Envelope, T), EventError>
where
    T: Serialize + serde::de::DeserializeOwned,
{
    // The kind first: another kind of event (a scan, a replication) is named as such, not
    // reported as a malformed one because its detail has other fields.
    if let Ok((event_source, event_detail_type)) = kind_of(raw)
        && (event_source != source || event_detail_type != detail_type)
    {
        return Err(EventError::WrongKind {
            event_source,
            detail_type: event_detail_type,
            expected: format!("source {source:?} with detail-type {detail_type:?}"),
        });
    }
    let event: EventBridgeEvent<T> = serde_json::from_str(raw).map_err(|e| EventError::Malformed(e.to_string()))?;
    if event.source != source || event.detail_type != detail_type {
        return Err(EventError::WrongKind {
            event_source: event.source,
            detail_type: event.detail_type,
            expected: format!("source {source:?} with detail-type {detail_type:?}"),
        });
    }
    let id = event.id.filter(|s| !s.is_empty()).ok_or(EventError::Missing("id"))?;
    let account = AccountId::parse(event.account.as_deref().ok_or(EventError::Missing("account"))?)?;
    let region = Region::parse(event.region.as_deref().ok_or(EventError::Missing("region"))?)?;
    let time = event.time.ok_or(EventError::Missing("time"))?;
    Ok((Envelope { id, account, region, time }, event.detail))
}

pub const ECR_SOURCE: &str = "aws.ecr";
pub const ECR_DETAIL_TYPE: &str = "ECR Image Action";

/// The detail of an "ECR Image Action" event, exactly as AWS documents it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct EcrImageActionDetail {
    pub action_type: String,
    pub result: String,
    pub repository_name: String,
    #[serde(default)]
    pub image_digest: Option<String>,
    #[serde(default)]
    pub image_tag: Option<String>,
    #[serde(default)]
    pub manifest_media_type: Option<String>,
    #[serde(default)]
    pub artifact_media_type: Option<String>,
}

/// A successful image push, the only ECR action that deploys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushEvent {
    pub envelope: Envelope,
    pub repository: RepositoryName,
    pub digest: Digest,
    /// Absent when an image is pushed by digest only.
    pub tag: Option<ImageTag>,
    /// What was pushed, from the event's media types.
    pub manifest: ManifestKind,
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
    Artifact { media_type: String },
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
    /// image manifest under the tag `sha256-<64 hex>.sig` (`.att`, `.sbom`): the tag says it.
    pub fn classify(manifest_media_type: Option<&str>, artifact_media_type: Option<&str>, tag: Option<&str>) -> Self {
        if let Some(t) = tag
            && let Some((digest, suffix)) = t.split_once('.')
            && matches!(suffix, "sig" | "att" | "sbom")
            && digest.strip_prefix("sha256-").is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Self::Artifact { media_type: format!("cosign .{suffix} (tag {t})") };
        }
        let manifest = manifest_media_type.filter(|m| !m.is_empty());
        let artifact = artifact_media_type.filter(|a| !a.is_empty());
        match (manifest, artifact) {
            (None, None) => Self::Unknown,
            (Some(m), _) if INDEX_TYPES.contains(&m) => Self::Index,
            (Some(m), None) if MANIFEST_TYPES.contains(&m) => Self::Image,
            (Some(m), Some(a)) if MANIFEST_TYPES.contains(&m) && IMAGE_CONFIG_TYPES.contains(&a) => Self::Image,
            (_, Some(a)) if !IMAGE_CONFIG_TYPES.contains(&a) => Self::Artifact { media_type: a.to_owned() },
            (Some(m), _) => Self::Artifact { media_type: m.to_owned() },
            (None, Some(a)) => Self::Artifact { media_type: a.to_owned() },
        }
    }
}

/// What an ECR event means for rollgate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EcrAction {
    Push(PushEvent),
    /// A well-formed event that deploys nothing (a DELETE, a failed push...).
    Ignored {
        envelope: Envelope,
        reason: String,
    },
}

/// Parses and validates an "ECR Image Action" event.
pub fn parse_ecr_event(raw: &str) -> Result<EcrAction, EventError> {
    let (envelope, detail) = parse_envelope::<EcrImageActionDetail>(raw, ECR_SOURCE, ECR_DETAIL_TYPE)?;
    if detail.action_type != "PUSH" || detail.result != "SUCCESS" {
        let reason =
            format!("action-type {} with result {}: only successful pushes deploy", detail.action_type, detail.result);
        return Ok(EcrAction::Ignored { envelope, reason });
    }
    let repository = RepositoryName::parse(&detail.repository_name)?;
    let digest = Digest::parse(detail.image_digest.as_deref().ok_or(EventError::Missing("detail.image-digest"))?)?;
    let tag = detail.image_tag.as_deref().filter(|t| !t.is_empty()).map(ImageTag::parse).transpose()?;
    let manifest = ManifestKind::classify(
        detail.manifest_media_type.as_deref(),
        detail.artifact_media_type.as_deref(),
        tag.as_ref().map(ImageTag::as_str),
    );
    if let ManifestKind::Artifact { media_type } = &manifest {
        let reason = format!("an artifact ({media_type}), not a container image: only releases deploy");
        return Ok(EcrAction::Ignored { envelope, reason });
    }
    Ok(EcrAction::Push(PushEvent { envelope, repository, digest, tag, manifest }))
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
            ("aws-ecr-delete-documented.json", "ignored only successful pushes deploy"),
            // Not ECR Image Actions, named as such: the template does not route them to deploy
            // (yet: #14). (AWS's pull-through sample is also dated 2023-02-29.)
            ("aws-ecr-pull-through-cache.json", "error unexpected event"),
            ("aws-ecr-replication.json", "error unexpected event"),
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
            ("/detail/image-tag", "-bad".into()),
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
