//! The model-build handler: an uploaded model artifact starts one image build; a failed
//! build becomes a `Model Build Failed` notification with the link to its logs.

use lambda_runtime::LambdaEvent;
use rollgate_aws::AwsError;
use rollgate_aws::codebuild::BuildStarter;
use rollgate_aws::eventbridge::Notifier;
use rollgate_core::ErrorClass;
use rollgate_core::config::ModelConfig;
use rollgate_core::events::{ModelTrigger, parse_model_event};
use rollgate_core::model::{UploadDecision, build_failure, plan_build};
use rollgate_lambda::{FunctionError, Report, finish};
use serde::Serialize;
use serde_json::value::RawValue;
use tracing::{error, info};

/// Everything model-build needs from AWS: `rollgate_aws::Aws` with its CodeBuild and
/// EventBridge parts.
pub trait ModelApi: BuildStarter + Notifier + Sync {}
impl<T: BuildStarter + Notifier + Sync> ModelApi for T {}

/// The function's result for one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ModelReport {
    pub event_id: String,
    /// `build-started`, `notified` or `ignored`.
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Report for ModelReport {
    fn needs_retry(&self) -> bool {
        false
    }
    fn summary(&self) -> String {
        self.action.clone()
    }
}

pub async fn invoke<A: ModelApi>(
    aws: &A,
    config: &ModelConfig,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<ModelReport, FunctionError> {
    finish(handle(aws, config, event.payload.get()).await?)
}

fn aws_failure(e: AwsError) -> FunctionError {
    error!(error = %e, "AWS call failed");
    FunctionError { class: e.class(), message: e.to_string() }
}

pub async fn handle<A: ModelApi>(aws: &A, config: &ModelConfig, raw: &str) -> Result<ModelReport, FunctionError> {
    let trigger = parse_model_event(raw).map_err(|e| {
        error!(reason = %e, decision = "rejected", "malformed event; nothing started");
        FunctionError::non_retryable(e)
    })?;
    match trigger {
        ModelTrigger::Upload { envelope, detail } => match plan_build(config, &detail) {
            UploadDecision::Ignore(reason) => {
                info!(event_id = %envelope.id, key = %detail.object.key, %reason, decision = "ignored", "not a model artifact to build");
                Ok(ModelReport {
                    event_id: envelope.id,
                    action: "ignored".into(),
                    reason: Some(reason),
                    ..Default::default()
                })
            }
            UploadDecision::Reject(reason) => {
                error!(event_id = %envelope.id, key = %detail.object.key, %reason, decision = "rejected", "no build started");
                Err(FunctionError { class: ErrorClass::NonRetryable, message: reason })
            }
            UploadDecision::Build(plan) => {
                let build_id = aws.start_build(&plan).await.map_err(aws_failure)?;
                info!(
                    event_id = %envelope.id,
                    model_uri = %plan.model_uri,
                    model_version = %plan.model_version,
                    image_tag = %plan.image_tag,
                    build_id = %build_id,
                    decision = "build-started",
                    "model image build started"
                );
                Ok(ModelReport {
                    event_id: envelope.id,
                    action: "build-started".into(),
                    build_id: Some(build_id),
                    image_tag: Some(plan.image_tag),
                    model_version: Some(plan.model_version),
                    reason: None,
                })
            }
        },
        ModelTrigger::Build { envelope, detail } => {
            let Some(failure) = build_failure(config, &envelope, &detail) else {
                let reason = format!("build {} is {}", detail.build_id, detail.build_status);
                return Ok(ModelReport {
                    event_id: envelope.id,
                    action: "ignored".into(),
                    reason: Some(reason),
                    ..Default::default()
                });
            };
            aws.publish(&[failure.outgoing()]).await.map_err(aws_failure)?;
            info!(
                event_id = %envelope.id,
                build_id = %failure.build_id,
                status = %failure.status,
                logs = failure.logs.as_deref(),
                decision = "notified",
                "model build failed"
            );
            Ok(ModelReport {
                event_id: envelope.id,
                action: "notified".into(),
                build_id: Some(failure.build_id),
                image_tag: failure.image_tag,
                model_version: failure.model_version,
                reason: Some(format!("build {}", failure.status)),
            })
        }
    }
}
