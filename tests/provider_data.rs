//! The bus, rule, queue, queue-policy and table providers against MiniStack.
//!
//! Each test starts its own emulator (`common::TestEmulator`) and uses its own stack name.
//! Write calls are checked through the clients' call log (`Clients::calls`).

use std::collections::BTreeMap;

use aws_sdk_sqs::types::QueueAttributeName;
use orderflow::resources::{Ctx, Kind, Known, ResourceId};
use orderflow::spec::model::{
    Billing, Bus, Destination, KeyAttribute, KeyKind, Queue, QueueEncryption, Redrive, Rule,
    RuleTarget, Table, TargetInput,
};
use orderflow::spec::Spec;
use orderflow::Error;
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

fn queue(dead_letter: Option<&str>) -> Queue {
    Queue {
        visibility_timeout_secs: 30,
        retention_secs: 345_600,
        encryption: QueueEncryption::SqsManaged,
        dead_letter: dead_letter.map(|q| Redrive {
            queue: q.into(),
            max_receive_count: 5,
        }),
    }
}

fn outputs_known(
    known: &mut Known,
    kind: Kind,
    name: &str,
    outputs: orderflow::resources::Outputs,
) {
    known.insert(ResourceId::new(kind, name), outputs);
}

#[tokio::test]
async fn bus_lifecycle() {
    let emu = TestEmulator::start();
    let endpoint = emu.endpoint();
    let stack = unique_stack("pdbus");
    let mut spec = empty_spec(&stack);
    spec.buses.insert(
        "orders".into(),
        Bus {
            description: Some("order events".into()),
            ..Default::default()
        },
    );
    let c = ctx(endpoint, spec.clone()).await;
    let p = Kind::Bus.provider();
    let known = Known::new();
    assert!(p.read(&c, "orders").await.unwrap().is_none());

    let out = p.create(&c, "orders", &known).await.expect("create");
    assert_eq!(writes_since(&c, 0), ["CreateEventBus"]);
    assert_eq!(out["name"], format!("{stack}-orders"));
    assert!(out["arn"].ends_with(&format!(":event-bus/{stack}-orders")));
    let live = read_unchanged(p, &c, "orders", &known).await;
    assert_eq!(live.outputs, out);

    // Description and a new spec tag change; a foreign tag is neither reported nor removed.
    c.aws
        .events
        .tag_resource()
        .resource_arn(&out["arn"])
        .tags(
            aws_sdk_eventbridge::types::Tag::builder()
                .key("owner")
                .value("someone-else")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    spec.buses.get_mut("orders").unwrap().description = None;
    spec.tags.insert("env".into(), "test".into());
    let c2 = ctx(endpoint, spec.clone()).await;
    let (live, changes) = changes_for(p, &c2, "orders", &known).await;
    let mut attrs: Vec<&str> = changes.iter().map(|c| c.attribute.as_str()).collect();
    attrs.sort();
    assert_eq!(attrs, ["description", "tags"]);
    let from = writes(&c2).len();
    p.update(&c2, "orders", &known, &live, &changes)
        .await
        .expect("update");
    assert_eq!(writes_since(&c2, from), ["UpdateEventBus", "TagResource"]);
    read_unchanged(p, &c2, "orders", &known).await;
    let tags = c2
        .aws
        .events
        .list_tags_for_resource()
        .resource_arn(&out["arn"])
        .send()
        .await
        .unwrap();
    assert!(tags.tags().iter().any(|t| t.key() == "owner"));

    let target = discovered(p, &c2, "orders").await;
    assert_eq!(target.physical, format!("{stack}-orders"));
    delete_twice(p, &c2, &target).await;
}

#[tokio::test]
async fn foreign_resources_are_not_owned_nor_discovered() {
    let emu = TestEmulator::start();
    let endpoint = emu.endpoint();
    let stack = unique_stack("pdforeign");
    let mut spec = empty_spec(&stack);
    spec.buses.insert("orders".into(), Bus::default());
    spec.queues.insert("work".into(), queue(None));
    let c = ctx(endpoint, spec).await;
    // Same names as the stack would use, but without the ownership tag.
    c.aws
        .events
        .create_event_bus()
        .name(format!("{stack}-orders"))
        .send()
        .await
        .unwrap();
    let url = c
        .aws
        .sqs
        .create_queue()
        .queue_name(format!("{stack}-work"))
        .tags("orderflow:stack", "another-stack")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();

    let bus = Kind::Bus
        .provider()
        .read(&c, "orders")
        .await
        .unwrap()
        .unwrap();
    assert!(!bus.owned);
    assert!(Kind::Bus.provider().discover(&c).await.unwrap().is_empty());
    let q = Kind::Queue
        .provider()
        .read(&c, "work")
        .await
        .unwrap()
        .unwrap();
    assert!(!q.owned);
    assert!(Kind::Queue
        .provider()
        .discover(&c)
        .await
        .unwrap()
        .is_empty());

    c.aws
        .events
        .delete_event_bus()
        .name(format!("{stack}-orders"))
        .send()
        .await
        .unwrap();
    c.aws
        .sqs
        .delete_queue()
        .queue_url(url)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn queue_lifecycle() {
    let emu = TestEmulator::start();
    let endpoint = emu.endpoint();
    let stack = unique_stack("pdqueue");
    let mut spec = empty_spec(&stack);
    spec.queues.insert("dlq".into(), queue(None));
    spec.queues.insert("work".into(), queue(Some("dlq")));
    let c = ctx(endpoint, spec.clone()).await;
    let p = Kind::Queue.provider();
    assert_eq!(
        p.dependencies(&spec, "work"),
        vec![ResourceId::new(Kind::Queue, "dlq")]
    );

    let mut known = Known::new();
    let dlq = p.create(&c, "dlq", &known).await.expect("create dlq");
    assert!(dlq["url"].ends_with(&format!("/{stack}-dlq")));
    outputs_known(&mut known, Kind::Queue, "dlq", dlq.clone());
    let work = p.create(&c, "work", &known).await.expect("create work");
    read_unchanged(p, &c, "dlq", &known).await;
    let live = read_unchanged(p, &c, "work", &known).await;
    assert_eq!(
        live.props["redrive_policy"],
        json!({"deadLetterTargetArn": dlq["arn"], "maxReceiveCount": 5})
    );
    assert_eq!(live.props["sqs_managed_sse"], json!(true));

    // Change one attribute and drop the dead-letter queue: only those attributes are written.
    {
        let q = spec.queues.get_mut("work").unwrap();
        q.visibility_timeout_secs = 90;
        q.dead_letter = None;
        q.encryption = QueueEncryption::None;
    }
    let c2 = ctx(endpoint, spec.clone()).await;
    let (live, changes) = changes_for(p, &c2, "work", &known).await;
    let mut attrs: Vec<&str> = changes.iter().map(|c| c.attribute.as_str()).collect();
    attrs.sort();
    assert_eq!(
        attrs,
        ["redrive_policy", "sqs_managed_sse", "visibility_timeout"]
    );
    let from = writes(&c2).len();
    let out = p
        .update(&c2, "work", &known, &live, &changes)
        .await
        .expect("update");
    assert_eq!(out, work);
    assert_eq!(writes_since(&c2, from), ["SetQueueAttributes"]);
    let live = read_unchanged(p, &c2, "work", &known).await;
    assert_eq!(live.props["redrive_policy"], Value::Null);
    assert_eq!(live.props["visibility_timeout"], json!(90));

    let target = discovered(p, &c2, "work").await;
    assert_eq!(target.handle, work["url"]);
    delete_twice(p, &c2, &target).await;
    let target = discovered(p, &c2, "dlq").await;
    delete_twice(p, &c2, &target).await;
}

/// A rule on a bus with a (fake) Lambda target whose dead-letter queue is a declared queue, and
/// that queue's policy. The emulator does not check that the target function exists.
#[tokio::test]
async fn rule_and_queue_policy_lifecycle() {
    let emu = TestEmulator::start();
    let endpoint = emu.endpoint();
    let stack = unique_stack("pdrule");
    let mut spec = empty_spec(&stack);
    spec.buses.insert("orders".into(), Bus::default());
    spec.queues.insert("dlq".into(), queue(None));
    let target = |function: &str, dlq: Option<&str>| RuleTarget {
        destination: Destination::Function(function.into()),
        input: TargetInput::Event,
        maximum_retry_attempts: 4,
        maximum_event_age_secs: 3600,
        dead_letter_queue: dlq.map(str::to_string),
    };
    spec.rules.insert(
        "placed".into(),
        Rule {
            bus: "orders".into(),
            description: Some("orders placed".into()),
            event_pattern: json!({"source": ["shop.orders"], "detail-type": ["OrderPlaced"]}),
            pattern_references: Default::default(),
            targets: vec![target("validate", Some("dlq"))],
        },
    );
    let c = ctx(endpoint, spec.clone()).await;
    let (bus_p, queue_p, rule_p, policy_p) = (
        Kind::Bus.provider(),
        Kind::Queue.provider(),
        Kind::Rule.provider(),
        Kind::QueuePolicy.provider(),
    );
    assert_eq!(
        policy_p.dependencies(&spec, "dlq"),
        vec![
            ResourceId::new(Kind::Queue, "dlq"),
            ResourceId::new(Kind::Rule, "placed")
        ]
    );

    let mut known = Known::new();
    let bus = bus_p.create(&c, "orders", &known).await.unwrap();
    outputs_known(&mut known, Kind::Bus, "orders", bus.clone());
    let dlq = queue_p.create(&c, "dlq", &known).await.unwrap();
    outputs_known(&mut known, Kind::Queue, "dlq", dlq.clone());
    for f in ["validate", "audit"] {
        let arn = format!("arn:aws:lambda:{REGION}:000000000000:function:{stack}-{f}");
        outputs_known(
            &mut known,
            Kind::Function,
            f,
            BTreeMap::from([("arn".to_string(), arn)]),
        );
    }

    // Rule: create, read back equal.
    assert!(rule_p.read(&c, "placed").await.unwrap().is_none());
    let rule = rule_p
        .create(&c, "placed", &known)
        .await
        .expect("create rule");
    assert_eq!(rule["name"], format!("{stack}-placed"));
    outputs_known(&mut known, Kind::Rule, "placed", rule.clone());
    let live = read_unchanged(rule_p, &c, "placed", &known).await;
    assert_eq!(
        live.props["targets"][0]["dead_letter_arn"],
        json!(dlq["arn"])
    );

    // Queue policy: create, read back equal.
    assert!(policy_p.read(&c, "dlq").await.unwrap().is_none());
    policy_p
        .create(&c, "dlq", &known)
        .await
        .expect("create policy");
    read_unchanged(policy_p, &c, "dlq", &known).await;

    // A statement someone else added is kept and not reported as drift.
    let policy_of = |c: &Ctx| {
        let c = c.aws.sqs.clone();
        let url = dlq["url"].clone();
        async move {
            let out = c
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
    };
    let mut doc = policy_of(&c).await;
    doc["Statement"].as_array_mut().unwrap().push(json!({
        "Sid": "ops-read", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
        "Action": "sqs:ReceiveMessage", "Resource": dlq["arn"],
    }));
    c.aws
        .sqs
        .set_queue_attributes()
        .queue_url(&dlq["url"])
        .attributes(QueueAttributeName::Policy, doc.to_string())
        .send()
        .await
        .unwrap();
    read_unchanged(policy_p, &c, "dlq", &known).await;

    // Update the rule: new pattern and description, one more target, a changed retry policy.
    {
        let r = spec.rules.get_mut("placed").unwrap();
        r.event_pattern =
            json!({"source": ["shop.orders"], "detail-type": ["OrderPlaced", "OrderAmended"]});
        r.description = None;
        r.targets = vec![
            RuleTarget {
                maximum_retry_attempts: 9,
                ..target("validate", Some("dlq"))
            },
            target("audit", None),
        ];
    }
    let c2 = ctx(endpoint, spec.clone()).await;
    let (live, changes) = changes_for(rule_p, &c2, "placed", &known).await;
    let mut attrs: Vec<&str> = changes.iter().map(|c| c.attribute.as_str()).collect();
    attrs.sort();
    assert_eq!(attrs, ["description", "event_pattern", "targets"]);
    let from = writes(&c2).len();
    let out = rule_p
        .update(&c2, "placed", &known, &live, &changes)
        .await
        .expect("update rule");
    assert_eq!(out, rule);
    assert_eq!(writes_since(&c2, from), ["PutRule", "PutTargets"]);
    let live = read_unchanged(rule_p, &c2, "placed", &known).await;
    assert_eq!(live.props["targets"].as_array().unwrap().len(), 2);

    // Remove a target again: only RemoveTargets.
    spec.rules.get_mut("placed").unwrap().targets.pop();
    let c3 = ctx(endpoint, spec.clone()).await;
    let (live, changes) = changes_for(rule_p, &c3, "placed", &known).await;
    let from = writes(&c3).len();
    rule_p
        .update(&c3, "placed", &known, &live, &changes)
        .await
        .unwrap();
    assert_eq!(writes_since(&c3, from), ["RemoveTargets"]);
    read_unchanged(rule_p, &c3, "placed", &known).await;

    // A second rule using the same dead-letter queue widens the policy's condition.
    spec.rules.insert(
        "cancelled".into(),
        Rule {
            bus: "orders".into(),
            description: None,
            event_pattern: json!({"detail-type": ["OrderCancelled"]}),
            pattern_references: Default::default(),
            targets: vec![target("validate", Some("dlq"))],
        },
    );
    let c4 = ctx(endpoint, spec.clone()).await;
    let cancelled = rule_p.create(&c4, "cancelled", &known).await.unwrap();
    outputs_known(&mut known, Kind::Rule, "cancelled", cancelled.clone());
    let (live, changes) = changes_for(policy_p, &c4, "dlq", &known).await;
    assert_eq!(changes.len(), 1);
    policy_p
        .update(&c4, "dlq", &known, &live, &changes)
        .await
        .unwrap();
    let live = read_unchanged(policy_p, &c4, "dlq", &known).await;
    let sources = &live.props["policy"]["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"];
    assert_eq!(sources, &json!([cancelled["arn"], rule["arn"]]));
    assert!(policy_of(&c4).await["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["Sid"] == "ops-read"));

    // Discover and delete: rules first, then the policy (foreign statement stays), queue, bus.
    let found = rule_p.discover(&c4).await.unwrap();
    let mut handles: Vec<&str> = found.iter().map(|d| d.handle.as_str()).collect();
    handles.sort();
    assert_eq!(
        handles,
        [
            format!("{stack}-orders/{stack}-cancelled"),
            format!("{stack}-orders/{stack}-placed")
        ]
    );
    for d in &found {
        delete_twice(rule_p, &c4, d).await;
    }
    let policy = discovered(policy_p, &c4, "dlq").await;
    assert_eq!(policy.handle, dlq["url"]);
    delete_twice(policy_p, &c4, &policy).await;
    let left = policy_of(&c4).await;
    let sids: Vec<&str> = left["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["Sid"].as_str())
        .collect();
    assert_eq!(sids, ["ops-read"]);

    let q = discovered(queue_p, &c4, "dlq").await;
    delete_twice(queue_p, &c4, &q).await;
    // The policy of a deleted queue is gone too, and deleting it is still fine.
    policy_p
        .delete(&c4, &policy)
        .await
        .expect("queue already gone");
    let b = discovered(bus_p, &c4, "orders").await;
    delete_twice(bus_p, &c4, &b).await;
}

#[tokio::test]
async fn table_lifecycle() {
    let emu = TestEmulator::start();
    let endpoint = emu.endpoint();
    let stack = unique_stack("pdtable");
    let mut spec = empty_spec(&stack);
    spec.tables.insert(
        "orders".into(),
        Table {
            partition_key: KeyAttribute {
                name: "order_id".into(),
                kind: KeyKind::S,
            },
            sort_key: Some(KeyAttribute {
                name: "version".into(),
                kind: KeyKind::N,
            }),
            billing: Billing::OnDemand,
            point_in_time_recovery: true,
            ttl_attribute: Some("expires_at".into()),
            deletion_protection: true,
            stream: false,
            change_events: None,
        },
    );
    let c = ctx(endpoint, spec.clone()).await;
    let p = Kind::Table.provider();
    let known = Known::new();
    assert!(p.read(&c, "orders").await.unwrap().is_none());
    let out = p.create(&c, "orders", &known).await.expect("create");
    assert_eq!(out["name"], format!("{stack}-orders"));
    let live = read_unchanged(p, &c, "orders", &known).await;
    assert_eq!(live.props["point_in_time_recovery"], json!(true));
    assert_eq!(live.props["ttl_attribute"], json!("expires_at"));
    assert_eq!(live.props["deletion_protection"], json!(true));

    // Deletion protection: refused with a way out, and the table is still there.
    let target = discovered(p, &c, "orders").await;
    let err = p.delete(&c, &target).await.unwrap_err();
    assert!(
        matches!(&err, Error::Refused(m) if m.contains("deletion_protection: false")),
        "{err}"
    );
    assert!(p.read(&c, "orders").await.unwrap().is_some());

    // Changing the key schema is refused before anything is written.
    let mut rekeyed = spec.clone();
    rekeyed.tables.get_mut("orders").unwrap().sort_key = None;
    rekeyed
        .tables
        .get_mut("orders")
        .unwrap()
        .point_in_time_recovery = false;
    let c_rekeyed = ctx(endpoint, rekeyed).await;
    let (live, changes) = changes_for(p, &c_rekeyed, "orders", &known).await;
    let from = writes(&c_rekeyed).len();
    let err = p
        .update(&c_rekeyed, "orders", &known, &live, &changes)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Refused(m) if m.contains("key schema")),
        "{err}"
    );
    assert!(writes_since(&c_rekeyed, from).is_empty());

    // Turn protection and PITR off, move TTL to another attribute.
    {
        let t = spec.tables.get_mut("orders").unwrap();
        t.deletion_protection = false;
        t.point_in_time_recovery = false;
        t.ttl_attribute = Some("purge_at".into());
    }
    let c2 = ctx(endpoint, spec.clone()).await;
    let (live, changes) = changes_for(p, &c2, "orders", &known).await;
    let mut attrs: Vec<&str> = changes.iter().map(|c| c.attribute.as_str()).collect();
    attrs.sort();
    assert_eq!(
        attrs,
        [
            "deletion_protection",
            "point_in_time_recovery",
            "ttl_attribute"
        ]
    );
    let from = writes(&c2).len();
    p.update(&c2, "orders", &known, &live, &changes)
        .await
        .expect("update");
    assert_eq!(
        writes_since(&c2, from),
        [
            "UpdateTable",
            "UpdateContinuousBackups",
            "UpdateTimeToLive",
            "UpdateTimeToLive"
        ]
    );
    let live = read_unchanged(p, &c2, "orders", &known).await;
    assert_eq!(live.props["ttl_attribute"], json!("purge_at"));

    // Drop TTL altogether.
    spec.tables.get_mut("orders").unwrap().ttl_attribute = None;
    let c3 = ctx(endpoint, spec.clone()).await;
    let (live, changes) = changes_for(p, &c3, "orders", &known).await;
    p.update(&c3, "orders", &known, &live, &changes)
        .await
        .unwrap();
    read_unchanged(p, &c3, "orders", &known).await;

    let target = discovered(p, &c3, "orders").await;
    delete_twice(p, &c3, &target).await;
}
