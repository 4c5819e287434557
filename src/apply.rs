//! Carry out a plan: declared resources in dependency order, independent ones concurrently;
//! then deletions of undeclared owned resources, kind by kind in `Kind::delete_rank` order.
//! A failure stops new work, lets in-flight work finish and is reported; the next `up` converges
//! because the plan is always read from AWS.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use futures::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;

use crate::error::Error;
use crate::graph::Graph;
use crate::kinds::Section;
use crate::plan::{Action, Plan, Removal, Step};
use crate::progress::Progress;
use crate::resources::{diff, Ctx, Known, Outputs, ResourceId};

/// What happened to one resource.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub id: ResourceId,
    pub physical: String,
    pub action: Action,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    pub applied: Vec<Applied>,
    /// Outputs of every declared resource after the run.
    #[serde(skip)]
    pub known: Known,
}

/// Apply `plan`. Declared steps marked unchanged are re-checked against the outputs of
/// dependencies created in this run, so nothing stale is left behind and no call is made for
/// what already matches.
pub async fn apply(
    ctx: &Ctx,
    graph: &Graph,
    plan: &Plan,
    progress: &Progress,
) -> Result<ApplyReport, Error> {
    let mut known = plan.known.clone();
    let mut applied = Vec::new();
    let mut done: HashSet<&ResourceId> = HashSet::new();
    let mut started: HashSet<&ResourceId> = HashSet::new();
    let mut running = FuturesUnordered::new();
    let mut failure: Option<Error> = None;

    loop {
        if failure.is_none() {
            for step in &plan.steps {
                if started.contains(&step.id) {
                    continue;
                }
                let ready = graph
                    .deps
                    .get(&step.id)
                    .is_none_or(|d| d.iter().all(|dep| done.contains(dep)));
                if ready {
                    started.insert(&step.id);
                    let snapshot = known.clone();
                    running.push(async move {
                        let t = Instant::now();
                        let result = run_step(ctx, step, &snapshot, progress).await;
                        (step, t.elapsed().as_secs_f64(), result)
                    });
                }
            }
        }
        let Some((step, seconds, result)) = running.next().await else {
            break;
        };
        match result {
            Ok((action, outputs)) => {
                if action != Action::Unchanged {
                    progress.done(action, &step.id, &step.physical, seconds);
                }
                known.insert(step.id.clone(), outputs);
                done.insert(&step.id);
                applied.push(Applied {
                    id: step.id.clone(),
                    physical: step.physical.clone(),
                    action,
                    seconds,
                });
            }
            Err(e) => {
                progress.failed(&step.id, &e);
                failure.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }

    applied.extend(delete_all(ctx, &plan.removals, progress).await?);
    Ok(ApplyReport { applied, known })
}

async fn run_step(
    ctx: &Ctx,
    step: &Step,
    known: &Known,
    progress: &Progress,
) -> Result<(Action, Outputs), Error> {
    let provider = step.id.kind.provider();
    let name = &step.id.name;
    match &step.live {
        None => {
            progress.start(Action::Create, &step.id, &step.physical);
            let outputs = provider.create(ctx, name, known).await?;
            Ok((Action::Create, outputs))
        }
        Some(live) => {
            let mut with_self = known.clone();
            with_self.insert(step.id.clone(), live.outputs.clone());
            let desired = provider.desired(ctx, name, &with_self);
            let changes = diff(&desired, &live.props);
            if changes.is_empty() {
                return Ok((Action::Unchanged, live.outputs.clone()));
            }
            progress.start(Action::Update, &step.id, &step.physical);
            let outputs = provider
                .update(ctx, name, &with_self, live, &changes)
                .await?;
            Ok((Action::Update, outputs))
        }
    }
}

/// Delete owned resources kind by kind (wiring first, data last); within a kind, concurrently.
/// `Retain` removals are reported, not deleted.
pub async fn delete_all(
    ctx: &Ctx,
    removals: &[Removal],
    progress: &Progress,
) -> Result<Vec<Applied>, Error> {
    let mut by_rank: BTreeMap<usize, Vec<&Removal>> = BTreeMap::new();
    for r in removals {
        by_rank
            .entry(r.target.id.kind.delete_rank())
            .or_default()
            .push(r);
    }
    let mut applied = Vec::new();
    for (_, group) in by_rank {
        let mut running: FuturesUnordered<_> = group
            .into_iter()
            .map(|r| async move {
                let t = Instant::now();
                if r.action == Action::Delete {
                    progress.start(Action::Delete, &r.target.id, &r.target.physical);
                    r.target.id.kind.provider().delete(ctx, &r.target).await?;
                }
                Ok::<_, Error>((r, t.elapsed().as_secs_f64()))
            })
            .collect();
        let mut failure = None;
        while let Some(result) = running.next().await {
            match result {
                Ok((r, seconds)) => {
                    progress.done(r.action, &r.target.id, &r.target.physical, seconds);
                    applied.push(Applied {
                        id: r.target.id.clone(),
                        physical: r.target.physical.clone(),
                        action: r.action,
                        seconds,
                    });
                }
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
    }
    Ok(applied)
}

/// The outputs users care about after `up`, per section (each kind names the one it shows:
/// a bus's ARN, a queue's URL, an API's URL...): section key → logical name → outputs.
#[derive(Debug, Clone, Default)]
pub struct StackOutputs(Vec<(Section, BTreeMap<String, Outputs>)>);

impl StackOutputs {
    pub fn from_known(known: &Known) -> StackOutputs {
        let sections = Section::ALL
            .iter()
            .filter(|s| s.shown_output().is_some())
            .map(|&s| {
                let entries = known
                    .iter()
                    .filter(|(id, _)| id.kind == s.resource())
                    .map(|(id, o)| (id.name.clone(), o.clone()))
                    .collect();
                (s, entries)
            })
            .collect();
        StackOutputs(sections)
    }
}

/// `{ "buses": { name: outputs }, "queues": ..., ... }`, sections in the file's order.
impl Serialize for StackOutputs {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (section, entries) in &self.0 {
            map.serialize_entry(section.key(), entries)?;
        }
        map.end()
    }
}

impl std::fmt::Display for StackOutputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "Outputs:")?;
        for (section, entries) in &self.0 {
            let key = section.shown_output().unwrap_or("name");
            for (name, o) in entries {
                let value = o.get(key).map(String::as_str).unwrap_or("-");
                writeln!(f, "  {}.{name}.{key} = {value}", section.resource())?;
            }
        }
        Ok(())
    }
}
