//! The JSON Schemas of every event the pipeline publishes, generated from the Rust types that
//! (de)serialise them — one source of truth for the functions, the CLI and the schema registry.
//!
//! Two forms of each, from the same types:
//! - [`PublishedEvent::openapi3`]: the document EventBridge's schema registry takes as type
//!   `OpenApi3`, shaped like the schemas EventBridge discovers itself (an `AWSEvent` component
//!   carrying `x-amazon-events-source` / `x-amazon-events-detail-type` whose `detail` refers to
//!   the detail's component), so the registry's code bindings and the console read it as a
//!   discovered one;
//! - [`PublishedEvent::detail_json_schema`]: the detail alone as JSON Schema (draft 2020-12),
//!   for checking a document before publishing it (OpenAPI 3.0 schema objects are not quite
//!   JSON Schema: `nullable`, no `const`).
//!
//! The schemas describe what is published (serde's serialisation contract): fields, types,
//! which are required, no unknown fields in an order. The business rules (lengths, the currency
//! format, the total) are validate-order's to check and to reject with reasons; the field
//! descriptions state them.

use schemars::generate::{Contract, SchemaSettings};
use serde_json::{json, Map, Value};

use crate::events::{EventType, OrderStatusChanged};
use crate::{Order, OrderRejected};

/// `info.version` of every document: the registry versions the schemas itself (a new schema
/// version per content change), so the document's own version stays fixed, as in discovered
/// schemas.
const DOCUMENT_VERSION: &str = "1.0.0";

/// The envelope fields EventBridge puts around every `detail`, as discovered schemas list them.
const ENVELOPE_REQUIRED: [&str; 9] = [
    "detail-type",
    "resources",
    "detail",
    "id",
    "source",
    "time",
    "region",
    "version",
    "account",
];

/// One event the pipeline publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishedEvent {
    pub event_type: EventType,
    /// EventBridge `source`.
    pub source: &'static str,
    /// EventBridge `detail-type`.
    pub detail_type: &'static str,
    /// Who publishes it and when (the schema's description in the registry).
    pub description: &'static str,
}

/// Every event the pipeline publishes, one per [`EventType`] (so one per `BusEvent` variant).
pub fn catalogue() -> Vec<PublishedEvent> {
    EventType::ALL.into_iter().map(PublishedEvent::of).collect()
}

/// The catalogue entry named by `detail_type` (exactly), if any.
pub fn find(detail_type: &str) -> Option<PublishedEvent> {
    EventType::parse(detail_type).map(PublishedEvent::of)
}

/// Settings shared by both forms: the serialisation contract (what is on the wire).
fn settings(base: SchemaSettings) -> SchemaSettings {
    base.with(|s| s.contract = Contract::Serialize)
}

impl PublishedEvent {
    pub fn of(event_type: EventType) -> PublishedEvent {
        PublishedEvent {
            event_type,
            source: event_type.source(),
            detail_type: event_type.detail_type(),
            description: match event_type {
                EventType::OrderPlaced => {
                    "A new order, published by the order API (submit-order) and by order \
                     producers; validate-order consumes it."
                }
                EventType::OrderStatusChanged => {
                    "One status transition of an order (RECEIVED, VALIDATED, PROCESSED, \
                     REJECTED), published after it is stored; at least once (dedupe on \
                     order_id, new_status, at)."
                }
                EventType::OrderRejected => {
                    "An order validate-order rejected, with every broken rule and the order \
                     exactly as received."
                }
            },
        }
    }

    /// The schema's name in the registry: `<source>@<detail-type>`, the convention of
    /// EventBridge's discovered schemas (and of its code bindings).
    pub fn schema_name(&self) -> String {
        format!("{}@{}", self.source, self.detail_type)
    }

    /// The OpenAPI 3 document for the schema registry (type `OpenApi3`).
    pub fn openapi3(&self) -> Value {
        let mut generator = settings(SchemaSettings::openapi3()).into_generator();
        let detail_ref = match self.event_type {
            EventType::OrderPlaced => generator.subschema_for::<Order>(),
            EventType::OrderStatusChanged => generator.subschema_for::<OrderStatusChanged>(),
            EventType::OrderRejected => generator.subschema_for::<OrderRejected>(),
        };
        let mut components: Map<String, Value> = generator.take_definitions(true);
        for schema in components.values_mut() {
            collapse_enum(schema);
        }
        components.insert(
            "AWSEvent".into(),
            json!({
                "type": "object",
                "required": ENVELOPE_REQUIRED,
                "x-amazon-events-detail-type": self.detail_type,
                "x-amazon-events-source": self.source,
                "properties": {
                    "detail": detail_ref.to_value(),
                    "account": { "type": "string" },
                    "detail-type": { "type": "string" },
                    "id": { "type": "string" },
                    "region": { "type": "string" },
                    "resources": { "type": "array", "items": { "type": "string" } },
                    "source": { "type": "string" },
                    "time": { "type": "string", "format": "date-time" },
                    "version": { "type": "string" },
                },
            }),
        );
        json!({
            "openapi": "3.0.0",
            "info": {
                "version": DOCUMENT_VERSION,
                "title": self.detail_type,
                "description": self.description,
            },
            "paths": {},
            "components": { "schemas": components },
        })
    }

    /// The `detail` alone as a self-contained JSON Schema (draft 2020-12).
    pub fn detail_json_schema(&self) -> Value {
        let mut generator = settings(SchemaSettings::draft2020_12()).into_generator();
        let schema = match self.event_type {
            EventType::OrderPlaced => generator.root_schema_for::<Order>(),
            EventType::OrderStatusChanged => generator.root_schema_for::<OrderStatusChanged>(),
            EventType::OrderRejected => generator.root_schema_for::<OrderRejected>(),
        };
        schema.to_value()
    }
}

/// schemars writes an enum whose variants carry doc comments as a `oneOf` of one-value enums;
/// code generators (EventBridge's code bindings among them) make a proper enum only of a plain
/// `enum`. Collapse it, keeping the variants' descriptions in the schema's.
fn collapse_enum(schema: &mut Value) {
    let Some(variants) = schema.get("oneOf").and_then(Value::as_array) else {
        return;
    };
    let mut values = Vec::new();
    let mut notes = Vec::new();
    for variant in variants {
        let (Some("string"), Some(Value::Array(these))) = (
            variant.get("type").and_then(Value::as_str),
            variant.get("enum"),
        ) else {
            return;
        };
        if let (Some(description), [Value::String(value)]) = (
            variant.get("description").and_then(Value::as_str),
            these.as_slice(),
        ) {
            notes.push(format!("{value}: {description}"));
        }
        values.extend(these.iter().cloned());
    }
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    object.remove("oneOf");
    object.insert("type".into(), Value::String("string".into()));
    object.insert("enum".into(), Value::Array(values));
    if !notes.is_empty() {
        let head = object
            .get("description")
            .and_then(Value::as_str)
            .map(|d| format!("{d}\n"))
            .unwrap_or_default();
        let description = format!("{head}{}", notes.join("\n"));
        object.insert("description".into(), Value::String(description));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::BusEvent;
    use crate::item::Status;
    use crate::{sample, RawJson, ReasonCode};

    /// Resolve a local `$ref` (`#/components/schemas/Order`) in `doc`.
    fn resolve<'a>(doc: &'a Value, reference: &str) -> &'a Value {
        let pointer = reference.strip_prefix('#').expect("local ref");
        doc.pointer(pointer)
            .unwrap_or_else(|| panic!("{reference} not in the document"))
    }

    #[test]
    fn one_entry_per_published_event_type() {
        let names: Vec<String> = catalogue().iter().map(|e| e.schema_name()).collect();
        assert_eq!(
            names,
            [
                "orderflow.orders@OrderPlaced",
                "orderflow.orders.status@OrderStatusChanged",
                "orderflow.validate-order@OrderRejected",
            ]
        );
        let order = sample::valid_order(Some("o-1".into()));
        for event in [
            BusEvent::OrderPlaced(order.clone()),
            BusEvent::StatusChanged(OrderStatusChanged {
                order_id: "o-1".into(),
                old_status: None,
                new_status: Status::Received,
                at: "t".into(),
                reasons: vec![],
                customer_id: None,
            }),
            BusEvent::Rejected(OrderRejected {
                order_id: None,
                reasons: vec![],
                order: RawJson::from_value(&json!({})),
            }),
        ] {
            let entry = find(event.detail_type()).expect("in the catalogue");
            assert_eq!(
                (entry.source, entry.detail_type),
                (event.source(), event.detail_type())
            );
        }
        assert_eq!(find("OrderShipped"), None);
    }

    #[test]
    fn openapi3_documents_are_shaped_like_discovered_schemas() {
        for entry in catalogue() {
            let doc = entry.openapi3();
            assert_eq!(doc["openapi"], "3.0.0");
            assert_eq!(doc["info"]["title"], entry.detail_type);
            assert_eq!(doc["paths"], json!({}));
            let event = &doc["components"]["schemas"]["AWSEvent"];
            assert_eq!(event["x-amazon-events-source"], entry.source);
            assert_eq!(event["x-amazon-events-detail-type"], entry.detail_type);
            assert_eq!(event["required"].as_array().unwrap().len(), 9);
            // The Schemas API's limit on a schema description.
            assert!(
                entry.description.chars().count() <= 256,
                "{}",
                entry.detail_type
            );
            let detail = resolve(
                &doc,
                event["properties"]["detail"]["$ref"].as_str().unwrap(),
            );
            assert_eq!(detail["type"], "object", "{}", entry.detail_type);
            // Every reference in the document resolves inside it (no JSON Schema `$defs`).
            let text = doc.to_string();
            assert!(
                !text.contains("$defs") && !text.contains("$schema"),
                "{text}"
            );
            let mut refs = Vec::new();
            collect_refs(&doc, &mut refs);
            for r in refs {
                resolve(&doc, &r);
            }
        }
    }

    fn collect_refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r.clone()),
                        _ => collect_refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn the_order_schema_is_the_contract() {
        let doc = find("OrderPlaced").unwrap().openapi3();
        let order = &doc["components"]["schemas"]["Order"];
        let mut required: Vec<&str> = order["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        required.sort_unstable();
        assert_eq!(
            required,
            [
                "currency",
                "customer_id",
                "items",
                "order_id",
                "total_minor"
            ]
        );
        assert_eq!(order["additionalProperties"], false);
        assert_eq!(order["properties"]["total_minor"]["type"], "integer");
        assert_eq!(order["properties"]["total_minor"]["format"], "int64");
        assert_eq!(order["properties"]["customer_email"]["type"], "string");
        let item = resolve(
            &doc,
            order["properties"]["items"]["items"]["$ref"]
                .as_str()
                .unwrap(),
        );
        assert_eq!(item["additionalProperties"], false);
        assert_eq!(item["properties"]["quantity"]["type"], "integer");
    }

    #[test]
    fn status_and_reason_codes_are_enumerated() {
        let doc = find("OrderStatusChanged").unwrap().openapi3();
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["Status"]["type"], "string");
        let statuses: Vec<&str> = schemas["Status"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(statuses, Status::ALL.map(Status::as_str));
        // `old_status` is null for an order without a record before: nullable in OpenAPI 3.
        let old = schemas["OrderStatusChanged"]["properties"]["old_status"].to_string();
        assert!(old.contains("nullable"), "{old}");
        let mut codes: Vec<&str> = schemas["ReasonCode"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        codes.sort_unstable();
        let mut expected = ReasonCode::ALL.map(ReasonCode::as_str);
        expected.sort_unstable();
        assert_eq!(codes, expected);
        let described = schemas["Status"]["description"].as_str().unwrap();
        assert!(
            described.contains("PROCESSED: Stored by process-order"),
            "{described}"
        );
    }

    /// The JSON Schema form accepts what the types serialise and refuses what they refuse.
    #[test]
    fn detail_json_schema_matches_serialised_events() {
        let schema = find("OrderPlaced").unwrap().detail_json_schema();
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["additionalProperties"], false);
        let items = schema["properties"]["items"].to_string();
        assert!(items.contains("$ref"), "{items}");
        let rejected = find("OrderRejected").unwrap().detail_json_schema();
        // The rejected order is echoed as any JSON: no type constraint.
        let order = rejected["properties"]["order"].as_object().unwrap();
        assert!(order.keys().all(|k| k == "description"), "{order:?}");
    }
}
