//! The generic reader of pipeline.yaml: from YAML nodes to values, driven by each kind's
//! [`Field`]s, with every problem reported at its position and decoding going on with defaults
//! so one mistake does not hide the next. The cross-kind part (names of other entries, `${...}`
//! references, access grants) is in [`references`].

use std::collections::{BTreeMap, HashMap};
use std::ops::RangeInclusive;

use super::model::{Ref, Section};
use super::report::Reporter;
use super::schema::{self, Field, Type};
use super::text::{
    check_logical_name, describe, first_position, is_float, is_special_float, join, last_component,
    parent, parse_int, suggest,
};
use super::yaml::{Entry, Node, Span, Value};
use crate::kinds::KindSpec;

mod references;

/// The fields of one mapping, with where it came from.
pub(crate) struct Fields<'n> {
    pub(crate) path: String,
    /// Where "missing key" errors point: the key that holds this mapping.
    owner: Span,
    pub(crate) entries: &'n [Entry],
    /// The node was not a mapping (already reported): do not report missing keys too.
    pub(crate) broken: bool,
}

impl<'n> Fields<'n> {
    /// The value of `key`; `key: null` (or `key:` alone) counts as absent, so optional
    /// settings can be blanked out.
    pub(crate) fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|e| e.key == key)
            .map(|e| &e.value)
            .filter(|v| !matches!(v.value, Value::Null))
    }

    /// The key span of `key` when it is written without a value.
    fn null_key(&self, key: &str) -> Option<Span> {
        self.entries
            .iter()
            .find(|e| e.key == key && matches!(e.value.value, Value::Null))
            .map(|e| e.key_span)
    }

    pub(crate) fn path_of(&self, key: &str) -> String {
        join(&self.path, key)
    }
}

/// A name of another resource (`bus: orders`, `dead_letter_queue: dlq`, ...), checked once
/// every name is known.
struct NameRef {
    kind: Section,
    name: String,
    path: String,
}

/// A `${...}` found in a function's environment, checked once every name is known.
pub(crate) struct EnvRef {
    pub(crate) function: String,
    pub(crate) path: String,
    pub(crate) span: Span,
    pub(crate) reference: Ref,
}

pub(crate) struct Checker<'r, 't> {
    report: &'r mut Reporter<'t>,
    /// Span of the key of each entry, by dotted path.
    key_spans: HashMap<String, Span>,
    /// Span of the value of each entry or list item, by dotted path.
    value_spans: HashMap<String, Span>,
    pub(crate) env_refs: Vec<EnvRef>,
    name_refs: Vec<NameRef>,
}

impl<'r, 't> Checker<'r, 't> {
    pub(crate) fn new(report: &'r mut Reporter<'t>) -> Self {
        Checker {
            report,
            key_spans: HashMap::new(),
            value_spans: HashMap::new(),
            env_refs: Vec::new(),
            name_refs: Vec::new(),
        }
    }

    pub(crate) fn error(
        &mut self,
        span: Span,
        key: &str,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        self.report.error(span, key, message, help);
    }

    /// Where to point for `path`: its value if it was written, else the key of the nearest
    /// enclosing entry that was (a defaulted field is reported at its owner).
    pub(crate) fn span_at(&self, path: &str) -> Span {
        let mut p = path;
        if let Some(span) = self.value_spans.get(p) {
            return *span;
        }
        loop {
            if let Some(span) = self.key_spans.get(p) {
                return *span;
            }
            match parent(p) {
                Some(up) => p = up,
                None => return first_position(),
            }
        }
    }

    pub(crate) fn key_span(&self, path: &str) -> Span {
        self.key_spans
            .get(path)
            .copied()
            .unwrap_or_else(|| self.span_at(path))
    }

    // ----- generic decoding -------------------------------------------------------------

    /// The entries of a mapping (`null` counts as empty), with keys other than `allowed`'s
    /// reported.
    pub(crate) fn fields<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        owner: Span,
        allowed: &[Field],
    ) -> Fields<'n> {
        self.fields_with_keys(node, path, owner, &schema::keys(allowed))
    }

    pub(crate) fn fields_with_keys<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        owner: Span,
        allowed: &[&str],
    ) -> Fields<'n> {
        self.fields_of(node, path, owner, Some(allowed))
    }

    /// A mapping with free-form keys (tags, environment).
    pub(crate) fn free_fields<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        owner: Span,
    ) -> Fields<'n> {
        self.fields_of(node, path, owner, None)
    }

    fn fields_of<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        owner: Span,
        allowed: Option<&[&str]>,
    ) -> Fields<'n> {
        let entries: &'n [Entry] = match &node.value {
            Value::Map(entries) => entries,
            Value::Null => &[],
            _ => {
                self.error(
                    node.span,
                    path,
                    format!("expected a mapping, got {}", describe(node)),
                    None,
                );
                return Fields {
                    path: path.to_string(),
                    owner,
                    entries: &[],
                    broken: true,
                };
            }
        };
        for entry in entries {
            let entry_path = join(path, &entry.key);
            self.key_spans.insert(entry_path.clone(), entry.key_span);
            self.value_spans
                .insert(entry_path.clone(), entry.value.span);
            let Some(allowed) = allowed else { continue };
            // Top-level `x-...` keys are free for the user, e.g. to hold YAML anchors.
            if path.is_empty() && entry.key.starts_with("x-") {
                continue;
            }
            if !allowed.contains(&entry.key.as_str()) {
                let help = match suggest(&entry.key, allowed.iter().copied()) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!("allowed keys here: {}", allowed.join(", ")),
                };
                self.error(
                    entry.key_span,
                    &entry_path,
                    format!("unknown key `{}`", entry.key),
                    Some(help),
                );
            }
        }
        Fields {
            path: path.to_string(),
            owner,
            entries,
            broken: false,
        }
    }

    /// The nested mapping of a [`Type::Mapping`] field, if present.
    pub(crate) fn mapping<'n>(&mut self, f: &Fields<'n>, field: &Field) -> Option<Fields<'n>> {
        let node = f.get(field.key)?;
        let path = f.path_of(field.key);
        let owner = self.key_span(&path);
        Some(self.fields(node, &path, owner, field.sub_fields()))
    }

    pub(crate) fn missing(&mut self, f: &Fields<'_>, key: &str) {
        if let Some(span) = f.null_key(key) {
            let path = f.path_of(key);
            self.error(
                span,
                &path,
                format!("`{key}` is required but has no value"),
                None,
            );
        } else if !f.broken {
            let what = if f.path.is_empty() {
                "the file".to_string()
            } else {
                format!("`{}`", last_component(&f.path))
            };
            self.error(
                f.owner,
                &f.path,
                format!("missing required key `{key}` in {what}"),
                None,
            );
        }
    }

    pub(crate) fn string_value(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.value {
            // Plain numbers and booleans are kept as written: `version: 1.10` stays "1.10".
            Value::Scalar(s) => Some(s.text.clone()),
            _ => {
                self.error(
                    node.span,
                    path,
                    format!("expected a string, got {}", describe(node)),
                    None,
                );
                None
            }
        }
    }

    pub(crate) fn opt_str(&mut self, f: &Fields<'_>, key: &str) -> Option<String> {
        let node = f.get(key)?;
        self.string_value(node, &f.path_of(key))
    }

    pub(crate) fn req_str(&mut self, f: &Fields<'_>, key: &str) -> Option<String> {
        if f.get(key).is_none() {
            self.missing(f, key);
            return None;
        }
        self.opt_str(f, key)
    }

    /// A string field; a missing required one is reported.
    pub(crate) fn string(&mut self, f: &Fields<'_>, field: &Field) -> Option<String> {
        if field.required {
            self.req_str(f, field.key)
        } else {
            self.opt_str(f, field.key)
        }
    }

    /// A [`Type::Name`] field: the name of an entry of another section.
    pub(crate) fn name(&mut self, f: &Fields<'_>, field: &Field) -> Option<String> {
        let Type::Name(section) = field.ty else {
            unreachable!("field `{}` is not a name", field.key)
        };
        self.name_ref(f, field.key, section, field.required)
    }

    /// An integer field, checked against its range (`None` when absent or wrong).
    pub(crate) fn int(&mut self, f: &Fields<'_>, field: &Field) -> Option<u32> {
        let Type::Integer { min, max, unit, .. } = field.ty else {
            unreachable!("field `{}` is not an integer", field.key)
        };
        if field.required {
            self.req_u32(f, field.key, min..=max, unit)
        } else {
            self.opt_u32(f, field.key, min..=max, unit)
        }
    }

    /// An integer field with a default: the default when absent or wrong.
    pub(crate) fn int_or_default(&mut self, f: &Fields<'_>, field: &Field) -> u32 {
        self.int(f, field).unwrap_or_else(|| field.default_int())
    }

    /// A boolean field: its default when absent or wrong.
    pub(crate) fn boolean(&mut self, f: &Fields<'_>, field: &Field) -> bool {
        let Type::Boolean { default } = field.ty else {
            unreachable!("field `{}` is not a boolean", field.key)
        };
        self.opt_bool(f, field.key).unwrap_or(default)
    }

    /// A [`Type::Choice`] field: one of its options (`None` when absent or wrong; a missing
    /// required one is reported).
    pub(crate) fn choice(&mut self, f: &Fields<'_>, field: &Field) -> Option<&'static str> {
        let Type::Choice { options, .. } = field.ty else {
            unreachable!("field `{}` is not a choice", field.key)
        };
        if field.required && f.get(field.key).is_none() {
            self.missing(f, field.key);
            return None;
        }
        let pairs: Vec<(&str, &'static str)> = options.iter().map(|o| (*o, *o)).collect();
        self.opt_enum(f, field.key, &pairs)
    }

    /// A [`Type::Choice`] field with its default when absent or wrong.
    pub(crate) fn choice_or_default(&mut self, f: &Fields<'_>, field: &Field) -> &'static str {
        let Type::Choice {
            default: Some(default),
            ..
        } = field.ty
        else {
            unreachable!("field `{}` has no default choice", field.key)
        };
        self.choice(f, field).unwrap_or(default)
    }

    /// Has `path` a value written in the file (rather than a default)?
    pub(crate) fn is_written(&self, path: &str) -> bool {
        self.value_spans.contains_key(path)
    }

    /// The name of another resource of `kind`; checked against the declared names later.
    pub(crate) fn name_ref(
        &mut self,
        f: &Fields<'_>,
        key: &str,
        kind: Section,
        required: bool,
    ) -> Option<String> {
        if f.get(key).is_none() {
            if required {
                self.missing(f, key);
            }
            return None;
        }
        let name = self.opt_str(f, key)?;
        let path = f.path_of(key);
        if name.is_empty() {
            let span = self.span_at(&path);
            self.error(
                span,
                &path,
                format!(
                    "expected the name of a {}, got an empty string",
                    kind.singular()
                ),
                None,
            );
            return None;
        }
        self.name_refs.push(NameRef {
            kind,
            name: name.clone(),
            path,
        });
        Some(name)
    }

    pub(crate) fn opt_int(&mut self, f: &Fields<'_>, key: &str) -> Option<i64> {
        let node = f.get(key)?;
        let path = f.path_of(key);
        match &node.value {
            Value::Scalar(s) if !s.quoted => match parse_int(&s.text) {
                Some(Ok(n)) => return Some(n),
                Some(Err(())) => {
                    self.error(
                        node.span,
                        &path,
                        format!("integer {} is out of range", s.text),
                        None,
                    );
                    return None;
                }
                None => {}
            },
            Value::Scalar(s) if parse_int(&s.text).is_some() => {
                self.error(
                    node.span,
                    &path,
                    format!("expected an integer, got string {:?}", s.text),
                    Some("remove the quotes".into()),
                );
                return None;
            }
            _ => {}
        }
        self.error(
            node.span,
            &path,
            format!("expected an integer, got {}", describe(node)),
            None,
        );
        None
    }

    /// An optional integer in `range`; `unit` (e.g. " seconds") follows numbers in messages.
    pub(crate) fn opt_u32(
        &mut self,
        f: &Fields<'_>,
        key: &str,
        range: RangeInclusive<u32>,
        unit: &str,
    ) -> Option<u32> {
        let n = self.opt_int(f, key)?;
        if n < i64::from(*range.start()) || n > i64::from(*range.end()) {
            let path = f.path_of(key);
            let span = self.span_at(&path);
            self.error(
                span,
                &path,
                format!(
                    "must be between {} and {}{unit}, got {n}",
                    range.start(),
                    range.end()
                ),
                None,
            );
            return None;
        }
        u32::try_from(n).ok()
    }

    pub(crate) fn req_u32(
        &mut self,
        f: &Fields<'_>,
        key: &str,
        range: RangeInclusive<u32>,
        unit: &str,
    ) -> Option<u32> {
        if f.get(key).is_none() {
            self.missing(f, key);
            return None;
        }
        self.opt_u32(f, key, range, unit)
    }

    pub(crate) fn opt_bool(&mut self, f: &Fields<'_>, key: &str) -> Option<bool> {
        let node = f.get(key)?;
        if let Value::Scalar(s) = &node.value {
            if !s.quoted {
                match s.text.as_str() {
                    "true" | "True" | "TRUE" => return Some(true),
                    "false" | "False" | "FALSE" => return Some(false),
                    _ => {}
                }
            }
        }
        let path = f.path_of(key);
        self.error(
            node.span,
            &path,
            format!("expected a boolean (true or false), got {}", describe(node)),
            None,
        );
        None
    }

    pub(crate) fn opt_enum<T: Copy>(
        &mut self,
        f: &Fields<'_>,
        key: &str,
        options: &[(&str, T)],
    ) -> Option<T> {
        let node = f.get(key)?;
        let path = f.path_of(key);
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let text = match &node.value {
            Value::Scalar(s) => s.text.clone(),
            _ => {
                self.error(
                    node.span,
                    &path,
                    format!(
                        "expected one of {}, got {}",
                        names.join(", "),
                        describe(node)
                    ),
                    None,
                );
                return None;
            }
        };
        if let Some((_, v)) = options.iter().find(|(n, _)| *n == text) {
            return Some(*v);
        }
        let help = suggest(&text, names.iter().copied()).map(|s| format!("did you mean `{s}`?"));
        self.error(
            node.span,
            &path,
            format!("must be one of {}, got {:?}", names.join(", "), text),
            help,
        );
        None
    }

    /// A name-keyed section (`queues:`, ...): decodes every entry, checking its logical name.
    pub(crate) fn section<T: KindSpec>(&mut self, top: &Fields<'_>) -> BTreeMap<String, T> {
        let key = T::SECTION.key();
        let mut out = BTreeMap::new();
        let Some(node) = top.get(key) else { return out };
        let entries = match &node.value {
            Value::Map(entries) => entries,
            Value::Null => return out,
            _ => {
                self.error(
                    node.span,
                    key,
                    format!(
                        "expected a mapping of names to {key}, got {}",
                        describe(node)
                    ),
                    None,
                );
                return out;
            }
        };
        for entry in entries {
            let path = join(key, &entry.key);
            self.key_spans.insert(path.clone(), entry.key_span);
            self.value_spans.insert(path.clone(), entry.value.span);
            if let Err(why) = check_logical_name(&entry.key) {
                self.error(
                    entry.key_span,
                    &path,
                    format!("invalid name {:?}: {why}", entry.key),
                    Some(
                        "names start with a lowercase letter and contain only a-z, 0-9 and -"
                            .into(),
                    ),
                );
            }
            let f = self.fields(&entry.value, &path, entry.key_span, T::FIELDS);
            let value = T::decode(self, &f, &entry.key);
            out.insert(entry.key.clone(), value);
        }
        out
    }

    /// The items of a list field (absent or null = empty).
    pub(crate) fn list<'n>(&mut self, f: &Fields<'n>, field: &Field) -> &'n [Node] {
        let key = field.key;
        let Some(node) = f.get(key) else { return &[] };
        match &node.value {
            Value::Seq(items) => {
                let path = f.path_of(key);
                for (i, item) in items.iter().enumerate() {
                    self.value_spans.insert(format!("{path}[{i}]"), item.span);
                }
                items
            }
            Value::Null => &[],
            _ => {
                self.error(
                    node.span,
                    &f.path_of(key),
                    format!("expected a list, got {}", describe(node)),
                    None,
                );
                &[]
            }
        }
    }

    pub(crate) fn json_of(&mut self, node: &Node, path: &str) -> serde_json::Value {
        use serde_json::Value as J;
        match &node.value {
            Value::Null => J::Null,
            Value::Seq(items) => J::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, n)| self.json_of(n, &format!("{path}[{i}]")))
                    .collect(),
            ),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), self.json_of(&e.value, &join(path, &e.key))))
                    .collect(),
            ),
            Value::Scalar(s) if s.quoted => J::String(s.text.clone()),
            Value::Scalar(s) => {
                match s.text.as_str() {
                    "true" | "True" | "TRUE" => return J::Bool(true),
                    "false" | "False" | "FALSE" => return J::Bool(false),
                    _ => {}
                }
                if let Some(Ok(n)) = parse_int(&s.text) {
                    return J::from(n);
                }
                if is_float(&s.text) {
                    return match s
                        .text
                        .parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                    {
                        Some(n) => J::Number(n),
                        None => {
                            self.error(
                                node.span,
                                path,
                                format!("{} cannot be represented in JSON", s.text),
                                None,
                            );
                            J::Null
                        }
                    };
                }
                if is_special_float(&s.text) {
                    self.error(
                        node.span,
                        path,
                        format!("{} cannot be represented in JSON", s.text),
                        None,
                    );
                    return J::Null;
                }
                J::String(s.text.clone())
            }
        }
    }
}
