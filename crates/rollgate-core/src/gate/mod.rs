//! The health gate's decisions: is this rollout healthy, failed, or still in flight,
//! and what to write about it. Everything here is pure; time is an input.

mod counts;
mod evaluate;
mod facts;
mod failure;
mod notification;
mod outcome;
mod outside;
mod plan;
mod rollback;
mod settings;
mod signals;
mod target;
mod verdict;

pub use crate::events::StopCause;
pub use crate::rollout::RolloutState;
pub use evaluate::*;
pub use facts::*;
pub use failure::*;
pub use notification::*;
pub use outcome::*;
pub use outside::*;
pub use plan::*;
pub use rollback::*;
pub use settings::*;
pub use signals::*;
pub use target::*;
pub use verdict::*;
