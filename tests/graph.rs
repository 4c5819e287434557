//! `orderflow graph`: the pipeline as Mermaid, DOT or SVG, from the file alone; the README's
//! picture is the command's output for the default pipeline.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn orderflow(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .args(args)
        .current_dir(dir)
        // Nothing listens there: the command must not need AWS.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env_remove("ORDERFLOW_OUTPUT")
        .env_remove("ORDERFLOW_ENV")
        .stdin(Stdio::null())
        .output()
        .expect("run orderflow")
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn graph(args: &[&str]) -> String {
    let mut all = vec!["graph"];
    all.extend(args);
    let out = orderflow(repo(), &all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
}

/// The mermaid block of the README, between its fences.
fn readme_picture() -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme
        .find("```mermaid\n")
        .expect("README.md shows the pipeline as a ```mermaid block")
        + "```mermaid\n".len();
    let end = start + readme[start..].find("```").unwrap();
    readme[start..end].to_string()
}

#[test]
fn the_readme_shows_the_default_pipeline_as_the_command_draws_it() {
    assert!(
        readme_picture() == graph(&[]),
        "README.md's picture is stale: replace its ```mermaid block with `orderflow graph`"
    );
}

#[test]
fn mermaid_and_dot_of_the_default_pipeline() {
    let mermaid = graph(&["--format", "mermaid"]);
    assert!(mermaid.starts_with("flowchart LR\n"));
    insta::assert_snapshot!("mermaid", mermaid);
    let dot = graph(&["--format", "dot"]);
    assert!(dot.starts_with("digraph pipeline {\n  rankdir=LR;"));
    insta::assert_snapshot!("dot", dot);
}

#[test]
fn svg_is_well_formed_and_draws_every_entry() {
    let svg = graph(&["--format", "svg"]);
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    // Balanced elements: every opened tag is closed, in order.
    let mut open: Vec<String> = Vec::new();
    for tag in svg.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap();
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(open.pop().as_deref(), Some(name), "unbalanced </{name}>");
        } else if !tag.ends_with('/') {
            open.push(tag.split_whitespace().next().unwrap().to_string());
        }
    }
    assert!(open.is_empty(), "unclosed: {open:?}");
    let spec = orderflow::spec::load(&repo().join("pipeline.yaml")).unwrap();
    for (kind, names) in [
        ("function", spec.functions.keys().collect::<Vec<_>>()),
        ("queue", spec.queues.keys().collect()),
        ("table", spec.tables.keys().collect()),
        ("alarm", spec.alarms.keys().collect()),
    ] {
        for name in names {
            assert!(
                svg.contains(&format!(">{kind} {name}</text>")),
                "{kind} {name} not drawn"
            );
        }
    }
}

#[test]
fn derived_out_and_json() {
    let plain = graph(&["--output", "json"]);
    let plain: Value = serde_json::from_str(&plain).unwrap();
    let derived: Value = serde_json::from_str(&graph(&["--derived", "--output", "json"])).unwrap();
    assert_eq!(plain["format"], "mermaid");
    assert!(
        derived["nodes"].as_u64() > plain["nodes"].as_u64(),
        "{derived}"
    );
    assert!(derived["diagram"]
        .as_str()
        .unwrap()
        .contains("\"role validate-order\""));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pipeline.svg");
    let out = orderflow(
        repo(),
        &[
            "graph",
            "--format",
            "svg",
            "-o",
            &file.display().to_string(),
        ],
    );
    assert!(out.status.success());
    assert!(stdout(&out).starts_with("wrote "), "{}", stdout(&out));
    assert!(std::fs::read_to_string(&file).unwrap().starts_with("<svg"));
}

#[test]
fn an_invalid_pipeline_is_the_validation_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pipeline.yaml"),
        "stack: s\nqueues:\n  q: { retention: 5 }\n",
    )
    .unwrap();
    let out = orderflow(dir.path(), &["graph"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("queues.q.retention"));
    assert!(stdout(&out).is_empty());
}
