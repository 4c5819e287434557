//! Included by test files as `#[path = "common/pipe_relay.rs"] mod pipe_relay;`.
//!
//! Stands in for the one step MiniStack 1.5 lacks: EventBridge Pipes' delivery to an event bus
//! (its pipes deliver to SNS and Step Functions only). The pipe orderflow deployed is read back
//! from the emulator (source stream, target bus); what MiniStack does not keep of it (the
//! filter, source and detail-type) comes from the pipeline's spec. Delivery follows what AWS
//! documents for a DynamoDB stream source and an event bus target: records from the oldest
//! (TRIM_HORIZON), in stream order, one per event (batch size 1); a record is published only if
//! the filter matches it (evaluated by the emulator's own EventBridge pattern engine, with
//! TestEventPattern), as an event whose `detail` is the record.
//!
//! Everything after the bus — rules, their targets, policies — is the emulator's own.

#![allow(dead_code)]

use std::collections::HashMap;

use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use base64::Engine as _;
use serde_json::{json, Map, Value};

pub struct PipeRelay {
    streams: aws_sdk_dynamodbstreams::Client,
    events: aws_sdk_eventbridge::Client,
    stream_arn: String,
    bus_arn: String,
    source: String,
    detail_type: String,
    filter: Option<String>,
    /// Next iterator per shard.
    iterators: HashMap<String, Option<String>>,
    /// Every record read (as Pipes passes it on), published or not.
    pub seen: Vec<Value>,
    /// The records published on the bus.
    pub published: Vec<Value>,
}

/// A stream record in the JSON form Pipes delivers (the Lambda event-source record shape).
pub fn record_json(r: &Record, stream_arn: &str) -> Value {
    let mut dynamodb = Map::new();
    if let Some(d) = r.dynamodb() {
        if let Some(t) = d.approximate_creation_date_time() {
            dynamodb.insert("ApproximateCreationDateTime".into(), json!(t.secs()));
        }
        for (key, image) in [
            ("Keys", d.keys()),
            ("NewImage", d.new_image()),
            ("OldImage", d.old_image()),
        ] {
            if let Some(image) = image {
                dynamodb.insert(key.into(), item_json(image));
            }
        }
        dynamodb.insert("SequenceNumber".into(), json!(d.sequence_number()));
        dynamodb.insert("SizeBytes".into(), json!(d.size_bytes()));
        dynamodb.insert(
            "StreamViewType".into(),
            json!(d.stream_view_type().map(|v| v.as_str())),
        );
    }
    json!({
        "eventID": r.event_id(),
        "eventName": r.event_name().map(|n| n.as_str()),
        "eventVersion": r.event_version(),
        "eventSource": r.event_source(),
        "awsRegion": r.aws_region(),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    })
}

fn item_json(item: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), attribute_json(v)))
            .collect(),
    )
}

/// DynamoDB JSON: `{"S": "x"}`, `{"N": "1"}`, `{"M": {...}}`...
fn attribute_json(v: &AttributeValue) -> Value {
    let b64 =
        |b: &aws_smithy_types::Blob| base64::engine::general_purpose::STANDARD.encode(b.as_ref());
    match v {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": b64(b) }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(n) => json!({ "NULL": n }),
        AttributeValue::Ss(s) => json!({ "SS": s }),
        AttributeValue::Ns(n) => json!({ "NS": n }),
        AttributeValue::Bs(b) => json!({ "BS": b.iter().map(b64).collect::<Vec<_>>() }),
        AttributeValue::L(l) => json!({ "L": l.iter().map(attribute_json).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({ "M": item_json(m) }),
        other => json!({ "unknown": format!("{other:?}") }),
    }
}

impl PipeRelay {
    /// The relay of the pipe `pipe_name` as deployed, with what the spec says of its events.
    pub async fn of_deployed(
        config: &aws_config::SdkConfig,
        pipe_name: &str,
        source: &str,
        detail_type: &str,
        filter: Option<&Value>,
    ) -> PipeRelay {
        let pipes = aws_sdk_pipes::Client::new(config);
        let pipe = pipes
            .describe_pipe()
            .name(pipe_name)
            .send()
            .await
            .expect("DescribePipe");
        let stream_arn = pipe.source().expect("pipe source").to_string();
        let bus_arn = pipe.target().expect("pipe target").to_string();
        let streams = aws_sdk_dynamodbstreams::Client::new(config);
        let described = streams
            .describe_stream()
            .stream_arn(&stream_arn)
            .send()
            .await
            .expect("DescribeStream");
        let mut iterators = HashMap::new();
        for shard in described
            .stream_description()
            .map(|d| d.shards())
            .unwrap_or_default()
        {
            let shard_id = shard.shard_id().expect("shard id").to_string();
            let it = streams
                .get_shard_iterator()
                .stream_arn(&stream_arn)
                .shard_id(&shard_id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .expect("GetShardIterator")
                .shard_iterator;
            iterators.insert(shard_id, it);
        }
        assert!(
            !iterators.is_empty(),
            "the stream {stream_arn} has no shard"
        );
        PipeRelay {
            streams,
            events: aws_sdk_eventbridge::Client::new(config),
            stream_arn,
            bus_arn,
            source: source.to_string(),
            detail_type: detail_type.to_string(),
            filter: filter.map(Value::to_string),
            iterators,
            seen: Vec::new(),
            published: Vec::new(),
        }
    }

    async fn matches(&self, record: &Value) -> bool {
        let Some(pattern) = &self.filter else {
            return true;
        };
        // TestEventPattern takes an event: the record's fields at the top, as Pipes filters
        // them, with the envelope fields the API requires.
        let mut event = record.as_object().cloned().unwrap_or_default();
        for (k, v) in [
            ("id", json!("relay")),
            ("account", json!("000000000000")),
            ("source", json!("aws.dynamodb")),
            ("detail-type", json!("relay")),
            ("time", json!("2026-01-01T00:00:00Z")),
            ("region", json!("us-east-1")),
            ("resources", json!([])),
        ] {
            event.entry(k.to_string()).or_insert(v);
        }
        self.events
            .test_event_pattern()
            .event_pattern(pattern)
            .event(Value::Object(event).to_string())
            .send()
            .await
            .expect("TestEventPattern")
            .result()
    }

    /// Read every record available now and publish the matching ones, in order; the number of
    /// records read (0: caught up).
    pub async fn pump(&mut self) -> usize {
        let mut read = 0;
        let shards: Vec<String> = self.iterators.keys().cloned().collect();
        for shard in shards {
            while let Some(Some(iterator)) = self.iterators.get(&shard).cloned() {
                let out = self
                    .streams
                    .get_records()
                    .shard_iterator(iterator)
                    .send()
                    .await
                    .expect("GetRecords");
                self.iterators
                    .insert(shard.clone(), out.next_shard_iterator().map(str::to_string));
                let records = out.records();
                if records.is_empty() {
                    break;
                }
                for r in records {
                    read += 1;
                    let record = record_json(r, &self.stream_arn);
                    self.seen.push(record.clone());
                    if !self.matches(&record).await {
                        continue;
                    }
                    let put = self
                        .events
                        .put_events()
                        .entries(
                            PutEventsRequestEntry::builder()
                                .event_bus_name(&self.bus_arn)
                                .source(&self.source)
                                .detail_type(&self.detail_type)
                                .detail(record.to_string())
                                .build(),
                        )
                        .send()
                        .await
                        .expect("PutEvents");
                    assert_eq!(put.failed_entry_count(), 0, "PutEvents failed: {put:?}");
                    self.published.push(record);
                }
            }
        }
        read
    }
}
