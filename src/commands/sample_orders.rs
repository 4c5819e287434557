//! `orderflow sample-orders [--count N] [--invalid K] [--format jsonl|csv]`: orders in an
//! import format — JSON Lines (one order JSON per line, the `send-order --file` shape, the
//! default) or CSV (a header, then one row per line item: order-domain's `csv` format) — for
//! `orderflow import` and partners' test files, like `sam local generate-event`. Needs no
//! pipeline and no AWS. Both formats carry the same orders for the same arguments.
//!
//! Every order has a unique id (`--id-prefix` plus a number; by default a fresh prefix per run,
//! so two runs never collide). `--invalid K` spreads K orders that the pipeline rejects over
//! the file (every ⌊N/K⌋th line), each breaking one rule, in turn: the total does not match the
//! items, an unknown currency, a quantity of 0, no customer id.

use std::io::Write;
use std::process::ExitCode;

use order_domain::sample::{generate_order_id, OrderBuilder};
use serde_json::Value;

use crate::cli::{OrderFileFormat, SampleOrdersArgs};
use crate::error::Error;

/// The ways a sample line can be invalid, in the order they are used.
const INVALID_KINDS: usize = 4;

/// Line `index` (0-based) of `count`, `invalid` of them invalid.
pub fn sample_line(prefix: &str, index: u64, count: u64, invalid: u64) -> Value {
    let order_id = format!("{prefix}-{:06}", index + 1);
    let builder = OrderBuilder::new()
        .order_id(&order_id)
        .customer_id(format!("cust-{:04}", index % 1000));
    let nth_invalid = (invalid > 0)
        .then(|| count / invalid)
        .filter(|step| index % step == step - 1 && index / step < invalid)
        .map(|step| index / step);
    let Some(n) = nth_invalid else {
        return serde_json::to_value(builder.build()).unwrap_or_default();
    };
    let order = match n as usize % INVALID_KINDS {
        0 => {
            let o = builder.build();
            let total = o.total_minor;
            let mut v = serde_json::to_value(o).unwrap_or_default();
            v["total_minor"] = Value::from(total - 1);
            return v;
        }
        1 => builder.currency("EURO").build(),
        2 => builder.item("SKU-1", 0, 1250).build(),
        _ => {
            let mut v = serde_json::to_value(builder.build()).unwrap_or_default();
            if let Some(m) = v.as_object_mut() {
                m.remove("customer_id");
            }
            return v;
        }
    };
    serde_json::to_value(order).unwrap_or_default()
}

pub fn run(args: SampleOrdersArgs) -> Result<ExitCode, Error> {
    if args.invalid > args.count {
        return Err(Error::Other(format!(
            "--invalid {} is more than --count {}",
            args.invalid, args.count
        )));
    }
    let prefix = args
        .id_prefix
        .clone()
        .unwrap_or_else(|| generate_order_id().replacen("ord-", "imp-", 1));
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match write(&mut out, &prefix, &args) {
        // `sample-orders | head` closes the pipe: not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        other => other
            .map(|()| ExitCode::SUCCESS)
            .map_err(|e| Error::io("writing to stdout", e)),
    }
}

/// Writes the file: `args.count` orders in `args.format`.
pub fn write(out: &mut impl Write, prefix: &str, args: &SampleOrdersArgs) -> std::io::Result<()> {
    let mut row = String::new();
    if args.format == OrderFileFormat::Csv {
        out.write_all(order_domain::csv::header_row().as_bytes())?;
    }
    for i in 0..args.count {
        let order = sample_line(prefix, i, args.count, args.invalid);
        match args.format {
            OrderFileFormat::Jsonl => {
                serde_json::to_writer(&mut *out, &order)?;
                out.write_all(b"\n")?;
            }
            OrderFileFormat::Csv => {
                row.clear();
                order_domain::csv::write_order(&order, &mut row);
                out.write_all(row.as_bytes())?;
            }
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_lines_are_spread_and_each_breaks_the_pipelines_rules() {
        let (count, invalid) = (100, 8);
        let lines: Vec<Value> = (0..count)
            .map(|i| sample_line("imp-t", i, count, invalid))
            .collect();
        let bad: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| order_domain::validate_json(l).is_err())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(bad, vec![11, 23, 35, 47, 59, 71, 83, 95]);
        let ids: std::collections::BTreeSet<&str> = lines
            .iter()
            .filter_map(|l| l["order_id"].as_str())
            .collect();
        assert_eq!(ids.len(), 100, "unique ids");
        assert_eq!(lines[0]["order_id"], "imp-t-000001");
    }

    fn file(format: OrderFileFormat, count: u64, invalid: u64) -> String {
        let args = SampleOrdersArgs {
            count,
            invalid,
            id_prefix: Some("imp-f".into()),
            format,
        };
        let mut out = Vec::new();
        write(&mut out, "imp-f", &args).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The orders of a CSV file as import-orders reads them (order-domain's record parser and
    /// grouping, fed in small pieces as from S3), as JSON.
    fn csv_orders(text: &str) -> Vec<Value> {
        use order_domain::csv::orders::{read_entries, Entry};
        let mut orders = Vec::new();
        let reader = std::io::BufReader::with_capacity(13, text.as_bytes());
        read_entries(reader, 256 * 1024, |entry| match entry {
            Entry::Order { json, problems, .. } if problems.is_empty() => {
                orders.push(serde_json::from_str(&json).unwrap())
            }
            other => panic!("not a clean order: {other:?}"),
        })
        .unwrap();
        orders
    }

    #[test]
    fn csv_carries_the_same_orders_as_json_lines() {
        let (count, invalid) = (40, 8);
        let jsonl: Vec<Value> = file(OrderFileFormat::Jsonl, count, invalid)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let csv = file(OrderFileFormat::Csv, count, invalid);
        assert!(csv.starts_with(
            "order_id,customer_id,customer_email,currency,total_minor,sku,quantity,unit_price_minor\n"
        ));
        // A header, then one row per item.
        let items: usize = jsonl
            .iter()
            .map(|o| o["items"].as_array().unwrap().len())
            .sum();
        assert_eq!(csv.lines().count(), 1 + items);
        assert!(items > count as usize);
        assert_eq!(csv_orders(&csv), jsonl);
        assert_eq!(jsonl.len(), count as usize);
        // The invalid orders stay invalid, for the same rules.
        let bad = jsonl
            .iter()
            .filter(|o| order_domain::validate_json(o).is_err())
            .count();
        assert_eq!(bad, invalid as usize);
    }

    #[test]
    fn without_invalid_every_line_is_a_valid_order() {
        for i in 0..10 {
            let line = sample_line("imp-v", i, 10, 0);
            assert!(order_domain::validate_json(&line).is_ok(), "{line}");
        }
    }
}
