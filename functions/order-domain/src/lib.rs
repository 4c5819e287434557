//! The order domain shared by the two Lambda functions and the CLI: the order event contract,
//! validation (every broken rule reported, never just the first), the orders-table record and
//! sample orders, the status lifecycle of an order and the events announcing it. Pure: no AWS
//! dependency unless a feature asks for one — `dynamodb` (the orders-table record as an item,
//! conditional transitions), `eventbridge` (publishing), `http` (API Gateway HTTP API
//! responses and problem documents), `runtime` (a function's JSON logs and environment).
//!
//! Money is never floating point: amounts are `i64` counts of the currency's minor unit.

use serde::{Deserialize, Serialize};

pub mod csv;
pub mod events;
pub mod item;
pub mod lifecycle;
pub mod memory;
pub mod sample;
pub mod time;
mod validate;

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "eventbridge")]
pub mod eventbridge;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "request-hash")]
pub mod request_hash;
#[cfg(feature = "runtime")]
pub mod runtime;
#[cfg(feature = "schema")]
pub mod schema;

pub use events::{BusEvent, EventType, OrderStatusChanged};
pub use validate::{
    check_json, check_json_source, check_str, items_total, order_id_problems, usable_order_id,
    validate, validate_json, validate_json_source, validate_str, Violation,
};

/// EventBridge `source` of order events published by order producers (and `orderflow send-order`).
pub const SOURCE: &str = "orderflow.orders";
/// EventBridge `detail-type` of a new order; `detail` is the [`Order`] JSON.
pub const ORDER_PLACED: &str = "OrderPlaced";
/// EventBridge `detail-type` published by validate-order for an order it rejected;
/// `detail` is an [`OrderRejected`].
pub const ORDER_REJECTED: &str = "OrderRejected";
/// EventBridge `source` of [`ORDER_REJECTED`] events.
pub const REJECTED_SOURCE: &str = "orderflow.validate-order";
/// EventBridge `detail-type` of a status transition of an order; `detail` is an
/// [`OrderStatusChanged`].
pub const ORDER_STATUS_CHANGED: &str = "OrderStatusChanged";
/// EventBridge `source` of [`ORDER_STATUS_CHANGED`] events, whichever function made the change.
pub const STATUS_SOURCE: &str = "orderflow.orders.status";
/// SQS message attribute (String) carrying the order id on messages to the orders queue.
pub const ORDER_ID_MESSAGE_ATTRIBUTE: &str = "order_id";

/// Longest accepted `order_id`, `customer_id` and `sku`, in characters.
pub const MAX_ID_LEN: usize = 64;
/// Most line items one order may have.
pub const MAX_ITEMS: usize = 100;
/// Largest accepted quantity of one line item (the smallest is 1).
pub const MAX_QUANTITY: i64 = 10_000;
/// Longest accepted `customer_email`, in characters (the longest deliverable address, RFC 5321).
pub const MAX_EMAIL_LEN: usize = 254;

/// An order as it travels in the `OrderPlaced` event detail and the orders-queue message body.
/// Holding an `Order` says nothing about its validity; see [`ValidOrder`].
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    pub order_id: String,
    pub customer_id: String,
    /// ISO 4217 code: three uppercase ASCII letters.
    pub currency: String,
    pub items: Vec<LineItem>,
    /// Σ quantity × unit_price_minor, in the currency's minor unit.
    pub total_minor: i64,
    /// Optional, for notifications: left out of the JSON when absent, so orders without it
    /// keep exactly the contract's original shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_email: Option<String>,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineItem {
    pub sku: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
}

impl LineItem {
    pub fn new(sku: impl Into<String>, quantity: i64, unit_price_minor: i64) -> Self {
        LineItem {
            sku: sku.into(),
            quantity,
            unit_price_minor,
        }
    }
}

/// An order that passed every rule. Only [`validate`], [`validate_json`] and [`validate_str`]
/// construct one, so a function holding a `ValidOrder` needs no further checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ValidOrder(Order);

impl ValidOrder {
    /// Only the validation module may call this, after every rule passed.
    pub(crate) fn new_unchecked(order: Order) -> Self {
        ValidOrder(order)
    }

    pub fn order(&self) -> &Order {
        &self.0
    }

    pub fn into_order(self) -> Order {
        self.0
    }

    pub fn order_id(&self) -> &str {
        &self.0.order_id
    }

    /// The canonical JSON of the order (the contract's field names, no extra fields).
    pub fn to_json(&self) -> String {
        // Serializing a struct of strings and integers cannot fail.
        serde_json::to_string(&self.0).unwrap_or_default()
    }
}

impl std::ops::Deref for ValidOrder {
    type Target = Order;
    fn deref(&self) -> &Order {
        &self.0
    }
}

impl AsRef<Order> for ValidOrder {
    fn as_ref(&self) -> &Order {
        &self.0
    }
}

impl TryFrom<Order> for ValidOrder {
    type Error = Vec<Reason>;
    fn try_from(order: Order) -> Result<Self, Self::Error> {
        validate(&order)
    }
}

/// One broken rule: a stable machine-readable code and a human-readable message naming the
/// offending field and value. Serialized as `{"code": "...", "message": "..."}`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub code: ReasonCode,
    pub message: String,
}

impl Reason {
    pub fn new(code: ReasonCode, message: impl Into<String>) -> Self {
        Reason {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

/// The stable codes of [`Reason`]. Their snake_case names are part of the event and table
/// contract: add codes, never rename them.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// The message body is not JSON at all.
    MalformedJson,
    /// The order is not a JSON object.
    NotAnObject,
    MissingField,
    WrongType,
    /// A field the contract does not define (rejected rather than silently dropped).
    UnknownField,
    /// An integer outside the signed 64-bit range.
    NumberOutOfRange,
    OrderIdEmpty,
    OrderIdTooLong,
    OrderIdInvalidCharacters,
    CustomerIdEmpty,
    CustomerIdTooLong,
    CurrencyInvalid,
    ItemsEmpty,
    TooManyItems,
    SkuEmpty,
    SkuTooLong,
    QuantityOutOfRange,
    UnitPriceNegative,
    /// Σ quantity × unit_price_minor does not fit in 64 bits.
    TotalOverflow,
    TotalMismatch,
    CustomerEmailInvalid,
    CustomerEmailTooLong,
}

impl ReasonCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::MalformedJson => "malformed_json",
            ReasonCode::NotAnObject => "not_an_object",
            ReasonCode::MissingField => "missing_field",
            ReasonCode::WrongType => "wrong_type",
            ReasonCode::UnknownField => "unknown_field",
            ReasonCode::NumberOutOfRange => "number_out_of_range",
            ReasonCode::OrderIdEmpty => "order_id_empty",
            ReasonCode::OrderIdTooLong => "order_id_too_long",
            ReasonCode::OrderIdInvalidCharacters => "order_id_invalid_characters",
            ReasonCode::CustomerIdEmpty => "customer_id_empty",
            ReasonCode::CustomerIdTooLong => "customer_id_too_long",
            ReasonCode::CurrencyInvalid => "currency_invalid",
            ReasonCode::ItemsEmpty => "items_empty",
            ReasonCode::TooManyItems => "too_many_items",
            ReasonCode::SkuEmpty => "sku_empty",
            ReasonCode::SkuTooLong => "sku_too_long",
            ReasonCode::QuantityOutOfRange => "quantity_out_of_range",
            ReasonCode::UnitPriceNegative => "unit_price_negative",
            ReasonCode::TotalOverflow => "total_overflow",
            ReasonCode::TotalMismatch => "total_mismatch",
            ReasonCode::CustomerEmailInvalid => "customer_email_invalid",
            ReasonCode::CustomerEmailTooLong => "customer_email_too_long",
        }
    }

    pub const ALL: [ReasonCode; 22] = [
        ReasonCode::MalformedJson,
        ReasonCode::NotAnObject,
        ReasonCode::MissingField,
        ReasonCode::WrongType,
        ReasonCode::UnknownField,
        ReasonCode::NumberOutOfRange,
        ReasonCode::OrderIdEmpty,
        ReasonCode::OrderIdTooLong,
        ReasonCode::OrderIdInvalidCharacters,
        ReasonCode::CustomerIdEmpty,
        ReasonCode::CustomerIdTooLong,
        ReasonCode::CurrencyInvalid,
        ReasonCode::ItemsEmpty,
        ReasonCode::TooManyItems,
        ReasonCode::SkuEmpty,
        ReasonCode::SkuTooLong,
        ReasonCode::QuantityOutOfRange,
        ReasonCode::UnitPriceNegative,
        ReasonCode::TotalOverflow,
        ReasonCode::TotalMismatch,
        ReasonCode::CustomerEmailInvalid,
        ReasonCode::CustomerEmailTooLong,
    ];

    /// The code named `s`, if it is one.
    pub fn parse(s: &str) -> Option<ReasonCode> {
        ReasonCode::ALL.into_iter().find(|code| code.as_str() == s)
    }
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `detail` of the `OrderRejected` event validate-order publishes.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderRejected {
    /// The order's id when it is usable as a table key (then a REJECTED record exists under it,
    /// unless the id was already taken); `null` otherwise.
    pub order_id: Option<String>,
    pub reasons: Vec<Reason>,
    /// The `OrderPlaced` detail exactly as received (its text, not a re-serialisation: an
    /// integer beyond 64 bits stays as written).
    #[cfg_attr(feature = "schema", schemars(with = "serde_json::Value"))]
    pub order: RawJson,
}

/// JSON kept as the exact text it arrived as. serde_json's `Value` turns an integer beyond 64
/// bits into a float (`100000000000000000000` → `1e20`); echoing what a client sent must not.
/// Serialises verbatim; deserialises from JSON text or from a `Value`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawJson(Box<serde_json::value::RawValue>);

impl RawJson {
    /// `text` if it is one JSON value.
    pub fn from_string(text: String) -> Result<Self, serde_json::Error> {
        serde_json::value::RawValue::from_string(text).map(RawJson)
    }

    /// A `Value` as JSON text (already lossy if the value came from text with huge integers).
    pub fn from_value(value: &serde_json::Value) -> Self {
        // Serialising a `Value` cannot fail: its map keys are strings.
        RawJson(serde_json::value::to_raw_value(value).unwrap_or_default())
    }

    /// The JSON text exactly as received.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// The text parsed (integers beyond 64 bits become floats: use [`Self::get`] to echo).
    pub fn parse(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_codes_serialize_as_their_stable_names() {
        for code in ReasonCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::Value::String(code.as_str().to_owned()));
            assert_eq!(ReasonCode::parse(code.as_str()), Some(code));
            let back: ReasonCode = serde_json::from_value(json).unwrap();
            assert_eq!(back, code);
        }
        assert_eq!(ReasonCode::parse("no_such_code"), None);
    }

    #[test]
    fn reason_serializes_as_code_and_message() {
        let reason = Reason::new(
            ReasonCode::TotalMismatch,
            "total_minor is 2400 but the items sum to 2500",
        );
        assert_eq!(
            serde_json::to_value(&reason).unwrap(),
            serde_json::json!({"code": "total_mismatch", "message": "total_minor is 2400 but the items sum to 2500"})
        );
    }

    #[test]
    fn order_json_round_trips_in_the_contract_shape() {
        let json = serde_json::json!({
            "order_id": "ord-1", "customer_id": "cust-1", "currency": "EUR",
            "items": [{"sku": "SKU-1", "quantity": 2, "unit_price_minor": 1250}],
            "total_minor": 2500
        });
        let order: Order = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(order.items, vec![LineItem::new("SKU-1", 2, 1250)]);
        assert_eq!(serde_json::to_value(&order).unwrap(), json);
        let valid = validate(&order).unwrap();
        assert_eq!(serde_json::to_value(&valid).unwrap(), json);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&valid.to_json()).unwrap(),
            json
        );
    }

    #[test]
    fn order_deserialization_rejects_unknown_fields() {
        let json = serde_json::json!({
            "order_id": "ord-1", "customer_id": "cust-1", "currency": "EUR",
            "items": [], "total_minor": 0, "discount_minor": 5
        });
        assert!(serde_json::from_value::<Order>(json).is_err());
    }

    #[test]
    fn valid_order_try_from_validates() {
        let mut order = sample::valid_order(Some("ord-x".into()));
        assert!(ValidOrder::try_from(order.clone()).is_ok());
        order.total_minor += 1;
        let reasons = ValidOrder::try_from(order).unwrap_err();
        assert_eq!(reasons[0].code, ReasonCode::TotalMismatch);
    }

    #[test]
    fn order_rejected_detail_shape() {
        let detail = OrderRejected {
            order_id: None,
            reasons: vec![Reason::new(ReasonCode::NotAnObject, "m")],
            order: RawJson::from_value(&serde_json::json!([1])),
        };
        assert_eq!(
            serde_json::to_value(&detail).unwrap(),
            serde_json::json!({"order_id": null, "reasons": [{"code": "not_an_object", "message": "m"}], "order": [1]})
        );
    }
}
