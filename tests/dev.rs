//! `orderflow dev`: an edited function is rebuilt and only its code swapped, a pipeline edit is
//! applied (a broken one reported while dev keeps watching), logs stream, and Ctrl-C releases
//! the stack lock.
//!
//! `dev` runs cargo, and `cargo test` holds the target directory's lock while tests run: this
//! test is ignored under `cargo test`, and scripts/test.sh runs it after the suite, directly
//! (`<test binary> --ignored`). It works on a copy of the workspace sharing the target
//! directory, and rebuilds the original function before it ends, so the binaries the other
//! tests deploy stay the repository's.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{unique_stack, workspace_dir, TestEmulator};
use serde_json::Value;

const HANDLER: &str = "functions/get-order/src/handler.rs";
const TITLE: &str = "\"Order not found\",";

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir().join("target"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}

/// A copy of the workspace (what cargo needs to build the functions) with its own stack.
/// On drop, the copy's get-order is restored and rebuilt, so the shared target directory holds
/// the repository's binary again.
struct Workspace {
    dir: tempfile::TempDir,
    stack: String,
}

impl Workspace {
    fn new() -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let root = workspace_dir();
        for file in ["Cargo.toml", "Cargo.lock"] {
            std::fs::copy(root.join(file), dir.path().join(file)).unwrap();
        }
        for sub in ["src", "functions", "benches"] {
            copy_dir(&root.join(sub), &dir.path().join(sub));
        }
        let stack = unique_stack("dev");
        let yaml = std::fs::read_to_string(root.join("pipeline.yaml"))
            .unwrap()
            .replacen("stack: orderflow", &format!("stack: {stack}"), 1);
        std::fs::write(dir.path().join("pipeline.yaml"), yaml).unwrap();
        Workspace { dir, stack }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn edit(&self, rel: &str, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.path(rel)).unwrap();
        assert!(text.contains(from), "{from} not in {rel}");
        std::fs::write(self.path(rel), text.replacen(from, to, 1)).unwrap();
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let original = workspace_dir().join(HANDLER);
        let _ = std::fs::copy(original, self.path(HANDLER));
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
            .current_dir(self.dir.path())
            .env("CARGO_TARGET_DIR", target_dir())
            .status();
        assert!(
            status.is_ok_and(|s| s.success()) || std::thread::panicking(),
            "rebuilding the original get-order failed"
        );
    }
}

/// `orderflow dev` running, its stdout lines arriving on a channel.
struct Dev {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: PathBuf,
}

impl Dev {
    /// The next JSON event `pred` accepts (log lines and other events are passed over, and
    /// returned too, for assertions about what else happened).
    fn wait_for(
        &self,
        what: &str,
        secs: u64,
        pred: impl Fn(&Value) -> bool,
    ) -> (Value, Vec<Value>) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "no {what} within {secs} s; events: {seen:#?}\nstderr:\n{}",
                    std::fs::read_to_string(&self.stderr).unwrap_or_default()
                )
            });
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if pred(&v) {
                return (v, seen);
            }
            seen.push(v);
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

/// The CLI against the emulator, building into the shared target directory.
fn orderflow(endpoint: &str, dir: &Path) -> Command {
    let mut cmd = common::orderflow_command(endpoint, dir);
    cmd.env("CARGO_TARGET_DIR", target_dir());
    cmd
}

#[tokio::test]
#[ignore = "runs cargo, which waits on the lock `cargo test` holds: scripts/test.sh runs it after the suite"]
async fn dev_swaps_only_the_edited_function_applies_pipeline_edits_and_stops_cleanly() {
    let emu = TestEmulator::start();
    let ws = Workspace::new();
    let stderr = ws.path("dev.stderr");
    let mut child = orderflow(emu.endpoint(), ws.dir.path())
        .args(["dev", "--yes", "--output", "json"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let dev = Dev {
        child,
        lines,
        stderr,
    };
    let (applied, _) = dev.wait_for("the first apply", 600, |v| v["event"] == "applied");
    assert!(applied["create"].as_u64().unwrap() > 0, "{applied}");
    dev.wait_for("watching", 60, |v| v["event"] == "watching");

    let config = common::sdk_config(emu.endpoint()).await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let sha = |f: &str| {
        let lambda = lambda.clone();
        let name = format!("{}-{f}", ws.stack);
        async move {
            lambda
                .get_function_configuration()
                .function_name(name)
                .send()
                .await
                .unwrap()
                .code_sha256
                .unwrap()
        }
    };
    let before = (sha("get-order").await, sha("submit-order").await);

    // An edit in get-order: built, and only get-order's code swapped.
    ws.edit(HANDLER, TITLE, "\"Order not found (dev)\",");
    let (swapped, seen) = dev.wait_for("get-order's new code", 600, |v| {
        v["event"] == "code_swapped"
    });
    assert_eq!(swapped["function"], "get-order", "{swapped}");
    assert!(
        seen.iter()
            .any(|v| v["event"] == "built" && v["crate_name"] == "get-order"),
        "{seen:#?}"
    );
    assert!(
        !seen.iter().any(|v| v["event"] == "applied"),
        "a code edit is not a plan: {seen:#?}"
    );
    assert_ne!(sha("get-order").await, before.0);
    assert_eq!(
        sha("submit-order").await,
        before.1,
        "another function's code changed"
    );
    // The customer sees the new code.
    let apis = aws_sdk_apigatewayv2::Client::new(&config)
        .get_apis()
        .send()
        .await
        .unwrap();
    let api = apis
        .items()
        .iter()
        .find(|a| a.name() == Some(&format!("{}-orders", ws.stack)))
        .expect("the stack's API");
    let url = format!(
        "{}/_aws/execute-api/{}/orders/no-such-order",
        emu.endpoint(),
        api.api_id().unwrap()
    );
    let body: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(body["title"], "Order not found (dev)", "{body}");
    // Its log lines stream.
    dev.wait_for("get-order's log line", 60, |v| {
        v["function"] == "get-order"
            && v["message"]
                .as_str()
                .is_some_and(|m| m.contains("order not found"))
    });

    // A broken pipeline edit is reported; dev keeps watching, and applies the fix.
    ws.edit("pipeline.yaml", "    timeout: 30\n", "    timeout: 0\n");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !dev.stderr().contains("functions.process-order.timeout") {
        assert!(
            Instant::now() < deadline,
            "no error for the broken edit:\n{}",
            dev.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    ws.edit("pipeline.yaml", "    timeout: 0\n", "    timeout: 25\n");
    let (applied, _) = dev.wait_for("the pipeline edit", 300, |v| v["event"] == "applied");
    assert_eq!(applied["update"], 1, "{applied}");
    let timeout = lambda
        .get_function_configuration()
        .function_name(format!("{}-process-order", ws.stack))
        .send()
        .await
        .unwrap()
        .timeout;
    assert_eq!(timeout, Some(25));

    // Ctrl-C: exit 130, the lock released (an up that does not wait gets it at once).
    let mut child = dev.child;
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "{}",
        std::fs::read_to_string(&dev.stderr).unwrap()
    );
    let out = orderflow(emu.endpoint(), ws.dir.path())
        .args(["up", "--yes", "--lock-timeout", "0"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
