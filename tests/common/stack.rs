//! Included by test files as `#[path = "common/stack.rs"] mod stack;` next to `mod common;`.
//!
//! A pipeline under test: the repository's `pipeline.yaml` (optionally edited) with a unique stack
//! name, in its own directory, driven through the real `orderflow` binary against a test emulator.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::common::{functions_dir, orderflow, sdk_config, unique_stack, TestEmulator};

pub struct Stack {
    pub name: String,
    pub endpoint: String,
    dir: tempfile::TempDir,
}

/// The repository's default pipeline.
pub fn default_pipeline() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipeline.yaml");
    std::fs::read_to_string(path).expect("read pipeline.yaml")
}

/// The repository's default pipeline, parsed (to count what it declares).
pub fn default_spec() -> orderflow::spec::Spec {
    orderflow::spec::parse("pipeline.yaml", &default_pipeline()).expect("pipeline.yaml is valid")
}

impl Stack {
    /// The default pipeline with a unique stack name, edited by `edits` (exact text → replacement).
    pub fn new(emulator: &TestEmulator, prefix: &str, edits: &[(&str, &str)]) -> Stack {
        let name = unique_stack(prefix);
        let mut yaml =
            default_pipeline().replacen("stack: orderflow", &format!("stack: {name}"), 1);
        for (from, to) in edits {
            assert!(
                yaml.contains(from),
                "edit target not in pipeline.yaml: {from}"
            );
            yaml = yaml.replacen(from, to, 1);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("pipeline.yaml"), yaml).expect("write pipeline");
        Stack {
            name,
            endpoint: emulator.endpoint().to_string(),
            dir,
        }
    }

    /// A pipeline of the test's own: `yaml` with `stack: STACK` replaced by a unique stack name.
    pub fn with_pipeline(emulator: &TestEmulator, prefix: &str, yaml: &str) -> Stack {
        let name = unique_stack(prefix);
        assert!(
            yaml.contains("stack: STACK"),
            "the pipeline needs `stack: STACK`"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("pipeline.yaml"),
            yaml.replacen("stack: STACK", &format!("stack: {name}"), 1),
        )
        .expect("write pipeline");
        Stack {
            name,
            endpoint: emulator.endpoint().to_string(),
            dir,
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn pipeline_path(&self) -> PathBuf {
        self.dir.path().join("pipeline.yaml")
    }

    /// Replace text in this stack's pipeline.yaml (the "user edits the file" step).
    pub fn edit(&self, from: &str, to: &str) {
        let yaml = std::fs::read_to_string(self.pipeline_path()).expect("read");
        assert!(yaml.contains(from), "edit target not found: {from}");
        std::fs::write(self.pipeline_path(), yaml.replacen(from, to, 1)).expect("write");
    }

    /// Physical name of a logical resource.
    pub fn physical(&self, logical: &str) -> String {
        format!("{}-{logical}", self.name)
    }

    /// Run orderflow with these arguments; `up` and `plan` get the prebuilt functions.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        if matches!(args.first(), Some(&"up") | Some(&"plan")) {
            all.push("--prebuilt".into());
            all.push(functions_dir().display().to_string());
        }
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        orderflow(&self.endpoint, self.dir(), &refs)
    }

    /// Run, require success, parse stdout as JSON (pass `--output json`).
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "orderflow {args:?} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            stdout(&out),
            stderr(&out)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", stdout(&out)))
    }

    /// `up --yes --output json`, required to succeed.
    pub fn up(&self) -> Value {
        self.json(&["up", "--yes", "--output", "json"])
    }

    /// URL of one of this stack's queues (by logical name).
    pub async fn queue_url(&self, sqs: &aws_sdk_sqs::Client, logical: &str) -> String {
        sqs.get_queue_url()
            .queue_name(self.physical(logical))
            .send()
            .await
            .unwrap_or_else(|e| panic!("queue {logical}: {e:?}"))
            .queue_url
            .expect("queue url")
    }

    pub async fn config(&self) -> aws_config::SdkConfig {
        sdk_config(&self.endpoint).await
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
