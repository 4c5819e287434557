//! The topic, subscription, topic-permission, queue-policy (shared by rules and topics) and
//! email-identity providers against MiniStack, and messages through a topic to a queue.
//!
//! Each test starts its own emulator (`common::TestEmulator`) and uses its own stack name.
//! Write calls are checked through the clients' call log (`Clients::calls`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use orderflow::build::package;
use orderflow::resources::{Ctx, Discovered, Kind, Known, Outputs, Provider, ResourceId};
use orderflow::spec::model::{
    Architecture, Bus, Destination, EmailIdentity, FilterPolicyScope, Function, Queue,
    QueueEncryption, Rule, RuleTarget, Subscriber, TargetInput, Topic, TopicSubscription,
};
use orderflow::spec::Spec;
use serde_json::{json, Value};

mod common;
#[path = "common/providers.rs"]
mod providers;
use providers::*;

use common::{unique_stack, TestEmulator, REGION};

fn empty_spec(stack: &str) -> Spec {
    Spec {
        region: Some(REGION.into()),
        tags: BTreeMap::from([("team".to_string(), "orders".to_string())]),
        ..Spec::empty(stack)
    }
}

fn queue() -> Queue {
    Queue {
        visibility_timeout_secs: 30,
        retention_secs: 345_600,
        encryption: QueueEncryption::SqsManaged,
        dead_letter: None,
    }
}

fn subscription(subscriber: Subscriber) -> TopicSubscription {
    TopicSubscription {
        subscriber,
        filter_policy: None,
        filter_policy_scope: FilterPolicyScope::MessageAttributes,
        raw_message_delivery: false,
    }
}

fn topic(subscriptions: Vec<TopicSubscription>) -> Topic {
    Topic {
        display_name: None,
        subscriptions,
    }
}

/// Apply the changes `ctx`'s spec makes to a resource; return the attributes that changed and
/// the write calls the update made.
async fn update_changed(
    p: &dyn Provider,
    ctx: &Ctx,
    name: &str,
    known: &Known,
) -> (Vec<String>, Vec<String>) {
    let (live, changes) = changes_for(p, ctx, name, known).await;
    let mut attrs: Vec<String> = changes.iter().map(|c| c.attribute.clone()).collect();
    attrs.sort();
    let from = writes(ctx).len();
    p.update(ctx, name, known, &live, &changes)
        .await
        .unwrap_or_else(|e| panic!("updating {}.{name}: {e}", p.kind()));
    (attrs, writes_since(ctx, from))
}

/// Create through the provider and remember the outputs.
async fn create(p: &dyn Provider, ctx: &Ctx, name: &str, known: &mut Known) -> Outputs {
    let out = p
        .create(ctx, name, known)
        .await
        .unwrap_or_else(|e| panic!("creating {}.{name}: {e}", p.kind()));
    known.insert(ResourceId::new(p.kind(), name), out.clone());
    out
}

/// The queue's policy document as SQS holds it (`null` without one).
async fn queue_policy_doc(ctx: &Ctx, url: &str) -> Value {
    let out = ctx
        .aws
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::Policy)
        .send()
        .await
        .unwrap();
    let raw = out
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::Policy))
        .cloned()
        .unwrap_or_default();
    serde_json::from_str::<Value>(&raw).unwrap_or(Value::Null)
}

fn sids(doc: &Value) -> Vec<String> {
    doc["Statement"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(|st| st["Sid"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn topic_lifecycle_and_foreign_topics() {
    let emu = TestEmulator::start();
    let endpoint = emu.endpoint();
    let stack = unique_stack("pntopic");
    let mut spec = empty_spec(&stack);
    spec.topics.insert(
        "notify".into(),
        Topic {
            display_name: Some("Order updates".into()),
            subscriptions: Vec::new(),
        },
    );
    spec.topics.insert("foreign".into(), topic(Vec::new()));
    let c = ctx(endpoint, spec.clone()).await;
    let p = Kind::Topic.provider();
    let mut known = Known::new();
    assert!(p.read(&c, "notify").await.unwrap().is_none());

    let out = create(p, &c, "notify", &mut known).await;
    assert_eq!(writes_since(&c, 0), ["CreateTopic"]);
    assert_eq!(out["name"], format!("{stack}-notify"));
    assert!(out["arn"].ends_with(&format!(":{stack}-notify")), "{out:?}");
    let live = read_unchanged(p, &c, "notify", &known).await;
    assert_eq!(live.outputs, out);
    assert_eq!(live.props["display_name"], json!("Order updates"));

    // A foreign tag is neither reported nor removed; display name and a new spec tag change.
    c.aws
        .sns
        .tag_resource()
        .resource_arn(&out["arn"])
        .tags(
            aws_sdk_sns::types::Tag::builder()
                .key("owner")
                .value("someone-else")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    spec.topics.get_mut("notify").unwrap().display_name = None;
    spec.tags.insert("env".into(), "test".into());
    let c2 = ctx(endpoint, spec.clone()).await;
    let (attrs, calls) = update_changed(p, &c2, "notify", &known).await;
    assert_eq!(attrs, ["display_name", "tags"]);
    assert_eq!(calls, ["SetTopicAttributes", "TagResource"]);
    let live = read_unchanged(p, &c2, "notify", &known).await;
    assert_eq!(live.props["display_name"], Value::Null);
    let tags = c2
        .aws
        .sns
        .list_tags_for_resource()
        .resource_arn(&out["arn"])
        .send()
        .await
        .unwrap();
    assert!(tags.tags().iter().any(|t| t.key() == "owner"));

    // Same name, no ownership tag: read as not owned, never discovered.
    let foreign_arn = c2
        .aws
        .sns
        .create_topic()
        .name(format!("{stack}-foreign"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let foreign = p.read(&c2, "foreign").await.unwrap().unwrap();
    assert!(!foreign.owned);
    let found = p.discover(&c2).await.unwrap();
    assert!(found
        .iter()
        .all(|d| d.id != ResourceId::new(Kind::Topic, "foreign")));

    let target = discovered(p, &c2, "notify").await;
    assert_eq!(target.physical, format!("{stack}-notify"));
    assert_eq!(target.handle, out["arn"]);
    delete_twice(p, &c2, &target).await;
    c2.aws
        .sns
        .delete_topic()
        .topic_arn(foreign_arn)
        .send()
        .await
        .unwrap();
}

/// A queue subscription with a filter policy and raw delivery, and an email subscription:
/// created, read back equal without writes, updated attribute by attribute, discovered,
/// deleted twice.
#[tokio::test]
async fn queue_and_email_subscription_lifecycle() {
    let emu = TestEmulator::start();
    let endpoint = emu.endpoint();
    let stack = unique_stack("pnsub");
    let email = format!("ops+{stack}@example.com");
    let mut spec = empty_spec(&stack);
    spec.queues.insert("audit".into(), queue());
    let mut audit = subscription(Subscriber::Queue("audit".into()));
    audit.filter_policy = Some(json!({"status": ["PROCESSED", "REJECTED"]}));
    audit.raw_message_delivery = true;
    spec.topics.insert(
        "notify".into(),
        topic(vec![audit, subscription(Subscriber::Email(email.clone()))]),
    );
    let qname = "notify/queue:audit".to_string();
    let ename = format!("notify/email:{email}");
    // The graph holds one queue policy and both subscriptions.
    let ids = spec.resources();
    for id in [
        ResourceId::new(Kind::Topic, "notify"),
        ResourceId::new(Kind::QueuePolicy, "audit"),
        ResourceId::new(Kind::Subscription, qname.clone()),
        ResourceId::new(Kind::Subscription, ename.clone()),
    ] {
        assert_eq!(ids.iter().filter(|i| **i == id).count(), 1, "{id}");
    }

    let c = ctx(endpoint, spec.clone()).await;
    let (topic_p, queue_p, policy_p, sub_p) = (
        Kind::Topic.provider(),
        Kind::Queue.provider(),
        Kind::QueuePolicy.provider(),
        Kind::Subscription.provider(),
    );
    assert_eq!(
        policy_p.dependencies(&spec, "audit"),
        [
            ResourceId::new(Kind::Queue, "audit"),
            ResourceId::new(Kind::Topic, "notify")
        ]
    );
    let mut known = Known::new();
    let t = create(topic_p, &c, "notify", &mut known).await;
    let q = create(queue_p, &c, "audit", &mut known).await;
    assert!(policy_p.read(&c, "audit").await.unwrap().is_none());
    create(policy_p, &c, "audit", &mut known).await;
    let live = read_unchanged(policy_p, &c, "audit", &known).await;
    assert_eq!(
        live.props["policy"]["Statement"],
        json!([{
            "Sid": "orderflow-sns-topics",
            "Effect": "Allow",
            "Principal": {"Service": ["sns.amazonaws.com"]},
            "Action": ["sqs:SendMessage"],
            "Resource": [q["arn"]],
            "Condition": {"ArnEquals": {"aws:SourceArn": [t["arn"]]}},
        }])
    );

    // Subscriptions: create, read back equal, without writes.
    assert!(sub_p.read(&c, &qname).await.unwrap().is_none());
    let from = writes(&c).len();
    let qsub = create(sub_p, &c, &qname, &mut known).await;
    let esub = create(sub_p, &c, &ename, &mut known).await;
    assert_eq!(writes_since(&c, from), ["Subscribe", "Subscribe"]);
    assert!(qsub["arn"].starts_with(&t["arn"]), "{qsub:?}");
    assert_eq!(qsub["endpoint"], q["arn"]);
    assert_eq!(esub["endpoint"], email);
    let live = read_unchanged(sub_p, &c, &qname, &known).await;
    assert_eq!(live.props["raw_message_delivery"], json!(true));
    assert_eq!(
        live.props["filter_policy"],
        json!({"status": ["PROCESSED", "REJECTED"]})
    );
    read_unchanged(sub_p, &c, &ename, &known).await;

    // Change the filter policy only: one SetSubscriptionAttributes.
    let set_policy = |spec: &mut Spec, policy: Option<Value>, raw: bool| {
        let s = &mut spec.topics.get_mut("notify").unwrap().subscriptions[0];
        s.filter_policy = policy;
        s.raw_message_delivery = raw;
    };
    set_policy(&mut spec, Some(json!({"status": ["REJECTED"]})), true);
    let c2 = ctx(endpoint, spec.clone()).await;
    let (attrs, calls) = update_changed(sub_p, &c2, &qname, &known).await;
    assert_eq!(attrs, ["filter_policy"]);
    assert_eq!(calls, ["SetSubscriptionAttributes"]);
    read_unchanged(sub_p, &c2, &qname, &known).await;

    // Drop the policy and raw delivery: two attributes, two calls, and back in sync.
    set_policy(&mut spec, None, false);
    let c3 = ctx(endpoint, spec.clone()).await;
    let (attrs, calls) = update_changed(sub_p, &c3, &qname, &known).await;
    assert_eq!(attrs, ["filter_policy", "raw_message_delivery"]);
    assert_eq!(
        calls,
        ["SetSubscriptionAttributes", "SetSubscriptionAttributes"]
    );
    let live = read_unchanged(sub_p, &c3, &qname, &known).await;
    assert_eq!(live.props["filter_policy"], Value::Null);

    // A policy on the body: scope and policy set in an order SNS accepts.
    let body = json!({"order": {"total": [{"numeric": [">", 100]}]}});
    set_policy(&mut spec, Some(body.clone()), false);
    spec.topics.get_mut("notify").unwrap().subscriptions[0].filter_policy_scope =
        FilterPolicyScope::MessageBody;
    let c4 = ctx(endpoint, spec.clone()).await;
    let (attrs, calls) = update_changed(sub_p, &c4, &qname, &known).await;
    assert_eq!(attrs, ["filter_policy", "filter_policy_scope"]);
    assert_eq!(
        calls,
        ["SetSubscriptionAttributes", "SetSubscriptionAttributes"]
    );
    let live = read_unchanged(sub_p, &c4, &qname, &known).await;
    assert_eq!(live.props["filter_policy"], body);
    assert_eq!(live.props["filter_policy_scope"], json!("MessageBody"));

    // Discover: both subscriptions of the owned topic; a foreign queue's is left alone.
    let other = c4
        .aws
        .sqs
        .create_queue()
        .queue_name(format!("x{stack}-other"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let other_arn = q["arn"].replace(&format!("{stack}-audit"), &format!("x{stack}-other"));
    c4.aws
        .sns
        .subscribe()
        .topic_arn(&t["arn"])
        .protocol("sqs")
        .endpoint(&other_arn)
        .send()
        .await
        .unwrap();
    let mut found: Vec<String> = sub_p
        .discover(&c4)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id.name)
        .collect();
    found.sort();
    assert_eq!(found, [ename.clone(), qname.clone()]);

    let target = discovered(sub_p, &c4, &qname).await;
    assert_eq!(target.handle, qsub["arn"]);
    assert_eq!(target.physical, format!("{stack}-notify -> {}", q["arn"]));
    delete_twice(sub_p, &c4, &target).await;
    let target = discovered(sub_p, &c4, &ename).await;
    delete_twice(sub_p, &c4, &target).await;

    // The policy goes, then the topic (its remaining foreign subscription with it).
    let policy = discovered(policy_p, &c4, "audit").await;
    delete_twice(policy_p, &c4, &policy).await;
    assert_eq!(queue_policy_doc(&c4, &q["url"]).await, Value::Null);
    let topic_target = discovered(topic_p, &c4, "notify").await;
    delete_twice(topic_p, &c4, &topic_target).await;
    c4.aws
        .sqs
        .delete_queue()
        .queue_url(other)
        .send()
        .await
        .unwrap();
}

/// Messages published with a matching attribute reach the subscribed queue (raw, as
/// published); others never do.
#[tokio::test]
async fn filtered_messages_reach_the_subscribed_queue_only_when_they_match() {
    let emu = TestEmulator::start();
    let endpoint = emu.endpoint();
    let stack = unique_stack("pnflow");
    let mut spec = empty_spec(&stack);
    spec.queues.insert("audit".into(), queue());
    let mut audit = subscription(Subscriber::Queue("audit".into()));
    audit.filter_policy = Some(json!({"status": ["PROCESSED", "REJECTED"]}));
    audit.raw_message_delivery = true;
    spec.topics.insert("notify".into(), topic(vec![audit]));
    let c = ctx(endpoint, spec.clone()).await;
    let mut known = Known::new();
    let t = create(Kind::Topic.provider(), &c, "notify", &mut known).await;
    let q = create(Kind::Queue.provider(), &c, "audit", &mut known).await;
    create(Kind::QueuePolicy.provider(), &c, "audit", &mut known).await;
    create(
        Kind::Subscription.provider(),
        &c,
        "notify/queue:audit",
        &mut known,
    )
    .await;

    let publish = |body: &'static str, status: Option<&'static str>| {
        let request = c.aws.sns.publish().topic_arn(&t["arn"]).message(body);
        let request = match status {
            Some(s) => request.message_attributes(
                "status",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(s)
                    .build()
                    .unwrap(),
            ),
            None => request,
        };
        async move { request.send().await.expect("Publish") }
    };
    // Non-matching ones first: SNS delivers in order here, so once the matching one is in the
    // queue, the others would be too if the filter had let them through.
    publish(r#"{"order_id":"o-1","status":"PENDING"}"#, Some("PENDING")).await;
    publish(r#"{"order_id":"o-2"}"#, None).await;
    publish(
        r#"{"order_id":"o-3","status":"PROCESSED"}"#,
        Some("PROCESSED"),
    )
    .await;

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut bodies: Vec<String> = Vec::new();
    let mut status_attrs: Vec<String> = Vec::new();
    while !bodies.iter().any(|b| b.contains("o-3")) {
        assert!(
            Instant::now() < deadline,
            "the matching message did not arrive within 20 s; got {bodies:?}"
        );
        let out = c
            .aws
            .sqs
            .receive_message()
            .queue_url(&q["url"])
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .wait_time_seconds(1)
            .send()
            .await
            .expect("ReceiveMessage");
        for m in out.messages() {
            bodies.push(m.body().unwrap_or_default().to_string());
            if let Some(v) = m
                .message_attributes()
                .and_then(|a| a.get("status"))
                .and_then(|v| v.string_value())
            {
                status_attrs.push(v.to_string());
            }
        }
    }
    // Raw delivery: the body as published, the attribute as an SQS message attribute.
    assert_eq!(bodies, [r#"{"order_id":"o-3","status":"PROCESSED"}"#]);
    assert_eq!(status_attrs, ["PROCESSED"]);
    let rest = c
        .aws
        .sqs
        .receive_message()
        .queue_url(&q["url"])
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert!(
        rest.messages().is_empty(),
        "filtered-out messages arrived: {:?}",
        rest.messages()
    );
}

/// A queue that is a rule's dead-letter queue and a topic's subscriber has one policy with
/// both orderflow statements; foreign statements survive every write.
#[tokio::test]
async fn a_dead_letter_queue_that_is_also_a_subscriber_gets_both_statements() {
    let emu = TestEmulator::start();
    let endpoint = emu.endpoint();
    let stack = unique_stack("pnboth");
    let mut spec = empty_spec(&stack);
    spec.buses.insert("orders".into(), Bus::default());
    spec.queues.insert("dlq".into(), queue());
    spec.rules.insert(
        "placed".into(),
        Rule {
            bus: "orders".into(),
            description: None,
            event_pattern: json!({"source": ["shop.orders"]}),
            pattern_references: Default::default(),
            targets: vec![RuleTarget {
                destination: Destination::Function("validate".into()),
                input: TargetInput::Event,
                maximum_retry_attempts: 4,
                maximum_event_age_secs: 3600,
                dead_letter_queue: Some("dlq".into()),
            }],
        },
    );
    spec.topics.insert(
        "notify".into(),
        topic(vec![subscription(Subscriber::Queue("dlq".into()))]),
    );
    // Rules and topics both contribute the queue's policy: one resource in the graph.
    assert_eq!(
        spec.resources()
            .iter()
            .filter(|id| **id == ResourceId::new(Kind::QueuePolicy, "dlq"))
            .count(),
        1
    );
    let policy_p = Kind::QueuePolicy.provider();
    assert_eq!(
        policy_p.dependencies(&spec, "dlq"),
        [
            ResourceId::new(Kind::Queue, "dlq"),
            ResourceId::new(Kind::Rule, "placed"),
            ResourceId::new(Kind::Topic, "notify"),
        ]
    );

    let c = ctx(endpoint, spec.clone()).await;
    let mut known = Known::new();
    create(Kind::Bus.provider(), &c, "orders", &mut known).await;
    let q = create(Kind::Queue.provider(), &c, "dlq", &mut known).await;
    known.insert(
        ResourceId::new(Kind::Function, "validate"),
        BTreeMap::from([(
            "arn".to_string(),
            format!("arn:aws:lambda:{REGION}:000000000000:function:{stack}-validate"),
        )]),
    );
    let rule = create(Kind::Rule.provider(), &c, "placed", &mut known).await;
    let t = create(Kind::Topic.provider(), &c, "notify", &mut known).await;

    // Someone else's statement is already there.
    let foreign = json!({"Sid": "ops-read", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
        "Action": "sqs:ReceiveMessage", "Resource": q["arn"]});
    c.aws
        .sqs
        .set_queue_attributes()
        .queue_url(&q["url"])
        .attributes(
            QueueAttributeName::Policy,
            json!({"Version": "2012-10-17", "Statement": [foreign.clone()]}).to_string(),
        )
        .send()
        .await
        .unwrap();
    assert!(policy_p.read(&c, "dlq").await.unwrap().is_none());
    let from = writes(&c).len();
    create(policy_p, &c, "dlq", &mut known).await;
    assert_eq!(writes_since(&c, from), ["SetQueueAttributes"]);
    let live = read_unchanged(policy_p, &c, "dlq", &known).await;
    assert_eq!(
        live.props["policy"]["Statement"],
        json!([
            {"Sid": "orderflow-eventbridge-dlq", "Effect": "Allow",
             "Principal": {"Service": ["events.amazonaws.com"]},
             "Action": ["sqs:SendMessage"], "Resource": [q["arn"]],
             "Condition": {"ArnEquals": {"aws:SourceArn": [rule["arn"]]}}},
            {"Sid": "orderflow-sns-topics", "Effect": "Allow",
             "Principal": {"Service": ["sns.amazonaws.com"]},
             "Action": ["sqs:SendMessage"], "Resource": [q["arn"]],
             "Condition": {"ArnEquals": {"aws:SourceArn": [t["arn"]]}}},
        ])
    );
    assert_eq!(
        sids(&queue_policy_doc(&c, &q["url"]).await),
        [
            "ops-read",
            "orderflow-eventbridge-dlq",
            "orderflow-sns-topics"
        ]
    );

    // The topic no longer delivers to the queue: only the EventBridge statement stays, exactly
    // what a rule-only dead-letter queue has.
    spec.topics.get_mut("notify").unwrap().subscriptions.clear();
    let c2 = ctx(endpoint, spec.clone()).await;
    let (attrs, calls) = update_changed(policy_p, &c2, "dlq", &known).await;
    assert_eq!(attrs, ["policy"]);
    assert_eq!(calls, ["SetQueueAttributes"]);
    let live = read_unchanged(policy_p, &c2, "dlq", &known).await;
    assert_eq!(sids(&live.props["policy"]), ["orderflow-eventbridge-dlq"]);
    assert_eq!(
        sids(&queue_policy_doc(&c2, &q["url"]).await),
        ["ops-read", "orderflow-eventbridge-dlq"]
    );

    // Back to both, then delete: orderflow's statements go, the foreign one stays.
    let c3 = ctx(endpoint, {
        let mut s = spec.clone();
        s.topics.get_mut("notify").unwrap().subscriptions =
            vec![subscription(Subscriber::Queue("dlq".into()))];
        s
    })
    .await;
    update_changed(policy_p, &c3, "dlq", &known).await;
    read_unchanged(policy_p, &c3, "dlq", &known).await;
    let target = discovered(policy_p, &c3, "dlq").await;
    delete_twice(policy_p, &c3, &target).await;
    assert_eq!(
        queue_policy_doc(&c3, &q["url"]).await["Statement"],
        json!([foreign])
    );
}

/// A function subscriber: SNS's invoke permission on the function, scoped to the topic, and
/// the lambda subscription.
#[tokio::test]
async fn function_subscriber_and_its_permission() {
    let emu = TestEmulator::start();
    let endpoint = emu.endpoint();
    let stack = unique_stack("pnfn");
    let mut spec = empty_spec(&stack);
    spec.functions.insert(
        "audit".into(),
        Function {
            crate_name: "audit".into(),
            memory_mb: 128,
            timeout_secs: 3,
            architecture: Architecture::X86_64,
            environment: BTreeMap::new(),
            access: Vec::new(),
            dead_letter_queue: None,
            async_retry_attempts: None,
            log_retention_days: 14,
            adopt_log_group: false,
        },
    );
    spec.topics.insert(
        "notify".into(),
        topic(vec![subscription(Subscriber::Function("audit".into()))]),
    );
    let mut c = ctx(endpoint, spec.clone()).await;
    c.artifacts.insert(
        "audit".into(),
        package("audit", b"#!/bin/sh\n# orderflow provider test\nexit 0\n").expect("package"),
    );
    let mut known = Known::new();
    let t = create(Kind::Topic.provider(), &c, "notify", &mut known).await;
    create(Kind::Role.provider(), &c, "audit", &mut known).await;
    let f = create(Kind::Function.provider(), &c, "audit", &mut known).await;

    let perm = Kind::TopicPermission.provider();
    assert_eq!(
        perm.dependencies(&spec, "notify/audit"),
        [
            ResourceId::new(Kind::Function, "audit"),
            ResourceId::new(Kind::Topic, "notify"),
        ]
    );
    assert!(perm.read(&c, "notify/audit").await.unwrap().is_none());
    let from = writes(&c).len();
    create(perm, &c, "notify/audit", &mut known).await;
    assert_eq!(writes_since(&c, from), ["AddPermission"]);
    let live = read_unchanged(perm, &c, "notify/audit", &known).await;
    assert_eq!(live.props["principal"], json!("sns.amazonaws.com"));
    assert_eq!(live.props["source_arn"], json!(t["arn"]));

    let sub = Kind::Subscription.provider();
    let name = "notify/function:audit";
    let out = create(sub, &c, name, &mut known).await;
    assert_eq!(out["endpoint"], f["arn"]);
    read_unchanged(sub, &c, name, &known).await;

    let target = discovered(sub, &c, name).await;
    delete_twice(sub, &c, &target).await;

    // A rule's statement on the same function is not this kind's.
    c.aws
        .lambda
        .add_permission()
        .function_name(&f["name"])
        .statement_id("orderflow-rule-placed")
        .action("lambda:InvokeFunction")
        .principal("events.amazonaws.com")
        .send()
        .await
        .unwrap();
    let target = discovered(perm, &c, "notify/audit").await;
    assert_eq!(
        target.handle,
        format!("{stack}-audit|orderflow-topic-notify")
    );
    delete_twice(perm, &c, &target).await;
    assert!(perm.discover(&c).await.unwrap().is_empty());
    assert_eq!(
        Kind::Permission
            .provider()
            .discover(&c)
            .await
            .unwrap()
            .len(),
        1,
        "the rule's statement is still there"
    );
}

#[tokio::test]
async fn email_identity_lifecycle_and_ownership() {
    let emu = TestEmulator::start();
    let endpoint = emu.endpoint();
    let stack = unique_stack("pnses");
    let email = format!("orders+{stack}@example.com");
    let foreign_email = format!("someone+{stack}@example.com");
    let mut spec = empty_spec(&stack);
    spec.email_identities.insert(
        "sender".into(),
        EmailIdentity {
            email: email.clone(),
        },
    );
    spec.email_identities.insert(
        "borrowed".into(),
        EmailIdentity {
            email: foreign_email.clone(),
        },
    );
    let c = ctx(endpoint, spec.clone()).await;
    let p = Kind::EmailIdentity.provider();
    assert_eq!(p.display_name(&c, "sender"), email);
    let mut known = Known::new();
    assert!(p.read(&c, "sender").await.unwrap().is_none());

    let out = create(p, &c, "sender", &mut known).await;
    assert_eq!(writes_since(&c, 0), ["CreateEmailIdentity"]);
    assert_eq!(out["email"], email);
    assert_eq!(
        out["arn"],
        format!("arn:aws:ses:{REGION}:000000000000:identity/{email}")
    );
    assert!(!out["verification_status"].is_empty());
    let live = read_unchanged(p, &c, "sender", &known).await;
    assert_eq!(live.outputs, out);

    // A new spec tag: only TagResource; the verification status is an output, never a change.
    spec.tags.insert("env".into(), "test".into());
    let c2 = ctx(endpoint, spec.clone()).await;
    let (attrs, calls) = update_changed(p, &c2, "sender", &known).await;
    assert_eq!(attrs, ["tags"]);
    assert_eq!(calls, ["TagResource"]);
    read_unchanged(p, &c2, "sender", &known).await;

    // An identity for the address made by someone else: not owned, not discovered.
    c2.aws
        .ses
        .create_email_identity()
        .email_identity(&foreign_email)
        .send()
        .await
        .unwrap();
    let foreign = p.read(&c2, "borrowed").await.unwrap().unwrap();
    assert!(!foreign.owned);
    let found = p.discover(&c2).await.unwrap();
    assert_eq!(
        found,
        [Discovered {
            id: ResourceId::new(Kind::EmailIdentity, "sender"),
            physical: email.clone(),
            handle: email.clone(),
        }]
    );

    // No longer declared: discovered under its address (what `up` then deletes).
    let mut undeclared = spec.clone();
    undeclared.email_identities.remove("sender");
    let c3 = ctx(endpoint, undeclared).await;
    let target = discovered(p, &c3, &email).await;
    assert_eq!(target.handle, email);
    p.delete(&c3, &target).await.expect("delete");
    p.delete(&c3, &target)
        .await
        .expect("deleting again is a no-op");
    assert!(p.read(&c2, "sender").await.unwrap().is_none());
    assert!(p.discover(&c3).await.unwrap().is_empty());
    c3.aws
        .ses
        .delete_email_identity()
        .email_identity(&foreign_email)
        .send()
        .await
        .unwrap();
}

/// Through the binary: `up` creates topics, subscriptions, the queue policy and the identity in
/// dependency order and shows their outputs; an unchanged pipeline plans clean and writes
/// nothing; a removed subscription is unsubscribed; `down` removes everything it owns.
#[tokio::test]
async fn up_plan_and_down_a_pipeline_with_notifications() {
    let emu = TestEmulator::start();
    let endpoint = emu.endpoint();
    let stack = unique_stack("pncli");
    let ops = format!("ops+{stack}@example.com");
    let sender = format!("orders+{stack}@example.com");
    let yaml = format!(
        "stack: {stack}\nregion: {REGION}\nqueues:\n  audit: {{}}\ntopics:\n  order-notifications:\n    display_name: \"Order updates\"\n    subscriptions:\n      - queue: audit\n        filter_policy: {{ status: [PROCESSED, REJECTED] }}\n        raw_message_delivery: true\n      - email: {ops}\nemail_identities:\n  sender: {{ email: {sender} }}\n"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pipeline.yaml"), &yaml).unwrap();
    let run = |args: &[&str]| common::orderflow(endpoint, dir.path(), args);
    let json_of = |args: &[&str]| -> Value {
        let out = run(args);
        assert!(out.status.success(), "{}", common::describe(&out));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", common::describe(&out)))
    };

    let plan = json_of(&["plan", "--output", "json"]);
    let order: Vec<String> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}.{}",
                s["id"]["kind"].as_str().unwrap(),
                s["id"]["name"].as_str().unwrap()
            )
        })
        .collect();
    let pos = |id: &str| {
        order
            .iter()
            .position(|o| o == id)
            .unwrap_or_else(|| panic!("{id} not planned: {order:?}"))
    };
    assert_eq!(order.len(), 6, "{order:?}");
    assert!(pos("topic.order-notifications") < pos("queue_policy.audit"));
    assert!(pos("queue.audit") < pos("queue_policy.audit"));
    assert!(pos("queue_policy.audit") < pos("subscription.order-notifications/queue:audit"));
    pos(&format!("subscription.order-notifications/email:{ops}"));
    let identity = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"]["kind"] == "email_identity")
        .unwrap();
    assert_eq!(identity["physical"], json!(sender));

    let first = json_of(&["up", "--yes", "--output", "json"]);
    assert_eq!(first["plan"]["create"], 6, "{first}");
    let topic_arn = first["outputs"]["topics"]["order-notifications"]["arn"]
        .as_str()
        .unwrap_or_else(|| panic!("no topic ARN in {first}"))
        .to_string();
    assert!(topic_arn.ends_with(&format!(":{stack}-order-notifications")));
    let ses = &first["outputs"]["email_identities"]["sender"];
    assert_eq!(ses["email"], json!(sender));
    assert!(
        ses["verification_status"].is_string(),
        "no verification status in {first}"
    );

    // Unchanged: plan exits 0, up writes nothing; the text shows the identity's status.
    let plan = run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", common::describe(&plan));
    let second = json_of(&["up", "--yes", "--output", "json"]);
    assert_eq!(second["api_calls"]["writes"], 0, "{second}");
    assert_eq!(second["plan"]["unchanged"], 6, "{second}");
    let text = run(&["up", "--yes"]);
    let shown = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(
        shown.contains(&format!("topic.order-notifications.arn = {topic_arn}"))
            && shown.contains("email_identity.sender.verification_status = "),
        "{}",
        common::describe(&text)
    );

    // The email subscriber leaves the file: unsubscribed, nothing else touched.
    std::fs::write(
        dir.path().join("pipeline.yaml"),
        yaml.replace(&format!("      - email: {ops}\n"), ""),
    )
    .unwrap();
    let third = json_of(&["up", "--yes", "--output", "json"]);
    assert_eq!(third["plan"]["delete"], 1, "{third}");
    assert_eq!(third["plan"]["update"], 0, "{third}");
    let config = common::sdk_config(endpoint).await;
    let sns = aws_sdk_sns::Client::new(&config);
    let subs = sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic_arn)
        .send()
        .await
        .unwrap();
    let protocols: Vec<&str> = subs
        .subscriptions()
        .iter()
        .filter_map(|s| s.protocol())
        .collect();
    assert_eq!(protocols, ["sqs"]);

    // down: every owned resource goes; nothing of the stack is left behind.
    let down = json_of(&["down", "--yes", "--output", "json"]);
    assert_eq!(down["deleted"].as_array().unwrap().len(), 5, "{down}");
    let topics = sns.list_topics().send().await.unwrap();
    assert!(topics
        .topics()
        .iter()
        .all(|t| t.topic_arn() != Some(topic_arn.as_str())));
    let ses = aws_sdk_sesv2::Client::new(&config);
    let identities = ses.list_email_identities().send().await.unwrap();
    assert!(identities
        .email_identities()
        .iter()
        .all(|i| i.identity_name() != Some(sender.as_str())));
    let plan = json_of(&["plan", "--output", "json"]);
    assert!(plan["removals"].as_array().unwrap().is_empty(), "{plan}");
}
