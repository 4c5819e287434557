//! Benchmark of `orderflow dev`: from the end of a function's rebuild to its new code serving
//! orders (goal: median under 2 s on the local emulator).
//!
//! `cargo bench --bench dev` (a plain `fn main`). It copies the workspace (what cargo needs to
//! build the functions) into a temporary directory, starts MiniStack on a free loopback port,
//! and runs `orderflow dev --output json` there. Then, `ORDERFLOW_BENCH_DEV_EDITS` times, it
//! edits get-order's "Order not found" title, waits for dev's `built` event (the time the
//! build finished) and asks the order API for an unknown order every 20 ms until the answer
//! carries the new title: that instant minus the end of the build is "edit to serving". dev's
//! own `after_build_seconds` (UpdateFunctionCode until the update is applied) is shown too.
//!
//! The functions are built into the shared target directory (`CARGO_TARGET_DIR` or
//! `<workspace>/target`, profile `lambda`); before it ends the bench restores get-order and
//! rebuilds it, so the binaries there are the repository's again. Every wait has a deadline;
//! the emulator and dev are stopped at the end, also on failure.

#[path = "common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{
    load_average, machine_line, median, render_goals, start_emulator, stats_header, stats_row,
    Goal, ORDERFLOW,
};
use serde_json::Value;

const GOAL_SECONDS: f64 = 2.0;
const HANDLER: &str = "functions/get-order/src/handler.rs";
const TITLE: &str = "\"Order not found\",";
/// The first build of a fresh copy may compile every function crate.
const FIRST_APPLY: Duration = Duration::from_secs(1800);
const PER_EDIT: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_millis(20);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    for entry in std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(&name))?;
        } else {
            std::fs::copy(&path, to.join(&name)).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

struct Dev {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Dev {
    fn event(&self, name: &str, within: Duration) -> Result<Value, String> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .map_err(|_| format!("dev: no `{name}` event within {} s", within.as_secs()))?;
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if v["event"] == "failed" {
                    return Err(format!("dev: {v}"));
                }
                if v["event"] == name {
                    return Ok(v);
                }
            }
        }
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        let _ = self.child.wait();
    }
}

/// GET an unknown order until its title is `title`; the instant it was (Unix ms).
fn served(url: &str, title: &str, within: Duration) -> Result<u64, String> {
    let deadline = Instant::now() + within;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let http = reqwest::Client::new();
        loop {
            if let Ok(resp) = http.get(url).send().await {
                if let Ok(body) = resp.json::<Value>().await {
                    if body["title"] == title {
                        return Ok(now_ms());
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "`{title}` not served within {} s",
                    within.as_secs()
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    })
}

fn api_url(endpoint: &str, stack: &str) -> Result<String, String> {
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_apigatewayv2::config::Credentials::new(
                "test", "test", None, None, "bench",
            ))
            .load()
            .await;
        let apis = aws_sdk_apigatewayv2::Client::new(&config)
            .get_apis()
            .send()
            .await
            .map_err(|e| format!("GetApis: {e}"))?;
        let id = apis
            .items()
            .iter()
            .find(|a| a.name() == Some(&format!("{stack}-orders")))
            .and_then(|a| a.api_id())
            .ok_or("the stack's API is missing")?;
        Ok(format!(
            "{endpoint}/_aws/execute-api/{id}/orders/no-such-order"
        ))
    })
}

fn edits() -> Result<usize, String> {
    match std::env::var("ORDERFLOW_BENCH_DEV_EDITS") {
        Ok(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (3..=50).contains(n))
            .ok_or_else(|| format!("ORDERFLOW_BENCH_DEV_EDITS={v}: 3 to 50")),
        Err(_) => Ok(7),
    }
}

struct Measured {
    build: Vec<f64>,
    swap: Vec<f64>,
    serving: Vec<f64>,
}

fn measure(work: &Path, endpoint: &str, n: usize) -> Result<Measured, String> {
    let stack = "devbench";
    let yaml = std::fs::read_to_string(repo().join("pipeline.yaml"))
        .map_err(|e| e.to_string())?
        .replacen("stack: orderflow", &format!("stack: {stack}"), 1);
    std::fs::write(work.join("pipeline.yaml"), yaml).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(ORDERFLOW);
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("AWS_") || k.starts_with("ORDERFLOW_") {
            cmd.env_remove(&key);
        }
    }
    let mut child = cmd
        .args([
            "--endpoint-url",
            endpoint,
            "dev",
            "--yes",
            "--no-logs",
            "--output",
            "json",
        ])
        .current_dir(work)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", work.join(".none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", work.join(".none"))
        .env("CARGO_TARGET_DIR", target_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting dev: {e}"))?;
    let (tx, lines) = mpsc::channel();
    let out = child.stdout.take().ok_or("no stdout")?;
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let dev = Dev { child, lines };
    dev.event("watching", FIRST_APPLY)?;
    let url = api_url(endpoint, stack)?;
    // The functions start on first use: one request before measuring.
    served(&url, "Order not found", PER_EDIT)?;
    let handler = work.join(HANDLER);
    let original = std::fs::read_to_string(&handler).map_err(|e| e.to_string())?;
    let mut m = Measured {
        build: Vec::new(),
        swap: Vec::new(),
        serving: Vec::new(),
    };
    for i in 1..=n {
        let title = format!("Order not found ({i})");
        std::fs::write(
            &handler,
            original.replacen(TITLE, &format!("\"{title}\","), 1),
        )
        .map_err(|e| e.to_string())?;
        let built = dev.event("built", PER_EDIT)?;
        let at = built["at"].as_u64().ok_or("built without `at`")?;
        let serving = served(&url, &title, PER_EDIT)?;
        let swapped = dev.event("code_swapped", PER_EDIT)?;
        m.build.push(built["seconds"].as_f64().unwrap_or(f64::NAN));
        m.swap
            .push(swapped["after_build_seconds"].as_f64().unwrap_or(f64::NAN));
        m.serving.push(serving.saturating_sub(at) as f64 / 1000.0);
        eprintln!(
            "bench: edit {i}: built in {:.1} s, serving {:.2} s after the build",
            m.build[i - 1],
            m.serving[i - 1]
        );
    }
    drop(dev);
    std::fs::write(&handler, original).map_err(|e| e.to_string())?;
    Ok(m)
}

/// Rebuild the functions from the copy as it was, so the shared target directory holds the
/// repository's get-order again.
fn restore(work: &Path) {
    let _ = std::fs::copy(repo().join(HANDLER), work.join(HANDLER));
    let status = Command::new("cargo")
        .args([
            "build",
            "--profile",
            "lambda",
            "--workspace",
            "--exclude",
            "orderflow",
            "--bins",
        ])
        .current_dir(work)
        .env("CARGO_TARGET_DIR", target_dir())
        .status();
    if !status.is_ok_and(|s| s.success()) {
        eprintln!("bench: rebuilding the original get-order failed; run `cargo build --profile lambda --workspace --exclude orderflow --bins`");
    }
}

fn main() -> ExitCode {
    let n = match edits() {
        Ok(n) => n,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::from(2);
        }
    };
    let load = load_average();
    let work = match tempfile::Builder::new()
        .prefix("orderflow-bench-dev-")
        .tempdir()
    {
        Ok(w) => w,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::from(2);
        }
    };
    let copied = ["Cargo.toml", "Cargo.lock"]
        .iter()
        .try_for_each(|f| {
            std::fs::copy(repo().join(f), work.path().join(f))
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .and_then(|()| {
            ["src", "functions", "benches"]
                .iter()
                .try_for_each(|d| copy_dir(&repo().join(d), &work.path().join(d)))
        });
    if let Err(e) = copied {
        eprintln!("bench: copying the workspace: {e}");
        return ExitCode::from(2);
    }
    let mut emulator = match start_emulator(work.path()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = measure(work.path(), &emulator.endpoint, n);
    let _ = emulator.stop();
    restore(work.path());
    let m = match outcome {
        Ok(m) => m,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::from(2);
        }
    };
    let mut report = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(report, "orderflow dev: edit get-order, {n} times");
    let _ = writeln!(report, "  cli       {ORDERFLOW}");
    let _ = writeln!(report, "{}", machine_line(&load));
    stats_header(&mut report, "seconds");
    stats_row(&mut report, "build (cargo + package)", &m.build, 2);
    stats_row(
        &mut report,
        "swap (UpdateFunctionCode → applied)",
        &m.swap,
        2,
    );
    stats_row(
        &mut report,
        "end of build → new code serving",
        &m.serving,
        2,
    );
    let serving = median(&m.serving);
    let goals = [Goal {
        name: "new code serves < 2 s after the build (median)",
        met: serving < GOAL_SECONDS,
        detail: format!("{serving:.2} s"),
    }];
    render_goals(&mut report, &goals);
    print!("{report}");
    if goals.iter().all(|g| g.met) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
