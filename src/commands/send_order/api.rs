//! `send-order --via api`: the customer's path. POST the order to the stack's HTTP API, as a
//! client should (an `Idempotency-Key` on every attempt, retries of 429/5xx/connection failures
//! honouring `Retry-After`), then with `--wait` poll `GET /orders/{order_id}` until the order is
//! PROCESSED or REJECTED.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use super::{next_delay, Outcome, Status, Via, FAST_POLL};
use crate::error::Error;

/// Attempts of the POST when the API answers 429/502/503/504 or the connection fails.
const SUBMIT_ATTEMPTS: u32 = 4;
/// Longest `Retry-After` honoured between attempts; longer ones end the retries.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// Where the order goes: the API's invoke URL (ending in `/`).
#[derive(Debug, Clone)]
pub struct ApiTarget {
    /// `apis.<name>`, for messages.
    pub resource: String,
    pub url: String,
}

impl ApiTarget {
    fn orders_url(&self) -> String {
        format!("{}orders", self.url)
    }

    fn order_url(&self, order_id: &str) -> String {
        // Order ids are restricted to URL-safe characters by the order rules, but a file may
        // hold anything: encode what is not unreserved.
        let encoded: String = order_id
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        format!("{}orders/{encoded}", self.url)
    }
}

fn http_error(api: &ApiTarget, action: &str, e: reqwest::Error) -> Error {
    Error::Other(format!("{}: {action}: {e}", api.resource))
}

/// `problem+json` errors (`errors: [{code, message}]`), as reasons.
fn problem_reasons(body: &Value) -> Vec<Value> {
    body.get("errors")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// One line describing an error answer: its problem `title`/`detail` if any.
fn problem_summary(status: StatusCode, body: &Value, raw: &str) -> String {
    let detail = body
        .get("detail")
        .or_else(|| body.get("title"))
        .or_else(|| body.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| raw.chars().take(300).collect());
    format!("{status}: {detail}")
}

fn retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503 | 504)
}

/// `Retry-After` in seconds (the HTTP-date form is not used by API Gateway or our functions).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Submit `order` and, when `wait`, follow it to its outcome.
pub async fn send(
    client: &reqwest::Client,
    api: &ApiTarget,
    order: &super::OrderJson,
    idempotency_key: &str,
    wait: bool,
    timeout: Duration,
) -> Result<Outcome, Error> {
    let started = Instant::now();
    let deadline = started + timeout;
    let url = api.orders_url();
    let mut outcome = Outcome {
        order_id: order
            .field("order_id")
            .and_then(Value::as_str)
            .map(str::to_string),
        via: Via::Api,
        event_id: None,
        bus: None,
        api_url: Some(url.clone()),
        status_url: None,
        status: Status::Sent,
        latency_ms: None,
        reasons: Vec::new(),
        record: None,
        schema_errors: Vec::new(),
    };

    let mut attempt = 1;
    let (status, body) = loop {
        let sent = client
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", idempotency_key)
            .body(order.text.clone())
            .send()
            .await;
        let wait_for = match sent {
            Ok(resp) => {
                let status = resp.status();
                let after = retry_after(resp.headers());
                let raw = resp
                    .text()
                    .await
                    .map_err(|e| http_error(api, "POST /orders", e))?;
                if !retryable(status) || attempt >= SUBMIT_ATTEMPTS {
                    break (status, raw);
                }
                match after {
                    Some(d) if d > MAX_RETRY_AFTER => break (status, raw),
                    Some(d) => d,
                    None => Duration::from_millis(200 * 2u64.pow(attempt)),
                }
            }
            Err(e) if attempt < SUBMIT_ATTEMPTS && (e.is_connect() || e.is_timeout()) => {
                Duration::from_millis(200 * 2u64.pow(attempt))
            }
            Err(e) => return Err(http_error(api, "POST /orders", e)),
        };
        if Instant::now() + wait_for >= deadline {
            return Err(Error::Other(format!(
                "{}: POST /orders did not succeed before the timeout ({attempt} attempts)",
                api.resource
            )));
        }
        tokio::time::sleep(wait_for).await;
        attempt += 1;
    };
    let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);

    if status == StatusCode::BAD_REQUEST {
        // The API checked the order with the same rules as validate-order and refused it.
        outcome.status = Status::Rejected;
        outcome.latency_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
        outcome.reasons = problem_reasons(&json);
        if outcome.reasons.is_empty() {
            outcome.reasons = vec![serde_json::json!({
                "code": "bad_request",
                "message": problem_summary(status, &json, &body),
            })];
        }
        outcome.record = Some(json);
        return Ok(outcome);
    }
    if status != StatusCode::ACCEPTED {
        return Err(Error::Other(format!(
            "{}: POST {url} answered {}",
            api.resource,
            problem_summary(status, &json, &body)
        )));
    }
    let Some(order_id) = json.get("order_id").and_then(Value::as_str) else {
        return Err(Error::Other(format!(
            "{}: POST {url} answered 202 without an order_id: {body}",
            api.resource
        )));
    };
    outcome.order_id = Some(order_id.to_string());
    outcome.status_url = json
        .get("status_url")
        .and_then(Value::as_str)
        .map(str::to_string);
    outcome.record = Some(json.clone());
    if !wait {
        return Ok(outcome);
    }

    // Poll our own URL rather than `status_url`: behind the emulator (or a proxy) the host the
    // function sees may not be one this machine can reach.
    let order_url = api.order_url(order_id);
    let mut delay = FAST_POLL;
    loop {
        let resp = client
            .get(&order_url)
            .send()
            .await
            .map_err(|e| http_error(api, "GET /orders/{order_id}", e))?;
        let status = resp.status();
        let raw = resp
            .text()
            .await
            .map_err(|e| http_error(api, "GET /orders/{order_id}", e))?;
        if status == StatusCode::OK {
            let record: Value = serde_json::from_str(&raw).map_err(|e| {
                Error::Other(format!(
                    "{}: GET {order_url} answered 200 with a body that is not JSON: {e}",
                    api.resource
                ))
            })?;
            match record.get("status").and_then(Value::as_str) {
                Some(
                    s
                    @ (order_domain::item::STATUS_PROCESSED | order_domain::item::STATUS_REJECTED),
                ) => {
                    outcome.latency_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
                    outcome.status = if s == order_domain::item::STATUS_REJECTED {
                        Status::Rejected
                    } else {
                        Status::Processed
                    };
                    outcome.reasons = record
                        .get("reasons")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    outcome.record = Some(record);
                    return Ok(outcome);
                }
                _ => outcome.record = Some(record),
            }
        } else if status != StatusCode::NOT_FOUND && !retryable(status) {
            let json: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
            return Err(Error::Other(format!(
                "{}: GET {order_url} answered {}",
                api.resource,
                problem_summary(status, &json, &raw)
            )));
        }
        let now = Instant::now();
        if now >= deadline {
            outcome.status = Status::TimedOut;
            return Ok(outcome);
        }
        tokio::time::sleep(delay.min(deadline - now)).await;
        delay = next_delay(delay, started);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_urls_are_built_under_the_api_url() {
        let api = ApiTarget {
            resource: "apis.orders".into(),
            url: "https://abc.execute-api.eu-west-1.amazonaws.com/".into(),
        };
        assert_eq!(
            api.orders_url(),
            "https://abc.execute-api.eu-west-1.amazonaws.com/orders"
        );
        assert_eq!(
            api.order_url("ord-1_a.b~c"),
            "https://abc.execute-api.eu-west-1.amazonaws.com/orders/ord-1_a.b~c"
        );
        assert_eq!(
            api.order_url("a/b c"),
            "https://abc.execute-api.eu-west-1.amazonaws.com/orders/a%2Fb%20c"
        );
    }

    #[test]
    fn problem_details_become_reasons_and_summaries() {
        let body = serde_json::json!({
            "type": "about:blank", "title": "Invalid order", "status": 400,
            "detail": "2 problems",
            "errors": [{"code": "a", "message": "x"}, {"code": "b", "message": "y"}],
        });
        assert_eq!(problem_reasons(&body).len(), 2);
        assert_eq!(
            problem_summary(StatusCode::CONFLICT, &body, ""),
            "409 Conflict: 2 problems"
        );
        assert_eq!(
            problem_summary(StatusCode::BAD_GATEWAY, &Value::Null, "upstream"),
            "502 Bad Gateway: upstream"
        );
        assert!(retryable(StatusCode::SERVICE_UNAVAILABLE));
        assert!(!retryable(StatusCode::CONFLICT));
    }
}
