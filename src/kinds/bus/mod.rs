//! `buses:` — EventBridge custom event buses `<stack>-<bus>`.
//!
//! Functions may `publish` to a bus; rules (`crate::kinds::rule`) route its events.

pub(crate) mod provider;

pub use provider::BusProvider;

use super::{Kind, KindSpec, Section};
use crate::resources::ResourceId;
use crate::spec::decode::{Checker, Fields};
use crate::spec::schema::{Field, NameLimit, VerbDef};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Bus {
    pub description: Option<String>,
}

/// EventBridge's limit on bus and rule descriptions.
const MAX_DESCRIPTION: usize = 512;

const DESCRIPTION: Field = Field::string("description", "At most 512 characters.");

impl KindSpec for Bus {
    const SECTION: Section = Section::Bus;
    const SINGULAR: &'static str = "bus";
    const DOC: &'static str =
        "EventBridge event buses (`<stack>-<name>`) that rules match events on.";
    const RESOURCE: Kind = Kind::Bus;
    const FIELDS: &'static [Field] = &[DESCRIPTION];
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
        Bus {
            description: description(cx, f, &DESCRIPTION),
        }
    }

    fn resources(&self, name: &str, out: &mut Vec<ResourceId>) {
        out.push(ResourceId::new(Kind::Bus, name));
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
