//! One file per command. Shared here: loading the spec (always first, before any AWS call),
//! connecting to AWS, printing results as text or JSON, and asking for confirmation.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use serde::Serialize;

use crate::aws::{Clients, Target};
use crate::cli::{Cli, Command, Global, OutputFormat};
use crate::error::Error;
use crate::lock::{self, LockReport};
use crate::resources::Ctx;
use crate::spec::{self, Spec};

pub mod dev;
pub mod dlq;
pub mod docs;
pub mod down;
pub mod graph;
pub mod import;
pub mod local;
pub mod logs;
pub mod order;
pub mod plan;
pub mod sample_orders;
pub mod schema;
pub mod send_order;
pub mod status;
pub mod trace;
pub mod unlock;
pub mod up;
pub mod validate;

/// Run one parsed command line; the returned code is the process exit code.
pub async fn run(cli: Cli) -> Result<ExitCode, Error> {
    let g = &cli.global;
    match cli.command {
        Command::Validate => validate::run(g),
        Command::Plan(a) => plan::run(g, a).await,
        Command::Up(a) => up::run(g, a).await,
        Command::Down(a) => down::run(g, a).await,
        Command::SendOrder(a) => send_order::run(g, a).await,
        Command::Order(a) => order::run(g, a).await,
        Command::Import(a) => import::run(g, a).await,
        Command::SampleOrders(a) => sample_orders::run(a),
        Command::Local(a) => local::run(g, a).await,
        Command::Unlock(a) => unlock::run(g, a).await,
        Command::Status => status::run(g).await,
        Command::Schema(a) => schema::run(g, a).await,
        Command::Dlq(a) => dlq::run(g, a).await,
        Command::Logs(a) => logs::run(g, a).await,
        Command::Trace(a) => trace::run(g, a).await,
        Command::Dev(a) => dev::run(g, a).await,
        Command::Completions { shell } => docs::completions(shell),
        Command::Man { out_dir } => docs::man(out_dir.as_deref()),
        Command::Graph(a) => graph::run(g, a),
    }
}

/// Read and validate the pipeline. Every command starts here, so bad input never reaches AWS.
pub fn load_spec(g: &Global) -> Result<Spec, Error> {
    Ok(spec::load_env(&g.file, g.env.as_deref())?)
}

/// Where to send AWS calls: `--local` means the emulator on loopback with test credentials.
pub fn target(g: &Global, spec: &Spec) -> Target {
    let endpoint_url = if g.local {
        Some(format!("http://127.0.0.1:{}", g.local_port))
    } else {
        g.endpoint_url.clone()
    };
    Target {
        endpoint_url,
        region: g.region.clone().or_else(|| spec.region.clone()),
        profile: g.profile.clone(),
        local: g.local,
    }
}

/// Spec + clients, ready for providers. `artifacts` are added by commands that deploy code.
///
/// First one quick identity call (`crate::identity`): no credentials, an unreachable endpoint
/// or an account the file's `accounts` does not allow stop the run here, before any other call.
/// The identity is shown on stderr (the run's header) unless `--quiet`.
pub async fn connect(g: &Global, spec: Spec) -> Result<Ctx, Error> {
    let target = target(g, &spec);
    let config = crate::aws::load_config(&target, None).await;
    let endpoint = crate::identity::Endpoint {
        custom: target.endpoint_url.clone(),
        region: config
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".into()),
        local: g.local,
        profile: target
            .profile
            .clone()
            .or_else(|| std::env::var("AWS_PROFILE").ok()),
    };
    let identity = crate::identity::whoami(&config, &endpoint).await?;
    if !spec.accounts.is_empty() && !spec.accounts.contains(&identity.account) {
        return Err(Error::AccountNotAllowed {
            account: identity.account,
            allowed: spec.accounts.join(", "),
            file: spec.file.display().to_string(),
        });
    }
    if !g.quiet {
        match &spec.environment {
            Some(env) => eprintln!("{identity}; environment {env}, stack {}", spec.stack),
            None => eprintln!("{identity}"),
        }
    }
    let mut aws = Clients::from_config(&config);
    *aws.caller.lock().expect("caller lock") =
        Some((identity.partition.clone(), identity.account.clone()));
    aws.identity = Some(identity);
    Ok(Ctx {
        region: aws.region.clone(),
        spec: Arc::new(spec),
        aws,
        artifacts: Default::default(),
        parallelism: usize::from(g.parallelism),
    })
}

/// Directory holding the pipeline file (and the Cargo workspace with `functions/`).
pub fn project_root(file: &Path) -> std::path::PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    }
}

/// The one logical resource of a kind the command should use: the flag, or the only one declared.
pub fn pick<'a>(
    kind: &str,
    flag: Option<&'a str>,
    names: impl Iterator<Item = &'a String>,
) -> Result<&'a str, Error> {
    let names: Vec<&String> = names.collect();
    if let Some(f) = flag {
        return names
            .iter()
            .find(|n| n.as_str() == f)
            .map(|n| n.as_str())
            .ok_or_else(|| {
                Error::Other(format!(
                    "no {kind} named `{f}` in the pipeline (declared: {})",
                    join(&names)
                ))
            });
    }
    match names.as_slice() {
        [one] => Ok(one.as_str()),
        [] => Err(Error::Other(format!("the pipeline declares no {kind}"))),
        many => Err(Error::Other(format!(
            "the pipeline declares several {kind}s ({}); choose one with --{kind}",
            join(many)
        ))),
    }
}

fn join(names: &[&String]) -> String {
    names
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Print a result: its Display for text, its Serialize for `--output json` (one JSON document on stdout).
pub fn emit<T: std::fmt::Display + Serialize>(
    format: OutputFormat,
    value: &T,
) -> Result<(), Error> {
    match format {
        OutputFormat::Text => print!("{value}"),
        OutputFormat::Json => {
            let json = serde_json::to_string_pretty(value)
                .map_err(|e| Error::Other(format!("serialising output: {e}")))?;
            println!("{json}");
        }
    }
    std::io::stdout()
        .flush()
        .map_err(|e| Error::io("writing output", e))
}

/// Ask before doing something destructive. `--yes` skips the question; without a terminal and
/// without `--yes` the answer is no — CI must say so explicitly.
pub fn confirm(question: &str, yes: bool) -> Result<(), Error> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::Refused(format!(
            "{question} — not asking because standard input is not a terminal; pass --yes to proceed"
        )));
    }
    eprint!("{question} Type 'yes' to continue: ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    let mut read = || std::io::stdin().lock().read_line(&mut answer);
    // The wait for a human must not stall other tasks on this worker (the stack lock's
    // heartbeat renews the lease meanwhile).
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    let read = if multi_thread {
        tokio::task::block_in_place(read)
    } else {
        read()
    };
    read.map_err(|e| Error::io("reading confirmation", e))?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(Error::Refused("cancelled: nothing was changed".into()))
    }
}

/// Run `work` (a command's plan and changes) under the stack lock: wait up to
/// `--lock-timeout` for another run, then hold, renew and release it. [`Error::Locked`] (exit
/// 5) when the stack stayed locked.
pub async fn under_lock<T>(
    g: &Global,
    ctx: &Ctx,
    command: &str,
    progress: &crate::progress::Progress,
    work: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<(T, LockReport), Error> {
    let timeout = std::time::Duration::from_secs(g.lock_timeout);
    match lock::acquire(ctx, command, timeout, progress).await? {
        lock::Acquired::Busy(locked) => Err(Error::Locked(locked)),
        lock::Acquired::Held(held) => {
            let (result, report) = held.hold(work, progress).await;
            Ok((result?, report))
        }
    }
}

/// API call counts, to show that an unchanged `up` writes nothing to the stack.
#[derive(Debug, Clone, Serialize)]
pub struct CallCounts {
    pub total: usize,
    /// Calls that change the stack's resources. The stack lock's own writes (its item in
    /// `orderflow.locks`) are in `total` and `by_operation`, and counted in `lock.api_calls`.
    pub writes: usize,
    /// `Service.Operation` → calls, to see where the calls go.
    pub by_operation: std::collections::BTreeMap<String, usize>,
}

impl CallCounts {
    pub fn of(ctx: &Ctx) -> CallCounts {
        let calls = ctx.aws.calls.calls();
        let mut by_operation = std::collections::BTreeMap::new();
        for c in &calls {
            *by_operation
                .entry(format!("{}.{}", c.service, c.operation))
                .or_insert(0) += 1;
        }
        CallCounts {
            total: calls.len(),
            writes: calls.iter().filter(|c| c.is_write()).count(),
            by_operation,
        }
    }

    /// [`CallCounts::of`], with the lock's writes taken out of `writes` (not out of `total`).
    pub fn of_locked(ctx: &Ctx, lock: &LockReport) -> CallCounts {
        let mut counts = CallCounts::of(ctx);
        counts.writes = counts.writes.saturating_sub(lock.writes);
        counts
    }
}
