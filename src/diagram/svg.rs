//! SVG, drawn here from the layered layout of [`super::layout`] (no Graphviz): boxes coloured
//! by kind, events flowing left to right, arrows that close a loop entering from the right.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::layout::{layout, Input, Layout, BOX_HEIGHT};
use super::{Diagram, Line};

/// Average advance of a 12 px sans-serif character, for box widths.
const CHAR_WIDTH: f64 = 7.0;
/// The same for the 10 px labels of arrows.
const LABEL_CHAR_WIDTH: f64 = 6.0;

fn fill(kind: &str, derived: bool) -> (&'static str, &'static str) {
    if derived {
        return ("#fafafa", "#9e9e9e");
    }
    match kind {
        "api" => ("#e3f2fd", "#1565c0"),
        "bus" | "rule" => ("#f3e5f5", "#6a1b9a"),
        "function" => ("#fff3e0", "#e65100"),
        "queue" => ("#e8f5e9", "#2e7d32"),
        "table" => ("#e0f7fa", "#00838f"),
        "topic" | "email_identity" | "email" => ("#fce4ec", "#ad1457"),
        "alarm" => ("#ffebee", "#c62828"),
        _ => ("#eceff1", "#455a64"),
    }
}

pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// A path through `points`: straight along a row, otherwise a curve leaving and entering
/// horizontally (the way the picture flows).
fn path_through(points: &[(f64, f64)]) -> String {
    let mut d = format!("M {:.1} {:.1}", points[0].0, points[0].1);
    for pair in points.windows(2) {
        let ((ax, ay), (bx, by)) = (pair[0], pair[1]);
        if (ay - by).abs() < 0.05 {
            let _ = write!(d, " L {bx:.1} {by:.1}");
        } else {
            let mid = (ax + bx) / 2.0;
            let _ = write!(d, " C {mid:.1} {ay:.1}, {mid:.1} {by:.1}, {bx:.1} {by:.1}");
        }
    }
    d
}

/// Corner radius by kind, so shapes tell kinds apart besides colours.
fn corner(kind: &str, derived: bool) -> f64 {
    match kind {
        _ if derived => 2.0,
        "api" | "alarm" => BOX_HEIGHT / 2.0,
        "queue" | "table" => 3.0,
        _ => 8.0,
    }
}

fn box_width(label: &str) -> f64 {
    label.chars().count() as f64 * CHAR_WIDTH + 24.0
}

fn label_width(label: &str) -> f64 {
    label.chars().count() as f64 * LABEL_CHAR_WIDTH
}

pub fn render(d: &Diagram) -> String {
    let index: BTreeMap<&str, usize> = d
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let input = Input {
        widths: d.nodes.iter().map(|n| box_width(&n.label())).collect(),
        edges: d
            .edges
            .iter()
            .map(|e| {
                (
                    index[e.from.as_str()],
                    index[e.to.as_str()],
                    label_width(&e.label),
                )
            })
            .collect(),
    };
    let Layout {
        boxes,
        routes,
        width,
        height,
    } = layout(&input);

    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="Helvetica, Arial, sans-serif" font-size="12">"##
    );
    out.push_str("  <defs>");
    for (id, colour) in [
        ("arrow", "#555555"),
        ("arrow-failure", "#c62828"),
        ("arrow-watch", "#9e9e9e"),
    ] {
        let _ = write!(
            out,
            r##"<marker id="{id}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M 0 0 L 10 5 L 0 10 z" fill="{colour}"/></marker>"##
        );
    }
    out.push_str("</defs>\n");
    let _ = writeln!(
        out,
        r##"  <rect width="100%" height="100%" fill="#ffffff"/>"##
    );
    for (e, route) in d.edges.iter().zip(&routes) {
        let (stroke, dash, marker) = match e.line {
            Line::Flow => ("#555555", "", "arrow"),
            Line::Failure => ("#c62828", r##" stroke-dasharray="6 4""##, "arrow-failure"),
            Line::Watch => ("#9e9e9e", r##" stroke-dasharray="2 3""##, "arrow-watch"),
        };
        let _ = writeln!(
            out,
            r##"  <path d="{}" fill="none" stroke="{stroke}"{dash} stroke-width="1.3" marker-end="url(#{marker})"/>"##,
            path_through(&route.points)
        );
    }
    // Labels over every arrow, boxes over everything.
    for (e, route) in d.edges.iter().zip(&routes) {
        if !e.label.is_empty() {
            let (x, y) = route.label_at;
            let _ = writeln!(
                out,
                r##"  <text x="{x:.1}" y="{:.1}" text-anchor="middle" font-size="10" fill="#333333" stroke="#ffffff" stroke-width="3" paint-order="stroke">{}</text>"##,
                y - 3.0,
                escape(&e.label)
            );
        }
    }
    for (node, b) in d.nodes.iter().zip(&boxes) {
        let (background, border) = fill(&node.kind, node.derived);
        let dash = if node.derived {
            r##" stroke-dasharray="3 3""##
        } else {
            ""
        };
        let label = escape(&node.label());
        let _ = writeln!(
            out,
            r##"  <g id="{}"><title>{label}</title><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{BOX_HEIGHT}" rx="{}" fill="{background}" stroke="{border}"{dash}/><text x="{:.1}" y="{:.1}" text-anchor="middle">{label}</text></g>"##,
            node.id,
            b.x,
            b.y,
            b.width,
            corner(&node.kind, node.derived),
            b.x + b.width / 2.0,
            b.y + BOX_HEIGHT / 2.0 + 4.0,
        );
    }
    out.push_str("</svg>\n");
    out
}
