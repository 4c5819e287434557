//! `orderflow schema events --diff`: the comparison of the generated event schemas with the ones
//! EventBridge discovered (inferred from sample events: every number a `number`, nested objects
//! as named components, other `required` lists), the reading of the `discovered-schemas`
//! registry on recorded Schemas API answers, and the command against the emulator, which has no
//! Schemas API.

mod common;
mod replay;

use std::path::Path;

use orderflow::commands::schema::diff::{
    compare_documents, diff_events, discovered_schemas, source_prefixes, DiscoveredSchema,
    EventStatus, PropertyChange, PropertyDiff, SchemaDiff,
};
use replay::{answer, ctx, not_found, Replay};
use serde_json::{json, Value};

/// The OrderPlaced schema as schema discovery writes it after seeing one order without
/// `customer_email`: the detail and its line items are components named by EventBridge.
fn discovered_placed() -> Value {
    json!({
      "openapi": "3.0.0",
      "info": {"version": "1.0.0", "title": "OrderPlaced"},
      "paths": {},
      "components": {"schemas": {
        "AWSEvent": {
          "type": "object",
          "required": ["detail-type", "resources", "detail", "id", "source", "time", "region", "version", "account"],
          "x-amazon-events-detail-type": "OrderPlaced",
          "x-amazon-events-source": "orderflow.orders",
          "properties": {
            "detail": {"$ref": "#/components/schemas/OrderPlaced"},
            "account": {"type": "string"}, "detail-type": {"type": "string"}, "id": {"type": "string"},
            "region": {"type": "string"}, "resources": {"type": "array", "items": {"type": "object"}},
            "source": {"type": "string"}, "time": {"type": "string", "format": "date-time"},
            "version": {"type": "string"}
          }
        },
        "OrderPlaced": {
          "type": "object",
          "required": ["total_minor", "customer_id", "currency", "order_id", "items"],
          "properties": {
            "currency": {"type": "string"},
            "customer_id": {"type": "string"},
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/OrderPlacedItem"}},
            "order_id": {"type": "string"},
            "total_minor": {"type": "number"}
          }
        },
        "OrderPlacedItem": {
          "type": "object",
          "required": ["quantity", "unit_price_minor", "sku"],
          "properties": {
            "quantity": {"type": "number"},
            "sku": {"type": "string"},
            "unit_price_minor": {"type": "number"}
          }
        }
      }}
    })
}

fn generated(detail_type: &str) -> Value {
    order_domain::schema::find(detail_type).unwrap().openapi3()
}

fn detail(doc: &mut Value) -> &mut serde_json::Map<String, Value> {
    doc["components"]["schemas"]["OrderPlaced"]["properties"]
        .as_object_mut()
        .unwrap()
}

#[test]
fn inferred_types_and_component_names_are_no_difference() {
    let diffs = compare_documents(&generated("OrderPlaced"), &discovered_placed());
    // Integers discovered as numbers, other component names, other required lists: the same.
    // Only the optional e-mail, which no sample carried, is noted (and does not count).
    assert_eq!(
        diffs,
        [PropertyDiff {
            path: "customer_email".into(),
            change: PropertyChange::OptionalNotSeen,
            generated: Some("string".into()),
            discovered: None,
        }]
    );
    assert!(!diffs[0].counts());
}

#[test]
fn a_renamed_retyped_or_missing_property_is_named() {
    let mut d = discovered_placed();
    // A producer sends the total as a string, adds a coupon, and drops the currency.
    detail(&mut d).insert("total_minor".into(), json!({"type": "string"}));
    detail(&mut d).insert("coupon".into(), json!({"type": "string"}));
    detail(&mut d).remove("currency");
    d["components"]["schemas"]["OrderPlacedItem"]["properties"]["sku"] = json!({"type": "number"});
    let diffs = compare_documents(&generated("OrderPlaced"), &d);
    let counted: Vec<(&str, PropertyChange, Option<&str>, Option<&str>)> = diffs
        .iter()
        .filter(|p| p.counts())
        .map(|p| {
            (
                p.path.as_str(),
                p.change,
                p.generated.as_deref(),
                p.discovered.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        counted,
        [
            (
                "coupon",
                PropertyChange::OnlyDiscovered,
                None,
                Some("string")
            ),
            (
                "currency",
                PropertyChange::OnlyGenerated,
                Some("string"),
                None
            ),
            (
                "items[].sku",
                PropertyChange::TypeDiffers,
                Some("string"),
                Some("number")
            ),
            (
                "total_minor",
                PropertyChange::TypeDiffers,
                Some("number"),
                Some("string")
            ),
        ]
    );
}

#[test]
fn nulls_and_enums_compare_by_json_type() {
    // A status change of a new order: `old_status` was null in the sample (the code says a
    // Status or null), the status enums are plain strings, `reasons` was an empty list.
    let discovered = json!({
      "openapi": "3.0.0", "info": {"version": "1.0.0", "title": "OrderStatusChanged"}, "paths": {},
      "components": {"schemas": {
        "AWSEvent": {"type": "object", "properties": {"detail": {"$ref": "#/components/schemas/OrderStatusChanged"}}},
        "OrderStatusChanged": {"type": "object", "properties": {
          "order_id": {"type": "string"}, "old_status": {"type": "null"}, "new_status": {"type": "string"},
          "at": {"type": "string"}, "customer_id": {"type": "string"},
          "reasons": {"type": "array", "items": {}}
        }}
      }}
    });
    assert_eq!(
        compare_documents(&generated("OrderStatusChanged"), &discovered),
        []
    );
    // A status sent as a number is a difference, through the generated `$ref` to the enum.
    let mut numeric = discovered.clone();
    numeric["components"]["schemas"]["OrderStatusChanged"]["properties"]["new_status"] =
        json!({"type": "number"});
    let diffs = compare_documents(&generated("OrderStatusChanged"), &numeric);
    assert_eq!(diffs.len(), 1, "{diffs:?}");
    assert_eq!(diffs[0].path, "new_status");
    assert_eq!(diffs[0].change, PropertyChange::TypeDiffers);
}

fn schema(name: &str, version: &str, content: Value) -> DiscoveredSchema {
    DiscoveredSchema {
        name: name.into(),
        version: Some(version.into()),
        content,
    }
}

#[test]
fn every_event_gets_a_status_and_the_text_names_the_differing_property() {
    let mut changed = discovered_placed();
    detail(&mut changed).insert("total_minor".into(), json!({"type": "string"}));
    let found = vec![
        schema("orderflow.orders@OrderPlaced", "3", changed),
        schema("orderflow.orders@OrderCancelled", "1", discovered_placed()),
    ];
    let events = diff_events(None, &found);
    let statuses: Vec<(&str, EventStatus)> = events
        .iter()
        .map(|e| (e.schema_name.as_str(), e.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("orderflow.orders@OrderPlaced", EventStatus::Differs),
            (
                "orderflow.orders.status@OrderStatusChanged",
                EventStatus::OnlyGenerated
            ),
            (
                "orderflow.validate-order@OrderRejected",
                EventStatus::OnlyGenerated
            ),
            (
                "orderflow.orders@OrderCancelled",
                EventStatus::OnlyDiscovered
            ),
        ]
    );
    let result = SchemaDiff {
        stack: "shop".into(),
        bus: "shop-orders".into(),
        registry: "discovered-schemas",
        discoverer: None,
        events,
        notes: vec![],
    };
    assert!(result.differs());
    let text = result.to_string();
    assert!(
        text.contains("orderflow.orders@OrderPlaced: DIFFERS [discovered version 3]"),
        "{text}"
    );
    assert!(
        text.contains("~ total_minor: generated number, discovered string"),
        "{text}"
    );
    let json = serde_json::to_value(&result).unwrap();
    assert_eq!(json["events"][0]["status"], "differs");
    assert_eq!(json["events"][0]["properties"][0]["path"], "total_minor");
    assert_eq!(json["events"][0]["properties"][0]["change"], "type_differs");
    assert_eq!(json["events"][3]["status"], "only_discovered");

    // Nothing discovered yet is no difference (exit 0): discovery only knows what it saw.
    let none = SchemaDiff {
        events: diff_events(Some("OrderPlaced"), &[]),
        ..result
    };
    assert_eq!(none.events.len(), 1);
    assert_eq!(none.events[0].status, EventStatus::OnlyGenerated);
    assert!(!none.differs());
}

const PIPELINE: &str = "stack: shop\nbuses:\n  orders: { schemas: { discover: true } }\n";

#[tokio::test]
async fn discovered_schemas_are_listed_by_source_prefix_and_described() {
    assert_eq!(source_prefixes(), ["orderflow."]);
    let content = discovered_placed().to_string();
    let replay = Replay::new(vec![
        answer(
            200,
            json!({"Schemas": [{"SchemaName": "orderflow.orders@OrderPlaced", "VersionCount": 2,
                                "SchemaArn": "arn:aws:schemas:us-east-1:123456789012:schema/discovered-schemas/orderflow.orders@OrderPlaced"}],
                   "NextToken": "page-2"}),
        ),
        answer(200, json!({"Schemas": []})),
        answer(
            200,
            json!({"SchemaName": "orderflow.orders@OrderPlaced", "SchemaVersion": "2",
                   "Type": "OpenApi3", "Content": content}),
        ),
    ]);
    let ctx = ctx(&replay, None, PIPELINE);
    let found = discovered_schemas(&ctx, &source_prefixes()).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].version.as_deref(), Some("2"));
    assert_eq!(found[0].content, discovered_placed());
    assert_eq!(
        replay.calls(),
        [
            (
                "GET".to_string(),
                "/v1/registries/name/discovered-schemas/schemas?schemaNamePrefix=orderflow.".to_string()
            ),
            (
                "GET".to_string(),
                "/v1/registries/name/discovered-schemas/schemas?nextToken=page-2&schemaNamePrefix=orderflow.".to_string()
            ),
            (
                "GET".to_string(),
                "/v1/registries/name/discovered-schemas/schemas/name/orderflow.orders%40OrderPlaced".to_string()
            ),
        ]
    );
}

#[tokio::test]
async fn no_discovered_schemas_registry_yet_is_nothing_discovered() {
    let replay = Replay::new(vec![not_found("Registry discovered-schemas")]);
    let ctx = ctx(&replay, None, PIPELINE);
    assert!(discovered_schemas(&ctx, &source_prefixes())
        .await
        .unwrap()
        .is_empty());
}

/// The default pipeline in a fresh directory.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipeline.yaml");
    std::fs::copy(pipeline, dir.path().join("pipeline.yaml")).unwrap();
    dir
}

#[test]
fn a_wrong_event_or_a_bus_without_diff_fails_before_any_aws_call() {
    let dir = workdir();
    // Nothing listens there: a command that made an AWS call would fail on it differently.
    let out = common::orderflow(
        "http://127.0.0.1:9",
        dir.path(),
        &["schema", "events", "OrderPlacd", "--diff"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("did you mean `OrderPlaced`?"), "{stderr}");
    let out = common::orderflow(
        "http://127.0.0.1:9",
        dir.path(),
        &["schema", "events", "--bus", "orders"],
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--diff"));
}

#[test]
fn the_emulator_without_the_schemas_api_is_an_error_not_an_empty_diff() {
    let emu = common::TestEmulator::start();
    let dir = workdir();
    let out = common::orderflow(
        emu.endpoint(),
        dir.path(),
        &["schema", "events", "--diff", "--output", "json"],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let error: Value = serde_json::from_slice(&out.stdout).expect("a JSON error");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("no EventBridge Schemas API"), "{message}");
    assert!(message.contains("schema events --diff"), "{message}");
    assert!(error.get("events").is_none());
}
