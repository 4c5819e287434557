//! `orderflow validate`: check the file; no AWS call.

use std::fmt;
use std::process::ExitCode;

use serde::Serialize;

use super::{emit, load_spec};
use crate::cli::Global;
use crate::error::Error;
use crate::graph::Graph;

#[derive(Debug, Serialize)]
pub struct Validated {
    pub file: String,
    pub stack: String,
    /// The environment (`--env`) validated, if one was selected (every one is checked).
    pub environment: Option<String>,
    pub resources: usize,
}

impl fmt::Display for Validated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.environment {
            Some(env) => writeln!(
                f,
                "{}: valid (environment {env}: stack {}, {} resources)",
                self.file, self.stack, self.resources
            ),
            None => writeln!(
                f,
                "{}: valid (stack {}, {} resources)",
                self.file, self.stack, self.resources
            ),
        }
    }
}

pub fn run(g: &Global) -> Result<ExitCode, Error> {
    let spec = load_spec(g)?;
    let graph = Graph::build(&spec)?;
    emit(
        g.output,
        &Validated {
            file: g.file.display().to_string(),
            stack: spec.stack.clone(),
            environment: spec.environment.clone(),
            resources: graph.order.len(),
        },
    )?;
    Ok(ExitCode::SUCCESS)
}
