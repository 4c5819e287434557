//! Resource policies orderflow shares with their owners (an SQS queue policy, an SNS topic
//! policy): orderflow writes and compares only the statements with its own Sids and keeps every
//! other statement as it is. Pure, so the documents are unit-tested.

use serde_json::{json, Map, Value};

const POLICY_VERSION: &str = "2012-10-17";

/// A string-or-list policy value as a sorted list, so that `"a"` and `["a"]` compare equal.
fn as_sorted_list(v: &Value) -> Value {
    match v {
        Value::String(_) => Value::Array(vec![v.clone()]),
        Value::Array(items) => {
            let mut items = items.clone();
            items.sort_by_key(|i| i.to_string());
            items.dedup();
            Value::Array(items)
        }
        other => other.clone(),
    }
}

/// A mapping with every value passed through `f`.
fn map_values(v: &Value, f: impl Fn(&Value) -> Value) -> Value {
    match v.as_object() {
        Some(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), f(v))).collect()),
        None => v.clone(),
    }
}

/// The statement in a canonical form: list-valued fields as sorted lists.
pub fn normalise_statement(stmt: &Value) -> Value {
    let Some(fields) = stmt.as_object() else {
        return stmt.clone();
    };
    let mut out = Map::new();
    for (key, value) in fields {
        let value = match key.as_str() {
            "Action" | "NotAction" | "Resource" | "NotResource" => as_sorted_list(value),
            "Principal" | "NotPrincipal" => map_values(value, as_sorted_list),
            "Condition" => map_values(value, |keys| map_values(keys, as_sorted_list)),
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    Value::Object(out)
}

/// A statement letting an AWS service take `action` on `resource_arn` on behalf of the given
/// sources only (`aws:SourceArn`).
pub fn service_statement(
    sid: &str,
    service: &str,
    action: &str,
    resource_arn: &str,
    source_arns: &[String],
) -> Value {
    normalise_statement(&json!({
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": action,
        "Resource": resource_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": source_arns}},
    }))
}

/// A document holding only these statements (the `policy` prop of a shared policy).
pub fn policy_prop(stmts: impl IntoIterator<Item = Value>) -> Value {
    json!({"Version": POLICY_VERSION, "Statement": stmts.into_iter().collect::<Vec<_>>()})
}

/// The statements of a document (a lone statement object counts as a list of one).
pub fn statements(doc: &Value) -> Vec<Value> {
    match doc.get("Statement") {
        Some(Value::Array(s)) => s.clone(),
        Some(single @ Value::Object(_)) => vec![single.clone()],
        _ => Vec::new(),
    }
}

fn sid_rank(sids: &[&str], stmt: &Value) -> Option<usize> {
    let sid = stmt.get("Sid").and_then(Value::as_str)?;
    sids.iter().position(|s| *s == sid)
}

/// Is the statement one of `sids` (orderflow's)?
pub fn is_ours(sids: &[&str], stmt: &Value) -> bool {
    sid_rank(sids, stmt).is_some()
}

/// The statements of a document with one of `sids`, normalised, in `sids` order (the first of
/// each Sid, should one be repeated).
pub fn our_statements(sids: &[&str], doc: &Value) -> Vec<Value> {
    let mut ours: Vec<(usize, Value)> = statements(doc)
        .into_iter()
        .filter_map(|s| sid_rank(sids, &s).map(|rank| (rank, normalise_statement(&s))))
        .collect();
    ours.sort_by_key(|(rank, _)| *rank);
    ours.dedup_by_key(|(rank, _)| *rank);
    ours.into_iter().map(|(_, s)| s).collect()
}

/// `existing` with the statements of `sids` replaced by `ours` (none: removed), every other
/// statement kept. `None` when nothing is left.
pub fn merge(
    sids: &[&str],
    existing: Option<&Value>,
    ours: impl IntoIterator<Item = Value>,
) -> Option<Value> {
    let mut doc = match existing {
        Some(Value::Object(d)) => d.clone(),
        _ => Map::new(),
    };
    let mut kept: Vec<Value> = existing
        .map(statements)
        .unwrap_or_default()
        .into_iter()
        .filter(|s| !is_ours(sids, s))
        .collect();
    kept.extend(ours);
    if kept.is_empty() {
        return None;
    }
    doc.entry("Version")
        .or_insert_with(|| Value::String(POLICY_VERSION.into()));
    doc.insert("Statement".into(), Value::Array(kept));
    Some(Value::Object(doc))
}

/// Parse a Policy attribute (absent or blank: no policy); `what` names it in the error.
pub fn parse_policy(what: &str, raw: Option<&str>) -> Result<Option<Value>, String> {
    match raw.filter(|s| !s.trim().is_empty()) {
        None => Ok(None),
        Some(raw) => serde_json::from_str(raw)
            .map(Some)
            .map_err(|e| format!("{what} is not valid JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIDS: &[&str] = &["ours-a", "ours-b"];

    #[test]
    fn merge_replaces_only_our_statements_and_keeps_the_rest() {
        let existing = json!({
            "Version": "2012-10-17",
            "Id": "kept",
            "Statement": [
                {"Sid": "theirs", "Effect": "Allow", "Principal": "*", "Action": "x:Y", "Resource": "r"},
                {"Sid": "ours-a", "Effect": "Allow", "Principal": "*", "Action": "old", "Resource": "r"},
            ]
        });
        let new = service_statement(
            "ours-a",
            "events.amazonaws.com",
            "sns:Publish",
            "t",
            &["r1".into()],
        );
        let merged = merge(SIDS, Some(&existing), vec![new.clone()]).unwrap();
        assert_eq!(merged["Id"], "kept");
        let stmts = statements(&merged);
        assert_eq!(stmts.len(), 2);
        assert_eq!(stmts[0]["Sid"], "theirs");
        assert_eq!(stmts[1], new);
        // Removing ours leaves theirs; removing everything leaves no document.
        let only_theirs = merge(SIDS, Some(&merged), Vec::new()).unwrap();
        assert_eq!(statements(&only_theirs).len(), 1);
        assert_eq!(
            merge(SIDS, Some(&json!({"Statement": [new]})), Vec::new()),
            None
        );
    }

    #[test]
    fn our_statements_are_normalised_and_ordered_by_sid() {
        let doc = json!({"Statement": [
            {"Sid": "ours-b", "Action": ["b", "a"], "Condition": {"ArnEquals": {"aws:SourceArn": "x"}}},
            {"Sid": "other"},
            {"Sid": "ours-a", "Action": "a"},
        ]});
        let ours = our_statements(SIDS, &doc);
        assert_eq!(ours.len(), 2);
        assert_eq!(ours[0]["Sid"], "ours-a");
        assert_eq!(ours[0]["Action"], json!(["a"]));
        assert_eq!(ours[1]["Action"], json!(["a", "b"]));
        assert_eq!(
            ours[1]["Condition"]["ArnEquals"]["aws:SourceArn"],
            json!(["x"])
        );
    }

    #[test]
    fn a_blank_policy_is_none_and_a_broken_one_an_error() {
        assert_eq!(parse_policy("p", None), Ok(None));
        assert_eq!(parse_policy("p", Some("  ")), Ok(None));
        assert!(parse_policy("the queue's policy", Some("{"))
            .unwrap_err()
            .starts_with("the queue's policy is not valid JSON"));
    }
}
