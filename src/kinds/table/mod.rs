//! `tables:` — DynamoDB tables `<stack>-<table>`, on demand. Functions may `read`, `write` or
//! `delete` items.

pub(crate) mod provider;

pub use provider::TableProvider;

use super::{Kind, KindSpec, Section};
use crate::resources::ResourceId;
use crate::spec::decode::{Checker, Fields};
use crate::spec::schema::{Field, NameLimit, VerbDef};

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub partition_key: KeyAttribute,
    pub sort_key: Option<KeyAttribute>,
    /// Only on-demand (PAY_PER_REQUEST) for now.
    pub billing: Billing,
    pub point_in_time_recovery: bool,
    pub ttl_attribute: Option<String>,
    pub deletion_protection: bool,
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

    fn decode(cx: &mut Checker<'_, '_>, f: &Fields<'_>, _name: &str) -> Table {
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

    fn resources(&self, name: &str, out: &mut Vec<ResourceId>) {
        out.push(ResourceId::new(Kind::Table, name));
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
