//! `orderflow import FILE [--wait]`: upload an order file (JSON Lines, or CSV for a key ending
//! in `.csv`; `sample-orders [--format csv]` makes one) where the stack's import rule picks it
//! up, as a partner would; with `--wait`, wait for the import's result object and then for
//! every imported order's final status (the order ids read from the file, streaming, in the
//! format import-orders reads it in).
//!
//! The bucket is the only one declared (or `--bucket`); the key is the file's name under the
//! prefix of the rule on the default bus that matches the bucket's `Object Created` events (a
//! key the rule would not match is refused before anything is uploaded: nothing would read
//! it). Each upload carries a fresh `orderflow-upload-id` (S3 user metadata) that import-orders
//! repeats in `<key>.result.json`: an earlier result under the same key — the same file
//! uploaded before has the same ETag — is not taken for this upload's.
//!
//! Exit codes: 0 done (every order final and none rejected; without `--wait`, uploaded), 3 some
//! lines invalid or orders rejected, 4 timed out, 1 error.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_sdk_s3::primitives::ByteStream;
use serde::Serialize;
use serde_json::Value;

use super::{connect, emit, load_spec, pick};
use crate::cli::{Global, ImportArgs};
use crate::error::Error;
use crate::kinds::bucket::provider::bucket_name;
use crate::resources::Ctx;
use crate::spec::Spec;

/// The user metadata import-orders repeats in its result (`upload_id`).
const UPLOAD_ID_METADATA: &str = "orderflow-upload-id";

/// Lines longer than this are not read for their order id (import-orders' default cap).
const MAX_LINE_BYTES: usize = 256 * 1024;
/// BatchGetItem takes at most 100 keys.
const BATCH_GET: usize = 100;
const FIRST_POLL: Duration = Duration::from_millis(250);
const MAX_POLL: Duration = Duration::from_secs(2);

/// Where an upload goes: the bucket and the key prefixes or wildcards its import rule matches.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRoute {
    pub bucket: String,
    pub rule: String,
    /// `{prefix: P}` → `P*`, `{wildcard: W}` → `W`.
    pub patterns: Vec<String>,
}

impl ImportRoute {
    /// The key a file is uploaded under: its name after the first pattern's literal start.
    pub fn key_for(&self, file_name: &str) -> String {
        let first = self.patterns.first().map(String::as_str).unwrap_or("");
        let dir = first.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        if dir.is_empty() {
            file_name.to_string()
        } else {
            format!("{dir}/{file_name}")
        }
    }

    pub fn matches(&self, key: &str) -> bool {
        self.patterns.iter().any(|p| glob_match(p, key))
    }
}

/// EventBridge's wildcard: `*` matches any run of characters (including none).
fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// The rule on the default bus that takes `Object Created` events of `bucket`, with its key
/// patterns.
pub fn import_route(spec: &Spec, bucket: &str) -> Result<ImportRoute, Error> {
    let reference = format!("${{buckets.{bucket}.name}}");
    for (name, rule) in &spec.rules {
        if rule.bus != "default" {
            continue;
        }
        let detail = &rule.event_pattern["detail"];
        let names_bucket = detail["bucket"]["name"]
            .as_array()
            .is_some_and(|names| names.iter().any(|n| n.as_str() == Some(&reference)));
        if !names_bucket {
            continue;
        }
        let patterns: Vec<String> = match detail["object"]["key"].as_array() {
            None => vec!["*".into()],
            Some(keys) => keys
                .iter()
                .filter_map(|k| match k {
                    Value::String(exact) => Some(exact.clone()),
                    Value::Object(op) => op
                        .get("prefix")
                        .and_then(Value::as_str)
                        .map(|p| format!("{p}*"))
                        .or_else(|| op.get("wildcard").and_then(Value::as_str).map(String::from)),
                    _ => None,
                })
                .collect(),
        };
        return Ok(ImportRoute {
            bucket: bucket.to_string(),
            rule: name.clone(),
            patterns,
        });
    }
    Err(Error::Other(format!(
        "no rule on the default bus takes the Object Created events of bucket {bucket} \
         (an event pattern with detail.bucket.name [\"{reference}\"]): nothing would import the file"
    )))
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct OrderCounts {
    pub total: usize,
    pub processed: usize,
    pub rejected: usize,
    /// Not final when the wait ended.
    pub pending: usize,
}

#[derive(Debug, Serialize)]
pub struct ImportResult {
    /// `uploaded` (no --wait), `imported` (result read, orders final), `timed_out`.
    pub status: &'static str,
    pub bucket: String,
    pub key: String,
    pub etag: String,
    /// This upload's `orderflow-upload-id`, which its result repeats.
    pub upload_id: String,
    pub size_bytes: u64,
    pub result_key: String,
    /// The import function's result object, once read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orders: Option<OrderCounts>,
    /// Ids of rejected orders (the first 100).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rejected_orders: Vec<String>,
    pub elapsed_ms: u128,
}

impl ImportResult {
    fn count(&self, field: &str) -> u64 {
        self.result
            .as_ref()
            .and_then(|r| r[field].as_u64())
            .unwrap_or(0)
    }
}

impl fmt::Display for ImportResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Uploaded {} bytes to s3://{}/{}",
            self.size_bytes, self.bucket, self.key
        )?;
        match &self.result {
            None if self.status == "uploaded" => writeln!(
                f,
                "The import result will be s3://{}/{}",
                self.bucket, self.result_key
            )?,
            None => writeln!(
                f,
                "No import result yet (s3://{}/{})",
                self.bucket, self.result_key
            )?,
            Some(r) => {
                writeln!(
                    f,
                    "Import: {} lines, {} imported, {} already imported, {} republished, {} invalid, {} blank",
                    self.count("lines"),
                    self.count("imported"),
                    self.count("already_imported"),
                    self.count("republished"),
                    self.count("invalid"),
                    self.count("blank"),
                )?;
                for e in r["errors"].as_array().into_iter().flatten().take(10) {
                    let reasons: Vec<&str> = e["reasons"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|r| r["message"].as_str().or(r["code"].as_str()))
                        .collect();
                    writeln!(f, "  line {}: {}", e["line"], reasons.join("; "))?;
                }
                if self.count("invalid") > 10 {
                    writeln!(
                        f,
                        "  ... every bad line is in s3://{}/{}",
                        self.bucket, self.result_key
                    )?;
                }
            }
        }
        if let Some(o) = &self.orders {
            writeln!(
                f,
                "Orders: {} — {} PROCESSED, {} REJECTED, {} not final",
                o.total, o.processed, o.rejected, o.pending
            )?;
        }
        writeln!(
            f,
            "{} in {:.1} s",
            self.status,
            self.elapsed_ms as f64 / 1000.0
        )
    }
}

pub async fn run(g: &Global, args: ImportArgs) -> Result<ExitCode, Error> {
    let spec = load_spec(g)?;
    let bucket = pick("bucket", args.bucket.as_deref(), spec.buckets.keys())?.to_string();
    let route = import_route(&spec, &bucket)?;
    let file_name = args
        .file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::Other(format!("{}: not a file name", args.file.display())))?;
    let key = args.key.clone().unwrap_or_else(|| route.key_for(file_name));
    if !route.matches(&key) {
        return Err(Error::Other(format!(
            "rule {} imports keys matching {}; {key} is not one of them, so nothing would import it \
             (rename the file or pass --key)",
            route.rule,
            route.patterns.join(" or ")
        )));
    }
    let size_bytes = std::fs::metadata(&args.file)
        .map_err(|e| Error::io(format!("reading {}", args.file.display()), e))?
        .len();
    let table = pick("table", args.table.as_deref(), spec.tables.keys())?.to_string();
    let ctx = connect(g, spec).await?;
    let started = Instant::now();
    let physical = bucket_name(&ctx, &bucket).await?;
    let upload_id = new_upload_id();
    let etag = upload(&ctx, &physical, &key, &args.file, &upload_id).await?;
    let mut out = ImportResult {
        status: "uploaded",
        bucket: physical.clone(),
        key: key.clone(),
        etag: etag.clone(),
        upload_id,
        size_bytes,
        result_key: format!("{key}.result.json"),
        result: None,
        orders: None,
        rejected_orders: Vec::new(),
        elapsed_ms: 0,
    };
    if !g.quiet {
        eprintln!(
            "uploaded s3://{physical}/{key}; rule {} imports it",
            route.rule
        );
    }
    let code = if args.wait {
        let deadline = started + Duration::from_secs(args.timeout);
        wait(&ctx, &args.file, &table, &mut out, deadline, g.quiet).await?
    } else {
        ExitCode::SUCCESS
    };
    out.elapsed_ms = started.elapsed().as_millis();
    emit(g.output, &out)?;
    Ok(code)
}

/// Unique per upload: the time in nanoseconds and this process's id.
fn new_upload_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{nanos:x}-{:x}", std::process::id())
}

async fn upload(
    ctx: &Ctx,
    bucket: &str,
    key: &str,
    file: &Path,
    upload_id: &str,
) -> Result<String, Error> {
    let body = ByteStream::from_path(file)
        .await
        .map_err(|e| Error::Other(format!("reading {}: {e}", file.display())))?;
    let res = format!("bucket {bucket}");
    let out = ctx
        .aws
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .metadata(UPLOAD_ID_METADATA, upload_id)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            let e = Error::aws(&res, "PutObject", e);
            if e.code() == Some("NoSuchBucket") {
                Error::Other(format!(
                    "bucket {bucket} does not exist — is the stack deployed? Run `orderflow up` first"
                ))
            } else {
                e
            }
        })?;
    Ok(unquote(out.e_tag().unwrap_or_default()).to_string())
}

fn unquote(etag: &str) -> &str {
    etag.trim_matches('"')
}

/// Wait for this upload's result, then for its orders' final statuses.
async fn wait(
    ctx: &Ctx,
    file: &Path,
    table: &str,
    out: &mut ImportResult,
    deadline: Instant,
    quiet: bool,
) -> Result<ExitCode, Error> {
    let Some(result) = wait_for_result(ctx, out, deadline).await? else {
        out.status = "timed_out";
        return Ok(ExitCode::from(4));
    };
    let bad_lines: BTreeSet<u64> = result["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["line"].as_u64())
        .collect();
    out.result = Some(result);
    // import-orders picks the format by the key, not the local file's name.
    let ids = if out.key.to_ascii_lowercase().ends_with(".csv") {
        csv_order_ids(file, &bad_lines)?
    } else {
        order_ids(file, &bad_lines)?
    };
    if !quiet {
        eprintln!(
            "import result read; waiting for {} orders to be final",
            ids.len()
        );
    }
    let (counts, rejected) = wait_for_orders(ctx, table, ids, deadline).await?;
    let timed_out = counts.pending > 0;
    let refused = counts.rejected > 0 || out.count("invalid") > 0;
    out.orders = Some(counts);
    out.rejected_orders = rejected;
    out.status = if timed_out { "timed_out" } else { "imported" };
    Ok(if timed_out {
        ExitCode::from(4)
    } else if refused {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

/// Poll for `<key>.result.json` written for this upload (its `upload_id`), until `deadline`.
async fn wait_for_result(
    ctx: &Ctx,
    out: &ImportResult,
    deadline: Instant,
) -> Result<Option<Value>, Error> {
    let mut delay = FIRST_POLL;
    loop {
        let got = ctx
            .aws
            .s3
            .get_object()
            .bucket(&out.bucket)
            .key(&out.result_key)
            .send()
            .await;
        match got {
            Ok(object) => {
                let bytes = object
                    .body
                    .collect()
                    .await
                    .map_err(|e| Error::Other(format!("reading {}: {e}", out.result_key)))?
                    .into_bytes();
                let result: Value = serde_json::from_slice(&bytes)
                    .map_err(|e| Error::Other(format!("{} is not JSON: {e}", out.result_key)))?;
                if result["upload_id"].as_str() == Some(out.upload_id.as_str()) {
                    return Ok(Some(result));
                }
            }
            Err(e) => {
                let e = Error::aws(format!("bucket {}", out.bucket), "GetObject", e);
                if e.code() != Some("NoSuchKey") {
                    return Err(e);
                }
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(delay.min(deadline - now)).await;
        delay = (delay * 2).min(MAX_POLL);
    }
}

/// The order ids of the file's lines, but the ones the import reported as bad (read a line at a
/// time, as the function does: a line longer than it reads is skipped without being held).
fn order_ids(file: &Path, bad_lines: &BTreeSet<u64>) -> Result<Vec<String>, Error> {
    let read_error = |e| Error::io(format!("reading {}", file.display()), e);
    let mut reader = std::io::BufReader::new(std::fs::File::open(file).map_err(read_error)?);
    let mut ids = Vec::new();
    let mut seen = BTreeSet::new();
    let mut number = 0u64;
    while let Some(line) = next_line(&mut reader, MAX_LINE_BYTES).map_err(read_error)? {
        number += 1;
        let Some(line) = line.filter(|_| !bad_lines.contains(&number)) else {
            continue;
        };
        let Ok(order) = serde_json::from_slice::<Value>(&line) else {
            continue;
        };
        if let Some(id) = order["order_id"].as_str() {
            if seen.insert(id.to_string()) {
                ids.push(id.to_string());
            }
        }
    }
    Ok(ids)
}

/// The order ids of a CSV file's orders, but the ones the import reported as bad (at their
/// first row's line), read with import-orders' own CSV reader and grouping.
fn csv_order_ids(file: &Path, bad_lines: &BTreeSet<u64>) -> Result<Vec<String>, Error> {
    let read_error = |e| Error::io(format!("reading {}", file.display()), e);
    let reader = std::io::BufReader::new(std::fs::File::open(file).map_err(read_error)?);
    let mut ids = Vec::new();
    let mut seen = BTreeSet::new();
    order_domain::csv::orders::read_entries(reader, MAX_LINE_BYTES, |entry| {
        let order_domain::csv::orders::Entry::Order { line, json, .. } = entry else {
            return;
        };
        if bad_lines.contains(&line) {
            return;
        }
        let Ok(order) = serde_json::from_str::<Value>(&json) else {
            return;
        };
        if let Some(id) = order["order_id"].as_str() {
            if seen.insert(id.to_string()) {
                ids.push(id.to_string());
            }
        }
    })
    .map_err(read_error)?;
    Ok(ids)
}

/// The next line (without its `\n`); `Some(None)` for a line longer than `max` bytes, which is
/// read past without being kept; `None` at the end.
fn next_line(reader: &mut impl BufRead, max: usize) -> std::io::Result<Option<Option<Vec<u8>>>> {
    let mut line = Vec::new();
    let mut too_long = false;
    let mut any = false;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(any.then(|| (!too_long).then_some(line)));
        }
        any = true;
        let (chunk, end) = match buf.iter().position(|b| *b == b'\n') {
            Some(at) => (&buf[..at], Some(at + 1)),
            None => (buf, None),
        };
        if !too_long && line.len() + chunk.len() <= max {
            line.extend_from_slice(chunk);
        } else {
            too_long = true;
            line = Vec::new();
        }
        let used = end.unwrap_or(buf.len());
        reader.consume(used);
        if end.is_some() {
            return Ok(Some((!too_long).then_some(line)));
        }
    }
}

/// Poll the orders table (consistent BatchGetItem) until every order is PROCESSED or
/// REJECTED, or `deadline`.
async fn wait_for_orders(
    ctx: &Ctx,
    table: &str,
    ids: Vec<String>,
    deadline: Instant,
) -> Result<(OrderCounts, Vec<String>), Error> {
    let table_name = ctx.physical_name(table);
    let mut counts = OrderCounts {
        total: ids.len(),
        ..OrderCounts::default()
    };
    let mut rejected = Vec::new();
    let mut pending: Vec<String> = ids;
    let mut delay = FIRST_POLL;
    loop {
        let mut still = Vec::new();
        for chunk in pending.chunks(BATCH_GET) {
            let statuses = statuses(ctx, &table_name, chunk).await?;
            for id in chunk {
                match statuses.get(id).map(String::as_str) {
                    Some(order_domain::item::STATUS_PROCESSED) => counts.processed += 1,
                    Some(order_domain::item::STATUS_REJECTED) => {
                        counts.rejected += 1;
                        if rejected.len() < 100 {
                            rejected.push(id.clone());
                        }
                    }
                    _ => still.push(id.clone()),
                }
            }
        }
        pending = still;
        let now = Instant::now();
        if pending.is_empty() || now >= deadline {
            counts.pending = pending.len();
            return Ok((counts, rejected));
        }
        tokio::time::sleep(delay.min(deadline - now)).await;
        delay = (delay * 2).min(MAX_POLL);
    }
}

/// Status of each order of `ids` that exists (one BatchGetItem, unprocessed keys retried).
async fn statuses(
    ctx: &Ctx,
    table: &str,
    ids: &[String],
) -> Result<HashMap<String, String>, Error> {
    let mut out = HashMap::new();
    let keys: Vec<HashMap<String, AttributeValue>> = ids
        .iter()
        .map(|id| {
            HashMap::from([(
                order_domain::item::ORDER_ID.to_string(),
                AttributeValue::S(id.clone()),
            )])
        })
        .collect();
    let mut request = Some(
        KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .projection_expression("#id, #st")
            .expression_attribute_names("#id", order_domain::item::ORDER_ID)
            .expression_attribute_names("#st", order_domain::item::STATUS)
            .build()
            .map_err(|e| Error::Other(format!("BatchGetItem request: {e}")))?,
    );
    let mut delay = FIRST_POLL;
    while let Some(keys) = request.take() {
        let got = ctx
            .aws
            .dynamodb
            .batch_get_item()
            .request_items(table, keys)
            .send()
            .await
            .map_err(|e| Error::aws(format!("table {table}"), "BatchGetItem", e))?;
        for item in got
            .responses()
            .and_then(|r| r.get(table))
            .into_iter()
            .flatten()
        {
            let field = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
            if let (Some(id), Some(status)) = (
                field(order_domain::item::ORDER_ID),
                field(order_domain::item::STATUS),
            ) {
                out.insert(id, status);
            }
        }
        // Keys DynamoDB did not get to (throughput): asked again after a pause.
        request = got
            .unprocessed_keys()
            .and_then(|u| u.get(table))
            .filter(|k| !k.keys().is_empty())
            .cloned();
        if request.is_some() {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_POLL);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_with_a_bound_and_long_ones_skipped() {
        let text = b"a\n\nlonger than five\nbcd\nlast".to_vec();
        let mut reader = std::io::BufReader::with_capacity(3, &text[..]);
        let mut lines = Vec::new();
        while let Some(line) = next_line(&mut reader, 5).unwrap() {
            lines.push(line.map(|l| String::from_utf8(l).unwrap()));
        }
        assert_eq!(
            lines,
            [
                Some("a".to_string()),
                Some(String::new()),
                None,
                Some("bcd".to_string()),
                Some("last".to_string())
            ]
        );
    }

    #[test]
    fn csv_order_ids_skip_the_orders_reported_bad() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("orders.csv");
        std::fs::write(
            &file,
            "sku,quantity,unit_price_minor,order_id,customer_id,currency,total_minor\n\
             A,1,5,ord-1,c,EUR,10\n\
             \"B\nB\",1,5,ord-1,c,EUR,10\n\
             A,1,5,ord-2,c,EUR,5\n\
             A,1,5,ord-3,c,EUR,5\n\
             A,1,5,,c,EUR,5\n",
        )
        .unwrap();
        assert_eq!(
            csv_order_ids(&file, &BTreeSet::new()).unwrap(),
            ["ord-1", "ord-2", "ord-3"]
        );
        // ord-2 starts on line 5 (ord-1's second row takes two lines).
        assert_eq!(
            csv_order_ids(&file, &BTreeSet::from([5])).unwrap(),
            ["ord-1", "ord-3"]
        );
    }

    #[test]
    fn wildcards_match_as_eventbridge_does() {
        assert!(glob_match("imports/*.jsonl", "imports/a.jsonl"));
        assert!(glob_match("imports/*.jsonl", "imports/x/y.jsonl"));
        assert!(!glob_match(
            "imports/*.jsonl",
            "imports/a.jsonl.result.json"
        ));
        assert!(!glob_match("imports/*.jsonl", "other/a.jsonl"));
        assert!(glob_match("imports/*", "imports/"));
        assert!(glob_match("a*b*c", "abc"));
        assert!(!glob_match("a*b*c", "acb"));
        assert!(glob_match("exact", "exact"));
    }

    #[test]
    fn the_route_comes_from_the_default_bus_rule_naming_the_bucket() {
        let spec = crate::spec::parse(
            "p.yaml",
            r#"
stack: shop
buckets: { drop: {} }
queues: { q: {} }
rules:
  files:
    bus: default
    event_pattern:
      source: [aws.s3]
      detail-type: [Object Created]
      detail:
        bucket: { name: ["${buckets.drop.name}"] }
        object: { key: [{ wildcard: "in/*.jsonl" }, { prefix: "bulk/" }] }
    targets: [{ queue: q }]
"#,
        )
        .expect("valid");
        let route = import_route(&spec, "drop").unwrap();
        assert_eq!(route.rule, "files");
        assert_eq!(route.patterns, ["in/*.jsonl", "bulk/*"]);
        assert_eq!(route.key_for("orders.jsonl"), "in/orders.jsonl");
        assert!(route.matches("bulk/anything.csv"));
        assert!(!route.matches("in/orders.csv"));
        let err = import_route(&spec, "other").unwrap_err().to_string();
        assert!(err.contains("nothing would import the file"), "{err}");
    }
}
