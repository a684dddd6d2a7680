//! A scheduled EventBridge rule's events: the gate's sweep and deploy's reconciler
//! (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-rule-schedule.html>).

use serde::{Deserialize, Serialize};

/// The EventBridge `source` of a scheduled rule's event.
pub const SCHEDULE_SOURCE: &str = "aws.events";
/// The `detail-type` of a scheduled rule's event: the gate's periodic tick.
pub const SCHEDULE_DETAIL_TYPE: &str = "Scheduled Event";

/// The scheduled event's detail is an empty object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ScheduleDetail {}
