//! `topics:` — SNS standard topics `<stack>-<topic>` and their subscriptions: declared queues,
//! declared functions and email addresses. Functions may `publish` to a topic.
//!
//! A topic contributes, besides itself ([`TopicProvider`]):
//! - per subscription, a [`Kind::Subscription`] named `<topic>/<queue|function|email>:<name>`
//!   ([`SubscriptionProvider`]); subscriptions take no tags: they are this stack's because their
//!   topic is;
//! - per queue subscriber, the queue's [`Kind::QueuePolicy`] (shared with rules that use the
//!   queue as a dead-letter queue), which then holds the statement letting the topics send to it;
//! - per function subscriber, a [`Kind::TopicPermission`] `<topic>/<function>`: the statement on
//!   the function's resource policy letting SNS invoke it for this topic only
//!   ([`TopicPermissionProvider`]).

pub(crate) mod permission;
pub(crate) mod policy;
pub(crate) mod provider;
pub(crate) mod subscription;

pub use permission::TopicPermissionProvider;
pub use policy::TopicPolicyProvider;
pub use provider::TopicProvider;
pub use subscription::SubscriptionProvider;

use std::fmt;

use serde_json::Value as Json;

use super::email_identity::check_email;
use super::{Kind, KindSpec, Section};
use crate::resources::ResourceId;
use crate::spec::decode::{Checker, Fields};
use crate::spec::schema::{Field, NameLimit, Type, VerbDef};
use crate::spec::text::{describe, is_float, join, or_list, parse_int, suggest};
use crate::spec::yaml::{Node, Value};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Topic {
    /// Sender name of email notifications (and SMS prefix), at most 100 characters.
    pub display_name: Option<String>,
    /// In the order written; each subscriber at most once.
    pub subscriptions: Vec<TopicSubscription>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TopicSubscription {
    pub subscriber: Subscriber,
    /// SNS filter policy, as JSON (an object); `None`: every message.
    pub filter_policy: Option<Json>,
    pub filter_policy_scope: FilterPolicyScope,
    /// Deliver the message as published, without the SNS envelope (queue subscribers only).
    pub raw_message_delivery: bool,
}

/// Who receives a topic's messages.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subscriber {
    /// Logical name of a declared queue (protocol `sqs`).
    Queue(String),
    /// Logical name of a declared function (protocol `lambda`).
    Function(String),
    /// An email address (protocol `email`); the recipient must confirm.
    Email(String),
}

impl Subscriber {
    /// The key it is written under in `pipeline.yaml`, and in its subscription's logical name.
    pub fn key(&self) -> &'static str {
        match self {
            Subscriber::Queue(_) => "queue",
            Subscriber::Function(_) => "function",
            Subscriber::Email(_) => "email",
        }
    }

    /// The SNS protocol.
    pub fn protocol(&self) -> &'static str {
        match self {
            Subscriber::Queue(_) => "sqs",
            Subscriber::Function(_) => "lambda",
            Subscriber::Email(_) => "email",
        }
    }

    /// The queue or function's logical name, or the address.
    pub fn name(&self) -> &str {
        match self {
            Subscriber::Queue(n) | Subscriber::Function(n) | Subscriber::Email(n) => n,
        }
    }

    fn from_parts(key: &str, name: &str) -> Option<Subscriber> {
        let name = name.to_string();
        match key {
            "queue" => Some(Subscriber::Queue(name)),
            "function" => Some(Subscriber::Function(name)),
            "email" => Some(Subscriber::Email(name)),
            _ => None,
        }
    }

    /// Same endpoint? Email addresses are compared without regard to case (one mailbox).
    fn same_as(&self, other: &Subscriber) -> bool {
        match (self, other) {
            (Subscriber::Email(a), Subscriber::Email(b)) => a.eq_ignore_ascii_case(b),
            _ => self == other,
        }
    }
}

impl fmt::Display for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.key(), self.name())
    }
}

/// Logical name of the subscription of `subscriber` to `topic`: `<topic>/<key>:<name>`.
pub fn subscription_name(topic: &str, subscriber: &Subscriber) -> String {
    format!("{topic}/{subscriber}")
}

/// `<topic>/<key>:<name>` → (topic, subscriber).
pub fn parse_subscription_name(name: &str) -> Option<(&str, Subscriber)> {
    let (topic, rest) = name.split_once('/')?;
    let (key, endpoint) = rest.split_once(':')?;
    if topic.is_empty() || endpoint.is_empty() {
        return None;
    }
    Some((topic, Subscriber::from_parts(key, endpoint)?))
}

/// What a filter policy is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FilterPolicyScope {
    /// The message attributes (SNS's default); the policy is flat.
    #[default]
    MessageAttributes,
    /// The message body, a JSON object; the policy may nest.
    MessageBody,
}

impl FilterPolicyScope {
    /// SNS's FilterPolicyScope value.
    pub fn as_sns(self) -> &'static str {
        match self {
            FilterPolicyScope::MessageAttributes => "MessageAttributes",
            FilterPolicyScope::MessageBody => "MessageBody",
        }
    }
}

/// SNS's limits on filter policies.
const MAX_FILTER_KEYS: usize = 5;
const MAX_FILTER_COMBINATIONS: u64 = 150;
const MAX_FILTER_BYTES: usize = 256 * 1024;
/// Numbers in a filter policy are matched within ±10^9.
const MAX_FILTER_NUMBER: f64 = 1e9;
/// The operators a filter policy's lists may hold besides plain values.
const FILTER_OPERATORS: &[&str] = &[
    "anything-but",
    "cidr",
    "equals-ignore-case",
    "exists",
    "numeric",
    "prefix",
    "suffix",
    "wildcard",
];
/// SNS topic display names (the sender name of email notifications).
const MAX_DISPLAY_NAME: usize = 100;

const DISPLAY_NAME: Field = Field::string(
    "display_name",
    "At most 100 characters; the sender name of email notifications.",
);
const SUB_QUEUE: Field = Field::name(
    "queue",
    Section::Queue,
    "SQS subscriber: logical name of a queue in `queues`.",
);
const SUB_FUNCTION: Field = Field::name(
    "function",
    Section::Function,
    "Lambda subscriber: logical name of a function in `functions`.",
);
const SUB_EMAIL: Field = Field::string(
    "email",
    "Email subscriber: an address; its owner must confirm the subscription.",
);
const FILTER_POLICY: Field = Field::new(
    "filter_policy",
    Type::Pattern,
    "SNS filter policy: a non-empty mapping, converted to JSON as written; only matching messages are delivered.",
);
const FILTER_POLICY_SCOPE: Field = Field::choice(
    "filter_policy_scope",
    &["message_attributes", "message_body"],
    Some("message_attributes"),
    "What `filter_policy` matches: the message attributes, or the message body (JSON).",
);
const RAW_MESSAGE_DELIVERY: Field = Field::boolean(
    "raw_message_delivery",
    false,
    "Deliver the message as published, without the SNS JSON envelope (queue subscribers only).",
);
const SUBSCRIPTIONS: Field = Field::list(
    "subscriptions",
    &[
        SUB_QUEUE,
        SUB_FUNCTION,
        SUB_EMAIL,
        FILTER_POLICY,
        FILTER_POLICY_SCOPE,
        RAW_MESSAGE_DELIVERY,
    ],
    "Who receives the topic's messages: each entry names one `queue`, `function` or `email`.",
);

/// The keys that name a subscriber; an entry has exactly one.
const SUBSCRIBER_KEYS: [&str; 3] = ["queue", "function", "email"];

impl KindSpec for Topic {
    const SECTION: Section = Section::Topic;
    const SINGULAR: &'static str = "topic";
    const DOC: &'static str =
        "SNS topics and their subscribers (functions, queues, email addresses).";
    const RESOURCE: Kind = Kind::Topic;
    const FIELDS: &'static [Field] = &[DISPLAY_NAME, SUBSCRIPTIONS];
    const ATTRIBUTES: &'static [&'static str] = &["name", "arn"];
    const SHOWN_OUTPUT: Option<&'static str> = Some("arn");
    const VERBS: &'static [VerbDef] = &[VerbDef {
        name: "publish",
        actions: &["sns:Publish"],
        doc: "`sns:Publish` on the topic",
    }];
    const PHYSICAL_NAME: Option<NameLimit> = Some(NameLimit {
        min: 1,
        max: 256,
        what: "SNS topic names",
    });

    fn decode(cx: &mut Checker<'_, '_>, f: &Fields<'_>, _name: &str) -> Topic {
        let display_name = super::text_at_most(cx, f, &DISPLAY_NAME, MAX_DISPLAY_NAME);
        let items = cx.list(f, &SUBSCRIPTIONS);
        let list_path = f.path_of(SUBSCRIPTIONS.key);
        let mut subscriptions: Vec<TopicSubscription> = Vec::new();
        // Index in the file of each kept subscription, for messages.
        let mut written_at: Vec<usize> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("{list_path}[{i}]");
            let s = cx.fields(item, &path, item.span, SUBSCRIPTIONS.sub_fields());
            if s.broken {
                continue;
            }
            let Some(subscription) = decode_subscription(cx, &s, item, &path) else {
                continue;
            };
            if let Some(first) = subscriptions
                .iter()
                .position(|o| o.subscriber.same_as(&subscription.subscriber))
            {
                let key_path = s.path_of(subscription.subscriber.key());
                let span = cx.span_at(&key_path);
                cx.error(
                    span,
                    &key_path,
                    format!(
                        "{} {} is already subscribed to this topic ({}[{}])",
                        subscription.subscriber.key(),
                        subscription.subscriber.name(),
                        SUBSCRIPTIONS.key,
                        written_at[first]
                    ),
                    Some("a subscriber receives each message once: merge the entries (a filter policy can list several values)".into()),
                );
                continue;
            }
            subscriptions.push(subscription);
            written_at.push(i);
        }
        Topic {
            display_name,
            subscriptions,
        }
    }

    /// The topic, and per subscription: the subscription, and the queue policy (queues) or the
    /// invoke permission (functions) that lets SNS deliver.
    fn resources(&self, name: &str, out: &mut Vec<ResourceId>) {
        out.push(ResourceId::new(Kind::Topic, name));
        for s in &self.subscriptions {
            out.push(ResourceId::new(
                Kind::Subscription,
                subscription_name(name, &s.subscriber),
            ));
            match &s.subscriber {
                Subscriber::Queue(q) => out.push(ResourceId::new(Kind::QueuePolicy, q.clone())),
                Subscriber::Function(f) => out.push(ResourceId::new(
                    Kind::TopicPermission,
                    permission::permission_name(name, f),
                )),
                Subscriber::Email(_) => {}
            }
        }
    }
}

/// One entry of `subscriptions`; `None` (reported) when it does not name exactly one subscriber.
fn decode_subscription(
    cx: &mut Checker<'_, '_>,
    s: &Fields<'_>,
    item: &Node,
    path: &str,
) -> Option<TopicSubscription> {
    let named: Vec<&str> = SUBSCRIBER_KEYS
        .iter()
        .copied()
        .filter(|k| s.get(k).is_some())
        .collect();
    let key = match named.as_slice() {
        [one] => *one,
        [] => {
            cx.error(
                item.span,
                path,
                format!(
                    "a subscription names exactly one of {}",
                    or_list(&SUBSCRIBER_KEYS)
                ),
                Some("e.g. { queue: notifications-audit } or { email: ops@example.com }".into()),
            );
            return None;
        }
        _ => {
            cx.error(
                item.span,
                path,
                format!(
                    "a subscription names exactly one of {}, got {}",
                    or_list(&SUBSCRIBER_KEYS),
                    named.join(" and ")
                ),
                Some("write one entry per subscriber".into()),
            );
            return None;
        }
    };
    let subscriber = match key {
        "queue" => cx.name(s, &SUB_QUEUE).map(Subscriber::Queue),
        "function" => cx.name(s, &SUB_FUNCTION).map(Subscriber::Function),
        _ => {
            let address = cx.string(s, &SUB_EMAIL)?;
            match check_email(&address) {
                Ok(()) => Some(Subscriber::Email(address)),
                Err(why) => {
                    let p = s.path_of(SUB_EMAIL.key);
                    let span = cx.span_at(&p);
                    cx.error(
                        span,
                        &p,
                        format!("{address:?} is not an email address: {why}"),
                        Some("e.g. ops@example.com".into()),
                    );
                    None
                }
            }
        }
    };

    let scope = match cx.choice_or_default(s, &FILTER_POLICY_SCOPE) {
        "message_body" => FilterPolicyScope::MessageBody,
        _ => FilterPolicyScope::MessageAttributes,
    };
    let filter_policy = s
        .get(FILTER_POLICY.key)
        .and_then(|node| filter_policy(cx, node, &s.path_of(FILTER_POLICY.key), scope));
    if s.get(FILTER_POLICY.key).is_none() && s.get(FILTER_POLICY_SCOPE.key).is_some() {
        let p = s.path_of(FILTER_POLICY_SCOPE.key);
        let span = cx.span_at(&p);
        cx.error(
            span,
            &p,
            "`filter_policy_scope` needs a `filter_policy`",
            Some("add a filter_policy, or remove filter_policy_scope".into()),
        );
    }

    let raw_message_delivery = cx.boolean(s, &RAW_MESSAGE_DELIVERY);
    if raw_message_delivery && key != "queue" {
        let p = s.path_of(RAW_MESSAGE_DELIVERY.key);
        let span = cx.span_at(&p);
        cx.error(
            span,
            &p,
            format!(
                "raw message delivery applies to queue subscribers only, not to {key} subscribers"
            ),
            None,
        );
    }

    Some(TopicSubscription {
        subscriber: subscriber?,
        filter_policy,
        filter_policy_scope: scope,
        raw_message_delivery,
    })
}

/// A filter policy: a non-empty mapping whose fields are non-empty lists of values or operators
/// (nested mappings too when the body is matched), within SNS's limits: at most 5 keys, at
/// most 150 combinations of values, 256 KiB of JSON, numbers within ±10^9. `None` when broken
/// (reported).
fn filter_policy(
    cx: &mut Checker<'_, '_>,
    node: &Node,
    path: &str,
    scope: FilterPolicyScope,
) -> Option<Json> {
    if !super::non_empty_mapping(cx, node, path, "e.g. { status: [PROCESSED, REJECTED] }") {
        return None;
    }
    let fine = check_policy_object(cx, node, path, scope);
    let json = cx.json_of(node, path);
    if !fine {
        return None;
    }
    let keys = filter_keys(&json);
    if keys > MAX_FILTER_KEYS {
        cx.error(
            node.span,
            path,
            format!("a filter policy has at most {MAX_FILTER_KEYS} keys, this one has {keys}"),
            Some(
                "split the subscriber's needs over fewer keys, or filter in the subscriber".into(),
            ),
        );
    }
    let combinations = filter_combinations(&json);
    if combinations > MAX_FILTER_COMBINATIONS {
        cx.error(
            node.span,
            path,
            format!(
                "a filter policy has at most {MAX_FILTER_COMBINATIONS} combinations of values (the product of the number of values of every key), this one has {combinations}"
            ),
            None,
        );
    }
    let bytes = json.to_string().len();
    if bytes > MAX_FILTER_BYTES {
        cx.error(
            node.span,
            path,
            format!(
                "the filter policy is {bytes} bytes as JSON; SNS allows at most {MAX_FILTER_BYTES}"
            ),
            None,
        );
    }
    Some(json)
}

/// The shape of a filter policy object (each problem reported at its node); true when fine.
fn check_policy_object(
    cx: &mut Checker<'_, '_>,
    node: &Node,
    path: &str,
    scope: FilterPolicyScope,
) -> bool {
    let Some(entries) = node.as_map() else {
        return true;
    };
    let mut fine = true;
    for entry in entries {
        let p = join(path, &entry.key);
        let value = &entry.value;
        if entry.key == "$or" {
            match &value.value {
                Value::Seq(items)
                    if items.len() >= 2
                        && items
                            .iter()
                            .all(|i| matches!(&i.value, Value::Map(m) if !m.is_empty())) =>
                {
                    for (i, item) in items.iter().enumerate() {
                        fine &= check_policy_object(cx, item, &format!("{p}[{i}]"), scope);
                    }
                }
                _ => {
                    cx.error(
                        value.span,
                        &p,
                        "`$or` takes a list of at least two filter policies (non-empty mappings)",
                        None,
                    );
                    fine = false;
                }
            }
            continue;
        }
        match &value.value {
            Value::Map(inner) if !inner.is_empty() => match scope {
                FilterPolicyScope::MessageBody => {
                    fine &= check_policy_object(cx, value, &p, scope);
                }
                FilterPolicyScope::MessageAttributes => {
                    cx.error(
                        value.span,
                        &p,
                        "message attributes are matched flat: a nested filter policy needs `filter_policy_scope: message_body`",
                        None,
                    );
                    fine = false;
                }
            },
            Value::Seq(items) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    fine &= check_policy_value(cx, item, &format!("{p}[{i}]"));
                }
            }
            _ => {
                let nested = match scope {
                    FilterPolicyScope::MessageBody => " or a nested mapping",
                    FilterPolicyScope::MessageAttributes => "",
                };
                cx.error(
                    value.span,
                    &p,
                    format!(
                        "filter policy fields must be a non-empty list of values or operators{nested}, got {}",
                        describe(value)
                    ),
                    Some("wrap the value in a list, e.g. [PROCESSED]".into()),
                );
                fine = false;
            }
        }
    }
    fine
}

/// One item of a filter policy list: a value, or an operator mapping (`{ prefix: "A-" }`).
fn check_policy_value(cx: &mut Checker<'_, '_>, item: &Node, path: &str) -> bool {
    match &item.value {
        Value::Seq(_) => {
            cx.error(
                item.span,
                path,
                "lists in a filter policy hold values or operators, not lists",
                None,
            );
            false
        }
        Value::Map(ops) => {
            let mut fine = true;
            for op in ops {
                if !FILTER_OPERATORS.contains(&op.key.as_str()) {
                    let help = match suggest(&op.key, FILTER_OPERATORS.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("operators: {}", FILTER_OPERATORS.join(", ")),
                    };
                    cx.error(
                        op.key_span,
                        &join(path, &op.key),
                        format!("unknown filter policy operator `{}`", op.key),
                        Some(help),
                    );
                    fine = false;
                }
            }
            fine & check_numbers(cx, item, path)
        }
        _ => check_numbers(cx, item, path),
    }
}

/// Plain numbers (anywhere under `node`) must be within ±10^9; true when they are.
fn check_numbers(cx: &mut Checker<'_, '_>, node: &Node, path: &str) -> bool {
    match &node.value {
        Value::Scalar(s) if !s.quoted => {
            let is_number = parse_int(&s.text).is_some() || is_float(&s.text);
            match is_number.then(|| s.text.parse::<f64>().ok()).flatten() {
                Some(n) if n.abs() > MAX_FILTER_NUMBER => {
                    cx.error(
                        node.span,
                        path,
                        format!(
                            "SNS matches numbers from -1000000000 to 1000000000, got {}",
                            s.text
                        ),
                        None,
                    );
                    false
                }
                _ => true,
            }
        }
        Value::Seq(items) => items.iter().enumerate().fold(true, |fine, (i, item)| {
            check_numbers(cx, item, &format!("{path}[{i}]")) & fine
        }),
        Value::Map(entries) => entries.iter().fold(true, |fine, e| {
            check_numbers(cx, &e.value, &join(path, &e.key)) & fine
        }),
        _ => true,
    }
}

/// Keys that hold values to match (nested objects and `$or` branches included), as SNS
/// counts them against its limit of five.
fn filter_keys(policy: &Json) -> usize {
    let Some(fields) = policy.as_object() else {
        return 0;
    };
    fields
        .iter()
        .map(|(key, value)| match value {
            Json::Array(branches) if key == "$or" => branches.iter().map(filter_keys).sum(),
            Json::Object(_) => filter_keys(value),
            _ => 1,
        })
        .sum()
}

/// The number of combinations of values: the product of the number of values of every key
/// (`$or` adds up its branches).
fn filter_combinations(policy: &Json) -> u64 {
    let Some(fields) = policy.as_object() else {
        return 1;
    };
    fields
        .iter()
        .map(|(key, value)| match value {
            Json::Array(branches) if key == "$or" => {
                branches.iter().map(filter_combinations).sum::<u64>().max(1)
            }
            Json::Object(_) => filter_combinations(value),
            Json::Array(values) => values.len().max(1) as u64,
            _ => 1,
        })
        .fold(1u64, u64::saturating_mul)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::test_support::errors;
    use serde_json::json;

    const HEAD: &str = "stack: s\nqueues: { audit: {} }\nfunctions: { f: { crate: f } }\n";

    #[test]
    fn subscription_names_round_trip() {
        for s in [
            Subscriber::Queue("audit".into()),
            Subscriber::Function("notify".into()),
            Subscriber::Email("ops@example.com".into()),
        ] {
            let name = subscription_name("orders", &s);
            assert_eq!(parse_subscription_name(&name), Some(("orders", s)));
        }
        assert_eq!(
            subscription_name("t", &Subscriber::Queue("q".into())),
            "t/queue:q"
        );
        assert_eq!(parse_subscription_name("t/http:x"), None);
        assert_eq!(parse_subscription_name("t/queue:"), None);
        assert_eq!(parse_subscription_name("queue:q"), None);
    }

    #[test]
    fn decodes_topics_and_their_resources() {
        let spec = crate::spec::parse(
            "p.yaml",
            &format!(
                "{HEAD}topics:\n  order-notifications:\n    display_name: \"Order updates\"\n    subscriptions:\n      - queue: audit\n        filter_policy: {{ status: [PROCESSED, REJECTED] }}\n        raw_message_delivery: true\n      - function: f\n        filter_policy: {{ order: {{ total: [{{ numeric: [\">\", 100] }}] }} }}\n        filter_policy_scope: message_body\n      - email: ops@example.com\n  quiet: {{}}\n"
            ),
        )
        .unwrap_or_else(|e| panic!("{}", e.summary()));
        let t = &spec.topics["order-notifications"];
        assert_eq!(t.display_name.as_deref(), Some("Order updates"));
        assert_eq!(
            t.subscriptions,
            vec![
                TopicSubscription {
                    subscriber: Subscriber::Queue("audit".into()),
                    filter_policy: Some(json!({"status": ["PROCESSED", "REJECTED"]})),
                    filter_policy_scope: FilterPolicyScope::MessageAttributes,
                    raw_message_delivery: true,
                },
                TopicSubscription {
                    subscriber: Subscriber::Function("f".into()),
                    filter_policy: Some(json!({"order": {"total": [{"numeric": [">", 100]}]}})),
                    filter_policy_scope: FilterPolicyScope::MessageBody,
                    raw_message_delivery: false,
                },
                TopicSubscription {
                    subscriber: Subscriber::Email("ops@example.com".into()),
                    filter_policy: None,
                    filter_policy_scope: FilterPolicyScope::MessageAttributes,
                    raw_message_delivery: false,
                },
            ]
        );
        assert_eq!(spec.topics["quiet"], Topic::default());
        let ids: Vec<String> = spec
            .resources()
            .into_iter()
            .filter(|id| {
                matches!(
                    id.kind,
                    Kind::Topic | Kind::Subscription | Kind::TopicPermission | Kind::QueuePolicy
                )
            })
            .map(|id| id.to_string())
            .collect();
        assert_eq!(
            ids,
            [
                "subscription.order-notifications/email:ops@example.com",
                "subscription.order-notifications/function:f",
                "subscription.order-notifications/queue:audit",
                "topic_permission.order-notifications/f",
                "queue_policy.audit",
                "topic.order-notifications",
                "topic.quiet",
            ]
        );
    }

    #[test]
    fn subscription_errors_have_positions() {
        assert_eq!(
            errors(&format!(
                "{HEAD}topics:\n  t:\n    display_name: {}\n    subscriptions:\n      - {{ filter_policy: {{ a: [1] }} }}\n      - {{ queue: audit, email: a@example.com }}\n      - {{ queue: nope }}\n      - {{ email: not-an-address }}\n      - {{ function: f, raw_message_delivery: true }}\n      - {{ queue: audit, filter_policy_scope: message_body }}\n      - {{ queue: audit }}\n      - {{ email: OPS@example.com }}\n      - {{ email: ops@example.com }}\n",
                "x".repeat(101)
            )),
            vec![
                "p.yaml:6:19: topics.t.display_name: must be at most 100 characters, got 101",
                "p.yaml:8:9: topics.t.subscriptions[0]: a subscription names exactly one of queue, function or email",
                "p.yaml:9:9: topics.t.subscriptions[1]: a subscription names exactly one of queue, function or email, got queue and email",
                "p.yaml:10:18: topics.t.subscriptions[2].queue: no queue named `nope` is declared",
                "p.yaml:11:18: topics.t.subscriptions[3].email: \"not-an-address\" is not an email address: it has no `@`",
                "p.yaml:12:46: topics.t.subscriptions[4].raw_message_delivery: raw message delivery applies to queue subscribers only, not to function subscribers",
                "p.yaml:13:46: topics.t.subscriptions[5].filter_policy_scope: `filter_policy_scope` needs a `filter_policy`",
                "p.yaml:14:18: topics.t.subscriptions[6].queue: queue audit is already subscribed to this topic (subscriptions[5])",
                "p.yaml:16:18: topics.t.subscriptions[8].email: email ops@example.com is already subscribed to this topic (subscriptions[7])",
            ]
        );
    }

    #[test]
    fn filter_policy_errors_have_positions() {
        let sub = |policy: &str, scope: &str| {
            errors(&format!(
                "{HEAD}topics:\n  t:\n    subscriptions:\n      - queue: audit\n        filter_policy: {policy}\n{scope}"
            ))
        };
        assert_eq!(
            sub("[PROCESSED]", ""),
            ["p.yaml:8:24: topics.t.subscriptions[0].filter_policy: expected a non-empty mapping, got a list"]
        );
        assert_eq!(
            sub("{ status: PROCESSED, order: { total: [1] }, n: [[1]], x: [{ prefx: a }], big: [2000000000] }", ""),
            [
                "p.yaml:8:34: topics.t.subscriptions[0].filter_policy.status: filter policy fields must be a non-empty list of values or operators, got string \"PROCESSED\"",
                "p.yaml:8:52: topics.t.subscriptions[0].filter_policy.order: message attributes are matched flat: a nested filter policy needs `filter_policy_scope: message_body`",
                "p.yaml:8:72: topics.t.subscriptions[0].filter_policy.n[0]: lists in a filter policy hold values or operators, not lists",
                "p.yaml:8:84: topics.t.subscriptions[0].filter_policy.x[0].prefx: unknown filter policy operator `prefx`",
                "p.yaml:8:103: topics.t.subscriptions[0].filter_policy.big[0]: SNS matches numbers from -1000000000 to 1000000000, got 2000000000",
            ]
        );
        // Nesting is fine on the body; `$or` needs two branches.
        assert_eq!(
            sub("{ order: { total: [1] }, $or: [{ a: [1] }] }", "        filter_policy_scope: message_body\n"),
            ["p.yaml:8:54: topics.t.subscriptions[0].filter_policy.$or: `$or` takes a list of at least two filter policies (non-empty mappings)"]
        );
        assert_eq!(
            sub("{ a: [1], b: [1], c: [1], d: [1], e: [1], f: [1] }", ""),
            ["p.yaml:8:24: topics.t.subscriptions[0].filter_policy: a filter policy has at most 5 keys, this one has 6"]
        );
        assert_eq!(
            sub("{ a: [1, 2, 3, 4, 5, 6], b: [1, 2, 3, 4, 5], c: [1, 2, 3, 4, 5, 6] }", ""),
            ["p.yaml:8:24: topics.t.subscriptions[0].filter_policy: a filter policy has at most 150 combinations of values (the product of the number of values of every key), this one has 180"]
        );
    }

    #[test]
    fn filter_limits_count_as_sns_does() {
        let p = json!({"a": [1, 2], "$or": [{"b": [1, 2, 3]}, {"c": [1], "d": [1, 2]}]});
        assert_eq!(filter_keys(&p), 4);
        assert_eq!(filter_combinations(&p), 2 * (3 + 2));
        let nested = json!({"order": {"status": ["A", "B"], "total": [{"numeric": [">", 0]}]}});
        assert_eq!(filter_keys(&nested), 2);
        assert_eq!(filter_combinations(&nested), 2);
    }

    #[test]
    fn topic_names_are_checked_against_sns_limits() {
        let long = "t".repeat(260);
        let errs = errors(&format!("stack: s\ntopics:\n  {long}: {{}}\n"));
        assert_eq!(
            errs,
            [format!("p.yaml:3:3: topics.{long}: physical name `s-{long}` is 262 characters; SNS topic names are 1 to 256 characters")]
        );
    }

    /// A bus and a topic may both offer `publish`: the generated statements keep apart.
    #[test]
    fn publish_on_a_bus_and_on_a_topic_get_distinct_sids() {
        use crate::resources::policy::role_policy;
        use crate::resources::Known;
        use crate::spec::model::Access;
        let spec = crate::spec::parse(
            "p.yaml",
            "stack: s\nbuses: { orders: {} }\ntopics: { orders: {} }\nfunctions:\n  f:\n    crate: f\n    access:\n      - { bus: orders, verb: publish }\n      - { topic: orders, verb: publish }\n",
        )
        .unwrap_or_else(|e| panic!("{}", e.summary()));
        assert_eq!(
            spec.functions["f"].access,
            vec![
                Access::new(Section::Bus, "orders", "publish"),
                Access::new(Section::Topic, "orders", "publish"),
            ]
        );
        let mut known = Known::new();
        for (kind, arn) in [
            (
                Kind::Bus,
                "arn:aws:events:us-east-1:123456789012:event-bus/s-orders",
            ),
            (Kind::Topic, "arn:aws:sns:us-east-1:123456789012:s-orders"),
        ] {
            known.insert(
                ResourceId::new(kind, "orders"),
                crate::resources::Outputs::from([("arn".to_string(), arn.to_string())]),
            );
        }
        let crate::resources::Prop::Known(doc) = role_policy(&spec, "f", "us-east-1", &known)
        else {
            panic!("policy should be known");
        };
        assert_eq!(
            doc["Statement"][0],
            json!({"Sid": "PublishBusOrders", "Effect": "Allow", "Action": ["events:PutEvents"],
                   "Resource": "arn:aws:events:us-east-1:123456789012:event-bus/s-orders"})
        );
        assert_eq!(
            doc["Statement"][1],
            json!({"Sid": "PublishTopicOrders", "Effect": "Allow", "Action": ["sns:Publish"],
                   "Resource": "arn:aws:sns:us-east-1:123456789012:s-orders"})
        );
    }
}
