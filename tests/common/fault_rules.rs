//! Included next to `fault_proxy.rs` as `#[path = "common/fault_rules.rs"] mod fault_rules;`.
//!
//! The fault proxy's rules: what a request is, what AWS would answer it during each window, and
//! the bookkeeping of creations, updates and deletions that opens those windows.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::HeaderMap;
use hyper::StatusCode;
use serde_json::{json, Value};

use crate::fault_proxy::{fault, Record, Scenario};
use crate::fault_wire::{self as wire, AwsError, OpId};

#[derive(Clone)]
pub(crate) struct Cached {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) scenario: Scenario,
    pub(crate) upstream: Option<String>,
    pub(crate) counters: HashMap<OpId, u32>,
    pub(crate) records: Vec<Record>,
    pub(crate) role_changed: HashMap<String, Instant>,
    pub(crate) function_role: HashMap<String, String>,
    pub(crate) fn_created: HashMap<String, Instant>,
    pub(crate) fn_updated: HashMap<String, Instant>,
    pub(crate) esm: HashMap<String, (Instant, &'static str)>,
    pub(crate) deleted: HashMap<String, Instant>,
    pub(crate) last_good: HashMap<(String, String), Cached>,
    pub(crate) entries_seen: HashSet<String>,
    pub(crate) entry_failures: u64,
    pub(crate) request_ids: u64,
}

pub(crate) fn within(at: Option<&Instant>, window: Option<Duration>) -> bool {
    match (at, window) {
        (Some(at), Some(w)) => at.elapsed() < w,
        _ => false,
    }
}

pub(crate) struct Req {
    pub(crate) method: hyper::Method,
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// Everything about a request the rules need.
pub(crate) struct Call {
    pub(crate) op: OpId,
    pub(crate) json: Option<Value>,
    pub(crate) form: HashMap<String, String>,
    pub(crate) resource: Option<String>,
    pub(crate) function: Option<String>,
    pub(crate) esm_uuid: Option<String>,
}

pub(crate) fn describe(req: &Req) -> Call {
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    let service = header("authorization")
        .and_then(wire::signing_service)
        .unwrap_or_else(|| "-".into());
    let operation = wire::operation(
        &service,
        req.method.as_str(),
        &req.path,
        header("x-amz-target"),
        &req.body,
    );
    let op = OpId { service, operation };
    let json: Option<Value> = serde_json::from_slice(&req.body).ok();
    let form = if wire::protocol(&op.service) == wire::Protocol::QueryXml {
        wire::form(&req.body)
    } else {
        HashMap::new()
    };
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let mut function = None;
    let mut esm_uuid = None;
    let resource = match op.service.as_str() {
        "sqs" => json.as_ref().and_then(|j| {
            s(j, "QueueName")
                .or_else(|| s(j, "QueueUrl"))
                .map(|q| format!("queue:{}", wire::queue_name(&q)))
        }),
        "iam" => form.get("RoleName").map(|r| format!("role:{r}")),
        "lambda" => {
            function = wire::lambda_function_in_path(&req.path).or_else(|| {
                (op.operation == "CreateFunction")
                    .then(|| json.as_ref().and_then(|j| s(j, "FunctionName")))
                    .flatten()
                    .map(|f| wire::function_name(&f))
            });
            let path = req.path.split('?').next().unwrap_or("");
            if path.contains("/event-source-mappings/") {
                esm_uuid = path
                    .rsplit('/')
                    .next()
                    .filter(|u| !u.is_empty())
                    .map(str::to_string);
            }
            match (&esm_uuid, &function) {
                (Some(u), _) => Some(format!("esm:{u}")),
                (None, Some(f)) => Some(format!("function:{f}")),
                _ => None,
            }
        }
        _ => None,
    };
    Call {
        op,
        json,
        form,
        resource,
        function,
        esm_uuid,
    }
}

pub(crate) enum Pre {
    Answer(&'static str, AwsError),
    Drop(&'static str),
    Cached(&'static str, Cached),
    Forward(Option<&'static str>),
}

pub(crate) const ROLE_CHANGES: &[&str] = &[
    "CreateRole",
    "PutRolePolicy",
    "AttachRolePolicy",
    "UpdateAssumeRolePolicy",
];
pub(crate) const FUNCTION_UPDATES: &[&str] = &[
    "UpdateFunctionCode",
    "UpdateFunctionConfiguration",
    "PublishVersion",
];

/// Decide, before forwarding, what to do with a call.
pub(crate) fn before(st: &mut State, call: &Call) -> Pre {
    let sc = st.scenario.clone();
    let op = &call.op;
    let counted = op.service != "-"
        && sc
            .only_operations
            .as_ref()
            .is_none_or(|ops| ops.contains(&op.operation.as_str()));
    let mut after_fault = None;
    if counted {
        let n = st.counters.entry(op.clone()).or_default();
        *n += 1;
        let n = *n;
        if n <= sc.throttle_first {
            return Pre::Answer(fault::THROTTLE, wire::throttling(&op.service));
        }
        let idx = n - sc.throttle_first; // 1-based after the throttled calls
        let schedule = sc.transport_schedule();
        if idx % 2 == 1 {
            if let Some(f) = schedule.get(((idx - 1) / 2) as usize) {
                match *f {
                    fault::SERVER_ERROR_BEFORE => {
                        return Pre::Answer(f, wire::server_error(&op.service, true))
                    }
                    fault::DROP_BEFORE => return Pre::Drop(f),
                    other => after_fault = Some(other),
                }
            }
        }
    }
    let now_in = |m: &HashMap<String, Instant>, k: &str, w: Option<Duration>| within(m.get(k), w);
    let json = call.json.as_ref();
    let body_str = |k: &str| json.and_then(|j| j.get(k)).and_then(Value::as_str);

    // IAM propagation.
    if op.service == "lambda" {
        if let (Some(f), Some(role_arn)) = (&call.function, body_str("Role")) {
            let role = role_arn.rsplit('/').next().unwrap_or(role_arn).to_string();
            st.function_role.insert(f.clone(), role);
        }
        let role_of = |f: &Option<String>| f.as_ref().and_then(|f| st.function_role.get(f));
        let propagating = |role: Option<&String>| {
            role.is_some_and(|r| now_in(&st.role_changed, r, sc.iam_propagation))
        };
        match op.operation.as_str() {
            "CreateFunction" | "UpdateFunctionConfiguration"
                if body_str("Role").is_some() && propagating(role_of(&call.function)) =>
            {
                return Pre::Answer(
                    fault::IAM_PROPAGATION,
                    wire::lambda_invalid_parameter(
                        "The role defined for the function cannot be assumed by Lambda.",
                    ),
                );
            }
            "CreateEventSourceMapping" => {
                let f = body_str("FunctionName").map(wire::function_name);
                if propagating(role_of(&f)) {
                    return Pre::Answer(
                        fault::IAM_PROPAGATION,
                        wire::lambda_invalid_parameter(
                            "The provided execution role does not have permissions to call ReceiveMessage on SQS",
                        ),
                    );
                }
            }
            _ => {}
        }
    }

    // Lambda: no updates while Pending or while an update is in progress.
    if op.service == "lambda" && FUNCTION_UPDATES.contains(&op.operation.as_str()) {
        if let Some(f) = &call.function {
            if now_in(&st.fn_created, f, sc.lambda_states) {
                return Pre::Answer(fault::LAMBDA_CONFLICT, wire::lambda_conflict(
                    "The operation cannot be performed at this time. The function is currently in the following state: Pending",
                ));
            }
            if now_in(&st.fn_updated, f, sc.lambda_states) {
                return Pre::Answer(fault::LAMBDA_CONFLICT, wire::lambda_conflict(&format!(
                    "The operation cannot be performed at this time. An update is in progress for resource: arn:aws:lambda:us-east-1:000000000000:function:{f}"
                )));
            }
        }
    }

    // Event source mappings in a transitional state.
    if let (Some(u), Some(w)) = (&call.esm_uuid, sc.esm_states) {
        if matches!(
            op.operation.as_str(),
            "UpdateEventSourceMapping" | "DeleteEventSourceMapping"
        ) {
            if let Some((at, state)) = st.esm.get(u) {
                if at.elapsed() < w && *state != "Deleting" {
                    return Pre::Answer(
                        fault::ESM_IN_USE,
                        wire::lambda_in_use(&format!(
                            "The operation cannot be performed at this time. The event source mapping is currently in the {} state.",
                            state.to_uppercase()
                        )),
                    );
                }
            }
        }
        if op.operation == "GetEventSourceMapping" {
            if let Some((at, "Deleting")) = st.esm.get(u) {
                if at.elapsed() < w {
                    if let Some(c) = st
                        .last_good
                        .get(&(op.operation.clone(), format!("esm:{u}")))
                    {
                        let mut c = c.clone();
                        c.body = set_json(&c.body, |v| {
                            v["State"] = json!("Deleting");
                        });
                        return Pre::Cached(fault::ESM_TRANSITIONAL, c);
                    }
                }
            }
        }
    }

    // SQS: a name deleted in the window cannot be created again.
    if op.service == "sqs" && op.operation == "CreateQueue" {
        if let Some(r) = &call.resource {
            if now_in(&st.deleted, r, sc.queue_deleted_recently) {
                return Pre::Answer(
                    fault::QUEUE_DELETED_RECENTLY,
                    wire::queue_deleted_recently(),
                );
            }
        }
    }

    // Reads answering for a just-deleted resource.
    if !op.is_write() {
        if let Some(r) = &call.resource {
            if now_in(&st.deleted, r, sc.stale_reads) {
                if let Some(c) = st.last_good.get(&(op.operation.clone(), r.clone())) {
                    return Pre::Cached(fault::STALE_READ, c.clone());
                }
            }
        }
    }
    Pre::Forward(after_fault)
}

pub(crate) fn set_json(body: &Bytes, edit: impl FnOnce(&mut Value)) -> Bytes {
    match serde_json::from_slice::<Value>(body) {
        Ok(mut v) => {
            edit(&mut v);
            Bytes::from(v.to_string())
        }
        Err(_) => body.clone(),
    }
}

/// Bookkeeping after a successful answer, and the answer as AWS would give it during a window.
pub(crate) fn after(st: &mut State, call: &Call, resp: &mut Cached) -> Option<&'static str> {
    let op = call.op.operation.as_str();
    let now = Instant::now();
    let sc = st.scenario.clone();
    if !resp.status.is_success() {
        return None;
    }
    match call.op.service.as_str() {
        "iam" => {
            if let Some(role) = call.form.get("RoleName") {
                if ROLE_CHANGES.contains(&op) {
                    st.role_changed.insert(role.clone(), now);
                }
                match op {
                    "CreateRole" => {
                        st.deleted.remove(&format!("role:{role}"));
                    }
                    "DeleteRole" => {
                        st.deleted.insert(format!("role:{role}"), now);
                    }
                    _ => {}
                }
            }
        }
        "sqs" => {
            if let Some(r) = &call.resource {
                match op {
                    "CreateQueue" => {
                        st.deleted.remove(r);
                    }
                    "DeleteQueue" => {
                        st.deleted.insert(r.clone(), now);
                    }
                    _ => {}
                }
            }
        }
        "lambda" => {
            if let Some(f) = &call.function {
                match op {
                    "CreateFunction" => {
                        st.fn_created.insert(f.clone(), now);
                        st.deleted.remove(&format!("function:{f}"));
                    }
                    "UpdateFunctionCode" | "UpdateFunctionConfiguration" => {
                        st.fn_updated.insert(f.clone(), now);
                    }
                    "DeleteFunction" => {
                        st.fn_created.remove(f);
                        st.fn_updated.remove(f);
                        st.deleted.insert(format!("function:{f}"), now);
                    }
                    _ => {}
                }
            }
            match op {
                "CreateEventSourceMapping" => {
                    let uuid = serde_json::from_slice::<Value>(&resp.body)
                        .ok()
                        .and_then(|v| v.get("UUID").and_then(Value::as_str).map(str::to_string));
                    if let Some(u) = uuid {
                        st.esm.insert(u, (now, "Creating"));
                    }
                }
                "UpdateEventSourceMapping" => {
                    if let Some(u) = &call.esm_uuid {
                        st.esm.insert(u.clone(), (now, "Updating"));
                    }
                }
                "DeleteEventSourceMapping" => {
                    if let Some(u) = &call.esm_uuid {
                        st.esm.insert(u.clone(), (now, "Deleting"));
                    }
                }
                _ => {}
            }
        }
        _ => {}
    }
    // Remember good reads (before any rewrite) for stale answers after a delete.
    if !call.op.is_write() {
        if let Some(r) = &call.resource {
            st.last_good
                .insert((op.to_string(), r.clone()), resp.clone());
        }
    }

    let mut injected = None;
    // Lambda function states in answers.
    if call.op.service == "lambda" {
        if let Some(f) = &call.function {
            let shows_config = matches!(
                op,
                "CreateFunction"
                    | "GetFunction"
                    | "GetFunctionConfiguration"
                    | "UpdateFunctionCode"
                    | "UpdateFunctionConfiguration"
            );
            if shows_config {
                let pending = within(st.fn_created.get(f), sc.lambda_states);
                let updating = within(st.fn_updated.get(f), sc.lambda_states);
                if pending || updating {
                    resp.body = set_json(&resp.body, |v| {
                        let cfg = if v.get("Configuration").is_some() {
                            &mut v["Configuration"]
                        } else {
                            v
                        };
                        if pending {
                            cfg["State"] = json!("Pending");
                            cfg["StateReason"] = json!("The function is being created.");
                            cfg["StateReasonCode"] = json!("Creating");
                        } else {
                            cfg["State"] = json!("Active");
                            cfg["LastUpdateStatus"] = json!("InProgress");
                            cfg["LastUpdateStatusReason"] = json!("The function is being updated.");
                            cfg["LastUpdateStatusReasonCode"] = json!("Creating");
                        }
                    });
                    injected = Some(if pending {
                        fault::LAMBDA_PENDING
                    } else {
                        fault::LAMBDA_IN_PROGRESS
                    });
                }
            }
        }
        if sc.esm_states.is_some()
            && matches!(
                op,
                "CreateEventSourceMapping"
                    | "UpdateEventSourceMapping"
                    | "GetEventSourceMapping"
                    | "ListEventSourceMappings"
            )
        {
            let esm = st.esm.clone();
            let w = sc.esm_states;
            let mut rewrote = false;
            let mut rewrite = |m: &mut Value| {
                let uuid = m.get("UUID").and_then(Value::as_str).unwrap_or_default();
                if let Some((at, state)) = esm.get(uuid) {
                    if within(Some(at), w) && *state != "Deleting" {
                        m["State"] = json!(state);
                        rewrote = true;
                    }
                }
            };
            resp.body = set_json(&resp.body, |v| {
                if let Some(list) = v
                    .get_mut("EventSourceMappings")
                    .and_then(Value::as_array_mut)
                {
                    list.iter_mut().for_each(&mut rewrite);
                } else {
                    rewrite(v);
                }
            });
            if rewrote {
                injected = Some(fault::ESM_TRANSITIONAL);
            }
        }
    }
    injected
}

/// PutEvents: split the entries into those that fail now and those forwarded.
pub(crate) fn split_entries(st: &mut State, call: &Call) -> Option<(Vec<Option<AwsError>>, Value)> {
    if !(st.scenario.put_events_entry_failures
        && call.op.service == "events"
        && call.op.operation == "PutEvents")
    {
        return None;
    }
    let body = call.json.as_ref()?;
    let entries = body.get("Entries")?.as_array()?;
    let mut verdicts = Vec::new();
    let mut forwarded = Vec::new();
    for e in entries {
        let key = e.to_string();
        if st.entries_seen.insert(key) {
            st.entry_failures += 1;
            verdicts.push(Some(if st.entry_failures % 2 == 1 {
                AwsError::new(
                    200,
                    "InternalFailure",
                    "The request processing has failed because of an unknown error, exception or failure.",
                )
            } else {
                AwsError::new(200, "ThrottlingException", "Rate exceeded")
            }));
        } else {
            verdicts.push(None);
            forwarded.push(e.clone());
        }
    }
    if verdicts.iter().all(Option::is_none) {
        return None;
    }
    let mut out = body.clone();
    out["Entries"] = Value::Array(forwarded);
    Some((verdicts, out))
}
