//! `event_schemas:` — EventBridge schema registries `<stack>-<name>`, each holding one schema per
//! event the pipeline publishes, generated from the Rust types of the order-domain crate (its
//! `schema` catalogue: one source of truth for the functions and the registry).
//!
//! Each schema is an OpenAPI 3 document named `<source>@<detail-type>`, the way EventBridge
//! names and shapes the schemas it discovers itself, so code bindings and the console treat
//! them alike. A changed type changes the document: `up` then updates the schema, and the
//! registry keeps the previous content as an older version.
//!
//! Local emulators may lack the Schemas API altogether (MiniStack does): against a custom
//! endpoint that answers so, `plan` and `up` skip these resources and say so
//! ([`unsupported`]); on AWS they are never skipped.

pub(crate) mod registry;
pub(crate) mod schema;

pub use registry::SchemaRegistryProvider;
pub use schema::EventSchemaProvider;

use order_domain::schema::{catalogue, PublishedEvent};

use super::{Kind, KindSpec, Section};
use crate::error::Error;
use crate::resources::{Ctx, ResourceId};
use crate::spec::decode::{Checker, Fields};
use crate::spec::schema::{Field, NameLimit, Type};
use crate::spec::text::suggest;

#[derive(Debug, Clone, PartialEq)]
pub struct EventSchemaRegistry {
    pub description: Option<String>,
    /// Detail-types of the catalogue's events to register, in catalogue order, no repeats.
    pub events: Vec<String>,
}

/// The Schemas API's limit on registry and schema descriptions.
const MAX_DESCRIPTION: usize = 256;

const DESCRIPTION: Field = Field::string("description", "At most 256 characters.");
const EVENTS: Field = Field::new(
    "events",
    Type::Strings,
    "List of the detail-types to register (`orderflow schema events` lists them); absent: every event the pipeline publishes.",
);

impl KindSpec for EventSchemaRegistry {
    const SECTION: Section = Section::EventSchema;
    const SINGULAR: &'static str = "event_schema";
    const DOC: &'static str = "EventBridge schema registries holding the OpenAPI 3 schemas of the events the pipeline publishes.";
    const RESOURCE: Kind = Kind::SchemaRegistry;
    const FIELDS: &'static [Field] = &[DESCRIPTION, EVENTS];
    const ATTRIBUTES: &'static [&'static str] = &["name", "arn"];
    const SHOWN_OUTPUT: Option<&'static str> = Some("arn");
    const PHYSICAL_NAME: Option<NameLimit> = Some(NameLimit {
        min: 1,
        max: 64,
        what: "EventBridge schema registry names",
    });

    fn decode(cx: &mut Checker<'_, '_>, f: &Fields<'_>, _name: &str) -> EventSchemaRegistry {
        let description = super::text_at_most(cx, f, &DESCRIPTION, MAX_DESCRIPTION);
        let events = if f.get(EVENTS.key).is_some() {
            event_list(cx, f)
        } else {
            catalogue()
                .iter()
                .map(|e| e.detail_type.to_string())
                .collect()
        };
        EventSchemaRegistry {
            description,
            events,
        }
    }

    fn resources(&self, name: &str, out: &mut Vec<ResourceId>) {
        out.push(ResourceId::new(Kind::SchemaRegistry, name));
        for event in &self.events {
            out.push(ResourceId::new(
                Kind::EventSchema,
                schema_logical(name, event),
            ));
        }
    }
}

/// The `events` list: each a detail-type of the catalogue (a did-you-mean otherwise), once.
fn event_list(cx: &mut Checker<'_, '_>, f: &Fields<'_>) -> Vec<String> {
    let known: Vec<&'static str> = catalogue().iter().map(|e| e.detail_type).collect();
    let path = f.path_of(EVENTS.key);
    let items = cx.list(f, &EVENTS);
    if items.is_empty() {
        let span = cx.span_at(&path);
        cx.error(
            span,
            &path,
            "expected a non-empty list of event detail-types",
            Some(format!(
                "e.g. [{}], or leave `events` out to register them all",
                known.join(", ")
            )),
        );
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let Some(text) = cx.string_value(item, &p) else {
            continue;
        };
        if !known.contains(&text.as_str()) {
            let help = match suggest(&text, known.iter().copied()) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!("the pipeline publishes {}", known.join(", ")),
            };
            cx.error(
                item.span,
                &p,
                format!("`{text}` is not an event the pipeline publishes"),
                Some(help),
            );
            continue;
        }
        if out.contains(&text) {
            cx.error(
                item.span,
                &p,
                format!("`{text}` is listed twice"),
                Some("list each event once".into()),
            );
            continue;
        }
        out.push(text);
    }
    // Catalogue order, whatever order the file lists them in.
    out.sort_by_key(|t| known.iter().position(|k| k == t));
    out
}

/// Logical name of the schema of `detail_type` in registry `registry`: `<registry>/<detail-type>`.
pub(crate) fn schema_logical(registry: &str, detail_type: &str) -> String {
    format!("{registry}/{detail_type}")
}

/// (registry, catalogue entry) of a schema's logical name.
pub(crate) fn split_logical(name: &str) -> Result<(&str, PublishedEvent), Error> {
    let (registry, detail_type) = name.split_once('/').ok_or_else(|| {
        Error::Other(format!(
            "{}.{name}: not a schema name (<registry>/<detail-type>)",
            Kind::EventSchema
        ))
    })?;
    let event = order_domain::schema::find(detail_type).ok_or_else(|| {
        Error::Other(format!(
            "{}.{name}: `{detail_type}` is not an event the pipeline publishes",
            Kind::EventSchema
        ))
    })?;
    Ok((registry, event))
}

/// The Schemas API's answer for a registry or schema that does not exist.
pub(crate) const NOT_FOUND: &[&str] = &["NotFoundException"];

/// Why the registry and its schemas cannot be managed at this endpoint, if so (see
/// [`schemas_api_missing`]).
pub(crate) async fn unsupported(ctx: &Ctx) -> Result<Option<String>, Error> {
    Ok(schemas_api_missing(ctx)
        .await?
        .map(|why| format!("{why}; the schema registry is managed on AWS only")))
}

/// Why the Schemas API cannot be used at this endpoint, if so. Only a custom endpoint (a local
/// emulator) is asked — with one ListRegistries, shared while planning — and only an answer
/// that is not an AWS error at all (MiniStack: HTTP 400 `{"error": "Unsupported service:
/// schemas"}`, no error code) counts as "no such API". On AWS this is always `None`: a failing
/// Schemas call there is an error to report, never a reason to skip. Each user of the API
/// (the registry, schema discovery) adds what it skips.
pub(crate) async fn schemas_api_missing(ctx: &Ctx) -> Result<Option<String>, Error> {
    if !ctx.aws.custom_endpoint {
        return Ok(None);
    }
    let answer = ctx
        .aws
        .reads
        .get("Schemas.probe", "", || async {
            let out = ctx.aws.schemas.list_registries().limit(1).send().await;
            Ok(match out {
                Ok(_) => None,
                Err(aws_sdk_schemas::error::SdkError::ServiceError(e)) => {
                    use aws_sdk_schemas::error::ProvideErrorMetadata;
                    let raw = e.raw();
                    let status = raw.status().as_u16();
                    let body = raw
                        .body()
                        .bytes()
                        .map(|b| String::from_utf8_lossy(b).trim().to_string())
                        .unwrap_or_default();
                    if e.err().code().is_some_and(|c| !c.is_empty()) {
                        // An AWS error (access denied, throttled...): the API exists.
                        return Err(Error::aws(
                            "event_schemas",
                            "ListRegistries",
                            aws_sdk_schemas::error::SdkError::ServiceError(e),
                        ));
                    }
                    let shown: String = body.chars().take(120).collect();
                    Some(format!(
                        "this endpoint has no EventBridge Schemas API (ListRegistries answered HTTP {status} {shown})"
                    ))
                }
                Err(e) => return Err(Error::aws("event_schemas", "ListRegistries", e)),
            })
        })
        .await?;
    Ok((*answer).clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::test_support::errors;

    #[test]
    fn events_default_to_the_whole_catalogue() {
        let spec = crate::spec::parse(
            "p.yaml",
            "stack: s\nevent_schemas:\n  orders: { description: Order events }\n  some: { events: [OrderRejected, OrderPlaced] }\n",
        )
        .unwrap();
        let all = &spec.event_schemas["orders"];
        assert_eq!(all.description.as_deref(), Some("Order events"));
        assert_eq!(
            all.events,
            ["OrderPlaced", "OrderStatusChanged", "OrderRejected"]
        );
        assert_eq!(
            spec.event_schemas["some"].events,
            ["OrderPlaced", "OrderRejected"]
        );
        let ids: std::collections::BTreeSet<String> =
            spec.resources().iter().map(|r| r.to_string()).collect();
        let expected: std::collections::BTreeSet<String> = [
            "schema_registry.orders",
            "schema_registry.some",
            "event_schema.orders/OrderPlaced",
            "event_schema.orders/OrderRejected",
            "event_schema.orders/OrderStatusChanged",
            "event_schema.some/OrderPlaced",
            "event_schema.some/OrderRejected",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        assert_eq!(ids, expected);
    }

    #[test]
    fn unknown_repeated_and_empty_events_are_reported_with_a_hint() {
        let text = "stack: s\nevent_schemas:\n  orders: { events: [OrderPlacd, OrderShipped, OrderPlaced, OrderPlaced] }\n  none: { events: [] }\n  long: { description: \"".to_string()
            + &"x".repeat(257)
            + "\" }\n";
        assert_eq!(
            errors(&text),
            [
                "p.yaml:3:22: event_schemas.orders.events[0]: `OrderPlacd` is not an event the pipeline publishes",
                "p.yaml:3:34: event_schemas.orders.events[1]: `OrderShipped` is not an event the pipeline publishes",
                "p.yaml:3:61: event_schemas.orders.events[3]: `OrderPlaced` is listed twice",
                "p.yaml:4:19: event_schemas.none.events: expected a non-empty list of event detail-types",
                "p.yaml:5:24: event_schemas.long.description: must be at most 256 characters, got 257",
            ]
        );
        let spec_err = crate::spec::parse(
            "p.yaml",
            "stack: s\nevent_schemas:\n  o: { events: [OrderPlacd, Shipped] }\n",
        )
        .unwrap_err();
        let helps: Vec<Option<&str>> = spec_err.errors.iter().map(|e| e.help.as_deref()).collect();
        assert_eq!(
            helps,
            [
                Some("did you mean `OrderPlaced`?"),
                Some("the pipeline publishes OrderPlaced, OrderStatusChanged, OrderRejected"),
            ]
        );
    }

    #[test]
    fn logical_names_split_back() {
        let name = schema_logical("orders", "OrderStatusChanged");
        let (registry, event) = split_logical(&name).unwrap();
        assert_eq!(registry, "orders");
        assert_eq!(
            event.schema_name(),
            "orderflow.orders.status@OrderStatusChanged"
        );
        assert!(split_logical("orders/Nope").is_err());
        assert!(split_logical("orders").is_err());
    }
}
