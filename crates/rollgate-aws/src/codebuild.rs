//! CodeBuild: starting the model-image build.

use std::future::Future;

use aws_sdk_codebuild::Client;
use aws_sdk_codebuild::types::{EnvironmentVariable, EnvironmentVariableType};
use rollgate_core::model::BuildPlan;

use crate::AwsError;

/// Starting the model-image build (`model-build`), with StartBuild:
/// <https://docs.aws.amazon.com/codebuild/latest/APIReference/API_StartBuild.html>.
pub trait BuildStarter {
    /// Starts the build (idempotently, by the plan's token) and returns its id.
    fn start_build(&self, plan: &BuildPlan) -> impl Future<Output = Result<String, AwsError>> + Send;
}

/// The CodeBuild adapter.
#[derive(Debug, Clone)]
pub struct CodeBuild {
    client: Client,
}

impl CodeBuild {
    /// A client from `config`.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self { client: Client::new(config) }
    }
}

impl BuildStarter for CodeBuild {
    async fn start_build(&self, plan: &BuildPlan) -> Result<String, AwsError> {
        let overrides = plan
            .overrides()
            .into_iter()
            .map(|(k, v)| {
                EnvironmentVariable::builder().name(k).value(v).r#type(EnvironmentVariableType::Plaintext).build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AwsError::Config(e.to_string()))?;
        let out = self
            .client
            .start_build()
            .project_name(&plan.project)
            .set_environment_variables_override(Some(overrides))
            .idempotency_token(&plan.idempotency_token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("StartBuild", e))?;
        out.build_value.and_then(|b| b.id).ok_or(AwsError::Incomplete { operation: "StartBuild", field: "build.id" })
    }
}

/// Which build made an image: the model lineage recorded on the revision that runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOfImage {
    /// The build's id, `<project>:<build uuid>` (empty if BatchGetBuilds gave none).
    pub build_id: String,
    /// The build's `MODEL_VERSION` variable, if it had one.
    pub model_version: Option<String>,
}

/// Finding the build that made an image (the health gate, for the revision's lineage tags),
/// with ListBuildsForProject and BatchGetBuilds:
/// <https://docs.aws.amazon.com/codebuild/latest/APIReference/API_BatchGetBuilds.html>.
pub trait BuildLookup {
    /// The most recent build of `project` (among its last 100) that produced `image_tag`.
    fn build_of_image(
        &self,
        project: &str,
        image_tag: &str,
    ) -> impl Future<Output = Result<Option<BuildOfImage>, AwsError>> + Send;
}

/// How many of a project's newest builds [`BuildLookup::build_of_image`] looks through: the
/// most BatchGetBuilds takes in one call.
const MAX_BUILDS: usize = 100;

impl BuildLookup for CodeBuild {
    async fn build_of_image(&self, project: &str, image_tag: &str) -> Result<Option<BuildOfImage>, AwsError> {
        // The newest first, page after page, until 100 IDs (BatchGetBuilds takes at most 100)
        // or the project's builds run out.
        let mut newest = self
            .client
            .list_builds_for_project()
            .project_name(project)
            .sort_order(aws_sdk_codebuild::types::SortOrderType::Descending)
            .into_paginator()
            .items()
            .send();
        let mut ids = Vec::with_capacity(MAX_BUILDS);
        while ids.len() < MAX_BUILDS {
            let Some(id) = newest.next().await else { break };
            ids.push(id.map_err(|e| AwsError::from_sdk("ListBuildsForProject", e))?);
        }
        if ids.is_empty() {
            return Ok(None);
        }
        let builds = self
            .client
            .batch_get_builds()
            .set_ids(Some(ids))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("BatchGetBuilds", e))?
            .builds
            .unwrap_or_default();
        Ok(builds.into_iter().find_map(|b| {
            let vars = b.environment.map(|e| e.environment_variables.unwrap_or_default()).unwrap_or_default();
            let var = |n: &str| vars.iter().find(|v| v.name == n).map(|v| v.value.clone());
            (var("IMAGE_TAG").as_deref() == Some(image_tag))
                .then(|| BuildOfImage { build_id: b.id.unwrap_or_default(), model_version: var("MODEL_VERSION") })
        }))
    }
}
