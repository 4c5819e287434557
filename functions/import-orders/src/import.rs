//! Importing one order file, independent of AWS: the table goes through [`OrderTable`], the bus
//! through [`EventBus`] and the file is any [`AsyncBufRead`], read as JSON Lines ([`import`])
//! or CSV ([`import_csv`], see [`crate::csv`]). Both formats come down to [`Entries`]: each
//! order as JSON, checked by [`check_order`] (so a CSV order gets the same rules, reasons and
//! request hash as the same order on a JSON line), blank lines and bad lines.
//!
//! Valid orders are recorded and announced in chunks of [`CHUNK_ORDERS`]: the conditional puts
//! of a chunk run concurrently, then its events go out in as few PutEvents calls as possible
//! (two events per order, at most 10 entries a call), then the RECEIVED changes are settled. At
//! most [`CHUNKS_IN_FLIGHT`] chunks are in flight while the next lines are read, so memory
//! depends on neither the file's size nor its number of orders (only the bad-line report grows,
//! up to its cap). Two lines with the same order id are never in flight together: the later
//! one waits for the earlier one's chunk, so it finds the order recorded and announced.

use std::time::SystemTime;

use futures::future::LocalBoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use order_domain::dynamodb::Insert;
use order_domain::item::{OrderRecord, Status};
use order_domain::{BusEvent, OrderStatusChanged, ReasonCode, ValidOrder};
use serde_json::Value;
use tokio::io::AsyncBufRead;

use crate::lines::{Line, LineReader};
use crate::report::{Counts, ErrorList, LineError, LineReason};
use order_domain::request_hash::request_hash;

/// Valid orders per chunk (their conditional puts run concurrently).
pub const CHUNK_ORDERS: usize = 10;
/// Chunks being recorded and announced at once.
pub const CHUNKS_IN_FLIGHT: usize = 4;
/// Default of `IMPORT_MAX_LINE_BYTES`.
pub const DEFAULT_MAX_LINE_BYTES: usize = 256 * 1024;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// A failed call to S3, DynamoDB or EventBridge (after its retries): the invocation fails and
/// Lambda retries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyError {
    /// e.g. "DynamoDB PutItem".
    pub operation: &'static str,
    pub message: String,
}

impl std::fmt::Display for DependencyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failed: {}", self.operation, self.message)
    }
}

impl std::error::Error for DependencyError {}

/// The orders table as the import uses it (as submit-order does).
pub trait OrderTable {
    /// The conditional put of a RECEIVED record: stored unless the order id is taken.
    async fn insert_if_absent(&self, record: &OrderRecord) -> Result<Insert, DependencyError>;
    /// Records that `status`'s `OrderStatusChanged` event is published.
    async fn settle(&self, order_id: &str, status: Status) -> Result<(), DependencyError>;
}

/// The pipeline's bus.
pub trait EventBus {
    /// Publishes every event (in calls of at most 10 entries, failed entries resent); any
    /// entry still failing is an error.
    async fn publish(&self, events: &[BusEvent]) -> Result<(), DependencyError>;
}

/// What an import needs besides the file.
pub struct Context<'a, T, B> {
    pub table: &'a T,
    pub bus: &'a B,
    /// The time recorded as the orders' `received_at`.
    pub now: SystemTime,
    pub ttl_days: Option<u32>,
    pub max_line_bytes: usize,
    /// Most bad lines listed ([`crate::report::MAX_ERRORS`] in the function).
    pub max_errors: usize,
}

/// What became of a file's lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub counts: Counts,
    pub errors: Vec<LineError>,
    pub errors_truncated: bool,
    /// The largest the line buffer grew (at most `max_line_bytes`), for the summary log.
    pub line_buffer_peak_bytes: usize,
}

/// A valid order of the file, waiting for its chunk.
pub(crate) struct Pending {
    line: u64,
    order: ValidOrder,
    request_hash: String,
}

/// One entry of a file: a line of JSON Lines; a row or an order of CSV.
pub(crate) enum Parsed {
    Blank,
    Bad(LineError),
    Valid(Pending),
}

/// What one chunk did.
#[derive(Default)]
struct ChunkDone {
    id: u64,
    imported: u64,
    republished: u64,
    already_imported: u64,
    conflicts: Vec<LineError>,
}

/// The state of one import: counts, bad lines and the chunks in flight (with their order ids).
struct Run<'c, T, B> {
    cx: &'c Context<'c, T, B>,
    counts: Counts,
    errors: ErrorList,
    in_flight: FuturesUnordered<LocalBoxFuture<'c, Result<ChunkDone, DependencyError>>>,
    busy_ids: Vec<(u64, Vec<String>)>,
    next_chunk: u64,
}

/// A file's entries in the order they become known.
pub(crate) trait Entries {
    /// The next entry, `None` at the end. Cancel safe: it races the chunks in flight.
    async fn next_entry(&mut self) -> std::io::Result<Option<Parsed>>;
    /// Physical lines read.
    fn lines(&self) -> u64;
    /// The largest the reading buffer grew (at most `max_line_bytes`).
    fn peak_buffer_capacity(&self) -> usize;
}

/// The lines of a JSON Lines file.
struct JsonLines<R> {
    lines: LineReader<R>,
    number: u64,
    max_line_bytes: usize,
}

impl<R: AsyncBufRead + Unpin> Entries for JsonLines<R> {
    async fn next_entry(&mut self) -> std::io::Result<Option<Parsed>> {
        // Cancel safe: `next_line` is, and nothing changes here before it returns.
        let Some(line) = self.lines.next_line().await? else {
            return Ok(None);
        };
        self.number += 1;
        Ok(Some(parse_line(self.number, line, self.max_line_bytes)))
    }

    fn lines(&self) -> u64 {
        self.lines.lines()
    }

    fn peak_buffer_capacity(&self) -> usize {
        self.lines.peak_buffer_capacity()
    }
}

/// Imports every line of the JSON Lines file `reader`. Per-line problems are reported in the
/// result; only a read, DynamoDB or EventBridge failure is an error (the chunks then in flight
/// are abandoned: a retry of the whole file finishes them, see [`process_chunk`]).
pub async fn import<'c, R, T, B>(
    reader: R,
    cx: &'c Context<'c, T, B>,
) -> Result<Imported, DependencyError>
where
    R: AsyncBufRead + Unpin,
    T: OrderTable,
    B: EventBus,
{
    let lines = JsonLines {
        lines: LineReader::new(reader, cx.max_line_bytes),
        number: 0,
        max_line_bytes: cx.max_line_bytes,
    };
    import_entries(lines, cx).await
}

/// Imports every order of the CSV file `reader` ([`crate::csv`]), as [`import`] does.
pub async fn import_csv<'c, R, T, B>(
    reader: R,
    cx: &'c Context<'c, T, B>,
) -> Result<Imported, DependencyError>
where
    R: AsyncBufRead + Unpin,
    T: OrderTable,
    B: EventBus,
{
    import_entries(crate::csv::CsvEntries::new(reader, cx.max_line_bytes), cx).await
}

async fn import_entries<'c, E, T, B>(
    mut entries: E,
    cx: &'c Context<'c, T, B>,
) -> Result<Imported, DependencyError>
where
    E: Entries,
    T: OrderTable,
    B: EventBus,
{
    let mut run = Run {
        cx,
        counts: Counts::default(),
        errors: ErrorList::new(cx.max_errors),
        in_flight: FuturesUnordered::new(),
        busy_ids: Vec::new(),
        next_chunk: 0,
    };
    let mut chunk: Vec<Pending> = Vec::with_capacity(CHUNK_ORDERS);
    loop {
        // Read the next entry while the chunks in flight progress.
        let next = if run.in_flight.is_empty() {
            entries.next_entry().await
        } else {
            tokio::select! {
                biased;
                Some(done) = run.in_flight.next() => {
                    run.merge(done?);
                    continue;
                }
                entry = entries.next_entry() => entry,
            }
        };
        let entry = next.map_err(|err| DependencyError {
            operation: "S3 GetObject",
            message: format!("reading the object failed: {err}"),
        })?;
        let Some(entry) = entry else { break };
        match entry {
            Parsed::Blank => run.counts.blank += 1,
            Parsed::Bad(error) => run.bad(error),
            Parsed::Valid(pending) => {
                if chunk
                    .iter()
                    .any(|p| p.order.order_id() == pending.order.order_id())
                {
                    // The same id twice in a chunk: the later one goes in the next chunk.
                    run.submit(std::mem::take(&mut chunk)).await?;
                }
                chunk.push(pending);
                if chunk.len() == CHUNK_ORDERS {
                    run.submit(std::mem::replace(
                        &mut chunk,
                        Vec::with_capacity(CHUNK_ORDERS),
                    ))
                    .await?;
                }
            }
        }
    }
    if !chunk.is_empty() {
        run.submit(chunk).await?;
    }
    while let Some(done) = run.in_flight.next().await {
        run.merge(done?);
    }
    run.counts.lines = entries.lines();
    if run.counts.lines == 0 {
        run.errors.push(LineError::new(
            0,
            None,
            vec![LineReason::new(
                "empty_file",
                "the object is empty: there is no order to import",
            )],
        ));
    }
    let (errors, errors_truncated) = run.errors.finish();
    Ok(Imported {
        counts: run.counts,
        errors,
        errors_truncated,
        line_buffer_peak_bytes: entries.peak_buffer_capacity(),
    })
}

impl<'c, T: OrderTable, B: EventBus> Run<'c, T, B> {
    fn bad(&mut self, error: LineError) {
        self.counts.invalid += 1;
        self.errors.push(error);
    }

    fn merge(&mut self, done: ChunkDone) {
        self.busy_ids.retain(|(id, _)| *id != done.id);
        self.counts.imported += done.imported;
        self.counts.republished += done.republished;
        self.counts.already_imported += done.already_imported;
        for conflict in done.conflicts {
            self.bad(conflict);
        }
    }

    /// Puts `chunk` in flight once there is room and no chunk in flight holds one of its ids.
    async fn submit(&mut self, chunk: Vec<Pending>) -> Result<(), DependencyError> {
        let ids: Vec<String> = chunk
            .iter()
            .map(|p| p.order.order_id().to_owned())
            .collect();
        while self.in_flight.len() >= CHUNKS_IN_FLIGHT
            || self
                .busy_ids
                .iter()
                .any(|(_, busy)| busy.iter().any(|id| ids.contains(id)))
        {
            let Some(done) = self.in_flight.next().await else {
                break;
            };
            self.merge(done?);
        }
        let id = self.next_chunk;
        self.next_chunk += 1;
        self.busy_ids.push((id, ids));
        self.in_flight
            .push(Box::pin(process_chunk(id, chunk, self.cx)));
        Ok(())
    }
}

/// Records and announces one chunk of valid orders, as submit-order does for a body with an
/// `order_id`:
/// - stored: `OrderPlaced` + `OrderStatusChanged(RECEIVED)` published, then settled;
/// - taken by the same order (same request hash), still RECEIVED and its change not settled:
///   published again (an earlier run may have failed before publishing; consumers are
///   idempotent), then settled — `republished`;
/// - taken by the same order otherwise: nothing — `already_imported`;
/// - taken by another order: `order_id_conflict`, nothing written or published.
async fn process_chunk<T: OrderTable, B: EventBus>(
    id: u64,
    chunk: Vec<Pending>,
    cx: &Context<'_, T, B>,
) -> Result<ChunkDone, DependencyError> {
    let records: Vec<OrderRecord> = chunk
        .iter()
        .map(|p| OrderRecord::received(&p.order, &p.request_hash, cx.now, cx.ttl_days))
        .collect();
    let inserts =
        futures::future::join_all(records.iter().map(|r| cx.table.insert_if_absent(r))).await;
    let mut done = ChunkDone {
        id,
        ..ChunkDone::default()
    };
    let mut events = Vec::with_capacity(2 * chunk.len());
    let mut to_settle = Vec::new();
    for ((pending, record), insert) in chunk.iter().zip(&records).zip(inserts) {
        match insert? {
            Insert::Stored => {
                events.push(BusEvent::OrderPlaced(pending.order.order().clone()));
                events.push(BusEvent::StatusChanged(OrderStatusChanged::for_transition(
                    record, None, None,
                )));
                to_settle.push(record.order_id.as_str());
                done.imported += 1;
            }
            Insert::AlreadyExists {
                existing: Some(existing),
            } if existing.request_hash.as_deref() == Some(pending.request_hash.as_str()) => {
                if existing.status == Status::Received && !existing.is_settled(Status::Received) {
                    events.push(BusEvent::OrderPlaced(pending.order.order().clone()));
                    if let Some(change) = OrderStatusChanged::replay(&existing, Status::Received) {
                        events.push(BusEvent::StatusChanged(change));
                        to_settle.push(record.order_id.as_str());
                    }
                    done.republished += 1;
                } else {
                    done.already_imported += 1;
                }
            }
            Insert::AlreadyExists { existing } => {
                let message = match existing {
                    Some(existing) => format!(
                        "order {} already exists ({}) with different contents; give this order another order_id",
                        record.order_id, existing.status
                    ),
                    None => format!(
                        "order {} already exists and could not be compared with this line; give this order another order_id",
                        record.order_id
                    ),
                };
                done.conflicts.push(LineError::new(
                    pending.line,
                    Some(record.order_id.clone()),
                    vec![LineReason::new("order_id_conflict", message)],
                ));
            }
        }
    }
    if !events.is_empty() {
        cx.bus.publish(&events).await?;
    }
    let settled = futures::future::join_all(
        to_settle
            .iter()
            .map(|order_id| cx.table.settle(order_id, Status::Received)),
    )
    .await;
    for (order_id, result) in to_settle.iter().zip(settled) {
        // Bookkeeping: if it fails, a re-run publishes the order once more.
        if let Err(err) = result {
            tracing::warn!(order_id, error = %err, "could not mark the RECEIVED event as published");
        }
    }
    Ok(done)
}

/// Classifies physical line `number` (1-based).
fn parse_line(number: u64, line: Line<'_>, max_line_bytes: usize) -> Parsed {
    let bytes = match line {
        Line::TooLong { bytes } => {
            return Parsed::Bad(LineError::new(
                number,
                None,
                vec![LineReason::new(
                    "line_too_long",
                    format!(
                        "the line is {bytes} bytes long, more than the limit of {max_line_bytes} bytes (IMPORT_MAX_LINE_BYTES); it was skipped"
                    ),
                )],
            ))
        }
        Line::Text(bytes) => bytes,
    };
    let bytes = if number == 1 {
        bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes)
    } else {
        bytes
    };
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Parsed::Blank;
    }
    let bad = |order_id: Option<&str>, reasons: Vec<LineReason>| {
        Parsed::Bad(LineError::new(number, order_id.map(str::to_owned), reasons))
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            return bad(
                None,
                vec![LineReason::new(
                    ReasonCode::MalformedJson.as_str(),
                    format!(
                        "the line is not UTF-8 text (invalid byte at offset {})",
                        err.valid_up_to()
                    ),
                )],
            )
        }
    };
    check_order(number, text, Vec::new())
}

/// Checks the order JSON `text` of entry `number` as `POST /orders` would, plus the import's
/// own rule (an `order_id` is required); `reasons`: problems found before (a CSV order's rows
/// disagreeing), which make the entry bad whatever its JSON.
pub(crate) fn check_order(number: u64, text: &str, mut reasons: Vec<LineReason>) -> Parsed {
    let bad = |order_id: Option<&str>, reasons: Vec<LineReason>| {
        Parsed::Bad(LineError::new(number, order_id.map(str::to_owned), reasons))
    };
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(err) => {
            return bad(
                None,
                vec![LineReason::new(
                    ReasonCode::MalformedJson.as_str(),
                    format!("the line is not valid JSON: {err}"),
                )],
            )
        }
    };
    let order_id = order_domain::usable_order_id(&value);
    let checked = match value.as_object() {
        Some(object) if !object.contains_key("order_id") => {
            reasons.push(LineReason::new(
                "missing_order_id",
                "an imported order must have an order_id (it tells a re-uploaded order from a new one)",
            ));
            // Check the rest with a stand-in id, which is never stored.
            let mut with_id = value.clone();
            if let Some(object) = with_id.as_object_mut() {
                object.insert("order_id".into(), Value::String(STAND_IN_ORDER_ID.into()));
            }
            order_domain::check_json_source(&with_id, text)
        }
        _ => order_domain::check_json_source(&value, text),
    };
    match checked {
        Ok(order) if reasons.is_empty() => Parsed::Valid(Pending {
            line: number,
            order,
            request_hash: request_hash(&value),
        }),
        Ok(_) => bad(order_id, reasons),
        Err(violations) => {
            reasons.extend(
                violations
                    .into_iter()
                    .map(|v| LineReason::new(v.reason.code.as_str(), v.reason.message)),
            );
            bad(order_id, reasons)
        }
    }
}

/// Stands in for the missing order id of a line while its other fields are checked.
const STAND_IN_ORDER_ID: &str = "ord-missing";
