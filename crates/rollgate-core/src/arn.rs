//! ARNs and the identifiers inside them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::InputError;

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The value as it was parsed, unchanged.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}
pub(crate) use string_newtype;

string_newtype!(
    /// A 12-digit AWS account id.
    AccountId
);
string_newtype!(
    /// An AWS region name such as `us-east-1`.
    Region
);

impl AccountId {
    /// Parses exactly 12 ASCII digits, e.g. `123456789012`. Errors: any other string.
    pub fn parse(s: &str) -> Result<Self, InputError> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InputError::new("account id", s, "must be 12 digits"))
        }
    }
}

impl Region {
    /// Accepts AWS's region-name shape: a 2-4 letter area, one or more words, and a number,
    /// e.g. `us-east-1`, `us-gov-west-1`, `eusc-de-east-1`. `us-east-l` (a typo) is refused.
    pub fn parse(s: &str) -> Result<Self, InputError> {
        let parts: Vec<&str> = s.split('-').collect();
        let letters = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
        let ok = s.len() <= 32
            && parts.len() >= 3
            && (2..=4).contains(&parts[0].len())
            && parts[..parts.len() - 1].iter().all(letters)
            && parts.last().is_some_and(|n| (1..=2).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InputError::new("region", s, "expected a region name such as us-east-1"))
        }
    }

    /// The partition this region belongs to.
    pub fn partition(&self) -> Partition {
        if self.0.starts_with("cn-") {
            Partition::China
        } else if self.0.starts_with("us-gov-") {
            Partition::GovCloud
        } else {
            Partition::Aws
        }
    }
}

/// An AWS partition; it decides ARN prefixes and endpoint domains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partition {
    /// The commercial partition, `aws` (every region not below).
    Aws,
    /// `aws-cn`: the `cn-*` regions.
    China,
    /// `aws-us-gov`: the `us-gov-*` regions.
    GovCloud,
}

impl Partition {
    /// The endpoints' DNS suffix: `amazonaws.com.cn` in China, else `amazonaws.com`.
    pub fn domain(self) -> &'static str {
        match self {
            Partition::China => "amazonaws.com.cn",
            Partition::Aws | Partition::GovCloud => "amazonaws.com",
        }
    }
}

/// A parsed ARN: `arn:<partition>:<service>:<region>:<account>:<resource>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn<'a> {
    /// The partition, e.g. `aws`, `aws-cn`, `aws-us-gov` (not checked against a list).
    pub partition: &'a str,
    /// The service namespace, e.g. `ecs`, `ecr`, `iam`.
    pub service: &'a str,
    /// The region, e.g. `us-east-1`; empty for global resources (IAM, S3 buckets). Not validated.
    pub region: &'a str,
    /// The account id; empty for resources without one (S3 buckets). Not validated.
    pub account: &'a str,
    /// Everything after the fifth `:`, colons included, e.g. `task-definition/<family>:<n>`.
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Splits an ARN into its six fields, as
    /// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html> describes them.
    /// Errors: no `arn:` prefix, or an empty partition, service or resource; region and account
    /// may be empty and are not validated here.
    pub fn parse(s: &'a str) -> Result<Self, InputError> {
        let mut parts = s.splitn(6, ':');
        let mut next = || parts.next().unwrap_or_default();
        let (prefix, partition, service, region, account, resource) = (next(), next(), next(), next(), next(), next());
        if prefix != "arn" || partition.is_empty() || service.is_empty() || resource.is_empty() {
            return Err(InputError::new("ARN", s, "expected arn:<partition>:<service>:<region>:<account>:<resource>"));
        }
        Ok(Self { partition, service, region, account, resource })
    }
}

/// The ARN of an ECS service, as ECS reports it, with the cluster it runs in.
///
/// Two formats exist ([ECS ARN and resource ID format](https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-account-settings.html#ecs-resource-ids)):
/// the long one, `arn:aws:ecs:<region>:<account>:service/<cluster>/<name>` (every service
/// created since the long format became the default), and the short one of older services,
/// `arn:aws:ecs:<region>:<account>:service/<name>`, which does not name the cluster. ECS cannot
/// tag a short-ARN service, so such a service never opts in to rollgate, but it is discovered
/// like any other: [`ServiceArn::in_cluster`] takes the cluster from DescribeServices'
/// `clusterArn`. Serialized as the ARN string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceArn {
    arn: String,
    cluster: String,
}

impl Serialize for ServiceArn {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.arn)
    }
}

impl<'de> Deserialize<'de> for ServiceArn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for ServiceArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

impl AsRef<str> for ServiceArn {
    fn as_ref(&self) -> &str {
        &self.arn
    }
}

impl ServiceArn {
    /// A long-format ARN, which names its cluster. Errors: not an ECS service ARN, or the
    /// short format (use [`ServiceArn::in_cluster`]).
    pub fn parse(s: &str) -> Result<Self, InputError> {
        let (name_part, cluster) = Self::check(s)?;
        match cluster {
            Some(cluster) => Ok(Self { arn: s.to_owned(), cluster: cluster.to_owned() }),
            None => Err(InputError::new(
                "service ARN",
                s,
                format!(
                    "a short-format ARN (service/{name_part}) does not name its cluster; expected service/<cluster>/<name>"
                ),
            )),
        }
    }

    /// An ARN as DescribeServices or ListServices reports it, in either format, for a service
    /// of `cluster` (a cluster name or ARN). A long ARN must name the same cluster.
    pub fn in_cluster(s: &str, cluster: &str) -> Result<Self, InputError> {
        let cluster_name = cluster.rsplit_once(":cluster/").map_or(cluster, |(_, name)| name);
        if cluster_name.is_empty() || cluster_name.contains('/') {
            return Err(InputError::new("cluster", cluster, "expected a cluster name or cluster ARN"));
        }
        match Self::check(s)? {
            (_, Some(named)) if named != cluster_name => Err(InputError::new(
                "service ARN",
                s,
                format!("names cluster {named}, but was reported for cluster {cluster_name}"),
            )),
            _ => Ok(Self { arn: s.to_owned(), cluster: cluster_name.to_owned() }),
        }
    }

    /// Checks an ECS service ARN in either format: (the resource after `service/`, the
    /// cluster when the ARN names one).
    fn check(s: &str) -> Result<(&str, Option<&str>), InputError> {
        let arn = Arn::parse(s)?;
        let bad = |why: &str| InputError::new("service ARN", s, why.to_owned());
        if arn.service != "ecs" {
            return Err(bad("not an ECS ARN"));
        }
        AccountId::parse(arn.account).map_err(|_| bad("account is not 12 digits"))?;
        Region::parse(arn.region).map_err(|_| bad("region is missing"))?;
        let rest = arn.resource.strip_prefix("service/").ok_or_else(|| bad("expected service/<cluster>/<name>"))?;
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            [cluster, name] if !cluster.is_empty() && !name.is_empty() => Ok((rest, Some(cluster))),
            [name] if !name.is_empty() => Ok((rest, None)),
            _ => Err(bad("expected service/<cluster>/<name> (or the short service/<name>)")),
        }
    }

    /// The ARN as ECS reported it, in either format.
    pub fn as_str(&self) -> &str {
        &self.arn
    }

    /// Whether ECS reported the short, pre-2021 format (which cannot be tagged).
    pub fn is_short_format(&self) -> bool {
        !self.resource().contains('/')
    }

    /// Whether `s` is a well-formed service ARN in the short, pre-2021 format
    /// (`service/<name>`): such a service cannot be tagged, so it never opts in.
    pub fn is_short(s: &str) -> bool {
        matches!(Self::check(s), Ok((_, None)))
    }

    fn arn(&self) -> Arn<'_> {
        Arn::parse(&self.arn).unwrap_or(Arn { partition: "", service: "", region: "", account: "", resource: "" })
    }

    /// The account id in the ARN (12 digits, validated when parsed).
    pub fn account(&self) -> AccountId {
        AccountId(self.arn().account.to_owned())
    }

    /// The region in the ARN, e.g. `us-east-1`.
    pub fn region(&self) -> Region {
        Region(self.arn().region.to_owned())
    }

    /// The cluster's name (never its ARN): from the long ARN, or as given to [`ServiceArn::in_cluster`].
    pub fn cluster_name(&self) -> &str {
        &self.cluster
    }

    /// The service's name: the ARN's last `/`-separated segment.
    pub fn name(&self) -> &str {
        let resource = self.resource();
        resource.rsplit_once('/').map_or(resource, |(_, name)| name)
    }

    /// The part after `service/`: `<cluster>/<name>` or `<name>`.
    fn resource(&self) -> &str {
        let resource = self.arn.splitn(6, ':').nth(5).unwrap_or_default();
        resource.strip_prefix("service/").unwrap_or(resource)
    }
}

string_newtype!(
    /// The ARN of one task-definition revision:
    /// `arn:aws:ecs:<region>:<account>:task-definition/<family>:<revision>`.
    TaskDefArn
);

impl TaskDefArn {
    /// Parses `arn:<partition>:ecs:<region>:<account>:task-definition/<family>:<revision>`.
    /// Errors: not an ECS ARN, not a task definition, or a revision that is not a `u32` (a bare
    /// family or `family:latest` is refused). Region and account are not validated.
    pub fn parse(s: &str) -> Result<Self, InputError> {
        let arn = Arn::parse(s)?;
        let bad = |why: &str| InputError::new("task definition ARN", s, why.to_owned());
        if arn.service != "ecs" {
            return Err(bad("not an ECS ARN"));
        }
        let Some(rest) = arn.resource.strip_prefix("task-definition/") else {
            return Err(bad("expected task-definition/<family>:<revision>"));
        };
        match rest.rsplit_once(':') {
            Some((family, rev)) if !family.is_empty() && rev.parse::<u32>().is_ok() => Ok(Self(s.to_owned())),
            _ => Err(bad("expected task-definition/<family>:<revision>")),
        }
    }

    /// `family:revision`, the short form ECS accepts everywhere.
    pub fn revision(&self) -> Revision {
        let tail = self.0.rsplit_once("task-definition/").map(|(_, t)| t).unwrap_or_default();
        let (family, number) = tail.rsplit_once(':').unwrap_or((tail, "0"));
        Revision { family: family.to_owned(), number: number.parse().unwrap_or(0) }
    }

    /// The ARN of revision `number` of the same family, account and region.
    pub fn with_number(&self, number: u32) -> TaskDefArn {
        let family = self.0.rsplit_once(':').map_or(self.0.as_str(), |(family, _)| family);
        TaskDefArn(format!("{family}:{number}"))
    }
}

/// A task-definition family and revision number, displayed as `family:number`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Revision {
    /// The task-definition family, e.g. `model-api`.
    pub family: String,
    /// The revision number within the family, from 1.
    pub number: u32,
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.family, self.number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_arn_parts() {
        let arn = ServiceArn::parse("arn:aws:ecs:eu-west-1:123456789012:service/prod/model-api").unwrap();
        assert_eq!(arn.cluster_name(), "prod");
        assert_eq!(arn.name(), "model-api");
        assert_eq!(arn.account().as_str(), "123456789012");
        assert_eq!(arn.region().as_str(), "eu-west-1");
    }

    #[test]
    fn rejects_short_service_arns_and_garbage() {
        for bad in [
            "arn:aws:ecs:eu-west-1:123456789012:service/model-api",
            "arn:aws:s3:::bucket",
            "model-api",
            "arn:aws:ecs:eu-west-1:12345:service/a/b",
            "",
        ] {
            assert!(ServiceArn::parse(bad).is_err(), "{bad}");
        }
    }

    /// A pre-2021 service's short ARN is read with the cluster DescribeServices reports.
    #[test]
    fn short_service_arns_take_the_reported_cluster() {
        let short = "arn:aws:ecs:eu-west-1:123456789012:service/model-api";
        for cluster in ["prod", "arn:aws:ecs:eu-west-1:123456789012:cluster/prod"] {
            let arn = ServiceArn::in_cluster(short, cluster).unwrap();
            assert_eq!((arn.cluster_name(), arn.name(), arn.as_str()), ("prod", "model-api", short));
            assert!(arn.is_short_format());
        }
        let long = ServiceArn::in_cluster("arn:aws:ecs:eu-west-1:123456789012:service/prod/model-api", "prod").unwrap();
        assert!(!long.is_short_format());
        assert_eq!(long, ServiceArn::parse(long.as_str()).unwrap());
        let other = ServiceArn::in_cluster("arn:aws:ecs:eu-west-1:123456789012:service/dev/model-api", "prod");
        assert!(other.unwrap_err().to_string().contains("names cluster dev"));
        assert!(ServiceArn::in_cluster(short, "").is_err());
        assert!(ServiceArn::in_cluster("arn:aws:ecs:eu-west-1:123456789012:service/", "prod").is_err());
        assert!(ServiceArn::is_short(short));
        assert!(
            !ServiceArn::is_short(long.as_str())
                && !ServiceArn::is_short("arn:aws:ecs:eu-west-1:123456789012:service/")
        );
    }

    #[test]
    fn task_definition_revision() {
        let arn = TaskDefArn::parse("arn:aws:ecs:us-east-1:123456789012:task-definition/model:42").unwrap();
        assert_eq!(arn.revision().to_string(), "model:42");
        assert_eq!(arn.revision().number, 42);
        assert!(TaskDefArn::parse("arn:aws:ecs:us-east-1:123456789012:task-definition/model").is_err());
        assert!(TaskDefArn::parse("arn:aws:ecs:us-east-1:123456789012:task-definition/model:x").is_err());
    }

    #[test]
    fn partitions() {
        assert_eq!(Region::parse("cn-north-1").unwrap().partition().domain(), "amazonaws.com.cn");
        assert_eq!(Region::parse("us-east-1").unwrap().partition().domain(), "amazonaws.com");
        assert!(Region::parse("US_EAST").is_err());
    }
}
