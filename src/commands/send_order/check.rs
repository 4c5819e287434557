//! The check of an order against the `OrderPlaced` schema before it is published: the same
//! schema the registry holds (generated from the order type), as JSON Schema. It catches what
//! would make the event malformed — a missing field, a wrong type, an unknown field — and names
//! each one; the business rules (the total, lengths, the currency format) stay the pipeline's,
//! so an order breaking only those is still sent and rejected by validate-order, as a test of
//! the pipeline wants.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::Validator;
use serde::Serialize;
use serde_json::Value;

/// Longest excerpt of an offending value quoted in a message.
const QUOTE_MAX_CHARS: usize = 60;

/// One way the order does not match the schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaViolation {
    /// JSON Pointer (RFC 6901) of the offending value, or of the missing or unknown field;
    /// `""` is the order itself.
    pub path: String,
    /// What the schema expects there.
    pub expected: String,
    /// What the order has there.
    pub got: String,
}

impl std::fmt::Display for SchemaViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "(the order)"
        } else {
            &self.path
        };
        write!(f, "{path}: expected {}, got {}", self.expected, self.got)
    }
}

fn validator() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema = order_domain::schema::PublishedEvent::of(order_domain::EventType::OrderPlaced)
            .detail_json_schema();
        // The schema is generated from the order type: failing to compile it is a bug.
        jsonschema::validator_for(&schema).expect("the OrderPlaced JSON Schema compiles")
    })
}

/// Every way `order` does not match the `OrderPlaced` schema (none: it matches), by path.
pub fn against_schema(order: &Value) -> Vec<SchemaViolation> {
    let mut out: Vec<SchemaViolation> = validator()
        .iter_errors(order)
        .flat_map(|error| {
            let path = error.instance_path().as_str().to_string();
            match error.kind() {
                ValidationErrorKind::Required { property } => {
                    let name = property.as_str().unwrap_or_default();
                    vec![SchemaViolation {
                        path: child(&path, name),
                        expected: "a required field".into(),
                        got: "nothing".into(),
                    }]
                }
                ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
                    .iter()
                    .map(|name| SchemaViolation {
                        path: child(&path, name),
                        expected: format!(
                            "no such field (allowed: {})",
                            allowed_fields(&path).join(", ")
                        ),
                        got: quote(&order_at(order, &child(&path, name))),
                    })
                    .collect(),
                ValidationErrorKind::Type { kind } => vec![SchemaViolation {
                    path,
                    expected: match kind {
                        TypeKind::Single(t) => an(t.as_str()),
                        TypeKind::Multiple(set) => {
                            // "a string or null": the optional one's null last.
                            let mut kinds: Vec<&str> = set.iter().map(|t| t.as_str()).collect();
                            kinds.sort_by_key(|k| *k == "null");
                            kinds
                                .into_iter()
                                .map(|k| if k == "null" { k.to_string() } else { an(k) })
                                .collect::<Vec<_>>()
                                .join(" or ")
                        }
                    },
                    got: quote(error.instance()),
                }],
                _ => vec![SchemaViolation {
                    path,
                    expected: error.to_string(),
                    got: quote(error.instance()),
                }],
            }
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out.dedup();
    out
}

/// `parent`'s child field `name`, as a JSON Pointer (`~` and `/` escaped).
fn child(parent: &str, name: &str) -> String {
    format!("{parent}/{}", name.replace('~', "~0").replace('/', "~1"))
}

fn order_at(order: &Value, pointer: &str) -> Value {
    order.pointer(pointer).cloned().unwrap_or(Value::Null)
}

/// The fields the schema allows in the object at `path` (an order, or a line item).
fn allowed_fields(path: &str) -> Vec<String> {
    let schema = order_domain::schema::PublishedEvent::of(order_domain::EventType::OrderPlaced)
        .detail_json_schema();
    // A pointer with an index (`/items/0`) is a line item; the order itself otherwise.
    let object = if path.is_empty() {
        &schema
    } else {
        schema.pointer("/$defs/LineItem").unwrap_or(&Value::Null)
    };
    object
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// "an integer", "a string", "an object"...
fn an(kind: &str) -> String {
    let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {kind}")
}

/// A value as it reads in a message: its JSON type and (shortened) text.
fn quote(value: &Value) -> String {
    let kind = match value {
        Value::Null => return "null".into(),
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    let text = value.to_string();
    let shown: String = text.chars().take(QUOTE_MAX_CHARS).collect();
    let more = if shown.len() < text.len() { "…" } else { "" };
    format!("{kind} {shown}{more}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        serde_json::to_value(order_domain::sample::valid_order(Some("ord-1".into()))).unwrap()
    }

    #[test]
    fn a_valid_order_and_a_wrong_total_match_the_schema() {
        assert_eq!(against_schema(&sample()), vec![]);
        // Business rules are the pipeline's: sent, then rejected by validate-order.
        let wrong_total = serde_json::to_value(order_domain::sample::invalid_order()).unwrap();
        assert_eq!(against_schema(&wrong_total), vec![]);
        let mut empty_currency = sample();
        empty_currency["currency"] = json!("");
        assert_eq!(against_schema(&empty_currency), vec![]);
    }

    #[test]
    fn a_total_beyond_64_bits_is_left_to_the_pipeline() {
        // An integer as JSON Schema counts it (validate-order rejects it: number_out_of_range).
        let order: Value = serde_json::from_str(
            r#"{"order_id":"o","customer_id":"c","currency":"EUR","items":[{"sku":"A","quantity":1,"unit_price_minor":100}],"total_minor":100000000000000000000}"#,
        )
        .unwrap();
        assert_eq!(against_schema(&order), vec![]);
        let mut fraction = order.clone();
        fraction["items"][0]["unit_price_minor"] = json!(12.5);
        assert_eq!(
            against_schema(&fraction)[0].to_string(),
            "/items/0/unit_price_minor: expected an integer, got a number 12.5"
        );
    }

    #[test]
    fn names_every_wrong_field_with_expected_and_got() {
        let mut order = sample();
        order["items"][0]["quantity"] = json!("2");
        order.as_object_mut().unwrap().remove("total_minor");
        order["discount_minor"] = json!(5);
        order["customer_email"] = json!(42);
        let found = against_schema(&order);
        let shown: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "/customer_email: expected a string or null, got an integer 42",
                "/discount_minor: expected no such field (allowed: currency, customer_email, customer_id, items, order_id, total_minor), got an integer 5",
                "/items/0/quantity: expected an integer, got a string \"2\"",
                "/total_minor: expected a required field, got nothing",
            ]
        );
    }

    #[test]
    fn a_non_object_and_unknown_item_fields_are_named() {
        let found = against_schema(&json!([1, 2]));
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].to_string(),
            "(the order): expected an object, got an array [1,2]"
        );
        let mut order = sample();
        order["items"][0]["colour"] = json!("red");
        assert_eq!(
            against_schema(&order)[0].to_string(),
            "/items/0/colour: expected no such field (allowed: quantity, sku, unit_price_minor), got a string \"red\""
        );
    }
}
