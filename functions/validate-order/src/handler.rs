//! What validate-order does with one `OrderPlaced` event, independent of AWS: the calls it
//! makes go through [`Effects`], so the decisions are unit-tested with an in-memory fake.
//!
//! A valid order moves to VALIDATED, an invalid one to REJECTED, each with one conditional
//! write (see `order_domain::lifecycle`) followed by its `OrderStatusChanged` event; then the
//! order is queued (valid) or announced as `OrderRejected` (invalid), as before the lifecycle.

use std::time::SystemTime;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use order_domain::item::{OrderRecord, Status};
use order_domain::lifecycle::{classify_refusal, Refusal, TransitionOutcome};
use order_domain::{
    OrderRejected, OrderStatusChanged, RawJson, Reason, ValidOrder, ORDER_PLACED, SOURCE,
};
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;

/// The AWS calls validate-order makes. Every error is treated as transient: the invocation
/// fails, Lambda retries it, and after the last retry the event goes to the function's DLQ.
pub trait Effects {
    /// Sends a valid order to the orders queue; returns the SQS message id.
    async fn enqueue(&self, order: &ValidOrder) -> Result<String, EffectError>;
    /// The conditional transition write of `candidate` (VALIDATED or REJECTED).
    async fn transition(&self, candidate: &OrderRecord) -> Result<TransitionOutcome, EffectError>;
    /// Records that `status`'s `OrderStatusChanged` event (and, for REJECTED, the
    /// `OrderRejected` event) is published.
    async fn settle(&self, order_id: &str, status: Status) -> Result<(), EffectError>;
    /// Publishes `OrderStatusChanged` on the pipeline's bus.
    async fn publish_status(&self, change: &OrderStatusChanged) -> Result<(), EffectError>;
    /// Publishes `OrderRejected` on the pipeline's bus.
    async fn publish_rejection(&self, rejection: &OrderRejected) -> Result<(), EffectError>;
}

/// A failed AWS call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed: {message}")]
pub struct EffectError {
    /// e.g. "SQS SendMessage".
    pub operation: &'static str,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The rule routed an event this function does not handle (a configuration mistake).
    #[error(
        "unexpected event (source {event_source:?}, detail-type {detail_type:?}); validate-order handles only source {SOURCE:?} with detail-type {ORDER_PLACED:?}"
    )]
    UnexpectedEvent {
        event_source: String,
        detail_type: String,
    },
    #[error(transparent)]
    Effect(#[from] EffectError),
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(err: HandlerError) -> Self {
        let error_type = match &err {
            HandlerError::UnexpectedEvent { .. } => "UnexpectedEvent",
            HandlerError::Effect(_) => "TransientFailure",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: err.to_string(),
        }
    }
}

/// The function's response (ignored by EventBridge's asynchronous invocation; useful when it is
/// invoked directly).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Accepted {
        order_id: String,
        message_id: String,
    },
    Rejected {
        order_id: Option<String>,
        reasons: Vec<Reason>,
        record: RejectionRecord,
    },
}

/// What happened to the REJECTED record of a rejected order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionRecord {
    /// The order moved to REJECTED (a new record, or a RECEIVED/VALIDATED one).
    Stored,
    /// A record with this order id existed and could not move to REJECTED (an earlier
    /// attempt already rejected it, or it is PROCESSED); it was not overwritten.
    AlreadyRecorded,
    /// The order id is not usable as a key, so only the event carries the rejection.
    NoUsableOrderId,
}

/// What to publish after a transition attempt: the status event of a transition just made or
/// made by an earlier attempt whose publish failed; `None` when there is nothing to announce.
struct AfterTransition {
    announce: Option<OrderStatusChanged>,
    /// The refusal, when the write was refused.
    refusal: Option<Refusal>,
}

/// Writes `candidate`'s transition and works out what to announce.
async fn transition(
    candidate: &OrderRecord,
    event_id: Option<&str>,
    effects: &impl Effects,
) -> Result<AfterTransition, EffectError> {
    let outcome = effects.transition(candidate).await.inspect_err(|err| {
        tracing::error!(
            event_id,
            order_id = %candidate.order_id,
            status = %candidate.status,
            error = %err,
            "could not record the status; failing so Lambda retries the event"
        );
    })?;
    Ok(match outcome {
        TransitionOutcome::Applied {
            old_status,
            old_customer_id,
        } => {
            tracing::info!(
                event_id,
                order_id = %candidate.order_id,
                old_status = old_status.map(Status::as_str),
                new_status = %candidate.status,
                "status recorded"
            );
            AfterTransition {
                announce: Some(OrderStatusChanged::for_transition(
                    candidate,
                    old_status,
                    old_customer_id,
                )),
                refusal: None,
            }
        }
        TransitionOutcome::Refused { current } => {
            let refusal = classify_refusal(candidate, current.as_deref());
            let announce = match &refusal {
                Refusal::AlreadyInTarget { replay } => {
                    tracing::info!(
                        event_id,
                        order_id = %candidate.order_id,
                        status = %candidate.status,
                        republish = replay.is_some(),
                        "the order already has this status (a retry or redelivery); nothing written"
                    );
                    replay.clone()
                }
                Refusal::Superseded { current } => {
                    tracing::info!(
                        event_id,
                        order_id = %candidate.order_id,
                        current_status = %current,
                        status = %candidate.status,
                        "the order is already past this status (a late or redelivered event); not moving it back"
                    );
                    None
                }
                Refusal::Conflict { current } => {
                    tracing::error!(
                        event_id,
                        order_id = %candidate.order_id,
                        current_status = %current,
                        "the order id is recorded for a different order; its record is left untouched"
                    );
                    None
                }
                Refusal::Unknown => {
                    tracing::warn!(
                        event_id,
                        order_id = %candidate.order_id,
                        status = %candidate.status,
                        "the status write was refused and the stored record was not returned; nothing written"
                    );
                    None
                }
            };
            AfterTransition {
                announce,
                refusal: Some(refusal),
            }
        }
    })
}

async fn publish_status(
    change: &OrderStatusChanged,
    event_id: Option<&str>,
    effects: &impl Effects,
) -> Result<(), EffectError> {
    effects.publish_status(change).await.inspect_err(|err| {
        tracing::error!(
            event_id,
            order_id = %change.order_id,
            new_status = %change.new_status,
            error = %err,
            "could not publish OrderStatusChanged; failing so Lambda retries the event (the retry publishes it again)"
        );
    })?;
    tracing::info!(
        event_id,
        order_id = %change.order_id,
        detail_type = "OrderStatusChanged",
        new_status = %change.new_status,
        "event published"
    );
    Ok(())
}

/// Settling is bookkeeping: when it fails, a later redelivery publishes the event once more
/// (consumers dedupe), which is no reason to fail an invocation whose work is done.
async fn settle(change: &OrderStatusChanged, effects: &impl Effects) {
    if let Err(err) = effects.settle(&change.order_id, change.new_status).await {
        tracing::warn!(
            order_id = %change.order_id,
            status = %change.new_status,
            error = %err,
            "could not mark the status event as published; a redelivery would publish it again"
        );
    }
}

/// Handles one `OrderPlaced` event: a valid order is recorded as VALIDATED and queued; an
/// invalid one is recorded as REJECTED and announced as `OrderRejected` (a handled outcome,
/// so `Ok`). Any failed call is an `Err`, making Lambda retry the whole event; every step is
/// safe to repeat.
pub async fn handle(
    event: EventBridgeEvent<RawJson>,
    effects: &impl Effects,
    now: SystemTime,
    ttl_days: Option<u32>,
) -> Result<Outcome, HandlerError> {
    if event.source != SOURCE || event.detail_type != ORDER_PLACED {
        tracing::error!(
            event_id = event.id.as_deref(),
            source = %event.source,
            detail_type = %event.detail_type,
            "unexpected event; failing so it ends in the dead-letter queue"
        );
        return Err(HandlerError::UnexpectedEvent {
            event_source: event.source,
            detail_type: event.detail_type,
        });
    }
    let event_id = event.id;
    // The detail stays raw text: parsed for the checks, echoed verbatim in OrderRejected and
    // quoted from in the reasons (a `Value` would turn 100000000000000000000 into 1e20).
    let detail = event.detail;
    let (value, verdict) = match detail.parse() {
        Ok(value) => {
            let verdict = order_domain::validate_json_source(&value, detail.get());
            (value, verdict)
        }
        // Valid JSON that `Value` cannot hold (a number beyond f64, e.g. 1e400): rejected as
        // malformed, with nothing to key a record under.
        Err(_) => (Value::Null, order_domain::validate_str(detail.get())),
    };
    // Every line about this event carries the order id (as written, even when invalid) through
    // the span, so `orderflow trace` finds them all with the id as filter pattern.
    let stated_id = value
        .get("order_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let span = tracing::info_span!(
        "order",
        order_id = stated_id.as_deref(),
        event_id = event_id.as_deref(),
    );
    async move {
        tracing::info!(
            event_id = event_id.as_deref(),
            detail_type = ORDER_PLACED,
            "event received"
        );
        match verdict {
            Ok(order) => accept(order, event_id, effects, now, ttl_days).await,
            Err(reasons) => reject(value, detail, reasons, event_id, effects, now, ttl_days).await,
        }
    }
    .instrument(span)
    .await
}

async fn accept(
    order: ValidOrder,
    event_id: Option<String>,
    effects: &impl Effects,
    now: SystemTime,
    ttl_days: Option<u32>,
) -> Result<Outcome, HandlerError> {
    let event_id_ref = event_id.as_deref();
    let candidate = OrderRecord::validated(&order, event_id.clone(), now, ttl_days);
    // The status first, so it precedes anything process-order records; then its event; then
    // the queue. The order is queued whatever the write found, as before the lifecycle:
    // process-order is idempotent, and another consumer running this function (its own queue)
    // must get every order even when this one was already validated.
    let after = transition(&candidate, event_id_ref, effects).await?;
    if let Some(change) = &after.announce {
        publish_status(change, event_id_ref, effects).await?;
        settle(change, effects).await;
    }
    let message_id = effects.enqueue(&order).await.inspect_err(|err| {
        tracing::error!(
            event_id = event_id_ref,
            order_id = order.order_id(),
            error = %err,
            "could not queue the order; failing so Lambda retries the event"
        );
    })?;
    tracing::info!(
        event_id = event_id_ref,
        order_id = order.order_id(),
        message_id = %message_id,
        total_minor = order.total_minor,
        currency = %order.currency,
        "order accepted and queued"
    );
    Ok(Outcome::Accepted {
        order_id: order.order_id().to_owned(),
        message_id,
    })
}

async fn reject(
    raw_order: Value,
    detail: RawJson,
    reasons: Vec<Reason>,
    event_id: Option<String>,
    effects: &impl Effects,
    now: SystemTime,
    ttl_days: Option<u32>,
) -> Result<Outcome, HandlerError> {
    let reasons_json = serde_json::to_string(&reasons).unwrap_or_default();
    let record =
        OrderRecord::rejected(&raw_order, reasons.clone(), event_id.clone(), now, ttl_days);
    let order_id = record.as_ref().map(|record| record.order_id.clone());
    tracing::warn!(
        event_id = event_id.as_deref(),
        order_id = order_id.as_deref(),
        reasons = %reasons_json,
        "order rejected"
    );

    // The record first: if publishing fails afterwards, the retry finds the order already
    // REJECTED and only publishes again.
    let (record_outcome, announce, already_announced) = match &record {
        None => {
            tracing::warn!(
                event_id = event_id.as_deref(),
                "the order id is unusable as a table key; the rejection is only published"
            );
            (RejectionRecord::NoUsableOrderId, None, false)
        }
        Some(record) => {
            let after = transition(record, event_id.as_deref(), effects).await?;
            match after.refusal {
                None => (RejectionRecord::Stored, after.announce, false),
                // Rejected and both events published by an earlier attempt: a redelivery.
                Some(Refusal::AlreadyInTarget { replay: None }) => {
                    (RejectionRecord::AlreadyRecorded, None, true)
                }
                Some(_) => (RejectionRecord::AlreadyRecorded, after.announce, false),
            }
        }
    };
    if already_announced {
        return Ok(Outcome::Rejected {
            order_id,
            reasons,
            record: record_outcome,
        });
    }
    if let Some(change) = &announce {
        publish_status(change, event_id.as_deref(), effects).await?;
    }
    let rejection = OrderRejected {
        order_id: order_id.clone(),
        reasons: reasons.clone(),
        order: detail,
    };
    effects
        .publish_rejection(&rejection)
        .await
        .inspect_err(|err| {
            tracing::error!(
                event_id = event_id.as_deref(),
                order_id = order_id.as_deref(),
                error = %err,
                "could not publish OrderRejected; failing so Lambda retries the event"
            );
        })?;
    tracing::info!(
        event_id = event_id.as_deref(),
        order_id = order_id.as_deref(),
        detail_type = "OrderRejected",
        "event published"
    );
    // Settled only once both events are out, so a retry after either failed publishes both.
    if let Some(change) = &announce {
        settle(change, effects).await;
    }
    Ok(Outcome::Rejected {
        order_id,
        reasons,
        record: record_outcome,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use order_domain::item::HistoryEntry;
    use order_domain::memory::MemoryTable;
    use order_domain::{sample, ReasonCode, ORDER_REJECTED};
    use serde_json::json;
    use std::sync::Mutex;
    use std::time::{Duration, UNIX_EPOCH};

    /// In-memory queue, table and bus. `fail` names an operation that fails every time;
    /// `hide_old` mimics a table that does not return the stored item with a failed condition.
    #[derive(Default)]
    struct Fake {
        queued: Mutex<Vec<ValidOrder>>,
        table: MemoryTable,
        published: Mutex<Vec<OrderRejected>>,
        status_events: Mutex<Vec<OrderStatusChanged>>,
        fail: Option<&'static str>,
        hide_old: bool,
    }

    impl Fake {
        fn failing(operation: &'static str) -> Self {
            Fake {
                fail: Some(operation),
                ..Fake::default()
            }
        }

        fn check(&self, operation: &'static str) -> Result<(), EffectError> {
            if self.fail == Some(operation) {
                return Err(EffectError {
                    operation,
                    message: "service unavailable".into(),
                });
            }
            Ok(())
        }

        fn status_events(&self) -> Vec<OrderStatusChanged> {
            self.status_events.lock().unwrap().clone()
        }
    }

    impl Effects for Fake {
        async fn enqueue(&self, order: &ValidOrder) -> Result<String, EffectError> {
            self.check("enqueue")?;
            let mut queued = self.queued.lock().unwrap();
            queued.push(order.clone());
            Ok(format!("msg-{}", queued.len()))
        }

        async fn transition(
            &self,
            candidate: &OrderRecord,
        ) -> Result<TransitionOutcome, EffectError> {
            self.check("record")?;
            Ok(match self.table.transition(candidate) {
                TransitionOutcome::Refused { .. } if self.hide_old => {
                    TransitionOutcome::Refused { current: None }
                }
                outcome => outcome,
            })
        }

        async fn settle(&self, order_id: &str, status: Status) -> Result<(), EffectError> {
            self.check("settle")?;
            self.table.settle(order_id, status);
            Ok(())
        }

        async fn publish_status(&self, change: &OrderStatusChanged) -> Result<(), EffectError> {
            self.check("publish_status")?;
            self.status_events.lock().unwrap().push(change.clone());
            Ok(())
        }

        async fn publish_rejection(&self, rejection: &OrderRejected) -> Result<(), EffectError> {
            self.check("publish")?;
            self.published.lock().unwrap().push(rejection.clone());
            Ok(())
        }
    }

    pub(crate) fn order_placed(detail: Value) -> EventBridgeEvent<RawJson> {
        serde_json::from_value(json!({
            "version": "0",
            "id": "ev-1",
            "detail-type": ORDER_PLACED,
            "source": SOURCE,
            "account": "000000000000",
            "time": "2025-01-01T00:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": detail
        }))
        .unwrap()
    }

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn later() -> SystemTime {
        now() + Duration::from_secs(5)
    }

    fn statuses(record: &OrderRecord) -> Vec<Status> {
        record.status_history.iter().map(|e| e.status).collect()
    }

    fn valid_event(order_id: &str) -> EventBridgeEvent<RawJson> {
        order_placed(serde_json::to_value(sample::valid_order(Some(order_id.into()))).unwrap())
    }

    #[tokio::test]
    async fn valid_order_is_validated_announced_and_queued() {
        let fake = Fake::default();
        let order = sample::valid_order(Some("ord-ok".into()));
        let event = order_placed(serde_json::to_value(&order).unwrap());
        let outcome = handle(event, &fake, now(), None).await.unwrap();
        assert_eq!(
            outcome,
            Outcome::Accepted {
                order_id: "ord-ok".into(),
                message_id: "msg-1".into()
            }
        );
        let queued = fake.queued.lock().unwrap();
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].order(), &order);
        // Published straight to the bus, so no record existed: the VALIDATED record is the
        // whole order.
        let stored = fake.table.get("ord-ok").unwrap();
        assert_eq!(stored.status, Status::Validated);
        assert_eq!(stored.items, Some(order.items.clone()));
        assert_eq!(stored.total_minor, Some(order.total_minor));
        assert_eq!(stored.event_id.as_deref(), Some("ev-1"));
        assert_eq!(
            stored.status_history,
            [HistoryEntry {
                status: Status::Validated,
                at: "2023-11-14T22:13:20.000Z".into(),
                reasons: vec![]
            }]
        );
        assert_eq!(stored.settled, [Status::Validated]);
        assert_eq!(
            fake.status_events(),
            [OrderStatusChanged {
                order_id: "ord-ok".into(),
                old_status: None,
                new_status: Status::Validated,
                at: "2023-11-14T22:13:20.000Z".into(),
                reasons: vec![],
                customer_id: Some(sample::SAMPLE_CUSTOMER_ID.into()),
            }]
        );
        assert!(fake.published.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_received_order_moves_to_validated_keeping_its_record() {
        let fake = Fake::default();
        let order = order_domain::validate(&sample::valid_order(Some("ord-r".into()))).unwrap();
        let received = OrderRecord::received(&order, "hash-1", now(), None);
        fake.table.insert_if_absent(&received);
        handle(valid_event("ord-r"), &fake, later(), None)
            .await
            .unwrap();
        let stored = fake.table.get("ord-r").unwrap();
        assert_eq!(stored.status, Status::Validated);
        assert_eq!(statuses(&stored), [Status::Received, Status::Validated]);
        assert_eq!(stored.received_at, received.received_at);
        assert_eq!(stored.request_hash.as_deref(), Some("hash-1"));
        let events = fake.status_events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].old_status, Some(Status::Received));
        assert_eq!(events[0].at, "2023-11-14T22:13:25.000Z");
        assert_eq!(fake.queued.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_redelivered_event_writes_nothing_and_announces_nothing() {
        let fake = Fake::default();
        handle(valid_event("ord-d"), &fake, now(), None)
            .await
            .unwrap();
        let writes = fake.table.writes();
        let record = fake.table.get("ord-d").unwrap();
        handle(valid_event("ord-d"), &fake, later(), None)
            .await
            .unwrap();
        assert_eq!(fake.table.writes(), writes);
        assert_eq!(fake.table.get("ord-d").unwrap(), record);
        assert_eq!(fake.status_events().len(), 1);
        // Queued again, as before the lifecycle: process-order drops the duplicate.
        assert_eq!(fake.queued.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_late_event_never_moves_an_order_back() {
        for final_status in [Status::Processed, Status::Rejected] {
            let fake = Fake::default();
            let order =
                order_domain::validate(&sample::valid_order(Some("ord-late".into()))).unwrap();
            fake.table
                .transition(&OrderRecord::validated(&order, None, now(), None));
            let moved = match final_status {
                Status::Processed => OrderRecord::processed(&order, "m-1", now(), None),
                _ => OrderRecord::rejected(
                    &serde_json::to_value(order.order()).unwrap(),
                    vec![Reason::new(ReasonCode::TotalMismatch, "m")],
                    None,
                    now(),
                    None,
                )
                .unwrap(),
            };
            fake.table.transition(&moved);
            let before = fake.table.get("ord-late").unwrap();
            let writes = fake.table.writes();
            handle(valid_event("ord-late"), &fake, later(), None)
                .await
                .unwrap();
            assert_eq!(
                fake.table.get("ord-late").unwrap(),
                before,
                "{final_status}"
            );
            assert_eq!(fake.table.writes(), writes);
            assert!(fake.status_events().is_empty());
        }
    }

    #[tokio::test]
    async fn a_failed_status_publish_is_published_again_by_the_retry() {
        let mut fake = Fake::failing("publish_status");
        let err = handle(valid_event("ord-p"), &fake, now(), None)
            .await
            .unwrap_err();
        assert!(matches!(&err, HandlerError::Effect(e) if e.operation == "publish_status"));
        let stored = fake.table.get("ord-p").unwrap();
        assert_eq!(stored.status, Status::Validated);
        assert!(stored.settled.is_empty());
        assert!(fake.queued.lock().unwrap().is_empty());
        // Lambda's retry, with EventBridge reachable again: no second write, the same event.
        fake.fail = None;
        let writes = fake.table.writes();
        handle(valid_event("ord-p"), &fake, later(), None)
            .await
            .unwrap();
        let events = fake.status_events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].old_status, None);
        assert_eq!(events[0].at, "2023-11-14T22:13:20.000Z");
        let stored = fake.table.get("ord-p").unwrap();
        assert_eq!(statuses(&stored), [Status::Validated]);
        assert_eq!(stored.settled, [Status::Validated]);
        // The settle is the only write of the retry.
        assert_eq!(fake.table.writes(), writes + 1);
        assert_eq!(fake.queued.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_failed_enqueue_is_retried_without_a_second_status_event() {
        let mut fake = Fake::failing("enqueue");
        assert!(handle(valid_event("ord-q"), &fake, now(), None)
            .await
            .is_err());
        assert_eq!(fake.status_events().len(), 1);
        fake.fail = None;
        handle(valid_event("ord-q"), &fake, later(), None)
            .await
            .unwrap();
        assert_eq!(fake.status_events().len(), 1);
        assert_eq!(fake.queued.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_failed_settle_does_not_fail_the_invocation() {
        let fake = Fake::failing("settle");
        handle(valid_event("ord-s"), &fake, now(), None)
            .await
            .unwrap();
        assert_eq!(fake.status_events().len(), 1);
        assert!(fake.table.get("ord-s").unwrap().settled.is_empty());
        assert_eq!(fake.queued.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_different_order_under_a_recorded_id_is_not_written() {
        let fake = Fake::default();
        let other = order_domain::validate(
            &sample::OrderBuilder::new()
                .order_id("ord-x")
                .item("OTHER", 1, 7)
                .build(),
        )
        .unwrap();
        let received = OrderRecord::received(&other, "h", now(), None);
        fake.table.insert_if_absent(&received);
        handle(valid_event("ord-x"), &fake, later(), None)
            .await
            .unwrap();
        assert_eq!(fake.table.get("ord-x").unwrap(), received);
        assert!(fake.status_events().is_empty());
        // Queued as before: process-order refuses it and dead-letters the message.
        assert_eq!(fake.queued.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn without_the_stored_record_nothing_is_announced() {
        let fake = Fake {
            hide_old: true,
            ..Fake::default()
        };
        handle(valid_event("ord-h"), &fake, now(), None)
            .await
            .unwrap();
        handle(valid_event("ord-h"), &fake, later(), None)
            .await
            .unwrap();
        assert_eq!(fake.status_events().len(), 1);
        assert_eq!(fake.queued.lock().unwrap().len(), 2);
    }

    /// An `OrderPlaced` event as the Lambda runtime decodes it: JSON text through
    /// `serde_path_to_error` over `serde_json::Deserializer::from_slice`.
    fn decoded(detail_text: &str) -> EventBridgeEvent<RawJson> {
        let text = format!(
            r#"{{"version":"0","id":"ev-1","detail-type":"{ORDER_PLACED}","source":"{SOURCE}","account":"000000000000","time":"2025-01-01T00:00:00Z","region":"us-east-1","resources":[],"detail":{detail_text}}}"#
        );
        let de = &mut serde_json::Deserializer::from_slice(text.as_bytes());
        serde_path_to_error::deserialize(de).unwrap()
    }

    #[tokio::test]
    async fn a_rejection_echoes_the_order_exactly_as_received() {
        let sample = serde_json::to_string(&sample::valid_order(Some("ord-big".into()))).unwrap();
        let total =
            serde_json::to_value(sample::valid_order(None)).unwrap()["total_minor"].to_string();
        for (written, message) in [
            (
                "100000000000000000000",
                "total_minor is 100000000000000000000, outside the 64-bit integer range",
            ),
            (
                "12.50",
                "total_minor must be an integer (amounts are in minor units), got 12.50",
            ),
            ("-1", "total_minor is -1 but the items sum to"),
        ] {
            let detail = sample.replace(
                &format!("\"total_minor\":{total}"),
                &format!("\"total_minor\":{written}"),
            );
            assert!(detail.contains(written), "{detail}");
            let fake = Fake::default();
            let outcome = handle(decoded(&detail), &fake, now(), None).await.unwrap();
            assert!(matches!(outcome, Outcome::Rejected { .. }), "{outcome:?}");
            let published = fake.published.lock().unwrap();
            // The event carries the detail's text, byte for byte.
            assert_eq!(published[0].order.get(), detail);
            let event = serde_json::to_string(&published[0]).unwrap();
            assert!(
                event.contains(&format!("\"total_minor\":{written}")),
                "{event}"
            );
            assert!(
                published[0].reasons[0].message.starts_with(message),
                "{:?}",
                published[0].reasons
            );
            // The record's reasons say the same.
            let stored = fake.table.get("ord-big").unwrap();
            assert_eq!(stored.reasons, published[0].reasons);
        }
    }

    #[tokio::test]
    async fn a_number_beyond_f64_is_rejected_as_malformed_not_a_crash() {
        let fake = Fake::default();
        let detail = r#"{"order_id":"ord-x","total_minor":1e400}"#;
        let outcome = handle(decoded(detail), &fake, now(), None).await.unwrap();
        assert!(matches!(
            outcome,
            Outcome::Rejected {
                record: RejectionRecord::NoUsableOrderId,
                ..
            }
        ));
        let published = fake.published.lock().unwrap();
        assert_eq!(published[0].order.get(), detail);
        assert_eq!(published[0].reasons[0].code, ReasonCode::MalformedJson);
    }

    #[tokio::test]
    async fn invalid_order_is_recorded_and_published_not_queued() {
        let fake = Fake::default();
        let raw = serde_json::to_value(sample::invalid_order()).unwrap();
        let order_id = raw["order_id"].as_str().unwrap().to_owned();
        let outcome = handle(order_placed(raw.clone()), &fake, now(), Some(30))
            .await
            .unwrap();
        let Outcome::Rejected {
            order_id: rejected_id,
            reasons,
            record,
        } = outcome
        else {
            panic!("expected a rejection, got {outcome:?}");
        };
        assert_eq!(rejected_id.as_deref(), Some(order_id.as_str()));
        assert_eq!(reasons[0].code, ReasonCode::TotalMismatch);
        assert_eq!(record, RejectionRecord::Stored);
        assert!(fake.queued.lock().unwrap().is_empty());

        let stored = fake.table.get(&order_id).unwrap();
        assert_eq!(stored.status, Status::Rejected);
        assert_eq!(stored.reasons, reasons);
        assert_eq!(stored.event_id.as_deref(), Some("ev-1"));
        assert_eq!(stored.expires_at, Some(1_700_000_000 + 30 * 86_400));
        assert_eq!(
            stored.status_history,
            [HistoryEntry {
                status: Status::Rejected,
                at: "2023-11-14T22:13:20.000Z".into(),
                reasons: reasons.clone()
            }]
        );
        assert_eq!(stored.settled, [Status::Rejected]);

        let published = fake.published.lock().unwrap();
        assert_eq!(published.len(), 1);
        assert_eq!(published[0].order_id.as_deref(), Some(order_id.as_str()));
        assert_eq!(published[0].reasons, reasons);
        assert_eq!(published[0].order.parse().unwrap(), raw);
        let events = fake.status_events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].old_status, None);
        assert_eq!(events[0].new_status, Status::Rejected);
        assert_eq!(events[0].reasons, reasons);
        assert_eq!(
            events[0].customer_id.as_deref(),
            Some(sample::SAMPLE_CUSTOMER_ID)
        );
    }

    #[tokio::test]
    async fn a_received_or_validated_order_can_be_rejected() {
        for from in [Status::Received, Status::Validated] {
            let fake = Fake::default();
            let order =
                order_domain::validate(&sample::valid_order(Some("ord-rv".into()))).unwrap();
            let first = match from {
                Status::Received => OrderRecord::received(&order, "h", now(), None),
                _ => OrderRecord::validated(&order, None, now(), None),
            };
            fake.table.transition(&first);
            // The same id, broken: a customer_id of the wrong type.
            let mut raw = serde_json::to_value(order.order()).unwrap();
            raw["customer_id"] = json!(5);
            let outcome = handle(order_placed(raw), &fake, later(), None)
                .await
                .unwrap();
            assert!(matches!(
                outcome,
                Outcome::Rejected {
                    record: RejectionRecord::Stored,
                    ..
                }
            ));
            let stored = fake.table.get("ord-rv").unwrap();
            assert_eq!(statuses(&stored), [from, Status::Rejected], "{from}");
            // The recorded order's fields are kept, not replaced by the broken ones.
            assert_eq!(
                stored.customer_id.as_deref(),
                Some(sample::SAMPLE_CUSTOMER_ID)
            );
            let events = fake.status_events();
            assert_eq!(events[0].old_status, Some(from));
            assert_eq!(
                events[0].customer_id.as_deref(),
                Some(sample::SAMPLE_CUSTOMER_ID)
            );
        }
    }

    #[tokio::test]
    async fn a_redelivered_rejection_writes_and_publishes_nothing() {
        let fake = Fake::default();
        let raw = serde_json::to_value(sample::invalid_order()).unwrap();
        handle(order_placed(raw.clone()), &fake, now(), None)
            .await
            .unwrap();
        let writes = fake.table.writes();
        let outcome = handle(order_placed(raw), &fake, later(), None)
            .await
            .unwrap();
        assert!(matches!(
            outcome,
            Outcome::Rejected {
                record: RejectionRecord::AlreadyRecorded,
                ..
            }
        ));
        assert_eq!(fake.table.writes(), writes);
        assert_eq!(fake.status_events().len(), 1);
        assert_eq!(fake.published.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn rejection_never_overwrites_an_existing_record() {
        let fake = Fake::default();
        let order = validate_sample("ord-taken");
        let processed = OrderRecord::processed(&order, "m-1", now(), None);
        fake.table.seed(processed.clone());
        let raw = json!({"order_id": "ord-taken", "customer_id": "c"});
        let outcome = handle(order_placed(raw), &fake, now(), None).await.unwrap();
        assert!(matches!(
            outcome,
            Outcome::Rejected {
                record: RejectionRecord::AlreadyRecorded,
                ..
            }
        ));
        assert_eq!(fake.table.get("ord-taken").unwrap(), processed);
        assert_eq!(fake.published.lock().unwrap().len(), 1);
        assert!(fake.status_events().is_empty());
    }

    #[tokio::test]
    async fn unusable_order_id_is_only_published() {
        let fake = Fake::default();
        let raw = json!({"order_id": "not/usable", "items": "x"});
        let outcome = handle(order_placed(raw.clone()), &fake, now(), None)
            .await
            .unwrap();
        assert!(matches!(
            outcome,
            Outcome::Rejected {
                order_id: None,
                record: RejectionRecord::NoUsableOrderId,
                ..
            }
        ));
        assert!(fake.table.is_empty());
        let published = fake.published.lock().unwrap();
        assert_eq!(published[0].order_id, None);
        assert_eq!(published[0].order.parse().unwrap(), raw);
        assert!(fake.status_events().is_empty());
    }

    #[tokio::test]
    async fn transient_failures_are_errors() {
        let valid = serde_json::to_value(sample::valid_order(None)).unwrap();
        let invalid = serde_json::to_value(sample::invalid_order()).unwrap();
        for (operation, detail) in [
            ("enqueue", valid.clone()),
            ("record", valid.clone()),
            ("publish_status", valid),
            ("record", invalid.clone()),
            ("publish_status", invalid.clone()),
            ("publish", invalid),
        ] {
            let fake = Fake::failing(operation);
            let err = handle(order_placed(detail), &fake, now(), None)
                .await
                .unwrap_err();
            assert!(
                matches!(&err, HandlerError::Effect(e) if e.operation == operation),
                "{operation}: {err}"
            );
            let diagnostic = lambda_runtime::Diagnostic::from(err);
            assert_eq!(diagnostic.error_type, "TransientFailure");
        }
    }

    #[tokio::test]
    async fn failed_publish_then_retry_publishes_once_more_without_a_second_record() {
        let raw = serde_json::to_value(sample::invalid_order()).unwrap();
        let mut fake = Fake::failing("publish");
        assert!(handle(order_placed(raw.clone()), &fake, now(), None)
            .await
            .is_err());
        assert_eq!(fake.table.len(), 1);
        // Lambda's retry, with EventBridge reachable again.
        fake.fail = None;
        let outcome = handle(order_placed(raw), &fake, now(), None).await.unwrap();
        assert!(matches!(
            outcome,
            Outcome::Rejected {
                record: RejectionRecord::AlreadyRecorded,
                ..
            }
        ));
        assert_eq!(fake.table.len(), 1);
        assert_eq!(fake.published.lock().unwrap().len(), 1);
        // The status event went out with the failed attempt and again with the retry (the
        // attempt failed before it was settled): at least once, with the same `at`.
        let events = fake.status_events();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0], events[1]);
        let stored = fake.table.get(&events[0].order_id).unwrap();
        assert_eq!(statuses(&stored), [Status::Rejected]);
        assert_eq!(stored.settled, [Status::Rejected]);
    }

    #[tokio::test]
    async fn other_events_are_errors_not_rejections() {
        let fake = Fake::default();
        let mut event = order_placed(serde_json::to_value(sample::valid_order(None)).unwrap());
        event.detail_type = ORDER_REJECTED.into();
        let err = handle(event, &fake, now(), None).await.unwrap_err();
        assert!(matches!(err, HandlerError::UnexpectedEvent { .. }));
        assert!(fake.queued.lock().unwrap().is_empty());
        assert!(fake.published.lock().unwrap().is_empty());
        assert!(fake.table.is_empty());
    }

    #[test]
    fn outcome_serialization() {
        let accepted = Outcome::Accepted {
            order_id: "o".into(),
            message_id: "m".into(),
        };
        assert_eq!(
            serde_json::to_value(accepted).unwrap(),
            json!({"outcome": "accepted", "order_id": "o", "message_id": "m"})
        );
        let rejected = Outcome::Rejected {
            order_id: None,
            reasons: vec![],
            record: RejectionRecord::NoUsableOrderId,
        };
        assert_eq!(
            serde_json::to_value(rejected).unwrap(),
            json!({"outcome": "rejected", "order_id": null, "reasons": [], "record": "no_usable_order_id"})
        );
    }

    fn validate_sample(order_id: &str) -> ValidOrder {
        order_domain::validate(&sample::valid_order(Some(order_id.into()))).unwrap()
    }
}
