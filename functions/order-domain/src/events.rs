//! The events the functions publish on the pipeline's bus, with their EventBridge `source` and
//! `detail-type`.

use serde::{Deserialize, Serialize};

use crate::item::{OrderRecord, Status};
use crate::{
    Order, OrderRejected, Reason, ORDER_PLACED, ORDER_REJECTED, ORDER_STATUS_CHANGED,
    REJECTED_SOURCE, SOURCE, STATUS_SOURCE,
};

/// `detail` of an [`ORDER_STATUS_CHANGED`] event: one transition of an order's status, published
/// after the transition is stored. Delivery is at least once (a function that failed after
/// storing a transition publishes it again on its retry, with the same `at`), so consumers
/// dedupe on (`order_id`, `new_status`, `at`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderStatusChanged {
    pub order_id: String,
    /// `null` when the order had no record before (published straight to the bus).
    pub old_status: Option<Status>,
    pub new_status: Status,
    /// When the transition was made (its history entry's `at`).
    pub at: String,
    /// REJECTED only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
    /// `null` only for a rejected order whose `customer_id` was unusable.
    pub customer_id: Option<String>,
}

impl OrderStatusChanged {
    /// The event of the transition `candidate` (a record built for a write, its last history
    /// entry being the transition) just made from `old_status`. `customer_id` prefers the
    /// stored record's (`old_customer_id`) over the candidate's.
    pub fn for_transition(
        candidate: &OrderRecord,
        old_status: Option<Status>,
        old_customer_id: Option<String>,
    ) -> Self {
        let entry = candidate.status_history.last();
        OrderStatusChanged {
            order_id: candidate.order_id.clone(),
            old_status,
            new_status: candidate.status,
            at: entry
                .map(|entry| entry.at.clone())
                .unwrap_or_else(|| candidate.received_at.clone()),
            reasons: entry
                .map(|entry| entry.reasons.clone())
                .unwrap_or_else(|| candidate.reasons.clone()),
            customer_id: old_customer_id.or_else(|| candidate.customer_id.clone()),
        }
    }

    /// The event of `stored`'s latest move to `status`, rebuilt from its history (same `at`,
    /// same `old_status` as when it was first published). `None` when the history has no such
    /// move (records written before the lifecycle existed).
    pub fn replay(stored: &OrderRecord, status: Status) -> Option<Self> {
        let (old_status, entry) = stored.transition_to(status)?;
        Some(OrderStatusChanged {
            order_id: stored.order_id.clone(),
            old_status,
            new_status: status,
            at: entry.at.clone(),
            reasons: entry.reasons.clone(),
            customer_id: stored.customer_id.clone(),
        })
    }
}

/// Any event a function publishes, serialised as its `detail`.
#[derive(Debug, Clone, PartialEq)]
pub enum BusEvent {
    /// `detail` is the order, exactly as validate-order consumes it.
    OrderPlaced(Order),
    StatusChanged(OrderStatusChanged),
    Rejected(OrderRejected),
}

/// The kinds of event the pipeline publishes, one per [`BusEvent`] variant: what the event
/// schemas are made for (`schema::catalogue`), kept exhaustive by [`BusEvent::event_type`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    OrderPlaced,
    OrderStatusChanged,
    OrderRejected,
}

impl EventType {
    pub const ALL: [EventType; 3] = [
        EventType::OrderPlaced,
        EventType::OrderStatusChanged,
        EventType::OrderRejected,
    ];

    pub fn source(self) -> &'static str {
        match self {
            EventType::OrderPlaced => SOURCE,
            EventType::OrderStatusChanged => STATUS_SOURCE,
            EventType::OrderRejected => REJECTED_SOURCE,
        }
    }

    pub fn detail_type(self) -> &'static str {
        match self {
            EventType::OrderPlaced => ORDER_PLACED,
            EventType::OrderStatusChanged => ORDER_STATUS_CHANGED,
            EventType::OrderRejected => ORDER_REJECTED,
        }
    }

    /// The type named by its `detail-type`.
    pub fn parse(detail_type: &str) -> Option<EventType> {
        EventType::ALL
            .into_iter()
            .find(|t| t.detail_type() == detail_type)
    }
}

impl BusEvent {
    /// Which kind of event this is (every variant must map to one: adding a variant without
    /// its [`EventType`] does not compile, so no published event lacks a schema).
    pub fn event_type(&self) -> EventType {
        match self {
            BusEvent::OrderPlaced(_) => EventType::OrderPlaced,
            BusEvent::StatusChanged(_) => EventType::OrderStatusChanged,
            BusEvent::Rejected(_) => EventType::OrderRejected,
        }
    }

    pub fn source(&self) -> &'static str {
        self.event_type().source()
    }

    pub fn detail_type(&self) -> &'static str {
        self.event_type().detail_type()
    }

    /// The `detail` JSON.
    pub fn detail(&self) -> Result<String, serde_json::Error> {
        match self {
            BusEvent::OrderPlaced(order) => serde_json::to_string(order),
            BusEvent::StatusChanged(change) => serde_json::to_string(change),
            BusEvent::Rejected(rejection) => serde_json::to_string(rejection),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::HistoryEntry;
    use crate::{sample, validate, ReasonCode};
    use serde_json::json;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn status_changed_detail_shape() {
        let change = OrderStatusChanged {
            order_id: "ord-1".into(),
            old_status: None,
            new_status: Status::Received,
            at: "2025-01-01T00:00:00.000Z".into(),
            reasons: vec![],
            customer_id: Some("cust-1".into()),
        };
        assert_eq!(
            serde_json::to_value(&change).unwrap(),
            json!({"order_id": "ord-1", "old_status": null, "new_status": "RECEIVED",
                   "at": "2025-01-01T00:00:00.000Z", "customer_id": "cust-1"})
        );
        let rejected = OrderStatusChanged {
            old_status: Some(Status::Validated),
            new_status: Status::Rejected,
            reasons: vec![Reason::new(ReasonCode::TotalMismatch, "m")],
            ..change
        };
        assert_eq!(
            serde_json::to_value(&rejected).unwrap(),
            json!({"order_id": "ord-1", "old_status": "VALIDATED", "new_status": "REJECTED",
                   "at": "2025-01-01T00:00:00.000Z",
                   "reasons": [{"code": "total_mismatch", "message": "m"}],
                   "customer_id": "cust-1"})
        );
        let back: OrderStatusChanged =
            serde_json::from_value(serde_json::to_value(&rejected).unwrap()).unwrap();
        assert_eq!(back, rejected);
    }

    #[test]
    fn transition_and_replay_agree() {
        let order = validate(&sample::valid_order(Some("ord-r".into()))).unwrap();
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let candidate = OrderRecord::processed(&order, "m-1", at, None);
        let first = OrderStatusChanged::for_transition(&candidate, Some(Status::Validated), None);
        assert_eq!(first.at, "2023-11-14T22:13:20.000Z");
        assert_eq!(
            first.customer_id.as_deref(),
            Some(sample::SAMPLE_CUSTOMER_ID)
        );
        let mut stored = candidate.clone();
        stored.status_history = vec![
            HistoryEntry {
                status: Status::Received,
                at: "2023-11-14T22:13:19.000Z".into(),
                reasons: vec![],
            },
            HistoryEntry {
                status: Status::Validated,
                at: "2023-11-14T22:13:19.500Z".into(),
                reasons: vec![],
            },
            candidate.status_history[0].clone(),
        ];
        assert_eq!(
            OrderStatusChanged::replay(&stored, Status::Processed),
            Some(first)
        );
        let validated = OrderStatusChanged::replay(&stored, Status::Validated).unwrap();
        assert_eq!(validated.old_status, Some(Status::Received));
        assert_eq!(validated.at, "2023-11-14T22:13:19.500Z");
        assert_eq!(OrderStatusChanged::replay(&stored, Status::Rejected), None);
    }

    #[test]
    fn bus_events_name_their_source_and_type() {
        let order = sample::valid_order(Some("ord-b".into()));
        let placed = BusEvent::OrderPlaced(order.clone());
        assert_eq!(
            (placed.source(), placed.detail_type()),
            ("orderflow.orders", "OrderPlaced")
        );
        assert_eq!(
            serde_json::from_str::<Order>(&placed.detail().unwrap()).unwrap(),
            order
        );
        let change = BusEvent::StatusChanged(OrderStatusChanged {
            order_id: "o".into(),
            old_status: None,
            new_status: Status::Validated,
            at: "t".into(),
            reasons: vec![],
            customer_id: None,
        });
        assert_eq!(
            (change.source(), change.detail_type()),
            ("orderflow.orders.status", "OrderStatusChanged")
        );
    }
}
