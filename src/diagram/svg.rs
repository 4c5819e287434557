//! SVG, laid out here (no Graphviz): a layered drawing, events flowing left to right.
//!
//! Columns are the longest path from the entry points (a pipeline has loops — a function
//! publishes back to the bus that feeds it — so arrows that close a loop are set aside first,
//! found by a depth-first search in [`super::KIND_ORDER`] order, and drawn curving back
//! underneath). Boxes in a column are ordered by the mean row of what feeds them (two sweeps),
//! which keeps most arrows short and uncrossed.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{Diagram, Line};

const BOX_HEIGHT: f64 = 36.0;
const ROW_GAP: f64 = 26.0;
const COLUMN_GAP: f64 = 110.0;
const MARGIN: f64 = 24.0;
/// Average advance of an 12 px sans-serif character, for box widths.
const CHAR_WIDTH: f64 = 7.0;

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

/// Column of each node: longest path over the arrows that do not close a loop.
fn columns(n: usize, edges: &[(usize, usize)]) -> (Vec<usize>, Vec<bool>) {
    let mut out: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for (i, (a, b)) in edges.iter().enumerate() {
        out[*a].push((*b, i));
    }
    // Iterative DFS: an arrow to a node still on the stack closes a loop.
    let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
    let mut back = vec![false; edges.len()];
    for start in 0..n {
        if state[start] != 0 {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        state[start] = 1;
        while let Some((v, next)) = stack.pop() {
            if let Some(&(w, e)) = out[v].get(next) {
                stack.push((v, next + 1));
                match state[w] {
                    0 => {
                        state[w] = 1;
                        stack.push((w, 0));
                    }
                    1 => back[e] = true,
                    _ => {}
                }
            } else {
                state[v] = 2;
            }
        }
    }
    let mut column = vec![0usize; n];
    // Relax forward arrows until stable (at most n rounds; the forward arrows are acyclic).
    for _ in 0..n {
        let mut changed = false;
        for (i, (a, b)) in edges.iter().enumerate() {
            if !back[i] && a != b && column[*b] < column[*a] + 1 {
                column[*b] = column[*a] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    (column, back)
}

pub fn render(d: &Diagram) -> String {
    let index: BTreeMap<&str, usize> = d
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let pairs: Vec<(usize, usize)> = d
        .edges
        .iter()
        .map(|e| (index[e.from.as_str()], index[e.to.as_str()]))
        .collect();
    let (column, back) = columns(d.nodes.len(), &pairs);
    let width_of = |i: usize| d.nodes[i].label().chars().count() as f64 * CHAR_WIDTH + 24.0;

    // Rows: nodes in model order, then two sweeps by the mean row of their predecessors.
    let columns_n = column.iter().max().map_or(0, |m| m + 1);
    let mut layers: Vec<Vec<usize>> = vec![Vec::new(); columns_n];
    for (i, c) in column.iter().enumerate() {
        layers[*c].push(i);
    }
    let mut row = vec![0f64; d.nodes.len()];
    for layer in &layers {
        for (r, i) in layer.iter().enumerate() {
            row[*i] = r as f64;
        }
    }
    for _ in 0..2 {
        for layer in layers.iter_mut().skip(1) {
            let mean = |i: usize| {
                let feeds: Vec<f64> = pairs
                    .iter()
                    .zip(&back)
                    .filter(|((_, b), is_back)| *b == i && !**is_back)
                    .map(|((a, _), _)| row[*a])
                    .collect();
                if feeds.is_empty() {
                    row[i]
                } else {
                    feeds.iter().sum::<f64>() / feeds.len() as f64
                }
            };
            let mut keyed: Vec<(f64, usize)> = layer.iter().map(|i| (mean(*i), *i)).collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            *layer = keyed.into_iter().map(|(_, i)| i).collect();
            for (r, i) in layer.iter().enumerate() {
                row[*i] = r as f64;
            }
        }
    }

    // Coordinates: each column as wide as its widest box.
    let mut x = vec![0f64; d.nodes.len()];
    let mut y = vec![0f64; d.nodes.len()];
    let mut left = MARGIN;
    let tallest = layers.iter().map(Vec::len).max().unwrap_or(0) as f64;
    let height = tallest * (BOX_HEIGHT + ROW_GAP) + 2.0 * MARGIN + 60.0;
    for layer in &layers {
        let width = layer.iter().map(|i| width_of(*i)).fold(0.0, f64::max);
        // Centre short columns vertically.
        let offset = (tallest - layer.len() as f64) * (BOX_HEIGHT + ROW_GAP) / 2.0;
        for (r, i) in layer.iter().enumerate() {
            x[*i] = left + (width - width_of(*i)) / 2.0;
            y[*i] = MARGIN + offset + r as f64 * (BOX_HEIGHT + ROW_GAP);
        }
        left += width + COLUMN_GAP;
    }
    let total_width = left - COLUMN_GAP + MARGIN;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{total_width:.0}" height="{height:.0}" viewBox="0 0 {total_width:.0} {height:.0}" font-family="Helvetica, Arial, sans-serif" font-size="12">"##
    );
    out.push_str(r##"  <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>"##);
    out.push('\n');
    let _ = writeln!(
        out,
        r##"  <rect width="100%" height="100%" fill="#ffffff"/>"##
    );
    for (e, ((a, b), is_back)) in d.edges.iter().zip(pairs.iter().zip(&back)) {
        let (ax, ay, bx, by) = (x[*a], y[*a], x[*b], y[*b]);
        let path = if *is_back || column[*b] <= column[*a] {
            // Back along the bottom: out of the source's bottom, into the target's bottom.
            let (sx, sy) = (ax + width_of(*a) / 2.0, ay + BOX_HEIGHT);
            let (tx, ty) = (bx + width_of(*b) / 2.0, by + BOX_HEIGHT);
            let dip = sy.max(ty) + 40.0;
            format!("M {sx:.1} {sy:.1} C {sx:.1} {dip:.1}, {tx:.1} {dip:.1}, {tx:.1} {ty:.1}")
        } else {
            let (sx, sy) = (ax + width_of(*a), ay + BOX_HEIGHT / 2.0);
            let (tx, ty) = (bx, by + BOX_HEIGHT / 2.0);
            let mid = (sx + tx) / 2.0;
            format!("M {sx:.1} {sy:.1} C {mid:.1} {sy:.1}, {mid:.1} {ty:.1}, {tx:.1} {ty:.1}")
        };
        let dash = match e.line {
            Line::Flow => "",
            Line::Failure => r##" stroke-dasharray="6 4" stroke="#c62828""##,
            Line::Watch => r##" stroke-dasharray="2 3" stroke="#9e9e9e""##,
        };
        let stroke = if dash.is_empty() {
            r##" stroke="#555""##
        } else {
            ""
        };
        let _ = writeln!(
            out,
            r##"  <path d="{path}" fill="none"{stroke}{dash} stroke-width="1.3" marker-end="url(#arrow)"/>"##
        );
        if !e.label.is_empty() {
            // The middle of the curve (de Casteljau at t = 1/2 of its end points, close enough).
            let (lx, ly) = if *is_back || column[*b] <= column[*a] {
                (
                    (ax + width_of(*a) / 2.0 + bx + width_of(*b) / 2.0) / 2.0,
                    (ay.max(by) + BOX_HEIGHT) + 34.0,
                )
            } else {
                (
                    (ax + width_of(*a) + bx) / 2.0,
                    (ay + by + BOX_HEIGHT) / 2.0 - 4.0,
                )
            };
            let _ = writeln!(
                out,
                r##"  <text x="{lx:.1}" y="{ly:.1}" text-anchor="middle" font-size="10" fill="#333" stroke="#ffffff" stroke-width="3" paint-order="stroke">{}</text>"##,
                escape(&e.label)
            );
        }
    }
    for (i, node) in d.nodes.iter().enumerate() {
        let (background, border) = fill(&node.kind, node.derived);
        let dash = if node.derived {
            r##" stroke-dasharray="3 3""##
        } else {
            ""
        };
        let _ = writeln!(
            out,
            r##"  <g id="{}"><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{BOX_HEIGHT}" rx="8" fill="{background}" stroke="{border}"{dash}/><text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text></g>"##,
            node.id,
            x[i],
            y[i],
            width_of(i),
            x[i] + width_of(i) / 2.0,
            y[i] + BOX_HEIGHT / 2.0 + 4.0,
            escape(&node.label())
        );
    }
    out.push_str("</svg>\n");
    out
}
