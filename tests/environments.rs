//! `--env NAME` / ORDERFLOW_ENV: two environments of one pipeline file are two stacks that
//! coexist in one account, each with its overrides, and tearing one down leaves the other.

mod common;
#[path = "common/stack.rs"]
mod stack;

use std::process::{Command, Stdio};

use common::TestEmulator;
use serde_json::Value;
use stack::{stderr, Stack};

const ENVIRONMENTS: &str = "
environments:
  dev:
    functions:
      process-order: { memory: 512 }
  qa:
    functions:
      process-order: { memory: 1024, log_retention: 30 }
    # SES identities are named by their address, not by the stack: an environment sharing an
    # account with another sends from its own.
    email_identities:
      sender: { email: orders-qa@example.com }
";

async fn memory(lambda: &aws_sdk_lambda::Client, name: &str) -> Option<i32> {
    lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
        .ok()
        .and_then(|c| c.memory_size)
}

#[tokio::test]
async fn two_environments_of_one_file_coexist_and_go_down_separately() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "env", &[]);
    let yaml = std::fs::read_to_string(stack.pipeline_path()).unwrap() + ENVIRONMENTS;
    std::fs::write(stack.pipeline_path(), yaml).unwrap();
    let (dev, qa) = (format!("{}-dev", stack.name), format!("{}-qa", stack.name));

    let up = stack.json(&["up", "--env", "dev", "--yes", "--output", "json"]);
    assert_eq!(up["stack"], dev.as_str(), "{up:#}");
    let up = stack.json(&["up", "--env", "qa", "--yes", "--output", "json"]);
    assert_eq!(up["stack"], qa.as_str());
    // qa's first up created everything of its own: nothing of dev's was reused or changed.
    assert_eq!(up["plan"]["update"], 0, "{up:#}");
    assert_eq!(up["plan"]["delete"], 0, "{up:#}");

    let lambda = aws_sdk_lambda::Client::new(&stack.config().await);
    assert_eq!(
        memory(&lambda, &format!("{dev}-process-order")).await,
        Some(512)
    );
    assert_eq!(
        memory(&lambda, &format!("{qa}-process-order")).await,
        Some(1024)
    );
    // What the environments do not override is the file's.
    assert_eq!(
        memory(&lambda, &format!("{qa}-validate-order")).await,
        Some(256)
    );
    let logs = aws_sdk_cloudwatchlogs::Client::new(&stack.config().await);
    let groups = logs
        .describe_log_groups()
        .log_group_name_prefix(format!("/aws/lambda/{qa}-process-order"))
        .send()
        .await
        .expect("describe log groups");
    assert_eq!(groups.log_groups()[0].retention_in_days(), Some(30));

    // The header says which environment and stack a run acts on.
    let out = stack.run(&["--env", "dev", "status"]);
    assert!(
        stderr(&out).contains(&format!("environment dev, stack {dev}")),
        "{}",
        stderr(&out)
    );

    // Down of dev leaves qa as it was: its plan shows no change.
    stack.json(&[
        "--env",
        "dev",
        "down",
        "--yes",
        "--delete-data",
        "--output",
        "json",
    ]);
    assert_eq!(memory(&lambda, &format!("{dev}-process-order")).await, None);
    let out = stack.run(&["plan", "--env", "qa", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        memory(&lambda, &format!("{qa}-process-order")).await,
        Some(1024)
    );
    stack.json(&[
        "--env",
        "qa",
        "down",
        "--yes",
        "--delete-data",
        "--output",
        "json",
    ]);
}

/// ORDERFLOW_ENV selects the environment for a whole CI job, like --env; a wrong name is a
/// validation error with a suggestion, before any AWS call.
#[test]
fn orderflow_env_selects_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = stack::default_pipeline() + ENVIRONMENTS;
    std::fs::write(dir.path().join("pipeline.yaml"), yaml).unwrap();
    let run = |env: &str| {
        Command::new(env!("CARGO_BIN_EXE_orderflow"))
            .args(["validate", "--output", "json"])
            .current_dir(dir.path())
            .env("ORDERFLOW_ENV", env)
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = run("qa");
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["stack"], "orderflow-qa");
    assert_eq!(doc["environment"], "qa");

    let out = run("dve");
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let problem = &doc["error"]["problems"][0];
    assert_eq!(problem["message"], "no environment `dve` is declared");
    assert_eq!(
        problem["help"],
        "did you mean `dev`? (--env or ORDERFLOW_ENV)"
    );
}
