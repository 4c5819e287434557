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
        resources.iter().all(|r| r["state"] == "missing"),
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
            .all(|r| r["state"] == "present"),
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
    assert!(text.contains("last change: `orderflow up` finished"), "{text}");

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
