//! Event intake in one place: every EventBridge event a function takes, one file per source,
//! each parsed once from its envelope into the trigger its function matches on.
//!
//! | file | events | trigger |
//! | --- | --- | --- |
//! | [`envelope`] | the event read once ([`RawEvent`]), its envelope, and [`EventError`] | |
//! | [`ecr`] | ECR push, replication, pull-through cache | [`EcrAction`] (deploy) |
//! | [`ecs`] | ECS deployment and task state changes | [`GateTrigger`] (health-gate) |
//! | [`schedule`] | a scheduled rule's tick | the gate's sweep, deploy's reconciler |
//! | [`s3`], [`codebuild`] | an S3 upload, a CodeBuild state change | [`ModelTrigger`] (model-build) |
//!
//! A new event type: its detail's shape and constants in its source's file, a case in the
//! trigger's parser, a fixture in `events/` with its source named, and a row in the parser's
//! table test.

pub mod codebuild;
pub mod ecr;
pub mod ecs;
pub mod envelope;
pub mod model;
pub mod s3;
pub mod schedule;

pub use codebuild::*;
pub use ecr::*;
pub use ecs::*;
pub use envelope::*;
pub use model::*;
pub use s3::*;
pub use schedule::*;
