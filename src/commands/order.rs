//! `orderflow order ORDER_ID`: one order's status and the timeline of its status changes, read
//! from the orders table with a strongly consistent read (an operator's view: it needs AWS
//! credentials, not the public API).
//!
//! Exit codes: 0 found, 1 error (including an unknown order id).

use std::fmt;
use std::process::ExitCode;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde_json::Value;

use super::send_order::attributes_to_json;
use super::{connect, emit, load_spec, pick};
use crate::cli::{Global, OrderArgs};
use crate::error::Error;

/// Attribute holding the list of `{ status, at, reasons? }` transitions.
const STATUS_HISTORY: &str = "status_history";

/// One status change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    pub status: String,
    /// RFC 3339, UTC.
    pub at: String,
    /// Milliseconds since the previous transition (none for the first, or an unreadable time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_ms: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Value>,
}

/// What `order` prints: the current status, the timeline, and the whole record.
#[derive(Debug, Serialize)]
pub struct OrderView {
    pub order_id: String,
    pub table: String,
    pub status: String,
    pub history: Vec<Transition>,
    /// Why the order was rejected.
    pub reasons: Vec<Value>,
    pub record: Value,
}

impl fmt::Display for OrderView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Order {}: {}", self.order_id, self.status)?;
        let field = |k: &str| self.record.get(k).filter(|v| !v.is_null());
        if let (Some(total), Some(currency)) = (field("total_minor"), field("currency")) {
            let customer = field("customer_id").and_then(Value::as_str).unwrap_or("?");
            writeln!(
                f,
                "  customer {customer}, total {total} (minor units of {})",
                currency.as_str().unwrap_or("?")
            )?;
        }
        if self.history.is_empty() {
            writeln!(f, "  (no status history recorded)")?;
        }
        for t in &self.history {
            let after = t
                .after_ms
                .map(|ms| format!("  +{ms} ms"))
                .unwrap_or_default();
            let line = format!("  {}  {:<9}{after}", t.at, t.status);
            writeln!(f, "{}", line.trim_end())?;
            for r in &t.reasons {
                writeln!(f, "      - {}", reason_line(r))?;
            }
        }
        let in_history = self.history.iter().any(|t| !t.reasons.is_empty());
        if !in_history {
            for r in &self.reasons {
                writeln!(f, "  - {}", reason_line(r))?;
            }
        }
        Ok(())
    }
}

fn reason_line(r: &Value) -> String {
    let code = r.get("code").and_then(Value::as_str).unwrap_or("?");
    let msg = r.get("message").and_then(Value::as_str).unwrap_or("");
    format!("{code}: {msg}")
}

pub async fn run(g: &Global, args: OrderArgs) -> Result<ExitCode, Error> {
    let spec = load_spec(g)?;
    let table = pick("table", args.table.as_deref(), spec.tables.keys())?.to_string();
    let ctx = connect(g, spec).await?;
    let table_name = ctx.physical_name(&table);
    let got = ctx
        .aws
        .dynamodb
        .get_item()
        .table_name(&table_name)
        .key(
            order_domain::item::ORDER_ID,
            AttributeValue::S(args.order_id.clone()),
        )
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| match e.as_service_error() {
            Some(se) if se.is_resource_not_found_exception() => Error::Other(format!(
                "table.{table}: table {table_name} does not exist — is the stack deployed? Run `orderflow up` first"
            )),
            _ => Error::aws(format!("table.{table}"), "GetItem", e),
        })?;
    let Some(item) = got.item() else {
        return Err(Error::Other(format!(
            "no order `{}` in table {table_name}",
            args.order_id
        )));
    };
    let view = view(&args.order_id, &table_name, attributes_to_json(item));
    emit(g.output, &view)?;
    Ok(ExitCode::SUCCESS)
}

/// The view of one stored record.
pub fn view(order_id: &str, table: &str, record: Value) -> OrderView {
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let list = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut history: Vec<Transition> = list(&record, STATUS_HISTORY)
        .iter()
        .map(|t| Transition {
            status: text(t, "status").unwrap_or_else(|| "?".into()),
            at: text(t, "at").unwrap_or_default(),
            after_ms: None,
            reasons: list(t, "reasons"),
        })
        .collect();
    for i in 1..history.len() {
        history[i].after_ms = match (
            rfc3339_millis(&history[i - 1].at),
            rfc3339_millis(&history[i].at),
        ) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
    }
    OrderView {
        order_id: order_id.to_string(),
        table: table.to_string(),
        status: text(&record, order_domain::item::STATUS).unwrap_or_else(|| "?".into()),
        history,
        reasons: list(&record, order_domain::item::REASONS),
        record,
    }
}

/// Milliseconds since the Unix epoch of `YYYY-MM-DDTHH:MM:SS[.fff]Z` (what the functions write).
pub(crate) fn rfc3339_millis(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    let digits: String = frac.chars().take(3).collect();
    let ms = format!("{digits:0<3}").parse::<i64>().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1000) + ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_functions_timestamps() {
        assert_eq!(rfc3339_millis("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(
            rfc3339_millis("2026-11-28T13:42:38.476Z"),
            Some(1_795_873_358_476)
        );
        assert_eq!(
            rfc3339_millis("2000-03-01T00:00:01Z"),
            Some(951_868_801_000)
        );
        assert_eq!(rfc3339_millis("not a time"), None);
    }

    #[test]
    fn timeline_with_gaps_and_rejection_reasons() {
        let record = json!({
            "order_id": "o-1",
            "status": "REJECTED",
            "reasons": [{"code": "total_mismatch", "message": "total is 5, items sum to 4"}],
            "status_history": [
                {"status": "RECEIVED", "at": "2026-11-28T13:42:38.476Z"},
                {"status": "REJECTED", "at": "2026-11-28T13:42:38.512Z",
                 "reasons": [{"code": "total_mismatch", "message": "total is 5, items sum to 4"}]},
            ],
        });
        let v = view("o-1", "shop-orders", record);
        assert_eq!(v.status, "REJECTED");
        assert_eq!(v.history.len(), 2);
        assert_eq!(v.history[0].after_ms, None);
        assert_eq!(v.history[1].after_ms, Some(36));
        let text = v.to_string();
        assert!(text.starts_with("Order o-1: REJECTED\n"), "{text}");
        assert!(
            text.contains("2026-11-28T13:42:38.512Z  REJECTED   +36 ms"),
            "{text}"
        );
        assert_eq!(text.matches("total_mismatch").count(), 1, "{text}");
    }

    #[test]
    fn a_record_without_history_still_shows_status_and_reasons() {
        let record = json!({"order_id": "o-2", "status": "REJECTED",
            "reasons": [{"code": "bad", "message": "no"}]});
        let text = view("o-2", "t", record).to_string();
        assert!(text.contains("(no status history recorded)"), "{text}");
        assert!(text.contains("- bad: no"), "{text}");
    }
}
