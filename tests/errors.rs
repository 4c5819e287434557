//! What a user or a CI job sees when a run cannot go ahead: one JSON document on stdout with
//! `--output json` (errors included), and one actionable sentence otherwise — for bad input,
//! missing or expired credentials, an endpoint that does not answer, and an account the file
//! does not allow.

mod common;
#[path = "common/stack.rs"]
mod stack;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::TestEmulator;
use serde_json::Value;
use sha1::Digest;
use stack::{stderr, stdout, Stack};

/// The binary with no AWS settings from the caller, no colour request, no stdin, `HOME` and the
/// shared config files inside `dir`, and IMDS off (so the credential chain ends the same way on
/// every machine). `env` adds variables.
fn bare(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orderflow"));
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("AWS_") || k.starts_with("ORDERFLOW_") || k == "NO_COLOR" {
            cmd.env_remove(&key);
        }
    }
    cmd.args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("AWS_CONFIG_FILE", dir.join("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("aws-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    cmd.output().expect("run orderflow")
}

/// stdout as the one JSON document it must be.
fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
            stdout(out),
            stderr(out)
        )
    })
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("pipeline.yaml"), stack::default_pipeline()).expect("write");
    dir
}

/// What a human reads on stderr: no SDK internals, no log lines, no colour codes.
fn assert_readable(text: &str) {
    for noise in [
        "DispatchFailure",
        "ConnectorError",
        "WARN",
        "\u{1b}[",
        "source:",
    ] {
        assert!(!text.contains(noise), "`{noise}` in:\n{text}");
    }
}

#[test]
fn an_invalid_file_is_one_json_document_with_every_problem_and_its_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("pipeline.yaml"),
        "stack: shop\nqueues:\n  orders:\n    retention: 5\n    visibilty_timeout: 60\n",
    )
    .expect("write");
    for command in [&["validate"][..], &["plan"], &["status"]] {
        let mut args = command.to_vec();
        args.extend(["--output", "json"]);
        let out = bare(dir.path(), &args, &[]);
        assert_eq!(out.status.code(), Some(1), "{command:?}: {}", stderr(&out));
        let doc = json(&out);
        let error = &doc["error"];
        assert_eq!(error["code"], "invalid_pipeline", "{doc:#}");
        assert_eq!(error["exit_code"], 1);
        let problems = error["problems"].as_array().expect("problems");
        let keys: Vec<&str> = problems
            .iter()
            .map(|p| p["key"].as_str().unwrap())
            .collect();
        assert_eq!(
            keys,
            ["queues.orders.retention", "queues.orders.visibilty_timeout"],
            "{doc:#}"
        );
        assert_eq!(problems[0]["line"], 4);
        assert_eq!(problems[0]["column"], 16);
        assert!(problems[0]["file"]
            .as_str()
            .unwrap()
            .ends_with("pipeline.yaml"));
        // Every key of the shape is there, null when it does not apply.
        for key in ["message", "resource", "aws_code", "hint"] {
            assert!(error.get(key).is_some(), "{key} missing: {doc:#}");
        }
    }
}

#[test]
fn a_bad_command_line_is_a_json_usage_error_with_exit_1_not_2() {
    let dir = project();
    let out = bare(
        dir.path(),
        &["plan", "--no-such-flag", "--output", "json"],
        &[],
    );
    // 2 would read as "changes" to a job gating on `plan --detailed-exitcode`.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["error"]["code"], "usage");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--no-such-flag"),
        "{doc:#}"
    );

    // ORDERFLOW_OUTPUT=json is the same as --output json, for a whole CI job.
    let out = bare(
        dir.path(),
        &["down", "--bogus"],
        &[("ORDERFLOW_OUTPUT", "json")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["error"]["code"], "usage");

    // Help and version still print normally and succeed.
    let out = bare(dir.path(), &["--version"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).starts_with("orderflow "), "{}", stdout(&out));
}

#[test]
fn no_credentials_is_one_sentence_naming_the_ways_to_provide_them() {
    let dir = project();
    let out = bare(dir.path(), &["status"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(text.contains("no AWS credentials found"), "{text}");
    for way in ["--profile", "aws sso login", "AWS_ACCESS_KEY_ID", "--local"] {
        assert!(text.contains(way), "{way} not named:\n{text}");
    }
    assert_readable(&text);
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));

    let out = bare(dir.path(), &["plan", "--output", "json"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let doc = json(&out);
    assert_eq!(doc["error"]["code"], "credentials", "{doc:#}");
    assert!(doc["error"]["hint"].as_str().unwrap().contains("--local"));
}

#[test]
fn an_expired_sso_session_says_to_sign_in_again() {
    let dir = project();
    std::fs::write(
        dir.path().join("aws-config"),
        "[profile work]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Deploy\n\
         region = eu-west-1\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n\
         sso_region = eu-west-1\n",
    )
    .expect("write config");
    // The SDK's token cache: `~/.aws/sso/cache/<sha1 of the session name>.json`.
    let cache = dir.path().join(".aws/sso/cache");
    std::fs::create_dir_all(&cache).expect("cache dir");
    let name: String = sha1::Sha1::digest(b"corp")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::write(
        cache.join(format!("{name}.json")),
        r#"{"accessToken":"t","expiresAt":"2020-01-01T00:00:00Z","region":"eu-west-1","startUrl":"https://corp.awsapps.com/start"}"#,
    )
    .expect("write token");

    let out = bare(dir.path(), &["--profile", "work", "status"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(text.contains("SSO session has expired"), "{text}");
    assert!(text.contains("aws sso login --profile work"), "{text}");
    assert_readable(&text);
}

#[test]
fn a_refused_endpoint_is_named_at_once_with_how_to_start_the_emulator() {
    let dir = project();
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let creds = [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ];
    let out = bare(dir.path(), &["--endpoint-url", &endpoint, "status"], &creds);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(
        text.contains(&format!("cannot reach {endpoint}: connection refused")),
        "{text}"
    );
    assert!(text.contains("orderflow local start"), "{text}");
    assert_readable(&text);

    let out = bare(
        dir.path(),
        &[
            "--local",
            "--local-port",
            &port.to_string(),
            "logs",
            "--output",
            "json",
        ],
        &[],
    );
    let doc = json(&out);
    assert_eq!(doc["error"]["code"], "endpoint_unreachable", "{doc:#}");
}

/// Against the emulator: the identity is shown, an account outside `accounts` is refused
/// before anything is touched, and a refused `down` is a JSON error too.
#[test]
fn accounts_protects_other_accounts_and_every_outcome_is_json() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "errors", &[]);

    // The emulator's account is 000000000000.
    stack.edit(
        "region: us-east-1",
        "region: us-east-1\naccounts: [\"123456789012\"]",
    );
    for command in [
        &["plan"][..],
        &["up", "--yes"],
        &["down", "--yes"],
        &["status"],
    ] {
        let mut args = command.to_vec();
        args.extend(["--output", "json"]);
        let out = stack.run(&args);
        assert_eq!(out.status.code(), Some(1), "{command:?}: {}", stderr(&out));
        let doc = json(&out);
        assert_eq!(doc["error"]["code"], "account_not_allowed", "{doc:#}");
        assert!(
            doc["error"]["message"]
                .as_str()
                .unwrap()
                .contains("refusing to touch account 000000000000"),
            "{doc:#}"
        );
    }
    stack.edit(
        "accounts: [\"123456789012\"]",
        "accounts: [\"123456789012\", 000000000000]",
    );
    // Allowed now: status reads the stack — nothing was ever deployed or run (exit 6: missing).
    let out = stack.run(&["status", "--output", "json"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["last_run"], Value::Null, "{doc:#}");

    // The header names account, caller and region; plan's JSON carries them.
    let out = stack.run(&["plan", "--output", "json"]);
    assert!(
        stderr(&out).contains("account 000000000000 as arn:aws:iam::000000000000:"),
        "{}",
        stderr(&out)
    );
    let plan = json(&out);
    assert_eq!(plan["identity"]["account"], "000000000000", "{plan:#}");
    assert_eq!(plan["identity"]["region"], "us-east-1");

    // Changes refused for want of --yes (no terminal to ask): a JSON error, exit 1.
    let out = stack.run(&["up", "--output", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["error"]["code"], "refused", "{doc:#}");
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("pass --yes"));
}
