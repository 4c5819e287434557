//! `buses:` — EventBridge custom event buses `<stack>-<bus>`.
//!
//! Functions may `publish` to a bus; rules (`crate::kinds::rule`) route its events. With
//! `schemas: { discover: true }` the bus also gets an EventBridge schema discoverer
//! (`crate::kinds::discoverer`).

pub(crate) mod provider;

pub use provider::BusProvider;

use super::{Kind, KindSpec, Section};
use crate::resources::ResourceId;
use crate::spec::decode::{Checker, Fields};
use crate::spec::schema::{Field, NameLimit, VerbDef};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Bus {
    pub description: Option<String>,
    /// `schemas.discover`: EventBridge infers the schemas of the events on the bus (a
    /// discoverer). Off by default: on AWS it is billed beyond a monthly free tier.
    pub discover_schemas: bool,
}

/// EventBridge's limit on bus and rule descriptions.
const MAX_DESCRIPTION: usize = 512;

const DESCRIPTION: Field = Field::string("description", "At most 512 characters.");
const DISCOVER: Field = Field::boolean(
    "discover",
    false,
    "Let EventBridge infer the schema of every event on the bus into the `discovered-schemas` registry (billed beyond 5 million events a month).",
);
const SCHEMAS: Field = Field::mapping(
    "schemas",
    &[DISCOVER],
    "EventBridge schema discovery on the bus (`orderflow schema events --diff` compares what it found with the code).",
);

impl KindSpec for Bus {
    const SECTION: Section = Section::Bus;
    const SINGULAR: &'static str = "bus";
    const DOC: &'static str =
        "EventBridge event buses (`<stack>-<name>`) that rules match events on.";
    const RESOURCE: Kind = Kind::Bus;
    const FIELDS: &'static [Field] = &[DESCRIPTION, SCHEMAS];
    const ATTRIBUTES: &'static [&'static str] = &["name", "arn"];
    const SHOWN_OUTPUT: Option<&'static str> = Some("arn");
    const VERBS: &'static [VerbDef] = &[VerbDef {
        name: "publish",
        actions: &["events:PutEvents"],
        doc: "`events:PutEvents` on the bus",
    }];
    const PHYSICAL_NAME: Option<NameLimit> = Some(NameLimit {
        min: 1,
        max: 256,
        what: "EventBridge event bus names",
    });

    fn decode(cx: &mut Checker<'_, '_>, f: &Fields<'_>, name: &str) -> Bus {
        if name == crate::kinds::rule::provider::DEFAULT_BUS {
            let path = format!("buses.{name}");
            let span = cx.key_span(&path);
            cx.error(
                span,
                &path,
                "`default` names the account's default event bus in rules; a declared bus needs another name",
                None,
            );
        }
        let discover_schemas = match cx.mapping(f, &SCHEMAS) {
            Some(schemas) => cx.boolean(&schemas, &DISCOVER),
            None => false,
        };
        Bus {
            description: description(cx, f, &DESCRIPTION),
            discover_schemas,
        }
    }

    fn resources(&self, name: &str, out: &mut Vec<ResourceId>) {
        out.push(ResourceId::new(Kind::Bus, name));
        if self.discover_schemas {
            // Named after its bus: one discoverer per bus.
            out.push(ResourceId::new(Kind::Discoverer, name));
        }
    }
}

/// An EventBridge description (of a bus or a rule), at most 512 characters.
pub(crate) fn description(
    cx: &mut Checker<'_, '_>,
    f: &Fields<'_>,
    field: &Field,
) -> Option<String> {
    super::text_at_most(cx, f, field, MAX_DESCRIPTION)
}
