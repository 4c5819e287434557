//! The change-events pipe provider against recorded EventBridge Pipes answers (shapes from the
//! Pipes API reference): MiniStack keeps no pipe parameters and never fails a pipe, so what
//! AWS does — start asynchronously, fail with a reason, refuse a role IAM does not show yet,
//! refuse to change a pipe's source — is replayed here, and the requests the provider makes
//! are asserted.

#[path = "replay/mod.rs"]
mod replay;

use orderflow::resources::{Change, Discovered, Kind, Known, Live, Prop, ResourceId};
use replay::{answer, bus_arn, ctx, not_found, Replay, ACCOUNT, REGION};
use serde_json::{json, Value};

const PIPELINE: &str = "stack: shop
tags: { team: orders }
buses: { orders: {} }
tables:
  orders:
    partition_key: { name: order_id, type: S }
    stream: changes
    change_events:
      bus: orders
      source: orderflow.orders.changes
      detail_type: OrderChanged
      filter: { eventName: [INSERT] }
";

const PIPE: &str = "shop-orders-changes";

fn pipe_arn() -> String {
    format!("arn:aws:pipes:{REGION}:{ACCOUNT}:pipe/{PIPE}")
}

fn stream_arn(label: &str) -> String {
    format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/shop-orders/stream/{label}")
}

fn role_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/orderflow-service/shop/shop-orders.pipe")
}

/// What the pipe's dependencies output once they exist.
fn known(stream_label: &str) -> Known {
    let mut known = Known::new();
    known.insert(
        ResourceId::new(Kind::Table, "orders"),
        [("stream_arn".to_string(), stream_arn(stream_label))].into(),
    );
    known.insert(
        ResourceId::new(Kind::Bus, "orders"),
        [("arn".to_string(), bus_arn("orders"))].into(),
    );
    known.insert(
        ResourceId::new(Kind::ServiceRole, "pipe/orders"),
        [("arn".to_string(), role_arn())].into(),
    );
    known
}

/// DescribePipe's answer in `state`.
fn described(state: &str, reason: Option<&str>) -> Value {
    json!({
        "Arn": pipe_arn(), "Name": PIPE, "CurrentState": state, "DesiredState": "RUNNING",
        "StateReason": reason, "Source": stream_arn("1"), "Target": bus_arn("orders"),
        "RoleArn": role_arn(), "Tags": {"orderflow:stack": "shop", "team": "orders"},
        "SourceParameters": {
            "DynamoDBStreamParameters": {"StartingPosition": "TRIM_HORIZON", "BatchSize": 1},
            "FilterCriteria": {"Filters": [{"Pattern": "{\"eventName\":[\"INSERT\"]}"}]}
        },
        "TargetParameters": {
            "EventBridgeEventBusParameters": {"Source": "orderflow.orders.changes", "DetailType": "OrderChanged"}
        },
        "Description": "Changes of table shop-orders published on the bus (orderflow stack shop)"
    })
}

fn lifecycle(state: &str) -> Value {
    json!({"Arn": pipe_arn(), "Name": PIPE, "CurrentState": state, "DesiredState": "RUNNING"})
}

#[tokio::test]
async fn create_sends_source_target_role_and_parameters_and_waits_for_running() {
    let replay = Replay::new(vec![
        answer(200, lifecycle("CREATING")),
        answer(200, described("CREATING", None)),
        answer(200, described("RUNNING", None)),
    ]);
    let ctx = ctx(&replay, None, PIPELINE);
    let out = Kind::Pipe
        .provider()
        .create(&ctx, "orders", &known("1"))
        .await
        .expect("created");
    assert_eq!(out["arn"], pipe_arn());
    assert_eq!(out["name"], PIPE);

    let requests = replay.requests();
    let (method, path, body) = &requests[0];
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("POST", "/v1/pipes/shop-orders-changes")
    );
    assert_eq!(body["Source"], stream_arn("1"));
    assert_eq!(body["Target"], bus_arn("orders"));
    assert_eq!(body["RoleArn"], role_arn());
    assert_eq!(body["DesiredState"], "RUNNING");
    assert_eq!(
        body["SourceParameters"]["DynamoDBStreamParameters"],
        json!({"StartingPosition": "TRIM_HORIZON", "BatchSize": 1})
    );
    let pattern: Value = serde_json::from_str(
        body["SourceParameters"]["FilterCriteria"]["Filters"][0]["Pattern"]
            .as_str()
            .expect("a filter pattern"),
    )
    .unwrap();
    assert_eq!(pattern, json!({"eventName": ["INSERT"]}));
    assert_eq!(
        body["TargetParameters"]["EventBridgeEventBusParameters"],
        json!({"Source": "orderflow.orders.changes", "DetailType": "OrderChanged"})
    );
    assert_eq!(body["Tags"]["orderflow:stack"], "shop");
    assert_eq!(replay.unused(), 0);

    // Read back as declared: no change.
    let replay = Replay::new(vec![answer(200, described("RUNNING", None))]);
    let ctx = replay::ctx(&replay, None, PIPELINE);
    let provider = Kind::Pipe.provider();
    let live = provider
        .read(&ctx, "orders")
        .await
        .unwrap()
        .expect("exists");
    let desired = provider.desired(&ctx, "orders", &known("1"));
    let changes = orderflow::resources::diff(&desired, &live.props);
    assert!(changes.is_empty(), "{changes:?}");
}

#[tokio::test]
async fn a_pipe_that_fails_to_start_is_an_error_with_the_reason_pipes_gives() {
    let reason = "Cannot access stream arn:aws:dynamodb:…: the role is not authorized to perform dynamodb:DescribeStream";
    let replay = Replay::new(vec![
        answer(200, lifecycle("CREATING")),
        answer(200, described("CREATE_FAILED", Some(reason))),
    ]);
    let ctx = ctx(&replay, None, PIPELINE);
    let err = Kind::Pipe
        .provider()
        .create(&ctx, "orders", &known("1"))
        .await
        .expect_err("a failed pipe is not created");
    let text = err.to_string();
    assert!(text.contains("CREATE_FAILED"), "{text}");
    assert!(
        text.contains("not authorized to perform dynamodb:DescribeStream"),
        "{text}"
    );
}

#[tokio::test]
async fn a_role_pipes_cannot_assume_yet_is_retried() {
    let replay = Replay::new(vec![
        answer(
            400,
            json!({"Code": "ValidationException",
                   "Message": "Unable to assume the role arn:aws:iam::123456789012:role/x. Verify the trust policy."}),
        ),
        answer(200, lifecycle("CREATING")),
        answer(200, described("RUNNING", None)),
    ]);
    let ctx = ctx(&replay, None, PIPELINE);
    Kind::Pipe
        .provider()
        .create(&ctx, "orders", &known("1"))
        .await
        .expect("created on the second attempt");
    let posts = replay
        .calls()
        .into_iter()
        .filter(|(m, _)| m == "POST")
        .count();
    assert_eq!(posts, 2);
}

#[tokio::test]
async fn a_new_stream_replaces_the_pipe_once_the_old_one_is_gone() {
    let replay = Replay::new(vec![
        answer(200, lifecycle("DELETING")),
        answer(200, described("DELETING", None)),
        not_found("Pipe shop-orders-changes"),
        answer(200, lifecycle("CREATING")),
        answer(200, described("RUNNING", None)),
    ]);
    let ctx = ctx(&replay, None, PIPELINE);
    let live = Live {
        props: Default::default(),
        outputs: [("arn".to_string(), pipe_arn())].into(),
        owned: true,
    };
    let change = Change {
        attribute: "source".into(),
        old: Some(Value::String(stream_arn("1"))),
        new: Prop::Known(Value::String(stream_arn("2"))),
    };
    Kind::Pipe
        .provider()
        .update(&ctx, "orders", &known("2"), &live, &[change])
        .await
        .expect("replaced");
    let calls: Vec<String> = replay
        .calls()
        .into_iter()
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    let path = "/v1/pipes/shop-orders-changes";
    assert_eq!(
        calls,
        [
            format!("DELETE {path}"),
            format!("GET {path}"),
            format!("GET {path}"),
            format!("POST {path}"),
            format!("GET {path}"),
        ]
    );
    assert_eq!(replay.requests()[3].2["Source"], stream_arn("2"));
}

#[tokio::test]
async fn discovery_finds_only_pipes_tagged_for_the_stack() {
    let replay = Replay::new(vec![
        answer(
            200,
            json!({"Pipes": [
                {"Name": PIPE, "Arn": pipe_arn(), "CurrentState": "RUNNING"},
                {"Name": "shop-payments-changes", "Arn": "arn:aws:pipes:us-east-1:123456789012:pipe/shop-payments-changes", "CurrentState": "RUNNING"},
                {"Name": "shop-something-else", "Arn": "arn:aws:pipes:us-east-1:123456789012:pipe/shop-something-else", "CurrentState": "RUNNING"}
            ]}),
        ),
        answer(200, described("RUNNING", None)),
        answer(
            200,
            json!({"Arn": "arn:aws:pipes:us-east-1:123456789012:pipe/shop-payments-changes",
                   "Name": "shop-payments-changes", "CurrentState": "RUNNING",
                   "Tags": {"team": "payments"}}),
        ),
    ]);
    let ctx = ctx(&replay, None, PIPELINE);
    let found = Kind::Pipe.provider().discover(&ctx).await.unwrap();
    assert_eq!(
        found,
        [Discovered {
            id: ResourceId::new(Kind::Pipe, "orders"),
            physical: PIPE.into(),
            handle: PIPE.into(),
        }]
    );
    assert!(
        replay.calls()[0].1.starts_with("/v1/pipes?"),
        "{:?}",
        replay.calls()
    );
    assert!(
        replay.calls()[0].1.contains("NamePrefix=shop-"),
        "{:?}",
        replay.calls()
    );
}

#[tokio::test]
async fn a_pipe_that_failed_is_replaced_rather_than_updated() {
    let replay = Replay::new(vec![
        answer(200, lifecycle("DELETING")),
        not_found("Pipe shop-orders-changes"),
        answer(200, lifecycle("CREATING")),
        answer(200, described("RUNNING", None)),
    ]);
    let ctx = ctx(&replay, None, PIPELINE);
    let live = Live {
        props: [("state".to_string(), json!("CREATE_FAILED"))].into(),
        outputs: [("arn".to_string(), pipe_arn())].into(),
        owned: true,
    };
    let change = Change {
        attribute: "state".into(),
        old: Some(json!("CREATE_FAILED")),
        new: Prop::Known(json!("RUNNING")),
    };
    Kind::Pipe
        .provider()
        .update(&ctx, "orders", &known("1"), &live, &[change])
        .await
        .expect("replaced");
    let methods: Vec<String> = replay.calls().into_iter().map(|(m, _)| m).collect();
    assert_eq!(methods, ["DELETE", "GET", "POST", "GET"]);
}
