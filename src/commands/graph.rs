//! `orderflow graph [--format mermaid|dot|svg] [--derived] [-o FILE]`: the pipeline as a
//! picture, from the file alone (no AWS call).

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::{emit, load_spec};
use crate::cli::{Global, GraphArgs, GraphFormat};
use crate::diagram::{dot, mermaid, svg, Diagram};
use crate::error::Error;

/// The picture, or where it was written.
#[derive(Debug, Serialize)]
pub struct Picture {
    pub format: &'static str,
    pub stack: String,
    pub nodes: usize,
    pub edges: usize,
    /// The file written with `-o`; the picture itself is then not printed.
    pub file: Option<PathBuf>,
    pub diagram: String,
}

impl fmt::Display for Picture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => writeln!(
                f,
                "wrote {} ({} boxes, {} arrows)",
                file.display(),
                self.nodes,
                self.edges
            ),
            None => write!(f, "{}", self.diagram),
        }
    }
}

pub fn run(g: &Global, args: GraphArgs) -> Result<ExitCode, Error> {
    let spec = load_spec(g)?;
    let diagram = Diagram::of(&spec, args.derived);
    let (format, text) = match args.format {
        GraphFormat::Mermaid => ("mermaid", mermaid::render(&diagram)),
        GraphFormat::Dot => ("dot", dot::render(&diagram)),
        GraphFormat::Svg => ("svg", svg::render(&diagram)),
    };
    if let Some(path) = &args.out {
        std::fs::write(path, &text)
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    }
    emit(
        g.output,
        &Picture {
            format,
            stack: spec.stack.clone(),
            nodes: diagram.nodes.len(),
            edges: diagram.edges.len(),
            file: args.out.clone(),
            diagram: text,
        },
    )?;
    Ok(ExitCode::SUCCESS)
}
