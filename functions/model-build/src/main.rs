//! Wiring only: logging, config and clients once per cold start, then the runtime loop.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use model_build::handler::invoke;
use rollgate_aws::codebuild::CodeBuild;
use rollgate_aws::eventbridge::EventBridge;
use rollgate_aws::{Aws, AwsOptions};
use rollgate_core::config::ModelConfig;
use rollgate_lambda::telemetry::{self, init_or_exit};
use serde_json::value::RawValue;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config = init_or_exit("configuration", ModelConfig::from_env());
    let sdk = init_or_exit("AWS options", AwsOptions::from_env()).load().await;
    let aws = Aws::new().with_builds(CodeBuild::new(&sdk)).with_events(EventBridge::new(&sdk, &config.event_bus));
    run(service_fn(|event: LambdaEvent<Box<RawValue>>| invoke(&aws, &config, event))).await
}
