//! Role, function, permission and event source mapping providers against MiniStack.
//!
//! Each test starts its own emulator (`common::TestEmulator`) and uses its own stack name.
//! The functions deployed here are tiny synthetic packages (a shell script as `bootstrap`):
//! these tests check the providers, not the function code, and are never invoked.

use std::collections::{BTreeMap, HashMap};

use orderflow::build::{package, Artifact};
use orderflow::resources::{
    diff, Ctx, Discovered, Kind, Known, Live, Outputs, Provider, ResourceId,
};
use orderflow::spec::model::{
    Access, Architecture, Function, Ref, Section, Spec, Template, TemplatePart, Trigger,
};
use serde_json::{json, Value};

mod common;
#[path = "common/providers.rs"]
mod providers;
use providers::*;

use common::{unique_stack, TestEmulator, REGION};

fn function(access: Vec<Access>) -> Function {
    Function {
        crate_name: "process-order".into(),
        memory_mb: 128,
        timeout_secs: 3,
        architecture: Architecture::X86_64,
        environment: BTreeMap::new(),
        access,
        dead_letter_queue: None,
        async_retry_attempts: None,
        log_retention_days: 14,
        adopt_log_group: false,
    }
}

fn spec(stack: &str, functions: BTreeMap<String, Function>) -> Spec {
    Spec {
        region: Some(REGION.into()),
        tags: BTreeMap::from([("team".to_string(), "orders".to_string())]),
        functions,
        ..Spec::empty(stack)
    }
}

fn outputs(pairs: &[(&str, &str)]) -> Outputs {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn create_queue(ctx: &Ctx, physical: &str) -> Outputs {
    let url = ctx
        .aws
        .sqs
        .create_queue()
        .queue_name(physical)
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("queue url");
    let attrs = ctx
        .aws
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("GetQueueAttributes");
    let arn = attrs
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .expect("queue arn")
        .clone();
    outputs(&[("name", physical), ("arn", &arn), ("url", &url)])
}

async fn create_table(ctx: &Ctx, physical: &str) -> Outputs {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let out = ctx
        .aws
        .dynamodb
        .create_table()
        .table_name(physical)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("CreateTable");
    let arn = out
        .table_description()
        .and_then(|d| d.table_arn())
        .expect("table arn")
        .to_string();
    outputs(&[("name", physical), ("arn", &arn)])
}

async fn create_bus(ctx: &Ctx, physical: &str) -> Outputs {
    let out = ctx
        .aws
        .events
        .create_event_bus()
        .name(physical)
        .send()
        .await
        .expect("CreateEventBus");
    let arn = out.event_bus_arn().expect("bus arn").to_string();
    outputs(&[("name", physical), ("arn", &arn)])
}

async fn create_rule(ctx: &Ctx, bus: &str, physical: &str) -> Outputs {
    let out = ctx
        .aws
        .events
        .put_rule()
        .event_bus_name(bus)
        .name(physical)
        .event_pattern(json!({"source": ["orders"]}).to_string())
        .send()
        .await
        .expect("PutRule");
    let arn = out.rule_arn().expect("rule arn").to_string();
    outputs(&[("name", physical), ("arn", &arn)])
}

async fn update(p: &dyn Provider, ctx: &Ctx, name: &str, known: &Known, live: &Live) -> Outputs {
    let mut known = known.clone();
    known.insert(ResourceId::new(p.kind(), name), live.outputs.clone());
    let changes = diff(&p.desired(ctx, name, &known), &live.props);
    assert!(
        !changes.is_empty(),
        "expected a change of {}.{name}",
        p.kind()
    );
    p.update(ctx, name, &known, live, &changes)
        .await
        .expect("update")
}

async fn discovered(p: &dyn Provider, ctx: &Ctx) -> Vec<Discovered> {
    p.discover(ctx).await.expect("discover")
}

async fn decision(ctx: &Ctx, role_arn: &str, action: &str, resource: &str) -> String {
    let out = ctx
        .aws
        .iam
        .simulate_principal_policy()
        .policy_source_arn(role_arn)
        .action_names(action)
        .resource_arns(resource)
        .send()
        .await
        .expect("SimulatePrincipalPolicy");
    let results = out.evaluation_results();
    assert_eq!(results.len(), 1);
    results[0].eval_decision().as_str().to_string()
}

fn bootstrap(version: &str) -> Artifact {
    let script = format!("#!/bin/sh\n# orderflow provider test, {version}\nexit 0\n");
    package("process", script.as_bytes()).expect("package")
}

#[tokio::test]
async fn role_is_least_privilege_and_follows_the_spec() {
    let emu = TestEmulator::start();
    let endpoint = emu.endpoint();
    let stack = unique_stack("rl");
    let access = vec![
        Access::new(Section::Queue, "orders", "consume"),
        Access::new(Section::Queue, "dlq", "send"),
        Access::new(Section::Table, "orders", "write"),
        Access::new(Section::Bus, "events", "publish"),
    ];
    let base = spec(
        &stack,
        BTreeMap::from([("process".to_string(), function(access.clone()))]),
    );
    let ctx = ctx(endpoint, base.clone()).await;
    let p = Kind::Role.provider();

    let orders_q = create_queue(&ctx, &format!("{stack}-orders")).await;
    let dlq = create_queue(&ctx, &format!("{stack}-dlq")).await;
    let other_q = create_queue(&ctx, &format!("{stack}-other")).await;
    let orders_t = create_table(&ctx, &format!("{stack}-orders")).await;
    let other_t = create_table(&ctx, &format!("{stack}-other")).await;
    let bus = create_bus(&ctx, &format!("{stack}-events")).await;
    let known: Known = HashMap::from([
        (ResourceId::new(Kind::Queue, "orders"), orders_q.clone()),
        (ResourceId::new(Kind::Queue, "dlq"), dlq.clone()),
        (ResourceId::new(Kind::Table, "orders"), orders_t.clone()),
        (ResourceId::new(Kind::Bus, "events"), bus.clone()),
    ]);
    assert_eq!(
        p.dependencies(&base, "process"),
        vec![
            ResourceId::new(Kind::Queue, "dlq"),
            ResourceId::new(Kind::Queue, "orders"),
            ResourceId::new(Kind::Bus, "events"),
            ResourceId::new(Kind::Table, "orders"),
        ]
    );

    // create → read: equal to desired
    assert!(read(p, &ctx, "process").await.is_none());
    let out = p.create(&ctx, "process", &known).await.expect("create");
    assert_eq!(out["name"], format!("{stack}-process"));
    let role_arn = out["arn"].clone();
    assert!(
        role_arn.ends_with(&format!(":role/orderflow/{stack}/{stack}-process")),
        "{role_arn}"
    );
    let live = assert_in_sync(p, &ctx, "process", &known).await;
    assert_eq!(live.outputs, out);

    // IAM proof: every declared action on its declared resource is allowed ...
    let account = role_arn.split(':').nth(4).unwrap().to_string();
    // MiniStack's simulator looks a role up by everything after `role/` in the ARN, so a role
    // with a path (ours: /orderflow/<stack>/) is not found and every action would be denied.
    // Name the same role without its path; AWS itself takes the full ARN.
    let principal = format!("arn:aws:iam::{account}:role/{stack}-process");
    let log_group =
        format!("arn:aws:logs:{REGION}:{account}:log-group:/aws/lambda/{stack}-process");
    let allowed = [
        ("sqs:ReceiveMessage", orders_q["arn"].as_str()),
        ("sqs:DeleteMessage", orders_q["arn"].as_str()),
        ("sqs:ChangeMessageVisibility", orders_q["arn"].as_str()),
        ("sqs:GetQueueAttributes", orders_q["arn"].as_str()),
        ("sqs:SendMessage", dlq["arn"].as_str()),
        ("dynamodb:PutItem", orders_t["arn"].as_str()),
        ("dynamodb:UpdateItem", orders_t["arn"].as_str()),
        ("events:PutEvents", bus["arn"].as_str()),
    ];
    let stream = format!("{log_group}:log-stream:2026/01/01/[$LATEST]abc");
    let mut allowed: Vec<(&str, &str)> = allowed.to_vec();
    allowed.push(("logs:CreateLogStream", &stream));
    allowed.push(("logs:PutLogEvents", &stream));
    for (action, resource) in &allowed {
        assert_eq!(
            decision(&ctx, &principal, action, resource).await,
            "allowed",
            "{action} on {resource}"
        );
    }
    // ... and anything undeclared is denied.
    let other_group =
        format!("arn:aws:logs:{REGION}:{account}:log-group:/aws/lambda/{stack}-other:log-stream:x");
    let denied = [
        // `write` grants no deletes, and no condition checks (only used in transactions).
        ("dynamodb:DeleteItem", orders_t["arn"].as_str()),
        ("dynamodb:ConditionCheckItem", orders_t["arn"].as_str()),
        ("dynamodb:BatchWriteItem", orders_t["arn"].as_str()),
        ("sqs:DeleteQueue", orders_q["arn"].as_str()),
        ("sqs:SendMessage", orders_q["arn"].as_str()),
        ("sqs:SendMessage", other_q["arn"].as_str()),
        ("sqs:ReceiveMessage", dlq["arn"].as_str()),
        ("dynamodb:DeleteTable", orders_t["arn"].as_str()),
        ("dynamodb:GetItem", orders_t["arn"].as_str()),
        ("dynamodb:PutItem", other_t["arn"].as_str()),
        (
            "events:PutEvents",
            "arn:aws:events:us-east-1:000000000000:event-bus/default",
        ),
        ("logs:PutLogEvents", other_group.as_str()),
        // orderflow creates the log group itself (kinds::log_group): the role may only write.
        ("logs:CreateLogGroup", log_group.as_str()),
        ("iam:PassRole", role_arn.as_str()),
    ];
    for (action, resource) in denied {
        assert_eq!(
            decision(&ctx, &principal, action, resource).await,
            "implicitDeny",
            "{action} on {resource}"
        );
    }

    // update: a new spec tag, and table write narrowed to read
    let mut changed = base.clone();
    changed
        .tags
        .insert("cost-center".to_string(), "42".to_string());
    let f = changed.functions.get_mut("process").unwrap();
    f.access[2].verb = "read";
    let ctx2 = with_spec(&ctx, changed);
    let mut attrs = changes_of(p, &ctx2, "process", &known, &live);
    attrs.sort();
    assert_eq!(attrs, ["policy", "tags"]);
    update(p, &ctx2, "process", &known, &live).await;
    assert_in_sync(p, &ctx2, "process", &known).await;
    assert_eq!(
        decision(&ctx, &principal, "dynamodb:PutItem", &orders_t["arn"]).await,
        "implicitDeny"
    );
    assert_eq!(
        decision(&ctx, &principal, "dynamodb:GetItem", &orders_t["arn"]).await,
        "allowed"
    );

    // discover: ours only (a role under the same path without our tag is not ours)
    let foreign = format!("{stack}-foreign");
    ctx.aws
        .iam
        .create_role()
        .role_name(&foreign)
        .path(format!("/orderflow/{stack}/"))
        .assume_role_policy_document(json!({"Version": "2012-10-17", "Statement": []}).to_string())
        .send()
        .await
        .expect("CreateRole foreign");
    let found = discovered(p, &ctx).await;
    assert_eq!(
        found,
        vec![Discovered {
            id: ResourceId::new(Kind::Role, "process"),
            physical: format!("{stack}-process"),
            handle: format!("{stack}-process"),
        }]
    );

    // delete → gone → delete again
    p.delete(&ctx, &found[0]).await.expect("delete");
    assert!(read(p, &ctx, "process").await.is_none());
    p.delete(&ctx, &found[0]).await.expect("second delete");
    assert!(discovered(p, &ctx).await.is_empty());
    ctx.aws
        .iam
        .delete_role()
        .role_name(&foreign)
        .send()
        .await
        .expect("DeleteRole foreign");
}

#[tokio::test]
async fn function_permission_and_mapping_lifecycle() {
    let emu = TestEmulator::start();
    let endpoint = emu.endpoint();
    let stack = unique_stack("fn");
    let mut process = function(vec![
        Access::new(Section::Queue, "orders", "consume"),
        Access::new(Section::Queue, "dlq", "send"),
    ]);
    process.environment = BTreeMap::from([
        (
            "QUEUE_URL".to_string(),
            Template {
                parts: vec![TemplatePart::Ref(Ref {
                    kind: Section::Queue,
                    name: "orders".into(),
                    attribute: "url",
                })],
            },
        ),
        (
            "MODE".to_string(),
            Template {
                parts: vec![TemplatePart::Literal("strict".into())],
            },
        ),
    ]);
    process.dead_letter_queue = Some("dlq".into());
    process.async_retry_attempts = Some(1);
    let mut base = spec(&stack, BTreeMap::from([("process".to_string(), process)]));
    base.triggers.insert(
        "orders-in".to_string(),
        Trigger {
            queue: "orders".into(),
            function: "process".into(),
            batch_size: 10,
            batching_window_secs: 0,
            report_batch_item_failures: true,
            maximum_concurrency: None,
            enabled: true,
        },
    );
    let mut ctx = ctx(endpoint, base.clone()).await;
    ctx.artifacts.insert("process".into(), bootstrap("v1"));

    let orders_q = create_queue(&ctx, &format!("{stack}-orders")).await;
    let dlq = create_queue(&ctx, &format!("{stack}-dlq")).await;
    let bus = create_bus(&ctx, &format!("{stack}-events")).await;
    let rule = create_rule(&ctx, &bus["name"], &format!("{stack}-new-orders")).await;
    let rule2 = create_rule(&ctx, &bus["name"], &format!("{stack}-late-orders")).await;
    let mut known: Known = HashMap::from([
        (ResourceId::new(Kind::Queue, "orders"), orders_q.clone()),
        (ResourceId::new(Kind::Queue, "dlq"), dlq.clone()),
        (ResourceId::new(Kind::Bus, "events"), bus.clone()),
        (ResourceId::new(Kind::Rule, "new-orders"), rule.clone()),
    ]);

    let roles = Kind::Role.provider();
    let role_out = roles.create(&ctx, "process", &known).await.expect("role");
    known.insert(ResourceId::new(Kind::Role, "process"), role_out.clone());

    // ---- function
    let f = Kind::Function.provider();
    assert_eq!(
        f.dependencies(&base, "process"),
        vec![
            ResourceId::new(Kind::Role, "process"),
            ResourceId::new(Kind::LogGroup, "process"),
            ResourceId::new(Kind::Queue, "dlq"),
            ResourceId::new(Kind::Queue, "orders"),
        ]
    );
    // Without a build, create fails clearly.
    let unbuilt = with_spec(&ctx, base.clone());
    let mut unbuilt = unbuilt;
    unbuilt.artifacts.clear();
    let err = f.create(&unbuilt, "process", &known).await.unwrap_err();
    assert!(err.to_string().contains("was not built"), "{err}");

    assert!(read(f, &ctx, "process").await.is_none());
    let f_out = f
        .create(&ctx, "process", &known)
        .await
        .expect("create function");
    assert_eq!(f_out["name"], format!("{stack}-process"));
    assert!(f_out["arn"].ends_with(&format!(":function:{stack}-process")));
    let live = assert_in_sync(f, &ctx, "process", &known).await;
    assert_eq!(live.props["async_retry_attempts"], json!(1));
    assert_eq!(live.props["dead_letter_target_arn"], json!(dlq["arn"]));
    assert_eq!(
        live.props["environment"]["QUEUE_URL"],
        json!(orders_q["url"])
    );
    known.insert(ResourceId::new(Kind::Function, "process"), f_out.clone());

    // plan without a build does not show a code change
    assert!(changes_of(f, &unbuilt, "process", &known, &live).is_empty());

    // config update: memory, environment, no DLQ, retries off
    let mut changed = base.clone();
    {
        let pf = changed.functions.get_mut("process").unwrap();
        pf.memory_mb = 256;
        pf.environment.insert(
            "MODE".to_string(),
            Template {
                parts: vec![TemplatePart::Literal("lenient".into())],
            },
        );
        pf.dead_letter_queue = None;
        pf.async_retry_attempts = None;
    }
    let ctx2 = with_spec(&ctx, changed.clone());
    let mut attrs = changes_of(f, &ctx2, "process", &known, &live);
    attrs.sort();
    assert_eq!(
        attrs,
        [
            "async_retry_attempts",
            "dead_letter_target_arn",
            "environment",
            "memory_size"
        ]
    );
    let writes_before = ctx.aws.calls.writes().len();
    update(f, &ctx2, "process", &known, &live).await;
    let ops: Vec<String> = ctx.aws.calls.writes()[writes_before..]
        .iter()
        .map(|c| c.operation.clone())
        .collect();
    assert!(
        !ops.iter().any(|o| o == "UpdateFunctionCode"),
        "code was not changed, yet uploaded: {ops:?}"
    );
    let live = assert_in_sync(f, &ctx2, "process", &known).await;
    assert_eq!(live.props["memory_size"], json!(256));
    assert_eq!(live.props["async_retry_attempts"], Value::Null);
    assert_eq!(live.props["dead_letter_target_arn"], Value::Null);

    // code update: a new build uploads once, then compares equal
    let mut ctx3 = with_spec(&ctx, changed.clone());
    ctx3.artifacts.insert("process".into(), bootstrap("v2"));
    assert_eq!(
        changes_of(f, &ctx3, "process", &known, &live),
        ["code_sha256"]
    );
    update(f, &ctx3, "process", &known, &live).await;
    let live = assert_in_sync(f, &ctx3, "process", &known).await;
    assert_eq!(
        live.props["code_sha256"],
        json!(ctx3.artifacts["process"].code_sha256)
    );

    // architecture (changes only with the code) and a new tag
    let mut arm = changed.clone();
    arm.functions.get_mut("process").unwrap().architecture = Architecture::Arm64;
    arm.tags.insert("cost-center".to_string(), "42".to_string());
    let mut ctx_arm = with_spec(&ctx, arm);
    ctx_arm
        .artifacts
        .insert("process".into(), ctx3.artifacts["process"].clone());
    let mut attrs = changes_of(f, &ctx_arm, "process", &known, &live);
    attrs.sort();
    assert_eq!(attrs, ["architectures", "tags"]);
    let writes_before = ctx.aws.calls.writes().len();
    update(f, &ctx_arm, "process", &known, &live).await;
    let mut ops: Vec<String> = ctx.aws.calls.writes()[writes_before..]
        .iter()
        .map(|c| c.operation.clone())
        .collect();
    ops.sort();
    assert_eq!(ops, ["TagResource", "UpdateFunctionCode"]);
    let live = assert_in_sync(f, &ctx_arm, "process", &known).await;
    assert_eq!(live.props["architectures"], json!(["arm64"]));
    // back to the original architecture and tags for the rest of the test
    let mut ctx_back = with_spec(&ctx, changed.clone());
    ctx_back
        .artifacts
        .insert("process".into(), ctx3.artifacts["process"].clone());
    update(f, &ctx_back, "process", &known, &live).await;
    assert_in_sync(f, &ctx_back, "process", &known).await;

    // ---- permission
    let perm = Kind::Permission.provider();
    let pname = "new-orders/process";
    assert_eq!(
        perm.dependencies(&base, pname),
        vec![
            ResourceId::new(Kind::Function, "process"),
            ResourceId::new(Kind::Rule, "new-orders"),
        ]
    );
    assert!(read(perm, &ctx, pname).await.is_none());
    perm.create(&ctx, pname, &known)
        .await
        .expect("add permission");
    let plive = assert_in_sync(perm, &ctx, pname, &known).await;
    assert_eq!(plive.props["source_arn"], json!(rule["arn"]));
    // The rule was replaced (new ARN): the statement follows.
    let mut known2 = known.clone();
    known2.insert(ResourceId::new(Kind::Rule, "new-orders"), rule2.clone());
    assert_eq!(
        changes_of(perm, &ctx, pname, &known2, &plive),
        ["source_arn"]
    );
    update(perm, &ctx, pname, &known2, &plive).await;
    assert_in_sync(perm, &ctx, pname, &known2).await;
    let found = discovered(perm, &ctx).await;
    assert_eq!(
        found,
        vec![Discovered {
            id: ResourceId::new(Kind::Permission, pname),
            physical: format!("{stack}-process|orderflow-rule-new-orders"),
            handle: format!("{stack}-process|orderflow-rule-new-orders"),
        }]
    );
    perm.delete(&ctx, &found[0])
        .await
        .expect("remove permission");
    assert!(read(perm, &ctx, pname).await.is_none());
    perm.delete(&ctx, &found[0]).await.expect("second remove");

    // ---- event source mapping
    let esm = Kind::EventSourceMapping.provider();
    assert_eq!(
        esm.dependencies(&base, "orders-in"),
        vec![
            ResourceId::new(Kind::Function, "process"),
            ResourceId::new(Kind::Queue, "orders"),
            ResourceId::new(Kind::Role, "process"),
        ]
    );
    assert!(read(esm, &ctx, "orders-in").await.is_none());
    let m_out = esm
        .create(&ctx, "orders-in", &known)
        .await
        .expect("create mapping");
    assert_eq!(m_out["name"], "orders-in");
    let mlive = assert_in_sync(esm, &ctx, "orders-in", &known).await;
    assert_eq!(mlive.outputs["uuid"], m_out["uuid"]);
    assert_eq!(
        mlive.props["function_response_types"],
        json!(["ReportBatchItemFailures"])
    );

    let mut changed_t = changed.clone();
    {
        let t = changed_t.triggers.get_mut("orders-in").unwrap();
        t.batch_size = 50;
        t.batching_window_secs = 5;
        t.report_batch_item_failures = false;
        t.maximum_concurrency = Some(5);
        t.enabled = false;
    }
    let ctx4 = with_spec(&ctx, changed_t.clone());
    let mut attrs = changes_of(esm, &ctx4, "orders-in", &known, &mlive);
    attrs.sort();
    assert_eq!(
        attrs,
        [
            "batch_size",
            "enabled",
            "function_response_types",
            "maximum_batching_window",
            "maximum_concurrency"
        ]
    );
    update(esm, &ctx4, "orders-in", &known, &mlive).await;
    let mlive = assert_in_sync(esm, &ctx4, "orders-in", &known).await;
    assert_eq!(mlive.props["enabled"], json!(false));
    // and back: concurrency limit removed, re-enabled
    let ctx5 = with_spec(&ctx, changed.clone());
    update(esm, &ctx5, "orders-in", &known, &mlive).await;
    assert_in_sync(esm, &ctx5, "orders-in", &known).await;

    let found = discovered(esm, &ctx).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].id,
        ResourceId::new(Kind::EventSourceMapping, "orders-in")
    );
    assert_eq!(found[0].handle, m_out["uuid"]);
    // Undeclared (removed from the spec): named after its queue and function.
    let undeclared = with_spec(&ctx, spec(&stack, changed.functions.clone()));
    let found_undeclared = discovered(esm, &undeclared).await;
    assert_eq!(
        found_undeclared[0].id,
        ResourceId::new(Kind::EventSourceMapping, "orders->process")
    );
    esm.delete(&ctx, &found[0]).await.expect("delete mapping");
    assert!(read(esm, &ctx, "orders-in").await.is_none());
    esm.delete(&ctx, &found[0]).await.expect("second delete");

    // ---- function discover / delete
    let found = discovered(f, &ctx).await;
    assert_eq!(
        found,
        vec![Discovered {
            id: ResourceId::new(Kind::Function, "process"),
            physical: format!("{stack}-process"),
            handle: format!("{stack}-process"),
        }]
    );
    // Another stack sharing our name prefix does not see it.
    let other = with_spec(&ctx, spec(&format!("{stack}-x"), BTreeMap::new()));
    assert!(discovered(f, &other).await.is_empty());
    f.delete(&ctx, &found[0]).await.expect("delete function");
    assert!(read(f, &ctx, "process").await.is_none());
    f.delete(&ctx, &found[0]).await.expect("second delete");

    for d in discovered(roles, &ctx).await {
        roles.delete(&ctx, &d).await.expect("delete role");
    }
}

#[tokio::test]
async fn function_not_owned_is_reported_as_such() {
    let emu = TestEmulator::start();
    let endpoint = emu.endpoint();
    let stack = unique_stack("no");
    let ctx = ctx(
        endpoint,
        spec(
            &stack,
            BTreeMap::from([("process".to_string(), function(vec![]))]),
        ),
    )
    .await;
    let artifact = bootstrap("foreign");
    // Someone else's function that happens to have our physical name (no ownership tag).
    ctx.aws
        .lambda
        .create_function()
        .function_name(format!("{stack}-process"))
        .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
        .handler("bootstrap")
        .role("arn:aws:iam::000000000000:role/someone-else")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_smithy_types::Blob::new(artifact.zip))
                .build(),
        )
        .send()
        .await
        .expect("CreateFunction foreign");
    let f = Kind::Function.provider();
    let live = read(f, &ctx, "process").await.expect("exists");
    assert!(!live.owned);
    assert!(discovered(f, &ctx).await.is_empty());
    ctx.aws
        .lambda
        .delete_function()
        .function_name(format!("{stack}-process"))
        .send()
        .await
        .expect("DeleteFunction foreign");
}
