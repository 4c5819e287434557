//! What orderflow's end-to-end benchmarks share (`benches/pipeline.rs`, `benches/api.rs`), included
//! with `#[path = "common/mod.rs"] mod common;`:
//!
//! - [`Harness`]: a private copy of `pipeline.yaml` and of the prebuilt function binaries it
//!   declares ([`Setup`]), a MiniStack on a free 127.0.0.1 port with a private state directory,
//!   an async runtime, and Ctrl-C handling. [`Harness::finish`] prints the report and stops the
//!   emulator (and every function process it started), also on failure and on Ctrl-C.
//! - [`orderflow`]: runs the CLI cargo built for the bench with test credentials and no AWS
//!   settings from the caller's environment, timestamping stderr lines as they arrive.
//! - Statistics ([`median`], [`percentile`], [`min`], [`max`]) and the report's table rows
//!   ([`stats_header`], [`stats_row`], [`render_goals`]).
//!
//! Exit codes of a bench: 0 every goal met, 1 a goal missed, 2 the bench itself could not run.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use orderflow::local::{self, Emulator};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

/// The CLI under test, built by cargo with the profile of this bench run.
pub const ORDERFLOW: &str = env!("CARGO_BIN_EXE_orderflow");

/// The binary the bench runs: `ORDERFLOW_BENCH_CLI` (another build, e.g. of an older commit, to
/// compare with) or [`ORDERFLOW`].
pub fn cli() -> PathBuf {
    std::env::var_os("ORDERFLOW_BENCH_CLI")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(ORDERFLOW))
}

/// Longest any single CLI run may take before the bench gives up on it.
pub const CLI_DEADLINE: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------------------------------------
// Set-up

/// A whole number from the environment variable `name` (at least `min`), or `default`.
pub fn count_from_env(name: &str, default: usize, min: usize) -> Result<usize, String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => match v.parse::<usize>() {
            Ok(n) if n >= min => Ok(n),
            _ => Err(format!("{name}={v}: expected a whole number ≥ {min}")),
        },
        _ => Ok(default),
    }
}

/// The directory with the prebuilt function binaries: `ORDERFLOW_BENCH_FUNCTIONS_DIR`, or
/// `<target dir>/lambda`. [`Setup::prepare`] checks that every declared crate is there.
pub fn functions_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    match std::env::var_os("ORDERFLOW_BENCH_FUNCTIONS_DIR").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .map(|t| if t.is_relative() { manifest.join(t) } else { t })
            .unwrap_or_else(|| manifest.join("target"))
            .join("lambda"),
    }
}

/// A private copy of what the CLI reads, so that concurrent edits or rebuilds in the work tree
/// cannot turn an unchanged `up` into a changed one halfway through a bench.
#[derive(Debug, Clone)]
pub struct Setup {
    pub dir: PathBuf,
    pub pipeline: PathBuf,
    pub functions: PathBuf,
    /// `ORDERFLOW_HOME` of the CLI runs: keeps its package cache private to this run.
    pub home: PathBuf,
    /// The function crates the copied pipeline declares (sorted, deduplicated).
    pub crates: Vec<String>,
}

impl Setup {
    /// Copy the repository's `pipeline.yaml` and the binary of every function crate it declares
    /// from `functions` into `dir`.
    pub fn prepare(dir: &Path, functions: &Path) -> Result<Setup, String> {
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let pipeline = dir.join("pipeline.yaml");
        copy(&manifest.join("pipeline.yaml"), &pipeline)?;
        let spec = orderflow::spec::load(&pipeline)
            .map_err(|e| format!("reading {}: {}", pipeline.display(), e.summary()))?;
        let mut crates: Vec<String> = spec
            .functions
            .values()
            .map(|f| f.crate_name.clone())
            .collect();
        crates.sort();
        crates.dedup();
        let missing: Vec<String> = crates
            .iter()
            .filter(|c| !functions.join(c).is_file())
            .map(|c| functions.join(c).display().to_string())
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "missing function binaries: {}; build them first \
                 (`cargo build --profile lambda --workspace --exclude orderflow --bins`) \
                 or set ORDERFLOW_BENCH_FUNCTIONS_DIR",
                missing.join(", ")
            ));
        }
        let fdir = dir.join("functions");
        let home = dir.join("home");
        for d in [&fdir, &home] {
            std::fs::create_dir_all(d).map_err(|e| format!("creating {}: {e}", d.display()))?;
        }
        for krate in &crates {
            copy(&functions.join(krate), &fdir.join(krate))?;
        }
        Ok(Setup {
            dir: dir.to_path_buf(),
            pipeline,
            functions: fdir,
            home,
            crates,
        })
    }

    /// `up --yes --prebuilt <functions> --output json`.
    pub fn up_args(&self) -> Vec<String> {
        vec![
            "up".into(),
            "--yes".into(),
            "--prebuilt".into(),
            self.functions.display().to_string(),
            "--output".into(),
            "json".into(),
        ]
    }
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to)
        .map(drop)
        .map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))
}

/// MiniStack on a free loopback port, state under `<dir>/ministack-<attempt>`. A port found free
/// can be taken before MiniStack binds it: try a few.
pub fn start_emulator(dir: &Path) -> Result<Emulator, String> {
    let python = local::ensure_installed().map_err(|e| format!("installing MiniStack: {e}"))?;
    let mut last = String::new();
    for attempt in 0..3 {
        let port = local::free_port().map_err(|e| e.to_string())?;
        let state = dir.join(format!("ministack-{attempt}"));
        std::fs::create_dir_all(&state)
            .map_err(|e| format!("creating {}: {e}", state.display()))?;
        match Emulator::start_with(&python, port, &state) {
            Ok(emulator) => return Ok(emulator),
            Err(e) => {
                last = e.to_string();
                let log = std::fs::read_to_string(state.join("ministack.log")).unwrap_or_default();
                if !(last.contains("in use") || log.contains("already in use")) {
                    print_log_tail(&state.join("ministack.log"), 40);
                    break;
                }
            }
        }
    }
    Err(format!("starting MiniStack: {last}"))
}

pub fn print_log_tail(path: &Path, lines: usize) {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = log.lines().collect();
    eprintln!("---- last lines of {} ----", path.display());
    for line in &all[all.len().saturating_sub(lines)..] {
        eprintln!("{}", line.chars().take(300).collect::<String>());
    }
}

/// 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// `  machine   N CPUs, load average (1/5/15 min) before …, after …`
pub fn machine_line(load_before: &str) -> String {
    format!(
        "  machine   {} CPUs, load average (1/5/15 min) before {}, after {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_before,
        load_average()
    )
}

/// A running bench: its work directory (removed at the end), the private copy of the pipeline,
/// the emulator and the async runtime.
pub struct Harness {
    pub endpoint: String,
    pub port: u16,
    pub setup: Setup,
    // Dropped in this order: the runtime (killing CLI children still running), the emulator
    // (stopping its function processes), then the work directory.
    runtime: tokio::runtime::Runtime,
    emulator: Emulator,
    _work: tempfile::TempDir,
}

impl Harness {
    /// Copy the pipeline and its function binaries, start the emulator. Ctrl-C while the
    /// emulator starts stops it once it is up.
    pub fn start() -> Result<Harness, String> {
        let functions = functions_dir();
        let work = tempfile::Builder::new()
            .prefix("orderflow-bench-")
            .tempdir()
            .map_err(|e| format!("creating a work directory: {e}"))?;
        let setup = Setup::prepare(work.path(), &functions)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("starting the async runtime: {e}"))?;
        let dir = work.path().to_path_buf();
        let emulator = runtime.block_on(async move {
            let mut starting = tokio::task::spawn_blocking(move || start_emulator(&dir));
            tokio::select! {
                r = &mut starting => r.map_err(|e| format!("starting MiniStack: {e}"))?,
                _ = tokio::signal::ctrl_c() => {
                    // Let the start finish, then stop what it started (dropping it stops it).
                    drop(starting.await);
                    Err("interrupted".to_string())
                }
            }
        })?;
        eprintln!(
            "bench: MiniStack {} at {} (pid {}), log {}",
            local::MINISTACK_VERSION,
            emulator.endpoint,
            emulator.pid,
            emulator.log_path().display()
        );
        Ok(Harness {
            endpoint: emulator.endpoint.clone(),
            port: emulator.port,
            setup,
            runtime,
            emulator,
            _work: work,
        })
    }

    /// Run the measurements; Ctrl-C drops them (which kills the CLI child they are waiting for,
    /// `kill_on_drop`) and makes the outcome an error.
    pub fn run<T>(&self, measure: impl Future<Output = Result<T, String>>) -> Result<T, String> {
        self.runtime.block_on(async {
            tokio::select! {
                r = measure => r,
                _ = tokio::signal::ctrl_c() => Err("interrupted".to_string()),
            }
        })
    }

    /// Print the report (`Ok((text, all goals met))`) or the error with the emulator log's tail,
    /// then stop the emulator. 0 every goal met, 1 a goal missed, 2 the bench could not run.
    pub fn finish(self, outcome: Result<(String, bool), String>) -> ExitCode {
        let Harness {
            runtime,
            mut emulator,
            _work,
            ..
        } = self;
        drop(runtime);
        let code = match outcome {
            Ok((report, met)) => {
                print!("{report}");
                if met {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => {
                eprintln!("bench: {e}");
                print_log_tail(&emulator.log_path(), 40);
                ExitCode::from(2)
            }
        };
        if let Err(e) = emulator.stop() {
            eprintln!("bench: stopping the emulator: {e}");
        }
        code
    }
}

// ---------------------------------------------------------------------------------------------
// Running the CLI

pub struct CliRun {
    /// Spawn to exit.
    pub wall: Duration,
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    /// Each stderr line with when it arrived, relative to the spawn.
    pub stderr: Vec<(Duration, String)>,
}

impl CliRun {
    pub fn json(&self, what: &str) -> Result<Value, String> {
        serde_json::from_str(&self.stdout)
            .map_err(|e| format!("{what}: stdout is not JSON ({e}):\n{}", self.describe()))
    }

    pub fn describe(&self) -> String {
        let mut s = format!(
            "exit {:?} after {:.2} s\n--- stdout ---\n{}\n--- stderr ---\n",
            self.code,
            self.wall.as_secs_f64(),
            self.stdout
        );
        for (_, line) in &self.stderr {
            let _ = writeln!(s, "{line}");
        }
        s
    }
}

/// Run `orderflow --endpoint-url <endpoint> -f <pipeline> <args>` with test credentials and no
/// AWS settings from the caller's environment; killed if it outlives `CLI_DEADLINE`.
pub async fn orderflow(endpoint: &str, setup: &Setup, args: &[&str]) -> Result<CliRun, String> {
    let cli = cli();
    let mut cmd = tokio::process::Command::new(&cli);
    for (key, _) in std::env::vars_os() {
        let inherited = key
            .to_str()
            .is_some_and(|k| k.starts_with("AWS_") || k.starts_with("ORDERFLOW_"));
        if inherited {
            cmd.env_remove(&key);
        }
    }
    cmd.arg("--endpoint-url")
        .arg(endpoint)
        .arg("-f")
        .arg(&setup.pipeline)
        .args(args)
        .current_dir(&setup.dir)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", local::REGION)
        .env("AWS_CONFIG_FILE", setup.dir.join(".no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            setup.dir.join(".no-aws-credentials"),
        )
        .env("ORDERFLOW_HOME", &setup.home)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);

    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("running {}: {e}", cli.display()))?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or("internal: child stdout not piped")?;
    let stderr = child
        .stderr
        .take()
        .ok_or("internal: child stderr not piped")?;
    let read_stdout = tokio::spawn(async move {
        let mut s = String::new();
        stdout.read_to_string(&mut s).await.map(|_| s)
    });
    let read_stderr = tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            seen.push((started.elapsed(), line));
        }
        seen
    });
    let status = match tokio::time::timeout(CLI_DEADLINE, child.wait()).await {
        Ok(status) => status.map_err(|e| format!("waiting for {}: {e}", cli.display()))?,
        Err(_) => {
            let _ = child.kill().await;
            return Err(format!(
                "`orderflow {}` did not finish within {} s",
                args.join(" "),
                CLI_DEADLINE.as_secs()
            ));
        }
    };
    let wall = started.elapsed();
    let stdout = read_stdout
        .await
        .map_err(|e| format!("reading stdout: {e}"))?
        .map_err(|e| format!("reading stdout: {e}"))?;
    let stderr = read_stderr
        .await
        .map_err(|e| format!("reading stderr: {e}"))?;
    Ok(CliRun {
        wall,
        success: status.success(),
        code: status.code(),
        stdout,
        stderr,
    })
}

/// An SDK configuration for the emulator with test credentials.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(local::REGION))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "orderflow-bench",
        ))
        .load()
        .await
}

// ---------------------------------------------------------------------------------------------
// Statistics

/// Median (mean of the two middle values for an even count).
pub fn median(values: &[f64]) -> f64 {
    let s = sorted(values);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// Nearest-rank percentile.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let s = sorted(values);
    if s.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

pub fn sorted(values: &[f64]) -> Vec<f64> {
    let mut s = values.to_vec();
    s.sort_by(f64::total_cmp);
    s
}

pub fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

pub fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

// ---------------------------------------------------------------------------------------------
// The report

/// `  ms                                   median      p90      min      max`
pub fn stats_header(s: &mut String, unit: &str) {
    let _ = writeln!(
        s,
        "  {:<34} {:>8} {:>8} {:>8} {:>8}",
        unit, "median", "p90", "min", "max"
    );
}

/// One row under [`stats_header`]: median, p90, min and max of `values` with `decimals`.
pub fn stats_row(s: &mut String, label: &str, values: &[f64], decimals: usize) {
    let _ = writeln!(
        s,
        "  {:<34} {:>8.*} {:>8.*} {:>8.*} {:>8.*}",
        label,
        decimals,
        median(values),
        decimals,
        percentile(values, 90.0),
        decimals,
        min(values),
        decimals,
        max(values)
    );
}

/// Values rounded to whole numbers, space-separated.
pub fn fmt_list(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.0}"))
        .collect::<Vec<_>>()
        .join(" ")
}

pub struct Goal {
    pub name: &'static str,
    pub met: bool,
    pub detail: String,
}

/// `goals:` and one `[met   ]`/`[MISSED]` line per goal.
pub fn render_goals(s: &mut String, goals: &[Goal]) {
    let _ = writeln!(s, "goals:");
    for g in goals {
        let _ = writeln!(
            s,
            "  [{}] {:<52} {}",
            if g.met { "met   " } else { "MISSED" },
            g.name,
            g.detail
        );
    }
}
