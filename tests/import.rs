//! Order files, end to end on the default pipeline: `orderflow sample-orders` writes 10,000
//! orders, 3 % of them invalid; `orderflow import --wait` uploads the file where the
//! order-files rule picks it up and waits for the result and every order's final status. Every
//! good line is PROCESSED exactly once, every bad line is reported with its line number, the
//! function's memory stays bounded, and uploading the file again creates nothing new. Bad
//! input gets a clear result or no action: a file that is not JSON Lines, an empty file, a
//! line longer than the function reads, an object under another prefix. A CSV file (one row per
//! line item) imports the same way.
//!
//! One emulator and one deployed stack for every scenario; each uses its own order ids.

mod common;
#[path = "common/stack.rs"]
mod stack;

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::primitives::ByteStream;
use common::TestEmulator;
use serde_json::Value;
use stack::{stderr, stdout, Stack};

const ACCOUNT: &str = "000000000000";

fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}

/// `orderflow import FILE --wait --output json`: (exit code, result).
fn import(stack: &Stack, file: &Path) -> (Option<i32>, Value) {
    let out = stack.run(&[
        "import",
        file.to_str().unwrap(),
        "--wait",
        "--timeout",
        "900",
        "--output",
        "json",
    ]);
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "import output is not JSON ({e}):\n{}\n{}",
            stdout(&out),
            stderr(&out)
        )
    });
    (out.status.code(), json)
}

/// Every order of the table whose id starts with `prefix`: id → (status, history statuses).
async fn orders(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    prefix: &str,
) -> HashMap<String, (String, Vec<String>)> {
    let mut out = HashMap::new();
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let page = ddb
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("Scan");
        for item in page.items() {
            let Some(id) = item.get("order_id").and_then(|v| v.as_s().ok()) else {
                continue;
            };
            if !id.starts_with(prefix) {
                continue;
            }
            let status = item["status"].as_s().unwrap().clone();
            let history = item
                .get("status_history")
                .and_then(|h| h.as_l().ok())
                .into_iter()
                .flatten()
                .filter_map(|e| e.as_m().ok()?.get("status")?.as_s().ok().cloned())
                .collect();
            out.insert(id.clone(), (status, history));
        }
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return out,
        }
    }
}

fn write_samples(stack: &Stack, file: &Path, count: u64, invalid: u64, prefix: &str) {
    let out = stack.run(&[
        "sample-orders",
        "--count",
        &count.to_string(),
        "--invalid",
        &invalid.to_string(),
        "--id-prefix",
        prefix,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(file, &out.stdout).expect("write the order file");
}

async fn result_object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<Value> {
    let got = s3.get_object().bucket(bucket).key(key).send().await.ok()?;
    let bytes = got.body.collect().await.ok()?.into_bytes();
    serde_json::from_slice(&bytes).ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn partner_files_are_imported_once_and_bad_lines_reported() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "import", &[]);
    stack.up();
    let config = stack.config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let s3 = s3_client(&config);
    let table = stack.physical("orders");
    let bucket = format!("{}-imports-{ACCOUNT}", stack.name);
    let dir = tempfile::tempdir().unwrap();

    // 10,000 orders, 300 of them invalid (every 33rd line).
    let big = dir.path().join("partner-a.jsonl");
    let prefix = format!("imp-{}", stack.name);
    write_samples(&stack, &big, 10_000, 300, &prefix);
    let started = Instant::now();
    let (code, first) = import(&stack, &big);
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(code, Some(3), "invalid lines make exit 3: {first:#}");
    assert_eq!(first["status"], "imported", "{first:#}");
    assert_eq!(first["key"], "imports/partner-a.jsonl");
    let result = &first["result"];
    assert_eq!(result["lines"], 10_000, "{result:#}");
    assert_eq!(result["imported"], 9_700);
    assert_eq!(result["invalid"], 300);
    assert_eq!(result["errors_truncated"], false);
    let bad_lines: Vec<u64> = result["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = (1..=300).map(|n| n * 33).collect();
    assert_eq!(bad_lines, expected, "every bad line, by its line number");
    for e in result["errors"].as_array().unwrap() {
        assert!(
            !e["reasons"].as_array().unwrap().is_empty(),
            "reasons for line {}",
            e["line"]
        );
    }
    // Memory stays bounded: far below the function's 256 MB while streaming 10,000 lines.
    let peak = result["peak_rss_bytes"]
        .as_u64()
        .expect("peak RSS measured");
    assert!(peak < 128 * 1024 * 1024, "peak RSS {peak} bytes");
    assert_eq!(first["orders"]["total"], 9_700);
    assert_eq!(first["orders"]["pending"], 0);
    eprintln!(
        "10,000 lines: import {} ms in the function, peak RSS {:.1} MiB; all final after {seconds:.1} s ({} processed, {} rejected)",
        result["duration_ms"],
        peak as f64 / 1048576.0,
        first["orders"]["processed"],
        first["orders"]["rejected"]
    );

    // Every good line PROCESSED exactly once; no bad line left a record.
    let stored = orders(&ddb, &table, &prefix).await;
    assert_eq!(stored.len(), 9_700);
    for (id, (status, history)) in &stored {
        assert_eq!(status, "PROCESSED", "{id}");
        let processed = history.iter().filter(|s| *s == "PROCESSED").count();
        assert_eq!(processed, 1, "{id}: {history:?}");
    }

    // The same file again: nothing new.
    let (code, again) = import(&stack, &big);
    assert_eq!(code, Some(3), "{again:#}");
    assert_eq!(again["result"]["imported"], 0, "{again:#}");
    assert_eq!(again["result"]["already_imported"], 9_700);
    assert_eq!(again["result"]["invalid"], 300);
    assert_eq!(
        orders(&ddb, &table, &prefix).await,
        stored,
        "re-upload changed orders"
    );

    // Not JSON Lines: every line reported, nothing imported, the invocation did not fail.
    let garbage = dir.path().join("garbage.jsonl");
    std::fs::write(
        &garbage,
        b"[\n  {\"order_id\": \"x\"},\n  {\"order_id\": \"y\"}\n]\n\xff\xfe\x00binary\n",
    )
    .unwrap();
    let (code, g) = import(&stack, &garbage);
    assert_eq!(code, Some(3), "{g:#}");
    assert_eq!(g["result"]["imported"], 0, "{g:#}");
    assert_eq!(g["result"]["invalid"], 5);
    assert_eq!(g["orders"]["total"], 0);

    // Empty: a result that says so.
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, b"").unwrap();
    let (code, e) = import(&stack, &empty);
    assert_eq!(code, Some(0), "{e:#}");
    assert_eq!(e["result"]["lines"], 0, "{e:#}");
    assert_eq!(e["result"]["errors"][0]["reasons"][0]["code"], "empty_file");

    // A line longer than the function reads (256 KiB) between two good ones: reported by
    // line number without being held in memory; the others are imported.
    let long = dir.path().join("long-line.jsonl");
    let long_prefix = format!("imp-long-{}", stack.name);
    write_samples(&stack, &long, 2, 0, &long_prefix);
    let samples = std::fs::read_to_string(&long).unwrap();
    let mut lines = samples.lines();
    let mut body = format!("{}\n", lines.next().unwrap()).into_bytes();
    body.extend(std::iter::repeat_n(b'x', 64 * 1024 * 1024));
    body.push(b'\n');
    body.extend(format!("{}\n", lines.next().unwrap()).into_bytes());
    std::fs::write(&long, body).unwrap();
    let (code, l) = import(&stack, &long);
    assert_eq!(code, Some(3), "{l:#}");
    assert_eq!(l["result"]["imported"], 2, "{l:#}");
    assert_eq!(l["result"]["errors"][0]["line"], 2);
    assert_eq!(
        l["result"]["errors"][0]["reasons"][0]["code"],
        "line_too_long"
    );
    let peak = l["result"]["peak_rss_bytes"].as_u64().unwrap();
    assert!(peak < 64 * 1024 * 1024, "a 64 MiB line, peak RSS {peak}");
    assert_eq!(l["orders"]["processed"], 2);

    // Another prefix: S3 announces it, the rule does not take it, nothing answers. Put first,
    // then import a file the rule does take: once that result exists, the earlier event has
    // been matched (or not) too.
    s3.put_object()
        .bucket(&bucket)
        .key("elsewhere/partner-b.jsonl")
        .body(ByteStream::from(samples.clone().into_bytes()))
        .send()
        .await
        .expect("PutObject");
    let marker = dir.path().join("after-elsewhere.jsonl");
    write_samples(&stack, &marker, 1, 0, &format!("imp-mark-{}", stack.name));
    let (code, _) = import(&stack, &marker);
    assert_eq!(code, Some(0));
    assert!(
        result_object(&s3, &bucket, "elsewhere/partner-b.jsonl.result.json")
            .await
            .is_none(),
        "a file outside imports/ is not imported"
    );
    let elsewhere = orders(&ddb, &table, &long_prefix).await;
    assert_eq!(elsewhere.len(), 2, "only the long-line file's two orders");

    // CSV, one row per line item: the same orders and outcomes as JSON Lines, the bad orders
    // reported at their first row's line, and a second upload creating nothing.
    let csv = dir.path().join("partner-c.csv");
    let csv_prefix = format!("imp-csv-{}", stack.name);
    let out = stack.run(&[
        "sample-orders",
        "--count",
        "60",
        "--invalid",
        "6",
        "--id-prefix",
        &csv_prefix,
        "--format",
        "csv",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(&csv, &out.stdout).unwrap();
    let (code, imported) = import(&stack, &csv);
    assert_eq!(code, Some(3), "{imported:#}");
    assert_eq!(imported["key"], "imports/partner-c.csv");
    assert_eq!(imported["result"]["format"], "csv", "{imported:#}");
    assert_eq!(imported["result"]["imported"], 54, "{imported:#}");
    assert_eq!(imported["result"]["invalid"], 6, "{imported:#}");
    assert_eq!(imported["orders"]["pending"], 0, "{imported:#}");
    let from_csv = orders(&ddb, &table, &csv_prefix).await;
    assert_eq!(from_csv.len(), 54);
    assert!(from_csv.values().all(|(status, _)| status == "PROCESSED"));
    let (_, again) = import(&stack, &csv);
    assert_eq!(again["result"]["imported"], 0, "{again:#}");
    assert_eq!(again["result"]["already_imported"], 54, "{again:#}");
    assert_eq!(orders(&ddb, &table, &csv_prefix).await, from_csv);

    // A name the rule does not match is refused before anything is uploaded.
    let text = dir.path().join("orders.txt");
    std::fs::write(&text, "order_id\n").unwrap();
    let out = stack.run(&["import", text.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("imports/orders.txt is not one of them"),
        "{}",
        stderr(&out)
    );
}
