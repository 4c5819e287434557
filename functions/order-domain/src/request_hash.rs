//! The request hash stored on a RECEIVED record: SHA-256 of the canonical JSON of the order as
//! submitted (object keys sorted, no insignificant whitespace). submit-order and import-orders
//! compute it the same way, so an order imported from a file and the same order sent to
//! `POST /orders` with its `order_id` are one submission, and a resubmission is told from
//! another order under a taken id.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Hex SHA-256 of the canonical form of `value`.
pub fn request_hash(value: &Value) -> String {
    let mut canonical = String::new();
    canonical_json(value, &mut canonical);
    Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// JSON with object keys sorted and no whitespace.
fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical_json(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_ignores_key_order_and_whitespace_only() {
        let a: Value =
            serde_json::from_str(r#"{"b": [1, {"y": 2, "x": "é"}], "a": null}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":null,"b":[1,{"x":"é","y":2}]}"#).unwrap();
        assert_eq!(request_hash(&a), request_hash(&b));
        let c: Value = serde_json::from_str(r#"{"a":null,"b":[{"x":"é","y":2},1]}"#).unwrap();
        assert_ne!(request_hash(&a), request_hash(&c));
        // 2 and 2.0 are different submissions.
        let d: Value = serde_json::from_str(r#"{"a":null,"b":[1,{"x":"é","y":2.0}]}"#).unwrap();
        assert_ne!(request_hash(&b), request_hash(&d));
        let mut canonical = String::new();
        canonical_json(&a, &mut canonical);
        assert_eq!(canonical, r#"{"a":null,"b":[1,{"x":"é","y":2}]}"#);
        // SHA-256 of that canonical text, as submit-order has always stored it.
        assert_eq!(
            request_hash(&a),
            Sha256::digest(canonical.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        assert_eq!(request_hash(&a).len(), 64);
    }
}
