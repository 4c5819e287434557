//! import-orders: imports partners' order files into the order pipeline, exactly as
//! `POST /orders` (submit-order) would one order at a time.
//!
//! # Trigger
//! Invoked asynchronously by an EventBridge rule for S3 `Object Created` events (`source`
//! `aws.s3`, `detail-type` `Object Created`; the bucket needs EventBridge notifications on)
//! under the import prefix (e.g. `imports/`). The function reads `detail.bucket.name`,
//! `detail.object.key` (not URL-encoded in EventBridge events), `detail.object.size` and
//! `detail.object.etag`. Other events are logged and ignored.
//!
//! # Environment
//! - `ORDERS_TABLE`, `EVENT_BUS_NAME` (required), `ORDER_TTL_DAYS` (optional), as submit-order.
//! - `IMPORT_MAX_LINE_BYTES` (optional, default 262144, at most 64 MiB): longest line imported.
//!
//! # Behaviour
//! 1. Keys ending in `.result.json` are ignored (one log line): results never trigger imports.
//! 2. The object is streamed (GetObject) and split into lines through a buffer bounded by
//!    `IMPORT_MAX_LINE_BYTES`; the file is never held in memory. A longer line is skipped
//!    without being buffered (bad line `line_too_long`, with its length in bytes).
//! 3. JSON Lines: one order per line, the `Order` JSON `orderflow send-order --file` takes.
//!    Blank / whitespace-only lines are counted as `blank`; a trailing `\r` is stripped and a
//!    UTF-8 BOM at the start skipped. Each line is parsed and validated with order-domain (every
//!    violation reported, with order-domain's codes; at most 100 per line). A line without an
//!    `order_id` is bad (`missing_order_id`): ids tell re-uploaded orders from new ones.
//!    CSV (keys ending in `.csv`, any case; format in order-domain's `csv` module): a header
//!    row naming the columns (`order_id`, `customer_id`, `customer_email` (optional),
//!    `currency`, `total_minor`, `sku`, `quantity`, `unit_price_minor`, in any order; an
//!    unknown, missing or repeated one refuses the file: one error at the header's line,
//!    nothing read after it), then one
//!    row per line item; consecutive rows with the same `order_id` are one order, whose order
//!    columns must agree (`order_rows_differ`). Records are split through a buffer bounded by
//!    `IMPORT_MAX_LINE_BYTES` (a longer row: `line_too_long`), and an order longer than that as
//!    JSON is `line_too_long` too. Each order is turned into the JSON a JSON line would hold
//!    and checked exactly as one (same rules, reasons and request hash), reported at the line
//!    of its first row; an unreadable row (`malformed_csv`, `wrong_field_count`) at its own
//!    line. Rows of an order id seen earlier, after other orders, are refused
//!    (`order_rows_not_consecutive`, for the first 500,000 ids of a file).
//! 4. Each valid order as submit-order handles a body with `order_id`: a conditional put of the
//!    RECEIVED record with the request hash of the canonical order JSON (the same hash
//!    submit-order stores). Stored → `OrderPlaced` + `OrderStatusChanged(RECEIVED)` published,
//!    then settled: `imported`. Id taken with the same hash → if the record is still RECEIVED
//!    and not settled, published again and settled (`republished`), else nothing
//!    (`already_imported`). Id taken with another hash → bad line `order_id_conflict`.
//!    Within a file, a repeated id is handled after its first occurrence is done.
//! 5. Chunks of 10 valid orders: their puts run concurrently, their 20 events go in 2 PutEvents
//!    calls of 10 (order-domain's `put_all`, failed entries resent with backoff), at most 4
//!    chunks in flight while reading goes on. Memory does not grow with the file, except the
//!    bad-line report.
//! 6. The result is written as `<key>.result.json` (application/json):
//!    `{bucket, key, etag, format, lines, blank, imported, republished, already_imported,
//!    invalid, errors: [{line, order_id?, reasons: [{code, message}]}], errors_truncated,
//!    started_at, finished_at, duration_ms, peak_rss_bytes}` with at most 10,000 `errors` (the
//!    lowest line numbers; `invalid` counts all). `lines` = `blank` + `imported` +
//!    `republished` + `already_imported` + `invalid`. An empty object has `lines` 0 and one
//!    error `{line: 0, reasons: [{code: "empty_file"}]}`. One JSON summary line is logged.
//! 7. Per-line problems never fail the invocation. A dependency failure (S3 read, DynamoDB or
//!    EventBridge after retries, writing the result) does: Lambda's async retries (then the
//!    DLQ) re-run the whole file, idempotently by 4. A GetObject `NoSuchKey` (the object was
//!    deleted since the event) is logged and the invocation succeeds.

mod aws;
mod bus;
mod csv;
mod handler;
mod import;
mod lines;
mod report;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::SystemTime;

use aws_config::BehaviorVersion;
use lambda_runtime::{service_fn, LambdaEvent};
use order_domain::eventbridge::{Backoff, TokioClock};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    order_domain::runtime::init_json_logging();
    let config = aws::Config::from_env().map_err(|message| {
        tracing::error!(error = %message, "invalid configuration");
        message
    })?;
    // Honours AWS_ENDPOINT_URL, which is how the local emulator routes calls back to itself.
    let sdk_config = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let table = Arc::new(aws::DynamoTable {
        client: aws_sdk_dynamodb::Client::new(&sdk_config),
        name: config.table_name,
    });
    let bus = Arc::new(bus::PutAllBus {
        client: aws_sdk_eventbridge::Client::new(&sdk_config),
        clock: TokioClock,
        bus_name: config.event_bus_name,
        backoff: Backoff::FUNCTION,
    });
    let s3 = Arc::new(aws::S3 {
        client: aws_sdk_s3::Client::new(&sdk_config),
    });
    let ttl_days = config.ttl_days;
    let max_line_bytes = config.max_line_bytes;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let table = Arc::clone(&table);
        let bus = Arc::clone(&bus);
        let s3 = Arc::clone(&s3);
        async move {
            let cx = handler::Context {
                import: import::Context {
                    table: &*table,
                    bus: &*bus,
                    now: SystemTime::now(),
                    ttl_days,
                    max_line_bytes,
                    max_errors: report::MAX_ERRORS,
                },
                source: &*s3,
                sink: &*s3,
            };
            match handler::handle(&event.payload, &cx).await {
                Ok(_) => Ok::<(), lambda_runtime::Error>(()),
                Err(err) => {
                    tracing::error!(error = %err, "import failed; Lambda retries the whole file");
                    Err(err.into())
                }
            }
        }
    }))
    .await
}
