//! Buckets on the emulator: created private, encrypted, versioned, with orderflow's lifecycle
//! rule and EventBridge notifications on, so a rule on the account's `default` bus sees their
//! object events (only those under its prefix); an unchanged pipeline plans nothing; `down`
//! deletes an empty bucket, keeps one holding objects, and deletes it with `--delete-data`.

mod common;
#[path = "common/stack.rs"]
mod stack;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::BucketVersioningStatus;
use common::TestEmulator;
use serde_json::{json, Value};
use stack::{stderr, stdout, Stack};

const ACCOUNT: &str = "000000000000";

const PIPELINE: &str = r#"
stack: STACK
tags: { team: imports }
buckets:
  drop: { versioning: true, expire_after_days: 30 }
  spare: {}
queues:
  created: {}
rules:
  drop-created:
    bus: default
    event_pattern:
      source: [aws.s3]
      detail-type: [Object Created]
      detail:
        bucket: { name: [BUCKET] }
        object: { key: [{ prefix: in/ }] }
    targets:
      - { queue: created, input_path: $.detail.object }
"#;

async fn bucket_exists(s3: &aws_sdk_s3::Client, bucket: &str) -> bool {
    s3.head_bucket().bucket(bucket).send().await.is_ok()
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &str) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObject {key}: {e:?}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn buckets_are_private_announce_objects_and_keep_their_data() {
    let emu = TestEmulator::start();
    let bucket_logical = "drop";
    let placeholder = Stack::with_pipeline(&emu, "bucket", PIPELINE);
    let drop = format!("{}-{bucket_logical}-{ACCOUNT}", placeholder.name);
    let spare = format!("{}-spare-{ACCOUNT}", placeholder.name);
    placeholder.edit("[BUCKET]", &format!("[{drop}]"));
    let stack = placeholder;
    let up = stack.up();
    assert_eq!(up["outputs"]["buckets"]["drop"]["name"], drop, "{up:#}");

    let config = stack.config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let sqs = aws_sdk_sqs::Client::new(&config);

    // What S3 reports is what the pipeline asked for.
    let block = s3
        .get_public_access_block()
        .bucket(&drop)
        .send()
        .await
        .expect("GetPublicAccessBlock");
    let c = block
        .public_access_block_configuration()
        .expect("configuration");
    assert_eq!(
        (
            c.block_public_acls(),
            c.ignore_public_acls(),
            c.block_public_policy(),
            c.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    let enc = s3
        .get_bucket_encryption()
        .bucket(&drop)
        .send()
        .await
        .expect("encryption");
    let rule = &enc.server_side_encryption_configuration().unwrap().rules()[0];
    assert_eq!(
        rule.apply_server_side_encryption_by_default()
            .unwrap()
            .sse_algorithm()
            .as_str(),
        "AES256"
    );
    let versioning = s3
        .get_bucket_versioning()
        .bucket(&drop)
        .send()
        .await
        .unwrap();
    assert_eq!(versioning.status(), Some(&BucketVersioningStatus::Enabled));
    let lifecycle = s3
        .get_bucket_lifecycle_configuration()
        .bucket(&drop)
        .send()
        .await
        .expect("lifecycle");
    let ours = lifecycle
        .rules()
        .iter()
        .find(|r| r.id() == Some("orderflow"))
        .expect("orderflow's lifecycle rule");
    assert_eq!(ours.expiration().and_then(|e| e.days()), Some(30));
    assert_eq!(
        ours.noncurrent_version_expiration()
            .and_then(|n| n.noncurrent_days()),
        Some(30)
    );
    assert_eq!(
        ours.abort_incomplete_multipart_upload()
            .and_then(|a| a.days_after_initiation()),
        Some(7)
    );
    let notifications = s3
        .get_bucket_notification_configuration()
        .bucket(&drop)
        .send()
        .await
        .unwrap();
    assert!(notifications.event_bridge_configuration().is_some());
    let tags = s3.get_bucket_tagging().bucket(&drop).send().await.unwrap();
    let tags: Vec<(&str, &str)> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key(), t.value()))
        .collect();
    assert!(
        tags.contains(&("orderflow:stack", stack.name.as_str())),
        "{tags:?}"
    );
    assert!(tags.contains(&("team", "imports")), "{tags:?}");

    // Object events reach the default bus; the rule takes those under its prefix only.
    let created = stack.queue_url(&sqs, "created").await;
    put(&s3, &drop, "elsewhere/ignored.jsonl", "{}\n").await;
    put(&s3, &drop, "in/orders-1.jsonl", "{}\n").await;
    let got = common::receive_messages(&sqs, &created, 1).await;
    assert_eq!(got[0]["key"], json!("in/orders-1.jsonl"), "{got:?}");
    let more = sqs
        .receive_message()
        .queue_url(&created)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert!(more.messages().is_empty(), "{:?}", more.messages());

    let plan = stack.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&plan),
        stderr(&plan)
    );

    // down: the empty bucket goes, the one holding objects stays (and says why).
    let down = stack.json(&["down", "--yes", "--output", "json"]);
    let kept: Vec<&Value> = down["kept"].as_array().unwrap().iter().collect();
    assert_eq!(kept.len(), 1, "{down:#}");
    assert_eq!(kept[0]["physical"], json!(drop));
    assert!(bucket_exists(&s3, &drop).await);
    assert!(
        !bucket_exists(&s3, &spare).await,
        "an empty bucket is deleted"
    );
    let rules = aws_sdk_eventbridge::Client::new(&config)
        .list_rules()
        .name_prefix(&stack.name)
        .send()
        .await
        .unwrap();
    assert!(
        rules.rules().is_empty(),
        "the default bus's rule is the stack's: {rules:?}"
    );

    // --delete-data empties it (every version) and deletes it.
    let out = stack.run(&["down", "--yes", "--delete-data"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(!bucket_exists(&s3, &drop).await);
}
