//! The orders-table record: attribute names, statuses and the record both functions write
//! (and `orderflow send-order --wait` reads). Key: [`ORDER_ID`] (S).

use std::time::SystemTime;

use serde_json::Value;

use crate::{time, usable_order_id, LineItem, Reason, ValidOrder};

/// Partition key (S).
pub const ORDER_ID: &str = "order_id";
/// [`STATUS_PROCESSED`] or [`STATUS_REJECTED`] (S).
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
/// RFC 3339 UTC time the function handled the order (S).
pub const RECEIVED_AT: &str = "received_at";
/// SQS message id of the delivery that stored a PROCESSED record (S).
pub const MESSAGE_ID: &str = "message_id";
/// EventBridge event id of the `OrderPlaced` event behind a REJECTED record (S).
pub const EVENT_ID: &str = "event_id";
/// REJECTED only: L of M with [`REASON_CODE`] (S) and [`REASON_MESSAGE`] (S).
pub const REASONS: &str = "reasons";
pub const REASON_CODE: &str = "code";
pub const REASON_MESSAGE: &str = "message";
/// Epoch seconds (N) after which DynamoDB TTL may delete the record; only written when the
/// function's `ORDER_TTL_DAYS` is set.
pub const EXPIRES_AT: &str = "expires_at";

pub const STATUS_PROCESSED: &str = "PROCESSED";
pub const STATUS_REJECTED: &str = "REJECTED";

/// Environment variable holding the record lifetime in days (unset: records never expire).
pub const ORDER_TTL_DAYS_ENV: &str = "ORDER_TTL_DAYS";
/// Upper bound of `ORDER_TTL_DAYS` (100 years); anything larger is a configuration mistake.
pub const MAX_TTL_DAYS: u32 = 36_500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Processed,
    Rejected,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Processed => STATUS_PROCESSED,
            Status::Rejected => STATUS_REJECTED,
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s {
            STATUS_PROCESSED => Some(Status::Processed),
            STATUS_REJECTED => Some(Status::Rejected),
            _ => None,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One item of the orders table. A PROCESSED record has every order field; a REJECTED record
/// has those of the rejected order that had the right type (it may be broken anywhere).
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
}

impl OrderRecord {
    /// The record process-order stores for a valid order delivered as SQS message `message_id`.
    pub fn processed(
        order: &ValidOrder,
        message_id: impl Into<String>,
        received: SystemTime,
        ttl_days: Option<u32>,
    ) -> Self {
        OrderRecord {
            order_id: order.order_id.clone(),
            status: Status::Processed,
            customer_id: Some(order.customer_id.clone()),
            currency: Some(order.currency.clone()),
            total_minor: Some(order.total_minor),
            items: Some(order.items.clone()),
            received_at: time::rfc3339_utc(received),
            message_id: Some(message_id.into()),
            event_id: None,
            reasons: Vec::new(),
            expires_at: ttl_days.map(|days| time::expires_at(received, days)),
        }
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
            received_at: time::rfc3339_utc(received),
            message_id: None,
            event_id,
            reasons,
            expires_at: ttl_days.map(|days| time::expires_at(received, days)),
        })
    }
}

impl OrderRecord {
    /// Whether `other` records the same order with the same outcome: status and every order
    /// field equal (delivery ids, timestamps and expiry may differ between deliveries).
    pub fn same_order_as(&self, other: &OrderRecord) -> bool {
        self.order_id == other.order_id
            && self.status == other.status
            && self.customer_id == other.customer_id
            && self.currency == other.currency
            && self.total_minor == other.total_minor
            && self.items == other.items
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
}
