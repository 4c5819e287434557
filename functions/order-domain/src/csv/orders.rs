//! Records ([`super::parser`]) to orders: the header, then consecutive rows grouped by
//! `order_id` into the JSON a JSON Lines file would carry for each order.
//!
//! Line numbers: an order (good or bad) is reported at the line of its first row; a row that
//! cannot be read (not CSV, not UTF-8, too long, another number of fields than the header) at
//! its own line, and it neither ends nor joins an order — the order around it then lacks an
//! item, which its `total_minor` no longer matches.
//!
//! Memory stays bounded: an order is held as its JSON only while that is at most
//! `max_order_bytes` long (longer: `line_too_long`, read through), and only the hashes of the
//! first [`MAX_TRACKED_ORDERS`] order ids are remembered to find an order's rows coming back
//! after other orders (`order_rows_not_consecutive`); past that, a returning order id is
//! handled like a repeated JSON line (the same order: already imported; another: a conflict).

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use super::parser::{Content, Record, RecordParser};
use super::{push_json_field, Columns, Problem, ORDER_COLUMNS};

/// Order ids remembered per file (as 64-bit hashes: about 10 MiB at most).
pub const MAX_TRACKED_ORDERS: usize = 500_000;

/// What a record amounted to, once known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A row with every cell empty or spaces, or an empty line.
    Blank,
    /// An order: `json` is the order as a JSON line would hold it; `problems` are the ones CSV
    /// adds (its rows disagree), which make it bad whatever its JSON.
    Order {
        line: u64,
        json: String,
        problems: Vec<Problem>,
    },
    /// A header, row or order refused as a whole.
    Bad {
        line: u64,
        order_id: Option<String>,
        problems: Vec<Problem>,
    },
}

/// The rows of one order being read.
#[derive(Debug)]
struct Group {
    line: u64,
    last_line: u64,
    order_id: String,
    /// The order columns' cells of its first row.
    order_cells: Vec<String>,
    /// Per order column: the first row that differs (line, cell) and how many more do.
    differ: Vec<Option<(u64, String, u64)>>,
    /// The items' JSON so far, comma separated.
    items: String,
    /// Length of the order's JSON, counted on once it is no longer kept.
    json_bytes: u64,
    too_long: bool,
    /// Rows of an order id seen before, after other orders.
    returning: bool,
}

/// The header and the orders of one file; feed it every record in order, then [`Self::finish`].
#[derive(Debug)]
pub struct Orders {
    max_order_bytes: usize,
    columns: Option<Columns>,
    /// The header was refused: nothing more is read.
    refused: bool,
    group: Option<Group>,
    seen: HashSet<u64>,
}

impl Orders {
    /// `max_order_bytes`: the longest order kept (as JSON), the JSON Lines limit of a line.
    pub fn new(max_order_bytes: usize) -> Self {
        Orders {
            max_order_bytes,
            columns: None,
            refused: false,
            group: None,
            seen: HashSet::new(),
        }
    }

    /// The header was refused: the rest of the file is not to be read.
    pub fn refused(&self) -> bool {
        self.refused
    }

    /// Takes the next record; what became known is appended to `out` (an order is known when
    /// the next one starts, or at [`Self::finish`]).
    pub fn push(&mut self, record: Record<'_>, max_record_bytes: usize, out: &mut Vec<Entry>) {
        if self.refused {
            return;
        }
        let line = record.line;
        let fields = match record.content {
            Content::Fields(fields) => fields,
            Content::TooLong => {
                out.push(bad(
                    line,
                    None,
                    Problem::new(
                        "line_too_long",
                        format!(
                            "the row is {} bytes long, more than the limit of {max_record_bytes} bytes (IMPORT_MAX_LINE_BYTES); it was skipped",
                            record.bytes
                        ),
                    ),
                ));
                self.refuse_if_header();
                return;
            }
            Content::Malformed(message) => {
                out.push(bad(line, None, Problem::new("malformed_csv", message)));
                self.refuse_if_header();
                return;
            }
        };
        if fields.iter().all(|f| f.trim().is_empty()) {
            out.push(Entry::Blank);
            return;
        }
        let Some(columns) = &self.columns else {
            match Columns::from_header(&fields) {
                Ok(columns) => self.columns = Some(columns),
                Err(problems) => {
                    out.push(Entry::Bad {
                        line,
                        order_id: None,
                        problems,
                    });
                    self.refused = true;
                }
            }
            return;
        };
        if fields.len() != columns.width {
            out.push(bad(
                line,
                None,
                Problem::new(
                    "wrong_field_count",
                    format!(
                        "the row has {} fields, the header {}; the row was skipped",
                        fields.len(),
                        columns.width
                    ),
                ),
            ));
            return;
        }
        let columns = columns.clone();
        let order_id = columns.cell(&fields, "order_id");
        let continues = matches!(&self.group, Some(group) if !order_id.is_empty() && group.order_id == order_id);
        if continues {
            if let Some(group) = &mut self.group {
                group.add_row(line, &fields, &columns, self.max_order_bytes);
            }
            return;
        }
        self.finish(out);
        let returning = !order_id.is_empty() && !self.remember(order_id);
        let mut group = Group {
            line,
            last_line: line,
            order_id: order_id.to_owned(),
            order_cells: ORDER_COLUMNS
                .iter()
                .map(|c| columns.cell(&fields, c).to_owned())
                .collect(),
            differ: vec![None; ORDER_COLUMNS.len()],
            items: String::new(),
            json_bytes: 0,
            too_long: false,
            returning,
        };
        group.add_row(line, &fields, &columns, self.max_order_bytes);
        self.group = Some(group);
    }

    /// The end of the file (or of a group): the order being read, if any, to `out`.
    pub fn finish(&mut self, out: &mut Vec<Entry>) {
        if let Some(group) = self.group.take() {
            out.push(group.into_entry(self.max_order_bytes));
        }
    }

    fn refuse_if_header(&mut self) {
        if self.columns.is_none() {
            self.refused = true;
        }
    }

    /// Remembers `order_id`; false when it was already there.
    fn remember(&mut self, order_id: &str) -> bool {
        let mut hasher = DefaultHasher::new();
        order_id.hash(&mut hasher);
        let hash = hasher.finish();
        if self.seen.contains(&hash) {
            return false;
        }
        if self.seen.len() < MAX_TRACKED_ORDERS {
            self.seen.insert(hash);
        }
        true
    }
}

/// Every entry of the CSV file `reader`, in the order they become known, with records and
/// orders of at most `max_bytes` (the synchronous reader: the CLI; import-orders drives the
/// same parser and grouping from an async stream).
pub fn read_entries(
    mut reader: impl std::io::BufRead,
    max_bytes: usize,
    mut each: impl FnMut(Entry),
) -> std::io::Result<()> {
    let mut parser = RecordParser::new(max_bytes);
    let mut orders = Orders::new(max_bytes);
    let mut known = Vec::new();
    loop {
        let available = reader.fill_buf()?;
        let end = available.is_empty();
        if end {
            if parser.finish() {
                orders.push(parser.record(), max_bytes, &mut known);
            }
            orders.finish(&mut known);
        } else {
            let (used, complete) = parser.feed(available);
            reader.consume(used);
            if complete {
                orders.push(parser.record(), max_bytes, &mut known);
            }
        }
        known.drain(..).for_each(&mut each);
        if end || orders.refused() {
            return Ok(());
        }
    }
}

fn bad(line: u64, order_id: Option<String>, problem: Problem) -> Entry {
    Entry::Bad {
        line,
        order_id,
        problems: vec![problem],
    }
}

impl Group {
    fn add_row(&mut self, line: u64, fields: &[&str], columns: &Columns, max_bytes: usize) {
        self.last_line = line;
        for (index, column) in ORDER_COLUMNS.iter().enumerate() {
            let cell = columns.cell(fields, column);
            if cell != self.order_cells[index] {
                match &mut self.differ[index] {
                    Some((_, _, more)) => *more += 1,
                    slot => *slot = Some((line, cell.to_owned(), 0)),
                }
            }
        }
        if self.returning {
            return;
        }
        let mut item = String::from("{");
        let mut first = true;
        for column in ["sku", "quantity", "unit_price_minor"] {
            first &= !push_json_field(column, columns.cell(fields, column), first, &mut item);
        }
        item.push('}');
        if self.json_bytes == 0 {
            self.json_bytes = self.order_json(false).len() as u64;
        }
        self.json_bytes += item.len() as u64 + u64::from(!self.items.is_empty());
        if self.json_bytes > max_bytes as u64 {
            self.too_long = true;
            self.items = String::new();
        }
        if !self.too_long {
            if !self.items.is_empty() {
                self.items.push(',');
            }
            self.items.push_str(&item);
        }
    }

    /// The order's JSON, in the field order of the contract; `with_items`: the items read.
    fn order_json(&self, with_items: bool) -> String {
        let mut out = String::from("{");
        let cell = |column: &str| {
            let index = ORDER_COLUMNS.iter().position(|c| *c == column).unwrap_or(0);
            self.order_cells[index].as_str()
        };
        let mut first = true;
        for column in ["order_id", "customer_id", "currency"] {
            first &= !push_json_field(column, cell(column), first, &mut out);
        }
        if !first {
            out.push(',');
        }
        out.push_str("\"items\":[");
        if with_items {
            out.push_str(&self.items);
        }
        out.push(']');
        for column in ["total_minor", "customer_email"] {
            push_json_field(column, cell(column), false, &mut out);
        }
        out.push('}');
        out
    }

    fn lines(&self) -> String {
        if self.last_line == self.line {
            format!("line {}", self.line)
        } else {
            format!("lines {}–{}", self.line, self.last_line)
        }
    }

    fn into_entry(self, max_bytes: usize) -> Entry {
        let usable_id = crate::order_id_problems(&self.order_id)
            .is_empty()
            .then(|| self.order_id.clone());
        if self.returning {
            return bad(
                self.line,
                usable_id,
                Problem::new(
                    "order_rows_not_consecutive",
                    format!(
                        "order {} already had rows earlier in the file, before other orders: an order's rows must be consecutive (sort the file by order_id); these rows ({}) were not imported",
                        self.order_id,
                        self.lines()
                    ),
                ),
            );
        }
        if self.too_long {
            return bad(
                self.line,
                usable_id,
                Problem::new(
                    "line_too_long",
                    format!(
                        "the order ({}) is {} bytes long as JSON, more than the limit of {max_bytes} bytes (IMPORT_MAX_LINE_BYTES); it was skipped",
                        self.lines(),
                        self.json_bytes
                    ),
                ),
            );
        }
        let problems = ORDER_COLUMNS
            .iter()
            .zip(&self.differ)
            .zip(&self.order_cells)
            .filter_map(|((column, differ), first)| {
                let (line, cell, more) = differ.as_ref()?;
                let others = match more {
                    0 => String::new(),
                    1 => " (and on 1 more row)".to_owned(),
                    n => format!(" (and on {n} more rows)"),
                };
                Some(Problem::new(
                    "order_rows_differ",
                    format!(
                        "{column} is {cell:?} on line {line}{others} but {first:?} on the order's first row (line {}): the rows of an order must agree on {}",
                        self.line,
                        ORDER_COLUMNS.join(", ")
                    ),
                ))
            })
            .collect();
        Entry::Order {
            line: self.line,
            json: self.order_json(true),
            problems,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const HEADER: &str =
        "order_id,customer_id,customer_email,currency,total_minor,sku,quantity,unit_price_minor\n";

    /// Every entry of `text`, read 5 bytes at a time.
    pub(crate) fn entries(text: &str, max: usize) -> Vec<Entry> {
        let mut out = Vec::new();
        let reader = std::io::BufReader::with_capacity(5, text.as_bytes());
        read_entries(reader, max, |entry| out.push(entry)).unwrap();
        out
    }

    fn order(entry: &Entry) -> (u64, Value, Vec<&'static str>) {
        match entry {
            Entry::Order {
                line,
                json,
                problems,
            } => (
                *line,
                serde_json::from_str(json).unwrap(),
                problems.iter().map(|p| p.code).collect(),
            ),
            other => panic!("not an order: {other:?}"),
        }
    }

    fn bad_codes(entry: &Entry) -> (u64, Option<&str>, Vec<&'static str>) {
        match entry {
            Entry::Bad {
                line,
                order_id,
                problems,
            } => (
                *line,
                order_id.as_deref(),
                problems.iter().map(|p| p.code).collect(),
            ),
            other => panic!("not bad: {other:?}"),
        }
    }

    #[test]
    fn consecutive_rows_make_one_order_in_the_json_lines_shape() {
        let text = format!(
            "{HEADER}ord-1,cust-1,a@example.com,EUR,2999,SKU-1,2,1250\n\
             ord-1,cust-1,a@example.com,EUR,2999,\"SKU, 2\",1,499\n\
             ,,,,,,,\n\
             ord-2,cust-2,,USD,5,X,1,5\n"
        );
        let got = entries(&text, 1000);
        assert_eq!(got.len(), 3, "{got:?}");
        // The blank row is known at once, the order only when the next one starts.
        assert_eq!(got[0], Entry::Blank);
        assert_eq!(
            order(&got[1]),
            (
                2,
                json!({"order_id": "ord-1", "customer_id": "cust-1", "currency": "EUR",
                       "customer_email": "a@example.com", "total_minor": 2999,
                       "items": [{"sku": "SKU-1", "quantity": 2, "unit_price_minor": 1250},
                                 {"sku": "SKU, 2", "quantity": 1, "unit_price_minor": 499}]}),
                vec![]
            )
        );
        assert_eq!(
            order(&got[2]).1,
            json!({"order_id": "ord-2", "customer_id": "cust-2", "currency": "USD",
                   "total_minor": 5, "items": [{"sku": "X", "quantity": 1, "unit_price_minor": 5}]})
        );
    }

    #[test]
    fn rows_that_disagree_on_the_order_columns_are_named() {
        let text = format!(
            "{HEADER}ord-1,c,,EUR,10,A,1,5\nord-1,c,,USD,10,B,1,5\nord-1,d,,GBP,10,C,1,0\n"
        );
        let got = entries(&text, 1000);
        let Entry::Order { line, problems, .. } = &got[0] else {
            panic!("{got:?}")
        };
        assert_eq!(*line, 2);
        assert_eq!(
            problems.iter().map(|p| p.message.as_str()).collect::<Vec<_>>(),
            [
                "customer_id is \"d\" on line 4 but \"c\" on the order's first row (line 2): the rows of an order must agree on order_id, customer_id, customer_email, currency, total_minor",
                "currency is \"USD\" on line 3 (and on 1 more row) but \"EUR\" on the order's first row (line 2): the rows of an order must agree on order_id, customer_id, customer_email, currency, total_minor",
            ]
        );
    }

    #[test]
    fn an_order_coming_back_after_other_orders_is_refused() {
        let text = format!(
            "{HEADER}ord-1,c,,EUR,10,A,1,5\nord-2,c,,EUR,5,A,1,5\nord-1,c,,EUR,10,B,1,5\nord-1,c,,EUR,10,C,1,5\n,c,,EUR,5,A,1,5\n,c,,EUR,5,A,1,5\n"
        );
        let got = entries(&text, 1000);
        assert_eq!(got.len(), 5, "{got:?}");
        assert_eq!(order(&got[0]).0, 2);
        assert_eq!(order(&got[1]).0, 3);
        assert_eq!(
            bad_codes(&got[2]),
            (4, Some("ord-1"), vec!["order_rows_not_consecutive"])
        );
        let Entry::Bad { problems, .. } = &got[2] else {
            unreachable!()
        };
        assert!(problems[0]
            .message
            .contains("(lines 4–5) were not imported"));
        // Rows without an order id are orders of their own.
        assert_eq!(order(&got[3]).0, 6);
        assert_eq!(order(&got[4]).0, 7);
        assert!(order(&got[4]).1.get("order_id").is_none());
    }

    #[test]
    fn unreadable_rows_are_reported_on_their_own_lines() {
        let text = format!(
            "{HEADER}ord-1,c,,EUR,10,A,1,5\nord-1,c,,EUR\nord-1,\"x\"y,,EUR,10,A,1,5\nord-1,c,,EUR,10,\"B\nB\",1,5\n"
        );
        let got = entries(&text, 1000);
        assert_eq!(bad_codes(&got[0]), (3, None, vec!["wrong_field_count"]));
        assert_eq!(bad_codes(&got[1]), (4, None, vec!["malformed_csv"]));
        let (line, value, problems) = order(&got[2]);
        assert_eq!((line, problems.len()), (2, 0));
        assert_eq!(value["items"][1]["sku"], "B\nB");
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn a_bad_header_refuses_the_file() {
        let got = entries("order_id,sku,colour\nord-1,A,red\n", 1000);
        assert_eq!(got.len(), 1);
        let (line, _, codes) = bad_codes(&got[0]);
        assert_eq!(line, 1);
        assert!(codes.contains(&"unknown_column") && codes.contains(&"missing_column"));
        let got = entries("\n\"order_id\n", 1000);
        assert_eq!(got[0], Entry::Blank);
        assert_eq!(bad_codes(&got[1]), (2, None, vec!["malformed_csv"]));
        assert_eq!(got.len(), 2);
        // Only a header: no order, no problem.
        assert!(entries(HEADER, 1000).is_empty());
    }

    #[test]
    fn an_order_longer_than_the_limit_is_skipped_and_its_rows_followed() {
        let row = "ord-1,c,,EUR,10,A,1,5\n";
        let text = format!("{HEADER}{}ord-2,c,,EUR,5,A,1,5\n", row.repeat(20));
        let got = entries(&text, 300);
        let (line, id, codes) = bad_codes(&got[0]);
        assert_eq!((line, id, codes), (2, Some("ord-1"), vec!["line_too_long"]));
        let Entry::Bad { problems, .. } = &got[0] else {
            unreachable!()
        };
        assert!(
            problems[0]
                .message
                .starts_with("the order (lines 2–21) is "),
            "{}",
            problems[0].message
        );
        assert_eq!(order(&got[1]).0, 22);
    }
}
