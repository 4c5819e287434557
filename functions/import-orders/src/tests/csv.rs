//! The CSV cases: the same contract as JSON Lines, an order per group of consecutive rows.

use super::*;
use order_domain::csv::{header_row, write_order};
use order_domain::sample::OrderBuilder;

const HEADER: &str =
    "order_id,customer_id,customer_email,currency,total_minor,sku,quantity,unit_price_minor\n";

/// A CSV file of `orders` (order JSON), as `sample-orders --format csv` writes it.
fn csv_of(orders: &[Value]) -> String {
    let mut text = header_row();
    for order in orders {
        write_order(order, &mut text);
    }
    text
}

fn csv_ids(ids: impl IntoIterator<Item = String>) -> String {
    csv_of(&ids.into_iter().map(|id| order(&id)).collect::<Vec<_>>())
}

#[tokio::test]
async fn a_csv_file_imports_each_order_as_its_json_line_would() {
    let world = World::new();
    // Two rows per sample order (SKU-1 and SKU-2), quoted cells, a header in another order.
    let quoted = OrderBuilder::new()
        .order_id("ord-q")
        .customer_id("cust, \"q\"")
        .customer_email("q@example.com")
        .item("SKU\nTWO-LINES", 3, 100)
        .build();
    let quoted = serde_json::to_value(quoted).unwrap();
    let text = format!(
        "\u{feff}{}\r\n{}",
        "sku,quantity,unit_price_minor,order_id,customer_id,currency,total_minor,customer_email",
        concat!(
            "SKU-1,2,1250,ord-1,cust-sample,EUR,2999,\r\n",
            "SKU-2,1,499,ord-1,cust-sample,EUR,2999,\r\n",
            ",,,,,,,\r\n",
            "\"SKU\nTWO-LINES\",3,100,ord-q,\"cust, \"\"q\"\"\",EUR,300,q@example.com\r\n",
            "SKU-1,2,1250,ord-2,cust-sample,EUR,2999,\r\n",
            "SKU-2,1,499,ord-2,cust-sample,EUR,2999,\r\n",
        )
    );
    world.file("imports/a.csv", text);
    let result = world.import("imports/a.csv").await;
    assert_eq!(result.format, "csv");
    assert!(result.errors.is_empty(), "{:?}", result.errors);
    assert_eq!(
        (
            result.counts.lines,
            result.counts.blank,
            result.counts.imported,
            result.counts.invalid
        ),
        (8, 1, 3, 0)
    );
    // Recorded with the JSON line's request hash, announced with the same detail.
    for (id, json) in [("ord-1", order("ord-1")), ("ord-q", quoted.clone())] {
        let record = world.table.table.get(id).unwrap();
        assert_eq!(record.request_hash, Some(request_hash(&json)));
        assert_eq!(record.settled, [Status::Received]);
    }
    let placed: Vec<Value> = world
        .events()
        .into_iter()
        .filter(|(t, _)| t == ORDER_PLACED)
        .map(|(_, d)| d)
        .collect();
    assert_eq!(placed, [order("ord-1"), quoted, order("ord-2")]);
    let (_, written) = world.sink.puts.borrow()[0].clone();
    assert_eq!(written["format"], "csv");
    assert_eq!(written["key"], "imports/a.csv");

    // The same orders as JSON Lines are the same submissions: nothing new.
    world.file("imports/a.jsonl", lines(["ord-1".into(), "ord-2".into()]));
    let again = world.import("imports/a.jsonl").await;
    assert_eq!(
        (again.counts.imported, again.counts.already_imported),
        (0, 2)
    );
}

#[tokio::test]
async fn bad_rows_and_orders_are_reported_at_their_line_numbers() {
    let world = World::new();
    let text = format!(
        "{HEADER}{}",
        concat!(
            // 2-3: an order breaking two rules, reported at its first row.
            "ord-bad,cust-1,,eur,1,SKU-1,2,1250\n",
            "ord-bad,cust-1,,eur,1,SKU-2,1,499\n",
            // 4: fewer fields than the header.
            "ord-short,cust-1,,EUR,5\n",
            // 5-6: a quoted line break, then a stray quote: malformed, at line 5.
            "ord-m,\"cust\n1\",,EUR,5,\"A\"B,1,5\n",
            // 7-8: the rows disagree on the currency.
            "ord-d,cust-1,,EUR,10,A,1,5\n",
            "ord-d,cust-1,,USD,10,B,1,5\n",
            // 9: no order id, no customer id.
            ",,,EUR,5,A,1,5\n",
            // 10: not a number.
            "ord-n,cust-1,,EUR,5,A,two,5\n",
            // 11: good.
            "ord-ok,cust-1,,EUR,5,A,1,5\n",
        )
    );
    world.file("imports/b.csv", text);
    let result = world.import("imports/b.csv").await;
    assert_eq!(
        codes(&result),
        [
            (2, vec!["currency_invalid", "total_mismatch"]),
            (4, vec!["wrong_field_count"]),
            (5, vec!["malformed_csv"]),
            (7, vec!["order_rows_differ"]),
            (9, vec!["missing_order_id", "missing_field"]),
            (10, vec!["wrong_type"]),
        ]
    );
    assert_eq!(
        (
            result.counts.lines,
            result.counts.imported,
            result.counts.invalid
        ),
        (11, 1, 6)
    );
    assert_eq!(result.errors[0].order_id.as_deref(), Some("ord-bad"));
    assert_eq!(result.errors[3].order_id.as_deref(), Some("ord-d"));
    assert_eq!(
        result.errors[3].reasons[0].message,
        "currency is \"USD\" on line 8 but \"EUR\" on the order's first row (line 7): the rows of an order must agree on order_id, customer_id, customer_email, currency, total_minor"
    );
    assert_eq!(
        result.errors[2].reasons[0].message,
        "line 6: text after the closing quote of a field"
    );
    // The messages are order-domain's, as for a JSON line.
    assert!(result.errors[5].reasons[0]
        .message
        .contains("items[0].quantity"));
    assert_eq!(world.table.table.len(), 1);
    assert!(world.table.table.get("ord-ok").is_some());
}

#[tokio::test]
async fn a_header_with_unknown_or_missing_columns_refuses_the_file() {
    let world = World::new();
    world.file(
        "imports/h.csv",
        format!(
            "order_id,customer,currency,total_minor,sku,quantity,unit_price_minor,colour\n{}",
            "ord-1,c,EUR,5,A,1,5,red\n".repeat(50)
        ),
    );
    let result = world.import("imports/h.csv").await;
    assert_eq!(
        codes(&result),
        [(
            1,
            vec!["unknown_column", "unknown_column", "missing_column"]
        )]
    );
    assert_eq!(
        result.errors[0].reasons[2].message,
        "the header has no customer_id column (required)"
    );
    // The rows were not read, nothing written.
    assert_eq!((result.counts.lines, result.counts.invalid), (1, 1));
    assert_eq!(world.table.table.writes(), 0);
    assert!(world.calls().is_empty());

    // A duplicated column likewise; an empty file is empty; a header alone is no error.
    world.file("imports/d.csv", HEADER.replace("sku", "currency"));
    let result = world.import("imports/d.csv").await;
    assert_eq!(
        codes(&result),
        [(1, vec!["duplicate_column", "missing_column"])]
    );
    world.file("imports/e.csv", "");
    assert_eq!(
        codes(&world.import("imports/e.csv").await),
        [(0, vec!["empty_file"])]
    );
    world.file("imports/f.csv", HEADER);
    let result = world.import("imports/f.csv").await;
    assert!(result.errors.is_empty());
    assert_eq!((result.counts.lines, result.counts.invalid), (1, 0));
}

#[tokio::test]
async fn re_importing_a_csv_file_creates_nothing_new() {
    let world = World::new();
    world.file(
        "imports/r.csv",
        csv_ids((1..=12).map(|i| format!("ord-{i}"))),
    );
    let first = world.import("imports/r.csv").await;
    assert_eq!((first.counts.imported, first.counts.lines), (12, 25));
    let calls = world.calls().len();
    let writes = world.table.table.writes();
    let second = world.import("imports/r.csv").await;
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
async fn an_orders_rows_after_other_orders_are_refused() {
    let world = World::new();
    let text = format!(
        "{HEADER}{}",
        concat!(
            "ord-1,c,,EUR,2999,SKU-1,2,1250\n",
            "ord-2,c,,EUR,5,A,1,5\n",
            "ord-1,c,,EUR,2999,SKU-2,1,499\n",
            "ord-3,c,,EUR,5,A,1,5\n",
        )
    );
    world.file("imports/n.csv", text);
    let result = world.import("imports/n.csv").await;
    // ord-1's first part lacks an item (its total says so); its later row is refused.
    assert_eq!(
        codes(&result),
        [
            (2, vec!["total_mismatch"]),
            (4, vec!["order_rows_not_consecutive"])
        ]
    );
    assert_eq!(result.errors[1].order_id.as_deref(), Some("ord-1"));
    assert_eq!(result.counts.imported, 2);
    assert!(world.table.table.get("ord-1").is_none());
}

#[tokio::test]
async fn rows_and_orders_over_the_limit_are_skipped_with_flat_memory() {
    let world = World::new();
    // A 24 MiB quoted cell (with a comma and a line break at its end) inside the file.
    let huge: u64 = 24 * 1024 * 1024;
    let prefix = format!("{HEADER}ord-1,c,,EUR,5,\"");
    let tail = format!(
        ",\n\",1,5\n{}",
        csv_ids(["ord-after".to_string()])
            .split_once('\n')
            .unwrap()
            .1
    );
    let body = tokio::io::AsyncReadExt::chain(
        std::io::Cursor::new(prefix.clone().into_bytes()),
        Generated::new(huge, b'x', tail.as_bytes()),
    );
    let cx = world.cx();
    let imported = import::import_csv(BufReader::with_capacity(64 * 1024, body), &cx.import)
        .await
        .unwrap();
    assert_eq!(imported.counts.imported, 1);
    assert!(imported.line_buffer_peak_bytes <= import::DEFAULT_MAX_LINE_BYTES);
    assert_eq!(imported.errors.len(), 1);
    assert_eq!(imported.errors[0].line, 2);
    assert_eq!(imported.errors[0].reasons[0].code, "line_too_long");
    let row_bytes = prefix.len() as u64 - HEADER.len() as u64 + huge + 7;
    assert!(
        imported.errors[0].reasons[0]
            .message
            .contains(&format!("the row is {row_bytes} bytes long")),
        "{:?}",
        imported.errors[0]
    );
    // Lines: header, the row's two, the order's two.
    assert_eq!(imported.counts.lines, 5);

    // An order whose rows add up to more than the limit as JSON.
    let mut world = World::new();
    world.max_line_bytes = 500;
    let rows = "ord-big,c,,EUR,5,A,1,5\n".repeat(30);
    world.file(
        "imports/big.csv",
        format!("{HEADER}{rows}{}", "ord-2,c,,EUR,5,A,1,5\n"),
    );
    let result = world.import("imports/big.csv").await;
    assert_eq!(codes(&result), [(2, vec!["line_too_long"])]);
    assert!(result.errors[0].reasons[0]
        .message
        .starts_with("the order (lines 2–31) is "));
    assert_eq!(result.counts.imported, 1);
}
