//! `tables:` — DynamoDB tables `<stack>-<table>`, on demand. Functions may `read`, `write` or
//! `delete` items.

pub(crate) mod provider;
mod stream;

pub use provider::TableProvider;

use super::{Kind, KindSpec, Section};
use crate::resources::ResourceId;
use crate::spec::decode::{Checker, Fields};
use crate::spec::schema::{Field, NameLimit, Type, VerbDef};
use crate::spec::Spec;

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub partition_key: KeyAttribute,
    pub sort_key: Option<KeyAttribute>,
    /// Only on-demand (PAY_PER_REQUEST) for now.
    pub billing: Billing,
    pub point_in_time_recovery: bool,
    pub ttl_attribute: Option<String>,
    pub deletion_protection: bool,
    /// `stream: changes`: the DynamoDB stream with new and old images.
    pub stream: bool,
    /// Each stream record published on a bus by an EventBridge Pipe.
    pub change_events: Option<ChangeEvents>,
}

/// `change_events:` of a table: its pipe's target and what the events look like.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvents {
    /// Logical name of the bus.
    pub bus: String,
    /// The events' `source`.
    pub source: String,
    /// The events' `detail-type`.
    pub detail_type: String,
    /// An EventBridge pattern on the stream record: only matching records are published.
    pub filter: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Billing {
    OnDemand,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeyAttribute {
    pub name: String,
    pub kind: KeyKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    S,
    N,
    B,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::S => "S",
            KeyKind::N => "N",
            KeyKind::B => "B",
        }
    }
}

const KEY_NAME: Field = Field::string("name", "Attribute name, 1 to 255 bytes.").required();
const KEY_TYPE: Field = Field::choice(
    "type",
    &["S", "N", "B"],
    None,
    "`S` string, `N` number, `B` binary.",
)
.required();
const PARTITION_KEY: Field = Field::mapping(
    "partition_key",
    &[KEY_NAME, KEY_TYPE],
    "`{ name: <attribute>, type: S | N | B }`",
)
.required();
const SORT_KEY: Field = Field::mapping(
    "sort_key",
    &[KEY_NAME, KEY_TYPE],
    "Same form; its name must differ from the partition key's.",
);
const BILLING: Field = Field::choice(
    "billing",
    &["on-demand"],
    Some("on-demand"),
    "The only value supported (PAY_PER_REQUEST).",
);
const POINT_IN_TIME_RECOVERY: Field =
    Field::boolean("point_in_time_recovery", false, "Continuous backups.");
const TTL_ATTRIBUTE: Field = Field::string(
    "ttl_attribute",
    "Attribute holding the expiry time (epoch seconds).",
);
const DELETION_PROTECTION: Field = Field::boolean(
    "deletion_protection",
    false,
    "While true, DynamoDB refuses to delete the table, and so does `down`.",
);

const STREAM: Field = Field::choice(
    "stream",
    &["changes"],
    None,
    "`changes`: the table's DynamoDB stream, every item change with its new and old image (kept 24 hours).",
);
const CHANGE_EVENTS_BUS: Field = Field::name(
    "bus",
    Section::Bus,
    "A bus in `buses`: where each change is published.",
)
.required();
const CHANGE_EVENTS_SOURCE: Field = Field::string(
    "source",
    "The events' `source` (default `orderflow.tables.<table>`), for rules to match.",
);
const CHANGE_EVENTS_DETAIL_TYPE: Field = Field::string(
    "detail_type",
    "The events' `detail-type` (default `Table item changed`).",
);
const CHANGE_EVENTS_FILTER: Field = Field::new(
    "filter",
    Type::Pattern,
    "An EventBridge pattern on the stream record (`eventName`, `dynamodb.NewImage`...): only matching changes are published.",
);
const CHANGE_EVENTS: Field = Field::mapping(
    "change_events",
    &[
        CHANGE_EVENTS_BUS,
        CHANGE_EVENTS_SOURCE,
        CHANGE_EVENTS_DETAIL_TYPE,
        CHANGE_EVENTS_FILTER,
    ],
    "Publish every change of the stream (`stream: changes`) on a bus, with an EventBridge Pipe `<stack>-<table>-changes`; the event's `detail` is the stream record.",
);

/// EventBridge's limits on an event's source and detail-type.
const MAX_SOURCE: usize = 256;
const MAX_DETAIL_TYPE: usize = 128;
/// EventBridge Pipes names are at most 64 characters.
const MAX_PIPE_NAME: usize = 64;

impl KindSpec for Table {
    const SECTION: Section = Section::Table;
    const SINGULAR: &'static str = "table";
    const DOC: &'static str = "DynamoDB tables (`<stack>-<name>`).";
    const RESOURCE: Kind = Kind::Table;
    const FIELDS: &'static [Field] = &[
        PARTITION_KEY,
        SORT_KEY,
        BILLING,
        POINT_IN_TIME_RECOVERY,
        TTL_ATTRIBUTE,
        DELETION_PROTECTION,
        STREAM,
        CHANGE_EVENTS,
    ];
    const ATTRIBUTES: &'static [&'static str] = &["name", "arn"];
    const SHOWN_OUTPUT: Option<&'static str> = Some("name");
    const VERBS: &'static [VerbDef] = &[
        // Only what a function calls: a conditional PutItem/UpdateItem is that action alone (its
        // ReturnValues are governed by the `dynamodb:ReturnValues` condition key of the same
        // action, not by GetItem). ConditionCheckItem exists only inside TransactWriteItems and
        // BatchGetItem is a batch read; no verb grants them.
        VerbDef {
            name: "read",
            actions: &["dynamodb:GetItem"],
            doc: "`GetItem` (one item by key, consistent or not)",
        },
        VerbDef {
            name: "query",
            actions: &["dynamodb:Query"],
            doc: "`Query` (items by key condition)",
        },
        VerbDef {
            name: "write",
            actions: &["dynamodb:PutItem", "dynamodb:UpdateItem"],
            doc: "`PutItem`, `UpdateItem`, conditional or not (no deletes)",
        },
        // Separate from `write` so a function that only records orders cannot remove them.
        // (BatchWriteItem, which can do both, is granted by no verb.)
        VerbDef {
            name: "delete",
            actions: &["dynamodb:DeleteItem"],
            doc: "`DeleteItem`",
        },
    ];
    const PHYSICAL_NAME: Option<NameLimit> = Some(NameLimit {
        min: 3,
        max: 255,
        what: "DynamoDB table names",
    });

    fn decode(cx: &mut Checker<'_, '_>, f: &Fields<'_>, name: &str) -> Table {
        let partition_key = match cx.mapping(f, &PARTITION_KEY) {
            Some(k) => key_attribute(cx, &k),
            None => {
                cx.missing(f, PARTITION_KEY.key);
                None
            }
        };
        let sort_key = cx.mapping(f, &SORT_KEY).and_then(|k| key_attribute(cx, &k));
        if let (Some(pk), Some(sk)) = (&partition_key, &sort_key) {
            if pk.name == sk.name {
                let p = f.path_of("sort_key.name");
                let span = cx.span_at(&p);
                cx.error(
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
        // `on-demand` is the only choice; reading it reports any other value.
        cx.choice(f, &BILLING);
        let billing = Billing::OnDemand;
        let point_in_time_recovery = cx.boolean(f, &POINT_IN_TIME_RECOVERY);
        let ttl_attribute = cx.string(f, &TTL_ATTRIBUTE);
        if let Some(ttl) = &ttl_attribute {
            check_attribute_name(cx, ttl, &f.path_of(TTL_ATTRIBUTE.key));
        }
        let deletion_protection = cx.boolean(f, &DELETION_PROTECTION);
        let stream = cx.choice(f, &STREAM).is_some();
        let change_events = cx
            .mapping(f, &CHANGE_EVENTS)
            .map(|ce| change_events(cx, &ce, name));
        if change_events.is_some() && !stream {
            let p = f.path_of(CHANGE_EVENTS.key);
            let span = cx.key_span(&p);
            cx.error(
                span,
                &p,
                "change events come from the table's stream, which is not enabled",
                Some("add `stream: changes` to the table".into()),
            );
        }
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
            stream,
            change_events,
        }
    }

    fn check(cx: &mut Checker<'_, '_>, spec: &Spec) {
        for (name, table) in &spec.tables {
            if table.change_events.is_none() {
                continue;
            }
            let p = format!("tables.{name}.change_events");
            let names = [
                crate::kinds::pipe::pipe_name(&spec.stack, name),
                crate::kinds::service_role::role_name(
                    &spec.stack,
                    &crate::kinds::service_role::Owner::Pipe(name),
                ),
            ];
            for (what, physical) in ["pipe", "role"].iter().zip(names) {
                let max = if *what == "pipe" {
                    MAX_PIPE_NAME
                } else {
                    crate::kinds::service_role::MAX_ROLE_NAME
                };
                if physical.len() > max {
                    let span = cx.key_span(&p);
                    cx.error(
                        span,
                        &p,
                        format!("the change events' {what} would be named `{physical}`, longer than the {max} characters AWS allows"),
                        Some("give the table (or the stack) a shorter name".into()),
                    );
                }
            }
        }
    }

    /// The table; with change events, its pipe and the role the pipe assumes.
    fn resources(&self, name: &str, out: &mut Vec<ResourceId>) {
        out.push(ResourceId::new(Kind::Table, name));
        if self.change_events.is_some() {
            out.push(ResourceId::new(Kind::Pipe, name));
            out.push(crate::kinds::service_role::pipe_role(name));
        }
    }
}

fn change_events(cx: &mut Checker<'_, '_>, f: &Fields<'_>, table: &str) -> ChangeEvents {
    let bus = cx.name(f, &CHANGE_EVENTS_BUS).unwrap_or_default();
    let source = super::text_at_most(cx, f, &CHANGE_EVENTS_SOURCE, MAX_SOURCE)
        .unwrap_or_else(|| format!("orderflow.tables.{table}"));
    if source.starts_with("aws.") {
        let p = f.path_of(CHANGE_EVENTS_SOURCE.key);
        let span = cx.span_at(&p);
        cx.error(
            span,
            &p,
            "sources starting with `aws.` are reserved for AWS services",
            None,
        );
    }
    let detail_type = super::text_at_most(cx, f, &CHANGE_EVENTS_DETAIL_TYPE, MAX_DETAIL_TYPE)
        .unwrap_or_else(|| "Table item changed".to_string());
    let filter = f.get(CHANGE_EVENTS_FILTER.key).map(|node| {
        let p = f.path_of(CHANGE_EVENTS_FILTER.key);
        crate::kinds::rule::event_pattern(cx, node, &p)
    });
    ChangeEvents {
        bus,
        source,
        detail_type,
        filter,
    }
}

fn key_attribute(cx: &mut Checker<'_, '_>, f: &Fields<'_>) -> Option<KeyAttribute> {
    let name = cx.string(f, &KEY_NAME);
    if let Some(n) = &name {
        check_attribute_name(cx, n, &f.path_of(KEY_NAME.key));
    }
    let kind = match cx.choice(f, &KEY_TYPE)? {
        "N" => KeyKind::N,
        "B" => KeyKind::B,
        _ => KeyKind::S,
    };
    Some(KeyAttribute { name: name?, kind })
}

/// DynamoDB key and TTL attribute names are 1 to 255 bytes.
fn check_attribute_name(cx: &mut Checker<'_, '_>, name: &str, path: &str) {
    if name.is_empty() || name.len() > 255 {
        let span = cx.span_at(path);
        cx.error(
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

#[cfg(test)]
mod tests {
    use crate::kinds::test_support::errors;

    const HEAD: &str = "stack: shop
buses: { orders: {} }
tables:
  orders:
    partition_key: { name: order_id, type: S }
";

    #[test]
    fn change_events_decode_with_their_defaults_and_derive_a_pipe_and_its_role() {
        let text = format!(
            "{HEAD}    stream: changes
    change_events:
      bus: orders
      filter: {{ eventName: [INSERT] }}
"
        );
        let spec = crate::spec::parse("p.yaml", &text).expect("valid");
        let t = &spec.tables["orders"];
        assert!(t.stream);
        let events = t.change_events.as_ref().expect("change events");
        assert_eq!(events.bus, "orders");
        assert_eq!(events.source, "orderflow.tables.orders");
        assert_eq!(events.detail_type, "Table item changed");
        assert_eq!(
            events.filter,
            Some(serde_json::json!({ "eventName": ["INSERT"] }))
        );
        let ids: Vec<String> = spec.resources().iter().map(ToString::to_string).collect();
        assert!(ids.contains(&"pipe.orders".to_string()), "{ids:?}");
        assert!(
            ids.contains(&"service_role.pipe/orders".to_string()),
            "{ids:?}"
        );
    }

    #[test]
    fn wrong_change_events_are_reported_where_they_are_written() {
        let text = format!(
            "{HEAD}    stream: everything
    change_events:
      bus: payments
      source: aws.dynamodb
      filter: []
  a-table-whose-name-is-long-enough-to-overflow-the-pipe-name:
    partition_key: {{ name: id, type: S }}
    change_events: {{ bus: orders }}
"
        );
        let all = errors(&text).join("\n");
        for expected in [
            "p.yaml:6:13: tables.orders.stream: must be one of changes, got \"everything\"",
            "tables.orders.change_events.bus: no bus named `payments`",
            "tables.orders.change_events.source: sources starting with `aws.` are reserved",
            "tables.orders.change_events.filter: expected a non-empty mapping",
            "change_events: change events come from the table's stream, which is not enabled",
            "the change events' pipe would be named `shop-a-table-whose-name-is-long-enough-to-overflow-the-pipe-name-changes`, longer than the 64 characters",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
    }
}
