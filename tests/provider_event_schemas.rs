//! The schema registry and event schema providers against recorded Schemas API answers: no
//! emulator has that API (MiniStack answers every call with HTTP 400), so each test gives the
//! SDK a replay client with the answers AWS gives (shapes from the Schemas API reference) and
//! asserts the requests the providers make — method, path, body.

#[path = "replay/mod.rs"]
mod replay;

use orderflow::resources::{diff, Ctx, Discovered, Kind, Known, ResourceId};
use replay::{answer, not_found, Answer, Replay, ACCOUNT, REGION};
use serde_json::{json, Value};

const PIPELINE: &str = "stack: shop\ntags: { team: orders }\nevent_schemas:\n  orders:\n    description: Order events\n    events: [OrderPlaced, OrderRejected]\n";

/// A `Ctx` whose every AWS call is answered by `replay`, in order. `endpoint`: a custom
/// endpoint (a local emulator), as `--local` sets one.
fn ctx(replay: &Replay, endpoint: Option<&str>) -> Ctx {
    replay::ctx(replay, endpoint, PIPELINE)
}

/// (method, path, JSON body or null) of every request made.
fn requests(replay: &Replay) -> Vec<(String, String, Value)> {
    replay.requests()
}

fn registry_arn() -> String {
    format!("arn:aws:schemas:{REGION}:{ACCOUNT}:registry/shop-orders")
}

fn schema_arn(name: &str) -> String {
    format!("arn:aws:schemas:{REGION}:{ACCOUNT}:schema/shop-orders/{name}")
}

fn owned_tags() -> Value {
    json!({"orderflow:stack": "shop", "team": "orders", "owner": "someone-else"})
}

fn placed() -> order_domain::schema::PublishedEvent {
    order_domain::schema::find("OrderPlaced").unwrap()
}

const PLACED_PATH: &str =
    "/v1/registries/name/shop-orders/schemas/name/orderflow.orders%40OrderPlaced";

#[tokio::test]
async fn creates_the_registry_and_a_schema_with_tags_and_the_generated_document() {
    let replay = Replay::new(vec![
        not_found("Registry shop-orders"),
        answer(
            201,
            json!({"RegistryArn": registry_arn(), "RegistryName": "shop-orders",
                   "Description": "Order events", "tags": {"orderflow:stack": "shop", "team": "orders"}}),
        ),
        not_found("Schema orderflow.orders@OrderPlaced"),
        answer(
            201,
            json!({"SchemaArn": schema_arn("orderflow.orders@OrderPlaced"),
                   "SchemaName": "orderflow.orders@OrderPlaced", "SchemaVersion": "1",
                   "Type": "OpenApi3", "Description": placed().description,
                   "tags": {"orderflow:stack": "shop", "team": "orders"}}),
        ),
    ]);
    let ctx = ctx(&replay, None);
    let registry = Kind::SchemaRegistry.provider();
    let schema = Kind::EventSchema.provider();
    // Never probed on AWS: the API is there.
    assert_eq!(registry.unsupported(&ctx).await.unwrap(), None);

    assert!(registry.read(&ctx, "orders").await.unwrap().is_none());
    let out = registry
        .create(&ctx, "orders", &Known::new())
        .await
        .unwrap();
    assert_eq!(out["arn"], registry_arn());
    assert_eq!(out["name"], "shop-orders");
    assert!(schema
        .read(&ctx, "orders/OrderPlaced")
        .await
        .unwrap()
        .is_none());
    let out = schema
        .create(&ctx, "orders/OrderPlaced", &Known::new())
        .await
        .unwrap();
    assert_eq!(out["version"], "1");
    assert_eq!(out["name"], "orderflow.orders@OrderPlaced");

    let sent = requests(&replay);
    let paths: Vec<(&str, &str)> = sent
        .iter()
        .map(|(m, p, _)| (m.as_str(), p.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            ("GET", "/v1/registries/name/shop-orders"),
            ("POST", "/v1/registries/name/shop-orders"),
            ("GET", PLACED_PATH),
            ("POST", PLACED_PATH),
        ]
    );
    assert_eq!(
        sent[1].2,
        json!({"Description": "Order events", "tags": {"orderflow:stack": "shop", "team": "orders"}})
    );
    let create = &sent[3].2;
    assert_eq!(create["Type"], "OpenApi3");
    assert_eq!(create["Description"], placed().description);
    assert_eq!(
        create["tags"],
        json!({"orderflow:stack": "shop", "team": "orders"})
    );
    let content: Value = serde_json::from_str(create["Content"].as_str().unwrap()).unwrap();
    assert_eq!(content, placed().openapi3());
    assert_eq!(
        content["components"]["schemas"]["AWSEvent"]["x-amazon-events-detail-type"],
        "OrderPlaced"
    );
}

/// What DescribeSchema answers for the OrderPlaced schema holding `content`.
fn described(content: &str, version: &str, tags: Value) -> Answer {
    answer(
        200,
        json!({"SchemaArn": schema_arn("orderflow.orders@OrderPlaced"),
               "SchemaName": "orderflow.orders@OrderPlaced", "SchemaVersion": version,
               "Type": "OpenApi3", "Description": placed().description,
               "Content": content, "tags": tags,
               "LastModified": "2026-11-28T20:00:00Z", "VersionCreatedDate": "2026-11-28T20:00:00Z"}),
    )
}

#[tokio::test]
async fn the_same_content_in_another_layout_is_no_change() {
    // Compact, where orderflow sends it indented: the same document.
    let stored = placed().openapi3().to_string();
    let replay = Replay::new(vec![described(&stored, "3", owned_tags())]);
    let ctx = ctx(&replay, None);
    let schema = Kind::EventSchema.provider();
    let live = schema
        .read(&ctx, "orders/OrderPlaced")
        .await
        .unwrap()
        .unwrap();
    assert!(live.owned);
    assert_eq!(live.outputs["version"], "3");
    let desired = schema.desired(&ctx, "orders/OrderPlaced", &Known::new());
    assert_eq!(diff(&desired, &live.props), vec![]);
    // One read, nothing else.
    assert_eq!(requests(&replay).len(), 1);
}

#[tokio::test]
async fn changed_content_is_updated_into_a_new_version() {
    // The registry's latest version lacks `customer_email` (an older Order type).
    let mut old = placed().openapi3();
    old["components"]["schemas"]["Order"]["properties"]
        .as_object_mut()
        .unwrap()
        .remove("customer_email");
    let replay = Replay::new(vec![
        described(&old.to_string(), "1", owned_tags()),
        answer(
            200,
            json!({"SchemaArn": schema_arn("orderflow.orders@OrderPlaced"),
                   "SchemaName": "orderflow.orders@OrderPlaced", "SchemaVersion": "2",
                   "Type": "OpenApi3", "Description": placed().description}),
        ),
    ]);
    let ctx = ctx(&replay, None);
    let schema = Kind::EventSchema.provider();
    let live = schema
        .read(&ctx, "orders/OrderPlaced")
        .await
        .unwrap()
        .unwrap();
    let desired = schema.desired(&ctx, "orders/OrderPlaced", &Known::new());
    let changes = diff(&desired, &live.props);
    let changed: Vec<&str> = changes.iter().map(|c| c.attribute.as_str()).collect();
    assert_eq!(changed, ["content"]);
    let out = schema
        .update(&ctx, "orders/OrderPlaced", &Known::new(), &live, &changes)
        .await
        .unwrap();
    assert_eq!(out["version"], "2");

    let sent = requests(&replay);
    assert_eq!(sent.len(), 2);
    assert_eq!(
        (sent[1].0.as_str(), sent[1].1.as_str()),
        ("PUT", PLACED_PATH)
    );
    let update = &sent[1].2;
    assert_eq!(update["Type"], "OpenApi3");
    // Only what changed: no description, and tags are not UpdateSchema's.
    assert!(update.get("Description").is_none(), "{update}");
    assert!(update.get("tags").is_none(), "{update}");
    let content: Value = serde_json::from_str(update["Content"].as_str().unwrap()).unwrap();
    assert_eq!(content, placed().openapi3());
}

#[tokio::test]
async fn deletes_the_schemas_and_the_registry_the_stack_owns() {
    let replay = Replay::new(vec![
        // Schema discovery: the stack's registries, then the schemas of the owned one.
        answer(
            200,
            json!({"Registries": [
                {"RegistryName": "shop-orders", "RegistryArn": registry_arn(), "tags": owned_tags()},
                {"RegistryName": "shop-audit", "RegistryArn": "arn:x", "tags": {"team": "audit"}},
            ]}),
        ),
        answer(
            200,
            json!({"Schemas": [
                {"SchemaName": "orderflow.orders@OrderPlaced", "SchemaArn": schema_arn("orderflow.orders@OrderPlaced"),
                 "tags": owned_tags(), "VersionCount": 2},
                // Added by hand to the stack's registry: not the stack's, never deleted.
                {"SchemaName": "mine@Other", "SchemaArn": schema_arn("mine@Other"), "tags": {}, "VersionCount": 1},
            ]}),
        ),
        // Registry discovery (outside planning nothing is shared: listed again).
        answer(
            200,
            json!({"Registries": [
                {"RegistryName": "shop-orders", "RegistryArn": registry_arn(), "tags": owned_tags()},
                {"RegistryName": "shop-audit", "RegistryArn": "arn:x", "tags": {"team": "audit"}},
            ]}),
        ),
        answer(204, Value::Null),
        answer(204, Value::Null),
    ]);
    let ctx = ctx(&replay, None);
    let schemas = Kind::EventSchema.provider().discover(&ctx).await.unwrap();
    assert_eq!(
        schemas,
        [Discovered {
            id: ResourceId::new(Kind::EventSchema, "orders/OrderPlaced"),
            physical: "shop-orders/orderflow.orders@OrderPlaced".into(),
            handle: "shop-orders/orderflow.orders@OrderPlaced".into(),
        }]
    );
    let registries = Kind::SchemaRegistry
        .provider()
        .discover(&ctx)
        .await
        .unwrap();
    assert_eq!(
        registries,
        [Discovered {
            id: ResourceId::new(Kind::SchemaRegistry, "orders"),
            physical: "shop-orders".into(),
            handle: "shop-orders".into(),
        }]
    );
    // `down` order: schemas first, then their registry.
    assert!(Kind::EventSchema.delete_rank() < Kind::SchemaRegistry.delete_rank());
    Kind::EventSchema
        .provider()
        .delete(&ctx, &schemas[0])
        .await
        .unwrap();
    Kind::SchemaRegistry
        .provider()
        .delete(&ctx, &registries[0])
        .await
        .unwrap();

    let sent: Vec<(String, String)> = requests(&replay)
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    let expected: Vec<(String, String)> = [
        ("GET", "/v1/registries?registryNamePrefix=shop-&scope=LOCAL"),
        ("GET", "/v1/registries/name/shop-orders/schemas"),
        ("GET", "/v1/registries?registryNamePrefix=shop-&scope=LOCAL"),
        ("DELETE", PLACED_PATH),
        ("DELETE", "/v1/registries/name/shop-orders"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(sent, expected);
}

#[tokio::test]
async fn a_registry_without_the_ownership_tag_is_refused_and_never_deleted() {
    let foreign = json!({"team": "orders"});
    let replay = Replay::new(vec![
        answer(
            200,
            json!({"RegistryArn": registry_arn(), "RegistryName": "shop-orders", "tags": foreign}),
        ),
        described(&placed().openapi3().to_string(), "1", foreign.clone()),
        answer(
            200,
            json!({"Registries": [{"RegistryName": "shop-orders", "RegistryArn": registry_arn(), "tags": foreign}]}),
        ),
        answer(
            200,
            json!({"Registries": [{"RegistryName": "shop-orders", "RegistryArn": registry_arn(), "tags": foreign}]}),
        ),
    ]);
    let ctx = ctx(&replay, None);
    // Read as existing but not owned: the engine refuses to manage it (Error::NotOwned).
    let live = Kind::SchemaRegistry
        .provider()
        .read(&ctx, "orders")
        .await
        .unwrap()
        .unwrap();
    assert!(!live.owned);
    let live = Kind::EventSchema
        .provider()
        .read(&ctx, "orders/OrderPlaced")
        .await
        .unwrap()
        .unwrap();
    assert!(!live.owned);
    // Not discovered, so neither `down` nor `up` ever deletes it, nor looks inside it.
    assert!(Kind::EventSchema
        .provider()
        .discover(&ctx)
        .await
        .unwrap()
        .is_empty());
    assert!(Kind::SchemaRegistry
        .provider()
        .discover(&ctx)
        .await
        .unwrap()
        .is_empty());
    let methods: Vec<String> = requests(&replay).into_iter().map(|(m, _, _)| m).collect();
    assert_eq!(methods, ["GET", "GET", "GET", "GET"]);
}

#[tokio::test]
async fn an_endpoint_without_the_schemas_api_is_skipped_with_its_answer() {
    // MiniStack 1.5.33's answer to every Schemas call, recorded.
    let replay = Replay::new(vec![answer(
        400,
        json!({"error": "Unsupported service: schemas"}),
    )]);
    let ctx = ctx(&replay, Some("http://127.0.0.1:4566"));
    let why = Kind::SchemaRegistry
        .provider()
        .unsupported(&ctx)
        .await
        .unwrap()
        .expect("skipped");
    assert!(
        why.contains("no EventBridge Schemas API") && why.contains("HTTP 400"),
        "{why}"
    );
    assert!(why.contains("Unsupported service: schemas"), "{why}");
    assert_eq!(requests(&replay)[0].1, "/v1/registries?limit=1");
}

#[tokio::test]
async fn an_aws_error_from_a_custom_endpoint_is_an_error_not_a_skip() {
    let replay = Replay::new(vec![answer(
        403,
        json!({"Code": "ForbiddenException", "Message": "not authorized to perform schemas:ListRegistries"}),
    )]);
    let ctx = ctx(&replay, Some("https://vpce.example.com"));
    let err = Kind::EventSchema
        .provider()
        .unsupported(&ctx)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ForbiddenException"));
    // A custom endpoint that has the API is used like AWS.
    let replay = Replay::new(vec![answer(200, json!({"Registries": []}))]);
    let ctx = self::ctx(&replay, Some("http://localhost:4566"));
    assert_eq!(
        Kind::EventSchema
            .provider()
            .unsupported(&ctx)
            .await
            .unwrap(),
        None
    );
}
