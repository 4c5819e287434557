//! `orderflow schema events --diff`: the schemas EventBridge discovered on the stack's bus
//! (registry `discovered-schemas`, one schema `<source>@<DetailType>` per kind of event seen)
//! against the ones generated from the Rust types (what `schema events` prints).
//!
//! Discovered schemas are inferred from sample events, so byte equality means nothing: every
//! number is a `number`, nested objects are named components of their own, `required` lists
//! what the samples carried, nulls say nothing about a type. What is compared is what a consumer
//! relies on: the property names of the event's `detail` and their JSON types (string, number,
//! boolean, object, array), recursively through `$ref`s into components and array items.
//! An optional property of the code that no sample carried is noted, not counted.
//!
//! Exit 0 when nothing differs (events not discovered yet included: discovery only knows what
//! it has seen), 2 when an event differs or is only discovered, 1 on error — also where the
//! endpoint has no Schemas API (a local emulator), as there is nothing to compare with.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::process::ExitCode;

use order_domain::schema::catalogue;
use serde::Serialize;
use serde_json::Value;

use super::lookup;
use crate::cli::{Global, SchemaEventsArgs};
use crate::commands::{connect, emit, load_spec, pick};
use crate::error::Error;
use crate::resources::{absent_as_none, Ctx};

/// The registry EventBridge puts every discoverer's schemas in (one per account and region).
pub const DISCOVERED_REGISTRY: &str = "discovered-schemas";

/// How deep `$ref`s are followed (a recursive schema must still end).
const MAX_DEPTH: usize = 32;

/// `schema events --diff` result.
#[derive(Debug, Serialize)]
pub struct SchemaDiff {
    pub stack: String,
    /// The bus whose discoverer is reported (physical name).
    pub bus: String,
    pub registry: &'static str,
    /// The bus's discoverer, if any.
    pub discoverer: Option<DiscovererOut>,
    pub events: Vec<EventDiff>,
    /// What the reader needs to weigh the result (no discoverer, a stopped one...).
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct DiscovererOut {
    pub id: String,
    /// `STARTED` or `STOPPED`.
    pub state: String,
    /// Carries this stack's ownership tag.
    pub owned: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    Same,
    Differs,
    OnlyGenerated,
    OnlyDiscovered,
}

#[derive(Debug, Serialize)]
pub struct EventDiff {
    /// `<source>@<DetailType>`.
    pub schema_name: String,
    pub status: EventStatus,
    /// Version of the discovered schema compared (its latest).
    pub discovered_version: Option<String>,
    pub properties: Vec<PropertyDiff>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PropertyChange {
    /// Events carry it; the code does not declare it.
    OnlyDiscovered,
    /// Required by the code; never seen on the bus.
    OnlyGenerated,
    /// Optional in the code and absent from every sample: noted, not a difference.
    OptionalNotSeen,
    /// Both have it, with different JSON types.
    TypeDiffers,
}

/// One property that differs, by its path in `detail` (`items[].sku`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PropertyDiff {
    pub path: String,
    pub change: PropertyChange,
    /// JSON type in the generated schema, where it has the property.
    pub generated: Option<String>,
    /// JSON type in the discovered schema, where it has the property.
    pub discovered: Option<String>,
}

impl PropertyDiff {
    /// Does it make the event differ (an unseen optional property does not)?
    pub fn counts(&self) -> bool {
        self.change != PropertyChange::OptionalNotSeen
    }
}

impl SchemaDiff {
    /// Does anything differ (exit 2)?
    pub fn differs(&self) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e.status, EventStatus::Differs | EventStatus::OnlyDiscovered))
    }
}

impl fmt::Display for SchemaDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let discoverer = match &self.discoverer {
            Some(d) => format!("discoverer {} ({})", d.id, d.state),
            None => "no discoverer".to_string(),
        };
        writeln!(
            f,
            "Generated schemas vs. registry {} (bus {}, {discoverer}):",
            self.registry, self.bus
        )?;
        for e in &self.events {
            let status = match e.status {
                EventStatus::Same => "same",
                EventStatus::Differs => "DIFFERS",
                EventStatus::OnlyGenerated => "only generated (not discovered yet)",
                EventStatus::OnlyDiscovered => "ONLY DISCOVERED (not in the code)",
            };
            let version = e
                .discovered_version
                .as_deref()
                .map(|v| format!(" [discovered version {v}]"))
                .unwrap_or_default();
            writeln!(f, "  {}: {status}{version}", e.schema_name)?;
            for p in &e.properties {
                let t = |t: &Option<String>| t.clone().unwrap_or_else(|| "-".into());
                let line = match p.change {
                    PropertyChange::OnlyDiscovered => format!(
                        "+ {}: {} (discovered, not generated)",
                        p.path,
                        t(&p.discovered)
                    ),
                    PropertyChange::OnlyGenerated => format!(
                        "- {}: {} (generated, required, never discovered)",
                        p.path,
                        t(&p.generated)
                    ),
                    PropertyChange::OptionalNotSeen => format!(
                        "  {}: {} (optional, not seen in discovered events)",
                        p.path,
                        t(&p.generated)
                    ),
                    PropertyChange::TypeDiffers => format!(
                        "~ {}: generated {}, discovered {}",
                        p.path,
                        t(&p.generated),
                        t(&p.discovered)
                    ),
                };
                writeln!(f, "      {line}")?;
            }
        }
        for note in &self.notes {
            writeln!(f, "Note: {note}")?;
        }
        Ok(())
    }
}

/// The JSON type of a schema node, with what a comparison needs.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    /// `None`: an object without declared properties (a map): its keys are not compared.
    Object(Option<BTreeMap<String, (Shape, bool)>>),
    Array(Box<Shape>),
    /// `string`, `number` (integers included), `boolean`, or several joined (`number|string`).
    Scalar(String),
    /// Only ever null in the samples: says nothing about the type.
    Null,
    /// No type information.
    Any,
}

impl Shape {
    fn name(&self) -> String {
        match self {
            Shape::Object(_) => "object".into(),
            Shape::Array(items) => match items.as_ref() {
                Shape::Any => "array".into(),
                other => format!("array of {}", other.name()),
            },
            Shape::Scalar(t) => t.clone(),
            Shape::Null => "null".into(),
            Shape::Any => "any".into(),
        }
    }
}

/// The schema `$ref` points at, if it is a local component.
fn component<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let name = reference.strip_prefix("#/components/schemas/")?;
    doc.pointer("/components/schemas")?.get(name)
}

fn scalar(t: &str) -> Shape {
    match t {
        "integer" | "number" => Shape::Scalar("number".into()),
        "null" => Shape::Null,
        other => Shape::Scalar(other.into()),
    }
}

/// One of several alternatives (`anyOf`, a type list): nulls dropped, the rest joined.
fn union(shapes: Vec<Shape>) -> Shape {
    let mut rest: Vec<Shape> = shapes.into_iter().filter(|s| *s != Shape::Null).collect();
    rest.dedup();
    match rest.len() {
        0 => Shape::Null,
        1 => rest.remove(0),
        _ if rest.contains(&Shape::Any) => Shape::Any,
        _ => {
            let names: BTreeSet<String> = rest.iter().map(Shape::name).collect();
            match names.len() {
                1 => rest.remove(0),
                _ => Shape::Scalar(names.into_iter().collect::<Vec<_>>().join("|")),
            }
        }
    }
}

fn shape(doc: &Value, node: &Value, depth: usize) -> Shape {
    if depth > MAX_DEPTH {
        return Shape::Any;
    }
    if let Some(r) = node.get("$ref").and_then(Value::as_str) {
        return component(doc, r).map_or(Shape::Any, |target| shape(doc, target, depth + 1));
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(variants) = node.get(key).and_then(Value::as_array) {
            return union(variants.iter().map(|v| shape(doc, v, depth + 1)).collect());
        }
    }
    if let Some([only]) = node
        .get("allOf")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        return shape(doc, only, depth + 1);
    }
    let ty = match node.get("type") {
        Some(Value::String(t)) => Some(t.as_str()),
        Some(Value::Array(types)) => {
            let shapes = types
                .iter()
                .filter_map(Value::as_str)
                .map(|t| typed(doc, node, t, depth))
                .collect();
            return union(shapes);
        }
        _ => None,
    };
    match ty {
        Some(t) => typed(doc, node, t, depth),
        None if node.get("properties").is_some() => typed(doc, node, "object", depth),
        None => match node.get("enum").and_then(Value::as_array) {
            Some(values) => union(values.iter().map(value_shape).collect()),
            None => Shape::Any,
        },
    }
}

fn typed(doc: &Value, node: &Value, ty: &str, depth: usize) -> Shape {
    match ty {
        "object" => {
            let Some(props) = node.get("properties").and_then(Value::as_object) else {
                return Shape::Object(None);
            };
            let required: BTreeSet<&str> = node
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            Shape::Object(Some(
                props
                    .iter()
                    .map(|(k, v)| {
                        let s = shape(doc, v, depth + 1);
                        (k.clone(), (s, required.contains(k.as_str())))
                    })
                    .collect(),
            ))
        }
        "array" => Shape::Array(Box::new(
            node.get("items")
                .map_or(Shape::Any, |items| shape(doc, items, depth + 1)),
        )),
        other => scalar(other),
    }
}

/// The type of an enum value.
fn value_shape(v: &Value) -> Shape {
    match v {
        Value::Null => Shape::Null,
        Value::Bool(_) => scalar("boolean"),
        Value::Number(_) => scalar("number"),
        Value::String(_) => scalar("string"),
        Value::Array(_) => Shape::Array(Box::new(Shape::Any)),
        Value::Object(_) => Shape::Object(None),
    }
}

/// The shape of an event schema's `detail` (the `AWSEvent` component's `detail` property, as
/// both orderflow and EventBridge discovery write them).
fn detail_shape(doc: &Value) -> Shape {
    match doc.pointer("/components/schemas/AWSEvent/properties/detail") {
        Some(detail) => shape(doc, detail, 0),
        None => Shape::Any,
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn compare(path: &str, generated: &Shape, discovered: &Shape, out: &mut Vec<PropertyDiff>) {
    match (generated, discovered) {
        (Shape::Any | Shape::Null, _) | (_, Shape::Any | Shape::Null) => {}
        (Shape::Object(Some(g)), Shape::Object(Some(d))) => {
            let keys: BTreeSet<&String> = g.keys().chain(d.keys()).collect();
            for key in keys {
                let p = join(path, key);
                match (g.get(key), d.get(key)) {
                    (Some((gs, _)), Some((ds, _))) => compare(&p, gs, ds, out),
                    (Some((gs, required)), None) => out.push(PropertyDiff {
                        path: p,
                        change: if *required {
                            PropertyChange::OnlyGenerated
                        } else {
                            PropertyChange::OptionalNotSeen
                        },
                        generated: Some(gs.name()),
                        discovered: None,
                    }),
                    (None, Some((ds, _))) => out.push(PropertyDiff {
                        path: p,
                        change: PropertyChange::OnlyDiscovered,
                        generated: None,
                        discovered: Some(ds.name()),
                    }),
                    (None, None) => {}
                }
            }
        }
        (Shape::Object(_), Shape::Object(_)) => {}
        (Shape::Array(g), Shape::Array(d)) => compare(&format!("{path}[]"), g, d, out),
        (Shape::Scalar(g), Shape::Scalar(d)) if g == d => {}
        (g, d) => out.push(PropertyDiff {
            path: if path.is_empty() {
                "(detail)".into()
            } else {
                path.into()
            },
            change: PropertyChange::TypeDiffers,
            generated: Some(g.name()),
            discovered: Some(d.name()),
        }),
    }
}

/// The differences between two OpenAPI 3 event schemas' `detail`: the generated one and the
/// discovered one. Empty: the same properties with the same JSON types.
pub fn compare_documents(generated: &Value, discovered: &Value) -> Vec<PropertyDiff> {
    let mut out = Vec::new();
    compare(
        "",
        &detail_shape(generated),
        &detail_shape(discovered),
        &mut out,
    );
    out
}

/// One event's entry, from the generated and the discovered document (either may be absent).
pub fn event_diff(
    schema_name: String,
    generated: Option<&Value>,
    discovered: Option<(&Value, Option<String>)>,
) -> EventDiff {
    let (status, properties, discovered_version) = match (generated, discovered) {
        (Some(g), Some((d, version))) => {
            let mut properties = compare_documents(g, d);
            // Differences first, notes after (each group by path).
            properties.sort_by_key(|p| !p.counts());
            let status = if properties.iter().any(PropertyDiff::counts) {
                EventStatus::Differs
            } else {
                EventStatus::Same
            };
            (status, properties, version)
        }
        (Some(_), None) => (EventStatus::OnlyGenerated, Vec::new(), None),
        (None, Some((_, version))) => (EventStatus::OnlyDiscovered, Vec::new(), version),
        (None, None) => (EventStatus::Same, Vec::new(), None),
    };
    EventDiff {
        schema_name,
        status,
        discovered_version,
        properties,
    }
}

/// A schema of the `discovered-schemas` registry: name, latest version, OpenAPI 3 content.
#[derive(Debug, Clone)]
pub struct DiscoveredSchema {
    pub name: String,
    pub version: Option<String>,
    pub content: Value,
}

/// The discovered schemas whose names start with one of `prefixes` (ListSchemas, every page;
/// DescribeSchema for each one's latest content). No registry yet (nothing discovered in this
/// account and region): none.
pub async fn discovered_schemas(
    ctx: &Ctx,
    prefixes: &[String],
) -> Result<Vec<DiscoveredSchema>, Error> {
    const RES: &str = "discovered-schemas";
    let mut names = BTreeSet::new();
    for prefix in prefixes {
        let mut token: Option<String> = None;
        loop {
            let listed = ctx
                .aws
                .schemas
                .list_schemas()
                .registry_name(DISCOVERED_REGISTRY)
                .schema_name_prefix(prefix)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| Error::aws(RES, "ListSchemas", e));
            let Some(out) = absent_as_none(listed, crate::kinds::event_schema::NOT_FOUND)? else {
                return Ok(Vec::new());
            };
            names.extend(
                out.schemas()
                    .iter()
                    .filter_map(|s| s.schema_name().map(str::to_string)),
            );
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
    }
    let mut found = Vec::new();
    for name in names {
        let described = ctx
            .aws
            .schemas
            .describe_schema()
            .registry_name(DISCOVERED_REGISTRY)
            .schema_name(&name)
            .send()
            .await
            .map_err(|e| Error::aws(format!("{RES}/{name}"), "DescribeSchema", e));
        // Deleted between the listing and now: not there.
        let Some(schema) = absent_as_none(described, crate::kinds::event_schema::NOT_FOUND)? else {
            continue;
        };
        let text = schema.content().unwrap_or_default();
        let content = serde_json::from_str(text).map_err(|e| {
            Error::Other(format!(
                "{RES}/{name}: the discovered schema is not JSON ({e})"
            ))
        })?;
        found.push(DiscoveredSchema {
            name,
            version: schema.schema_version().map(str::to_string),
            content,
        });
    }
    Ok(found)
}

/// The ListSchemas prefixes that cover the catalogue's sources: each source's first segment
/// (`orderflow.`), so that events of a source the code does not know show up too.
pub fn source_prefixes() -> Vec<String> {
    let prefixes: BTreeSet<String> = catalogue()
        .iter()
        .map(|e| match e.source.split_once('.') {
            Some((first, _)) => format!("{first}."),
            None => format!("{}@", e.source),
        })
        .collect();
    prefixes.into_iter().collect()
}

/// The whole comparison of the generated catalogue (or one event) with what was discovered.
pub fn diff_events(only: Option<&str>, discovered: &[DiscoveredSchema]) -> Vec<EventDiff> {
    let generated: Vec<(String, Value)> = catalogue()
        .into_iter()
        .filter(|e| only.is_none_or(|o| o == e.detail_type))
        .map(|e| (e.schema_name(), e.openapi3()))
        .collect();
    let by_name: BTreeMap<&str, &DiscoveredSchema> =
        discovered.iter().map(|d| (d.name.as_str(), d)).collect();
    let mut events: Vec<EventDiff> = generated
        .iter()
        .map(|(name, doc)| {
            let d = by_name
                .get(name.as_str())
                .map(|d| (&d.content, d.version.clone()));
            event_diff(name.clone(), Some(doc), d)
        })
        .collect();
    if only.is_none() {
        let known: BTreeSet<&str> = generated.iter().map(|(n, _)| n.as_str()).collect();
        for d in discovered
            .iter()
            .filter(|d| !known.contains(d.name.as_str()))
        {
            events.push(event_diff(
                d.name.clone(),
                None,
                Some((&d.content, d.version.clone())),
            ));
        }
    }
    events
}

/// The bus to report: `--bus`, else the one bus with discovery on, else the only bus.
fn bus_name<'a>(ctx: &'a Ctx, flag: Option<&'a str>) -> Result<&'a str, Error> {
    let buses = &ctx.spec.buses;
    if flag.is_none() {
        let discovering: Vec<&String> = buses
            .iter()
            .filter(|(_, b)| b.discover_schemas)
            .map(|(n, _)| n)
            .collect();
        if let [one] = discovering.as_slice() {
            return Ok(one.as_str());
        }
    }
    pick("bus", flag, buses.keys())
}

pub async fn run(g: &Global, args: SchemaEventsArgs) -> Result<ExitCode, Error> {
    // Checked before any AWS call, like every other input.
    let only = match &args.event {
        Some(name) => Some(lookup(name)?.detail_type),
        None => None,
    };
    let spec = load_spec(g)?;
    let ctx = connect(g, spec).await?;
    if let Some(why) = crate::kinds::event_schema::schemas_api_missing(&ctx).await? {
        return Err(Error::Other(format!(
            "{why}: `schema events --diff` compares with the schemas EventBridge discovered, which only AWS provides; \
             run it against the stack on AWS"
        )));
    }
    let bus = bus_name(&ctx, args.bus.as_deref())?.to_string();
    let physical = ctx.physical_name(&bus);
    let res = format!("bus.{bus}");
    // The stack must be deployed: a diff against a bus that does not exist means nothing.
    let described = ctx
        .aws
        .events
        .describe_event_bus()
        .name(&physical)
        .send()
        .await
        .map_err(|e| Error::aws(&res, "DescribeEventBus", e));
    if absent_as_none(described, &["ResourceNotFoundException"])?.is_none() {
        return Err(Error::Other(format!(
            "{res}: event bus {physical} does not exist — is the stack deployed? Run `orderflow up` first"
        )));
    }
    let discoverer = crate::kinds::discoverer::of_bus(&ctx, &res, &bus)
        .await?
        .map(|d| DiscovererOut {
            id: d.discoverer_id().unwrap_or_default().to_string(),
            state: d
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            owned: ctx.is_owned(d.tags().cloned().unwrap_or_default()),
        });
    let mut notes = Vec::new();
    match &discoverer {
        None => notes.push(format!(
            "bus {physical} has no schema discoverer: set `schemas: {{ discover: true }}` on buses.{bus} and run `orderflow up`; \
             what is shown as discovered was found on another bus or by an earlier discoverer"
        )),
        Some(d) if d.state != crate::kinds::discoverer::STARTED => notes.push(format!(
            "the discoverer {} is {}: events sent meanwhile were not discovered",
            d.id, d.state
        )),
        Some(_) => {}
    }
    notes.push(format!(
        "{DISCOVERED_REGISTRY} holds what every discoverer of the account and region found: a schema of the same name discovered on another bus shows here too"
    ));
    let discovered = discovered_schemas(&ctx, &source_prefixes()).await?;
    let result = SchemaDiff {
        stack: ctx.spec.stack.clone(),
        bus: physical,
        registry: DISCOVERED_REGISTRY,
        discoverer,
        events: diff_events(only, &discovered),
        notes,
    };
    emit(g.output, &result)?;
    Ok(if result.differs() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
