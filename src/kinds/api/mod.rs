//! `apis:` — API Gateway HTTP APIs `<stack>-<api>`: each declared route sends its requests to a
//! function (Lambda proxy integration, payload format 2.0).
//!
//! An API contributes three kinds of resources:
//! - [`Kind::Api`] — the API with its `$default` stage (auto-deployed, default route throttling),
//!   CORS configuration and tags ([`ApiProvider`]);
//! - [`Kind::ApiRoute`] — per route, the route and the integration it targets
//!   ([`RouteProvider`]); routes and integrations take no tags: they are owned because their API
//!   is;
//! - [`Kind::ApiPermission`] — per route, the statement on the function's resource policy that
//!   lets API Gateway invoke it for that route only ([`ApiPermissionProvider`]).
//!
//! The API is referable: `${apis.<name>.url}` is the invoke URL of its `$default` stage.

mod create;
pub(crate) mod permission;
pub(crate) mod provider;
pub(crate) mod route;

pub use permission::ApiPermissionProvider;
pub use provider::ApiProvider;
pub use route::RouteProvider;

use std::fmt;
use std::ops::Range;

use super::{Kind, KindSpec, Section, Spec};
use crate::resources::ResourceId;
use crate::spec::decode::{Checker, Fields};
use crate::spec::schema::{Field, NameLimit, Type};
use crate::spec::yaml::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct Api {
    pub description: Option<String>,
    /// Default route throttling of the `$default` stage.
    pub throttling: Option<Throttling>,
    pub cors: Option<Cors>,
    /// At least one; route keys are unique and match disjoint requests.
    pub routes: Vec<ApiRoute>,
}

/// Stage-wide default route throttling. Both limits are required: stages with one limit set
/// have been reported to treat the other as 0, rejecting every request, rather than as "the
/// account-level limit"; with both given nothing is left to guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttling {
    /// Steady-state requests per second.
    pub rate_limit: u32,
    /// Requests accepted at once (token bucket size).
    pub burst_limit: u32,
}

/// The API's CORS configuration, as written (normalised by the provider).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cors {
    pub allow_origins: Vec<String>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    /// Seconds browsers may cache a preflight answer.
    pub max_age: Option<u32>,
    pub allow_credentials: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiRoute {
    pub route: RouteKey,
    /// Logical name of the function the route invokes.
    pub function: String,
    pub authorization: Authorization,
    /// Integration timeout, 1..=30 seconds (default 30, AWS's default for HTTP APIs).
    pub timeout_secs: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorization {
    /// Anyone may call the route.
    None,
    /// Callers sign requests with SigV4; IAM decides.
    AwsIam,
}

impl Authorization {
    /// The route's `AuthorizationType`.
    pub fn as_aws(self) -> &'static str {
        match self {
            Authorization::None => "NONE",
            Authorization::AwsIam => "AWS_IAM",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
    Any,
}

impl HttpMethod {
    pub const ALL: [HttpMethod; 8] = [
        HttpMethod::Get,
        HttpMethod::Post,
        HttpMethod::Put,
        HttpMethod::Patch,
        HttpMethod::Delete,
        HttpMethod::Head,
        HttpMethod::Options,
        HttpMethod::Any,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Head => "HEAD",
            HttpMethod::Options => "OPTIONS",
            HttpMethod::Any => "ANY",
        }
    }

    pub fn parse(text: &str) -> Option<HttpMethod> {
        HttpMethod::ALL.into_iter().find(|m| m.as_str() == text)
    }

    /// The method as it appears in an execute-api ARN: requests to an `ANY` route carry their
    /// own method there, so the ARN of the route matches every method.
    pub fn arn_method(self) -> &'static str {
        match self {
            HttpMethod::Any => "*",
            m => m.as_str(),
        }
    }
}

/// A route key: `METHOD /path`, where the path's segments are literals, `{name}` parameters
/// or, last only, a greedy `{name+}` parameter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteKey {
    pub method: HttpMethod,
    /// Starts with `/`.
    pub path: String,
}

impl fmt::Display for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method.as_str(), self.path)
    }
}

/// What is wrong with a route key, and where in it (bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteKeyError {
    pub message: String,
    pub range: Range<usize>,
    pub help: Option<String>,
}

fn key_error(message: impl Into<String>, range: Range<usize>, help: Option<&str>) -> RouteKeyError {
    RouteKeyError {
        message: message.into(),
        range,
        help: help.map(str::to_string),
    }
}

/// Characters of a literal path segment: RFC 3986 unreserved ones, plus `:` and `@`.
fn is_literal_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | ':' | '@')
}

/// `[A-Za-z_][A-Za-z0-9_-]*`
fn is_param_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl RouteKey {
    /// Parse `METHOD /path`.
    pub fn parse(text: &str) -> Result<RouteKey, RouteKeyError> {
        let whole = 0..text.len().max(1);
        if text == "$default" {
            return Err(key_error(
                "the catch-all route `$default` is not supported",
                whole,
                Some("declare the requests the API serves, e.g. `ANY /{proxy+}` for every path"),
            ));
        }
        let Some((method_text, path)) = text.split_once(' ') else {
            return Err(key_error(
                format!("expected a route key `METHOD /path`, got {text:?}"),
                whole,
                Some("e.g. \"POST /orders\" or \"GET /orders/{order_id}\""),
            ));
        };
        let Some(method) = HttpMethod::parse(method_text) else {
            let upper = method_text.to_ascii_uppercase();
            let names: Vec<&str> = HttpMethod::ALL.iter().map(|m| m.as_str()).collect();
            let help = match HttpMethod::parse(&upper) {
                Some(m) => format!("methods are upper case: {}", m.as_str()),
                None => format!("methods: {}", names.join(", ")),
            };
            return Err(RouteKeyError {
                message: format!("unknown method {method_text:?}"),
                range: 0..method_text.len().max(1),
                help: Some(help),
            });
        };
        let offset = method_text.len() + 1;
        check_path(path).map_err(|mut e| {
            e.range = e.range.start + offset..e.range.end + offset;
            e
        })?;
        Ok(RouteKey {
            method,
            path: path.to_string(),
        })
    }

    /// The path with parameter names erased: two routes of the same method and shape match the
    /// same requests whatever their parameters are called.
    fn shape(&self) -> String {
        let segments: Vec<&str> = self
            .path
            .split('/')
            .map(|s| match s.strip_prefix('{') {
                Some(p) if p.ends_with("+}") => "{+}",
                Some(_) => "{}",
                None => s,
            })
            .collect();
        format!("{} {}", self.method.as_str(), segments.join("/"))
    }

    /// What follows `arn:…:execute-api:<region>:<account>:<api id>/` in the ARN of requests to
    /// this route, for any stage: `*/POST/orders/{order_id}`.
    pub fn source_arn_suffix(&self) -> String {
        format!("*/{}{}", self.method.arn_method(), self.path)
    }

    /// The route key of an execute-api source ARN suffix made by [`Self::source_arn_suffix`].
    pub fn from_source_arn_suffix(suffix: &str) -> Option<RouteKey> {
        let (stage, rest) = suffix.split_once('/')?;
        if stage != "*" {
            return None;
        }
        let (method, path) = match rest.split_once('/') {
            Some((m, p)) => (m, format!("/{p}")),
            None => (rest, "/".to_string()),
        };
        let method = if method == "*" { "ANY" } else { method };
        RouteKey::parse(&format!("{method} {path}")).ok()
    }
}

/// A route's path: `/`, or `/`-separated non-empty segments, each a literal, a `{name}`
/// parameter, or (last only) a greedy `{name+}` parameter; no parameter name twice.
fn check_path(path: &str) -> Result<(), RouteKeyError> {
    if !path.starts_with('/') {
        return Err(key_error(
            format!("the path must start with `/`, got {path:?}"),
            0..path.len().max(1),
            None,
        ));
    }
    if path == "/" {
        return Ok(());
    }
    let segments: Vec<&str> = path[1..].split('/').collect();
    let mut params: Vec<&str> = Vec::new();
    let mut start = 1;
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        let range = start..start + segment.len();
        if segment.is_empty() {
            return Err(if last {
                key_error(
                    "the path must not end with `/`",
                    start - 1..start,
                    Some("remove the trailing `/`"),
                )
            } else {
                key_error("empty path segment (`//`)", start - 1..start + 1, None)
            });
        }
        if let Some(inner) = segment.strip_prefix('{') {
            let Some(inner) = inner.strip_suffix('}') else {
                return Err(key_error(
                    format!("a path parameter is a whole segment `{{name}}`, got {segment:?}"),
                    range,
                    None,
                ));
            };
            let (name, greedy) = match inner.strip_suffix('+') {
                Some(name) => (name, true),
                None => (inner, false),
            };
            if !is_param_name(name) {
                return Err(key_error(
                    format!("invalid path parameter name {name:?}"),
                    range,
                    Some("parameter names start with a letter or `_` and contain letters, digits, `_` and `-`"),
                ));
            }
            if greedy && !last {
                return Err(key_error(
                    format!(
                        "the greedy parameter `{{{name}+}}` must be the last segment of the path"
                    ),
                    range,
                    None,
                ));
            }
            if params.contains(&name) {
                return Err(key_error(
                    format!("path parameter `{name}` appears twice"),
                    range,
                    None,
                ));
            }
            params.push(name);
        } else if let Some((at, bad)) = segment.char_indices().find(|(_, c)| !is_literal_char(*c)) {
            let help = matches!(bad, '{' | '}')
                .then_some("a path parameter is a whole segment, e.g. /orders/{order_id}");
            let from = start + at;
            return Err(key_error(
                format!("`{bad}` is not allowed in a route path"),
                from..from + bad.len_utf8(),
                help.or(Some("literal segments use letters, digits and - . _ ~ : @")),
            ));
        }
        start += segment.len() + 1;
    }
    Ok(())
}

/// Longest logical API name: it is part of the Lambda statement id of each route's permission
/// (`orderflow-api-<api>-<16 hex digits>`), and statement ids are at most 100 characters.
pub(crate) const MAX_API_NAME: usize = 100 - permission::SID_PREFIX.len() - 1 - 16;

/// API Gateway's limit on API descriptions.
const MAX_DESCRIPTION: usize = 1024;
/// The most an HTTP API waits for an integration; a function with a longer timeout would keep
/// running after API Gateway has answered 503.
pub(crate) const MAX_INTEGRATION_TIMEOUT: u32 = 30;

const DESCRIPTION: Field = Field::string("description", "At most 1024 characters.");
const RATE_LIMIT: Field = Field::integer(
    "rate_limit",
    0,
    10_000,
    " requests per second",
    None,
    "Steady-state requests per second across the API (AWS's default account quota is 10000).",
)
.required();
const BURST_LIMIT: Field = Field::integer(
    "burst_limit",
    0,
    5_000,
    " requests",
    None,
    "Requests accepted at once above the steady rate (AWS's default account burst is 5000).",
)
.required();
const THROTTLING: Field = Field::mapping(
    "throttling",
    &[RATE_LIMIT, BURST_LIMIT],
    "Default route throttling of the `$default` stage (both keys); absent: the account-level limits.",
);
// Lists of strings, read item by item with `string_list`.
const ALLOW_ORIGINS: Field = Field::new(
    "allow_origins",
    Type::Strings,
    "List of origins: `https://host[:port]`, `*`, `https://*` or `http://*`.",
)
.required();
const ALLOW_METHODS: Field = Field::new(
    "allow_methods",
    Type::Strings,
    "List of methods (GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS) or `*`.",
);
const ALLOW_HEADERS: Field = Field::new(
    "allow_headers",
    Type::Strings,
    "List of request header names browsers may send, or `*`.",
);
const EXPOSE_HEADERS: Field = Field::new(
    "expose_headers",
    Type::Strings,
    "List of response header names scripts may read, or `*`.",
);
const MAX_AGE: Field = Field::integer(
    "max_age",
    0,
    86_400,
    " seconds",
    None,
    "How long browsers may cache a preflight answer.",
);
const ALLOW_CREDENTIALS: Field = Field::boolean(
    "allow_credentials",
    false,
    "Let browsers send cookies and authorization headers (not with a `*` origin).",
);
const CORS: Field = Field::mapping(
    "cors",
    &[
        ALLOW_ORIGINS,
        ALLOW_METHODS,
        ALLOW_HEADERS,
        EXPOSE_HEADERS,
        MAX_AGE,
        ALLOW_CREDENTIALS,
    ],
    "The API's CORS configuration; API Gateway answers preflight requests itself.",
);
const ROUTE: Field = Field::string(
    "route",
    "Route key `METHOD /path`: GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or ANY, then the path.",
)
.required();
const FUNCTION: Field = Field::name(
    "function",
    Section::Function,
    "Logical name of the function that serves the route.",
)
.required();
const AUTHORIZATION: Field = Field::choice(
    "authorization",
    &["none", "aws_iam"],
    Some("none"),
    "`none` (anyone may call) or `aws_iam` (SigV4-signed requests, allowed by IAM).",
);
const TIMEOUT: Field = Field::integer(
    "timeout",
    1,
    MAX_INTEGRATION_TIMEOUT,
    " seconds",
    Some(MAX_INTEGRATION_TIMEOUT),
    "Integration timeout; at least the function's timeout.",
);
const ROUTES: Field = Field::list(
    "routes",
    &[ROUTE, FUNCTION, AUTHORIZATION, TIMEOUT],
    "One or more routes, each sent to a function.",
)
.required();

impl KindSpec for Api {
    const SECTION: Section = Section::Api;
    const SINGULAR: &'static str = "api";
    const DOC: &'static str = "HTTP APIs (API Gateway v2) with routes sent to functions, a `$default` stage, CORS and throttling.";
    const RESOURCE: Kind = Kind::Api;
    const FIELDS: &'static [Field] = &[DESCRIPTION, THROTTLING, CORS, ROUTES];
    const ATTRIBUTES: &'static [&'static str] = &["name", "id", "arn", "url"];
    const SHOWN_OUTPUT: Option<&'static str> = Some("url");
    const PHYSICAL_NAME: Option<NameLimit> = Some(NameLimit {
        min: 1,
        max: 128,
        what: "API Gateway API names",
    });

    fn decode(cx: &mut Checker<'_, '_>, f: &Fields<'_>, name: &str) -> Api {
        if name.chars().count() > MAX_API_NAME {
            let span = cx.key_span(&f.path);
            cx.error(
                span,
                &f.path,
                format!(
                    "API names are at most {MAX_API_NAME} characters, got {}",
                    name.chars().count()
                ),
                Some(format!(
                    "the name is part of the Lambda statement id of each route's permission (`{}<api>-<hash>`, at most 100 characters)",
                    permission::SID_PREFIX
                )),
            );
        }
        let description = super::text_at_most(cx, f, &DESCRIPTION, MAX_DESCRIPTION);
        let throttling = cx.mapping(f, &THROTTLING).and_then(|t| {
            let rate_limit = cx.int(&t, &RATE_LIMIT);
            let burst_limit = cx.int(&t, &BURST_LIMIT);
            Some(Throttling {
                rate_limit: rate_limit?,
                burst_limit: burst_limit?,
            })
        });
        let cors = cx.mapping(f, &CORS).map(|c| cors(cx, &c));
        let routes = routes(cx, f);
        Api {
            description,
            throttling,
            cors,
            routes,
        }
    }

    fn check(cx: &mut Checker<'_, '_>, spec: &Spec) {
        check_function_timeouts(cx, spec);
    }

    /// The API, and per route its route (with integration) and its invoke permission, both
    /// named `<api>/<route key>`.
    fn resources(&self, name: &str, out: &mut Vec<ResourceId>) {
        out.push(ResourceId::new(Kind::Api, name));
        for r in &self.routes {
            let id = route_resource_name(name, &r.route);
            out.push(ResourceId::new(Kind::ApiRoute, id.clone()));
            out.push(ResourceId::new(Kind::ApiPermission, id));
        }
    }
}

/// Logical name of a route's resources: `<api>/<route key>`.
pub fn route_resource_name(api: &str, key: &RouteKey) -> String {
    format!("{api}/{key}")
}

/// `<api>/<route key>` → (api, route key). API names contain no `/`.
pub fn split_route_resource_name(name: &str) -> Option<(&str, RouteKey)> {
    let (api, key) = name.split_once('/')?;
    if api.is_empty() {
        return None;
    }
    Some((api, RouteKey::parse(key).ok()?))
}

/// The declared route `key` of API `api`.
pub(crate) fn spec_route<'a>(spec: &'a Spec, api: &str, key: &RouteKey) -> Option<&'a ApiRoute> {
    spec.apis.get(api)?.routes.iter().find(|r| r.route == *key)
}

/// The `routes` list: each route key parsed (errors point into the key), each function named,
/// no two routes matching the same requests.
fn routes(cx: &mut Checker<'_, '_>, f: &Fields<'_>) -> Vec<ApiRoute> {
    if f.get(ROUTES.key).is_none() {
        cx.missing(f, ROUTES.key);
    }
    let items = cx.list(f, &ROUTES);
    let list_path = f.path_of(ROUTES.key);
    if items.is_empty() && f.get(ROUTES.key).is_some() {
        let span = cx.span_at(&list_path);
        cx.error(span, &list_path, "an API needs at least one route", None);
    }
    let mut routes = Vec::new();
    // Parsed keys so far, with their index, to find routes matching the same requests.
    let mut seen: Vec<(String, usize, RouteKey)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let rpath = format!("{list_path}[{i}]");
        let r = cx.fields(item, &rpath, item.span, ROUTES.sub_fields());
        let key_path = r.path_of(ROUTE.key);
        let key = match (cx.string(&r, &ROUTE), r.get(ROUTE.key)) {
            (Some(text), Some(node)) => match RouteKey::parse(&text) {
                Ok(key) => Some(key),
                Err(e) => {
                    let span = cx.sub_span(node, &text, e.range);
                    cx.error(span, &key_path, e.message, e.help);
                    None
                }
            },
            _ => None,
        };
        if let Some(key) = &key {
            let shape = key.shape();
            if let Some((_, first, other)) = seen.iter().find(|(s, _, _)| *s == shape) {
                let span = cx.span_at(&key_path);
                let (message, help) = if other == key {
                    (
                        format!("route `{key}` is declared twice (routes[{first}])"),
                        None,
                    )
                } else {
                    (
                        format!(
                            "route `{key}` matches the same requests as `{other}` (routes[{first}])"
                        ),
                        Some("a path parameter matches any segment, whatever its name".to_string()),
                    )
                };
                cx.error(span, &key_path, message, help);
            } else {
                seen.push((shape, i, key.clone()));
            }
        }
        let function = cx.name(&r, &FUNCTION);
        let authorization = match cx.choice_or_default(&r, &AUTHORIZATION) {
            "aws_iam" => Authorization::AwsIam,
            _ => Authorization::None,
        };
        let timeout_secs = cx.int_or_default(&r, &TIMEOUT);
        // Broken routes stay as placeholders so indices match the file.
        routes.push(ApiRoute {
            route: key.unwrap_or(RouteKey {
                method: HttpMethod::Any,
                path: "/".into(),
            }),
            function: function.unwrap_or_default(),
            authorization,
            timeout_secs,
        });
    }
    routes
}

/// The `cors` mapping.
fn cors(cx: &mut Checker<'_, '_>, c: &Fields<'_>) -> Cors {
    if c.get(ALLOW_ORIGINS.key).is_none() {
        cx.missing(c, ALLOW_ORIGINS.key);
    }
    let origins = string_list(cx, c, &ALLOW_ORIGINS, check_origin);
    let written_empty = matches!(
        c.get(ALLOW_ORIGINS.key).map(|n| &n.value),
        Some(Value::Seq(items)) if items.is_empty()
    );
    if written_empty {
        let path = c.path_of(ALLOW_ORIGINS.key);
        let span = cx.span_at(&path);
        cx.error(span, &path, "list at least one origin", None);
    }
    let values = |items: Vec<(usize, String)>| -> Vec<String> {
        items.into_iter().map(|(_, v)| v).collect()
    };
    let allow_methods = values(string_list(cx, c, &ALLOW_METHODS, check_cors_method));
    let allow_headers = values(string_list(cx, c, &ALLOW_HEADERS, check_header));
    let expose_headers = values(string_list(cx, c, &EXPOSE_HEADERS, check_header));
    let max_age = cx.int(c, &MAX_AGE);
    let allow_credentials = cx.boolean(c, &ALLOW_CREDENTIALS);
    if allow_credentials {
        if let Some((i, _)) = origins.iter().find(|(_, o)| o == "*") {
            let p = format!("{}[{i}]", c.path_of(ALLOW_ORIGINS.key));
            let span = cx.span_at(&p);
            cx.error(
                span,
                &p,
                "the origin `*` cannot be combined with allow_credentials: true",
                Some("API Gateway refuses it, and browsers reject credentialed answers that allow every origin; list the origins".into()),
            );
        }
    }
    Cors {
        allow_origins: values(origins),
        allow_methods,
        allow_headers,
        expose_headers,
        max_age,
        allow_credentials,
    }
}

/// What is wrong with a value, and a hint.
type Problem = (String, Option<String>);

/// A list of strings, each checked by `check`; problems are reported at the item. The valid
/// ones come back with their index in the file.
fn string_list(
    cx: &mut Checker<'_, '_>,
    f: &Fields<'_>,
    field: &Field,
    check: fn(&str) -> Result<(), Problem>,
) -> Vec<(usize, String)> {
    let items = cx.list(f, field);
    let path = f.path_of(field.key);
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let Some(text) = cx.string_value(item, &p) else {
            continue;
        };
        match check(&text) {
            Ok(()) => out.push((i, text)),
            Err((message, help)) => cx.error(item.span, &p, message, help),
        }
    }
    out
}

fn check_origin(origin: &str) -> Result<(), Problem> {
    if matches!(origin, "*" | "https://*" | "http://*") {
        return Ok(());
    }
    let host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    match host {
        Some(host) if host.ends_with('/') => Err((
            format!("an origin has no path, got {origin:?}"),
            Some("remove the trailing `/`: browsers send origins without it".into()),
        )),
        Some(host)
            if !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':')) =>
        {
            Ok(())
        }
        _ => Err((
            format!("expected an origin such as \"https://shop.example.com\", got {origin:?}"),
            Some(
                "an origin is `https://host[:port]` (or http), `*`, `https://*` or `http://*`"
                    .into(),
            ),
        )),
    }
}

fn check_cors_method(method: &str) -> Result<(), Problem> {
    if method == "*" {
        return Ok(());
    }
    match HttpMethod::parse(method) {
        Some(HttpMethod::Any) | None => {
            let help = match HttpMethod::parse(&method.to_ascii_uppercase()) {
                Some(m) if m != HttpMethod::Any => {
                    format!("methods are upper case: {}", m.as_str())
                }
                _ => "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or *".to_string(),
            };
            Err((format!("unknown method {method:?}"), Some(help)))
        }
        Some(_) => Ok(()),
    }
}

/// `*` or an HTTP header name (an RFC 9110 token).
fn check_header(header: &str) -> Result<(), Problem> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if header == "*" || (!header.is_empty() && header.chars().all(token)) {
        Ok(())
    } else {
        Err((format!("{header:?} is not a header name"), None))
    }
}

/// A function behind a route must finish within the route's integration timeout: API Gateway
/// answers 503 when the timeout passes, while the function keeps running (and may still commit
/// what the caller was told failed).
fn check_function_timeouts(cx: &mut Checker<'_, '_>, spec: &Spec) {
    for (name, api) in &spec.apis {
        for (i, route) in api.routes.iter().enumerate() {
            let Some(function) = spec.functions.get(&route.function) else {
                continue;
            };
            if function.timeout_secs <= route.timeout_secs {
                continue;
            }
            let base = format!("apis.{name}.routes[{i}]");
            let timeout_path = format!("{base}.timeout");
            let help = if function.timeout_secs <= MAX_INTEGRATION_TIMEOUT {
                format!(
                    "lower functions.{}.timeout to {} or less, or set this route's timeout to {}",
                    route.function, route.timeout_secs, function.timeout_secs
                )
            } else {
                format!(
                    "lower functions.{}.timeout to {} or less: HTTP APIs wait at most {MAX_INTEGRATION_TIMEOUT} s for an integration",
                    route.function, route.timeout_secs
                )
            };
            let consequence = "API Gateway would answer 503 while the function keeps running";
            if cx.is_written(&timeout_path) {
                let span = cx.span_at(&timeout_path);
                cx.error(
                    span,
                    &timeout_path,
                    format!(
                        "function {} has a timeout of {} s, longer than this route's integration timeout of {} s: {consequence}",
                        route.function, function.timeout_secs, route.timeout_secs
                    ),
                    Some(help),
                );
            } else {
                let p = format!("{base}.function");
                let span = cx.span_at(&p);
                cx.error(
                    span,
                    &p,
                    format!(
                        "function {} has a timeout of {} s, longer than the route's default integration timeout of {} s: {consequence}",
                        route.function, function.timeout_secs, route.timeout_secs
                    ),
                    Some(help),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;
