//! Everything that happened to one order, as one timeline (`orderflow trace ORDER_ID`): its
//! status transitions in the orders table, every function log line that names it (the
//! functions log `order_id` on the lines about an order: the events they received and
//! published, status writes, notifications, failures), and whether a dead-letter queue holds it.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde_json::Value;

use crate::commands::order::rfc3339_millis;
use crate::commands::send_order::attributes_to_json;
use crate::error::Error;
use crate::operations::{dlq, logs};
use crate::resources::Ctx;

/// How far before the order's first recorded time log lines are looked for (a submission is
/// logged before the order is written).
const BEFORE_MS: i64 = 60_000;
/// At most this many messages are read from each dead-letter queue to look for the order.
const DLQ_SCAN: usize = 100;

/// One thing that happened.
#[derive(Debug, Clone, Serialize)]
pub struct Hop {
    /// RFC 3339 UTC.
    pub at: String,
    #[serde(skip)]
    pub at_ms: i64,
    /// Milliseconds since the previous hop.
    pub after_ms: Option<i64>,
    /// `table`, a function's logical name, or `dlq:<queue>`.
    pub source: String,
    /// `status`, `log` or `dead_letter`.
    pub kind: &'static str,
    /// The status, the log line's message, or the dead-letter reason.
    pub what: String,
    /// A log line's level (INFO, WARN, ERROR), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// The raw log line or dead-letter message preview.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    pub order_id: String,
    /// The current status in the table, if the order is there.
    pub status: Option<String>,
    pub hops: Vec<Hop>,
    /// Dead-letter queues holding a message about the order.
    pub dead_letter_queues: Vec<String>,
    /// Functions whose logs could not be read (no log group yet).
    pub no_logs: Vec<String>,
}

impl Trace {
    pub fn found(&self) -> bool {
        !self.hops.is_empty()
    }
}

pub async fn trace(ctx: &Ctx, order_id: &str, since_ms: i64) -> Result<Trace, Error> {
    let mut hops = Vec::new();
    let mut status = None;
    let mut first_ms: Option<i64> = None;
    for table in ctx.spec.tables.keys() {
        let physical = ctx.physical_name(table);
        let got = ctx
            .aws
            .dynamodb
            .get_item()
            .table_name(&physical)
            .key(
                order_domain::item::ORDER_ID,
                AttributeValue::S(order_id.to_string()),
            )
            .consistent_read(true)
            .send()
            .await;
        let item = match got {
            Ok(o) => o.item,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                None
            }
            Err(e) => return Err(Error::aws(format!("table.{table}"), "GetItem", e)),
        };
        let Some(item) = item else { continue };
        let record = attributes_to_json(&item);
        status = record
            .get(order_domain::item::STATUS)
            .and_then(Value::as_str)
            .map(str::to_string);
        for t in record
            .get(order_domain::item::STATUS_HISTORY)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let at = t.get("at").and_then(Value::as_str).unwrap_or_default();
            let Some(ms) = rfc3339_millis(at) else {
                continue;
            };
            first_ms = Some(first_ms.map_or(ms, |f| f.min(ms)));
            let mut what = t
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            if let Some(reasons) = t.get("reasons").and_then(Value::as_array) {
                let codes: Vec<&str> = reasons
                    .iter()
                    .filter_map(|r| r.get("code").and_then(Value::as_str))
                    .collect();
                if !codes.is_empty() {
                    what.push_str(&format!(" ({})", codes.join(", ")));
                }
            }
            hops.push(Hop {
                at: at.to_string(),
                at_ms: ms,
                after_ms: None,
                source: format!("table {table}"),
                kind: "status",
                what,
                level: None,
                raw: None,
            });
        }
    }

    let functions: Vec<String> = ctx.spec.functions.keys().cloned().collect();
    let start = first_ms
        .map_or(since_ms, |f| f - BEFORE_MS)
        .min(since_ms.max(0));
    // A quoted term matches the id exactly (CloudWatch filter pattern syntax), not its words.
    let pattern = format!("\"{}\"", order_id.replace('"', ""));
    let read = logs::read(ctx, &functions, start, None, Some(&pattern)).await?;
    for l in &read.lines {
        let parsed: Option<Value> = serde_json::from_str(&l.message).ok();
        let field = |k: &str| {
            parsed
                .as_ref()
                .and_then(|p| p.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        // Only lines about this order (a quoted term can still match a longer id's part).
        if let Some(id) = field("order_id") {
            if id != order_id {
                continue;
            }
        }
        hops.push(Hop {
            at: crate::lock::utc(u64::try_from(l.timestamp).unwrap_or(0)),
            at_ms: l.timestamp,
            after_ms: None,
            source: l.function.clone(),
            kind: "log",
            what: field("message").unwrap_or_else(|| l.message.clone()),
            level: field("level"),
            raw: Some(l.message.clone()),
        });
    }

    let mut dead_letter_queues = Vec::new();
    for name in dlq::sources(&ctx.spec).into_keys() {
        let Ok(d) = dlq::find(ctx, &name).await else {
            continue; // not deployed: nothing can be in it
        };
        for m in dlq::peek(ctx, &d, DLQ_SCAN).await? {
            if m.order_id.as_deref() != Some(order_id) {
                continue;
            }
            let at_ms = m
                .sent_at
                .as_deref()
                .and_then(rfc3339_millis)
                .unwrap_or_default();
            hops.push(Hop {
                at: m.sent_at.clone().unwrap_or_default(),
                at_ms,
                after_ms: None,
                source: format!("dlq {name}"),
                kind: "dead_letter",
                what: format!(
                    "in dead-letter queue {name}{}",
                    m.reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
                level: None,
                raw: Some(m.preview.clone()),
            });
            if !dead_letter_queues.contains(&name) {
                dead_letter_queues.push(name.clone());
            }
        }
    }

    order(&mut hops);
    Ok(Trace {
        order_id: order_id.to_string(),
        status,
        hops,
        dead_letter_queues,
        no_logs: read.no_group,
    })
}

/// Time order (stable: a status write and its log line keep the order they were found in), and
/// the time since the previous hop.
pub fn order(hops: &mut [Hop]) {
    hops.sort_by_key(|h| h.at_ms);
    for i in 1..hops.len() {
        hops[i].after_ms = Some(hops[i].at_ms - hops[i - 1].at_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(at_ms: i64, source: &str) -> Hop {
        Hop {
            at: String::new(),
            at_ms,
            after_ms: None,
            source: source.into(),
            kind: "log",
            what: String::new(),
            level: None,
            raw: None,
        }
    }

    #[test]
    fn hops_are_ordered_with_the_time_each_took() {
        let mut hops = vec![hop(300, "c"), hop(100, "a"), hop(250, "b")];
        order(&mut hops);
        let sources: Vec<&str> = hops.iter().map(|h| h.source.as_str()).collect();
        assert_eq!(sources, ["a", "b", "c"]);
        let took: Vec<Option<i64>> = hops.iter().map(|h| h.after_ms).collect();
        assert_eq!(took, [None, Some(150), Some(50)]);
    }
}
