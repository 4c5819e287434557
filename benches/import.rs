//! Benchmark of order-file imports (`orderflow import`) against a private local emulator.
//!
//! `cargo bench --bench import` (a plain `fn main`). It starts MiniStack on a free loopback port,
//! deploys the default pipeline with prebuilt function binaries, and measures:
//!
//! 1. a file of `ORDERFLOW_BENCH_IMPORT_LINES` orders (default 10,000), 3 % invalid, written by
//!    `orderflow sample-orders`: the import function's own time (lines per second), its peak
//!    memory, and the time until every imported order is final (`import --wait`);
//! 2. the same file uploaded again: nothing new, how long the function takes to find that;
//! 3. a file whose second line is `ORDERFLOW_BENCH_IMPORT_LONG_LINE_MIB` MiB long (default
//!    1024: a 1 GiB line) between two good orders: skipped without being held in memory.
//!
//! Goals: the function's peak RSS stays under 64 MiB (a quarter of its 256 MB) in every case,
//! and every good line of the big file ends PROCESSED with none pending. Exit 1 when a goal is
//! missed, 2 when the bench could not run. Every wait has a deadline (`--timeout` of the CLI).

#[path = "common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use common::{count_from_env, load_average, machine_line, render_goals, Goal, Harness, Setup};
use serde_json::Value;

const RSS_GOAL_MIB: f64 = 64.0;

struct Run {
    label: String,
    lines: u64,
    wall_s: f64,
    result: Value,
    orders: Value,
}

impl Run {
    fn function_s(&self) -> f64 {
        self.result["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0
    }

    fn peak_mib(&self) -> f64 {
        self.result["peak_rss_bytes"].as_f64().unwrap_or(f64::NAN) / 1_048_576.0
    }
}

async fn import(endpoint: &str, setup: &Setup, file: &Path, label: &str) -> Result<Run, String> {
    let path = file.display().to_string();
    let args = [
        "import",
        path.as_str(),
        "--wait",
        "--timeout",
        "1800",
        "--output",
        "json",
    ];
    let run = common::orderflow(endpoint, setup, &args).await?;
    // 3: invalid lines (expected here); anything else but 0 is a failure.
    if !matches!(run.code, Some(0) | Some(3)) {
        return Err(format!("`orderflow import` failed:\n{}", run.describe()));
    }
    let json = run.json("import")?;
    Ok(Run {
        label: label.to_string(),
        lines: json["result"]["lines"].as_u64().unwrap_or(0),
        wall_s: run.wall.as_secs_f64(),
        result: json["result"].clone(),
        orders: json["orders"].clone(),
    })
}

async fn measure(
    endpoint: &str,
    setup: &Setup,
    lines: usize,
    long_mib: usize,
) -> Result<Vec<Run>, String> {
    let up = setup.up_args();
    let up: Vec<&str> = up.iter().map(String::as_str).collect();
    let deployed = common::orderflow(endpoint, setup, &up).await?;
    if !deployed.success {
        return Err(format!("`orderflow up` failed:\n{}", deployed.describe()));
    }
    let invalid = (lines * 3 / 100).to_string();
    let count = lines.to_string();
    let samples = common::orderflow(
        endpoint,
        setup,
        &["sample-orders", "--count", &count, "--invalid", &invalid],
    )
    .await?;
    let big = setup.dir.join("partner.jsonl");
    std::fs::write(&big, &samples.stdout).map_err(|e| format!("writing {}: {e}", big.display()))?;
    let first = import(
        endpoint,
        setup,
        &big,
        &format!("{lines} lines, 3 % invalid"),
    )
    .await?;
    let again = import(endpoint, setup, &big, "the same file again").await?;

    // Two good orders around one long line, written without holding the line in memory.
    let long = setup.dir.join("long-line.jsonl");
    let two = common::orderflow(endpoint, setup, &["sample-orders", "--count", "2"]).await?;
    let mut good = two.stdout.lines();
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(&long).map_err(|e| format!("{}: {e}", long.display()))?,
    );
    let chunk = vec![b'x'; 1 << 20];
    let mut write = || -> std::io::Result<()> {
        writeln!(f, "{}", good.next().unwrap_or_default())?;
        for _ in 0..long_mib {
            f.write_all(&chunk)?;
        }
        writeln!(f)?;
        writeln!(f, "{}", good.next().unwrap_or_default())?;
        f.flush()
    };
    write().map_err(|e| format!("writing {}: {e}", long.display()))?;
    drop(f);
    let long_run = import(endpoint, setup, &long, &format!("one {long_mib} MiB line")).await?;
    let _ = std::fs::remove_file(&long);
    Ok(vec![first, again, long_run])
}

fn report(runs: &[Run], lines: usize, load: &str) -> (String, bool) {
    let mut s = String::new();
    let _ = writeln!(s, "{}", machine_line(load));
    let _ = writeln!(
        s,
        "{:<28} {:>8} {:>10} {:>11} {:>9} {:>9} {:>12} {:>10}",
        "run", "lines", "function", "lines/s", "peak RSS", "imported", "already/inv", "all final"
    );
    for r in runs {
        let per_s = if r.function_s() > 0.0 {
            r.lines as f64 / r.function_s()
        } else {
            f64::NAN
        };
        let _ = writeln!(
            s,
            "{:<28} {:>8} {:>9.1}s {:>11.0} {:>7.1}MiB {:>9} {:>5}/{:<6} {:>9.1}s",
            r.label,
            r.lines,
            r.function_s(),
            per_s,
            r.peak_mib(),
            r.result["imported"],
            r.result["already_imported"],
            r.result["invalid"],
            r.wall_s
        );
    }
    let peak = runs.iter().map(Run::peak_mib).fold(0.0, f64::max);
    let first = &runs[0];
    let good = lines - lines * 3 / 100;
    let goals = [
        Goal {
            name: "import-orders peak RSS under 64 MiB in every run",
            met: peak < RSS_GOAL_MIB,
            detail: format!("highest {peak:.1} MiB"),
        },
        Goal {
            name: "every good line of the big file PROCESSED",
            met: first.orders["processed"].as_u64() == Some(good as u64)
                && first.orders["pending"].as_u64() == Some(0),
            detail: format!(
                "{} processed of {good}, {} pending",
                first.orders["processed"], first.orders["pending"]
            ),
        },
        Goal {
            name: "the same file again imports nothing",
            met: runs[1].result["imported"].as_u64() == Some(0)
                && runs[1].result["already_imported"].as_u64() == Some(good as u64),
            detail: format!(
                "{} imported, {} already imported",
                runs[1].result["imported"], runs[1].result["already_imported"]
            ),
        },
    ];
    render_goals(&mut s, &goals);
    (s, goals.iter().all(|g| g.met))
}

fn main() -> ExitCode {
    let sizes = count_from_env("ORDERFLOW_BENCH_IMPORT_LINES", 10_000, 100).and_then(|lines| {
        count_from_env("ORDERFLOW_BENCH_IMPORT_LONG_LINE_MIB", 1024, 1).map(|mib| (lines, mib))
    });
    let (lines, long_mib) = match sizes {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::from(2);
        }
    };
    let load = load_average();
    let harness = match Harness::start() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = harness
        .run(measure(&harness.endpoint, &harness.setup, lines, long_mib))
        .map(|runs| report(&runs, lines, &load));
    harness.finish(outcome)
}
