//! What process-order does with one batch of orders-queue messages, independent of AWS: the
//! table goes through [`OrderStore`], so the decisions are unit-tested with an in-memory fake.

use std::time::SystemTime;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use order_domain::dynamodb::Insert;
use order_domain::item::OrderRecord;

/// The orders table as process-order uses it.
pub trait OrderStore {
    /// Stores `record` unless a record with its order id exists (never overwriting one).
    async fn insert_if_absent(&self, record: &OrderRecord) -> Result<Insert, StoreError>;
}

/// A failed table write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DynamoDB PutItem failed: {0}")]
pub struct StoreError(pub String);

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// A message failed but cannot be reported alone because it has no message id; failing the
    /// invocation makes SQS redeliver the whole batch (stored orders are skipped as duplicates).
    #[error("{0} failed message(s) have no messageId to report; failing the whole batch")]
    UnidentifiedFailures(usize),
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(err: HandlerError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "UnidentifiedFailures".to_owned(),
            error_message: err.to_string(),
        }
    }
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    Stored,
    /// An earlier delivery already stored this order; nothing was written.
    Duplicate,
    /// The body is not a valid order: redelivered up to maxReceiveCount, then dead-lettered.
    Poison,
    /// The order id is already taken by a different order or outcome; it is not overwritten,
    /// and the message is failed so it ends in the DLQ for an operator to see.
    Conflict,
    /// The write failed; redelivery retries it.
    StoreFailed,
}

impl Disposition {
    fn is_failure(&self) -> bool {
        matches!(
            self,
            Disposition::Poison | Disposition::Conflict | Disposition::StoreFailed
        )
    }
}

/// Handles a batch (ReportBatchItemFailures is on): every message is handled on its own and
/// only the failed ones are reported, so one bad message never fails its batch.
pub async fn handle(
    event: SqsEvent,
    store: &impl OrderStore,
    now: SystemTime,
    ttl_days: Option<u32>,
) -> Result<SqsBatchResponse, HandlerError> {
    let mut failures = Vec::new();
    let mut unidentified = 0;
    for message in &event.records {
        if process(message, store, now, ttl_days).await.is_failure() {
            match &message.message_id {
                Some(id) => {
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = id.clone();
                    failures.push(failure);
                }
                None => unidentified += 1,
            }
        }
    }
    if unidentified > 0 {
        tracing::error!(
            unidentified,
            "failed messages without a messageId; failing the invocation"
        );
        return Err(HandlerError::UnidentifiedFailures(unidentified));
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    Ok(response)
}

/// Handles one message and logs what became of it.
pub async fn process(
    message: &SqsMessage,
    store: &impl OrderStore,
    now: SystemTime,
    ttl_days: Option<u32>,
) -> Disposition {
    let message_id = message.message_id.as_deref().unwrap_or_default();
    let receive_count = message
        .attributes
        .get("ApproximateReceiveCount")
        .map(String::as_str);
    let body = message.body.as_deref().unwrap_or_default();
    // Defence in depth: validate-order only queues valid orders, but the queue accepts
    // anything anyone with SendMessage permission sends.
    let order = match order_domain::validate_str(body) {
        Ok(order) => order,
        Err(reasons) => {
            tracing::error!(
                message_id,
                receive_count,
                reasons = %serde_json::to_string(&reasons).unwrap_or_default(),
                "poison message: the body is not a valid order; reporting it as failed so it ends in the dead-letter queue"
            );
            return Disposition::Poison;
        }
    };
    let record = OrderRecord::processed(&order, message_id, now, ttl_days);
    match store.insert_if_absent(&record).await {
        Ok(Insert::Stored) => {
            tracing::info!(
                message_id,
                order_id = order.order_id(),
                total_minor = order.total_minor,
                currency = %order.currency,
                "order stored as PROCESSED"
            );
            Disposition::Stored
        }
        Ok(Insert::AlreadyExists { existing }) => match existing {
            Some(existing) if !existing.same_order_as(&record) => {
                tracing::error!(
                    message_id,
                    order_id = order.order_id(),
                    existing_status = existing.status.as_str(),
                    existing_message_id = existing.message_id.as_deref(),
                    existing_event_id = existing.event_id.as_deref(),
                    "the order id is already recorded for a different order or outcome; not overwriting it, failing the message so it ends in the dead-letter queue"
                );
                Disposition::Conflict
            }
            // Without the old item (not returned) the conditional failure still proves the id
            // is stored, which is what redelivery of this very message produces.
            existing => {
                tracing::info!(
                    message_id,
                    order_id = order.order_id(),
                    receive_count,
                    stored_by_message_id = existing.as_ref().and_then(|e| e.message_id.as_deref()),
                    "duplicate delivery: the order is already stored; nothing written"
                );
                Disposition::Duplicate
            }
        },
        Err(err) => {
            tracing::error!(
                message_id,
                order_id = order.order_id(),
                receive_count,
                error = %err,
                "could not store the order; reporting the message as failed so it is redelivered"
            );
            Disposition::StoreFailed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use order_domain::item::Status;
    use order_domain::sample;
    use serde_json::json;
    use std::collections::{HashMap, HashSet};
    use std::sync::Mutex;
    use std::time::{Duration, UNIX_EPOCH};

    /// In-memory table. Writes for order ids in `failing` fail; `return_old` mimics
    /// ReturnValuesOnConditionCheckFailure=ALL_OLD being honoured.
    struct FakeTable {
        items: Mutex<HashMap<String, OrderRecord>>,
        writes: Mutex<usize>,
        failing: HashSet<String>,
        return_old: bool,
    }

    impl FakeTable {
        fn new() -> Self {
            FakeTable {
                items: Mutex::new(HashMap::new()),
                writes: Mutex::new(0),
                failing: HashSet::new(),
                return_old: true,
            }
        }
    }

    impl OrderStore for FakeTable {
        async fn insert_if_absent(&self, record: &OrderRecord) -> Result<Insert, StoreError> {
            if self.failing.contains(&record.order_id) {
                return Err(StoreError("ProvisionedThroughputExceededException".into()));
            }
            let mut items = self.items.lock().unwrap();
            if let Some(existing) = items.get(&record.order_id) {
                return Ok(Insert::AlreadyExists {
                    existing: self.return_old.then(|| Box::new(existing.clone())),
                });
            }
            *self.writes.lock().unwrap() += 1;
            items.insert(record.order_id.clone(), record.clone());
            Ok(Insert::Stored)
        }
    }

    fn message(id: &str, body: &str) -> serde_json::Value {
        json!({
            "messageId": id,
            "receiptHandle": format!("rh-{id}"),
            "body": body,
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:orders",
            "awsRegion": "us-east-1"
        })
    }

    fn batch(messages: Vec<serde_json::Value>) -> SqsEvent {
        serde_json::from_value(json!({ "Records": messages })).unwrap()
    }

    fn order_body(order_id: &str) -> String {
        serde_json::to_string(&sample::valid_order(Some(order_id.into()))).unwrap()
    }

    fn failed_ids(response: &SqsBatchResponse) -> Vec<&str> {
        response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    #[tokio::test]
    async fn valid_order_is_stored_once_as_processed() {
        let table = FakeTable::new();
        let response = handle(
            batch(vec![message("m-1", &order_body("ord-1"))]),
            &table,
            now(),
            None,
        )
        .await
        .unwrap();
        assert!(response.batch_item_failures.is_empty());
        let items = table.items.lock().unwrap();
        let stored = &items["ord-1"];
        assert_eq!(stored.status, Status::Processed);
        assert_eq!(stored.message_id.as_deref(), Some("m-1"));
        assert_eq!(stored.received_at, "2023-11-14T22:13:20.000Z");
        assert_eq!(stored.total_minor, Some(2999));
        assert_eq!(*table.writes.lock().unwrap(), 1);
    }

    #[tokio::test]
    async fn duplicate_delivery_succeeds_without_a_second_write() {
        for return_old in [true, false] {
            let mut table = FakeTable::new();
            table.return_old = return_old;
            let body = order_body("ord-dup");
            handle(batch(vec![message("m-1", &body)]), &table, now(), None)
                .await
                .unwrap();
            // SQS redelivers the same message (at-least-once), e.g. after a timeout.
            let later = now() + Duration::from_secs(60);
            let response = handle(batch(vec![message("m-1", &body)]), &table, later, Some(1))
                .await
                .unwrap();
            assert!(response.batch_item_failures.is_empty());
            assert_eq!(*table.writes.lock().unwrap(), 1);
            let items = table.items.lock().unwrap();
            assert_eq!(items["ord-dup"].received_at, "2023-11-14T22:13:20.000Z");
            assert_eq!(items["ord-dup"].expires_at, None);
        }
    }

    #[tokio::test]
    async fn same_order_sent_twice_is_a_duplicate_too() {
        // validate-order may queue one event twice (EventBridge delivers at least once).
        let table = FakeTable::new();
        let body = order_body("ord-twice");
        let response = handle(
            batch(vec![message("m-1", &body), message("m-2", &body)]),
            &table,
            now(),
            None,
        )
        .await
        .unwrap();
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(*table.writes.lock().unwrap(), 1);
        assert_eq!(
            table.items.lock().unwrap()["ord-twice"]
                .message_id
                .as_deref(),
            Some("m-1")
        );
    }

    #[tokio::test]
    async fn a_different_order_under_a_taken_id_is_a_failure_not_an_overwrite() {
        let table = FakeTable::new();
        handle(
            batch(vec![message("m-1", &order_body("ord-c"))]),
            &table,
            now(),
            None,
        )
        .await
        .unwrap();
        let other = sample::OrderBuilder::new()
            .order_id("ord-c")
            .item("OTHER", 1, 1)
            .build();
        let response = handle(
            batch(vec![message(
                "m-2",
                &serde_json::to_string(&other).unwrap(),
            )]),
            &table,
            now(),
            None,
        )
        .await
        .unwrap();
        assert_eq!(failed_ids(&response), ["m-2"]);
        assert_eq!(
            table.items.lock().unwrap()["ord-c"].message_id.as_deref(),
            Some("m-1")
        );
    }

    #[tokio::test]
    async fn poison_messages_are_reported_and_not_stored() {
        let table = FakeTable::new();
        let invalid = serde_json::to_string(&sample::invalid_order()).unwrap();
        let response = handle(
            batch(vec![
                message("m-garbage", "not json"),
                message("m-invalid", &invalid),
                message("m-array", "[]"),
            ]),
            &table,
            now(),
            None,
        )
        .await
        .unwrap();
        assert_eq!(failed_ids(&response), ["m-garbage", "m-invalid", "m-array"]);
        assert!(table.items.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn mixed_batch_reports_only_the_bad_messages() {
        let mut table = FakeTable::new();
        table.failing.insert("ord-throttled".into());
        let response = handle(
            batch(vec![
                message("m-1", &order_body("ord-a")),
                message("m-2", "{\"order_id\": 1}"),
                message("m-3", &order_body("ord-b")),
                message("m-4", &order_body("ord-throttled")),
            ]),
            &table,
            now(),
            None,
        )
        .await
        .unwrap();
        assert_eq!(failed_ids(&response), ["m-2", "m-4"]);
        let items = table.items.lock().unwrap();
        assert_eq!(items.len(), 2);
        assert!(items.contains_key("ord-a") && items.contains_key("ord-b"));
    }

    #[tokio::test]
    async fn a_failure_without_message_id_fails_the_invocation() {
        let table = FakeTable::new();
        let mut no_id = message("x", "garbage");
        no_id.as_object_mut().unwrap().remove("messageId");
        let err = handle(
            batch(vec![message("m-1", &order_body("ord-n")), no_id]),
            &table,
            now(),
            None,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, HandlerError::UnidentifiedFailures(1)));
        // The good message was still stored; its redelivery will be a duplicate.
        assert!(table.items.lock().unwrap().contains_key("ord-n"));
    }

    #[tokio::test]
    async fn empty_batch_and_response_shape() {
        let table = FakeTable::new();
        let response = handle(batch(vec![]), &table, now(), None).await.unwrap();
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({"batchItemFailures": []})
        );
        let response = handle(batch(vec![message("m-9", "")]), &table, now(), None)
            .await
            .unwrap();
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "m-9"}]})
        );
    }

    #[tokio::test]
    async fn ttl_sets_expiry() {
        let table = FakeTable::new();
        handle(
            batch(vec![message("m-1", &order_body("ord-t"))]),
            &table,
            now(),
            Some(10),
        )
        .await
        .unwrap();
        assert_eq!(
            table.items.lock().unwrap()["ord-t"].expires_at,
            Some(1_700_000_000 + 10 * 86_400)
        );
    }
}
