//! The CodeBuild project that bakes a model into an image: BatchGetProjects; CreateProject,
//! UpdateProject; DeleteProject.

use std::collections::BTreeMap;

use aws_sdk_codebuild::types as cb;
use rollgate_core::infra::Attrs;
use rollgate_core::infra::desired::Value;
use rollgate_core::infra::plan::ALL_TAGS;
use rollgate_core::infra::spec::BuildProjectSpec;

use super::{Infra, api, attrs, built, managed_tags};
use crate::AwsError;

/// Whether CreateProject was refused because CodeBuild cannot assume the role yet: a role
/// created seconds ago may not be (IAM is eventually consistent). CodeBuild says so only in
/// the message of an `InvalidInputException` ("CodeBuild is not authorized to perform:
/// sts:AssumeRole on ..."), so the message is what is matched.
fn role_not_assumable_yet(e: &AwsError) -> bool {
    e.code() == Some("InvalidInputException") && e.to_string().contains("not authorized to perform: sts:AssumeRole")
}

impl Infra {
    pub(super) async fn read_build_project(&self, name: &str) -> Result<Option<Attrs>, AwsError> {
        let out = self.codebuild.batch_get_projects().names(name).send().await.map_err(api("BatchGetProjects"))?;
        let Some(p) = out.projects.unwrap_or_default().into_iter().next() else { return Ok(None) };
        let env = p.environment.as_ref();
        let vars: BTreeMap<String, String> = env
            .map(|e| e.environment_variables().iter().map(|v| (v.name.clone(), v.value.clone())).collect())
            .unwrap_or_default();
        let tags = p.tags.unwrap_or_default();
        Ok(Some(attrs([
            ("image", Value::opt(env.map(|e| e.image.clone()))),
            ("compute_type", Value::opt(env.map(|e| e.compute_type.as_str().to_owned()))),
            ("privileged", Value::text(env.and_then(|e| e.privileged_mode).unwrap_or(false).to_string())),
            ("service_role", Value::opt(p.service_role)),
            ("buildspec", Value::opt(p.source.and_then(|s| s.buildspec))),
            ("environment", Value::Map(vars)),
            ("log_group", Value::opt(p.logs_config.and_then(|l| l.cloud_watch_logs).and_then(|c| c.group_name))),
            ("tags", managed_tags(tags.iter().filter_map(|t| Some((t.key.as_deref()?, t.value.as_deref()?))))),
            (ALL_TAGS, Value::map(tags.iter().filter_map(|t| Some((t.key.as_deref()?, t.value.as_deref()?))))),
            ("arn", Value::opt(p.arn)),
        ])))
    }

    /// CreateProject (`create`) or UpdateProject: either writes the whole project.
    pub(super) async fn put_build_project(
        &self,
        name: &str,
        spec: &BuildProjectSpec,
        create: bool,
    ) -> Result<(), AwsError> {
        let variables = spec
            .environment
            .iter()
            .map(|(k, v)| {
                built(
                    cb::EnvironmentVariable::builder()
                        .name(k)
                        .value(v)
                        .r#type(cb::EnvironmentVariableType::Plaintext)
                        .build(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let environment = built(
            cb::ProjectEnvironment::builder()
                .r#type(cb::EnvironmentType::LinuxContainer)
                .image(&spec.image)
                .compute_type(spec.compute_type.as_str().into())
                .privileged_mode(spec.privileged)
                .set_environment_variables(Some(variables))
                .build(),
        )?;
        let source =
            built(cb::ProjectSource::builder().r#type(cb::SourceType::NoSource).buildspec(&spec.buildspec).build())?;
        let artifacts = built(cb::ProjectArtifacts::builder().r#type(cb::ArtifactsType::NoArtifacts).build())?;
        let logs = cb::LogsConfig::builder()
            .cloud_watch_logs(built(
                cb::CloudWatchLogsConfig::builder()
                    .status(cb::LogsConfigStatusType::Enabled)
                    .group_name(&spec.log_group)
                    .stream_name("codebuild")
                    .build(),
            )?)
            .build();
        let tags: Vec<cb::Tag> = spec.tags.iter().map(|(k, v)| cb::Tag::builder().key(k).value(v).build()).collect();
        if !create {
            self.codebuild
                .update_project()
                .name(name)
                .source(source)
                .artifacts(artifacts)
                .environment(environment)
                .service_role(&spec.service_role)
                .logs_config(logs)
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(api("UpdateProject"))?;
            return Ok(());
        }
        let mut delay = std::time::Duration::from_secs(2);
        for attempt in 1.. {
            let result = self
                .codebuild
                .create_project()
                .name(name)
                .description("Builds the model image (managed by rollgate)")
                .source(source.clone())
                .artifacts(artifacts.clone())
                .environment(environment.clone())
                .service_role(&spec.service_role)
                .logs_config(logs.clone())
                .timeout_in_minutes(60)
                .set_tags(Some(tags.clone()))
                .send()
                .await
                .map_err(api("CreateProject"));
            match result {
                Ok(_) => return Ok(()),
                Err(e) if attempt < 8 && role_not_assumable_yet(&e) => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(10));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub(super) async fn delete_build_project(&self, name: &str) -> Result<(), AwsError> {
        self.codebuild.delete_project().name(name).send().await.map_err(api("DeleteProject"))?;
        Ok(())
    }
}
