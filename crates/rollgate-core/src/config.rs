//! Function configuration, read once at cold start from environment variables.
//!
//! Parsing is pure: it takes a lookup function, so tests need not touch the process env.

use crate::InputError;

/// Every environment variable a rollgate function reads. The template must set the
/// required ones; `tests/` checks that against template.yaml.
pub mod vars {
    pub const CLUSTERS: &str = "ROLLGATE_CLUSTERS";
    pub const MAX_IN_FLIGHT: &str = "ROLLGATE_MAX_IN_FLIGHT";
    pub const MAX_ATTEMPTS: &str = "ROLLGATE_MAX_ATTEMPTS";
}

/// Configuration of the `deploy` function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployConfig {
    /// Cluster names or ARNs searched for opted-in services.
    pub clusters: Vec<String>,
    /// How many services are updated at once (and clusters listed at once).
    pub max_in_flight: usize,
}

impl DeployConfig {
    pub const DEFAULT_MAX_IN_FLIGHT: usize = 8;
    pub const MAX_MAX_IN_FLIGHT: usize = 64;

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, InputError> {
        let raw = get(vars::CLUSTERS).unwrap_or_default();
        let clusters = parse_clusters(&raw)?;
        let max_in_flight = match get(vars::MAX_IN_FLIGHT) {
            None => Self::DEFAULT_MAX_IN_FLIGHT,
            Some(v) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=Self::MAX_MAX_IN_FLIGHT).contains(n))
                .ok_or_else(|| {
                    InputError::new(
                        vars::MAX_IN_FLIGHT,
                        v.as_str(),
                        format!(
                            "must be a whole number from 1 to {}",
                            Self::MAX_MAX_IN_FLIGHT
                        ),
                    )
                })?,
        };
        Ok(Self {
            clusters,
            max_in_flight,
        })
    }

    pub fn from_env() -> Result<Self, InputError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }
}

/// `ROLLGATE_CLUSTERS`: comma-separated cluster names or ARNs, at least one, no duplicates.
pub fn parse_clusters(raw: &str) -> Result<Vec<String>, InputError> {
    let bad = |why: &str| InputError::new(vars::CLUSTERS, raw, why.to_owned());
    let mut clusters: Vec<String> = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let name = item.rsplit('/').next().unwrap_or(item);
        let valid_name = !name.is_empty()
            && name.len() <= 255
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let valid_arn = !item.starts_with("arn:") || item.contains(":cluster/");
        if !valid_name || !valid_arn {
            return Err(bad(&format!(
                "{item:?} is not a cluster name or cluster ARN"
            )));
        }
        if !clusters.iter().any(|c| c == item) {
            clusters.push(item.to_owned());
        }
    }
    if clusters.is_empty() {
        return Err(bad(
            "set it to the comma-separated ECS clusters to watch, e.g. prod,staging",
        ));
    }
    Ok(clusters)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<DeployConfig, InputError> {
        DeployConfig::from_lookup(|k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn table() {
        let ok = cfg(&[(
            vars::CLUSTERS,
            " prod, staging ,prod,arn:aws:ecs:us-east-1:123456789012:cluster/gpu",
        )])
        .unwrap();
        assert_eq!(
            ok.clusters,
            [
                "prod",
                "staging",
                "arn:aws:ecs:us-east-1:123456789012:cluster/gpu"
            ]
        );
        assert_eq!(ok.max_in_flight, DeployConfig::DEFAULT_MAX_IN_FLIGHT);
        assert_eq!(
            cfg(&[(vars::CLUSTERS, "a"), (vars::MAX_IN_FLIGHT, "3")])
                .unwrap()
                .max_in_flight,
            3
        );
        for bad in [
            vec![],
            vec![(vars::CLUSTERS, " , ")],
            vec![(vars::CLUSTERS, "has space")],
            vec![(
                vars::CLUSTERS,
                "arn:aws:ecs:us-east-1:123456789012:service/x/y",
            )],
            vec![(vars::CLUSTERS, "a"), (vars::MAX_IN_FLIGHT, "0")],
            vec![(vars::CLUSTERS, "a"), (vars::MAX_IN_FLIGHT, "many")],
            vec![(vars::CLUSTERS, "a"), (vars::MAX_IN_FLIGHT, "1000")],
        ] {
            assert!(cfg(&bad).is_err(), "{bad:?}");
        }
    }
}
