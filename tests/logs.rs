//! `orderflow logs` and `orderflow trace`: the functions' log lines merged with the function on
//! each, filtered, followed until Ctrl-C; and one order's timeline across table, logs and
//! dead-letter queues. (A poisoned order's trace, with its dead-letter hop, is in
//! tests/status.rs.)

mod common;
#[path = "common/stack.rs"]
mod stack;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestEmulator, REGION};
use serde_json::Value;
use stack::{stderr, stdout, Stack};

/// `logs ARGS --output json` as parsed NDJSON lines.
fn log_lines(stack: &Stack, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["logs"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--output", "json"]);
    let out = stack.run(&all);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not NDJSON ({e}): {l}")))
        .collect()
}

/// Poll `logs` until `done` holds for its lines (CloudWatch Logs shows events after a delay).
fn logs_until(
    stack: &Stack,
    args: &[&str],
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let lines = log_lines(stack, args);
        if done(&lines) {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} within 60 s: {lines:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn mentions(line: &Value, text: &str) -> bool {
    line["message"].as_str().is_some_and(|m| m.contains(text))
}

#[tokio::test]
async fn logs_merge_filter_and_follow_and_trace_tells_an_orders_story() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "logs", &[]);
    stack.up();
    let ok = stack.json(&[
        "send-order",
        "--order-id",
        "ord-logs-ok",
        "--wait",
        "--output",
        "json",
    ]);
    assert_eq!(ok["status"], "processed", "{ok}");
    let bad = stack.run(&[
        "send-order",
        "--order-id",
        "ord-logs-bad",
        "--invalid",
        "--wait",
    ]);
    assert_eq!(bad.status.code(), Some(3), "{}", stderr(&bad));

    // Every function that handled the order logged it; lines are merged in time order.
    let lines = logs_until(
        &stack,
        &[],
        "lines of validate-order and process-order",
        |l| {
            ["validate-order", "process-order"].iter().all(|f| {
                l.iter()
                    .any(|x| x["function"] == *f && mentions(x, "ord-logs-ok"))
            })
        },
    );
    let times: Vec<i64> = lines
        .iter()
        .map(|l| l["timestamp"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    // Every line the order-handling functions wrote (not the platform's START/END/REPORT)
    // carries an order id, through their per-order span.
    for l in lines.iter().filter(|l| {
        (l["function"] == "validate-order" || l["function"] == "process-order")
            && l["message"].as_str().is_some_and(|m| m.starts_with('{'))
    }) {
        let m: Value = serde_json::from_str(l["message"].as_str().unwrap()).unwrap();
        assert!(m["span"]["order_id"].is_string(), "no order id: {l}");
    }

    // One function, filtered to one order.
    let only = log_lines(&stack, &["process-order", "--filter", "\"ord-logs-ok\""]);
    assert!(!only.is_empty());
    assert!(
        only.iter()
            .all(|l| l["function"] == "process-order" && mentions(l, "ord-logs-ok")),
        "{only:?}"
    );
    // Readable text: the function's name on each line.
    let text = stack.run(&["logs", "process-order", "--filter", "\"ord-logs-ok\""]);
    let text = stdout(&text);
    assert!(
        text.lines().all(|l| l.contains(" process-order ")),
        "{text}"
    );
    assert!(text.contains("order_id=ord-logs-ok"), "{text}");

    // A wrong name: the error suggests the right one.
    let wrong = stack.run(&["logs", "proces-order"]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        stderr(&wrong).contains("did you mean `process-order`"),
        "{}",
        stderr(&wrong)
    );

    // The processed order's trace: VALIDATED then PROCESSED, with the functions' lines.
    let t = stack.json(&["trace", "ord-logs-ok", "--output", "json"]);
    assert_eq!(t["status"], "PROCESSED", "{t}");
    let hops = t["hops"].as_array().unwrap();
    let statuses: Vec<&str> = hops
        .iter()
        .filter(|h| h["kind"] == "status")
        .map(|h| h["what"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["VALIDATED", "PROCESSED"], "{t}");
    for f in ["validate-order", "process-order"] {
        assert!(hops.iter().any(|h| h["source"] == f), "no {f} hop: {t}");
    }
    assert!(
        hops.iter()
            .skip(1)
            .all(|h| h["after_ms"].as_i64().unwrap() >= 0),
        "{t}"
    );
    assert_eq!(t["dead_letter_queues"], serde_json::json!([]), "{t}");
    // The hops the functions logged: what they received and what they published.
    for (f, what) in [
        ("validate-order", "event received"),
        ("validate-order", "event published"),
        ("process-order", "message received"),
        ("process-order", "event published"),
    ] {
        assert!(
            hops.iter().any(|h| h["source"] == f && h["what"] == what),
            "no {f} `{what}` hop: {t}"
        );
    }

    // The rejected one: REJECTED with its reason codes.
    let t = stack.json(&["trace", "ord-logs-bad", "--output", "json"]);
    assert_eq!(t["status"], "REJECTED", "{t}");
    assert!(
        t["hops"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["kind"] == "status" && h["what"].as_str().unwrap().starts_with("REJECTED")),
        "{t}"
    );

    // An id nothing knows: exit 1, said plainly.
    let unknown = stack.run(&["trace", "ord-nobody"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("order `ord-nobody` is in no table"),
        "{}",
        stderr(&unknown)
    );

    // --follow: a new order's lines appear; Ctrl-C ends it cleanly (exit 0, whole lines).
    let mut child = Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .args([
            "--endpoint-url",
            &stack.endpoint,
            "logs",
            "--follow",
            "--since",
            "1s",
            "--output",
            "json",
        ])
        .current_dir(stack.dir())
        .env_remove("AWS_PROFILE")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", REGION)
        .env("AWS_CONFIG_FILE", stack.dir().join(".no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            stack.dir().join(".no-aws-credentials"),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let followed = stack.json(&[
        "send-order",
        "--order-id",
        "ord-logs-follow",
        "--wait",
        "--output",
        "json",
    ]);
    assert_eq!(followed["status"], "processed", "{followed}");
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("the followed order's lines within 60 s");
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if mentions(&v, "ord-logs-follow") {
            break;
        }
    }
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "logs --follow after Ctrl-C");
    // Whatever it printed after the order's line was whole lines of JSON.
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(1)) {
        serde_json::from_str::<Value>(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
}
