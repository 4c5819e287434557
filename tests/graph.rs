//! `orderflow graph`: the pipeline as Mermaid, DOT or SVG, from the file alone (no AWS call);
//! docs/graph.md's picture is the command's output for the default pipeline.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use orderflow::spec::model::Section;
use serde_json::Value;

/// Where nothing listens: any AWS call would fail.
const NO_AWS: &str = "http://127.0.0.1:9";

fn orderflow(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orderflow"));
    common::test_aws_env(&mut cmd, dir);
    cmd.env("AWS_ENDPOINT_URL", NO_AWS)
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run orderflow")
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `orderflow graph ARGS` on the repository's pipeline.yaml; its standard output.
fn graph(args: &[&str]) -> String {
    let mut all = vec!["graph"];
    all.extend(args);
    let out = orderflow(repo(), &all);
    assert!(out.status.success(), "{}", common::describe(&out));
    stdout(&out)
}

/// The ```mermaid blocks of a markdown text, between their fences.
fn mermaid_blocks(markdown: &str) -> Vec<String> {
    let fence = "```mermaid\n";
    let mut blocks = Vec::new();
    let mut rest = markdown;
    while let Some(start) = rest.find(fence) {
        let body = &rest[start + fence.len()..];
        let end = body.find("```").expect("a closed ```mermaid block");
        blocks.push(body[..end].to_string());
        rest = &body[end..];
    }
    blocks
}

#[test]
fn docs_graph_md_shows_the_default_pipeline_as_the_command_draws_it() {
    let current = graph(&[]);
    let docs = std::fs::read_to_string(repo().join("docs/graph.md")).unwrap();
    let blocks = mermaid_blocks(&docs);
    assert!(
        blocks.contains(&current),
        "docs/graph.md's picture is stale: replace its ```mermaid block with the output of \
         `cargo run -q -- graph`"
    );
    // A copy of the picture elsewhere (the README's) must not go stale either.
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    for block in mermaid_blocks(&readme) {
        if block.starts_with("flowchart LR\n") {
            assert!(
                block == current,
                "README.md's pipeline picture is stale: replace it with `cargo run -q -- graph`"
            );
        }
    }
}

#[test]
fn mermaid_of_the_default_pipeline() {
    let mermaid = graph(&["--format", "mermaid"]);
    assert!(mermaid.starts_with("flowchart LR\n"));
    assert_eq!(mermaid, graph(&[]), "mermaid is the default");
    insta::assert_snapshot!("mermaid", mermaid);
}

#[test]
fn dot_of_the_default_pipeline() {
    let dot = graph(&["--format", "dot"]);
    assert!(dot.starts_with("digraph pipeline {\n  rankdir=LR;"));
    assert!(dot.ends_with("}\n"));
    insta::assert_snapshot!("dot", dot);
}

/// Checks that `xml` is one well-formed element: tags balanced and in order, attribute values
/// quoted, `&` only in the five predefined entities or character references, no bare `<` in
/// text. Enough for the SVG orderflow writes (no comments, CDATA or doctype), without a
/// dependency.
fn assert_well_formed(xml: &str) {
    let entity_ok = |after: &str| {
        let Some(end) = after.find(';') else {
            return false;
        };
        let name = &after[..end];
        ["amp", "lt", "gt", "quot", "apos"].contains(&name)
            || name
                .strip_prefix('#')
                .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    };
    for (i, _) in xml.match_indices('&') {
        assert!(entity_ok(&xml[i + 1..]), "bare & at {i}");
    }
    let body = xml.trim_end();
    assert!(body.starts_with('<'), "text before the root element");
    let mut open: Vec<&str> = Vec::new();
    let mut roots = 0;
    let mut rest = body;
    while let Some(start) = rest.find('<') {
        if open.is_empty() {
            assert!(rest[..start].trim().is_empty(), "text outside the root");
        }
        let end = start + rest[start..].find('>').expect("an unclosed tag");
        let tag = &rest[start + 1..end];
        assert!(!tag.contains('<'), "`<` inside a tag: <{tag}>");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(open.pop(), Some(name.trim()), "unbalanced </{name}>");
        } else {
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let name = tag.split_whitespace().next().expect("a tag name");
            // After the name: `key="value"` pairs only.
            let mut attributes = tag[name.len()..].trim();
            while !attributes.is_empty() {
                let (key, value) = attributes
                    .split_once("=\"")
                    .unwrap_or_else(|| panic!("unquoted attribute in <{tag}>"));
                assert!(!key.trim().is_empty() && !key.contains(char::is_whitespace));
                let close = value.find('"').expect("a closing quote");
                attributes = value[close + 1..].trim_start();
            }
            if open.is_empty() {
                roots += 1;
            }
            if !self_closing {
                open.push(name);
            }
        }
        rest = &rest[end + 1..];
    }
    assert!(open.is_empty(), "unclosed: {open:?}");
    assert_eq!(roots, 1, "one root element");
    assert!(rest.trim().is_empty(), "text after the root element");
}

#[test]
fn the_well_formedness_check_catches_broken_xml() {
    assert_well_formed("<svg a=\"1\"><g><text>x &amp; y</text></g><rect/></svg>\n");
    for broken in [
        "<svg><g></svg>",
        "<svg>a & b</svg>",
        "<svg a=1></svg>",
        "<svg></svg><svg></svg>",
        "<svg><text>a < b</text></svg>",
    ] {
        let result = std::panic::catch_unwind(|| assert_well_formed(broken));
        assert!(result.is_err(), "accepted {broken}");
    }
}

#[test]
fn svg_is_well_formed_and_draws_every_declared_entry() {
    let svg = graph(&["--format", "svg"]);
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_well_formed(&svg);
    let spec = orderflow::spec::load(&repo().join("pipeline.yaml")).unwrap();
    let mut drawn = 0;
    for section in Section::ALL {
        // A trigger is the arrow from its queue to its function.
        if *section == Section::Trigger {
            continue;
        }
        for name in spec.names(*section) {
            let label = format!("{} {name}", section.singular().replace('_', " "));
            assert!(
                svg.contains(&format!(">{label}</text>")),
                "{label} not drawn"
            );
            drawn += 1;
        }
    }
    assert!(
        drawn > 20,
        "the default pipeline declares more than {drawn}"
    );
    // The derived picture too.
    assert_well_formed(&graph(&["--format", "svg", "--derived"]));
}

#[test]
fn derived_adds_what_orderflow_derives() {
    let plain: Value = serde_json::from_str(&graph(&["--output", "json"])).unwrap();
    let derived: Value = serde_json::from_str(&graph(&["--derived", "--output", "json"])).unwrap();
    assert!(
        derived["nodes"].as_u64() > plain["nodes"].as_u64(),
        "{derived}"
    );
    let picture = derived["diagram"].as_str().unwrap();
    for label in [
        "\"role validate-order\"",
        "\"log group process-order\"",
        "\"event source mapping process-orders\"",
        "\"api route orders/POST /orders\"",
    ] {
        assert!(picture.contains(label), "{label} missing: {picture}");
    }
}

#[test]
fn json_describes_the_picture() {
    let json: Value = serde_json::from_str(&graph(&["--format", "dot", "--output", "json"]))
        .expect("one JSON document");
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 5, "{json}");
    assert_eq!(json["format"], "dot");
    assert_eq!(json["file"], Value::Null);
    assert_eq!(json["diagram"], graph(&["--format", "dot"]));
    let edges = json["diagram"].as_str().unwrap().matches(" -> ").count();
    assert_eq!(json["edges"].as_u64(), Some(edges as u64));
    assert!(json["nodes"].as_u64().unwrap() > 20);
}

#[test]
fn out_writes_the_file_and_says_so_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pipeline.svg");
    let path = file.display().to_string();
    let out = orderflow(repo(), &["graph", "--format", "svg", "-o", &path]);
    assert!(out.status.success(), "{}", common::describe(&out));
    assert_eq!(stdout(&out), "", "the picture goes to the file only");
    assert_eq!(stderr(&out), format!("wrote {path}\n"));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        graph(&["--format", "svg"])
    );

    let json = orderflow(repo(), &["--output", "json", "graph", "--out", &path]);
    assert!(json.status.success(), "{}", common::describe(&json));
    let json: Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(json["file"], path.as_str());
    assert_eq!(json["format"], "mermaid");
    assert_eq!(json["diagram"], std::fs::read_to_string(&file).unwrap());
}

#[test]
fn an_invalid_pipeline_is_the_validation_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pipeline.yaml"),
        "stack: s\nqueues:\n  q: { retention: 5 }\n",
    )
    .unwrap();
    let out = orderflow(dir.path(), &["graph", "--format", "svg"]);
    assert_eq!(out.status.code(), Some(1), "{}", common::describe(&out));
    assert!(
        stderr(&out).contains("queues.q.retention"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
}
