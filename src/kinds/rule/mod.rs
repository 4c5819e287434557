//! `rules:` — EventBridge rules `<stack>-<rule>` on a declared bus, each target a function, a
//! queue or a topic, with the whole event, a part of it (`input_path`) or a text built from it
//! (`input_transformer`).
//!
//! Besides the rule, each target contributes what lets EventBridge deliver to it, scoped to the
//! rule's ARN: the Lambda permission of a function, the queue policy of a queue
//! (`crate::kinds::queue::QueuePolicyProvider`) or the topic policy of a topic
//! (`crate::kinds::topic::TopicPolicyProvider`). Each target dead-letter queue gets its queue
//! policy too, which then lets EventBridge send to it.

pub(crate) mod permission;
pub(crate) mod provider;
mod targets;

pub use permission::PermissionProvider;
pub use provider::RuleProvider;

use std::collections::BTreeMap;

use super::{Kind, KindSpec, Section, Spec};
use crate::resources::ResourceId;
use crate::spec::decode::{Checker, Fields};
use crate::spec::model::Template;
use crate::spec::schema::{Field, NameLimit, Type};
use crate::spec::text::{describe, join};
use crate::spec::yaml::{Node, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Logical name of the bus (a key of `Spec::buses`), or `default` (the account's).
    pub bus: String,
    pub description: Option<String>,
    /// EventBridge event pattern, as JSON; strings with `${...}` references are rendered
    /// from [`Self::pattern_references`] when the rule is written.
    pub event_pattern: serde_json::Value,
    /// The pattern's strings that reference other entries (`${buckets.imports.name}`), by
    /// their text as written.
    pub pattern_references: BTreeMap<String, Template>,
    pub targets: Vec<RuleTarget>,
}

/// Where a rule delivers matching events (serialised as `{"function": name}` and so on).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    /// A function, invoked asynchronously under a Lambda permission scoped to the rule.
    Function(String),
    /// A queue; its queue policy lets EventBridge send for this rule only.
    Queue(String),
    /// A topic; its topic policy lets EventBridge publish for this rule only.
    Topic(String),
    /// Another bus of the stack; EventBridge puts the event there with the rule's service role
    /// (`crate::kinds::service_role`), which may put events on the rule's target buses only.
    Bus(String),
}

impl Destination {
    pub fn section(&self) -> Section {
        match self {
            Destination::Function(_) => Section::Function,
            Destination::Queue(_) => Section::Queue,
            Destination::Topic(_) => Section::Topic,
            Destination::Bus(_) => Section::Bus,
        }
    }

    /// Logical name of the destination in its section.
    pub fn name(&self) -> &str {
        match self {
            Destination::Function(n)
            | Destination::Queue(n)
            | Destination::Topic(n)
            | Destination::Bus(n) => n,
        }
    }

    pub fn function(&self) -> Option<&str> {
        match self {
            Destination::Function(n) => Some(n),
            _ => None,
        }
    }

    /// The graph resource whose `arn` the target points at.
    pub fn resource(&self) -> ResourceId {
        let kind = match self {
            Destination::Function(_) => Kind::Function,
            Destination::Queue(_) => Kind::Queue,
            Destination::Topic(_) => Kind::Topic,
            Destination::Bus(_) => Kind::Bus,
        };
        ResourceId::new(kind, self.name())
    }

    /// The EventBridge target id: a function's logical name (as before other destinations
    /// existed, so deployed function targets keep their ids), `queue-<name>`, `topic-<name>` or
    /// `bus-<name>`.
    /// Logical names are `[a-z0-9-]`, so ids never collide across kinds.
    pub fn target_id(&self) -> String {
        match self {
            Destination::Function(n) => n.clone(),
            Destination::Queue(n) => format!("queue-{n}"),
            Destination::Topic(n) => format!("topic-{n}"),
            Destination::Bus(n) => format!("bus-{n}"),
        }
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.section().singular(), self.name())
    }
}

/// What a target receives of a matching event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TargetInput {
    /// The whole event.
    #[default]
    Event,
    /// The part at a JSONPath (`$.detail`).
    Path(String),
    /// EventBridge's input transformer: named JSONPaths filled into a template.
    Transformer {
        paths: BTreeMap<String, String>,
        template: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleTarget {
    pub destination: Destination,
    pub input: TargetInput,
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

const BUS: Field = Field::name(
    "bus",
    Section::Bus,
    "Logical name of a bus in `buses`, or `default`: the account's default bus, where AWS services (S3...) send their events.",
)
.required();
const DESCRIPTION: Field = Field::string("description", "At most 512 characters.");
const EVENT_PATTERN: Field = Field::new(
    "event_pattern",
    Type::Pattern,
    "EventBridge event pattern: a non-empty mapping, converted to JSON as written.",
)
.required();
const FUNCTION: Field = Field::name(
    "function",
    Section::Function,
    "A function to invoke (asynchronously); a Lambda permission scoped to this rule is derived.",
);
const QUEUE: Field = Field::name(
    "queue",
    Section::Queue,
    "A queue to send the event to; the queue policy gets a statement letting EventBridge send for this rule only.",
);
const TOPIC: Field = Field::name(
    "topic",
    Section::Topic,
    "A topic to publish the event to; the topic policy gets a statement letting EventBridge publish for this rule only.",
);
const TARGET_BUS: Field = Field::name(
    "bus",
    Section::Bus,
    "Another bus in `buses` to put the event on; EventBridge does it with a role derived for this rule, allowed to put events on its target buses only.",
);
const INPUT_PATH: Field = Field::string(
    "input_path",
    "JSONPath of the part of the event to deliver instead of the whole event, e.g. `$.detail`.",
);
const PATHS: Field = Field::new(
    "paths",
    Type::StringMap,
    "Variables taken from the event: name → JSONPath (e.g. `order: $.detail.order_id`), at most 100.",
);
const TEMPLATE: Field = Field::string(
    "template",
    "What is delivered: text or JSON with `<name>` placeholders for the variables of `paths` (and EventBridge's `aws.events.*`), at most 8192 characters.",
)
.required();
const INPUT_TRANSFORMER: Field = Field::mapping(
    "input_transformer",
    &[PATHS, TEMPLATE],
    "Deliver a text or JSON built from parts of the event (EventBridge's input transformer).",
);
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
    &[
        FUNCTION,
        QUEUE,
        TOPIC,
        TARGET_BUS,
        INPUT_PATH,
        INPUT_TRANSFORMER,
        RETRY,
        TARGET_DEAD_LETTER_QUEUE,
    ],
    "1 to 5 destinations, each one of `function`, `queue`, `topic` or `bus`, each at most once.",
)
.required();

impl KindSpec for Rule {
    const SECTION: Section = Section::Rule;
    const SINGULAR: &'static str = "rule";
    const DOC: &'static str = "EventBridge rules: an event pattern on a bus and the functions, queues, topics and buses it delivers matching events to.";
    const RESOURCE: Kind = Kind::Rule;
    const FIELDS: &'static [Field] = &[BUS, DESCRIPTION, EVENT_PATTERN, TARGETS];
    const PHYSICAL_NAME: Option<NameLimit> = Some(NameLimit {
        min: 1,
        max: 64,
        what: "EventBridge rule names",
    });

    fn decode(cx: &mut Checker<'_, '_>, f: &Fields<'_>, _name: &str) -> Rule {
        // `default` is the account's bus, not a declared one (the bus kind refuses the name).
        let bus = match f.get(BUS.key).map(|n| &n.value) {
            Some(Value::Scalar(s)) if s.text == provider::DEFAULT_BUS => s.text.clone(),
            _ => cx.name(f, &BUS).unwrap_or_default(),
        };
        let description = super::bus::description(cx, f, &DESCRIPTION);
        let mut pattern_references = BTreeMap::new();
        let event_pattern = match f.get(EVENT_PATTERN.key) {
            None => {
                cx.missing(f, EVENT_PATTERN.key);
                serde_json::Value::Null
            }
            Some(pattern) => {
                let path = f.path_of(EVENT_PATTERN.key);
                pattern_templates(cx, pattern, &path, &mut pattern_references);
                event_pattern(cx, pattern, &path)
            }
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
            let destination = destination(cx, &t, &tpath);
            let input = target_input(cx, &t);
            let (attempts, age) = match cx.mapping(&t, &RETRY) {
                Some(r) => (
                    cx.int(&r, &MAXIMUM_ATTEMPTS),
                    cx.int(&r, &MAXIMUM_EVENT_AGE),
                ),
                None => (None, None),
            };
            let dead_letter_queue = cx.name(&t, &TARGET_DEAD_LETTER_QUEUE);
            targets.push(RuleTarget {
                destination,
                input,
                maximum_retry_attempts: attempts.unwrap_or_else(|| MAXIMUM_ATTEMPTS.default_int()),
                maximum_event_age_secs: age.unwrap_or_else(|| MAXIMUM_EVENT_AGE.default_int()),
                dead_letter_queue,
            });
        }
        Rule {
            bus,
            description,
            event_pattern,
            pattern_references,
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
            out.push(match &t.destination {
                Destination::Function(f) => {
                    ResourceId::new(Kind::Permission, format!("{name}/{f}"))
                }
                Destination::Queue(q) => ResourceId::new(Kind::QueuePolicy, q.clone()),
                Destination::Topic(t) => ResourceId::new(Kind::TopicPolicy, t.clone()),
                Destination::Bus(_) => crate::kinds::service_role::rule_role(name),
            });
            if let Some(q) = &t.dead_letter_queue {
                out.push(ResourceId::new(Kind::QueuePolicy, q.clone()));
            }
        }
    }
}

/// The one destination of a target (`function`, `queue` or `topic`); a placeholder function
/// with an empty name when there is not exactly one (reported).
fn destination(cx: &mut Checker<'_, '_>, t: &Fields<'_>, path: &str) -> Destination {
    let mut found: Vec<Destination> = Vec::new();
    if let Some(n) = cx.name(t, &FUNCTION) {
        found.push(Destination::Function(n));
    }
    if let Some(n) = cx.name(t, &QUEUE) {
        found.push(Destination::Queue(n));
    }
    if let Some(n) = cx.name(t, &TOPIC) {
        found.push(Destination::Topic(n));
    }
    if let Some(n) = cx.name(t, &TARGET_BUS) {
        found.push(Destination::Bus(n));
    }
    if found.len() != 1 && !t.broken {
        let span = cx.span_at(path);
        cx.error(
            span,
            path,
            format!(
                "a target has exactly one destination: give one of `function`, `queue`, `topic`, `bus` (got {})",
                found.len()
            ),
            Some("put each destination in a target of its own".into()),
        );
    }
    found
        .into_iter()
        .next()
        .unwrap_or(Destination::Function(String::new()))
}

/// InputPath's and a transformer variable's limit.
const MAX_INPUT_PATH: usize = 256;
const MAX_INPUT_TEMPLATE: usize = 8192;
const MAX_TRANSFORMER_PATHS: usize = 100;
/// Variables EventBridge fills in itself; `paths` may not define them.
const PREDEFINED_VARIABLES: &[&str] = &[
    "aws.events.rule-arn",
    "aws.events.rule-name",
    "aws.events.event.ingestion-time",
    "aws.events.event",
    "aws.events.event.json",
];

/// `input_path` or `input_transformer` (not both), checked as EventBridge would at PutTargets.
fn target_input(cx: &mut Checker<'_, '_>, t: &Fields<'_>) -> TargetInput {
    let path = cx.string(t, &INPUT_PATH);
    let transformer = cx.mapping(t, &INPUT_TRANSFORMER);
    if let (Some(_), Some(_)) = (&path, &transformer) {
        let p = t.path_of(INPUT_TRANSFORMER.key);
        let span = cx.key_span(&p);
        cx.error(
            span,
            &p,
            "a target takes `input_path` or `input_transformer`, not both",
            None,
        );
    }
    if let Some(json_path) = path {
        let p = t.path_of(INPUT_PATH.key);
        check_json_path(cx, &p, &json_path);
        return TargetInput::Path(json_path);
    }
    let Some(tf) = transformer else {
        return TargetInput::Event;
    };
    let mut paths = BTreeMap::new();
    if let Some(node) = tf.get(PATHS.key) {
        let ppath = tf.path_of(PATHS.key);
        let vars = cx.free_fields(node, &ppath, node.span);
        if vars.entries.len() > MAX_TRANSFORMER_PATHS {
            cx.error(
                node.span,
                &ppath,
                format!(
                    "EventBridge allows at most {MAX_TRANSFORMER_PATHS} variables, got {}",
                    vars.entries.len()
                ),
                None,
            );
        }
        for entry in vars.entries {
            let vpath = join(&ppath, &entry.key);
            let valid_name = !entry.key.is_empty()
                && entry
                    .key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid_name || entry.key.to_ascii_lowercase().starts_with("aws.") {
                cx.error(
                    entry.key_span,
                    &vpath,
                    format!(
                        "`{}` is not a variable name EventBridge accepts: letters, digits, `_` and `-`, not starting with `aws.`",
                        entry.key
                    ),
                    None,
                );
            }
            if let Some(json_path) = cx.string_value(&entry.value, &vpath) {
                check_json_path(cx, &vpath, &json_path);
                paths.insert(entry.key.clone(), json_path);
            }
        }
    }
    let template = cx.string(&tf, &TEMPLATE).unwrap_or_default();
    let tpath = tf.path_of(TEMPLATE.key);
    if template.chars().count() > MAX_INPUT_TEMPLATE {
        let span = cx.span_at(&tpath);
        cx.error(
            span,
            &tpath,
            format!("EventBridge allows templates of at most {MAX_INPUT_TEMPLATE} characters"),
            None,
        );
    }
    for var in placeholders(&template) {
        if !paths.contains_key(var) && !PREDEFINED_VARIABLES.contains(&var) {
            let span = cx.span_at(&tpath);
            let mut defined: Vec<&str> = paths.keys().map(String::as_str).collect();
            defined.extend(PREDEFINED_VARIABLES);
            cx.error(
                span,
                &tpath,
                format!("the template uses <{var}>, which `paths` does not define"),
                Some(format!("variables: {}", defined.join(", "))),
            );
        }
    }
    TargetInput::Transformer { paths, template }
}

/// The `<name>` placeholders of a template (names of letters, digits, `_`, `-`, `.`).
fn placeholders(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('>') else { break };
        let name = &after[..end];
        if !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            out.push(name);
            rest = &after[end + 1..];
        } else {
            rest = after;
        }
    }
    out
}

/// EventBridge's JSONPath subset: `$`, then `.name` or `[index]` steps.
fn check_json_path(cx: &mut Checker<'_, '_>, path: &str, json_path: &str) {
    let well_formed = json_path == "$"
        || (json_path.starts_with("$.") || json_path.starts_with("$["))
            && !json_path.contains("..")
            && !json_path.ends_with('.');
    let problem = if json_path.chars().count() > MAX_INPUT_PATH {
        Some(format!(
            "EventBridge allows JSONPaths of at most {MAX_INPUT_PATH} characters"
        ))
    } else if !well_formed {
        Some(format!("`{json_path}` is not a JSONPath into the event"))
    } else {
        None
    };
    if let Some(message) = problem {
        let span = cx.span_at(path);
        cx.error(
            span,
            path,
            message,
            Some("e.g. `$.detail` or `$.detail.order_id`".into()),
        );
    }
}

/// The strings of a pattern that hold `${...}` references, parsed (and checked) as templates.
fn pattern_templates(
    cx: &mut Checker<'_, '_>,
    node: &Node,
    path: &str,
    out: &mut BTreeMap<String, Template>,
) {
    match &node.value {
        Value::Scalar(s) if s.text.contains("${") => {
            if let Some(t) = cx.template(&s.text, node, path, path) {
                out.insert(s.text.clone(), t);
            }
        }
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                pattern_templates(cx, item, &format!("{path}[{i}]"), out);
            }
        }
        Value::Map(entries) => {
            for e in entries {
                pattern_templates(cx, &e.value, &join(path, &e.key), out);
            }
        }
        _ => {}
    }
}

/// Any mapping, converted to JSON, checked against EventBridge's pattern grammar: every
/// field maps to a list of values (or a nested mapping).
pub(crate) fn event_pattern(
    cx: &mut Checker<'_, '_>,
    node: &Node,
    path: &str,
) -> serde_json::Value {
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
            let dest = &target.destination;
            if dest.name().is_empty() {
                continue;
            }
            if let Destination::Bus(bus) = dest {
                let p = format!("{base}[{i}].bus");
                if *bus == rule.bus {
                    let span = cx.span_at(&p);
                    cx.error(
                        span,
                        &p,
                        format!("a rule on bus `{bus}` cannot target the same bus: every event it puts there would match again"),
                        Some("target another bus, or a function, queue or topic".into()),
                    );
                }
                let role = crate::kinds::service_role::role_name(
                    &spec.stack,
                    &crate::kinds::service_role::Owner::Rule(name),
                );
                if role.len() > crate::kinds::service_role::MAX_ROLE_NAME {
                    let span = cx.span_at(&p);
                    cx.error(
                        span,
                        &p,
                        format!(
                            "the role EventBridge needs for a bus target would be named `{role}`, longer than IAM's {} characters",
                            crate::kinds::service_role::MAX_ROLE_NAME
                        ),
                        Some("give the rule (or the stack) a shorter name".into()),
                    );
                }
            }
            if let Some(first) = rule.targets[..i]
                .iter()
                .position(|t| t.destination == *dest)
            {
                let p = format!("{base}[{i}].{}", dest.section().singular());
                let span = cx.span_at(&p);
                cx.error(
                    span,
                    &p,
                    format!("{dest} is already a target of this rule (targets[{first}])"),
                    None,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::test_support::errors;

    const HEAD: &str = "stack: shop
buses: { b: {} }
queues: { q: {} }
topics: { t: {} }
functions: { f: { crate: f } }
rules:
  r:
    bus: b
    event_pattern: { source: [x] }
    targets:
";

    #[test]
    fn targets_decode_every_destination_and_input() {
        let text = format!(
            "{HEAD}      - {{ function: f }}
      - {{ queue: q, input_path: $.detail }}
      - topic: t
        input_transformer:
          paths: {{ order: $.detail.order_id, at: $.time }}
          template: '{{\"order\": <order>, \"at\": <at>, \"rule\": \"<aws.events.rule-name>\"}}'
"
        );
        let spec = crate::spec::parse("p.yaml", &text).expect("valid");
        let t = &spec.rules["r"].targets;
        assert_eq!(t[0].destination, Destination::Function("f".into()));
        assert_eq!(t[0].input, TargetInput::Event);
        assert_eq!(t[1].destination, Destination::Queue("q".into()));
        assert_eq!(t[1].destination.target_id(), "queue-q");
        assert_eq!(t[1].input, TargetInput::Path("$.detail".into()));
        assert_eq!(t[2].destination.target_id(), "topic-t");
        let TargetInput::Transformer { paths, template } = &t[2].input else {
            panic!("{:?}", t[2].input)
        };
        assert_eq!(paths["order"], "$.detail.order_id");
        assert!(template.contains("<aws.events.rule-name>"));
        let mut ids: Vec<String> = Vec::new();
        spec.rules["r"].resources("r", &mut Vec::new());
        let mut out = Vec::new();
        spec.rules["r"].resources("r", &mut out);
        ids.extend(out.iter().map(ToString::to_string));
        assert_eq!(
            ids,
            [
                "rule.r",
                "permission.r/f",
                "queue_policy.q",
                "topic_policy.t"
            ]
        );
    }

    #[test]
    fn wrong_targets_are_reported_where_they_are_written() {
        let text = format!(
            "{HEAD}      - {{ function: f, queue: q }}
      - {{ queue: q, input_path: detail }}
      - {{ queue: q }}
      - topic: t
        input_transformer:
          paths: {{ aws.x: $.a, ok: $.b }}
          template: '<ok> <missing>'
      - {{ retry: {{ maximum_attempts: 3 }} }}
      - {{ function: f, input_path: $.a, input_transformer: {{ template: x }} }}
"
        );
        let all = errors(&text).join("\n");
        for expected in [
            "p.yaml:11:9: rules.r.targets[0]: a target has exactly one destination: give one of `function`, `queue`, `topic`, `bus` (got 2)",
            "rules.r.targets[1].input_path: `detail` is not a JSONPath into the event",
            "rules.r.targets[2].queue: queue q is already a target of this rule (targets[1])",
            "rules.r.targets[5].input_transformer: a target takes `input_path` or `input_transformer`, not both",
            "rules.r.targets[3].input_transformer.paths.aws.x: `aws.x` is not a variable name EventBridge accepts",
            "rules.r.targets[3].input_transformer.template: the template uses <missing>, which `paths` does not define",
            "rules.r.targets[4]: a target has exactly one destination: give one of `function`, `queue`, `topic`, `bus` (got 0)",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
    }
}

#[cfg(test)]
mod default_bus_tests {
    use crate::kinds::test_support::errors;
    use crate::kinds::Kind;
    use crate::resources::{Provider, ResourceId};

    #[test]
    fn a_rule_may_listen_on_the_default_bus_which_is_never_the_stacks() {
        let spec = crate::spec::parse(
            "p.yaml",
            "stack: shop\nqueues: { q: {} }\nrules:\n  s3:\n    bus: default\n    event_pattern: { source: [aws.s3] }\n    targets: [{ queue: q }]\n",
        )
        .expect("valid");
        assert_eq!(spec.rules["s3"].bus, "default");
        let deps = crate::kinds::rule::RuleProvider.dependencies(&spec, "s3");
        assert!(
            !deps.contains(&ResourceId::new(Kind::Bus, "default")),
            "{deps:?}"
        );
        let all = errors("stack: shop\nbuses:\n  default: {}\n").join("\n");
        assert!(
            all.contains(
                "p.yaml:3:3: buses.default: `default` names the account's default event bus"
            ),
            "{all}"
        );
    }
}
