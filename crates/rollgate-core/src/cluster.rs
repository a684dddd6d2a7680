//! ECS cluster states as the API reports them.

/// A cluster's `status` (DescribeClusters; `ACTIVE`, `PROVISIONING`, `DEPROVISIONING`,
/// `FAILED` or `INACTIVE`:
/// <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Cluster.html>). The ECS SDK
/// carries it as a string, so this is rollgate's enum for it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClusterStatus {
    /// `ACTIVE`: the cluster can run tasks.
    Active,
    /// `PROVISIONING`: capacity-provider resources are being created.
    Provisioning,
    /// `DEPROVISIONING`: capacity-provider resources are being deleted.
    Deprovisioning,
    /// `FAILED`: creating its capacity-provider resources failed.
    Failed,
    /// `INACTIVE`: deleted (ECS may still describe it for a while).
    Inactive,
    /// A status this version of rollgate does not know (or none: the empty string).
    Other(String),
}

impl ClusterStatus {
    /// From the API's string.
    pub fn from_api(s: &str) -> Self {
        match s {
            "ACTIVE" => Self::Active,
            "PROVISIONING" => Self::Provisioning,
            "DEPROVISIONING" => Self::Deprovisioning,
            "FAILED" => Self::Failed,
            "INACTIVE" => Self::Inactive,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The API's string.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Active => "ACTIVE",
            Self::Provisioning => "PROVISIONING",
            Self::Deprovisioning => "DEPROVISIONING",
            Self::Failed => "FAILED",
            Self::Inactive => "INACTIVE",
            Self::Other(s) => s,
        }
    }
}

impl std::fmt::Display for ClusterStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_strings_round_trip() {
        for s in ["ACTIVE", "PROVISIONING", "DEPROVISIONING", "FAILED", "INACTIVE", "PENDING", ""] {
            assert_eq!(ClusterStatus::from_api(s).as_str(), s);
        }
        assert_eq!(ClusterStatus::from_api("ACTIVE"), ClusterStatus::Active);
        assert_eq!(ClusterStatus::from_api("active"), ClusterStatus::Other("active".into()));
    }
}
