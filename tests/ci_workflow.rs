//! docs/ci/github-actions.yml, run: every `run:` step of the example workflow, job by job as
//! GitHub would (a pull request's plan, then the merge's deploy), in a checkout of this
//! repository's pipeline, against the test emulator. Only the step that installs orderflow is
//! skipped (the test has the binary on PATH); `uses:` steps are GitHub's actions.

mod common;
#[path = "common/stack.rs"]
mod stack;

use std::path::Path;
use std::process::Command;

use common::{functions_dir, TestEmulator};
use orderflow::spec::yaml::{self, Node, Value};
use stack::Stack;

struct Step {
    job: String,
    label: String,
    run: String,
}

fn map<'a>(node: &'a Node, key: &str) -> Option<&'a Node> {
    node.as_map()?
        .iter()
        .find(|e| e.key == key)
        .map(|e| &e.value)
}

fn text(node: &Node) -> Option<&str> {
    match &node.value {
        Value::Scalar(s) => Some(&s.text),
        _ => None,
    }
}

/// The workflow's `run:` steps in order, each with its job, and the workflow-level `env:`.
fn workflow_steps(path: &Path) -> (Vec<Step>, Vec<(String, String)>) {
    let doc = yaml::parse(&std::fs::read_to_string(path).expect("read workflow"));
    assert!(doc.errors.is_empty(), "{:?}", doc.errors);
    let root = doc.root.expect("a document");
    let env = map(&root, "env")
        .and_then(Node::as_map)
        .unwrap_or_default()
        .iter()
        .map(|e| {
            (
                e.key.clone(),
                text(&e.value).unwrap_or_default().to_string(),
            )
        })
        .collect();
    let mut steps = Vec::new();
    for job in map(&root, "jobs").and_then(Node::as_map).expect("jobs") {
        let Some(Value::Seq(items)) = map(&job.value, "steps").map(|s| &s.value) else {
            panic!("job {} has no steps", job.key);
        };
        for (i, step) in items.iter().enumerate() {
            let id = map(step, "id").and_then(text);
            let Some(run) = map(step, "run").and_then(text) else {
                continue;
            };
            if id == Some("install-orderflow") {
                continue;
            }
            let label = map(step, "name")
                .and_then(text)
                .map_or_else(|| format!("step {i}"), str::to_string);
            steps.push(Step {
                job: job.key.clone(),
                label,
                run: run.to_string(),
            });
        }
    }
    (steps, env)
}

#[test]
fn the_example_workflow_plans_deploys_smoke_tests_and_gates_on_status() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (steps, workflow_env) = workflow_steps(&root.join("docs/ci/github-actions.yml"));
    let jobs: Vec<&str> = steps.iter().map(|s| s.job.as_str()).collect();
    assert!(
        jobs.contains(&"plan") && jobs.contains(&"deploy"),
        "{jobs:?}"
    );

    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "ci", &[]);
    // The checkout: the pipeline and the scripts the workflow calls.
    let checkout = stack.dir();
    std::fs::create_dir_all(checkout.join("scripts/ci")).unwrap();
    std::fs::copy(
        root.join("scripts/ci/plan-summary.sh"),
        checkout.join("scripts/ci/plan-summary.sh"),
    )
    .unwrap();
    let summary = checkout.join("step-summary.md");
    let outputs = checkout.join("step-outputs");
    let bin = Path::new(env!("CARGO_BIN_EXE_orderflow")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    for step in &steps {
        // GitHub runs `run:` with `bash --noprofile --norc -eo pipefail {0}`.
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &step.run]);
        // What configure-aws-credentials provides, here for the emulator.
        common::test_aws_env(&mut cmd, checkout);
        let out = cmd
            .current_dir(checkout)
            .envs(workflow_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_ENDPOINT_URL", &stack.endpoint)
            // The functions built once for the whole test suite, instead of cargo in the job.
            .env("ORDERFLOW_PREBUILT", functions_dir())
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("GITHUB_OUTPUT", &outputs)
            .env("PATH", &path)
            .output()
            .expect("run bash");
        assert!(
            out.status.success(),
            "{} / {}: `{}` failed ({:?})\nstdout:\n{}\nstderr:\n{}",
            step.job,
            step.label,
            step.run,
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // The pull request's plan: in the job summary, with changes (nothing deployed yet).
    let summary = std::fs::read_to_string(&summary).expect("a job summary");
    assert!(summary.contains("### orderflow plan: changes"), "{summary}");
    assert!(
        summary.contains(&format!("Plan for stack {}", stack.name)),
        "{summary}"
    );
    let outputs = std::fs::read_to_string(&outputs).expect("step outputs");
    assert!(outputs.contains("changes=true"), "{outputs}");
    // The deploy's result was kept for the artifact.
    let up: serde_json::Value =
        serde_json::from_slice(&std::fs::read(checkout.join("up.json")).expect("up.json"))
            .expect("up.json is JSON");
    assert_eq!(up["stack"], stack.name.as_str());
}
