//! The HTTP side of the order API (feature `http`), shared by submit-order and get-order: API
//! Gateway HTTP API (payload format 2.0) requests and responses, JSON bodies and RFC 9457
//! problem documents (`application/problem+json`).

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderName, HeaderValue, Method};
use base64::Engine as _;
use serde::Serialize;

use crate::{Reason, Violation};

pub const JSON: &str = "application/json";
pub const PROBLEM_JSON: &str = "application/problem+json";
/// `Retry-After` (seconds) of a 503: the dependencies' own retries already ran, so a client
/// waits a little before trying again.
pub const RETRY_AFTER_SECONDS: u32 = 1;
/// Prefix of every problem `type`: a URN, so it names the problem without pretending to be
/// a page one can fetch.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:orderflow:problem:";

/// One entry of a problem's `errors`: a stable code, a message, and the JSON Pointer of the
/// offending value when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProblemError {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl ProblemError {
    pub fn new(code: impl Into<String>, message: impl Into<String>, path: Option<&str>) -> Self {
        ProblemError {
            code: code.into(),
            message: message.into(),
            path: path.map(str::to_owned),
        }
    }
}

impl From<&Violation> for ProblemError {
    fn from(violation: &Violation) -> Self {
        ProblemError {
            code: violation.reason.code.as_str().to_owned(),
            message: violation.reason.message.clone(),
            path: violation.path.clone(),
        }
    }
}

impl From<&Reason> for ProblemError {
    fn from(reason: &Reason) -> Self {
        ProblemError {
            code: reason.code.as_str().to_owned(),
            message: reason.message.clone(),
            path: None,
        }
    }
}

/// An RFC 9457 problem document, plus `errors` listing every problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemError>,
}

impl Problem {
    /// `slug` names the problem type (`urn:orderflow:problem:<slug>`).
    pub fn new(status: u16, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Problem {
            problem_type: format!("{PROBLEM_TYPE_PREFIX}{slug}"),
            title: title.to_owned(),
            status,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    pub fn with_errors(mut self, errors: Vec<ProblemError>) -> Self {
        self.errors = errors;
        self
    }

    /// 503 for a failed dependency; the response carries `Retry-After`. `what` says what could
    /// not be done, in the client's terms (internals go to the log, not to the client).
    pub fn unavailable(what: &str) -> Self {
        Problem::new(
            503,
            "dependency-unavailable",
            "Service temporarily unavailable",
            format!("{what}; retry later (with the same Idempotency-Key when submitting)"),
        )
    }

    /// The response: the document as `application/problem+json`, with `Retry-After` on a 503.
    pub fn into_response(self) -> ApiGatewayV2httpResponse {
        let status = self.status;
        let body = serde_json::to_string(&self).unwrap_or_default();
        let mut response = response(status, PROBLEM_JSON, body);
        if status == 503 {
            set_header(
                &mut response,
                "retry-after",
                &RETRY_AFTER_SECONDS.to_string(),
            );
        }
        response
    }
}

/// A failed call to DynamoDB or EventBridge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed: {message}")]
pub struct DependencyError {
    /// e.g. "DynamoDB PutItem".
    pub operation: &'static str,
    pub message: String,
}

/// `body` serialized as JSON with `status`.
pub fn json_response(status: u16, body: &impl Serialize) -> ApiGatewayV2httpResponse {
    response(
        status,
        JSON,
        serde_json::to_string(body).unwrap_or_default(),
    )
}

fn response(status: u16, content_type: &str, body: String) -> ApiGatewayV2httpResponse {
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(status);
    response.body = Some(Body::Text(body));
    response.is_base64_encoded = false;
    set_header(&mut response, "content-type", content_type);
    set_header(&mut response, "cache-control", "no-store");
    response
}

/// Sets a response header; a value that is not a valid header value is left out (callers only
/// pass ASCII built from validated parts).
pub fn set_header(response: &mut ApiGatewayV2httpResponse, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response
            .headers
            .insert(HeaderName::from_static(name), value);
    }
}

/// `Ok` when the request uses `allowed`; otherwise the 405 response (with `Allow`). API Gateway
/// routes only the declared method to the function, so this guards direct invocations and
/// misrouted routes.
pub fn require_method(
    request: &ApiGatewayV2httpRequest,
    allowed: Method,
) -> Result<(), Box<ApiGatewayV2httpResponse>> {
    let method = &request.request_context.http.method;
    if *method == allowed {
        return Ok(());
    }
    let mut response = Problem::new(
        405,
        "method-not-allowed",
        "Method not allowed",
        format!("{method} is not supported here; use {allowed}"),
    )
    .into_response();
    set_header(&mut response, "allow", allowed.as_str());
    Err(Box::new(response))
}

/// API Gateway's id of the request, for logs.
pub fn request_id(request: &ApiGatewayV2httpRequest) -> Option<&str> {
    request.request_context.request_id.as_deref()
}

/// A request header (names are case-insensitive); `None` when absent or not visible ASCII.
pub fn header<'a>(request: &'a ApiGatewayV2httpRequest, name: &str) -> Option<&'a str> {
    request.headers.get(name)?.to_str().ok()
}

/// Whether a `Content-Type` value is JSON: `application/json`, case-insensitive, with optional
/// parameters; a `charset` must be UTF-8 (RFC 8259: JSON is UTF-8).
pub fn is_json_content_type(value: &str) -> bool {
    let mut parts = value.split(';');
    let media_type = parts.next().unwrap_or_default().trim();
    if !media_type.eq_ignore_ascii_case(JSON) {
        return false;
    }
    parts.all(|parameter| match parameter.split_once('=') {
        Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
            let charset = value.trim().trim_matches('"');
            charset.eq_ignore_ascii_case("utf-8") || charset.eq_ignore_ascii_case("utf8")
        }
        Some(_) => true,
        // A bare token is not a parameter; an empty one is a trailing ';'.
        None => parameter.trim().is_empty(),
    })
}

/// Why a request body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Over the limit (after base64 decoding).
    TooLarge { limit: usize },
    /// `isBase64Encoded` but not base64.
    NotBase64,
}

/// The request body's bytes, at most `limit` of them. A base64-encoded body
/// (`isBase64Encoded`) is decoded first; one whose encoding alone proves it too large is not
/// decoded at all. No body is an empty one.
pub fn body_bytes(request: &ApiGatewayV2httpRequest, limit: usize) -> Result<Vec<u8>, BodyError> {
    let raw = request.body.as_deref().unwrap_or_default();
    if !request.is_base64_encoded {
        if raw.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        return Ok(raw.as_bytes().to_vec());
    }
    // Four characters encode three bytes; ignore whitespace that proxies may insert.
    let encoded: String = raw.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if encoded.len() > limit.div_ceil(3) * 4 {
        return Err(BodyError::TooLarge { limit });
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.as_bytes())
        .map_err(|_| BodyError::NotBase64)?;
    if bytes.len() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(bytes)
}

/// The absolute URL of `path` (starting with `/`) on the API the request came through:
/// `https://<domainName>[/<stage>]<path>`, the stage left out when it is `$default` (served at
/// the root). Without a domain name (a direct invocation), the path alone.
pub fn resource_url(request: &ApiGatewayV2httpRequest, path: &str) -> String {
    let context = &request.request_context;
    let origin = context
        .domain_name
        .as_deref()
        .filter(|domain| !domain.is_empty())
        .map(|domain| format!("https://{domain}"))
        .unwrap_or_default();
    let stage = context
        .stage
        .as_deref()
        .filter(|stage| !stage.is_empty() && *stage != "$default")
        .map(|stage| format!("/{stage}"))
        .unwrap_or_default();
    format!("{origin}{stage}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ReasonCode;
    use serde_json::{json, Value};

    fn request(value: Value) -> ApiGatewayV2httpRequest {
        serde_json::from_value(value).unwrap()
    }

    fn base(extra: Value) -> ApiGatewayV2httpRequest {
        let mut value = json!({
            "version": "2.0",
            "routeKey": "POST /orders",
            "rawPath": "/orders",
            "rawQueryString": "",
            "headers": {"content-type": "application/json"},
            "requestContext": {
                "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com",
                "domainPrefix": "api", "requestId": "r", "routeKey": "POST /orders",
                "stage": "$default", "time": "01/Jan/2025:00:00:00 +0000", "timeEpoch": 0,
                "http": {"method": "POST", "path": "/orders", "protocol": "HTTP/1.1",
                         "sourceIp": "192.0.2.1", "userAgent": "t"}
            },
            "isBase64Encoded": false
        });
        for (key, v) in extra.as_object().unwrap() {
            value[key] = v.clone();
        }
        request(value)
    }

    fn body_text(response: &ApiGatewayV2httpResponse) -> Value {
        match &response.body {
            Some(Body::Text(text)) => serde_json::from_str(text).unwrap(),
            other => panic!("expected a text body, got {other:?}"),
        }
    }

    #[test]
    fn problem_documents() {
        let violation = Violation {
            reason: Reason::new(ReasonCode::TotalMismatch, "m"),
            path: Some("/total_minor".into()),
        };
        let response = Problem::new(400, "invalid-order", "Invalid order", "1 problem")
            .with_errors(vec![ProblemError::from(&violation)])
            .into_response();
        assert_eq!(response.status_code, 400);
        assert_eq!(response.headers["content-type"], PROBLEM_JSON);
        assert!(response.headers.get("retry-after").is_none());
        assert_eq!(
            body_text(&response),
            json!({"type": "urn:orderflow:problem:invalid-order", "title": "Invalid order",
                   "status": 400, "detail": "1 problem",
                   "errors": [{"code": "total_mismatch", "message": "m", "path": "/total_minor"}]})
        );
        let unavailable = Problem::unavailable("the order could not be recorded").into_response();
        assert_eq!(unavailable.status_code, 503);
        assert_eq!(unavailable.headers["retry-after"], "1");
        assert!(body_text(&unavailable).get("errors").is_none());
    }

    #[test]
    fn json_responses() {
        let response = json_response(202, &json!({"a": 1}));
        assert_eq!(response.status_code, 202);
        assert_eq!(response.headers["content-type"], JSON);
        assert_eq!(body_text(&response), json!({"a": 1}));
        let serialized = serde_json::to_value(&response).unwrap();
        assert_eq!(serialized["statusCode"], 202);
        assert_eq!(serialized["headers"]["content-type"], JSON);
        assert_eq!(serialized["isBase64Encoded"], false);
    }

    #[test]
    fn content_types() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=UTF-8",
            "application/json; charset=\"utf-8\"",
            "application/json;",
        ] {
            assert!(is_json_content_type(ok), "{ok}");
        }
        for bad in [
            "",
            "text/plain",
            "application/xml",
            "application/json-patch+json",
            "application/jsonx",
            "application/json; charset=iso-8859-1",
            "application/json; nonsense",
            "text/json",
        ] {
            assert!(!is_json_content_type(bad), "{bad}");
        }
    }

    #[test]
    fn bodies_and_their_limits() {
        let plain = base(json!({"body": "{\"a\":1}"}));
        assert_eq!(body_bytes(&plain, 64).unwrap(), b"{\"a\":1}");
        assert_eq!(body_bytes(&plain, 3), Err(BodyError::TooLarge { limit: 3 }));
        let none = base(json!({}));
        assert_eq!(body_bytes(&none, 10).unwrap(), b"");

        let encoded = base64::engine::general_purpose::STANDARD.encode(b"{\"a\":1}");
        let b64 = base(json!({"body": encoded, "isBase64Encoded": true}));
        assert_eq!(body_bytes(&b64, 7).unwrap(), b"{\"a\":1}");
        assert_eq!(body_bytes(&b64, 6), Err(BodyError::TooLarge { limit: 6 }));
        // Exactly at the limit once decoded, although the encoding is longer.
        let at_limit = base64::engine::general_purpose::STANDARD.encode(vec![b' '; 64 * 1024]);
        let big = base(json!({"body": at_limit, "isBase64Encoded": true}));
        assert_eq!(body_bytes(&big, 64 * 1024).unwrap().len(), 64 * 1024);
        assert_eq!(
            body_bytes(&big, 64 * 1024 - 1),
            Err(BodyError::TooLarge {
                limit: 64 * 1024 - 1
            })
        );
        let broken = base(json!({"body": "not base64!", "isBase64Encoded": true}));
        assert_eq!(body_bytes(&broken, 100), Err(BodyError::NotBase64));
    }

    #[test]
    fn resource_urls_follow_the_request_context() {
        let default_stage = base(json!({}));
        assert_eq!(
            resource_url(&default_stage, "/orders/ord-1"),
            "https://api.example.com/orders/ord-1"
        );
        let mut named = base(json!({}));
        named.request_context.stage = Some("prod".into());
        assert_eq!(
            resource_url(&named, "/orders/ord-1"),
            "https://api.example.com/prod/orders/ord-1"
        );
        named.request_context.domain_name = None;
        assert_eq!(resource_url(&named, "/orders/ord-1"), "/prod/orders/ord-1");
    }

    #[test]
    fn only_the_allowed_method_passes() {
        let post = base(json!({}));
        assert!(require_method(&post, Method::POST).is_ok());
        let refused = require_method(&post, Method::GET).unwrap_err();
        assert_eq!(refused.status_code, 405);
        assert_eq!(refused.headers["allow"], "GET");
        assert_eq!(refused.headers["content-type"], PROBLEM_JSON);
        assert_eq!(request_id(&post), Some("r"));
    }

    #[test]
    fn request_headers_are_case_insensitive() {
        let request = base(json!({"headers": {"Idempotency-Key": "k-1", "content-type": "x"}}));
        assert_eq!(header(&request, "idempotency-key"), Some("k-1"));
        assert_eq!(header(&request, "Content-Type"), Some("x"));
        assert_eq!(header(&request, "missing"), None);
    }
}
