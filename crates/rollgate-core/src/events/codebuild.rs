//! AWS CodeBuild "Build State Change" events: a model build that finished
//! (<https://docs.aws.amazon.com/codebuild/latest/userguide/sample-build-notifications.html>).

use serde::{Deserialize, Serialize};

/// The EventBridge `source` of CodeBuild events.
pub const CODEBUILD_SOURCE: &str = "aws.codebuild";
/// The `detail-type` of a build's status change
/// (<https://docs.aws.amazon.com/codebuild/latest/userguide/sample-build-notifications.html>).
pub const BUILD_DETAIL_TYPE: &str = "CodeBuild Build State Change";

/// One environment variable of a build (`environment-variables` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BuildVariable {
    /// The variable's name, e.g. `MODEL_VERSION`.
    pub name: String,
    /// The value as configured (for a `PARAMETER_STORE` or `SECRETS_MANAGER` variable, its
    /// reference, not the secret); empty when absent.
    #[serde(default)]
    pub value: String,
}

/// A build's `environment`, reduced to its variables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub struct BuildEnvironment {
    /// The build's environment variables, overrides included.
    #[serde(default)]
    pub environment_variables: Vec<BuildVariable>,
}

/// Where a build's logs are (`additional-information.logs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub struct BuildLogs {
    /// The CloudWatch console URL of the build's log stream.
    #[serde(default)]
    pub deep_link: Option<String>,
    /// The CloudWatch Logs group name.
    #[serde(default)]
    pub group_name: Option<String>,
    /// The CloudWatch Logs stream name.
    #[serde(default)]
    pub stream_name: Option<String>,
}

/// A build event's `additional-information`, reduced to what `model-build` reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub struct BuildInformation {
    /// The build's environment.
    #[serde(default)]
    pub environment: BuildEnvironment,
    /// The build's logs.
    #[serde(default)]
    pub logs: BuildLogs,
}

/// The detail of a "CodeBuild Build State Change" event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BuildStateDetail {
    /// `IN_PROGRESS`, `SUCCEEDED`, `FAILED`, `FAULT`, `STOPPED` or `TIMED_OUT`.
    pub build_status: String,
    /// The CodeBuild project's name.
    pub project_name: String,
    /// The build's ARN, `arn:aws:codebuild:<region>:<account>:build/<project>:<build uuid>`.
    pub build_id: String,
    /// Environment and logs of the build.
    #[serde(default)]
    pub additional_information: BuildInformation,
}
