//! The `apis` section: route keys, decoding and every validation error with its position.

use super::*;
use crate::kinds::test_support::errors;
use crate::spec::parse;

/// The single error of `text`, with its help.
fn one_error(text: &str) -> (String, Option<String>) {
    match parse("p.yaml", text) {
        Ok(spec) => panic!("expected an error, got a valid spec: {spec:?}"),
        Err(e) => {
            assert_eq!(e.errors.len(), 1, "expected one error, got {:#?}", e.errors);
            (e.errors[0].to_string(), e.errors[0].help.clone())
        }
    }
}

fn valid(text: &str) -> Spec {
    match parse("p.yaml", text) {
        Ok(spec) => spec,
        Err(e) => panic!("expected a valid spec, got:\n{}", e.summary()),
    }
}

const FUNCTIONS: &str =
    "functions:\n  submit-order: { crate: s, timeout: 10 }\n  get-order: { crate: g }\n";

/// A file with the two functions above and `apis` as given (indented by the caller).
fn file(apis: &str) -> String {
    format!("stack: shop\n{FUNCTIONS}apis:\n{apis}")
}

fn key(text: &str) -> RouteKey {
    RouteKey::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e:?}"))
}

fn key_error(text: &str) -> (String, Range<usize>) {
    let e = RouteKey::parse(text).expect_err(text);
    (e.message, e.range)
}

#[test]
fn route_keys_parse_into_method_and_path() {
    assert_eq!(
        key("POST /orders"),
        RouteKey {
            method: HttpMethod::Post,
            path: "/orders".into()
        }
    );
    let k = key("GET /orders/{order_id}");
    assert_eq!(k.method, HttpMethod::Get);
    assert_eq!(k.to_string(), "GET /orders/{order_id}");
    assert_eq!(key("ANY /{proxy+}").method, HttpMethod::Any);
    assert_eq!(key("GET /").path, "/");
    key("DELETE /v1/orders/{order-id}/lines/{line_no}");
    key("GET /files/{path+}");
    key("HEAD /a.b~c_d:e@f");
    for m in HttpMethod::ALL {
        assert_eq!(key(&format!("{} /x", m.as_str())).method, m);
    }
}

#[test]
fn route_key_errors_point_at_the_offending_part() {
    assert_eq!(
        key_error("post /orders"),
        ("unknown method \"post\"".into(), 0..4)
    );
    assert_eq!(
        RouteKey::parse("post /orders").unwrap_err().help.as_deref(),
        Some("methods are upper case: POST")
    );
    assert_eq!(
        key_error("FETCH /orders"),
        ("unknown method \"FETCH\"".into(), 0..5)
    );
    assert_eq!(key_error("/orders").1, 0..7);
    assert_eq!(
        key_error("$default").0,
        "the catch-all route `$default` is not supported"
    );
    assert_eq!(
        key_error("GET orders"),
        ("the path must start with `/`, got \"orders\"".into(), 4..10)
    );
    assert_eq!(
        key_error("GET /orders/"),
        ("the path must not end with `/`".into(), 11..12)
    );
    assert_eq!(
        key_error("GET /orders//x"),
        ("empty path segment (`//`)".into(), 11..13)
    );
    assert_eq!(
        key_error("GET /orders/{id"),
        (
            "a path parameter is a whole segment `{name}`, got \"{id\"".into(),
            12..15
        )
    );
    assert_eq!(
        key_error("GET /orders/order-{id}"),
        ("`{` is not allowed in a route path".into(), 18..19)
    );
    assert_eq!(
        key_error("GET /{proxy+}/x"),
        (
            "the greedy parameter `{proxy+}` must be the last segment of the path".into(),
            5..13
        )
    );
    assert_eq!(
        key_error("GET /a/{id}/b/{id}"),
        ("path parameter `id` appears twice".into(), 14..18)
    );
    assert_eq!(
        key_error("GET /{}"),
        ("invalid path parameter name \"\"".into(), 5..7)
    );
    assert_eq!(
        key_error("GET /a b"),
        ("` ` is not allowed in a route path".into(), 6..7)
    );
    // Ranges are bytes; a multi-byte character is one whole range.
    assert_eq!(
        key_error("GET /café"),
        ("`é` is not allowed in a route path".into(), 8..10)
    );
}

#[test]
fn shapes_and_source_arn_suffixes() {
    assert_eq!(key("GET /orders/{id}").shape(), "GET /orders/{}");
    assert_eq!(
        key("GET /orders/{id}").shape(),
        key("GET /orders/{order_id}").shape()
    );
    assert_ne!(key("GET /x/{a+}").shape(), key("GET /x/{a}").shape());
    assert_ne!(key("ANY /x").shape(), key("GET /x").shape());
    for text in ["POST /orders", "ANY /{proxy+}", "GET /", "GET /a/{b}/c"] {
        let k = key(text);
        assert_eq!(
            RouteKey::from_source_arn_suffix(&k.source_arn_suffix()),
            Some(k)
        );
    }
    assert_eq!(key("ANY /x").source_arn_suffix(), "*/*/x");
    assert_eq!(RouteKey::from_source_arn_suffix("prod/GET/x"), None);
    assert_eq!(RouteKey::from_source_arn_suffix("*/GET/x//y"), None);
}

#[test]
fn an_api_decodes_with_its_defaults() {
    let spec = valid(&file(
        "  orders:\n    description: Order intake\n    throttling: { rate_limit: 50, burst_limit: 100 }\n    cors:\n      allow_origins: [\"https://shop.example.com\"]\n      allow_methods: [GET, POST]\n      allow_headers: [content-type, idempotency-key]\n      max_age: 300\n    routes:\n      - route: \"POST /orders\"\n        function: submit-order\n        authorization: aws_iam\n        timeout: 29\n      - route: \"GET /orders/{order_id}\"\n        function: get-order\n",
    ));
    let api = &spec.apis["orders"];
    assert_eq!(api.description.as_deref(), Some("Order intake"));
    assert_eq!(
        api.throttling,
        Some(Throttling {
            rate_limit: 50,
            burst_limit: 100
        })
    );
    assert_eq!(
        api.cors,
        Some(Cors {
            allow_origins: vec!["https://shop.example.com".into()],
            allow_methods: vec!["GET".into(), "POST".into()],
            allow_headers: vec!["content-type".into(), "idempotency-key".into()],
            expose_headers: vec![],
            max_age: Some(300),
            allow_credentials: false,
        })
    );
    assert_eq!(
        api.routes,
        vec![
            ApiRoute {
                route: key("POST /orders"),
                function: "submit-order".into(),
                authorization: Authorization::AwsIam,
                timeout_secs: 29,
            },
            ApiRoute {
                route: key("GET /orders/{order_id}"),
                function: "get-order".into(),
                authorization: Authorization::None,
                timeout_secs: 30,
            },
        ]
    );
    // The API, then per route its route and permission.
    let ids: Vec<String> = spec
        .resources()
        .iter()
        .filter(|id| matches!(id.kind, Kind::Api | Kind::ApiRoute | Kind::ApiPermission))
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        ids,
        [
            "api_route.orders/GET /orders/{order_id}",
            "api_route.orders/POST /orders",
            "api_permission.orders/GET /orders/{order_id}",
            "api_permission.orders/POST /orders",
            "api.orders",
        ]
    );
    // The smallest API: one route, everything else defaulted.
    let minimal = valid(&file(
        "  admin:\n    routes: [{ route: \"ANY /{proxy+}\", function: get-order }]\n",
    ));
    let admin = &minimal.apis["admin"];
    assert_eq!(
        (
            admin.description.clone(),
            admin.throttling,
            admin.cors.clone()
        ),
        (None, None, None)
    );
}

#[test]
fn the_api_url_can_be_referenced() {
    let spec = valid(
        "stack: shop\nfunctions:\n  submit-order: { crate: s }\n  notifier:\n    crate: n\n    environment: { ORDER_API: \"${apis.orders.url}orders\" }\napis:\n  orders:\n    routes: [{ route: \"POST /orders\", function: submit-order }]\n",
    );
    let env = &spec.functions["notifier"].environment["ORDER_API"];
    assert!(env.parts.iter().any(|p| matches!(
        p,
        crate::spec::model::TemplatePart::Ref(r) if r.kind == Section::Api && r.attribute == "url"
    )));
    let (e, help) = one_error(
        "stack: shop\nfunctions:\n  f:\n    crate: f\n    environment: { API_URL: \"${apis.orders.endpoint}\" }\napis:\n  orders:\n    routes: [{ route: \"POST /orders\", function: f }]\n",
    );
    assert_eq!(
        e,
        "p.yaml:5:30: functions.f.environment.API_URL: apis have no attribute `endpoint`"
    );
    assert_eq!(help.as_deref(), Some("apis have: name, id, arn, url"));
}

#[test]
fn route_key_errors_are_reported_inside_the_key() {
    let (e, help) = one_error(&file(
        "  orders:\n    routes:\n      - { route: \"post /orders\", function: submit-order }\n",
    ));
    assert_eq!(
        e,
        "p.yaml:8:19: apis.orders.routes[0].route: unknown method \"post\""
    );
    assert_eq!(help.as_deref(), Some("methods are upper case: POST"));
    let (e, _) = one_error(&file(
        "  orders:\n    routes:\n      - route: GET /orders/{id}/x/{id}\n        function: get-order\n",
    ));
    assert_eq!(
        e,
        "p.yaml:8:35: apis.orders.routes[0].route: path parameter `id` appears twice"
    );
    let (e, _) = one_error(&file(
        "  orders:\n    routes:\n      - { route: \"GET /{proxy+}/x\", function: get-order }\n",
    ));
    assert_eq!(
        e,
        "p.yaml:8:24: apis.orders.routes[0].route: the greedy parameter `{proxy+}` must be the last segment of the path"
    );
}

#[test]
fn duplicate_and_overlapping_routes_are_errors() {
    let all = errors(&file(
        "  orders:\n    routes:\n      - { route: \"GET /orders/{id}\", function: get-order }\n      - { route: \"POST /orders\", function: submit-order }\n      - { route: \"POST /orders\", function: get-order }\n      - { route: \"GET /orders/{order_id}\", function: get-order }\n      - { route: \"ANY /orders/{id}\", function: get-order }\n",
    ));
    assert_eq!(
        all,
        [
            "p.yaml:10:18: apis.orders.routes[2].route: route `POST /orders` is declared twice (routes[1])",
            "p.yaml:11:18: apis.orders.routes[3].route: route `GET /orders/{order_id}` matches the same requests as `GET /orders/{id}` (routes[0])",
        ]
    );
}

#[test]
fn dangling_functions_missing_routes_and_unknown_keys() {
    let all = errors(&file(
        "  orders:\n    routes:\n      - { route: \"POST /orders\", function: submit-ordr }\n      - { route: \"GET /orders\" }\n      - { route: \"GET /x\", function: get-order, auth: none }\n  empty:\n    routes: []\n  none:\n    description: nothing\n",
    ));
    assert_eq!(
        all,
        [
            "p.yaml:8:44: apis.orders.routes[0].function: no function named `submit-ordr` is declared",
            "p.yaml:9:9: apis.orders.routes[1]: missing required key `function` in `routes[1]`",
            "p.yaml:10:49: apis.orders.routes[2].auth: unknown key `auth`",
            "p.yaml:12:13: apis.empty.routes: an API needs at least one route",
            "p.yaml:13:3: apis.none: missing required key `routes` in `none`",
        ]
    );
}

#[test]
fn bounds_of_timeouts_throttling_and_cors() {
    let all = errors(&file(
        "  orders:\n    throttling: { rate_limit: 10001, burst_limit: 5001 }\n    cors: { allow_origins: [\"https://a.example\"], max_age: 86401 }\n    routes:\n      - { route: \"POST /orders\", function: submit-order, timeout: 31 }\n      - { route: \"GET /orders\", function: get-order, timeout: 0, authorization: iam }\n",
    ));
    assert_eq!(
        all,
        [
            "p.yaml:7:31: apis.orders.throttling.rate_limit: must be between 0 and 10000 requests per second, got 10001",
            "p.yaml:7:51: apis.orders.throttling.burst_limit: must be between 0 and 5000 requests, got 5001",
            "p.yaml:8:60: apis.orders.cors.max_age: must be between 0 and 86400 seconds, got 86401",
            "p.yaml:10:67: apis.orders.routes[0].timeout: must be between 1 and 30 seconds, got 31",
            "p.yaml:11:63: apis.orders.routes[1].timeout: must be between 1 and 30 seconds, got 0",
            "p.yaml:11:81: apis.orders.routes[1].authorization: must be one of none, aws_iam, got \"iam\"",
        ]
    );
    // Both limits or none: nothing left for API Gateway to take as 0 (rejecting every request).
    let (e, _) = one_error(&file(
        "  orders:\n    throttling: { rate_limit: 50 }\n    routes: [{ route: \"GET /x\", function: get-order }]\n",
    ));
    assert_eq!(
        e,
        "p.yaml:7:5: apis.orders.throttling: missing required key `burst_limit` in `throttling`"
    );
    valid(
        "stack: shop\nfunctions: { quick: { crate: q, timeout: 1 } }\napis:\n  orders:\n    throttling: { rate_limit: 0, burst_limit: 0 }\n    routes: [{ route: \"GET /x\", function: quick, timeout: 1 }]\n",
    );
}

#[test]
fn cors_values_are_checked() {
    let all = errors(&file(
        "  orders:\n    cors:\n      allow_origins: [\"https://shop.example.com/\", \"shop.example.com\", \"*\"]\n      allow_methods: [get, FETCH, ANY]\n      allow_headers: [\"content type\"]\n      allow_credentials: true\n    routes: [{ route: \"GET /x\", function: get-order }]\n",
    ));
    assert_eq!(
        all,
        [
            "p.yaml:8:23: apis.orders.cors.allow_origins[0]: an origin has no path, got \"https://shop.example.com/\"",
            "p.yaml:8:52: apis.orders.cors.allow_origins[1]: expected an origin such as \"https://shop.example.com\", got \"shop.example.com\"",
            "p.yaml:8:72: apis.orders.cors.allow_origins[2]: the origin `*` cannot be combined with allow_credentials: true",
            "p.yaml:9:23: apis.orders.cors.allow_methods[0]: unknown method \"get\"",
            "p.yaml:9:28: apis.orders.cors.allow_methods[1]: unknown method \"FETCH\"",
            "p.yaml:9:35: apis.orders.cors.allow_methods[2]: unknown method \"ANY\"",
            "p.yaml:10:23: apis.orders.cors.allow_headers[0]: \"content type\" is not a header name",
        ]
    );
    let all = errors(&file(
        "  orders:\n    cors: { allow_methods: [GET] }\n    routes: [{ route: \"GET /x\", function: get-order }]\n  other:\n    cors: { allow_origins: [] }\n    routes: [{ route: \"GET /x\", function: get-order }]\n",
    ));
    assert_eq!(
        all,
        [
            "p.yaml:7:5: apis.orders.cors: missing required key `allow_origins` in `cors`",
            "p.yaml:10:28: apis.other.cors.allow_origins: list at least one origin",
        ]
    );
    valid(&file(
        "  orders:\n    cors:\n      allow_origins: [\"*\"]\n      allow_methods: [\"*\"]\n      allow_headers: [\"*\"]\n      expose_headers: [x-request-id]\n    routes: [{ route: \"GET /x\", function: get-order }]\n  creds:\n    cors: { allow_origins: [\"https://*\", \"http://localhost:3000\"], allow_credentials: true }\n    routes: [{ route: \"GET /x\", function: get-order }]\n",
    ));
}

#[test]
fn a_function_must_finish_within_its_routes_integration_timeout() {
    // Written route timeout: reported there.
    let (e, help) = one_error(&file(
        "  orders:\n    routes:\n      - { route: \"POST /orders\", function: submit-order, timeout: 5 }\n",
    ));
    assert_eq!(
        e,
        "p.yaml:8:67: apis.orders.routes[0].timeout: function submit-order has a timeout of 10 s, longer than this route's integration timeout of 5 s: API Gateway would answer 503 while the function keeps running"
    );
    assert_eq!(
        help.as_deref(),
        Some(
            "lower functions.submit-order.timeout to 5 or less, or set this route's timeout to 10"
        )
    );
    // Default route timeout (30 s, the most HTTP APIs allow): reported at the route's function.
    let (e, help) = one_error(
        "stack: shop\nfunctions:\n  slow: { crate: s, timeout: 60 }\napis:\n  orders:\n    routes:\n      - { route: \"POST /orders\", function: slow }\n",
    );
    assert_eq!(
        e,
        "p.yaml:7:44: apis.orders.routes[0].function: function slow has a timeout of 60 s, longer than the route's default integration timeout of 30 s: API Gateway would answer 503 while the function keeps running"
    );
    assert_eq!(
        help.as_deref(),
        Some("lower functions.slow.timeout to 30 or less: HTTP APIs wait at most 30 s for an integration")
    );
    // Equal is fine.
    valid(&file(
        "  orders:\n    routes: [{ route: \"POST /orders\", function: submit-order, timeout: 10 }]\n",
    ));
}

#[test]
fn names_and_descriptions_fit_the_services() {
    let long = "a".repeat(MAX_API_NAME + 1);
    let (e, _) = one_error(&file(&format!(
        "  {long}:\n    routes: [{{ route: \"GET /x\", function: get-order }}]\n"
    )));
    assert_eq!(
        e,
        format!("p.yaml:6:3: apis.{long}: API names are at most 69 characters, got 70")
    );
    valid(&file(&format!(
        "  {}:\n    routes: [{{ route: \"GET /x\", function: get-order }}]\n",
        "a".repeat(MAX_API_NAME)
    )));
    let (e, _) = one_error(&file(&format!(
        "  orders:\n    description: {}\n    routes: [{{ route: \"GET /x\", function: get-order }}]\n",
        "d".repeat(1025)
    )));
    assert_eq!(
        e,
        "p.yaml:7:18: apis.orders.description: must be at most 1024 characters, got 1025"
    );
}
