//! The entries of a CSV order file (format: order-domain's `csv` module): its records are
//! split by order-domain's `RecordParser` straight from the stream's buffer and grouped into
//! orders by `csv::orders::Orders`; each order's JSON then goes through
//! [`crate::import::check_order`], exactly like a JSON line.
//!
//! Memory is bounded as for JSON Lines: one record of at most `IMPORT_MAX_LINE_BYTES`, one
//! order of at most as much as JSON, and the hashes of the order ids seen (capped).
//! [`CsvEntries::next_entry`] is cancel safe: its state lives in the struct, it only awaits
//! `fill_buf` and consumes synchronously.

use std::collections::VecDeque;
use std::io;

use order_domain::csv::orders::{Entry, Orders};
use order_domain::csv::parser::RecordParser;
use order_domain::csv::Problem;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::import::{check_order, Entries, Parsed};
use crate::report::{LineError, LineReason};

pub struct CsvEntries<R> {
    reader: R,
    parser: RecordParser,
    orders: Orders,
    max_line_bytes: usize,
    /// Entries known and not returned yet (a record completes at most two).
    ready: VecDeque<Entry>,
    /// Scratch for [`Orders::push`].
    known: Vec<Entry>,
    done: bool,
}

impl<R: AsyncBufRead + Unpin> CsvEntries<R> {
    pub fn new(reader: R, max_line_bytes: usize) -> Self {
        CsvEntries {
            reader,
            parser: RecordParser::new(max_line_bytes),
            orders: Orders::new(max_line_bytes),
            max_line_bytes,
            ready: VecDeque::new(),
            known: Vec::new(),
            done: false,
        }
    }

    /// The next entry of the grouping, reading as much as it takes.
    async fn next_known(&mut self) -> io::Result<Option<Entry>> {
        loop {
            if let Some(entry) = self.ready.pop_front() {
                return Ok(Some(entry));
            }
            if self.done {
                return Ok(None);
            }
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                if self.parser.finish() {
                    self.orders
                        .push(self.parser.record(), self.max_line_bytes, &mut self.known);
                }
                self.orders.finish(&mut self.known);
                self.done = true;
            } else {
                let (used, complete) = self.parser.feed(available);
                self.reader.consume(used);
                if complete {
                    self.orders
                        .push(self.parser.record(), self.max_line_bytes, &mut self.known);
                }
                if self.orders.refused() {
                    // A refused header: the rest of the file is not read.
                    self.done = true;
                }
            }
            self.ready.extend(self.known.drain(..));
        }
    }
}

impl<R: AsyncBufRead + Unpin> Entries for CsvEntries<R> {
    async fn next_entry(&mut self) -> io::Result<Option<Parsed>> {
        Ok(self.next_known().await?.map(|entry| match entry {
            Entry::Blank => Parsed::Blank,
            Entry::Order {
                line,
                json,
                problems,
            } => check_order(line, &json, reasons(problems)),
            Entry::Bad {
                line,
                order_id,
                problems,
            } => Parsed::Bad(LineError::new(line, order_id, reasons(problems))),
        }))
    }

    fn lines(&self) -> u64 {
        self.parser.lines()
    }

    fn peak_buffer_capacity(&self) -> usize {
        self.parser.peak_buffer_capacity()
    }
}

fn reasons(problems: Vec<Problem>) -> Vec<LineReason> {
    problems
        .into_iter()
        .map(|p| LineReason::new(p.code, p.message))
        .collect()
}
