//! `orderflow plan`: read-only, complete, and honest about values only known after apply.

mod common;
#[path = "common/stack.rs"]
mod stack;

use common::TestEmulator;
use orderflow::resources::Kind;
use serde_json::Value;
use stack::{stderr, stdout, Stack};

#[tokio::test]
async fn plan_on_an_empty_account_creates_everything_and_writes_nothing() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "plan", &[]);

    let out = stack.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("+ function.validate-order"), "{text}");
    let declared = stack::default_spec().resources();
    // The emulator has no EventBridge Schemas API: the schema registry and its schemas are
    // skipped, and the plan says so (never silently).
    let skipped = declared
        .iter()
        .filter(|r| matches!(r.kind, Kind::SchemaRegistry | Kind::EventSchema))
        .count();
    assert!(skipped > 0);
    assert!(
        text.contains(&format!(
            "{} to create, 0 to update, 0 to delete, 0 unchanged, {skipped} skipped.",
            declared.len() - skipped
        )),
        "{text}"
    );
    assert!(
        text.contains("? schema_registry.orders") && text.contains("no EventBridge Schemas API"),
        "{text}"
    );

    let plan = stack.json(&["plan", "--output", "json"]);
    let steps = plan["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["action"] == "create"), "{plan}");
    let skipped_json = plan["skipped"].as_array().unwrap();
    assert_eq!(skipped_json.len(), skipped, "{plan}");
    assert!(
        skipped_json.iter().all(|s| s["reason"]
            .as_str()
            .unwrap()
            .contains("Unsupported service: schemas")),
        "{plan}"
    );
    // The function's environment refers to a queue URL that does not exist yet.
    let f = steps
        .iter()
        .find(|s| s["id"] == serde_json::json!({"kind": "function", "name": "validate-order"}))
        .unwrap();
    let env = f["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["attribute"] == "environment")
        .unwrap();
    assert_eq!(env["known_after_apply"], Value::Bool(true), "{env}");

    // Dependencies come first in the plan.
    let pos = |kind: &str, name: &str| {
        steps
            .iter()
            .position(|s| s["id"]["kind"] == kind && s["id"]["name"] == name)
            .unwrap()
    };
    assert!(pos("queue", "orders-dlq") < pos("queue", "orders"));
    assert!(pos("role", "process-order") < pos("function", "process-order"));
    assert!(pos("function", "validate-order") < pos("rule", "order-placed"));
    assert!(pos("rule", "order-placed") < pos("permission", "order-placed/validate-order"));

    // Planning created nothing.
    let config = stack.config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queues = sqs
        .list_queues()
        .queue_name_prefix(stack.physical(""))
        .send()
        .await
        .unwrap();
    assert!(queues.queue_urls().is_empty());
}

/// The plan a user reads before the first `up` (snapshot; the unique stack name is filtered).
#[tokio::test]
async fn first_plan_text_snapshot() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "snap", &[]);
    let out = stack.run(&["plan"]);
    assert!(out.status.success(), "{}", stderr(&out));
    insta::with_settings!({filters => vec![(stack.name.as_str(), "[STACK]")]}, {
        insta::assert_snapshot!(stdout(&out));
    });
}
