//! Carry out a plan: declared resources in dependency order, independent ones concurrently (at
//! most `--parallelism` at once); then deletions of undeclared owned resources, kind by kind in
//! `Kind::delete_rank` order. A failure stops new work, lets in-flight work finish and is
//! reported; the next `up` converges because the plan is always read from AWS.
//!
//! Two things real AWS does that the engine absorbs for every kind:
//! - a create whose response was lost (a 5xx or timeout after AWS applied it) is retried by the
//!   SDK and answered "already exists": the resource is read back and adopted if it carries this
//!   stack's ownership tag (see [`adopt`]);
//! - a deletion is not instantly visible: each deleted resource is polled until AWS stops
//!   answering for it (`Provider::still_visible`), so `down` does not report done, and the next
//!   `up` does not trust a read, while the deletion settles.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use futures::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;

use crate::error::Error;
use crate::graph::Graph;
use crate::kinds::Section;
use crate::plan::{Action, Plan, Removal, Step};
use crate::progress::Progress;
use crate::resources::{diff, Ctx, Discovered, Known, Live, Outputs, ResourceId};
use crate::retry::{poll_until, Backoff};

/// How long a resource AWS just said "already exists" may take to show up in reads (IAM and
/// other control planes are eventually consistent).
const ADOPT_READ: Backoff = Backoff::new(200, 2_000, 30);

/// How long a deletion may take to become visible. SQS documents up to 60 s for a queue; other
/// control planes settle within seconds.
const DELETION_VISIBLE: Backoff = Backoff::new(250, 5_000, 120);

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
    // Skipped resources (an endpoint without their API) count as done: nothing waits on them.
    let mut done: HashSet<&ResourceId> = plan.skipped.iter().map(|s| &s.id).collect();
    let mut started: HashSet<&ResourceId> = HashSet::new();
    let mut running = FuturesUnordered::new();
    let mut failure: Option<Error> = None;

    loop {
        if failure.is_none() {
            for step in &plan.steps {
                if running.len() >= ctx.parallelism.max(1) {
                    break;
                }
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
            match provider.create(ctx, name, known).await {
                Ok(outputs) => Ok((Action::Create, outputs)),
                Err(e) if is_already_exists(&e) => {
                    let outputs = adopt(ctx, step, known, e).await?;
                    Ok((Action::Create, outputs))
                }
                Err(e) => Err(e),
            }
        }
        Some(live) => {
            let started = || progress.start(Action::Update, &step.id, &step.physical);
            match converge(ctx, step, known, live, started).await? {
                None => Ok((Action::Unchanged, live.outputs.clone())),
                Some(outputs) => Ok((Action::Update, outputs)),
            }
        }
    }
}

/// Update an existing resource to the desired state: `None` when it already matches (no call
/// made), else the outputs after the update (`starting` runs just before it).
async fn converge(
    ctx: &Ctx,
    step: &Step,
    known: &Known,
    live: &Live,
    starting: impl FnOnce(),
) -> Result<Option<Outputs>, Error> {
    let provider = step.id.kind.provider();
    let mut with_self = known.clone();
    with_self.insert(step.id.clone(), live.outputs.clone());
    let desired = provider.desired(ctx, &step.id.name, &with_self);
    let changes = diff(&desired, &live.props);
    if changes.is_empty() {
        return Ok(None);
    }
    starting();
    let outputs = provider
        .update(ctx, &step.id.name, &with_self, live, &changes)
        .await?;
    Ok(Some(outputs))
}

/// Error codes services answer a create with when the resource is already there. Some codes
/// mean other things too (Lambda's `ResourceConflictException` also says "an update is in
/// progress", DynamoDB's `ResourceInUseException` also "the table is being deleted"): those
/// count only when the message says the resource exists.
const ALREADY_EXISTS: &[&str] = &[
    "EntityAlreadyExists",            // IAM
    "ResourceAlreadyExistsException", // EventBridge
    "AlreadyExistsException",         // SESv2
    "QueueAlreadyExists",             // SQS (query-compatible code)
    "QueueNameExists",                // SQS (JSON protocol)
];
const SOMETIMES_ALREADY_EXISTS: &[&str] = &[
    "ResourceConflictException", // Lambda: function, mapping, permission statement
    "ConflictException",         // API Gateway: route, stage
    "ResourceInUseException",    // DynamoDB: CreateTable
];

pub(crate) fn is_already_exists(e: &Error) -> bool {
    let message = e.aws_message().unwrap_or_default().to_ascii_lowercase();
    e.code().is_some_and(|code| {
        ALREADY_EXISTS.contains(&code)
            || (SOMETIMES_ALREADY_EXISTS.contains(&code) && message.contains("already exist"))
    })
}

/// A create was answered "already exists". The usual cause is the SDK retrying a create whose
/// first attempt AWS applied but whose response was lost (a 5xx or a dropped connection): read
/// the resource back and, if it carries this stack's ownership tag, bring it to the desired
/// state like an update. One that is not this stack's is refused, as `plan` refuses it.
async fn adopt(ctx: &Ctx, step: &Step, known: &Known, exists: Error) -> Result<Outputs, Error> {
    let provider = step.id.kind.provider();
    let what = format!("{}: reading back what AWS says already exists", step.id);
    let live = poll_until(what, ADOPT_READ, || provider.read(ctx, &step.id.name))
        .await
        .map_err(|e| match e {
            // Never became readable: the original answer says more than the timeout.
            Error::Timeout { .. } => exists,
            other => other,
        })?;
    if !live.owned {
        return Err(crate::resources::not_owned(ctx, &step.id, &step.physical));
    }
    tracing::info!(resource = %step.id, "adopting a resource an earlier attempt created");
    Ok(converge(ctx, step, known, &live, || {})
        .await?
        .unwrap_or(live.outputs))
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
        let mut running = futures::stream::iter(group)
            .map(|r| async move {
                let t = Instant::now();
                if r.action == Action::Delete {
                    progress.start(Action::Delete, &r.target.id, &r.target.physical);
                    let provider = r.target.id.kind.provider();
                    if r.with_data {
                        provider.delete_with_data(ctx, &r.target).await?;
                    } else {
                        provider.delete(ctx, &r.target).await?;
                    }
                    wait_invisible(ctx, &r.target).await?;
                }
                Ok::<_, Error>((r, t.elapsed().as_secs_f64()))
            })
            .buffer_unordered(ctx.parallelism.max(1));
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

/// Poll until AWS no longer answers for a deleted resource (within [`DELETION_VISIBLE`]).
async fn wait_invisible(ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
    let provider = target.id.kind.provider();
    let what = format!(
        "{} ({}): waiting until the deletion is visible",
        target.id, target.physical
    );
    poll_until(what, DELETION_VISIBLE, || async {
        Ok((!provider.still_visible(ctx, target).await?).then_some(()))
    })
    .await
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

#[cfg(test)]
mod tests {
    use super::*;

    fn aws(code: &str, message: &str) -> Error {
        Error::Aws {
            resource: "x.y".into(),
            action: "Create".into(),
            code: Some(code.into()),
            message: format!("{code}: {message}"),
        }
    }

    #[test]
    fn already_exists_answers_of_each_service_are_recognised() {
        for (code, message) in [
            (
                "EntityAlreadyExists",
                "Role with name shop-validate already exists.",
            ),
            (
                "ResourceAlreadyExistsException",
                "Event bus shop-orders already exists.",
            ),
            ("AlreadyExistsException", "Email identity already exists"),
            (
                "QueueAlreadyExists",
                "A queue already exists with the same name",
            ),
            (
                "ResourceConflictException",
                "Function already exist: shop-validate",
            ),
            (
                "ResourceConflictException",
                "The statement id (rule-validate) provided already exists.",
            ),
            (
                "ConflictException",
                "Route with key POST /orders already exists for this API",
            ),
            (
                "ResourceInUseException",
                "Table already exists: shop-orders",
            ),
        ] {
            assert!(is_already_exists(&aws(code, message)), "{code}: {message}");
        }
    }

    #[test]
    fn conflicts_that_are_not_about_existence_are_not_adopted() {
        for (code, message) in [
            (
                "ResourceConflictException",
                "The operation cannot be performed at this time. An update is in progress for resource",
            ),
            ("ResourceInUseException", "Attempt to change a resource which is still in use"),
            (
                "ConflictException",
                "Unable to complete operation due to concurrent modification.",
            ),
            ("ThrottlingException", "Rate exceeded"),
        ] {
            assert!(!is_already_exists(&aws(code, message)), "{code}: {message}");
        }
        assert!(!is_already_exists(&Error::Other("already exists".into())));
    }
}
