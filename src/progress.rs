//! Progress lines on stderr for long work, so stdout stays clean for `--output json`.

use std::time::Instant;

use crate::error::Error;
use crate::plan::Action;
use crate::resources::ResourceId;

#[derive(Debug)]
pub struct Progress {
    quiet: bool,
    start: Instant,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        Progress {
            quiet,
            start: Instant::now(),
        }
    }

    fn line(&self, msg: std::fmt::Arguments<'_>) {
        if !self.quiet {
            eprintln!("[{:>6.1}s] {msg}", self.start.elapsed().as_secs_f64());
        }
    }

    pub fn note(&self, msg: impl std::fmt::Display) {
        self.line(format_args!("{msg}"));
    }

    pub fn start(&self, action: Action, id: &ResourceId, physical: &str) {
        let verb = match action {
            Action::Create => "creating",
            Action::Update => "updating",
            Action::Delete => "deleting",
            _ => return,
        };
        self.line(format_args!("{verb} {id} ({physical})"));
    }

    pub fn done(&self, action: Action, id: &ResourceId, physical: &str, seconds: f64) {
        let verb = match action {
            Action::Create => "created",
            Action::Update => "updated",
            Action::Delete => "deleted",
            Action::Retain => "kept",
            Action::Unchanged => return,
        };
        self.line(format_args!("{verb} {id} ({physical}) in {seconds:.1}s"));
    }

    pub fn failed(&self, id: &ResourceId, e: &Error) {
        self.line(format_args!("FAILED {id}: {e}"));
    }
}
