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

/// The picture, and what it shows.
#[derive(Debug, Serialize)]
pub struct Picture {
    pub format: &'static str,
    /// The file written with `-o`, if any.
    pub file: Option<PathBuf>,
    pub nodes: usize,
    pub edges: usize,
    pub diagram: String,
}

/// As text: the picture itself, unless it went to a file (then stdout stays empty and the
/// "wrote" line is on stderr, so `graph -o x.svg | ...` pipes nothing by surprise).
impl fmt::Display for Picture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.file {
            Some(_) => Ok(()),
            None => f.write_str(&self.diagram),
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
        eprintln!("wrote {}", path.display());
    }
    emit(
        g.output,
        &Picture {
            format,
            file: args.out,
            nodes: diagram.nodes.len(),
            edges: diagram.edges.len(),
            diagram: text,
        },
    )?;
    Ok(ExitCode::SUCCESS)
}
