//! Graphviz DOT (`dot -Tpng`), left to right.

use std::fmt::Write;

use super::{Diagram, Line, Node};

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

fn quote(text: &str) -> String {
    format!("\"{}\"", escape(text))
}

fn attributes(node: &Node) -> &'static str {
    if node.derived {
        return "shape=box, style=\"dashed,rounded\", color=gray50, fontcolor=gray35";
    }
    match node.kind.as_str() {
        "api" => "shape=box, style=\"rounded,filled\", fillcolor=\"#e3f2fd\"",
        "bus" => "shape=hexagon, style=filled, fillcolor=\"#f3e5f5\"",
        "rule" => "shape=cds, style=filled, fillcolor=\"#f3e5f5\"",
        "function" => "shape=box, style=\"rounded,filled\", fillcolor=\"#fff3e0\"",
        "queue" => "shape=box3d, style=filled, fillcolor=\"#e8f5e9\"",
        "table" => "shape=cylinder, style=filled, fillcolor=\"#e0f7fa\"",
        "topic" => "shape=parallelogram, style=filled, fillcolor=\"#fce4ec\"",
        "email_identity" | "email" => "shape=note, style=filled, fillcolor=\"#fce4ec\"",
        "alarm" => "shape=octagon, style=filled, fillcolor=\"#ffebee\"",
        _ => "shape=box, style=filled, fillcolor=\"#eceff1\"",
    }
}

pub fn render(d: &Diagram) -> String {
    let mut out = String::from(
        "digraph pipeline {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", fontsize=9];\n",
    );
    for node in &d.nodes {
        // Kind over name: `\n` is DOT's line break inside a label.
        let _ = writeln!(
            out,
            "  {} [label=\"{}\\n{}\", {}];",
            node.id,
            escape(&node.kind.replace('_', " ")),
            escape(&node.name),
            attributes(node)
        );
    }
    for e in &d.edges {
        let style = match e.line {
            Line::Flow => "",
            Line::Failure => ", style=dashed, color=\"#c62828\"",
            Line::Watch => ", style=dotted, color=gray50",
        };
        let _ = writeln!(
            out,
            "  {} -> {} [label={}{style}];",
            e.from,
            e.to,
            quote(&e.label)
        );
    }
    out.push_str("}\n");
    out
}
