//! rollgate-core: every decision rollgate makes, as pure functions over typed inputs.
//!
//! Nothing in this crate performs I/O, spawns tasks or knows about AWS SDK types.
//! The functions and the CLI gather facts through `rollgate-aws`, ask this crate
//! for a plan or a verdict, then execute it (the cargo-dist model: plan, then execute).

pub mod arn;
pub mod base64;
pub mod buildspec;
pub mod cluster;
pub mod config;
pub mod deploy;
pub mod duration;
pub mod error;
pub mod events;
pub mod filter;
pub mod gate;
pub mod history;
pub mod image;
pub mod index;
pub mod infra;
pub mod keys;
pub mod ledger;
pub mod model;
pub mod notify;
pub mod permissions;
pub mod reconcile;
pub mod registration;
pub mod report;
pub mod rollout;
pub mod service;
pub mod status;
pub mod tags;
pub mod track;

pub use arn::{AccountId, Arn, Partition, Region, ServiceArn, TaskDefArn};
pub use error::{ErrorClass, InputError};
pub use image::{Digest, ImageRef, ImageTag, RepositoryName};

/// Resource tags, key to value (an ECS service's or revision's, as DescribeServices and
/// DescribeTaskDefinition return them with `include=TAGS`).
pub type Tags = std::collections::BTreeMap<String, String>;
