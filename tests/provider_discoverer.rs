//! The schema discoverer provider (`buses.<bus>.schemas.discover`) against recorded Schemas API
//! answers: no emulator has that API, so each test gives the SDK a replay client with the
//! answers AWS gives (shapes from the Schemas API reference) and asserts the requests the
//! provider makes — method, path, body. One test runs `plan` and `up` against the emulator,
//! which lacks the API: the discoverer is skipped and said so, the bus is still made.

mod common;
mod replay;

use orderflow::resources::{diff, Discovered, Kind, Known, Outputs, Prop, ResourceId};
use replay::{answer, bus_arn, ctx, not_found, Replay, ACCOUNT, REGION};
use serde_json::{json, Value};

const PIPELINE: &str = "stack: shop\ntags: { team: orders }\nbuses:\n  orders: { schemas: { discover: true } }\n  orders-audit: {}\n";

/// What ListDiscoverers is asked: the stack's bus ARN prefix.
const LIST_PATH: &str =
    "/v1/discoverers?sourceArnPrefix=arn%3Aaws%3Aevents%3Aus-east-1%3A123456789012%3Aevent-bus%2Fshop-";

const ID: &str = "events-event-bus-shop-orders";

fn discoverer_arn(id: &str) -> String {
    format!("arn:aws:schemas:{REGION}:{ACCOUNT}:discoverer/{id}")
}

fn owned_tags() -> Value {
    json!({"orderflow:stack": "shop", "team": "orders", "owner": "someone-else"})
}

fn description() -> &'static str {
    "Schema discovery on event bus shop-orders (orderflow stack shop)"
}

fn summary(id: &str, bus: &str, tags: Value) -> Value {
    json!({"DiscovererId": id, "DiscovererArn": discoverer_arn(id), "SourceArn": bus_arn(bus),
           "State": "STARTED", "CrossAccount": true, "tags": tags})
}

/// DescribeDiscoverer's answer for the orders bus's discoverer.
fn described(description: &str, state: &str, tags: Value) -> replay::Answer {
    answer(
        200,
        json!({"DiscovererId": ID, "DiscovererArn": discoverer_arn(ID), "SourceArn": bus_arn("orders"),
               "Description": description, "State": state, "CrossAccount": true, "tags": tags}),
    )
}

fn known_bus() -> Known {
    Known::from([(
        ResourceId::new(Kind::Bus, "orders"),
        Outputs::from([
            ("name".to_string(), "shop-orders".to_string()),
            ("arn".to_string(), bus_arn("orders")),
        ]),
    )])
}

#[tokio::test]
async fn creates_the_discoverer_on_the_bus_arn_with_the_ownership_tag() {
    let replay = Replay::new(vec![
        // Only the discoverer of `shop-orders-audit`, which the prefix also matches.
        answer(
            200,
            json!({"Discoverers": [summary("events-event-bus-shop-orders-audit", "orders-audit", owned_tags())]}),
        ),
        answer(
            201,
            json!({"DiscovererId": ID, "DiscovererArn": discoverer_arn(ID), "SourceArn": bus_arn("orders"),
                   "Description": description(), "State": "STARTED", "CrossAccount": true,
                   "tags": {"orderflow:stack": "shop", "team": "orders"}}),
        ),
    ]);
    let ctx = ctx(&replay, None, PIPELINE);
    let p = Kind::Discoverer.provider();
    // Never probed on AWS: the API is there.
    assert_eq!(p.unsupported(&ctx).await.unwrap(), None);
    // The bus does not exist yet: its ARN is known after apply.
    assert_eq!(
        p.desired(&ctx, "orders", &Known::new())["source_arn"],
        Prop::Unknown
    );
    assert!(p.read(&ctx, "orders").await.unwrap().is_none());
    let out = p.create(&ctx, "orders", &known_bus()).await.unwrap();
    assert_eq!(out["id"], ID);
    assert_eq!(out["arn"], discoverer_arn(ID));

    let sent = replay.requests();
    assert_eq!(
        replay.calls(),
        [
            ("GET".to_string(), LIST_PATH.to_string()),
            ("POST".to_string(), "/v1/discoverers".to_string()),
        ]
    );
    assert_eq!(
        sent[1].2,
        json!({"SourceArn": bus_arn("orders"), "Description": description(),
               "tags": {"orderflow:stack": "shop", "team": "orders"}})
    );
}

#[tokio::test]
async fn a_matching_discoverer_is_unchanged_with_reads_only() {
    let replay = Replay::new(vec![
        answer(
            200,
            json!({"Discoverers": [summary(ID, "orders", owned_tags())]}),
        ),
        described(description(), "STARTED", owned_tags()),
    ]);
    let ctx = ctx(&replay, None, PIPELINE);
    let p = Kind::Discoverer.provider();
    let live = p.read(&ctx, "orders").await.unwrap().expect("found");
    assert!(live.owned);
    assert_eq!(live.outputs["id"], ID);
    let desired = p.desired(&ctx, "orders", &known_bus());
    assert_eq!(diff(&desired, &live.props), vec![]);
    assert_eq!(
        replay.calls()[1],
        ("GET".into(), format!("/v1/discoverers/id/{ID}"))
    );
    assert_eq!(replay.unused(), 0);
}

#[tokio::test]
async fn a_changed_description_a_stopped_state_and_a_changed_tag_are_updated() {
    let replay = Replay::new(vec![
        answer(
            200,
            json!({"Discoverers": [summary(ID, "orders", owned_tags())]}),
        ),
        described(
            "turned on by hand",
            "STOPPED",
            json!({"orderflow:stack": "shop", "team": "billing", "owner": "someone-else"}),
        ),
        answer(
            200,
            json!({"DiscovererId": ID, "Description": description()}),
        ),
        answer(200, json!({"DiscovererId": ID, "State": "STARTED"})),
        answer(204, Value::Null),
    ]);
    let ctx = ctx(&replay, None, PIPELINE);
    let p = Kind::Discoverer.provider();
    let live = p.read(&ctx, "orders").await.unwrap().unwrap();
    let desired = p.desired(&ctx, "orders", &known_bus());
    let changes = diff(&desired, &live.props);
    let changed: Vec<&str> = changes.iter().map(|c| c.attribute.as_str()).collect();
    assert_eq!(changed, ["description", "state", "tags"]);
    p.update(&ctx, "orders", &known_bus(), &live, &changes)
        .await
        .unwrap();

    let sent = replay.requests();
    let writes: Vec<(&str, &str, &Value)> = sent[2..]
        .iter()
        .map(|(m, p, b)| (m.as_str(), p.as_str(), b))
        .collect();
    let tags_path = format!(
        "/tags/{}",
        discoverer_arn(ID).replace(':', "%3A").replace('/', "%2F")
    );
    assert_eq!(
        writes,
        [
            (
                "PUT",
                format!("/v1/discoverers/id/{ID}").as_str(),
                &json!({"Description": description()})
            ),
            (
                "POST",
                format!("/v1/discoverers/id/{ID}/start").as_str(),
                &Value::Null
            ),
            // Only the managed tag that differs; the foreign `owner` tag is left alone.
            (
                "POST",
                tags_path.as_str(),
                &json!({"tags": {"team": "orders"}})
            ),
        ]
    );
}

#[tokio::test]
async fn a_foreign_discoverer_is_refused_and_never_deleted() {
    let foreign = json!({"team": "orders"});
    let listing = answer(
        200,
        json!({"Discoverers": [
            // Turned on by hand on the stack's bus: not the stack's.
            summary(ID, "orders", foreign.clone()),
            // The stack's, on a bus the pipeline no longer declares: deleted.
            summary("events-event-bus-shop-old", "old", owned_tags()),
        ]}),
    );
    let replay = Replay::new(vec![
        listing,
        described("turned on by hand", "STARTED", foreign.clone()),
        answer(
            200,
            json!({"Discoverers": [summary(ID, "orders", foreign.clone()),
                                   summary("events-event-bus-shop-old", "old", owned_tags())]}),
        ),
        answer(204, Value::Null),
    ]);
    let ctx = ctx(&replay, None, PIPELINE);
    let p = Kind::Discoverer.provider();
    // Read as existing but not owned: the engine refuses to manage it (Error::NotOwned).
    let live = p.read(&ctx, "orders").await.unwrap().unwrap();
    assert!(!live.owned);
    // Discovery lists only the owned one, so neither `down` nor `up` deletes the foreign one.
    let found = p.discover(&ctx).await.unwrap();
    assert_eq!(
        found,
        [Discovered {
            id: ResourceId::new(Kind::Discoverer, "old"),
            physical: "events-event-bus-shop-old".into(),
            handle: "events-event-bus-shop-old".into(),
        }]
    );
    for target in &found {
        p.delete(&ctx, target).await.unwrap();
    }
    let deletes: Vec<String> = replay
        .calls()
        .into_iter()
        .filter(|(m, _)| m == "DELETE")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(deletes, ["/v1/discoverers/id/events-event-bus-shop-old"]);
}

#[tokio::test]
async fn an_already_deleted_discoverer_is_gone() {
    let replay = Replay::new(vec![
        not_found("Discoverer events-event-bus-shop-old"),
        not_found("Discoverer events-event-bus-shop-old"),
    ]);
    let ctx = ctx(&replay, None, PIPELINE);
    let target = Discovered {
        id: ResourceId::new(Kind::Discoverer, "old"),
        physical: "events-event-bus-shop-old".into(),
        handle: "events-event-bus-shop-old".into(),
    };
    let p = Kind::Discoverer.provider();
    p.delete(&ctx, &target).await.unwrap();
    assert!(!p.still_visible(&ctx, &target).await.unwrap());
}

#[tokio::test]
async fn an_endpoint_without_the_schemas_api_skips_the_discoverer_and_says_why() {
    // MiniStack 1.5.33's answer to every Schemas call, recorded; shared while planning.
    let replay = Replay::new(vec![answer(
        400,
        json!({"error": "Unsupported service: schemas"}),
    )]);
    let ctx = ctx(&replay, Some("http://127.0.0.1:4566"), PIPELINE);
    let skipped = {
        let _shared = ctx.aws.reads.planning();
        let unsupported = orderflow::plan::unsupported_kinds(&ctx).await.unwrap();
        // Nothing was created there, so nothing is discovered (`down`).
        assert!(Kind::Discoverer
            .provider()
            .discover(&ctx)
            .await
            .unwrap()
            .is_empty());
        unsupported
    };
    let why = &skipped[&Kind::Discoverer];
    assert!(
        why.contains("no EventBridge Schemas API") && why.contains("HTTP 400"),
        "{why}"
    );
    assert!(
        why.ends_with("schema discovery is managed on AWS only"),
        "{why}"
    );
    // The registry keeps its own reason.
    assert!(skipped[&Kind::SchemaRegistry].ends_with("the schema registry is managed on AWS only"));
    let notes = orderflow::plan::skipped_notes(&[orderflow::plan::Skipped {
        id: ResourceId::new(Kind::Discoverer, "orders"),
        physical: Kind::Discoverer.provider().display_name(&ctx, "orders"),
        reason: why.clone(),
    }]);
    assert_eq!(notes, [format!("skipped discoverer.orders: {why}")]);
    // One probe, shared.
    assert_eq!(
        replay.calls(),
        [("GET".into(), "/v1/registries?limit=1".into())]
    );
}

#[test]
fn plan_and_up_on_the_emulator_skip_the_discoverer_and_say_so() {
    let emu = common::TestEmulator::start();
    let dir = tempfile::tempdir().unwrap();
    let stack = common::unique_stack("discover");
    std::fs::write(
        dir.path().join("pipeline.yaml"),
        format!("stack: {stack}\nbuses:\n  orders:\n    schemas: {{ discover: true }}\n"),
    )
    .unwrap();
    let out = common::orderflow(emu.endpoint(), dir.path(), &["plan"]);
    assert!(out.status.success(), "{}", common::describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("skipped discoverer.orders: this endpoint has no EventBridge Schemas API"),
        "{text}"
    );
    let out = common::orderflow(
        emu.endpoint(),
        dir.path(),
        &["up", "--yes", "--output", "json"],
    );
    assert!(out.status.success(), "{}", common::describe(&out));
    let up: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        up["skipped"][0]["id"],
        json!({"kind": "discoverer", "name": "orders"})
    );
    assert!(up["skipped"][0]["reason"]
        .as_str()
        .unwrap()
        .ends_with("schema discovery is managed on AWS only"));
    assert_eq!(up["plan"]["skipped"], 1);
    let applied: Vec<&Value> = up["applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["id"])
        .collect();
    assert_eq!(applied, [&json!({"kind": "bus", "name": "orders"})]);
}
