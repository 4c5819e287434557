//! Sample orders for `orderflow send-order` and tests, with a builder to override any part.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{items_total, LineItem, Order};

pub const SAMPLE_CUSTOMER_ID: &str = "cust-sample";
pub const SAMPLE_CURRENCY: &str = "EUR";

/// A valid order: two sample items, total computed. A fresh id is generated when `order_id`
/// is `None`.
pub fn valid_order(order_id: Option<String>) -> Order {
    let builder = OrderBuilder::new();
    match order_id {
        Some(id) => builder.order_id(id).build(),
        None => builder.build(),
    }
}

/// An order that breaks exactly one rule: its total is one minor unit short of the items' sum.
pub fn invalid_order() -> Order {
    let sum = sample_items()
        .iter()
        .map(|item| item.quantity * item.unit_price_minor)
        .sum::<i64>();
    OrderBuilder::new().total_minor(sum - 1).build()
}

/// The default line items: 2 × SKU-1 at 12.50 and 1 × SKU-2 at 4.99 (total 29.99).
pub fn sample_items() -> Vec<LineItem> {
    vec![
        LineItem::new("SKU-1", 2, 1250),
        LineItem::new("SKU-2", 1, 499),
    ]
}

/// A unique order id: `ord-<unix millis>-<process id hex>-<counter>`, at most 48 characters,
/// all of them allowed in an order id. Unique across calls in one process (counter) and
/// across processes running at the same time (process id).
pub fn generate_order_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_millis())
        .unwrap_or_default();
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("ord-{millis}-{:x}-{count}", std::process::id())
}

/// Builds an [`Order`] from sample defaults. Nothing is validated here, so invalid orders can
/// be built on purpose.
#[derive(Debug, Clone, Default)]
pub struct OrderBuilder {
    order_id: Option<String>,
    customer_id: Option<String>,
    currency: Option<String>,
    items: Option<Vec<LineItem>>,
    total_minor: Option<i64>,
    customer_email: Option<String>,
}

impl OrderBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Default: a fresh [`generate_order_id`].
    pub fn order_id(mut self, order_id: impl Into<String>) -> Self {
        self.order_id = Some(order_id.into());
        self
    }

    /// Default: [`SAMPLE_CUSTOMER_ID`].
    pub fn customer_id(mut self, customer_id: impl Into<String>) -> Self {
        self.customer_id = Some(customer_id.into());
        self
    }

    /// Default: [`SAMPLE_CURRENCY`].
    pub fn currency(mut self, currency: impl Into<String>) -> Self {
        self.currency = Some(currency.into());
        self
    }

    /// Replaces the line items. Default: [`sample_items`].
    pub fn items(mut self, items: Vec<LineItem>) -> Self {
        self.items = Some(items);
        self
    }

    /// Adds a line item; the first call replaces the sample items.
    pub fn item(mut self, sku: impl Into<String>, quantity: i64, unit_price_minor: i64) -> Self {
        self.items.get_or_insert_with(Vec::new).push(LineItem::new(
            sku,
            quantity,
            unit_price_minor,
        ));
        self
    }

    /// Overrides the total. Default: the items' sum (0 if that sum overflows, which
    /// validation then reports as `total_overflow`).
    pub fn total_minor(mut self, total_minor: i64) -> Self {
        self.total_minor = Some(total_minor);
        self
    }

    /// Default: none (the field is optional).
    pub fn customer_email(mut self, customer_email: impl Into<String>) -> Self {
        self.customer_email = Some(customer_email.into());
        self
    }

    pub fn build(self) -> Order {
        let items = self.items.unwrap_or_else(sample_items);
        let total_minor = self
            .total_minor
            .unwrap_or_else(|| items_total(&items).unwrap_or(0));
        Order {
            order_id: self.order_id.unwrap_or_else(generate_order_id),
            customer_id: self
                .customer_id
                .unwrap_or_else(|| SAMPLE_CUSTOMER_ID.to_owned()),
            currency: self.currency.unwrap_or_else(|| SAMPLE_CURRENCY.to_owned()),
            items,
            total_minor,
            customer_email: self.customer_email,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{validate, ReasonCode};
    use std::collections::HashSet;

    #[test]
    fn valid_sample_is_valid() {
        let order = valid_order(None);
        assert!(order.order_id.starts_with("ord-"));
        assert_eq!(order.total_minor, 2999);
        validate(&order).unwrap();
        let named = valid_order(Some("ord-fixed".into()));
        assert_eq!(named.order_id, "ord-fixed");
        validate(&named).unwrap();
    }

    #[test]
    fn invalid_sample_breaks_only_the_total() {
        let reasons = validate(&invalid_order()).unwrap_err();
        assert_eq!(reasons.len(), 1);
        assert_eq!(reasons[0].code, ReasonCode::TotalMismatch);
        assert_eq!(
            reasons[0].message,
            "total_minor is 2998 but the items sum to 2999"
        );
    }

    #[test]
    fn generated_ids_are_unique_and_valid() {
        let ids: HashSet<String> = (0..1000).map(|_| generate_order_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in ids.iter().take(10) {
            assert!(id.len() <= 48, "{id}");
            validate(&valid_order(Some(id.clone()))).unwrap();
        }
    }

    #[test]
    fn builder_overrides() {
        let order = OrderBuilder::new()
            .order_id("ord-b")
            .customer_id("cust-9")
            .currency("USD")
            .item("A", 3, 100)
            .item("B", 1, 5)
            .build();
        assert_eq!(order.customer_id, "cust-9");
        assert_eq!(order.currency, "USD");
        assert_eq!(
            order.items,
            vec![LineItem::new("A", 3, 100), LineItem::new("B", 1, 5)]
        );
        assert_eq!(order.total_minor, 305);
        validate(&order).unwrap();

        let replaced = OrderBuilder::new()
            .items(vec![LineItem::new("C", 1, 7)])
            .total_minor(8)
            .build();
        assert_eq!(replaced.items.len(), 1);
        assert_eq!(replaced.total_minor, 8);
        assert!(validate(&replaced).is_err());

        let overflowing = OrderBuilder::new().item("X", 2, i64::MAX).build();
        assert_eq!(overflowing.total_minor, 0);
        assert_eq!(
            validate(&overflowing).unwrap_err()[0].code,
            ReasonCode::TotalOverflow
        );
    }
}
