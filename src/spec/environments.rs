//! `environments:`: per-environment overrides of the file (`--env NAME` / ORDERFLOW_ENV).
//!
//! An environment is a partial pipeline merged onto the file's own keys before validation, on
//! the YAML tree: mappings merge key by key, anything else (a scalar, a list) replaces, and `~`
//! (null) removes the key. Every node keeps its position, so an error in a value an environment
//! set points at the environment's line. Unless the environment sets `stack`, its stack is
//! `<stack>-<environment>`: two environments of one file are two stacks, and coexist in one
//! account.

use super::report::Reporter;
use super::text::{check_logical_name, describe, suggest};
use super::yaml::{Entry, Node, Scalar, Span, Value};

/// The top-level key.
pub(crate) const KEY: &str = "environments";

/// One declared environment: its name, where it is declared, and its overrides.
pub(crate) struct Environment<'n> {
    pub(crate) name: String,
    pub(crate) key_span: Span,
    pub(crate) overrides: &'n Node,
}

/// The file's environments (problems with the `environments` block itself reported), and the
/// document without the block: what the file means with no environment selected.
pub(crate) fn split<'n>(root: &'n Node, report: &mut Reporter<'_>) -> (Node, Vec<Environment<'n>>) {
    let Value::Map(entries) = &root.value else {
        return (root.clone(), Vec::new());
    };
    let base = Node {
        span: root.span,
        value: Value::Map(entries.iter().filter(|e| e.key != KEY).cloned().collect()),
    };
    let Some(block) = entries.iter().find(|e| e.key == KEY) else {
        return (base, Vec::new());
    };
    let mut out = Vec::new();
    match &block.value.value {
        Value::Null => {}
        Value::Map(envs) => {
            for env in envs {
                let path = format!("{KEY}.{}", env.key);
                if let Err(why) = check_logical_name(&env.key) {
                    report.error(
                        env.key_span,
                        path,
                        format!("invalid environment name `{}`: {why}", env.key),
                        Some("e.g. dev, staging, prod".into()),
                    );
                    continue;
                }
                match &env.value.value {
                    Value::Map(keys) => {
                        if let Some(nested) = keys.iter().find(|k| k.key == KEY) {
                            report.error(
                                nested.key_span,
                                format!("{path}.{KEY}"),
                                "an environment cannot declare environments",
                                None,
                            );
                            continue;
                        }
                    }
                    Value::Null => {}
                    _ => {
                        report.error(
                            env.value.span,
                            path,
                            format!(
                                "expected a mapping of the keys this environment overrides, got {}",
                                describe(&env.value)
                            ),
                            Some(
                                "e.g. `prod: { region: eu-west-1, accounts: [\"123456789012\"] }`"
                                    .into(),
                            ),
                        );
                        continue;
                    }
                }
                out.push(Environment {
                    name: env.key.clone(),
                    key_span: env.key_span,
                    overrides: &env.value,
                });
            }
        }
        _ => report.error(
            block.value.span,
            KEY,
            format!(
                "expected a mapping of environment names to overrides, got {}",
                describe(&block.value)
            ),
            Some("e.g. `environments: { prod: { region: eu-west-1 } }`".into()),
        ),
    }
    (base, out)
}

/// The document for environment `env`: its overrides merged onto `base`, and its stack name
/// (`<stack>-<name>` unless it sets `stack`), pointed at the environment's name.
pub(crate) fn apply(base: &Node, env: &Environment<'_>) -> Node {
    let mut merged = merge(base, env.overrides);
    let sets_stack = env
        .overrides
        .as_map()
        .is_some_and(|keys| keys.iter().any(|k| k.key == "stack"));
    if !sets_stack {
        if let Value::Map(entries) = &mut merged.value {
            if let Some(stack) = entries.iter_mut().find(|e| e.key == "stack") {
                if let Value::Scalar(s) = &stack.value.value {
                    stack.value = Node {
                        span: env.key_span,
                        value: Value::Scalar(Scalar {
                            text: format!("{}-{}", s.text, env.name),
                            quoted: true,
                        }),
                    };
                }
            }
        }
    }
    merged
}

/// `over` onto `base`: mappings key by key (null removes), anything else replaces.
fn merge(base: &Node, over: &Node) -> Node {
    match (&base.value, &over.value) {
        (Value::Map(base_entries), Value::Map(over_entries)) => {
            let mut entries: Vec<Entry> = base_entries.clone();
            for o in over_entries {
                let existing = entries.iter().position(|e| e.key == o.key);
                match (existing, &o.value.value) {
                    (Some(i), Value::Null) => {
                        entries.remove(i);
                    }
                    (None, Value::Null) => {}
                    (Some(i), _) => {
                        let value = merge(&entries[i].value, &o.value);
                        entries[i] = Entry {
                            key: o.key.clone(),
                            key_span: o.key_span,
                            value,
                        };
                    }
                    (None, _) => entries.push(o.clone()),
                }
            }
            Node {
                span: base.span,
                value: Value::Map(entries),
            }
        }
        // An environment that is `~` (or `{}`) changes nothing.
        (_, Value::Null) => base.clone(),
        _ => over.clone(),
    }
}

/// The error for `--env NAME` naming no declared environment.
pub(crate) fn unknown(
    name: &str,
    declared: &[Environment<'_>],
    at: Span,
    report: &mut Reporter<'_>,
) {
    let names: Vec<&str> = declared.iter().map(|e| e.name.as_str()).collect();
    let help = match (suggest(name, names.iter().copied()), names.is_empty()) {
        (Some(s), _) => format!("did you mean `{s}`? (--env or ORDERFLOW_ENV)"),
        (None, true) => format!(
            "declare it under `{KEY}:` (e.g. `{KEY}: {{ {name}: {{ region: eu-west-1 }} }}`), or run without --env / ORDERFLOW_ENV"
        ),
        (None, false) => format!("declared: {}", names.join(", ")),
    };
    report.error(
        at,
        KEY,
        format!("no environment `{name}` is declared"),
        Some(help),
    );
}

#[cfg(test)]
mod tests;
