//! Desired vs actual: read every declared resource from AWS (no state file), compare attribute by
//! attribute, and find owned resources the file no longer declares.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::Value;

use crate::error::Error;
use crate::graph::Graph;
use crate::resources::{diff, Change, Ctx, Discovered, Kind, Known, Live, Prop, ResourceId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Unchanged,
    Delete,
    /// Owned but undeclared data (a table) kept because `--delete-data` was not given.
    Retain,
}

impl Action {
    fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Unchanged => "=",
            Action::Delete => "-",
            Action::Retain => "!",
        }
    }
}

/// One declared resource and what `up` will do with it.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub id: ResourceId,
    pub physical: String,
    pub action: Action,
    /// For `update`: the changed attributes. For `create`: every desired attribute.
    #[serde(serialize_with = "serialize_changes")]
    pub changes: Vec<Change>,
    #[serde(skip)]
    pub live: Option<Live>,
}

/// An owned resource the file no longer declares.
#[derive(Debug, Clone, Serialize)]
pub struct Removal {
    #[serde(flatten)]
    pub target: Discovered,
    pub action: Action,
    /// Deleted with the data it holds (`--delete-data`): a bucket is emptied first.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub with_data: bool,
}

impl Removal {
    /// Delete `target`, or keep it when it holds data and `delete_data` is not given.
    pub async fn decide(
        ctx: &Ctx,
        target: Discovered,
        delete_data: bool,
    ) -> Result<Removal, Error> {
        let holds_data = target
            .id
            .kind
            .provider()
            .holds_data_now(ctx, &target)
            .await?;
        let action = if holds_data && !delete_data {
            Action::Retain
        } else {
            Action::Delete
        };
        Ok(Removal {
            target,
            action,
            with_data: holds_data && delete_data,
        })
    }
}

/// A declared resource this endpoint cannot manage (a local emulator without the service's
/// API, `Provider::unsupported`): neither read, nor created, nor counted as a change.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub id: ResourceId,
    pub physical: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub stack: String,
    pub region: String,
    /// The account and caller the plan was read as (the identity check).
    pub identity: Option<crate::identity::Identity>,
    /// Declared resources in dependency order.
    pub steps: Vec<Step>,
    /// Undeclared owned resources in deletion order (`delete` or `retain`).
    pub removals: Vec<Removal>,
    /// Declared resources this endpoint cannot manage, and why (empty on AWS).
    pub skipped: Vec<Skipped>,
    /// Outputs of resources that already exist.
    #[serde(skip)]
    pub known: Known,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub unchanged: usize,
    pub delete: usize,
    pub retain: usize,
    /// Declared resources skipped because this endpoint cannot manage them.
    pub skipped: usize,
}

impl Plan {
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            skipped: self.skipped.len(),
            ..Summary::default()
        };
        let actions = self
            .steps
            .iter()
            .map(|s| s.action)
            .chain(self.removals.iter().map(|r| r.action));
        for a in actions {
            match a {
                Action::Create => s.create += 1,
                Action::Update => s.update += 1,
                Action::Unchanged => s.unchanged += 1,
                Action::Delete => s.delete += 1,
                Action::Retain => s.retain += 1,
            }
        }
        s
    }

    /// True when `up` would change something.
    pub fn has_changes(&self) -> bool {
        let s = self.summary();
        s.create + s.update + s.delete > 0
    }
}

/// Display name of a resource in AWS, for messages.
pub fn physical_name(ctx: &Ctx, id: &ResourceId) -> String {
    id.kind.provider().display_name(ctx, &id.name)
}

/// Read actual state and compare it with the spec. Makes read calls only.
pub async fn plan(ctx: &Ctx, graph: &Graph, delete_data: bool) -> Result<Plan, Error> {
    // Kinds share reads (a function's policy, the function list...) while planning; off again
    // when this returns, so apply always reads AWS afresh.
    let _shared = ctx.aws.reads.planning();
    let unsupported = unsupported_kinds(ctx).await?;
    let (skipped_ids, to_read): (Vec<ResourceId>, Vec<ResourceId>) = graph
        .order
        .iter()
        .cloned()
        .partition(|id| unsupported.contains_key(&id.kind));
    let skipped = skipped_ids
        .into_iter()
        .map(|id| Skipped {
            physical: physical_name(ctx, &id),
            reason: unsupported[&id.kind].clone(),
            id,
        })
        .collect();
    let reads: Vec<(ResourceId, Option<Live>)> = stream::iter(to_read)
        .map(|id| async move {
            let live = id.kind.provider().read(ctx, &id.name).await?;
            Ok::<_, Error>((id, live))
        })
        .buffered(ctx.parallelism)
        .try_collect()
        .await?;
    let discovered: Vec<Vec<Discovered>> = stream::iter(
        Kind::ALL
            .iter()
            .copied()
            .filter(|kind| !unsupported.contains_key(kind)),
    )
    .map(|kind| async move { kind.provider().discover(ctx).await })
    .buffered(ctx.parallelism)
    .try_collect()
    .await?;

    let mut known = Known::new();
    let mut steps = Vec::with_capacity(reads.len());
    for (id, live) in reads {
        let physical = physical_name(ctx, &id);
        if let Some(l) = &live {
            if !l.owned {
                return Err(crate::resources::not_owned(ctx, &id, &physical));
            }
            known.insert(id.clone(), l.outputs.clone());
        }
        let desired = id.kind.provider().desired(ctx, &id.name, &known);
        let (action, changes) = match &live {
            None => (
                Action::Create,
                desired
                    .into_iter()
                    .map(|(attribute, new)| Change {
                        attribute,
                        old: None,
                        new,
                    })
                    .collect(),
            ),
            Some(l) => {
                let changes = diff(&desired, &l.props);
                let action = if changes.is_empty() {
                    Action::Unchanged
                } else {
                    Action::Update
                };
                (action, changes)
            }
        };
        steps.push(Step {
            id,
            physical,
            action,
            changes,
            live,
        });
    }

    let declared: BTreeSet<&ResourceId> = graph.order.iter().collect();
    let undeclared: Vec<Discovered> = discovered
        .into_iter()
        .flatten()
        .filter(|d| !declared.contains(&d.id) || d.id.kind.provider().is_stale(ctx, d))
        .collect();
    let mut removals = Vec::with_capacity(undeclared.len());
    for target in undeclared {
        removals.push(Removal::decide(ctx, target, delete_data).await?);
    }
    removals.sort_by(|a, b| {
        (a.target.id.kind.delete_rank(), &a.target.id)
            .cmp(&(b.target.id.kind.delete_rank(), &b.target.id))
    });

    Ok(Plan {
        stack: ctx.spec.stack.clone(),
        region: ctx.region.clone(),
        identity: ctx.aws.identity.clone(),
        steps,
        removals,
        skipped,
        known,
    })
}

/// The kinds this endpoint cannot manage, with why (`Provider::unsupported`; none on AWS).
pub async fn unsupported_kinds(ctx: &Ctx) -> Result<BTreeMap<Kind, String>, Error> {
    let mut out = BTreeMap::new();
    for kind in Kind::ALL {
        if let Some(why) = kind.provider().unsupported(ctx).await? {
            out.insert(*kind, why);
        }
    }
    Ok(out)
}

/// One line per reason: which resources are skipped, and why.
pub fn skipped_notes(skipped: &[Skipped]) -> Vec<String> {
    let mut by_reason: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for s in skipped {
        by_reason
            .entry(s.reason.as_str())
            .or_default()
            .push(s.id.to_string());
    }
    by_reason
        .into_iter()
        .map(|(reason, ids)| format!("skipped {}: {reason}", ids.join(", ")))
        .collect()
}

/// Render a JSON value compactly for one line of plan output.
pub fn show(v: &Value) -> String {
    let s = match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    const MAX: usize = 160;
    if s.chars().count() > MAX {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}…")
    } else {
        s
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Plan for stack {} ({}):", self.stack, self.region)?;
        let width = self
            .steps
            .iter()
            .map(|s| s.id.to_string().len())
            .chain(self.removals.iter().map(|r| r.target.id.to_string().len()))
            .chain(self.skipped.iter().map(|s| s.id.to_string().len()))
            .max()
            .unwrap_or(0);
        for step in &self.steps {
            writeln!(
                f,
                "  {} {:width$}  {}",
                step.action.symbol(),
                step.id.to_string(),
                step.physical
            )?;
            if step.action == Action::Update {
                for c in &step.changes {
                    let old = c.old.as_ref().map(show).unwrap_or_else(|| "(none)".into());
                    let new = match &c.new {
                        Prop::Known(v) => show(v),
                        Prop::Unknown => "(known after apply)".into(),
                    };
                    writeln!(f, "      {}: {old} -> {new}", c.attribute)?;
                }
            }
        }
        for r in &self.removals {
            let note = match r.action {
                Action::Retain => "  (kept: holds data; pass --delete-data to delete it)",
                _ => "",
            };
            writeln!(
                f,
                "  {} {:width$}  {}{note}",
                r.action.symbol(),
                r.target.id.to_string(),
                r.target.physical
            )?;
        }
        for s in &self.skipped {
            writeln!(
                f,
                "  ? {:width$}  {}  (skipped)",
                s.id.to_string(),
                s.physical
            )?;
        }
        let s = self.summary();
        write!(
            f,
            "{} to create, {} to update, {} to delete, {} unchanged",
            s.create, s.update, s.delete, s.unchanged
        )?;
        if s.retain > 0 {
            write!(f, ", {} kept", s.retain)?;
        }
        if s.skipped > 0 {
            write!(f, ", {} skipped", s.skipped)?;
        }
        writeln!(f, ".")?;
        for note in skipped_notes(&self.skipped) {
            writeln!(f, "Note: {note}")?;
        }
        Ok(())
    }
}

fn serialize_changes<S: serde::Serializer>(changes: &[Change], s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct ChangeOut<'a> {
        attribute: &'a str,
        old: Option<&'a Value>,
        new: Option<&'a Value>,
        /// True when the new value depends on a resource that does not exist yet.
        known_after_apply: bool,
    }
    s.collect_seq(changes.iter().map(|c| ChangeOut {
        attribute: &c.attribute,
        old: c.old.as_ref(),
        new: match &c.new {
            Prop::Known(v) => Some(v),
            Prop::Unknown => None,
        },
        known_after_apply: c.new == Prop::Unknown,
    }))
}
