//! `orderflow logs [FUNCTION…] [--since 10m] [--follow] [--filter PATTERN]`: the stack's
//! function logs merged in time order, the function on each line; readable, or with
//! `--output json` one JSON object per line (NDJSON: `function`, `timestamp`, `event_id`,
//! `message` as written) — a stream, so a follower can read it line by line.
//!
//! `--follow` polls every 2 s, re-reading a 10 s overlap (CloudWatch Logs may show an event a
//! little after its timestamp) and never printing an event twice; Ctrl-C or SIGTERM stops it
//! between lines, exit 0.

use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use super::{connect, load_spec};
use crate::cli::{Global, LogsArgs, OutputFormat};
use crate::error::Error;
use crate::lock::now_ms;
use crate::operations::logs::{self, LogLine};
use crate::resources::Ctx;

pub(crate) const POLL: Duration = Duration::from_secs(2);
pub(crate) const OVERLAP_MS: i64 = 10_000;
/// Event ids remembered to skip repeats across overlapping polls.
const REMEMBERED: usize = 10_000;

/// The logical function names to read: those given (checked, with a did-you-mean), or all.
pub fn functions(ctx: &Ctx, given: &[String]) -> Result<Vec<String>, Error> {
    let declared: Vec<&str> = ctx.spec.functions.keys().map(String::as_str).collect();
    if given.is_empty() {
        return Ok(declared.iter().map(|s| s.to_string()).collect());
    }
    for g in given {
        if !declared.contains(&g.as_str()) {
            let hint = crate::spec::text::suggest(g, declared.iter().copied())
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return Err(Error::Other(format!(
                "no function `{g}` in {}{hint}; its functions are: {}",
                ctx.spec.file.display(),
                declared.join(", ")
            )));
        }
    }
    Ok(given.to_vec())
}

/// Prints log lines once each (polls overlap), readable or as NDJSON.
pub(crate) struct Printer {
    output: OutputFormat,
    width: usize,
    seen: HashSet<String>,
    order: VecDeque<String>,
}

impl Printer {
    pub(crate) fn new(output: OutputFormat, functions: &[String]) -> Printer {
        Printer {
            output,
            width: functions.iter().map(String::len).max().unwrap_or(0),
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Print the lines not printed before; the newest timestamp printed.
    pub(crate) fn print(&mut self, lines: &[LogLine]) -> Result<Option<i64>, Error> {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let mut newest = None;
        for l in lines {
            if !self.seen.insert(l.event_id.clone()) {
                continue;
            }
            self.order.push_back(l.event_id.clone());
            if self.order.len() > REMEMBERED {
                if let Some(old) = self.order.pop_front() {
                    self.seen.remove(&old);
                }
            }
            let text = match self.output {
                OutputFormat::Text => logs::readable(l, self.width),
                OutputFormat::Json => serde_json::to_string(l)
                    .map_err(|e| Error::Other(format!("serialising a log line: {e}")))?,
            };
            writeln!(out, "{text}").map_err(|e| Error::io("writing to stdout", e))?;
            newest = Some(l.timestamp);
        }
        out.flush().map_err(|e| Error::io("writing to stdout", e))?;
        Ok(newest)
    }
}

pub async fn run(g: &Global, args: LogsArgs) -> Result<ExitCode, Error> {
    let since = logs::parse_duration(&args.since).map_err(Error::Other)?;
    let spec = load_spec(g)?;
    let ctx = connect(g, spec).await?;
    let functions = functions(&ctx, &args.functions)?;
    let mut printer = Printer::new(g.output, &functions);
    let filter = args.filter.as_deref();
    let mut start = i64::try_from(now_ms()).unwrap_or(i64::MAX) - since;
    let first = logs::read(&ctx, &functions, start, None, filter).await?;
    for f in &first.no_group {
        if !g.quiet {
            eprintln!(
                "{f}: no log group yet (the function has not run, or the stack is not deployed)"
            );
        }
    }
    if let Some(t) = printer.print(&first.lines)? {
        start = t;
    }
    if !args.follow {
        return Ok(ExitCode::SUCCESS);
    }
    let mut stop = stop_signals()?;
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(ExitCode::SUCCESS),
            _ = tokio::time::sleep(POLL) => {}
        }
        let read = tokio::select! {
            _ = &mut stop => return Ok(ExitCode::SUCCESS),
            r = logs::read(&ctx, &functions, start - OVERLAP_MS, None, filter) => r?,
        };
        if let Some(t) = printer.print(&read.lines)? {
            start = start.max(t);
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) fn stop_signals(
) -> Result<std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>, Error> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| Error::io("listening for SIGTERM", e))?;
    let mut int =
        signal(SignalKind::interrupt()).map_err(|e| Error::io("listening for SIGINT", e))?;
    Ok(Box::pin(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }))
}
