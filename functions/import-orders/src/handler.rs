//! One invocation, independent of AWS: the EventBridge event in, the file read through
//! [`ObjectSource`], imported by [`crate::import`], and its result written through
//! [`ResultSink`]. The contract is in the crate's documentation (`main.rs`).

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;
use tokio::io::AsyncBufRead;

use crate::import::{self, DependencyError, EventBus, OrderTable};
use crate::report::{self, Counts, ImportResult};

/// Suffix of the result objects; objects with it are never imported.
pub const RESULT_SUFFIX: &str = ".result.json";

/// User metadata (`x-amz-meta-orderflow-upload-id`) `orderflow import` sets on each upload and
/// the result repeats, so it can tell its result from an earlier one for the same content.
pub const UPLOAD_ID_METADATA: &str = "orderflow-upload-id";

/// An object being read.
pub struct Opened<B> {
    pub body: B,
    /// The object's [`UPLOAD_ID_METADATA`], if it has one.
    pub upload_id: Option<String>,
}

/// Where the order files are read from.
pub trait ObjectSource {
    type Body: AsyncBufRead + Unpin;
    /// A stream of the object's bytes; `None` when the object does not exist (any more).
    async fn open(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<Opened<Self::Body>>, DependencyError>;
}

/// Where results are written.
pub trait ResultSink {
    /// Writes `body` (JSON) as object `key` of `bucket`.
    async fn put_result(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
    ) -> Result<(), DependencyError>;
}

/// What the function needs besides the event.
pub struct Context<'a, T, B, S, K> {
    pub import: import::Context<'a, T, B>,
    pub source: &'a S,
    pub sink: &'a K,
}

/// What an invocation did (every variant is a success for Lambda).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Not an S3 "Object Created" event, or a result object: nothing read.
    Ignored(String),
    /// The object no longer exists: nothing to import.
    Gone,
    /// The file was imported (or refused as a whole) and `result_key` written.
    Imported {
        result_key: String,
        result: Box<ImportResult>,
    },
}

/// The parts of an EventBridge "Object Created" event the function uses.
#[derive(Debug, Deserialize)]
struct Event {
    source: Option<String>,
    #[serde(rename = "detail-type")]
    detail_type: Option<String>,
    detail: Detail,
}

#[derive(Debug, Deserialize)]
struct Detail {
    bucket: Bucket,
    object: Object,
}

#[derive(Debug, Deserialize)]
struct Bucket {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Object {
    /// Not URL-encoded in EventBridge events (unlike S3 event notifications).
    key: String,
    size: Option<u64>,
    etag: Option<String>,
}

/// Handles one event. Only a dependency failure is an error (Lambda then retries the whole
/// file, which is idempotent).
pub async fn handle<T, B, S, K>(
    event: &Value,
    cx: &Context<'_, T, B, S, K>,
) -> Result<Handled, DependencyError>
where
    T: OrderTable,
    B: EventBus,
    S: ObjectSource,
    K: ResultSink,
{
    let event: Event = match Event::deserialize(event) {
        Ok(event) => event,
        Err(err) => {
            tracing::error!(error = %err, "not an S3 Object Created event: ignored");
            return Ok(Handled::Ignored(format!("unexpected event: {err}")));
        }
    };
    if event.source.as_deref() != Some("aws.s3")
        || event.detail_type.as_deref() != Some("Object Created")
    {
        tracing::error!(
            source = ?event.source,
            detail_type = ?event.detail_type,
            "not an S3 Object Created event: ignored"
        );
        return Ok(Handled::Ignored(format!(
            "unexpected event: source {:?}, detail-type {:?}",
            event.source, event.detail_type
        )));
    }
    let bucket = event.detail.bucket.name;
    let key = event.detail.object.key;
    let etag = event.detail.object.etag;
    if key.ends_with(RESULT_SUFFIX) {
        tracing::info!(bucket, key, "a result object: not imported");
        return Ok(Handled::Ignored(format!("{key} is a result object")));
    }
    tracing::info!(
        bucket,
        key,
        size = event.detail.object.size,
        etag,
        "importing"
    );
    let started = Instant::now();
    let result_key = format!("{key}{RESULT_SUFFIX}");

    let Some(Opened { body, upload_id }) = cx.source.open(&bucket, &key).await? else {
        tracing::warn!(
            bucket,
            key,
            "the object no longer exists: nothing to import"
        );
        return Ok(Handled::Gone);
    };
    let (format, imported) = if key.to_ascii_lowercase().ends_with(".csv") {
        ("csv", import::import_csv(body, &cx.import).await?)
    } else {
        ("jsonl", import::import(body, &cx.import).await?)
    };

    let line_buffer_peak_bytes = imported.line_buffer_peak_bytes;
    let elapsed = started.elapsed();
    let duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    let result = ImportResult {
        bucket: bucket.clone(),
        key: key.clone(),
        etag,
        upload_id,
        format,
        counts: imported.counts,
        errors: imported.errors,
        errors_truncated: imported.errors_truncated,
        started_at: order_domain::time::rfc3339_utc(cx.import.now),
        finished_at: order_domain::time::rfc3339_utc(
            cx.import.now + Duration::from_millis(duration_ms),
        ),
        duration_ms,
        peak_rss_bytes: report::peak_rss_bytes(),
    };
    // Serialising strings and integers cannot fail.
    let body = serde_json::to_vec(&result).unwrap_or_default();
    cx.sink.put_result(&bucket, &result_key, body).await?;
    let Counts {
        lines,
        blank,
        imported,
        republished,
        already_imported,
        invalid,
    } = result.counts;
    tracing::info!(
        bucket,
        key,
        result_key,
        format,
        lines,
        blank,
        imported,
        republished,
        already_imported,
        invalid,
        errors_listed = result.errors.len(),
        errors_truncated = result.errors_truncated,
        duration_ms,
        peak_rss_bytes = result.peak_rss_bytes,
        line_buffer_peak_bytes,
        "import finished"
    );
    Ok(Handled::Imported {
        result_key,
        result: Box::new(result),
    })
}
