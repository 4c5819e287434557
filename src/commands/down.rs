//! `orderflow down`: delete, in reverse dependency order, only what carries this stack's
//! ownership tag. Tables (data) are kept unless `--delete-data`.

use std::fmt;
use std::process::ExitCode;

use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use super::{confirm, connect, emit, load_spec, under_lock};
use crate::apply::{delete_all, Applied};
use crate::cli::{DownArgs, Global};
use crate::error::Error;
use crate::lock::LockReport;
use crate::plan::{Action, Removal};
use crate::progress::Progress;
use crate::resources::{Ctx, Discovered, Kind};

#[derive(Debug, Serialize)]
pub struct DownResult {
    pub stack: String,
    pub deleted: Vec<Applied>,
    /// Owned tables left in place because `--delete-data` was not given.
    pub kept: Vec<Discovered>,
    /// The stack lock this run held.
    pub lock: LockReport,
}

impl fmt::Display for DownResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let deleted = self
            .deleted
            .iter()
            .filter(|a| a.action == Action::Delete)
            .count();
        if deleted == 0 {
            writeln!(f, "Nothing to delete for stack {}.", self.stack)?;
        } else {
            writeln!(f, "Deleted {deleted} resources of stack {}.", self.stack)?;
        }
        for k in &self.kept {
            writeln!(
                f,
                "Kept {} ({}) and its data; run `orderflow down --delete-data` to delete it.",
                k.id, k.physical
            )?;
        }
        Ok(())
    }
}

pub async fn run(g: &Global, args: DownArgs) -> Result<ExitCode, Error> {
    let progress = Progress::new(g.quiet);
    let spec = load_spec(g)?;
    let ctx = connect(g, spec).await?;
    let work = delete_owned(g, &args, &ctx, &progress);
    let ((deleted, kept), lock) = under_lock(g, &ctx, "down", &progress, work).await?;
    emit(
        g.output,
        &DownResult {
            stack: ctx.spec.stack.clone(),
            deleted,
            kept,
            lock,
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Discover what the stack owns, confirm, delete (under the stack lock).
async fn delete_owned(
    g: &Global,
    args: &DownArgs,
    ctx: &Ctx,
    progress: &Progress,
) -> Result<(Vec<Applied>, Vec<Discovered>), Error> {
    let found: Vec<Vec<Discovered>> = stream::iter(Kind::ALL.iter().copied())
        .map(|kind| async move { kind.provider().discover(ctx).await })
        .buffered(4)
        .try_collect()
        .await?;
    let mut removals: Vec<Removal> = stream::iter(found.into_iter().flatten())
        .map(|target| Removal::decide(ctx, target, args.delete_data))
        .buffered(ctx.parallelism.max(1))
        .try_collect()
        .await?;
    removals.sort_by(|a, b| {
        (a.target.id.kind.delete_rank(), &a.target.id)
            .cmp(&(b.target.id.kind.delete_rank(), &b.target.id))
    });
    let (to_delete, kept): (Vec<Removal>, Vec<Removal>) = removals
        .into_iter()
        .partition(|r| r.action == Action::Delete);

    if !to_delete.is_empty() {
        if !g.quiet {
            eprintln!("Stack {} — to delete:", ctx.spec.stack);
            for r in &to_delete {
                eprintln!("  - {}  {}", r.target.id, r.target.physical);
            }
            for r in &kept {
                eprintln!(
                    "  ! {}  {}  (kept: pass --delete-data to delete it and its data)",
                    r.target.id, r.target.physical
                );
            }
        }
        confirm(
            &format!(
                "Delete {} resources of stack {}{}?",
                to_delete.len(),
                ctx.spec.stack,
                if args.delete_data {
                    ", including table data"
                } else {
                    ""
                }
            ),
            args.yes,
        )?;
    }
    let deleted = delete_all(ctx, &to_delete, progress).await?;
    Ok((deleted, kept.into_iter().map(|r| r.target).collect()))
}
