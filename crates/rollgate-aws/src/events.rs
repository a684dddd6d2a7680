//! EventBridge: publishing rollgate's verdicts.

use std::future::Future;

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use rollgate_core::gate::{NOTIFICATION_SOURCE, Notification};

use crate::AwsError;

/// PutEvents takes at most 10 entries.
const PUT_EVENTS_BATCH: usize = 10;

/// Publishing notifications.
pub trait Notifier {
    fn publish(&self, notifications: &[Notification]) -> impl Future<Output = Result<(), AwsError>> + Send;
}

#[derive(Debug, Clone)]
pub struct EventBridge {
    client: Client,
    bus: String,
}

impl EventBridge {
    pub fn new(config: &aws_config::SdkConfig, bus: impl Into<String>) -> Self {
        Self { client: Client::new(config), bus: bus.into() }
    }
}

impl Notifier for EventBridge {
    async fn publish(&self, notifications: &[Notification]) -> Result<(), AwsError> {
        for batch in notifications.chunks(PUT_EVENTS_BATCH) {
            let entries = batch
                .iter()
                .map(|n| {
                    let detail = serde_json::to_string(n).map_err(|e| AwsError::Config(e.to_string()))?;
                    Ok(PutEventsRequestEntry::builder()
                        .source(NOTIFICATION_SOURCE)
                        .detail_type(n.kind.detail_type())
                        .detail(detail)
                        .resources(&n.service_arn)
                        .resources(&n.revision)
                        .event_bus_name(&self.bus)
                        .build())
                })
                .collect::<Result<Vec<_>, AwsError>>()?;
            let out = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("PutEvents", e))?;
            if out.failed_entry_count > 0 {
                let first = out
                    .entries
                    .unwrap_or_default()
                    .into_iter()
                    .find_map(|e| e.error_code.map(|c| format!("{c}: {}", e.error_message.unwrap_or_default())))
                    .unwrap_or_default();
                return Err(AwsError::Api {
                    operation: "PutEvents",
                    code: "FailedEntries".to_owned(),
                    message: format!(
                        "{} of {} events were not accepted ({first})",
                        out.failed_entry_count,
                        batch.len()
                    ),
                    class: rollgate_core::ErrorClass::Retryable,
                });
            }
        }
        Ok(())
    }
}
