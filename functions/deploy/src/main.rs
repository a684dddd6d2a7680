//! Wiring only: logging, config and clients once per cold start, then the runtime loop.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use rollgate_aws::AwsOptions;
use rollgate_aws::ecs::Ecs;
use rollgate_core::config::DeployConfig;
use serde_json::value::RawValue;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    rollgate_aws::telemetry::init();
    let config = DeployConfig::from_env()
        .inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    let sdk = AwsOptions::from_env()?.load().await;
    let ecs = Ecs::new(&sdk);
    run(service_fn(|event: LambdaEvent<Box<RawValue>>| {
        deploy::handler::invoke(&ecs, &config, event)
    }))
    .await
}
