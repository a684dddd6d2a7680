//! Wiring only: logging, config and clients once per cold start, then the runtime loop.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use rollgate_aws::ecr::Ecr;
use rollgate_aws::ecs::Ecs;
use rollgate_aws::{Aws, AwsOptions};
use rollgate_core::config::DeployConfig;
use rollgate_lambda::telemetry::{self, init_or_exit};
use serde_json::value::RawValue;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config = init_or_exit("configuration", DeployConfig::from_env());
    let sdk = init_or_exit("AWS options", AwsOptions::from_env()).load().await;
    let aws = Aws::new().with_ecs(Ecs::new(&sdk)).with_ecr(Ecr::new(&sdk));
    run(service_fn(|event: LambdaEvent<Box<RawValue>>| deploy::handler::invoke(&aws, &config, event))).await
}
