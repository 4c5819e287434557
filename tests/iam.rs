//! Least privilege, proven end to end: the repository's own `pipeline.yaml` is deployed with
//! `orderflow up`, then IAM's policy simulator is asked, for each function's role, about what the
//! function must be able to do (allowed) and what it must not (denied). The inline policy is also
//! read back and checked for wildcards and for resources outside the function's own.

mod common;

use std::collections::BTreeSet;

use aws_sdk_iam::types::PolicyEvaluationDecisionType as Decision;
use aws_sdk_sqs::types::QueueAttributeName;
use common::{functions_dir, orderflow, sdk_config, unique_stack, TestEmulator, REGION};
use orderflow::resources::policy::decode_policy_document;
use serde_json::Value;

/// A function's execution role as deployed.
struct Principal {
    function: String,
    /// The role's ARN as IAM reports it (with its path).
    arn: String,
    /// The ARN to hand to the simulator. MiniStack's SimulatePrincipalPolicy looks a role up by
    /// everything after `role/`, so with a path (ours: `/orderflow/<stack>/`) the role is not
    /// found and every action is denied. The same role without its path is found there; real
    /// AWS takes the full ARN. The "allowed" checks next to every "denied" check show the role
    /// was found, so no denial passes just because the role's policies were not looked at.
    simulated_arn: String,
}

async fn principal(iam: &aws_sdk_iam::Client, stack: &str, function: &str) -> Principal {
    let role_name = format!("{stack}-{function}");
    let role = iam
        .get_role()
        .role_name(&role_name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetRole {role_name}: {e:?}"));
    let role = role.role().expect("role");
    assert_eq!(
        role.path(),
        format!("/orderflow/{stack}/"),
        "path of {role_name}"
    );
    let arn = role.arn().to_string();
    let account = arn.split(':').nth(4).expect("account in role ARN");
    Principal {
        function: function.to_string(),
        simulated_arn: format!("arn:aws:iam::{account}:role/{role_name}"),
        arn,
    }
}

async fn decision(
    iam: &aws_sdk_iam::Client,
    who: &Principal,
    action: &str,
    resource: &str,
) -> Decision {
    let out = iam
        .simulate_principal_policy()
        .policy_source_arn(&who.simulated_arn)
        .action_names(action)
        .resource_arns(resource)
        .send()
        .await
        .unwrap_or_else(|e| panic!("SimulatePrincipalPolicy {action} on {resource}: {e:?}"));
    let results = out.evaluation_results();
    assert_eq!(results.len(), 1, "{action} on {resource}: {results:?}");
    assert_eq!(results[0].eval_action_name(), action);
    results[0].eval_decision().clone()
}

/// Every (action, resource) pair must get `want` for `who`; all mismatches are reported at once.
async fn expect(
    iam: &aws_sdk_iam::Client,
    who: &Principal,
    want: Decision,
    checks: &[(&str, &str)],
) {
    let mut wrong = Vec::new();
    for (action, resource) in checks {
        let got = decision(iam, who, action, resource).await;
        if got != want {
            wrong.push(format!("{action} on {resource}: {got:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} ({}) expected {want:?} for:\n  {}",
        who.function,
        who.simulated_arn,
        wrong.join("\n  ")
    );
}

/// Values of a policy element that may be a string or a list of strings.
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().expect("string in policy list").to_string())
            .collect(),
        other => panic!("unexpected policy element: {other}"),
    }
}

/// The role carries exactly one inline policy, `orderflow-access`, and no managed policy; it
/// grants no wildcard action, no `"*"` resource, and only on `allowed_resources` (a wildcard is
/// allowed only in `own_wildcards`: the log streams of the function's own log group, the
/// objects of a bucket it was granted).
async fn check_inline_policy(
    iam: &aws_sdk_iam::Client,
    stack: &str,
    who: &Principal,
    allowed_resources: &BTreeSet<String>,
    own_wildcards: &[String],
) {
    let role_name = format!("{stack}-{}", who.function);
    let names = iam
        .list_role_policies()
        .role_name(&role_name)
        .send()
        .await
        .expect("ListRolePolicies");
    assert_eq!(names.policy_names(), ["orderflow-access"], "{role_name}");
    let attached = iam
        .list_attached_role_policies()
        .role_name(&role_name)
        .send()
        .await
        .expect("ListAttachedRolePolicies");
    assert!(
        attached.attached_policies().is_empty(),
        "{role_name} has managed policies: {:?}",
        attached.attached_policies()
    );

    let out = iam
        .get_role_policy()
        .role_name(&role_name)
        .policy_name("orderflow-access")
        .send()
        .await
        .expect("GetRolePolicy");
    let doc = decode_policy_document(out.policy_document())
        .unwrap_or_else(|| panic!("undecodable policy: {}", out.policy_document()));
    let statements = match &doc["Statement"] {
        Value::Array(s) => s.clone(),
        s @ Value::Object(_) => vec![s.clone()],
        other => panic!("no statements in {role_name}'s policy: {other}"),
    };
    assert!(!statements.is_empty(), "{doc}");
    for s in &statements {
        // NotAction/NotResource in an Allow grant everything except what they list.
        for broad in ["NotAction", "NotResource", "NotPrincipal"] {
            assert!(s.get(broad).is_none(), "{role_name}: {broad} in {s}");
        }
        for action in strings(&s["Action"]) {
            assert!(
                !action.contains('*'),
                "{role_name}: wildcard action {action} in {s}"
            );
        }
        for resource in strings(&s["Resource"]) {
            assert_ne!(resource, "*", "{role_name}: resource \"*\" in {s}");
            if resource.contains('*') {
                assert!(
                    own_wildcards.contains(&resource),
                    "{role_name}: wildcard in {s}"
                );
            } else {
                assert!(
                    allowed_resources.contains(&resource),
                    "{role_name}: grant on {resource}, not one of its own resources {allowed_resources:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn default_pipeline_roles_are_least_privilege() {
    let emu = TestEmulator::start();
    let stack = unique_stack("iam");
    let yaml = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pipeline.yaml"),
    )
    .expect("read pipeline.yaml");
    assert!(
        yaml.contains("stack: orderflow\n"),
        "pipeline.yaml names another stack"
    );
    let yaml = yaml.replacen("stack: orderflow\n", &format!("stack: {stack}\n"), 1);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("pipeline.yaml"), yaml).expect("write pipeline.yaml");

    let functions = functions_dir();
    let functions = functions.to_str().expect("functions dir is UTF-8");
    let out = orderflow(
        emu.endpoint(),
        dir.path(),
        &["up", "--yes", "--prebuilt", functions],
    );
    assert!(
        out.status.success(),
        "up failed: {}",
        common::describe(&out)
    );

    let config = sdk_config(emu.endpoint()).await;
    let iam = aws_sdk_iam::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let events = aws_sdk_eventbridge::Client::new(&config);
    let lambda = aws_sdk_lambda::Client::new(&config);

    // The deployed resources' ARNs, as the services report them.
    let queue_arn = |logical: &'static str| {
        let sqs = sqs.clone();
        let name = format!("{stack}-{logical}");
        async move {
            let url = sqs
                .get_queue_url()
                .queue_name(&name)
                .send()
                .await
                .unwrap_or_else(|e| panic!("GetQueueUrl {name}: {e:?}"))
                .queue_url
                .expect("queue url");
            sqs.get_queue_attributes()
                .queue_url(&url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .expect("GetQueueAttributes")
                .attributes()
                .and_then(|a| a.get(&QueueAttributeName::QueueArn))
                .expect("QueueArn")
                .clone()
        }
    };
    let orders_q = queue_arn("orders").await;
    let orders_dlq = queue_arn("orders-dlq").await;
    let validate_dlq = queue_arn("validate-dlq").await;
    let notify_dlq = queue_arn("notify-dlq").await;
    let table = ddb
        .describe_table()
        .table_name(format!("{stack}-orders"))
        .send()
        .await
        .expect("DescribeTable")
        .table()
        .and_then(|t| t.table_arn())
        .expect("table ARN")
        .to_string();
    let bus = events
        .describe_event_bus()
        .name(format!("{stack}-orders"))
        .send()
        .await
        .expect("DescribeEventBus")
        .arn()
        .expect("bus ARN")
        .to_string();

    let import_dlq = queue_arn("import-dlq").await;
    let validate = principal(&iam, &stack, "validate-order").await;
    let process = principal(&iam, &stack, "process-order").await;
    let notify = principal(&iam, &stack, "notify-customer").await;
    let submit = principal(&iam, &stack, "submit-order").await;
    let get = principal(&iam, &stack, "get-order").await;
    let import = principal(&iam, &stack, "import-orders").await;
    // The roles examined are the ones the functions run as.
    let mut function_arns = Vec::new();
    for who in [&validate, &process, &notify, &submit, &get] {
        let cfg = lambda
            .get_function_configuration()
            .function_name(format!("{stack}-{}", who.function))
            .send()
            .await
            .expect("GetFunctionConfiguration");
        assert_eq!(
            cfg.role(),
            Some(who.arn.as_str()),
            "role of {}",
            who.function
        );
        function_arns.push(cfg.function_arn().expect("function ARN").to_string());
    }

    let account = bus.split(':').nth(4).expect("account in bus ARN");
    // Only Lambda may assume a function's role ...
    for who in [&validate, &process, &notify, &submit, &get] {
        let role_name = format!("{stack}-{}", who.function);
        let role = iam
            .get_role()
            .role_name(&role_name)
            .send()
            .await
            .expect("GetRole");
        let trust = role
            .role()
            .and_then(|r| r.assume_role_policy_document())
            .and_then(decode_policy_document)
            .unwrap_or_else(|| panic!("trust policy of {role_name}"));
        let statements = trust["Statement"].as_array().expect("statements");
        assert_eq!(statements.len(), 1, "{trust}");
        assert_eq!(
            statements[0]["Principal"]["Service"], "lambda.amazonaws.com",
            "{trust}"
        );
        assert_eq!(statements[0]["Action"], "sts:AssumeRole", "{trust}");
    }
    // ... and every service allowed to invoke a function is scoped to its one source (a rule,
    // a route of the API), in this account: the cross-service confused-deputy guard.
    for who in [&validate, &notify, &submit, &get] {
        let name = format!("{stack}-{}", who.function);
        let policy = lambda
            .get_policy()
            .function_name(&name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetPolicy {name}: {e:?}"))
            .policy
            .expect("resource policy");
        let doc: Value = serde_json::from_str(&policy).expect("policy JSON");
        let statements = doc["Statement"].as_array().expect("statements");
        assert!(!statements.is_empty(), "{name}: {doc}");
        for statement in statements {
            let source = statement["Condition"]["ArnLike"]["AWS:SourceArn"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: statement without AWS:SourceArn: {statement}"));
            assert!(!source.contains(":*:"), "{name}: {source}");
            assert_eq!(source.split(':').nth(4), Some(account), "{name}: {source}");
        }
    }
    let default_bus = format!("arn:aws:events:{REGION}:{account}:event-bus/default");
    let other_bus = format!("arn:aws:events:{REGION}:{account}:event-bus/{stack}-other");
    let other_table = format!("arn:aws:dynamodb:{REGION}:{account}:table/{stack}-other");
    let log_group = |function: &str| {
        format!("arn:aws:logs:{REGION}:{account}:log-group:/aws/lambda/{stack}-{function}")
    };
    let log_stream =
        |function: &str| format!("{}:log-stream:2026/01/01/[$LATEST]0", log_group(function));
    // The notification resources: the topic and the sender's SES identity, as deployed.
    let topic = format!("arn:aws:sns:{REGION}:{account}:{stack}-order-notifications");
    aws_sdk_sns::Client::new(&config)
        .get_topic_attributes()
        .topic_arn(&topic)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetTopicAttributes {topic}: {e:?}"));
    let sender = "orders@example.com";
    aws_sdk_sesv2::Client::new(&config)
        .get_email_identity()
        .email_identity(sender)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetEmailIdentity {sender}: {e:?}"));
    let identity = format!("arn:aws:ses:{REGION}:{account}:identity/{sender}");
    let other_identity = format!("arn:aws:ses:{REGION}:{account}:identity/other@example.com");
    let other_topic = format!("arn:aws:sns:{REGION}:{account}:{stack}-other");

    // ---- validate-order: queue valid orders, record rejected ones, publish the outcome.
    let v_stream = log_stream("validate-order");
    expect(
        &iam,
        &validate,
        Decision::Allowed,
        &[
            ("sqs:SendMessage", &orders_q),
            ("dynamodb:PutItem", &table),
            ("events:PutEvents", &bus),
            // Its asynchronous-invocation dead-letter queue.
            ("sqs:SendMessage", &validate_dlq),
            ("logs:CreateLogStream", &v_stream),
            ("logs:PutLogEvents", &v_stream),
        ],
    )
    .await;
    let p_stream = log_stream("process-order");
    expect(
        &iam,
        &validate,
        Decision::ImplicitDeny,
        &[
            ("dynamodb:GetItem", &table),
            // No transactions, batches or queries: nothing the function calls.
            ("dynamodb:ConditionCheckItem", &table),
            ("dynamodb:BatchGetItem", &table),
            ("dynamodb:Query", &table),
            // `write` grants no deletes.
            ("dynamodb:DeleteItem", &table),
            ("dynamodb:BatchWriteItem", &table),
            ("dynamodb:Scan", &table),
            ("dynamodb:DeleteTable", &table),
            ("sqs:ReceiveMessage", &orders_q),
            ("sqs:DeleteMessage", &orders_q),
            ("sqs:SendMessage", &orders_dlq),
            ("sqs:PurgeQueue", &orders_q),
            ("events:PutEvents", &default_bus),
            ("events:PutEvents", &other_bus),
            ("lambda:InvokeFunction", &function_arns[0]),
            ("lambda:InvokeFunction", &function_arns[1]),
            ("iam:PassRole", &validate.arn),
            ("logs:PutLogEvents", &p_stream),
            ("sns:Publish", &topic),
            ("ses:SendEmail", &identity),
            ("sqs:SendMessage", &notify_dlq),
        ],
    )
    .await;

    // ---- process-order: consume the orders queue, write to the table, announce the status
    // change on the stack's bus, nothing else.
    expect(
        &iam,
        &process,
        Decision::Allowed,
        &[
            ("sqs:ReceiveMessage", &orders_q),
            ("sqs:DeleteMessage", &orders_q),
            ("sqs:ChangeMessageVisibility", &orders_q),
            ("sqs:GetQueueAttributes", &orders_q),
            ("dynamodb:PutItem", &table),
            // Its conditional transition write.
            ("dynamodb:UpdateItem", &table),
            ("events:PutEvents", &bus),
            ("logs:PutLogEvents", &p_stream),
        ],
    )
    .await;
    expect(
        &iam,
        &process,
        Decision::ImplicitDeny,
        &[
            ("sqs:SendMessage", &orders_q),
            ("sqs:SendMessage", &orders_dlq),
            ("sqs:SendMessage", &validate_dlq),
            ("sqs:ReceiveMessage", &orders_dlq),
            ("sqs:ReceiveMessage", &validate_dlq),
            ("events:PutEvents", &default_bus),
            // The conditional write returns the old item itself: no read grant.
            ("dynamodb:GetItem", &table),
            ("dynamodb:ConditionCheckItem", &table),
            ("dynamodb:Query", &table),
            ("dynamodb:Scan", &table),
            ("dynamodb:DeleteTable", &table),
            ("dynamodb:PutItem", &other_table),
            ("dynamodb:GetItem", &other_table),
            ("dynamodb:DeleteItem", &other_table),
            ("lambda:InvokeFunction", &function_arns[0]),
            ("logs:PutLogEvents", &v_stream),
            ("sns:Publish", &topic),
            ("ses:SendEmail", &identity),
            ("sqs:SendMessage", &notify_dlq),
        ],
    )
    .await;

    // ---- notify-customer: read the order and write its notification claim, email from the
    // sender identity only, publish on the stack's topic only, dead-letter to notify-dlq.
    let n_stream = log_stream("notify-customer");
    expect(
        &iam,
        &notify,
        Decision::Allowed,
        &[
            ("dynamodb:GetItem", &table),
            ("dynamodb:UpdateItem", &table),
            ("ses:SendEmail", &identity),
            ("ses:SendRawEmail", &identity),
            ("sns:Publish", &topic),
            ("sqs:SendMessage", &notify_dlq),
            ("logs:PutLogEvents", &n_stream),
        ],
    )
    .await;
    expect(
        &iam,
        &notify,
        Decision::ImplicitDeny,
        &[
            // Email from no other identity, publish on no other topic.
            ("ses:SendEmail", &other_identity),
            ("ses:SendRawEmail", &other_identity),
            ("sns:Publish", &other_topic),
            // Nothing else on the topic or the identity.
            ("sns:Subscribe", &topic),
            ("sns:SetTopicAttributes", &topic),
            ("sns:DeleteTopic", &topic),
            ("ses:DeleteEmailIdentity", &identity),
            ("ses:PutEmailIdentityMailFromAttributes", &identity),
            // The table: no deletes, scans, queries, batches or transactions, no other table.
            ("dynamodb:DeleteItem", &table),
            ("dynamodb:Query", &table),
            ("dynamodb:BatchGetItem", &table),
            ("dynamodb:ConditionCheckItem", &table),
            ("dynamodb:Scan", &table),
            ("dynamodb:BatchWriteItem", &table),
            ("dynamodb:DeleteTable", &table),
            ("dynamodb:GetItem", &other_table),
            // Nothing of the order flow itself.
            ("events:PutEvents", &bus),
            ("events:PutEvents", &default_bus),
            ("sqs:SendMessage", &orders_q),
            ("sqs:SendMessage", &orders_dlq),
            ("sqs:SendMessage", &validate_dlq),
            ("sqs:ReceiveMessage", &notify_dlq),
            ("lambda:InvokeFunction", &function_arns[2]),
            ("iam:PassRole", &notify.arn),
            ("logs:PutLogEvents", &v_stream),
        ],
    )
    .await;

    // ---- submit-order (POST /orders): record the order as RECEIVED and announce it; it reads
    // nothing it did not just try to write, deletes nothing, touches no queue.
    let s_stream = log_stream("submit-order");
    expect(
        &iam,
        &submit,
        Decision::Allowed,
        &[
            ("dynamodb:PutItem", &table),
            ("dynamodb:UpdateItem", &table),
            ("events:PutEvents", &bus),
            ("logs:PutLogEvents", &s_stream),
        ],
    )
    .await;
    expect(
        &iam,
        &submit,
        Decision::ImplicitDeny,
        &[
            ("dynamodb:GetItem", &table),
            ("dynamodb:BatchGetItem", &table),
            ("dynamodb:ConditionCheckItem", &table),
            ("dynamodb:DeleteItem", &table),
            ("dynamodb:Scan", &table),
            ("dynamodb:Query", &table),
            ("dynamodb:BatchWriteItem", &table),
            ("dynamodb:PutItem", &other_table),
            ("events:PutEvents", &default_bus),
            ("events:PutEvents", &other_bus),
            ("sqs:SendMessage", &orders_q),
            ("sns:Publish", &topic),
            ("ses:SendEmail", &identity),
            ("lambda:InvokeFunction", &function_arns[0]),
            ("iam:PassRole", &submit.arn),
            ("logs:PutLogEvents", &v_stream),
        ],
    )
    .await;

    // ---- get-order (GET /orders/{order_id}): read orders, nothing else.
    let g_stream = log_stream("get-order");
    expect(
        &iam,
        &get,
        Decision::Allowed,
        &[
            ("dynamodb:GetItem", &table),
            ("logs:PutLogEvents", &g_stream),
        ],
    )
    .await;
    expect(
        &iam,
        &get,
        Decision::ImplicitDeny,
        &[
            ("dynamodb:PutItem", &table),
            ("dynamodb:UpdateItem", &table),
            ("dynamodb:DeleteItem", &table),
            ("dynamodb:Scan", &table),
            // `read` is GetItem only: no queries, batches or condition checks.
            ("dynamodb:Query", &table),
            ("dynamodb:BatchGetItem", &table),
            ("dynamodb:ConditionCheckItem", &table),
            ("dynamodb:GetItem", &other_table),
            ("events:PutEvents", &bus),
            ("sqs:SendMessage", &orders_q),
            ("sns:Publish", &topic),
            ("lambda:InvokeFunction", &function_arns[4]),
            ("logs:PutLogEvents", &s_stream),
        ],
    )
    .await;

    // ---- import-orders: read the partner's file and write its result in the imports bucket,
    // record and announce orders; no listing, no deletes, no other bucket.
    let bucket = format!("{stack}-imports-{account}");
    let file = format!("arn:aws:s3:::{bucket}/imports/partner.jsonl");
    let result = format!("{file}.result.json");
    let i_stream = log_stream("import-orders");
    expect(
        &iam,
        &import,
        Decision::Allowed,
        &[
            ("s3:GetObject", &file),
            ("s3:PutObject", &result),
            ("dynamodb:PutItem", &table),
            ("dynamodb:UpdateItem", &table),
            ("events:PutEvents", &bus),
            ("sqs:SendMessage", &import_dlq),
            ("logs:PutLogEvents", &i_stream),
        ],
    )
    .await;
    let other_bucket_object = format!("arn:aws:s3:::{stack}-other-{account}/imports/partner.jsonl");
    expect(
        &iam,
        &import,
        Decision::ImplicitDeny,
        &[
            ("s3:DeleteObject", &file),
            ("s3:GetObject", &other_bucket_object),
            ("s3:PutObject", &other_bucket_object),
            ("s3:ListBucket", &format!("arn:aws:s3:::{bucket}")),
            ("s3:DeleteBucket", &format!("arn:aws:s3:::{bucket}")),
            ("dynamodb:GetItem", &table),
            ("dynamodb:DeleteItem", &table),
            ("dynamodb:Scan", &table),
            ("events:PutEvents", &default_bus),
            ("sqs:SendMessage", &orders_q),
            ("sns:Publish", &topic),
            ("logs:PutLogEvents", &v_stream),
        ],
    )
    .await;

    // ---- no role may create a log group, not even its own: orderflow creates it (tagged, with
    // its retention) before the function; a role that could would let Lambda re-create a deleted
    // one with infinite retention and no owner.
    for (who, function) in [
        (&validate, "validate-order"),
        (&process, "process-order"),
        (&notify, "notify-customer"),
        (&submit, "submit-order"),
        (&get, "get-order"),
        (&import, "import-orders"),
    ] {
        expect(
            &iam,
            who,
            Decision::ImplicitDeny,
            &[("logs:CreateLogGroup", &log_group(function))],
        )
        .await;
        expect(
            &iam,
            who,
            Decision::Allowed,
            &[("logs:CreateLogStream", &log_stream(function))],
        )
        .await;
    }

    // ---- the documents themselves: no wildcards, nothing but the function's own resources.
    check_inline_policy(
        &iam,
        &stack,
        &validate,
        &BTreeSet::from([
            orders_q.clone(),
            table.clone(),
            bus.clone(),
            validate_dlq.clone(),
            log_group("validate-order"),
        ]),
        &[format!("{}:*", log_group("validate-order"))],
    )
    .await;
    check_inline_policy(
        &iam,
        &stack,
        &process,
        &BTreeSet::from([
            orders_q.clone(),
            table.clone(),
            bus.clone(),
            log_group("process-order"),
        ]),
        &[format!("{}:*", log_group("process-order"))],
    )
    .await;
    check_inline_policy(
        &iam,
        &stack,
        &notify,
        &BTreeSet::from([
            table.clone(),
            topic.clone(),
            identity.clone(),
            notify_dlq.clone(),
            log_group("notify-customer"),
        ]),
        &[format!("{}:*", log_group("notify-customer"))],
    )
    .await;
    check_inline_policy(
        &iam,
        &stack,
        &submit,
        &BTreeSet::from([table.clone(), bus.clone(), log_group("submit-order")]),
        &[format!("{}:*", log_group("submit-order"))],
    )
    .await;
    check_inline_policy(
        &iam,
        &stack,
        &get,
        &BTreeSet::from([table.clone(), log_group("get-order")]),
        &[format!("{}:*", log_group("get-order"))],
    )
    .await;
    check_inline_policy(
        &iam,
        &stack,
        &import,
        &BTreeSet::from([
            table.clone(),
            bus.clone(),
            import_dlq.clone(),
            log_group("import-orders"),
        ]),
        &[
            format!("{}:*", log_group("import-orders")),
            format!("arn:aws:s3:::{bucket}/*"),
        ],
    )
    .await;
}
