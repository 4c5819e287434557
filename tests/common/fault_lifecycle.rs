//! Included by tests/faults.rs as `#[path = "common/fault_lifecycle.rs"] mod fault_lifecycle;`.
//!
//! The user's lifecycle under a fault scenario — fresh `up`, an edit and `up`, a clean `plan`,
//! orders through the bus and the HTTP API, `down`, an immediate `up`, a clean `plan`, another
//! order — and the checks against the emulator directly (not through the proxy): the orders
//! processed once, nothing duplicated, nothing left after `down`.

#![allow(dead_code)]

use std::collections::HashSet;
use std::time::Instant;

use aws_config::retry::RetryConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

use crate::common::{self, TestEmulator};
use crate::fault_proxy::{FaultProxy, Scenario};
use crate::stack::{stderr, stdout, Stack};

/// SDK configuration against `endpoint`, with the SDK's standard retries or none at all.
pub async fn config(endpoint: &str, retries: bool) -> aws_config::SdkConfig {
    let retry = if retries {
        RetryConfig::standard().with_max_attempts(3)
    } else {
        RetryConfig::disabled()
    };
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(common::REGION))
        .retry_config(retry)
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "faults",
        ))
        .load()
        .await
}

/// An emulator whose functions call AWS through a fault proxy, and that proxy.
pub struct Rig {
    pub proxy: FaultProxy,
    pub emu: TestEmulator,
}

impl Rig {
    pub fn start(scenario: Scenario) -> Rig {
        let proxy = FaultProxy::start(scenario);
        let emu = TestEmulator::start_with_functions_endpoint(Some(&proxy.endpoint()));
        proxy.set_upstream(emu.endpoint());
        Rig { proxy, emu }
    }

    /// The default pipeline, driven through the proxy.
    pub fn stack(&self, prefix: &str) -> Stack {
        let mut stack = Stack::new(&self.emu, prefix, &[]);
        stack.endpoint = self.proxy.endpoint();
        stack
    }
}

/// Run orderflow; on failure panic with its output and the faults injected so far.
pub fn run_ok(rig: &Rig, stack: &Stack, what: &str, args: &[&str]) -> std::process::Output {
    let started = Instant::now();
    let out = stack.run(args);
    eprintln!(
        "[{}] {what}: {:?} in {:.1} s",
        stack.name,
        out.status.code(),
        started.elapsed().as_secs_f64()
    );
    if let Ok(v) = serde_json::from_slice::<Value>(&out.stdout) {
        // The slowest resources, to see which fault costs the time.
        let mut applied: Vec<(f64, String)> = v["applied"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        let id = format!("{}.{}", x["id"]["kind"], x["id"]["name"]);
                        (x["seconds"].as_f64().unwrap_or(0.0), id.replace('"', ""))
                    })
                    .collect()
            })
            .unwrap_or_default();
        applied.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (secs, id) in applied.iter().take(6) {
            eprintln!("[{}]   {id}: {secs:.1} s", stack.name);
        }
    }
    assert!(
        out.status.success(),
        "{what}: orderflow {args:?} failed ({:?})\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- proxy ---\n{}",
        out.status.code(),
        stdout(&out),
        stderr(&out),
        rig.proxy.summary()
    );
    out
}

pub fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", stdout(out)))
}

/// Send one order and require it processed; then check the table holds it once, each status once.
pub async fn order_through(rig: &Rig, stack: &Stack, via: &str, order_id: &str) {
    let out = run_ok(
        rig,
        stack,
        &format!("send-order --via {via}"),
        &[
            "send-order",
            "--via",
            via,
            "--wait",
            "--timeout",
            "90",
            "--order-id",
            order_id,
            "--output",
            "json",
        ],
    );
    let result = json_of(&out);
    assert_eq!(
        result["status"],
        "processed",
        "{result}\n{}",
        rig.proxy.summary()
    );
    let ddb = aws_sdk_dynamodb::Client::new(&config(rig.emu.endpoint(), true).await);
    let item = ddb
        .get_item()
        .table_name(stack.physical("orders"))
        .key("order_id", AttributeValue::S(order_id.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_else(|| panic!("{order_id} not in the table"));
    assert_eq!(item["status"].as_s().unwrap(), "PROCESSED");
    let history: Vec<String> = item
        .get("status_history")
        .and_then(|h| h.as_l().ok())
        .map(|l| {
            l.iter()
                .filter_map(|e| e.as_m().ok()?.get("status")?.as_s().ok().cloned())
                .collect()
        })
        .unwrap_or_default();
    let unique: HashSet<&String> = history.iter().collect();
    assert_eq!(
        unique.len(),
        history.len(),
        "a status recorded twice: {history:?}"
    );
}

/// Nothing duplicated: exactly what the default pipeline declares, read from the emulator.
pub async fn assert_nothing_duplicated(rig: &Rig, stack: &Stack) {
    let cfg = config(rig.emu.endpoint(), true).await;
    let faults = rig.proxy.summary();
    let apigw = aws_sdk_apigatewayv2::Client::new(&cfg);
    let lambda = aws_sdk_lambda::Client::new(&cfg);
    let events = aws_sdk_eventbridge::Client::new(&cfg);
    let sns = aws_sdk_sns::Client::new(&cfg);
    let sqs = aws_sdk_sqs::Client::new(&cfg);
    let iam = aws_sdk_iam::Client::new(&cfg);

    let apis: Vec<_> = apigw
        .get_apis()
        .send()
        .await
        .unwrap()
        .items()
        .iter()
        .filter(|a| a.name() == Some(stack.physical("orders").as_str()))
        .cloned()
        .collect();
    assert_eq!(
        apis.len(),
        1,
        "APIs named {}: {apis:?}\n{faults}",
        stack.physical("orders")
    );
    let api_id = apis[0].api_id().unwrap();
    let routes = apigw.get_routes().api_id(api_id).send().await.unwrap();
    assert_eq!(routes.items().len(), 2, "{routes:?}\n{faults}");
    let integrations = apigw
        .get_integrations()
        .api_id(api_id)
        .send()
        .await
        .unwrap();
    assert_eq!(integrations.items().len(), 2, "{integrations:?}\n{faults}");
    let stages = apigw.get_stages().api_id(api_id).send().await.unwrap();
    assert_eq!(stages.items().len(), 1, "{stages:?}\n{faults}");

    let mappings = lambda
        .list_event_source_mappings()
        .function_name(stack.physical("process-order"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        mappings.event_source_mappings().len(),
        1,
        "{:?}\n{faults}",
        mappings.event_source_mappings()
    );
    for f in [
        "validate-order",
        "notify-customer",
        "submit-order",
        "get-order",
    ] {
        let policy = lambda
            .get_policy()
            .function_name(stack.physical(f))
            .send()
            .await
            .unwrap_or_else(|e| panic!("policy of {f}: {e:?}"));
        let doc: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
        let sids: Vec<&str> = doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["Sid"].as_str())
            .collect();
        assert_eq!(
            sids.len(),
            1,
            "{f}'s permission statements: {sids:?}\n{faults}"
        );
    }
    for rule in ["order-placed", "order-finished"] {
        let targets = events
            .list_targets_by_rule()
            .rule(stack.physical(rule))
            .event_bus_name(stack.physical("orders"))
            .send()
            .await
            .unwrap();
        assert_eq!(targets.targets().len(), 1, "{rule}: {targets:?}\n{faults}");
    }
    let topic_arn = sns
        .list_topics()
        .send()
        .await
        .unwrap()
        .topics()
        .iter()
        .filter_map(|t| t.topic_arn())
        .filter(|a| a.ends_with(&format!(":{}", stack.physical("order-notifications"))))
        .map(str::to_string)
        .collect::<Vec<_>>();
    assert_eq!(topic_arn.len(), 1, "{topic_arn:?}\n{faults}");
    let subs = sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic_arn[0])
        .send()
        .await
        .unwrap();
    assert!(subs.subscriptions().is_empty(), "{subs:?}\n{faults}");
    let queues = sqs
        .list_queues()
        .queue_name_prefix(format!("{}-", stack.name))
        .send()
        .await
        .unwrap();
    assert_eq!(queues.queue_urls().len(), 6, "{queues:?}\n{faults}");
    let functions: Vec<_> = lambda
        .list_functions()
        .send()
        .await
        .unwrap()
        .functions()
        .iter()
        .filter_map(|f| f.function_name())
        .filter(|n| n.starts_with(&format!("{}-", stack.name)))
        .map(str::to_string)
        .collect();
    assert_eq!(functions.len(), 6, "{functions:?}\n{faults}");
    let roles: Vec<_> = iam
        .list_roles()
        .send()
        .await
        .unwrap()
        .roles()
        .iter()
        .map(|r| r.role_name().to_string())
        .filter(|n| n.starts_with(&format!("{}-", stack.name)))
        .collect();
    // A role per function, and the one EventBridge Pipes assumes for the orders table's changes.
    assert_eq!(roles.len(), 7, "{roles:?}\n{faults}");
    assert!(
        roles.contains(&format!("{}-orders.pipe", stack.name)),
        "{roles:?}\n{faults}"
    );
    // One imports bucket, and the rule taking its files (on the default bus) with one target.
    let buckets = stack_buckets(rig, stack).await;
    assert_eq!(buckets.len(), 1, "{buckets:?}\n{faults}");
    let targets = events
        .list_targets_by_rule()
        .rule(stack.physical("order-files"))
        .event_bus_name("default")
        .send()
        .await
        .unwrap();
    assert_eq!(
        targets.targets().len(),
        1,
        "order-files: {targets:?}\n{faults}"
    );
}

/// The stack's buckets (`<stack>-*`).
async fn stack_buckets(rig: &Rig, stack: &Stack) -> Vec<String> {
    let cfg = config(rig.emu.endpoint(), true).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&cfg)
            .force_path_style(true)
            .build(),
    );
    s3.list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|b| b.name())
        .filter(|n| n.starts_with(&format!("{}-", stack.name)))
        .map(str::to_string)
        .collect()
}

/// After `down`: nothing of the stack left but its table (data is kept without --delete-data).
pub async fn assert_gone(rig: &Rig, stack: &Stack) {
    let cfg = config(rig.emu.endpoint(), true).await;
    let sqs = aws_sdk_sqs::Client::new(&cfg);
    let lambda = aws_sdk_lambda::Client::new(&cfg);
    let apigw = aws_sdk_apigatewayv2::Client::new(&cfg);
    let queues = sqs
        .list_queues()
        .queue_name_prefix(format!("{}-", stack.name))
        .send()
        .await
        .unwrap();
    assert!(queues.queue_urls().is_empty(), "{queues:?}");
    let left: Vec<_> = lambda
        .list_functions()
        .send()
        .await
        .unwrap()
        .functions()
        .iter()
        .filter_map(|f| f.function_name())
        .filter(|n| n.starts_with(&format!("{}-", stack.name)))
        .map(str::to_string)
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // The imports bucket holds no file in these runs: deleted like any other resource.
    let buckets = stack_buckets(rig, stack).await;
    assert!(buckets.is_empty(), "{buckets:?}");
    let apis = apigw.get_apis().send().await.unwrap();
    assert!(
        !apis
            .items()
            .iter()
            .any(|a| a.name() == Some(stack.physical("orders").as_str())),
        "{apis:?}"
    );
}

/// Fresh up, edit + up, clean plan, orders (bus and API), nothing duplicated, down, immediate
/// up, clean plan, nothing duplicated, another order.
pub async fn lifecycle(rig: &Rig, prefix: &str) {
    let started = Instant::now();
    let stack = rig.stack(prefix);
    let cfg = config(rig.emu.endpoint(), true).await;
    let lambda = aws_sdk_lambda::Client::new(&cfg);
    let sqs = aws_sdk_sqs::Client::new(&cfg);

    run_ok(
        rig,
        &stack,
        "fresh up",
        &["up", "--yes", "--output", "json"],
    );

    stack.edit(
        "    memory: 256\n    timeout: 10\n    architecture: x86_64",
        "    memory: 320\n    timeout: 10\n    architecture: x86_64",
    );
    stack.edit("retention: 345600", "retention: 300000");
    run_ok(
        rig,
        &stack,
        "edited up",
        &["up", "--yes", "--output", "json"],
    );
    let f = lambda
        .get_function_configuration()
        .function_name(stack.physical("validate-order"))
        .send()
        .await
        .unwrap();
    assert_eq!(f.memory_size(), Some(320), "the edit was not applied");
    let url = stack.queue_url(&sqs, "orders").await;
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::MessageRetentionPeriod)
        .send()
        .await
        .unwrap();
    assert_eq!(
        attrs.attributes().unwrap()[&QueueAttributeName::MessageRetentionPeriod],
        "300000"
    );

    run_ok(rig, &stack, "plan", &["plan", "--detailed-exitcode"]);
    order_through(rig, &stack, "bus", "ord-fault-bus-1").await;
    order_through(rig, &stack, "api", "ord-fault-api-1").await;
    assert_nothing_duplicated(rig, &stack).await;

    run_ok(rig, &stack, "down", &["down", "--yes"]);
    assert_gone(rig, &stack).await;
    run_ok(
        rig,
        &stack,
        "up again",
        &["up", "--yes", "--output", "json"],
    );
    run_ok(rig, &stack, "plan again", &["plan", "--detailed-exitcode"]);
    assert_nothing_duplicated(rig, &stack).await;
    order_through(rig, &stack, "bus", "ord-fault-bus-2").await;
    eprintln!(
        "[{}] lifecycle done in {:.1} s\n{}",
        stack.name,
        started.elapsed().as_secs_f64(),
        rig.proxy.summary()
    );
}

pub fn assert_fired(rig: &Rig, faults: &[&str]) {
    for f in faults {
        assert!(
            rig.proxy.fired(f) > 0,
            "fault {f} never fired\n{}",
            rig.proxy.summary()
        );
    }
}
