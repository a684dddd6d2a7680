//! Container image identifiers: repository names, tags, digests and image references.

use serde::{Deserialize, Serialize};

use crate::arn::string_newtype;
use crate::{AccountId, InputError, Region};

string_newtype!(
    /// A content digest such as `sha256:<64 hex>`. Images are pinned by digest, never by tag.
    Digest
);

impl Digest {
    pub fn parse(s: &str) -> Result<Self, InputError> {
        let bad = |why: &str| InputError::new("image digest", s, why.to_owned());
        let (alg, hex) = s.split_once(':').ok_or_else(|| bad("expected <algorithm>:<hex>"))?;
        let want = match alg {
            "sha256" => 64,
            "sha512" => 128,
            _ => return Err(bad("algorithm must be sha256 or sha512")),
        };
        if hex.len() != want || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad(&format!("expected {want} lowercase hex digits after '{alg}:'")));
        }
        Ok(Self(s.to_owned()))
    }

    /// The first 12 hex digits, as `docker images` shows them.
    pub fn short(&self) -> &str {
        let hex = self.0.split_once(':').map(|(_, h)| h).unwrap_or(&self.0);
        &hex[..hex.len().min(12)]
    }
}

string_newtype!(
    /// An image tag, following the OCI distribution rules.
    ImageTag
);

impl ImageTag {
    pub fn parse(s: &str) -> Result<Self, InputError> {
        let mut bytes = s.bytes();
        let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
        let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if first_ok && rest_ok && s.len() <= 128 {
            Ok(Self(s.to_owned()))
        } else {
            Err(InputError::new(
                "image tag",
                s,
                "a tag is 1-128 characters of [A-Za-z0-9_.-] and cannot start with '.' or '-'",
            ))
        }
    }
}

string_newtype!(
    /// An ECR repository name, e.g. `models/sentiment`.
    RepositoryName
);

impl RepositoryName {
    pub fn parse(s: &str) -> Result<Self, InputError> {
        // ECR: (?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*, 2 to 256 characters.
        let component_ok = |c: &str| {
            let mut prev_sep = true;
            for b in c.bytes() {
                let sep = matches!(b, b'.' | b'_' | b'-');
                if !(sep || b.is_ascii_lowercase() || b.is_ascii_digit()) || (sep && prev_sep) {
                    return false;
                }
                prev_sep = sep;
            }
            !prev_sep
        };
        if (2..=256).contains(&s.len()) && s.split('/').all(component_ok) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InputError::new(
                "repository name",
                s,
                "ECR names are 2-256 lowercase letters, digits and ._-/ separators",
            ))
        }
    }
}

/// The registry host of an account's private ECR registry in a region.
pub fn registry_host(account: &AccountId, region: &Region) -> String {
    format!("{account}.dkr.ecr.{region}.{}", region.partition().domain())
}

/// A parsed image reference: `[registry/]repository[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRef {
    pub registry: Option<String>,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses an image string as it appears in a container definition. Lenient: it never
    /// fails, because it only describes images that already exist in a task definition.
    pub fn parse(image: &str) -> Self {
        let (name, digest) = match image.split_once('@') {
            Some((n, d)) => (n, Some(d.to_owned())),
            None => (image, None),
        };
        // A ':' after the last '/' separates the tag; one before it is a registry port.
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name[last_slash..].rfind(':') {
            Some(i) => (&name[..last_slash + i], Some(name[last_slash + i + 1..].to_owned())),
            None => (name, None),
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest)) if first.contains('.') || first.contains(':') || first == "localhost" => {
                (Some(first.to_owned()), rest.to_owned())
            }
            _ => (None, name.to_owned()),
        };
        Self { registry, repository, tag, digest }
    }

    /// The digest-pinned reference rollgate deploys: `<registry>/<repo>@<digest>`.
    pub fn pinned(registry: &str, repository: &RepositoryName, digest: &Digest) -> String {
        format!("{registry}/{repository}@{digest}")
    }

    /// Whether this image is stored in `repository` of `registry`.
    pub fn is_from(&self, registry: &str, repository: &RepositoryName) -> bool {
        self.registry.as_deref() == Some(registry) && self.repository == repository.as_str()
    }
}

/// An OCI platform (`os`/`architecture`, with `variant` when given), as image indexes and
/// image configs state it ([OCI image index](https://github.com/opencontainers/image-spec/blob/main/image-index.md),
/// [image config](https://github.com/opencontainers/image-spec/blob/main/config.md)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl Platform {
    /// The platform an ECS task needs, from its task definition's `runtimePlatform`
    /// (`cpuArchitecture` X86_64 | ARM64, `operatingSystemFamily` LINUX | WINDOWS_SERVER_*;
    /// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RuntimePlatform.html).
    /// Unset fields take ECS's documented defaults (LINUX, and X86_64 on Fargate) only when
    /// the task requires Fargate; on EC2 without `runtimePlatform` the host decides, and the
    /// result is `None` (no check). An unknown value is `None` too.
    pub fn of_task(cpu_architecture: Option<&str>, os_family: Option<&str>, fargate: bool) -> Option<Self> {
        if cpu_architecture.is_none() && os_family.is_none() && !fargate {
            return None;
        }
        let architecture = match cpu_architecture.unwrap_or("X86_64") {
            "X86_64" => "amd64",
            "ARM64" => "arm64",
            _ => return None,
        };
        let os = match os_family.unwrap_or("LINUX") {
            "LINUX" => "linux",
            w if w.starts_with("WINDOWS_SERVER") => "windows",
            _ => return None,
        };
        Some(Self { os: os.to_owned(), architecture: architecture.to_owned(), variant: None })
    }

    /// Whether an image for `self` runs where `task` is needed: same OS and architecture
    /// (variants, such as arm64's v8, are not compared: ECS's two architectures have one each).
    pub fn runs_on(&self, task: &Platform) -> bool {
        self.os == task.os && self.architecture == task.architecture
    }

    fn from_json(v: &serde_json::Value) -> Option<Self> {
        let text = |k: &str| v.get(k).and_then(serde_json::Value::as_str).filter(|s| !s.is_empty());
        Some(Self {
            os: text("os")?.to_owned(),
            architecture: text("architecture")?.to_owned(),
            variant: text("variant").map(str::to_owned),
        })
    }

    /// From an image config blob (`os`, `architecture`, `variant` at the top level).
    /// `None` when the blob does not say, or says `unknown` (an attestation's config).
    pub fn of_config(config: &[u8]) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_slice(config).ok()?;
        Self::from_json(&v).filter(|p| p.os != "unknown" && p.architecture != "unknown")
    }
}

/// A manifest as BatchGetImage returns it, reduced to what deploy checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    /// An image index: the platforms of its images (attestation manifests, marked
    /// `vnd.docker.reference.type: attestation-manifest` or with platform `unknown/unknown`,
    /// are not platforms) and every manifest it lists.
    Index { platforms: Vec<Platform>, children: Vec<Digest> },
    /// A single image: its config blob's digest, and what that blob says (filled in by
    /// whoever fetched the blob; [`ConfigPlatform::NotRead`] from [`Manifest::parse`]).
    Image { config: Digest, platform: ConfigPlatform },
    /// Anything else (an artifact's manifest).
    Other { media_type: String },
}

impl Manifest {
    /// Parses a manifest's JSON. `media_type` is ECR's `imageManifestMediaType`, used when
    /// the manifest omits `mediaType`. Errors: not JSON, or a listed digest is malformed.
    pub fn parse(json: &str, media_type: Option<&str>) -> Result<Self, InputError> {
        let bad = |why: String| InputError::new("image manifest", json.chars().take(80).collect::<String>(), why);
        let v: serde_json::Value = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
        let media = v.get("mediaType").and_then(serde_json::Value::as_str).or(media_type).unwrap_or_default();
        let text = |v: &serde_json::Value, k: &str| v.get(k).and_then(serde_json::Value::as_str).map(str::to_owned);
        if v.get("manifests").is_some() {
            let mut platforms = Vec::new();
            let mut children = Vec::new();
            for m in v["manifests"].as_array().into_iter().flatten() {
                children.push(Digest::parse(&text(m, "digest").unwrap_or_default()).map_err(|e| bad(e.why))?);
                let attestation = m
                    .pointer("/annotations/vnd.docker.reference.type")
                    .and_then(serde_json::Value::as_str)
                    .is_some_and(|t| t == "attestation-manifest");
                if let Some(p) = m.get("platform").and_then(Platform::from_json)
                    && !attestation
                    && p.os != "unknown"
                    && p.architecture != "unknown"
                {
                    platforms.push(p);
                }
            }
            return Ok(Self::Index { platforms, children });
        }
        let config_type = v.pointer("/config/mediaType").and_then(serde_json::Value::as_str).unwrap_or_default();
        let artifact = v.get("artifactType").and_then(serde_json::Value::as_str);
        const IMAGE_CONFIGS: [&str; 2] =
            ["application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"];
        match (artifact, v.pointer("/config/digest").and_then(serde_json::Value::as_str)) {
            (None, Some(config)) if IMAGE_CONFIGS.contains(&config_type) => Ok(Self::Image {
                config: Digest::parse(config).map_err(|e| bad(e.why))?,
                platform: ConfigPlatform::NotRead,
            }),
            _ => Ok(Self::Other {
                media_type: artifact.unwrap_or(if config_type.is_empty() { media } else { config_type }).to_owned(),
            }),
        }
    }

    /// The platforms the manifest runs on: an index's, or a single image's; `None` when not
    /// known (a single image whose config was not read), so not checked. An artifact, or an
    /// image whose config states no platform (an attestation's `unknown/unknown`), runs on none.
    pub fn platforms(&self) -> Option<Vec<Platform>> {
        match self {
            Self::Index { platforms, .. } => Some(platforms.clone()),
            Self::Image { platform: ConfigPlatform::NotRead, .. } => None,
            Self::Image { platform: ConfigPlatform::Stated(p), .. } => Some(vec![p.clone()]),
            Self::Image { platform: ConfigPlatform::None, .. } | Self::Other { .. } => Some(Vec::new()),
        }
    }
}

/// What a single image's config blob says about its platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigPlatform {
    /// The blob was not read (not fetched, or not available in the registry).
    NotRead,
    /// `os`/`architecture` as stated.
    Stated(Platform),
    /// The blob states none, or `unknown` (BuildKit's attestations).
    None,
}

impl ConfigPlatform {
    /// From a config blob's bytes.
    pub fn of_config(config: &[u8]) -> Self {
        Platform::of_config(config).map_or(Self::None, Self::Stated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn digests() {
        assert_eq!(Digest::parse(D).unwrap().short(), "0123456789ab");
        for bad in ["", "sha256:", "md5:abcd", "sha256:XYZ", &D[..D.len() - 1], &D.to_uppercase()] {
            assert!(Digest::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags() {
        for ok in ["v1", "latest", "release-2024.01_a", "_x"] {
            assert!(ImageTag::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-v1", ".v1", "v 1", "v1/2", &"a".repeat(129)] {
            assert!(ImageTag::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn repository_names() {
        for ok in ["model", "models/sentiment", "a-b_c.d/e"] {
            assert!(RepositoryName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "Model", "a//b", "a-", "-a", "a/", "a..b"] {
            assert!(RepositoryName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn image_refs() {
        let r = ImageRef::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/models/sentiment:v1");
        assert_eq!(r.registry.as_deref(), Some("123456789012.dkr.ecr.us-east-1.amazonaws.com"));
        assert_eq!(r.repository, "models/sentiment");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        let r = ImageRef::parse(&format!("localhost:5000/m@{D}"));
        assert_eq!(r.registry.as_deref(), Some("localhost:5000"));
        assert_eq!((r.tag, r.digest.as_deref()), (None, Some(D)));
        let r = ImageRef::parse("nginx:1.27");
        assert_eq!((r.registry, r.repository.as_str()), (None, "nginx"));
        let r = ImageRef::parse("library/nginx");
        assert_eq!((r.registry, r.repository.as_str()), (None, "library/nginx"));
    }

    #[test]
    fn pinned_reference() {
        let account = AccountId::parse("123456789012").unwrap();
        let region = Region::parse("eu-west-1").unwrap();
        let host = registry_host(&account, &region);
        let repo = RepositoryName::parse("model").unwrap();
        let pinned = ImageRef::pinned(&host, &repo, &Digest::parse(D).unwrap());
        assert_eq!(pinned, format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/model@{D}"));
        assert!(ImageRef::parse(&pinned).is_from(&host, &repo));
    }

    /// The platforms of an image index, from the exact bytes behind events/buildx/05's digest
    /// (events/SOURCES.md): the two images count, their attestations do not.
    #[test]
    fn an_index_lists_its_images_platforms_not_its_attestations() {
        let sources =
            std::fs::read_to_string(format!("{}/../../events/SOURCES.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let json = sources
            .lines()
            .find(|l| l.starts_with("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index"))
            .unwrap();
        let Manifest::Index { platforms, children } = Manifest::parse(json, None).unwrap() else { panic!("an index") };
        let shown: Vec<String> = platforms.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["linux/amd64", "linux/arm64"]);
        assert_eq!(children.len(), 4);
        let config = r#"{"architecture":"arm64","os":"linux","variant":"v8","rootfs":{"type":"layers","diff_ids":[]}}"#;
        assert_eq!(Platform::of_config(config.as_bytes()).unwrap().to_string(), "linux/arm64/v8");
        assert_eq!(Platform::of_config(br#"{"architecture":"unknown","os":"unknown"}"#), None, "an attestation");
        let image = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000001","size":2},"layers":[]}"#;
        assert!(matches!(Manifest::parse(image, None).unwrap(), Manifest::Image { .. }));
        let signature =
            image.replace("\"config\"", "\"artifactType\":\"application/vnd.cncf.notary.signature\",\"config\"");
        assert!(matches!(Manifest::parse(&signature, None).unwrap(), Manifest::Other { .. }));
        assert!(Manifest::parse("not json", None).is_err());
    }

    #[test]
    fn a_tasks_platform_comes_from_runtime_platform_or_fargates_defaults() {
        let p =
            |c: Option<&str>, o: Option<&str>, fargate: bool| Platform::of_task(c, o, fargate).map(|p| p.to_string());
        assert_eq!(p(Some("ARM64"), Some("LINUX"), false).as_deref(), Some("linux/arm64"));
        assert_eq!(p(None, None, true).as_deref(), Some("linux/amd64"), "Fargate's documented default");
        assert_eq!(p(None, None, false), None, "EC2 without runtimePlatform: the host decides");
        assert_eq!(p(Some("X86_64"), Some("WINDOWS_SERVER_2022_CORE"), false).as_deref(), Some("windows/amd64"));
        assert_eq!(p(Some("RISCV"), None, true), None);
        let arm = Platform { os: "linux".into(), architecture: "arm64".into(), variant: Some("v8".into()) };
        assert!(arm.runs_on(&Platform::of_task(Some("ARM64"), None, true).unwrap()));
        assert!(!arm.runs_on(&Platform::of_task(None, None, true).unwrap()));
    }
}
