//! The pipeline as a picture (`orderflow graph`): what the file declares as boxes, and the way
//! events and data flow between them as arrows, left to right — an API route into its function,
//! a bus into its rules, a rule into its targets, a function into what it sends, writes and
//! publishes, a queue into the function its trigger runs, failures into dead-letter queues,
//! alarms into the topic they notify. Rendered as Mermaid ([`mermaid`]), Graphviz DOT
//! ([`dot`]) or SVG ([`svg`], laid out here: no Graphviz needed).
//!
//! The model is built from the validated [`Spec`], sorted, so the same file always gives the
//! same picture.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::kinds::Kind;
use crate::resources::ResourceId;
use crate::spec::model::{Section, Subscriber};
use crate::spec::Spec;

pub mod dot;
pub(crate) mod layout;
pub mod mermaid;
pub mod svg;

/// A box: one declared entry (or, with `derived`, a resource orderflow derives from one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    /// Unique and safe in every format: `[a-z0-9_]`.
    pub id: String,
    /// `queue`, `function`, ... (`email` for an email subscriber, a graph kind when derived).
    pub kind: String,
    pub name: String,
    pub derived: bool,
}

impl Node {
    pub fn label(&self) -> String {
        format!("{} {}", self.kind.replace('_', " "), self.name)
    }
}

/// How an arrow is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Line {
    /// Events or data in normal operation.
    Flow,
    /// What failed goes there (dead-letter queues).
    Failure,
    /// Watching (alarms) or belonging (derived resources).
    Watch,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub label: String,
    pub line: Line,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Diagram {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// `[a-z0-9_]` only: ids must survive Mermaid, DOT and XML unquoted.
fn node_id(kind: &str, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    // The hash keeps `a-b` and `a_b` apart.
    let hash = name
        .bytes()
        .fold(5381u32, |h, b| h.wrapping_mul(33) ^ u32::from(b));
    format!("{kind}_{clean}_{:x}", hash & 0xfff)
}

/// Entries a picture shows, in the order columns are filled.
const KIND_ORDER: &[&str] = &[
    "api",
    "bus",
    "rule",
    "function",
    "queue",
    "table",
    "topic",
    "email_identity",
    "email",
    "alarm",
    "event_schema",
];

/// Position of a kind in [`KIND_ORDER`] (derived kinds last).
pub(crate) fn kind_rank(kind: &str) -> usize {
    KIND_ORDER
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(KIND_ORDER.len())
}

struct Builder {
    nodes: BTreeMap<String, Node>,
    edges: BTreeMap<(String, String, Line), Vec<String>>,
}

impl Builder {
    fn node(&mut self, kind: &str, name: &str, derived: bool) -> String {
        let id = node_id(kind, name);
        self.nodes.entry(id.clone()).or_insert_with(|| Node {
            id: id.clone(),
            kind: kind.to_string(),
            name: name.to_string(),
            derived,
        });
        id
    }

    fn entry(&mut self, section: Section, name: &str) -> String {
        self.node(section.singular(), name, false)
    }

    /// Arrows between the same two boxes in the same style merge, labels joined.
    fn edge(&mut self, from: String, to: String, label: impl Into<String>, line: Line) {
        let labels = self.edges.entry((from, to, line)).or_default();
        let label = label.into();
        if !label.is_empty() && !labels.contains(&label) {
            labels.push(label);
        }
    }
}

/// The detail-types a rule matches, when its pattern names them.
fn detail_types(pattern: &serde_json::Value) -> String {
    match pattern.get("detail-type") {
        Some(serde_json::Value::Array(types)) => types
            .iter()
            .filter_map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(" | "),
        _ => String::new(),
    }
}

impl Diagram {
    /// The picture of `spec`; with `derived`, also every derived graph resource, attached to
    /// the entry it comes from.
    pub fn of(spec: &Spec, derived: bool) -> Diagram {
        let mut b = Builder {
            nodes: BTreeMap::new(),
            edges: BTreeMap::new(),
        };
        // A trigger is the arrow from its queue to its function, not a box.
        for section in Section::ALL.iter().filter(|s| **s != Section::Trigger) {
            for name in spec.names(*section) {
                b.entry(*section, name);
            }
        }
        for (name, api) in &spec.apis {
            let from = b.entry(Section::Api, name);
            for route in &api.routes {
                let to = b.entry(Section::Function, &route.function);
                b.edge(from.clone(), to, route.route.to_string(), Line::Flow);
            }
        }
        for (name, rule) in &spec.rules {
            let id = b.entry(Section::Rule, name);
            let bus = b.entry(Section::Bus, &rule.bus);
            b.edge(
                bus,
                id.clone(),
                detail_types(&rule.event_pattern),
                Line::Flow,
            );
            for target in &rule.targets {
                let to = b.entry(target.destination.section(), target.destination.name());
                b.edge(id.clone(), to, "", Line::Flow);
                if let Some(dlq) = &target.dead_letter_queue {
                    let q = b.entry(Section::Queue, dlq);
                    b.edge(id.clone(), q, "undeliverable", Line::Failure);
                }
            }
        }
        // A table's change events: its pipe publishes the stream's changes on the bus.
        for (name, table) in &spec.tables {
            if let Some(events) = &table.change_events {
                let from = b.entry(Section::Table, name);
                let to = b.entry(Section::Bus, &events.bus);
                b.edge(from, to, events.detail_type.clone(), Line::Flow);
            }
        }
        for (name, f) in &spec.functions {
            let id = b.entry(Section::Function, name);
            for grant in &f.access {
                let target = b.entry(grant.target.section, &grant.target.name);
                let own_dlq = grant.target.section == Section::Queue
                    && f.dead_letter_queue.as_deref() == Some(grant.target.name.as_str());
                match grant.verb {
                    // Shown by the trigger's own arrow.
                    "consume" => {}
                    // Implied by the function's dead-letter queue: the failure arrow below.
                    "send" if own_dlq => {}
                    "read" | "query" => b.edge(target, id.clone(), grant.verb, Line::Flow),
                    verb => b.edge(id.clone(), target, verb, Line::Flow),
                }
            }
            if let Some(dlq) = &f.dead_letter_queue {
                let q = b.entry(Section::Queue, dlq);
                b.edge(id, q, "failed async", Line::Failure);
            }
        }
        for trigger in spec.triggers.values() {
            let q = b.entry(Section::Queue, &trigger.queue);
            let f = b.entry(Section::Function, &trigger.function);
            b.edge(
                q,
                f,
                format!("batches of {}", trigger.batch_size),
                Line::Flow,
            );
        }
        for (name, q) in &spec.queues {
            if let Some(redrive) = &q.dead_letter {
                let from = b.entry(Section::Queue, name);
                let to = b.entry(Section::Queue, &redrive.queue);
                let label = format!("after {} receives", redrive.max_receive_count);
                b.edge(from, to, label, Line::Failure);
            }
        }
        for (name, topic) in &spec.topics {
            let id = b.entry(Section::Topic, name);
            for sub in &topic.subscriptions {
                let to = match &sub.subscriber {
                    Subscriber::Queue(q) => b.entry(Section::Queue, q),
                    Subscriber::Function(f) => b.entry(Section::Function, f),
                    Subscriber::Email(address) => b.node("email", address, false),
                };
                b.edge(id.clone(), to, "", Line::Flow);
            }
        }
        for (name, alarm) in &spec.alarms {
            let id = b.entry(Section::Alarm, name);
            let watched = b.entry(alarm.watched.section, &alarm.watched.name);
            let label = format!("{} ≥ {}", alarm.metric.key(), alarm.threshold);
            b.edge(watched, id.clone(), label, Line::Watch);
            if let Some(topic) = &alarm.notify {
                let t = b.entry(Section::Topic, topic);
                b.edge(id, t, "notify", Line::Flow);
            }
        }
        if derived {
            Self::add_derived(spec, &mut b);
        }
        let mut nodes: Vec<Node> = b.nodes.into_values().collect();
        nodes.sort_by(|a, b| {
            (kind_rank(&a.kind), &a.kind, &a.name).cmp(&(kind_rank(&b.kind), &b.kind, &b.name))
        });
        let edges = b
            .edges
            .into_iter()
            .map(|((from, to, line), labels)| Edge {
                from,
                to,
                label: labels.join(", "),
                line,
            })
            .collect();
        Diagram { nodes, edges }
    }

    /// Derived resources (roles, log groups, permissions, policies, routes...), each tied by
    /// a dotted arrow to the declared entry that contributes it to the graph.
    fn add_derived(spec: &Spec, b: &mut Builder) {
        let contributions = spec.contributions();
        // An entry's own resource is its box already (a schema registry is the `event_schemas`
        // entry), whichever entry lists it.
        let declared: BTreeSet<ResourceId> = Section::ALL
            .iter()
            .filter(|s| **s != Section::Trigger)
            .flat_map(|s| {
                spec.names(*s)
                    .into_iter()
                    .map(|name| ResourceId::new(s.resource(), name))
            })
            .collect();
        let mut owners: BTreeMap<ResourceId, String> = BTreeMap::new();
        for (resource, section, entry) in contributions {
            if declared.contains(&resource) || owners.contains_key(&resource) {
                continue;
            }
            let owner = match (resource.kind, section) {
                // One policy per queue, whoever needs it (a rule's or a topic's delivery).
                (Kind::QueuePolicy, _) => b.entry(Section::Queue, &resource.name),
                // A trigger is an arrow, not a box: its mapping is part of the function it runs.
                (_, Section::Trigger) => match spec.triggers.get(&entry) {
                    Some(trigger) => b.entry(Section::Function, &trigger.function),
                    None => continue,
                },
                _ => b.entry(section, &entry),
            };
            owners.insert(resource, owner);
        }
        for (resource, owner) in owners {
            let node = b.node(resource.kind.as_str(), &resource.name, true);
            b.edge(owner, node, "", Line::Watch);
        }
    }

    /// The node of `id`.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

#[cfg(test)]
mod tests;
