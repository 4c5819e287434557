//! The contract of `main.rs`, checked through `handler::handle` with in-memory fakes: the
//! orders table is order-domain's `MemoryTable`, the bus is the real `PutAllBus` (order-domain's
//! `put_all`) over a fake PutEvents call and a clock that never sleeps. The fakes are here, the
//! cases in `contract`.

mod contract;
mod csv;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use order_domain::dynamodb::Insert;
use order_domain::eventbridge::{Backoff, Clock, EntryResult, PublishError, PutEvents};
use order_domain::item::{OrderRecord, Status};
use order_domain::memory::{Inserted, MemoryTable};
use order_domain::{sample, ORDER_PLACED, ORDER_STATUS_CHANGED};
use serde_json::{json, Value};
use tokio::io::{AsyncBufRead, BufReader};

use crate::bus::PutAllBus;
use crate::handler::{self, Handled, ObjectSource, Opened, ResultSink};
use crate::import::{self, DependencyError, OrderTable};
use crate::lines::tests::Generated;
use crate::report::{ImportResult, MAX_ERRORS};
use order_domain::request_hash::request_hash;

const BUCKET: &str = "partner-drop";

fn failure(operation: &'static str) -> DependencyError {
    DependencyError {
        operation,
        message: "ServiceUnavailable: try again".into(),
    }
}

/// `MemoryTable` behind the import's trait; inserts can fail, and can yield a few times to let
/// other puts start (so concurrency is observable).
#[derive(Default)]
struct FakeTable {
    table: MemoryTable,
    failing: Cell<bool>,
    settle_failing: Cell<bool>,
    yields: Cell<usize>,
    inserts_now: Cell<usize>,
    inserts_peak: Cell<usize>,
}

impl OrderTable for FakeTable {
    async fn insert_if_absent(&self, record: &OrderRecord) -> Result<Insert, DependencyError> {
        if self.failing.get() {
            return Err(failure("DynamoDB PutItem"));
        }
        self.inserts_now.set(self.inserts_now.get() + 1);
        self.inserts_peak
            .set(self.inserts_peak.get().max(self.inserts_now.get()));
        for _ in 0..self.yields.get() {
            tokio::task::yield_now().await;
        }
        self.inserts_now.set(self.inserts_now.get() - 1);
        Ok(match self.table.insert_if_absent(record) {
            Inserted::Stored => Insert::Stored,
            Inserted::AlreadyExists(existing) => Insert::AlreadyExists {
                existing: Some(existing),
            },
        })
    }

    async fn settle(&self, order_id: &str, status: Status) -> Result<(), DependencyError> {
        if self.settle_failing.get() {
            return Err(failure("DynamoDB UpdateItem"));
        }
        self.table.settle(order_id, status);
        Ok(())
    }
}

/// One PutEvents call per `put_events`, recorded as (detail-type, detail) pairs. Entries fail
/// by `plan`: one element per entry sent, in order (`Some(code)`: that entry fails); the whole
/// call fails while `call_failing` is set.
#[derive(Default)]
struct FakePutEvents {
    calls: RefCell<Vec<Vec<(String, Value)>>>,
    plan: RefCell<VecDeque<Option<&'static str>>>,
    call_failing: Cell<bool>,
}

impl PutEvents for FakePutEvents {
    async fn put_events(
        &self,
        entries: &[PutEventsRequestEntry],
    ) -> Result<Vec<EntryResult>, PublishError> {
        if self.call_failing.get() {
            return Err(PublishError {
                code: Some("InternalException".into()),
                message: "PutEvents failed: InternalException".into(),
            });
        }
        assert!(entries.len() <= 10, "PutEvents takes at most 10 entries");
        let sent: Vec<(String, Value)> = entries
            .iter()
            .map(|e| {
                (
                    e.detail_type().unwrap().to_owned(),
                    serde_json::from_str(e.detail().unwrap()).unwrap(),
                )
            })
            .collect();
        self.calls.borrow_mut().push(sent);
        let mut plan = self.plan.borrow_mut();
        Ok(entries
            .iter()
            .map(|_| match plan.pop_front().flatten() {
                Some(code) => EntryResult::Failed {
                    code: code.into(),
                    message: "try again".into(),
                },
                None => EntryResult::Accepted {
                    event_id: Some("id".into()),
                },
            })
            .collect())
    }
}

/// Moves only when slept on: the resends happen without waiting.
struct FakeClock {
    start: Instant,
    offset: Cell<Duration>,
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.start + self.offset.get()
    }

    async fn sleep(&self, pause: Duration) {
        self.offset.set(self.offset.get() + pause);
    }
}

enum Content {
    Bytes(Vec<u8>),
    /// `len` bytes of `fill`, then `tail`, generated while read.
    Generated {
        len: u64,
        fill: u8,
        tail: Vec<u8>,
    },
}

#[derive(Default)]
struct FakeSource {
    objects: RefCell<HashMap<String, Content>>,
    opens: Cell<usize>,
    failing: Cell<bool>,
}

impl ObjectSource for FakeSource {
    type Body = Pin<Box<dyn AsyncBufRead>>;

    async fn open(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<Opened<Self::Body>>, DependencyError> {
        assert_eq!(bucket, BUCKET);
        self.opens.set(self.opens.get() + 1);
        if self.failing.get() {
            return Err(failure("S3 GetObject"));
        }
        Ok(self.objects.borrow().get(key).map(|content| Opened {
            body: match content {
                // A small buffer: lines arrive split over many reads, as over HTTP.
                Content::Bytes(bytes) => Box::pin(BufReader::with_capacity(
                    7,
                    std::io::Cursor::new(bytes.clone()),
                )) as Self::Body,
                Content::Generated { len, fill, tail } => Box::pin(BufReader::with_capacity(
                    64 * 1024,
                    Generated::new(*len, *fill, tail),
                )),
            },
            upload_id: Some(format!("upload-of-{key}")),
        }))
    }
}

#[derive(Default)]
struct FakeSink {
    puts: RefCell<Vec<(String, Value)>>,
    failing: Cell<bool>,
}

impl ResultSink for FakeSink {
    async fn put_result(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
    ) -> Result<(), DependencyError> {
        assert_eq!(bucket, BUCKET);
        if self.failing.get() {
            return Err(failure("S3 PutObject"));
        }
        self.puts
            .borrow_mut()
            .push((key.to_owned(), serde_json::from_slice(&body).unwrap()));
        Ok(())
    }
}

struct World {
    table: FakeTable,
    bus: PutAllBus<FakePutEvents, FakeClock>,
    source: FakeSource,
    sink: FakeSink,
    max_line_bytes: usize,
    max_errors: usize,
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)
}

impl World {
    fn new() -> Self {
        World {
            table: FakeTable::default(),
            bus: PutAllBus {
                client: FakePutEvents::default(),
                clock: FakeClock {
                    start: Instant::now(),
                    offset: Cell::new(Duration::ZERO),
                },
                bus_name: "orders".into(),
                backoff: Backoff::FUNCTION,
            },
            source: FakeSource::default(),
            sink: FakeSink::default(),
            max_line_bytes: import::DEFAULT_MAX_LINE_BYTES,
            max_errors: MAX_ERRORS,
        }
    }

    fn file(&self, key: &str, text: impl Into<Vec<u8>>) {
        self.source
            .objects
            .borrow_mut()
            .insert(key.into(), Content::Bytes(text.into()));
    }

    fn cx(
        &self,
    ) -> handler::Context<'_, FakeTable, PutAllBus<FakePutEvents, FakeClock>, FakeSource, FakeSink>
    {
        handler::Context {
            import: import::Context {
                table: &self.table,
                bus: &self.bus,
                now: now(),
                ttl_days: None,
                max_line_bytes: self.max_line_bytes,
                max_errors: self.max_errors,
            },
            source: &self.source,
            sink: &self.sink,
        }
    }

    async fn run(&self, key: &str) -> Result<Handled, DependencyError> {
        handler::handle(&event(key), &self.cx()).await
    }

    /// Runs the import of `key` and returns its result, checking it was written next to the
    /// file and that every line is accounted for.
    async fn import(&self, key: &str) -> ImportResult {
        let Handled::Imported { result_key, result } = self.run(key).await.unwrap() else {
            panic!("{key} was not imported");
        };
        assert_eq!(result_key, format!("{key}.result.json"));
        let (written_key, written) = self.sink.puts.borrow().last().cloned().unwrap();
        assert_eq!(written_key, result_key);
        assert_eq!(written, serde_json::to_value(&*result).unwrap());
        let c = result.counts;
        let accounted = c.blank + c.imported + c.republished + c.already_imported + c.invalid;
        if result.format == "csv" {
            // A CSV order takes one line per item, besides the header.
            assert!(c.lines >= accounted, "{c:?}");
        } else {
            assert_eq!(c.lines, accounted, "{c:?}");
        }
        *result
    }

    fn calls(&self) -> Vec<Vec<(String, Value)>> {
        self.bus.client.calls.borrow().clone()
    }

    /// Every event sent, in order (resends included).
    fn events(&self) -> Vec<(String, Value)> {
        self.calls().into_iter().flatten().collect()
    }
}

/// The EventBridge event S3 sends for a new object.
fn event(key: &str) -> Value {
    json!({
        "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created", "source": "aws.s3", "account": "123456789012",
        "time": "2023-11-14T22:13:20Z", "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{BUCKET}")],
        "detail": {
            "version": "0", "bucket": {"name": BUCKET},
            "object": {"key": key, "size": 1234, "etag": "b1946ac92492d2347c6235b4d2611184",
                       "sequencer": "00617F08299329D189"},
            "request-id": "N4N7GDK58NMKJ12R", "requester": "123456789012",
            "source-ip-address": "192.0.2.1", "reason": "PutObject"
        }
    })
}

fn order(id: &str) -> Value {
    serde_json::to_value(sample::valid_order(Some(id.into()))).unwrap()
}

fn line(id: &str) -> String {
    order(id).to_string()
}

fn lines(ids: impl IntoIterator<Item = String>) -> String {
    ids.into_iter().map(|id| line(&id) + "\n").collect()
}

fn codes(result: &ImportResult) -> Vec<(u64, Vec<&str>)> {
    result
        .errors
        .iter()
        .map(|e| (e.line, e.reasons.iter().map(|r| r.code.as_str()).collect()))
        .collect()
}
