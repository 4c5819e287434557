//! `orderflow validate` and the rule that bad input never reaches AWS.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn orderflow(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .args(args)
        .current_dir(dir)
        // An endpoint where nothing listens: any AWS call would fail with a connection error.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run orderflow")
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

const BROKEN: &str = "\
stack: shop
queues:
  orders:
    visibilty_timeout: 60
functions:
  f:
    crate: f
    memory: 64
rules:
  r:
    bus: missing
    event_pattern: { source: [x] }
    targets:
      - function: f
";

#[test]
fn the_default_pipeline_is_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = orderflow(root, &["validate"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("pipeline.yaml: valid (stack orderflow"),
        "{stdout}"
    );
}

#[test]
fn validate_json_output_is_machine_readable() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = orderflow(root, &["validate", "--output", "json"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["stack"], "orderflow");
    assert!(v["resources"].as_u64().unwrap() >= 10, "{v}");
}

#[test]
fn every_error_is_reported_with_file_line_column_and_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pipeline.yaml"), BROKEN).unwrap();
    let out = orderflow(dir.path(), &["validate"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    // Unknown key with a suggestion, out-of-range value, dangling reference: all in one run.
    assert!(stderr.contains("pipeline.yaml:4:5"), "{stderr}");
    assert!(
        stderr.contains("visibility_timeout"),
        "did-you-mean missing: {stderr}"
    );
    assert!(stderr.contains("pipeline.yaml:8:13"), "{stderr}");
    assert!(stderr.contains("functions.f.memory"), "{stderr}");
    assert!(stderr.contains("pipeline.yaml:11:10"), "{stderr}");
    assert!(stderr.contains("rules.r.bus"), "{stderr}");
}

#[test]
fn bad_input_stops_every_command_before_any_aws_call() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pipeline.yaml"), BROKEN).unwrap();
    for args in [
        &["plan"][..],
        &["up", "--yes"],
        &["down", "--yes"],
        &["send-order"],
    ] {
        let out = orderflow(dir.path(), args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("functions.f.memory"), "{args:?}: {stderr}");
        // Had it called AWS, the unreachable endpoint would have produced a dispatch failure.
        assert!(
            !stderr.to_lowercase().contains("dispatch"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = orderflow(dir.path(), &["-f", "nope.yaml", "validate"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("nope.yaml"), "{stderr}");
}

/// What a user sees for a broken file, exactly (snapshot; accept an intended change with INSTA_UPDATE=always).
#[test]
fn broken_file_report_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pipeline.yaml"), BROKEN).unwrap();
    let out = orderflow(dir.path(), &["validate"]);
    assert_eq!(out.status.code(), Some(1));
    insta::with_settings!({filters => vec![(r"/tmp/[^\s:]+", "[TMP]")]}, {
        insta::assert_snapshot!(text(&out.stderr));
    });
}
