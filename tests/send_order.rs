//! `orderflow send-order` and the functions behind it: an order goes all the way into the table;
//! an invalid one is rejected with its reasons; a poison message ends in the DLQ; a redelivered
//! message is not written twice.

mod common;
#[path = "common/stack.rs"]
mod stack;

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use common::TestEmulator;
use serde_json::Value;
use stack::{stderr, stdout, Stack};

/// Poll `probe` every 100 ms until it yields, or panic after `secs`.
async fn eventually<T, F, Fut>(what: &str, secs: u64, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn item(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    order_id: &str,
) -> Option<std::collections::HashMap<String, AttributeValue>> {
    ddb.get_item()
        .table_name(table)
        .key("order_id", AttributeValue::S(order_id.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

#[tokio::test]
async fn valid_order_is_processed_and_invalid_order_is_rejected_with_reasons() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "send", &[]);
    stack.up();
    let config = stack.config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);

    let ok = stack.json(&[
        "send-order",
        "--wait",
        "--order-id",
        "ord-ok-1",
        "--output",
        "json",
    ]);
    assert_eq!(ok["status"], "processed", "{ok}");
    assert_eq!(ok["order_id"], "ord-ok-1");
    assert!(ok["latency_ms"].as_f64().unwrap() > 0.0);
    let stored = item(&ddb, &stack.physical("orders"), "ord-ok-1")
        .await
        .expect("stored order");
    assert_eq!(stored["status"].as_s().unwrap(), "PROCESSED");
    assert!(
        stored.contains_key("total_minor")
            && stored.contains_key("items")
            && stored.contains_key("message_id")
    );

    // A probe (not part of the stack) listening for OrderRejected events on the stack's bus.
    let sqs = aws_sdk_sqs::Client::new(&config);
    let events = aws_sdk_eventbridge::Client::new(&config);
    let probe = sqs
        .create_queue()
        .queue_name(format!("{}-probe", stack.name))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let probe_arn = sqs
        .get_queue_attributes()
        .queue_url(&probe)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    events
        .put_rule()
        .name(format!("{}-probe", stack.name))
        .event_bus_name(stack.physical("orders"))
        .event_pattern(r#"{"detail-type":["OrderRejected"]}"#)
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule(format!("{}-probe", stack.name))
        .event_bus_name(stack.physical("orders"))
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("probe")
                .arn(&probe_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let out = stack.run(&[
        "send-order",
        "--wait",
        "--invalid",
        "--order-id",
        "ord-bad-1",
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let bad: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", stdout(&out)));
    assert_eq!(bad["status"], "rejected", "{bad}");
    let codes: Vec<&str> = bad["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["code"].as_str())
        .collect();
    assert!(codes.contains(&"total_mismatch"), "{bad}");
    let rejected = item(&ddb, &stack.physical("orders"), "ord-bad-1")
        .await
        .expect("rejected record");
    assert_eq!(rejected["status"].as_s().unwrap(), "REJECTED");

    // ... and announced on the bus as OrderRejected, with its reasons.
    let event = eventually("the OrderRejected event", 20, || {
        let sqs = sqs.clone();
        let probe = probe.clone();
        async move {
            let r = sqs
                .receive_message()
                .queue_url(&probe)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            r.messages()
                .first()
                .and_then(|m| m.body())
                .map(|b| serde_json::from_str::<Value>(b).unwrap())
        }
    })
    .await;
    assert_eq!(event["detail-type"], "OrderRejected", "{event}");
    assert_eq!(event["source"], "orderflow.validate-order", "{event}");
    assert_eq!(event["detail"]["order_id"], "ord-bad-1", "{event}");
    assert_eq!(
        event["detail"]["reasons"][0]["code"], "total_mismatch",
        "{event}"
    );

    // A total beyond 64 bits is rejected, and echoed exactly as sent (never as 1e+20): in the
    // reasons (record and output) and in the OrderRejected event's order.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.json");
    std::fs::write(
        &file,
        r#"{"order_id":"ord-big-1","customer_id":"c-1","currency":"EUR","items":[{"sku":"A","quantity":1,"unit_price_minor":100}],"total_minor":100000000000000000000}"#,
    )
    .unwrap();
    let out = stack.run(&[
        "send-order",
        "--wait",
        "--file",
        file.to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let big: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", stdout(&out)));
    let expected = "total_minor is 100000000000000000000, outside the 64-bit integer range";
    assert_eq!(big["reasons"][0]["message"], expected, "{big}");
    let rejected = item(&ddb, &stack.physical("orders"), "ord-big-1")
        .await
        .expect("rejected record");
    assert!(
        format!("{:?}", rejected["reasons"]).contains(expected),
        "{rejected:?}"
    );
    let body = eventually("the OrderRejected event of ord-big-1", 20, || {
        let sqs = sqs.clone();
        let probe = probe.clone();
        async move {
            let r = sqs
                .receive_message()
                .queue_url(&probe)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            r.messages()
                .iter()
                .filter_map(|m| m.body())
                .find(|b| b.contains("ord-big-1"))
                .map(str::to_owned)
        }
    })
    .await;
    // The raw body: parsing it into a Value would itself turn the number into a float.
    assert!(
        body.contains(r#""total_minor": 100000000000000000000"#)
            || body.contains(r#""total_minor":100000000000000000000"#),
        "{body}"
    );
    assert!(!body.contains("1e+20") && !body.contains("1e20"), "{body}");

    // A rejected order is not queued for processing: the queue stays empty.
    let url = stack.queue_url(&sqs, "orders").await;
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(attrs[&QueueAttributeName::ApproximateNumberOfMessages], "0");

    // Text output for people.
    let out = stack.run(&["send-order", "--wait"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("PROCESSED in"), "{}", stdout(&out));
}

#[tokio::test]
async fn a_poison_message_ends_in_the_dead_letter_queue() {
    let emu = TestEmulator::start();
    // Short timeouts so redelivery happens within seconds (visibility = 6 × function timeout).
    let stack = Stack::new(
        &emu,
        "poison",
        &[
            ("visibility_timeout: 180", "visibility_timeout: 6"),
            ("max_receive_count: 3", "max_receive_count: 2"),
            (
                "    memory: 256\n    timeout: 30",
                "    memory: 256\n    timeout: 1",
            ),
        ],
    );
    stack.up();
    let config = stack.config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let orders = stack.queue_url(&sqs, "orders").await;
    let dlq = stack.queue_url(&sqs, "orders-dlq").await;
    sqs.send_message()
        .queue_url(&orders)
        .message_body("this is not an order")
        .send()
        .await
        .unwrap();

    let body = eventually("the poison message in the DLQ", 60, || {
        let sqs = sqs.clone();
        let dlq = dlq.clone();
        async move {
            let r = sqs
                .receive_message()
                .queue_url(&dlq)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            r.messages()
                .first()
                .and_then(|m| m.body().map(str::to_string))
        }
    })
    .await;
    assert_eq!(body, "this is not an order");
}

#[tokio::test]
async fn a_redelivered_order_is_written_once() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "redeliver", &[]);
    stack.up();
    let config = stack.config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let table = stack.physical("orders");
    let orders = stack.queue_url(&sqs, "orders").await;
    let order = serde_json::to_string(&order_domain::sample::valid_order(Some("ord-dup-1".into())))
        .unwrap();

    let first = sqs
        .send_message()
        .queue_url(&orders)
        .message_body(&order)
        .send()
        .await
        .unwrap();
    let first_id = first.message_id().unwrap().to_string();
    let stored = eventually("the first delivery stored", 30, || {
        item(&ddb, &table, "ord-dup-1")
    })
    .await;
    assert_eq!(stored["message_id"].as_s().unwrap(), &first_id);

    // The same order again, as a redelivery would bring it.
    let second = sqs
        .send_message()
        .queue_url(&orders)
        .message_body(&order)
        .send()
        .await
        .unwrap();
    assert_ne!(second.message_id().unwrap(), first_id);
    eventually("the queue drained", 30, || {
        let sqs = sqs.clone();
        let orders = orders.clone();
        async move {
            let a = sqs
                .get_queue_attributes()
                .queue_url(&orders)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                .send()
                .await
                .unwrap()
                .attributes
                .unwrap();
            let zero = |k: QueueAttributeName| a.get(&k).map(String::as_str) == Some("0");
            (zero(QueueAttributeName::ApproximateNumberOfMessages)
                && zero(QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
            .then_some(())
        }
    })
    .await;
    let mut after = item(&ddb, &table, "ord-dup-1").await.unwrap();
    // notify-customer records its notification of the final status on the item
    // (`notifications`), asynchronously: not a write of the redelivery.
    let mut stored = stored;
    stored.remove("notifications");
    after.remove("notifications");
    assert_eq!(after, stored, "the second delivery rewrote the item");
    // And it was consumed successfully (not left to land in the DLQ as a failure).
    let dlq = stack.queue_url(&sqs, "orders-dlq").await;
    let r = sqs.receive_message().queue_url(&dlq).send().await.unwrap();
    assert!(r.messages().is_empty());
}

#[tokio::test]
async fn send_order_to_a_missing_stack_fails_clearly() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "absent", &[]);
    let out = stack.run(&["send-order"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("bus.orders") && err.contains("does not exist"),
        "{err}"
    );
}

#[tokio::test]
async fn via_api_orders_are_submitted_over_http_and_followed_to_their_outcome() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "sendapi", &[]);

    // Not deployed yet: a clear error, not a connection failure.
    let out = stack.run(&["send-order", "--via", "api"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is the stack deployed?"),
        "{}",
        stderr(&out)
    );

    stack.up();
    let ok = stack.json(&[
        "send-order",
        "--via",
        "api",
        "--wait",
        "--order-id",
        "ord-api-ok",
        "--output",
        "json",
    ]);
    assert_eq!(ok["status"], "processed", "{ok}");
    assert_eq!(ok["via"], "api");
    assert!(ok["latency_ms"].as_f64().unwrap() > 0.0);
    assert!(ok["api_url"].as_str().unwrap().ends_with("/orders"), "{ok}");
    assert_eq!(ok["record"]["status"], "PROCESSED", "{ok}");

    // Sending the same order again is the same submission (derived Idempotency-Key).
    let again = stack.json(&[
        "send-order",
        "--via",
        "api",
        "--order-id",
        "ord-api-ok",
        "--output",
        "json",
    ]);
    assert_eq!(again["status"], "sent", "{again}");
    assert_eq!(again["order_id"], "ord-api-ok");

    // The API checks orders itself: an invalid one is refused with its reasons, exit 3.
    let out = stack.run(&[
        "send-order",
        "--via",
        "api",
        "--invalid",
        "--wait",
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let bad: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(bad["status"], "rejected", "{bad}");
    assert!(!bad["reasons"].as_array().unwrap().is_empty(), "{bad}");

    // A pipeline without that route: said before anything is sent.
    stack.edit(
        "      - route: \"POST /orders\"",
        "      - route: \"POST /checkout\"",
    );
    let out = stack.run(&["send-order", "--via", "api"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no route `POST /orders` is declared"),
        "{}",
        stderr(&out)
    );
}
