//! `orderflow status`: one screen for the stack — resources, functions, mappings, tables, queues
//! (dead-letter queues marked), alarms, the last deploy and the orders of the last hour.
//!
//! Exit codes: 0 healthy, [`EXIT_ATTENTION`] when something needs attention (a dead-letter queue
//! holds messages, an alarm is in ALARM, a function or mapping failed, resources are missing),
//! 1 error.

use std::fmt;
use std::process::ExitCode;

use serde::Serialize;

use super::{connect, emit, load_spec};
use crate::cli::Global;
use crate::error::Error;
use crate::graph::Graph;
use crate::lock::{now_ms, utc};
use crate::operations::status::{self, StackStatus};

/// `status` found something that needs attention.
pub const EXIT_ATTENTION: u8 = 6;

pub async fn run(g: &Global) -> Result<ExitCode, Error> {
    let spec = load_spec(g)?;
    let graph = Graph::build(&spec)?;
    let ctx = connect(g, spec).await?;
    let s = status::read(&ctx, &graph).await?;
    emit(g.output, &View(&s))?;
    Ok(if s.healthy() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_ATTENTION)
    })
}

/// The status as printed: the JSON is the [`StackStatus`] itself.
#[derive(Serialize)]
#[serde(transparent)]
struct View<'a>(&'a StackStatus);

/// "3 min ago", "2 h 5 min ago"
fn ago(ms: u64) -> String {
    let s = now_ms().saturating_sub(ms) / 1000;
    match s {
        0..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h {} min ago", s / 3600, s % 3600 / 60),
        _ => format!("{} days ago", s / 86_400),
    }
}

fn or_dash(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

fn count(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |n| n.to_string())
}

impl fmt::Display for View<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        writeln!(f, "Stack {} ({})", s.stack, s.region)?;
        match &s.last_run {
            Some(r) => writeln!(
                f,
                "  last change: `{}` finished {} ({}) by {}{}",
                r.command,
                utc(r.finished_at),
                ago(r.finished_at),
                r.by,
                r.job
                    .as_deref()
                    .map(|j| format!(", {j}"))
                    .unwrap_or_default()
            )?,
            None => writeln!(f, "  last change: none recorded (no `up` has finished yet)")?,
        }
        let present = s.resources.iter().filter(|r| r.state == "present").count();
        let skipped = s.resources.iter().filter(|r| r.state == "skipped").count();
        writeln!(
            f,
            "  resources: {present} of {} declared exist{} (`orderflow plan` shows drift)",
            s.resources.len() - skipped,
            if skipped > 0 {
                format!("; {skipped} skipped: this endpoint has no API for them")
            } else {
                String::new()
            }
        )?;
        for r in s
            .resources
            .iter()
            .filter(|r| r.state != "present" && r.state != "skipped")
        {
            writeln!(
                f,
                "    {:<9} {} {} ({})",
                r.state, r.kind, r.name, r.physical
            )?;
        }

        if !s.functions.is_empty() {
            writeln!(f, "\nFunctions                      state      last update")?;
            for fun in &s.functions {
                writeln!(
                    f,
                    "  {:<28} {:<10} {}{}",
                    fun.name,
                    or_dash(&fun.state),
                    or_dash(&fun.last_update_status),
                    fun.reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                )?;
            }
        }
        if !s.mappings.is_empty() {
            writeln!(f, "\nTriggers")?;
            for m in &s.mappings {
                writeln!(
                    f,
                    "  {:<28} {:<10} {} → {}{}",
                    m.name,
                    or_dash(&m.state),
                    m.queue,
                    m.function,
                    m.last_processing_result
                        .as_deref()
                        .map(|r| format!(" (last result: {r})"))
                        .unwrap_or_default()
                )?;
            }
        }
        if !s.tables.is_empty() {
            writeln!(f, "\nTables")?;
            for t in &s.tables {
                writeln!(
                    f,
                    "  {:<28} {:<10} ~{} items",
                    t.name,
                    or_dash(&t.status),
                    t.approximate_items
                        .map_or_else(|| "-".into(), |n| n.to_string())
                )?;
            }
        }
        if !s.pipes.is_empty() {
            writeln!(f, "\nChange events (pipes)")?;
            for p in &s.pipes {
                writeln!(
                    f,
                    "  {:<28} {:<10} {}{}",
                    p.table,
                    or_dash(&p.state),
                    p.physical,
                    p.reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                )?;
            }
        }
        if !s.queues.is_empty() {
            writeln!(
                f,
                "\nQueues                         visible  in flight  delayed"
            )?;
            for q in &s.queues {
                let mark = match (q.dead_letter, q.held()) {
                    (true, 0) => "  (dead-letter queue)",
                    (true, _) => "  ← DEAD-LETTER QUEUE HOLDS MESSAGES",
                    _ => "",
                };
                writeln!(
                    f,
                    "  {:<28} {:>7}  {:>9}  {:>7}{mark}",
                    q.name,
                    count(q.visible),
                    count(q.in_flight),
                    count(q.delayed)
                )?;
            }
        }
        writeln!(f, "\nAlarms")?;
        if s.alarms.is_empty() {
            writeln!(f, "  (none declared)")?;
        }
        for a in &s.alarms {
            writeln!(
                f,
                "  {:<40} {:<17} since {}",
                a.name,
                a.state,
                or_dash(&a.since)
            )?;
        }
        for o in &s.orders {
            let counts: Vec<String> = o
                .by_status
                .iter()
                .map(|(status, n)| format!("{status} {n}"))
                .collect();
            writeln!(
                f,
                "\nOrders received in the last hour ({}): {}{}",
                o.table,
                if counts.is_empty() {
                    "none".to_string()
                } else {
                    counts.join(", ")
                },
                if o.complete {
                    ""
                } else {
                    " (at least: the table is larger than status reads)"
                }
            )?;
        }
        if s.problems.is_empty() {
            writeln!(f, "\nHealthy.")
        } else {
            writeln!(f, "\nNeeds attention:")?;
            for p in &s.problems {
                writeln!(f, "  - {p}")?;
            }
            Ok(())
        }
    }
}
