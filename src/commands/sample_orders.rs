//! `orderflow sample-orders [--count N] [--invalid K]`: order lines in the import format (one
//! order JSON per line, the `send-order --file` shape), for `orderflow import` and partners'
//! test files, like `sam local generate-event`. Needs no pipeline and no AWS.
//!
//! Every order has a unique id (`--id-prefix` plus a number; by default a fresh prefix per run,
//! so two runs never collide). `--invalid K` spreads K orders that the pipeline rejects over
//! the file (every ⌊N/K⌋th line), each breaking one rule, in turn: the total does not match the
//! items, an unknown currency, a quantity of 0, no customer id.

use std::io::Write;
use std::process::ExitCode;

use order_domain::sample::{generate_order_id, OrderBuilder};
use serde_json::Value;

use crate::cli::SampleOrdersArgs;
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
    for i in 0..args.count {
        let line = sample_line(&prefix, i, args.count, args.invalid);
        let written = serde_json::to_writer(&mut out, &line)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"));
        match written {
            // `sample-orders | head` closes the pipe: not an error.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
            other => other.map_err(|e| Error::io("writing to stdout", e))?,
        }
    }
    match out.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::io("writing to stdout", e))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
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

    #[test]
    fn without_invalid_every_line_is_a_valid_order() {
        for i in 0..10 {
            let line = sample_line("imp-v", i, 10, 0);
            assert!(order_domain::validate_json(&line).is_ok(), "{line}");
        }
    }
}
