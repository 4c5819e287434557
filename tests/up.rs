//! `orderflow up`: a fresh stack is created as declared; a second run changes nothing; one edited
//! attribute updates exactly that resource; an untagged same-named resource is never adopted.

mod common;
#[path = "common/stack.rs"]
mod stack;

use aws_sdk_sqs::types::QueueAttributeName;
use common::TestEmulator;
use serde_json::Value;
use stack::{stderr, Stack};

fn applied_ids(result: &Value) -> Vec<String> {
    result["applied"]
        .as_array()
        .expect("applied")
        .iter()
        .map(|a| {
            format!(
                "{}.{}",
                a["id"]["kind"].as_str().unwrap(),
                a["id"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn fresh_up_creates_everything_then_converges_and_updates_only_what_changed() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "up", &[]);
    let config = stack.config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let lambda = aws_sdk_lambda::Client::new(&config);
    let events = aws_sdk_eventbridge::Client::new(&config);
    let iam = aws_sdk_iam::Client::new(&config);

    // Fresh up: everything created.
    let first = stack.up();
    assert_eq!(first["plan"]["update"], 0, "{first}");
    assert_eq!(first["plan"]["delete"], 0, "{first}");
    let created = applied_ids(&first);
    for id in [
        "bus.orders",
        "queue.orders",
        "queue.orders-dlq",
        "queue.validate-dlq",
        "queue_policy.validate-dlq",
        "table.orders",
        "role.validate-order",
        "role.process-order",
        "function.validate-order",
        "function.process-order",
        "rule.order-placed",
        "permission.order-placed/validate-order",
        "event_source_mapping.process-orders",
    ] {
        assert!(
            created.contains(&id.to_string()),
            "{id} not created: {created:?}"
        );
    }

    // Queues, read back.
    let url = stack.queue_url(&sqs, "orders").await;
    assert_eq!(first["outputs"]["queues"]["orders"]["url"], url.as_str());
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(attrs[&QueueAttributeName::VisibilityTimeout], "180");
    assert_eq!(attrs[&QueueAttributeName::MessageRetentionPeriod], "345600");
    assert_eq!(attrs[&QueueAttributeName::SqsManagedSseEnabled], "true");
    let redrive: Value = serde_json::from_str(&attrs[&QueueAttributeName::RedrivePolicy]).unwrap();
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        "3"
    );
    assert!(redrive["deadLetterTargetArn"]
        .as_str()
        .unwrap()
        .ends_with(&stack.physical("orders-dlq")));
    let tags = sqs
        .list_queue_tags()
        .queue_url(&url)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap();
    assert_eq!(tags.get("orderflow:stack"), Some(&stack.name));
    assert_eq!(tags.get("team").map(String::as_str), Some("orders"));

    // Table.
    let table = ddb
        .describe_table()
        .table_name(stack.physical("orders"))
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(table.key_schema()[0].attribute_name(), "order_id");
    assert_eq!(
        table
            .billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .map(|b| b.as_str()),
        Some("PAY_PER_REQUEST")
    );
    let pitr = ddb
        .describe_continuous_backups()
        .table_name(stack.physical("orders"))
        .send()
        .await
        .unwrap();
    let pitr_status = pitr
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .and_then(|p| p.point_in_time_recovery_status())
        .map(|s| s.as_str().to_string());
    assert_eq!(pitr_status.as_deref(), Some("ENABLED"));
    let ttl = ddb
        .describe_time_to_live()
        .table_name(stack.physical("orders"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|t| t.attribute_name()),
        Some("expires_at")
    );

    // Functions.
    let f = lambda
        .get_function_configuration()
        .function_name(stack.physical("validate-order"))
        .send()
        .await
        .unwrap();
    assert_eq!(f.runtime().map(|r| r.as_str()), Some("provided.al2023"));
    assert_eq!(f.handler(), Some("bootstrap"));
    assert_eq!(f.memory_size(), Some(256));
    assert_eq!(f.timeout(), Some(10));
    let env = f.environment().and_then(|e| e.variables()).unwrap();
    assert_eq!(env.get("ORDERS_QUEUE_URL"), Some(&url));
    assert_eq!(env.get("EVENT_BUS_NAME"), Some(&stack.physical("orders")));
    assert!(f
        .dead_letter_config()
        .and_then(|d| d.target_arn())
        .unwrap()
        .ends_with(&stack.physical("validate-dlq")));
    assert!(f
        .role()
        .unwrap()
        .contains(&stack.physical("validate-order")));

    // Rule and its target.
    let rule = events
        .describe_rule()
        .name(stack.physical("order-placed"))
        .event_bus_name(stack.physical("orders"))
        .send()
        .await
        .unwrap();
    let pattern: Value = serde_json::from_str(rule.event_pattern().unwrap()).unwrap();
    assert_eq!(pattern["detail-type"][0], "OrderPlaced");
    let targets = events
        .list_targets_by_rule()
        .rule(stack.physical("order-placed"))
        .event_bus_name(stack.physical("orders"))
        .send()
        .await
        .unwrap();
    let target = &targets.targets()[0];
    assert_eq!(Some(target.arn()), f.function_arn());
    let retry = target.retry_policy().unwrap();
    assert_eq!(retry.maximum_retry_attempts(), Some(4));
    assert_eq!(retry.maximum_event_age_in_seconds(), Some(3600));
    assert!(target.dead_letter_config().and_then(|d| d.arn()).is_some());

    // Invoke permission scoped to the rule.
    let policy = lambda
        .get_policy()
        .function_name(stack.physical("validate-order"))
        .send()
        .await
        .unwrap();
    let policy: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let statement = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["Sid"]
                .as_str()
                .unwrap_or("")
                .starts_with("orderflow-rule-")
        })
        .expect("orderflow invoke permission");
    assert!(
        statement.to_string().contains(rule.arn().unwrap()),
        "{statement}"
    );

    // Event source mapping.
    let mappings = lambda
        .list_event_source_mappings()
        .function_name(stack.physical("process-order"))
        .send()
        .await
        .unwrap();
    let m = &mappings.event_source_mappings()[0];
    assert_eq!(m.batch_size(), Some(10));
    assert_eq!(m.maximum_batching_window_in_seconds(), Some(1));
    assert_eq!(m.state(), Some("Enabled"));
    assert!(m
        .function_response_types()
        .iter()
        .any(|t| t.as_str() == "ReportBatchItemFailures"));

    // Roles: generated policy has no wildcard action or resource.
    let role_policy = iam
        .get_role_policy()
        .role_name(stack.physical("process-order"))
        .policy_name("orderflow-access")
        .send()
        .await
        .unwrap();
    let doc = role_policy.policy_document();
    let doc = urlencoding_decode(doc);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    for s in doc["Statement"].as_array().unwrap() {
        for key in ["Action", "Resource"] {
            let values: Vec<&str> = match &s[key] {
                Value::String(v) => vec![v.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                other => panic!("unexpected {key}: {other}"),
            };
            assert!(
                values.iter().all(|v| !v.contains('*') || v.ends_with(":*")),
                "{key} has a wildcard: {s}"
            );
            assert!(values.iter().all(|v| *v != "*"), "{s}");
        }
    }

    // Second up: nothing to do and no write call.
    let second = stack.up();
    assert_eq!(second["applied"].as_array().unwrap().len(), 0, "{second}");
    assert_eq!(second["api_calls"]["writes"], 0, "{second}");
    // Not vacuous: the run did read every resource.
    assert!(
        second["api_calls"]["total"].as_u64().unwrap() >= 13,
        "{second}"
    );
    let plan = stack.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));

    // Edit one attribute: only that resource changes.
    stack.edit(
        "    memory: 256\n    timeout: 30",
        "    memory: 512\n    timeout: 30",
    );
    let plan = stack.json(&["plan", "--output", "json"]);
    let changed: Vec<&Value> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] != "unchanged")
        .collect();
    assert_eq!(changed.len(), 1, "{plan}");
    assert_eq!(changed[0]["id"]["name"], "process-order");
    assert_eq!(changed[0]["changes"][0]["attribute"], "memory_size");
    assert_eq!(changed[0]["changes"][0]["old"], 256);
    assert_eq!(changed[0]["changes"][0]["new"], 512);
    let third = stack.up();
    assert_eq!(
        applied_ids(&third),
        vec!["function.process-order".to_string()],
        "{third}"
    );
    let f = lambda
        .get_function_configuration()
        .function_name(stack.physical("process-order"))
        .send()
        .await
        .unwrap();
    assert_eq!(f.memory_size(), Some(512));
    assert_eq!(
        f.last_update_status().map(|s| s.as_str()),
        Some("Successful")
    );
    let plan = stack.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
}

/// IAM role policies are URL-encoded on real AWS; the emulator may return them plain.
fn urlencoding_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn up_refuses_a_same_named_resource_it_does_not_own_and_touches_nothing() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "foreign", &[]);
    let config = stack.config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let events = aws_sdk_eventbridge::Client::new(&config);
    // Somebody else's queue with the name orderflow would use.
    let url = sqs
        .create_queue()
        .queue_name(stack.physical("orders"))
        .tags("owner", "someone-else")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();

    let out = stack.run(&["up", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("queue.orders"), "{err}");
    assert!(
        err.contains("does not carry the tag orderflow:stack="),
        "{err}"
    );

    // The foreign queue is untouched and nothing else was created.
    let tags = sqs
        .list_queue_tags()
        .queue_url(&url)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap();
    assert!(!tags.contains_key("orderflow:stack"));
    let buses = events
        .list_event_buses()
        .name_prefix(stack.physical(""))
        .send()
        .await
        .unwrap();
    assert!(buses.event_buses().is_empty(), "{buses:?}");
}

#[tokio::test]
async fn up_without_a_terminal_needs_yes() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "noyes", &[]);
    let out = stack.run(&["up"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("pass --yes"), "{}", stderr(&out));
    let config = stack.config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queues = sqs
        .list_queues()
        .queue_name_prefix(stack.physical(""))
        .send()
        .await
        .unwrap();
    assert!(queues.queue_urls().is_empty(), "{queues:?}");
}

#[tokio::test]
async fn moving_a_rule_to_another_bus_removes_it_from_the_old_one() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "move", &[]);
    stack.up();
    stack.edit(
        "buses:\n",
        "buses:\n  audit:\n    description: \"Second bus\"\n",
    );
    stack.edit(
        "  order-placed:\n    bus: orders\n",
        "  order-placed:\n    bus: audit\n",
    );
    let plan = stack.json(&["plan", "--output", "json"]);
    let removals = plan["removals"].as_array().unwrap();
    assert_eq!(removals.len(), 1, "{plan}");
    assert_eq!(removals[0]["id"]["name"], "order-placed");
    assert_eq!(
        removals[0]["handle"],
        format!(
            "{}/{}",
            stack.physical("orders"),
            stack.physical("order-placed")
        )
    );
    stack.up();

    let config = stack.config().await;
    let events = aws_sdk_eventbridge::Client::new(&config);
    let on = |bus: String| {
        let events = events.clone();
        async move {
            events
                .list_rules()
                .event_bus_name(bus)
                .send()
                .await
                .unwrap()
                .rules()
                .iter()
                .filter_map(|r| r.name().map(str::to_string))
                .collect::<Vec<_>>()
        }
    };
    // Only the moved rule left the old bus (order-finished, for notifications, and
    // order-audit, for the audit trail, stay there).
    assert_eq!(
        on(stack.physical("orders")).await,
        vec![
            stack.physical("order-audit"),
            stack.physical("order-finished")
        ]
    );
    assert_eq!(
        on(stack.physical("audit")).await,
        vec![stack.physical("order-placed")]
    );
    let plan = stack.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
}

/// A new consumer is an edit of pipeline.yaml (plus its crate; here it reuses an existing one):
/// its own rule, queue, role, log group and invoke permission appear, and events reach it.
#[tokio::test]
async fn a_third_consumer_is_only_a_pipeline_edit() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "third", &[]);
    stack.up();
    stack.edit(
        "queues:\n",
        "queues:\n  inventory: { visibility_timeout: 60 }\n",
    );
    stack.edit(
        "functions:\n",
        "functions:\n  inventory:\n    crate: validate-order\n    timeout: 10\n    environment:\n      ORDERS_QUEUE_URL: ${queues.inventory.url}\n      EVENT_BUS_NAME: ${buses.orders.name}\n      ORDERS_TABLE: ${tables.orders.name}\n    access:\n      - { queue: inventory, verb: send }\n      - { table: orders, verb: write }\n      - { bus: orders, verb: publish }\n",
    );
    stack.edit(
        "rules:\n",
        "rules:\n  reserve-stock:\n    bus: orders\n    event_pattern: { source: [orderflow.orders], detail-type: [OrderPlaced] }\n    targets:\n      - function: inventory\n",
    );
    let result = stack.up();
    let mut added: Vec<String> = result["applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{} {}.{}",
                a["action"].as_str().unwrap(),
                a["id"]["kind"].as_str().unwrap(),
                a["id"]["name"].as_str().unwrap()
            )
        })
        .collect();
    added.sort();
    assert_eq!(
        added,
        vec![
            "create function.inventory",
            "create log_group.inventory",
            "create permission.reserve-stock/inventory",
            "create queue.inventory",
            "create role.inventory",
            "create rule.reserve-stock",
        ],
        "{result}"
    );

    // An order now also reaches the new consumer, which forwards it to its queue.
    let out = stack.run(&["send-order", "--wait", "--order-id", "ord-inv-1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let config = stack.config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let url = stack.queue_url(&sqs, "inventory").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let body = loop {
        let r = sqs
            .receive_message()
            .queue_url(&url)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if let Some(b) = r.messages().first().and_then(|m| m.body()) {
            break b.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no message reached the inventory queue"
        );
    };
    assert!(body.contains("ord-inv-1"), "{body}");
}
