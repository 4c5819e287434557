//! Function log groups (`/aws/lambda/<stack>-<function>`) through the real CLI against MiniStack:
//! created tagged with their retention before their function, retention changed in place,
//! an existing untagged group refused unless `adopt_log_group`, deleted by `down` only when owned.
//!
//! The pipelines are small (two functions, no other resources) so each `up` is quick; the
//! functions are deployed from the prebuilt binaries and never invoked.

mod common;
#[path = "common/stack.rs"]
mod stack;

use std::collections::BTreeMap;

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use common::TestEmulator;
use serde_json::Value;
use stack::{stderr, Stack};

/// Two functions: `validate-order` with the default retention, `process-order` with 30 days.
fn pipeline(stack: &str, extra_validate_keys: &str) -> String {
    format!(
        "stack: {stack}\nregion: us-east-1\ntags:\n  team: orders\nfunctions:\n  validate-order:\n    crate: validate-order\n{extra_validate_keys}  process-order:\n    crate: process-order\n    log_retention: 30\n"
    )
}

fn write_pipeline(stack: &Stack, extra_validate_keys: &str) {
    std::fs::write(
        stack.pipeline_path(),
        pipeline(&stack.name, extra_validate_keys),
    )
    .expect("write pipeline.yaml");
}

fn group_name(stack: &Stack, function: &str) -> String {
    format!("/aws/lambda/{}", stack.physical(function))
}

/// Name → retention of every log group whose name starts with `prefix`.
async fn groups(
    logs: &aws_sdk_cloudwatchlogs::Client,
    prefix: &str,
) -> BTreeMap<String, Option<i32>> {
    let out = logs
        .describe_log_groups()
        .log_group_name_prefix(prefix)
        .send()
        .await
        .expect("DescribeLogGroups");
    out.log_groups()
        .iter()
        .map(|g| {
            (
                g.log_group_name().unwrap().to_string(),
                g.retention_in_days(),
            )
        })
        .collect()
}

async fn tags(logs: &aws_sdk_cloudwatchlogs::Client, name: &str) -> BTreeMap<String, String> {
    let arn = logs
        .describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .expect("DescribeLogGroups")
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(name))
        .and_then(|g| g.log_group_arn().map(str::to_string))
        .unwrap_or_else(|| panic!("no log group {name}"));
    logs.list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .expect("ListTagsForResource")
        .tags()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .collect()
}

fn owned_tags(stack: &Stack) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("orderflow:stack".to_string(), stack.name.clone()),
        ("team".to_string(), "orders".to_string()),
    ])
}

/// `kind.name` of each entry of a JSON list of applied resources or plan steps.
fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|s| {
            format!(
                "{}.{}",
                s["id"]["kind"].as_str().unwrap(),
                s["id"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

fn position(list: &[String], id: &str) -> usize {
    list.iter()
        .position(|x| x == id)
        .unwrap_or_else(|| panic!("{id} not in {list:?}"))
}

async fn create_untagged_group(logs: &aws_sdk_cloudwatchlogs::Client, name: &str) {
    logs.create_log_group()
        .log_group_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateLogGroup {name}: {e:?}"));
}

#[tokio::test]
async fn log_groups_are_created_before_their_functions_updated_in_place_and_removed_by_down() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "logs", &[]);
    write_pipeline(&stack, "");
    let config = stack.config().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let prefix = group_name(&stack, "");

    // The plan names each group as Lambda will look for it.
    let plan = stack.run(&["plan"]);
    assert!(plan.status.success(), "{}", stderr(&plan));
    let text = String::from_utf8_lossy(&plan.stdout);
    for f in ["validate-order", "process-order"] {
        assert!(
            text.contains(&format!("+ log_group.{f}")) && text.contains(&group_name(&stack, f)),
            "{text}"
        );
    }

    let first = stack.up();
    let applied = ids(&first["applied"]);
    for f in ["validate-order", "process-order"] {
        // `applied` is in completion order; a function starts only after its dependencies.
        assert!(
            position(&applied, &format!("log_group.{f}"))
                < position(&applied, &format!("function.{f}")),
            "{applied:?}"
        );
    }
    assert_eq!(
        groups(&logs, &prefix).await,
        BTreeMap::from([
            (group_name(&stack, "process-order"), Some(30)),
            (group_name(&stack, "validate-order"), Some(14)),
        ])
    );
    for f in ["validate-order", "process-order"] {
        assert_eq!(
            tags(&logs, &group_name(&stack, f)).await,
            owned_tags(&stack),
            "{f}"
        );
    }

    // Unchanged: nothing to write, the groups read as unchanged.
    let second = stack.up();
    assert_eq!(second["api_calls"]["writes"], 0, "{second}");
    assert_eq!(second["plan"]["create"], 0, "{second}");
    assert_eq!(second["plan"]["update"], 0, "{second}");
    eprintln!(
        "unchanged up of 2 functions: {} calls {}",
        second["api_calls"]["total"], second["api_calls"]["by_operation"]
    );

    // A retention edit is one PutRetentionPolicy on the existing group.
    write_pipeline(&stack, "    log_retention: 90\n");
    let plan = stack.json(&["plan", "--output", "json"]);
    let step = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"]["kind"] == "log_group" && s["id"]["name"] == "validate-order")
        .unwrap_or_else(|| panic!("no log group step in {plan}"));
    assert_eq!(step["action"], "update", "{step}");
    assert_eq!(step["changes"].as_array().unwrap().len(), 1, "{step}");
    assert_eq!(step["changes"][0]["attribute"], "retention_in_days");
    assert_eq!(step["changes"][0]["old"], 14);
    assert_eq!(step["changes"][0]["new"], 90);
    let third = stack.up();
    assert_eq!(third["api_calls"]["writes"], 1, "{third}");
    assert_eq!(
        third["api_calls"]["by_operation"]["CloudWatch Logs.PutRetentionPolicy"], 1,
        "{third}"
    );
    assert_eq!(
        groups(&logs, &prefix).await[&group_name(&stack, "validate-order")],
        Some(90)
    );

    // Look-alikes `down` must leave alone: an untagged group under the stack's prefix, and a
    // group of stack `<stack>-dev` (same prefix, its own ownership tag).
    let handmade = group_name(&stack, "handmade");
    create_untagged_group(&logs, &handmade).await;
    let other_stack = group_name(&stack, "dev-validate-order");
    logs.create_log_group()
        .log_group_name(&other_stack)
        .tags("orderflow:stack", stack.physical("dev"))
        .send()
        .await
        .expect("CreateLogGroup");

    let down = stack.json(&["down", "--yes", "--output", "json"]);
    let deleted = ids(&down["deleted"]);
    for f in ["validate-order", "process-order"] {
        assert!(deleted.contains(&format!("log_group.{f}")), "{down}");
    }
    assert_eq!(
        groups(&logs, &prefix).await.into_keys().collect::<Vec<_>>(),
        [other_stack.clone(), handmade.clone()],
        "every owned group is gone, the others stay"
    );
    assert_eq!(
        tags(&logs, &other_stack).await,
        BTreeMap::from([("orderflow:stack".to_string(), stack.physical("dev"))])
    );
}

#[tokio::test]
async fn an_untagged_group_is_refused_unless_adopted_and_another_stacks_never() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "adopt", &[]);
    write_pipeline(&stack, "");
    let config = stack.config().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let lambda = aws_sdk_lambda::Client::new(&config);
    let prefix = group_name(&stack, "");
    let validate = group_name(&stack, "validate-order");

    // What Lambda leaves behind for a function that logged before orderflow managed its group:
    // an untagged group without retention, with logs in it.
    create_untagged_group(&logs, &validate).await;
    logs.create_log_stream()
        .log_group_name(&validate)
        .log_stream_name("2026/11/28/[$LATEST]earlier")
        .send()
        .await
        .expect("CreateLogStream");
    logs.put_log_events()
        .log_group_name(&validate)
        .log_stream_name("2026/11/28/[$LATEST]earlier")
        .log_events(
            InputLogEvent::builder()
                .timestamp(chrono_now_ms())
                .message("an earlier line")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("PutLogEvents");

    // plan and up refuse, say which group, why, and how to adopt it; up creates nothing.
    for args in [&["plan"][..], &["up", "--yes"][..]] {
        let out = stack.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "log_group.validate-order: {validate} already exists but does not carry the tag orderflow:stack={}",
                stack.name
            )) && err.contains("set `adopt_log_group: true` on function `validate-order`"),
            "{args:?}: {err}"
        );
    }
    let function = lambda
        .get_function()
        .function_name(stack.physical("validate-order"))
        .send()
        .await;
    assert!(function.is_err(), "up created the function anyway");
    assert_eq!(
        groups(&logs, &prefix).await,
        BTreeMap::from([(validate.clone(), None)])
    );
    assert!(tags(&logs, &validate).await.is_empty());

    // Adopted when asked: the plan shows the group tagged and given its retention, in place.
    write_pipeline(&stack, "    adopt_log_group: true\n");
    let plan = stack.json(&["plan", "--output", "json"]);
    let step = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"]["kind"] == "log_group" && s["id"]["name"] == "validate-order")
        .unwrap_or_else(|| panic!("no log group step in {plan}"));
    assert_eq!(step["action"], "update", "{step}");
    let mut changed: Vec<&str> = step["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["attribute"].as_str().unwrap())
        .collect();
    changed.sort_unstable();
    assert_eq!(changed, ["retention_in_days", "tags"], "{step}");
    stack.up();
    assert_eq!(tags(&logs, &validate).await, owned_tags(&stack));
    let now = groups(&logs, &prefix).await;
    assert_eq!(now[&validate], Some(14));
    assert_eq!(now[&group_name(&stack, "process-order")], Some(30));
    let streams = logs
        .describe_log_streams()
        .log_group_name(&validate)
        .send()
        .await
        .expect("DescribeLogStreams");
    assert!(
        streams
            .log_streams()
            .iter()
            .any(|s| s.log_stream_name() == Some("2026/11/28/[$LATEST]earlier")),
        "the adopted group kept its logs: {streams:?}"
    );
    let again = stack.up();
    assert_eq!(again["api_calls"]["writes"], 0, "{again}");

    // Adopted means owned: down deletes it with the other, and nothing is left behind.
    stack.json(&["down", "--yes", "--output", "json"]);
    assert!(groups(&logs, &prefix).await.is_empty());

    // A group another stack owns is never adopted, even when asked, and down leaves it.
    logs.create_log_group()
        .log_group_name(&validate)
        .tags("orderflow:stack", "someone-else")
        .send()
        .await
        .expect("CreateLogGroup");
    let out = stack.run(&["up", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("carries another stack's `orderflow:stack` tag"),
        "{}",
        stderr(&out)
    );
    let out = stack.run(&["down", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        tags(&logs, &validate).await,
        BTreeMap::from([("orderflow:stack".to_string(), "someone-else".to_string())])
    );
    assert_eq!(groups(&logs, &prefix).await.len(), 1);
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
