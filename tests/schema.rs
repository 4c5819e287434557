//! `orderflow schema events` (the published events' schemas, no AWS), `schema pipeline`, and the check of
//! `send-order` orders against the OrderPlaced schema before anything is sent.

mod common;

use std::path::Path;
use std::process::Output;

use common::{orderflow, TestEmulator};
use serde_json::{json, Value};

/// Nothing listens there: a command that made an AWS call would fail on it.
const NO_AWS: &str = "http://127.0.0.1:9";

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "no JSON ({:?})\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            stdout(out),
            stderr(out)
        )
    })
}

/// The default pipeline in a fresh directory, and an order file in it.
fn workdir(order: &Value) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipeline.yaml");
    std::fs::copy(pipeline, dir.path().join("pipeline.yaml")).unwrap();
    std::fs::write(dir.path().join("order.json"), order.to_string()).unwrap();
    dir
}

fn good_order() -> Value {
    json!({
        "order_id": "ord-schema-1", "customer_id": "cust-1", "currency": "EUR",
        "items": [{"sku": "SKU-1", "quantity": 2, "unit_price_minor": 1250}],
        "total_minor": 2500
    })
}

#[test]
fn schema_events_prints_the_order_placed_schema() {
    let dir = tempfile::tempdir().unwrap();
    let out = orderflow(NO_AWS, dir.path(), &["schema", "events", "OrderPlaced"]);
    assert!(out.status.success(), "{}", stderr(&out));
    insta::assert_snapshot!(stdout(&out));
}

/// `schema pipeline` is the document committed for editors (the unit tests keep that file
/// current and check it against the validator), with or without `--output json`.
#[test]
fn schema_pipeline_prints_the_committed_json_schema() {
    let dir = tempfile::tempdir().unwrap();
    let committed: Value = serde_json::from_str(include_str!("../docs/pipeline.schema.json"))
        .expect("docs/pipeline.schema.json is JSON");
    for args in [
        &["schema", "pipeline"][..],
        &["schema", "pipeline", "--output", "json"],
    ] {
        let out = orderflow(NO_AWS, dir.path(), args);
        assert!(out.status.success(), "{}", stderr(&out));
        let printed = json_of(&out);
        assert_eq!(printed, committed);
        assert_eq!(printed["properties"]["stack"]["type"], "string");
        assert!(
            printed["properties"]["queues"]["additionalProperties"]["properties"]
                ["visibility_timeout"]["description"]
                .is_string()
        );
    }
}

#[test]
fn schema_events_json_lists_every_published_event_as_the_registry_gets_it() {
    // No pipeline file needed: the schemas are the code's.
    let dir = tempfile::tempdir().unwrap();
    let out = orderflow(
        NO_AWS,
        dir.path(),
        &["schema", "events", "--output", "json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = json_of(&out);
    let events = doc["events"].as_array().unwrap();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["schema_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "orderflow.orders@OrderPlaced",
            "orderflow.orders.status@OrderStatusChanged",
            "orderflow.validate-order@OrderRejected",
        ]
    );
    for event in events {
        assert_eq!(event["type"], "OpenApi3");
        let aws_event = &event["content"]["components"]["schemas"]["AWSEvent"];
        assert_eq!(aws_event["x-amazon-events-source"], event["source"]);
        assert_eq!(
            aws_event["x-amazon-events-detail-type"],
            event["detail_type"]
        );
        // Exactly the document the provider puts in the registry.
        let generated = order_domain::schema::find(event["detail_type"].as_str().unwrap())
            .unwrap()
            .openapi3();
        assert_eq!(event["content"], generated);
    }
    // One by its registry name.
    let out = orderflow(
        NO_AWS,
        dir.path(),
        &[
            "schema",
            "events",
            "orderflow.validate-order@OrderRejected",
            "--output",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let one = json_of(&out);
    assert_eq!(one["events"].as_array().unwrap().len(), 1);
    assert_eq!(one["events"][0]["detail_type"], "OrderRejected");
}

#[test]
fn a_wrong_event_name_gets_a_did_you_mean() {
    let dir = tempfile::tempdir().unwrap();
    let out = orderflow(NO_AWS, dir.path(), &["schema", "events", "OrderPlacd"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("no event `OrderPlacd`"), "{err}");
    assert!(err.contains("did you mean `OrderPlaced`?"), "{err}");
    assert!(stdout(&out).is_empty());
}

#[test]
fn a_malformed_order_is_not_sent_and_each_wrong_field_is_named() {
    let mut order = good_order();
    order["items"][0]["quantity"] = json!("2");
    order.as_object_mut().unwrap().remove("currency");
    order["discount_minor"] = json!(100);
    let dir = workdir(&order);
    // NO_AWS: reaching AWS at all would fail with exit 1 — nothing is published.
    let out = orderflow(
        NO_AWS,
        dir.path(),
        &["send-order", "--file", "order.json", "--output", "json"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let result = json_of(&out);
    assert_eq!(result["status"], "invalid", "{result}");
    assert_eq!(result["order_id"], "ord-schema-1");
    assert!(result.get("event_id").is_none(), "{result}");
    assert_eq!(
        result["schema_errors"],
        json!([
            {"path": "/currency", "expected": "a required field", "got": "nothing"},
            {"path": "/discount_minor",
             "expected": "no such field (allowed: currency, customer_email, customer_id, items, order_id, total_minor)",
             "got": "an integer 100"},
            {"path": "/items/0/quantity", "expected": "an integer", "got": "a string \"2\""},
        ])
    );

    let out = orderflow(NO_AWS, dir.path(), &["send-order", "--file", "order.json"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("Order ord-schema-1 NOT SENT: it does not match the OrderPlaced schema"),
        "{text}"
    );
    assert!(
        text.contains("  - /items/0/quantity: expected an integer, got a string \"2\""),
        "{text}"
    );
    assert!(text.contains("--no-schema-check"), "{text}");
}

/// Orders that match the schema — a wrong total included, which validate-order rejects — and
/// malformed ones with `--no-schema-check` go on to AWS: here an emulator without the stack,
/// so they stop at "not deployed", past the check.
#[test]
fn schema_valid_orders_and_unchecked_ones_go_on_to_the_bus() {
    let emu = TestEmulator::start();
    let mut wrong_total = good_order();
    wrong_total["total_minor"] = json!(1);
    let mut malformed = good_order();
    malformed["items"] = json!("none");
    for (order, extra) in [
        (good_order(), None),
        (wrong_total, None),
        (malformed.clone(), Some("--no-schema-check")),
    ] {
        let dir = workdir(&order);
        let mut args = vec!["send-order", "--file", "order.json"];
        args.extend(extra);
        let out = orderflow(emu.endpoint(), dir.path(), &args);
        assert_eq!(out.status.code(), Some(1), "{order}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(err.contains("is the stack deployed?"), "{order}: {err}");
    }
    // The same malformed order is refused without the flag, before any call.
    let dir = workdir(&malformed);
    let out = orderflow(
        emu.endpoint(),
        dir.path(),
        &["send-order", "--file", "order.json"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("/items: expected an array, got a string \"none\""),
        "{}",
        stdout(&out)
    );
}
