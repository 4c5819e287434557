//! `orderflow status`: what an operator on call sees, and its exit code (0 healthy, 6 needs
//! attention) for CI or cron to gate on.

mod common;
#[path = "common/stack.rs"]
mod stack;

use common::TestEmulator;
use serde_json::Value;
use stack::{stderr, stdout, Stack};

/// `status --output json`: its exit code and document.
fn status(stack: &Stack) -> (Option<i32>, Value) {
    let out = stack.run(&["status", "--output", "json"]);
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "status stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            stdout(&out),
            stderr(&out)
        )
    });
    (out.status.code(), doc)
}

fn queue<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == name)
        .unwrap_or_else(|| panic!("queue {name} not in {doc}"))
}

#[tokio::test]
async fn status_shows_the_stack_and_exits_6_when_a_dead_letter_queue_holds_messages() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "status", &[]);

    // Nothing deployed: every declared resource is missing, and that needs attention.
    let (code, before) = status(&stack);
    assert_eq!(code, Some(6), "{before}");
    let resources = before["resources"].as_array().unwrap();
    assert!(!resources.is_empty());
    assert!(
        resources
            .iter()
            .all(|r| r["state"] == "missing" || r["state"] == "skipped"),
        "{before}"
    );
    assert!(before["last_run"].is_null(), "{before}");
    let problems = before["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.as_str().unwrap().contains("run `orderflow up`")),
        "{before}"
    );

    // Deployed and one order through: healthy, with the last run and the order counted.
    stack.up();
    let sent = stack.json(&["send-order", "--wait", "--output", "json"]);
    assert_eq!(sent["status"], "processed", "{sent}");
    let (code, up) = status(&stack);
    assert_eq!(code, Some(0), "{up}");
    assert!(
        up["resources"]
            .as_array()
            .unwrap()
            .iter()
            // The emulator has no EventBridge Schemas API: the registry is skipped, and said so.
            .all(|r| r["state"] == "present"
                || (r["state"] == "skipped" && r["kind"].as_str().unwrap().contains("schema"))),
        "{up}"
    );
    assert_eq!(up["last_run"]["command"], "orderflow up", "{up}");
    for f in up["functions"].as_array().unwrap() {
        assert_eq!(f["state"], "Active", "{up}");
    }
    assert_eq!(up["mappings"][0]["state"], "Enabled", "{up}");
    assert_eq!(up["tables"][0]["status"], "ACTIVE", "{up}");
    assert_eq!(up["orders"][0]["by_status"]["PROCESSED"], 1, "{up}");
    assert_eq!(queue(&up, "orders-dlq")["dead_letter"], true, "{up}");
    assert_eq!(queue(&up, "orders")["dead_letter"], false, "{up}");
    assert_eq!(up["problems"], serde_json::json!([]), "{up}");
    let text = stack.run(&["status"]);
    assert_eq!(text.status.code(), Some(0), "{}", stderr(&text));
    let text = stdout(&text);
    assert!(text.contains("Healthy."), "{text}");
    assert!(
        text.contains("last change: `orderflow up` finished"),
        "{text}"
    );

    // A message in a dead-letter queue: exit 6, and the text says where and what to do.
    let config = stack.config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let dlq = stack.queue_url(&sqs, "notify-dlq").await;
    sqs.send_message()
        .queue_url(&dlq)
        .message_body("{}")
        .send()
        .await
        .unwrap();
    let (code, held) = status(&stack);
    assert_eq!(code, Some(6), "{held}");
    assert_eq!(queue(&held, "notify-dlq")["visible"], 1, "{held}");
    let problems = held["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{held}");
    assert!(
        problems[0]
            .as_str()
            .unwrap()
            .starts_with("dead-letter queue notify-dlq holds 1 message(s)"),
        "{held}"
    );
    let text = stack.run(&["status"]);
    assert_eq!(text.status.code(), Some(6));
    let text = stdout(&text);
    assert!(text.contains("DEAD-LETTER QUEUE HOLDS MESSAGES"), "{text}");
    assert!(text.contains("orderflow dlq redrive notify-dlq"), "{text}");
}

/// Poll `status --output json` until `done` holds for its document, or panic after `secs`.
fn status_until(stack: &Stack, what: &str, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let (_, doc) = status(stack);
        if done(&doc) {
            return doc;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}; last status: {doc}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// The on-call story: a bad deploy makes process-order fail, the order ends in orders-dlq,
/// `status` says so (exit 6), the deploy is fixed, `dlq redrive` moves it back, and the order is
/// PROCESSED exactly once with the dead-letter queue empty and `status` healthy again.
#[tokio::test]
async fn a_poisoned_order_is_seen_by_status_and_processed_once_after_a_fix_and_a_redrive() {
    let emu = TestEmulator::start();
    // Short timeouts so the failed deliveries reach the DLQ within seconds (visibility = 6 ×
    // the function's timeout); process-order writes to a table that does not exist.
    let good_env = "      ORDERS_TABLE: ${tables.orders.name}\n      EVENT_BUS_NAME: ${buses.orders.name}\n    access:\n      - { table: orders, verb: write }    # consume";
    let bad_env = "      ORDERS_TABLE: no-such-table\n      EVENT_BUS_NAME: ${buses.orders.name}\n    access:\n      - { table: orders, verb: write }    # consume";
    let stack = Stack::new(
        &emu,
        "poisoned",
        &[
            ("visibility_timeout: 180", "visibility_timeout: 6"),
            ("max_receive_count: 3", "max_receive_count: 2"),
            (
                "    memory: 256\n    timeout: 30",
                "    memory: 256\n    timeout: 1",
            ),
            (good_env, bad_env),
        ],
    );
    stack.up();
    let order_id = "ord-poisoned-1";
    let sent = stack.json(&["send-order", "--order-id", order_id, "--output", "json"]);
    assert_eq!(sent["status"], "sent", "{sent}");

    let held = status_until(&stack, "the order in orders-dlq", 90, |doc| {
        queue(doc, "orders-dlq")["visible"] == 1
    });
    let (code, _) = status(&stack);
    assert_eq!(code, Some(6), "{held}");
    assert!(
        held["problems"][0]
            .as_str()
            .unwrap()
            .starts_with("dead-letter queue orders-dlq holds 1 message(s)"),
        "{held}"
    );

    // Its trace ends in the dead-letter queue, after validate-order's VALIDATED.
    let t = stack.json(&["trace", order_id, "--output", "json"]);
    assert_eq!(t["status"], "VALIDATED", "{t}");
    assert_eq!(
        t["dead_letter_queues"],
        serde_json::json!(["orders-dlq"]),
        "{t}"
    );
    let hops = t["hops"].as_array().unwrap();
    assert!(
        hops.iter()
            .any(|h| h["kind"] == "dead_letter" && h["source"] == "dlq orders-dlq"),
        "{t}"
    );

    // The fix: deploy the right table name again.
    stack.edit(bad_env, good_env);
    stack.up();

    // Without a terminal, redrive refuses without --yes and moves nothing.
    let refused = stack.run(&["dlq", "redrive", "orders-dlq"]);
    assert_ne!(refused.status.code(), Some(0), "{}", stdout(&refused));
    assert!(stderr(&refused).contains("--yes"), "{}", stderr(&refused));
    let (_, still) = status(&stack);
    assert_eq!(queue(&still, "orders-dlq")["visible"], 1, "{still}");

    let moved = stack.json(&["dlq", "redrive", "orders-dlq", "--yes", "--output", "json"]);
    let order = {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let o = stack.json(&["order", order_id, "--output", "json"]);
            if o["status"] == "PROCESSED" {
                break o;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "order not PROCESSED after the redrive ({moved}): {o}"
            );
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
    };
    let processed = order["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["status"] == "PROCESSED")
        .count();
    assert_eq!(processed, 1, "{order}");

    let healthy = status_until(&stack, "a healthy stack", 30, |doc| {
        doc["problems"] == serde_json::json!([])
    });
    assert_eq!(queue(&healthy, "orders-dlq")["visible"], 0, "{healthy}");
    let (code, _) = status(&stack);
    assert_eq!(code, Some(0));

    // A second redrive finds nothing to move and writes nothing.
    let again = stack.json(&["dlq", "redrive", "orders-dlq", "--yes", "--output", "json"]);
    let order_again = stack.json(&["order", order_id, "--output", "json"]);
    assert_eq!(order_again["history"], order["history"], "{again}");
}
