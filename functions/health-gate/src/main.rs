//! Wiring only: logging, config and clients once per cold start, then the runtime loop.

use std::time::Duration;

use health_gate::handler::invoke;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use rollgate_aws::cloudwatch::CloudWatch;
use rollgate_aws::codebuild::CodeBuild;
use rollgate_aws::ecr::Ecr;
use rollgate_aws::ecs::Ecs;
use rollgate_aws::eventbridge::EventBridge;
use rollgate_aws::probe::HttpProbe;
use rollgate_aws::{Aws, AwsOptions};
use rollgate_core::config::GateConfig;
use rollgate_lambda::telemetry::{self, init_or_exit};
use serde_json::value::RawValue;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config = init_or_exit("configuration", GateConfig::from_env());
    let sdk = init_or_exit("AWS options", AwsOptions::from_env()).load().await;
    let aws = Aws::new()
        .with_ecs(Ecs::new(&sdk))
        .with_ecr(Ecr::new(&sdk))
        .with_cloudwatch(CloudWatch::new(&sdk))
        .with_events(EventBridge::new(&sdk, &config.event_bus))
        .with_probe(init_or_exit("HTTP client", HttpProbe::new(Duration::from_secs(config.smoke_timeout.0))))
        .with_builds(CodeBuild::new(&sdk));
    run(service_fn(|event: LambdaEvent<Box<RawValue>>| invoke(&aws, &config, event))).await
}
