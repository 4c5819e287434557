//! Customer notifications end to end, on the default pipeline: an order that reaches a final
//! status is emailed to its customer (SES) and announced on the stack's topic (SNS) exactly
//! once — through `send-order`, a redelivered `OrderStatusChanged`, a subscriber's filter
//! policy, an undeliverable address, and a topic that fails until the event is dead-lettered
//! (through the function's asynchronous retries) and redriven.
//!
//! One emulator and one deployed stack for every scenario (deploying is the slow part); each
//! scenario uses its own orders and addresses.

mod common;
#[path = "common/stack.rs"]
mod stack;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::Message;
use common::TestEmulator;
use serde_json::{json, Value};
use stack::{stderr, stdout, Stack};

const CUSTOMER_A: &str = "cust-notify-a";
const CUSTOMER_B: &str = "cust-notify-b";

/// Poll `probe` every 200 ms until it yields, or panic after `secs`.
async fn eventually<T, F, Fut>(what: &str, secs: u64, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every email MiniStack's SES recorded (all accounts).
async fn sent_emails(endpoint: &str) -> Vec<Value> {
    let body: Value = reqwest::get(format!("{endpoint}/_ministack/ses/messages"))
        .await
        .expect("GET /_ministack/ses/messages")
        .json()
        .await
        .expect("SES messages are JSON");
    body["messages"]
        .as_object()
        .expect("messages by account")
        .values()
        .flat_map(|messages| messages.as_array().cloned().unwrap_or_default())
        .collect()
}

async fn emails_to(endpoint: &str, address: &str) -> Vec<Value> {
    sent_emails(endpoint)
        .await
        .into_iter()
        .filter(|m| {
            m["To"]
                .as_array()
                .is_some_and(|to| to.iter().any(|a| a == address))
        })
        .collect()
}

/// The `notifications.<status>` entry of an order, read consistently.
async fn ledger_entry(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    order_id: &str,
    status: &str,
) -> Option<HashMap<String, AttributeValue>> {
    let item = ddb
        .get_item()
        .table_name(table)
        .key("order_id", AttributeValue::S(order_id.into()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item?;
    let entry = item
        .get("notifications")?
        .as_m()
        .ok()?
        .get(status)?
        .as_m()
        .ok()?;
    Some(entry.clone())
}

fn text(entry: &HashMap<String, AttributeValue>, name: &str) -> String {
    entry
        .get(name)
        .and_then(|v| v.as_s().ok().or_else(|| v.as_n().ok()))
        .cloned()
        .unwrap_or_default()
}

/// Waits until the order's entry for `status` is in `state`; returns it.
async fn entry_in_state(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    order_id: &str,
    status: &str,
    state: &str,
) -> HashMap<String, AttributeValue> {
    eventually(
        &format!("notifications.{status}.state = {state} for {order_id}"),
        60,
        || async move {
            ledger_entry(ddb, table, order_id, status)
                .await
                .filter(|entry| text(entry, "state") == state)
        },
    )
    .await
}

/// Receives (and deletes) what the queue holds within `wait`; with `until`, stops as soon as
/// a received message satisfies it.
async fn drain(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    wait: Duration,
    until: impl Fn(&Message) -> bool,
) -> Vec<Message> {
    let deadline = Instant::now() + wait;
    let mut received = Vec::new();
    while Instant::now() < deadline {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .wait_time_seconds(1)
            .send()
            .await
            .expect("ReceiveMessage");
        let mut done = false;
        for message in out.messages() {
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("DeleteMessage");
            done |= until(message);
            received.push(message.clone());
        }
        if done {
            break;
        }
    }
    received
}

fn body(message: &Message) -> Value {
    serde_json::from_str(message.body().unwrap_or_default()).expect("message body is JSON")
}

fn attribute(message: &Message, name: &str) -> Option<String> {
    message
        .message_attributes()
        .and_then(|a| a.get(name))
        .and_then(|v| v.string_value())
        .map(str::to_owned)
}

fn is_notification_for(order_id: &str) -> impl Fn(&Message) -> bool + '_ {
    move |m: &Message| {
        serde_json::from_str::<Value>(m.body().unwrap_or_default())
            .is_ok_and(|b| b["order_id"] == order_id)
    }
}

/// An order file in the stack's directory, for `send-order --file`.
fn write_order(stack: &Stack, file: &str, order: &Value) {
    std::fs::write(stack.dir().join(file), order.to_string()).expect("write order file");
}

fn order(order_id: &str, customer: &str, email: Option<&str>, total_minor: i64) -> Value {
    let mut order = json!({
        "order_id": order_id,
        "customer_id": customer,
        "currency": "EUR",
        "items": [
            {"sku": "SKU-1", "quantity": 2, "unit_price_minor": 1250},
            {"sku": "SKU-2", "quantity": 1, "unit_price_minor": 499}
        ],
        "total_minor": total_minor
    });
    if let Some(email) = email {
        order["customer_email"] = json!(email);
    }
    order
}

/// `send-order --via bus --wait --file <file>`; the exit code and the JSON result.
fn send_order(stack: &Stack, file: &str) -> (Option<i32>, Value) {
    let out = stack.run(&[
        "send-order",
        "--via",
        "bus",
        "--wait",
        "--file",
        file,
        "--output",
        "json",
    ]);
    let result = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "send-order: no JSON ({:?})\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            stdout(&out),
            stderr(&out)
        )
    });
    (out.status.code(), result)
}

/// The function's log lines in the emulator's CloudWatch Logs (read over its JSON API: the
/// CLI has no CloudWatch Logs client).
async fn function_log_lines(endpoint: &str, function: &str) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut lines = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut request = json!({ "logGroupName": format!("/aws/lambda/{function}") });
        if let Some(token) = &token {
            request["nextToken"] = json!(token);
        }
        let response = client
            .post(format!("{endpoint}/"))
            .header("X-Amz-Target", "Logs_20140328.FilterLogEvents")
            .header("Content-Type", "application/x-amz-json-1.1")
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/logs/aws4_request, SignedHeaders=host, Signature=0",
            )
            .body(request.to_string())
            .send()
            .await
            .expect("FilterLogEvents");
        if !response.status().is_success() {
            // The log group appears with the function's first invocation.
            return lines;
        }
        let page: Value = response.json().await.expect("FilterLogEvents answer");
        lines.extend(
            page["events"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["message"].as_str().map(str::to_owned)),
        );
        match page["nextToken"].as_str() {
            Some(next) if token.as_deref() != Some(next) => token = Some(next.to_owned()),
            _ => return lines,
        }
    }
}

async fn duplicate_log_lines(endpoint: &str, function: &str, order_id: &str) -> usize {
    function_log_lines(endpoint, function)
        .await
        .iter()
        .filter(|line| line.contains("duplicate event") && line.contains(order_id))
        .count()
}

/// Invokes the function synchronously with `event`; its JSON answer.
async fn invoke(lambda: &aws_sdk_lambda::Client, function: &str, event: &Value) -> Value {
    let out = lambda
        .invoke()
        .function_name(function)
        .payload(aws_sdk_lambda::primitives::Blob::new(event.to_string()))
        .send()
        .await
        .expect("Invoke");
    let payload = out
        .payload()
        .map(|p| p.as_ref().to_vec())
        .unwrap_or_default();
    assert!(
        out.function_error().is_none(),
        "{function} failed: {}",
        String::from_utf8_lossy(&payload)
    );
    serde_json::from_slice(&payload).expect("the function answers JSON")
}

async fn queue_is_empty(sqs: &aws_sdk_sqs::Client, url: &str) -> bool {
    let out = sqs
        .receive_message()
        .queue_url(url)
        .wait_time_seconds(2)
        .send()
        .await
        .expect("ReceiveMessage");
    out.messages().is_empty()
}

#[tokio::test]
async fn customers_are_told_once_how_their_order_ended() {
    let emu = TestEmulator::start();
    let endpoint = emu.endpoint().to_string();
    // Two subscribers of the stack's topic: `probe` takes one customer's notifications only
    // (filter policy on the customer_id attribute), `all-outcomes` takes everything.
    let stack = Stack::new(
        &emu,
        "notify",
        &[
            (
                "  validate-dlq:\n    retention: 1209600\n",
                "  validate-dlq:\n    retention: 1209600\n  probe: {}\n  all-outcomes: {}\n",
            ),
            (
                "    subscriptions: []\n",
                "    subscriptions:\n      - queue: probe\n        filter_policy: { customer_id: [cust-notify-a] }\n        raw_message_delivery: true\n      - queue: all-outcomes\n        raw_message_delivery: true\n",
            ),
        ],
    );
    let up = stack.up();
    let topic_arn = up["outputs"]["topics"]["order-notifications"]["arn"]
        .as_str()
        .unwrap_or_else(|| panic!("topic ARN in the outputs: {up}"))
        .to_owned();
    assert_eq!(
        up["outputs"]["email_identities"]["sender"]["verification_status"], "SUCCESS",
        "{up}"
    );

    let config = stack.config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let sns = aws_sdk_sns::Client::new(&config);
    let ses = aws_sdk_sesv2::Client::new(&config);
    let events = aws_sdk_eventbridge::Client::new(&config);
    let lambda = aws_sdk_lambda::Client::new(&config);
    let table = stack.physical("orders");
    let function = stack.physical("notify-customer");
    let probe = stack.queue_url(&sqs, "probe").await;
    let audit = stack.queue_url(&sqs, "all-outcomes").await;
    let dlq = stack.queue_url(&sqs, "notify-dlq").await;

    // ---- PROCESSED: one email to the customer, one notification with its attributes.
    let ana = "ana@example.com";
    write_order(
        &stack,
        "order-a.json",
        &order("ord-notify-a", CUSTOMER_A, Some(ana), 2999),
    );
    let (code, sent) = send_order(&stack, "order-a.json");
    assert_eq!(code, Some(0), "{sent}");
    assert_eq!(sent["status"], "processed", "{sent}");
    let entry = entry_in_state(&ddb, &table, "ord-notify-a", "PROCESSED", "SENT").await;
    assert_eq!(text(&entry, "email"), "SENT");
    assert_eq!(text(&entry, "attempts"), "1");
    let emails = emails_to(&endpoint, ana).await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    let email = &emails[0];
    assert_eq!(email["Source"], "orders@example.com");
    assert_eq!(
        email["MessageId"].as_str(),
        Some(text(&entry, "email_message_id").as_str())
    );
    assert!(
        email["Subject"].as_str().unwrap().contains("ord-notify-a"),
        "{email}"
    );
    let body_text = email["BodyText"].as_str().unwrap();
    assert!(body_text.contains("Order:  ord-notify-a"), "{body_text}");
    assert!(body_text.contains("Status: PROCESSED"), "{body_text}");
    assert!(body_text.contains("Total:  29.99 EUR"), "{body_text}");
    assert!(
        body_text.contains("2 x SKU-1 at 12.50 EUR = 25.00 EUR"),
        "{body_text}"
    );
    assert!(email["BodyHtml"]
        .as_str()
        .unwrap()
        .contains("<td>29.99 EUR</td>"));

    let received = drain(
        &sqs,
        &probe,
        Duration::from_secs(20),
        is_notification_for("ord-notify-a"),
    )
    .await;
    assert_eq!(received.len(), 1, "{received:?}");
    let notification = body(&received[0]);
    assert_eq!(notification["order_id"], "ord-notify-a");
    assert_eq!(notification["status"], "PROCESSED");
    assert_eq!(notification["customer_id"], CUSTOMER_A);
    assert_eq!(notification["total_minor"], 2999);
    assert_eq!(notification["currency"], "EUR");
    assert!(notification.get("reasons").is_none(), "{notification}");
    assert_eq!(
        attribute(&received[0], "status").as_deref(),
        Some("PROCESSED")
    );
    assert_eq!(
        attribute(&received[0], "customer_id").as_deref(),
        Some(CUSTOMER_A)
    );

    // ---- REJECTED (the total does not match the items): an email listing the reason.
    let bo = "bo@example.com";
    write_order(
        &stack,
        "order-b.json",
        &order("ord-notify-b", CUSTOMER_A, Some(bo), 2998),
    );
    let (code, sent) = send_order(&stack, "order-b.json");
    assert_eq!(code, Some(3), "{sent}");
    assert_eq!(sent["status"], "rejected", "{sent}");
    entry_in_state(&ddb, &table, "ord-notify-b", "REJECTED", "SENT").await;
    let emails = emails_to(&endpoint, bo).await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert!(emails[0]["Subject"]
        .as_str()
        .unwrap()
        .contains("ord-notify-b could not be accepted"));
    let body_text = emails[0]["BodyText"].as_str().unwrap();
    assert!(body_text.contains("Status: REJECTED"), "{body_text}");
    assert!(
        body_text.contains("total_minor is 2998 but the items sum to 2999 (total_mismatch)"),
        "{body_text}"
    );
    let received = drain(
        &sqs,
        &probe,
        Duration::from_secs(20),
        is_notification_for("ord-notify-b"),
    )
    .await;
    assert_eq!(received.len(), 1, "{received:?}");
    let notification = body(&received[0]);
    assert_eq!(notification["status"], "REJECTED");
    assert_eq!(notification["reasons"][0]["code"], "total_mismatch");
    assert_eq!(
        attribute(&received[0], "status").as_deref(),
        Some("REJECTED")
    );

    // ---- The PROCESSED event of order A again, as a redelivery would bring it: handled as
    // a duplicate, nothing sent.
    let at = text(&entry, "at");
    let replay_detail = json!({
        "order_id": "ord-notify-a", "old_status": "VALIDATED", "new_status": "PROCESSED",
        "at": at, "customer_id": CUSTOMER_A
    });
    let duplicates_before = duplicate_log_lines(&endpoint, &function, "ord-notify-a").await;
    let put = events
        .put_events()
        .entries(
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .event_bus_name(stack.physical("orders"))
                .source("orderflow.orders.status")
                .detail_type("OrderStatusChanged")
                .detail(replay_detail.to_string())
                .build(),
        )
        .send()
        .await
        .expect("PutEvents");
    assert_eq!(put.failed_entry_count(), 0);
    let (endpoint_ref, function_ref) = (endpoint.as_str(), function.as_str());
    eventually(
        "the redelivered event handled as a duplicate",
        30,
        || async move {
            (duplicate_log_lines(endpoint_ref, function_ref, "ord-notify-a").await
                > duplicates_before)
                .then_some(())
        },
    )
    .await;
    // The same event invoked directly says so too.
    let replay_event = json!({
        "version": "0", "id": "replay-1", "detail-type": "OrderStatusChanged",
        "source": "orderflow.orders.status", "account": "000000000000",
        "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": [],
        "detail": replay_detail
    });
    let answer = invoke(&lambda, &function, &replay_event).await;
    assert_eq!(answer["outcome"], "duplicate", "{answer}");
    assert_eq!(emails_to(&endpoint, ana).await.len(), 1);
    let again = drain(&sqs, &probe, Duration::from_secs(3), |_| false).await;
    assert!(again.is_empty(), "a duplicate was published: {again:?}");
    let unchanged = ledger_entry(&ddb, &table, "ord-notify-a", "PROCESSED")
        .await
        .unwrap();
    assert_eq!(unchanged, entry, "a duplicate wrote to the ledger");

    // ---- Another customer's order: published (the unfiltered subscriber gets it), kept out
    // of the probe by its filter policy.
    let cy = "cy@example.com";
    write_order(
        &stack,
        "order-c.json",
        &order("ord-notify-c", CUSTOMER_B, Some(cy), 2999),
    );
    let (code, sent) = send_order(&stack, "order-c.json");
    assert_eq!(code, Some(0), "{sent}");
    entry_in_state(&ddb, &table, "ord-notify-c", "PROCESSED", "SENT").await;
    let audited = drain(
        &sqs,
        &audit,
        Duration::from_secs(20),
        is_notification_for("ord-notify-c"),
    )
    .await;
    let c = audited
        .iter()
        .find(|m| is_notification_for("ord-notify-c")(m))
        .expect("customer B's notification reached the unfiltered subscriber");
    assert_eq!(attribute(c, "customer_id").as_deref(), Some(CUSTOMER_B));
    // The earlier notifications reached it too: the all-outcomes subscriber sees everything.
    let seen: Vec<String> = audited
        .iter()
        .map(|m| body(m)["order_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        seen.contains(&"ord-notify-a".to_owned()) && seen.contains(&"ord-notify-b".to_owned()),
        "{seen:?}"
    );
    let filtered = drain(&sqs, &probe, Duration::from_secs(3), |_| false).await;
    assert!(
        filtered.is_empty(),
        "the probe received another customer's notification: {filtered:?}"
    );
    assert_eq!(emails_to(&endpoint, cy).await.len(), 1);

    // ---- An address SES refuses for good (in the SES sandbox, an unverified recipient):
    // recorded as undeliverable, the notification still published, nothing dead-lettered.
    ses.put_account_details()
        .mail_type(aws_sdk_sesv2::types::MailType::Transactional)
        .website_url("https://shop.example.com")
        .production_access_enabled(false)
        .send()
        .await
        .expect("PutAccountDetails (sandbox)");
    let dee = "dee@example.com";
    write_order(
        &stack,
        "order-d.json",
        &order("ord-notify-d", CUSTOMER_A, Some(dee), 2999),
    );
    let (code, sent) = send_order(&stack, "order-d.json");
    assert_eq!(code, Some(0), "{sent}");
    let entry = entry_in_state(
        &ddb,
        &table,
        "ord-notify-d",
        "PROCESSED",
        "EMAIL_UNDELIVERABLE",
    )
    .await;
    ses.put_account_details()
        .mail_type(aws_sdk_sesv2::types::MailType::Transactional)
        .website_url("https://shop.example.com")
        .production_access_enabled(true)
        .send()
        .await
        .expect("PutAccountDetails (production)");
    assert_eq!(text(&entry, "email"), "UNDELIVERABLE");
    assert!(
        text(&entry, "email_error").starts_with("MessageRejected: "),
        "{entry:?}"
    );
    assert!(text(&entry, "email_error").contains(dee), "{entry:?}");
    assert!(emails_to(&endpoint, dee).await.is_empty());
    let received = drain(
        &sqs,
        &probe,
        Duration::from_secs(20),
        is_notification_for("ord-notify-d"),
    )
    .await;
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(body(&received[0])["status"], "PROCESSED");
    assert!(
        queue_is_empty(&sqs, &dlq).await,
        "an undeliverable email was dead-lettered"
    );

    // ---- The topic fails (deleted behind the stack's back): every attempt fails, the event
    // ends in notify-dlq, and the email went out once — the retries knew it was sent.
    sns.delete_topic()
        .topic_arn(&topic_arn)
        .send()
        .await
        .expect("DeleteTopic");
    let eve = "eve@example.com";
    write_order(
        &stack,
        "order-e.json",
        &order("ord-notify-e", CUSTOMER_A, Some(eve), 2999),
    );
    let (code, sent) = send_order(&stack, "order-e.json");
    assert_eq!(code, Some(0), "{sent}");
    // The rule's delivery: emailed, recorded, failed to publish, released its claim.
    let (ddb_ref, table_ref) = (&ddb, table.as_str());
    let entry = eventually("the failed first attempt", 60, || async move {
        ledger_entry(ddb_ref, table_ref, "ord-notify-e", "PROCESSED")
            .await
            .filter(|e| text(e, "email") == "SENT" && text(e, "lease_until") == "0")
    })
    .await;
    assert_eq!(text(&entry, "state"), "CLAIMED", "{entry:?}");
    // MiniStack 1.5.33 delivers a rule's Lambda target once, without Lambda's asynchronous
    // retries; an asynchronous Invoke of the same event goes through them (and the function's
    // dead-letter queue), as EventBridge's invocation does on AWS.
    let event_e = json!({
        "version": "0", "id": "ev-e", "detail-type": "OrderStatusChanged",
        "source": "orderflow.orders.status", "account": "000000000000",
        "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {
            "order_id": "ord-notify-e", "old_status": "VALIDATED", "new_status": "PROCESSED",
            "at": text(&entry, "at"), "customer_id": CUSTOMER_A
        }
    });
    let queued = lambda
        .invoke()
        .function_name(&function)
        .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
        .payload(aws_sdk_lambda::primitives::Blob::new(event_e.to_string()))
        .send()
        .await
        .expect("Invoke (Event)");
    assert_eq!(queued.status_code(), 202);
    let (sqs_ref, dlq_ref) = (&sqs, dlq.as_str());
    let dead = eventually("the event in notify-dlq", 90, || async move {
        let out = sqs_ref
            .receive_message()
            .queue_url(dlq_ref)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("ReceiveMessage");
        out.messages().first().cloned()
    })
    .await;
    let dead_body = body(&dead);
    // AWS puts the event itself in a function's DLQ; MiniStack wraps it in a destination record.
    let dead_event = dead_body
        .get("requestPayload")
        .cloned()
        .unwrap_or(dead_body);
    assert_eq!(
        dead_event["detail"]["order_id"], "ord-notify-e",
        "{dead_event}"
    );
    assert_eq!(dead_event["detail"]["new_status"], "PROCESSED");
    assert_eq!(emails_to(&endpoint, eve).await.len(), 1);
    let entry = ledger_entry(&ddb, &table, "ord-notify-e", "PROCESSED")
        .await
        .unwrap();
    assert_eq!(text(&entry, "state"), "CLAIMED", "{entry:?}");
    assert_eq!(text(&entry, "email"), "SENT", "{entry:?}");
    // The rule's attempt, then the asynchronous invocation and its two retries.
    assert_eq!(text(&entry, "attempts"), "4", "{entry:?}");

    // Fixed (`up` recreates the topic and its subscriptions), the dead-lettered event is
    // redriven: the notification goes out, the email is not sent again.
    stack.up();
    let answer = invoke(&lambda, &function, &dead_event).await;
    assert_eq!(answer["outcome"], "notified", "{answer}");
    assert_eq!(answer["email"], "sent", "{answer}");
    assert_eq!(answer["email_by_earlier_attempt"], true, "{answer}");
    assert_eq!(emails_to(&endpoint, eve).await.len(), 1);
    let received = drain(
        &sqs,
        &probe,
        Duration::from_secs(20),
        is_notification_for("ord-notify-e"),
    )
    .await;
    assert_eq!(received.len(), 1, "{received:?}");
    entry_in_state(&ddb, &table, "ord-notify-e", "PROCESSED", "SENT").await;

    // Every email went to its own order's customer, one each.
    let all = sent_emails(&endpoint).await;
    assert_eq!(all.len(), 4, "{all:?}");
}
