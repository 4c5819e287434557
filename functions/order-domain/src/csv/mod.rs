//! Orders as CSV, the second order-file format (import-orders reads it, `orderflow
//! sample-orders --format csv` writes it, `orderflow import --wait` reads its order ids).
//!
//! # Format
//! RFC 4180 ([`parser`]): UTF-8 (a byte order mark at the start is skipped), `,` between
//! fields, `"` quoting (`""` inside quotes is a quote; quoted fields may hold commas and line
//! breaks), LF or CRLF line ends. The first non-blank row is the header: it names the columns,
//! in any order, exactly as in [`COLUMNS`] (surrounding spaces ignored). Every column but
//! `customer_email` is required; an unknown, missing or repeated column refuses the file.
//!
//! **One row per line item.** Consecutive rows with the same `order_id` are one order (its
//! items in row order). The order columns (`order_id`, `customer_id`, `customer_email`,
//! `currency`, `total_minor`) must be the same on each row of an order. An order's rows must be
//! consecutive: rows of an order id already seen earlier in the file (after other orders) are
//! refused, not merged ([`orders`]). A row with an empty `order_id` is an order of its own.
//!
//! Each order becomes the JSON a JSON Lines file would carry for it ([`orders::Entry::Order`])
//! and is checked exactly like a JSON line: an empty cell is a field left out (so an empty
//! `customer_email` is no email, an empty `customer_id` is `missing_field`), a numeric column
//! holding a JSON number is that number, anything else is a string (`wrong_type`). A row whose
//! cells are all empty or spaces (`,,,,` as spreadsheets export empty rows) is blank.

pub mod orders;
pub mod parser;

use serde_json::Value;

/// Every column, in the order `sample-orders` writes them.
pub const COLUMNS: [&str; 8] = [
    "order_id",
    "customer_id",
    "customer_email",
    "currency",
    "total_minor",
    "sku",
    "quantity",
    "unit_price_minor",
];
/// The columns that are the same on every row of an order (the rest describe its line item).
pub const ORDER_COLUMNS: [&str; 5] = [
    "order_id",
    "customer_id",
    "customer_email",
    "currency",
    "total_minor",
];
/// The columns a header may leave out.
pub const OPTIONAL_COLUMNS: [&str; 1] = ["customer_email"];
/// Columns whose cells become JSON numbers when they are one.
const NUMERIC_COLUMNS: [&str; 3] = ["total_minor", "quantity", "unit_price_minor"];

/// The header row `sample-orders` writes (every column).
pub fn header_row() -> String {
    let mut row = COLUMNS.join(",");
    row.push('\n');
    row
}

/// Appends the rows of `order` (order JSON, possibly invalid): one per item, the order columns
/// repeated, a field the order lacks left empty. An order without items gets one row with
/// empty item cells (CSV cannot say "no items").
pub fn write_order(order: &Value, out: &mut String) {
    let empty = Value::Null;
    let items: Vec<&Value> = match order.get("items").and_then(Value::as_array) {
        Some(items) if !items.is_empty() => items.iter().collect(),
        _ => vec![&empty],
    };
    for item in items {
        for (index, column) in COLUMNS.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            let value = if ORDER_COLUMNS.contains(column) {
                order.get(column)
            } else {
                item.get(column)
            };
            push_cell(value, out);
        }
        out.push('\n');
    }
}

/// A value as a cell: strings as they are, other JSON as its text, absent or null empty;
/// quoted when it holds a comma, a quote or a line break.
fn push_cell(value: Option<&Value>, out: &mut String) {
    let text = match value {
        None | Some(Value::Null) => return,
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&text);
    }
}

/// A problem of the file, a row or an order, with one of the codes of this format
/// (`unknown_column`, `missing_column`, `duplicate_column`, `malformed_csv`,
/// `wrong_field_count`, `order_rows_differ`, `order_rows_not_consecutive`, `line_too_long`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub code: &'static str,
    pub message: String,
}

impl Problem {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Problem {
            code,
            message: message.into(),
        }
    }
}

/// Where each column is in the rows, from the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    /// Fields per row.
    width: usize,
    /// The field index of each of [`COLUMNS`], `None` for a left-out optional one.
    at: [Option<usize>; COLUMNS.len()],
}

impl Columns {
    /// Reads the header row; every problem of it at once.
    pub fn from_header(names: &[&str]) -> Result<Columns, Vec<Problem>> {
        let mut at = [None; COLUMNS.len()];
        let mut problems = Vec::new();
        for (index, name) in names.iter().enumerate() {
            let name = name.trim();
            match COLUMNS.iter().position(|c| *c == name) {
                Some(known) if at[known].is_some() => problems.push(Problem::new(
                    "duplicate_column",
                    format!("column {name} appears twice in the header"),
                )),
                Some(known) => at[known] = Some(index),
                None if name.is_empty() => problems.push(Problem::new(
                    "unknown_column",
                    format!("column {} of the header has no name", index + 1),
                )),
                None => problems.push(Problem::new(
                    "unknown_column",
                    format!(
                        "unknown column {name:?}; the columns are {}",
                        COLUMNS.join(", ")
                    ),
                )),
            }
        }
        for (known, column) in COLUMNS.iter().enumerate() {
            if at[known].is_none() && !OPTIONAL_COLUMNS.contains(column) {
                problems.push(Problem::new(
                    "missing_column",
                    format!("the header has no {column} column (required)"),
                ));
            }
        }
        if problems.is_empty() {
            Ok(Columns {
                width: names.len(),
                at,
            })
        } else {
            Err(problems)
        }
    }

    /// The cell of `column` (one of [`COLUMNS`]) in `row`; empty for a left-out column.
    fn cell<'r>(&self, row: &[&'r str], column: &str) -> &'r str {
        COLUMNS
            .iter()
            .position(|c| *c == column)
            .and_then(|known| self.at[known])
            .and_then(|index| row.get(index).copied())
            .unwrap_or("")
    }
}

/// Appends `"column":value` for a non-empty cell (after a comma unless `first`); returns
/// whether it wrote anything.
fn push_json_field(column: &str, cell: &str, first: bool, out: &mut String) -> bool {
    if cell.is_empty() {
        return false;
    }
    if !first {
        out.push(',');
    }
    out.push_str(&Value::String(column.to_owned()).to_string());
    out.push(':');
    let number = NUMERIC_COLUMNS.contains(&column)
        && cell.trim() == cell
        && serde_json::from_str::<serde_json::Number>(cell).is_ok();
    if number {
        // As written, so a message quotes it as the partner wrote it (e.g. beyond 64 bits).
        out.push_str(cell);
    } else {
        out.push_str(&Value::String(cell.to_owned()).to_string());
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::OrderBuilder;

    #[test]
    fn the_header_names_every_required_column_once_and_nothing_else() {
        let columns = Columns::from_header(&[
            " sku",
            "order_id",
            "quantity",
            "unit_price_minor",
            "currency",
            "customer_id",
            "total_minor",
        ])
        .unwrap();
        assert_eq!(columns.width, 7);
        assert_eq!(
            columns.cell(&["a", "b", "c", "d", "e", "f", "g"], "sku"),
            "a"
        );
        assert_eq!(
            columns.cell(&["a", "b", "c", "d", "e", "f", "g"], "customer_email"),
            ""
        );
        let problems = Columns::from_header(&["order_id", "sku", "Price", "sku", ""]).unwrap_err();
        let codes: Vec<&str> = problems.iter().map(|p| p.code).collect();
        assert_eq!(
            codes,
            [
                "unknown_column",
                "duplicate_column",
                "unknown_column",
                "missing_column",
                "missing_column",
                "missing_column",
                "missing_column",
                "missing_column"
            ]
        );
        assert_eq!(
            problems[0].message,
            "unknown column \"Price\"; the columns are order_id, customer_id, customer_email, currency, total_minor, sku, quantity, unit_price_minor"
        );
        assert_eq!(problems[2].message, "column 5 of the header has no name");
        assert_eq!(
            problems[3].message,
            "the header has no customer_id column (required)"
        );
    }

    #[test]
    fn an_order_is_written_one_row_per_item_quoting_what_needs_it() {
        let order = OrderBuilder::new()
            .order_id("ord-1")
            .customer_id("cust, \"the\" one")
            .customer_email("a@example.com")
            .item("SKU-1", 2, 1250)
            .item("multi\nline", 1, 499)
            .build();
        let mut out = header_row();
        write_order(&serde_json::to_value(order).unwrap(), &mut out);
        assert_eq!(
            out,
            "order_id,customer_id,customer_email,currency,total_minor,sku,quantity,unit_price_minor\n\
             ord-1,\"cust, \"\"the\"\" one\",a@example.com,EUR,2999,SKU-1,2,1250\n\
             ord-1,\"cust, \"\"the\"\" one\",a@example.com,EUR,2999,\"multi\nline\",1,499\n"
        );
        let mut out = String::new();
        write_order(&serde_json::json!({"order_id": "x", "items": []}), &mut out);
        assert_eq!(out, "x,,,,,,,\n");
    }

    #[test]
    fn cells_become_json_fields_numbers_only_in_numeric_columns() {
        let mut out = String::new();
        assert!(!push_json_field("sku", "", true, &mut out));
        assert!(push_json_field("sku", "12", true, &mut out));
        assert!(push_json_field("quantity", "12", false, &mut out));
        assert!(push_json_field("quantity", " 12", false, &mut out));
        assert!(push_json_field(
            "total_minor",
            "100000000000000000000",
            false,
            &mut out
        ));
        assert!(push_json_field("unit_price_minor", "1.5", false, &mut out));
        assert!(push_json_field(
            "unit_price_minor",
            "12abc",
            false,
            &mut out
        ));
        assert_eq!(
            out,
            r#""sku":"12","quantity":12,"quantity":" 12","total_minor":100000000000000000000,"unit_price_minor":1.5,"unit_price_minor":"12abc""#
        );
    }
}
