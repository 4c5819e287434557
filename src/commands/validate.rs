//! `orderflow validate`: check the file; no AWS call.

use std::fmt;
use std::process::ExitCode;

use serde::Serialize;

use super::{emit, load_spec};
use crate::cli::{Global};
use crate::error::Error;
use crate::graph::Graph;

#[derive(Debug, Serialize)]
pub struct Validated {
    pub file: String,
    pub stack: String,
    pub resources: usize,
}

impl fmt::Display for Validated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: valid (stack {}, {} resources)",
            self.file, self.stack, self.resources
        )
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
            resources: graph.order.len(),
        },
    )?;
    Ok(ExitCode::SUCCESS)
}
