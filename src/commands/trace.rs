//! `orderflow trace ORDER_ID [--since 24h]`: one order's timeline across the pipeline — status
//! transitions, each function's log lines about it, dead-letter queues holding it — with the
//! time each hop took.
//!
//! Exit codes: 0 found, 1 error or nothing found anywhere (table, logs, dead-letter queues).

use std::fmt;
use std::process::ExitCode;

use serde::Serialize;

use super::{connect, emit, load_spec};
use crate::cli::{Global, TraceArgs};
use crate::error::Error;
use crate::lock::now_ms;
use crate::operations::logs::parse_duration;
use crate::operations::trace::{self, Trace};

pub async fn run(g: &Global, args: TraceArgs) -> Result<ExitCode, Error> {
    let since = parse_duration(&args.since).map_err(Error::Other)?;
    let spec = load_spec(g)?;
    let ctx = connect(g, spec).await?;
    let start = i64::try_from(now_ms()).unwrap_or(i64::MAX) - since;
    let t = trace::trace(&ctx, &args.order_id, start).await?;
    if !t.found() {
        return Err(Error::Other(format!(
            "order `{}` is in no table, no function log of the last {} and no dead-letter queue \
             of stack {}",
            args.order_id, args.since, ctx.spec.stack
        )));
    }
    emit(g.output, &View(&t))?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
#[serde(transparent)]
struct View<'a>(&'a Trace);

impl fmt::Display for View<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        writeln!(
            f,
            "Order {}: {}",
            t.order_id,
            t.status.as_deref().unwrap_or("not in the orders table")
        )?;
        let width = t.hops.iter().map(|h| h.source.len()).max().unwrap_or(0);
        for h in &t.hops {
            let took = h.after_ms.map(|ms| format!("+{ms} ms")).unwrap_or_default();
            writeln!(
                f,
                "  {} {took:>10}  {:<width$}  {}{}",
                h.at,
                h.source,
                h.level
                    .as_deref()
                    .map(|l| format!("{l} "))
                    .unwrap_or_default(),
                h.what
            )?;
        }
        if !t.dead_letter_queues.is_empty() {
            writeln!(
                f,
                "In dead-letter queue(s): {} — once the cause is fixed: orderflow dlq redrive <queue>",
                t.dead_letter_queues.join(", ")
            )?;
        }
        if !t.no_logs.is_empty() {
            writeln!(f, "No logs yet for: {}", t.no_logs.join(", "))?;
        }
        Ok(())
    }
}
