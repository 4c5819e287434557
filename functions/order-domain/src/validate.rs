//! The order rules. Raw JSON and typed orders go through the same checks; raw JSON first
//! collects type problems field by field, so one pass reports everything that is wrong.
//!
//! Every problem is found together with the JSON Pointer of the value it is about
//! ([`Violation`]); [`validate_json`] and friends drop the pointers, [`check_json`] keeps them
//! (for HTTP error documents).

use serde_json::{Map, Value};

use crate::{
    LineItem, Order, Reason, ReasonCode, ValidOrder, MAX_EMAIL_LEN, MAX_ID_LEN, MAX_ITEMS,
    MAX_QUANTITY,
};

/// The order fields every order has; named in `unknown_field` messages.
const ORDER_FIELDS: [&str; 5] = [
    "order_id",
    "customer_id",
    "currency",
    "items",
    "total_minor",
];
/// Fields an order may have besides [`ORDER_FIELDS`].
const OPTIONAL_ORDER_FIELDS: [&str; 1] = ["customer_email"];
const ITEM_FIELDS: [&str; 3] = ["sku", "quantity", "unit_price_minor"];

/// Longest excerpt of an offending value quoted in a message; values can be arbitrarily long.
const QUOTE_MAX_CHARS: usize = 40;

/// A broken rule and where: `path` is the JSON Pointer (RFC 6901) of the offending value, e.g.
/// `/items/0/quantity`; `None` when the problem is about the order as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub reason: Reason,
    pub path: Option<String>,
}

/// Collects violations; `at` takes the path in the message form (`items[0].sku`).
struct Found(Vec<Violation>);

impl Found {
    fn at(&mut self, path: &str, code: ReasonCode, message: impl Into<String>) {
        self.0.push(Violation {
            reason: Reason::new(code, message),
            path: Some(pointer(path)),
        });
    }

    fn whole(&mut self, code: ReasonCode, message: impl Into<String>) {
        self.0.push(Violation {
            reason: Reason::new(code, message),
            path: None,
        });
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `items[0].sku` → `/items/0/sku`. Paths built here only hold contract field names and
/// indices, except for unknown fields, whose names are escaped per RFC 6901.
fn pointer(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 2);
    for segment in path.split('.') {
        let (name, indices) = match segment.find('[') {
            Some(open) => (&segment[..open], &segment[open..]),
            None => (segment, ""),
        };
        out.push('/');
        out.push_str(&name.replace('~', "~0").replace('/', "~1"));
        for index in indices.split(['[', ']']).filter(|i| !i.is_empty()) {
            out.push('/');
            out.push_str(index);
        }
    }
    out
}

fn strip(violations: Vec<Violation>) -> Vec<Reason> {
    violations.into_iter().map(|v| v.reason).collect()
}

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
        customer_email: Some(order.customer_email.clone()),
    };
    check(draft, Found(Vec::new())).map_err(strip)
}

/// Checks a message body: malformed JSON is reported as a reason like any other problem.
pub fn validate_str(body: &str) -> Result<ValidOrder, Vec<Reason>> {
    check_str(body).map_err(strip)
}

/// [`validate_str`] with the JSON Pointer of every problem.
pub fn check_str(body: &str) -> Result<ValidOrder, Vec<Violation>> {
    match serde_json::from_str::<Value>(body) {
        Ok(value) => check_json_source(&value, body),
        Err(err) => Err(vec![Violation {
            reason: Reason::new(
                ReasonCode::MalformedJson,
                format!("the order is not valid JSON: {err}"),
            ),
            path: None,
        }]),
    }
}

/// Checks raw order JSON (an `OrderPlaced` detail): missing fields, wrong types and unknown
/// fields become reasons alongside the business rules, never a panic or a first-error exit.
pub fn validate_json(value: &Value) -> Result<ValidOrder, Vec<Reason>> {
    check_json(value).map_err(strip)
}

/// [`validate_json`] for a value parsed from `source`: messages quote numbers as written there
/// (`Value` holds an integer beyond 64 bits only as a float, `100000000000000000000` as `1e20`).
pub fn validate_json_source(value: &Value, source: &str) -> Result<ValidOrder, Vec<Reason>> {
    check_json_source(value, source).map_err(strip)
}

/// [`validate_json`] with the JSON Pointer of every problem.
pub fn check_json(value: &Value) -> Result<ValidOrder, Vec<Violation>> {
    check_value(value, None)
}

/// [`check_json`] for a value parsed from `source` (fields may have been added to it since,
/// e.g. an assigned `order_id`): messages quote numbers as written in `source`.
pub fn check_json_source(value: &Value, source: &str) -> Result<ValidOrder, Vec<Violation>> {
    check_value(value, Some(source))
}

fn check_value(value: &Value, source: Option<&str>) -> Result<ValidOrder, Vec<Violation>> {
    let Some(object) = value.as_object() else {
        let mut found = Found(Vec::new());
        found.whole(
            ReasonCode::NotAnObject,
            format!("the order must be a JSON object, got {}", json_type(value)),
        );
        return Err(found.0);
    };
    let mut found = Found(Vec::new());
    let draft = Draft {
        order_id: string_field(object, "order_id", "order_id", &mut found),
        customer_id: string_field(object, "customer_id", "customer_id", &mut found),
        currency: string_field(object, "currency", "currency", &mut found),
        items: items_field(object, source, &mut found),
        total_minor: integer_field(object, "total_minor", "total_minor", source, &mut found),
        customer_email: optional_string_field(object, "customer_email", &mut found),
    };
    unknown_fields(
        object,
        &ORDER_FIELDS,
        &OPTIONAL_ORDER_FIELDS,
        "",
        &mut found,
    );
    check(draft, found)
}

/// The `order_id` of raw order JSON when it satisfies the order-id rules, so it can key a
/// table item even though other parts of the order are invalid.
pub fn usable_order_id(value: &Value) -> Option<&str> {
    let id = value.get("order_id")?.as_str()?;
    order_id_problems(id).is_empty().then_some(id)
}

/// What is wrong with `order_id` as an order id (empty: nothing), e.g. for an id in a URL.
pub fn order_id_problems(order_id: &str) -> Vec<Reason> {
    let mut found = Found(Vec::new());
    check_order_id(order_id, &mut found);
    strip(found.0)
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
    /// `Some(None)`: absent (fine, it is optional); `None`: present with the wrong type.
    customer_email: Option<Option<String>>,
}

struct DraftItem {
    sku: Option<String>,
    quantity: Option<i64>,
    unit_price_minor: Option<i64>,
}

/// Applies the business rules to every field that parsed; yields a `ValidOrder` only when
/// nothing at all was wrong.
fn check(draft: Draft, mut found: Found) -> Result<ValidOrder, Vec<Violation>> {
    if let Some(order_id) = &draft.order_id {
        check_order_id(order_id, &mut found);
    }
    if let Some(customer_id) = &draft.customer_id {
        check_customer_id(customer_id, &mut found);
    }
    if let Some(currency) = &draft.currency {
        check_currency(currency, &mut found);
    }
    if let Some(items) = &draft.items {
        check_items(items, &mut found);
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
        check_total(items, total, &mut found);
    }
    if let Some(Some(email)) = &draft.customer_email {
        check_customer_email(email, &mut found);
    }
    if !found.is_empty() {
        return Err(found.0);
    }
    match (
        draft.order_id,
        draft.customer_id,
        draft.currency,
        items,
        draft.total_minor,
        draft.customer_email,
    ) {
        (
            Some(order_id),
            Some(customer_id),
            Some(currency),
            Some(items),
            Some(total_minor),
            Some(customer_email),
        ) => Ok(ValidOrder::new_unchecked(Order {
            order_id,
            customer_id,
            currency,
            items,
            total_minor,
            customer_email,
        })),
        // Every field that failed to parse left a reason, so this cannot be reached; report it
        // as a reason anyway rather than trusting that invariant with a panic.
        _ => {
            let mut found = Found(Vec::new());
            found.whole(ReasonCode::MissingField, "the order is incomplete");
            Err(found.0)
        }
    }
}

fn check_order_id(order_id: &str, found: &mut Found) {
    if order_id.is_empty() {
        found.at(
            "order_id",
            ReasonCode::OrderIdEmpty,
            "order_id must not be empty",
        );
        return;
    }
    let len = order_id.chars().count();
    if len > MAX_ID_LEN {
        found.at(
            "order_id",
            ReasonCode::OrderIdTooLong,
            format!("order_id is {len} characters long; at most {MAX_ID_LEN} are allowed"),
        );
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
        found.at(
            "order_id",
            ReasonCode::OrderIdInvalidCharacters,
            format!(
                "order_id contains {}{more}; only A-Z, a-z, 0-9, '_' and '-' are allowed",
                shown.join(", ")
            ),
        );
    }
}

fn check_customer_id(customer_id: &str, found: &mut Found) {
    if customer_id.is_empty() {
        found.at(
            "customer_id",
            ReasonCode::CustomerIdEmpty,
            "customer_id must not be empty",
        );
        return;
    }
    let len = customer_id.chars().count();
    if len > MAX_ID_LEN {
        found.at(
            "customer_id",
            ReasonCode::CustomerIdTooLong,
            format!("customer_id is {len} characters long; at most {MAX_ID_LEN} are allowed"),
        );
    }
}

fn check_currency(currency: &str, found: &mut Found) {
    let is_code = currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase());
    if !is_code {
        found.at(
            "currency",
            ReasonCode::CurrencyInvalid,
            format!(
                "currency is {}; it must be an ISO 4217 code of 3 uppercase letters such as \"EUR\"",
                quote(currency)
            ),
        );
    }
}

/// A conservative address check (what a notification sender can deliver to): ASCII only,
/// `local@domain`, the local part dot-separated runs of RFC 5322 atext (at most 64 characters),
/// the domain at least two dot-separated DNS labels (letters, digits, inner hyphens; at most 63
/// characters each) ending in a label that is not all digits. Quoted local parts, IP literals
/// and internationalised addresses are refused.
fn check_customer_email(email: &str, found: &mut Found) {
    let len = email.chars().count();
    if len > MAX_EMAIL_LEN {
        found.at(
            "customer_email",
            ReasonCode::CustomerEmailTooLong,
            format!("customer_email is {len} characters long; at most {MAX_EMAIL_LEN} are allowed"),
        );
    }
    if let Err(problem) = email_syntax(email) {
        found.at(
            "customer_email",
            ReasonCode::CustomerEmailInvalid,
            format!(
                "customer_email is {}; it must be an address such as \"ana@example.com\" ({problem})",
                quote(email)
            ),
        );
    }
}

fn email_syntax(email: &str) -> Result<(), &'static str> {
    if !email.is_ascii() {
        return Err("only ASCII characters are accepted");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err("there is no '@'");
    };
    if domain.contains('@') {
        return Err("there is more than one '@'");
    }
    const ATEXT_SPECIALS: &[u8] = b"!#$%&'*+-/=?^_`{|}~";
    if local.is_empty() || local.len() > 64 {
        return Err("the part before '@' must be 1 to 64 characters long");
    }
    let local_ok = local.split('.').all(|run| {
        !run.is_empty()
            && run
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || ATEXT_SPECIALS.contains(&b))
    });
    if !local_ok {
        return Err("the part before '@' has a character or dot that is not allowed");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err("the domain needs at least one dot");
    }
    let labels_ok = labels.iter().all(|label| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if !labels_ok || domain.len() > 253 {
        return Err("the domain is not a valid host name");
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("the domain must not end in a numeric label");
    }
    Ok(())
}

fn check_items(items: &[DraftItem], found: &mut Found) {
    if items.is_empty() {
        found.at(
            "items",
            ReasonCode::ItemsEmpty,
            "items must contain at least one item",
        );
    }
    if items.len() > MAX_ITEMS {
        found.at(
            "items",
            ReasonCode::TooManyItems,
            format!(
                "items has {} entries; at most {MAX_ITEMS} are allowed",
                items.len()
            ),
        );
    }
    for (index, item) in items.iter().enumerate() {
        if let Some(sku) = &item.sku {
            let path = format!("items[{index}].sku");
            if sku.is_empty() {
                found.at(
                    &path,
                    ReasonCode::SkuEmpty,
                    format!("items[{index}].sku must not be empty"),
                );
            } else {
                let len = sku.chars().count();
                if len > MAX_ID_LEN {
                    found.at(
                        &path,
                        ReasonCode::SkuTooLong,
                        format!(
                            "items[{index}].sku is {len} characters long; at most {MAX_ID_LEN} are allowed"
                        ),
                    );
                }
            }
        }
        if let Some(quantity) = item.quantity {
            if !(1..=MAX_QUANTITY).contains(&quantity) {
                found.at(
                    &format!("items[{index}].quantity"),
                    ReasonCode::QuantityOutOfRange,
                    format!("items[{index}].quantity is {quantity}; it must be between 1 and {MAX_QUANTITY}"),
                );
            }
        }
        if let Some(price) = item.unit_price_minor {
            if price < 0 {
                found.at(
                    &format!("items[{index}].unit_price_minor"),
                    ReasonCode::UnitPriceNegative,
                    format!("items[{index}].unit_price_minor is {price}; it must not be negative"),
                );
            }
        }
    }
}

fn check_total(items: &[LineItem], total_minor: i64, found: &mut Found) {
    match items_total(items) {
        None => found.at(
            "total_minor",
            ReasonCode::TotalOverflow,
            "the items' quantity × unit_price_minor sum exceeds the 64-bit integer range",
        ),
        Some(sum) if sum != total_minor => found.at(
            "total_minor",
            ReasonCode::TotalMismatch,
            format!("total_minor is {total_minor} but the items sum to {sum}"),
        ),
        Some(_) => {}
    }
}

fn string_field(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
    found: &mut Found,
) -> Option<String> {
    match object.get(key) {
        None => {
            missing(path, found);
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            wrong_type(path, "a string", other, found);
            None
        }
    }
}

/// An optional string: `Some(None)` when absent, `None` when present with another type.
fn optional_string_field(
    object: &Map<String, Value>,
    key: &str,
    found: &mut Found,
) -> Option<Option<String>> {
    match object.get(key) {
        None => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(other) => {
            wrong_type(key, "a string", other, found);
            None
        }
    }
}

fn integer_field(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
    source: Option<&str>,
    found: &mut Found,
) -> Option<i64> {
    let Some(value) = object.get(key) else {
        missing(path, found);
        return None;
    };
    let Value::Number(number) = value else {
        wrong_type(path, "an integer", value, found);
        return None;
    };
    if let Some(n) = number.as_i64() {
        return Some(n);
    }
    let written = source
        .and_then(|source| number_literal(source, path))
        .unwrap_or_else(|| number.to_string());
    // Integers beyond u64 arrive as floats; a whole float that large is an out-of-range
    // integer, anything else with a fraction or exponent is not an integer at all.
    let beyond_i64 = number.is_u64()
        || number
            .as_f64()
            .is_some_and(|f| f.fract() == 0.0 && f.abs() >= 2f64.powi(63));
    if beyond_i64 {
        found.at(
            path,
            ReasonCode::NumberOutOfRange,
            format!("{path} is {written}, outside the 64-bit integer range"),
        );
    } else {
        found.at(
            path,
            ReasonCode::WrongType,
            format!("{path} must be an integer (amounts are in minor units), got {written}"),
        );
    }
    None
}

/// The text of the number at `path` (`total_minor` or `items[i].<field>`, the only numbers of an
/// order) in `source`, as written. Parsed again only for a number that failed, so the common
/// path costs nothing; `None` when `source` does not have that shape.
fn number_literal(source: &str, path: &str) -> Option<String> {
    use serde_json::value::RawValue;
    type Fields<'a> = std::collections::HashMap<String, &'a RawValue>;
    let top: Fields = serde_json::from_str(source).ok()?;
    let raw = match path.split_once('.') {
        None => *top.get(path)?,
        Some((item, field)) => {
            let index: usize = item
                .strip_prefix("items[")?
                .strip_suffix(']')?
                .parse()
                .ok()?;
            let items: Vec<&RawValue> = serde_json::from_str(top.get("items")?.get()).ok()?;
            let fields: Fields = serde_json::from_str(items.get(index)?.get()).ok()?;
            *fields.get(field)?
        }
    };
    Some(raw.get().to_owned())
}

fn items_field(
    object: &Map<String, Value>,
    source: Option<&str>,
    found: &mut Found,
) -> Option<Vec<DraftItem>> {
    let Some(value) = object.get("items") else {
        missing("items", found);
        return None;
    };
    let Value::Array(entries) = value else {
        wrong_type("items", "an array", value, found);
        return None;
    };
    let items = entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let path = format!("items[{index}]");
            let Some(item) = entry.as_object() else {
                wrong_type(&path, "an object", entry, found);
                return DraftItem {
                    sku: None,
                    quantity: None,
                    unit_price_minor: None,
                };
            };
            let parsed = DraftItem {
                sku: string_field(item, "sku", &format!("{path}.sku"), found),
                quantity: integer_field(
                    item,
                    "quantity",
                    &format!("{path}.quantity"),
                    source,
                    found,
                ),
                unit_price_minor: integer_field(
                    item,
                    "unit_price_minor",
                    &format!("{path}.unit_price_minor"),
                    source,
                    found,
                ),
            };
            unknown_fields(item, &ITEM_FIELDS, &[], &path, found);
            parsed
        })
        .collect();
    Some(items)
}

/// Reports fields outside `known` and `optional`; the message names the `known` ones. `parent`
/// is the message-form path of the object (`""` for the order itself).
fn unknown_fields(
    object: &Map<String, Value>,
    known: &[&str],
    optional: &[&str],
    parent: &str,
    found: &mut Found,
) {
    let prefix = if parent.is_empty() {
        String::new()
    } else {
        format!("{parent}.")
    };
    for key in object
        .keys()
        .filter(|key| !known.contains(&key.as_str()) && !optional.contains(&key.as_str()))
    {
        let escaped = key.replace('~', "~0").replace('/', "~1");
        found.0.push(Violation {
            reason: Reason::new(
                ReasonCode::UnknownField,
                format!(
                    "unknown field {prefix}{}; expected only {}",
                    quote(key),
                    known.join(", ")
                ),
            ),
            path: Some(if parent.is_empty() {
                format!("/{escaped}")
            } else {
                format!("{}/{escaped}", pointer(parent))
            }),
        });
    }
}

fn missing(path: &str, found: &mut Found) {
    found.at(
        path,
        ReasonCode::MissingField,
        format!("{path} is required"),
    );
}

fn wrong_type(path: &str, expected: &str, got: &Value, found: &mut Found) {
    found.at(
        path,
        ReasonCode::WrongType,
        format!("{path} must be {expected}, got {}", json_type(got)),
    );
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

    fn with_field(mut value: Value, key: &str, new: Value) -> Value {
        value.as_object_mut().unwrap().insert(key.to_owned(), new);
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

    /// `good()` as text with its total written as `total` (and optionally a unit price).
    fn good_text_with(total: &str, unit_price: Option<&str>) -> String {
        let text = good().to_string().replace("2999", total);
        match unit_price {
            Some(price) => text.replacen(
                "\"unit_price_minor\":1250",
                &format!("\"unit_price_minor\":{price}"),
                1,
            ),
            None => text,
        }
    }

    fn messages(result: Result<ValidOrder, Vec<Reason>>) -> Vec<String> {
        result.unwrap_err().into_iter().map(|r| r.message).collect()
    }

    #[test]
    fn messages_quote_numbers_as_written_in_the_source() {
        // Beyond 64 bits serde_json's Value holds only the float 1e20; the message echoes the
        // digits that were sent.
        let text = good_text_with("100000000000000000000", None);
        assert_eq!(
            messages(validate_str(&text)),
            ["total_minor is 100000000000000000000, outside the 64-bit integer range"]
        );
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            messages(validate_json_source(&value, &text)),
            ["total_minor is 100000000000000000000, outside the 64-bit integer range"]
        );
        // Without the source, the value is all there is.
        assert_eq!(
            messages(validate_json(&value)),
            ["total_minor is 1e+20, outside the 64-bit integer range"]
        );
        // A fraction keeps its trailing zero; a negative total is an integer, checked as such.
        let text = good_text_with("12.50", None);
        assert_eq!(
            messages(validate_str(&text)),
            ["total_minor must be an integer (amounts are in minor units), got 12.50"]
        );
        let text = good_text_with("-1", None);
        assert_eq!(codes(validate_str(&text)), [ReasonCode::TotalMismatch]);
        assert!(messages(validate_str(&text))[0].starts_with("total_minor is -1 "));
        // Inside items, by index.
        let text = good_text_with("2999", Some("-100000000000000000000"));
        assert!(
            messages(validate_str(&text)).contains(
                &"items[0].unit_price_minor is -100000000000000000000, outside the 64-bit integer range"
                    .to_owned()
            ),
            "{:?}",
            messages(validate_str(&text))
        );
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
    fn customer_email_is_optional_and_checked() {
        assert!(validate_json(&good()).unwrap().customer_email.is_none());
        let with_email = with_field(
            good(),
            "customer_email",
            json!("ana.maria+orders@mail.example.com"),
        );
        let valid = validate_json(&with_email).unwrap();
        assert_eq!(
            valid.customer_email.as_deref(),
            Some("ana.maria+orders@mail.example.com")
        );
        // The contract shape is unchanged without it, and carries it when present.
        assert_eq!(serde_json::to_value(&valid).unwrap(), with_email);
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "ana@@example.com",
            "a@b@example.com",
            "ana maria@example.com",
            ".ana@example.com",
            "ana.@example.com",
            "an..a@example.com",
            "ana@-example.com",
            "ana@example-.com",
            "ana@example..com",
            "ana@192.168.0.1",
            "ana@exa_mple.com",
            "anä@example.com",
            "\"ana\"@example.com",
        ] {
            assert_eq!(
                codes(validate_json(&with_field(
                    good(),
                    "customer_email",
                    json!(bad)
                ))),
                [ReasonCode::CustomerEmailInvalid],
                "{bad:?}"
            );
        }
        for ok in [
            "a@b.co",
            "x_y-z@sub.domain.example",
            "o'brien@example.ie",
            "1@2.xn--p1ai",
        ] {
            assert!(
                validate_json(&with_field(good(), "customer_email", json!(ok))).is_ok(),
                "{ok:?}"
            );
        }
        // 254 characters is the limit.
        let domain = format!(
            "{}.{}.{}.com",
            "d".repeat(63),
            "e".repeat(63),
            "f".repeat(63)
        );
        let longest = format!("{}@{domain}", "l".repeat(254 - 1 - domain.len()));
        assert_eq!(longest.len(), 254);
        assert!(validate_json(&with_field(good(), "customer_email", json!(longest))).is_ok());
        let too_long = format!("l{longest}");
        assert_eq!(
            codes(validate_json(&with_field(
                good(),
                "customer_email",
                json!(too_long)
            ))),
            [ReasonCode::CustomerEmailTooLong]
        );
        // Both rules are reported when both are broken (a local part over 64 characters).
        let both = format!("{}@{domain}", "l".repeat(65));
        assert_eq!(
            codes(validate_json(&with_field(
                good(),
                "customer_email",
                json!(both)
            ))),
            [
                ReasonCode::CustomerEmailTooLong,
                ReasonCode::CustomerEmailInvalid
            ]
        );
        assert_eq!(
            codes(validate_json(&with_field(
                good(),
                "customer_email",
                json!(7)
            ))),
            [ReasonCode::WrongType]
        );
        assert_eq!(
            codes(validate_json(&with_field(
                good(),
                "customer_email",
                json!(null)
            ))),
            [ReasonCode::WrongType]
        );
        // Typed orders go through the same rule.
        let mut order: Order = serde_json::from_value(good()).unwrap();
        order.customer_email = Some("nope".into());
        assert_eq!(codes(validate(&order)), [ReasonCode::CustomerEmailInvalid]);
    }

    #[test]
    fn every_problem_carries_the_pointer_of_its_value() {
        let order = json!({
            "customer_id": "",
            "currency": "eur",
            "items": [
                {"sku": "A", "quantity": 0, "unit_price_minor": 1, "co/l~r": 1},
                "x"
            ],
            "total_minor": 5,
            "customer_email": "bad",
            "coupon": 1
        });
        let found: Vec<(ReasonCode, Option<String>)> = check_json(&order)
            .unwrap_err()
            .into_iter()
            .map(|v| (v.reason.code, v.path))
            .collect();
        let at = |p: &str| Some(p.to_owned());
        assert_eq!(
            found,
            [
                (ReasonCode::MissingField, at("/order_id")),
                (ReasonCode::UnknownField, at("/items/0/co~1l~0r")),
                (ReasonCode::WrongType, at("/items/1")),
                (ReasonCode::UnknownField, at("/coupon")),
                (ReasonCode::CustomerIdEmpty, at("/customer_id")),
                (ReasonCode::CurrencyInvalid, at("/currency")),
                (ReasonCode::QuantityOutOfRange, at("/items/0/quantity")),
                (ReasonCode::CustomerEmailInvalid, at("/customer_email")),
            ]
        );
        // The reasons are the same with and without pointers.
        assert_eq!(
            validate_json(&order).unwrap_err(),
            check_json(&order)
                .unwrap_err()
                .into_iter()
                .map(|v| v.reason)
                .collect::<Vec<_>>()
        );
        let whole = check_str("[").unwrap_err();
        assert_eq!(whole[0].reason.code, ReasonCode::MalformedJson);
        assert_eq!(whole[0].path, None);
        assert_eq!(check_json(&json!(1)).unwrap_err()[0].path, None);
        let total = check_json(&with(good(), "/total_minor", json!(1))).unwrap_err();
        assert_eq!(total[0].path.as_deref(), Some("/total_minor"));
    }

    #[test]
    fn order_id_problems_for_ids_outside_an_order() {
        assert!(order_id_problems("ord-1_A").is_empty());
        let codes: Vec<ReasonCode> = order_id_problems("a/b").iter().map(|r| r.code).collect();
        assert_eq!(codes, [ReasonCode::OrderIdInvalidCharacters]);
        assert_eq!(order_id_problems("")[0].code, ReasonCode::OrderIdEmpty);
        assert_eq!(
            order_id_problems(&"x".repeat(65))[0].code,
            ReasonCode::OrderIdTooLong
        );
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
