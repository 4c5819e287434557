//! Rule targets beyond Lambda, on the emulator: one event fanned out by two rules to two queues
//! (the event's detail, and a text built by an input transformer) and a topic (whose queue
//! subscriber receives it). Each destination's resource policy lets EventBridge deliver for
//! the rules that target it and no others (read back; the emulator does not enforce them), an
//! unchanged pipeline plans no changes, a removed target takes its statement with it, and
//! `down` removes the rest.

mod common;
#[path = "common/stack.rs"]
mod stack;

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_sqs::types::QueueAttributeName;
use common::TestEmulator;
use serde_json::{json, Value};
use stack::{stderr, stdout, Stack};

const PIPELINE: &str = r#"
stack: STACK
buses:
  events: {}
queues:
  copies: {}
  summaries: {}
  topic-feed: {}
  undeliverable: {}
topics:
  news:
    subscriptions: [{ queue: topic-feed, raw_message_delivery: true }]
rules:
  to-queues:
    bus: events
    event_pattern: { source: [test.orders] }
    targets:
      - { queue: copies, input_path: $.detail }
      - queue: summaries
        input_transformer:
          paths: { order: $.detail.order_id }
          template: '{"order": <order>, "rule": "<aws.events.rule-name>"}'
  to-topic:
    bus: events
    event_pattern: { source: [test.orders] }
    targets:
      - { topic: news, input_path: $.detail, dead_letter_queue: undeliverable }
"#;

async fn queue_policy(sqs: &aws_sdk_sqs::Client, url: &str) -> Value {
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::Policy)
        .send()
        .await
        .expect("GetQueueAttributes");
    attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::Policy))
        .map(|p| serde_json::from_str(p).expect("policy JSON"))
        .unwrap_or(Value::Null)
}

async fn topic_policy(sns: &aws_sdk_sns::Client, arn: &str) -> Value {
    let attrs = sns
        .get_topic_attributes()
        .topic_arn(arn)
        .send()
        .await
        .expect("GetTopicAttributes");
    attrs
        .attributes()
        .and_then(|a| a.get("Policy"))
        .map(|p| serde_json::from_str(p).expect("policy JSON"))
        .unwrap_or(Value::Null)
}

fn statements(policy: &Value) -> Vec<Value> {
    policy["Statement"].as_array().cloned().unwrap_or_default()
}

fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// The one statement with `sid`: EventBridge may do `action` on `resource`, only for `rules`.
fn assert_only_rules_may(policy: &Value, sid: &str, action: &str, resource: &str, rules: &[&str]) {
    let ours: Vec<Value> = statements(policy)
        .into_iter()
        .filter(|s| s["Sid"] == sid)
        .collect();
    assert_eq!(ours.len(), 1, "one {sid} statement in {policy:#}");
    let s = &ours[0];
    assert_eq!(s["Effect"], "Allow");
    assert_eq!(
        as_list(&s["Principal"]["Service"]),
        [json!("events.amazonaws.com")]
    );
    assert_eq!(as_list(&s["Action"]), [json!(action)]);
    assert_eq!(as_list(&s["Resource"]), [json!(resource)]);
    let mut sources = as_list(&s["Condition"]["ArnEquals"]["aws:SourceArn"]);
    sources.sort_by_key(|v| v.to_string());
    let mut expected: Vec<Value> = rules.iter().map(|r| json!(r)).collect();
    expected.sort_by_key(|v| v.to_string());
    assert_eq!(sources, expected, "{sid} on {resource}");
}

async fn rule_arn(events: &aws_sdk_eventbridge::Client, bus: &str, rule: &str) -> String {
    events
        .describe_rule()
        .name(rule)
        .event_bus_name(bus)
        .send()
        .await
        .expect("DescribeRule")
        .arn
        .expect("rule ARN")
}

#[tokio::test(flavor = "multi_thread")]
async fn rules_deliver_to_queues_and_topics_under_policies_scoped_to_them() {
    let emu = TestEmulator::start();
    let stack = Stack::with_pipeline(&emu, "targets", PIPELINE);
    stack.up();

    let config = stack.config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let sns = aws_sdk_sns::Client::new(&config);
    let events = aws_sdk_eventbridge::Client::new(&config);
    let bus = stack.physical("events");

    // One event, three deliveries.
    let detail = json!({"order_id": "o-fan-1", "total_minor": 1250});
    let put = events
        .put_events()
        .entries(
            PutEventsRequestEntry::builder()
                .event_bus_name(&bus)
                .source("test.orders")
                .detail_type("OrderPlaced")
                .detail(detail.to_string())
                .build(),
        )
        .send()
        .await
        .expect("PutEvents");
    assert_eq!(put.failed_entry_count(), 0);

    let copies = stack.queue_url(&sqs, "copies").await;
    let summaries = stack.queue_url(&sqs, "summaries").await;
    let feed = stack.queue_url(&sqs, "topic-feed").await;
    let undeliverable = stack.queue_url(&sqs, "undeliverable").await;
    assert_eq!(
        common::receive_messages(&sqs, &copies, 1).await,
        vec![detail.clone()]
    );
    assert_eq!(
        common::receive_messages(&sqs, &summaries, 1).await,
        [json!({"order": "o-fan-1", "rule": stack.physical("to-queues")})]
    );
    assert_eq!(
        common::receive_messages(&sqs, &feed, 1).await,
        vec![detail.clone()]
    );

    // Each policy lets EventBridge in for the rules that target it, and nothing else.
    let to_queues = rule_arn(&events, &bus, &stack.physical("to-queues")).await;
    let to_topic = rule_arn(&events, &bus, &stack.physical("to-topic")).await;
    let queue_arn = |name: &str| {
        format!(
            "arn:aws:sqs:us-east-1:000000000000:{}",
            stack.physical(name)
        )
    };
    let sid = "orderflow-eventbridge-dlq";
    for q in ["copies", "summaries"] {
        let url = stack.queue_url(&sqs, q).await;
        let policy = queue_policy(&sqs, &url).await;
        assert_eq!(statements(&policy).len(), 1, "{policy:#}");
        let arn = queue_arn(q);
        assert_only_rules_may(&policy, sid, "sqs:SendMessage", &arn, &[&to_queues]);
    }
    let policy = queue_policy(&sqs, &undeliverable).await;
    assert_only_rules_may(
        &policy,
        sid,
        "sqs:SendMessage",
        &queue_arn("undeliverable"),
        &[&to_topic],
    );
    let topic_arn = format!(
        "arn:aws:sns:us-east-1:000000000000:{}",
        stack.physical("news")
    );
    let before = topic_policy(&sns, &topic_arn).await;
    assert_only_rules_may(
        &before,
        "orderflow-eventbridge-rules",
        "sns:Publish",
        &topic_arn,
        &[&to_topic],
    );
    let others: Vec<Value> = statements(&before)
        .into_iter()
        .filter(|s| s["Sid"] != "orderflow-eventbridge-rules")
        .collect();

    // Read back the same: nothing to change.
    let plan = stack.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&plan),
        stderr(&plan)
    );

    // The topic target goes: its statement goes, the rest of the topic policy stays.
    stack.edit(
        "      - { topic: news, input_path: $.detail, dead_letter_queue: undeliverable }",
        "      - { queue: copies }",
    );
    stack.up();
    let after = topic_policy(&sns, &topic_arn).await;
    let kept: Vec<Value> = statements(&after);
    assert_eq!(
        kept, others,
        "only orderflow's statement is removed: {after:#}"
    );
    let policy = queue_policy(&sqs, &copies).await;
    assert_only_rules_may(
        &policy,
        sid,
        "sqs:SendMessage",
        &queue_arn("copies"),
        &[&to_queues, &to_topic],
    );

    let down = stack.run(&["down", "--yes"]);
    assert!(
        down.status.success(),
        "{}\n{}",
        stdout(&down),
        stderr(&down)
    );
    let rules = events
        .list_rules()
        .name_prefix(&stack.name)
        .send()
        .await
        .map(|o| o.rules().len())
        .unwrap_or(0);
    assert_eq!(rules, 0, "rules left after down");
    let left = sqs
        .list_queues()
        .queue_name_prefix(&stack.name)
        .send()
        .await
        .expect("ListQueues");
    assert!(left.queue_urls().is_empty(), "{:?}", left.queue_urls());
}

const BUS_PIPELINE: &str = r#"
stack: STACK
buses:
  intake: {}
  partners: {}
queues:
  partner-feed: {}
rules:
  forward:
    bus: intake
    event_pattern: { source: [test.orders] }
    targets:
      - { bus: partners }
  collect:
    bus: partners
    event_pattern: { source: [test.orders] }
    targets:
      - { queue: partner-feed, input_path: $.detail }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_rule_forwards_to_another_bus_with_a_role_only_it_may_assume() {
    let emu = TestEmulator::start();
    let stack = Stack::with_pipeline(&emu, "busfwd", BUS_PIPELINE);
    stack.up();
    let config = stack.config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let events = aws_sdk_eventbridge::Client::new(&config);
    let iam = aws_sdk_iam::Client::new(&config);
    let intake = stack.physical("intake");
    let partners = stack.physical("partners");

    // An event on one bus arrives on the other, where the second rule delivers it.
    let detail = json!({"order_id": "o-fwd-1"});
    let put = events
        .put_events()
        .entries(
            PutEventsRequestEntry::builder()
                .event_bus_name(&intake)
                .source("test.orders")
                .detail_type("OrderPlaced")
                .detail(detail.to_string())
                .build(),
        )
        .send()
        .await
        .expect("PutEvents");
    assert_eq!(put.failed_entry_count(), 0);
    let feed = stack.queue_url(&sqs, "partner-feed").await;
    assert_eq!(common::receive_messages(&sqs, &feed, 1).await, vec![detail]);

    // The target names the other bus and the rule's role; the role may be assumed by
    // EventBridge for this rule only, and may put events on that bus only.
    let forward = stack.physical("forward");
    let targets = events
        .list_targets_by_rule()
        .rule(&forward)
        .event_bus_name(&intake)
        .send()
        .await
        .expect("ListTargetsByRule");
    let target = &targets.targets()[0];
    let partners_arn = format!("arn:aws:events:us-east-1:000000000000:event-bus/{partners}");
    assert_eq!(target.arn(), partners_arn);
    assert_eq!(target.id(), "bus-partners");
    let role_name = format!("{forward}.rule");
    assert!(
        target
            .role_arn()
            .is_some_and(|r| r.ends_with(&format!("/{role_name}"))),
        "{target:?}"
    );
    let role = iam
        .get_role()
        .role_name(&role_name)
        .send()
        .await
        .expect("GetRole")
        .role
        .expect("role");
    let trust = orderflow::resources::policy::decode_policy_document(
        role.assume_role_policy_document().expect("trust"),
    )
    .expect("trust JSON");
    let st = &trust["Statement"][0];
    assert_eq!(st["Principal"]["Service"], "events.amazonaws.com");
    assert_eq!(
        st["Condition"]["StringEquals"]["aws:SourceArn"],
        rule_arn(&events, &intake, &forward).await
    );
    let policy = iam
        .get_role_policy()
        .role_name(&role_name)
        .policy_name(orderflow::resources::policy::INLINE_POLICY_NAME)
        .send()
        .await
        .expect("GetRolePolicy");
    let policy =
        orderflow::resources::policy::decode_policy_document(policy.policy_document()).unwrap();
    assert_eq!(
        orderflow::resources::policy::actions_and_resources(&policy),
        [("events:PutEvents".to_string(), partners_arn.clone())]
    );

    // The policy simulator agrees.
    let intake_arn = format!("arn:aws:events:us-east-1:000000000000:event-bus/{intake}");
    for (resource, allowed) in [(&partners_arn, true), (&intake_arn, false)] {
        let decision =
            common::simulated_decision(&iam, &role_name, "events:PutEvents", resource).await;
        assert_eq!(
            decision == "allowed",
            allowed,
            "PutEvents on {resource}: {decision}"
        );
    }

    let plan = stack.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&plan),
        stderr(&plan)
    );

    // A rule may not forward to its own bus: every event would match again.
    stack.edit("      - { bus: partners }", "      - { bus: intake }");
    let loop_plan = stack.run(&["plan"]);
    assert_eq!(loop_plan.status.code(), Some(1), "{}", stderr(&loop_plan));
    assert!(
        stderr(&loop_plan).contains("cannot target the same bus"),
        "{}",
        stderr(&loop_plan)
    );
    stack.edit("      - { bus: intake }", "      - { bus: partners }");

    let down = stack.run(&["down", "--yes"]);
    assert!(
        down.status.success(),
        "{}\n{}",
        stdout(&down),
        stderr(&down)
    );
    assert!(
        iam.get_role().role_name(&role_name).send().await.is_err(),
        "the rule's role is left after down"
    );
}
