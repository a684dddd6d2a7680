//! The base infrastructure `rollgate up` converges: configuration, desired resources, plan.
//!
//! Pure like the rest of the core: [`app_config`] validates rollgate.toml before any AWS call,
//! [`desired`] turns it into resources, each a typed [`spec`] (what `up` writes) with its
//! canonical attributes (what the plan compares), [`plan`] compares
//! them with what AWS has (read by rollgate-aws) into create/update/unchanged steps, and
//! [`teardown`] decides what `rollgate down` deletes.

pub mod app_config;
pub mod desired;
pub mod plan;
pub mod spec;
pub mod teardown;
pub mod value;

pub use app_config::{AppConfig, ConfigError};
pub use desired::{Attrs, Kind, Resource};
pub use plan::{AttrDiff, Change, Plan, Step};
pub use spec::Spec;
