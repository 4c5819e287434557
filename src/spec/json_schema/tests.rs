use serde_json::{json, Value};

use super::*;
use crate::spec::yaml::{self, Node, Value as Yaml};

/// A YAML document as the editor's schema checker sees it: plain scalars typed the YAML 1.2
/// core way (numbers, booleans, null), quoted ones strings.
fn as_json(node: &Node) -> Value {
    match &node.value {
        Yaml::Null => Value::Null,
        Yaml::Scalar(s) if s.quoted => json!(s.text),
        Yaml::Scalar(s) => match s.text.as_str() {
            "true" | "True" | "TRUE" => json!(true),
            "false" | "False" | "FALSE" => json!(false),
            "null" | "~" | "" => Value::Null,
            t => t
                .parse::<i64>()
                .map(|n| json!(n))
                .or_else(|_| t.parse::<f64>().map(|n| json!(n)))
                .unwrap_or_else(|_| json!(t)),
        },
        Yaml::Seq(items) => Value::Array(items.iter().map(as_json).collect()),
        Yaml::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|e| (e.key.clone(), as_json(&e.value)))
                .collect(),
        ),
    }
}

/// Where the schema rejects `text` (instance paths), empty when it accepts it.
fn schema_errors(text: &str) -> Vec<String> {
    let doc = yaml::parse(text);
    assert!(doc.errors.is_empty(), "{:?}", doc.errors);
    let instance = as_json(doc.root.as_ref().expect("a document"));
    let schema = pipeline_schema();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    validator
        .iter_errors(&instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn the_default_pipeline_and_the_references_example_match_the_schema() {
    let default = include_str!("../../../pipeline.yaml");
    assert_eq!(schema_errors(default), Vec::<String>::new());
    let with_anchor = "stack: s\nx-function-defaults: &function-defaults { memory: 256, timeout: 10, architecture: arm64 }\nfunctions:\n  validate-order: { <<: *function-defaults, crate: validate-order }\n";
    assert_eq!(schema_errors(with_anchor), Vec::<String>::new());
    let accounts = "stack: s\naccounts: [\"123456789012\", 012345678901]\n";
    assert_eq!(schema_errors(accounts), Vec::<String>::new());
    // Overrides are partial (no required keys) and `~` removes.
    let environments = format!(
        "{default}\nenvironments:\n  prod:\n    region: eu-west-1\n    functions:\n      process-order: {{ memory: 1024 }}\n    queues:\n      notify-dlq: ~\n  dev: ~\n"
    );
    assert_eq!(schema_errors(&environments), Vec::<String>::new());
}

#[test]
fn what_the_validator_rejects_by_key_type_or_range_the_schema_rejects_too() {
    for (text, at) in [
        ("stack: s\nqueues:\n  q: { visibilty_timeout: 60 }\n", "/queues/q"),
        ("stack: s\nqueues:\n  q: { retention: 5 }\n", "/queues/q/retention"),
        ("stack: s\nbogus: 1\n", ""),
        ("region: us-east-1\n", ""),
        ("stack: Shop\n", "/stack"),
        ("stack: s\naccounts: [\"1234\"]\n", "/accounts/0"),
        ("stack: s\nqueues:\n  Orders: {}\n", "/queues"),
        (
            "stack: s\nfunctions:\n  f: { crate: f, architecture: sparc }\n",
            "/functions/f/architecture",
        ),
        (
            "stack: s\nfunctions:\n  f: { crate: f, access: [{ queue: q, verb: fly }] }\n",
            "/functions/f/access/0",
        ),
        (
            "stack: s\nfunctions:\n  f: { crate: f, access: [{ queue: q, table: t, verb: send }] }\n",
            "/functions/f/access/0",
        ),
        ("stack: s\nfunctions:\n  f: { memory: 256 }\n", "/functions/f"),
        ("stack: s\nenvironments:\n  dev: { bogus: 1 }\n", "/environments/dev"),
        (
            "stack: s\nenvironments:\n  dev: { queues: { q: { retention: 5 } } }\n",
            // Overrides are `anyOf [partial, null]`: the error is reported at the entry.
            "/environments/dev/queues/q",
        ),
    ] {
        let errors = schema_errors(text);
        assert!(
            errors.iter().any(|e| e.starts_with(&format!("{at}: "))),
            "{text:?}: expected an error at {at:?}, got {errors:?}"
        );
        assert!(crate::spec::parse("p.yaml", text).is_err(), "{text:?}");
    }
}

/// Every key an editor can complete says what it is (hover docs).
#[test]
fn every_key_has_a_description() {
    fn walk(path: &str, schema: &Value, out: &mut Vec<String>) {
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (key, sub) in props {
                let p = format!("{path}.{key}");
                if sub
                    .get("description")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    out.push(p.clone());
                }
                walk(&p, sub, out);
            }
        }
        for key in ["additionalProperties", "items"] {
            if let Some(sub) = schema.get(key).filter(|s| s.is_object()) {
                walk(&format!("{path}[{key}]"), sub, out);
            }
        }
        if let Some(choices) = schema.get("oneOf").and_then(Value::as_array) {
            for c in choices {
                walk(path, c, out);
            }
        }
    }
    let mut undocumented = Vec::new();
    walk("", &pipeline_schema(), &mut undocumented);
    assert_eq!(undocumented, Vec::<String>::new());
}

/// docs/pipeline.schema.json is what editors are pointed at; it must be what this build
/// generates. Regenerate with `cargo run -- schema pipeline > docs/pipeline.schema.json`.
#[test]
fn the_committed_schema_is_current() {
    let committed = include_str!("../../../docs/pipeline.schema.json");
    let generated = format!(
        "{}\n",
        serde_json::to_string_pretty(&pipeline_schema()).expect("serialise")
    );
    assert!(
        committed == generated,
        "docs/pipeline.schema.json is stale: regenerate it with `cargo run -- schema pipeline > docs/pipeline.schema.json`"
    );
}

/// The default pipeline points editors at the schema (yaml-language-server modeline).
#[test]
fn the_default_pipeline_names_the_schema_in_its_modeline() {
    let default = include_str!("../../../pipeline.yaml");
    assert!(
        default.starts_with("# yaml-language-server: $schema=docs/pipeline.schema.json\n"),
        "pipeline.yaml must start with the modeline"
    );
}
