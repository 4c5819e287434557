//! Mermaid `flowchart LR`: renders in GitHub and GitLab markdown (```mermaid fences).

use std::fmt::Write;

use super::{Diagram, Line, Node};

/// The box shape of each kind (Mermaid's node syntax around a quoted label).
fn shape(node: &Node) -> (&'static str, &'static str) {
    if node.derived {
        return ("[", "]");
    }
    match node.kind.as_str() {
        "api" => ("([", "])"),
        "bus" => ("{{", "}}"),
        "rule" => (">", "]"),
        "function" => ("(", ")"),
        "queue" => ("[[", "]]"),
        "table" => ("[(", ")]"),
        "topic" => ("[/", "/]"),
        "email_identity" | "email" => ("[\\", "\\]"),
        "alarm" => ("((", "))"),
        _ => ("[", "]"),
    }
}

/// Mermaid's quoted labels take entities for `"` (and `#`, which starts one).
fn quote(text: &str) -> String {
    let escaped = text.replace('#', "#35;").replace('"', "#quot;");
    format!("\"{escaped}\"")
}

/// Fill and stroke per kind, so the eye finds functions, queues and tables at once.
const STYLES: &[(&str, &str)] = &[
    ("api", "fill:#e3f2fd,stroke:#1565c0"),
    ("bus", "fill:#f3e5f5,stroke:#6a1b9a"),
    ("rule", "fill:#f3e5f5,stroke:#6a1b9a"),
    ("function", "fill:#fff3e0,stroke:#e65100"),
    ("queue", "fill:#e8f5e9,stroke:#2e7d32"),
    ("table", "fill:#e0f7fa,stroke:#00838f"),
    ("topic", "fill:#fce4ec,stroke:#ad1457"),
    ("email_identity", "fill:#fce4ec,stroke:#ad1457"),
    ("email", "fill:#fce4ec,stroke:#ad1457"),
    ("alarm", "fill:#ffebee,stroke:#c62828"),
    ("event_schema", "fill:#eceff1,stroke:#455a64"),
    (
        "derived",
        "fill:#fafafa,stroke:#9e9e9e,stroke-dasharray:3 3,color:#616161",
    ),
];

pub fn render(d: &Diagram) -> String {
    let mut out = String::from("flowchart LR\n");
    for node in &d.nodes {
        let (open, close) = shape(node);
        let _ = writeln!(out, "  {}{open}{}{close}", node.id, quote(&node.label()));
    }
    for e in &d.edges {
        let arrow = match e.line {
            Line::Flow => "-->",
            Line::Failure | Line::Watch => "-.->",
        };
        if e.label.is_empty() {
            let _ = writeln!(out, "  {} {arrow} {}", e.from, e.to);
        } else {
            let _ = writeln!(out, "  {} {arrow}|{}| {}", e.from, quote(&e.label), e.to);
        }
    }
    for (class, style) in STYLES {
        let members: Vec<&str> = d
            .nodes
            .iter()
            .filter(|n| {
                if *class == "derived" {
                    n.derived
                } else {
                    !n.derived && n.kind == *class
                }
            })
            .map(|n| n.id.as_str())
            .collect();
        if !members.is_empty() {
            let _ = writeln!(out, "  classDef {class} {style}");
            let _ = writeln!(out, "  class {} {class}", members.join(","));
        }
    }
    out
}
