//! Counts as CloudWatch metrics without an API call (or a permission): a log line in the
//! Embedded Metric Format, which CloudWatch Logs turns into a metric datapoint.

use serde_json::json;

/// Namespace of orderflow's metrics.
pub const NAMESPACE: &str = "orderflow";
/// Emails SES refused for good (one per order and status).
pub const EMAIL_UNDELIVERABLE: &str = "EmailUndeliverable";

/// The EMF line counting one undeliverable email, with the function as dimension and the
/// order id and SES error code as searchable properties (not dimensions: they would make one
/// metric per order).
pub fn email_undeliverable(
    function: &str,
    order_id: &str,
    error_code: &str,
    now_ms: i64,
) -> String {
    json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["FunctionName"]],
                "Metrics": [{ "Name": EMAIL_UNDELIVERABLE, "Unit": "Count" }]
            }]
        },
        "FunctionName": function,
        EMAIL_UNDELIVERABLE: 1,
        "order_id": order_id,
        "error_code": error_code
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undeliverable_email_line_is_embedded_metric_format() {
        let line = email_undeliverable("stack-notify-customer", "ord-1", "MessageRejected", 17);
        assert!(!line.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["_aws"]["Timestamp"], 17);
        let directive = &value["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "orderflow");
        assert_eq!(directive["Metrics"][0]["Name"], "EmailUndeliverable");
        // Every dimension and metric named in the directive is a top-level member.
        for dimension in directive["Dimensions"][0].as_array().unwrap() {
            assert!(value.get(dimension.as_str().unwrap()).is_some());
        }
        assert_eq!(value["EmailUndeliverable"], 1);
        assert_eq!(value["FunctionName"], "stack-notify-customer");
        assert_eq!(value["order_id"], "ord-1");
        assert_eq!(value["error_code"], "MessageRejected");
    }
}
