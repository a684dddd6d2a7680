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
}
