//! Included next to `fault_proxy.rs` as `#[path = "common/fault_wire.rs"] mod fault_wire;`.
//!
//! What the fault proxy needs to know about AWS's wire formats: which service and operation a
//! signed request is, which resource it names, and how each service's protocol spells an error.
//!
//! Protocols (as the SDK versions in Cargo.lock speak them):
//! - DynamoDB: JSON 1.0, `X-Amz-Target: DynamoDB_20120810.<Op>`, errors `{"__type": "com.amazonaws.dynamodb.v20120810#<Code>"}`.
//! - SQS: JSON 1.0 since 2023 (`X-Amz-Target: AmazonSQS.<Op>`) with query compatibility: the
//!   legacy code travels in `x-amzn-query-error: <code>;<Sender|Receiver>`, which the SDK prefers
//!   over `__type` (aws-sdk-sqs `aws_query_compatible_errors.rs`).
//! - EventBridge, Resource Groups Tagging: JSON 1.1, `X-Amz-Target: AWSEvents.<Op>`, errors `{"__type": "<Code>"}`.
//! - Lambda, API Gateway v2, SES v2: REST-JSON, the code in `X-Amzn-ErrorType`.
//! - IAM, SNS: query (`Action=<Op>` form body), errors as XML `<ErrorResponse><Error><Type/><Code/><Message/></Error>`.

#![allow(dead_code)]

use std::collections::HashMap;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

/// Service and operation of one request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OpId {
    /// SigV4 signing name: `sqs`, `dynamodb`, `events`, `lambda`, `iam`, `sns`, `apigateway`, `ses`;
    /// `-` for unsigned requests (an HTTP API invocation).
    pub service: String,
    /// `CreateQueue`, `PutEvents`, `CreateFunction`…; REST calls without a name here are
    /// `<METHOD> <path with ids as *>`.
    pub operation: String,
}

impl OpId {
    /// Writes change state; reads are Get*/List*/Describe* (and GETs).
    pub fn is_write(&self) -> bool {
        let op = self.operation.as_str();
        !(op.starts_with("Get")
            || op.starts_with("List")
            || op.starts_with("Describe")
            || op.starts_with("GET ")
            || op.starts_with("Receive"))
    }
}

/// The service from the SigV4 credential scope `Credential=<key>/<date>/<region>/<service>/aws4_request`.
pub fn signing_service(authorization: &str) -> Option<String> {
    let scope = authorization.split("Credential=").nth(1)?;
    let scope = scope.split([',', ' ']).next()?;
    let parts: Vec<&str> = scope.split('/').collect();
    (parts.len() >= 5).then(|| parts[3].to_string())
}

/// Percent-decoding of a form value or a path segment.
pub fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `application/x-www-form-urlencoded` body → map.
pub fn form(body: &[u8]) -> HashMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((url_decode(k), url_decode(v)))
        })
        .collect()
}

/// Name the operation of a request to `service`.
pub fn operation(
    service: &str,
    method: &str,
    path: &str,
    target: Option<&str>,
    body: &[u8],
) -> String {
    if let Some(t) = target {
        return t.rsplit('.').next().unwrap_or(t).to_string();
    }
    // Smithy RPC v2 CBOR (CloudWatch): `/service/<service>/operation/<Operation>`.
    if let Some((_, op)) = path
        .split('?')
        .next()
        .unwrap_or("")
        .rsplit_once("/operation/")
    {
        return op.to_string();
    }
    if matches!(service, "iam" | "sns" | "sts") {
        if let Some(a) = form(body).get("Action") {
            return a.clone();
        }
    }
    let segs: Vec<&str> = path
        .split('?')
        .next()
        .unwrap_or("")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    if service == "lambda" {
        if let Some(op) = lambda_operation(method, &segs) {
            return op.to_string();
        }
    }
    if service == "apigateway" {
        if let Some(op) = apigateway_operation(method, &segs) {
            return op;
        }
    }
    if service == "ses" {
        if let Some(op) = sesv2_operation(method, &segs) {
            return op;
        }
    }
    // Generic: ids (anything not a lowercase word) as `*`.
    let template: Vec<&str> = segs
        .iter()
        .map(|s| {
            if s.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
                *s
            } else {
                "*"
            }
        })
        .collect();
    format!("{method} /{}", template.join("/"))
}

fn lambda_operation(method: &str, segs: &[&str]) -> Option<&'static str> {
    Some(match (method, segs) {
        ("POST", [_, "functions"]) => "CreateFunction",
        ("GET", [_, "functions"]) => "ListFunctions",
        ("GET", [_, "functions", _]) => "GetFunction",
        ("DELETE", [_, "functions", _]) => "DeleteFunction",
        ("GET", [_, "functions", _, "configuration"]) => "GetFunctionConfiguration",
        ("PUT", [_, "functions", _, "configuration"]) => "UpdateFunctionConfiguration",
        ("PUT", [_, "functions", _, "code"]) => "UpdateFunctionCode",
        ("POST", [_, "functions", _, "versions"]) => "PublishVersion",
        ("POST", [_, "functions", _, "policy"]) => "AddPermission",
        ("GET", [_, "functions", _, "policy"]) => "GetPolicy",
        ("DELETE", [_, "functions", _, "policy", _]) => "RemovePermission",
        ("POST", [_, "functions", _, "invocations"]) => "Invoke",
        ("PUT", [_, "functions", _, "concurrency"]) => "PutFunctionConcurrency",
        ("GET", [_, "functions", _, "concurrency"]) => "GetFunctionConcurrency",
        ("DELETE", [_, "functions", _, "concurrency"]) => "DeleteFunctionConcurrency",
        ("PUT", [_, "functions", _, "event-invoke-config"]) => "PutFunctionEventInvokeConfig",
        ("GET", [_, "functions", _, "event-invoke-config"]) => "GetFunctionEventInvokeConfig",
        ("DELETE", [_, "functions", _, "event-invoke-config"]) => "DeleteFunctionEventInvokeConfig",
        ("POST", [_, "event-source-mappings"]) => "CreateEventSourceMapping",
        ("GET", [_, "event-source-mappings"]) => "ListEventSourceMappings",
        ("GET", [_, "event-source-mappings", _]) => "GetEventSourceMapping",
        ("PUT", [_, "event-source-mappings", _]) => "UpdateEventSourceMapping",
        ("DELETE", [_, "event-source-mappings", _]) => "DeleteEventSourceMapping",
        ("POST", [_, "tags", _]) => "TagResource",
        ("GET", [_, "tags", _]) => "ListTags",
        ("DELETE", [_, "tags", _]) => "UntagResource",
        _ => return None,
    })
}

fn apigateway_operation(method: &str, segs: &[&str]) -> Option<String> {
    // /v2/apis[/{id}[/<kind>[/{id}]]], /v2/tags/{arn}
    let verb = |collection: bool| match method {
        "POST" => "Create",
        "GET" if collection => "Get",
        "GET" => "Get",
        "PATCH" => "Update",
        "PUT" => "Put",
        "DELETE" => "Delete",
        _ => "Call",
    };
    let singular = |kind: &str| -> String {
        let mut k = kind.trim_end_matches('s').to_string();
        if let Some(first) = k.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        k
    };
    Some(match segs {
        ["v2", "apis"] if method == "GET" => "GetApis".into(),
        ["v2", "apis"] => format!("{}Api", verb(true)),
        ["v2", "apis", _] => format!("{}Api", verb(false)),
        ["v2", "apis", _, kind] if method == "GET" => format!("Get{}s", singular(kind)),
        ["v2", "apis", _, kind] => format!("{}{}", verb(true), singular(kind)),
        ["v2", "apis", _, kind, _] => format!("{}{}", verb(false), singular(kind)),
        ["v2", "tags", _] if method == "POST" => "TagResource".into(),
        ["v2", "tags", _] if method == "GET" => "GetTags".into(),
        ["v2", "tags", _] if method == "DELETE" => "UntagResource".into(),
        _ => return None,
    })
}

fn sesv2_operation(method: &str, segs: &[&str]) -> Option<String> {
    let camel = |s: &str| -> String {
        s.split('-')
            .map(|w| {
                let mut w = w.to_string();
                if let Some(f) = w.get_mut(0..1) {
                    f.make_ascii_uppercase();
                }
                w
            })
            .collect()
    };
    Some(match (method, segs) {
        ("GET", ["v2", "email", "identities"]) | ("POST", ["v2", "email", "list-identities"]) => {
            "ListEmailIdentities".into()
        }
        ("POST", ["v2", "email", "identities"]) => "CreateEmailIdentity".into(),
        ("GET", ["v2", "email", "identities", _]) => "GetEmailIdentity".into(),
        ("DELETE", ["v2", "email", "identities", _]) => "DeleteEmailIdentity".into(),
        ("PUT", ["v2", "email", "identities", _, sub]) => format!("PutEmailIdentity{}", camel(sub)),
        ("POST", ["v2", "email", "tags"]) => "TagResource".into(),
        ("GET", ["v2", "email", "tags"]) => "ListTagsForResource".into(),
        ("DELETE", ["v2", "email", "tags"]) => "UntagResource".into(),
        ("POST", ["v2", "email", "outbound-emails"]) => "SendEmail".into(),
        _ => return None,
    })
}

/// Lambda's function name from a path `/…/functions/<name or ARN>[:qualifier]/…`.
pub fn lambda_function_in_path(path: &str) -> Option<String> {
    let mut segs = path.split('?').next()?.split('/');
    segs.find(|s| *s == "functions")?;
    let raw = url_decode(segs.next()?);
    Some(function_name(&raw))
}

/// `arn:aws:lambda:<region>:<account>:function:<name>[:qualifier]` or a bare name → the name.
pub fn function_name(raw: &str) -> String {
    match raw.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest).to_string(),
        None => raw.split(':').next().unwrap_or(raw).to_string(),
    }
}

/// The queue name at the end of a queue URL (or a bare name).
pub fn queue_name(url_or_name: &str) -> String {
    url_or_name
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(url_or_name)
        .to_string()
}

/// Which protocol a service answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Json10,
    /// JSON 1.0 with the awsQueryCompatible `x-amzn-query-error` header (SQS).
    Json10QueryCompatible,
    Json11,
    RestJson,
    QueryXml,
    /// Smithy RPC v2 CBOR: errors as a CBOR map with `__type` (CloudWatch).
    RpcV2Cbor,
    /// REST-XML: `<Error><Code>` documents (S3; HEAD responses carry no body at all).
    RestXml,
}

pub fn protocol(service: &str) -> Protocol {
    match service {
        "dynamodb" => Protocol::Json10,
        "sqs" => Protocol::Json10QueryCompatible,
        // EventBridge; the Resource Groups Tagging API (`GetResources`) too.
        "events" | "tagging" | "logs" => Protocol::Json11,
        // CloudWatch (signing name `monitoring`).
        "monitoring" => Protocol::RpcV2Cbor,
        "iam" | "sns" | "sts" => Protocol::QueryXml,
        "s3" => Protocol::RestXml,
        _ => Protocol::RestJson,
    }
}

/// An AWS error as one service spells it.
#[derive(Debug, Clone)]
pub struct AwsError {
    pub status: u16,
    /// The code the SDK surfaces (`ProvideErrorMetadata::code`).
    pub code: String,
    /// JSON `__type` shape name when it differs from the code (SQS: `QueueDeletedRecently`
    /// for the query code `AWS.SimpleQueueService.QueueDeletedRecently`).
    pub shape: Option<String>,
    pub message: String,
    /// `Sender` (the caller's fault) or `Receiver` (the service's).
    pub fault: &'static str,
    /// Extra REST-JSON body fields (Lambda's `Type`, `Reason`…).
    pub extra: Vec<(&'static str, String)>,
    pub retry_after: Option<u32>,
}

impl AwsError {
    pub fn new(status: u16, code: &str, message: &str) -> AwsError {
        AwsError {
            status,
            code: code.into(),
            shape: None,
            message: message.into(),
            fault: if status >= 500 { "Receiver" } else { "Sender" },
            extra: Vec::new(),
            retry_after: None,
        }
    }
}

fn json_escape(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The HTTP response `service` answers `err` with.
pub fn error_response(service: &str, err: &AwsError, request_id: &str) -> Response<Full<Bytes>> {
    let mut b = Response::builder()
        .status(StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_REQUEST))
        .header("x-amzn-RequestId", request_id);
    if let Some(s) = err.retry_after {
        b = b.header("Retry-After", s.to_string());
    }
    if protocol(service) == Protocol::RpcV2Cbor {
        let body = cbor_text_map(&[("__type", &err.code), ("message", &err.message)]);
        return b
            .header("Content-Type", "application/cbor")
            .header("smithy-protocol", "rpc-v2-cbor")
            .body(Full::new(Bytes::from(body)))
            .expect("a valid error response");
    }
    let body = match protocol(service) {
        Protocol::Json10 | Protocol::Json11 | Protocol::Json10QueryCompatible => {
            let proto = protocol(service);
            let ct = if proto == Protocol::Json11 {
                "application/x-amz-json-1.1"
            } else {
                "application/x-amz-json-1.0"
            };
            b = b.header("Content-Type", ct);
            let shape = err.shape.clone().unwrap_or_else(|| err.code.clone());
            let typ = match service {
                "dynamodb" => format!("com.amazonaws.dynamodb.v20120810#{shape}"),
                "sqs" => format!("com.amazonaws.sqs#{shape}"),
                _ => shape,
            };
            if proto == Protocol::Json10QueryCompatible {
                b = b.header("x-amzn-query-error", format!("{};{}", err.code, err.fault));
            }
            format!(
                "{{\"__type\":{},\"message\":{}}}",
                json_escape(&typ),
                json_escape(&err.message)
            )
        }
        Protocol::RestJson => {
            b = b
                .header("Content-Type", "application/json")
                .header("X-Amzn-ErrorType", err.code.as_str());
            let mut fields = vec![format!("\"message\":{}", json_escape(&err.message))];
            for (k, v) in &err.extra {
                fields.push(format!("{}:{}", json_escape(k), json_escape(v)));
            }
            format!("{{{}}}", fields.join(","))
        }
        Protocol::RpcV2Cbor => unreachable!("answered above"),
        Protocol::RestXml => {
            b = b
                .header("Content-Type", "application/xml")
                .header("x-amz-request-id", request_id);
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><RequestId>{request_id}</RequestId></Error>",
                xml_escape(&err.code),
                xml_escape(&err.message)
            )
        }
        Protocol::QueryXml => {
            b = b.header("Content-Type", "text/xml");
            let ns = match service {
                "iam" => "https://iam.amazonaws.com/doc/2010-05-08/",
                "sns" => "http://sns.amazonaws.com/doc/2010-03-31/",
                _ => "https://sts.amazonaws.com/doc/2011-06-15/",
            };
            format!(
                "<ErrorResponse xmlns=\"{ns}\">\n  <Error>\n    <Type>{}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
                err.fault,
                xml_escape(&err.code),
                xml_escape(&err.message)
            )
        }
    };
    b.body(Full::new(Bytes::from(body)))
        .expect("a valid error response")
}

/// A CBOR map of text keys to text values (RFC 8949: major types 5 and 3).
fn cbor_text_map(entries: &[(&str, &str)]) -> Vec<u8> {
    fn head(out: &mut Vec<u8>, major: u8, len: usize) {
        match len {
            0..=23 => out.push(major << 5 | len as u8),
            24..=0xff => out.extend([major << 5 | 24, len as u8]),
            _ => {
                out.push(major << 5 | 25);
                out.extend((len as u16).to_be_bytes());
            }
        }
    }
    let mut out = Vec::new();
    head(&mut out, 5, entries.len());
    for (k, v) in entries {
        for text in [k, v] {
            head(&mut out, 3, text.len());
            out.extend(text.as_bytes());
        }
    }
    out
}

/// Throttling as each service documents it.
pub fn throttling(service: &str) -> AwsError {
    match service {
        // Lambda: 429 TooManyRequestsException with Retry-After and a Reason.
        "lambda" => {
            let mut e = AwsError::new(429, "TooManyRequestsException", "Rate exceeded");
            e.extra = vec![
                ("Type", "User".into()),
                ("Reason", "CallerRateLimitExceeded".into()),
            ];
            e.retry_after = Some(1);
            e
        }
        "apigateway" | "ses" => AwsError::new(429, "TooManyRequestsException", "Too Many Requests"),
        // S3: 503 SlowDown.
        "s3" => AwsError::new(503, "SlowDown", "Please reduce your request rate."),
        // Query APIs: the common error `Throttling` (400).
        "iam" | "sns" | "sts" => AwsError::new(400, "Throttling", "Rate exceeded"),
        // SQS: query code RequestThrottled, JSON shape RequestThrottled.
        "sqs" => AwsError::new(400, "RequestThrottled", "Request is throttled."),
        // Resource Groups Tagging API: ThrottledException (400).
        "tagging" => AwsError::new(400, "ThrottledException", "Rate exceeded"),
        "dynamodb" => AwsError::new(
            400,
            "ThrottlingException",
            "Rate of requests exceeds the allowed throughput.",
        ),
        _ => AwsError::new(400, "ThrottlingException", "Rate exceeded"),
    }
}

/// A server-side failure: `unavailable` → 503 ServiceUnavailable, else 500 with the service's
/// internal-error code.
pub fn server_error(service: &str, unavailable: bool) -> AwsError {
    if unavailable {
        let mut e = AwsError::new(
            503,
            "ServiceUnavailable",
            "Service is unavailable. Try again later.",
        );
        if service == "lambda" {
            e.extra = vec![("Type", "Service".into())];
        }
        return e;
    }
    match service {
        "iam" => AwsError::new(
            500,
            "ServiceFailure",
            "The request processing has failed because of an unknown error, exception or failure.",
        ),
        "dynamodb" => AwsError::new(500, "InternalServerError", "Internal server error"),
        "lambda" => {
            let mut e = AwsError::new(
                500,
                "ServiceException",
                "The AWS Lambda service encountered an internal error.",
            );
            e.extra = vec![("Type", "Service".into())];
            e
        }
        "sqs" | "sns" | "s3" => AwsError::new(
            500,
            "InternalError",
            "We encountered an internal error. Please try again.",
        ),
        _ => AwsError::new(
            500,
            "InternalFailure",
            "The request processing has failed because of an unknown error, exception or failure.",
        ),
    }
}

/// Lambda's 400 InvalidParameterValueException.
pub fn lambda_invalid_parameter(message: &str) -> AwsError {
    let mut e = AwsError::new(400, "InvalidParameterValueException", message);
    e.extra = vec![("Type", "User".into())];
    e
}

/// Lambda's 409 ResourceConflictException.
pub fn lambda_conflict(message: &str) -> AwsError {
    let mut e = AwsError::new(409, "ResourceConflictException", message);
    e.extra = vec![("Type", "User".into())];
    e
}

/// Lambda's 400 ResourceInUseException (an event source mapping in a transitional state).
pub fn lambda_in_use(message: &str) -> AwsError {
    let mut e = AwsError::new(400, "ResourceInUseException", message);
    e.extra = vec![("Type", "User".into())];
    e
}

/// SQS CreateQueue within 60 s of deleting the same name.
pub fn queue_deleted_recently() -> AwsError {
    let mut e = AwsError::new(
        400,
        "AWS.SimpleQueueService.QueueDeletedRecently",
        "You must wait 60 seconds after deleting a queue before you can create another queue with the same name.",
    );
    e.shape = Some("QueueDeletedRecently".into());
    e
}
