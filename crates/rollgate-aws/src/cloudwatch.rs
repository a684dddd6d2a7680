//! CloudWatch alarms: which are firing.

use std::future::Future;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{AlarmType, StateValue};

use crate::AwsError;

/// Reading alarm states.
pub trait AlarmReader {
    /// The names of every metric and composite alarm now in ALARM. One paginated
    /// `DescribeAlarms` serves every service the gate evaluates in an invocation.
    fn alarms_in_alarm(&self) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;
}

#[derive(Debug, Clone)]
pub struct CloudWatch {
    client: Client,
}

impl CloudWatch {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self { client: Client::new(config) }
    }
}

impl AlarmReader for CloudWatch {
    async fn alarms_in_alarm(&self) -> Result<Vec<String>, AwsError> {
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .describe_alarms()
                .state_value(StateValue::Alarm)
                .alarm_types(AlarmType::MetricAlarm)
                .alarm_types(AlarmType::CompositeAlarm)
                .max_records(100)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DescribeAlarms", e))?;
            let metric = page.metric_alarms.unwrap_or_default().into_iter().filter_map(|a| a.alarm_name);
            let composite = page.composite_alarms.unwrap_or_default().into_iter().filter_map(|a| a.alarm_name);
            names.extend(metric.chain(composite));
            token = page.next_token;
            if token.is_none() {
                return Ok(names);
            }
        }
    }
}
