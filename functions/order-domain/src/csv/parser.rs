//! RFC 4180 records out of a byte stream, without I/O: the caller feeds whatever bytes it has
//! ([`RecordParser::feed`]) and reads each record as it completes. All state lives in the
//! parser, so an async caller that only awaits `fill_buf` stays cancel safe, and a sync one
//! (the CLI) drives the very same code.
//!
//! Memory is bounded: a record's fields are kept only while the record is at most
//! `max_record_bytes` long (raw bytes: quotes and commas included, its line end not); a longer
//! one is read through — its quotes still tracked, so its end is found — and reported by its
//! length. At most [`MAX_FIELDS`] field boundaries are kept per record.
//!
//! Syntax: fields separated by `,`; records end at `\n` (a `\r` before it is dropped) outside
//! quotes; a field starting with `"` is quoted, `""` inside it is one quote, and it may hold
//! commas and line breaks (which count as lines). A UTF-8 byte order mark at the very start is
//! skipped. A stray quote in an unquoted field, text after a closing quote, a quoted field
//! never closed and text that is not UTF-8 make the record [`Content::Malformed`] (its end is
//! found the lenient way: the stray quote read as text).

/// Field boundaries kept per record; a record with more fields is malformed (a real order row
/// has eight).
pub const MAX_FIELDS: usize = 1024;

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// One record, as read.
#[derive(Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The physical line the record starts on (1-based).
    pub line: u64,
    /// The record's raw length in bytes, without its line end.
    pub bytes: u64,
    pub content: Content<'a>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Content<'a> {
    Fields(Vec<&'a str>),
    /// Longer than `max_record_bytes`: skipped.
    TooLong,
    /// Why the record is not valid CSV (or not UTF-8).
    Malformed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing of a record read yet.
    StartRecord,
    /// After a comma.
    StartField,
    Unquoted,
    Quoted,
    /// A `"` inside a quoted field: a doubled quote or the field's end.
    QuoteInQuoted,
    /// After a closing quote and a `\r`: only `,` or `\n` may follow.
    AfterQuote,
}

/// Splits bytes into CSV records; see the module documentation.
#[derive(Debug)]
pub struct RecordParser {
    max_record_bytes: usize,
    state: State,
    /// The fields' bytes of the record being read (unescaped); capacity at most the limit.
    buf: Vec<u8>,
    /// End offset in `buf` of each completed field (at most [`MAX_FIELDS`]).
    ends: Vec<usize>,
    fields: u64,
    raw: u64,
    too_long: bool,
    malformed: Option<String>,
    /// The physical line being read (1-based).
    line: u64,
    start_line: u64,
    quote_line: u64,
    /// Physical lines completed, plus a final one without `\n` once finished.
    lines: u64,
    line_open: bool,
    /// Bytes of the BOM matched so far at the start; `None` once past the start.
    bom: Option<usize>,
    /// A record completed: read it before feeding more (the next feed clears it).
    ready: bool,
    peak_capacity: usize,
}

impl RecordParser {
    pub fn new(max_record_bytes: usize) -> Self {
        RecordParser {
            max_record_bytes: max_record_bytes.max(1),
            state: State::StartRecord,
            buf: Vec::new(),
            ends: Vec::new(),
            fields: 0,
            raw: 0,
            too_long: false,
            malformed: None,
            line: 1,
            start_line: 1,
            quote_line: 1,
            lines: 0,
            line_open: false,
            bom: Some(0),
            ready: false,
            peak_capacity: 0,
        }
    }

    /// Physical lines read so far (a final line without `\n` counts once [`Self::finish`]ed).
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// The largest capacity the record buffer ever had (at most `max_record_bytes`).
    pub fn peak_buffer_capacity(&self) -> usize {
        self.peak_capacity
    }

    /// Reads from `input` up to the end of the next record: returns the bytes consumed and
    /// whether a record completed (then [`Self::record`] has it).
    pub fn feed(&mut self, input: &[u8]) -> (usize, bool) {
        self.clear_if_read();
        let mut used = 0;
        // The BOM may arrive split over several feeds.
        while let Some(matched) = self.bom {
            let Some(&byte) = input.get(used) else {
                return (used, false);
            };
            if byte == BOM[matched] {
                used += 1;
                self.line_open = true;
                self.bom = (matched + 1 < BOM.len()).then_some(matched + 1);
            } else {
                self.replay_partial_bom();
            }
        }
        for (i, &byte) in input[used..].iter().enumerate() {
            if self.byte(byte) {
                return (used + i + 1, true);
            }
        }
        (input.len(), false)
    }

    /// The end of the input: returns whether a last record (without a final `\n`) completed.
    pub fn finish(&mut self) -> bool {
        self.clear_if_read();
        if self.bom.is_some() {
            self.replay_partial_bom();
        }
        if self.line_open {
            self.lines += 1;
            self.line_open = false;
        }
        match self.state {
            State::StartRecord => false,
            State::Quoted => {
                self.flag(format!(
                    "a quoted field opened on line {} is never closed",
                    self.quote_line
                ));
                self.end_record(false);
                true
            }
            state => {
                self.end_record(state == State::Unquoted);
                true
            }
        }
    }

    /// The record that just completed.
    pub fn record(&self) -> Record<'_> {
        let content = if let Some(message) = &self.malformed {
            Content::Malformed(message.clone())
        } else if self.too_long {
            Content::TooLong
        } else if self.fields > MAX_FIELDS as u64 {
            Content::Malformed(format!(
                "the row has {} fields, more than the {MAX_FIELDS} read",
                self.fields
            ))
        } else {
            match std::str::from_utf8(&self.buf) {
                Ok(text) => {
                    let mut start = 0;
                    Content::Fields(
                        self.ends
                            .iter()
                            .map(|&end| {
                                let field = &text[start..end];
                                start = end;
                                field
                            })
                            .collect(),
                    )
                }
                Err(err) => Content::Malformed(format!(
                    "the row is not UTF-8 text (invalid byte at offset {} of its fields)",
                    err.valid_up_to()
                )),
            }
        };
        Record {
            line: self.start_line,
            bytes: self.raw,
            content,
        }
    }

    fn clear_if_read(&mut self) {
        if self.ready {
            self.ready = false;
            self.buf.clear();
            self.ends.clear();
            self.fields = 0;
            self.raw = 0;
            self.too_long = false;
            self.malformed = None;
        }
    }

    /// The start was not a whole BOM: the bytes matched are text.
    fn replay_partial_bom(&mut self) {
        let matched = self.bom.take().unwrap_or(0);
        for &byte in &BOM[..matched] {
            // Two bytes of a BOM never end a record.
            self.byte(byte);
        }
    }

    /// One byte; true when it ended a record.
    fn byte(&mut self, byte: u8) -> bool {
        if byte == b'\n' {
            self.lines += 1;
            self.line += 1;
            self.line_open = false;
        } else {
            self.line_open = true;
        }
        match (self.state, byte) {
            (State::StartRecord, _) if byte != b'\n' => {
                self.start_line = self.line;
                self.state = State::StartField;
                return self.byte_in_field(byte);
            }
            (State::StartRecord, _) => {
                // An empty line: a record of one empty field.
                self.start_line = self.line - 1;
                self.end_field(false);
                self.ready = true;
                return true;
            }
            _ => {}
        }
        self.byte_in_field(byte)
    }

    fn byte_in_field(&mut self, byte: u8) -> bool {
        if byte != b'\n' || self.state == State::Quoted {
            self.raw += 1;
            if !self.too_long && self.raw > self.max_record_bytes as u64 {
                // From here on the record is only followed, not kept.
                self.too_long = true;
                self.buf.clear();
                self.ends.clear();
            }
        }
        match (self.state, byte) {
            (State::StartField, b'"') => {
                self.quote_line = self.line;
                self.state = State::Quoted;
            }
            (State::StartField | State::Unquoted, b',') => {
                self.end_field(false);
                self.state = State::StartField;
            }
            (State::StartField | State::Unquoted, b'\n') => {
                self.end_record(self.state == State::Unquoted);
                return true;
            }
            (State::Unquoted, b'"') => {
                self.flag(format!(
                    "line {}: a quote inside an unquoted field (quote the whole field and double the quotes inside)",
                    self.line
                ));
                self.push(byte);
            }
            (State::StartField | State::Unquoted, _) => {
                self.state = State::Unquoted;
                self.push(byte);
            }
            (State::Quoted, b'"') => self.state = State::QuoteInQuoted,
            (State::Quoted, _) => self.push(byte),
            (State::QuoteInQuoted, b'"') => {
                self.push(b'"');
                self.state = State::Quoted;
            }
            (State::QuoteInQuoted | State::AfterQuote, b',') => {
                self.end_field(false);
                self.state = State::StartField;
            }
            (State::QuoteInQuoted | State::AfterQuote, b'\n') => {
                self.end_record(false);
                return true;
            }
            (State::QuoteInQuoted | State::AfterQuote, b'\r') => self.state = State::AfterQuote,
            (State::QuoteInQuoted | State::AfterQuote, _) => {
                self.flag(format!(
                    "line {}: text after the closing quote of a field",
                    self.line
                ));
                self.push(byte);
                self.state = State::Unquoted;
            }
            (State::StartRecord, _) => unreachable!("handled in byte"),
        }
        false
    }

    fn flag(&mut self, message: String) {
        self.malformed.get_or_insert(message);
    }

    fn push(&mut self, byte: u8) {
        if self.too_long {
            return;
        }
        if self.buf.len() == self.buf.capacity() {
            // Geometric growth, clamped so the buffer never exceeds the limit.
            let target = (self.buf.capacity() * 2)
                .max(256)
                .min(self.max_record_bytes);
            self.buf.reserve_exact(target - self.buf.len());
            self.peak_capacity = self.peak_capacity.max(self.buf.capacity());
        }
        self.buf.push(byte);
    }

    /// Ends the current field; `line_end`: it ends the record unquoted, so a final `\r` is
    /// part of a CRLF line end.
    fn end_field(&mut self, line_end: bool) {
        self.fields += 1;
        if self.too_long || self.ends.len() >= MAX_FIELDS {
            return;
        }
        let start = self.ends.last().copied().unwrap_or(0);
        if line_end && self.buf.len() > start && self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        self.ends.push(self.buf.len());
    }

    fn end_record(&mut self, unquoted: bool) {
        self.end_field(unquoted);
        self.state = State::StartRecord;
        self.ready = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every record of `input` fed `chunk` bytes at a time: `Ok(fields)`, `Err("too long")`
    /// or `Err(message)`, with the line each starts on.
    pub(crate) fn records(
        input: &[u8],
        chunk: usize,
        max: usize,
    ) -> Vec<(u64, Result<Vec<String>, String>)> {
        let mut parser = RecordParser::new(max);
        let mut out = Vec::new();
        let mut take = |parser: &RecordParser| {
            let record = parser.record();
            out.push((
                record.line,
                match record.content {
                    Content::Fields(fields) => Ok(fields.iter().map(|f| f.to_string()).collect()),
                    Content::TooLong => Err(format!("too long: {}", record.bytes)),
                    Content::Malformed(message) => Err(message),
                },
            ));
        };
        for piece in input.chunks(chunk.max(1)) {
            let mut piece = piece;
            while !piece.is_empty() {
                let (used, ready) = parser.feed(piece);
                piece = &piece[used..];
                if ready {
                    take(&parser);
                }
            }
        }
        if parser.finish() {
            take(&parser);
        }
        assert!(parser.peak_buffer_capacity() <= max);
        out
    }

    fn ok(line: u64, fields: &[&str]) -> (u64, Result<Vec<String>, String>) {
        (line, Ok(fields.iter().map(|f| f.to_string()).collect()))
    }

    #[test]
    fn quoted_fields_hold_commas_quotes_and_line_breaks_whatever_the_chunking() {
        let input =
            b"a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\n\"\",,\"\"\"\"\nlast,row";
        for chunk in [1, 2, 3, 7, 1000] {
            assert_eq!(
                records(input, chunk, 100),
                [
                    ok(1, &["a", "b", "c"]),
                    ok(2, &["x, y", "say \"hi\"", "two\nlines"]),
                    ok(4, &["", "", "\""]),
                    ok(5, &["last", "row"]),
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn line_numbers_count_breaks_inside_quotes_and_empty_lines() {
        let input = b"h\n\n\"a\r\nb\nc\"\n\r\nz\n";
        assert_eq!(
            records(input, 3, 100),
            [
                ok(1, &["h"]),
                ok(2, &[""]),
                ok(3, &["a\r\nb\nc"]),
                ok(6, &[""]),
                ok(7, &["z"]),
            ]
        );
        let mut parser = RecordParser::new(100);
        let mut rest: &[u8] = input;
        while !rest.is_empty() {
            rest = &rest[parser.feed(rest).0..];
        }
        assert!(!parser.finish());
        assert_eq!(parser.lines(), 7);
        // A final line without `\n` counts.
        let mut parser = RecordParser::new(100);
        assert_eq!(parser.feed(b"a\n"), (2, true));
        assert_eq!(parser.feed(b"b"), (1, false));
        assert!(parser.finish());
        assert_eq!((parser.lines(), parser.record().line), (2, 2));
    }

    #[test]
    fn a_byte_order_mark_is_skipped_only_at_the_start() {
        for chunk in [1, 2, 100] {
            assert_eq!(
                records(b"\xEF\xBB\xBF\"id\",x\n\xEF\xBB\xBFy\n", chunk, 100),
                [ok(1, &["id", "x"]), ok(2, &["\u{feff}y"])]
            );
        }
        // Two bytes of a BOM are text (here not UTF-8).
        let got = records(b"\xEF\xBBa\n", 1, 100);
        assert_eq!(got.len(), 1);
        assert!(
            got[0].1.as_ref().unwrap_err().contains("not UTF-8"),
            "{got:?}"
        );
        assert_eq!(records(b"\xEF", 1, 100).len(), 1);
        assert!(records(b"", 1, 100).is_empty());
    }

    #[test]
    fn malformed_records_are_reported_and_reading_goes_on() {
        let got = records(
            b"ok,1\nbad\"quote,2\n\"closed\"junk,3\n\"never closed,4\nmore\n",
            4,
            100,
        );
        assert_eq!(got[0], ok(1, &["ok", "1"]));
        assert_eq!(
            got[1],
            (
                2,
                Err("line 2: a quote inside an unquoted field (quote the whole field and double the quotes inside)".into())
            )
        );
        assert_eq!(
            got[2],
            (
                3,
                Err("line 3: text after the closing quote of a field".into())
            )
        );
        assert_eq!(
            got[3],
            (
                4,
                Err("a quoted field opened on line 4 is never closed".into())
            )
        );
        assert_eq!(got.len(), 4);
        let got = records(b"a,\xFF\xFE\n", 2, 100);
        assert_eq!(
            got,
            [(
                1,
                Err("the row is not UTF-8 text (invalid byte at offset 1 of its fields)".into())
            )]
        );
    }

    #[test]
    fn records_over_the_limit_are_skipped_with_their_length_and_their_quotes_followed() {
        // The long record holds a quoted line break and a comma: its end is still found.
        let long = format!("\"{}\n{},\",x", "a".repeat(40), "b".repeat(40));
        let input = format!("12345,6\n{long}\r\nok,1\n1234567890123");
        assert_eq!(
            records(input.as_bytes(), 5, 5),
            [
                (1, Err("too long: 7".into())),
                (2, Err(format!("too long: {}", long.len() + 1))),
                ok(4, &["ok", "1"]),
                (5, Err("too long: 13".into())),
            ]
        );
        // Exactly at the limit is kept.
        assert_eq!(records(b"123,56\n", 3, 6), [ok(1, &["123", "56"])]);
    }

    #[test]
    fn a_huge_record_never_grows_the_buffer_past_the_limit() {
        let max = 4096;
        let mut parser = RecordParser::new(max);
        assert_eq!(parser.feed(b"\""), (1, false));
        let block = vec![b'x'; 64 * 1024];
        for _ in 0..256 {
            assert_eq!(parser.feed(&block), (block.len(), false));
        }
        assert_eq!(parser.feed(b"\",1\nnext\n"), (4, true));
        assert_eq!(parser.record().content, Content::TooLong);
        assert_eq!(parser.record().bytes, 16 * 1024 * 1024 + 4);
        assert!(parser.peak_buffer_capacity() <= max);
        assert_eq!(parser.feed(b"next\n"), (5, true));
        assert_eq!(parser.record().content, Content::Fields(vec!["next"]));
    }

    #[test]
    fn too_many_fields_are_malformed() {
        let row = ",".repeat(MAX_FIELDS);
        let got = records(format!("{row}\n").as_bytes(), 100, 100_000);
        assert_eq!(
            got,
            [(
                1,
                Err(format!(
                    "the row has {} fields, more than the {MAX_FIELDS} read",
                    MAX_FIELDS + 1
                ))
            )]
        );
    }
}
