//! Container image identifiers: repository names, tags, digests and image references.

use serde::{Deserialize, Serialize};

use crate::arn::string_newtype;
use crate::{AccountId, InputError, Region};

mod manifest;
mod platform;

pub use manifest::{ConfigPlatform, Manifest};
pub use platform::Platform;

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

#[cfg(test)]
mod tests;
