//! `POST /orders` independent of AWS: the table goes through [`OrderTable`] and the bus through
//! [`EventBus`], so every answer is unit-tested with in-memory fakes.
//!
//! Contract:
//! - 202 `{ order_id, status: "RECEIVED", status_url }` with `Location: <status_url>`: the
//!   order is recorded as RECEIVED and announced (`OrderPlaced` + `OrderStatusChanged`).
//! - 400 / 405 / 409 / 413 / 415 `application/problem+json`: nothing written, nothing
//!   published. A 400 lists every broken rule in `errors`.
//! - 503 `application/problem+json` with `Retry-After` when DynamoDB or EventBridge fails; the
//!   client retries with the same `Idempotency-Key`.
//!
//! Idempotency: the canonical form of the body (keys sorted, no insignificant whitespace) is
//! hashed and stored on the RECEIVED record (`request_hash`). A body without `order_id` gets
//! one derived from the `Idempotency-Key` (random without a key). When the conditional put
//! finds the id taken, the same hash means the same submission: the original 202 is returned
//! and `OrderPlaced` published again (downstream is idempotent), nothing written; another hash
//! is a 409.

use std::time::SystemTime;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::http::Method;
use order_domain::dynamodb::Insert;
use order_domain::http::{
    self, body_bytes, is_json_content_type, json_response, BodyError, DependencyError, Problem,
    ProblemError,
};
use order_domain::item::{OrderRecord, Status};
use order_domain::{BusEvent, OrderStatusChanged, ValidOrder};
use serde::Serialize;
use serde_json::Value;

use crate::ids;
pub use order_domain::request_hash::request_hash;

/// Largest accepted body, after base64 decoding.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest accepted `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The orders table as submit-order uses it.
pub trait OrderTable {
    /// The conditional put of a RECEIVED record: stored unless the order id is taken (then the
    /// stored record, when DynamoDB returned it).
    async fn insert_if_absent(&self, record: &OrderRecord) -> Result<Insert, DependencyError>;
    /// Records that `status`'s `OrderStatusChanged` event is published.
    async fn settle(&self, order_id: &str, status: Status) -> Result<(), DependencyError>;
}

/// The pipeline's bus as submit-order uses it.
pub trait EventBus {
    /// Publishes every event; any failed entry is an error.
    async fn publish(&self, events: &[BusEvent]) -> Result<(), DependencyError>;
}

/// What the function needs besides the request.
pub struct Context<'a, T, B> {
    pub table: &'a T,
    pub bus: &'a B,
    pub now: SystemTime,
    pub ttl_days: Option<u32>,
    /// A fresh random order id (for bodies without `order_id` and without an idempotency key).
    pub new_order_id: &'a dyn Fn(SystemTime) -> Result<String, DependencyError>,
}

/// The body of a 202.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Accepted {
    pub order_id: String,
    pub status: Status,
    pub status_url: String,
}

/// Answers one request; never fails (every problem is an HTTP answer).
pub async fn handle<T: OrderTable, B: EventBus>(
    request: &ApiGatewayV2httpRequest,
    cx: &Context<'_, T, B>,
) -> ApiGatewayV2httpResponse {
    let request_id = http::request_id(request);
    if let Err(refused) = http::require_method(request, Method::POST) {
        tracing::info!(request_id, method = %request.request_context.http.method, "method not allowed");
        return *refused;
    }
    match submit(request, cx).await {
        Ok(response) => response,
        Err(refusal) => {
            let problem = *refusal;
            if problem.status >= 500 {
                tracing::error!(request_id, status = problem.status, detail = %problem.detail, "order not accepted");
            } else {
                tracing::info!(
                    request_id,
                    status = problem.status,
                    problem_type = %problem.problem_type,
                    errors = problem.errors.len(),
                    "request refused"
                );
            }
            problem.into_response()
        }
    }
}

/// The order and everything about the request needed to record it.
struct Submission {
    order: ValidOrder,
    request_hash: String,
    idempotency_key: Option<String>,
    /// Whether the id came from the idempotency key (or was random) rather than the body.
    id_assigned: bool,
}

async fn submit<T: OrderTable, B: EventBus>(
    request: &ApiGatewayV2httpRequest,
    cx: &Context<'_, T, B>,
) -> Result<ApiGatewayV2httpResponse, Box<Problem>> {
    let request_id = http::request_id(request);
    let submission = parse(request, cx)?;
    let order = &submission.order;
    let record = OrderRecord::received(order, &submission.request_hash, cx.now, cx.ttl_days);
    let status_url = http::resource_url(request, &format!("/orders/{}", order.order_id()));
    let accepted = || {
        let mut response = json_response(
            202,
            &Accepted {
                order_id: order.order_id().to_owned(),
                status: Status::Received,
                status_url: status_url.clone(),
            },
        );
        http::set_header(&mut response, "location", &status_url);
        response
    };

    let inserted = cx.table.insert_if_absent(&record).await.map_err(|err| {
        tracing::error!(request_id, order_id = order.order_id(), error = %err, "could not record the order");
        Box::new(Problem::unavailable("The order could not be recorded"))
    })?;
    match inserted {
        Insert::Stored => {
            let change = OrderStatusChanged::for_transition(&record, None, None);
            announce(order, Some(change), cx, request_id).await?;
            tracing::info!(
                request_id,
                order_id = order.order_id(),
                id_assigned = submission.id_assigned,
                idempotency_key = submission.idempotency_key.is_some(),
                total_minor = order.total_minor,
                currency = %order.currency,
                "order received"
            );
            Ok(accepted())
        }
        Insert::AlreadyExists {
            existing: Some(existing),
        } if existing.request_hash.as_deref() == Some(submission.request_hash.as_str()) => {
            // The same submission again (a client retry): nothing to write. Announce the order
            // again — its first attempt may have failed to — and the RECEIVED change if it is
            // not known to be published.
            let change = if existing.is_settled(Status::Received) {
                None
            } else {
                OrderStatusChanged::replay(&existing, Status::Received)
            };
            announce(order, change, cx, request_id).await?;
            tracing::info!(
                request_id,
                order_id = order.order_id(),
                current_status = %existing.status,
                "replayed submission: the order was already received; answering as the first time"
            );
            Ok(accepted())
        }
        Insert::AlreadyExists { existing } => {
            tracing::info!(
                request_id,
                order_id = order.order_id(),
                stored = existing.is_some(),
                "the order id is taken by a different submission"
            );
            let detail = match (&submission.idempotency_key, submission.id_assigned) {
                (Some(_), true) => "This Idempotency-Key was already used with a different request body".to_owned(),
                _ => format!(
                    "Order {} already exists with different contents; submit a new order_id (or none)",
                    order.order_id()
                ),
            };
            Err(Box::new(Problem::new(
                409,
                "conflict",
                "Conflicting submission",
                detail,
            )))
        }
    }
}

/// Publishes `OrderPlaced` (and the status change, if any) in one PutEvents, then settles the
/// status change.
async fn announce<T: OrderTable, B: EventBus>(
    order: &ValidOrder,
    change: Option<OrderStatusChanged>,
    cx: &Context<'_, T, B>,
    request_id: Option<&str>,
) -> Result<(), Box<Problem>> {
    let mut events = vec![BusEvent::OrderPlaced(order.order().clone())];
    events.extend(change.clone().map(BusEvent::StatusChanged));
    cx.bus.publish(&events).await.map_err(|err| {
        tracing::error!(
            request_id,
            order_id = order.order_id(),
            error = %err,
            "the order is recorded but could not be announced; the client's retry announces it"
        );
        Box::new(Problem::unavailable(
            "The order was recorded but could not be passed on for processing",
        ))
    })?;
    tracing::info!(
        request_id,
        order_id = order.order_id(),
        detail_types = %events.iter().map(BusEvent::detail_type).collect::<Vec<_>>().join(","),
        "events published"
    );
    if let Some(change) = change {
        // Bookkeeping: if it fails, a replay would publish the status change once more.
        if let Err(err) = cx.table.settle(&change.order_id, Status::Received).await {
            tracing::warn!(
                request_id,
                order_id = %change.order_id,
                error = %err,
                "could not mark the RECEIVED event as published"
            );
        }
    }
    Ok(())
}

/// Content type, size, idempotency key, JSON and the order rules: every problem of the request
/// at once where they can be found together.
fn parse<T, B>(
    request: &ApiGatewayV2httpRequest,
    cx: &Context<'_, T, B>,
) -> Result<Submission, Box<Problem>> {
    match http::header(request, "content-type") {
        Some(content_type) if is_json_content_type(content_type) => {}
        other => {
            return Err(Box::new(Problem::new(
                415,
                "unsupported-media-type",
                "Unsupported media type",
                match other {
                    Some(content_type) => format!(
                        "Content-Type is {content_type:?}; send the order as application/json"
                    ),
                    None => "There is no Content-Type; send the order as application/json".into(),
                },
            )))
        }
    }
    let bytes = body_bytes(request, MAX_BODY_BYTES).map_err(|err| {
        Box::new(match err {
            BodyError::TooLarge { limit } => Problem::new(
                413,
                "body-too-large",
                "Request body too large",
                format!("The body is larger than {limit} bytes"),
            ),
            BodyError::NotBase64 => invalid(vec![ProblemError::new(
                "malformed_body",
                "the body is marked base64-encoded but is not base64",
                None,
            )]),
        })
    })?;

    let mut errors = Vec::new();
    let idempotency_key = match request.headers.get(IDEMPOTENCY_KEY) {
        None => None,
        Some(value) => match idempotency_key(value.as_bytes()) {
            Ok(key) => Some(key),
            Err(message) => {
                errors.push(ProblemError::new("idempotency_key_invalid", message, None));
                None
            }
        },
    };
    let text = match std::str::from_utf8(&bytes) {
        Ok(text) => text,
        Err(_) => {
            errors.push(ProblemError::new(
                "malformed_json",
                "the body is not UTF-8 text",
                None,
            ));
            return Err(Box::new(invalid(errors)));
        }
    };
    let original: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(err) => {
            errors.push(ProblemError::new(
                "malformed_json",
                format!("the body is not valid JSON: {err}"),
                None,
            ));
            return Err(Box::new(invalid(errors)));
        }
    };
    // `order_id` is optional here: assign one when the body (an object) has none.
    let mut body = original.clone();
    let id_assigned = match body.as_object_mut() {
        Some(object) if !object.contains_key("order_id") => {
            let id = match &idempotency_key {
                Some(key) => ids::from_idempotency_key(key),
                // The request is refused anyway (a bad key): any valid id lets the order
                // rules check the rest; it is never stored.
                None if !errors.is_empty() => UNUSED_ORDER_ID.to_owned(),
                None => (cx.new_order_id)(cx.now).map_err(|err| {
                    tracing::error!(error = %err, "could not generate an order id");
                    Box::new(Problem::unavailable("No order id could be assigned"))
                })?,
            };
            object.insert("order_id".into(), Value::String(id));
            true
        }
        _ => false,
    };
    match order_domain::check_json_source(&body, text) {
        Ok(order) if errors.is_empty() => Ok(Submission {
            order,
            request_hash: request_hash(&original),
            idempotency_key,
            id_assigned,
        }),
        Ok(_) => Err(Box::new(invalid(errors))),
        Err(violations) => {
            errors.extend(violations.iter().map(ProblemError::from));
            Err(Box::new(invalid(errors)))
        }
    }
}

/// Stands in for the order id of a request refused for its idempotency key.
const UNUSED_ORDER_ID: &str = "ord-unassigned";

fn invalid(errors: Vec<ProblemError>) -> Problem {
    let count = errors.len();
    let order_problems = errors
        .iter()
        .any(|e| e.code != "idempotency_key_invalid" && e.code != "malformed_body");
    let (slug, title) = if order_problems {
        ("invalid-order", "The order is invalid")
    } else {
        ("invalid-request", "The request is invalid")
    };
    Problem::new(
        400,
        slug,
        title,
        format!(
            "{count} problem{} found; each is listed in errors",
            if count == 1 { "" } else { "s" }
        ),
    )
    .with_errors(errors)
}

/// An `Idempotency-Key` value: 1 to 128 printable ASCII characters (space to tilde).
fn idempotency_key(value: &[u8]) -> Result<String, String> {
    if value.is_empty() || value.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} characters long, got {}",
            value.len()
        ));
    }
    if !value.iter().all(|b| (b' '..=b'~').contains(b)) {
        return Err("Idempotency-Key must be printable ASCII".into());
    }
    Ok(String::from_utf8_lossy(value).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::encodings::Body;
    use order_domain::memory::{Inserted, MemoryTable};
    use order_domain::{sample, ReasonCode, ORDER_PLACED, SOURCE};
    use serde_json::json;
    use std::sync::Mutex;
    use std::time::{Duration, UNIX_EPOCH};

    /// In-memory table; every call fails while `failing` is set.
    #[derive(Default)]
    struct FakeTable {
        table: MemoryTable,
        failing: Mutex<bool>,
    }

    impl OrderTable for FakeTable {
        async fn insert_if_absent(&self, record: &OrderRecord) -> Result<Insert, DependencyError> {
            if *self.failing.lock().unwrap() {
                return Err(DependencyError {
                    operation: "DynamoDB PutItem",
                    message: "ProvisionedThroughputExceededException".into(),
                });
            }
            Ok(match self.table.insert_if_absent(record) {
                Inserted::Stored => Insert::Stored,
                Inserted::AlreadyExists(existing) => Insert::AlreadyExists {
                    existing: Some(existing),
                },
            })
        }

        async fn settle(&self, order_id: &str, status: Status) -> Result<(), DependencyError> {
            self.table.settle(order_id, status);
            Ok(())
        }
    }

    /// In-memory bus recording each PutEvents call; fails while `failing` is set.
    #[derive(Default)]
    struct FakeBus {
        calls: Mutex<Vec<Vec<BusEvent>>>,
        failing: Mutex<bool>,
    }

    impl FakeBus {
        fn calls(&self) -> Vec<Vec<BusEvent>> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl EventBus for FakeBus {
        async fn publish(&self, events: &[BusEvent]) -> Result<(), DependencyError> {
            if *self.failing.lock().unwrap() {
                return Err(DependencyError {
                    operation: "EventBridge PutEvents",
                    message: "1 of 2 entries failed: InternalFailure".into(),
                });
            }
            self.calls.lock().unwrap().push(events.to_vec());
            Ok(())
        }
    }

    struct World {
        table: FakeTable,
        bus: FakeBus,
    }

    fn fixed_id(at: SystemTime) -> Result<String, DependencyError> {
        Ok(crate::ids::ulid_like(at, [7; 10]))
    }

    fn no_randomness(_: SystemTime) -> Result<String, DependencyError> {
        Err(DependencyError {
            operation: "getrandom",
            message: "unavailable".into(),
        })
    }

    impl World {
        fn new() -> Self {
            World {
                table: FakeTable::default(),
                bus: FakeBus::default(),
            }
        }

        async fn post(&self, request: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
            self.post_with(request, &fixed_id).await
        }

        async fn post_with(
            &self,
            request: ApiGatewayV2httpRequest,
            ids: &dyn Fn(SystemTime) -> Result<String, DependencyError>,
        ) -> ApiGatewayV2httpResponse {
            let cx = Context {
                table: &self.table,
                bus: &self.bus,
                now: now(),
                ttl_days: None,
                new_order_id: ids,
            };
            handle(&request, &cx).await
        }

        fn assert_nothing_done(&self) {
            assert!(self.table.table.is_empty());
            assert_eq!(self.table.table.writes(), 0);
            assert!(self.bus.calls().is_empty());
        }
    }

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)
    }

    /// A POST /orders request as API Gateway (payload 2.0) delivers it.
    fn request(headers: Value, body: &str) -> ApiGatewayV2httpRequest {
        serde_json::from_value(json!({
            "version": "2.0",
            "routeKey": "POST /orders",
            "rawPath": "/orders",
            "rawQueryString": "",
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012", "apiId": "abc123",
                "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "abc123", "requestId": "req-1", "routeKey": "POST /orders",
                "stage": "$default", "time": "14/Nov/2023:22:13:20 +0000",
                "timeEpoch": 1_700_000_000_123i64,
                "http": {"method": "POST", "path": "/orders", "protocol": "HTTP/1.1",
                         "sourceIp": "192.0.2.1", "userAgent": "test"}
            },
            "body": body,
            "isBase64Encoded": false
        }))
        .unwrap()
    }

    fn json_request(body: &Value) -> ApiGatewayV2httpRequest {
        request(
            json!({"content-type": "application/json"}),
            &body.to_string(),
        )
    }

    fn keyed(key: &str, body: &Value) -> ApiGatewayV2httpRequest {
        request(
            json!({"content-type": "application/json", "idempotency-key": key}),
            &body.to_string(),
        )
    }

    /// The sample order's JSON without an order_id.
    fn order_body() -> Value {
        let mut body = serde_json::to_value(sample::valid_order(Some("x".into()))).unwrap();
        body.as_object_mut().unwrap().remove("order_id");
        body
    }

    fn body_json(response: &ApiGatewayV2httpResponse) -> Value {
        match &response.body {
            Some(Body::Text(text)) => serde_json::from_str(text).unwrap(),
            other => panic!("expected a JSON body, got {other:?}"),
        }
    }

    fn header<'a>(response: &'a ApiGatewayV2httpResponse, name: &str) -> Option<&'a str> {
        response.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn assert_problem(response: &ApiGatewayV2httpResponse, status: i64) -> Value {
        assert_eq!(response.status_code, status, "{:?}", response.body);
        assert_eq!(
            header(response, "content-type"),
            Some("application/problem+json")
        );
        let problem = body_json(response);
        assert_eq!(problem["status"], status);
        assert!(problem["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:orderflow:problem:"));
        assert!(problem["title"].is_string() && problem["detail"].is_string());
        problem
    }

    fn error_codes(problem: &Value) -> Vec<&str> {
        problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["code"].as_str().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn a_valid_order_is_received_recorded_and_announced() {
        let world = World::new();
        let response = world.post(json_request(&order_body())).await;
        assert_eq!(response.status_code, 202, "{:?}", response.body);
        let expected_id = fixed_id(now()).unwrap();
        let url =
            format!("https://abc123.execute-api.us-east-1.amazonaws.com/orders/{expected_id}");
        assert_eq!(
            body_json(&response),
            json!({"order_id": expected_id, "status": "RECEIVED", "status_url": url})
        );
        assert_eq!(header(&response, "location"), Some(url.as_str()));
        assert_eq!(header(&response, "content-type"), Some("application/json"));

        let record = world.table.table.get(&expected_id).unwrap();
        assert_eq!(record.status, Status::Received);
        assert_eq!(record.received_at, "2023-11-14T22:13:20.123Z");
        assert_eq!(
            record
                .status_history
                .iter()
                .map(|e| (e.status, e.at.as_str()))
                .collect::<Vec<_>>(),
            [(Status::Received, "2023-11-14T22:13:20.123Z")]
        );
        assert_eq!(record.request_hash, Some(request_hash(&order_body())));
        assert_eq!(record.total_minor, Some(2999));
        assert_eq!(record.settled, [Status::Received]);

        // Both events in one PutEvents: the order exactly as validate-order consumes it, and the
        // change from no record to RECEIVED.
        let calls = world.bus.calls();
        assert_eq!(calls.len(), 1);
        let [placed, changed] = calls[0].as_slice() else {
            panic!("expected two events, got {:?}", calls[0]);
        };
        assert_eq!(
            (placed.source(), placed.detail_type()),
            (SOURCE, ORDER_PLACED)
        );
        let detail: Value = serde_json::from_str(&placed.detail().unwrap()).unwrap();
        let consumed = order_domain::validate_json(&detail).unwrap();
        assert_eq!(consumed.order_id(), expected_id);
        let mut expected_detail = order_body();
        expected_detail["order_id"] = json!(expected_id);
        assert_eq!(detail, expected_detail);
        assert_eq!(
            changed,
            &BusEvent::StatusChanged(OrderStatusChanged {
                order_id: expected_id.clone(),
                old_status: None,
                new_status: Status::Received,
                at: "2023-11-14T22:13:20.123Z".into(),
                reasons: vec![],
                customer_id: Some(sample::SAMPLE_CUSTOMER_ID.into()),
            })
        );
    }

    #[tokio::test]
    async fn a_given_order_id_and_email_are_kept_and_the_stage_is_in_the_url() {
        let world = World::new();
        let mut body = order_body();
        body["order_id"] = json!("ord-mine-1");
        body["customer_email"] = json!("ana@example.com");
        let mut request = json_request(&body);
        request.request_context.stage = Some("prod".into());
        let response = world.post(request).await;
        assert_eq!(response.status_code, 202);
        assert_eq!(
            body_json(&response)["status_url"],
            "https://abc123.execute-api.us-east-1.amazonaws.com/prod/orders/ord-mine-1"
        );
        let record = world.table.table.get("ord-mine-1").unwrap();
        assert_eq!(record.customer_email.as_deref(), Some("ana@example.com"));
        let BusEvent::OrderPlaced(order) = &world.bus.calls()[0][0] else {
            panic!("OrderPlaced first");
        };
        assert_eq!(order.customer_email.as_deref(), Some("ana@example.com"));
    }

    #[tokio::test]
    async fn an_invalid_order_lists_every_problem_and_writes_nothing() {
        let world = World::new();
        let body = json!({
            "customer_id": "",
            "currency": "eur",
            "items": [{"sku": "A", "quantity": 0, "unit_price_minor": 100}],
            "total_minor": 100,
            "customer_email": "not-an-address",
            "coupon": "X"
        });
        let response = world
            .post(request(
                json!({"content-type": "application/json; charset=utf-8", "idempotency-key": ""}),
                &body.to_string(),
            ))
            .await;
        let problem = assert_problem(&response, 400);
        assert_eq!(problem["type"], "urn:orderflow:problem:invalid-order");
        assert_eq!(
            error_codes(&problem),
            [
                "idempotency_key_invalid",
                "unknown_field",
                "customer_id_empty",
                "currency_invalid",
                "quantity_out_of_range",
                "total_mismatch",
                "customer_email_invalid"
            ]
        );
        let errors = problem["errors"].as_array().unwrap();
        assert_eq!(errors[0].get("path"), None);
        assert_eq!(errors[1]["path"], "/coupon");
        assert_eq!(errors[4]["path"], "/items/0/quantity");
        assert_eq!(
            errors[5]["message"],
            "total_minor is 100 but the items sum to 0"
        );
        assert_eq!(
            problem["detail"],
            "7 problems found; each is listed in errors"
        );
        world.assert_nothing_done();
    }

    #[tokio::test]
    async fn a_400_quotes_numbers_as_the_client_wrote_them() {
        let world = World::new();
        // No order_id: one is assigned before the checks, which must not disturb the quoting.
        for (total, message) in [
            (
                "100000000000000000000",
                "total_minor is 100000000000000000000, outside the 64-bit integer range",
            ),
            (
                "12.50",
                "total_minor must be an integer (amounts are in minor units), got 12.50",
            ),
            ("-1", "total_minor is -1 but the items sum to 100"),
        ] {
            let body = format!(
                r#"{{"customer_id":"c-1","currency":"EUR","items":[{{"sku":"A","quantity":1,"unit_price_minor":100}}],"total_minor":{total}}}"#
            );
            let response = world
                .post(request(json!({"content-type": "application/json"}), &body))
                .await;
            let problem = assert_problem(&response, 400);
            assert_eq!(problem["errors"][0]["message"], message, "{problem}");
            assert_eq!(problem["errors"][0]["path"], "/total_minor");
        }
        world.assert_nothing_done();
    }

    #[tokio::test]
    async fn malformed_bodies_are_400s() {
        let world = World::new();
        for (body, code) in [
            ("{\"customer_id\": ", ReasonCode::MalformedJson.as_str()),
            ("", "malformed_json"),
            ("[1, 2]", "not_an_object"),
            ("\"order\"", "not_an_object"),
            ("{\"order_id\": 5}", "wrong_type"),
        ] {
            let response = world
                .post(request(json!({"content-type": "application/json"}), body))
                .await;
            let problem = assert_problem(&response, 400);
            assert!(error_codes(&problem).contains(&code), "{body}: {problem}");
        }
        let mut not_utf8 = request(json!({"content-type": "application/json"}), "");
        not_utf8.body = Some("/w==".into()); // 0xff
        not_utf8.is_base64_encoded = true;
        let problem = assert_problem(&world.post(not_utf8).await, 400);
        assert_eq!(error_codes(&problem), ["malformed_json"]);
        let mut not_base64 = request(json!({"content-type": "application/json"}), "%%%");
        not_base64.is_base64_encoded = true;
        let problem = assert_problem(&world.post(not_base64).await, 400);
        assert_eq!(problem["type"], "urn:orderflow:problem:invalid-request");
        assert_eq!(error_codes(&problem), ["malformed_body"]);
        world.assert_nothing_done();
    }

    #[tokio::test]
    async fn bad_idempotency_keys_are_400s() {
        let world = World::new();
        for key in ["x".repeat(129), "tab\there".into(), "clé".into()] {
            let response = world.post(keyed(&key, &order_body())).await;
            let problem = assert_problem(&response, 400);
            assert_eq!(problem["type"], "urn:orderflow:problem:invalid-request");
            assert_eq!(
                error_codes(&problem),
                ["idempotency_key_invalid"],
                "{key:?}"
            );
        }
        world.assert_nothing_done();
        // 128 printable characters, spaces included, are fine.
        let longest = format!("a b~{}", "z".repeat(124));
        assert_eq!(
            world.post(keyed(&longest, &order_body())).await.status_code,
            202
        );
    }

    #[tokio::test]
    async fn bodies_over_64_kib_are_413s_base64_or_not() {
        let world = World::new();
        // A valid order padded with whitespace to exactly the limit is accepted…
        let compact = order_body().to_string();
        let at_limit = format!("{compact}{}", " ".repeat(MAX_BODY_BYTES - compact.len()));
        let over_limit = format!("{at_limit} ");
        let response = world
            .post(request(
                json!({"content-type": "application/json"}),
                &over_limit,
            ))
            .await;
        let problem = assert_problem(&response, 413);
        assert_eq!(problem["type"], "urn:orderflow:problem:body-too-large");
        use base64::Engine as _;
        let encode = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let mut encoded = request(
            json!({"content-type": "application/json"}),
            &encode(&over_limit),
        );
        encoded.is_base64_encoded = true;
        assert_problem(&world.post(encoded).await, 413);
        world.assert_nothing_done();
        // …one byte less is not too large, base64 or not.
        let response = world
            .post(request(
                json!({"content-type": "application/json"}),
                &at_limit,
            ))
            .await;
        assert_eq!(response.status_code, 202, "{:?}", response.body);
        let mut encoded = keyed("b64", &json!({}));
        encoded.body = Some(encode(&at_limit));
        encoded.is_base64_encoded = true;
        assert_eq!(world.post(encoded).await.status_code, 202);
    }

    #[tokio::test]
    async fn only_json_is_accepted() {
        let world = World::new();
        let body = order_body().to_string();
        for headers in [
            json!({}),
            json!({"content-type": "text/plain"}),
            json!({"content-type": "application/x-www-form-urlencoded"}),
            json!({"content-type": "application/json; charset=iso-8859-1"}),
        ] {
            let response = world.post(request(headers.clone(), &body)).await;
            let problem = assert_problem(&response, 415);
            assert_eq!(
                problem["type"], "urn:orderflow:problem:unsupported-media-type",
                "{headers}"
            );
        }
        world.assert_nothing_done();
        let response = world
            .post(request(
                json!({"Content-Type": "Application/JSON;charset=UTF-8"}),
                &body,
            ))
            .await;
        assert_eq!(response.status_code, 202);
    }

    #[tokio::test]
    async fn a_retried_submission_returns_the_same_order_and_creates_nothing() {
        let world = World::new();
        let first = world.post(keyed("key-1", &order_body())).await;
        assert_eq!(first.status_code, 202);
        let first_body = body_json(&first);
        let order_id = first_body["order_id"].as_str().unwrap().to_owned();
        assert_eq!(order_id, crate::ids::from_idempotency_key("key-1"));
        let record = world.table.table.get(&order_id).unwrap();
        let writes = world.table.table.writes();

        // The same body with its keys in another order and other whitespace.
        let mut reordered = String::from("{\n");
        let object = order_body();
        let entries: Vec<String> = object
            .as_object()
            .unwrap()
            .iter()
            .rev()
            .map(|(k, v)| format!("  {:?} : {}", k, v))
            .collect();
        reordered.push_str(&entries.join(",\n"));
        reordered.push_str("\n}");
        let replay = world
            .post(request(
                json!({"content-type": "application/json", "idempotency-key": "key-1"}),
                &reordered,
            ))
            .await;
        assert_eq!(replay.status_code, 202);
        assert_eq!(body_json(&replay), first_body);
        assert_eq!(header(&replay, "location"), header(&first, "location"));
        assert_eq!(world.table.table.writes(), writes);
        assert_eq!(world.table.table.len(), 1);
        assert_eq!(world.table.table.get(&order_id).unwrap(), record);
        // OrderPlaced is published again (downstream is idempotent); the RECEIVED change was
        // published and settled the first time, so it is not.
        let calls = world.bus.calls();
        assert_eq!(calls.len(), 2);
        assert!(
            matches!(calls[1].as_slice(), [BusEvent::OrderPlaced(order)] if order.order_id == order_id)
        );
    }

    #[tokio::test]
    async fn the_same_key_with_another_body_is_a_409() {
        let world = World::new();
        assert_eq!(
            world.post(keyed("key-2", &order_body())).await.status_code,
            202
        );
        let writes = world.table.table.writes();
        let mut other = order_body();
        other["customer_id"] = json!("someone-else");
        let response = world.post(keyed("key-2", &other)).await;
        let problem = assert_problem(&response, 409);
        assert_eq!(problem["type"], "urn:orderflow:problem:conflict");
        assert!(problem["detail"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key"));
        assert_eq!(world.table.table.writes(), writes);
        assert_eq!(
            world
                .table
                .table
                .get(&crate::ids::from_idempotency_key("key-2"))
                .unwrap()
                .customer_id
                .as_deref(),
            Some(sample::SAMPLE_CUSTOMER_ID)
        );
        assert_eq!(world.bus.calls().len(), 1);
    }

    #[tokio::test]
    async fn an_order_id_is_its_own_idempotency_key() {
        let world = World::new();
        let mut body = order_body();
        body["order_id"] = json!("ord-given");
        assert_eq!(world.post(json_request(&body)).await.status_code, 202);
        let writes = world.table.table.writes();
        // Retried without any key: the same order.
        let replay = world.post(json_request(&body)).await;
        assert_eq!(replay.status_code, 202);
        assert_eq!(body_json(&replay)["order_id"], "ord-given");
        // Another order under that id: refused.
        body["total_minor"] = json!(1);
        body["items"] = json!([{"sku": "Z", "quantity": 1, "unit_price_minor": 1}]);
        let problem = assert_problem(&world.post(json_request(&body)).await, 409);
        assert!(problem["detail"].as_str().unwrap().contains("ord-given"));
        assert_eq!(world.table.table.writes(), writes);
    }

    #[tokio::test]
    async fn an_order_recorded_by_another_path_is_a_409() {
        let world = World::new();
        let order = order_domain::validate(&sample::valid_order(Some("ord-bus".into()))).unwrap();
        world
            .table
            .table
            .seed(OrderRecord::processed(&order, "m", now(), None));
        let body = serde_json::to_value(order.order()).unwrap();
        assert_problem(&world.post(json_request(&body)).await, 409);
        assert!(world.bus.calls().is_empty());
    }

    #[tokio::test]
    async fn dependency_failures_are_503s_and_the_retry_completes_the_submission() {
        let world = World::new();
        *world.table.failing.lock().unwrap() = true;
        let response = world.post(keyed("key-3", &order_body())).await;
        let problem = assert_problem(&response, 503);
        assert_eq!(header(&response, "retry-after"), Some("1"));
        assert!(problem.get("errors").is_none());
        world.assert_nothing_done();

        // The table is back but the bus fails after the write: still a 503.
        *world.table.failing.lock().unwrap() = false;
        *world.bus.failing.lock().unwrap() = true;
        let response = world.post(keyed("key-3", &order_body())).await;
        assert_problem(&response, 503);
        let order_id = crate::ids::from_idempotency_key("key-3");
        let record = world.table.table.get(&order_id).unwrap();
        assert!(record.settled.is_empty());

        // The client retries with the same key: the original 202, both events published (the
        // RECEIVED change rebuilt from the record, with its original time), nothing rewritten.
        *world.bus.failing.lock().unwrap() = false;
        let response = world.post(keyed("key-3", &order_body())).await;
        assert_eq!(response.status_code, 202);
        assert_eq!(body_json(&response)["order_id"], order_id.as_str());
        let calls = world.bus.calls();
        assert_eq!(calls.len(), 1);
        assert!(matches!(
            calls[0].as_slice(),
            [BusEvent::OrderPlaced(_), BusEvent::StatusChanged(change)]
                if change.at == record.received_at && change.old_status.is_none()
        ));
        let after = world.table.table.get(&order_id).unwrap();
        assert_eq!(after.status_history, record.status_history);
        assert_eq!(after.settled, [Status::Received]);
    }

    #[tokio::test]
    async fn no_randomness_is_a_503_not_a_500() {
        let world = World::new();
        let response = world
            .post_with(json_request(&order_body()), &no_randomness)
            .await;
        assert_problem(&response, 503);
        world.assert_nothing_done();
        // With an idempotency key no randomness is needed.
        let response = world
            .post_with(keyed("k", &order_body()), &no_randomness)
            .await;
        assert_eq!(response.status_code, 202);
    }

    #[tokio::test]
    async fn other_methods_are_405s() {
        let world = World::new();
        let mut get = json_request(&order_body());
        get.request_context.http.method = Method::GET;
        let response = world.post(get).await;
        assert_problem(&response, 405);
        assert_eq!(header(&response, "allow"), Some("POST"));
        world.assert_nothing_done();
    }
}
