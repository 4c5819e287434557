//! Included by test files as `#[path = "common/fault_proxy.rs"] mod fault_proxy;` next to
//! `fault_rules.rs` (what AWS answers when) and `fault_wire.rs` (how each service spells it),
//! included the same way.
//!
//! An HTTP/1.1 proxy on 127.0.0.1 between orderflow (or the functions, or an SDK client) and the
//! emulator, answering what real AWS answers at its worst moments, per [`Scenario`], in each
//! service's own wire format ([`crate::fault_wire`]). MiniStack never throttles, never fails,
//! and is immediately consistent; these are the AWS behaviours it leaves out:
//!
//! - throttling on the first calls of each operation (per service: `ThrottlingException`,
//!   `Throttling`, `TooManyRequestsException` 429, SQS `RequestThrottled`);
//! - 5xx before forwarding (nothing happened) and **after** forwarding (the change was applied,
//!   the answer lost: the SDK's retry then meets "already exists" or "not found");
//! - connections closed without an answer, before and after forwarding;
//! - IAM propagation: after CreateRole/PutRolePolicy, Lambda cannot assume the role for a while
//!   (CreateFunction: `InvalidParameterValueException` "The role defined for the function cannot
//!   be assumed by Lambda."; CreateEventSourceMapping: "The provided execution role does not have
//!   permissions to call ReceiveMessage on SQS");
//! - Lambda function states: `State: Pending` after CreateFunction, `LastUpdateStatus:
//!   InProgress` after an update, and 409 `ResourceConflictException` for updates meanwhile;
//! - event source mapping states `Creating`/`Updating`/`Deleting`, and 400
//!   `ResourceInUseException` for updates and deletes meanwhile;
//! - SQS `QueueDeletedRecently` for a CreateQueue of a name deleted in the window (60 s on AWS);
//! - reads answering for a just-deleted queue, function or role with the last good answer;
//! - PutEvents per-entry failures (`InternalFailure`, `ThrottlingException` with
//!   `FailedEntryCount`): a failed entry is never delivered.
//!
//! Windows are seconds long instead of AWS's tens of seconds so tests stay fast. Every request and
//! every injected fault is recorded ([`FaultProxy::records`]) so a test can show its faults fired.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, TRANSFER_ENCODING};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use crate::fault_rules::{after, before, describe, split_entries, Cached, Call, Pre, Req, State};
use crate::fault_wire::{self as wire, AwsError};

/// Names of the faults as recorded.
pub mod fault {
    pub const THROTTLE: &str = "throttle";
    pub const SERVER_ERROR_BEFORE: &str = "5xx-before";
    pub const SERVER_ERROR_AFTER: &str = "5xx-after";
    pub const DROP_BEFORE: &str = "drop-before";
    pub const DROP_AFTER: &str = "drop-after";
    pub const IAM_PROPAGATION: &str = "iam-propagation";
    pub const LAMBDA_PENDING: &str = "lambda-pending";
    pub const LAMBDA_IN_PROGRESS: &str = "lambda-in-progress";
    pub const LAMBDA_CONFLICT: &str = "lambda-conflict";
    pub const ESM_TRANSITIONAL: &str = "esm-transitional";
    pub const ESM_IN_USE: &str = "esm-in-use";
    pub const QUEUE_DELETED_RECENTLY: &str = "queue-deleted-recently";
    pub const STALE_READ: &str = "stale-read";
    pub const PUT_EVENTS_ENTRY: &str = "put-events-entry-failed";
    /// Not injected: the 409 AWS gives for a duplicate the emulator would accept.
    pub const AWS_CONFLICT: &str = "aws-conflict";
}

/// Which faults the proxy injects.
#[derive(Debug, Clone, Default)]
pub struct Scenario {
    /// The first N calls of each operation are throttled.
    pub throttle_first: u32,
    /// After the throttled calls, each enabled transport fault hits one call of every operation,
    /// with a clean call between two faults (so one logical call meets at most two in a row,
    /// as on a bad day on AWS, and the SDK's retries get through): 5xx after, 5xx before,
    /// drop after, drop before.
    pub server_error_after: bool,
    pub server_error_before: bool,
    pub drop_after: bool,
    pub drop_before: bool,
    /// Transport faults only for these operations (unit tests); `None` = all.
    pub only_operations: Option<Vec<&'static str>>,
    pub iam_propagation: Option<Duration>,
    pub lambda_states: Option<Duration>,
    pub esm_states: Option<Duration>,
    pub queue_deleted_recently: Option<Duration>,
    pub stale_reads: Option<Duration>,
    /// Every PutEvents entry fails the first time it is seen (alternately InternalFailure and
    /// ThrottlingException); sent again, it goes through.
    pub put_events_entry_failures: bool,
}

impl Scenario {
    /// Everything at once, with short windows.
    pub fn all() -> Scenario {
        Scenario {
            throttle_first: 1,
            server_error_after: true,
            server_error_before: true,
            drop_after: true,
            drop_before: true,
            only_operations: None,
            iam_propagation: Some(Duration::from_secs(4)),
            lambda_states: Some(Duration::from_secs(3)),
            esm_states: Some(Duration::from_secs(3)),
            queue_deleted_recently: Some(Duration::from_secs(8)),
            stale_reads: Some(Duration::from_secs(3)),
            put_events_entry_failures: true,
        }
    }

    pub(crate) fn transport_schedule(&self) -> Vec<&'static str> {
        let mut s = Vec::new();
        if self.server_error_after {
            s.push(fault::SERVER_ERROR_AFTER);
        }
        if self.server_error_before {
            s.push(fault::SERVER_ERROR_BEFORE);
        }
        if self.drop_after {
            s.push(fault::DROP_AFTER);
        }
        if self.drop_before {
            s.push(fault::DROP_BEFORE);
        }
        s
    }
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Record {
    pub service: String,
    pub operation: String,
    /// The resource it named (`queue:<name>`, `function:<name>`, `role:<name>`, `esm:<uuid>`).
    pub resource: Option<String>,
    pub fault: Option<&'static str>,
    /// The status answered; `None` when the connection was dropped.
    pub status: Option<u16>,
}

/// The running proxy. Stops when dropped.
pub struct FaultProxy {
    pub port: u16,
    state: Arc<Mutex<State>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl FaultProxy {
    /// Listen on a free port of 127.0.0.1; requests get 502 until [`FaultProxy::set_upstream`].
    pub fn start(scenario: Scenario) -> FaultProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("local addr").port();
        let state = Arc::new(Mutex::new(State {
            scenario,
            ..State::default()
        }));
        // Its own runtime: the tests block their thread on the CLI while the proxy serves.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("proxy runtime");
        let st = state.clone();
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| handle(st.clone(), req));
                    // A service error closes the connection without an answer: that is the
                    // dropped-connection fault.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FaultProxy {
            port,
            state,
            runtime: Some(runtime),
        }
    }

    /// `http://127.0.0.1:<port>`
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where to forward to (`http://127.0.0.1:<port>`).
    pub fn set_upstream(&self, endpoint: &str) {
        let hostport = endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        self.state.lock().unwrap().upstream = Some(hostport);
    }

    /// Change the scenario (e.g. to a clean one for a phase that must not be disturbed).
    pub fn set_scenario(&self, scenario: Scenario) {
        let mut st = self.state.lock().unwrap();
        st.scenario = scenario;
        st.counters.clear();
    }

    pub fn records(&self) -> Vec<Record> {
        self.state.lock().unwrap().records.clone()
    }

    /// How many times `fault` was injected.
    pub fn fired(&self, fault: &str) -> usize {
        self.records()
            .iter()
            .filter(|r| r.fault == Some(fault))
            .count()
    }

    /// How many times `fault` was injected into `operation`.
    pub fn fired_on(&self, fault: &str, operation: &str) -> usize {
        self.records()
            .iter()
            .filter(|r| r.fault == Some(fault) && r.operation == operation)
            .count()
    }

    /// `fault on Service.Operation × n` lines, for assertion messages.
    pub fn summary(&self) -> String {
        let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
        for r in self.records() {
            if let Some(f) = r.fault {
                *counts
                    .entry(format!("{f} on {}.{}", r.service, r.operation))
                    .or_default() += 1;
            }
        }
        let total = self.records().len();
        let mut s = format!("{total} requests; faults:\n");
        for (k, n) in counts {
            s.push_str(&format!("  {k} × {n}\n"));
        }
        s
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Answer = Result<Response<Full<Bytes>>, BoxError>;

fn dropped() -> BoxError {
    "fault proxy: connection dropped on purpose".into()
}

fn respond(status: StatusCode, headers: &HeaderMap, body: Bytes) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    for (k, v) in headers {
        if k != CONTENT_LENGTH && k != TRANSFER_ENCODING && k.as_str() != "connection" {
            resp.headers_mut().append(k.clone(), v.clone());
        }
    }
    resp
}

async fn forward(upstream: &str, req: &Req, body: Bytes) -> Result<Cached, BoxError> {
    let stream = tokio::net::TcpStream::connect(upstream).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut builder = Request::builder()
        .method(req.method.clone())
        .uri(req.path.as_str());
    for (k, v) in &req.headers {
        if k != CONTENT_LENGTH && k != TRANSFER_ENCODING {
            builder = builder.header(k, v);
        }
    }
    builder = builder.header(CONTENT_LENGTH, body.len());
    let resp = sender.send_request(builder.body(Full::new(body))?).await?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Cached {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

async fn handle(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Answer {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let req = Req {
        method: parts.method,
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into()),
        headers: parts.headers,
        body,
    };
    let call = describe(&req);
    let record = |st: &mut State, fault: Option<&'static str>, status: Option<u16>| {
        st.records.push(Record {
            service: call.op.service.clone(),
            operation: call.op.operation.clone(),
            resource: call.resource.clone(),
            fault,
            status,
        });
    };
    let (pre, upstream, split, request_id) = {
        let mut st = state.lock().unwrap();
        st.request_ids += 1;
        let request_id = format!("fault-proxy-{:08}", st.request_ids);
        let pre = before(&mut st, &call);
        let split = match pre {
            Pre::Forward(None) => split_entries(&mut st, &call),
            _ => None,
        };
        (pre, st.upstream.clone(), split, request_id)
    };
    let after_fault = match pre {
        Pre::Answer(f, err) => {
            record(&mut state.lock().unwrap(), Some(f), Some(err.status));
            return Ok(wire::error_response(&call.op.service, &err, &request_id));
        }
        Pre::Drop(f) => {
            record(&mut state.lock().unwrap(), Some(f), None);
            return Err(dropped());
        }
        Pre::Cached(f, c) => {
            record(&mut state.lock().unwrap(), Some(f), Some(c.status.as_u16()));
            return Ok(respond(c.status, &c.headers, c.body));
        }
        Pre::Forward(f) => f,
    };
    let Some(upstream) = upstream else {
        record(&mut state.lock().unwrap(), None, Some(502));
        return Ok(respond(
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            Bytes::from_static(b"fault proxy: no upstream"),
        ));
    };

    if let Some((verdicts, forwarded_body)) = split {
        return put_events_partially(&state, &call, &req, &upstream, verdicts, forwarded_body)
            .await;
    }

    if let Some(err) = aws_uniqueness(&upstream, &req, &call).await {
        record(
            &mut state.lock().unwrap(),
            Some(fault::AWS_CONFLICT),
            Some(err.status),
        );
        return Ok(wire::error_response(&call.op.service, &err, &request_id));
    }

    let mut resp = match forward(&upstream, &req, req.body.clone()).await {
        Ok(r) => r,
        Err(e) => {
            record(&mut state.lock().unwrap(), None, Some(502));
            return Ok(respond(
                StatusCode::BAD_GATEWAY,
                &HeaderMap::new(),
                Bytes::from(format!("fault proxy: upstream: {e}")),
            ));
        }
    };
    let mut st = state.lock().unwrap();
    let rewritten = after(&mut st, &call, &mut resp);
    match after_fault {
        Some(f @ fault::SERVER_ERROR_AFTER) => {
            record(&mut st, Some(f), Some(500));
            let err = wire::server_error(&call.op.service, false);
            Ok(wire::error_response(&call.op.service, &err, &request_id))
        }
        Some(f) => {
            record(&mut st, Some(f), None);
            Err(dropped())
        }
        None => {
            record(&mut st, rewritten, Some(resp.status.as_u16()));
            let mut r = respond(resp.status, &resp.headers, resp.body);
            if rewritten.is_some() {
                r.headers_mut()
                    .insert("x-fault-proxy", HeaderValue::from_static("rewritten"));
            }
            Ok(r)
        }
    }
}

/// A GET to the emulator with the caller's headers (reads the proxy makes for itself).
async fn read_upstream(upstream: &str, req: &Req, path: String) -> Option<Value> {
    let mut headers = req.headers.clone();
    headers.remove("content-type");
    let get = Req {
        method: hyper::Method::GET,
        path,
        headers,
        body: Bytes::new(),
    };
    let resp = forward(upstream, &get, Bytes::new()).await.ok()?;
    if !resp.status.is_success() {
        return None;
    }
    serde_json::from_slice(&resp.body).ok()
}

/// Uniqueness AWS enforces and the emulator does not: without it, a create retried after a
/// lost answer (5xx after, dropped after) would duplicate on the emulator where AWS answers 409.
/// - API Gateway CreateRoute: one route per route key (ConflictException).
/// - Lambda AddPermission: one statement per statement id (ResourceConflictException).
/// - Lambda CreateEventSourceMapping: one mapping per function and source (ResourceConflictException).
async fn aws_uniqueness(upstream: &str, req: &Req, call: &Call) -> Option<AwsError> {
    let body = call.json.as_ref()?;
    let path = req.path.split('?').next().unwrap_or("");
    match (call.op.service.as_str(), call.op.operation.as_str()) {
        ("apigateway", "CreateRoute") => {
            let key = body.get("routeKey")?.as_str()?;
            let routes = read_upstream(upstream, req, path.to_string()).await?;
            let exists = routes["items"]
                .as_array()?
                .iter()
                .any(|r| r["routeKey"].as_str() == Some(key));
            exists.then(|| {
                AwsError::new(
                    409,
                    "ConflictException",
                    &format!("Route with key {key} already exists for this API"),
                )
            })
        }
        ("lambda", "AddPermission") => {
            let sid = body.get("StatementId")?.as_str()?;
            let policy = read_upstream(upstream, req, path.to_string()).await?;
            let doc: Value = serde_json::from_str(policy["Policy"].as_str()?).ok()?;
            let exists = doc["Statement"]
                .as_array()?
                .iter()
                .any(|st| st["Sid"].as_str() == Some(sid));
            exists.then(|| wire::lambda_conflict(&format!(
                "The statement id ({sid}) provided already exists. Please provide a new statement id, or remove the existing statement."
            )))
        }
        ("lambda", "CreateEventSourceMapping") => {
            let function = wire::function_name(body.get("FunctionName")?.as_str()?);
            let source = body.get("EventSourceArn")?.as_str()?;
            let list =
                read_upstream(upstream, req, format!("{path}?FunctionName={function}")).await?;
            let existing = list["EventSourceMappings"]
                .as_array()?
                .iter()
                .find(|m| m["EventSourceArn"].as_str() == Some(source))?;
            let uuid = existing["UUID"].as_str().unwrap_or_default();
            Some(wire::lambda_conflict(&format!(
                "An event source mapping with SQS arn (\" {source} \") and function (\" {function} \") already exists. Please update or delete the existing mapping with UUID {uuid}"
            )))
        }
        _ => None,
    }
}

/// Forward only the entries that succeed; answer for all of them in order, with the failed
/// ones' error codes and `FailedEntryCount`, as PutEvents does.
async fn put_events_partially(
    state: &Arc<Mutex<State>>,
    call: &Call,
    req: &Req,
    upstream: &str,
    verdicts: Vec<Option<AwsError>>,
    forwarded_body: Value,
) -> Answer {
    let mut passed: Vec<Value> = Vec::new();
    let mut upstream_failed = 0;
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if verdicts.iter().any(Option::is_none) {
        let resp = forward(upstream, req, Bytes::from(forwarded_body.to_string())).await?;
        if !resp.status.is_success() {
            // The whole request failed: the caller resends every entry.
            return Ok(respond(resp.status, &resp.headers, resp.body));
        }
        let v: Value = serde_json::from_slice(&resp.body)?;
        upstream_failed = v
            .get("FailedEntryCount")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        passed = v
            .get("Entries")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
    }
    let mut passed = passed.into_iter();
    let mut failed = 0;
    let mut entries = Vec::new();
    let mut st = state.lock().unwrap();
    for v in verdicts {
        match v {
            Some(err) => {
                failed += 1;
                st.records.push(Record {
                    service: call.op.service.clone(),
                    operation: call.op.operation.clone(),
                    resource: None,
                    fault: Some(fault::PUT_EVENTS_ENTRY),
                    status: Some(200),
                });
                entries.push(json!({ "ErrorCode": err.code, "ErrorMessage": err.message }));
            }
            None => entries.push(passed.next().unwrap_or_else(|| json!({}))),
        }
    }
    let body = json!({ "FailedEntryCount": failed + upstream_failed, "Entries": entries });
    Ok(respond(
        StatusCode::OK,
        &headers,
        Bytes::from(body.to_string()),
    ))
}
