//! `orderflow dev`: watch mode. The stack is brought up to date once, then, until Ctrl-C:
//!
//! - an edit in a function's crate rebuilds only that crate and swaps only its functions' code
//!   (one UpdateFunctionCode each, then reads until the new code serves) — nothing is planned;
//! - an edit in a library crate under functions/ (one the functions depend on) rebuilds every
//!   function crate, and swaps the code of the functions whose package changed;
//! - an edit of pipeline.yaml re-reads it (a mistake is reported, and dev keeps watching), plans
//!   and applies — without asking, which is what `dev` was started for, and never deleting a
//!   table (as `up` without --delete-data);
//! - the functions' logs are printed as they arrive (`--no-logs` to skip).
//!
//! The stack lock is held for the whole session, so a CI deploy to the same stack waits instead
//! of racing the swaps; Ctrl-C or SIGTERM releases it and exits 130/143 (an update in flight
//! has been sent whole or not at all: Lambda applies a code upload atomically).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

use super::logs::{Printer, OVERLAP_MS, POLL};
use super::{confirm, connect, load_spec, project_root, under_lock};
use crate::apply::apply;
use crate::build::{self, Artifact};
use crate::cli::{DevArgs, Global, OutputFormat};
use crate::error::Error;
use crate::graph::Graph;
use crate::kinds::function::FunctionProvider;
use crate::lock::now_ms;
use crate::plan::plan;
use crate::progress::Progress;
use crate::resources::Ctx;
use crate::spec::Spec;

/// Edits arriving within this long of each other are one change (an editor's save is often a
/// write, a rename and a metadata change; `cargo fmt` touches several files).
const SETTLE: Duration = Duration::from_millis(300);

/// What a batch of file events asks for.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Change {
    /// pipeline.yaml changed: re-plan and apply.
    pub(crate) pipeline: bool,
    /// Function crates to rebuild (their functions' code swapped).
    pub(crate) crates: BTreeSet<String>,
}

/// Sort changed paths into what to do: the pipeline file, function crates (by the directory
/// under `functions/`), or every function crate when a library crate there changed. Only
/// sources count (`.rs`, `Cargo.toml`): editor swap files and build output do not.
pub(crate) fn classify(
    paths: &[PathBuf],
    functions_dir: &Path,
    pipeline: &Path,
    spec: &Spec,
) -> Change {
    let function_crates: BTreeSet<&str> = spec
        .functions
        .values()
        .map(|f| f.crate_name.as_str())
        .collect();
    let mut change = Change::default();
    for path in paths {
        if path.file_name() == pipeline.file_name() && path.parent() == pipeline.parent() {
            change.pipeline = true;
            continue;
        }
        let Ok(inside) = path.strip_prefix(functions_dir) else {
            continue;
        };
        let mut parts = inside.components().map(|c| c.as_os_str().to_string_lossy());
        let Some(dir) = parts.next() else { continue };
        let rest: Vec<String> = parts.map(|p| p.into_owned()).collect();
        if rest.iter().any(|p| p == "target" || p.starts_with('.')) {
            continue;
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let source = name
            .as_deref()
            .is_some_and(|n| n.ends_with(".rs") || n == "Cargo.toml");
        if !source {
            continue;
        }
        if function_crates.contains(dir.as_ref()) {
            change.crates.insert(dir.into_owned());
        } else {
            // A library the functions use (order-domain): any of them may be affected.
            change
                .crates
                .extend(function_crates.iter().map(|c| c.to_string()));
        }
    }
    change
}

/// One thing `dev` did, as a JSON line with `--output json` (beside the log lines).
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Event {
    /// Watching; the stack is up to date.
    Watching { stack: String, paths: Vec<PathBuf> },
    /// A crate was rebuilt (`at`: Unix ms when the build finished).
    Built {
        crate_name: String,
        seconds: f64,
        at: u64,
    },
    /// A function's new code serves (`after_build_seconds`: from the end of its build).
    CodeSwapped {
        function: String,
        after_build_seconds: f64,
        at: u64,
    },
    /// The rebuilt package is the one deployed: nothing to swap.
    CodeUnchanged { function: String },
    /// pipeline.yaml was applied.
    Applied {
        create: usize,
        update: usize,
        delete: usize,
        seconds: f64,
    },
    /// A change could not be built or applied; dev keeps watching.
    Failed { what: String, error: String },
}

struct Session<'a> {
    g: &'a Global,
    root: PathBuf,
    progress: &'a Progress,
    /// The spec in force (replaced when pipeline.yaml changes and applies).
    ctx: Ctx,
    /// Code deployed per function, as last uploaded or found by the plan.
    deployed: BTreeMap<String, String>,
}

impl Session<'_> {
    fn emit(&self, event: &Event) {
        if self.g.output == OutputFormat::Json {
            if let Ok(line) = serde_json::to_string(event) {
                println!("{line}");
            }
        }
        if self.g.quiet {
            return;
        }
        match event {
            Event::Watching { stack, paths } => {
                let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
                self.progress.note(format!(
                    "dev: stack {stack} is up to date; watching {} (Ctrl-C to stop)",
                    shown.join(", ")
                ))
            }
            Event::Built {
                crate_name,
                seconds,
                ..
            } => self
                .progress
                .note(format!("dev: built {crate_name} in {seconds:.1} s")),
            Event::CodeSwapped {
                function,
                after_build_seconds,
                ..
            } => self.progress.note(format!(
                "dev: {function} serves the new code ({after_build_seconds:.2} s after the build)"
            )),
            Event::CodeUnchanged { function } => self
                .progress
                .note(format!("dev: {function}: the package did not change")),
            Event::Applied {
                create,
                update,
                delete,
                seconds,
            } => self.progress.note(format!(
                "dev: pipeline applied: {create} created, {update} updated, {delete} deleted in {seconds:.1} s"
            )),
            Event::Failed { what, error } => {
                self.progress.note(format!("dev: {what} failed: {error}"))
            }
        }
    }

    /// Build every function, plan, apply: the start of a session and every pipeline edit.
    async fn converge(&mut self) -> Result<(), Error> {
        let started = Instant::now();
        let spec = Arc::clone(&self.ctx.spec);
        let root = self.root.clone();
        let artifacts =
            tokio::task::spawn_blocking(move || build::build_functions(&spec, &root, None))
                .await
                .map_err(|e| Error::Other(format!("the build task failed: {e}")))??;
        self.ctx.artifacts = artifacts;
        let graph = Graph::build(&self.ctx.spec)?;
        let p = plan(&self.ctx, &graph, false).await?;
        if p.has_changes() && !self.g.quiet {
            eprint!("{p}");
        }
        apply(&self.ctx, &graph, &p, self.progress).await?;
        self.deployed = self
            .ctx
            .artifacts
            .iter()
            .map(|(f, a)| (f.clone(), a.code_sha256.clone()))
            .collect();
        let s = p.summary();
        self.emit(&Event::Applied {
            create: s.create,
            update: s.update,
            delete: s.delete,
            seconds: started.elapsed().as_secs_f64(),
        });
        Ok(())
    }

    /// Rebuild `crates` and swap the code of their functions whose package changed.
    async fn swap(&mut self, crates: &BTreeSet<String>) -> Result<(), Error> {
        for crate_name in crates {
            let started = Instant::now();
            let spec = Arc::clone(&self.ctx.spec);
            let root = self.root.clone();
            let only = vec![crate_name.clone()];
            let artifacts: std::collections::HashMap<String, Artifact> =
                tokio::task::spawn_blocking(move || {
                    build::build_crates(&spec, &root, None, Some(&only))
                })
                .await
                .map_err(|e| Error::Other(format!("the build task failed: {e}")))??;
            let built = Instant::now();
            self.emit(&Event::Built {
                crate_name: crate_name.clone(),
                seconds: started.elapsed().as_secs_f64(),
                at: now_ms(),
            });
            let mut functions: Vec<(&String, &Artifact)> = artifacts.iter().collect();
            functions.sort_by_key(|(f, _)| f.as_str());
            for (function, artifact) in functions {
                if self.deployed.get(function) == Some(&artifact.code_sha256) {
                    self.emit(&Event::CodeUnchanged {
                        function: function.clone(),
                    });
                    continue;
                }
                FunctionProvider::update_code(&self.ctx, function, artifact).await?;
                self.deployed
                    .insert(function.clone(), artifact.code_sha256.clone());
                self.ctx
                    .artifacts
                    .insert(function.clone(), artifact.clone());
                self.emit(&Event::CodeSwapped {
                    function: function.clone(),
                    after_build_seconds: built.elapsed().as_secs_f64(),
                    at: now_ms(),
                });
            }
        }
        Ok(())
    }

    /// pipeline.yaml changed: read it again; apply it if it is valid and still this stack.
    async fn reload(&mut self) -> Result<(), Error> {
        let spec = match load_spec(self.g) {
            Ok(spec) => spec,
            Err(e) => {
                // The whole report, positions and hints: the user is fixing the file.
                eprintln!("{:?}", miette::Report::new(e));
                return Ok(());
            }
        };
        let now = &self.ctx.spec;
        if spec.stack != now.stack || spec.region != now.region || spec.accounts != now.accounts {
            return Err(Error::Refused(
                "the edit changes the stack, region or accounts: stop dev (Ctrl-C) and start it again to switch".into(),
            ));
        }
        self.ctx = Ctx {
            spec: Arc::new(spec),
            aws: self.ctx.aws.clone(),
            region: self.ctx.region.clone(),
            artifacts: Default::default(),
            parallelism: self.ctx.parallelism,
        };
        self.converge().await
    }
}

/// Start a watcher on `paths` (recursively), sending changed paths.
fn watch(
    paths: &[PathBuf],
) -> Result<(notify::RecommendedWatcher, mpsc::UnboundedReceiver<PathBuf>), Error> {
    use notify::Watcher;
    let (tx, rx) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            if !matches!(event.kind, notify::EventKind::Access(_)) {
                for path in event.paths {
                    let _ = tx.send(path);
                }
            }
        }
    })
    .map_err(|e| Error::Other(format!("watching files: {e}")))?;
    for path in paths {
        watcher
            .watch(path, notify::RecursiveMode::Recursive)
            .map_err(|e| Error::Other(format!("watching {}: {e}", path.display())))?;
    }
    Ok((watcher, rx))
}

pub async fn run(g: &Global, args: DevArgs) -> Result<ExitCode, Error> {
    let progress = Progress::new(g.quiet);
    let spec = load_spec(g)?;
    let root = project_root(&g.file);
    let ctx = connect(g, spec).await?;
    confirm(
        &format!(
            "dev applies every change to stack {} without asking (tables are never deleted), until Ctrl-C.",
            ctx.spec.stack
        ),
        args.yes,
    )?;
    let functions_dir = root.join("functions");
    // The directory, not the file: editors save by writing a new file and renaming it.
    let pipeline_dir = match g.file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let functions_dir = abs(&functions_dir);
    let pipeline = abs(&pipeline_dir).join(g.file.file_name().unwrap_or_default());
    let names: Vec<String> = ctx.spec.functions.keys().cloned().collect();
    let work = async {
        let mut session = Session {
            g,
            root: root.clone(),
            progress: &progress,
            ctx: Ctx {
                spec: Arc::clone(&ctx.spec),
                aws: ctx.aws.clone(),
                region: ctx.region.clone(),
                artifacts: Default::default(),
                parallelism: ctx.parallelism,
            },
            deployed: BTreeMap::new(),
        };
        session.converge().await?;
        let mut watched = vec![abs(&pipeline_dir)];
        if functions_dir.is_dir() {
            watched.push(functions_dir.clone());
        }
        let (_watcher, mut changes) = watch(&watched)?;
        session.emit(&Event::Watching {
            stack: session.ctx.spec.stack.clone(),
            paths: vec![pipeline.clone(), functions_dir.clone()],
        });
        let mut printer = Printer::new(g.output, &names);
        let mut logs_from = i64::try_from(now_ms()).unwrap_or(i64::MAX);
        let mut tick = tokio::time::interval(POLL);
        loop {
            tokio::select! {
                Some(first) = changes.recv() => {
                    let mut paths = vec![first];
                    // Collect the rest of the burst.
                    while let Ok(Some(p)) = tokio::time::timeout(SETTLE, changes.recv()).await {
                        paths.push(p);
                    }
                    let change = classify(&paths, &functions_dir, &pipeline, &session.ctx.spec);
                    let result = if change.pipeline {
                        session.reload().await
                    } else if !change.crates.is_empty() {
                        session.swap(&change.crates).await
                    } else {
                        Ok(())
                    };
                    if let Err(e) = result {
                        let what = if change.pipeline { "applying pipeline.yaml" } else { "swapping code" };
                        session.emit(&Event::Failed { what: what.into(), error: e.to_string() });
                    }
                }
                _ = tick.tick(), if !args.no_logs => {
                    let names: Vec<String> = session.ctx.spec.functions.keys().cloned().collect();
                    if let Ok(read) = crate::operations::logs::read(
                        &session.ctx, &names, logs_from - OVERLAP_MS, None, None,
                    ).await {
                        if let Ok(Some(t)) = printer.print(&read.lines) {
                            logs_from = logs_from.max(t);
                        }
                    }
                }
                // The watcher's channel closed (its thread died): nothing more will be seen.
                else => {
                    return Err::<(), Error>(Error::Other(
                        "dev: the file watcher stopped; restart dev".into(),
                    ))
                }
            }
        }
    };
    under_lock(g, &ctx, "dev", &progress, work).await?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        crate::spec::parse(
            "pipeline.yaml",
            "stack: s\nfunctions:\n  a: { crate: alpha }\n  a2: { crate: alpha }\n  b: { crate: beta }\n",
        )
        .expect("valid")
    }

    fn classify_paths(paths: &[&str]) -> Change {
        let paths: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
        classify(
            &paths,
            Path::new("/p/functions"),
            Path::new("/p/pipeline.yaml"),
            &spec(),
        )
    }

    fn crates(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_edit_in_a_function_crate_rebuilds_only_that_crate() {
        let c = classify_paths(&["/p/functions/alpha/src/main.rs"]);
        assert_eq!(
            c,
            Change {
                pipeline: false,
                crates: crates(&["alpha"])
            }
        );
        let c = classify_paths(&[
            "/p/functions/beta/Cargo.toml",
            "/p/functions/beta/src/x/y.rs",
        ]);
        assert_eq!(c.crates, crates(&["beta"]));
    }

    #[test]
    fn an_edit_in_a_library_crate_rebuilds_every_function_crate() {
        let c = classify_paths(&["/p/functions/order-domain/src/lib.rs"]);
        assert_eq!(c.crates, crates(&["alpha", "beta"]));
    }

    #[test]
    fn the_pipeline_file_is_recognised_and_noise_is_ignored() {
        let c = classify_paths(&["/p/pipeline.yaml"]);
        assert_eq!(
            c,
            Change {
                pipeline: true,
                crates: BTreeSet::new()
            }
        );
        for noise in [
            "/p/functions/alpha/src/.main.rs.swp",
            "/p/functions/alpha/src/main.rs~",
            "/p/functions/alpha/4913",
            "/p/functions/alpha/target/debug/x.rs",
            "/p/other.yaml",
            "/p/README.md",
        ] {
            assert_eq!(classify_paths(&[noise]), Change::default(), "{noise}");
        }
    }
}
