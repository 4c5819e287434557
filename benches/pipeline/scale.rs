//! Scaling rows: what an unchanged `up` costs as the pipeline grows.
//!
//! For each size in `ORDERFLOW_BENCH_SCALE` (default `0,10,30,100` extra consumers) the bench
//! writes a pipeline of its own: the default `pipeline.yaml` under the stack `scale<n>` (its
//! email identity renamed to stay its own) plus `n` consumers, each a function built from the
//! `validate-order` crate (so all share one binary and one package) with a rule on the orders
//! bus targeting it: 4 resources per consumer (function, role, rule, invoke permission). It
//! deploys that pipeline fresh, then runs `up` on it unchanged `ORDERFLOW_BENCH_SCALE_RUNS`
//! times (default 3) and records calls (total, writes, per declared resource, by operation) and
//! the CLI's wall time.
//!
//! Goals: no unchanged `up` writes, every size stays at ≤ 1.5 calls per declared resource, and
//! the calls per declared resource of the largest size are no more than the smallest's (cost
//! grows no faster than linearly).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::common::{self, fmt_list, median, Goal, Setup};

/// Calls per declared resource an unchanged `up` may make (issue 6, "Fewer calls").
pub const CALLS_PER_RESOURCE_LIMIT: f64 = 1.5;
/// Resources each extra consumer adds: function, role, rule, invoke permission.
pub const RESOURCES_PER_CONSUMER: usize = 4;

pub struct ScaleConfig {
    pub sizes: Vec<usize>,
    pub runs: usize,
}

impl ScaleConfig {
    pub fn from_env() -> Result<ScaleConfig, String> {
        let sizes = match std::env::var("ORDERFLOW_BENCH_SCALE") {
            Err(_) => vec![0, 10, 30, 100],
            Ok(v) if v.trim() == "none" => Vec::new(),
            Ok(v) => v
                .split(',')
                .map(|s| {
                    s.trim()
                        .parse::<usize>()
                        .ok()
                        .filter(|n| *n <= 500)
                        .ok_or_else(|| {
                            format!("ORDERFLOW_BENCH_SCALE: {s:?} is not a count 0–500 (or `none`)")
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(ScaleConfig {
            sizes,
            runs: common::count_from_env("ORDERFLOW_BENCH_SCALE_RUNS", 3, 1)?,
        })
    }
}

/// One size's measurements.
pub struct ScaleRow {
    pub consumers: usize,
    pub declared: usize,
    pub fresh_wall: Duration,
    pub fresh_calls: u64,
    /// Per unchanged run: (wall ms, total calls, writes).
    pub runs: Vec<(f64, u64, u64)>,
    /// By operation, of the last unchanged run.
    pub by_operation: BTreeMap<String, u64>,
}

impl ScaleRow {
    fn max_calls(&self) -> u64 {
        self.runs.iter().map(|r| r.1).max().unwrap_or(0)
    }

    fn max_writes(&self) -> u64 {
        self.runs.iter().map(|r| r.2).max().unwrap_or(0)
    }

    pub fn per_resource(&self) -> f64 {
        self.max_calls() as f64 / self.declared.max(1) as f64
    }

    fn walls(&self) -> Vec<f64> {
        self.runs.iter().map(|r| r.0).collect()
    }
}

/// The default pipeline as stack `scale<n>` plus `n` consumers.
pub fn generated_pipeline(base: &str, consumers: usize) -> Result<String, String> {
    let stack = format!("scale{consumers}");
    let mut out = String::new();
    let (mut saw_stack, mut saw_functions, mut saw_rules) = (false, false, false);
    for line in base.lines() {
        if line.starts_with("stack:") {
            let _ = writeln!(out, "stack: {stack}");
            saw_stack = true;
            continue;
        }
        // An email identity belongs to one stack: each generated stack gets its own address.
        let line = line.replace("orders@example.com", &format!("orders+{stack}@example.com"));
        let _ = writeln!(out, "{line}");
        if line.trim_end() == "functions:" {
            saw_functions = true;
            for i in 0..consumers {
                let _ = writeln!(
                    out,
                    "  consumer-{i:03}:\n    crate: validate-order\n    memory: 128\n    timeout: 10\n    access:\n      - {{ table: orders, verb: read }}"
                );
            }
        }
        if line.trim_end() == "rules:" {
            saw_rules = true;
            for i in 0..consumers {
                let _ = writeln!(
                    out,
                    "  consumer-{i:03}:\n    bus: orders\n    event_pattern:\n      source: [orderflow.bench]\n      detail-type: [Consumer{i:03}]\n    targets:\n      - function: consumer-{i:03}"
                );
            }
        }
    }
    if !(saw_stack && saw_functions && saw_rules) {
        return Err("pipeline.yaml has no top-level `stack:`, `functions:` or `rules:`".into());
    }
    Ok(out)
}

async fn up(endpoint: &str, setup: &Setup) -> Result<(Duration, Value), String> {
    let args = setup.up_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = common::orderflow(endpoint, setup, &args).await?;
    if !run.success {
        return Err(format!(
            "`orderflow up` on {} failed:\n{}",
            setup.pipeline.display(),
            run.describe()
        ));
    }
    Ok((run.wall, run.json("up")?))
}

fn calls(json: &Value, key: &str) -> u64 {
    json["api_calls"][key].as_u64().unwrap_or(u64::MAX)
}

/// Deploy each size fresh, then measure unchanged `up`s of it.
pub async fn run(
    endpoint: &str,
    setup: &Setup,
    config: &ScaleConfig,
) -> Result<Vec<ScaleRow>, String> {
    let base = std::fs::read_to_string(&setup.pipeline)
        .map_err(|e| format!("reading {}: {e}", setup.pipeline.display()))?;
    let mut rows = Vec::new();
    for &consumers in &config.sizes {
        let pipeline: PathBuf = setup.dir.join(format!("pipeline-scale{consumers}.yaml"));
        std::fs::write(&pipeline, generated_pipeline(&base, consumers)?)
            .map_err(|e| format!("writing {}: {e}", pipeline.display()))?;
        let sized = Setup {
            pipeline,
            ..setup.clone()
        };
        eprintln!("bench: scale {consumers}: fresh up");
        let (fresh_wall, fresh) = up(endpoint, &sized).await?;
        eprintln!(
            "bench: scale {consumers}: fresh up took {:.1} s; {} × unchanged up",
            fresh_wall.as_secs_f64(),
            config.runs
        );
        let mut row = ScaleRow {
            consumers,
            declared: 0,
            fresh_wall,
            fresh_calls: calls(&fresh, "total"),
            runs: Vec::new(),
            by_operation: BTreeMap::new(),
        };
        for _ in 0..config.runs {
            let (wall, json) = up(endpoint, &sized).await?;
            let plan = &json["plan"];
            let count = |k: &str| plan[k].as_u64().unwrap_or(0) as usize;
            row.declared = count("create") + count("update") + count("unchanged");
            if count("unchanged") != row.declared {
                return Err(format!(
                    "scale {consumers}: the `up` after a fresh one still changes something: {plan}"
                ));
            }
            row.runs.push((
                wall.as_secs_f64() * 1000.0,
                calls(&json, "total"),
                calls(&json, "writes"),
            ));
            row.by_operation = json["api_calls"]["by_operation"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect();
        }
        rows.push(row);
    }
    Ok(rows)
}

pub fn goals(rows: &[ScaleRow]) -> Vec<Goal> {
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Vec::new();
    };
    let writes = rows.iter().map(ScaleRow::max_writes).max().unwrap_or(0);
    let worst = rows.iter().map(ScaleRow::per_resource).fold(0.0, f64::max);
    vec![
        Goal {
            name: "4. unchanged up at every size: 0 writes, ≤ 1.5 calls per declared resource",
            met: writes == 0 && worst <= CALLS_PER_RESOURCE_LIMIT,
            detail: format!(
                "writes max {writes}, calls per declared resource max {worst:.2} (limit {CALLS_PER_RESOURCE_LIMIT})"
            ),
        },
        Goal {
            name: "5. calls grow no faster than linearly",
            met: last.per_resource() <= first.per_resource(),
            detail: format!(
                "{:.2} calls per declared resource at {} resources, {:.2} at {}",
                first.per_resource(),
                first.declared,
                last.per_resource(),
                last.declared
            ),
        },
    ]
}

pub fn render(s: &mut String, rows: &[ScaleRow]) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "unchanged up by pipeline size ({RESOURCES_PER_CONSUMER} resources per extra consumer)"
    );
    let _ = writeln!(
        s,
        "  {:>9} {:>9} {:>12} {:>7} {:>10} {:>14} {:>12} {:>12}  unchanged walls ms",
        "consumers",
        "resources",
        "calls (max)",
        "writes",
        "calls/res",
        "wall median ms",
        "fresh up s",
        "fresh calls"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "  {:>9} {:>9} {:>12} {:>7} {:>10.2} {:>14.0} {:>12.1} {:>12}  {}",
            r.consumers,
            r.declared,
            r.max_calls(),
            r.max_writes(),
            r.per_resource(),
            median(&r.walls()),
            r.fresh_wall.as_secs_f64(),
            r.fresh_calls,
            fmt_list(&r.walls())
        );
    }
    for r in rows {
        let mut ops: Vec<(&String, &u64)> = r.by_operation.iter().collect();
        ops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let ops: Vec<String> = ops.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(
            s,
            "  {} consumers, by operation: {}",
            r.consumers,
            ops.join(", ")
        );
    }
}
