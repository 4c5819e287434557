//! The cases: what a user of the contract would check.

use super::*;

#[tokio::test]
async fn good_bad_and_blank_lines_are_counted_with_their_line_numbers_and_reasons() {
    let world = World::new();
    let mut invalid = order("ord-bad");
    invalid["currency"] = json!("eur");
    invalid["total_minor"] = json!(1);
    let text = [
        line("ord-1"),
        String::new(),
        " \t ".into(),
        invalid.to_string(),
        "{\"order_id\": \"ord-x\", ".into(),
        line("ord-2"),
        "[1, 2]".into(),
    ]
    .join("\n");
    world.file("imports/a.jsonl", text);
    let result = world.import("imports/a.jsonl").await;
    assert_eq!(
        (
            result.counts.lines,
            result.counts.blank,
            result.counts.imported,
            result.counts.invalid
        ),
        (7, 2, 2, 3)
    );
    assert_eq!(
        codes(&result),
        [
            (4, vec!["currency_invalid", "total_mismatch"]),
            (5, vec!["malformed_json"]),
            (7, vec!["not_an_object"]),
        ]
    );
    assert_eq!(result.errors[0].order_id.as_deref(), Some("ord-bad"));
    assert_eq!(result.errors[1].order_id, None);
    assert!(!result.errors_truncated);

    // Both orders recorded as submit-order records them, announced and settled.
    for id in ["ord-1", "ord-2"] {
        let record = world.table.table.get(id).unwrap();
        assert_eq!(record.status, Status::Received);
        assert_eq!(record.received_at, "2023-11-14T22:13:20.123Z");
        assert_eq!(record.request_hash, Some(request_hash(&order(id))));
        assert_eq!(record.settled, [Status::Received]);
    }
    assert_eq!(world.table.table.len(), 2);
    let events = world.events();
    assert_eq!(
        events
            .iter()
            .map(|(t, d)| (t.as_str(), d["order_id"].as_str().unwrap()))
            .collect::<Vec<_>>(),
        [
            (ORDER_PLACED, "ord-1"),
            (ORDER_STATUS_CHANGED, "ord-1"),
            (ORDER_PLACED, "ord-2"),
            (ORDER_STATUS_CHANGED, "ord-2"),
        ]
    );
    assert_eq!(events[0].1, order("ord-1"));
    assert_eq!(events[1].1["new_status"], "RECEIVED");
    assert_eq!(events[1].1["old_status"], Value::Null);

    // The result document's shape.
    let (_, written) = world.sink.puts.borrow()[0].clone();
    assert_eq!(written["bucket"], BUCKET);
    assert_eq!(written["key"], "imports/a.jsonl");
    assert_eq!(written["etag"], "b1946ac92492d2347c6235b4d2611184");
    assert_eq!(written["format"], "jsonl");
    assert_eq!(written["started_at"], "2023-11-14T22:13:20.123Z");
    assert!(written["finished_at"]
        .as_str()
        .unwrap()
        .starts_with("2023-11-14T22:13:"));
    assert!(written["duration_ms"].is_u64());
    assert!(written["peak_rss_bytes"].as_u64().unwrap() > 0);
    // The upload's `orderflow-upload-id` metadata, repeated for `orderflow import`.
    assert_eq!(
        written["upload_id"],
        json!(format!("upload-of-{}", written["key"].as_str().unwrap()))
    );
    assert_eq!(
        written["errors"][1],
        json!({"line": 5, "reasons": [{"code": "malformed_json",
            "message": "the line is not valid JSON: EOF while parsing a value at line 1 column 22"}]})
    );
    let mut keys: Vec<&str> = written
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "already_imported",
            "blank",
            "bucket",
            "duration_ms",
            "errors",
            "errors_truncated",
            "etag",
            "finished_at",
            "format",
            "imported",
            "invalid",
            "key",
            "lines",
            "peak_rss_bytes",
            "republished",
            "started_at",
            "upload_id"
        ]
    );
}

#[tokio::test]
async fn a_line_without_an_order_id_is_bad_and_its_other_problems_are_listed() {
    let world = World::new();
    let mut without_id = order("x");
    without_id.as_object_mut().unwrap().remove("order_id");
    let mut also_broken = without_id.clone();
    also_broken["customer_id"] = json!("");
    world.file("imports/b.jsonl", format!("{without_id}\n{also_broken}\n"));
    let result = world.import("imports/b.jsonl").await;
    assert_eq!(
        codes(&result),
        [
            (1, vec!["missing_order_id"]),
            (2, vec!["missing_order_id", "customer_id_empty"])
        ]
    );
    assert_eq!(result.counts.invalid, 2);
    assert!(world.table.table.is_empty());
    assert!(world.calls().is_empty());
}

#[tokio::test]
async fn a_repeated_id_in_one_file_is_imported_once_or_is_a_conflict() {
    let world = World::new();
    let mut other = order("ord-1");
    other["customer_id"] = json!("someone-else");
    // Line 3 repeats line 1 in the same chunk; line 15 repeats it in a later chunk (possibly in
    // flight together); line 16 has another order under the same id.
    let mut all: Vec<String> = vec![line("ord-1"), line("ord-2"), line("ord-1")];
    all.extend((3..=13).map(|i| line(&format!("ord-{i}"))));
    all.push(line("ord-1"));
    all.push(other.to_string());
    world.file("imports/dup.jsonl", all.join("\n"));
    let result = world.import("imports/dup.jsonl").await;
    assert_eq!(result.counts.imported, 13);
    assert_eq!(result.counts.already_imported, 2);
    assert_eq!(result.counts.republished, 0);
    assert_eq!(codes(&result), [(16, vec!["order_id_conflict"])]);
    assert_eq!(result.errors[0].order_id.as_deref(), Some("ord-1"));
    let placed = world
        .events()
        .into_iter()
        .filter(|(t, d)| t == ORDER_PLACED && d["order_id"] == "ord-1")
        .count();
    assert_eq!(placed, 1);
    assert_eq!(
        world
            .table
            .table
            .get("ord-1")
            .unwrap()
            .customer_id
            .as_deref(),
        Some(sample::SAMPLE_CUSTOMER_ID)
    );
}

#[tokio::test]
async fn re_importing_the_same_file_publishes_nothing_new() {
    let world = World::new();
    world.file(
        "imports/c.jsonl",
        lines((1..=12).map(|i| format!("ord-{i}"))),
    );
    let first = world.import("imports/c.jsonl").await;
    assert_eq!(first.counts.imported, 12);
    let calls = world.calls().len();
    let writes = world.table.table.writes();
    let second = world.import("imports/c.jsonl").await;
    assert_eq!(
        (
            second.counts.imported,
            second.counts.already_imported,
            second.counts.republished
        ),
        (0, 12, 0)
    );
    assert!(second.errors.is_empty());
    assert_eq!(world.calls().len(), calls);
    assert_eq!(world.table.table.writes(), writes);
}

#[tokio::test]
async fn orders_recorded_but_not_announced_are_republished_by_the_retry() {
    let world = World::new();
    world.file(
        "imports/d.jsonl",
        lines((1..=3).map(|i| format!("ord-{i}"))),
    );
    // EventBridge is down: the invocation fails after the puts, no result is written.
    world.bus.client.call_failing.set(true);
    let err = world.run("imports/d.jsonl").await.unwrap_err();
    assert_eq!(err.operation, "EventBridge PutEvents");
    assert!(world.sink.puts.borrow().is_empty());
    let stored = world.table.table.get("ord-2").unwrap();
    assert!(stored.settled.is_empty());

    // Lambda's retry: nothing written again, every order announced with its original time.
    world.bus.client.call_failing.set(false);
    let writes = world.table.table.writes();
    let result = world.import("imports/d.jsonl").await;
    assert_eq!((result.counts.republished, result.counts.imported), (3, 0));
    let events = world.events();
    assert_eq!(events.len(), 6);
    assert_eq!(events[3].0, ORDER_STATUS_CHANGED);
    assert_eq!(events[3].1["order_id"], "ord-2");
    assert_eq!(events[3].1["at"], stored.received_at.as_str());
    assert_eq!(world.table.table.writes(), writes + 3); // the three settles
    assert_eq!(
        world.table.table.get("ord-2").unwrap().settled,
        [Status::Received]
    );
    // And once settled, a third run does nothing.
    let result = world.import("imports/d.jsonl").await;
    assert_eq!(result.counts.already_imported, 3);
    assert_eq!(world.events().len(), 6);
}

#[tokio::test]
async fn an_order_received_through_the_api_and_not_settled_is_republished() {
    let world = World::new();
    let valid = order_domain::validate(&sample::valid_order(Some("ord-api".into()))).unwrap();
    // The same order, recorded by submit-order (same canonical hash), whose publish was lost.
    world.table.table.seed(OrderRecord::received(
        &valid,
        request_hash(&order("ord-api")),
        now(),
        None,
    ));
    world.file("imports/e.jsonl", line("ord-api"));
    let result = world.import("imports/e.jsonl").await;
    assert_eq!(result.counts.republished, 1);
    assert_eq!(world.events().len(), 2);
    assert!(world
        .table
        .table
        .get("ord-api")
        .unwrap()
        .is_settled(Status::Received));
}

#[tokio::test]
async fn an_id_taken_by_another_order_is_a_conflict_and_nothing_is_written() {
    let world = World::new();
    let valid = order_domain::validate(&sample::valid_order(Some("ord-9".into()))).unwrap();
    // Recorded by another path (no request hash) and under the same id with another hash.
    world
        .table
        .table
        .seed(OrderRecord::processed(&valid, "m-1", now(), None));
    let other = order_domain::validate(&sample::valid_order(Some("ord-8".into()))).unwrap();
    world
        .table
        .table
        .seed(OrderRecord::received(&other, "another-hash", now(), None));
    world.file(
        "imports/f.jsonl",
        format!("{}\n{}\n", line("ord-9"), line("ord-8")),
    );
    let result = world.import("imports/f.jsonl").await;
    assert_eq!(
        codes(&result),
        [
            (1, vec!["order_id_conflict"]),
            (2, vec!["order_id_conflict"])
        ]
    );
    assert!(result.errors[0].reasons[0].message.contains("PROCESSED"));
    assert_eq!(world.table.table.writes(), 0);
    assert!(world.calls().is_empty());
}

#[tokio::test]
async fn a_line_over_the_limit_is_skipped_with_its_length() {
    let mut world = World::new();
    world.max_line_bytes = 300;
    let long = format!(
        "{{\"order_id\": \"ord-long\", \"pad\": \"{}\"}}",
        "x".repeat(1000)
    );
    world.file(
        "imports/g.jsonl",
        format!("{}\n{long}\n{}", line("ord-1"), line("ord-2")),
    );
    let result = world.import("imports/g.jsonl").await;
    assert_eq!((result.counts.lines, result.counts.imported), (3, 2));
    assert_eq!(codes(&result), [(2, vec!["line_too_long"])]);
    assert!(
        result.errors[0].reasons[0].message.contains(&format!(
            "{} bytes long, more than the limit of 300 bytes",
            long.len()
        )),
        "{:?}",
        result.errors[0]
    );
}

#[tokio::test]
async fn a_multi_megabyte_line_is_skipped_with_flat_memory() {
    let world = World::new();
    let huge: u64 = 24 * 1024 * 1024;
    let tail = format!("\n{}\n", line("ord-after"));
    // Read straight from the import, to see the line buffer's high-water mark.
    let body = BufReader::with_capacity(64 * 1024, Generated::new(huge, b'[', tail.as_bytes()));
    let cx = world.cx();
    let imported = import::import(body, &cx.import).await.unwrap();
    assert_eq!(imported.counts.lines, 2);
    assert_eq!(imported.counts.imported, 1);
    assert!(imported.line_buffer_peak_bytes <= import::DEFAULT_MAX_LINE_BYTES);
    assert!(imported.errors[0].reasons[0]
        .message
        .contains(&format!("{huge} bytes")));
    // Through the handler as well, with a small limit.
    world.source.objects.borrow_mut().insert(
        "imports/huge.jsonl".into(),
        Content::Generated {
            len: huge,
            fill: b'x',
            tail: tail.into_bytes(),
        },
    );
    let result = world.import("imports/huge.jsonl").await;
    assert_eq!(codes(&result), [(1, vec!["line_too_long"])]);
    assert_eq!(result.counts.already_imported, 1);
}

#[tokio::test]
async fn crlf_line_ends_and_a_byte_order_mark_are_accepted() {
    let world = World::new();
    world.file(
        "imports/h.jsonl",
        format!("\u{feff}{}\r\n{}\r\n\r\n", line("ord-1"), line("ord-2")),
    );
    let result = world.import("imports/h.jsonl").await;
    assert_eq!(
        (
            result.counts.lines,
            result.counts.imported,
            result.counts.blank
        ),
        (3, 2, 1)
    );
    assert!(result.errors.is_empty(), "{:?}", result.errors);
    // The BOM only counts at the very start.
    world.file(
        "imports/h2.jsonl",
        format!("{}\n\u{feff}{}", line("ord-3"), line("ord-4")),
    );
    let result = world.import("imports/h2.jsonl").await;
    assert_eq!(codes(&result), [(2, vec!["malformed_json"])]);
}

#[tokio::test]
async fn an_empty_file_is_reported_as_such() {
    let world = World::new();
    world.file("imports/empty.jsonl", "");
    let result = world.import("imports/empty.jsonl").await;
    assert_eq!(result.counts.lines, 0);
    assert_eq!(codes(&result), [(0, vec!["empty_file"])]);
    assert!(world.calls().is_empty());
    // Only blank lines is not an empty file.
    world.file("imports/blank.jsonl", "\n  \n");
    let result = world.import("imports/blank.jsonl").await;
    assert_eq!((result.counts.lines, result.counts.blank), (2, 2));
    assert!(result.errors.is_empty());
}

#[tokio::test]
async fn binary_and_non_json_lines_content_gives_line_errors_not_a_crash() {
    let world = World::new();
    let mut binary = b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe".to_vec();
    binary.extend_from_slice(format!("\n{}\n", line("ord-1")).as_bytes());
    world.file("imports/bin.jsonl", binary);
    let result = world.import("imports/bin.jsonl").await;
    assert_eq!(result.counts.imported, 1);
    // "\x89PNG\r", "\x1a", "\0\0\xff\xfe": three bad lines, then the order.
    assert_eq!(
        codes(&result),
        [
            (1, vec!["malformed_json"]),
            (2, vec!["malformed_json"]),
            (3, vec!["malformed_json"])
        ]
    );
    assert!(result.errors[0].reasons[0]
        .message
        .contains("not UTF-8 text (invalid byte at offset 0)"));
    assert!(result.errors[1].reasons[0]
        .message
        .contains("not valid JSON"));
    assert!(result.errors[2].reasons[0]
        .message
        .contains("not UTF-8 text (invalid byte at offset 2)"));
    // A pretty-printed JSON array of orders: every non-blank line is bad.
    let array = serde_json::to_string_pretty(&json!([order("ord-1"), order("ord-2")])).unwrap();
    world.file("imports/array.jsonl", array.clone());
    let result = world.import("imports/array.jsonl").await;
    assert_eq!(result.counts.lines, array.lines().count() as u64);
    assert_eq!(result.counts.invalid, result.counts.lines);
    assert_eq!(result.counts.imported, 0);
}

#[tokio::test]
async fn result_objects_and_other_events_are_ignored() {
    let world = World::new();
    let handled = world.run("imports/a.jsonl.result.json").await.unwrap();
    assert!(matches!(handled, Handled::Ignored(_)));
    let mut other = event("imports/a.jsonl");
    other["detail-type"] = json!("Object Deleted");
    let handled = handler::handle(&other, &world.cx()).await.unwrap();
    assert!(matches!(handled, Handled::Ignored(_)));
    let handled = handler::handle(&json!({"hello": 1}), &world.cx())
        .await
        .unwrap();
    assert!(matches!(handled, Handled::Ignored(_)));
    assert_eq!(world.source.opens.get(), 0);
    assert!(world.sink.puts.borrow().is_empty());
}

#[tokio::test]
async fn a_deleted_object_is_not_an_error() {
    let world = World::new();
    assert_eq!(world.run("imports/gone.jsonl").await, Ok(Handled::Gone));
    assert!(world.sink.puts.borrow().is_empty());
}

#[tokio::test]
async fn failed_put_events_entries_are_resent() {
    let world = World::new();
    world.file("imports/i.jsonl", lines(["ord-1".into(), "ord-2".into()]));
    *world.bus.client.plan.borrow_mut() = [
        None,
        Some("InternalFailure"),
        None,
        Some("ThrottlingException"),
    ]
    .into();
    let result = world.import("imports/i.jsonl").await;
    assert_eq!(result.counts.imported, 2);
    let calls = world.calls();
    assert_eq!(calls.iter().map(Vec::len).collect::<Vec<_>>(), [4, 2]);
    assert_eq!(calls[1], [calls[0][1].clone(), calls[0][3].clone()]);
    assert!(world
        .table
        .table
        .get("ord-2")
        .unwrap()
        .is_settled(Status::Received));

    // A non-retryable entry error fails the invocation; the retry republishes.
    let world = World::new();
    world.file("imports/j.jsonl", line("ord-1"));
    *world.bus.client.plan.borrow_mut() = [Some("AccessDeniedException")].into();
    let err = world.run("imports/j.jsonl").await.unwrap_err();
    assert!(err.message.contains("AccessDeniedException"), "{err}");
    assert!(world.sink.puts.borrow().is_empty());
    assert_eq!(world.import("imports/j.jsonl").await.counts.republished, 1);
}

#[tokio::test]
async fn dependency_failures_fail_the_invocation() {
    let world = World::new();
    world.file("imports/k.jsonl", line("ord-1"));
    world.source.failing.set(true);
    assert_eq!(
        world.run("imports/k.jsonl").await.unwrap_err().operation,
        "S3 GetObject"
    );
    world.source.failing.set(false);
    world.table.failing.set(true);
    assert_eq!(
        world.run("imports/k.jsonl").await.unwrap_err().operation,
        "DynamoDB PutItem"
    );
    world.table.failing.set(false);
    world.sink.failing.set(true);
    assert_eq!(
        world.run("imports/k.jsonl").await.unwrap_err().operation,
        "S3 PutObject"
    );
    world.sink.failing.set(false);
    // A failed settle is only bookkeeping: the next run republishes.
    world.table.settle_failing.set(false);
    assert_eq!(
        world
            .import("imports/k.jsonl")
            .await
            .counts
            .already_imported,
        1
    );
    world.file("imports/l.jsonl", line("ord-2"));
    world.table.settle_failing.set(true);
    assert_eq!(world.import("imports/l.jsonl").await.counts.imported, 1);
    world.table.settle_failing.set(false);
    assert_eq!(world.import("imports/l.jsonl").await.counts.republished, 1);
}

#[tokio::test]
async fn the_error_list_stops_at_ten_thousand_entries() {
    let world = World::new();
    let mut text = "not json\n".repeat(MAX_ERRORS + 7);
    text.push_str(&line("ord-last"));
    world.file("imports/m.jsonl", text);
    let result = world.import("imports/m.jsonl").await;
    assert_eq!(result.counts.invalid, (MAX_ERRORS + 7) as u64);
    assert_eq!(result.counts.imported, 1);
    assert_eq!(result.errors.len(), MAX_ERRORS);
    assert_eq!(result.errors.last().unwrap().line, MAX_ERRORS as u64);
    assert!(result.errors_truncated);
}

#[tokio::test]
async fn twenty_five_orders_take_the_fewest_put_events_calls() {
    let world = World::new();
    world.file(
        "imports/n.jsonl",
        lines((1..=25).map(|i| format!("ord-{i:02}"))),
    );
    let result = world.import("imports/n.jsonl").await;
    assert_eq!(result.counts.imported, 25);
    // Chunks of 10, 10 and 5 orders: 20, 20 and 10 events, in calls of 10.
    let calls = world.calls();
    assert_eq!(
        calls.iter().map(Vec::len).collect::<Vec<_>>(),
        [10, 10, 10, 10, 10]
    );
    for call in &calls {
        // Each order's two events travel together.
        for pair in call.chunks(2) {
            assert_eq!(
                (pair[0].0.as_str(), pair[1].0.as_str()),
                (ORDER_PLACED, ORDER_STATUS_CHANGED)
            );
            assert_eq!(pair[0].1["order_id"], pair[1].1["order_id"]);
        }
    }
}

#[tokio::test]
async fn puts_run_concurrently_with_at_most_four_chunks_in_flight() {
    let world = World::new();
    world.table.yields.set(3);
    world.file(
        "imports/o.jsonl",
        lines((1..=200).map(|i| format!("ord-{i}"))),
    );
    let result = world.import("imports/o.jsonl").await;
    assert_eq!(result.counts.imported, 200);
    let peak = world.table.inserts_peak.get();
    assert!(
        peak > import::CHUNK_ORDERS,
        "puts of several chunks overlap: {peak}"
    );
    assert!(
        peak <= import::CHUNK_ORDERS * import::CHUNKS_IN_FLIGHT,
        "{peak}"
    );
}
