//! `rules:` — EventBridge rules `<stack>-<rule>` on a declared bus, each target a function.
//!
//! Besides the rule, each target contributes the Lambda permission that lets EventBridge invoke
//! the function (scoped to the rule), and each target dead-letter queue its queue policy
//! (`crate::kinds::queue::QueuePolicyProvider`), which then lets EventBridge send to it.

pub(crate) mod permission;
pub(crate) mod provider;

pub use permission::PermissionProvider;
pub use provider::RuleProvider;

use super::{Kind, KindSpec, Section, Spec};
use crate::resources::ResourceId;
use crate::spec::decode::{Checker, Fields};
use crate::spec::schema::{Field, NameLimit, Type};
use crate::spec::text::{describe, join};
use crate::spec::yaml::{Node, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Logical name of the bus (a key of `Spec::buses`).
    pub bus: String,
    pub description: Option<String>,
    /// EventBridge event pattern, as JSON.
    pub event_pattern: serde_json::Value,
    pub targets: Vec<RuleTarget>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleTarget {
    /// Logical name of the function invoked.
    pub function: String,
    /// EventBridge retry policy: 0..=185 attempts (default 185).
    pub maximum_retry_attempts: u32,
    /// Seconds, 60..=86400 (default 86400).
    pub maximum_event_age_secs: u32,
    /// Queue (logical name) for events EventBridge could not deliver.
    pub dead_letter_queue: Option<String>,
}

const MAX_RULE_TARGETS: usize = 5;
/// PutRule's hard limit; the default account quota is 2048 and can be raised to this.
const MAX_EVENT_PATTERN: usize = 4096;

const BUS: Field = Field::name("bus", Section::Bus, "Logical name of a bus in `buses`.").required();
const DESCRIPTION: Field = Field::string("description", "At most 512 characters.");
const EVENT_PATTERN: Field = Field::new(
    "event_pattern",
    Type::Pattern,
    "EventBridge event pattern: a non-empty mapping, converted to JSON as written.",
)
.required();
const FUNCTION: Field =
    Field::name("function", Section::Function, "Logical name of a function.").required();
const MAXIMUM_ATTEMPTS: Field = Field::integer(
    "maximum_attempts",
    0,
    185,
    "",
    Some(185),
    "Delivery attempts before the event is dropped or sent to the dead-letter queue.",
);
const MAXIMUM_EVENT_AGE: Field = Field::integer(
    "maximum_event_age",
    60,
    86_400,
    " seconds",
    Some(86_400),
    "How long EventBridge keeps trying to deliver an event.",
);
const RETRY: Field = Field::mapping(
    "retry",
    &[MAXIMUM_ATTEMPTS, MAXIMUM_EVENT_AGE],
    "EventBridge retry policy.",
);
const TARGET_DEAD_LETTER_QUEUE: Field = Field::name(
    "dead_letter_queue",
    Section::Queue,
    "Queue for events EventBridge could not deliver.",
);
const TARGETS: Field = Field::list(
    "targets",
    &[FUNCTION, RETRY, TARGET_DEAD_LETTER_QUEUE],
    "1 to 5 functions to invoke, each at most once.",
)
.required();

impl KindSpec for Rule {
    const SECTION: Section = Section::Rule;
    const SINGULAR: &'static str = "rule";
    const DOC: &'static str = "EventBridge rules: an event pattern on a bus and the functions it delivers matching events to.";
    const RESOURCE: Kind = Kind::Rule;
    const FIELDS: &'static [Field] = &[BUS, DESCRIPTION, EVENT_PATTERN, TARGETS];
    const PHYSICAL_NAME: Option<NameLimit> = Some(NameLimit {
        min: 1,
        max: 64,
        what: "EventBridge rule names",
    });

    fn decode(cx: &mut Checker<'_, '_>, f: &Fields<'_>, _name: &str) -> Rule {
        let bus = cx.name(f, &BUS).unwrap_or_default();
        let description = super::bus::description(cx, f, &DESCRIPTION);
        let event_pattern = match f.get(EVENT_PATTERN.key) {
            None => {
                cx.missing(f, EVENT_PATTERN.key);
                serde_json::Value::Null
            }
            Some(pattern) => event_pattern(cx, pattern, &f.path_of(EVENT_PATTERN.key)),
        };
        let mut targets = Vec::new();
        if f.get(TARGETS.key).is_none() {
            cx.missing(f, TARGETS.key);
        }
        let items = cx.list(f, &TARGETS);
        let list_path = f.path_of(TARGETS.key);
        if items.is_empty() && f.get(TARGETS.key).is_some() {
            let span = cx.span_at(&list_path);
            cx.error(span, &list_path, "a rule needs at least one target", None);
        }
        for (i, item) in items.iter().enumerate() {
            let tpath = format!("{list_path}[{i}]");
            let t = cx.fields(item, &tpath, item.span, TARGETS.sub_fields());
            // Broken targets stay as placeholders so indices match the file.
            let function = cx.name(&t, &FUNCTION);
            let (attempts, age) = match cx.mapping(&t, &RETRY) {
                Some(r) => (
                    cx.int(&r, &MAXIMUM_ATTEMPTS),
                    cx.int(&r, &MAXIMUM_EVENT_AGE),
                ),
                None => (None, None),
            };
            let dead_letter_queue = cx.name(&t, &TARGET_DEAD_LETTER_QUEUE);
            targets.push(RuleTarget {
                function: function.unwrap_or_default(),
                maximum_retry_attempts: attempts.unwrap_or_else(|| MAXIMUM_ATTEMPTS.default_int()),
                maximum_event_age_secs: age.unwrap_or_else(|| MAXIMUM_EVENT_AGE.default_int()),
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

    fn check(cx: &mut Checker<'_, '_>, spec: &Spec) {
        check_targets(cx, spec);
    }

    /// The rule, a permission per target (`<rule>/<function>`) and a queue policy per target
    /// dead-letter queue (shared by the rules that use the same queue).
    fn resources(&self, name: &str, out: &mut Vec<ResourceId>) {
        out.push(ResourceId::new(Kind::Rule, name));
        for t in &self.targets {
            out.push(ResourceId::new(
                Kind::Permission,
                format!("{name}/{}", t.function),
            ));
            if let Some(q) = &t.dead_letter_queue {
                out.push(ResourceId::new(Kind::QueuePolicy, q.clone()));
            }
        }
    }
}

/// Any mapping, converted to JSON, checked against EventBridge's pattern grammar: every
/// field maps to a list of values (or a nested mapping).
fn event_pattern(cx: &mut Checker<'_, '_>, node: &Node, path: &str) -> serde_json::Value {
    if !super::non_empty_mapping(
        cx,
        node,
        path,
        "e.g. { source: [orderflow.orders], detail-type: [OrderPlaced] }",
    ) {
        return serde_json::Value::Null;
    }
    check_pattern_object(cx, node, path);
    let json = cx.json_of(node, path);
    let length = json.to_string().chars().count();
    if length > MAX_EVENT_PATTERN {
        cx.error(
            node.span,
            path,
            format!("the event pattern is {length} characters as JSON; EventBridge allows at most {MAX_EVENT_PATTERN}"),
            None,
        );
    }
    json
}

fn check_pattern_object(cx: &mut Checker<'_, '_>, node: &Node, path: &str) {
    let Some(entries) = node.as_map() else { return };
    for entry in entries {
        let p = join(path, &entry.key);
        match &entry.value.value {
            Value::Map(inner) if !inner.is_empty() => check_pattern_object(cx, &entry.value, &p),
            Value::Seq(items) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    let ip = format!("{p}[{i}]");
                    match &item.value {
                        // `$or` lists alternative patterns; elsewhere a mapping in a list
                        // is a content filter ({prefix: ...}, {numeric: [...]}, ...).
                        Value::Map(_) if entry.key == "$or" => check_pattern_object(cx, item, &ip),
                        Value::Seq(_) => cx.error(
                            item.span,
                            &ip,
                            "lists in an event pattern hold values or filters, not lists",
                            None,
                        ),
                        _ => {}
                    }
                }
            }
            _ => cx.error(
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

/// At most five targets per rule, each function once.
fn check_targets(cx: &mut Checker<'_, '_>, spec: &Spec) {
    for (name, rule) in &spec.rules {
        let base = format!("rules.{name}.targets");
        if rule.targets.len() > MAX_RULE_TARGETS {
            let p = format!("{base}[{MAX_RULE_TARGETS}]");
            let span = cx.span_at(&p);
            cx.error(
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
                let span = cx.span_at(&p);
                cx.error(
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
