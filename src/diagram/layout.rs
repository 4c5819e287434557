//! A layered (Sugiyama-style) layout, left to right, for the SVG renderer: no Graphviz.
//!
//! 1. Loops are broken: a depth-first search in model order turns around the arrows that close
//!    one (a function publishing back to the bus that feeds it); they are laid out forwards and
//!    drawn backwards.
//! 2. Columns: the longest path from the entry points.
//! 3. An arrow spanning several columns gets a waypoint in each column it crosses, so it runs
//!    between the boxes instead of through them.
//! 4. Rows: barycenter sweeps down and up the columns, keeping the order with fewest crossings.
//! 5. Heights: each box pulled towards the mean height of its neighbours, order and spacing
//!    kept (pool-adjacent-violators), a few sweeps each way.

use std::collections::BTreeMap;

/// Height of a box; a waypoint takes [`WAYPOINT_HEIGHT`].
pub const BOX_HEIGHT: f64 = 36.0;
const WAYPOINT_HEIGHT: f64 = 10.0;
const ROW_GAP: f64 = 22.0;
const MIN_COLUMN_GAP: f64 = 70.0;
pub const MARGIN: f64 = 24.0;
/// Space for a label in the gap its arrow starts in, besides the label itself.
const LABEL_PADDING: f64 = 36.0;
/// Rows apart of arrows between the same two boxes, at their ends and at their labels.
const PARALLEL_PORT: f64 = 8.0;
const PARALLEL_LABEL: f64 = 13.0;

/// What to lay out: box widths and arrows `(from, to, label width)`.
pub struct Input {
    pub widths: Vec<f64>,
    pub edges: Vec<(usize, usize, f64)>,
}

/// A box's top-left corner and size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub width: f64,
}

/// An arrow's points from its source to its target, and where its label goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub points: Vec<(f64, f64)>,
    pub label_at: (f64, f64),
    /// From the source's left side into the target's right side (an arrow closing a loop).
    pub backwards: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub boxes: Vec<Rect>,
    pub routes: Vec<Route>,
    pub width: f64,
    pub height: f64,
}

/// Arrows that close a loop, found by a depth-first search from each node in turn.
fn loop_closing(n: usize, edges: &[(usize, usize, f64)]) -> Vec<bool> {
    let mut out: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for (i, (a, b, _)) in edges.iter().enumerate() {
        out[*a].push((*b, i));
    }
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        OnStack,
        Done,
    }
    let mut state = vec![State::New; n];
    let mut closing = vec![false; edges.len()];
    for start in 0..n {
        if state[start] != State::New {
            continue;
        }
        state[start] = State::OnStack;
        let mut stack = vec![(start, 0usize)];
        while let Some((v, next)) = stack.pop() {
            let Some(&(w, e)) = out[v].get(next) else {
                state[v] = State::Done;
                continue;
            };
            stack.push((v, next + 1));
            match state[w] {
                State::New => {
                    state[w] = State::OnStack;
                    stack.push((w, 0));
                }
                State::OnStack => closing[e] = true,
                State::Done => {}
            }
        }
    }
    closing
}

/// Column of each node: the longest path to it over the (now loop-free) arrows.
fn columns(n: usize, arcs: &[(usize, usize)]) -> Vec<usize> {
    let mut column = vec![0usize; n];
    // At most n rounds: the arcs are acyclic, so a longest path has fewer than n of them.
    for _ in 0..n {
        let mut changed = false;
        for (a, b) in arcs {
            if column[*b] < column[*a] + 1 {
                column[*b] = column[*a] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    column
}

/// Crossings between two adjacent columns, given each vertex's row.
fn crossings(segments: &[(usize, usize)], row: &[usize]) -> usize {
    let mut count = 0;
    for (i, (a, b)) in segments.iter().enumerate() {
        for (c, d) in &segments[i + 1..] {
            if (row[*a] < row[*c] && row[*b] > row[*d]) || (row[*a] > row[*c] && row[*b] < row[*d])
            {
                count += 1;
            }
        }
    }
    count
}

/// Tops that keep `desired` as close as possible (least squares) while keeping the order and
/// `gap` between consecutive items of heights `heights`: pool adjacent violators.
fn place_in_order(desired: &[f64], heights: &[f64], gap: f64) -> Vec<f64> {
    // Offsets make it a plain isotonic problem: top[i] - offset[i] must not decrease.
    let mut offset = Vec::with_capacity(desired.len());
    let mut sum = 0.0;
    for h in heights {
        offset.push(sum);
        sum += h + gap;
    }
    // Blocks of (mean of shifted desires, count).
    let mut blocks: Vec<(f64, usize)> = Vec::new();
    for (d, o) in desired.iter().zip(&offset) {
        blocks.push((d - o, 1));
        while blocks.len() > 1 && blocks[blocks.len() - 2].0 > blocks[blocks.len() - 1].0 {
            let (m2, c2) = blocks.pop().unwrap();
            let (m1, c1) = blocks.pop().unwrap();
            let c = c1 + c2;
            blocks.push(((m1 * c1 as f64 + m2 * c2 as f64) / c as f64, c));
        }
    }
    let mut tops = Vec::with_capacity(desired.len());
    for (mean, count) in blocks {
        for _ in 0..count {
            tops.push(mean + offset[tops.len()]);
        }
    }
    tops
}

pub fn layout(input: &Input) -> Layout {
    let n = input.widths.len();
    let closing = loop_closing(n, &input.edges);
    // Every arrow as laid out (loop-closing ones turned around); self-loops take no part.
    let arcs: Vec<(usize, usize)> = input
        .edges
        .iter()
        .zip(&closing)
        .filter(|((a, b, _), _)| a != b)
        .map(|((a, b, _), c)| if *c { (*b, *a) } else { (*a, *b) })
        .collect();
    let column = columns(n, &arcs);
    let columns_n = column.iter().max().map_or(1, |m| m + 1);

    // Vertices: the boxes, then a waypoint per crossed column; each arrow's chain of them.
    let mut vertex_column = column.clone();
    let mut chains: Vec<Vec<usize>> = Vec::with_capacity(input.edges.len());
    for ((a, b, _), c) in input.edges.iter().zip(&closing) {
        let (from, to) = if *c { (*b, *a) } else { (*a, *b) };
        let mut chain = vec![from];
        if from != to {
            for col in column[from] + 1..column[to] {
                vertex_column.push(col);
                chain.push(vertex_column.len() - 1);
            }
            chain.push(to);
        }
        chains.push(chain);
    }
    let vertices = vertex_column.len();
    let height_of = |v: usize| if v < n { BOX_HEIGHT } else { WAYPOINT_HEIGHT };
    let mut segments: Vec<Vec<(usize, usize)>> = vec![Vec::new(); columns_n];
    for chain in &chains {
        for pair in chain.windows(2) {
            segments[vertex_column[pair[0]]].push((pair[0], pair[1]));
        }
    }

    // Rows: start in model order, then barycenter sweeps.
    let mut layers: Vec<Vec<usize>> = vec![Vec::new(); columns_n];
    for (v, c) in vertex_column.iter().enumerate() {
        layers[*c].push(v);
    }
    let mut row = vec![0usize; vertices];
    let number = |layers: &[Vec<usize>], row: &mut [usize]| {
        for layer in layers {
            for (r, v) in layer.iter().enumerate() {
                row[*v] = r;
            }
        }
    };
    number(&layers, &mut row);
    let total_crossings =
        |row: &[usize]| -> usize { segments.iter().map(|s| crossings(s, row)).sum() };
    let mut best = (total_crossings(&row), layers.clone());
    for sweep in 0..8 {
        let down = sweep % 2 == 0;
        let order: Vec<usize> = if down {
            (1..columns_n).collect()
        } else {
            (0..columns_n.saturating_sub(1)).rev().collect()
        };
        for c in order {
            let mut keyed: Vec<(f64, usize, usize)> = layers[c]
                .iter()
                .map(|v| {
                    let neighbours: Vec<usize> = if down {
                        segments[c - 1]
                            .iter()
                            .filter(|(_, b)| b == v)
                            .map(|(a, _)| row[*a])
                            .collect()
                    } else {
                        segments[c]
                            .iter()
                            .filter(|(a, _)| a == v)
                            .map(|(_, b)| row[*b])
                            .collect()
                    };
                    let key = if neighbours.is_empty() {
                        row[*v] as f64
                    } else {
                        neighbours.iter().sum::<usize>() as f64 / neighbours.len() as f64
                    };
                    (key, row[*v], *v)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            layers[c] = keyed.into_iter().map(|(_, _, v)| v).collect();
            for (r, v) in layers[c].iter().enumerate() {
                row[*v] = r;
            }
        }
        let found = total_crossings(&row);
        if found < best.0 {
            best = (found, layers.clone());
        }
    }
    let layers = best.1;
    number(&layers, &mut row);

    // Heights: packed, then pulled towards the neighbours' centres.
    let mut top = vec![0f64; vertices];
    for layer in &layers {
        let heights: Vec<f64> = layer.iter().map(|v| height_of(*v)).collect();
        let packed = place_in_order(&vec![0.0; layer.len()], &heights, ROW_GAP);
        for (v, t) in layer.iter().zip(packed) {
            top[*v] = t;
        }
    }
    let mut neighbours: Vec<Vec<(usize, bool)>> = vec![Vec::new(); vertices];
    for column_segments in &segments {
        for (a, b) in column_segments {
            neighbours[*b].push((*a, true));
            neighbours[*a].push((*b, false));
        }
    }
    for sweep in 0..6 {
        let down = sweep % 2 == 0;
        let order: Vec<&Vec<usize>> = if down {
            layers.iter().collect()
        } else {
            layers.iter().rev().collect()
        };
        for layer in order {
            let heights: Vec<f64> = layer.iter().map(|v| height_of(*v)).collect();
            let desired: Vec<f64> = layer
                .iter()
                .map(|v| {
                    let centres: Vec<f64> = neighbours[*v]
                        .iter()
                        .filter(|(_, before)| *before == down)
                        .map(|(u, _)| top[*u] + height_of(*u) / 2.0)
                        .collect();
                    if centres.is_empty() {
                        top[*v]
                    } else {
                        centres.iter().sum::<f64>() / centres.len() as f64 - height_of(*v) / 2.0
                    }
                })
                .collect();
            for (v, t) in layer
                .iter()
                .zip(place_in_order(&desired, &heights, ROW_GAP))
            {
                top[*v] = t;
            }
        }
    }
    let lowest = top.iter().copied().fold(f64::INFINITY, f64::min);
    for t in &mut top {
        *t += MARGIN - lowest;
    }

    // Columns: as wide as their widest box; the gap after one fits the labels starting in it.
    let mut column_width = vec![0f64; columns_n];
    for v in 0..n {
        column_width[column[v]] = column_width[column[v]].max(input.widths[v]);
    }
    let mut gap = vec![MIN_COLUMN_GAP; columns_n];
    for ((chain, (_, _, label)), c) in chains.iter().zip(&input.edges).zip(&closing) {
        if chain.len() > 1 && *label > 0.0 {
            // A backwards arrow's label is in the gap before its source, that is after the
            // column its chain's second to last vertex is in.
            let at = if *c {
                vertex_column[chain[chain.len() - 2]]
            } else {
                vertex_column[chain[0]]
            };
            gap[at] = gap[at].max(label + LABEL_PADDING);
        }
    }
    let mut column_left = vec![MARGIN; columns_n];
    for c in 1..columns_n {
        column_left[c] = column_left[c - 1] + column_width[c - 1] + gap[c - 1];
    }
    let width = column_left[columns_n - 1] + column_width[columns_n - 1] + MARGIN;
    let height = (0..vertices)
        .map(|v| top[v] + height_of(v))
        .fold(0.0, f64::max)
        + MARGIN;
    let boxes: Vec<Rect> = (0..n)
        .map(|v| Rect {
            x: column_left[column[v]] + (column_width[column[v]] - input.widths[v]) / 2.0,
            y: top[v],
            width: input.widths[v],
        })
        .collect();

    // Arrows between the same two boxes get their own rows at the ends and at the labels.
    let mut parallel: BTreeMap<(usize, usize), Vec<usize>> = BTreeMap::new();
    for (i, chain) in chains.iter().enumerate() {
        parallel
            .entry((chain[0], chain[chain.len() - 1]))
            .or_default()
            .push(i);
    }
    let mut shift = vec![0f64; chains.len()];
    for group in parallel.values() {
        for (k, i) in group.iter().enumerate() {
            shift[*i] = k as f64 - (group.len() as f64 - 1.0) / 2.0;
        }
    }
    let routes = chains
        .iter()
        .zip(&closing)
        .enumerate()
        .map(|(i, (chain, backwards))| {
            let first = chain[0];
            let centre = |v: usize| top[v] + height_of(v) / 2.0;
            if chain.len() == 1 {
                // An arrow to itself: a small loop over the box's right corner.
                let b = boxes[first];
                let (x, y) = (b.x + b.width, b.y + BOX_HEIGHT / 2.0);
                return Route {
                    points: vec![(x, y), (x + 20.0, y - 30.0), (x - 20.0, b.y)],
                    label_at: (x + 14.0, b.y - 12.0),
                    backwards: false,
                };
            }
            let port = shift[i] * PARALLEL_PORT;
            let last = chain[chain.len() - 1];
            let mut points = vec![(boxes[first].x + boxes[first].width, centre(first) + port)];
            for v in &chain[1..chain.len() - 1] {
                let c = vertex_column[*v];
                points.push((column_left[c], centre(*v)));
                points.push((column_left[c] + column_width[c], centre(*v)));
            }
            points.push((boxes[last].x, centre(last) + port));
            if *backwards {
                points.reverse();
            }
            let (a, b) = (points[0], points[1]);
            let label_at = (
                (a.0 + b.0) / 2.0,
                (a.1 + b.1) / 2.0 + shift[i] * PARALLEL_LABEL,
            );
            Route {
                points,
                label_at,
                backwards: *backwards,
            }
        })
        .collect();
    Layout {
        boxes,
        routes,
        width,
        height,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placing_keeps_order_and_spacing_and_stays_close() {
        let tops = place_in_order(&[50.0, 0.0, 100.0], &[10.0, 10.0, 10.0], 5.0);
        assert!(
            tops[1] >= tops[0] + 15.0 && tops[2] >= tops[1] + 15.0,
            "{tops:?}"
        );
        // The first two pool around their mean (25), the third is free.
        assert_eq!(tops, vec![17.5, 32.5, 100.0]);
    }

    #[test]
    fn loops_are_broken_and_arrows_avoid_boxes() {
        // 0 → 1 → 2 → 0 (a loop), 0 → 3 → 4 → 2, and 0 → 2 spanning columns.
        let input = Input {
            widths: vec![60.0; 5],
            edges: vec![
                (0, 1, 0.0),
                (1, 2, 0.0),
                (2, 0, 30.0),
                (0, 3, 0.0),
                (3, 4, 0.0),
                (4, 2, 0.0),
                (0, 2, 20.0),
            ],
        };
        let l = layout(&input);
        assert!(l.routes[2].backwards);
        assert_eq!(l.routes.iter().filter(|r| r.backwards).count(), 1);
        let x = |i: usize| l.boxes[i].x;
        assert!(x(0) < x(1) && x(1) < x(2) && x(3) < x(4) && x(4) < x(2));
        for (i, r) in l.routes.iter().enumerate() {
            for (px, py) in &r.points[1..r.points.len() - 1] {
                for b in &l.boxes {
                    let inside =
                        *px > b.x && *px < b.x + b.width && *py > b.y && *py < b.y + BOX_HEIGHT;
                    assert!(!inside, "arrow {i} passes through a box at {px},{py}");
                }
            }
        }
        for (i, a) in l.boxes.iter().enumerate() {
            for b in &l.boxes[i + 1..] {
                let apart = a.x + a.width <= b.x
                    || b.x + b.width <= a.x
                    || a.y + BOX_HEIGHT <= b.y
                    || b.y + BOX_HEIGHT <= a.y;
                assert!(apart, "{a:?} overlaps {b:?}");
            }
        }
        assert_eq!(l, layout(&input), "deterministic");
    }
}
