//! The platform an image is built for and a task runs on.

use serde::Serialize;

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
    /// <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RuntimePlatform.html>).
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

    pub(super) fn from_json(v: &serde_json::Value) -> Option<Self> {
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
