//! rollgate-aws: the one place where rollgate talks to AWS.
//!
//! * [`config`]: the `SdkConfig` factory (endpoint override, profiles, region chain, retries).
//! * [`ecs`]: capability traits that speak domain types, and their ECS adapter.
//! * [`error`]: SDK errors classified as retryable or not.
//! * [`telemetry`]: structured JSON logging for the functions.

pub mod config;
pub mod ecs;
pub mod error;
pub mod telemetry;

pub use config::AwsOptions;
pub use error::AwsError;
