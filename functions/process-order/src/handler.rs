//! What process-order does with one batch of orders-queue messages, independent of AWS: the
//! table goes through [`OrderStore`] and the bus through [`StatusEvents`], so the decisions are
//! unit-tested with in-memory fakes.
//!
//! Each order moves to PROCESSED with one conditional write (from no record, RECEIVED or
//! VALIDATED; see `order_domain::lifecycle`), writing every order field when there was no
//! record, and its `OrderStatusChanged` event is published after the write.

use std::time::SystemTime;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use order_domain::item::{OrderRecord, Status};
use order_domain::lifecycle::{classify_refusal, Refusal, TransitionOutcome};
use order_domain::OrderStatusChanged;
use tracing::Instrument;

/// The orders table as process-order uses it.
pub trait OrderStore {
    /// The conditional PROCESSED transition of `candidate` (never overwriting another order or
    /// moving an order back).
    async fn transition(&self, candidate: &OrderRecord) -> Result<TransitionOutcome, StoreError>;
    /// Records that `status`'s `OrderStatusChanged` event is published.
    async fn settle(&self, order_id: &str, status: Status) -> Result<(), StoreError>;
}

/// The pipeline's bus as process-order uses it.
pub trait StatusEvents {
    /// Publishes `OrderStatusChanged`; any failed entry is an error.
    async fn publish_status(&self, change: &OrderStatusChanged) -> Result<(), PublishError>;
}

/// A failed table write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DynamoDB UpdateItem failed: {0}")]
pub struct StoreError(pub String);

/// A failed publish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("EventBridge PutEvents failed: {0}")]
pub struct PublishError(pub String);

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
    /// The order moved to PROCESSED and its event is published.
    Stored,
    /// An earlier delivery already made the order PROCESSED and published its event;
    /// nothing was written or published.
    Duplicate,
    /// An earlier delivery made the order PROCESSED but failed to publish its event; this one
    /// published it (nothing written but the settle mark).
    Republished,
    /// The order is already REJECTED (final): nothing written or published.
    Superseded,
    /// The body is not a valid order: redelivered up to maxReceiveCount, then dead-lettered.
    Poison,
    /// The order id is already taken by a different order; it is not overwritten, and the
    /// message is failed so it ends in the DLQ for an operator to see.
    Conflict,
    /// The write failed; redelivery retries it.
    StoreFailed,
    /// The order is PROCESSED but its event could not be published; redelivery publishes it.
    PublishFailed,
}

impl Disposition {
    fn is_failure(&self) -> bool {
        matches!(
            self,
            Disposition::Poison
                | Disposition::Conflict
                | Disposition::StoreFailed
                | Disposition::PublishFailed
        )
    }
}

/// Handles a batch (ReportBatchItemFailures is on): every message is handled on its own and
/// only the failed ones are reported, so one bad message never fails its batch.
pub async fn handle(
    event: SqsEvent,
    store: &impl OrderStore,
    bus: &impl StatusEvents,
    now: SystemTime,
    ttl_days: Option<u32>,
) -> Result<SqsBatchResponse, HandlerError> {
    let mut failures = Vec::new();
    let mut unidentified = 0;
    for message in &event.records {
        if process(message, store, bus, now, ttl_days)
            .await
            .is_failure()
        {
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

/// Handles one message and logs what became of it, every line in a span carrying the order id
/// (as the body states it, even when invalid) so `orderflow trace` finds them all.
pub async fn process(
    message: &SqsMessage,
    store: &impl OrderStore,
    bus: &impl StatusEvents,
    now: SystemTime,
    ttl_days: Option<u32>,
) -> Disposition {
    let body = message.body.as_deref().unwrap_or_default();
    let stated_id = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("order_id")
                .and_then(|id| id.as_str())
                .map(str::to_owned)
        });
    let span = tracing::info_span!("order", order_id = stated_id.as_deref());
    async {
        tracing::info!(
            message_id = message.message_id.as_deref(),
            receive_count = message
                .attributes
                .get("ApproximateReceiveCount")
                .map(String::as_str),
            "message received"
        );
        process_in_span(message, store, bus, now, ttl_days).await
    }
    .instrument(span)
    .await
}

async fn process_in_span(
    message: &SqsMessage,
    store: &impl OrderStore,
    bus: &impl StatusEvents,
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
    let candidate = OrderRecord::processed(&order, message_id, now, ttl_days);
    let (change, success) = match store.transition(&candidate).await {
        Ok(TransitionOutcome::Applied {
            old_status,
            old_customer_id,
        }) => {
            tracing::info!(
                message_id,
                order_id = order.order_id(),
                old_status = old_status.map(Status::as_str),
                total_minor = order.total_minor,
                currency = %order.currency,
                "order stored as PROCESSED"
            );
            (
                OrderStatusChanged::for_transition(&candidate, old_status, old_customer_id),
                Disposition::Stored,
            )
        }
        Ok(TransitionOutcome::Refused { current }) => {
            match classify_refusal(&candidate, current.as_deref()) {
                Refusal::AlreadyInTarget {
                    replay: Some(change),
                } => {
                    tracing::info!(
                        message_id,
                        order_id = order.order_id(),
                        receive_count,
                        "the order is already PROCESSED but its event is not known to be published; publishing it again"
                    );
                    (change, Disposition::Republished)
                }
                Refusal::AlreadyInTarget { replay: None } | Refusal::Unknown => {
                    // Without the old item (not returned) the failed condition still proves the
                    // order cannot move to PROCESSED, which is what redelivery of this very
                    // message produces.
                    tracing::info!(
                        message_id,
                        order_id = order.order_id(),
                        receive_count,
                        stored_by_message_id =
                            current.as_ref().and_then(|c| c.message_id.as_deref()),
                        "duplicate delivery: the order is already stored; nothing written"
                    );
                    return Disposition::Duplicate;
                }
                Refusal::Superseded { current: status } => {
                    tracing::warn!(
                        message_id,
                        order_id = order.order_id(),
                        current_status = %status,
                        "the order is already in a final status; not moving it"
                    );
                    return Disposition::Superseded;
                }
                Refusal::Conflict { current: status } => {
                    let existing = current.as_deref();
                    tracing::error!(
                        message_id,
                        order_id = order.order_id(),
                        existing_status = %status,
                        existing_message_id = existing.and_then(|e| e.message_id.as_deref()),
                        existing_event_id = existing.and_then(|e| e.event_id.as_deref()),
                        "the order id is already recorded for a different order; not overwriting it, failing the message so it ends in the dead-letter queue"
                    );
                    return Disposition::Conflict;
                }
            }
        }
        Err(err) => {
            tracing::error!(
                message_id,
                order_id = order.order_id(),
                receive_count,
                error = %err,
                "could not store the order; reporting the message as failed so it is redelivered"
            );
            return Disposition::StoreFailed;
        }
    };
    if let Err(err) = bus.publish_status(&change).await {
        tracing::error!(
            message_id,
            order_id = order.order_id(),
            receive_count,
            error = %err,
            "could not publish OrderStatusChanged; reporting the message as failed so its redelivery publishes it"
        );
        return Disposition::PublishFailed;
    }
    tracing::info!(
        message_id,
        order_id = order.order_id(),
        detail_type = "OrderStatusChanged",
        new_status = %change.new_status,
        "event published"
    );
    // Bookkeeping only: if it fails, a later redelivery publishes the event once more.
    if let Err(err) = store.settle(&change.order_id, Status::Processed).await {
        tracing::warn!(
            message_id,
            order_id = order.order_id(),
            error = %err,
            "could not mark the PROCESSED event as published; a redelivery would publish it again"
        );
    }
    success
}

#[cfg(test)]
mod tests {
    use super::*;
    use order_domain::memory::MemoryTable;
    use order_domain::sample;
    use serde_json::json;
    use std::collections::HashSet;
    use std::sync::Mutex;
    use std::time::{Duration, UNIX_EPOCH};

    /// In-memory table. Writes for order ids in `failing` fail; `return_old` mimics
    /// ReturnValuesOnConditionCheckFailure=ALL_OLD being honoured. `stores` counts the
    /// transitions written (settle marks are not order writes).
    struct FakeTable {
        table: MemoryTable,
        stores: Mutex<usize>,
        failing: HashSet<String>,
        return_old: bool,
    }

    impl FakeTable {
        fn new() -> Self {
            FakeTable {
                table: MemoryTable::new(),
                stores: Mutex::new(0),
                failing: HashSet::new(),
                return_old: true,
            }
        }

        fn get(&self, order_id: &str) -> OrderRecord {
            self.table.get(order_id).expect("stored record")
        }

        fn stores(&self) -> usize {
            *self.stores.lock().unwrap()
        }
    }

    impl OrderStore for FakeTable {
        async fn transition(
            &self,
            candidate: &OrderRecord,
        ) -> Result<TransitionOutcome, StoreError> {
            if self.failing.contains(&candidate.order_id) {
                return Err(StoreError("ProvisionedThroughputExceededException".into()));
            }
            Ok(match self.table.transition(candidate) {
                applied @ TransitionOutcome::Applied { .. } => {
                    *self.stores.lock().unwrap() += 1;
                    applied
                }
                TransitionOutcome::Refused { current } => TransitionOutcome::Refused {
                    current: current.filter(|_| self.return_old),
                },
            })
        }

        async fn settle(&self, order_id: &str, status: Status) -> Result<(), StoreError> {
            self.table.settle(order_id, status);
            Ok(())
        }
    }

    /// In-memory bus; publishes fail while `failing` is set.
    #[derive(Default)]
    struct FakeBus {
        events: Mutex<Vec<OrderStatusChanged>>,
        failing: Mutex<bool>,
    }

    impl FakeBus {
        fn events(&self) -> Vec<OrderStatusChanged> {
            self.events.lock().unwrap().clone()
        }
    }

    impl StatusEvents for FakeBus {
        async fn publish_status(&self, change: &OrderStatusChanged) -> Result<(), PublishError> {
            if *self.failing.lock().unwrap() {
                return Err(PublishError(
                    "1 of 1 entries failed: InternalFailure".into(),
                ));
            }
            self.events.lock().unwrap().push(change.clone());
            Ok(())
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

    fn valid(order_id: &str) -> order_domain::ValidOrder {
        order_domain::validate(&sample::valid_order(Some(order_id.into()))).unwrap()
    }

    fn statuses(record: &OrderRecord) -> Vec<Status> {
        record.status_history.iter().map(|e| e.status).collect()
    }

    #[tokio::test]
    async fn valid_order_is_stored_once_as_processed() {
        let table = FakeTable::new();
        let bus = FakeBus::default();
        let response = handle(
            batch(vec![message("m-1", &order_body("ord-1"))]),
            &table,
            &bus,
            now(),
            None,
        )
        .await
        .unwrap();
        assert!(response.batch_item_failures.is_empty());
        let stored = table.get("ord-1");
        assert_eq!(stored.status, Status::Processed);
        assert_eq!(stored.message_id.as_deref(), Some("m-1"));
        assert_eq!(stored.received_at, "2023-11-14T22:13:20.000Z");
        assert_eq!(stored.total_minor, Some(2999));
        assert_eq!(stored.items, Some(sample::sample_items()));
        assert_eq!(statuses(&stored), [Status::Processed]);
        assert_eq!(stored.settled, [Status::Processed]);
        assert_eq!(table.stores(), 1);
        assert_eq!(
            bus.events(),
            [OrderStatusChanged {
                order_id: "ord-1".into(),
                old_status: None,
                new_status: Status::Processed,
                at: "2023-11-14T22:13:20.000Z".into(),
                reasons: vec![],
                customer_id: Some(sample::SAMPLE_CUSTOMER_ID.into()),
            }]
        );
    }

    #[tokio::test]
    async fn received_and_validated_orders_move_to_processed() {
        for from in [Status::Received, Status::Validated] {
            let table = FakeTable::new();
            let bus = FakeBus::default();
            let order = valid("ord-v");
            let earlier = now() - Duration::from_secs(1);
            let first = match from {
                Status::Received => OrderRecord::received(&order, "h", earlier, None),
                _ => OrderRecord::validated(&order, Some("ev".into()), earlier, None),
            };
            table.table.transition(&first);
            let response = handle(
                batch(vec![message("m-1", &order_body("ord-v"))]),
                &table,
                &bus,
                now(),
                None,
            )
            .await
            .unwrap();
            assert!(response.batch_item_failures.is_empty());
            let stored = table.get("ord-v");
            assert_eq!(statuses(&stored), [from, Status::Processed], "{from}");
            assert_eq!(stored.received_at, "2023-11-14T22:13:19.000Z");
            assert_eq!(stored.message_id.as_deref(), Some("m-1"));
            let events = bus.events();
            assert_eq!(events.len(), 1);
            assert_eq!(events[0].old_status, Some(from));
            assert_eq!(events[0].at, "2023-11-14T22:13:20.000Z");
        }
    }

    #[tokio::test]
    async fn duplicate_delivery_succeeds_without_a_second_write() {
        for return_old in [true, false] {
            let mut table = FakeTable::new();
            table.return_old = return_old;
            let bus = FakeBus::default();
            let body = order_body("ord-dup");
            handle(
                batch(vec![message("m-1", &body)]),
                &table,
                &bus,
                now(),
                None,
            )
            .await
            .unwrap();
            let writes = table.table.writes();
            // SQS redelivers the same message (at-least-once), e.g. after a timeout.
            let later = now() + Duration::from_secs(60);
            let response = handle(
                batch(vec![message("m-1", &body)]),
                &table,
                &bus,
                later,
                Some(1),
            )
            .await
            .unwrap();
            assert!(response.batch_item_failures.is_empty());
            assert_eq!(table.stores(), 1);
            assert_eq!(table.table.writes(), writes);
            assert_eq!(bus.events().len(), 1, "no duplicate event");
            let stored = table.get("ord-dup");
            assert_eq!(stored.received_at, "2023-11-14T22:13:20.000Z");
            assert_eq!(stored.expires_at, None);
        }
    }

    #[tokio::test]
    async fn same_order_sent_twice_is_a_duplicate_too() {
        // validate-order may queue one event twice (EventBridge delivers at least once).
        let table = FakeTable::new();
        let bus = FakeBus::default();
        let body = order_body("ord-twice");
        let response = handle(
            batch(vec![message("m-1", &body), message("m-2", &body)]),
            &table,
            &bus,
            now(),
            None,
        )
        .await
        .unwrap();
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(table.stores(), 1);
        assert_eq!(table.get("ord-twice").message_id.as_deref(), Some("m-1"));
        assert_eq!(bus.events().len(), 1);
    }

    #[tokio::test]
    async fn a_failed_publish_fails_the_message_and_its_redelivery_publishes_it() {
        let table = FakeTable::new();
        let bus = FakeBus::default();
        *bus.failing.lock().unwrap() = true;
        let body = order_body("ord-pub");
        let response = handle(
            batch(vec![message("m-1", &body)]),
            &table,
            &bus,
            now(),
            None,
        )
        .await
        .unwrap();
        assert_eq!(failed_ids(&response), ["m-1"]);
        assert_eq!(table.get("ord-pub").status, Status::Processed);
        assert!(table.get("ord-pub").settled.is_empty());
        // The redelivery: no second write, the same event (same `at`, from the stored history).
        *bus.failing.lock().unwrap() = false;
        let later = now() + Duration::from_secs(30);
        let response = handle(
            batch(vec![message("m-1", &body)]),
            &table,
            &bus,
            later,
            None,
        )
        .await
        .unwrap();
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(table.stores(), 1);
        let events = bus.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].at, "2023-11-14T22:13:20.000Z");
        assert_eq!(events[0].old_status, None);
        assert_eq!(table.get("ord-pub").settled, [Status::Processed]);
        assert_eq!(
            process(
                &serde_json::from_value(message("m-1", &body)).unwrap(),
                &table,
                &bus,
                later,
                None
            )
            .await,
            Disposition::Duplicate
        );
    }

    #[tokio::test]
    async fn a_rejected_order_is_never_moved_to_processed() {
        let table = FakeTable::new();
        let bus = FakeBus::default();
        let order = valid("ord-rej");
        table
            .table
            .transition(&OrderRecord::received(&order, "h", now(), None));
        let raw = serde_json::to_value(order.order()).unwrap();
        let rejected = OrderRecord::rejected(
            &raw,
            vec![order_domain::Reason::new(
                order_domain::ReasonCode::TotalMismatch,
                "m",
            )],
            None,
            now(),
            None,
        )
        .unwrap();
        table.table.transition(&rejected);
        let before = table.get("ord-rej");
        let writes = table.table.writes();
        let disposition = process(
            &serde_json::from_value(message("m-1", &order_body("ord-rej"))).unwrap(),
            &table,
            &bus,
            now(),
            None,
        )
        .await;
        assert_eq!(disposition, Disposition::Superseded);
        assert_eq!(table.get("ord-rej"), before);
        assert_eq!(table.table.writes(), writes);
        assert!(bus.events().is_empty());
    }

    #[tokio::test]
    async fn a_different_order_under_a_taken_id_is_a_failure_not_an_overwrite() {
        let table = FakeTable::new();
        let bus = FakeBus::default();
        handle(
            batch(vec![message("m-1", &order_body("ord-c"))]),
            &table,
            &bus,
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
            &bus,
            now(),
            None,
        )
        .await
        .unwrap();
        assert_eq!(failed_ids(&response), ["m-2"]);
        assert_eq!(table.get("ord-c").message_id.as_deref(), Some("m-1"));
        assert_eq!(bus.events().len(), 1);
        // The same for a RECEIVED record of a different order.
        let received = OrderRecord::received(&valid("ord-c2"), "h", now(), None);
        table.table.transition(&received);
        let different = sample::OrderBuilder::new()
            .order_id("ord-c2")
            .item("OTHER", 1, 1)
            .build();
        let disposition = process(
            &serde_json::from_value(message("m-3", &serde_json::to_string(&different).unwrap()))
                .unwrap(),
            &table,
            &bus,
            now(),
            None,
        )
        .await;
        assert_eq!(disposition, Disposition::Conflict);
        assert_eq!(table.get("ord-c2"), received);
    }

    #[tokio::test]
    async fn poison_messages_are_reported_and_not_stored() {
        let table = FakeTable::new();
        let bus = FakeBus::default();
        let invalid = serde_json::to_string(&sample::invalid_order()).unwrap();
        let response = handle(
            batch(vec![
                message("m-garbage", "not json"),
                message("m-invalid", &invalid),
                message("m-array", "[]"),
            ]),
            &table,
            &bus,
            now(),
            None,
        )
        .await
        .unwrap();
        assert_eq!(failed_ids(&response), ["m-garbage", "m-invalid", "m-array"]);
        assert!(table.table.is_empty());
        assert!(bus.events().is_empty());
    }

    #[tokio::test]
    async fn mixed_batch_reports_only_the_bad_messages() {
        let mut table = FakeTable::new();
        table.failing.insert("ord-throttled".into());
        let bus = FakeBus::default();
        let response = handle(
            batch(vec![
                message("m-1", &order_body("ord-a")),
                message("m-2", "{\"order_id\": 1}"),
                message("m-3", &order_body("ord-b")),
                message("m-4", &order_body("ord-throttled")),
            ]),
            &table,
            &bus,
            now(),
            None,
        )
        .await
        .unwrap();
        assert_eq!(failed_ids(&response), ["m-2", "m-4"]);
        assert_eq!(table.table.len(), 2);
        assert!(table.table.get("ord-a").is_some() && table.table.get("ord-b").is_some());
        assert_eq!(bus.events().len(), 2);
    }

    #[tokio::test]
    async fn a_failure_without_message_id_fails_the_invocation() {
        let table = FakeTable::new();
        let bus = FakeBus::default();
        let mut no_id = message("x", "garbage");
        no_id.as_object_mut().unwrap().remove("messageId");
        let err = handle(
            batch(vec![message("m-1", &order_body("ord-n")), no_id]),
            &table,
            &bus,
            now(),
            None,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, HandlerError::UnidentifiedFailures(1)));
        // The good message was still stored; its redelivery will be a duplicate.
        assert!(table.table.get("ord-n").is_some());
    }

    #[tokio::test]
    async fn empty_batch_and_response_shape() {
        let table = FakeTable::new();
        let bus = FakeBus::default();
        let response = handle(batch(vec![]), &table, &bus, now(), None)
            .await
            .unwrap();
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({"batchItemFailures": []})
        );
        let response = handle(batch(vec![message("m-9", "")]), &table, &bus, now(), None)
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
        let bus = FakeBus::default();
        handle(
            batch(vec![message("m-1", &order_body("ord-t"))]),
            &table,
            &bus,
            now(),
            Some(10),
        )
        .await
        .unwrap();
        assert_eq!(
            table.get("ord-t").expires_at,
            Some(1_700_000_000 + 10 * 86_400)
        );
    }
}
