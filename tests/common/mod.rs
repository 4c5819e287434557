//! Shared harness for orderflow's integration tests. Use it from a test file with `mod common;`.
//!
//! - [`TestEmulator::start`] gives each test its own MiniStack: a free port, a private state
//!   directory, stopped (with all its Lambda processes) when the value is dropped. If the test
//!   panics, the tail of the emulator's log is printed with the failure.
//! - [`functions_dir`] is where the function binaries were built before the tests ran
//!   (`scripts/test.sh` builds them; a `cargo build` from inside `cargo test` would wait on the
//!   target-dir lock held by `cargo test` itself). Pass it as `up --prebuilt <dir>`.
//! - [`orderflow`] runs the CLI binary against an endpoint with test credentials.
//! - [`unique_stack`] names a stack so that tests never collide.
//! - [`sdk_config`] builds an SDK configuration for asserting on the emulator's state directly.
//!
//! Environment:
//! - `ORDERFLOW_HOME`: where MiniStack is installed (shared by all tests; installation is
//!   serialised with a file lock, so the first test to need it installs it once).
//! - `ORDERFLOW_TEST_FUNCTIONS_DIR`: overrides [`functions_dir`].

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use orderflow::local::{self, Emulator};

/// Region every test uses (the emulator's region).
pub const REGION: &str = local::REGION;

/// A MiniStack of the test's own. Stops on drop.
pub struct TestEmulator {
    // Declared before `state` so the emulator stops before its directory is removed.
    emulator: Emulator,
    state: tempfile::TempDir,
}

impl TestEmulator {
    /// Install MiniStack if needed, then start it on a free port with a private state
    /// directory. Panics (failing the test) with the reason if it cannot start.
    pub fn start() -> TestEmulator {
        TestEmulator::start_with_functions_endpoint(None)
    }

    /// [`TestEmulator::start`], with the functions' own AWS calls sent to `functions_endpoint`
    /// (a fault-injecting proxy in front of this emulator) instead of the emulator itself.
    pub fn start_with_functions_endpoint(functions_endpoint: Option<&str>) -> TestEmulator {
        let python =
            local::ensure_installed().unwrap_or_else(|e| panic!("installing MiniStack: {e}"));
        let mut last_error = None;
        // A port found free can be taken by another test before MiniStack binds it: retry.
        for _ in 0..3 {
            let port = local::free_port().unwrap_or_else(|e| panic!("{e}"));
            let state = tempfile::Builder::new()
                .prefix("orderflow-ministack-")
                .tempdir()
                .unwrap_or_else(|e| panic!("creating a state directory: {e}"));
            match Emulator::start_with_functions_endpoint(
                &python,
                port,
                state.path(),
                functions_endpoint,
            ) {
                Ok(emulator) => {
                    eprintln!(
                        "test emulator: {} (pid {}), log {}",
                        emulator.endpoint,
                        emulator.pid,
                        emulator.log_path().display()
                    );
                    return TestEmulator { emulator, state };
                }
                Err(e) => {
                    let log = std::fs::read_to_string(state.path().join("ministack.log"))
                        .unwrap_or_default();
                    let in_use = e.to_string().contains("in use") || log.contains("already in use");
                    last_error = Some(e);
                    if !in_use {
                        break;
                    }
                }
            }
        }
        panic!(
            "starting MiniStack: {}",
            last_error.map_or_else(|| "unknown error".to_string(), |e| e.to_string())
        );
    }

    /// `http://127.0.0.1:<port>`
    pub fn endpoint(&self) -> &str {
        &self.emulator.endpoint
    }

    pub fn port(&self) -> u16 {
        self.emulator.port
    }

    /// Pid of MiniStack, which is also its process group id.
    pub fn pid(&self) -> u32 {
        self.emulator.pid
    }

    /// The private directory holding the log and MiniStack's TMPDIR (`tmp/`).
    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    pub fn log_path(&self) -> PathBuf {
        self.emulator.log_path()
    }

    /// Stop now (rather than on drop) and report failure to stop.
    pub fn stop(&mut self) -> Result<(), orderflow::Error> {
        self.emulator.stop()
    }
}

impl Drop for TestEmulator {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!("---- last lines of {} ----", self.log_path().display());
            for line in &lines[lines.len().saturating_sub(60)..] {
                eprintln!("{}", line.chars().take(400).collect::<String>());
            }
        }
        // `emulator` drops next and stops MiniStack.
    }
}

/// The workspace root (where `Cargo.toml` of orderflow is).
pub fn workspace_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Directory of prebuilt function binaries (`<dir>/<crate>`), for `up --prebuilt`:
/// `ORDERFLOW_TEST_FUNCTIONS_DIR` if set, else `<target dir>/lambda` (built by
/// `scripts/test.sh` with `cargo build --profile lambda`). Panics with instructions if the
/// binaries are missing, so a test never silently runs without them.
pub fn functions_dir() -> PathBuf {
    let dir = match std::env::var_os("ORDERFLOW_TEST_FUNCTIONS_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .map(|t| {
                if t.is_relative() {
                    workspace_dir().join(t)
                } else {
                    t
                }
            })
            .unwrap_or_else(|| workspace_dir().join("target"))
            .join("lambda"),
    };
    for krate in ["validate-order", "process-order"] {
        assert!(
            dir.join(krate).is_file(),
            "{} is missing: build the functions first (`cargo build --profile lambda -p validate-order -p process-order`, \
             which ./scripts/test.sh does) or set ORDERFLOW_TEST_FUNCTIONS_DIR",
            dir.join(krate).display()
        );
    }
    dir
}

/// Test credentials and region, no stdin, and no AWS or orderflow settings inherited from the
/// caller's environment (the shared config files kept out too: a profile there could set
/// another region).
pub fn test_aws_env<'c>(cmd: &'c mut Command, dir: &Path) -> &'c mut Command {
    for (key, _) in std::env::vars_os() {
        let inherited = key.to_str().is_some_and(|k| {
            k.starts_with("AWS_")
                || k.starts_with("ORDERFLOW_LOCAL")
                || k == "ORDERFLOW_OUTPUT"
                || k == "ORDERFLOW_ENV"
        });
        if inherited {
            cmd.env_remove(&key);
        }
    }
    cmd.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", REGION)
        .env("AWS_CONFIG_FILE", dir.join(".no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join(".no-aws-credentials"),
        )
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
}

/// The orderflow CLI with `--endpoint-url <endpoint>`, in `dir`, with [`test_aws_env`].
pub fn orderflow_command(endpoint: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orderflow"));
    test_aws_env(&mut cmd, dir);
    cmd.arg("--endpoint-url").arg(endpoint).current_dir(dir);
    cmd
}

/// Run the orderflow CLI ([`orderflow_command`]) with `args`. Global options that must come
/// before the command (`-f <file>`) go first in `args`.
pub fn orderflow(endpoint: &str, dir: &Path, args: &[&str]) -> Output {
    orderflow_command(endpoint, dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", env!("CARGO_BIN_EXE_orderflow")))
}

/// Output as text, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A stack name no other test (or earlier run) uses: `<prefix>-<6 chars>`, matching
/// `^[a-z][a-z0-9-]{0,23}$`. The prefix is lowercased, cut to 17 characters, and must start
/// with a letter.
pub fn unique_stack(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let prefix: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(17)
        .collect();
    assert!(
        prefix.starts_with(|c: char| c.is_ascii_lowercase()),
        "stack prefix must start with a letter: {prefix:?}"
    );
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64 ^ d.as_secs());
    let mut n = nanos
        .wrapping_mul(6364136223846793005)
        .wrapping_add(u64::from(std::process::id()) << 20)
        .wrapping_add(u64::from(COUNTER.fetch_add(1, Ordering::Relaxed)) * 7919);
    let mut suffix = String::new();
    for _ in 0..6 {
        suffix.push(char::from_digit((n % 36) as u32, 36).unwrap_or('x'));
        n /= 36;
    }
    format!("{prefix}-{suffix}")
}

/// SDK configuration for talking to the emulator directly (test credentials, `us-east-1`).
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "orderflow-tests",
        ))
        .load()
        .await
}

/// The bodies of a queue's messages (as JSON, or a JSON string when not JSON), deleted as they
/// are received, until `n` have arrived; panics after 30 s.
pub async fn receive_messages(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    n: usize,
) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut bodies = Vec::new();
    while bodies.len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "{url}: {} of {n} messages after 30 s: {bodies:?}",
            bodies.len()
        );
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("ReceiveMessage");
        for m in out.messages() {
            let body = m.body().unwrap_or_default();
            bodies.push(serde_json::from_str(body).unwrap_or_else(|_| serde_json::json!(body)));
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("DeleteMessage");
        }
    }
    bodies
}

/// IAM's policy simulator's decision (`allowed`, `implicitDeny`...) for the role `role_name` doing
/// `action` on `resource`. MiniStack looks a role up by what follows `role/`, so the simulated
/// ARN leaves out the role's path (real AWS takes the full ARN); callers check an allowed
/// action next to each denied one, so a denial never passes just because the role was not found.
pub async fn simulated_decision(
    iam: &aws_sdk_iam::Client,
    role_name: &str,
    action: &str,
    resource: &str,
) -> String {
    let out = iam
        .simulate_principal_policy()
        .policy_source_arn(format!("arn:aws:iam::000000000000:role/{role_name}"))
        .action_names(action)
        .resource_arns(resource)
        .send()
        .await
        .unwrap_or_else(|e| panic!("SimulatePrincipalPolicy {action} on {resource}: {e:?}"));
    out.evaluation_results()[0]
        .eval_decision()
        .as_str()
        .to_string()
}
