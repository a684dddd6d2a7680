//! CloudWatch alarms: which are firing, and which fired since a rollout started.

use std::future::Future;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{AlarmType, HistoryItemType, ScanBy, StateValue};
use chrono::{DateTime, Utc};
use rollgate_core::gate::AlarmEntry;
use serde::Deserialize;
use tracing::warn;

use crate::AwsError;

/// At most this many pages (of 100 items) of alarm history are read per invocation; an
/// account whose alarms change state more often than that within a rollout is warned about.
pub const MAX_HISTORY_PAGES: usize = 10;

/// Reading alarm states.
pub trait AlarmReader {
    /// The names of every metric and composite alarm now in ALARM. One paginated
    /// `DescribeAlarms` serves every service the gate evaluates in an invocation.
    fn alarms_in_alarm(&self) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;

    /// Every alarm's entries into ALARM since `since`, from one paginated
    /// `DescribeAlarmHistory` (state updates only), newest first.
    fn alarms_entered(&self, since: DateTime<Utc>) -> impl Future<Output = Result<Vec<AlarmEntry>, AwsError>> + Send;
}

/// The part of a state update's `HistoryData` rollgate reads.
#[derive(Deserialize)]
struct HistoryData {
    #[serde(rename = "newState")]
    new_state: Option<State>,
}

#[derive(Deserialize)]
struct State {
    #[serde(rename = "stateValue")]
    state_value: String,
}

/// Whether a state update's `HistoryData` says the alarm went into ALARM.
fn entered_alarm(history_data: &str) -> bool {
    serde_json::from_str::<HistoryData>(history_data)
        .ok()
        .and_then(|d| d.new_state)
        .is_some_and(|s| s.state_value == "ALARM")
}

/// The CloudWatch adapter: DescribeAlarms
/// (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html>)
/// and DescribeAlarmHistory
/// (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarmHistory.html>).
#[derive(Debug, Clone)]
pub struct CloudWatch {
    client: Client,
}

impl CloudWatch {
    /// A client from `config`.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self { client: Client::new(config) }
    }
}

impl AlarmReader for CloudWatch {
    async fn alarms_in_alarm(&self) -> Result<Vec<String>, AwsError> {
        let mut names = Vec::new();
        let mut pages = self
            .client
            .describe_alarms()
            .state_value(StateValue::Alarm)
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .max_records(100)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("DescribeAlarms", e))?;
            let metric = page.metric_alarms.unwrap_or_default().into_iter().filter_map(|a| a.alarm_name);
            let composite = page.composite_alarms.unwrap_or_default().into_iter().filter_map(|a| a.alarm_name);
            names.extend(metric.chain(composite));
        }
        Ok(names)
    }

    async fn alarms_entered(&self, since: DateTime<Utc>) -> Result<Vec<AlarmEntry>, AwsError> {
        let start = aws_smithy_types::DateTime::from_millis(since.timestamp_millis());
        let mut entries = Vec::new();
        let mut pages = self
            .client
            .describe_alarm_history()
            // Without AlarmTypes CloudWatch returns metric alarms' history only, and a
            // composite alarm that fired and recovered between two gate runs is missed.
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .history_item_type(HistoryItemType::StateUpdate)
            .start_date(start)
            .scan_by(ScanBy::TimestampDescending)
            .max_records(100)
            .into_paginator()
            .send();
        for _ in 0..MAX_HISTORY_PAGES {
            let Some(page) = pages.next().await else { return Ok(entries) };
            let page = page.map_err(|e| AwsError::from_sdk("DescribeAlarmHistory", e))?;
            for item in page.alarm_history_items.unwrap_or_default() {
                let (Some(alarm), Some(at), Some(data)) = (item.alarm_name, item.timestamp, item.history_data) else {
                    continue;
                };
                let Some(at) = DateTime::from_timestamp(at.secs(), at.subsec_nanos()) else { continue };
                if entered_alarm(&data) {
                    entries.push(AlarmEntry { alarm, at });
                }
            }
            if page.next_token.is_none() {
                return Ok(entries);
            }
        }
        warn!(
            since = %since,
            pages = MAX_HISTORY_PAGES,
            "more alarm history than rollgate reads; entries into ALARM older than the last page read are not seen"
        );
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_entry_into_alarm_is_read_from_the_history_data() {
        let update = |old: &str, new: &str| {
            format!(r#"{{"version":"1.0","oldState":{{"stateValue":"{old}"}},"newState":{{"stateValue":"{new}"}}}}"#)
        };
        assert!(super::entered_alarm(&update("OK", "ALARM")));
        assert!(!super::entered_alarm(&update("ALARM", "OK")));
        assert!(!super::entered_alarm(&update("OK", "INSUFFICIENT_DATA")));
        assert!(!super::entered_alarm("not json"));
        assert!(!super::entered_alarm("{}"));
    }
}
