//! End-to-end benchmark of orderflow against a private local emulator (MiniStack).
//!
//! `cargo bench --bench pipeline` (a plain `fn main`, no harness). It starts MiniStack on a free
//! 127.0.0.1 port with a private state directory, runs the orderflow binary cargo built for this
//! bench (`CARGO_BIN_EXE_orderflow`) with prebuilt function binaries, and checks three goals:
//!
//! 1. `up` on an unchanged pipeline makes no write call and the whole CLI process takes < 0.5 s
//!    (wall time, median and p90 over the runs; both must be under the limit).
//! 2. a fresh `up` applies independent resources concurrently: the per-resource `seconds` add up
//!    to more than the wall time of the apply, and more than one resource is in flight at once
//!    (from start/end progress lines on stderr, timestamped here as they arrive).
//! 3. `send-order --wait` reports a latency within 1.2 × the emulator's own floor, measured in the
//!    same run and interleaved: PutEvents of the same event → the item visible in the orders
//!    table, polled by this bench with a consistent GetItem every ~2 ms. For reference it also
//!    measures the floor polling every 10 ms, as `send-order` does for its first 3 s.
//!
//! It prints a table and exits 1 if a goal is missed (2 if the bench itself could not run).
//! The emulator (and every function process it started) is stopped at the end, on failure and on
//! Ctrl-C.
//!
//! Environment:
//! - `ORDERFLOW_BENCH_FUNCTIONS_DIR`: directory with the binary of every function crate the
//!   pipeline declares (default `<target dir>/lambda`, from
//!   `cargo build --profile lambda --workspace --exclude orderflow --bins`).
//! - `ORDERFLOW_BENCH_UP_RUNS` (default 15, at least 10): unchanged `up` runs.
//! - `ORDERFLOW_BENCH_ORDERS` (default 30, at least 20): orders per path (floor, CLI, floor polled every 10 ms).
//! - `ORDERFLOW_HOME`: where MiniStack is installed (as for `orderflow local`).
//! - `ORDERFLOW_BENCH_SCALE` (default `0,10,30,100`, or `none`): extra consumers of the scaling
//!   rows (`pipeline/scale.rs`: an unchanged `up`'s calls and wall time by pipeline size, goals
//!   4 and 5); `ORDERFLOW_BENCH_SCALE_RUNS` (default 3): unchanged `up`s per size;
//!   `ORDERFLOW_BENCH_SCALE_ONLY=1`: measure only those rows.
//! - `ORDERFLOW_BENCH_CLI`: another orderflow binary to measure (e.g. a build of an older
//!   commit) instead of the one cargo built for the bench.

#[path = "common/mod.rs"]
mod common;
#[path = "pipeline/scale.rs"]
mod scale;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use common::{
    fmt_list, load_average, machine_line, median, percentile, render_goals, stats_header,
    stats_row, CliRun, Goal, Harness, Setup,
};
use orderflow::local;
use serde_json::Value;

/// Goal 1: wall time of an unchanged `up` process.
const UNCHANGED_UP_LIMIT: Duration = Duration::from_millis(500);
/// Goal 3: median `send-order --wait` latency / median floor latency.
const LATENCY_RATIO_LIMIT: f64 = 1.2;
/// Interval of the floor's GetItem poll.
const FLOOR_POLL: Duration = Duration::from_millis(2);
/// `send-order --wait`'s poll interval for its first 5 s: the floor is also measured polling at
/// this interval (informational), to separate the cost of polling less often from the CLI's own.
const CLI_POLL: Duration = Duration::from_millis(10);
/// Longest an order may take to reach the table.
const ORDER_DEADLINE: Duration = Duration::from_secs(30);
/// Orders sent down each path before measuring: the first invocations start the function
/// processes (cold starts), which is not what goal 3 is about. Reported separately.
const WARM_UP_ORDERS: usize = 2;

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
    if bench.config.scale_only {
        let outcome = harness
            .run(scale::run(
                &bench.endpoint,
                &bench.setup,
                &bench.config.scale,
            ))
            .map(|rows| {
                let mut s = String::new();
                let _ = writeln!(s, "\norderflow pipeline benchmark, scaling rows only");
                let _ = writeln!(s, "  binary    {}", common::cli().display());
                let _ = writeln!(s, "{}", machine_line(&bench.load_before));
                scale::render(&mut s, &rows);
                let goals = scale::goals(&rows);
                let _ = writeln!(s);
                render_goals(&mut s, &goals);
                (s, goals.iter().all(|g| g.met))
            });
        return harness.finish(outcome);
    }
    let outcome = harness
        .run(run(&bench))
        .map(|report| (report.render(&bench), report.all_met()));
    harness.finish(outcome)
}

// ---------------------------------------------------------------------------------------------
// Set-up

struct Config {
    up_runs: usize,
    orders: usize,
    scale: scale::ScaleConfig,
    scale_only: bool,
}

impl Config {
    fn from_env() -> Result<Config, String> {
        Ok(Config {
            up_runs: common::count_from_env("ORDERFLOW_BENCH_UP_RUNS", 15, 10)?,
            orders: common::count_from_env("ORDERFLOW_BENCH_ORDERS", 30, 20)?,
            scale: scale::ScaleConfig::from_env()?,
            scale_only: std::env::var("ORDERFLOW_BENCH_SCALE_ONLY").is_ok_and(|v| v == "1"),
        })
    }
}

struct Bench {
    endpoint: String,
    setup: Setup,
    config: Config,
    /// 1, 5 and 15 minute load averages when the measurements started.
    load_before: String,
}

// ---------------------------------------------------------------------------------------------
// Running the CLI

async fn orderflow(bench: &Bench, args: &[&str]) -> Result<CliRun, String> {
    common::orderflow(&bench.endpoint, &bench.setup, args).await
}

/// Wall time (ms) of a CLI run that must exit 0 (for `plan --detailed-exitcode`: no changes).
async fn timed_ok(bench: &Bench, args: &[&str]) -> Result<f64, String> {
    let run = orderflow(bench, args).await?;
    if !run.success {
        return Err(format!(
            "`orderflow {}` did not exit 0:\n{}",
            args.join(" "),
            run.describe()
        ));
    }
    Ok(run.wall.as_secs_f64() * 1000.0)
}

async fn up(bench: &Bench) -> Result<(CliRun, Value), String> {
    let args = bench.setup.up_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = orderflow(bench, &args).await?;
    if !run.success {
        return Err(format!("`orderflow up` failed:\n{}", run.describe()));
    }
    let json = run.json("up")?;
    Ok((run, json))
}

// ---------------------------------------------------------------------------------------------
// The measurements

async fn run(bench: &Bench) -> Result<Report, String> {
    eprintln!("bench: fresh up");
    let fresh = fresh_up(bench).await?;

    eprintln!(
        "bench: {} × up on the unchanged pipeline",
        bench.config.up_runs
    );
    let mut unchanged = Vec::new();
    let mut validate_ms = Vec::new();
    let mut plan_ms = Vec::new();
    for _ in 0..bench.config.up_runs {
        // Where an unchanged `up` spends its time (informational): `validate` is the process
        // and spec cost without AWS; `plan` adds packaging (cached) and reading state.
        validate_ms.push(timed_ok(bench, &["validate"]).await?);
        let functions = bench.setup.functions.display().to_string();
        let plan = [
            "plan",
            "--detailed-exitcode",
            "--output",
            "json",
            "--prebuilt",
            &functions,
        ];
        plan_ms.push(timed_ok(bench, &plan).await?);
        let (run, json) = up(bench).await?;
        unchanged.push(UnchangedUp {
            wall: run.wall,
            reported_seconds: json["seconds"].as_f64().unwrap_or(f64::NAN),
            calls: json["api_calls"]["total"].as_u64().unwrap_or(u64::MAX),
            writes: json["api_calls"]["writes"].as_u64().unwrap_or(u64::MAX),
            applied: json["applied"].as_array().map_or(usize::MAX, Vec::len),
        });
    }

    eprintln!(
        "bench: {} orders × (floor, send-order --wait), interleaved",
        bench.config.orders
    );
    let latency = latency(bench, &fresh).await?;
    let scale = scale::run(&bench.endpoint, &bench.setup, &bench.config.scale).await?;
    Ok(Report {
        fresh,
        unchanged,
        validate_ms,
        plan_ms,
        latency,
        scale,
    })
}

struct FreshUp {
    wall: Duration,
    reported_seconds: f64,
    calls: u64,
    writes: u64,
    /// id → (start, end) as seen on stderr, and `seconds` from the JSON.
    resources: BTreeMap<String, ResourceTiming>,
    sum_seconds: f64,
    /// First start to last end.
    apply_wall: Duration,
    /// Spawn to the first resource starting: reading the spec, packaging the functions (the
    /// CLI's package cache is private to the bench, so it starts cold), reading state, planning.
    before_apply: Duration,
    max_in_flight: usize,
    bus: String,
    table: String,
}

struct ResourceTiming {
    start: Option<Duration>,
    end: Option<Duration>,
    seconds: f64,
}

async fn fresh_up(bench: &Bench) -> Result<FreshUp, String> {
    let (run, json) = up(bench).await?;
    let mut resources: BTreeMap<String, ResourceTiming> = BTreeMap::new();
    for a in json["applied"].as_array().into_iter().flatten() {
        let id = format!(
            "{}.{}",
            a["id"]["kind"].as_str().unwrap_or("?"),
            a["id"]["name"].as_str().unwrap_or("?")
        );
        resources.insert(
            id,
            ResourceTiming {
                start: None,
                end: None,
                seconds: a["seconds"].as_f64().unwrap_or(0.0),
            },
        );
    }
    if resources.is_empty() {
        return Err(format!(
            "the first `up` applied nothing: is the emulator really fresh?\n{}",
            run.describe()
        ));
    }
    for (at, line) in &run.stderr {
        let Some((phase, rest)) = parse_progress(line) else {
            continue;
        };
        // Ids may contain spaces (`api_route.orders/POST /orders`): match the known ones.
        for (id, r) in resources.iter_mut() {
            if names_resource(rest, id) {
                match phase {
                    Phase::Start => r.start = Some(*at),
                    Phase::End => r.end = Some(*at),
                }
            }
        }
    }
    let missing: Vec<&str> = resources
        .iter()
        .filter(|(_, r)| r.start.is_none() || r.end.is_none())
        .map(|(id, _)| id.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "no start/end progress lines for {}:\n{}",
            missing.join(", "),
            run.describe()
        ));
    }
    let intervals: Vec<(Duration, Duration)> = resources
        .values()
        .filter_map(|r| Some((r.start?, r.end?)))
        .collect();
    let first = intervals.iter().map(|i| i.0).min().unwrap_or_default();
    let last = intervals.iter().map(|i| i.1).max().unwrap_or_default();
    let name = |kind: &str| {
        json["outputs"][kind]["orders"]["name"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("`up` output has no outputs.{kind}.orders.name"))
    };
    Ok(FreshUp {
        wall: run.wall,
        reported_seconds: json["seconds"].as_f64().unwrap_or(f64::NAN),
        calls: json["api_calls"]["total"].as_u64().unwrap_or(u64::MAX),
        writes: json["api_calls"]["writes"].as_u64().unwrap_or(u64::MAX),
        sum_seconds: resources.values().map(|r| r.seconds).sum(),
        apply_wall: last.saturating_sub(first),
        before_apply: first,
        max_in_flight: max_in_flight(&intervals),
        resources,
        bus: name("buses")?,
        table: name("tables")?,
    })
}

#[derive(Debug, PartialEq)]
enum Phase {
    Start,
    End,
}

/// `[   2.4s] creating queue.orders (x)` → (Start, "queue.orders (x)");
/// `[   2.4s] created queue.orders (x) in 0.0s` → (End, "queue.orders (x) in 0.0s").
fn parse_progress(line: &str) -> Option<(Phase, &str)> {
    let rest = line.strip_prefix('[')?;
    let (_, rest) = rest.split_once("] ")?;
    let (verb, rest) = rest.split_once(' ')?;
    let phase = match verb {
        "creating" | "updating" | "deleting" => Phase::Start,
        "created" | "updated" | "deleted" => Phase::End,
        _ => return None,
    };
    Some((phase, rest))
}

/// Whether the rest of a progress line is about resource `id`: the id, then its physical name
/// in parentheses, ` in …` or nothing.
fn names_resource(rest: &str, id: &str) -> bool {
    rest.strip_prefix(id).is_some_and(|after| {
        after.is_empty() || after.starts_with(" (") || after.starts_with(" in ")
    })
}

/// Most intervals open at one instant (an interval ending when another starts does not overlap it).
fn max_in_flight(intervals: &[(Duration, Duration)]) -> usize {
    let mut events: Vec<(Duration, i32)> = intervals
        .iter()
        .flat_map(|&(s, e)| [(s, 1), (e, -1)])
        .collect();
    events.sort();
    let (mut now, mut max) = (0i32, 0i32);
    for (_, delta) in events {
        now += delta;
        max = max.max(now);
    }
    max as usize
}

struct UnchangedUp {
    wall: Duration,
    reported_seconds: f64,
    calls: u64,
    writes: u64,
    applied: usize,
}

struct Latency {
    /// PutEvents → item visible, measured here (ms).
    floor: Vec<f64>,
    /// `send-order --wait` `latency_ms`.
    cli: Vec<f64>,
    /// Wall time of the `send-order` processes (ms), for reference.
    cli_wall: Vec<f64>,
    /// The floor's measurement polling every `CLI_POLL` instead (ms), for reference.
    floor_cli_poll: Vec<f64>,
    warm_up_floor: Vec<f64>,
    warm_up_cli: Vec<f64>,
}

async fn latency(bench: &Bench, fresh: &FreshUp) -> Result<Latency, String> {
    let config = common::sdk_config(&bench.endpoint).await;
    let floor = Floor {
        events: aws_sdk_eventbridge::Client::new(&config),
        dynamodb: aws_sdk_dynamodb::Client::new(&config),
        bus: fresh.bus.clone(),
        table: fresh.table.clone(),
    };
    let mut out = Latency {
        floor: Vec::new(),
        cli: Vec::new(),
        cli_wall: Vec::new(),
        floor_cli_poll: Vec::new(),
        warm_up_floor: Vec::new(),
        warm_up_cli: Vec::new(),
    };
    for _ in 0..WARM_UP_ORDERS {
        out.warm_up_floor.push(floor.measure(FLOOR_POLL).await?);
        out.warm_up_cli.push(send_order(bench).await?.0);
    }
    for i in 0..bench.config.orders {
        // Rotate which path goes first so that none always follows the same one.
        for step in 0..3 {
            match (i + step) % 3 {
                0 => out.floor.push(floor.measure(FLOOR_POLL).await?),
                1 => {
                    let (ms, wall) = send_order(bench).await?;
                    out.cli.push(ms);
                    out.cli_wall.push(wall);
                }
                _ => out.floor_cli_poll.push(floor.measure(CLI_POLL).await?),
            }
        }
    }
    Ok(out)
}

struct Floor {
    events: aws_sdk_eventbridge::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    bus: String,
    table: String,
}

impl Floor {
    /// Publish a valid sample order as `send-order` does and poll the table for it every
    /// `poll`; milliseconds from just before PutEvents to the first GetItem that returns the item.
    async fn measure(&self, poll: Duration) -> Result<f64, String> {
        let order = order_domain::sample::valid_order(None);
        let detail =
            serde_json::to_string(&order).map_err(|e| format!("serialising the order: {e}"))?;
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(order_domain::SOURCE)
            .detail_type(order_domain::ORDER_PLACED)
            .detail(detail)
            .build();
        let started = Instant::now();
        let put = self
            .events
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| format!("PutEvents: {e:?}"))?;
        if put.failed_entry_count() > 0 {
            return Err(format!("PutEvents rejected the order: {:?}", put.entries()));
        }
        let deadline = started + ORDER_DEADLINE;
        loop {
            let got = self
                .dynamodb
                .get_item()
                .table_name(&self.table)
                .key(
                    order_domain::item::ORDER_ID,
                    AttributeValue::S(order.order_id.clone()),
                )
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| format!("GetItem: {e:?}"))?;
            let status = got
                .item()
                .and_then(|item| item.get(order_domain::item::STATUS))
                .and_then(|v| v.as_s().ok())
                .map(String::as_str);
            // Intermediate statuses (VALIDATED) are not the outcome: wait for a final one.
            if let (
                Some(item),
                Some(
                    status @ (order_domain::item::STATUS_PROCESSED
                    | order_domain::item::STATUS_REJECTED),
                ),
            ) = (got.item(), status)
            {
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                if status == order_domain::item::STATUS_REJECTED {
                    return Err(format!(
                        "floor order {} was rejected: {item:?}",
                        order.order_id
                    ));
                }
                return Ok(ms);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "floor order {} not in {} within {} s",
                    order.order_id,
                    self.table,
                    ORDER_DEADLINE.as_secs()
                ));
            }
            tokio::time::sleep(poll).await;
        }
    }
}

/// `send-order --wait --output json`: (reported `latency_ms`, process wall time in ms).
async fn send_order(bench: &Bench) -> Result<(f64, f64), String> {
    let timeout = ORDER_DEADLINE.as_secs().to_string();
    let run = orderflow(
        bench,
        &[
            "send-order",
            "--wait",
            "--timeout",
            &timeout,
            "--output",
            "json",
        ],
    )
    .await?;
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
    fresh: FreshUp,
    unchanged: Vec<UnchangedUp>,
    /// Wall times (ms) of `validate` and `plan` runs interleaved with the unchanged `up`s.
    validate_ms: Vec<f64>,
    plan_ms: Vec<f64>,
    latency: Latency,
    scale: Vec<scale::ScaleRow>,
}

impl Report {
    fn unchanged_walls_ms(&self) -> Vec<f64> {
        self.unchanged
            .iter()
            .map(|u| u.wall.as_secs_f64() * 1000.0)
            .collect()
    }

    fn goals(&self) -> Vec<Goal> {
        let walls = self.unchanged_walls_ms();
        let limit = UNCHANGED_UP_LIMIT.as_secs_f64() * 1000.0;
        let max_writes = self.unchanged.iter().map(|u| u.writes).max().unwrap_or(0);
        let max_applied = self.unchanged.iter().map(|u| u.applied).max().unwrap_or(0);
        let (p50, p90) = (median(&walls), percentile(&walls, 90.0));
        let f = &self.fresh;
        let apply_wall = f.apply_wall.as_secs_f64();
        let (floor, cli) = (median(&self.latency.floor), median(&self.latency.cli));
        let ratio = cli / floor;
        let mut goals = vec![
            Goal {
                name: "1. unchanged up: 0 writes, < 0.5 s",
                met: max_writes == 0 && max_applied == 0 && p50 < limit && p90 < limit,
                detail: format!(
                    "writes max {max_writes}, applied max {max_applied}, wall median {p50:.0} ms, p90 {p90:.0} ms (limit {limit:.0} ms)"
                ),
            },
            Goal {
                name: "2. fresh up runs independent resources concurrently",
                met: f.max_in_flight >= 2 && f.sum_seconds > apply_wall,
                detail: format!(
                    "Σ per-resource {:.2} s vs apply wall {apply_wall:.2} s (×{:.2}), max in flight {}",
                    f.sum_seconds,
                    f.sum_seconds / apply_wall,
                    f.max_in_flight
                ),
            },
            Goal {
                name: "3. send-order --wait ≤ 1.2 × floor (medians)",
                met: ratio <= LATENCY_RATIO_LIMIT,
                detail: format!(
                    "median send-order {cli:.1} ms / floor {floor:.1} ms = {ratio:.3} (limit {LATENCY_RATIO_LIMIT})"
                ),
            },
        ];
        goals.extend(scale::goals(&self.scale));
        goals
    }

    fn all_met(&self) -> bool {
        self.goals().iter().all(|g| g.met)
    }

    fn render(&self, bench: &Bench) -> String {
        let mut s = String::new();
        let f = &self.fresh;
        let _ = writeln!(s);
        let _ = writeln!(s, "orderflow pipeline benchmark");
        let _ = writeln!(s, "  binary    {}", common::cli().display());
        let _ = writeln!(
            s,
            "  emulator  MiniStack {} at {}",
            local::MINISTACK_VERSION,
            bench.endpoint
        );
        let _ = writeln!(s, "{}", machine_line(&bench.load_before));

        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "fresh up: {} resources, CLI wall {:.2} s (reported {:.2} s), api_calls {} ({} writes)",
            f.resources.len(),
            f.wall.as_secs_f64(),
            f.reported_seconds,
            f.calls,
            f.writes
        );
        let _ = writeln!(
            s,
            "  {:<42} {:>8} {:>8} {:>9}",
            "resource", "start s", "end s", "seconds"
        );
        let mut by_start: Vec<(&String, &ResourceTiming)> = f.resources.iter().collect();
        by_start.sort_by_key(|(_, r)| r.start);
        for (id, r) in by_start {
            let at = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64());
            let _ = writeln!(
                s,
                "  {:<42} {:>8.3} {:>8.3} {:>9.3}",
                id,
                at(r.start),
                at(r.end),
                r.seconds
            );
        }
        let _ = writeln!(
            s,
            "  Σ per-resource seconds {:.2} s; apply wall (first start → last end) {:.2} s; max in flight {}",
            f.sum_seconds,
            f.apply_wall.as_secs_f64(),
            f.max_in_flight
        );
        let _ = writeln!(
            s,
            "  before the first resource started (spec, packaging with a cold cache, plan): {:.2} s",
            f.before_apply.as_secs_f64()
        );

        let walls = self.unchanged_walls_ms();
        let reported: Vec<f64> = self
            .unchanged
            .iter()
            .map(|u| u.reported_seconds * 1000.0)
            .collect();
        let calls: Vec<String> = self
            .unchanged
            .iter()
            .map(|u| format!("{}/{}", u.calls, u.writes))
            .collect();
        let _ = writeln!(s);
        let _ = writeln!(s, "unchanged up × {}:", self.unchanged.len());
        stats_header(&mut s, "ms");
        for (label, v) in [
            ("CLI process wall time", &walls),
            ("reported `seconds`", &reported),
            ("validate wall (info: no AWS)", &self.validate_ms),
            ("plan wall (info: read-only)", &self.plan_ms),
        ] {
            stats_row(&mut s, label, v, 0);
        }
        let _ = writeln!(s, "  wall samples: {}", fmt_list(&walls));
        let _ = writeln!(s, "  api_calls total/writes per run: {}", calls.join(" "));

        let l = &self.latency;
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "latency, {} orders per path, interleaved (warm-up, not counted: floor {} ms, send-order {} ms):",
            l.floor.len(),
            fmt_list(&l.warm_up_floor),
            fmt_list(&l.warm_up_cli)
        );
        stats_header(&mut s, "ms");
        for (label, v) in [
            ("floor (PutEvents → GetItem)", &l.floor),
            ("send-order --wait latency_ms", &l.cli),
            ("send-order process wall time", &l.cli_wall),
            ("floor polled every 10 ms (info)", &l.floor_cli_poll),
        ] {
            stats_row(&mut s, label, v, 1);
        }
        let _ = writeln!(s, "  floor samples:      {}", fmt_list(&l.floor));
        let _ = writeln!(s, "  send-order samples: {}", fmt_list(&l.cli));
        let _ = writeln!(s, "  floor@10ms samples: {}", fmt_list(&l.floor_cli_poll));

        scale::render(&mut s, &self.scale);

        let _ = writeln!(s);
        render_goals(&mut s, &self.goals());
        s
    }
}
