//! `orderflow dlq list` and `orderflow dlq redrive`: what waits in the dead-letter queues and
//! why, read without being consumed; moved back to the source queue or to the function, and
//! then processed.
//!
//! (The on-call story — a real failure, `status`, a fix, a redrive, exactly one write — is in
//! tests/status.rs.)

mod common;
#[path = "common/stack.rs"]
mod stack;

use std::time::{Duration, Instant};

use aws_sdk_sqs::types::MessageAttributeValue;
use common::TestEmulator;
use serde_json::{json, Value};
use stack::Stack;

fn listed<'a>(doc: &'a Value, queue: &str) -> &'a Value {
    doc["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == queue)
        .unwrap_or_else(|| panic!("{queue} not listed: {doc}"))
}

/// Poll `order ID` until it is PROCESSED; the order's document.
fn processed(stack: &Stack, order_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = stack.run(&["order", order_id, "--output", "json"]);
        if out.status.success() {
            let o: Value = serde_json::from_slice(&out.stdout).unwrap();
            if o["status"] == "PROCESSED" {
                return o;
            }
        }
        assert!(
            Instant::now() < deadline,
            "order {order_id} not PROCESSED within 60 s"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn attr(v: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .unwrap()
}

#[tokio::test]
async fn dlq_list_shows_why_without_consuming_and_redrive_sends_each_message_back_to_its_source() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "dlq", &[]);
    stack.up();
    let config = stack.config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);

    // An order message as SQS moves it from `orders` after too many receives, and an
    // OrderPlaced event as EventBridge puts it in the rule target's dead-letter queue.
    let order = serde_json::to_string(&order_domain::sample::valid_order(Some(
        "ord-dlq-queue".into(),
    )))
    .unwrap();
    sqs.send_message()
        .queue_url(stack.queue_url(&sqs, "orders-dlq").await)
        .message_body(&order)
        .send()
        .await
        .unwrap();
    let event = json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "OrderPlaced",
        "source": "orderflow.orders",
        "account": "000000000000",
        "time": "2026-11-28T10:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": order_domain::sample::valid_order(Some("ord-dlq-event".into())),
    });
    sqs.send_message()
        .queue_url(stack.queue_url(&sqs, "validate-dlq").await)
        .message_body(event.to_string())
        .message_attributes("ERROR_CODE", attr("SDK_CLIENT_ERROR"))
        .message_attributes("ERROR_MESSAGE", attr("Lambda was throttled"))
        .message_attributes(
            "RULE_ARN",
            attr("arn:aws:events:us-east-1:000000000000:rule/b/x-order-placed"),
        )
        .send()
        .await
        .unwrap();

    let list = stack.json(&["dlq", "list", "--output", "json"]);
    let orders_dlq = listed(&list, "orders-dlq");
    assert_eq!(orders_dlq["visible"], 1, "{list}");
    assert_eq!(
        orders_dlq["messages"][0]["order_id"], "ord-dlq-queue",
        "{list}"
    );
    assert_eq!(orders_dlq["sources"][0]["kind"], "queue", "{list}");
    let validate_dlq = listed(&list, "validate-dlq");
    assert_eq!(
        validate_dlq["messages"][0]["order_id"], "ord-dlq-event",
        "{list}"
    );
    assert_eq!(
        validate_dlq["messages"][0]["reason"],
        "SDK_CLIENT_ERROR: Lambda was throttled (rule x-order-placed)",
        "{list}"
    );
    assert_eq!(listed(&list, "notify-dlq")["visible"], 0, "{list}");
    // Listing consumed nothing: the messages are visible again at once.
    let again = stack.json(&["dlq", "list", "orders-dlq", "--output", "json"]);
    assert_eq!(listed(&again, "orders-dlq")["visible"], 1, "{again}");
    assert_eq!(
        listed(&again, "orders-dlq")["messages"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "{again}"
    );

    // The event goes back to validate-order (not to the bus: other rules would get it again).
    let r = stack.json(&[
        "dlq",
        "redrive",
        "validate-dlq",
        "--yes",
        "--output",
        "json",
    ]);
    assert_eq!(r["path"], "invoke_function", "{r}");
    assert_eq!(r["to"], "validate-order", "{r}");
    assert_eq!(r["moved"], 1, "{r}");
    processed(&stack, "ord-dlq-event");

    // The order goes back to `orders` (message by message here: the emulator has no move task).
    let r = stack.json(&["dlq", "redrive", "orders-dlq", "--yes", "--output", "json"]);
    assert_eq!(r["path"], "receive_send_delete", "{r}");
    assert_eq!(r["to"], "orders", "{r}");
    assert_eq!(r["moved"], 1, "{r}");
    assert!(
        r["note"]
            .as_str()
            .unwrap()
            .contains("no SQS message move task"),
        "{r}"
    );
    processed(&stack, "ord-dlq-queue");

    let after = stack.json(&["dlq", "list", "--output", "json"]);
    for q in after["queues"].as_array().unwrap() {
        assert_eq!(q["visible"], 0, "{after}");
    }

    // A queue that is not a dead-letter queue is refused, naming the ones there are.
    let wrong = stack.run(&["dlq", "redrive", "orders", "--yes"]);
    assert_eq!(wrong.status.code(), Some(1));
    let err = stack::stderr(&wrong);
    assert!(
        err.contains("`orders` is not a dead-letter queue") && err.contains("orders-dlq"),
        "{err}"
    );
}
