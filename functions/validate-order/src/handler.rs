//! What validate-order does with one `OrderPlaced` event, independent of AWS: the calls it
//! makes go through [`Effects`], so the decisions are unit-tested with an in-memory fake.

use std::time::SystemTime;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use order_domain::dynamodb::Insert;
use order_domain::item::OrderRecord;
use order_domain::{OrderRejected, Reason, ValidOrder, ORDER_PLACED, SOURCE};
use serde::Serialize;
use serde_json::Value;

/// The AWS calls validate-order makes. Every error is treated as transient: the invocation
/// fails, Lambda retries it, and after the last retry the event goes to the function's DLQ.
pub trait Effects {
    /// Sends a valid order to the orders queue; returns the SQS message id.
    async fn enqueue(&self, order: &ValidOrder) -> Result<String, EffectError>;
    /// Stores a REJECTED record unless a record with its order id exists.
    async fn record_rejection(&self, record: &OrderRecord) -> Result<Insert, EffectError>;
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
    Stored,
    /// A record with this order id existed (an earlier attempt, or a different order that
    /// took the id first); it was not overwritten.
    AlreadyRecorded,
    /// The order id is not usable as a key, so only the event carries the rejection.
    NoUsableOrderId,
}

/// Handles one `OrderPlaced` event: a valid order goes to the queue; an invalid one is recorded
/// as REJECTED and announced as `OrderRejected` (a handled outcome, so `Ok`). Any failed call
/// is an `Err`, making Lambda retry the whole event; every step is safe to repeat.
pub async fn handle(
    event: EventBridgeEvent<Value>,
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
    match order_domain::validate_json(&event.detail) {
        Ok(order) => {
            let message_id = effects.enqueue(&order).await.inspect_err(|err| {
                tracing::error!(
                    event_id = event_id.as_deref(),
                    order_id = order.order_id(),
                    error = %err,
                    "could not queue the order; failing so Lambda retries the event"
                );
            })?;
            tracing::info!(
                event_id = event_id.as_deref(),
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
        Err(reasons) => reject(event.detail, reasons, event_id, effects, now, ttl_days).await,
    }
}

async fn reject(
    raw_order: Value,
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

    // The record first: if publishing fails afterwards, the retry finds the record already
    // there and only publishes again.
    let record_outcome = match &record {
        None => {
            tracing::warn!(
                event_id = event_id.as_deref(),
                "the order id is unusable as a table key; the rejection is only published"
            );
            RejectionRecord::NoUsableOrderId
        }
        Some(record) => match effects.record_rejection(record).await {
            Ok(Insert::Stored) => RejectionRecord::Stored,
            Ok(Insert::AlreadyExists { existing }) => {
                tracing::info!(
                    event_id = event_id.as_deref(),
                    order_id = %record.order_id,
                    existing_status = existing.as_ref().map(|r| r.status.as_str()),
                    existing_event_id = existing.as_ref().and_then(|r| r.event_id.as_deref()),
                    "a record with this order id already exists; not overwriting it"
                );
                RejectionRecord::AlreadyRecorded
            }
            Err(err) => {
                tracing::error!(
                    event_id = event_id.as_deref(),
                    order_id = %record.order_id,
                    error = %err,
                    "could not record the rejection; failing so Lambda retries the event"
                );
                return Err(err.into());
            }
        },
    };

    let rejection = OrderRejected {
        order_id: order_id.clone(),
        reasons: reasons.clone(),
        order: raw_order,
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
    Ok(Outcome::Rejected {
        order_id,
        reasons,
        record: record_outcome,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use order_domain::item::Status;
    use order_domain::{sample, ReasonCode, ORDER_REJECTED};
    use serde_json::json;
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::{Duration, UNIX_EPOCH};

    /// In-memory queue, table and bus. `fail` names an operation that fails every time.
    #[derive(Default)]
    struct Fake {
        queued: Mutex<Vec<ValidOrder>>,
        table: Mutex<HashMap<String, OrderRecord>>,
        published: Mutex<Vec<OrderRejected>>,
        fail: Option<&'static str>,
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
    }

    impl Effects for Fake {
        async fn enqueue(&self, order: &ValidOrder) -> Result<String, EffectError> {
            self.check("enqueue")?;
            let mut queued = self.queued.lock().unwrap();
            queued.push(order.clone());
            Ok(format!("msg-{}", queued.len()))
        }

        async fn record_rejection(&self, record: &OrderRecord) -> Result<Insert, EffectError> {
            self.check("record")?;
            let mut table = self.table.lock().unwrap();
            if let Some(existing) = table.get(&record.order_id) {
                return Ok(Insert::AlreadyExists {
                    existing: Some(Box::new(existing.clone())),
                });
            }
            table.insert(record.order_id.clone(), record.clone());
            Ok(Insert::Stored)
        }

        async fn publish_rejection(&self, rejection: &OrderRejected) -> Result<(), EffectError> {
            self.check("publish")?;
            self.published.lock().unwrap().push(rejection.clone());
            Ok(())
        }
    }

    pub(crate) fn order_placed(detail: Value) -> EventBridgeEvent<Value> {
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

    #[tokio::test]
    async fn valid_order_is_queued_and_nothing_else() {
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
        assert!(fake.table.lock().unwrap().is_empty());
        assert!(fake.published.lock().unwrap().is_empty());
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

        let table = fake.table.lock().unwrap();
        let stored = &table[&order_id];
        assert_eq!(stored.status, Status::Rejected);
        assert_eq!(stored.reasons, reasons);
        assert_eq!(stored.event_id.as_deref(), Some("ev-1"));
        assert_eq!(stored.expires_at, Some(1_700_000_000 + 30 * 86_400));

        let published = fake.published.lock().unwrap();
        assert_eq!(published.len(), 1);
        assert_eq!(published[0].order_id.as_deref(), Some(order_id.as_str()));
        assert_eq!(published[0].reasons, reasons);
        assert_eq!(published[0].order, raw);
    }

    #[tokio::test]
    async fn rejection_never_overwrites_an_existing_record() {
        let fake = Fake::default();
        let order = validate_sample("ord-taken");
        let processed = OrderRecord::processed(&order, "m-1", now(), None);
        fake.table
            .lock()
            .unwrap()
            .insert("ord-taken".into(), processed.clone());
        let raw = json!({"order_id": "ord-taken", "customer_id": "c"});
        let outcome = handle(order_placed(raw), &fake, now(), None).await.unwrap();
        assert!(matches!(
            outcome,
            Outcome::Rejected {
                record: RejectionRecord::AlreadyRecorded,
                ..
            }
        ));
        assert_eq!(fake.table.lock().unwrap()["ord-taken"], processed);
        assert_eq!(fake.published.lock().unwrap().len(), 1);
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
        assert!(fake.table.lock().unwrap().is_empty());
        let published = fake.published.lock().unwrap();
        assert_eq!(published[0].order_id, None);
        assert_eq!(published[0].order, raw);
    }

    #[tokio::test]
    async fn transient_failures_are_errors() {
        let valid = serde_json::to_value(sample::valid_order(None)).unwrap();
        let invalid = serde_json::to_value(sample::invalid_order()).unwrap();
        for (operation, detail) in [
            ("enqueue", valid),
            ("record", invalid.clone()),
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
        assert_eq!(fake.table.lock().unwrap().len(), 1);
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
        assert_eq!(fake.table.lock().unwrap().len(), 1);
        assert_eq!(fake.published.lock().unwrap().len(), 1);
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
