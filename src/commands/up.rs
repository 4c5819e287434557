//! `orderflow up`: build the functions, plan, confirm, apply in dependency order, print outputs.
//! On an unchanged pipeline it makes read calls only.

use std::fmt;
use std::process::ExitCode;
use std::time::Instant;

use serde::Serialize;

use super::{confirm, connect, emit, load_spec, project_root, under_lock, CallCounts};
use crate::apply::{apply, Applied, StackOutputs};
use crate::build;
use crate::cli::{Global, OutputFormat, UpArgs};
use crate::error::Error;
use crate::graph::Graph;
use crate::lock::LockReport;
use crate::plan::{plan, skipped_notes, Action, Skipped, Summary};
use crate::progress::Progress;

#[derive(Debug, Serialize)]
pub struct UpResult {
    pub stack: String,
    pub region: String,
    /// The account and caller the stack was changed as.
    pub identity: Option<crate::identity::Identity>,
    /// What the plan said before applying.
    pub plan: Summary,
    pub applied: Vec<Applied>,
    /// Declared resources this endpoint cannot manage (a local emulator without the
    /// service's API), and why; empty on AWS.
    pub skipped: Vec<Skipped>,
    pub outputs: StackOutputs,
    pub api_calls: CallCounts,
    /// The stack lock this run held (who, since when, how long it waited, released).
    pub lock: LockReport,
    pub seconds: f64,
}

impl fmt::Display for UpResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = |a: Action| self.applied.iter().filter(|x| x.action == a).count();
        let (c, u, d) = (
            count(Action::Create),
            count(Action::Update),
            count(Action::Delete),
        );
        if c + u + d == 0 {
            writeln!(f, "No changes: stack {} is up to date.", self.stack)?;
        } else {
            writeln!(
                f,
                "Applied stack {}: {c} created, {u} updated, {d} deleted in {:.1} s.",
                self.stack, self.seconds
            )?;
        }
        for kept in self.applied.iter().filter(|x| x.action == Action::Retain) {
            writeln!(
                f,
                "Kept {} ({}): it holds data; `up --delete-data` deletes it.",
                kept.id, kept.physical
            )?;
        }
        for note in skipped_notes(&self.skipped) {
            writeln!(f, "Note: {note}")?;
        }
        write!(f, "{}", self.outputs)
    }
}

pub async fn run(g: &Global, args: UpArgs) -> Result<ExitCode, Error> {
    let started = Instant::now();
    let progress = Progress::new(g.quiet);
    let spec = load_spec(g)?;
    let graph = Graph::build(&spec)?;
    if args.build.prebuilt.is_none() && !spec.functions.is_empty() {
        progress.note("building functions (cargo, profile `lambda`)");
    }
    // Who and where first: a wrong account or no credentials stop the run before a build.
    let mut ctx = connect(g, spec).await?;
    let artifacts = build::build_functions(
        &ctx.spec,
        &project_root(&g.file),
        args.build.prebuilt.as_deref(),
    )?;
    ctx.artifacts = artifacts;

    // Plan under the lock too: a plan read while another run applies would be stale.
    let work = async {
        let p = plan(&ctx, &graph, args.delete_data).await?;
        for note in skipped_notes(&p.skipped) {
            progress.note(note);
        }
        if p.has_changes() {
            match g.output {
                OutputFormat::Text => print!("{p}"),
                OutputFormat::Json if !g.quiet => eprint!("{p}"),
                OutputFormat::Json => {}
            }
            let s = p.summary();
            confirm(
                &format!(
                    "Apply {} creations, {} updates and {} deletions to stack {}?",
                    s.create, s.update, s.delete, p.stack
                ),
                args.yes,
            )?;
        }
        let report = apply(&ctx, &graph, &p, &progress).await?;
        Ok((p, report))
    };
    let ((p, report), lock) = under_lock(g, &ctx, "up", &progress, work).await?;
    let result = UpResult {
        stack: p.stack.clone(),
        region: p.region.clone(),
        identity: p.identity.clone(),
        plan: p.summary(),
        applied: report
            .applied
            .into_iter()
            .filter(|a| a.action != Action::Unchanged)
            .collect(),
        skipped: p.skipped.clone(),
        outputs: StackOutputs::from_known(&report.known),
        api_calls: CallCounts::of_locked(&ctx, &lock),
        lock,
        seconds: started.elapsed().as_secs_f64(),
    };
    emit(g.output, &result)?;
    Ok(ExitCode::SUCCESS)
}
