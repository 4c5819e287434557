//! The whole file: from the YAML tree to the resolved [`Spec`]. The file-level keys (stack,
//! region, tags) are checked here; every section is read by its kind (`crate::kinds`), then
//! references are resolved, each kind's cross-kind checks run, and the AWS limits that apply
//! once names are prefixed with the stack are checked.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::decode::{Checker, Fields};
use super::model::{Section, Spec, OWNERSHIP_TAG};
use super::report::Reporter;
use super::text::describe;
use super::text::{check_logical_name, first_position, join};
use super::yaml::{Node, Value};
use crate::kinds;

/// Tags per resource (Lambda, SQS, DynamoDB, EventBridge and IAM all allow 50).
const MAX_TAGS: usize = 50;

/// Build the spec from the document's root, reporting every problem into `report`.
/// The returned spec is only meaningful when no error was reported.
pub(crate) fn build(file: &str, root: &Node, report: &mut Reporter<'_>) -> Spec {
    let mut cx = Checker::new(report);
    let mut top_keys: Vec<&str> = super::schema::keys(super::json_schema::FILE_FIELDS);
    top_keys.extend(Section::ALL.iter().map(|s| s.key()));
    let top = cx.fields_with_keys(root, "", first_position(), &top_keys);

    let stack = cx.req_str(&top, "stack");
    let stack_ok = match &stack {
        Some(s) => match check_stack(s) {
            Ok(()) => true,
            Err(why) => {
                let span = cx.span_at("stack");
                cx.error(
                    span,
                    "stack",
                    format!("invalid stack name {s:?}: {why}"),
                    Some("a stack name is 1 to 24 characters: a lowercase letter, then a-z, 0-9 or -".into()),
                );
                false
            }
        },
        None => false,
    };

    let region = cx.opt_str(&top, "region");
    if let Some(r) = &region {
        if !is_region(r) {
            let span = cx.span_at("region");
            cx.error(
                span,
                "region",
                format!("{r:?} is not an AWS region name"),
                Some("region names look like us-east-1 or eu-central-2".into()),
            );
        }
    }

    let tags = tags(&mut cx, &top);
    let mut spec = kinds::decode_sections(
        &mut cx,
        &top,
        PathBuf::from(file),
        stack.unwrap_or_default(),
        region,
        tags,
    );

    spec.accounts = accounts(&mut cx, &top);
    cx.check_references(&spec);
    kinds::check_sections(&mut cx, &spec);
    if stack_ok {
        check_physical_names(&mut cx, &spec);
    }
    add_implied_access(&mut spec);
    spec
}

/// The file's `accounts`: 12-digit AWS account ids (quoted or not: a plain `012345678901` keeps
/// its leading zero, scalars are read as written), no repeats.
fn accounts(cx: &mut Checker<'_, '_>, top: &Fields<'_>) -> Vec<String> {
    let Some(node) = top.get("accounts") else {
        return Vec::new();
    };
    let Value::Seq(items) = &node.value else {
        cx.error(
            node.span,
            "accounts",
            format!("expected a list of AWS account ids, got {}", describe(node)),
            Some("accounts: [\"123456789012\"]".into()),
        );
        return Vec::new();
    };
    if items.is_empty() {
        cx.error(
            node.span,
            "accounts",
            "the list is empty, which would allow no account; remove the key to allow any",
            None,
        );
    }
    let mut out: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("accounts[{i}]");
        let Some(id) = cx.string_value(item, &path) else {
            continue;
        };
        if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
            cx.error(
                item.span,
                &path,
                format!("{id:?} is not an AWS account id"),
                Some("an account id is 12 digits, e.g. \"123456789012\"".into()),
            );
        } else if out.contains(&id) {
            cx.error(
                item.span,
                &path,
                format!("account {id} is listed twice"),
                None,
            );
        } else {
            out.push(id);
        }
    }
    out
}

/// The file's `tags`: AWS's rules for keys and values, and room for the ownership tag.
fn tags(cx: &mut Checker<'_, '_>, top: &Fields<'_>) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    let Some(node) = top.get("tags") else {
        return tags;
    };
    let owner = cx.key_span("tags");
    let f = cx.free_fields(node, "tags", owner);
    for entry in f.entries {
        let path = join("tags", &entry.key);
        let Some(value) = cx.string_value(&entry.value, &path) else {
            continue;
        };
        let key = &entry.key;
        let problem = if key.is_empty() {
            Some("tag keys must not be empty".to_string())
        } else if key.to_ascii_lowercase().starts_with("aws:") {
            Some("tag keys starting with `aws:` are reserved by AWS".to_string())
        } else if key == OWNERSHIP_TAG {
            Some(format!(
                "`{OWNERSHIP_TAG}` is set by orderflow to the stack name"
            ))
        } else if key.chars().count() > 128 {
            Some(format!(
                "tag keys are at most 128 characters, this one has {}",
                key.chars().count()
            ))
        } else if !key.chars().all(is_tag_char) {
            Some("tag keys may contain letters, digits, spaces and _ . : / = + - @".to_string())
        } else {
            None
        };
        if let Some(message) = problem {
            cx.error(entry.key_span, &path, message, None);
        }
        if value.chars().count() > 256 {
            cx.error(
                entry.value.span,
                &path,
                format!(
                    "tag values are at most 256 characters, this one has {}",
                    value.chars().count()
                ),
                None,
            );
        } else if !value.chars().all(is_tag_char) {
            cx.error(
                entry.value.span,
                &path,
                "tag values may contain letters, digits, spaces and _ . : / = + - @",
                None,
            );
        }
        tags.insert(entry.key.clone(), value);
    }
    if tags.len() + 1 > MAX_TAGS {
        cx.error(
            owner,
            "tags",
            format!(
                "at most {} tags are allowed (AWS allows {MAX_TAGS} per resource and orderflow adds `{OWNERSHIP_TAG}`), got {}",
                MAX_TAGS - 1,
                tags.len()
            ),
            None,
        );
    }
    tags
}

/// Physical names are `<stack>-<logical>`; each service limits their length.
fn check_physical_names(cx: &mut Checker<'_, '_>, spec: &Spec) {
    for &section in Section::ALL {
        let Some(limit) = section.physical_name() else {
            continue;
        };
        for name in spec.names(section) {
            let physical = format!("{}-{name}", spec.stack);
            let len = physical.chars().count();
            if len < limit.min || len > limit.max {
                let path = format!("{section}.{name}");
                let span = cx.key_span(&path);
                cx.error(
                    span,
                    &path,
                    format!(
                        "physical name `{physical}` is {len} characters; {} are {} to {} characters",
                        limit.what, limit.min, limit.max
                    ),
                    Some("shorten the name or the stack name".into()),
                );
            }
        }
    }
}

/// Add what declarations imply (a trigger's `consume` on its queue, a function dead-letter
/// queue's `send`) to each function's access; the result is sorted and free of duplicates.
fn add_implied_access(spec: &mut Spec) {
    for (function, access) in spec.implied_access() {
        if let Some(f) = spec.functions.get_mut(&function) {
            f.access.push(access);
        }
    }
    for function in spec.functions.values_mut() {
        function.access.sort();
        function.access.dedup();
    }
}

/// `^[a-z][a-z0-9-]{0,23}$`
fn check_stack(name: &str) -> Result<(), String> {
    check_logical_name(name)?;
    if name.len() > 24 {
        return Err(format!("at most 24 characters, got {}", name.len()));
    }
    Ok(())
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`, ...
fn is_region(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// Characters AWS accepts in tag keys and values: `[\p{L}\p{Z}\p{N}_.:/=+\-@]`.
fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || (c.is_whitespace() && !c.is_control()) || "_.:/=+-@".contains(c)
}
