//! The order rules. Raw JSON and typed orders go through the same checks; raw JSON first
//! collects type problems field by field, so one pass reports everything that is wrong.

use serde_json::{Map, Value};

use crate::{LineItem, Order, Reason, ReasonCode, ValidOrder, MAX_ID_LEN, MAX_ITEMS, MAX_QUANTITY};

const ORDER_FIELDS: [&str; 5] = [
    "order_id",
    "customer_id",
    "currency",
    "items",
    "total_minor",
];
const ITEM_FIELDS: [&str; 3] = ["sku", "quantity", "unit_price_minor"];

/// Longest excerpt of an offending value quoted in a message; values can be arbitrarily long.
const QUOTE_MAX_CHARS: usize = 40;

/// Checks a typed order against every rule.
pub fn validate(order: &Order) -> Result<ValidOrder, Vec<Reason>> {
    let draft = Draft {
        order_id: Some(order.order_id.clone()),
        customer_id: Some(order.customer_id.clone()),
        currency: Some(order.currency.clone()),
        items: Some(
            order
                .items
                .iter()
                .map(|item| DraftItem {
                    sku: Some(item.sku.clone()),
                    quantity: Some(item.quantity),
                    unit_price_minor: Some(item.unit_price_minor),
                })
                .collect(),
        ),
        total_minor: Some(order.total_minor),
    };
    check(draft, Vec::new())
}

/// Checks a message body: malformed JSON is reported as a reason like any other problem.
pub fn validate_str(body: &str) -> Result<ValidOrder, Vec<Reason>> {
    match serde_json::from_str::<Value>(body) {
        Ok(value) => validate_json(&value),
        Err(err) => Err(vec![Reason::new(
            ReasonCode::MalformedJson,
            format!("the order is not valid JSON: {err}"),
        )]),
    }
}

/// Checks raw order JSON (an `OrderPlaced` detail): missing fields, wrong types and unknown
/// fields become reasons alongside the business rules, never a panic or a first-error exit.
pub fn validate_json(value: &Value) -> Result<ValidOrder, Vec<Reason>> {
    let Some(object) = value.as_object() else {
        return Err(vec![Reason::new(
            ReasonCode::NotAnObject,
            format!("the order must be a JSON object, got {}", json_type(value)),
        )]);
    };
    let mut reasons = Vec::new();
    let draft = Draft {
        order_id: string_field(object, "order_id", "order_id", &mut reasons),
        customer_id: string_field(object, "customer_id", "customer_id", &mut reasons),
        currency: string_field(object, "currency", "currency", &mut reasons),
        items: items_field(object, &mut reasons),
        total_minor: integer_field(object, "total_minor", "total_minor", &mut reasons),
    };
    unknown_fields(object, &ORDER_FIELDS, "", &mut reasons);
    check(draft, reasons)
}

/// The `order_id` of raw order JSON when it satisfies the order-id rules, so it can key a
/// table item even though other parts of the order are invalid.
pub fn usable_order_id(value: &Value) -> Option<&str> {
    let id = value.get("order_id")?.as_str()?;
    let mut reasons = Vec::new();
    check_order_id(id, &mut reasons);
    reasons.is_empty().then_some(id)
}

/// Σ quantity × unit_price_minor with checked arithmetic; `None` when it overflows `i64`.
pub fn items_total(items: &[LineItem]) -> Option<i64> {
    items.iter().try_fold(0i64, |sum, item| {
        sum.checked_add(item.quantity.checked_mul(item.unit_price_minor)?)
    })
}

/// An order whose fields may have failed to parse (`None`), already reported as reasons.
struct Draft {
    order_id: Option<String>,
    customer_id: Option<String>,
    currency: Option<String>,
    items: Option<Vec<DraftItem>>,
    total_minor: Option<i64>,
}

struct DraftItem {
    sku: Option<String>,
    quantity: Option<i64>,
    unit_price_minor: Option<i64>,
}

/// Applies the business rules to every field that parsed; yields a `ValidOrder` only when
/// nothing at all was wrong.
fn check(draft: Draft, mut reasons: Vec<Reason>) -> Result<ValidOrder, Vec<Reason>> {
    if let Some(order_id) = &draft.order_id {
        check_order_id(order_id, &mut reasons);
    }
    if let Some(customer_id) = &draft.customer_id {
        check_customer_id(customer_id, &mut reasons);
    }
    if let Some(currency) = &draft.currency {
        check_currency(currency, &mut reasons);
    }
    if let Some(items) = &draft.items {
        check_items(items, &mut reasons);
    }
    let items: Option<Vec<LineItem>> = draft.items.and_then(|items| {
        items
            .into_iter()
            .map(|item| {
                Some(LineItem {
                    sku: item.sku?,
                    quantity: item.quantity?,
                    unit_price_minor: item.unit_price_minor?,
                })
            })
            .collect()
    });
    if let (Some(items), Some(total)) = (&items, draft.total_minor) {
        check_total(items, total, &mut reasons);
    }
    if !reasons.is_empty() {
        return Err(reasons);
    }
    match (
        draft.order_id,
        draft.customer_id,
        draft.currency,
        items,
        draft.total_minor,
    ) {
        (Some(order_id), Some(customer_id), Some(currency), Some(items), Some(total_minor)) => {
            Ok(ValidOrder::new_unchecked(Order {
                order_id,
                customer_id,
                currency,
                items,
                total_minor,
            }))
        }
        // Every field that failed to parse left a reason, so this cannot be reached; report it
        // as a reason anyway rather than trusting that invariant with a panic.
        _ => Err(vec![Reason::new(
            ReasonCode::MissingField,
            "the order is incomplete",
        )]),
    }
}

fn check_order_id(order_id: &str, reasons: &mut Vec<Reason>) {
    if order_id.is_empty() {
        reasons.push(Reason::new(
            ReasonCode::OrderIdEmpty,
            "order_id must not be empty",
        ));
        return;
    }
    let len = order_id.chars().count();
    if len > MAX_ID_LEN {
        reasons.push(Reason::new(
            ReasonCode::OrderIdTooLong,
            format!("order_id is {len} characters long; at most {MAX_ID_LEN} are allowed"),
        ));
    }
    let mut invalid: Vec<char> = order_id
        .chars()
        .filter(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        .collect();
    if !invalid.is_empty() {
        invalid.sort_unstable();
        invalid.dedup();
        let shown: Vec<String> = invalid.iter().take(5).map(|c| format!("{c:?}")).collect();
        let more = if invalid.len() > 5 { ", …" } else { "" };
        reasons.push(Reason::new(
            ReasonCode::OrderIdInvalidCharacters,
            format!(
                "order_id contains {}{more}; only A-Z, a-z, 0-9, '_' and '-' are allowed",
                shown.join(", ")
            ),
        ));
    }
}

fn check_customer_id(customer_id: &str, reasons: &mut Vec<Reason>) {
    if customer_id.is_empty() {
        reasons.push(Reason::new(
            ReasonCode::CustomerIdEmpty,
            "customer_id must not be empty",
        ));
        return;
    }
    let len = customer_id.chars().count();
    if len > MAX_ID_LEN {
        reasons.push(Reason::new(
            ReasonCode::CustomerIdTooLong,
            format!("customer_id is {len} characters long; at most {MAX_ID_LEN} are allowed"),
        ));
    }
}

fn check_currency(currency: &str, reasons: &mut Vec<Reason>) {
    let is_code = currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase());
    if !is_code {
        reasons.push(Reason::new(
            ReasonCode::CurrencyInvalid,
            format!(
                "currency is {}; it must be an ISO 4217 code of 3 uppercase letters such as \"EUR\"",
                quote(currency)
            ),
        ));
    }
}

fn check_items(items: &[DraftItem], reasons: &mut Vec<Reason>) {
    if items.is_empty() {
        reasons.push(Reason::new(
            ReasonCode::ItemsEmpty,
            "items must contain at least one item",
        ));
    }
    if items.len() > MAX_ITEMS {
        reasons.push(Reason::new(
            ReasonCode::TooManyItems,
            format!(
                "items has {} entries; at most {MAX_ITEMS} are allowed",
                items.len()
            ),
        ));
    }
    for (index, item) in items.iter().enumerate() {
        if let Some(sku) = &item.sku {
            if sku.is_empty() {
                reasons.push(Reason::new(
                    ReasonCode::SkuEmpty,
                    format!("items[{index}].sku must not be empty"),
                ));
            } else {
                let len = sku.chars().count();
                if len > MAX_ID_LEN {
                    reasons.push(Reason::new(
                        ReasonCode::SkuTooLong,
                        format!(
                            "items[{index}].sku is {len} characters long; at most {MAX_ID_LEN} are allowed"
                        ),
                    ));
                }
            }
        }
        if let Some(quantity) = item.quantity {
            if !(1..=MAX_QUANTITY).contains(&quantity) {
                reasons.push(Reason::new(
                    ReasonCode::QuantityOutOfRange,
                    format!("items[{index}].quantity is {quantity}; it must be between 1 and {MAX_QUANTITY}"),
                ));
            }
        }
        if let Some(price) = item.unit_price_minor {
            if price < 0 {
                reasons.push(Reason::new(
                    ReasonCode::UnitPriceNegative,
                    format!("items[{index}].unit_price_minor is {price}; it must not be negative"),
                ));
            }
        }
    }
}

fn check_total(items: &[LineItem], total_minor: i64, reasons: &mut Vec<Reason>) {
    match items_total(items) {
        None => reasons.push(Reason::new(
            ReasonCode::TotalOverflow,
            "the items' quantity × unit_price_minor sum exceeds the 64-bit integer range",
        )),
        Some(sum) if sum != total_minor => reasons.push(Reason::new(
            ReasonCode::TotalMismatch,
            format!("total_minor is {total_minor} but the items sum to {sum}"),
        )),
        Some(_) => {}
    }
}

fn string_field(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
    reasons: &mut Vec<Reason>,
) -> Option<String> {
    match object.get(key) {
        None => {
            reasons.push(missing(path));
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            reasons.push(wrong_type(path, "a string", other));
            None
        }
    }
}

fn integer_field(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
    reasons: &mut Vec<Reason>,
) -> Option<i64> {
    let Some(value) = object.get(key) else {
        reasons.push(missing(path));
        return None;
    };
    let Value::Number(number) = value else {
        reasons.push(wrong_type(path, "an integer", value));
        return None;
    };
    if let Some(n) = number.as_i64() {
        return Some(n);
    }
    // Integers beyond u64 arrive as floats; a whole float that large is an out-of-range
    // integer, anything else with a fraction or exponent is not an integer at all.
    let beyond_i64 = number.is_u64()
        || number
            .as_f64()
            .is_some_and(|f| f.fract() == 0.0 && f.abs() >= 2f64.powi(63));
    if beyond_i64 {
        reasons.push(Reason::new(
            ReasonCode::NumberOutOfRange,
            format!("{path} is {number}, outside the 64-bit integer range"),
        ));
    } else {
        reasons.push(Reason::new(
            ReasonCode::WrongType,
            format!("{path} must be an integer (amounts are in minor units), got {number}"),
        ));
    }
    None
}

fn items_field(object: &Map<String, Value>, reasons: &mut Vec<Reason>) -> Option<Vec<DraftItem>> {
    let Some(value) = object.get("items") else {
        reasons.push(missing("items"));
        return None;
    };
    let Value::Array(entries) = value else {
        reasons.push(wrong_type("items", "an array", value));
        return None;
    };
    let items = entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let path = format!("items[{index}]");
            let Some(item) = entry.as_object() else {
                reasons.push(wrong_type(&path, "an object", entry));
                return DraftItem {
                    sku: None,
                    quantity: None,
                    unit_price_minor: None,
                };
            };
            let parsed = DraftItem {
                sku: string_field(item, "sku", &format!("{path}.sku"), reasons),
                quantity: integer_field(item, "quantity", &format!("{path}.quantity"), reasons),
                unit_price_minor: integer_field(
                    item,
                    "unit_price_minor",
                    &format!("{path}.unit_price_minor"),
                    reasons,
                ),
            };
            unknown_fields(item, &ITEM_FIELDS, &format!("{path}."), reasons);
            parsed
        })
        .collect();
    Some(items)
}

fn unknown_fields(
    object: &Map<String, Value>,
    known: &[&str],
    prefix: &str,
    reasons: &mut Vec<Reason>,
) {
    for key in object.keys().filter(|key| !known.contains(&key.as_str())) {
        reasons.push(Reason::new(
            ReasonCode::UnknownField,
            format!(
                "unknown field {prefix}{}; expected only {}",
                quote(key),
                known.join(", ")
            ),
        ));
    }
}

fn missing(path: &str) -> Reason {
    Reason::new(ReasonCode::MissingField, format!("{path} is required"))
}

fn wrong_type(path: &str, expected: &str, got: &Value) -> Reason {
    Reason::new(
        ReasonCode::WrongType,
        format!("{path} must be {expected}, got {}", json_type(got)),
    )
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value quoted for a message, cut short when long.
fn quote(value: &str) -> String {
    if value.chars().count() <= QUOTE_MAX_CHARS {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(QUOTE_MAX_CHARS).collect();
        format!("{head:?}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Value {
        json!({
            "order_id": "ord-1", "customer_id": "cust-1", "currency": "EUR",
            "items": [
                {"sku": "SKU-1", "quantity": 2, "unit_price_minor": 1250},
                {"sku": "SKU-2", "quantity": 1, "unit_price_minor": 499}
            ],
            "total_minor": 2999
        })
    }

    fn with(mut value: Value, pointer: &str, new: Value) -> Value {
        *value.pointer_mut(pointer).expect("pointer exists") = new;
        value
    }

    fn codes(result: Result<ValidOrder, Vec<Reason>>) -> Vec<ReasonCode> {
        result
            .expect_err("expected reasons")
            .iter()
            .map(|r| r.code)
            .collect()
    }

    #[test]
    fn a_good_order_is_valid() {
        let valid = validate_json(&good()).unwrap();
        assert_eq!(valid.order_id(), "ord-1");
        assert_eq!(valid.total_minor, 2999);
        assert_eq!(serde_json::to_value(&valid).unwrap(), good());
    }

    #[test]
    fn order_id_rules() {
        assert_eq!(
            codes(validate_json(&with(good(), "/order_id", json!("")))),
            [ReasonCode::OrderIdEmpty]
        );
        assert_eq!(
            codes(validate_json(&with(
                good(),
                "/order_id",
                json!("a".repeat(65))
            ))),
            [ReasonCode::OrderIdTooLong]
        );
        assert!(validate_json(&with(good(), "/order_id", json!("A_z-09".repeat(10)))).is_ok());
        assert!(validate_json(&with(good(), "/order_id", json!("a".repeat(64)))).is_ok());
        let reasons = validate_json(&with(good(), "/order_id", json!("ord 1/é"))).unwrap_err();
        assert_eq!(reasons.len(), 1);
        assert_eq!(reasons[0].code, ReasonCode::OrderIdInvalidCharacters);
        assert!(reasons[0].message.contains("' '"), "{}", reasons[0].message);
        assert!(reasons[0].message.contains("'/'"), "{}", reasons[0].message);
        assert!(reasons[0].message.contains("'é'"), "{}", reasons[0].message);
        // Both the length and the characters are reported.
        assert_eq!(
            codes(validate_json(&with(
                good(),
                "/order_id",
                json!("!".repeat(65))
            ))),
            [
                ReasonCode::OrderIdTooLong,
                ReasonCode::OrderIdInvalidCharacters
            ]
        );
    }

    #[test]
    fn customer_id_rules() {
        assert_eq!(
            codes(validate_json(&with(good(), "/customer_id", json!("")))),
            [ReasonCode::CustomerIdEmpty]
        );
        assert_eq!(
            codes(validate_json(&with(
                good(),
                "/customer_id",
                json!("c".repeat(65))
            ))),
            [ReasonCode::CustomerIdTooLong]
        );
        // 64 characters, not bytes.
        assert!(validate_json(&with(good(), "/customer_id", json!("é".repeat(64)))).is_ok());
    }

    #[test]
    fn currency_rules() {
        for bad in ["", "eur", "EU", "EURO", "E1R", "ÉUR"] {
            assert_eq!(
                codes(validate_json(&with(good(), "/currency", json!(bad)))),
                [ReasonCode::CurrencyInvalid],
                "{bad:?}"
            );
        }
        assert!(validate_json(&with(good(), "/currency", json!("JPY"))).is_ok());
        let long = "X".repeat(1000);
        let reasons = validate_json(&with(good(), "/currency", json!(long))).unwrap_err();
        assert!(
            reasons[0].message.len() < 200,
            "long values are cut short in messages"
        );
    }

    #[test]
    fn items_count_rules() {
        assert_eq!(
            codes(validate_json(&with(
                with(good(), "/items", json!([])),
                "/total_minor",
                json!(0)
            ))),
            [ReasonCode::ItemsEmpty]
        );
        let item = json!({"sku": "S", "quantity": 1, "unit_price_minor": 1});
        let hundred = with(
            with(good(), "/items", json!(vec![item.clone(); 100])),
            "/total_minor",
            json!(100),
        );
        assert!(validate_json(&hundred).is_ok());
        let too_many = with(
            with(good(), "/items", json!(vec![item; 101])),
            "/total_minor",
            json!(101),
        );
        assert_eq!(codes(validate_json(&too_many)), [ReasonCode::TooManyItems]);
    }

    #[test]
    fn item_rules() {
        assert_eq!(
            codes(validate_json(&with(good(), "/items/0/sku", json!("")))),
            [ReasonCode::SkuEmpty]
        );
        assert_eq!(
            codes(validate_json(&with(
                good(),
                "/items/0/sku",
                json!("S".repeat(65))
            ))),
            [ReasonCode::SkuTooLong]
        );
        // Quantity 0 also changes the sum, so the mismatch is reported too.
        assert_eq!(
            codes(validate_json(&with(good(), "/items/1/quantity", json!(0)))),
            [ReasonCode::QuantityOutOfRange, ReasonCode::TotalMismatch]
        );
        let at_max = with(
            with(good(), "/items/1/quantity", json!(10_000)),
            "/total_minor",
            json!(2500 + 10_000 * 499),
        );
        assert!(validate_json(&at_max).is_ok());
        let over_max = with(
            with(good(), "/items/1/quantity", json!(10_001)),
            "/total_minor",
            json!(2500 + 10_001 * 499),
        );
        let reasons = validate_json(&over_max).unwrap_err();
        assert_eq!(reasons.len(), 1);
        assert_eq!(reasons[0].code, ReasonCode::QuantityOutOfRange);
        assert_eq!(
            reasons[0].message,
            "items[1].quantity is 10001; it must be between 1 and 10000"
        );
        let negative_price = with(
            with(good(), "/items/1/unit_price_minor", json!(-1)),
            "/total_minor",
            json!(2499),
        );
        assert_eq!(
            codes(validate_json(&negative_price)),
            [ReasonCode::UnitPriceNegative]
        );
        // A free item is fine.
        let free = with(
            with(good(), "/items/1/unit_price_minor", json!(0)),
            "/total_minor",
            json!(2500),
        );
        assert!(validate_json(&free).is_ok());
    }

    #[test]
    fn total_mismatch_names_both_amounts() {
        let reasons = validate_json(&with(good(), "/total_minor", json!(2400))).unwrap_err();
        assert_eq!(
            reasons,
            [Reason::new(
                ReasonCode::TotalMismatch,
                "total_minor is 2400 but the items sum to 2999"
            )]
        );
    }

    #[test]
    fn total_overflow_is_detected_with_checked_arithmetic() {
        let order = json!({
            "order_id": "ord-1", "customer_id": "c", "currency": "EUR",
            "items": [{"sku": "S", "quantity": 2, "unit_price_minor": i64::MAX}],
            "total_minor": -2
        });
        assert_eq!(codes(validate_json(&order)), [ReasonCode::TotalOverflow]);
        // Overflow in the addition, not the multiplication.
        let order = json!({
            "order_id": "ord-1", "customer_id": "c", "currency": "EUR",
            "items": [
                {"sku": "A", "quantity": 1, "unit_price_minor": i64::MAX},
                {"sku": "B", "quantity": 1, "unit_price_minor": 1}
            ],
            "total_minor": i64::MIN
        });
        assert_eq!(codes(validate_json(&order)), [ReasonCode::TotalOverflow]);
        assert_eq!(
            items_total(&[LineItem::new("A", 1, i64::MAX)]),
            Some(i64::MAX)
        );
        assert_eq!(items_total(&[LineItem::new("A", 2, i64::MAX)]), None);
        assert_eq!(items_total(&[]), Some(0));
    }

    #[test]
    fn every_reason_is_reported_not_just_the_first() {
        let order = json!({
            "order_id": "",
            "customer_id": "",
            "currency": "eu",
            "items": [{"sku": "", "quantity": 0, "unit_price_minor": -5}],
            "total_minor": 1
        });
        assert_eq!(
            codes(validate_json(&order)),
            [
                ReasonCode::OrderIdEmpty,
                ReasonCode::CustomerIdEmpty,
                ReasonCode::CurrencyInvalid,
                ReasonCode::SkuEmpty,
                ReasonCode::QuantityOutOfRange,
                ReasonCode::UnitPriceNegative,
                ReasonCode::TotalMismatch,
            ]
        );
    }

    #[test]
    fn parse_problems_are_reasons_next_to_rule_violations() {
        let order = json!({
            "customer_id": 7,
            "currency": "eur",
            "items": [
                {"sku": "A", "quantity": "2", "unit_price_minor": 1.5, "colour": "red"},
                "not an item",
                {"quantity": 0}
            ],
            "total_minor": null,
            "coupon": "X"
        });
        let reasons = validate_json(&order).unwrap_err();
        let got: Vec<(ReasonCode, &str)> = reasons
            .iter()
            .map(|r| (r.code, r.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (ReasonCode::MissingField, "order_id is required"),
                (ReasonCode::WrongType, "customer_id must be a string, got a number"),
                (ReasonCode::WrongType, "items[0].quantity must be an integer, got a string"),
                (
                    ReasonCode::WrongType,
                    "items[0].unit_price_minor must be an integer (amounts are in minor units), got 1.5"
                ),
                (
                    ReasonCode::UnknownField,
                    "unknown field items[0].\"colour\"; expected only sku, quantity, unit_price_minor"
                ),
                (ReasonCode::WrongType, "items[1] must be an object, got a string"),
                (ReasonCode::MissingField, "items[2].sku is required"),
                (ReasonCode::MissingField, "items[2].unit_price_minor is required"),
                (ReasonCode::WrongType, "total_minor must be an integer, got null"),
                (
                    ReasonCode::UnknownField,
                    "unknown field \"coupon\"; expected only order_id, customer_id, currency, items, total_minor"
                ),
                (
                    ReasonCode::CurrencyInvalid,
                    "currency is \"eur\"; it must be an ISO 4217 code of 3 uppercase letters such as \"EUR\""
                ),
                (
                    ReasonCode::QuantityOutOfRange,
                    "items[2].quantity is 0; it must be between 1 and 10000"
                ),
            ]
        );
    }

    #[test]
    fn numbers_beyond_i64_and_floats() {
        let reasons = validate_json(&with(good(), "/total_minor", json!(u64::MAX))).unwrap_err();
        assert_eq!(reasons[0].code, ReasonCode::NumberOutOfRange);
        let huge: Value = serde_json::from_str(
            &good()
                .to_string()
                .replace("2999", "100000000000000000000000000"),
        )
        .unwrap();
        assert_eq!(codes(validate_json(&huge)), [ReasonCode::NumberOutOfRange]);
        // 2999.0 is the right amount written as a float: still not an integer.
        let float: Value =
            serde_json::from_str(&good().to_string().replace("2999", "2999.0")).unwrap();
        assert_eq!(codes(validate_json(&float)), [ReasonCode::WrongType]);
        assert!(validate_json(&with(good(), "/items/0/quantity", json!(true))).is_err());
    }

    #[test]
    fn non_objects_and_malformed_bodies() {
        for value in [json!(null), json!([]), json!("ord-1"), json!(3)] {
            assert_eq!(codes(validate_json(&value)), [ReasonCode::NotAnObject]);
        }
        assert_eq!(
            codes(validate_str("{not json")),
            [ReasonCode::MalformedJson]
        );
        assert_eq!(codes(validate_str("")), [ReasonCode::MalformedJson]);
        assert!(validate_str(&good().to_string()).is_ok());
    }

    #[test]
    fn usable_order_id_applies_only_the_id_rules() {
        let broken = json!({"order_id": "ord-7", "total_minor": "x"});
        assert_eq!(usable_order_id(&broken), Some("ord-7"));
        assert_eq!(usable_order_id(&json!({"order_id": ""})), None);
        assert_eq!(usable_order_id(&json!({"order_id": "a b"})), None);
        assert_eq!(usable_order_id(&json!({"order_id": 5})), None);
        assert_eq!(usable_order_id(&json!({})), None);
        assert_eq!(usable_order_id(&json!([1])), None);
    }

    #[test]
    fn typed_and_json_validation_agree() {
        let order: Order = serde_json::from_value(with(good(), "/total_minor", json!(1))).unwrap();
        assert_eq!(
            validate(&order).unwrap_err(),
            validate_json(&serde_json::to_value(&order).unwrap()).unwrap_err()
        );
    }
}
