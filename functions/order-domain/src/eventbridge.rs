//! Publishing [`BusEvent`]s with PutEvents (feature `eventbridge`).

use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use crate::dynamodb::describe_sdk_error;
use crate::events::BusEvent;

/// Most entries one PutEvents call takes.
pub const MAX_ENTRIES: usize = 10;

/// Why a publish failed: the call itself, or one of its entries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PublishError(pub String);

/// Publishes `events` on `bus`, in one PutEvents call per [`MAX_ENTRIES`]. PutEvents succeeds as a
/// call even when entries fail; any failed entry (FailedEntryCount > 0, or an entry carrying an
/// error code) makes this an error, so the caller's retry publishes again.
pub async fn publish(
    client: &aws_sdk_eventbridge::Client,
    bus: &str,
    events: &[BusEvent],
) -> Result<(), PublishError> {
    for chunk in events.chunks(MAX_ENTRIES) {
        let mut entries = Vec::with_capacity(chunk.len());
        for event in chunk {
            let detail = event.detail().map_err(|err| {
                PublishError(format!(
                    "could not serialize the {} detail: {err}",
                    event.detail_type()
                ))
            })?;
            entries.push(
                PutEventsRequestEntry::builder()
                    .event_bus_name(bus)
                    .source(event.source())
                    .detail_type(event.detail_type())
                    .detail(detail)
                    .build(),
            );
        }
        let output = client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|err| PublishError(describe_sdk_error(&err)))?;
        let failed: Vec<String> = output
            .entries()
            .iter()
            .zip(chunk)
            .filter(|(entry, _)| entry.error_code().is_some())
            .map(|(entry, event)| {
                format!(
                    "{}: {}: {}",
                    event.detail_type(),
                    entry.error_code().unwrap_or("unknown"),
                    entry.error_message().unwrap_or("")
                )
            })
            .collect();
        if output.failed_entry_count() > 0 || !failed.is_empty() {
            return Err(PublishError(format!(
                "{} of {} entries failed{}",
                output.failed_entry_count().max(failed.len() as i32),
                chunk.len(),
                if failed.is_empty() {
                    "; no entry reported the error".to_owned()
                } else {
                    format!(": {}", failed.join("; "))
                }
            )));
        }
    }
    Ok(())
}
