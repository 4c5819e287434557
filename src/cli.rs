//! Command-line interface (clap derive). Parsing only; behaviour lives in `commands`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Provision and operate an event-driven order pipeline on AWS from a declarative pipeline.yaml.
#[derive(Debug, Parser)]
#[command(name = "orderflow", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct Global {
    /// The pipeline file. Give it before the command (`orderflow -f my.yaml up`): after
    /// `send-order`, `--file` names the order to send.
    #[arg(short = 'f', long = "file", default_value = "pipeline.yaml")]
    pub file: PathBuf,
    /// Use the overrides of this environment of the file (`environments:`); its stack is
    /// `<stack>-<env>` unless it names its own.
    #[arg(
        long = "env",
        global = true,
        env = "ORDERFLOW_ENV",
        value_name = "NAME"
    )]
    pub env: Option<String>,
    /// Send every AWS call to this endpoint (e.g. a local emulator). Also read from AWS_ENDPOINT_URL.
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// AWS region (overrides the file's `region` and the credential chain).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Named AWS profile from the shared config/credentials files.
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Target the local emulator started by `orderflow local start` (test credentials, loopback endpoint).
    #[arg(long, global = true, env = "ORDERFLOW_LOCAL")]
    pub local: bool,
    /// Port of the local emulator used with --local.
    #[arg(
        long,
        global = true,
        env = "ORDERFLOW_LOCAL_PORT",
        default_value_t = 4566
    )]
    pub local_port: u16,
    /// Result as readable text, or as one JSON document on stdout — errors included (`logs`:
    /// one JSON object per line). Progress always goes to stderr.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "ORDERFLOW_OUTPUT",
        default_value_t
    )]
    pub output: OutputFormat,
    /// Only print errors and the result (no progress lines).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// How many resources are read, created, updated or deleted at once (like Terraform's
    /// -parallelism). Lower it if the account is throttled by other work.
    #[arg(
        long,
        global = true,
        env = "ORDERFLOW_PARALLELISM",
        default_value_t = crate::resources::DEFAULT_PARALLELISM,
        value_parser = clap::value_parser!(u16).range(1..=256)
    )]
    pub parallelism: u16,
    /// Seconds `up` and `down` wait for another run's lock on the same stack before giving up
    /// (exit 5); 0 fails at once if the stack is locked.
    #[arg(
        long,
        global = true,
        env = "ORDERFLOW_LOCK_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = crate::lock::DEFAULT_TIMEOUT_SECS
    )]
    pub lock_timeout: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

/// How `send-order` submits the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SubmitVia {
    Api,
    Bus,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check pipeline.yaml (syntax, keys, references, AWS limits). Makes no AWS call.
    Validate,
    /// Show what `up` would change (reads AWS, writes nothing).
    Plan(PlanArgs),
    /// Create or update every resource of the pipeline, in dependency order.
    Up(UpArgs),
    /// Delete every resource this stack owns (the orders table only with --delete-data).
    Down(DownArgs),
    /// Publish an order to the stack's bus and optionally wait for its outcome.
    SendOrder(SendOrderArgs),
    /// Show one order: its status and the timeline of its status changes.
    Order(OrderArgs),
    /// Upload an order file (JSON Lines) where the stack's import rule picks it up, as a
    /// partner would; with --wait, wait for its result and every imported order's final status.
    Import(ImportArgs),
    /// Print sample orders in an import format, JSON Lines or CSV (some invalid with --invalid).
    SampleOrders(SampleOrdersArgs),
    /// Manage the local AWS emulator (MiniStack) on 127.0.0.1.
    Local(LocalArgs),
    /// Break the stack's lock left by a run that crashed (shows who holds it and since when).
    Unlock(UnlockArgs),
    /// One screen for the deployed stack: resources, functions, triggers, queues (dead-letter
    /// queues marked), alarms, the last deploy, orders of the last hour. Exit 6 when something
    /// needs attention (a dead-letter queue holds messages, an alarm is in ALARM...).
    Status,
    /// Print schemas: `schema events [EVENT]`, the OpenAPI 3 schemas of the events the
    /// pipeline publishes, as `up` puts them in the EventBridge schema registry (`--diff`:
    /// compared with the ones EventBridge discovered on the bus); `schema pipeline`, the JSON
    /// Schema of pipeline.yaml for editors.
    Schema(SchemaArgs),
    /// What waits in the stack's dead-letter queues and why; move it back once fixed.
    Dlq(DlqArgs),
    /// The stack's function logs merged in time order, the function on each line.
    Logs(LogsArgs),
    /// Everything that happened to one order: status transitions, each function's log lines
    /// about it, dead-letter queues holding it — one timeline with the time each hop took.
    Trace(TraceArgs),
    /// Watch mode: bring the stack up to date, then on each save rebuild only the edited
    /// function crate and swap only its code, re-plan and apply pipeline.yaml edits, and print
    /// the functions' logs — until Ctrl-C. Holds the stack lock meanwhile.
    Dev(DevArgs),
    /// Shell completion script (bash, zsh, fish, powershell, elvish) on stdout, generated from
    /// these definitions: `orderflow completions bash > ~/.local/share/bash-completion/completions/orderflow`.
    Completions { shell: clap_complete::Shell },
    /// The manual page (roff) on stdout — `orderflow man | man -l -` — or, with --out-dir, one
    /// page per command (orderflow.1, orderflow-up.1, ...) written into that directory.
    Man {
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
    /// The pipeline as a picture, events flowing left to right: Mermaid (renders in GitHub and
    /// GitLab markdown), Graphviz DOT, or SVG (drawn in-process, no Graphviz needed).
    Graph(GraphArgs),
}

#[derive(Debug, Args)]
pub struct DevArgs {
    /// Start without asking (required when not interactive): dev applies every change it sees
    /// without asking.
    #[arg(short, long)]
    pub yes: bool,
    /// Do not print the functions' logs.
    #[arg(long)]
    pub no_logs: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Functions (logical names); default: all of the file's.
    pub functions: Vec<String>,
    /// How far back to start: 30s, 10m, 2h, 1d.
    #[arg(long, default_value = "10m")]
    pub since: String,
    /// Keep printing new lines until Ctrl-C.
    #[arg(long)]
    pub follow: bool,
    /// A CloudWatch Logs filter pattern: a word matches lines containing it; quote a phrase
    /// (`'"order stored"'`); `{ $.level = "ERROR" }` matches JSON fields.
    #[arg(long)]
    pub filter: Option<String>,
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The order's id.
    pub order_id: String,
    /// How far back to look in the logs when the order is not in the table: 30m, 2h, 1d.
    #[arg(long, default_value = "24h")]
    pub since: String,
}

#[derive(Debug, Args)]
pub struct DlqArgs {
    #[command(subcommand)]
    pub command: DlqCommand,
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Each dead-letter queue (or QUEUE): where its messages come from, how many, the oldest's
    /// age, and a preview of each message with its failure reason and order id. Messages are
    /// read without being consumed.
    List {
        /// A dead-letter queue (logical name); default: all of the stack's.
        queue: Option<String>,
        /// At most this many messages previewed per queue.
        #[arg(long, default_value_t = 10)]
        max: usize,
    },
    /// Move the messages of dead-letter queue QUEUE back to where they came from: to the source
    /// queue for a queue's redrive, to the function (invoked asynchronously with the event) for
    /// a rule target's or a function's dead-letter queue. A message is deleted only once sent.
    Redrive {
        /// The dead-letter queue (logical name).
        queue: String,
        /// Move without asking (required when not interactive).
        #[arg(short, long)]
        yes: bool,
        /// At most this many messages (default: all).
        #[arg(long)]
        max: Option<u64>,
    },
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    #[command(subcommand)]
    pub command: SchemaCommand,
}

#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// The schema of every event the pipeline publishes (or of one), generated from the code.
    Events(SchemaEventsArgs),
    /// The JSON Schema of pipeline.yaml (draft-07), generated from the definitions the validator
    /// uses: point an editor at it for completion, hover docs and inline errors.
    Pipeline,
}

#[derive(Debug, Args)]
pub struct SchemaEventsArgs {
    /// Only this event: its detail-type (`OrderPlaced`) or schema name
    /// (`orderflow.orders@OrderPlaced`).
    pub event: Option<String>,
    /// Compare with the schemas EventBridge discovered on the deployed stack's bus (registry
    /// `discovered-schemas`; needs `schemas: { discover: true }` on the bus): per event only
    /// generated, only discovered, same or differing, with the differing properties. Exit 2
    /// when an event differs or is only discovered.
    #[arg(long)]
    pub diff: bool,
    /// With --diff: the bus whose discoverer to report (default: the one bus with
    /// `schemas: { discover: true }`, or the only bus).
    #[arg(long, requires = "diff")]
    pub bus: Option<String>,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// Break the lock without asking (required when not interactive).
    #[arg(short, long)]
    pub yes: bool,
}

#[derive(Debug, Clone, Args)]
pub struct BuildArgs {
    /// Take function binaries from this directory instead of building them
    /// (`<dir>/<crate>`, `<dir>/<crate>/bootstrap` or `<dir>/<crate>.zip`).
    #[arg(long, value_name = "DIR", env = "ORDERFLOW_PREBUILT")]
    pub prebuilt: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[command(flatten)]
    pub build: BuildArgs,
    /// Plan deletion of owned tables the file no longer declares (otherwise they are kept).
    #[arg(long)]
    pub delete_data: bool,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Apply without asking (required when not interactive).
    #[arg(short, long)]
    pub yes: bool,
    #[command(flatten)]
    pub build: BuildArgs,
    /// Also delete owned tables the file no longer declares (and their data).
    #[arg(long)]
    pub delete_data: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Delete without asking (required when not interactive).
    #[arg(short, long)]
    pub yes: bool,
    /// Also delete the stack's tables and all their data.
    #[arg(long)]
    pub delete_data: bool,
}

#[derive(Debug, Args)]
pub struct SendOrderArgs {
    /// Send this order (JSON) instead of a generated sample, exactly as written. It must match
    /// the OrderPlaced schema (fields, types; see --no-schema-check); the business rules (the
    /// total, lengths, currency) are left to the pipeline, which rejects what breaks them.
    #[arg(long = "file", visible_alias = "order-file", value_name = "FILE")]
    pub order_file: Option<PathBuf>,
    /// Send the order even if it does not match the OrderPlaced schema (a missing field, a
    /// wrong type, an unknown field), to test how the pipeline handles malformed events.
    #[arg(long)]
    pub no_schema_check: bool,
    /// Send a generated order that fails validation (total does not match the items).
    #[arg(long, conflicts_with = "order_file")]
    pub invalid: bool,
    /// Override the sample's order id.
    #[arg(long)]
    pub order_id: Option<String>,
    /// Override the sample's customer id.
    #[arg(long)]
    pub customer: Option<String>,
    /// Set the customer's email address (notifications are sent there).
    #[arg(long)]
    pub customer_email: Option<String>,
    /// Override the sample's currency (ISO 4217, e.g. EUR).
    #[arg(long)]
    pub currency: Option<String>,
    /// Override the sample's total, in minor units (cents).
    #[arg(long)]
    pub total_minor: Option<i64>,
    /// How to submit: `api` POSTs to the stack's HTTP API as a customer would; `bus` publishes
    /// the OrderPlaced event directly (AWS credentials, no API needed).
    #[arg(long, value_enum, default_value = "bus")]
    pub via: SubmitVia,
    /// API to submit to (logical name, with --via api); defaults to the only API in the file.
    #[arg(long)]
    pub api: Option<String>,
    /// Idempotency-Key header (with --via api); default: derived from the order id, so sending
    /// the same order again is answered with the first submission instead of a duplicate.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Bus to publish to (logical name); defaults to the only bus in the file.
    #[arg(long)]
    pub bus: Option<String>,
    /// Table to watch with --wait (logical name); defaults to the only table in the file.
    #[arg(long)]
    pub table: Option<String>,
    /// Wait until the order is processed or rejected (polling the table via bus, the order's
    /// status URL via api); exit non-zero on rejection or timeout.
    #[arg(long)]
    pub wait: bool,
    /// Seconds to wait with --wait.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The order file: JSON Lines, one order JSON per line, or CSV (`.csv`), one row per line
    /// item (`orderflow sample-orders [--format csv]` writes one).
    pub file: PathBuf,
    /// Bucket to upload to (logical name); defaults to the only bucket in the file.
    #[arg(long)]
    pub bucket: Option<String>,
    /// Object key; default: the file's name under the prefix the import rule matches.
    #[arg(long)]
    pub key: Option<String>,
    /// Wait for the import's result object, then for every imported order to be PROCESSED or
    /// REJECTED; exit 3 if lines were invalid or orders rejected, 4 on timeout.
    #[arg(long)]
    pub wait: bool,
    /// Seconds to wait with --wait, upload included.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// Orders table to watch with --wait (logical name); defaults to the only table in the file.
    #[arg(long)]
    pub table: Option<String>,
}

#[derive(Debug, Args)]
pub struct SampleOrdersArgs {
    /// How many orders.
    #[arg(long, default_value_t = 10)]
    pub count: u64,
    /// How many of them the pipeline rejects (spread over the file; each breaks one rule).
    #[arg(long, default_value_t = 0)]
    pub invalid: u64,
    /// Order ids are `<prefix>-000001`...; default: a fresh prefix, so runs never collide.
    #[arg(long)]
    pub id_prefix: Option<String>,
    /// `jsonl`: one order JSON per line; `csv`: a header, then one row per line item.
    #[arg(long, value_enum, default_value_t)]
    pub format: OrderFileFormat,
}

/// The formats of order files import-orders reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OrderFileFormat {
    #[default]
    Jsonl,
    Csv,
}

#[derive(Debug, Args)]
pub struct OrderArgs {
    /// The order's id (as returned by `send-order` or the order API).
    pub order_id: String,
    /// Orders table (logical name); defaults to the only table in the file.
    #[arg(long)]
    pub table: Option<String>,
}

#[derive(Debug, Args)]
pub struct LocalArgs {
    #[command(subcommand)]
    pub command: LocalCommand,
}

#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Install (if needed) and start MiniStack in the background on 127.0.0.1.
    Start {
        #[arg(long, env = "ORDERFLOW_LOCAL_PORT", default_value_t = 4566)]
        port: u16,
    },
    /// Stop the background MiniStack.
    Stop {
        #[arg(long, env = "ORDERFLOW_LOCAL_PORT", default_value_t = 4566)]
        port: u16,
    },
    /// Show whether MiniStack is running.
    Status {
        #[arg(long, env = "ORDERFLOW_LOCAL_PORT", default_value_t = 4566)]
        port: u16,
    },
    /// Install MiniStack into orderflow's own virtualenv (done by `start` too).
    Install,
    /// Show the emails the local stack sent through SES (the emulator keeps them instead of
    /// delivering them).
    Mail {
        #[arg(long, env = "ORDERFLOW_LOCAL_PORT", default_value_t = 4566)]
        port: u16,
        /// Only messages to this address.
        #[arg(long)]
        to: Option<String>,
        /// Wait up to this many seconds for at least one message (they are sent asynchronously,
        /// after the order's outcome); exit 4 if none arrived.
        #[arg(long, value_name = "SECONDS", default_value_t = 0)]
        wait: u64,
    },
}

/// The picture's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum GraphFormat {
    #[default]
    Mermaid,
    Dot,
    Svg,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Mermaid, Graphviz DOT, or SVG.
    #[arg(long, value_enum, default_value_t)]
    pub format: GraphFormat,
    /// Also draw the derived resources (each function's role and log group, invoke
    /// permissions, queue policies...), not only what the file declares.
    #[arg(long)]
    pub derived: bool,
    /// Write the picture to this file instead of standard output.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
}
