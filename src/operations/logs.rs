//! The stack's function logs: CloudWatch Logs events of `/aws/lambda/<stack>-<function>`, read
//! with FilterLogEvents and merged across functions in time order (`orderflow logs`, `trace`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
use serde::Serialize;
use serde_json::Value;

use crate::error::Error;
use crate::kinds::log_group::log_group_name;
use crate::resources::Ctx;

/// One log event of one function.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    /// The function's logical name.
    pub function: String,
    /// Unix milliseconds.
    pub timestamp: i64,
    pub event_id: String,
    /// The line as the function (or Lambda) wrote it.
    pub message: String,
}

/// What one read found: the lines, and the functions whose log group does not exist yet.
#[derive(Debug, Default)]
pub struct Read {
    pub lines: Vec<LogLine>,
    pub no_group: Vec<String>,
}

/// Lines of `functions` from `start_ms` on (to `end_ms`, if given) matching the CloudWatch
/// filter pattern `filter`, oldest first (ties: by function, then event id).
pub async fn read(
    ctx: &Ctx,
    functions: &[String],
    start_ms: i64,
    end_ms: Option<i64>,
    filter: Option<&str>,
) -> Result<Read, Error> {
    let mut out = Read::default();
    for function in functions {
        let group = log_group_name(&ctx.spec.stack, function);
        let mut pages = ctx
            .aws
            .logs
            .filter_log_events()
            .log_group_name(&group)
            .start_time(start_ms)
            .set_end_time(end_ms)
            .set_filter_pattern(filter.map(str::to_string))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            match page {
                Ok(p) => out.lines.extend(p.events().iter().map(|e| {
                    let message = e.message().unwrap_or_default().trim_end().to_string();
                    let timestamp = e.timestamp().unwrap_or_default();
                    LogLine {
                        event_id: e
                            .event_id()
                            .filter(|id| !id.is_empty())
                            .map(str::to_string)
                            .unwrap_or_else(|| {
                                stand_in_id(e.log_stream_name(), timestamp, &message)
                            }),
                        function: function.clone(),
                        timestamp,
                        message,
                    }
                })),
                Err(e) if e.code() == Some("ResourceNotFoundException") => {
                    out.no_group.push(function.clone());
                    break;
                }
                Err(e) => return Err(Error::aws(&group, "FilterLogEvents", e)),
            }
        }
    }
    sort(&mut out.lines);
    Ok(out)
}

/// An id for an event an endpoint returned without one (the local emulator does), so repeats
/// across polls are still recognised: its stream, time and text.
fn stand_in_id(stream: Option<&str>, timestamp: i64, message: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    message.hash(&mut h);
    format!("{}/{timestamp}/{:016x}", stream.unwrap_or(""), h.finish())
}

/// Oldest first. Stable: lines of one millisecond keep the order they were read in — per
/// function, the order CloudWatch Logs returns them (a START before its END and REPORT).
pub fn sort(lines: &mut [LogLine]) {
    lines.sort_by_key(|l| l.timestamp);
}

/// Fields of a JSON log line shown by name rather than as `key=value`.
const SHOWN_APART: &[&str] = &["timestamp", "level", "message", "target", "span", "fields"];

/// A line for people: `HH:MM:SS.mmm function LEVEL message key=value …` for the functions'
/// JSON lines; Lambda's own lines (START, END, REPORT) as they are.
pub fn readable(line: &LogLine, width: usize) -> String {
    let time = crate::lock::utc(u64::try_from(line.timestamp).unwrap_or(0));
    // `2026-11-28T20:01:02.345Z` → `20:01:02.345`
    let clock = time.get(11..23).unwrap_or(&time);
    let mut out = format!("{clock} {:<width$} ", line.function);
    match serde_json::from_str::<Value>(&line.message) {
        Ok(Value::Object(map)) => {
            let level = map.get("level").and_then(Value::as_str).unwrap_or("");
            let message = map
                .get("message")
                .or_else(|| map.get("fields").and_then(|f| f.get("message")))
                .and_then(Value::as_str)
                .unwrap_or("");
            let _ = write!(out, "{level:<5} {message}");
            let mut fields: BTreeMap<&str, String> = BTreeMap::new();
            for (k, v) in &map {
                if !SHOWN_APART.contains(&k.as_str()) {
                    fields.insert(k, value_text(v));
                }
            }
            // The invocation span's fields (the request id), when the function logs them.
            if let Some(Value::Object(span)) = map.get("span") {
                for (k, v) in span {
                    if k != "name" {
                        fields.entry(k).or_insert_with(|| value_text(v));
                    }
                }
            }
            for (k, v) in fields {
                let _ = write!(out, " {k}={v}");
            }
        }
        _ => out.push_str(&line.message),
    }
    out
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `10m`, `2h`, `30s`, `1d` (or a bare number of minutes) as milliseconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "m"),
    };
    let n: i64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration: write e.g. 30s, 10m, 2h or 1d"))?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("`{text}`: unknown unit `{unit}`; use s, m, h or d")),
    };
    Ok(n * unit_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(function: &str, ts: i64, id: &str, message: &str) -> LogLine {
        LogLine {
            function: function.into(),
            timestamp: ts,
            event_id: id.into(),
            message: message.into(),
        }
    }

    #[test]
    fn lines_of_several_functions_merge_in_time_order() {
        let mut lines = vec![
            line("process-order", 2_000, "b", "x"),
            line("validate-order", 1_000, "a", "y"),
            line("get-order", 2_000, "c", "z"),
        ];
        sort(&mut lines);
        let order: Vec<&str> = lines.iter().map(|l| l.function.as_str()).collect();
        // Same millisecond: as read.
        assert_eq!(order, ["validate-order", "process-order", "get-order"]);
    }

    #[test]
    fn json_lines_read_as_level_message_and_fields() {
        let l = line(
            "process-order",
            1_764_360_062_345,
            "e",
            r#"{"timestamp":"2025-11-28T20:01:02.345Z","level":"INFO","message":"order stored as PROCESSED","target":"process_order","order_id":"ord-1","span":{"request_id":"r-9","name":"invocation"}}"#,
        );
        assert_eq!(
            readable(&l, 14),
            "20:01:02.345 process-order  INFO  order stored as PROCESSED order_id=ord-1 request_id=r-9"
        );
        let platform = line(
            "get-order",
            1_764_360_062_345,
            "f",
            "START RequestId: 1 Version: $LATEST",
        );
        assert!(readable(&platform, 9).ends_with("get-order START RequestId: 1 Version: $LATEST"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10m"), Ok(600_000));
        assert_eq!(parse_duration("2h"), Ok(7_200_000));
        assert_eq!(parse_duration("45"), Ok(2_700_000));
        assert!(parse_duration("5w").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("soon").is_err());
    }
}
