//! rollgate-aws: the one place where rollgate talks to AWS.
//!
//! * [`config`]: the `SdkConfig` factory (endpoint override, profiles, region chain, retries).
//! * [`ecs`], [`cloudwatch`], [`events`], [`probe`]: capability traits that speak domain
//!   types, and their adapters.
//! * [`error`]: SDK errors classified as retryable or not.

pub mod cloudwatch;
pub mod codebuild;
pub mod ecr;
pub mod ecs;
pub mod error;
pub mod eventbridge;
pub mod execute;
pub mod infra;
pub mod probe;
pub mod sdk_config;

pub use error::AwsError;
pub use sdk_config::AwsOptions;
