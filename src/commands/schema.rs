//! `orderflow schema events [EVENT]`: the schemas of the events the pipeline publishes, exactly
//! as `up` puts them in the EventBridge schema registry (generated from the order-domain types).
//! `orderflow schema pipeline`: the JSON Schema of pipeline.yaml, for editors.
//! No AWS call and no pipeline file: the schemas are the code's, whatever the pipeline declares.
//! `orderflow schema events --diff` is the exception: it compares those schemas with the ones
//! EventBridge discovered on the deployed stack's bus ([`diff`]).

pub mod diff;

use std::fmt;
use std::process::ExitCode;

use order_domain::schema::{catalogue, find, PublishedEvent};
use serde::Serialize;
use serde_json::Value;

use super::emit;
use crate::cli::{Global, SchemaArgs, SchemaCommand, SchemaEventsArgs};
use crate::error::Error;
use crate::spec::text::suggest;

/// The registry's schema type of every document.
const SCHEMA_TYPE: &str = "OpenApi3";

/// One event's schema.
#[derive(Debug, Serialize)]
pub struct EventSchemaOut {
    pub source: &'static str,
    pub detail_type: &'static str,
    /// Its name in the registry: `<source>@<detail-type>`.
    pub schema_name: String,
    pub description: &'static str,
    /// The registry's schema type (`OpenApi3`).
    #[serde(rename = "type")]
    pub schema_type: &'static str,
    /// The OpenAPI 3 document.
    pub content: Value,
}

impl From<PublishedEvent> for EventSchemaOut {
    fn from(event: PublishedEvent) -> Self {
        EventSchemaOut {
            source: event.source,
            detail_type: event.detail_type,
            schema_name: event.schema_name(),
            description: event.description,
            schema_type: SCHEMA_TYPE,
            content: event.openapi3(),
        }
    }
}

/// `schema events` result: `{ "events": [...] }`, one entry when an event was named.
#[derive(Debug, Serialize)]
pub struct EventSchemas {
    pub events: Vec<EventSchemaOut>,
}

impl fmt::Display for EventSchemas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, event) in self.events.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            writeln!(
                f,
                "# {} (source {}, schema {}, {})",
                event.detail_type, event.source, event.schema_name, event.schema_type
            )?;
            writeln!(f, "# {}", event.description)?;
            let document = serde_json::to_string_pretty(&event.content).map_err(|_| fmt::Error)?;
            writeln!(f, "{document}")?;
        }
        Ok(())
    }
}

pub async fn run(g: &Global, args: SchemaArgs) -> Result<ExitCode, Error> {
    match args.command {
        SchemaCommand::Events(a) if a.diff => diff::run(g, a).await,
        SchemaCommand::Events(a) => events(g, a),
        SchemaCommand::Pipeline => pipeline(),
    }
}

fn events(g: &Global, args: SchemaEventsArgs) -> Result<ExitCode, Error> {
    let events = match &args.event {
        None => catalogue(),
        Some(name) => vec![lookup(name)?],
    };
    emit(
        g.output,
        &EventSchemas {
            events: events.into_iter().map(EventSchemaOut::from).collect(),
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The JSON Schema document itself, whatever `--output` says: it is JSON already, and editors
/// and `> docs/pipeline.schema.json` want exactly the document.
fn pipeline() -> Result<ExitCode, Error> {
    let schema = crate::spec::json_schema::pipeline_schema();
    let text = serde_json::to_string_pretty(&schema)
        .map_err(|e| Error::Other(format!("serialising the schema: {e}")))?;
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// The event named by its detail-type (or its registry name `<source>@<detail-type>`); a wrong
/// name gets the closest one and the list.
pub fn lookup(name: &str) -> Result<PublishedEvent, Error> {
    if let Some(event) = find(name) {
        return Ok(event);
    }
    if let Some(event) = catalogue().into_iter().find(|e| e.schema_name() == name) {
        return Ok(event);
    }
    let all = catalogue();
    let names: Vec<&str> = all.iter().map(|e| e.detail_type).collect();
    let hint = match suggest(name, names.iter().copied()) {
        Some(close) => format!("did you mean `{close}`? "),
        None => String::new(),
    };
    Err(Error::Other(format!(
        "no event `{name}`: {hint}the pipeline publishes {}",
        names.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_found_by_detail_type_or_schema_name() {
        assert_eq!(
            lookup("OrderRejected").unwrap().detail_type,
            "OrderRejected"
        );
        assert_eq!(
            lookup("orderflow.orders.status@OrderStatusChanged")
                .unwrap()
                .detail_type,
            "OrderStatusChanged"
        );
        assert_eq!(
            lookup("OrderPlacd").unwrap_err().to_string(),
            "no event `OrderPlacd`: did you mean `OrderPlaced`? the pipeline publishes OrderPlaced, OrderStatusChanged, OrderRejected"
        );
        assert_eq!(
            lookup("Shipped").unwrap_err().to_string(),
            "no event `Shipped`: the pipeline publishes OrderPlaced, OrderStatusChanged, OrderRejected"
        );
    }

    #[test]
    fn text_is_a_header_and_the_document_per_event() {
        let out = EventSchemas {
            events: vec![lookup("OrderPlaced").unwrap().into()],
        };
        let text = out.to_string();
        assert!(text.starts_with(
            "# OrderPlaced (source orderflow.orders, schema orderflow.orders@OrderPlaced, OpenApi3)\n# A new order"
        ), "{text}");
        let document: Value =
            serde_json::from_str(&text.lines().skip(2).collect::<Vec<_>>().join("\n")).unwrap();
        assert_eq!(document, out.events[0].content);
    }
}
