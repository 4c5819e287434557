//! A table's change events on the emulator: the default pipeline's orders table streams its
//! changes, an EventBridge Pipe publishes those that change an order's status on the bus, and
//! rule order-audit sends them to the `audit` queue. The pipe, its role (trust and policy) and
//! the stream are read back; MiniStack does not deliver pipes to a bus, so the delivery itself
//! is `common/pipe_relay.rs`, which reads the deployed pipe's stream and bus and follows AWS's
//! documented semantics. Then: one audit message per status transition of each order, in
//! order, and none for the writes that leave the status as it was.

mod common;
#[path = "common/pipe_relay.rs"]
mod pipe_relay;
#[path = "common/stack.rs"]
mod stack;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use common::TestEmulator;
use pipe_relay::PipeRelay;
use serde_json::Value;
use stack::{default_spec, stderr, stdout, Stack};

const ORDERS: [(&str, &[&str]); 3] = [
    ("ord-audit-api", &["--via", "api"]),
    ("ord-audit-bus", &[]),
    ("ord-audit-bad", &["--invalid"]),
];

fn statuses_of(item: &std::collections::HashMap<String, AttributeValue>) -> Vec<String> {
    item.get("status_history")
        .and_then(|h| h.as_l().ok())
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| e.as_m().ok()?.get("status")?.as_s().ok().cloned())
                .collect()
        })
        .unwrap_or_default()
}

/// The order's item once its outcome is settled and its customer notified: every write the
/// pipeline makes for it is done.
async fn finished_item(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    order_id: &str,
) -> Option<std::collections::HashMap<String, AttributeValue>> {
    let item = ddb
        .get_item()
        .table_name(table)
        .key("order_id", AttributeValue::S(order_id.into()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item?;
    let status = item.get("status")?.as_s().ok()?.clone();
    let settled = item
        .get("settled_statuses")
        .and_then(|s| s.as_ss().ok())
        .is_some_and(|s| s.contains(&status));
    let notified = item.contains_key("notifications");
    (matches!(status.as_str(), "PROCESSED" | "REJECTED") && settled && notified).then_some(item)
}

fn status_in(record: &Value, image: &str) -> Option<String> {
    record["dynamodb"][image]["status"]["S"]
        .as_str()
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_queue_gets_one_change_event_per_status_transition() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "audit", &[]);
    stack.up();
    let config = stack.config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let pipes = aws_sdk_pipes::Client::new(&config);
    let iam = aws_sdk_iam::Client::new(&config);
    let events = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);

    // The pipe reads this table's stream and targets this bus, as its own role.
    let table = stack.physical("orders");
    let described = ddb
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .expect("DescribeTable");
    let t = described.table().expect("table");
    let stream_spec = t.stream_specification().expect("a stream");
    assert!(stream_spec.stream_enabled());
    assert_eq!(
        stream_spec.stream_view_type().map(|v| v.as_str()),
        Some("NEW_AND_OLD_IMAGES")
    );
    let stream_arn = t.latest_stream_arn().expect("stream ARN").to_string();
    let bus_arn = events
        .describe_event_bus()
        .name(stack.physical("orders"))
        .send()
        .await
        .expect("DescribeEventBus")
        .arn
        .expect("bus ARN");
    let pipe_name = format!("{}-orders-changes", stack.name);
    let pipe = pipes
        .describe_pipe()
        .name(&pipe_name)
        .send()
        .await
        .expect("DescribePipe");
    assert_eq!(pipe.source(), Some(stream_arn.as_str()));
    assert_eq!(pipe.target(), Some(bus_arn.as_str()));
    assert_eq!(pipe.current_state().map(|s| s.as_str()), Some("RUNNING"));
    assert_eq!(
        pipe.tags().and_then(|t| t.get("orderflow:stack")),
        Some(&stack.name)
    );
    let role_name = format!("{}-orders.pipe", stack.name);
    assert!(
        pipe.role_arn()
            .is_some_and(|r| r.ends_with(&format!("/{role_name}"))),
        "{:?}",
        pipe.role_arn()
    );

    // Only Pipes, only for this pipe, may assume the role; it may read this stream and put
    // events on this bus, nothing else.
    let role = iam
        .get_role()
        .role_name(&role_name)
        .send()
        .await
        .expect("GetRole")
        .role
        .expect("role");
    let trust: Value = serde_json::from_str(&urlencoding_decode(
        role.assume_role_policy_document().expect("trust"),
    ))
    .expect("trust JSON");
    let st = &trust["Statement"][0];
    assert_eq!(st["Principal"]["Service"], "pipes.amazonaws.com");
    assert_eq!(
        st["Condition"]["StringEquals"]["aws:SourceArn"],
        pipe.arn().expect("pipe ARN")
    );
    let policy = iam
        .get_role_policy()
        .role_name(&role_name)
        .policy_name(orderflow::resources::policy::INLINE_POLICY_NAME)
        .send()
        .await
        .expect("GetRolePolicy");
    let policy: Value =
        serde_json::from_str(&urlencoding_decode(policy.policy_document())).expect("policy");
    let grants: BTreeMap<String, (Value, Value)> = policy["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .map(|s| {
            (
                s["Sid"].as_str().unwrap_or_default().to_string(),
                (s["Action"].clone(), s["Resource"].clone()),
            )
        })
        .collect();
    assert_eq!(grants.len(), 2, "{policy:#}");
    assert_eq!(
        grants["ReadTableStream"].1,
        Value::String(stream_arn.clone())
    );
    assert_eq!(
        grants["PutEventsOnBus"],
        (
            serde_json::json!(["events:PutEvents"]),
            Value::String(bus_arn.clone())
        )
    );

    // IAM's policy simulator agrees: the stream's reads and this bus, nothing else.
    let other_stream = stream_arn.replace(&table, &format!("{table}-other"));
    let other_bus = bus_arn.replace(&stack.physical("orders"), "someone-elses-bus");
    for (action, resource, allowed) in [
        ("dynamodb:GetRecords", stream_arn.as_str(), true),
        ("dynamodb:GetShardIterator", stream_arn.as_str(), true),
        ("dynamodb:DescribeStream", stream_arn.as_str(), true),
        ("dynamodb:ListStreams", stream_arn.as_str(), true),
        ("events:PutEvents", bus_arn.as_str(), true),
        ("dynamodb:GetRecords", other_stream.as_str(), false),
        ("dynamodb:GetItem", t.table_arn().expect("table ARN"), false),
        ("events:PutEvents", other_bus.as_str(), false),
    ] {
        let decision = common::simulated_decision(&iam, &role_name, action, resource).await;
        assert_eq!(
            decision == "allowed",
            allowed,
            "{action} on {resource}: {decision}"
        );
    }

    // Deployed as declared: nothing to change.
    let plan = stack.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&plan),
        stderr(&plan)
    );

    let spec = default_spec();
    let declared = spec.tables["orders"]
        .change_events
        .as_ref()
        .expect("orders has change events");
    let mut relay = PipeRelay::of_deployed(
        &config,
        &pipe_name,
        &declared.source,
        &declared.detail_type,
        declared.filter.as_ref(),
    )
    .await;

    for (order_id, args) in ORDERS {
        let mut cmd = vec!["send-order", "--wait", "--order-id", order_id];
        cmd.extend_from_slice(args);
        let out = stack.run(&cmd);
        assert!(
            matches!(out.status.code(), Some(0 | 3)),
            "{order_id}: {}\n{}",
            stdout(&out),
            stderr(&out)
        );
    }

    // Relay until every order is finished, then until the stream is drained.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut histories = BTreeMap::new();
    while histories.len() < ORDERS.len() {
        relay.pump().await;
        for (order_id, _) in ORDERS {
            if let Some(item) = finished_item(&ddb, &table, order_id).await {
                histories.insert(order_id, statuses_of(&item));
            }
        }
        assert!(
            Instant::now() < deadline,
            "orders not finished after 120 s: {histories:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    while relay.pump().await > 0 {}
    assert_eq!(
        histories["ord-audit-api"],
        ["RECEIVED", "VALIDATED", "PROCESSED"]
    );
    assert_eq!(histories["ord-audit-bus"], ["VALIDATED", "PROCESSED"]);
    assert_eq!(histories["ord-audit-bad"], ["REJECTED"]);

    // The filter kept the transitions and dropped the writes that left the status alone
    // (notification claims, settled events).
    let dropped: Vec<&Value> = relay
        .seen
        .iter()
        .filter(|r| !relay.published.contains(r))
        .collect();
    assert!(
        !dropped.is_empty(),
        "notify-customer's writes reach the stream"
    );
    for r in &dropped {
        assert_eq!(r["eventName"], "MODIFY", "{r}");
        assert_eq!(status_in(r, "NewImage"), status_in(r, "OldImage"), "{r}");
    }

    // One audit message per transition, in order, each the event the rule matched.
    let expected: usize = histories.values().map(Vec::len).sum();
    let audit = stack.queue_url(&sqs, "audit").await;
    let messages = common::receive_messages(&sqs, &audit, expected).await;
    let more = sqs
        .receive_message()
        .queue_url(&audit)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("ReceiveMessage");
    assert!(more.messages().is_empty(), "more than {expected}: {more:?}");
    let mut audited: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in &messages {
        assert_eq!(m["source"], "orderflow.orders.changes", "{m}");
        assert_eq!(m["detail-type"], "OrderChanged", "{m}");
        let order = m["detail"]["dynamodb"]["Keys"]["order_id"]["S"]
            .as_str()
            .expect("order id")
            .to_string();
        audited
            .entry(order)
            .or_default()
            .push(status_in(&m["detail"], "NewImage").expect("new status"));
    }
    for (order_id, history) in &histories {
        assert_eq!(audited.get(*order_id), Some(history), "{order_id}");
    }

    // down takes the pipe and its role with it.
    let down = stack.run(&["down", "--yes"]);
    assert!(
        down.status.success(),
        "{}\n{}",
        stdout(&down),
        stderr(&down)
    );
    let gone = pipes.describe_pipe().name(&pipe_name).send().await;
    assert!(gone.is_err(), "pipe left after down: {gone:?}");
    let gone = iam.get_role().role_name(&role_name).send().await;
    assert!(gone.is_err(), "role left after down: {gone:?}");
}

/// IAM returns policy documents URL-encoded.
fn urlencoding_decode(s: &str) -> String {
    orderflow::resources::policy::decode_policy_document(s)
        .map(|v| v.to_string())
        .unwrap_or_else(|| s.to_string())
}

const LIFECYCLE: &str = r#"
stack: STACK
buses:
  events: {}
tables:
  items:
    partition_key: { name: id, type: S }
"#;

const WITH_CHANGES: &str = r#"    partition_key: { name: id, type: S }
    stream: changes
    change_events: { bus: events }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn change_events_turned_on_and_off_take_their_stream_pipe_and_role_along() {
    let emu = TestEmulator::start();
    let stack = Stack::with_pipeline(&emu, "chg", LIFECYCLE);
    stack.up();
    let config = stack.config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let pipes = aws_sdk_pipes::Client::new(&config);
    let iam = aws_sdk_iam::Client::new(&config);
    let table = stack.physical("items");
    let pipe_name = format!("{table}-changes");
    let role_name = format!("{table}.pipe");
    let stream_of = |ddb: aws_sdk_dynamodb::Client, table: String| async move {
        let t = ddb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .expect("DescribeTable")
            .table
            .expect("table");
        t.stream_specification()
            .filter(|s| s.stream_enabled())
            .and(t.latest_stream_arn().map(str::to_string))
    };
    assert_eq!(stream_of(ddb.clone(), table.clone()).await, None);

    // On: the existing table gets its stream, then the role and the pipe reading it.
    stack.edit("    partition_key: { name: id, type: S }\n", WITH_CHANGES);
    let plan = stack.json(&["plan", "--output", "json"]);
    let planned: Vec<String> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] != "unchanged")
        .map(|s| {
            format!(
                "{} {}.{}",
                s["action"].as_str().unwrap(),
                s["id"]["kind"].as_str().unwrap(),
                s["id"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        planned,
        [
            "update table.items",
            "create service_role.pipe/items",
            "create pipe.items"
        ],
        "{plan}"
    );
    stack.up();
    let stream = stream_of(ddb.clone(), table.clone())
        .await
        .expect("a stream after up");
    let pipe = pipes
        .describe_pipe()
        .name(&pipe_name)
        .send()
        .await
        .expect("DescribePipe");
    assert_eq!(pipe.source(), Some(stream.as_str()));
    let plan = stack.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", stdout(&plan));

    // Off: pipe and role go, then the stream.
    stack.edit(WITH_CHANGES, "    partition_key: { name: id, type: S }\n");
    stack.up();
    assert!(pipes.describe_pipe().name(&pipe_name).send().await.is_err());
    assert!(iam.get_role().role_name(&role_name).send().await.is_err());
    assert_eq!(stream_of(ddb.clone(), table.clone()).await, None);
    let plan = stack.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", stdout(&plan));
}
