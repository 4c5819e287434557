//! A small YAML tree with a source span on every node, built from `saphyr-parser` events.
//!
//! Why our own tree: we want every problem of a file reported in one run with line, column and
//! key path, duplicate keys rejected (most YAML libraries silently keep the last one), and alias
//! expansion bounded so a "billion laughs" file fails fast instead of eating memory.
//!
//! Scalars keep their source text and whether they were quoted; typing (integer, boolean, ...)
//! happens later, where the expected type is known, so error messages can say what was expected.

use std::collections::HashMap;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Span as ParserSpan, Tag};

/// Most nodes that alias expansion may add to a document. A real pipeline expands a few
/// hundred at most; an alias bomb needs billions.
pub const ALIAS_EXPANSION_BUDGET: usize = 10_000;

/// Deepest nesting of collections accepted (keeps later recursive walks shallow).
pub const MAX_DEPTH: usize = 64;

/// A position in the source: line and column are 1-based (column counts characters);
/// offset and len are in bytes (what miette needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub line: usize,
    pub column: usize,
    pub offset: usize,
    pub len: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Span,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    /// The scalar's value after YAML unescaping/folding.
    pub text: String,
    /// Quoted and block scalars (and `!!str`) are always strings; plain ones may be
    /// numbers or booleans.
    pub quoted: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Span,
    pub value: Node,
}

/// A problem found while reading the YAML itself.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub span: Span,
    /// Dotted key path of the node concerned ("" for the document).
    pub key: String,
    pub message: String,
    pub help: Option<String>,
}

/// Result of reading a document. `root` is `None` only when the YAML could not be read
/// at all (syntax error, alias budget exceeded, ...); `errors` may be non-empty even
/// with a root (duplicate keys, unsupported tags).
#[derive(Debug)]
pub struct Document {
    pub root: Option<Node>,
    pub errors: Vec<YamlError>,
}

impl Node {
    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// Number of nodes in this subtree, itself included.
    fn size(&self) -> usize {
        1 + match &self.value {
            Value::Null | Value::Scalar(_) => 0,
            Value::Seq(items) => items.iter().map(Node::size).sum(),
            Value::Map(entries) => entries.iter().map(|e| 1 + e.value.size()).sum(),
        }
    }
}

/// Converts the parser's character-based markers into byte offsets.
pub(crate) struct Offsets<'t> {
    text: &'t str,
    /// Byte offset of every character, plus the text's length; empty when the text is ASCII.
    char_bytes: Vec<usize>,
}

impl<'t> Offsets<'t> {
    pub(crate) fn new(text: &'t str) -> Self {
        let char_bytes = if text.is_ascii() {
            Vec::new()
        } else {
            text.char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(text.len()))
                .collect()
        };
        Offsets { text, char_bytes }
    }

    fn byte(&self, char_index: usize) -> usize {
        if self.char_bytes.is_empty() {
            char_index.min(self.text.len())
        } else {
            self.char_bytes
                .get(char_index)
                .copied()
                .unwrap_or(self.text.len())
        }
    }

    fn span(&self, start: Marker, end: Marker) -> Span {
        let offset = self.byte(start.index());
        let end = self.byte(end.index()).max(offset);
        Span {
            line: start.line().max(1),
            column: start.col() + 1,
            offset,
            len: end - offset,
        }
    }

    fn point(&self, at: Marker) -> Span {
        self.span(at, at)
    }
}

/// Parse one YAML document.
pub fn parse(text: &str) -> Document {
    Builder::new(text).run()
}

enum Frame {
    Seq {
        start: Marker,
        anchor: usize,
        path: String,
        items: Vec<Node>,
    },
    Map {
        start: Marker,
        anchor: usize,
        path: String,
        entries: Vec<Entry>,
        /// Key waiting for its value; `None` as its text when the key itself was invalid.
        pending_key: Option<PendingKey>,
        /// First occurrence of each key, for duplicate detection.
        seen: HashMap<String, Span>,
        /// Values of merge keys (`<<`), applied when the mapping ends.
        merges: Vec<Node>,
    },
}

struct PendingKey {
    text: Option<String>,
    span: Span,
    /// A plain `<<` key: YAML merge.
    merge: bool,
}

/// Stop reading: the document cannot be turned into a tree.
struct Fatal(YamlError);

struct Builder<'t> {
    text: &'t str,
    offsets: Offsets<'t>,
    stack: Vec<Frame>,
    /// Completed anchored nodes by the parser's anchor id.
    anchors: HashMap<usize, Node>,
    /// Nodes added by alias expansion so far.
    expanded: usize,
    root: Option<Node>,
    documents: usize,
    errors: Vec<YamlError>,
}

impl<'t> Builder<'t> {
    fn new(text: &'t str) -> Self {
        Builder {
            text,
            offsets: Offsets::new(text),
            stack: Vec::new(),
            anchors: HashMap::new(),
            expanded: 0,
            root: None,
            documents: 0,
            errors: Vec::new(),
        }
    }

    fn run(mut self) -> Document {
        let mut parser = Parser::new_from_str(self.text);
        loop {
            let step = match parser.next_event() {
                None => break,
                Some(Err(scan)) => Err(Fatal(YamlError {
                    span: self.offsets.point(*scan.marker()),
                    key: self.current_path(),
                    message: format!("YAML syntax error: {}", scan.info()),
                    help: None,
                })),
                Some(Ok((event, span))) => self.on_event(event, span),
            };
            match step {
                Ok(true) => {}
                Ok(false) => break,
                Err(Fatal(error)) => {
                    self.errors.push(error);
                    return Document {
                        root: None,
                        errors: self.errors,
                    };
                }
            }
        }
        let root = self.root.take().unwrap_or(Node {
            span: Span {
                line: 1,
                column: 1,
                offset: 0,
                len: 0,
            },
            value: Value::Null,
        });
        Document {
            root: Some(root),
            errors: self.errors,
        }
    }

    /// Handle one event; `Ok(false)` ends the stream.
    fn on_event(&mut self, event: Event<'_>, span: ParserSpan) -> Result<bool, Fatal> {
        match event {
            Event::StreamStart | Event::Nothing | Event::DocumentEnd => {}
            Event::StreamEnd => return Ok(false),
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(Fatal(YamlError {
                        span: self.offsets.span(span.start, span.end),
                        key: String::new(),
                        message: "a pipeline file holds exactly one YAML document; found a second one".into(),
                        help: Some("remove the `---` separator and everything after it, or merge the documents".into()),
                    }));
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let node_span = self.offsets.span(span.start, span.end);
                let forced_string = self.check_tag(tag.as_deref(), node_span);
                let quoted = forced_string || !matches!(style, ScalarStyle::Plain);
                let value = if !quoted && is_null(&text) {
                    Value::Null
                } else {
                    Value::Scalar(Scalar {
                        text: text.into_owned(),
                        quoted,
                    })
                };
                let node = Node {
                    span: node_span,
                    value,
                };
                self.complete(node, anchor, style == ScalarStyle::Plain)?;
            }
            Event::SequenceStart(anchor, tag) => {
                self.check_tag(tag.as_deref(), self.offsets.span(span.start, span.end));
                self.check_depth(span.start)?;
                let path = self.child_path();
                self.stack.push(Frame::Seq {
                    start: span.start,
                    anchor,
                    path,
                    items: Vec::new(),
                });
            }
            Event::MappingStart(anchor, tag) => {
                self.check_tag(tag.as_deref(), self.offsets.span(span.start, span.end));
                self.check_depth(span.start)?;
                let path = self.child_path();
                self.stack.push(Frame::Map {
                    start: span.start,
                    anchor,
                    path,
                    entries: Vec::new(),
                    pending_key: None,
                    seen: HashMap::new(),
                    merges: Vec::new(),
                });
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    start,
                    anchor,
                    items,
                    ..
                }) = self.stack.pop()
                {
                    let node = Node {
                        span: self.offsets.span(start, span.end),
                        value: Value::Seq(items),
                    };
                    self.complete(node, anchor, false)?;
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    start,
                    anchor,
                    path,
                    entries,
                    merges,
                    ..
                }) = self.stack.pop()
                {
                    let entries = self.apply_merges(entries, merges, &path);
                    let node = Node {
                        span: self.offsets.span(start, span.end),
                        value: Value::Map(entries),
                    };
                    self.complete(node, anchor, false)?;
                }
            }
            Event::Alias(id) => {
                let alias_span = self.offsets.span(span.start, span.end);
                let name = self.source(alias_span).trim_start_matches('*').to_string();
                let Some(target) = self.anchors.get(&id) else {
                    return Err(Fatal(YamlError {
                        span: alias_span,
                        key: self.current_path(),
                        message: format!("alias `*{name}` refers to a node that contains it"),
                        help: Some(
                            "a node cannot include itself; recursive aliases are not supported"
                                .into(),
                        ),
                    }));
                };
                let size = target.size();
                if self.expanded + size > ALIAS_EXPANSION_BUDGET {
                    return Err(Fatal(YamlError {
                        span: alias_span,
                        key: self.current_path(),
                        message: format!(
                            "alias expansion exceeds the limit of {ALIAS_EXPANSION_BUDGET} nodes (expanding `*{name}` would add {size} more to the {} already expanded)",
                            self.expanded
                        ),
                        help: Some("this looks like an alias bomb (\"billion laughs\"); write the values out or use fewer nested aliases".into()),
                    }));
                }
                self.expanded += size;
                let mut node = target.clone();
                // Point errors about the aliased value at the alias, where it is used.
                node.span = alias_span;
                self.complete(node, 0, false)?;
            }
        }
        Ok(true)
    }

    /// Report tags we do not understand; returns whether the tag forces a string (`!!str`).
    fn check_tag(&mut self, tag: Option<&Tag>, span: Span) -> bool {
        let Some(tag) = tag else { return false };
        if tag.is_yaml_core_schema() {
            match tag.suffix.as_str() {
                "str" => return true,
                "int" | "float" | "bool" | "null" | "map" | "seq" => return false,
                _ => {}
            }
        }
        self.errors.push(YamlError {
            span,
            key: self.child_path(),
            message: format!("unsupported YAML tag `{tag}`"),
            help: Some(
                "references to other resources are written as strings like \"${queues.orders.url}\""
                    .into(),
            ),
        });
        false
    }

    fn check_depth(&self, at: Marker) -> Result<(), Fatal> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Fatal(YamlError {
                span: self.offsets.point(at),
                key: self.current_path(),
                message: format!("nesting deeper than {MAX_DEPTH} levels is not supported"),
                help: None,
            }));
        }
        Ok(())
    }

    fn source(&self, span: Span) -> &str {
        self.text
            .get(span.offset..span.offset + span.len)
            .unwrap_or("")
    }

    /// Path of the collection being built.
    fn current_path(&self) -> String {
        match self.stack.last() {
            Some(Frame::Seq { path, .. }) | Some(Frame::Map { path, .. }) => path.clone(),
            None => String::new(),
        }
    }

    /// Path the next completed node will have.
    fn child_path(&self) -> String {
        match self.stack.last() {
            None => String::new(),
            Some(Frame::Seq { path, items, .. }) => format!("{path}[{}]", items.len()),
            Some(Frame::Map {
                path, pending_key, ..
            }) => match pending_key {
                // Building a key: errors belong to the map.
                None => path.clone(),
                Some(key) => join(path, key.text.as_deref().unwrap_or("?")),
            },
        }
    }

    /// A node is complete: remember it if anchored, then attach it to its parent.
    fn complete(&mut self, node: Node, anchor: usize, plain: bool) -> Result<(), Fatal> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let key_path = self.current_path();
        // An empty key (`: value`) or `null:` is kept as written so the user hears about it.
        let null_text = match node.value {
            Value::Null => self.source(node.span).to_string(),
            _ => String::new(),
        };
        let mut errors = Vec::new();
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                path,
                entries,
                pending_key,
                seen,
                merges,
                ..
            }) => match pending_key.take() {
                None => {
                    let (text, merge) = match &node.value {
                        Value::Scalar(s) => (Some(s.text.clone()), plain && s.text == "<<"),
                        Value::Null => (Some(null_text), false),
                        Value::Seq(_) | Value::Map(_) => {
                            errors.push(YamlError {
                                span: node.span,
                                key: key_path,
                                message:
                                    "mapping keys must be plain strings, not lists or mappings"
                                        .into(),
                                help: None,
                            });
                            (None, false)
                        }
                    };
                    *pending_key = Some(PendingKey {
                        text,
                        span: node.span,
                        merge,
                    });
                }
                Some(key) => {
                    let Some(text) = key.text else { return Ok(()) };
                    if key.merge {
                        merges.push(node);
                    } else if let Some(first) = seen.get(&text) {
                        errors.push(YamlError {
                            span: key.span,
                            key: join(path, &text),
                            message: format!(
                                "duplicate key `{text}` (first defined at line {})",
                                first.line
                            ),
                            help: Some("each key may appear once in a mapping; remove or rename one of them".into()),
                        });
                    } else {
                        seen.insert(text.clone(), key.span);
                        entries.push(Entry {
                            key: text,
                            key_span: key.span,
                            value: node,
                        });
                    }
                }
            },
        }
        self.errors.extend(errors);
        Ok(())
    }

    /// Resolve YAML merge keys (`<<: *defaults` or `<<: [*a, *b]`): keys written in the
    /// mapping win over merged ones; among merged mappings the first listed wins.
    fn apply_merges(&mut self, mut own: Vec<Entry>, merges: Vec<Node>, path: &str) -> Vec<Entry> {
        let mut merged: Vec<Entry> = Vec::new();
        for source in &merges {
            let maps: Vec<&[Entry]> = match &source.value {
                Value::Map(entries) => vec![entries],
                Value::Seq(items) => items.iter().filter_map(Node::as_map).collect(),
                _ => Vec::new(),
            };
            let all_maps = match &source.value {
                Value::Map(_) => true,
                Value::Seq(items) => maps.len() == items.len(),
                _ => false,
            };
            if !all_maps {
                self.errors.push(YamlError {
                    span: source.span,
                    key: join(path, "<<"),
                    message: "a merge key (`<<`) takes a mapping or a list of mappings".into(),
                    help: Some("e.g. `<<: *defaults` where `defaults` anchors a mapping".into()),
                });
                continue;
            }
            for from in maps {
                for e in from {
                    let taken =
                        own.iter().any(|o| o.key == e.key) || merged.iter().any(|m| m.key == e.key);
                    if !taken {
                        merged.push(e.clone());
                    }
                }
            }
        }
        own.extend(merged);
        own
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// YAML 1.2 core schema null.
fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Node {
        let doc = parse(text);
        assert!(doc.errors.is_empty(), "{:?}", doc.errors);
        doc.root.expect("root")
    }

    #[test]
    fn spans_are_one_based_and_in_bytes() {
        let node = root("a: 1\nb:\n  c: \"é\"\n  d: x\n");
        let entries = node.as_map().expect("map");
        assert_eq!(entries[1].key, "b");
        let inner = entries[1].value.as_map().expect("inner map");
        assert_eq!(inner[1].key, "d");
        assert_eq!((inner[1].key_span.line, inner[1].key_span.column), (4, 3));
        // "é" is two bytes: the byte offset of `d` is one more than its char index (19).
        assert_eq!(inner[1].key_span.offset, 20);
        assert_eq!(&"a: 1\nb:\n  c: \"é\"\n  d: x\n"[20..21], "d");
    }

    #[test]
    fn scalars_keep_quoting_and_nulls() {
        let node = root("a: '1'\nb: 1\nc:\nd: ~\ne: !!str 5\n");
        let e = node.as_map().expect("map");
        assert_eq!(
            e[0].value.value,
            Value::Scalar(Scalar {
                text: "1".into(),
                quoted: true
            })
        );
        assert_eq!(
            e[1].value.value,
            Value::Scalar(Scalar {
                text: "1".into(),
                quoted: false
            })
        );
        assert_eq!(e[2].value.value, Value::Null);
        assert_eq!(e[3].value.value, Value::Null);
        assert_eq!(
            e[4].value.value,
            Value::Scalar(Scalar {
                text: "5".into(),
                quoted: true
            })
        );
    }

    #[test]
    fn duplicate_key_is_reported_at_the_second_occurrence() {
        let doc = parse("a:\n  x: 1\n  y: 2\n  x: 3\n");
        assert_eq!(doc.errors.len(), 1);
        let err = &doc.errors[0];
        assert_eq!((err.span.line, err.span.column), (4, 3));
        assert_eq!(err.key, "a.x");
        assert_eq!(err.message, "duplicate key `x` (first defined at line 2)");
        // The first value is kept.
        let root = doc.root.expect("root");
        let inner = root.as_map().expect("map")[0]
            .value
            .as_map()
            .expect("inner");
        assert_eq!(inner.len(), 2);
    }

    #[test]
    fn aliases_expand_and_merge_keys_merge() {
        let node = root("base: &b { memory: 256, timeout: 10 }\nf:\n  <<: *b\n  timeout: 30\n");
        let f = node.as_map().expect("map")[1].value.as_map().expect("f");
        let pairs: Vec<(&str, &str)> = f
            .iter()
            .map(|e| match &e.value.value {
                Value::Scalar(s) => (e.key.as_str(), s.text.as_str()),
                _ => (e.key.as_str(), "?"),
            })
            .collect();
        assert_eq!(pairs, vec![("timeout", "30"), ("memory", "256")]);
    }

    #[test]
    fn alias_bomb_fails_fast() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let started = std::time::Instant::now();
        let doc = parse(&text);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert!(doc.root.is_none());
        assert_eq!(doc.errors.len(), 1);
        assert!(
            doc.errors[0]
                .message
                .starts_with("alias expansion exceeds the limit of 10000 nodes"),
            "{}",
            doc.errors[0].message
        );
        // a3's aliases (1111 nodes each) are the first to exhaust the budget.
        assert_eq!(doc.errors[0].span.line, 4);
    }

    #[test]
    fn syntax_error_has_the_parser_position() {
        let doc = parse("a: [1, 2\nb: 3\n");
        assert!(doc.root.is_none());
        assert_eq!(doc.errors.len(), 1);
        assert!(doc.errors[0].message.starts_with("YAML syntax error: "));
        assert_eq!(doc.errors[0].span.line, 2);
    }

    #[test]
    fn second_document_is_rejected() {
        let doc = parse("a: 1\n---\nb: 2\n");
        assert!(doc.root.is_none());
        assert_eq!(doc.errors[0].span.line, 2);
    }

    #[test]
    fn recursive_alias_is_rejected() {
        let doc = parse("a: &x [1, *x]\n");
        assert!(doc.root.is_none());
        assert!(doc.errors[0]
            .message
            .contains("refers to a node that contains it"));
    }

    #[test]
    fn deep_nesting_is_rejected() {
        let text = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let doc = parse(&text);
        assert!(doc.root.is_none());
        assert!(doc.errors[0].message.starts_with("nesting deeper than 64"));
    }

    #[test]
    fn empty_document_is_null() {
        let doc = parse("# nothing here\n");
        assert!(doc.errors.is_empty());
        assert_eq!(doc.root.expect("root").value, Value::Null);
    }
}
