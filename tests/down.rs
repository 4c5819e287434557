//! `orderflow down`: removes what the stack owns in reverse dependency order, keeps the table
//! unless --delete-data, never touches untagged look-alikes, and is idempotent.

mod common;
#[path = "common/stack.rs"]
mod stack;

use common::TestEmulator;
use serde_json::Value;
use stack::{stderr, Stack};

async fn queue_names(sqs: &aws_sdk_sqs::Client, prefix: &str) -> Vec<String> {
    let r = sqs
        .list_queues()
        .queue_name_prefix(prefix)
        .send()
        .await
        .unwrap();
    let mut names: Vec<String> = r
        .queue_urls()
        .iter()
        .map(|u| u.rsplit('/').next().unwrap().to_string())
        .collect();
    names.sort();
    names
}

async fn function_names(lambda: &aws_sdk_lambda::Client, prefix: &str) -> Vec<String> {
    let r = lambda.list_functions().send().await.unwrap();
    r.functions()
        .iter()
        .filter_map(|f| f.function_name())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

async fn table_names(ddb: &aws_sdk_dynamodb::Client, prefix: &str) -> Vec<String> {
    let r = ddb.list_tables().send().await.unwrap();
    r.table_names()
        .iter()
        .filter(|n| n.starts_with(prefix))
        .cloned()
        .collect()
}

#[tokio::test]
async fn down_removes_what_it_owns_keeps_data_and_strangers_and_is_idempotent() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "down", &[]);
    stack.up();
    let config = stack.config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let lambda = aws_sdk_lambda::Client::new(&config);
    let events = aws_sdk_eventbridge::Client::new(&config);
    let iam = aws_sdk_iam::Client::new(&config);
    let prefix = stack.physical("");

    // Look-alikes without the ownership tag: same prefix, created by someone else.
    sqs.create_queue()
        .queue_name(stack.physical("handmade"))
        .send()
        .await
        .unwrap();
    ddb.create_table()
        .table_name(stack.physical("handmade"))
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    // Without a terminal and without --yes: refused, nothing deleted.
    let out = stack.run(&["down"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("pass --yes"), "{}", stderr(&out));
    assert_eq!(
        function_names(&lambda, &prefix).await.len(),
        stack::default_spec().functions.len()
    );

    // down: everything owned goes, except the table (data) — and it says so.
    let result = stack.json(&["down", "--yes", "--output", "json"]);
    let kept: Vec<&Value> = result["kept"].as_array().unwrap().iter().collect();
    assert_eq!(kept.len(), 1, "{result}");
    assert_eq!(kept[0]["id"]["kind"], "table");
    assert_eq!(
        queue_names(&sqs, &prefix).await,
        vec![stack.physical("handmade")]
    );
    assert!(function_names(&lambda, &prefix).await.is_empty());
    let buses = events
        .list_event_buses()
        .name_prefix(&prefix)
        .send()
        .await
        .unwrap();
    assert!(buses.event_buses().is_empty());
    let roles = iam
        .list_roles()
        .path_prefix(format!("/orderflow/{}/", stack.name))
        .send()
        .await
        .unwrap();
    assert!(roles.roles().is_empty(), "{roles:?}");
    let mut tables = table_names(&ddb, &prefix).await;
    tables.sort();
    assert_eq!(
        tables,
        vec![stack.physical("handmade"), stack.physical("orders")]
    );

    // A second down has nothing to do and succeeds.
    let out = stack.run(&["down", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Nothing to delete"));

    // --delete-data removes the owned table, still not the stranger's.
    let out = stack.run(&["down", "--yes", "--delete-data"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        table_names(&ddb, &prefix).await,
        vec![stack.physical("handmade")]
    );
    assert_eq!(
        queue_names(&sqs, &prefix).await,
        vec![stack.physical("handmade")]
    );
}
