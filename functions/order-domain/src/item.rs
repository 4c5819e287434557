//! The orders-table record: attribute names, statuses and the record the functions write
//! (and `orderflow send-order --wait` reads). Key: [`ORDER_ID`] (S).
//!
//! An order moves RECEIVED → VALIDATED → PROCESSED, or RECEIVED/VALIDATED → REJECTED; each
//! move appends a [`HistoryEntry`] to [`STATUS_HISTORY`]. The rules live in
//! [`crate::lifecycle`].

use std::time::SystemTime;

use serde_json::Value;

use crate::{time, usable_order_id, LineItem, Reason, ValidOrder};

/// Partition key (S).
pub const ORDER_ID: &str = "order_id";
/// The current [`Status`] (S).
pub const STATUS: &str = "status";
pub const CUSTOMER_ID: &str = "customer_id";
pub const CURRENCY: &str = "currency";
/// N.
pub const TOTAL_MINOR: &str = "total_minor";
/// L of M with [`SKU`] (S), [`QUANTITY`] (N), [`UNIT_PRICE_MINOR`] (N).
pub const ITEMS: &str = "items";
pub const SKU: &str = "sku";
pub const QUANTITY: &str = "quantity";
pub const UNIT_PRICE_MINOR: &str = "unit_price_minor";
/// Optional (S): the customer's address for notifications.
pub const CUSTOMER_EMAIL: &str = "customer_email";
/// RFC 3339 UTC time the first function that recorded the order handled it (S); later
/// transitions keep it.
pub const RECEIVED_AT: &str = "received_at";
/// SQS message id of the delivery that made the record PROCESSED (S).
pub const MESSAGE_ID: &str = "message_id";
/// EventBridge event id of the `OrderPlaced` event behind a VALIDATED or REJECTED transition (S).
pub const EVENT_ID: &str = "event_id";
/// REJECTED only: L of M with [`REASON_CODE`] (S) and [`REASON_MESSAGE`] (S). The same list is
/// in the REJECTED entry of [`STATUS_HISTORY`].
pub const REASONS: &str = "reasons";
pub const REASON_CODE: &str = "code";
pub const REASON_MESSAGE: &str = "message";
/// Epoch seconds (N) after which DynamoDB TTL may delete the record; written (from the time
/// of the write) by every transition whose function has `ORDER_TTL_DAYS` set.
pub const EXPIRES_AT: &str = "expires_at";
/// L of M, oldest first: one entry per transition, with [`HISTORY_STATUS`] (S), [`HISTORY_AT`]
/// (S, RFC 3339 UTC with milliseconds) and, on REJECTED only, [`HISTORY_REASONS`] (L, like
/// [`REASONS`]).
pub const STATUS_HISTORY: &str = "status_history";
pub const HISTORY_STATUS: &str = "status";
pub const HISTORY_AT: &str = "at";
pub const HISTORY_REASONS: &str = "reasons";
/// submit-order only (S): hex SHA-256 of the canonical request body that created the record,
/// so a retried submission is recognised (and a different one under the same id refused).
pub const REQUEST_HASH: &str = "request_hash";
/// SS of the statuses whose `OrderStatusChanged` event is known to be published. A transition
/// is written first and its event published after; when a retry finds the order already in
/// the status it would set, it publishes again only if that status is not settled.
pub const SETTLED: &str = "settled_statuses";
/// M, owned by notify-customer: per final status, the claim and outcome of the customer's
/// notification (its layout is in `functions/notify-customer/src/ledger.rs`). Not part of
/// [`OrderRecord`]; every other write must leave it alone (the transitions SET only their own
/// attributes, and nothing overwrites a stored item whole).
pub const NOTIFICATIONS: &str = "notifications";

pub const STATUS_RECEIVED: &str = "RECEIVED";
pub const STATUS_VALIDATED: &str = "VALIDATED";
pub const STATUS_PROCESSED: &str = "PROCESSED";
pub const STATUS_REJECTED: &str = "REJECTED";

/// Environment variable holding the record lifetime in days (unset: records never expire).
pub const ORDER_TTL_DAYS_ENV: &str = "ORDER_TTL_DAYS";
/// Upper bound of `ORDER_TTL_DAYS` (100 years); anything larger is a configuration mistake.
pub const MAX_TTL_DAYS: u32 = 36_500;

/// Where an order is in its lifecycle; serialized as its upper-case name (`"RECEIVED"`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Accepted by the HTTP API (submit-order), not yet checked by validate-order.
    Received,
    /// Passed validate-order's rules and queued for processing.
    Validated,
    /// Stored by process-order: final.
    Processed,
    /// Broke the order rules: final.
    Rejected,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Received,
        Status::Validated,
        Status::Processed,
        Status::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Received => STATUS_RECEIVED,
            Status::Validated => STATUS_VALIDATED,
            Status::Processed => STATUS_PROCESSED,
            Status::Rejected => STATUS_REJECTED,
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// The statuses a stored order may move to this one from. A missing record is always an
    /// allowed start (orders published straight to the bus have no RECEIVED record), except
    /// that nothing moves *to* RECEIVED from an existing record.
    pub fn predecessors(self) -> &'static [Status] {
        match self {
            Status::Received => &[],
            Status::Validated => &[Status::Received],
            Status::Processed | Status::Rejected => &[Status::Received, Status::Validated],
        }
    }

    /// PROCESSED and REJECTED: nothing follows them.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Processed | Status::Rejected)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One transition in [`OrderRecord::status_history`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HistoryEntry {
    pub status: Status,
    /// RFC 3339 UTC with milliseconds, like [`OrderRecord::received_at`].
    pub at: String,
    /// REJECTED only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
}

/// One item of the orders table. RECEIVED, VALIDATED and PROCESSED records have every order
/// field; a REJECTED record has those of the rejected order that had the right type (it may
/// be broken anywhere), or every field when it was recorded before it was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    pub order_id: String,
    pub status: Status,
    pub customer_id: Option<String>,
    pub currency: Option<String>,
    pub total_minor: Option<i64>,
    pub items: Option<Vec<LineItem>>,
    pub received_at: String,
    pub message_id: Option<String>,
    pub event_id: Option<String>,
    /// Empty unless REJECTED.
    pub reasons: Vec<Reason>,
    pub expires_at: Option<i64>,
    pub customer_email: Option<String>,
    /// Oldest first. A record built for a write holds just the entry of its own transition;
    /// records written before the lifecycle existed have none.
    pub status_history: Vec<HistoryEntry>,
    /// See [`REQUEST_HASH`].
    pub request_hash: Option<String>,
    /// See [`SETTLED`]; sorted, no duplicates.
    pub settled: Vec<Status>,
}

impl OrderRecord {
    /// A record of a valid order in `status` with the one history entry of that transition.
    fn of_valid_order(
        order: &ValidOrder,
        status: Status,
        at: SystemTime,
        ttl_days: Option<u32>,
    ) -> Self {
        let at_text = time::rfc3339_utc(at);
        OrderRecord {
            order_id: order.order_id.clone(),
            status,
            customer_id: Some(order.customer_id.clone()),
            currency: Some(order.currency.clone()),
            total_minor: Some(order.total_minor),
            items: Some(order.items.clone()),
            received_at: at_text.clone(),
            message_id: None,
            event_id: None,
            reasons: Vec::new(),
            expires_at: ttl_days.map(|days| time::expires_at(at, days)),
            customer_email: order.customer_email.clone(),
            status_history: vec![HistoryEntry {
                status,
                at: at_text,
                reasons: Vec::new(),
            }],
            request_hash: None,
            settled: Vec::new(),
        }
    }

    /// The RECEIVED record submit-order creates for an order accepted by the HTTP API;
    /// `request_hash` identifies the request (see [`REQUEST_HASH`]).
    pub fn received(
        order: &ValidOrder,
        request_hash: impl Into<String>,
        received: SystemTime,
        ttl_days: Option<u32>,
    ) -> Self {
        let mut record = Self::of_valid_order(order, Status::Received, received, ttl_days);
        record.request_hash = Some(request_hash.into());
        record
    }

    /// The VALIDATED transition validate-order makes for a valid `OrderPlaced` event (also the
    /// whole record when the order has none yet).
    pub fn validated(
        order: &ValidOrder,
        event_id: Option<String>,
        at: SystemTime,
        ttl_days: Option<u32>,
    ) -> Self {
        let mut record = Self::of_valid_order(order, Status::Validated, at, ttl_days);
        record.event_id = event_id;
        record
    }

    /// The record process-order stores for a valid order delivered as SQS message `message_id`
    /// (its PROCESSED transition; the whole record when the order has none yet).
    pub fn processed(
        order: &ValidOrder,
        message_id: impl Into<String>,
        received: SystemTime,
        ttl_days: Option<u32>,
    ) -> Self {
        let mut record = Self::of_valid_order(order, Status::Processed, received, ttl_days);
        record.message_id = Some(message_id.into());
        record
    }

    /// The record validate-order stores for a rejected order, keeping every field of the raw
    /// detail that has the contract's type. `None` when the order id itself is unusable as a
    /// key (then there is nothing to store it under).
    pub fn rejected(
        raw_order: &Value,
        reasons: Vec<Reason>,
        event_id: Option<String>,
        received: SystemTime,
        ttl_days: Option<u32>,
    ) -> Option<Self> {
        let order_id = usable_order_id(raw_order)?.to_owned();
        let string = |key: &str| {
            raw_order
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let total_minor = raw_order.get("total_minor").and_then(Value::as_i64);
        let at = time::rfc3339_utc(received);
        let items = raw_order
            .get("items")
            .and_then(Value::as_array)
            .and_then(|items| {
                items
                    .iter()
                    .map(|item| {
                        Some(LineItem {
                            sku: item.get("sku")?.as_str()?.to_owned(),
                            quantity: item.get("quantity")?.as_i64()?,
                            unit_price_minor: item.get("unit_price_minor")?.as_i64()?,
                        })
                    })
                    .collect::<Option<Vec<_>>>()
            });
        Some(OrderRecord {
            order_id,
            status: Status::Rejected,
            customer_id: string("customer_id"),
            currency: string("currency"),
            total_minor,
            items,
            received_at: at.clone(),
            message_id: None,
            event_id,
            reasons: reasons.clone(),
            expires_at: ttl_days.map(|days| time::expires_at(received, days)),
            customer_email: string("customer_email"),
            status_history: vec![HistoryEntry {
                status: Status::Rejected,
                at,
                reasons,
            }],
            request_hash: None,
            settled: Vec::new(),
        })
    }
}

impl OrderRecord {
    /// Whether `other` records the same order with the same outcome: status and every order
    /// field equal (delivery ids, timestamps, history and expiry may differ between
    /// deliveries).
    pub fn same_order_as(&self, other: &OrderRecord) -> bool {
        self.status == other.status && self.same_order_fields(other)
    }

    /// Whether `other` holds the same order, whatever its status: id and every order field
    /// (customer, currency, total, items, customer email) equal.
    pub fn same_order_fields(&self, other: &OrderRecord) -> bool {
        self.order_id == other.order_id
            && self.customer_id == other.customer_id
            && self.currency == other.currency
            && self.total_minor == other.total_minor
            && self.items == other.items
            && self.customer_email == other.customer_email
    }

    /// The history entry of this record's latest move to `status`, and the status it moved
    /// from (`None`: it was the first entry).
    pub fn transition_to(&self, status: Status) -> Option<(Option<Status>, &HistoryEntry)> {
        let index = self
            .status_history
            .iter()
            .rposition(|entry| entry.status == status)?;
        let previous = index
            .checked_sub(1)
            .map(|before| self.status_history[before].status);
        Some((previous, &self.status_history[index]))
    }

    /// Whether `status`'s `OrderStatusChanged` event is known to be published.
    pub fn is_settled(&self, status: Status) -> bool {
        self.settled.contains(&status)
    }
}

/// Reads `ORDER_TTL_DAYS`: unset or blank means no expiry; otherwise a whole number of days in
/// 1..=[`MAX_TTL_DAYS`]. The error text is meant for the function's cold-start failure.
pub fn parse_ttl_days(value: Option<&str>) -> Result<Option<u32>, String> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    match value.parse::<u32>() {
        Ok(days) if (1..=MAX_TTL_DAYS).contains(&days) => Ok(Some(days)),
        _ => Err(format!(
            "{ORDER_TTL_DAYS_ENV} is {value:?}; it must be a whole number of days from 1 to {MAX_TTL_DAYS}, or unset for no expiry"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{sample, validate, validate_json, ReasonCode};
    use serde_json::json;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn processed_record_has_every_field() {
        let order = validate(&sample::valid_order(Some("ord-1".into()))).unwrap();
        let record = OrderRecord::processed(&order, "msg-1", at(1_700_000_000), None);
        assert_eq!(record.order_id, "ord-1");
        assert_eq!(record.status, Status::Processed);
        assert_eq!(
            record.customer_id.as_deref(),
            Some(sample::SAMPLE_CUSTOMER_ID)
        );
        assert_eq!(record.currency.as_deref(), Some("EUR"));
        assert_eq!(record.total_minor, Some(2999));
        assert_eq!(record.items, Some(sample::sample_items()));
        assert_eq!(record.received_at, "2023-11-14T22:13:20.000Z");
        assert_eq!(record.message_id.as_deref(), Some("msg-1"));
        assert!(record.reasons.is_empty());
        assert_eq!(record.expires_at, None);
        let with_ttl = OrderRecord::processed(&order, "msg-1", at(1_700_000_000), Some(7));
        assert_eq!(with_ttl.expires_at, Some(1_700_000_000 + 7 * 86_400));
    }

    #[test]
    fn rejected_record_keeps_the_well_typed_fields() {
        let raw = json!({
            "order_id": "ord-2", "customer_id": 5, "currency": "EUR",
            "items": [{"sku": "A", "quantity": 1, "unit_price_minor": 10}],
            "total_minor": 11
        });
        let reasons = validate_json(&raw).unwrap_err();
        let record =
            OrderRecord::rejected(&raw, reasons.clone(), Some("ev-1".into()), at(0), Some(1))
                .unwrap();
        assert_eq!(record.order_id, "ord-2");
        assert_eq!(record.status, Status::Rejected);
        assert_eq!(record.customer_id, None);
        assert_eq!(record.currency.as_deref(), Some("EUR"));
        assert_eq!(record.total_minor, Some(11));
        assert_eq!(record.items, Some(vec![LineItem::new("A", 1, 10)]));
        assert_eq!(record.event_id.as_deref(), Some("ev-1"));
        assert_eq!(record.message_id, None);
        assert_eq!(record.reasons, reasons);
        assert_eq!(record.expires_at, Some(86_400));

        let broken_items = json!({"order_id": "ord-3", "items": [{"sku": "A"}]});
        let record = OrderRecord::rejected(&broken_items, vec![], None, at(0), None).unwrap();
        assert_eq!(record.items, None);
    }

    #[test]
    fn rejected_record_needs_a_usable_order_id() {
        for raw in [
            json!({"order_id": ""}),
            json!({"order_id": "a/b"}),
            json!({}),
            json!(1),
        ] {
            let reasons = validate_json(&raw).unwrap_err();
            assert!(!reasons.is_empty());
            assert!(OrderRecord::rejected(&raw, reasons, None, at(0), None).is_none());
        }
        let reasons = vec![Reason::new(ReasonCode::MissingField, "x")];
        assert!(
            OrderRecord::rejected(&json!({"order_id": "ok"}), reasons, None, at(0), None).is_some()
        );
    }

    #[test]
    fn same_order_ignores_delivery_details() {
        let order = validate(&sample::valid_order(Some("ord-s".into()))).unwrap();
        let first = OrderRecord::processed(&order, "m1", at(1), None);
        let redelivered = OrderRecord::processed(&order, "m2", at(99), Some(3));
        assert!(first.same_order_as(&redelivered));
        let mut other_total = redelivered.clone();
        other_total.total_minor = Some(1);
        assert!(!first.same_order_as(&other_total));
        let mut rejected = redelivered;
        rejected.status = Status::Rejected;
        assert!(!first.same_order_as(&rejected));
    }

    #[test]
    fn ttl_days() {
        assert_eq!(parse_ttl_days(None), Ok(None));
        assert_eq!(parse_ttl_days(Some("")), Ok(None));
        assert_eq!(parse_ttl_days(Some(" 30 ")), Ok(Some(30)));
        assert_eq!(parse_ttl_days(Some("36500")), Ok(Some(36_500)));
        for bad in ["0", "-1", "1.5", "thirty", "36501", "99999999999"] {
            let err = parse_ttl_days(Some(bad)).unwrap_err();
            assert!(err.contains("ORDER_TTL_DAYS"), "{err}");
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(Status::parse("PROCESSED"), Some(Status::Processed));
        assert_eq!(Status::parse("REJECTED"), Some(Status::Rejected));
        assert_eq!(Status::parse("processed"), None);
        assert_eq!(Status::Rejected.to_string(), "REJECTED");
    }

    #[test]
    fn lifecycle_statuses_and_their_json() {
        assert_eq!(Status::parse("RECEIVED"), Some(Status::Received));
        assert_eq!(Status::parse("VALIDATED"), Some(Status::Validated));
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                json!(status.as_str())
            );
        }
        assert!(Status::Processed.is_final() && Status::Rejected.is_final());
        assert!(!Status::Received.is_final() && !Status::Validated.is_final());
    }

    #[test]
    fn every_record_carries_the_history_entry_of_its_transition() {
        let order = validate(
            &sample::OrderBuilder::new()
                .order_id("ord-h")
                .customer_email("ana@example.com")
                .build(),
        )
        .unwrap();
        let received = OrderRecord::received(&order, "abc", at(10), Some(1));
        assert_eq!(received.status, Status::Received);
        assert_eq!(received.request_hash.as_deref(), Some("abc"));
        assert_eq!(received.customer_email.as_deref(), Some("ana@example.com"));
        assert_eq!(received.expires_at, Some(10 + 86_400));
        let validated = OrderRecord::validated(&order, Some("ev".into()), at(11), None);
        assert_eq!(validated.event_id.as_deref(), Some("ev"));
        let processed = OrderRecord::processed(&order, "m", at(12), None);
        for (record, status, when) in [
            (&received, Status::Received, "1970-01-01T00:00:10.000Z"),
            (&validated, Status::Validated, "1970-01-01T00:00:11.000Z"),
            (&processed, Status::Processed, "1970-01-01T00:00:12.000Z"),
        ] {
            assert_eq!(
                record.status_history,
                [HistoryEntry {
                    status,
                    at: when.into(),
                    reasons: vec![]
                }]
            );
            assert_eq!(record.received_at, when);
            assert!(record.settled.is_empty());
            assert!(record.same_order_fields(&received));
        }
        let raw = json!({"order_id": "ord-h", "customer_email": "x"});
        let reasons = validate_json(&raw).unwrap_err();
        let rejected = OrderRecord::rejected(&raw, reasons.clone(), None, at(13), None).unwrap();
        assert_eq!(rejected.status_history[0].status, Status::Rejected);
        assert_eq!(rejected.status_history[0].reasons, reasons);
        assert_eq!(rejected.customer_email.as_deref(), Some("x"));
        // The e-mail address is part of the order.
        let mut other_email = processed.clone();
        other_email.customer_email = None;
        assert!(!processed.same_order_as(&other_email));
    }

    #[test]
    fn the_latest_move_to_a_status_and_where_it_came_from() {
        let order = validate(&sample::valid_order(Some("ord-t".into()))).unwrap();
        let mut record = OrderRecord::processed(&order, "m", at(5), None);
        assert_eq!(
            record
                .transition_to(Status::Processed)
                .map(|(from, e)| (from, e.at.as_str())),
            Some((None, "1970-01-01T00:00:05.000Z"))
        );
        record.status_history.insert(
            0,
            HistoryEntry {
                status: Status::Received,
                at: "x".into(),
                reasons: vec![],
            },
        );
        assert_eq!(
            record
                .transition_to(Status::Processed)
                .map(|(from, _)| from),
            Some(Some(Status::Received))
        );
        assert!(record.transition_to(Status::Validated).is_none());
        assert!(!record.is_settled(Status::Processed));
        record.settled.push(Status::Processed);
        assert!(record.is_settled(Status::Processed));
    }
}
