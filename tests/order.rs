//! `orderflow order ORDER_ID`: an operator's view of one order — status, timeline with reasons —
//! read from the deployed stack's table; an unknown id is a clear error.

mod common;
#[path = "common/stack.rs"]
mod stack;

use common::TestEmulator;
use stack::{stderr, stdout, Stack};

#[tokio::test]
async fn order_shows_the_status_timeline_of_processed_and_rejected_orders() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "order", &[]);
    stack.up();

    // Through the API: every status of the lifecycle, in order.
    let sent = stack.json(&[
        "send-order",
        "--via",
        "api",
        "--wait",
        "--order-id",
        "ord-timeline-1",
        "--output",
        "json",
    ]);
    assert_eq!(sent["status"], "processed", "{sent}");
    let view = stack.json(&["order", "ord-timeline-1", "--output", "json"]);
    assert_eq!(view["status"], "PROCESSED", "{view}");
    let steps: Vec<&str> = view["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["RECEIVED", "VALIDATED", "PROCESSED"], "{view}");
    assert!(
        view["history"][1]["after_ms"].as_i64().unwrap() >= 0,
        "{view}"
    );

    let text = stdout(&stack.run(&["order", "ord-timeline-1"]));
    assert!(
        text.starts_with("Order ord-timeline-1: PROCESSED\n"),
        "{text}"
    );
    for step in ["RECEIVED", "VALIDATED", "PROCESSED"] {
        assert_eq!(
            text.matches(step).count(),
            if step == "PROCESSED" { 2 } else { 1 },
            "{text}"
        );
    }

    // Published straight to the bus and invalid: rejected, with its reasons in the timeline.
    let out = stack.run(&[
        "send-order",
        "--via",
        "bus",
        "--invalid",
        "--wait",
        "--order-id",
        "ord-timeline-2",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let view = stack.json(&["order", "ord-timeline-2", "--output", "json"]);
    assert_eq!(view["status"], "REJECTED", "{view}");
    let history = view["history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "no RECEIVED without the API: {view}");
    assert_eq!(history[0]["status"], "REJECTED");
    assert!(
        !history[0]["reasons"].as_array().unwrap().is_empty(),
        "{view}"
    );
    let text = stdout(&stack.run(&["order", "ord-timeline-2"]));
    assert!(
        text.contains("REJECTED") && text.contains("      - "),
        "{text}"
    );

    // Unknown order: exit 1 and says so.
    let out = stack.run(&["order", "ord-nobody-sent"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no order `ord-nobody-sent` in table"),
        "{}",
        stderr(&out)
    );
}
