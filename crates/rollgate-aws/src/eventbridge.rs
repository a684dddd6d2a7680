//! EventBridge: publishing rollgate's verdicts.

use std::future::Future;

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use rollgate_core::notify::{Outgoing, SOURCE};

use crate::AwsError;

/// PutEvents takes at most 10 entries.
const PUT_EVENTS_BATCH: usize = 10;

/// Publishing notifications.
pub trait Notifier {
    /// Puts `events` with source `rollgate`, 10 per PutEvents call, in order
    /// (<https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html>).
    /// Errors: the call's, or `FailedEntries` (retryable) when EventBridge refused an entry;
    /// the entries it accepted (this batch's, earlier batches') stay put, and a retry repeats them.
    fn publish(&self, events: &[Outgoing]) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// The EventBridge adapter, bound to one event bus.
#[derive(Debug, Clone)]
pub struct EventBridge {
    client: Client,
    bus: String,
}

impl EventBridge {
    /// A client from `config` that puts on `bus` (a name or ARN, e.g. `default`).
    pub fn new(config: &aws_config::SdkConfig, bus: impl Into<String>) -> Self {
        Self { client: Client::new(config), bus: bus.into() }
    }
}

impl Notifier for EventBridge {
    async fn publish(&self, events: &[Outgoing]) -> Result<(), AwsError> {
        for batch in events.chunks(PUT_EVENTS_BATCH) {
            let entries = batch
                .iter()
                .map(|e| {
                    PutEventsRequestEntry::builder()
                        .source(SOURCE)
                        .detail_type(&e.detail_type)
                        .detail(&e.detail)
                        .set_resources(Some(e.resources.clone()))
                        .event_bus_name(&self.bus)
                        .build()
                })
                .collect::<Vec<_>>();
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
