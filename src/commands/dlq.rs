//! `orderflow dlq list [QUEUE]` and `orderflow dlq redrive QUEUE`: what waits in the stack's
//! dead-letter queues and why, and moving it back once the cause is fixed.
//!
//! Exit codes: 0 done (`list` also when messages are waiting: `status` is the gate), 1 error or
//! a redrive refused without `--yes` when not interactive.

use std::fmt;
use std::process::ExitCode;

use serde::Serialize;

use super::{confirm, connect, emit, load_spec};
use crate::cli::{DlqArgs, DlqCommand, Global};
use crate::error::Error;
use crate::operations::dlq::{self, DlqMessage, Redrive, RedrivePath, Source};
use crate::progress::Progress;

pub async fn run(g: &Global, args: DlqArgs) -> Result<ExitCode, Error> {
    let spec = load_spec(g)?;
    let ctx = connect(g, spec).await?;
    match args.command {
        DlqCommand::List { queue, max } => {
            let names: Vec<String> = match queue {
                Some(q) => vec![q],
                None => dlq::sources(&ctx.spec).into_keys().collect(),
            };
            let mut queues = Vec::new();
            for name in names {
                let d = dlq::find(&ctx, &name).await?;
                let (visible, in_flight, delayed) = dlq::counts(&ctx, &d).await?;
                let messages = dlq::peek(&ctx, &d, max).await?;
                queues.push(Listed {
                    queue: d.name,
                    physical: d.physical,
                    sources: d.sources,
                    visible,
                    in_flight,
                    delayed,
                    oldest_age_seconds: messages.iter().filter_map(|m| m.age_seconds).max(),
                    messages,
                });
            }
            emit(g.output, &Listing { queues })?;
        }
        DlqCommand::Redrive { queue, yes, max } => {
            let progress = Progress::new(g.quiet);
            let d = dlq::find(&ctx, &queue).await?;
            let (visible, in_flight, delayed) = dlq::counts(&ctx, &d).await?;
            let held = visible + in_flight + delayed;
            confirm(
                &format!(
                    "Move {} of the ~{held} message(s) in {} back to where they came from?",
                    max.map_or_else(|| "all".to_string(), |m| format!("up to {m}")),
                    d.physical
                ),
                yes,
            )?;
            let r = dlq::redrive(&ctx, &d, max, &progress).await?;
            emit(g.output, &Redriven(r))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Serialize)]
struct Listed {
    queue: String,
    physical: String,
    sources: Vec<Source>,
    visible: u64,
    in_flight: u64,
    delayed: u64,
    oldest_age_seconds: Option<u64>,
    /// A preview of the messages (at most `--max`).
    messages: Vec<DlqMessage>,
}

#[derive(Debug, Serialize)]
struct Listing {
    queues: Vec<Listed>,
}

fn source_text(s: &Source) -> String {
    match s {
        Source::Queue { queue } => format!("queue {queue} (received too often)"),
        Source::Function { function } => {
            format!("function {function} (failed asynchronous invocations)")
        }
        Source::RuleTarget { rule, destination } => {
            format!("rule {rule} → {destination} (events EventBridge could not deliver)")
        }
    }
}

impl fmt::Display for Listing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for q in &self.queues {
            let held = q.visible + q.in_flight + q.delayed;
            writeln!(
                f,
                "{} ({}): {held} message(s){}",
                q.queue,
                q.physical,
                q.oldest_age_seconds
                    .map(|a| format!(", oldest {a} s old"))
                    .unwrap_or_default()
            )?;
            let from: Vec<String> = q.sources.iter().map(source_text).collect();
            writeln!(f, "  from: {}", from.join("; "))?;
            for m in &q.messages {
                writeln!(
                    f,
                    "  - {} sent {}{}{}",
                    m.message_id,
                    m.sent_at.as_deref().unwrap_or("?"),
                    m.receive_count
                        .map(|n| format!(", received {n} time(s)"))
                        .unwrap_or_default(),
                    m.order_id
                        .as_deref()
                        .map(|o| format!(", order {o}"))
                        .unwrap_or_default()
                )?;
                if let Some(r) = &m.reason {
                    writeln!(f, "    reason: {r}")?;
                }
                writeln!(f, "    {}", m.preview)?;
            }
            if held > 0 {
                writeln!(
                    f,
                    "  once the cause is fixed: orderflow dlq redrive {}",
                    q.queue
                )?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
struct Redriven(Redrive);

impl fmt::Display for Redriven {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.0;
        let how = match r.path {
            RedrivePath::SqsMoveTask => format!("to queue {} by an SQS message move task", r.to),
            RedrivePath::ReceiveSendDelete => format!(
                "to queue {} (received, sent, then deleted from the dead-letter queue)",
                r.to
            ),
            RedrivePath::InvokeFunction => format!(
                "to function {} (invoked asynchronously with each event, then deleted)",
                r.to
            ),
        };
        writeln!(f, "Moved {} message(s) out of {} {how}.", r.moved, r.queue)?;
        for l in &r.left {
            writeln!(f, "Left in {}: {} ({})", r.queue, l.message_id, l.why)?;
        }
        if let Some(n) = &r.note {
            writeln!(f, "Note: {n}")?;
        }
        Ok(())
    }
}
