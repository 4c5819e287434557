//! From the YAML tree to the resolved [`Spec`]: types, ranges, references, cycles and the
//! AWS limits that apply once names are prefixed with the stack. Every problem is reported;
//! decoding goes on with defaults so one mistake does not hide the next.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::RangeInclusive;
use std::path::PathBuf;

use super::model::{
    Access, AccessTarget, Architecture, Billing, Bus, Function, KeyAttribute, KeyKind, Queue,
    QueueEncryption, Redrive, Ref, RefAttribute, RefKind, Rule, RuleTarget, Spec, Table, Template,
    TemplatePart, Trigger, Verb, OWNERSHIP_TAG,
};
use super::report::Reporter;
use super::template::{self, RawPart};
use super::yaml::{Entry, Node, Span, Value};

const TOP_KEYS: &[&str] = &[
    "stack",
    "region",
    "tags",
    "buses",
    "queues",
    "tables",
    "functions",
    "rules",
    "triggers",
];
const BUS_KEYS: &[&str] = &["description"];
const QUEUE_KEYS: &[&str] = &[
    "visibility_timeout",
    "retention",
    "encryption",
    "dead_letter",
];
const REDRIVE_KEYS: &[&str] = &["queue", "max_receive_count"];
const TABLE_KEYS: &[&str] = &[
    "partition_key",
    "sort_key",
    "billing",
    "point_in_time_recovery",
    "ttl_attribute",
    "deletion_protection",
];
const KEY_ATTRIBUTE_KEYS: &[&str] = &["name", "type"];
const FUNCTION_KEYS: &[&str] = &[
    "crate",
    "memory",
    "timeout",
    "architecture",
    "environment",
    "access",
    "dead_letter_queue",
    "async_retry_attempts",
];
const ACCESS_KEYS: &[&str] = &["bus", "queue", "table", "verb"];
const RULE_KEYS: &[&str] = &["bus", "description", "event_pattern", "targets"];
const TARGET_KEYS: &[&str] = &["function", "retry", "dead_letter_queue"];
const RETRY_KEYS: &[&str] = &["maximum_attempts", "maximum_event_age"];
const TRIGGER_KEYS: &[&str] = &[
    "queue",
    "function",
    "batch_size",
    "batching_window",
    "report_batch_item_failures",
    "maximum_concurrency",
    "enabled",
];

pub(crate) const DEFAULT_VISIBILITY_TIMEOUT: u32 = 30;
pub(crate) const DEFAULT_RETENTION: u32 = 345_600;
pub(crate) const DEFAULT_MEMORY: u32 = 128;
pub(crate) const DEFAULT_TIMEOUT: u32 = 3;
pub(crate) const DEFAULT_TARGET_RETRY_ATTEMPTS: u32 = 185;
pub(crate) const DEFAULT_TARGET_EVENT_AGE: u32 = 86_400;
pub(crate) const DEFAULT_BATCH_SIZE: u32 = 10;

/// AWS recommends a source queue's visibility timeout of at least six times the timeout of
/// the function it triggers, so a batch that is retried after throttling is not redelivered
/// while still in flight.
const VISIBILITY_FACTOR: u32 = 6;
const MAX_RULE_TARGETS: usize = 5;
/// Tags per resource (Lambda, SQS, DynamoDB, EventBridge and IAM all allow 50).
const MAX_TAGS: usize = 50;
const MAX_DESCRIPTION: usize = 512;
/// PutRule's hard limit; the default account quota is 2048 and can be raised to this.
const MAX_EVENT_PATTERN: usize = 4096;

/// Environment variable names Lambda sets itself and refuses in a function's configuration.
const RESERVED_ENV: &[&str] = &[
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
    "TZ",
];

/// Build the spec from the document's root, reporting every problem into `report`.
/// The returned spec is only meaningful when no error was reported.
pub(crate) fn build(file: &str, root: &Node, report: &mut Reporter<'_>) -> Spec {
    let mut checker = Checker {
        report,
        key_spans: HashMap::new(),
        value_spans: HashMap::new(),
        env_refs: Vec::new(),
        name_refs: Vec::new(),
    };
    checker.spec(file, root)
}

/// The fields of one mapping, with where it came from.
struct Fields<'n> {
    path: String,
    /// Where "missing key" errors point: the key that holds this mapping.
    owner: Span,
    entries: &'n [Entry],
    /// The node was not a mapping (already reported): do not report missing keys too.
    broken: bool,
}

impl<'n> Fields<'n> {
    /// The value of `key`; `key: null` (or `key:` alone) counts as absent, so optional
    /// settings can be blanked out.
    fn get(&self, key: &str) -> Option<&'n Node> {
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

    fn path_of(&self, key: &str) -> String {
        join(&self.path, key)
    }
}

/// A name of another resource (`bus: orders`, `dead_letter_queue: dlq`, ...), checked once
/// every name is known.
struct NameRef {
    kind: RefKind,
    name: String,
    path: String,
}

/// A `${...}` found in a function's environment, checked once every name is known.
struct EnvRef {
    function: String,
    path: String,
    span: Span,
    reference: Ref,
}

struct Checker<'r, 't> {
    report: &'r mut Reporter<'t>,
    /// Span of the key of each entry, by dotted path.
    key_spans: HashMap<String, Span>,
    /// Span of the value of each entry or list item, by dotted path.
    value_spans: HashMap<String, Span>,
    env_refs: Vec<EnvRef>,
    name_refs: Vec<NameRef>,
}

impl Checker<'_, '_> {
    fn error(&mut self, span: Span, key: &str, message: impl Into<String>, help: Option<String>) {
        self.report.error(span, key, message, help);
    }

    /// Where to point for `path`: its value if it was written, else the key of the nearest
    /// enclosing entry that was (a defaulted field is reported at its owner).
    fn span_at(&self, path: &str) -> Span {
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

    fn key_span(&self, path: &str) -> Span {
        self.key_spans
            .get(path)
            .copied()
            .unwrap_or_else(|| self.span_at(path))
    }

    // ----- generic decoding -------------------------------------------------------------

    /// The entries of a mapping (`null` counts as empty), with unknown keys reported.
    fn fields<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        owner: Span,
        allowed: &[&str],
    ) -> Fields<'n> {
        self.fields_of(node, path, owner, Some(allowed))
    }

    /// A mapping with free-form keys (tags, environment).
    fn free_fields<'n>(&mut self, node: &'n Node, path: &str, owner: Span) -> Fields<'n> {
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

    /// A nested mapping under `key`, if present.
    fn sub_fields<'n>(
        &mut self,
        f: &Fields<'n>,
        key: &str,
        allowed: &[&str],
    ) -> Option<Fields<'n>> {
        let node = f.get(key)?;
        let path = f.path_of(key);
        let owner = self.key_span(&path);
        Some(self.fields(node, &path, owner, allowed))
    }

    fn missing(&mut self, f: &Fields<'_>, key: &str) {
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

    fn string_value(&mut self, node: &Node, path: &str) -> Option<String> {
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

    fn opt_str(&mut self, f: &Fields<'_>, key: &str) -> Option<String> {
        let node = f.get(key)?;
        self.string_value(node, &f.path_of(key))
    }

    fn req_str(&mut self, f: &Fields<'_>, key: &str) -> Option<String> {
        if f.get(key).is_none() {
            self.missing(f, key);
            return None;
        }
        self.opt_str(f, key)
    }

    /// The name of another resource of `kind`; checked against the declared names later.
    fn name_ref(
        &mut self,
        f: &Fields<'_>,
        key: &str,
        kind: RefKind,
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
                    kind_name(kind)
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

    fn opt_int(&mut self, f: &Fields<'_>, key: &str) -> Option<i64> {
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
    fn opt_u32(
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

    fn req_u32(
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

    fn opt_bool(&mut self, f: &Fields<'_>, key: &str) -> Option<bool> {
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

    fn opt_enum<T: Copy>(&mut self, f: &Fields<'_>, key: &str, options: &[(&str, T)]) -> Option<T> {
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
    fn section<T>(
        &mut self,
        top: &Fields<'_>,
        key: &str,
        mut decode: impl FnMut(&mut Self, &Node, &str, Span) -> T,
    ) -> BTreeMap<String, T> {
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
            let value = decode(self, &entry.value, &path, entry.key_span);
            out.insert(entry.key.clone(), value);
        }
        out
    }

    /// A list under `key` (absent or null = empty).
    fn list<'n>(&mut self, f: &Fields<'n>, key: &str) -> &'n [Node] {
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

    // ----- the file -----------------------------------------------------------------------

    fn spec(&mut self, file: &str, root: &Node) -> Spec {
        let top = self.fields(root, "", first_position(), TOP_KEYS);

        let stack = self.req_str(&top, "stack");
        let stack_ok = match &stack {
            Some(s) => match check_stack(s) {
                Ok(()) => true,
                Err(why) => {
                    let span = self.span_at("stack");
                    self.error(
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

        let region = self.opt_str(&top, "region");
        if let Some(r) = &region {
            if !is_region(r) {
                let span = self.span_at("region");
                self.error(
                    span,
                    "region",
                    format!("{r:?} is not an AWS region name"),
                    Some("region names look like us-east-1 or eu-central-2".into()),
                );
            }
        }

        let tags = self.tags(&top);
        let buses = self.section(&top, "buses", Checker::bus);
        let queues = self.section(&top, "queues", Checker::queue);
        let tables = self.section(&top, "tables", Checker::table);
        let functions = self.section(&top, "functions", Checker::function);
        let rules = self.section(&top, "rules", Checker::rule);
        let triggers = self.section(&top, "triggers", Checker::trigger);

        let mut spec = Spec {
            file: PathBuf::from(file),
            stack: stack.unwrap_or_default(),
            region,
            tags,
            buses,
            queues,
            tables,
            functions,
            rules,
            triggers,
        };

        self.check_references(&spec);
        self.check_queues(&spec);
        self.check_function_cycles(&spec);
        self.check_triggers(&spec);
        self.check_rules(&spec);
        if stack_ok {
            self.check_physical_names(&spec);
        }
        add_implied_access(&mut spec);
        spec
    }

    fn tags(&mut self, top: &Fields<'_>) -> BTreeMap<String, String> {
        let mut tags = BTreeMap::new();
        let Some(node) = top.get("tags") else {
            return tags;
        };
        let owner = self.key_span("tags");
        let f = self.free_fields(node, "tags", owner);
        for entry in f.entries {
            let path = join("tags", &entry.key);
            let Some(value) = self.string_value(&entry.value, &path) else {
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
                self.error(entry.key_span, &path, message, None);
            }
            if value.chars().count() > 256 {
                self.error(
                    entry.value.span,
                    &path,
                    format!(
                        "tag values are at most 256 characters, this one has {}",
                        value.chars().count()
                    ),
                    None,
                );
            } else if !value.chars().all(is_tag_char) {
                self.error(
                    entry.value.span,
                    &path,
                    "tag values may contain letters, digits, spaces and _ . : / = + - @",
                    None,
                );
            }
            tags.insert(entry.key.clone(), value);
        }
        if tags.len() + 1 > MAX_TAGS {
            self.error(
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

    fn bus(&mut self, node: &Node, path: &str, owner: Span) -> Bus {
        let f = self.fields(node, path, owner, BUS_KEYS);
        let description = self.description(&f);
        Bus { description }
    }

    fn description(&mut self, f: &Fields<'_>) -> Option<String> {
        let description = self.opt_str(f, "description")?;
        let chars = description.chars().count();
        if chars > MAX_DESCRIPTION {
            let path = f.path_of("description");
            let span = self.span_at(&path);
            self.error(
                span,
                &path,
                format!("must be at most {MAX_DESCRIPTION} characters, got {chars}"),
                None,
            );
        }
        Some(description)
    }

    fn queue(&mut self, node: &Node, path: &str, owner: Span) -> Queue {
        let f = self.fields(node, path, owner, QUEUE_KEYS);
        let visibility_timeout_secs = self
            .opt_u32(&f, "visibility_timeout", 0..=43_200, " seconds")
            .unwrap_or(DEFAULT_VISIBILITY_TIMEOUT);
        let retention_secs = self
            .opt_u32(&f, "retention", 60..=1_209_600, " seconds")
            .unwrap_or(DEFAULT_RETENTION);
        let encryption = self
            .opt_enum(
                &f,
                "encryption",
                &[
                    ("sqs-managed", QueueEncryption::SqsManaged),
                    ("none", QueueEncryption::None),
                ],
            )
            .unwrap_or(QueueEncryption::SqsManaged);
        let dead_letter = self
            .sub_fields(&f, "dead_letter", REDRIVE_KEYS)
            .and_then(|d| {
                let queue = self.name_ref(&d, "queue", RefKind::Queue, true);
                let max_receive_count = self.req_u32(&d, "max_receive_count", 1..=1000, "");
                Some(Redrive {
                    queue: queue?,
                    max_receive_count: max_receive_count?,
                })
            });
        Queue {
            visibility_timeout_secs,
            retention_secs,
            encryption,
            dead_letter,
        }
    }

    fn table(&mut self, node: &Node, path: &str, owner: Span) -> Table {
        let f = self.fields(node, path, owner, TABLE_KEYS);
        let partition_key = match self.sub_fields(&f, "partition_key", KEY_ATTRIBUTE_KEYS) {
            Some(k) => self.key_attribute(&k),
            None => {
                self.missing(&f, "partition_key");
                None
            }
        };
        let sort_key = self
            .sub_fields(&f, "sort_key", KEY_ATTRIBUTE_KEYS)
            .and_then(|k| self.key_attribute(&k));
        if let (Some(pk), Some(sk)) = (&partition_key, &sort_key) {
            if pk.name == sk.name {
                let p = f.path_of("sort_key.name");
                let span = self.span_at(&p);
                self.error(
                    span,
                    &p,
                    format!(
                        "the sort key must differ from the partition key (both are `{}`)",
                        pk.name
                    ),
                    None,
                );
            }
        }
        let billing = self
            .opt_enum(&f, "billing", &[("on-demand", Billing::OnDemand)])
            .unwrap_or(Billing::OnDemand);
        let point_in_time_recovery = self.opt_bool(&f, "point_in_time_recovery").unwrap_or(false);
        let ttl_attribute = self.opt_str(&f, "ttl_attribute");
        if let Some(ttl) = &ttl_attribute {
            self.check_attribute_name(ttl, &f.path_of("ttl_attribute"));
        }
        let deletion_protection = self.opt_bool(&f, "deletion_protection").unwrap_or(false);
        Table {
            partition_key: partition_key.unwrap_or(KeyAttribute {
                name: String::new(),
                kind: KeyKind::S,
            }),
            sort_key,
            billing,
            point_in_time_recovery,
            ttl_attribute,
            deletion_protection,
        }
    }

    fn key_attribute(&mut self, f: &Fields<'_>) -> Option<KeyAttribute> {
        let name = self.req_str(f, "name");
        if let Some(n) = &name {
            self.check_attribute_name(n, &f.path_of("name"));
        }
        let kind = if f.get("type").is_none() {
            self.missing(f, "type");
            None
        } else {
            self.opt_enum(
                f,
                "type",
                &[("S", KeyKind::S), ("N", KeyKind::N), ("B", KeyKind::B)],
            )
        };
        Some(KeyAttribute {
            name: name?,
            kind: kind?,
        })
    }

    fn check_attribute_name(&mut self, name: &str, path: &str) {
        // DynamoDB key and TTL attribute names are 1 to 255 bytes.
        if name.is_empty() || name.len() > 255 {
            let span = self.span_at(path);
            self.error(
                span,
                path,
                format!(
                    "attribute names are 1 to 255 bytes long, got {}",
                    name.len()
                ),
                None,
            );
        }
    }

    fn function(&mut self, node: &Node, path: &str, owner: Span) -> Function {
        let f = self.fields(node, path, owner, FUNCTION_KEYS);
        let name = last_component(path).to_string();
        let crate_name = self.req_str(&f, "crate").unwrap_or_default();
        if f.get("crate").is_some() && !crate_name.is_empty() {
            if let Err(why) = check_crate_name(&crate_name) {
                let p = f.path_of("crate");
                let span = self.span_at(&p);
                self.error(
                    span,
                    &p,
                    format!("{crate_name:?} is not a valid Cargo package name: {why}"),
                    None,
                );
            }
        }
        let memory_mb = self
            .opt_u32(&f, "memory", 128..=10_240, " MB")
            .unwrap_or(DEFAULT_MEMORY);
        let timeout_secs = self
            .opt_u32(&f, "timeout", 1..=900, " seconds")
            .unwrap_or(DEFAULT_TIMEOUT);
        let architecture = self
            .opt_enum(
                &f,
                "architecture",
                &[
                    ("x86_64", Architecture::X86_64),
                    ("arm64", Architecture::Arm64),
                ],
            )
            .unwrap_or(Architecture::X86_64);
        let environment = self.environment(&f, &name);
        let access = self.access(&f);
        let dead_letter_queue = self.name_ref(&f, "dead_letter_queue", RefKind::Queue, false);
        let async_retry_attempts = self.opt_u32(&f, "async_retry_attempts", 0..=2, "");
        Function {
            crate_name,
            memory_mb,
            timeout_secs,
            architecture,
            environment,
            access,
            dead_letter_queue,
            async_retry_attempts,
        }
    }

    fn environment(&mut self, f: &Fields<'_>, function: &str) -> BTreeMap<String, Template> {
        let mut environment = BTreeMap::new();
        let Some(node) = f.get("environment") else {
            return environment;
        };
        let path = f.path_of("environment");
        let owner = self.key_span(&path);
        let env = self.free_fields(node, &path, owner);
        for entry in env.entries {
            let var_path = join(&path, &entry.key);
            if !is_env_name(&entry.key) {
                self.error(
                    entry.key_span,
                    &var_path,
                    format!("invalid environment variable name `{}`", entry.key),
                    Some("Lambda accepts names of 2 or more characters: a letter, then letters, digits or _".into()),
                );
            } else if RESERVED_ENV.contains(&entry.key.as_str()) {
                self.error(
                    entry.key_span,
                    &var_path,
                    format!("`{}` is reserved by Lambda and cannot be set", entry.key),
                    None,
                );
            }
            let text = match &entry.value.value {
                Value::Scalar(s) => s.text.clone(),
                _ => {
                    let help = matches!(entry.value.value, Value::Null)
                        .then(|| "write \"\" for an empty value".to_string());
                    self.error(
                        entry.value.span,
                        &var_path,
                        format!("expected a string, got {}", describe(&entry.value)),
                        help,
                    );
                    continue;
                }
            };
            if let Some(template) = self.template(&text, &entry.value, &var_path, function) {
                environment.insert(entry.key.clone(), template);
            }
        }
        environment
    }

    /// Split a string into a [`Template`], resolving each reference's kind and attribute
    /// (whether the name exists is checked later).
    fn template(
        &mut self,
        text: &str,
        node: &Node,
        path: &str,
        function: &str,
    ) -> Option<Template> {
        match template::split(text) {
            Err(errors) => {
                for e in errors {
                    let span = self.sub_span(node, text, e.range);
                    self.error(span, path, e.message, e.help);
                }
                None
            }
            Ok(raw) => {
                let mut parts = Vec::new();
                let mut ok = true;
                for part in raw {
                    match part {
                        RawPart::Literal(s) => parts.push(TemplatePart::Literal(s)),
                        RawPart::Ref(r) => {
                            let span = self.sub_span(node, text, r.range.clone());
                            match self.resolve_ref(&r.section, &r.attribute, span, path) {
                                Some((kind, attribute)) => {
                                    let reference = Ref {
                                        kind,
                                        name: r.name.clone(),
                                        attribute,
                                    };
                                    self.env_refs.push(EnvRef {
                                        function: function.to_string(),
                                        path: path.to_string(),
                                        span,
                                        reference: reference.clone(),
                                    });
                                    parts.push(TemplatePart::Ref(reference));
                                }
                                None => ok = false,
                            }
                        }
                    }
                }
                ok.then_some(Template { parts })
            }
        }
    }

    fn resolve_ref(
        &mut self,
        section: &str,
        attribute: &str,
        span: Span,
        path: &str,
    ) -> Option<(RefKind, RefAttribute)> {
        const SECTIONS: &[(&str, RefKind)] = &[
            ("buses", RefKind::Bus),
            ("queues", RefKind::Queue),
            ("tables", RefKind::Table),
            ("functions", RefKind::Function),
        ];
        let Some(&(_, kind)) = SECTIONS.iter().find(|(s, _)| *s == section) else {
            let help = match suggest(section, SECTIONS.iter().map(|(s, _)| *s)) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "references start with buses, queues, tables or functions".into(),
            };
            self.error(
                span,
                path,
                format!("unknown section `{section}` in reference"),
                Some(help),
            );
            return None;
        };
        let allowed: &[(&str, RefAttribute)] = match kind {
            RefKind::Queue => &[
                ("name", RefAttribute::Name),
                ("arn", RefAttribute::Arn),
                ("url", RefAttribute::Url),
            ],
            _ => &[("name", RefAttribute::Name), ("arn", RefAttribute::Arn)],
        };
        match allowed.iter().find(|(a, _)| *a == attribute) {
            Some(&(_, a)) => Some((kind, a)),
            None => {
                let names: Vec<&str> = allowed.iter().map(|(a, _)| *a).collect();
                let help = match suggest(attribute, names.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("{section} have: {}", names.join(", ")),
                };
                self.error(
                    span,
                    path,
                    format!("{section} have no attribute `{attribute}`"),
                    Some(help),
                );
                None
            }
        }
    }

    /// The span of `range` (bytes of the scalar's value) in the file, when the value is
    /// written verbatim on one line; otherwise the whole scalar.
    fn sub_span(&self, node: &Node, value: &str, range: std::ops::Range<usize>) -> Span {
        let text = self.report.text();
        let raw = text
            .get(node.span.offset..node.span.offset + node.span.len)
            .unwrap_or("");
        let inner_start = if raw.starts_with('"') || raw.starts_with('\'') {
            1
        } else {
            0
        };
        let inner = raw.get(inner_start..inner_start + value.len());
        if inner == Some(value) && !value.contains('\n') {
            let before = &value[..range.start];
            Span {
                line: node.span.line,
                column: node.span.column + inner_start + before.chars().count(),
                offset: node.span.offset + inner_start + range.start,
                len: range.len(),
            }
        } else {
            node.span
        }
    }

    fn access(&mut self, f: &Fields<'_>) -> Vec<Access> {
        let mut access: Vec<Access> = Vec::new();
        // Index in the file of each kept entry, for messages.
        let mut written_at: Vec<usize> = Vec::new();
        let items = self.list(f, "access");
        let list_path = f.path_of("access");
        for (i, item) in items.iter().enumerate() {
            let path = format!("{list_path}[{i}]");
            let e = self.fields(item, &path, item.span, ACCESS_KEYS);
            if e.broken {
                continue;
            }
            let kinds: Vec<&str> = ["bus", "queue", "table"]
                .into_iter()
                .filter(|k| e.get(k).is_some())
                .collect();
            let kind = match kinds.as_slice() {
                [one] => *one,
                [] => {
                    self.error(
                        item.span,
                        &path,
                        "an access entry names exactly one of bus, queue or table",
                        Some("e.g. { queue: orders, verb: send }".into()),
                    );
                    continue;
                }
                _ => {
                    self.error(
                        item.span,
                        &path,
                        format!(
                            "an access entry names exactly one of bus, queue or table, got {}",
                            kinds.join(" and ")
                        ),
                        Some("write one entry per resource".into()),
                    );
                    continue;
                }
            };
            let ref_kind = match kind {
                "bus" => RefKind::Bus,
                "queue" => RefKind::Queue,
                _ => RefKind::Table,
            };
            let name = self.name_ref(&e, kind, ref_kind, true);
            let verb_text = self.req_str(&e, "verb");
            let (Some(name), Some(verb_text)) = (name, verb_text) else {
                continue;
            };
            let verbs: &[(&str, Verb)] = match kind {
                "bus" => &[("publish", Verb::Publish)],
                "queue" => &[("send", Verb::Send), ("consume", Verb::Consume)],
                _ => &[
                    ("read", Verb::Read),
                    ("write", Verb::Write),
                    ("delete", Verb::Delete),
                ],
            };
            let Some(&(_, verb)) = verbs.iter().find(|(v, _)| *v == verb_text) else {
                let names: Vec<&str> = verbs.iter().map(|(v, _)| *v).collect();
                let verb_path = e.path_of("verb");
                let span = self.span_at(&verb_path);
                let help = suggest(&verb_text, names.iter().copied())
                    .map(|s| format!("did you mean `{s}`?"));
                self.error(
                    span,
                    &verb_path,
                    format!(
                        "verb for a {kind} must be {}, got {verb_text:?}",
                        names.join(" or ")
                    ),
                    help,
                );
                continue;
            };
            let target = match kind {
                "bus" => AccessTarget::Bus(name),
                "queue" => AccessTarget::Queue(name),
                _ => AccessTarget::Table(name),
            };
            let entry = Access { target, verb };
            if let Some(first) = access.iter().position(|a| *a == entry) {
                let first_line = self
                    .span_at(&format!("{list_path}[{}]", written_at[first]))
                    .line;
                self.error(
                    item.span,
                    &path,
                    format!("duplicate access entry (same as the one at line {first_line})"),
                    None,
                );
                continue;
            }
            access.push(entry);
            written_at.push(i);
        }
        access
    }

    fn rule(&mut self, node: &Node, path: &str, owner: Span) -> Rule {
        let f = self.fields(node, path, owner, RULE_KEYS);
        let bus = self
            .name_ref(&f, "bus", RefKind::Bus, true)
            .unwrap_or_default();
        let description = self.description(&f);
        let event_pattern = match f.get("event_pattern") {
            None => {
                self.missing(&f, "event_pattern");
                serde_json::Value::Null
            }
            Some(pattern) => self.event_pattern(pattern, &f.path_of("event_pattern")),
        };
        let mut targets = Vec::new();
        if f.get("targets").is_none() {
            self.missing(&f, "targets");
        }
        let items = self.list(&f, "targets");
        let list_path = f.path_of("targets");
        if items.is_empty() && f.get("targets").is_some() {
            let span = self.span_at(&list_path);
            self.error(span, &list_path, "a rule needs at least one target", None);
        }
        for (i, item) in items.iter().enumerate() {
            let tpath = format!("{list_path}[{i}]");
            let t = self.fields(item, &tpath, item.span, TARGET_KEYS);
            // Broken targets stay as placeholders so indices match the file.
            let function = self.name_ref(&t, "function", RefKind::Function, true);
            let retry = self.sub_fields(&t, "retry", RETRY_KEYS);
            let (attempts, age) = match retry {
                Some(r) => (
                    self.opt_u32(&r, "maximum_attempts", 0..=185, ""),
                    self.opt_u32(&r, "maximum_event_age", 60..=86_400, " seconds"),
                ),
                None => (None, None),
            };
            let dead_letter_queue = self.name_ref(&t, "dead_letter_queue", RefKind::Queue, false);
            targets.push(RuleTarget {
                function: function.unwrap_or_default(),
                maximum_retry_attempts: attempts.unwrap_or(DEFAULT_TARGET_RETRY_ATTEMPTS),
                maximum_event_age_secs: age.unwrap_or(DEFAULT_TARGET_EVENT_AGE),
                dead_letter_queue,
            });
        }
        Rule {
            bus,
            description,
            event_pattern,
            targets,
        }
    }

    /// Any mapping, converted to JSON, checked against EventBridge's pattern grammar: every
    /// field maps to a list of values (or a nested mapping).
    fn event_pattern(&mut self, node: &Node, path: &str) -> serde_json::Value {
        match &node.value {
            Value::Map(entries) if !entries.is_empty() => {}
            _ => {
                self.error(
                    node.span,
                    path,
                    format!("expected a non-empty mapping, got {}", describe(node)),
                    Some("e.g. { source: [orderflow.orders], detail-type: [OrderPlaced] }".into()),
                );
                return serde_json::Value::Null;
            }
        }
        self.check_pattern_object(node, path);
        let json = self.json_of(node, path);
        let length = json.to_string().chars().count();
        if length > MAX_EVENT_PATTERN {
            self.error(
                node.span,
                path,
                format!("the event pattern is {length} characters as JSON; EventBridge allows at most {MAX_EVENT_PATTERN}"),
                None,
            );
        }
        json
    }

    fn check_pattern_object(&mut self, node: &Node, path: &str) {
        let Some(entries) = node.as_map() else { return };
        for entry in entries {
            let p = join(path, &entry.key);
            match &entry.value.value {
                Value::Map(inner) if !inner.is_empty() => self.check_pattern_object(&entry.value, &p),
                Value::Seq(items) if !items.is_empty() => {
                    for (i, item) in items.iter().enumerate() {
                        let ip = format!("{p}[{i}]");
                        match &item.value {
                            // `$or` lists alternative patterns; elsewhere a mapping in a list
                            // is a content filter ({prefix: ...}, {numeric: [...]}, ...).
                            Value::Map(_) if entry.key == "$or" => self.check_pattern_object(item, &ip),
                            Value::Seq(_) => self.error(
                                item.span,
                                &ip,
                                "lists in an event pattern hold values or filters, not lists",
                                None,
                            ),
                            _ => {}
                        }
                    }
                }
                _ => self.error(
                    entry.value.span,
                    &p,
                    format!(
                        "event pattern fields must be a non-empty list of values to match or a nested mapping, got {}",
                        describe(&entry.value)
                    ),
                    Some("wrap the value in a list, e.g. [OrderPlaced]".into()),
                ),
            }
        }
    }

    fn json_of(&mut self, node: &Node, path: &str) -> serde_json::Value {
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

    fn trigger(&mut self, node: &Node, path: &str, owner: Span) -> Trigger {
        let f = self.fields(node, path, owner, TRIGGER_KEYS);
        let queue = self
            .name_ref(&f, "queue", RefKind::Queue, true)
            .unwrap_or_default();
        let function = self
            .name_ref(&f, "function", RefKind::Function, true)
            .unwrap_or_default();
        let batch_size = self
            .opt_u32(&f, "batch_size", 1..=10_000, "")
            .unwrap_or(DEFAULT_BATCH_SIZE);
        let batching_window_secs = self
            .opt_u32(&f, "batching_window", 0..=300, " seconds")
            .unwrap_or(0);
        let report_batch_item_failures = self
            .opt_bool(&f, "report_batch_item_failures")
            .unwrap_or(true);
        let maximum_concurrency = self.opt_u32(&f, "maximum_concurrency", 2..=1000, "");
        let enabled = self.opt_bool(&f, "enabled").unwrap_or(true);
        Trigger {
            queue,
            function,
            batch_size,
            batching_window_secs,
            report_batch_item_failures,
            maximum_concurrency,
            enabled,
        }
    }

    // ----- checks across resources ----------------------------------------------------------

    fn check_references(&mut self, spec: &Spec) {
        let names = std::mem::take(&mut self.name_refs);
        for r in &names {
            if !is_declared(spec, r.kind, &r.name) {
                let span = self.span_at(&r.path);
                self.dangling(spec, r.kind, &r.name, span, &r.path);
            }
        }
        let envs = std::mem::take(&mut self.env_refs);
        for r in &envs {
            if !is_declared(spec, r.reference.kind, &r.reference.name) {
                self.dangling(spec, r.reference.kind, &r.reference.name, r.span, &r.path);
            }
        }
        self.env_refs = envs;
    }

    fn dangling(&mut self, spec: &Spec, kind: RefKind, name: &str, span: Span, path: &str) {
        let declared = declared_names(spec, kind);
        let plural = section_name(kind);
        let help = match suggest(name, declared.iter().copied()) {
            Some(close) => format!("did you mean `{close}`?"),
            None if declared.is_empty() => format!("no {plural} are declared"),
            None => format!("declared {plural}: {}", declared.join(", ")),
        };
        self.error(
            span,
            path,
            format!("no {} named `{name}` is declared", kind_name(kind)),
            Some(help),
        );
    }

    /// Dead-letter chains: no self-redrive, no cycles, and a DLQ keeps messages longer than
    /// its source (a message's age counts from its first enqueue, so a DLQ with a shorter or
    /// equal retention would drop moved messages early).
    fn check_queues(&mut self, spec: &Spec) {
        let mut reported_cycles: BTreeSet<Vec<String>> = BTreeSet::new();
        for (name, queue) in &spec.queues {
            let Some(redrive) = &queue.dead_letter else {
                continue;
            };
            let path = format!("queues.{name}.dead_letter.queue");
            if redrive.queue == *name {
                let span = self.span_at(&path);
                self.error(
                    span,
                    &path,
                    "a queue cannot be its own dead-letter queue",
                    None,
                );
                continue;
            }
            let Some(dlq) = spec.queues.get(&redrive.queue) else {
                continue;
            };

            if dlq.retention_secs <= queue.retention_secs {
                let dlq_path = format!("queues.{}.retention", redrive.queue);
                let span = self.span_at(&dlq_path);
                let written = self.value_spans.contains_key(&dlq_path);
                self.error(
                    span,
                    &dlq_path,
                    format!(
                        "must be greater than the retention of queue {name} ({} s), which uses it as dead-letter queue, got {}{}",
                        queue.retention_secs,
                        dlq.retention_secs,
                        if written { "" } else { " (the default)" }
                    ),
                    Some("a message's age counts from when it was first sent, so the dead-letter queue must keep messages longer; e.g. retention: 1209600 (14 days)".into()),
                );
            }

            // Follow the chain from here; a cycle is reported once, at its smallest member.
            let mut chain = vec![name.clone()];
            let mut current = redrive.queue.clone();
            while let Some(next) = spec.queues.get(&current) {
                if let Some(pos) = chain.iter().position(|c| *c == current) {
                    let mut cycle = chain[pos..].to_vec();
                    let mut key = cycle.clone();
                    key.sort();
                    if pos == 0 && reported_cycles.insert(key) {
                        cycle.push(current.clone());
                        let span = self.span_at(&path);
                        self.error(
                            span,
                            &path,
                            format!("dead-letter queues form a cycle: {}", cycle.join(" → ")),
                            None,
                        );
                    }
                    break;
                }
                chain.push(current.clone());
                match &next.dead_letter {
                    Some(r) if r.queue != current => current = r.queue.clone(),
                    _ => break,
                }
            }
        }
    }

    /// Functions may reference each other in their environment; the one created first could
    /// not know the other's name or ARN if they reference each other.
    fn check_function_cycles(&mut self, spec: &Spec) {
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut self_refs = Vec::new();
        for r in &self.env_refs {
            if r.reference.kind != RefKind::Function
                || !spec.functions.contains_key(&r.reference.name)
            {
                continue;
            }
            if r.reference.name == r.function {
                self_refs.push((r.span, r.path.clone(), r.reference.attribute));
                continue;
            }
            edges
                .entry(r.function.clone())
                .or_default()
                .insert(r.reference.name.clone());
        }
        for (span, path, attribute) in self_refs {
            let help = match attribute {
                RefAttribute::Arn => {
                    "read the ARN at run time from the invocation context (invoked_function_arn)"
                }
                _ => "read the name at run time from AWS_LAMBDA_FUNCTION_NAME, which Lambda sets",
            };
            self.error(
                span,
                &path,
                "a function cannot reference itself in its environment",
                Some(help.into()),
            );
        }

        let mut cycles: Vec<Vec<String>> = Vec::new();
        let mut reported: BTreeSet<Vec<String>> = BTreeSet::new();
        for start in edges.keys() {
            // Depth-first search for paths back to `start`, only through members greater
            // than it: each cycle is found from its smallest member.
            let mut stack: Vec<Vec<&String>> = vec![vec![start]];
            while let Some(path) = stack.pop() {
                let Some(last) = path.last() else { continue };
                for next in edges.get(*last).into_iter().flatten() {
                    if next == start {
                        let members: Vec<String> = path.iter().map(|s| s.to_string()).collect();
                        let mut key = members.clone();
                        key.sort();
                        if reported.insert(key) {
                            cycles.push(members);
                        }
                    } else if next > start && !path.contains(&next) {
                        let mut longer = path.clone();
                        longer.push(next);
                        stack.push(longer);
                    }
                }
            }
        }
        for cycle in cycles {
            let first = &cycle[0];
            let second = cycle.get(1).unwrap_or(first);
            let at = self
                .env_refs
                .iter()
                .find(|r| {
                    r.function == *first
                        && r.reference.kind == RefKind::Function
                        && r.reference.name == *second
                })
                .map(|r| (r.span, r.path.clone()));
            let Some((span, path)) = at else { continue };
            let mut shown = cycle.clone();
            shown.push(first.clone());
            self.error(
                span,
                &path,
                format!("functions reference each other in their environment: {}", shown.join(" → ")),
                Some("one of them has to be created first and cannot know the other's name or ARN; pass it another way (e.g. in the event)".into()),
            );
        }
    }

    fn check_triggers(&mut self, spec: &Spec) {
        let mut seen: BTreeMap<(&str, &str), &str> = BTreeMap::new();
        for (name, trigger) in &spec.triggers {
            let base = format!("triggers.{name}");
            let first = *seen
                .entry((&trigger.queue, &trigger.function))
                .or_insert(name.as_str());
            if first != name && !trigger.queue.is_empty() && !trigger.function.is_empty() {
                let span = self.key_span(&base);
                self.error(
                    span,
                    &base,
                    format!(
                        "trigger {first} already connects queue {} to function {}",
                        trigger.queue, trigger.function
                    ),
                    Some("Lambda allows one event source mapping per queue and function".into()),
                );
            }
            if trigger.batch_size > 10 && trigger.batching_window_secs < 1 {
                let p = format!("{base}.batch_size");
                let span = self.span_at(&p);
                self.error(
                    span,
                    &p,
                    format!("a batch size above 10 needs batching_window of at least 1 second, got batch_size {} with batching_window {}", trigger.batch_size, trigger.batching_window_secs),
                    Some("set batching_window: 1 (or more), or a batch_size of at most 10".into()),
                );
            }
            let (Some(queue), Some(function)) = (
                spec.queues.get(&trigger.queue),
                spec.functions.get(&trigger.function),
            ) else {
                continue;
            };
            let needed = VISIBILITY_FACTOR * function.timeout_secs;
            if queue.visibility_timeout_secs < needed {
                let vis_path = format!("queues.{}.visibility_timeout", trigger.queue);
                let help = Some(format!(
                    "set queues.{}.visibility_timeout to {needed} or more, or lower the function's timeout",
                    trigger.queue
                ));
                if self.value_spans.contains_key(&vis_path) {
                    let span = self.span_at(&vis_path);
                    self.error(
                        span,
                        &vis_path,
                        format!(
                            "must be at least {VISIBILITY_FACTOR} × the timeout of function {} ({} s) = {needed} s, got {}",
                            trigger.function, function.timeout_secs, queue.visibility_timeout_secs
                        ),
                        help,
                    );
                } else {
                    let p = format!("{base}.queue");
                    let span = self.span_at(&p);
                    self.error(
                        span,
                        &p,
                        format!(
                            "queue {} has the default visibility_timeout of {} s; it must be at least {VISIBILITY_FACTOR} × the timeout of function {} ({} s) = {needed} s",
                            trigger.queue, queue.visibility_timeout_secs, trigger.function, function.timeout_secs
                        ),
                        help,
                    );
                }
            }
        }
    }

    fn check_rules(&mut self, spec: &Spec) {
        for (name, rule) in &spec.rules {
            let base = format!("rules.{name}.targets");
            if rule.targets.len() > MAX_RULE_TARGETS {
                let p = format!("{base}[{MAX_RULE_TARGETS}]");
                let span = self.span_at(&p);
                self.error(
                    span,
                    &base,
                    format!(
                        "EventBridge allows at most {MAX_RULE_TARGETS} targets per rule, got {}",
                        rule.targets.len()
                    ),
                    Some("split the targets over several rules with the same pattern".into()),
                );
            }
            for (i, target) in rule.targets.iter().enumerate() {
                if target.function.is_empty() {
                    continue;
                }
                if let Some(first) = rule.targets[..i]
                    .iter()
                    .position(|t| t.function == target.function)
                {
                    let p = format!("{base}[{i}].function");
                    let span = self.span_at(&p);
                    self.error(
                        span,
                        &p,
                        format!(
                            "function {} is already a target of this rule (targets[{first}])",
                            target.function
                        ),
                        None,
                    );
                }
            }
        }
    }

    /// Physical names are `<stack>-<logical>`; each service limits their length.
    fn check_physical_names(&mut self, spec: &Spec) {
        let checks: [(&str, Vec<&String>, usize, usize, &str); 5] = [
            (
                "functions",
                spec.functions.keys().collect(),
                1,
                64,
                "Lambda function and IAM role names",
            ),
            (
                "queues",
                spec.queues.keys().collect(),
                1,
                80,
                "SQS queue names",
            ),
            (
                "rules",
                spec.rules.keys().collect(),
                1,
                64,
                "EventBridge rule names",
            ),
            (
                "buses",
                spec.buses.keys().collect(),
                1,
                256,
                "EventBridge event bus names",
            ),
            (
                "tables",
                spec.tables.keys().collect(),
                3,
                255,
                "DynamoDB table names",
            ),
        ];
        for (section, names, min, max, what) in checks {
            for name in names {
                let physical = format!("{}-{name}", spec.stack);
                let len = physical.chars().count();
                if len < min || len > max {
                    let path = format!("{section}.{name}");
                    let span = self.key_span(&path);
                    self.error(
                        span,
                        &path,
                        format!("physical name `{physical}` is {len} characters; {what} are {min} to {max} characters"),
                        Some("shorten the name or the stack name".into()),
                    );
                }
            }
        }
    }
}

/// Triggers imply `consume` on their queue and a function's dead-letter queue implies
/// `send`; the result is sorted and free of duplicates.
fn add_implied_access(spec: &mut Spec) {
    for trigger in spec.triggers.values() {
        if let Some(function) = spec.functions.get_mut(&trigger.function) {
            function.access.push(Access {
                target: AccessTarget::Queue(trigger.queue.clone()),
                verb: Verb::Consume,
            });
        }
    }
    for function in spec.functions.values_mut() {
        if let Some(dlq) = &function.dead_letter_queue {
            function.access.push(Access {
                target: AccessTarget::Queue(dlq.clone()),
                verb: Verb::Send,
            });
        }
        function
            .access
            .sort_by(|a, b| (&a.target, a.verb).cmp(&(&b.target, b.verb)));
        function.access.dedup();
    }
}

// ----- small helpers ----------------------------------------------------------------------

fn kind_name(kind: RefKind) -> &'static str {
    match kind {
        RefKind::Bus => "bus",
        RefKind::Queue => "queue",
        RefKind::Table => "table",
        RefKind::Function => "function",
    }
}

fn section_name(kind: RefKind) -> &'static str {
    match kind {
        RefKind::Bus => "buses",
        RefKind::Queue => "queues",
        RefKind::Table => "tables",
        RefKind::Function => "functions",
    }
}

fn declared_names(spec: &Spec, kind: RefKind) -> Vec<&str> {
    match kind {
        RefKind::Bus => spec.buses.keys().map(String::as_str).collect(),
        RefKind::Queue => spec.queues.keys().map(String::as_str).collect(),
        RefKind::Table => spec.tables.keys().map(String::as_str).collect(),
        RefKind::Function => spec.functions.keys().map(String::as_str).collect(),
    }
}

fn is_declared(spec: &Spec, kind: RefKind, name: &str) -> bool {
    match kind {
        RefKind::Bus => spec.buses.contains_key(name),
        RefKind::Queue => spec.queues.contains_key(name),
        RefKind::Table => spec.tables.contains_key(name),
        RefKind::Function => spec.functions.contains_key(name),
    }
}

fn first_position() -> Span {
    Span {
        line: 1,
        column: 1,
        offset: 0,
        len: 0,
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// `a.b[2]` → `a.b`; `a.b` → `a`; `a` → none.
fn parent(path: &str) -> Option<&str> {
    if path.ends_with(']') {
        return path.rfind('[').map(|i| &path[..i]);
    }
    path.rfind('.').map(|i| &path[..i])
}

fn last_component(path: &str) -> &str {
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
fn describe(node: &Node) -> String {
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
fn parse_int(text: &str) -> Option<Result<i64, ()>> {
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

fn is_float(text: &str) -> bool {
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

fn is_special_float(text: &str) -> bool {
    let t = text.strip_prefix(['-', '+']).unwrap_or(text);
    matches!(t, ".inf" | ".Inf" | ".INF") || matches!(text, ".nan" | ".NaN" | ".NAN")
}

/// `^[a-z][a-z0-9-]{0,23}$`
fn check_stack(name: &str) -> Result<(), String> {
    check_logical_name(name)?;
    if name.len() > 24 {
        return Err(format!("at most 24 characters, got {}", name.len()));
    }
    Ok(())
}

/// `^[a-z][a-z0-9-]*$`
fn check_logical_name(name: &str) -> Result<(), String> {
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

/// What Cargo accepts as a package name (and crates.io's 64-character limit).
fn check_crate_name(name: &str) -> Result<(), String> {
    let first = name.chars().next().ok_or("must not be empty")?;
    if !first.is_ascii_alphabetic() {
        return Err("must start with a letter".into());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "`{bad}` is not allowed (letters, digits, - and _ only)"
        ));
    }
    if name.len() > 64 {
        return Err(format!("at most 64 characters, got {}", name.len()));
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

/// Lambda's pattern for variable names: `[a-zA-Z][a-zA-Z0-9_]+`.
fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Characters AWS accepts in tag keys and values: `[\p{L}\p{Z}\p{N}_.:/=+\-@]`.
fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || (c.is_whitespace() && !c.is_control()) || "_.:/=+-@".contains(c)
}
