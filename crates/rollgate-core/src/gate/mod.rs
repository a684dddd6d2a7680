//! The health gate's decisions: is this rollout healthy, failed, or still in flight,
//! and what to write about it. Everything here is pure; time is an input.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::duration::Seconds;
use crate::ledger::{Cause, RevisionRecord, format_time, keys, parse_time};
use crate::service::{DeploymentView, ServiceView, Tags, TaskDefSummary};
use crate::tags::{TagWrite, decode};
use crate::{Digest, InputError, ServiceArn, TaskDefArn};

mod counts;
mod evaluate;
mod notification;
mod outcome;
mod plan;
mod rollback;
mod settings;
mod signals;
mod target;

pub use crate::events::StopCause;
pub use crate::rollout::RolloutState;
pub use evaluate::*;
pub use notification::*;
pub use outcome::*;
pub use plan::*;
pub use rollback::*;
pub use settings::*;
pub use signals::*;
pub use target::*;
