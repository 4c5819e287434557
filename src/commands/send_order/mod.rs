//! `orderflow send-order`: submit an order and, with `--wait`, follow it until it is processed or
//! rejected, reporting the end-to-end latency.
//!
//! Two ways in: `--via api` POSTs it to the stack's HTTP API as a customer would ([`api`]);
//! `--via bus` publishes an OrderPlaced event to the stack's bus (resent with backoff while
//! PutEvents fails its entry with a retryable code) and polls the orders table — the operator's
//! path, which needs AWS credentials and works without an API. `bus` is the default: scripts
//! written before the API existed keep their behaviour and output, and it works for every
//! pipeline (an API is optional).
//!
//! Every order is first checked against the `OrderPlaced` schema ([`check`]); one that does
//! not match is not sent (status `invalid`, each wrong field named) unless `--no-schema-check`.
//!
//! Exit codes: 0 sent / processed, 3 rejected (or invalid: not sent), 4 timed out, 1 error.

mod api;
pub mod check;

use std::fmt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use order_domain::eventbridge::{put_all, Backoff, TokioClock};
use serde::Serialize;
use serde_json::Value;

use super::{connect, emit, load_spec, pick};
use crate::cli::{Global, SendOrderArgs, SubmitVia};
use crate::error::Error;
use crate::resources::Ctx;
use crate::resources::Kind;
use crate::spec::Spec;

/// Poll every `FAST_POLL` for the first `FAST_PHASE` (orders normally land within a second or
/// two, and the reported latency is off by at most one interval: ≤ 10 % of a ~100 ms floor), then back off by half
/// each time up to `MAX_POLL` so a long wait on real AWS does not hammer the table.
pub(super) const FAST_POLL: Duration = Duration::from_millis(10);
const FAST_PHASE: Duration = Duration::from_secs(3);
const MAX_POLL: Duration = Duration::from_millis(500);

/// Resending the order event when PutEvents fails its entry with a retryable error: an operator
/// at a terminal can wait longer than a function, but not indefinitely.
const PUBLISH_BACKOFF: Backoff = Backoff {
    first: Duration::from_millis(200),
    max: Duration::from_secs(2),
    budget: Duration::from_secs(15),
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Published; not waited for.
    Sent,
    Processed,
    Rejected,
    TimedOut,
    /// Does not match the OrderPlaced schema: not sent (`schema_errors` says why).
    Invalid,
}

/// The next poll interval: fast during the first seconds, then backing off.
pub(super) fn next_delay(delay: Duration, started: Instant) -> Duration {
    if started.elapsed() > FAST_PHASE {
        (delay * 3 / 2).min(MAX_POLL)
    } else {
        delay
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    Api,
    Bus,
}

#[derive(Debug, Serialize)]
pub struct Outcome {
    pub order_id: Option<String>,
    pub via: Via,
    /// The EventBridge event (via bus).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The bus the event went to (via bus).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bus: Option<String>,
    /// Where the order was POSTed (via api).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// The order's status URL as the API announced it (via api).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_url: Option<String>,
    pub status: Status,
    /// PutEvents → item visible in the table, in milliseconds (with --wait).
    pub latency_ms: Option<f64>,
    /// Why the order was rejected (validation reasons as stored by validate-order).
    pub reasons: Vec<Value>,
    /// The stored record (with --wait).
    pub record: Option<Value>,
    /// Why the order does not match the OrderPlaced schema (status `invalid` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schema_errors: Vec<check::SchemaViolation>,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.order_id.as_deref().unwrap_or("(no order_id)");
        match self.status {
            Status::Sent if self.via == Via::Api => writeln!(
                f,
                "Order {id} accepted by the API (202, RECEIVED); status: {}",
                self.status_url.as_deref().unwrap_or("?")
            )?,
            Status::Sent => writeln!(
                f,
                "Order {id} sent to {} (event {}).",
                self.bus.as_deref().unwrap_or("?"),
                self.event_id.as_deref().unwrap_or("?")
            )?,
            Status::Processed => writeln!(
                f,
                "Order {id} PROCESSED in {:.0} ms.",
                self.latency_ms.unwrap_or_default()
            )?,
            Status::Rejected => {
                writeln!(
                    f,
                    "Order {id} REJECTED in {:.0} ms:",
                    self.latency_ms.unwrap_or_default()
                )?;
                for r in &self.reasons {
                    let code = r.get("code").and_then(Value::as_str).unwrap_or("?");
                    let msg = r.get("message").and_then(Value::as_str).unwrap_or("");
                    writeln!(f, "  - {code}: {msg}")?;
                }
            }
            Status::TimedOut if self.via == Via::Api => {
                writeln!(f, "Order {id}: no outcome from the API before the timeout.")?
            }
            Status::TimedOut => {
                writeln!(f, "Order {id}: no outcome in the table before the timeout.")?
            }
            Status::Invalid => {
                writeln!(
                    f,
                    "Order {id} NOT SENT: it does not match the {} schema (`orderflow schema events {}`):",
                    order_domain::ORDER_PLACED,
                    order_domain::ORDER_PLACED
                )?;
                for e in &self.schema_errors {
                    writeln!(f, "  - {e}")?;
                }
                writeln!(
                    f,
                    "Fix the order, or pass --no-schema-check to send it as it is."
                )?;
            }
        }
        if let Some(rec) = &self.record {
            writeln!(f, "Record: {rec}")?;
        }
        Ok(())
    }
}

/// An order to send: `text` is the JSON that goes out (a file's numbers exactly as written, even
/// beyond 64 bits, which `value` cannot hold), `value` the same order parsed, for reading fields.
#[derive(Debug, Clone)]
pub struct OrderJson {
    pub text: String,
    pub value: Value,
}

impl OrderJson {
    fn new(text: String) -> Result<Self, serde_json::Error> {
        let value = serde_json::from_str(&text)?;
        Ok(OrderJson { text, value })
    }

    fn field(&self, key: &str) -> Option<&Value> {
        self.value.get(key)
    }
}

/// The order to send, as JSON: a file as-is, or a generated sample; flags override fields.
pub fn order_json(args: &SendOrderArgs) -> Result<OrderJson, Error> {
    let text = match &args.order_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            // Checked up front for a precise error position.
            serde_json::from_str::<serde::de::IgnoredAny>(&text).map_err(|e| {
                Error::Other(format!(
                    "{}:{}:{}: not valid JSON: {e}",
                    path.display(),
                    e.line(),
                    e.column()
                ))
            })?;
            text
        }
        None => {
            let sample = if args.invalid {
                order_domain::sample::invalid_order()
            } else {
                order_domain::sample::valid_order(None)
            };
            serde_json::to_string(&sample)
                .map_err(|e| Error::Other(format!("serialising the sample order: {e}")))?
        }
    };
    let mut overrides: Vec<(&str, Value)> = Vec::new();
    if let Some(v) = &args.order_id {
        overrides.push(("order_id", Value::String(v.clone())));
    }
    if let Some(v) = &args.customer {
        overrides.push(("customer_id", Value::String(v.clone())));
    }
    if let Some(v) = &args.customer_email {
        overrides.push(("customer_email", Value::String(v.clone())));
    }
    if let Some(v) = &args.currency {
        overrides.push(("currency", Value::String(v.clone())));
    }
    if let Some(v) = args.total_minor {
        overrides.push(("total_minor", Value::from(v)));
    }
    let text = with_overrides(text, &overrides)?;
    OrderJson::new(text).map_err(|e| Error::Other(format!("the order is not valid JSON: {e}")))
}

/// `text` with the top-level fields of `overrides` set, every other value kept as written
/// (an object's values are handled as raw JSON, never through floating point). Non-objects are
/// sent as they are.
fn with_overrides(text: String, overrides: &[(&str, Value)]) -> Result<String, Error> {
    use serde_json::value::RawValue;
    if overrides.is_empty() {
        return Ok(text);
    }
    let Ok(mut fields) =
        serde_json::from_str::<std::collections::BTreeMap<String, Box<RawValue>>>(&text)
    else {
        return Ok(text);
    };
    for (key, value) in overrides {
        let raw = serde_json::value::to_raw_value(value)
            .map_err(|e| Error::Other(format!("serialising {key}: {e}")))?;
        fields.insert((*key).to_string(), raw);
    }
    serde_json::to_string(&fields).map_err(|e| Error::Other(format!("serialising the order: {e}")))
}

pub async fn run(g: &Global, args: SendOrderArgs) -> Result<ExitCode, Error> {
    let spec = load_spec(g)?;
    let order = order_json(&args)?;
    if !args.no_schema_check {
        let mut schema_errors = check::against_schema(&order.value);
        if args.via == SubmitVia::Api {
            // The API assigns an order id to an order without one.
            schema_errors.retain(|e| !(e.path == "/order_id" && e.got == "nothing"));
        }
        if !schema_errors.is_empty() {
            emit(g.output, &invalid(&order, args.via, schema_errors))?;
            return Ok(ExitCode::from(EXIT_REJECTED));
        }
    }
    let timeout = Duration::from_secs(args.timeout);
    let outcome = match args.via {
        SubmitVia::Bus => {
            let bus = pick("bus", args.bus.as_deref(), spec.buses.keys())?.to_string();
            let table = if args.wait {
                Some(pick("table", args.table.as_deref(), spec.tables.keys())?.to_string())
            } else {
                None
            };
            let ctx = connect(g, spec).await?;
            send(&ctx, &bus, table.as_deref(), &order, timeout).await?
        }
        SubmitVia::Api => {
            let name = pick("api", args.api.as_deref(), spec.apis.keys())?.to_string();
            check_order_routes(&spec, &name, args.wait)?;
            let key = args
                .idempotency_key
                .clone()
                .unwrap_or_else(|| default_idempotency_key(&order.value));
            let ctx = connect(g, spec).await?;
            let target = api_target(&ctx, &name).await?;
            let client = reqwest::Client::builder()
                .timeout(HTTP_TIMEOUT)
                .build()
                .map_err(|e| Error::Other(format!("creating the HTTP client: {e}")))?;
            api::send(&client, &target, &order, &key, args.wait, timeout).await?
        }
    };
    emit(g.output, &outcome)?;
    Ok(match outcome.status {
        Status::Sent | Status::Processed => ExitCode::SUCCESS,
        Status::Rejected | Status::Invalid => ExitCode::from(EXIT_REJECTED),
        Status::TimedOut => ExitCode::from(4),
    })
}

/// The order was refused: by the pipeline (rejected), or before it was sent (invalid), like the
/// API's 400.
const EXIT_REJECTED: u8 = 3;

/// The outcome of an order that was not sent because it does not match the schema.
fn invalid(
    order: &OrderJson,
    via: SubmitVia,
    schema_errors: Vec<check::SchemaViolation>,
) -> Outcome {
    Outcome {
        order_id: order
            .field("order_id")
            .and_then(Value::as_str)
            .map(str::to_string),
        via: match via {
            SubmitVia::Api => Via::Api,
            SubmitVia::Bus => Via::Bus,
        },
        event_id: None,
        bus: None,
        api_url: None,
        status_url: None,
        status: Status::Invalid,
        latency_ms: None,
        reasons: Vec::new(),
        record: None,
        schema_errors,
    }
}

/// One HTTP request's limit: API Gateway itself gives up after 30 s.
const HTTP_TIMEOUT: Duration = Duration::from_secs(35);

/// The order API's two routes must be declared on the API (`GET` only needed with --wait).
fn check_order_routes(spec: &Spec, api: &str, wait: bool) -> Result<(), Error> {
    let routes: Vec<String> = spec.apis[api]
        .routes
        .iter()
        .map(|r| r.route.to_string())
        .collect();
    let mut needed = vec!["POST /orders"];
    if wait {
        needed.push("GET /orders/{order_id}");
    }
    for route in needed {
        if !routes.iter().any(|r| r == route) {
            return Err(Error::Other(format!(
                "apis.{api}: no route `{route}` is declared (declared: {}); send with --via bus, or add the route",
                if routes.is_empty() { "none".to_string() } else { routes.join(", ") }
            )));
        }
    }
    Ok(())
}

/// The deployed API's invoke URL, read from AWS.
async fn api_target(ctx: &Ctx, name: &str) -> Result<api::ApiTarget, Error> {
    let resource = format!("apis.{name}");
    let live = Kind::Api.provider().read(ctx, name).await?;
    let url = live
        .filter(|l| l.owned)
        .and_then(|l| l.outputs.get("url").cloned())
        .ok_or_else(|| {
            Error::Other(format!(
                "{resource}: API {} does not exist — is the stack deployed? Run `orderflow up` first",
                ctx.physical_name(name)
            ))
        })?;
    let url = if url.ends_with('/') {
        url
    } else {
        format!("{url}/")
    };
    Ok(api::ApiTarget { resource, url })
}

/// Sending the same order (same id) twice is then one submission, as a retrying client wants;
/// an order without an id gets a fresh key.
fn default_idempotency_key(order: &Value) -> String {
    match order.get("order_id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() && id.len() <= 100 => format!("orderflow-cli-{id}"),
        _ => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            format!("orderflow-cli-{nanos:x}-{:x}", std::process::id())
        }
    }
}

/// Publish `order` and, when `table` is given, wait for its outcome.
pub async fn send(
    ctx: &Ctx,
    bus: &str,
    table: Option<&str>,
    order: &OrderJson,
    timeout: Duration,
) -> Result<Outcome, Error> {
    let bus_name = ctx.physical_name(bus);
    let order_id = order
        .field("order_id")
        .and_then(Value::as_str)
        .map(str::to_string);
    // EventBridge may accept events for a bus that does not exist without delivering them
    // anywhere; say plainly that the stack is not deployed instead.
    ctx.aws
        .events
        .describe_event_bus()
        .name(&bus_name)
        .send()
        .await
        .map_err(|e| match e.as_service_error() {
            Some(se) if se.is_resource_not_found_exception() => Error::Other(format!(
                "bus.{bus}: event bus {bus_name} does not exist — is the stack deployed? Run `orderflow up` first"
            )),
            _ => Error::aws(format!("bus.{bus}"), "DescribeEventBus", e),
        })?;
    let entry = PutEventsRequestEntry::builder()
        .event_bus_name(&bus_name)
        .source(order_domain::SOURCE)
        .detail_type(order_domain::ORDER_PLACED)
        .detail(&order.text)
        .build();
    let started = Instant::now();
    // PutEvents succeeds as a call even when its entry fails: a retryable entry error
    // (throttling, internal failure) is resent with backoff, any other is reported.
    let event_id = put_all(&ctx.aws.events, &TokioClock, &[entry], PUBLISH_BACKOFF)
        .await
        .map_err(|e| Error::Aws {
            resource: format!("bus.{bus}"),
            action: "PutEvents".into(),
            code: e.code,
            message: format!("the order event was not accepted: {}", e.message),
        })?
        .pop()
        .flatten();
    let mut outcome = Outcome {
        order_id: order_id.clone(),
        via: Via::Bus,
        event_id,
        bus: Some(bus_name),
        api_url: None,
        status_url: None,
        status: Status::Sent,
        latency_ms: None,
        reasons: Vec::new(),
        record: None,
        schema_errors: Vec::new(),
    };
    let (Some(table), Some(order_id)) = (table, order_id) else {
        return Ok(outcome);
    };
    let table_name = ctx.physical_name(table);
    let deadline = started + timeout;
    let mut delay = FAST_POLL;
    loop {
        let item = ctx
            .aws
            .dynamodb
            .get_item()
            .table_name(&table_name)
            .key(
                order_domain::item::ORDER_ID,
                AttributeValue::S(order_id.clone()),
            )
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::aws(format!("table.{table}"), "GetItem", e))?;
        // The record appears before the outcome (RECEIVED, VALIDATED): wait for a final status.
        let final_status = item.item().and_then(|item| {
            let status = item.get(order_domain::item::STATUS)?.as_s().ok()?;
            [
                order_domain::item::STATUS_PROCESSED,
                order_domain::item::STATUS_REJECTED,
            ]
            .contains(&status.as_str())
            .then_some((item, status.as_str()))
        });
        if let Some((item, status)) = final_status {
            let seen = started.elapsed();
            outcome.latency_ms = Some(seen.as_secs_f64() * 1000.0);
            outcome.record = Some(attributes_to_json(item));
            outcome.status = if status == order_domain::item::STATUS_REJECTED {
                outcome.reasons = outcome
                    .record
                    .as_ref()
                    .and_then(|r| r.get(order_domain::item::REASONS))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                Status::Rejected
            } else {
                Status::Processed
            };
            return Ok(outcome);
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

/// DynamoDB item → plain JSON (numbers stay exact: N values become JSON numbers only when they parse as i64).
pub fn attributes_to_json(item: &std::collections::HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), attribute_to_json(v)))
            .collect(),
    )
}

fn attribute_to_json(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => n
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(n.clone())),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::L(l) => Value::Array(l.iter().map(attribute_to_json).collect()),
        AttributeValue::M(m) => attributes_to_json(m),
        AttributeValue::Ss(ss) => Value::from(ss.clone()),
        AttributeValue::Ns(ns) => Value::from(ns.clone()),
        other => Value::String(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIG: &str = r#"{"order_id":"ord-big","total_minor":100000000000000000000,"items":[{"sku":"A","quantity":1,"unit_price_minor":12.50}]}"#;

    #[test]
    fn an_order_file_goes_out_exactly_as_written() {
        assert_eq!(with_overrides(BIG.to_string(), &[]).unwrap(), BIG);
    }

    #[test]
    fn overrides_keep_every_other_number_as_written() {
        let text = with_overrides(
            BIG.to_string(),
            &[
                ("order_id", Value::from("ord-2")),
                ("customer_id", Value::from("c-1")),
            ],
        )
        .unwrap();
        assert!(
            text.contains(r#""total_minor":100000000000000000000"#),
            "{text}"
        );
        assert!(text.contains(r#""unit_price_minor":12.50"#), "{text}");
        let order = OrderJson::new(text).unwrap();
        assert_eq!(order.field("order_id"), Some(&Value::from("ord-2")));
        assert_eq!(order.field("customer_id"), Some(&Value::from("c-1")));
        // The override itself replaces the number as written.
        let text = with_overrides(BIG.to_string(), &[("total_minor", Value::from(-1))]).unwrap();
        assert!(text.contains(r#""total_minor":-1"#), "{text}");
    }

    #[test]
    fn a_non_object_order_is_sent_as_it_is() {
        let text = with_overrides(
            "[100000000000000000000]".to_string(),
            &[("order_id", Value::from("x"))],
        );
        assert_eq!(text.unwrap(), "[100000000000000000000]");
    }
}
