//! What the customer and the topic's subscribers receive: the email (plain text and simple
//! HTML) and the SNS notification (a JSON message with filterable attributes).

use order_domain::item::{OrderRecord, Status};
use order_domain::{LineItem, Reason};
use serde::Serialize;

use crate::money::format_amount;

/// SNS message attribute (String) with the final status, for filter policies.
pub const STATUS_ATTRIBUTE: &str = "status";
/// SNS message attribute (String) with the customer id, for filter policies; left out when
/// the order has none (SNS refuses empty attribute values).
pub const CUSTOMER_ID_ATTRIBUTE: &str = "customer_id";

/// An email to send through SES.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What an email or a notification tells about one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSummary {
    pub order_id: String,
    pub status: Status,
    /// When the status changed (RFC 3339 UTC).
    pub at: String,
    pub customer_id: Option<String>,
    pub currency: Option<String>,
    pub total_minor: Option<i64>,
    pub items: Option<Vec<LineItem>>,
    /// REJECTED only.
    pub reasons: Vec<Reason>,
}

impl OrderSummary {
    /// The stored order; the event's values fill in what the record lacks.
    pub fn new(
        record: &OrderRecord,
        status: Status,
        at: &str,
        event_customer_id: Option<&str>,
        event_reasons: &[Reason],
    ) -> Self {
        OrderSummary {
            order_id: record.order_id.clone(),
            status,
            at: at.to_owned(),
            customer_id: record
                .customer_id
                .clone()
                .or_else(|| event_customer_id.map(str::to_owned)),
            currency: record.currency.clone(),
            total_minor: record.total_minor,
            items: record.items.clone(),
            reasons: if status != Status::Rejected {
                Vec::new()
            } else if record.reasons.is_empty() {
                event_reasons.to_vec()
            } else {
                record.reasons.clone()
            },
        }
    }

    fn amount(&self, minor: i128) -> String {
        format_amount(minor, self.currency.as_deref())
    }

    fn total(&self) -> String {
        self.total_minor
            .map_or_else(|| "unknown".to_owned(), |t| self.amount(i128::from(t)))
    }

    /// One line per item: `2 x SKU-1 at 12.50 EUR = 25.00 EUR` (exact: the line total is
    /// computed in 128 bits, which two 64-bit factors cannot overflow).
    fn item_lines(&self) -> Vec<(String, String, String, String)> {
        self.items
            .iter()
            .flatten()
            .map(|item| {
                let unit = i128::from(item.unit_price_minor);
                (
                    item.quantity.to_string(),
                    item.sku.clone(),
                    self.amount(unit),
                    self.amount(i128::from(item.quantity) * unit),
                )
            })
            .collect()
    }

    /// The email to `to`.
    pub fn email(&self, to: &str) -> Email {
        let id = &self.order_id;
        let (subject, headline) = match self.status {
            Status::Rejected => (
                format!("Your order {id} could not be accepted"),
                format!("We are sorry: we could not accept your order {id}."),
            ),
            _ => (
                format!("Your order {id} is confirmed"),
                format!("Good news: your order {id} has been processed."),
            ),
        };
        let lines = self.item_lines();

        let mut text = format!(
            "Hello,\n\n{headline}\n\nOrder:  {id}\nStatus: {}\nTotal:  {}\n",
            self.status,
            self.total()
        );
        if lines.is_empty() {
            text.push_str("\nItems: none recorded\n");
        } else {
            text.push_str("\nItems:\n");
            for (quantity, sku, unit, line) in &lines {
                text.push_str(&format!("  {quantity} x {sku} at {unit} = {line}\n"));
            }
        }
        if !self.reasons.is_empty() {
            text.push_str("\nWhy it was rejected:\n");
            for reason in &self.reasons {
                text.push_str(&format!("  - {} ({})\n", reason.message, reason.code));
            }
        }
        text.push_str(&format!("\nStatus as of {}.\n", self.at));

        let e = escape_html;
        let mut html = format!(
            "<!DOCTYPE html>\n<html><body>\n<p>Hello,</p>\n<p>{}</p>\n<table>\n\
             <tr><th align=\"left\">Order</th><td>{}</td></tr>\n\
             <tr><th align=\"left\">Status</th><td>{}</td></tr>\n\
             <tr><th align=\"left\">Total</th><td>{}</td></tr>\n</table>\n",
            e(&headline),
            e(id),
            e(self.status.as_str()),
            e(&self.total())
        );
        if lines.is_empty() {
            html.push_str("<p>Items: none recorded</p>\n");
        } else {
            html.push_str(
                "<table>\n<tr><th align=\"left\">Quantity</th><th align=\"left\">Item</th>\
                 <th align=\"left\">Unit price</th><th align=\"left\">Amount</th></tr>\n",
            );
            for (quantity, sku, unit, line) in &lines {
                html.push_str(&format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                    e(quantity),
                    e(sku),
                    e(unit),
                    e(line)
                ));
            }
            html.push_str("</table>\n");
        }
        if !self.reasons.is_empty() {
            html.push_str("<p>Why it was rejected:</p>\n<ul>\n");
            for reason in &self.reasons {
                html.push_str(&format!(
                    "<li>{} ({})</li>\n",
                    e(&reason.message),
                    e(reason.code.as_str())
                ));
            }
            html.push_str("</ul>\n");
        }
        html.push_str(&format!(
            "<p>Status as of {}.</p>\n</body></html>\n",
            e(&self.at)
        ));

        Email {
            to: to.to_owned(),
            subject,
            text,
            html,
        }
    }

    /// The SNS notification.
    pub fn notification(&self) -> Notification {
        Notification {
            order_id: self.order_id.clone(),
            customer_id: self.customer_id.clone(),
            status: self.status,
            at: self.at.clone(),
            total_minor: self.total_minor,
            currency: self.currency.clone(),
            reasons: self.reasons.clone(),
        }
    }
}

/// The JSON message published on the topic:
/// `{ order_id, customer_id, status, at, total_minor, currency, reasons? }` (`customer_id`,
/// `total_minor` and `currency` are `null` when a rejected order lacked them; `reasons` only
/// for REJECTED).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    pub order_id: String,
    pub customer_id: Option<String>,
    pub status: Status,
    pub at: String,
    pub total_minor: Option<i64>,
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
}

impl Notification {
    pub fn message(&self) -> String {
        // A struct of strings, integers and enums always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The String message attributes subscribers filter on: `status`, and `customer_id`
    /// when there is one.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        let mut attributes = vec![(STATUS_ATTRIBUTE, self.status.as_str().to_owned())];
        if let Some(customer_id) = self.customer_id.as_deref().filter(|id| !id.is_empty()) {
            attributes.push((CUSTOMER_ID_ATTRIBUTE, customer_id.to_owned()));
        }
        attributes
    }

    /// Subject for email subscribers of the topic: ASCII, one line, under SNS's 100
    /// characters (order ids are at most 64 letters, digits, `-` and `_`).
    pub fn subject(&self) -> String {
        format!("Order {} {}", self.order_id, self.status)
    }
}

/// `&`, `<`, `>`, `"` and `'` as HTML character references.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use order_domain::{sample, validate, validate_json, ReasonCode};
    use serde_json::json;
    use std::time::UNIX_EPOCH;

    fn processed(currency: &str) -> OrderSummary {
        let order = validate(
            &sample::OrderBuilder::new()
                .order_id("ord-m1")
                .currency(currency)
                .build(),
        )
        .unwrap();
        let record = OrderRecord::processed(&order, "m", UNIX_EPOCH, None);
        OrderSummary::new(
            &record,
            Status::Processed,
            "2025-01-02T03:04:05.678Z",
            None,
            &[],
        )
    }

    #[test]
    fn processed_email_lists_items_and_total_in_major_units() {
        let email = processed("EUR").email("ana@example.com");
        assert_eq!(email.to, "ana@example.com");
        assert_eq!(email.subject, "Your order ord-m1 is confirmed");
        assert_eq!(
            email.text,
            "Hello,\n\nGood news: your order ord-m1 has been processed.\n\n\
             Order:  ord-m1\nStatus: PROCESSED\nTotal:  29.99 EUR\n\n\
             Items:\n  2 x SKU-1 at 12.50 EUR = 25.00 EUR\n  1 x SKU-2 at 4.99 EUR = 4.99 EUR\n\n\
             Status as of 2025-01-02T03:04:05.678Z.\n"
        );
        assert!(email.html.contains("<td>29.99 EUR</td>"), "{}", email.html);
        assert!(!email.html.contains("rejected"));
        // The exponent follows the currency.
        let yen = processed("JPY").email("a@example.com");
        assert!(yen.text.contains("Total:  2999 JPY\n"), "{}", yen.text);
        assert!(yen.text.contains("2 x SKU-1 at 1250 JPY = 2500 JPY"));
        let dinar = processed("KWD").email("a@example.com");
        assert!(dinar.text.contains("Total:  2.999 KWD\n"), "{}", dinar.text);
    }

    #[test]
    fn rejected_email_lists_the_reasons_and_whatever_was_recorded() {
        // A broken order: total mismatch, and an item without a unit price.
        let raw = json!({
            "order_id": "ord-r1", "customer_id": "cust-1", "currency": "EUR",
            "items": [{"sku": "SKU-1", "quantity": 2, "unit_price_minor": 1250}],
            "total_minor": 2400
        });
        let reasons = validate_json(&raw).unwrap_err();
        let record = OrderRecord::rejected(&raw, reasons, None, UNIX_EPOCH, None).unwrap();
        let summary = OrderSummary::new(&record, Status::Rejected, "t", None, &[]);
        let email = summary.email("bo@example.com");
        assert_eq!(email.subject, "Your order ord-r1 could not be accepted");
        assert!(email.text.contains("Status: REJECTED\nTotal:  24.00 EUR\n"));
        assert!(
            email.text.contains(
                "Why it was rejected:\n  - total_minor is 2400 but the items sum to 2500 (total_mismatch)\n"
            ),
            "{}",
            email.text
        );
        assert!(email.html.contains("<li>total_minor is 2400"));

        // Without currency, total or items, the email says so instead of guessing.
        let bare = json!({"order_id": "ord-r2", "total_minor": "x"});
        let reasons = validate_json(&bare).unwrap_err();
        let record = OrderRecord::rejected(&bare, reasons, None, UNIX_EPOCH, None).unwrap();
        let email =
            OrderSummary::new(&record, Status::Rejected, "t", None, &[]).email("c@example.com");
        assert!(email.text.contains("Total:  unknown\n"), "{}", email.text);
        assert!(email.text.contains("Items: none recorded\n"));
        assert!(email.text.contains("(missing_field)"));
    }

    #[test]
    fn the_event_fills_in_what_the_record_lacks() {
        let order = validate(&sample::valid_order(Some("ord-e".into()))).unwrap();
        let mut record = OrderRecord::processed(&order, "m", UNIX_EPOCH, None);
        record.customer_id = None;
        let reasons = vec![Reason::new(ReasonCode::TotalMismatch, "m")];
        let summary = OrderSummary::new(&record, Status::Rejected, "t", Some("cust-e"), &reasons);
        assert_eq!(summary.customer_id.as_deref(), Some("cust-e"));
        assert_eq!(summary.reasons, reasons);
        // Reasons belong to REJECTED only.
        let summary = OrderSummary::new(&record, Status::Processed, "t", None, &reasons);
        assert!(summary.reasons.is_empty());
    }

    #[test]
    fn html_escapes_everything_from_the_order() {
        let raw = json!({
            "order_id": "ord-h", "customer_id": "c", "currency": "EUR",
            "items": [{"sku": "<script>alert('x')</script>&", "quantity": 1, "unit_price_minor": 1}],
            "total_minor": 1
        });
        let record = OrderRecord::rejected(
            &raw,
            vec![Reason::new(ReasonCode::SkuTooLong, "sku \"<b>\" is bad")],
            None,
            UNIX_EPOCH,
            None,
        )
        .unwrap();
        let email =
            OrderSummary::new(&record, Status::Rejected, "t", None, &[]).email("d@example.com");
        assert!(!email.html.contains("<script>") && !email.html.contains("<b>"));
        assert!(email
            .html
            .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;"));
        assert!(email.html.contains("sku &quot;&lt;b&gt;&quot; is bad"));
        assert_eq!(escape_html("a&b<c>\"'"), "a&amp;b&lt;c&gt;&quot;&#39;");
    }

    #[test]
    fn notification_message_and_attributes() {
        let notification = processed("EUR").notification();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&notification.message()).unwrap(),
            json!({
                "order_id": "ord-m1", "customer_id": sample::SAMPLE_CUSTOMER_ID,
                "status": "PROCESSED", "at": "2025-01-02T03:04:05.678Z",
                "total_minor": 2999, "currency": "EUR"
            })
        );
        assert_eq!(
            notification.attributes(),
            [
                ("status", "PROCESSED".to_owned()),
                ("customer_id", sample::SAMPLE_CUSTOMER_ID.to_owned())
            ]
        );
        assert_eq!(notification.subject(), "Order ord-m1 PROCESSED");

        // A rejection without a customer id: null in the message, no attribute.
        let bare = json!({"order_id": "ord-n"});
        let reasons = validate_json(&bare).unwrap_err();
        let record = OrderRecord::rejected(&bare, reasons, None, UNIX_EPOCH, None).unwrap();
        let notification =
            OrderSummary::new(&record, Status::Rejected, "t", None, &[]).notification();
        let message: serde_json::Value = serde_json::from_str(&notification.message()).unwrap();
        assert_eq!(message["customer_id"], json!(null));
        assert_eq!(message["total_minor"], json!(null));
        assert_eq!(message["reasons"][0]["code"], "missing_field");
        assert_eq!(
            notification.attributes(),
            [("status", "REJECTED".to_owned())]
        );
    }
}
