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

/// The number of PROCESSED entries in the order's status history.
fn processed_entries(order: &Value) -> usize {
    order["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["status"] == "PROCESSED")
        .count()
}

/// Messages a queue holds (visible + in flight + delayed).
async fn held(sqs: &aws_sdk_sqs::Client, url: &str) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::All)
        .send()
        .await
        .unwrap();
    let attrs = out.attributes().unwrap();
    [
        A::ApproximateNumberOfMessages,
        A::ApproximateNumberOfMessagesNotVisible,
        A::ApproximateNumberOfMessagesDelayed,
    ]
    .iter()
    .map(|k| {
        attrs
            .get(k)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    })
    .sum()
}

/// Poll until the queue holds nothing (its consumer received and deleted everything).
async fn drained(sqs: &aws_sdk_sqs::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while held(sqs, url).await > 0 {
        assert!(Instant::now() < deadline, "{url} not drained within 60 s");
        tokio::time::sleep(Duration::from_millis(300)).await;
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
    let orders_dlq_url = stack.queue_url(&sqs, "orders-dlq").await;
    let validate_dlq_url = stack.queue_url(&sqs, "validate-dlq").await;
    sqs.send_message()
        .queue_url(&orders_dlq_url)
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
    // Something that is no event at all: it cannot go back to a function and stays.
    sqs.send_message()
        .queue_url(&validate_dlq_url)
        .message_body("not an event")
        .send()
        .await
        .unwrap();
    sqs.send_message()
        .queue_url(&validate_dlq_url)
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
    // Never received before this listing (its own receive is not counted).
    assert_eq!(orders_dlq["messages"][0]["receive_count"], 0, "{list}");
    assert!(orders_dlq["messages"][0]["age_seconds"].is_u64(), "{list}");
    assert!(orders_dlq["oldest_age_seconds"].is_u64(), "{list}");
    let validate_dlq = listed(&list, "validate-dlq");
    assert_eq!(validate_dlq["visible"], 2, "{list}");
    let event_message = validate_dlq["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["order_id"] == "ord-dlq-event")
        .unwrap_or_else(|| panic!("the event is not listed: {list}"));
    assert_eq!(
        event_message["reason"], "SDK_CLIENT_ERROR: Lambda was throttled (rule x-order-placed)",
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

    // Without a terminal and without --yes, nothing is moved.
    let refused = stack.run(&["dlq", "redrive", "orders-dlq"]);
    assert_eq!(
        refused.status.code(),
        Some(1),
        "{}",
        stack::stdout(&refused)
    );
    assert!(
        stack::stderr(&refused).contains("--yes"),
        "{}",
        stack::stderr(&refused)
    );
    assert_eq!(held(&sqs, &orders_dlq_url).await, 1);

    // The event goes back to validate-order (not to the bus: other rules would get it again);
    // the message that is no event is left where it is, and said so.
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
    assert_eq!(r["left"].as_array().unwrap().len(), 1, "{r}");
    assert!(
        r["left"][0]["why"].as_str().unwrap().contains("not JSON"),
        "{r}"
    );
    let o = processed(&stack, "ord-dlq-event");
    assert!(
        o["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["status"] == "VALIDATED"),
        "{o}"
    );
    assert_eq!(processed_entries(&o), 1, "{o}");

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
    let first = processed(&stack, "ord-dlq-queue");
    assert_eq!(processed_entries(&first), 1, "{first}");

    let after = stack.json(&["dlq", "list", "--output", "json"]);
    for q in after["queues"].as_array().unwrap() {
        let expected = if q["queue"] == "validate-dlq" { 1 } else { 0 };
        assert_eq!(q["visible"], expected, "{after}");
    }

    // The same order dead-lettered again (a duplicate delivery) and redriven: process-order
    // sees it is PROCESSED already and writes nothing.
    sqs.send_message()
        .queue_url(&orders_dlq_url)
        .message_body(&order)
        .send()
        .await
        .unwrap();
    let r = stack.json(&["dlq", "redrive", "orders-dlq", "--yes", "--output", "json"]);
    assert_eq!(r["moved"], 1, "{r}");
    drained(&sqs, &stack.queue_url(&sqs, "orders").await).await;
    assert_eq!(held(&sqs, &orders_dlq_url).await, 0);
    let again = stack.json(&["order", "ord-dlq-queue", "--output", "json"]);
    assert_eq!(again["history"], first["history"], "{again}");
    // A redrive of an empty queue moves nothing.
    let r = stack.json(&["dlq", "redrive", "orders-dlq", "--yes", "--output", "json"]);
    assert_eq!(r["moved"], 0, "{r}");

    // A queue that is not a dead-letter queue is refused, naming the ones there are.
    let wrong = stack.run(&["dlq", "redrive", "orders", "--yes"]);
    assert_eq!(wrong.status.code(), Some(1));
    let err = stack::stderr(&wrong);
    assert!(
        err.contains("`orders` is not a dead-letter queue") && err.contains("orders-dlq"),
        "{err}"
    );
}
