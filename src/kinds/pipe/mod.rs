//! Pipes (`pipe.<table>`): the EventBridge Pipe `<stack>-<table>-changes` a table's
//! `change_events` derive. It reads the table's DynamoDB stream from its oldest record, keeps
//! the records matching `filter`, and puts each one (batch size 1: one change, one event, in
//! stream order) on the bus as an event with the configured `source` and `detail-type`; the
//! event's `detail` is the stream record. It runs as the role `service_role.pipe/<table>`.
//!
//! A pipe's source cannot change after creation, and a re-enabled stream has a new ARN: a new
//! stream ARN replaces the pipe.

pub(crate) mod provider;

pub use provider::PipeProvider;

/// The pipe of `table`'s change events: `<stack>-<table>-changes`.
pub fn pipe_name(stack: &str, table: &str) -> String {
    format!("{stack}-{table}-changes")
}

/// The table whose pipe `name` is, if it is one of `stack`'s.
pub fn table_of<'a>(stack: &str, name: &'a str) -> Option<&'a str> {
    name.strip_prefix(stack)?
        .strip_prefix('-')?
        .strip_suffix("-changes")
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_names_read_back_to_their_table() {
        assert_eq!(pipe_name("shop", "orders"), "shop-orders-changes");
        assert_eq!(table_of("shop", "shop-orders-changes"), Some("orders"));
        assert_eq!(
            table_of("shop", "shop-eu-orders-changes"),
            Some("eu-orders")
        );
        assert_eq!(table_of("shop", "shopx-orders-changes"), None);
        assert_eq!(table_of("shop", "shop-orders"), None);
    }
}
