//! Included by the provider test files as `#[path = "common/providers.rs"] mod providers;` next
//! to `mod common;`: a provider context on a test emulator, and the checks every provider test
//! makes (a read writes nothing and shows no diff, updates, discovery, deleting twice).

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use orderflow::aws::{Clients, Target};
use orderflow::resources::{
    diff, Change, Ctx, Discovered, Known, Live, Prop, Provider, ResourceId,
};
use orderflow::spec::Spec;

use crate::common::REGION;

/// A provider context with its own clients (and so its own call log).
pub async fn ctx(endpoint: &str, spec: Spec) -> Ctx {
    let target = Target {
        endpoint_url: Some(endpoint.to_string()),
        region: Some(REGION.into()),
        // Fixed test credentials: never sign with a real account's keys.
        local: true,
        ..Default::default()
    };
    Ctx {
        spec: Arc::new(spec),
        aws: Clients::new(&target, None).await,
        region: REGION.into(),
        artifacts: HashMap::new(),
        parallelism: usize::from(orderflow::resources::DEFAULT_PARALLELISM),
    }
}

/// The same clients and call log with another spec (as a changed pipeline.yaml would give).
pub fn with_spec(ctx: &Ctx, spec: Spec) -> Ctx {
    Ctx {
        spec: Arc::new(spec),
        aws: ctx.aws.clone(),
        region: ctx.region.clone(),
        artifacts: ctx.artifacts.clone(),
        parallelism: ctx.parallelism,
    }
}

/// Operation names of the write calls made through `ctx`'s clients so far.
pub fn writes(ctx: &Ctx) -> Vec<String> {
    ctx.aws
        .calls
        .writes()
        .into_iter()
        .map(|call| call.operation)
        .collect()
}

/// Writes made since `from` (operation names).
pub fn writes_since(ctx: &Ctx, from: usize) -> Vec<String> {
    writes(ctx)[from..].to_vec()
}

/// `p.read`, checked to answer what it answers while a plan is made (`plan` shares reads
/// between kinds and takes some from listings; both ways must see the same resource).
pub async fn read_checked(
    p: &dyn Provider,
    ctx: &Ctx,
    name: &str,
) -> Result<Option<Live>, orderflow::error::Error> {
    let live = p.read(ctx, name).await?;
    let planning = ctx.aws.reads.planning();
    let while_planning = p.read(ctx, name).await?;
    drop(planning);
    let shape = |l: &Option<Live>| {
        l.as_ref()
            .map(|l| (l.props.clone(), l.outputs.clone(), l.owned))
    };
    assert_eq!(
        shape(&live),
        shape(&while_planning),
        "{}.{name}: read while planning differs from a direct read",
        p.kind()
    );
    Ok(live)
}

/// `read` with the guarantee that it made no write call.
pub async fn read(p: &dyn Provider, ctx: &Ctx, name: &str) -> Option<Live> {
    let writes_before = ctx.aws.calls.writes().len();
    let live = read_checked(p, ctx, name).await.expect("read");
    let writes = ctx.aws.calls.writes();
    assert_eq!(
        writes.len(),
        writes_before,
        "read of {}.{name} made write calls: {:?}",
        p.kind(),
        &writes[writes_before..]
    );
    live
}

/// Read, then check the live props equal the desired ones (as `plan` would compare them).
pub async fn assert_in_sync(p: &dyn Provider, ctx: &Ctx, name: &str, known: &Known) -> Live {
    let live = read(p, ctx, name)
        .await
        .unwrap_or_else(|| panic!("{}.{name} should exist", p.kind()));
    assert!(live.owned, "{}.{name} should be owned", p.kind());
    let mut known = known.clone();
    known.insert(ResourceId::new(p.kind(), name), live.outputs.clone());
    let desired = p.desired(ctx, name, &known);
    assert!(
        desired.values().all(|v| *v != Prop::Unknown),
        "desired of {}.{name} has unknown values: {desired:?}",
        p.kind()
    );
    let changes = diff(&desired, &live.props);
    assert!(
        changes.is_empty(),
        "{}.{name} should be unchanged, got {changes:#?}",
        p.kind()
    );
    live
}

pub fn changes_of(
    p: &dyn Provider,
    ctx: &Ctx,
    name: &str,
    known: &Known,
    live: &Live,
) -> Vec<String> {
    let mut known = known.clone();
    known.insert(ResourceId::new(p.kind(), name), live.outputs.clone());
    diff(&p.desired(ctx, name, &known), &live.props)
        .into_iter()
        .map(|c| c.attribute)
        .collect()
}

/// Read a resource that must exist, checking that reading wrote nothing and that its live
/// state equals the desired one.
pub async fn read_unchanged(p: &dyn Provider, ctx: &Ctx, name: &str, known: &Known) -> Live {
    let writes_before = writes(ctx).len();
    let live = read_checked(p, ctx, name)
        .await
        .unwrap_or_else(|e| panic!("reading {}.{name}: {e}", p.kind()))
        .unwrap_or_else(|| panic!("{}.{name} should exist", p.kind()));
    assert_eq!(
        writes(ctx).len(),
        writes_before,
        "read must not write: {:?}",
        writes(ctx)
    );
    assert!(live.owned, "{}.{name} should be owned", p.kind());
    let mut known = known.clone();
    known.insert(ResourceId::new(p.kind(), name), live.outputs.clone());
    let changes = diff(&p.desired(ctx, name, &known), &live.props);
    assert!(
        changes.is_empty(),
        "{}.{name} should be unchanged, got {changes:#?}",
        p.kind()
    );
    live
}

/// Changes between the desired state of `ctx`'s spec and the live resource.
pub async fn changes_for(
    p: &dyn Provider,
    ctx: &Ctx,
    name: &str,
    known: &Known,
) -> (Live, Vec<Change>) {
    let live = read_checked(p, ctx, name).await.unwrap().unwrap();
    let mut known = known.clone();
    known.insert(ResourceId::new(p.kind(), name), live.outputs.clone());
    let changes = diff(&p.desired(ctx, name, &known), &live.props);
    (live, changes)
}

pub async fn discovered(p: &dyn Provider, ctx: &Ctx, name: &str) -> Discovered {
    let mut found = p.discover(ctx).await.expect("discover");
    let planning = ctx.aws.reads.planning();
    let mut while_planning = p.discover(ctx).await.expect("discover while planning");
    drop(planning);
    // Listings differ in order; `plan` sorts what it finds.
    for list in [&mut found, &mut while_planning] {
        list.sort_by(|a, b| (&a.id, &a.handle).cmp(&(&b.id, &b.handle)));
    }
    assert_eq!(
        found,
        while_planning,
        "{}: discovery while planning differs from a direct one",
        p.kind()
    );
    let mut ours: Vec<Discovered> = found
        .into_iter()
        .filter(|d| d.id == ResourceId::new(p.kind(), name))
        .collect();
    assert_eq!(
        ours.len(),
        1,
        "discover should find {}.{name} once",
        p.kind()
    );
    ours.remove(0)
}

/// Delete, check it is gone, and that deleting again is fine.
pub async fn delete_twice(p: &dyn Provider, ctx: &Ctx, target: &Discovered) {
    p.delete(ctx, target).await.expect("delete");
    assert!(
        p.read(ctx, &target.id.name)
            .await
            .expect("read after delete")
            .is_none(),
        "{} should be gone",
        target.id
    );
    p.delete(ctx, target)
        .await
        .expect("deleting again is a no-op");
    assert!(!p
        .discover(ctx)
        .await
        .expect("discover")
        .iter()
        .any(|d| d.id == target.id));
}
