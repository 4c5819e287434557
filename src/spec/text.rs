//! Small text helpers of the spec reader: dotted key paths, "did you mean", how a YAML node
//! reads in messages, YAML 1.2 core-schema scalars, and logical names.

use super::yaml::{Node, Span, Value};

pub(crate) fn first_position() -> Span {
    Span {
        line: 1,
        column: 1,
        offset: 0,
        len: 0,
    }
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// `a.b[2]` → `a.b`; `a.b` → `a`; `a` → none.
pub(crate) fn parent(path: &str) -> Option<&str> {
    if path.ends_with(']') {
        return path.rfind('[').map(|i| &path[..i]);
    }
    path.rfind('.').map(|i| &path[..i])
}

pub(crate) fn last_component(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

/// The closest candidate, if close enough to be a plausible typo.
pub(crate) fn suggest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (c, strsim::normalized_damerau_levenshtein(word, c)))
        .filter(|(_, score)| *score >= 0.6)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c)
}

/// How a node reads in "expected X, got Y".
pub(crate) fn describe(node: &Node) -> String {
    match &node.value {
        Value::Null => "null".into(),
        Value::Seq(_) => "a list".into(),
        Value::Map(_) => "a mapping".into(),
        Value::Scalar(s) if s.quoted => format!("string {:?}", s.text),
        Value::Scalar(s) => {
            if parse_int(&s.text).is_some() {
                format!("integer {}", s.text)
            } else if is_float(&s.text) || is_special_float(&s.text) {
                format!("float {}", s.text)
            } else if matches!(
                s.text.as_str(),
                "true" | "True" | "TRUE" | "false" | "False" | "FALSE"
            ) {
                format!("boolean {}", s.text)
            } else {
                format!("string {:?}", s.text)
            }
        }
    }
}

/// YAML 1.2 core-schema integer: `None` if not an integer, `Some(Err)` if it overflows.
pub(crate) fn parse_int(text: &str) -> Option<Result<i64, ()>> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, body) = if let Some(hex) = text.strip_prefix("0x") {
        (16, hex)
    } else if let Some(oct) = text.strip_prefix("0o") {
        (8, oct)
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(body, radix).ok();
    let value = magnitude
        .map(|m| if negative && radix == 10 { -m } else { m })
        .and_then(|v| i64::try_from(v).ok());
    Some(value.ok_or(()))
}

pub(crate) fn is_float(text: &str) -> bool {
    let t = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (!int.is_empty() || !frac.is_empty())
                && int.chars().all(|c| c.is_ascii_digit())
                && frac.chars().all(|c| c.is_ascii_digit())
        }
        None => !mantissa.is_empty() && mantissa.chars().all(|c| c.is_ascii_digit()),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
    });
    mantissa_ok && exponent_ok && parse_int(text).is_none()
}

pub(crate) fn is_special_float(text: &str) -> bool {
    let t = text.strip_prefix(['-', '+']).unwrap_or(text);
    matches!(t, ".inf" | ".Inf" | ".INF") || matches!(text, ".nan" | ".NaN" | ".NAN")
}

/// `^[a-z][a-z0-9-]*$`
pub(crate) fn check_logical_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Err("must not be empty".into()),
        Some(c) if !c.is_ascii_lowercase() => {
            return Err("must start with a lowercase letter".into())
        }
        Some(_) => {}
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!("`{bad}` is not allowed"));
    }
    Ok(())
}

/// `a`, `a or b`, `a, b or c`.
pub(crate) fn or_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}
