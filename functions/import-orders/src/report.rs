//! The result object written next to an imported file, and its bounded list of bad lines.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use serde::Serialize;

/// Most bad lines listed in a result (the first ones by line number); `invalid` counts all.
pub const MAX_ERRORS: usize = 10_000;
/// Most reasons listed for one line; the rest are summed up in a `reasons_truncated` reason.
pub const MAX_REASONS_PER_LINE: usize = 100;

/// The JSON of `<key>.result.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportResult {
    pub bucket: String,
    pub key: String,
    /// From the event, when it had one.
    pub etag: Option<String>,
    /// The upload's `orderflow-upload-id` metadata (set by `orderflow import`), if any.
    pub upload_id: Option<String>,
    pub format: &'static str,
    #[serde(flatten)]
    pub counts: Counts,
    pub errors: Vec<LineError>,
    pub errors_truncated: bool,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    /// `VmHWM` of the function's process; `null` when unreadable.
    pub peak_rss_bytes: Option<u64>,
}

/// What became of the lines of a file. JSON Lines: `lines` = `blank` + `imported` +
/// `republished` + `already_imported` + `invalid`. CSV: `lines` counts physical lines (an order
/// takes one per item, plus the header) and the others count orders, blank and bad rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Physical lines read.
    pub lines: u64,
    pub blank: u64,
    /// Orders recorded and announced by this run.
    pub imported: u64,
    /// Orders already recorded from this same line (an earlier run) but not known to be
    /// announced: announced again.
    pub republished: u64,
    /// Orders already recorded and announced: nothing done.
    pub already_imported: u64,
    /// Bad lines (each one has an `errors` entry unless the list is truncated).
    pub invalid: u64,
}

/// One bad line (`line` 0: the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineError {
    /// 1-based.
    pub line: u64,
    /// The line's order id, when it has a usable one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    pub reasons: Vec<LineReason>,
}

/// `code` is one of order-domain's reason codes, one of its CSV format's (`unknown_column`,
/// `missing_column`, `duplicate_column`, `malformed_csv`, `wrong_field_count`,
/// `order_rows_differ`, `order_rows_not_consecutive`) or one of this function's own
/// (`line_too_long`, `missing_order_id`, `order_id_conflict`, `empty_file`,
/// `reasons_truncated`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineReason {
    pub code: String,
    pub message: String,
}

impl LineReason {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        LineReason {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl LineError {
    /// A bad line with at most [`MAX_REASONS_PER_LINE`] reasons listed.
    pub fn new(line: u64, order_id: Option<String>, mut reasons: Vec<LineReason>) -> Self {
        if reasons.len() > MAX_REASONS_PER_LINE {
            let more = reasons.len() - (MAX_REASONS_PER_LINE - 1);
            reasons.truncate(MAX_REASONS_PER_LINE - 1);
            reasons.push(LineReason::new(
                "reasons_truncated",
                format!("{more} more problems on this line are not listed"),
            ));
        }
        LineError {
            line,
            order_id,
            reasons,
        }
    }
}

/// Keeps the [`MAX_ERRORS`] (or `cap`) bad lines with the smallest line numbers, whatever the
/// order they are found in (conflicts are found after later lines were parsed).
#[derive(Debug)]
pub struct ErrorList {
    cap: usize,
    kept: BinaryHeap<ByLine>,
    truncated: bool,
}

#[derive(Debug)]
struct ByLine(LineError);

impl PartialEq for ByLine {
    fn eq(&self, other: &Self) -> bool {
        self.0.line == other.0.line
    }
}
impl Eq for ByLine {}
impl PartialOrd for ByLine {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ByLine {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.line.cmp(&other.0.line)
    }
}

impl ErrorList {
    pub fn new(cap: usize) -> Self {
        ErrorList {
            cap,
            kept: BinaryHeap::new(),
            truncated: false,
        }
    }

    pub fn push(&mut self, error: LineError) {
        self.kept.push(ByLine(error));
        if self.kept.len() > self.cap {
            // Drops the largest line number.
            self.kept.pop();
            self.truncated = true;
        }
    }

    /// The kept errors by line number, and whether some were dropped.
    pub fn finish(self) -> (Vec<LineError>, bool) {
        let errors = self
            .kept
            .into_sorted_vec()
            .into_iter()
            .map(|e| e.0)
            .collect();
        (errors, self.truncated)
    }
}

/// Peak resident set size of this process (`VmHWM` of `/proc/self/status`), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    vm_hwm(&std::fs::read_to_string("/proc/self/status").ok()?)
}

fn vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let mut parts = line["VmHWM:".len()..].split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") | None => value.checked_mul(1024),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(line: u64) -> LineError {
        LineError::new(line, None, vec![LineReason::new("c", "m")])
    }

    #[test]
    fn the_error_list_keeps_the_first_lines_by_number() {
        let mut list = ErrorList::new(3);
        for line in [5, 1, 9, 3, 7, 2] {
            list.push(error(line));
        }
        let (errors, truncated) = list.finish();
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(truncated);
        let mut list = ErrorList::new(3);
        list.push(error(4));
        assert_eq!(list.finish(), (vec![error(4)], false));
    }

    #[test]
    fn a_line_lists_at_most_a_hundred_reasons() {
        let reasons = (0..250)
            .map(|i| LineReason::new("x", format!("{i}")))
            .collect();
        let error = LineError::new(1, None, reasons);
        assert_eq!(error.reasons.len(), MAX_REASONS_PER_LINE);
        assert_eq!(error.reasons[98].message, "98");
        assert_eq!(error.reasons[99].code, "reasons_truncated");
        assert_eq!(
            error.reasons[99].message,
            "151 more problems on this line are not listed"
        );
    }

    #[test]
    fn peak_rss_comes_from_vm_hwm() {
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t    1234 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(vm_hwm(status), Some(1234 * 1024));
        assert_eq!(vm_hwm("Name: x\n"), None);
        assert_eq!(vm_hwm("VmHWM: lots\n"), None);
        // On Linux the real file has it.
        if cfg!(target_os = "linux") {
            assert!(peak_rss_bytes().unwrap() > 0);
        }
    }
}
