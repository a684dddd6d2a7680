//! Manifests as BatchGetImage returns them: an image, an image index, or an artifact.

use super::Digest;
use super::platform::Platform;
use crate::InputError;

/// A manifest as BatchGetImage returns it, reduced to what deploy checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    /// An image index: the platforms of its images (`None` when an image entry states none,
    /// so not checked) and every manifest it lists. Attestation manifests (marked
    /// `vnd.docker.reference.type: attestation-manifest`, or with platform `unknown/unknown`)
    /// are not platforms.
    Index {
        /// The platforms of the image entries; `None` when one of them states none.
        platforms: Option<Vec<Platform>>,
        /// The digest of every entry, attestations and artifacts included, in index order.
        children: Vec<Digest>,
    },
    /// A single image: its config blob's digest, and what that blob says (filled in by
    /// whoever fetched the blob; [`ConfigPlatform::NotRead`] from [`Manifest::parse`]).
    Image {
        /// The digest of the image's config blob (`config.digest`).
        config: Digest,
        /// What the config blob says about the platform.
        platform: ConfigPlatform,
    },
    /// Not a runnable image: an artifact, or a referrer (a manifest with a `subject`).
    Other {
        /// The artifact's type (`artifactType`, else the config's or the manifest's media
        /// type); for a referrer, `<type>, a referrer of <subject digest>`.
        media_type: String,
    },
}

/// Image manifests and indexes, OCI and Docker: what an index entry a runtime can pick is.
const MANIFEST_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

const IMAGE_CONFIGS: [&str; 2] =
    ["application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"];

impl Manifest {
    /// Parses a manifest's JSON. `media_type` is ECR's `imageManifestMediaType`, used when
    /// the manifest omits `mediaType`. Errors: not JSON, or a listed digest is malformed.
    pub fn parse(json: &str, media_type: Option<&str>) -> Result<Self, InputError> {
        let bad = |why: String| InputError::new("image manifest", json.chars().take(80).collect::<String>(), why);
        let v: serde_json::Value = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
        fn text<'a>(v: &'a serde_json::Value, pointer: &str) -> Option<&'a str> {
            v.pointer(pointer).and_then(serde_json::Value::as_str)
        }
        let media = text(&v, "/mediaType").or(media_type).unwrap_or_default();
        // OCI 1.1: a manifest with a subject is a referrer (a signature, SBOM, attestation).
        if let Some(subject) = text(&v, "/subject/digest") {
            let kind = text(&v, "/artifactType").or(text(&v, "/config/mediaType")).unwrap_or(media);
            return Ok(Self::Other { media_type: format!("{kind}, a referrer of {subject}") });
        }
        if let Some(entries) = v.get("manifests") {
            let mut platforms = Some(Vec::new());
            let mut children = Vec::new();
            for m in entries.as_array().into_iter().flatten() {
                children.push(Digest::parse(text(m, "/digest").unwrap_or_default()).map_err(|e| bad(e.why))?);
                let attestation = text(m, "/annotations/vnd.docker.reference.type") == Some("attestation-manifest");
                // An entry for an artifact (OCI 1.1 `artifactType`, or a media type that is no
                // image manifest or index) is no platform a runtime would pick.
                let image_entry = text(m, "/artifactType").is_none()
                    && text(m, "/mediaType").is_none_or(|t| MANIFEST_MEDIA_TYPES.contains(&t));
                let platform = m.get("platform").and_then(Platform::from_json);
                match platform {
                    _ if attestation || !image_entry => {}
                    Some(p) if p.os == "unknown" || p.architecture == "unknown" => {}
                    Some(p) => {
                        if let Some(list) = &mut platforms {
                            list.push(p);
                        }
                    }
                    None => platforms = None,
                }
            }
            return Ok(Self::Index { platforms, children });
        }
        let config_type = text(&v, "/config/mediaType").unwrap_or_default();
        match (text(&v, "/artifactType"), text(&v, "/config/digest")) {
            (None, Some(config)) if IMAGE_CONFIGS.contains(&config_type) => Ok(Self::Image {
                config: Digest::parse(config).map_err(|e| bad(e.why))?,
                platform: ConfigPlatform::NotRead,
            }),
            (artifact, _) => Ok(Self::Other {
                media_type: artifact.unwrap_or(if config_type.is_empty() { media } else { config_type }).to_owned(),
            }),
        }
    }

    /// The platforms the manifest runs on: an index's, or a single image's; `None` when not
    /// known (not stated, or a config that was not read), so not checked.
    pub fn platforms(&self) -> Option<Vec<Platform>> {
        match self {
            Self::Index { platforms, .. } => platforms.clone(),
            Self::Image { platform: ConfigPlatform::Stated(p), .. } => Some(vec![p.clone()]),
            Self::Image { platform: ConfigPlatform::NotRead, .. } => None,
            Self::Image { platform: ConfigPlatform::NotRunnable, .. } | Self::Other { .. } => Some(Vec::new()),
        }
    }

    /// Why this manifest can never run, whatever the task: an artifact or referrer, an index
    /// with no image (only attestations or referrers, or empty: the OCI referrers tag schema
    /// stores such indexes under `sha256-<hex>` tags), an image whose config says `unknown`.
    pub fn not_runnable(&self) -> Option<String> {
        match self {
            Self::Other { media_type } => Some(format!("not a container image ({media_type}): only releases deploy")),
            Self::Index { platforms: Some(p), .. } if p.is_empty() => Some(
                "an image index with no runnable image (only attestations or referrers, or none): only releases deploy"
                    .to_owned(),
            ),
            Self::Image { platform: ConfigPlatform::NotRunnable, .. } => Some(
                "an image whose config names no platform (unknown/unknown: a build attestation): only releases deploy"
                    .to_owned(),
            ),
            _ => None,
        }
    }
}

/// What a single image's config blob says about its platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigPlatform {
    /// Not known: the blob was not read (too large, not available), or states no `os` /
    /// `architecture`. Not checked.
    NotRead,
    /// `os`/`architecture` (normalised as containerd does) as stated.
    Stated(Platform),
    /// The blob says `unknown` (BuildKit's attestations): never runnable.
    NotRunnable,
}

impl ConfigPlatform {
    /// From a config blob's bytes.
    pub fn of_config(config: &[u8]) -> Self {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(config) else {
            return Self::NotRead;
        };
        match Platform::from_json(&v) {
            Some(p) if p.os == "unknown" || p.architecture == "unknown" => Self::NotRunnable,
            Some(p) => Self::Stated(p),
            None => Self::NotRead,
        }
    }
}
