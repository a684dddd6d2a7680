//! Container image identifiers: repository names, tags, digests and image references.

use serde::{Deserialize, Serialize};

use crate::arn::string_newtype;
use crate::{AccountId, InputError, Region};

string_newtype!(
    /// A content digest such as `sha256:<64 hex>`. Images are pinned by digest, never by tag.
    Digest
);

impl Digest {
    /// Parses `sha256:<64 hex>` or `sha512:<128 hex>`, lowercase hex only. Errors: another
    /// algorithm, a wrong length, or uppercase or non-hex digits.
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
    /// A tag an image in ECR can carry: ECR's API takes 1-300 characters (`ImageTag` in its
    /// model) of letters, digits, `_`, `.` and `-`, in any order, so a push event can name
    /// `-rc1` or `.hidden` even though `docker` itself would not make them
    /// ([`ImageTag::parse_for_docker`]).
    pub fn parse(s: &str) -> Result<Self, InputError> {
        let ok = s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if ok && (1..=300).contains(&s.len()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InputError::new("image tag", s, "an ECR image tag is 1-300 characters of [A-Za-z0-9_.-]"))
        }
    }

    /// A tag `docker build -t` and the OCI distribution spec accept: 1-128 characters of
    /// `[A-Za-z0-9_.-]`, not starting with `.` or `-`. For tags rollgate makes itself.
    pub fn parse_for_docker(s: &str) -> Result<Self, InputError> {
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
    /// Parses an ECR repository name: 2-256 characters, `/`-separated components of lowercase
    /// letters and digits joined by single `.`, `_` or `-` (ECR's `repositoryName` pattern,
    /// <https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepository.html>).
    /// Errors: anything else.
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

/// The account and region of an ECR private registry host, in any of ECR's endpoint forms:
/// `<account>.dkr.ecr.<region>.amazonaws.com` (`.com.cn` in China), the FIPS
/// `<account>.dkr.ecr-fips.<region>.amazonaws.com` and the dual-stack
/// `<account>.dkr-ecr[-fips].<region>.on.aws`
/// ([ECR endpoints](https://docs.aws.amazon.com/general/latest/gr/ecr.html)). `None` for
/// anything else.
pub fn ecr_registry(host: &str) -> Option<(AccountId, Region)> {
    // HTTPS's own port changes nothing.
    let host = host.strip_suffix(":443").unwrap_or(host);
    let (account, rest) = host.split_once('.')?;
    let rest = ["dkr.ecr.", "dkr.ecr-fips.", "dkr-ecr.", "dkr-ecr-fips."].iter().find_map(|p| rest.strip_prefix(p))?;
    let (region, domain) = rest.split_once('.')?;
    if !matches!(domain, "amazonaws.com" | "amazonaws.com.cn" | "on.aws") {
        return None;
    }
    Some((AccountId::parse(account).ok()?, Region::parse(region).ok()?))
}

/// A parsed image reference: `[registry/]repository[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRef {
    /// The registry host, e.g. `123456789012.dkr.ecr.us-east-1.amazonaws.com` or `localhost:5000`:
    /// the first segment, when it has a `.` or `:` or is `localhost` (Docker's rule); else `None`.
    pub registry: Option<String>,
    /// The repository path after the registry, as written (Docker Hub's `library/` is not added),
    /// e.g. `models/sentiment`.
    pub repository: String,
    /// The tag after the last `:` of the last path segment, not validated; `None` when absent.
    pub tag: Option<String>,
    /// Everything after `@`, e.g. `sha256:<64 hex>`, not validated; `None` when absent.
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

    /// Whether this image is stored in `repository` of the ECR registry of `account` in
    /// `region`, whichever endpoint form names it ([`ecr_registry`]).
    pub fn is_in(&self, account: &AccountId, region: &Region, repository: &RepositoryName) -> bool {
        self.repository == repository.as_str()
            && self.registry.as_deref().and_then(ecr_registry).is_some_and(|(a, r)| &a == account && &r == region)
    }
}

/// An OCI platform (`os`/`architecture`, with `variant` when given), as image indexes and
/// image configs state it ([OCI image index](https://github.com/opencontainers/image-spec/blob/main/image-index.md),
/// [image config](https://github.com/opencontainers/image-spec/blob/main/config.md)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Platform {
    /// The OS, lowercase: `linux`, `windows`.
    pub os: String,
    /// The architecture, normalised as containerd does: `amd64`, `arm64`, `arm`, ...
    pub architecture: String,
    /// The CPU variant when stated, e.g. `v8` for arm64; never compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Windows only: the OS build (`10.0.17763` for Server 2019), which must match the host's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        if let Some(v) = &self.os_version {
            write!(f, " {v}")?;
        }
        Ok(())
    }
}

impl Platform {
    /// The platform an ECS task needs, from its task definition's `runtimePlatform`
    /// (`cpuArchitecture` X86_64 | ARM64, `operatingSystemFamily` LINUX | WINDOWS_SERVER_*;
    /// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RuntimePlatform.html).
    /// Unset fields take ECS's documented defaults (`operatingSystemFamily` LINUX; X86_64
    /// "upon the initiation of a task hosted on Fargate") only for a Fargate-only task
    /// definition (`fargate_only`): on EC2, or a definition that also allows EC2, the host
    /// decides the architecture, and the result is `None` (no check). An unknown value is
    /// `None` too.
    pub fn of_task(cpu_architecture: Option<&str>, os_family: Option<&str>, fargate_only: bool) -> Option<Self> {
        if cpu_architecture.is_none() && !fargate_only {
            return None;
        }
        let architecture = match cpu_architecture.unwrap_or("X86_64") {
            "X86_64" => "amd64",
            "ARM64" => "arm64",
            _ => return None,
        };
        let family = os_family.unwrap_or("LINUX");
        let (os, os_version) = match family {
            "LINUX" => ("linux", None),
            w if w.starts_with("WINDOWS_SERVER_") => ("windows", windows_build(w)),
            _ => return None,
        };
        Some(Self {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant: None,
            os_version: os_version.map(str::to_owned),
        })
    }

    /// Whether an image for `self` runs where `task` is needed: same OS and architecture
    /// (variants, such as arm64's v8, are not compared: ECS's two architectures have one each);
    /// on Windows also the same OS build when both state it (process isolation needs it).
    pub fn runs_on(&self, task: &Platform) -> bool {
        let build = |v: &str| v.splitn(4, '.').take(3).collect::<Vec<_>>().join(".");
        self.os == task.os
            && self.architecture == task.architecture
            && match (&self.os_version, &task.os_version) {
                (Some(image), Some(task)) => build(image) == build(task),
                _ => true,
            }
    }

    fn from_json(v: &serde_json::Value) -> Option<Self> {
        let text = |k: &str| v.get(k).and_then(serde_json::Value::as_str).filter(|s| !s.is_empty());
        Some(Self {
            os: text("os")?.to_ascii_lowercase(),
            architecture: normalize_architecture(text("architecture")?),
            variant: text("variant").map(str::to_owned),
            os_version: text("os.version").map(str::to_owned),
        })
    }
}

/// containerd's architecture aliases (`platforms.Normalize`): `x86_64`/`x86-64` are amd64,
/// `aarch64` is arm64, `armhf`/`armel` are arm.
fn normalize_architecture(architecture: &str) -> String {
    match architecture.to_ascii_lowercase().as_str() {
        "x86_64" | "x86-64" => "amd64".to_owned(),
        "aarch64" => "arm64".to_owned(),
        "armhf" | "armel" => "arm".to_owned(),
        other => other.to_owned(),
    }
}

/// The Windows build an ECS `operatingSystemFamily` runs
/// (https://learn.microsoft.com/en-us/virtualization/windowscontainers/deploy-containers/version-compatibility).
fn windows_build(family: &str) -> Option<&'static str> {
    Some(match family.strip_prefix("WINDOWS_SERVER_")?.split('_').next()? {
        "2016" => "10.0.14393",
        "2019" => "10.0.17763",
        "2022" => "10.0.20348",
        "2025" => "10.0.26100",
        "2004" => "10.0.19041",
        "20H2" => "10.0.19042",
        _ => return None,
    })
}

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
            assert!(ImageTag::parse_for_docker(ok).is_ok(), "{ok}");
            assert!(ImageTag::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-v1", ".v1", "v 1", "v1/2", &"a".repeat(129)] {
            assert!(ImageTag::parse_for_docker(bad).is_err(), "{bad}");
        }
        // What ECR's API accepts: a push event may carry it.
        for ecr_only in ["-v1", ".hidden", &"a".repeat(300)] {
            assert!(ImageTag::parse(ecr_only).is_ok(), "{ecr_only}");
        }
        for bad in ["", "v 1", "v1/2", "v1:2", &"a".repeat(301)] {
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
        assert!(ImageRef::parse(&pinned).is_in(&account, &region, &repo));
        for other in [
            format!("123456789012.dkr.ecr-fips.eu-west-1.amazonaws.com/model@{D}"),
            "123456789012.dkr-ecr.eu-west-1.on.aws/model:v1".to_owned(),
            "123456789012.dkr-ecr-fips.eu-west-1.on.aws/model".to_owned(),
        ] {
            assert!(ImageRef::parse(&other).is_in(&account, &region, &repo), "{other}: another endpoint form");
        }
        for not in [
            format!("210987654321.dkr.ecr.eu-west-1.amazonaws.com/model@{D}"),
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/model".to_owned(),
            "123456789012.dkr.ecr.eu-west-1.example.com/model".to_owned(),
            "public.ecr.aws/x/model".to_owned(),
            "model".to_owned(),
        ] {
            assert!(!ImageRef::parse(&not).is_in(&account, &region, &repo), "{not}");
        }
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
        let manifest = Manifest::parse(json, None).unwrap();
        let shown: Vec<String> = manifest.platforms().unwrap().iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["linux/amd64", "linux/arm64"]);
        let Manifest::Index { children, .. } = &manifest else { panic!("an index") };
        assert_eq!(children.len(), 4);
        assert_eq!(manifest.not_runnable(), None);
    }

    /// What can never run is named as such, whatever the task: a referrer (a `subject`), an
    /// artifact, an index of attestations only or of nothing (the OCI referrers tag schema),
    /// an image whose config says unknown/unknown. What is not stated is not checked.
    #[test]
    fn manifests_that_never_run_are_named_and_unknown_platforms_are_not_checked() {
        let image = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000001","size":2},"layers":[]}"#;
        assert!(matches!(Manifest::parse(image, None).unwrap(), Manifest::Image { .. }));
        let signature =
            image.replace("\"config\"", "\"artifactType\":\"application/vnd.cncf.notary.signature\",\"config\"");
        let with_subject = image.replace(
            "\"layers\":[]",
            &format!("\"layers\":[],\"subject\":{{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"{D}\",\"size\":1}}"),
        );
        let attestations_only = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{D}","size":1,"annotations":{{"vnd.docker.reference.type":"attestation-manifest"}},"platform":{{"architecture":"unknown","os":"unknown"}}}}]}}"#
        );
        let empty = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        let signatures_only = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.cncf.notary.signature","digest":"{D}","size":1}}]}}"#
        );
        for (what, json) in [
            ("signature", signature.as_str()),
            ("referrer", &with_subject),
            ("attestations only", &attestations_only),
            ("empty index", empty),
            ("an index of signatures only", &signatures_only),
        ] {
            let m = Manifest::parse(json, None).unwrap();
            assert!(m.not_runnable().is_some(), "{what}: {m:?}");
            assert_eq!(m.platforms(), Some(vec![]), "{what}");
        }
        let attestation_config = Manifest::Image {
            config: Digest::parse(D).unwrap(),
            platform: ConfigPlatform::of_config(br#"{"architecture":"unknown","os":"unknown"}"#),
        };
        assert!(attestation_config.not_runnable().is_some());
        // Not stated: not checked.
        let no_platform_entry = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{D}","size":1}}]}}"#
        );
        assert_eq!(Manifest::parse(&no_platform_entry, None).unwrap().platforms(), None, "a nested index");
        // An SBOM descriptor next to an arm64 image does not hide the image's platform.
        let with_sbom = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{D}","size":1,"platform":{{"architecture":"arm64","os":"linux"}}}},{{"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/spdx+json","digest":"{D}","size":1}}]}}"#
        );
        let platforms = Manifest::parse(&with_sbom, None).unwrap().platforms().unwrap();
        assert_eq!(platforms.iter().map(ToString::to_string).collect::<Vec<_>>(), ["linux/arm64"]);
        assert_eq!(ConfigPlatform::of_config(br#"{"rootfs":{}}"#), ConfigPlatform::NotRead);
        assert!(Manifest::parse("not json", None).is_err());
        // containerd's aliases.
        let ConfigPlatform::Stated(p) = ConfigPlatform::of_config(br#"{"architecture":"x86_64","os":"Linux"}"#) else {
            panic!()
        };
        assert_eq!(p.to_string(), "linux/amd64");
        let ConfigPlatform::Stated(p) =
            ConfigPlatform::of_config(br#"{"architecture":"arm64","os":"linux","variant":"v8"}"#)
        else {
            panic!()
        };
        assert_eq!(p.to_string(), "linux/arm64/v8");
    }

    #[test]
    fn a_tasks_platform_comes_from_runtime_platform_or_fargates_defaults() {
        let p = |c: Option<&str>, o: Option<&str>, fargate_only: bool| {
            Platform::of_task(c, o, fargate_only).map(|p| p.to_string())
        };
        assert_eq!(p(Some("ARM64"), Some("LINUX"), false).as_deref(), Some("linux/arm64"));
        assert_eq!(p(None, None, true).as_deref(), Some("linux/amd64"), "Fargate's documented default");
        assert_eq!(p(None, None, false), None, "EC2 (or EC2 and Fargate) without runtimePlatform: the host decides");
        assert_eq!(p(None, Some("LINUX"), false), None, "only the OS family: the host decides the architecture");
        assert_eq!(
            p(Some("X86_64"), Some("WINDOWS_SERVER_2022_CORE"), false).as_deref(),
            Some("windows/amd64 10.0.20348")
        );
        assert_eq!(p(Some("RISCV"), None, true), None);
        let arm =
            Platform { os: "linux".into(), architecture: "arm64".into(), variant: Some("v8".into()), os_version: None };
        assert!(arm.runs_on(&Platform::of_task(Some("ARM64"), None, true).unwrap()));
        assert!(!arm.runs_on(&Platform::of_task(None, None, true).unwrap()));
        // Windows: the build must match (process isolation).
        let win = |v: &str| Platform {
            os: "windows".into(),
            architecture: "amd64".into(),
            variant: None,
            os_version: Some(v.into()),
        };
        let server_2019 = Platform::of_task(Some("X86_64"), Some("WINDOWS_SERVER_2019_CORE"), false).unwrap();
        assert!(win("10.0.17763.6532").runs_on(&server_2019));
        assert!(!win("10.0.20348.2849").runs_on(&server_2019));
    }
}
