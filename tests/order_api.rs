//! The order API of the default pipeline, over real HTTP through the emulator's API Gateway:
//! what a customer's client sees (202 and the status URL, the status timeline, the email,
//! idempotent retries) and every way bad input is refused (400/404/409/413/415) without anything
//! written.

mod common;
#[path = "common/stack.rs"]
mod stack;

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use common::TestEmulator;
use reqwest::StatusCode;
use serde_json::{json, Value};
use stack::Stack;

const PROBLEM_JSON: &str = "application/problem+json";

/// Poll `GET /orders/{id}` until the order has a final status, or panic after `secs`.
async fn final_order(http: &reqwest::Client, url: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let resp = http.get(url).send().await.expect("GET order");
        if resp.status() == StatusCode::OK {
            let body: Value = resp.json().await.expect("order JSON");
            if matches!(body["status"].as_str(), Some("PROCESSED" | "REJECTED")) {
                return body;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{url}: no final status within {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The emails the emulator's SES recorded for `to`, once there are at least `at_least` (or
/// panic after `secs`).
async fn emails_to(endpoint: &str, to: &str, at_least: usize, secs: u64) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let body: Value = reqwest::get(format!("{endpoint}/_ministack/ses/messages"))
            .await
            .expect("GET /_ministack/ses/messages")
            .json()
            .await
            .expect("SES messages are JSON");
        let mail: Vec<Value> = body["messages"]
            .as_object()
            .into_iter()
            .flat_map(|accounts| accounts.values())
            .flat_map(|list| list.as_array().cloned().unwrap_or_default())
            .filter(|m| {
                m["To"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|t| t == to))
            })
            .collect();
        if mail.len() >= at_least {
            return mail;
        }
        assert!(
            Instant::now() < deadline,
            "no email to {to} within {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn stored(ddb: &aws_sdk_dynamodb::Client, table: &str, order_id: &str) -> Option<Value> {
    ddb.get_item()
        .table_name(table)
        .key("order_id", AttributeValue::S(order_id.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .map(|i| json!(i.keys().collect::<Vec<_>>()))
}

/// Items of the orders table whose customer is `customer`.
async fn orders_of(ddb: &aws_sdk_dynamodb::Client, table: &str, customer: &str) -> usize {
    let mut count = 0;
    let mut start = None;
    loop {
        let page = ddb
            .scan()
            .table_name(table)
            .filter_expression("customer_id = :c")
            .expression_attribute_values(":c", AttributeValue::S(customer.into()))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        count += page.items().len();
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return count,
        }
    }
}

fn order(customer: &str, order_id: Option<&str>, quantity: i64) -> Value {
    let mut o = json!({
        "customer_id": customer,
        "currency": "EUR",
        "items": [{ "sku": "SKU-1", "quantity": quantity, "unit_price_minor": 1250 }],
        "total_minor": quantity * 1250,
    });
    if let Some(id) = order_id {
        o["order_id"] = json!(id);
    }
    o
}

async fn assert_problem(resp: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(resp.status(), status);
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(content_type.starts_with(PROBLEM_JSON), "{content_type}");
    let body: Value = resp.json().await.expect("problem JSON");
    assert_eq!(body["status"], status.as_u16(), "{body}");
    body
}

#[tokio::test]
async fn the_order_api_accepts_follows_and_refuses_orders_as_a_client_expects() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "api", &[]);
    let up = stack.up();
    let base = up["outputs"]["apis"]["orders"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("no API url in the outputs: {up}"))
        .to_string();
    let orders = format!("{base}orders");
    let ddb = aws_sdk_dynamodb::Client::new(&stack.config().await);
    let table = stack.physical("orders");
    let http = reqwest::Client::new();

    // A submission without an order id: 202, an assigned id, its status URL and Location.
    let mut body = order("cust-api-1", None, 2);
    body["customer_email"] = json!("api-buyer@example.com");
    let submit = || {
        http.post(&orders)
            .header("content-type", "application/json")
            .header("idempotency-key", "checkout-7f3a")
            .body(body.to_string())
    };
    let first = submit().send().await.unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let location = first
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let accepted: Value = first.json().await.unwrap();
    let id = accepted["order_id"].as_str().expect("order_id").to_string();
    assert_eq!(accepted["status"], "RECEIVED", "{accepted}");
    let status_url = accepted["status_url"].as_str().expect("status_url");
    assert!(status_url.ends_with(&format!("/orders/{id}")), "{accepted}");
    assert_eq!(location.as_deref(), Some(status_url));

    // The order goes through the whole pipeline; its timeline shows every step once.
    let done = final_order(&http, &format!("{orders}/{id}"), 30).await;
    assert_eq!(done["status"], "PROCESSED", "{done}");
    assert_eq!(done["total_minor"], 2500);
    let steps: Vec<&str> = done["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["RECEIVED", "VALIDATED", "PROCESSED"], "{done}");
    assert!(
        done.get("request_hash").is_none(),
        "internal field leaked: {done}"
    );
    // …and the customer is told, once.
    let mail = emails_to(emu.endpoint(), "api-buyer@example.com", 1, 30).await;
    assert!(
        mail[0]["Subject"].as_str().unwrap().contains(&id),
        "{mail:?}"
    );

    // A retry with the same key and body: the same order, nothing new.
    let again = submit().send().await.unwrap();
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["order_id"], id.as_str(), "{again}");
    // The same key with another body is a conflict.
    let other = http
        .post(&orders)
        .header("content-type", "application/json")
        .header("idempotency-key", "checkout-7f3a")
        .body(order("cust-api-1", None, 3).to_string())
        .send()
        .await
        .unwrap();
    assert_problem(other, StatusCode::CONFLICT).await;
    let after = final_order(&http, &format!("{orders}/{id}"), 5).await;
    assert_eq!(
        after["history"], done["history"],
        "the retry moved the order"
    );
    assert_eq!(orders_of(&ddb, &table, "cust-api-1").await, 1);
    assert_eq!(
        emails_to(emu.endpoint(), "api-buyer@example.com", 1, 5)
            .await
            .len(),
        1,
        "the retry emailed the customer again"
    );

    // Bad input: refused with every problem listed, nothing written.
    let broken = json!({
        "order_id": "ord-api-broken",
        "customer_id": "",
        "currency": "euro",
        "items": [{ "sku": "SKU-1", "quantity": 0, "unit_price_minor": 100 }],
        "total_minor": 999,
    });
    let resp = http
        .post(&orders)
        .header("content-type", "application/json")
        .body(broken.to_string())
        .send()
        .await
        .unwrap();
    let problem = assert_problem(resp, StatusCode::BAD_REQUEST).await;
    let errors = problem["errors"].as_array().expect("errors");
    assert!(errors.len() >= 3, "every broken rule: {problem}");
    assert!(stored(&ddb, &table, "ord-api-broken").await.is_none());

    let resp = http
        .post(&orders)
        .header("content-type", "application/json")
        .body("{\"order_id\": ")
        .send()
        .await
        .unwrap();
    assert_problem(resp, StatusCode::BAD_REQUEST).await;

    let resp = http
        .post(&orders)
        .header("content-type", "text/plain")
        .body(order("cust-api-2", Some("ord-api-text"), 1).to_string())
        .send()
        .await
        .unwrap();
    assert_problem(resp, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert!(stored(&ddb, &table, "ord-api-text").await.is_none());

    let mut huge = order("cust-api-2", Some("ord-api-huge"), 1);
    huge["padding"] = json!("x".repeat(70 * 1024));
    let resp = http
        .post(&orders)
        .header("content-type", "application/json")
        .body(huge.to_string())
        .send()
        .await
        .unwrap();
    assert_problem(resp, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(stored(&ddb, &table, "ord-api-huge").await.is_none());
    assert_eq!(orders_of(&ddb, &table, "cust-api-2").await, 0);

    // Reading: unknown ids are 404, ids the order rules refuse are 400.
    let resp = http
        .get(format!("{orders}/ord-does-not-exist"))
        .send()
        .await
        .unwrap();
    assert_problem(resp, StatusCode::NOT_FOUND).await;
    let resp = http
        .get(format!("{orders}/{}", "x".repeat(80)))
        .send()
        .await
        .unwrap();
    assert_problem(resp, StatusCode::BAD_REQUEST).await;
}
