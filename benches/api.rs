//! Benchmark of the order API against a private local emulator (MiniStack).
//!
//! `cargo bench --bench api` (a plain `fn main`, no harness). It starts MiniStack on a free
//! 127.0.0.1 port with a private state directory, deploys the default pipeline with prebuilt
//! function binaries (`up --prebuilt`), and checks two goals:
//!
//! 1. `send-order --via api --wait` reports a latency within 1.2 × the emulator's own floor for
//!    the same path, measured in the same run and interleaved: this bench POSTs the same kind of
//!    order to `POST /orders` and polls the orders table with a consistent GetItem every ~2 ms
//!    until the order is PROCESSED (API Gateway → submit-order → EventBridge → validate-order →
//!    SQS → process-order). For reference it also follows orders the CLI's way, in-process: the
//!    same POST, then `GET /orders/{order_id}` every 10 ms (as `send-order` polls for its first
//!    3 s) or back to back, recording each GET's round trip.
//! 2. A burst of API submissions (default 500, 25 in flight, retries of 429/5xx with the same
//!    `Idempotency-Key`), 5 % of them invalid by an order rule (the API must refuse them with
//!    400), is fully accounted for: one record per accepted order with a final status, none
//!    stuck, none duplicated, refused ones absent, and — when the pipeline emails customers
//!    (a `notify-customer` function and an email identity) — exactly one email per order, and
//!    the stack's dead-letter queues empty.
//!    No rule is checked only by validate-order (submit-order runs the same
//!    `order_domain::check_json`), so no order can pass the API and then be REJECTED: every
//!    accepted order must end PROCESSED.
//!
//! It prints a table and exits 1 if a goal is missed (2 if the bench itself could not run).
//! The emulator (and every function process it started) is stopped at the end, on failure and on
//! Ctrl-C. Every request goes to the emulator on 127.0.0.1, and every wait has a deadline.
//!
//! Environment:
//! - `ORDERFLOW_BENCH_FUNCTIONS_DIR`: directory with the binary of every function crate the
//!   pipeline declares (default `<target dir>/lambda`).
//! - `ORDERFLOW_BENCH_ORDERS` (default 30, at least 20): orders per latency path.
//! - `ORDERFLOW_BENCH_BURST` (default 500, at least 20, at most 5000): burst submissions.
//! - `ORDERFLOW_BENCH_BURST_CONCURRENCY` (default 25, 1 to 100): burst requests in flight.
//! - `ORDERFLOW_HOME`: where MiniStack is installed (as for `orderflow local`).

#[path = "api/burst.rs"]
mod burst;
#[path = "common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use common::{
    fmt_list, load_average, machine_line, median, render_goals, stats_header, stats_row, Goal,
    Harness, Setup, ORDERFLOW,
};
use order_domain::item::{ORDER_ID, STATUS, STATUS_PROCESSED, STATUS_REJECTED};
use orderflow::local;
use serde_json::Value;

/// Goal 1: median `send-order --via api --wait` latency / median floor latency.
const LATENCY_RATIO_LIMIT: f64 = 1.2;
/// Interval of the floor's GetItem poll.
const FLOOR_POLL: Duration = Duration::from_millis(2);
/// `send-order --wait`'s poll interval for its first 3 s (the informational path's GET poll).
const CLI_POLL: Duration = Duration::from_millis(10);
/// Longest an order may take to reach a final status on the latency paths.
const ORDER_DEADLINE: Duration = Duration::from_secs(30);
/// Orders per path before measuring: they start the function processes (cold starts).
const WARM_UP_ORDERS: usize = 2;
/// One HTTP request's limit (API Gateway gives up after 30 s).
const HTTP_TIMEOUT: Duration = Duration::from_secs(35);

fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::from(2);
        }
    };
    let harness = match Harness::start() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::from(2);
        }
    };
    let bench = Bench {
        endpoint: harness.endpoint.clone(),
        setup: harness.setup.clone(),
        config,
        load_before: load_average(),
    };
    let outcome = harness
        .run(run(&bench))
        .map(|report| (report.render(&bench), report.all_met()));
    harness.finish(outcome)
}

struct Config {
    orders: usize,
    burst: usize,
    concurrency: usize,
}

impl Config {
    fn from_env() -> Result<Config, String> {
        let config = Config {
            orders: common::count_from_env("ORDERFLOW_BENCH_ORDERS", 30, 20)?,
            burst: common::count_from_env("ORDERFLOW_BENCH_BURST", 500, 20)?,
            concurrency: common::count_from_env("ORDERFLOW_BENCH_BURST_CONCURRENCY", 25, 1)?,
        };
        if config.burst > 5000 || config.concurrency > 100 {
            return Err("ORDERFLOW_BENCH_BURST is at most 5000 and \
                 ORDERFLOW_BENCH_BURST_CONCURRENCY at most 100"
                .into());
        }
        Ok(config)
    }
}

struct Bench {
    endpoint: String,
    setup: Setup,
    config: Config,
    load_before: String,
}

/// What the deployed stack offers, from `up --output json`.
struct Stack {
    /// The API's URL as `up` printed it (what `send-order` uses).
    api_url: String,
    /// The same URL on the emulator's 127.0.0.1 endpoint (what this bench uses).
    api: String,
    table: String,
    /// Names of the stack's queues (dead-letter queues are checked after the burst).
    queues: Vec<String>,
    /// A `notify-customer` function and an email identity are deployed.
    emails: bool,
    up_seconds: f64,
}

struct Clients {
    http: reqwest::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
}

async fn run(bench: &Bench) -> Result<Report, String> {
    eprintln!("bench: up (fresh deployment)");
    let stack = deploy(bench).await?;
    let config = common::sdk_config(&bench.endpoint).await;
    let clients = Clients {
        http: reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .build()
            .map_err(|e| format!("creating the HTTP client: {e}"))?,
        dynamodb: aws_sdk_dynamodb::Client::new(&config),
        sqs: aws_sdk_sqs::Client::new(&config),
    };
    eprintln!(
        "bench: {} orders × (floor, send-order --via api --wait, POST + GET poll), interleaved",
        bench.config.orders
    );
    let latency = latency(bench, &stack, &clients).await?;
    eprintln!(
        "bench: burst of {} submissions, {} in flight",
        bench.config.burst, bench.config.concurrency
    );
    let burst = burst::run(
        &bench.endpoint,
        &stack,
        &clients,
        bench.config.burst,
        bench.config.concurrency,
    )
    .await?;
    Ok(Report {
        stack,
        latency,
        burst,
    })
}

async fn deploy(bench: &Bench) -> Result<Stack, String> {
    let args = bench.setup.up_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = common::orderflow(&bench.endpoint, &bench.setup, &args).await?;
    if !run.success {
        return Err(format!("`orderflow up` failed:\n{}", run.describe()));
    }
    let json = run.json("up")?;
    let outputs = &json["outputs"];
    let api_url = outputs["apis"]["orders"]["url"]
        .as_str()
        .ok_or_else(|| format!("`up` output has no outputs.apis.orders.url:\n{json}"))?
        .to_string();
    // `http://<host>:<port>/_aws/execute-api/<api id>/` on the emulator: keep the path, send to
    // the emulator's own 127.0.0.1 endpoint.
    let path = api_url
        .find("/_aws/execute-api/")
        .map(|at| &api_url[at..])
        .ok_or_else(|| format!("unexpected API URL {api_url} (not the emulator's path form)"))?;
    let table = outputs["tables"]["orders"]["name"]
        .as_str()
        .ok_or("`up` output has no outputs.tables.orders.name")?
        .to_string();
    let queues = outputs["queues"]
        .as_object()
        .map(|q| {
            q.values()
                .filter_map(|v| v["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let has = |section: &str| outputs[section].as_object().is_some_and(|m| !m.is_empty());
    Ok(Stack {
        api: format!("{}{path}", bench.endpoint),
        api_url,
        table,
        queues,
        emails: outputs["functions"]["notify-customer"].is_object() && has("email_identities"),
        up_seconds: run.wall.as_secs_f64(),
    })
}

// ---------------------------------------------------------------------------------------------
// Goal 1: latency against the floor

struct Latency {
    /// POST → PROCESSED seen in the table (GetItem every 2 ms), ms.
    floor: Vec<f64>,
    /// POST → 202 of the floor's orders, ms (informational).
    floor_post: Vec<f64>,
    /// `send-order --via api --wait` `latency_ms`.
    cli: Vec<f64>,
    /// Wall time of the `send-order` processes, ms.
    cli_wall: Vec<f64>,
    /// The CLI's method run by this bench: GET every 10 ms (informational).
    get_10ms: GetPoll,
    /// The same with GETs back to back (informational): what a shorter interval could gain.
    get_0ms: GetPoll,
    warm_up_floor: Vec<f64>,
    warm_up_cli: Vec<f64>,
}

/// Orders followed through `GET /orders/{order_id}` by this bench.
#[derive(Default)]
struct GetPoll {
    /// POST → PROCESSED seen in a GET answer, ms.
    latency: Vec<f64>,
    /// GETs per order.
    requests: Vec<f64>,
    /// Round trip of every GET (API Gateway → get-order → DynamoDB and back), ms.
    round_trip: Vec<f64>,
}

/// Paths measured per order, interleaved.
const PATHS: usize = 4;

async fn latency(bench: &Bench, stack: &Stack, c: &Clients) -> Result<Latency, String> {
    let mut out = Latency {
        floor: Vec::new(),
        floor_post: Vec::new(),
        cli: Vec::new(),
        cli_wall: Vec::new(),
        get_10ms: GetPoll::default(),
        get_0ms: GetPoll::default(),
        warm_up_floor: Vec::new(),
        warm_up_cli: Vec::new(),
    };
    for _ in 0..WARM_UP_ORDERS {
        out.warm_up_floor.push(floor(stack, c).await?.0);
        out.warm_up_cli.push(send_order(bench).await?.0);
        get_poll(stack, c, CLI_POLL, &mut GetPoll::default()).await?;
    }
    for i in 0..bench.config.orders {
        // Rotate which path goes first so that none always follows the same one.
        for step in 0..PATHS {
            match (i + step) % PATHS {
                0 => {
                    let (ms, post) = floor(stack, c).await?;
                    out.floor.push(ms);
                    out.floor_post.push(post);
                }
                1 => {
                    let (ms, wall) = send_order(bench).await?;
                    out.cli.push(ms);
                    out.cli_wall.push(wall);
                }
                2 => get_poll(stack, c, CLI_POLL, &mut out.get_10ms).await?,
                _ => get_poll(stack, c, Duration::ZERO, &mut out.get_0ms).await?,
            }
        }
    }
    Ok(out)
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// POST the order as `send-order` does (JSON body, an `Idempotency-Key`); its id once 202.
async fn post_order(stack: &Stack, c: &Clients, order: &Value) -> Result<String, String> {
    let id = order["order_id"].as_str().unwrap_or_default();
    let resp = c
        .http
        .post(format!("{}orders", stack.api))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("Idempotency-Key", format!("orderflow-bench-{id}"))
        .body(order.to_string())
        .send()
        .await
        .map_err(|e| format!("POST /orders: {e}"))?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    if status != reqwest::StatusCode::ACCEPTED {
        return Err(format!("POST /orders answered {status}: {body}"));
    }
    Ok(id.to_string())
}

fn sample_order() -> Result<Value, String> {
    serde_json::to_value(order_domain::sample::valid_order(None))
        .map_err(|e| format!("serialising the sample order: {e}"))
}

/// The floor: (POST → PROCESSED in the table, POST → 202), ms.
async fn floor(stack: &Stack, c: &Clients) -> Result<(f64, f64), String> {
    let order = sample_order()?;
    let started = Instant::now();
    let id = post_order(stack, c, &order).await?;
    let post = ms_since(started);
    let deadline = started + ORDER_DEADLINE;
    loop {
        let got = c
            .dynamodb
            .get_item()
            .table_name(&stack.table)
            .key(ORDER_ID, AttributeValue::S(id.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| format!("GetItem: {e:?}"))?;
        let status = got
            .item()
            .and_then(|item| item.get(STATUS))
            .and_then(|v| v.as_s().ok());
        match status.map(String::as_str) {
            Some(STATUS_PROCESSED) => return Ok((ms_since(started), post)),
            Some(STATUS_REJECTED) => return Err(format!("floor order {id} was rejected")),
            _ if Instant::now() >= deadline => {
                return Err(format!(
                    "floor order {id} not PROCESSED within {} s",
                    ORDER_DEADLINE.as_secs()
                ))
            }
            _ => tokio::time::sleep(FLOOR_POLL).await,
        }
    }
}

/// The CLI's method in-process: POST, then `GET /orders/{id}` every `interval` until PROCESSED.
async fn get_poll(
    stack: &Stack,
    c: &Clients,
    interval: Duration,
    out: &mut GetPoll,
) -> Result<(), String> {
    let order = sample_order()?;
    let started = Instant::now();
    let id = post_order(stack, c, &order).await?;
    let url = format!("{}orders/{id}", stack.api);
    let deadline = started + ORDER_DEADLINE;
    let mut gets = 0;
    loop {
        let sent = Instant::now();
        let resp = c
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| format!("GET {url}: {e}"))?;
        out.round_trip.push(ms_since(sent));
        gets += 1;
        if status == reqwest::StatusCode::OK {
            let body: Value =
                serde_json::from_str(&body).map_err(|e| format!("GET {url}: {e}: {body}"))?;
            match body["status"].as_str() {
                Some(STATUS_PROCESSED) => {
                    out.latency.push(ms_since(started));
                    out.requests.push(gets as f64);
                    return Ok(());
                }
                Some(STATUS_REJECTED) => return Err(format!("order {id} was rejected: {body}")),
                _ => {}
            }
        }
        if Instant::now() >= deadline {
            return Err(format!("order {id}: no final status from GET within 30 s"));
        }
        tokio::time::sleep(interval).await;
    }
}

/// `send-order --via api --wait --output json`: (reported `latency_ms`, process wall time), ms.
async fn send_order(bench: &Bench) -> Result<(f64, f64), String> {
    let timeout = ORDER_DEADLINE.as_secs().to_string();
    let args = [
        "send-order",
        "--via",
        "api",
        "--wait",
        "--timeout",
        &timeout,
        "--output",
        "json",
    ];
    let run = common::orderflow(&bench.endpoint, &bench.setup, &args).await?;
    let json = run.json("send-order")?;
    if !run.success || json["status"] != "processed" {
        return Err(format!(
            "send-order did not end processed:\n{}",
            run.describe()
        ));
    }
    let ms = json["latency_ms"]
        .as_f64()
        .ok_or_else(|| format!("send-order reported no latency_ms:\n{}", run.describe()))?;
    Ok((ms, run.wall.as_secs_f64() * 1000.0))
}

// ---------------------------------------------------------------------------------------------
// The report

struct Report {
    stack: Stack,
    latency: Latency,
    burst: burst::Burst,
}

impl Report {
    fn goals(&self) -> Vec<Goal> {
        let (floor, cli) = (median(&self.latency.floor), median(&self.latency.cli));
        let ratio = cli / floor;
        vec![
            Goal {
                name: "1. send-order --via api --wait ≤ 1.2 × floor (medians)",
                met: ratio <= LATENCY_RATIO_LIMIT,
                detail: format!(
                    "median send-order {cli:.1} ms / floor {floor:.1} ms = {ratio:.3} (limit {LATENCY_RATIO_LIMIT})"
                ),
            },
            self.burst.goal(),
        ]
    }

    fn all_met(&self) -> bool {
        self.goals().iter().all(|g| g.met)
    }

    fn render(&self, bench: &Bench) -> String {
        let mut s = String::new();
        let _ = writeln!(s);
        let _ = writeln!(s, "orderflow order API benchmark");
        let _ = writeln!(s, "  binary    {ORDERFLOW}");
        let _ = writeln!(
            s,
            "  emulator  MiniStack {} at {}",
            local::MINISTACK_VERSION,
            bench.endpoint
        );
        let _ = writeln!(s, "{}", machine_line(&bench.load_before));
        let _ = writeln!(
            s,
            "  stack     {} functions ({}), fresh up {:.2} s, API {}",
            bench.setup.crates.len(),
            bench.setup.crates.join(", "),
            self.stack.up_seconds,
            self.stack.api_url
        );

        let l = &self.latency;
        let all_gets: Vec<f64> = [&l.get_10ms.round_trip, &l.get_0ms.round_trip]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "latency POST → PROCESSED, {} orders per path, interleaved (warm-up, not counted: floor {} ms, send-order {} ms):",
            l.floor.len(),
            fmt_list(&l.warm_up_floor),
            fmt_list(&l.warm_up_cli)
        );
        stats_header(&mut s, "ms");
        for (label, v) in [
            ("floor (POST → GetItem every 2 ms)", &l.floor),
            ("send-order --via api latency_ms", &l.cli),
            ("send-order process wall time", &l.cli_wall),
            ("POST+GET every 10 ms (info)", &l.get_10ms.latency),
            ("POST+GET back to back (info)", &l.get_0ms.latency),
            ("POST → 202 (floor orders, info)", &l.floor_post),
            ("GET round trip (info)", &all_gets),
        ] {
            stats_row(&mut s, label, v, 1);
        }
        stats_row(
            &mut s,
            "GETs/order, every 10 ms (info)",
            &l.get_10ms.requests,
            1,
        );
        stats_row(
            &mut s,
            "GETs/order, back to back (info)",
            &l.get_0ms.requests,
            1,
        );
        let _ = writeln!(s, "  floor samples:      {}", fmt_list(&l.floor));
        let _ = writeln!(s, "  send-order samples: {}", fmt_list(&l.cli));
        let _ = writeln!(s, "  GET 10 ms samples:  {}", fmt_list(&l.get_10ms.latency));
        let _ = writeln!(s, "  GET 0 ms samples:   {}", fmt_list(&l.get_0ms.latency));

        self.burst.render(&mut s, bench.config.concurrency);
        let _ = writeln!(s);
        render_goals(&mut s, &self.goals());
        s
    }
}
