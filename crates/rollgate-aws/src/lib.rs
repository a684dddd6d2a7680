//! rollgate-aws: the one place where rollgate talks to AWS.
//!
//! * [`sdk_config`]: the `SdkConfig` factory (endpoint override, profiles, region chain, retries).
//! * [`ecs`], [`ecr`], [`cloudwatch`], [`codebuild`], [`eventbridge`], [`probe`]: capability
//!   traits that speak domain types, and their adapters; [`execute`] carries out a gate plan
//!   with them, and [`infra`] reads and converges `rollgate up`'s resources.
//! * [`error`]: SDK errors classified as retryable or not.

pub mod bundle;
pub mod cloudwatch;
pub mod codebuild;
pub mod discovery;
pub mod ecr;
pub mod ecs;
pub mod error;
pub mod eventbridge;
pub mod execute;
pub mod index;
pub mod infra;
pub mod pacing;
pub mod probe;
pub mod sdk_config;

pub use bundle::Aws;
pub use error::AwsError;
pub use sdk_config::AwsOptions;
