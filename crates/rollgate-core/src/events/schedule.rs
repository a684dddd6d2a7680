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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::RawEvent;
    use crate::index::{Turns, clusters_in_turn};

    /// AWS's documented scheduled event (events/SOURCES.md) is read as a tick, and its time, 6 s
    /// into its minute as EventBridge runs a rule "within that minute", picks that minute's turn.
    #[test]
    fn the_documented_scheduled_event_is_a_tick_in_its_minutes_turn() {
        let path = format!("{}/../../events/aws-events-scheduled-documented.json", env!("CARGO_MANIFEST_DIR"));
        let raw = std::fs::read_to_string(&path).unwrap();
        let (tick, _) =
            RawEvent::parse(&raw).unwrap().envelope::<ScheduleDetail>(SCHEDULE_SOURCE, SCHEDULE_DETAIL_TYPE).unwrap();
        assert_eq!(tick.time.to_rfc3339(), "2015-10-08T16:53:06+00:00");
        let clusters: Vec<String> = (0..30).map(|i| format!("c{i:02}")).collect();
        let turns = Turns { tick_secs: 60, every_secs: 900 };
        let minute = tick.time - chrono::Duration::seconds(6);
        assert_eq!(clusters_in_turn(tick.time, turns, &clusters), clusters_in_turn(minute, turns, &clusters));
        assert_eq!(clusters_in_turn(tick.time, turns, &clusters).unwrap().len(), 2);
    }
}
