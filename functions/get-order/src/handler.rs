//! `GET /orders/{order_id}` independent of AWS: the table goes through [`OrderReader`], so
//! every answer is unit-tested with an in-memory fake.
//!
//! Contract:
//! - 200 [`OrderView`]: `{ order_id, status, customer_id, currency, total_minor, items,
//!   history: [{ status, at, reasons? }], reasons? }` — no internal attributes (request hash,
//!   delivery ids, settled statuses, expiry, e-mail address).
//! - 400 `application/problem+json` when the id breaks the order-id rules (every problem in
//!   `errors`); 404 when no order has it; 405 for another method.
//! - 503 with `Retry-After` when DynamoDB fails; 500 when the stored item is not an order.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::http::Method;
use order_domain::http::{self, json_response, DependencyError, Problem, ProblemError};
use order_domain::item::{HistoryEntry, OrderRecord, Status};
use order_domain::{LineItem, Reason};
use serde::Serialize;

/// The path parameter of the route `GET /orders/{order_id}`.
pub const ORDER_ID_PARAMETER: &str = "order_id";

/// The orders table as get-order uses it.
pub trait OrderReader {
    /// The record of `order_id`, read with strong consistency.
    async fn get(&self, order_id: &str) -> Result<Option<OrderRecord>, ReadError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Dependency(DependencyError),
    /// The stored item does not have the orders-table shape.
    #[error("the stored item is not an order: {0}")]
    Unreadable(String),
}

/// The public view of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderView {
    pub order_id: String,
    pub status: Status,
    /// `null` only for a rejected order that lacked a usable value.
    pub customer_id: Option<String>,
    pub currency: Option<String>,
    pub total_minor: Option<i64>,
    pub items: Option<Vec<LineItem>>,
    /// Oldest first.
    pub history: Vec<HistoryEntry>,
    /// Why the order was rejected (REJECTED only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
}

impl From<OrderRecord> for OrderView {
    fn from(record: OrderRecord) -> Self {
        // Records written before the lifecycle have no history: their one status, at the time
        // they were recorded.
        let history = if record.status_history.is_empty() {
            vec![HistoryEntry {
                status: record.status,
                at: record.received_at.clone(),
                reasons: record.reasons.clone(),
            }]
        } else {
            record.status_history
        };
        OrderView {
            order_id: record.order_id,
            status: record.status,
            customer_id: record.customer_id,
            currency: record.currency,
            total_minor: record.total_minor,
            items: record.items,
            history,
            reasons: record.reasons,
        }
    }
}

/// Answers one request; never fails (every problem is an HTTP answer).
pub async fn handle(
    request: &ApiGatewayV2httpRequest,
    reader: &impl OrderReader,
) -> ApiGatewayV2httpResponse {
    let request_id = http::request_id(request);
    if let Err(refused) = http::require_method(request, Method::GET) {
        return *refused;
    }
    let Some(order_id) = request.path_parameters.get(ORDER_ID_PARAMETER) else {
        tracing::info!(request_id, "no order_id path parameter");
        return Problem::new(
            400,
            "invalid-order-id",
            "Invalid order id",
            "The path has no order id: GET /orders/{order_id}",
        )
        .into_response();
    };
    let problems = order_domain::order_id_problems(order_id);
    if !problems.is_empty() {
        tracing::info!(request_id, problems = problems.len(), "invalid order id");
        return Problem::new(
            400,
            "invalid-order-id",
            "Invalid order id",
            "The order id in the path breaks the order-id rules; no order can have it",
        )
        .with_errors(problems.iter().map(ProblemError::from).collect())
        .into_response();
    }
    match reader.get(order_id).await {
        Ok(Some(record)) => {
            tracing::info!(request_id, order_id = %order_id, status = %record.status, "order found");
            json_response(200, &OrderView::from(record))
        }
        Ok(None) => {
            tracing::info!(request_id, order_id = %order_id, "order not found");
            Problem::new(
                404,
                "order-not-found",
                "Order not found",
                format!("There is no order {order_id}"),
            )
            .into_response()
        }
        Err(ReadError::Dependency(err)) => {
            tracing::error!(request_id, order_id = %order_id, error = %err, "could not read the order");
            Problem::unavailable("The order could not be read").into_response()
        }
        Err(err @ ReadError::Unreadable(_)) => {
            tracing::error!(request_id, order_id = %order_id, error = %err, "stored order unreadable");
            Problem::new(
                500,
                "stored-order-unreadable",
                "Internal error",
                "The stored order could not be read",
            )
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::encodings::Body;
    use order_domain::memory::MemoryTable;
    use order_domain::{sample, validate, validate_json};
    use serde_json::{json, Value};
    use std::sync::Mutex;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    #[derive(Default)]
    struct FakeReader {
        table: MemoryTable,
        reads: Mutex<usize>,
        failure: Option<ReadError>,
    }

    impl OrderReader for FakeReader {
        async fn get(&self, order_id: &str) -> Result<Option<OrderRecord>, ReadError> {
            *self.reads.lock().unwrap() += 1;
            if let Some(failure) = &self.failure {
                return Err(failure.clone());
            }
            Ok(self.table.get(order_id))
        }
    }

    fn at(millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + millis)
    }

    fn request(method: &str, order_id: Option<&str>) -> ApiGatewayV2httpRequest {
        let mut value = json!({
            "version": "2.0",
            "routeKey": "GET /orders/{order_id}",
            "rawPath": format!("/orders/{}", order_id.unwrap_or_default()),
            "rawQueryString": "",
            "headers": {"accept": "application/json"},
            "requestContext": {
                "accountId": "123456789012", "apiId": "abc123",
                "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "abc123", "requestId": "req-1",
                "routeKey": "GET /orders/{order_id}", "stage": "$default",
                "time": "14/Nov/2023:22:13:20 +0000", "timeEpoch": 0,
                "http": {"method": method, "path": "/orders", "protocol": "HTTP/1.1",
                         "sourceIp": "192.0.2.1", "userAgent": "test"}
            },
            "isBase64Encoded": false
        });
        if let Some(id) = order_id {
            value["pathParameters"] = json!({ "order_id": id });
        }
        serde_json::from_value(value).unwrap()
    }

    fn body(response: &ApiGatewayV2httpResponse) -> Value {
        match &response.body {
            Some(Body::Text(text)) => serde_json::from_str(text).unwrap(),
            other => panic!("expected a JSON body, got {other:?}"),
        }
    }

    fn content_type(response: &ApiGatewayV2httpResponse) -> &str {
        response.headers["content-type"].to_str().unwrap()
    }

    #[tokio::test]
    async fn a_processed_order_with_its_whole_history() {
        let reader = FakeReader::default();
        let order = validate(
            &sample::OrderBuilder::new()
                .order_id("ord-g1")
                .customer_email("ana@example.com")
                .build(),
        )
        .unwrap();
        let table = &reader.table;
        table.insert_if_absent(&OrderRecord::received(&order, "hash", at(0), Some(3)));
        table.settle("ord-g1", Status::Received);
        table.transition(&OrderRecord::validated(
            &order,
            Some("ev".into()),
            at(15),
            None,
        ));
        table.transition(&OrderRecord::processed(&order, "msg", at(120), None));

        let response = handle(&request("GET", Some("ord-g1")), &reader).await;
        assert_eq!(response.status_code, 200);
        assert_eq!(content_type(&response), "application/json");
        assert_eq!(response.headers["cache-control"], "no-store");
        assert_eq!(
            body(&response),
            json!({
                "order_id": "ord-g1",
                "status": "PROCESSED",
                "customer_id": "cust-sample",
                "currency": "EUR",
                "total_minor": 2999,
                "items": [
                    {"sku": "SKU-1", "quantity": 2, "unit_price_minor": 1250},
                    {"sku": "SKU-2", "quantity": 1, "unit_price_minor": 499}
                ],
                "history": [
                    {"status": "RECEIVED", "at": "2023-11-14T22:13:20.000Z"},
                    {"status": "VALIDATED", "at": "2023-11-14T22:13:20.015Z"},
                    {"status": "PROCESSED", "at": "2023-11-14T22:13:20.120Z"}
                ]
            })
        );
        assert_eq!(*reader.reads.lock().unwrap(), 1);
    }

    #[tokio::test]
    async fn a_rejected_order_shows_why() {
        let reader = FakeReader::default();
        let raw = json!({"order_id": "ord-g2", "customer_id": 5, "currency": "EUR",
                         "items": [{"sku": "A", "quantity": 1, "unit_price_minor": 10}],
                         "total_minor": 11});
        let reasons = validate_json(&raw).unwrap_err();
        reader
            .table
            .transition(&OrderRecord::rejected(&raw, reasons, None, at(1), None).unwrap());
        let response = handle(&request("GET", Some("ord-g2")), &reader).await;
        assert_eq!(response.status_code, 200);
        let view = body(&response);
        assert_eq!(view["status"], "REJECTED");
        assert_eq!(view["customer_id"], Value::Null);
        assert_eq!(view["total_minor"], 11);
        let codes: Vec<&str> = view["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["code"].as_str().unwrap())
            .collect();
        assert_eq!(codes, ["wrong_type", "total_mismatch"]);
        assert_eq!(view["history"][0]["status"], "REJECTED");
        assert_eq!(view["history"][0]["reasons"], view["reasons"]);
    }

    #[tokio::test]
    async fn a_record_from_before_the_lifecycle_gets_a_one_entry_history() {
        let reader = FakeReader::default();
        let order = validate(&sample::valid_order(Some("ord-old".into()))).unwrap();
        let mut legacy = OrderRecord::processed(&order, "m", at(7), None);
        legacy.status_history.clear();
        reader.table.seed(legacy);
        let view = body(&handle(&request("GET", Some("ord-old")), &reader).await);
        assert_eq!(
            view["history"],
            json!([{"status": "PROCESSED", "at": "2023-11-14T22:13:20.007Z"}])
        );
    }

    #[tokio::test]
    async fn internal_attributes_are_never_shown() {
        let reader = FakeReader::default();
        let order = validate(
            &sample::OrderBuilder::new()
                .order_id("ord-g3")
                .customer_email("ana@example.com")
                .build(),
        )
        .unwrap();
        reader.table.insert_if_absent(&OrderRecord::received(
            &order,
            "secret-hash",
            at(0),
            Some(1),
        ));
        reader.table.settle("ord-g3", Status::Received);
        let view = body(&handle(&request("GET", Some("ord-g3")), &reader).await);
        let keys: Vec<&String> = view.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "currency",
                "customer_id",
                "history",
                "items",
                "order_id",
                "status",
                "total_minor"
            ]
        );
        assert!(!view.to_string().contains("secret-hash"));
        assert!(!view.to_string().contains("ana@example.com"));
    }

    #[tokio::test]
    async fn an_unknown_order_is_a_404() {
        let reader = FakeReader::default();
        let response = handle(&request("GET", Some("ord-nope")), &reader).await;
        assert_eq!(response.status_code, 404);
        assert_eq!(content_type(&response), "application/problem+json");
        let problem = body(&response);
        assert_eq!(problem["type"], "urn:orderflow:problem:order-not-found");
        assert_eq!(problem["status"], 404);
    }

    #[tokio::test]
    async fn an_id_the_rules_reject_is_a_400_without_a_read() {
        let reader = FakeReader::default();
        for (id, codes) in [
            ("a b", vec!["order_id_invalid_characters"]),
            ("", vec!["order_id_empty"]),
            (
                &*"%".repeat(65),
                vec!["order_id_too_long", "order_id_invalid_characters"],
            ),
        ] {
            let response = handle(&request("GET", Some(id)), &reader).await;
            assert_eq!(response.status_code, 400, "{id:?}");
            assert_eq!(content_type(&response), "application/problem+json");
            let problem = body(&response);
            assert_eq!(problem["type"], "urn:orderflow:problem:invalid-order-id");
            let got: Vec<&str> = problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["code"].as_str().unwrap())
                .collect();
            assert_eq!(got, codes, "{id:?}");
        }
        let missing = handle(&request("GET", None), &reader).await;
        assert_eq!(missing.status_code, 400);
        assert_eq!(*reader.reads.lock().unwrap(), 0);
    }

    #[tokio::test]
    async fn a_failed_read_is_a_503_and_a_broken_item_a_500() {
        let unavailable = FakeReader {
            failure: Some(ReadError::Dependency(DependencyError {
                operation: "DynamoDB GetItem",
                message: "ThrottlingException".into(),
            })),
            ..FakeReader::default()
        };
        let response = handle(&request("GET", Some("ord-1")), &unavailable).await;
        assert_eq!(response.status_code, 503);
        assert_eq!(response.headers["retry-after"], "1");
        assert!(!body(&response).to_string().contains("Throttling"));
        let broken = FakeReader {
            failure: Some(ReadError::Unreadable("status: missing".into())),
            ..FakeReader::default()
        };
        let response = handle(&request("GET", Some("ord-1")), &broken).await;
        assert_eq!(response.status_code, 500);
        assert_eq!(content_type(&response), "application/problem+json");
    }

    #[tokio::test]
    async fn other_methods_are_405s() {
        let reader = FakeReader::default();
        let response = handle(&request("DELETE", Some("ord-1")), &reader).await;
        assert_eq!(response.status_code, 405);
        assert_eq!(response.headers["allow"], "GET");
        assert_eq!(*reader.reads.lock().unwrap(), 0);
    }
}
