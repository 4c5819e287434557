//! HTTP API, route and API permission providers against MiniStack.
//!
//! Each test starts its own emulator (`common::TestEmulator`) and uses its own stack name. The
//! functions behind the routes are created directly through Lambda (tagged as the stack's, as
//! the function provider would) with a tiny shell-script custom runtime as `bootstrap`: these
//! tests check the API providers, not the function provider.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use aws_sdk_lambda::types::{FunctionCode, Runtime, State};
use aws_smithy_types::Blob;
use orderflow::build::package;
use orderflow::resources::{
    diff, Ctx, Discovered, Kind, Known, Live, Outputs, Provider, ResourceId,
};
use orderflow::spec::model::{
    Api, ApiRoute, Architecture, Authorization, Cors, Function, RouteKey, Spec, Throttling,
};
use serde_json::{json, Value};

mod common;
#[path = "common/providers.rs"]
mod providers;
use providers::*;

use common::{unique_stack, TestEmulator, REGION};

// ---- spec -------------------------------------------------------------------------------

fn function(timeout_secs: u32) -> Function {
    Function {
        crate_name: "unused".into(),
        memory_mb: 128,
        timeout_secs,
        architecture: Architecture::X86_64,
        environment: BTreeMap::new(),
        access: Vec::new(),
        dead_letter_queue: None,
        async_retry_attempts: None,
        log_retention_days: 14,
        adopt_log_group: false,
    }
}

fn key(text: &str) -> RouteKey {
    RouteKey::parse(text).expect("route key")
}

fn route(text: &str, function: &str, authorization: Authorization, timeout: u32) -> ApiRoute {
    ApiRoute {
        route: key(text),
        function: function.into(),
        authorization,
        timeout_secs: timeout,
    }
}

fn spec(stack: &str, functions: &[&str], apis: BTreeMap<String, Api>) -> Spec {
    Spec {
        region: Some(REGION.into()),
        tags: BTreeMap::from([("team".to_string(), "orders".to_string())]),
        functions: functions
            .iter()
            .map(|f| (f.to_string(), function(3)))
            .collect(),
        apis,
        ..Spec::empty(stack)
    }
}

// ---- harness (as in provider_compute.rs) -------------------------------------------------

/// Update what differs; returns the outputs and the write operations it made, sorted.
async fn update(
    p: &dyn Provider,
    ctx: &Ctx,
    name: &str,
    known: &Known,
    live: &Live,
) -> (Outputs, Vec<String>) {
    let mut known = known.clone();
    known.insert(ResourceId::new(p.kind(), name), live.outputs.clone());
    let changes = diff(&p.desired(ctx, name, &known), &live.props);
    assert!(
        !changes.is_empty(),
        "expected a change of {}.{name}",
        p.kind()
    );
    let writes_before = ctx.aws.calls.writes().len();
    let out = p
        .update(ctx, name, &known, live, &changes)
        .await
        .expect("update");
    let mut ops: Vec<String> = ctx.aws.calls.writes()[writes_before..]
        .iter()
        .map(|c| c.operation.clone())
        .collect();
    ops.sort();
    (out, ops)
}

async fn discovered(p: &dyn Provider, ctx: &Ctx) -> Vec<Discovered> {
    let mut found = p.discover(ctx).await.expect("discover");
    found.sort_by(|a, b| a.id.cmp(&b.id));
    found
}

fn ids(found: &[Discovered]) -> Vec<String> {
    found.iter().map(|d| d.id.to_string()).collect()
}

// ---- functions ----------------------------------------------------------------------------

/// A Lambda custom runtime in shell: answers every invocation with the event itself (for an
/// HTTP API with payload format 2.0, a JSON answer without `statusCode` is a 200 with that
/// JSON as body).
const ECHO_BOOTSTRAP: &str = r#"#!/bin/sh
api="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation"
dir=$(mktemp -d)
while true; do
  curl -sS --noproxy '*' -D "$dir/headers" -o "$dir/event" "$api/next" || exit 1
  id=$(tr -d '\r' < "$dir/headers" | sed -n 's/^[Ll]ambda-[Rr]untime-[Aa]ws-[Rr]equest-[Ii]d: *//p')
  curl -sS --noproxy '*' -X POST --data-binary "@$dir/event" "$api/$id/response" > /dev/null || exit 1
done
"#;

/// Create function `<stack>-<name>` tagged as the stack's and wait until it is active.
async fn create_function(ctx: &Ctx, name: &str) -> Outputs {
    let physical = format!("{}-{name}", ctx.spec.stack);
    let artifact = package(name, ECHO_BOOTSTRAP.as_bytes()).expect("package");
    let out = ctx
        .aws
        .lambda
        .create_function()
        .function_name(&physical)
        .runtime(Runtime::Providedal2023)
        .handler("bootstrap")
        .role("arn:aws:iam::000000000000:role/orderflow-api-test")
        .timeout(10)
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(artifact.zip))
                .build(),
        )
        .tags("orderflow:stack", &ctx.spec.stack)
        .send()
        .await
        .expect("CreateFunction");
    let arn = out.function_arn().expect("function arn").to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = ctx
            .aws
            .lambda
            .get_function_configuration()
            .function_name(&physical)
            .send()
            .await
            .expect("GetFunctionConfiguration")
            .state()
            .cloned();
        if matches!(state, None | Some(State::Active)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{physical} not active after 60 s: {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Outputs::from([("name".to_string(), physical), ("arn".to_string(), arn)])
}

fn function_known(outputs: &[(&str, &Outputs)]) -> Known {
    outputs
        .iter()
        .map(|(name, o)| (ResourceId::new(Kind::Function, *name), (*o).clone()))
        .collect()
}

// ---- HTTP -----------------------------------------------------------------------------------

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// One HTTP/1.1 request over a plain TCP connection (`http://` URLs only): enough for the
/// emulator, and no HTTP client dependency for one test.
fn http(method: &str, url: &str, headers: &[(&str, &str)]) -> Response {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut stream = TcpStream::connect(authority).unwrap_or_else(|e| panic!("{url}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Length: 0\r\n"
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers: {}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&data[..eol]).to_string();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = eol + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
}

// ---- tests ----------------------------------------------------------------------------------

fn orders_api() -> Api {
    Api {
        description: Some("Order intake".into()),
        throttling: Some(Throttling {
            rate_limit: 50,
            burst_limit: 100,
        }),
        cors: Some(Cors {
            allow_origins: vec!["https://shop.example.com".into()],
            allow_methods: vec!["GET".into(), "POST".into()],
            allow_headers: vec!["content-type".into(), "idempotency-key".into()],
            expose_headers: vec![],
            max_age: Some(300),
            allow_credentials: false,
        }),
        routes: vec![
            route("POST /orders", "submit-order", Authorization::None, 29),
            route(
                "GET /orders/{order_id}",
                "get-order",
                Authorization::AwsIam,
                30,
            ),
        ],
    }
}

const POST: &str = "orders/POST /orders";
const GET: &str = "orders/GET /orders/{order_id}";

#[tokio::test]
async fn api_routes_and_permissions_lifecycle() {
    let emu = TestEmulator::start();
    let stack = unique_stack("api");
    let base = spec(
        &stack,
        &["submit-order", "get-order"],
        BTreeMap::from([("orders".to_string(), orders_api())]),
    );
    let ctx = ctx(emu.endpoint(), base.clone()).await;
    let submit = create_function(&ctx, "submit-order").await;
    let get = create_function(&ctx, "get-order").await;
    let mut known = function_known(&[("submit-order", &submit), ("get-order", &get)]);

    let apis = Kind::Api.provider();
    let routes = Kind::ApiRoute.provider();
    let perms = Kind::ApiPermission.provider();
    assert!(apis.dependencies(&base, "orders").is_empty());
    assert_eq!(
        routes.dependencies(&base, POST),
        vec![
            ResourceId::new(Kind::Api, "orders"),
            ResourceId::new(Kind::ApiPermission, POST),
            ResourceId::new(Kind::Function, "submit-order"),
        ]
    );

    // ---- create → read: equal to desired, with zero writes
    assert!(read(apis, &ctx, "orders").await.is_none());
    assert!(read(routes, &ctx, POST).await.is_none());
    let api_out = apis
        .create(&ctx, "orders", &known)
        .await
        .expect("create api");
    let api_id = api_out["id"].clone();
    assert_eq!(api_out["name"], format!("{stack}-orders"));
    assert_eq!(
        api_out["arn"],
        format!("arn:aws:execute-api:{REGION}:000000000000:{api_id}")
    );
    assert_eq!(
        api_out["url"],
        format!("http://localhost:{}/_aws/execute-api/{api_id}/", emu.port())
    );
    let live = assert_in_sync(apis, &ctx, "orders", &known).await;
    assert_eq!(live.outputs, api_out);
    assert_eq!(live.props["throttling_rate_limit"], json!(50));
    assert_eq!(live.props["stage"], json!("$default"));
    known.insert(ResourceId::new(Kind::Api, "orders"), api_out.clone());

    for name in [POST, GET] {
        assert!(read(perms, &ctx, name).await.is_none());
        perms
            .create(&ctx, name, &known)
            .await
            .expect("add permission");
        assert_in_sync(perms, &ctx, name, &known).await;
        let out = routes
            .create(&ctx, name, &known)
            .await
            .expect("create route");
        assert_eq!(out["api_id"], api_id);
        let live = assert_in_sync(routes, &ctx, name, &known).await;
        assert_eq!(live.outputs, out);
    }
    let post_perm = read(perms, &ctx, POST).await.unwrap();
    assert_eq!(
        post_perm.props["source_arn"],
        json!(format!("{}/*/POST/orders", api_out["arn"]))
    );
    assert_eq!(
        read(perms, &ctx, GET).await.unwrap().props["source_arn"],
        json!(format!("{}/*/GET/orders/{{order_id}}", api_out["arn"]))
    );
    let get_route = read(routes, &ctx, GET).await.unwrap();
    assert_eq!(get_route.props["authorization_type"], json!("AWS_IAM"));
    assert_eq!(get_route.props["timeout_in_millis"], json!(30_000));
    assert_eq!(get_route.props["integration_uri"], json!(get["arn"]));
    // Unchanged: reading everything again writes nothing and finds nothing to change.
    let writes = ctx.aws.calls.writes().len();
    assert_in_sync(apis, &ctx, "orders", &known).await;
    for name in [POST, GET] {
        assert_in_sync(perms, &ctx, name, &known).await;
        assert_in_sync(routes, &ctx, name, &known).await;
    }
    assert_eq!(ctx.aws.calls.writes().len(), writes);

    // ---- update the API: description, throttling, one CORS header, a tag
    let mut changed = base.clone();
    {
        let api = changed.apis.get_mut("orders").unwrap();
        api.description = Some("Order intake v2".into());
        api.throttling = Some(Throttling {
            rate_limit: 20,
            burst_limit: 100,
        });
        api.cors.as_mut().unwrap().allow_headers = vec!["Content-Type".into()];
    }
    changed
        .tags
        .insert("cost-center".to_string(), "42".to_string());
    let ctx2 = with_spec(&ctx, changed.clone());
    let mut attrs = changes_of(apis, &ctx2, "orders", &known, &live);
    attrs.sort();
    assert_eq!(
        attrs,
        ["cors", "description", "tags", "throttling_rate_limit"]
    );
    let (out, ops) = update(apis, &ctx2, "orders", &known, &live).await;
    assert_eq!(out, api_out);
    assert_eq!(ops, ["TagResource", "UpdateApi", "UpdateStage"]);
    let live = assert_in_sync(apis, &ctx2, "orders", &known).await;
    assert_eq!(live.props["cors"]["allow_headers"], json!(["content-type"]));
    // Only the CORS configuration removed: one call, the one that removes it.
    let mut no_cors = changed.clone();
    no_cors.apis.get_mut("orders").unwrap().cors = None;
    let ctx3 = with_spec(&ctx, no_cors.clone());
    assert_eq!(changes_of(apis, &ctx3, "orders", &known, &live), ["cors"]);
    let (_, ops) = update(apis, &ctx3, "orders", &known, &live).await;
    assert_eq!(ops, ["DeleteCorsConfiguration"]);
    let live = assert_in_sync(apis, &ctx3, "orders", &known).await;
    assert_eq!(live.props["cors"], Value::Null);
    // Throttling and description removed.
    let mut plain = no_cors.clone();
    {
        let api = plain.apis.get_mut("orders").unwrap();
        api.throttling = None;
        api.description = None;
    }
    let ctx4 = with_spec(&ctx, plain.clone());
    let mut attrs = changes_of(apis, &ctx4, "orders", &known, &live);
    attrs.sort();
    assert_eq!(
        attrs,
        [
            "description",
            "throttling_burst_limit",
            "throttling_rate_limit"
        ]
    );
    let (out, ops) = update(apis, &ctx4, "orders", &known, &live).await;
    // Throttling cannot be unset in place: the stage is made again (same API, same URL).
    assert_eq!(ops, ["CreateStage", "DeleteStage", "UpdateApi"]);
    assert_eq!(out, api_out);
    let live = assert_in_sync(apis, &ctx4, "orders", &known).await;
    assert_eq!(live.props["throttling_rate_limit"], Value::Null);

    // ---- update a route: timeout and authorization, nothing else
    let mut route_changed = plain.clone();
    route_changed.apis.get_mut("orders").unwrap().routes[0] =
        route("POST /orders", "submit-order", Authorization::AwsIam, 20);
    let ctx5 = with_spec(&ctx, route_changed.clone());
    let post_live = read(routes, &ctx5, POST).await.unwrap();
    let mut attrs = changes_of(routes, &ctx5, POST, &known, &post_live);
    attrs.sort();
    assert_eq!(attrs, ["authorization_type", "timeout_in_millis"]);
    let (out, ops) = update(routes, &ctx5, POST, &known, &post_live).await;
    assert_eq!(out, post_live.outputs);
    assert_eq!(ops, ["UpdateIntegration", "UpdateRoute"]);
    assert_in_sync(routes, &ctx5, POST, &known).await;
    // The permission did not change.
    assert_in_sync(perms, &ctx5, POST, &known).await;

    // ---- the route moves to another function: the integration follows, the permission is
    // added on the new function and the one on the old function becomes stale
    let mut moved = route_changed.clone();
    moved.apis.get_mut("orders").unwrap().routes[0] =
        route("POST /orders", "get-order", Authorization::AwsIam, 20);
    let ctx6 = with_spec(&ctx, moved.clone());
    let post_live = read(routes, &ctx6, POST).await.unwrap();
    assert_eq!(
        changes_of(routes, &ctx6, POST, &known, &post_live),
        ["integration_uri"]
    );
    assert!(read(perms, &ctx6, POST).await.is_none());
    perms
        .create(&ctx6, POST, &known)
        .await
        .expect("permission on get-order");
    let (_, ops) = update(routes, &ctx6, POST, &known, &post_live).await;
    assert_eq!(ops, ["UpdateIntegration"]);
    assert_in_sync(routes, &ctx6, POST, &known).await;
    let found = discovered(perms, &ctx6).await;
    assert_eq!(found.len(), 3, "{found:#?}");
    let stale: Vec<&Discovered> = found.iter().filter(|d| perms.is_stale(&ctx6, d)).collect();
    assert_eq!(stale.len(), 1, "{found:#?}");
    assert_eq!(stale[0].id, ResourceId::new(Kind::ApiPermission, POST));
    assert!(stale[0]
        .handle
        .starts_with(&format!("{stack}-submit-order|orderflow-api-orders-")));
    perms
        .delete(&ctx6, stale[0])
        .await
        .expect("remove stale permission");
    assert_in_sync(perms, &ctx6, POST, &known).await;

    // ---- discover: the stack's only; a same-named API without the tag is not adopted
    let foreign = ctx
        .aws
        .apigateway
        .create_api()
        .name(format!("{stack}-other"))
        .protocol_type(aws_sdk_apigatewayv2::types::ProtocolType::Http)
        .send()
        .await
        .expect("CreateApi foreign");
    let found = discovered(apis, &ctx6).await;
    assert_eq!(
        found,
        vec![Discovered {
            id: ResourceId::new(Kind::Api, "orders"),
            physical: format!("{stack}-orders"),
            handle: api_id.clone(),
        }]
    );
    let mut with_other = moved.clone();
    with_other.apis.insert("other".to_string(), orders_api());
    let ctx7 = with_spec(&ctx, with_other);
    let other = read(apis, &ctx7, "other")
        .await
        .expect("the foreign API is found");
    assert!(!other.owned, "a same-named API without our tag is not ours");
    let found = discovered(routes, &ctx6).await;
    assert_eq!(
        ids(&found),
        [format!("api_route.{GET}"), format!("api_route.{POST}")]
    );
    assert!(found[1]
        .handle
        .starts_with(&format!("{api_id}|{}|", post_live.outputs["id"])));
    assert_eq!(
        ids(&discovered(perms, &ctx6).await),
        [
            format!("api_permission.{GET}"),
            format!("api_permission.{POST}")
        ]
    );
    // Another stack sharing our name prefix sees none of it.
    let neighbour = with_spec(&ctx, spec(&format!("{stack}-x"), &[], BTreeMap::new()));
    assert!(discovered(apis, &neighbour).await.is_empty());
    assert!(discovered(routes, &neighbour).await.is_empty());

    // ---- delete: routes, then permissions, then the API; each twice
    for d in discovered(routes, &ctx6).await {
        routes.delete(&ctx6, &d).await.expect("delete route");
        routes.delete(&ctx6, &d).await.expect("delete route again");
    }
    assert!(read(routes, &ctx6, POST).await.is_none());
    assert!(read(routes, &ctx6, GET).await.is_none());
    let integrations = ctx
        .aws
        .apigateway
        .get_integrations()
        .api_id(&api_id)
        .send()
        .await
        .expect("GetIntegrations");
    assert!(
        integrations.items().is_empty(),
        "integrations left behind: {:?}",
        integrations.items()
    );
    for d in discovered(perms, &ctx6).await {
        perms.delete(&ctx6, &d).await.expect("remove permission");
        perms
            .delete(&ctx6, &d)
            .await
            .expect("remove permission again");
    }
    assert!(read(perms, &ctx6, POST).await.is_none());
    assert!(discovered(perms, &ctx6).await.is_empty());
    let found = discovered(apis, &ctx6).await;
    apis.delete(&ctx6, &found[0]).await.expect("delete api");
    apis.delete(&ctx6, &found[0])
        .await
        .expect("delete api again");
    assert!(read(apis, &ctx6, "orders").await.is_none());
    // A route of an API that is gone is gone too.
    assert!(read(routes, &ctx6, POST).await.is_none());
    ctx.aws
        .apigateway
        .delete_api()
        .api_id(foreign.api_id().unwrap())
        .send()
        .await
        .expect("DeleteApi foreign");
}

#[tokio::test]
async fn a_missing_stage_and_a_missing_integration_are_restored() {
    let emu = TestEmulator::start();
    let stack = unique_stack("apifix");
    let api = Api {
        description: None,
        throttling: Some(Throttling {
            rate_limit: 5,
            burst_limit: 10,
        }),
        cors: None,
        routes: vec![route("ANY /{proxy+}", "handler", Authorization::None, 10)],
    };
    let spec = spec(
        &stack,
        &["handler"],
        BTreeMap::from([("admin".to_string(), api)]),
    );
    let ctx = ctx(emu.endpoint(), spec).await;
    let handler = create_function(&ctx, "handler").await;
    let mut known = function_known(&[("handler", &handler)]);
    let (apis, routes) = (Kind::Api.provider(), Kind::ApiRoute.provider());
    let name = "admin/ANY /{proxy+}";

    let api_out = apis
        .create(&ctx, "admin", &known)
        .await
        .expect("create api");
    known.insert(ResourceId::new(Kind::Api, "admin"), api_out.clone());
    let route_out = routes
        .create(&ctx, name, &known)
        .await
        .expect("create route");
    let api_id = &api_out["id"];

    // Someone deletes the stage: the API shows it missing, and update creates it again.
    ctx.aws
        .apigateway
        .delete_stage()
        .api_id(api_id)
        .stage_name("$default")
        .send()
        .await
        .expect("DeleteStage");
    let live = read(apis, &ctx, "admin").await.unwrap();
    let mut attrs = changes_of(apis, &ctx, "admin", &known, &live);
    attrs.sort();
    assert_eq!(
        attrs,
        [
            "auto_deploy",
            "stage",
            "throttling_burst_limit",
            "throttling_rate_limit"
        ]
    );
    let (_, ops) = update(apis, &ctx, "admin", &known, &live).await;
    assert_eq!(ops, ["CreateStage"]);
    assert_in_sync(apis, &ctx, "admin", &known).await;

    // Someone deletes the integration: the route points at nothing, update makes a new one.
    ctx.aws
        .apigateway
        .delete_integration()
        .api_id(api_id)
        .integration_id(&route_out["integration_id"])
        .send()
        .await
        .expect("DeleteIntegration");
    let live = read(routes, &ctx, name).await.unwrap();
    assert_eq!(live.props["integration_uri"], Value::Null);
    let (out, ops) = update(routes, &ctx, name, &known, &live).await;
    assert_eq!(ops, ["CreateIntegration", "UpdateRoute"]);
    assert_ne!(out["integration_id"], route_out["integration_id"]);
    assert_in_sync(routes, &ctx, name, &known).await;

    // An integration left by an interrupted create (no route targets it) is removed by the
    // next create instead of piling up.
    let found = discovered(routes, &ctx).await;
    routes.delete(&ctx, &found[0]).await.expect("delete route");
    ctx.aws
        .apigateway
        .create_integration()
        .api_id(api_id)
        .integration_type(aws_sdk_apigatewayv2::types::IntegrationType::AwsProxy)
        .integration_uri(&handler["arn"])
        .payload_format_version("2.0")
        .description("orderflow route ANY /{proxy+}")
        .send()
        .await
        .expect("CreateIntegration orphan");
    routes
        .create(&ctx, name, &known)
        .await
        .expect("create route again");
    let integrations = ctx
        .aws
        .apigateway
        .get_integrations()
        .api_id(api_id)
        .send()
        .await
        .expect("GetIntegrations");
    assert_eq!(integrations.items().len(), 1, "{:?}", integrations.items());
    assert_in_sync(routes, &ctx, name, &known).await;
}

#[tokio::test]
async fn a_request_to_the_url_reaches_the_function_with_the_route_in_the_event() {
    let emu = TestEmulator::start();
    let stack = unique_stack("apihttp");
    let api = Api {
        description: None,
        throttling: Some(Throttling {
            rate_limit: 100,
            burst_limit: 50,
        }),
        cors: Some(Cors {
            allow_origins: vec!["https://shop.example.com".into()],
            allow_methods: vec!["GET".into(), "POST".into()],
            allow_headers: vec!["content-type".into()],
            expose_headers: vec![],
            max_age: Some(300),
            allow_credentials: false,
        }),
        routes: vec![
            route("GET /orders/{order_id}", "echo", Authorization::None, 10),
            route("POST /orders", "echo", Authorization::AwsIam, 10),
        ],
    };
    let spec = spec(
        &stack,
        &["echo"],
        BTreeMap::from([("shop".to_string(), api)]),
    );
    let ctx = ctx(emu.endpoint(), spec.clone()).await;
    let echo = create_function(&ctx, "echo").await;
    let mut known = function_known(&[("echo", &echo)]);
    let api_out = Kind::Api
        .provider()
        .create(&ctx, "shop", &known)
        .await
        .expect("create api");
    known.insert(ResourceId::new(Kind::Api, "shop"), api_out.clone());
    for name in ["shop/GET /orders/{order_id}", "shop/POST /orders"] {
        Kind::ApiPermission
            .provider()
            .create(&ctx, name, &known)
            .await
            .expect("permission");
        Kind::ApiRoute
            .provider()
            .create(&ctx, name, &known)
            .await
            .expect("route");
    }
    let url = api_out["url"].clone();
    assert!(url.ends_with('/'), "{url}");

    // GET with a path parameter: the function gets the payload format 2.0 event of the route.
    let get_url = format!("{url}orders/o-42?verbose=1");
    let response = tokio::task::spawn_blocking(move || {
        http("GET", &get_url, &[("Origin", "https://shop.example.com")])
    })
    .await
    .unwrap();
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let event = response.json();
    assert_eq!(event["version"], "2.0", "{event:#}");
    assert_eq!(event["routeKey"], "GET /orders/{order_id}", "{event:#}");
    assert_eq!(event["pathParameters"]["order_id"], "o-42", "{event:#}");
    assert_eq!(event["rawPath"], "/orders/o-42", "{event:#}");
    assert_eq!(event["queryStringParameters"]["verbose"], "1", "{event:#}");
    assert_eq!(event["requestContext"]["apiId"], json!(api_out["id"]));
    assert_eq!(event["requestContext"]["http"]["method"], "GET");
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("https://shop.example.com")
    );

    // An aws_iam route refuses an unsigned request without invoking the function.
    let post_url = format!("{url}orders");
    let refused = tokio::task::spawn_blocking(move || http("POST", &post_url, &[]))
        .await
        .unwrap();
    assert_eq!(
        refused.status,
        403,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );

    // A path no route declares is not found.
    let missing_url = format!("{url}customers");
    let missing = tokio::task::spawn_blocking(move || http("GET", &missing_url, &[]))
        .await
        .unwrap();
    assert_eq!(missing.status, 404);

    // CORS preflight is answered by API Gateway itself.
    let preflight_url = format!("{url}orders");
    let preflight = tokio::task::spawn_blocking(move || {
        http(
            "OPTIONS",
            &preflight_url,
            &[
                ("Origin", "https://shop.example.com"),
                ("Access-Control-Request-Method", "POST"),
            ],
        )
    })
    .await
    .unwrap();
    assert!(
        (200..300).contains(&preflight.status),
        "{}",
        preflight.status
    );
    let methods = preflight
        .header("access-control-allow-methods")
        .unwrap_or_default()
        .to_string();
    assert!(methods.contains("POST"), "{methods}");

    // Throttling removed: the stage is made again and serves the routes at the same URL.
    let mut unthrottled = spec.clone();
    unthrottled.apis.get_mut("shop").unwrap().throttling = None;
    let ctx2 = with_spec(&ctx, unthrottled);
    let apis = Kind::Api.provider();
    let live = read(apis, &ctx2, "shop").await.unwrap();
    let (out, _) = update(apis, &ctx2, "shop", &known, &live).await;
    assert_eq!(out["url"], url);
    let again_url = format!("{url}orders/o-43");
    let again = tokio::task::spawn_blocking(move || http("GET", &again_url, &[]))
        .await
        .unwrap();
    assert_eq!(
        again.status,
        200,
        "{}",
        String::from_utf8_lossy(&again.body)
    );
    assert_eq!(again.json()["pathParameters"]["order_id"], "o-43");
}
