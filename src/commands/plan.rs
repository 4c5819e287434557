//! `orderflow plan`: read actual state and show what `up` would do. Read calls only.

use std::process::ExitCode;

use super::{connect, emit, load_spec, project_root};
use crate::build;
use crate::cli::{Global, PlanArgs};
use crate::error::Error;
use crate::graph::Graph;
use crate::plan::plan;

pub fn exit_code(detailed: bool, changes: bool) -> ExitCode {
    if detailed && changes {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

pub async fn run(g: &Global, args: PlanArgs) -> Result<ExitCode, Error> {
    let spec = load_spec(g)?;
    let graph = Graph::build(&spec)?;
    // Who and where first: a wrong account or no credentials stop the run before a build.
    let mut ctx = connect(g, spec).await?;
    // Build (or take prebuilt) packages so code changes show up as a code_sha256 change.
    let artifacts = build::build_functions(
        &ctx.spec,
        &project_root(&g.file),
        args.build.prebuilt.as_deref(),
    )?;
    ctx.artifacts = artifacts;
    // plan never waits for the stack lock (it writes nothing) but says when a run holds it.
    // Best effort: a read-only role without access to the lock table still gets its plan.
    if let Ok(Some(holder)) = crate::lock::LockTable::new(&ctx).read().await {
        if !g.quiet {
            eprintln!(
                "note: stack {} is locked by {}; while that run changes the stack, this plan may be outdated",
                ctx.spec.stack,
                holder.describe(crate::lock::now_ms())
            );
        }
    }
    let p = plan(&ctx, &graph, args.delete_data).await?;
    emit(g.output, &p)?;
    Ok(exit_code(args.detailed_exitcode, p.has_changes()))
}
