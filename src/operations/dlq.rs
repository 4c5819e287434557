//! Dead-letter queues: where each one's messages came from, reading them without consuming
//! them, and moving them back once the cause is fixed (`orderflow dlq list|redrive`).
//!
//! Where a message goes back to depends on who put it there:
//! - a queue's redrive policy (`queues.<q>.dead_letter`): the message is the original one; it
//!   goes back to that queue — with SQS's own message move task where the endpoint has it,
//!   otherwise received, sent to the source and deleted from the DLQ only once sent;
//! - a rule target's or a function's asynchronous dead-letter queue: the message body is the
//!   event the function was invoked with; it goes back to that function, invoked
//!   asynchronously with the same event. Not re-published to the bus: every rule matching the
//!   event would deliver it again, to consumers that already handled it.
//!
//! Either way a crash between the send and the delete duplicates a message, never loses one;
//! the functions are idempotent per order (conditional writes, notification claims), so a
//! message redriven twice does not write an order twice.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};
use serde::Serialize;

use crate::error::Error;
use crate::kinds::queue::provider::{queue_attributes, queue_url};
use crate::kinds::Spec;
use crate::progress::Progress;
use crate::resources::Ctx;
use crate::spec::model::Destination;

/// Who sends failed messages to a dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// The queue's redrive policy moves messages received too often.
    Queue { queue: String },
    /// The function's asynchronous invocations that failed after Lambda's retries.
    Function { function: String },
    /// Events EventBridge could not deliver to one of the rule's targets.
    RuleTarget {
        rule: String,
        #[serde(flatten)]
        destination: Destination,
    },
}

impl Source {
    /// The function a message from this source goes back to, if it goes to one.
    fn function(&self) -> Option<&str> {
        match self {
            Source::Queue { .. } => None,
            Source::Function { function } => Some(function),
            Source::RuleTarget { destination, .. } => destination.function(),
        }
    }
}

/// Every dead-letter queue of the spec (logical name) with its sources.
pub fn sources(spec: &Spec) -> BTreeMap<String, Vec<Source>> {
    let mut out: BTreeMap<String, Vec<Source>> = BTreeMap::new();
    for (name, q) in &spec.queues {
        if let Some(r) = &q.dead_letter {
            out.entry(r.queue.clone()).or_default().push(Source::Queue {
                queue: name.clone(),
            });
        }
    }
    for (name, f) in &spec.functions {
        if let Some(dlq) = &f.dead_letter_queue {
            out.entry(dlq.clone()).or_default().push(Source::Function {
                function: name.clone(),
            });
        }
    }
    for (rule, r) in &spec.rules {
        for t in &r.targets {
            if let Some(dlq) = &t.dead_letter_queue {
                out.entry(dlq.clone())
                    .or_default()
                    .push(Source::RuleTarget {
                        rule: rule.clone(),
                        destination: t.destination.clone(),
                    });
            }
        }
    }
    for v in out.values_mut() {
        v.sort();
        v.dedup();
    }
    out
}

/// One message of a dead-letter queue, as shown to an operator.
#[derive(Debug, Clone, Serialize)]
pub struct DlqMessage {
    pub message_id: String,
    /// When it was first sent (to the source queue, for a redriven one), RFC 3339.
    pub sent_at: Option<String>,
    pub age_seconds: Option<u64>,
    /// How often it was received before this listing (SQS's ApproximateReceiveCount, less the
    /// listing's own receive).
    pub receive_count: Option<u64>,
    /// The queue SQS moved it from (`DeadLetterQueueSourceArn`), for a queue's redrive.
    pub source_arn: Option<String>,
    /// The order it is about, when the body is an order or an order event.
    pub order_id: Option<String>,
    /// Why it failed, when the sender said (EventBridge and Lambda do; SQS redrive does not).
    pub reason: Option<String>,
    /// The start of the body.
    pub preview: String,
}

/// Bodies are cut to this many characters in previews.
const PREVIEW_CHARS: usize = 160;

/// The order id in a body: an order (`order_id`) or an event whose `detail` is about one.
pub fn order_id_of(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let id = v
        .get("detail")
        .and_then(|d| d.get("order_id"))
        .or_else(|| v.get("order_id"))?;
    id.as_str().map(str::to_string)
}

/// The failure reason in a message's attributes: EventBridge's `ERROR_CODE`/`ERROR_MESSAGE`
/// (with `RULE_ARN`, `TARGET_ARN`, `RETRY_ATTEMPTS`), Lambda's `ErrorCode` (a Number
/// attribute: the HTTP status)/`ErrorMessage`. SQS's own redrive gives no reason.
pub fn reason_of(attributes: &BTreeMap<String, String>) -> Option<String> {
    let get = |k: &str| attributes.get(k).filter(|v| !v.is_empty());
    let (code, message) = match (get("ERROR_CODE"), get("ErrorCode")) {
        (Some(c), _) => (Some(c), get("ERROR_MESSAGE")),
        (None, Some(c)) => (Some(c), get("ErrorMessage")),
        (None, None) => (None, get("ERROR_MESSAGE").or(get("ErrorMessage"))),
    };
    let mut reason = match (code, message) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.clone(),
        (None, Some(m)) => m.clone(),
        (None, None) => return None,
    };
    // Where EventBridge was delivering it, by name (ARNs end in `rule/<bus>/<rule>` and
    // `function:<name>`).
    let mut context = Vec::new();
    if let Some(rule) = get("RULE_ARN") {
        context.push(format!("rule {}", rule.rsplit('/').next().unwrap_or(rule)));
    }
    if let Some(target) = get("TARGET_ARN") {
        context.push(format!(
            "target {}",
            target.rsplit([':', '/']).next().unwrap_or(target)
        ));
    }
    if let Some(n) = get("RETRY_ATTEMPTS") {
        context.push(format!("{n} retries"));
    }
    if !context.is_empty() {
        reason.push_str(&format!(" ({})", context.join(", ")));
    }
    Some(reason)
}

fn string_attributes(m: &Message) -> BTreeMap<String, String> {
    m.message_attributes()
        .map(|attrs| {
            attrs
                .iter()
                .filter_map(|(k, v)| v.string_value().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn describe(m: &Message, now_ms: u64) -> DlqMessage {
    let body = m.body().unwrap_or_default();
    let system = |k: MessageSystemAttributeName| m.attributes().and_then(|a| a.get(&k));
    let sent_ms =
        system(MessageSystemAttributeName::SentTimestamp).and_then(|t| t.parse::<u64>().ok());
    let mut preview: String = body.chars().take(PREVIEW_CHARS).collect();
    if body.chars().count() > PREVIEW_CHARS {
        preview.push('…');
    }
    DlqMessage {
        message_id: m.message_id().unwrap_or_default().to_string(),
        sent_at: sent_ms.map(crate::lock::utc),
        age_seconds: sent_ms.map(|s| now_ms.saturating_sub(s) / 1000),
        receive_count: system(MessageSystemAttributeName::ApproximateReceiveCount)
            .and_then(|n| n.parse::<u64>().ok())
            .map(|n| n.saturating_sub(1)),
        source_arn: system(MessageSystemAttributeName::DeadLetterQueueSourceArn).cloned(),
        order_id: order_id_of(body),
        reason: reason_of(&string_attributes(m)),
        preview,
    }
}

/// A dead-letter queue of the stack, found in AWS.
#[derive(Debug, Clone)]
pub struct Dlq {
    pub name: String,
    pub physical: String,
    pub url: String,
    pub sources: Vec<Source>,
}

/// The dead-letter queue `name` of the spec, or a clear error (not one, or not deployed).
pub async fn find(ctx: &Ctx, name: &str) -> Result<Dlq, Error> {
    let all = sources(&ctx.spec);
    let Some(sources) = all.get(name) else {
        let names: Vec<&str> = all.keys().map(String::as_str).collect();
        return Err(Error::Other(format!(
            "`{name}` is not a dead-letter queue of stack {}; its dead-letter queues are: {}",
            ctx.spec.stack,
            names.join(", ")
        )));
    };
    let physical = ctx.physical_name(name);
    let url = queue_url(ctx, &format!("queue.{name}"), &physical)
        .await?
        .ok_or_else(|| {
            Error::Other(format!(
                "queue {physical} does not exist: run `orderflow up` first"
            ))
        })?;
    Ok(Dlq {
        name: name.to_string(),
        physical,
        url,
        sources: sources.clone(),
    })
}

/// Messages held by a queue: visible, in flight, delayed.
pub async fn counts(ctx: &Ctx, dlq: &Dlq) -> Result<(u64, u64, u64), Error> {
    let attrs = queue_attributes(
        ctx,
        &format!("queue.{}", dlq.name),
        &dlq.url,
        &[QueueAttributeName::All],
    )
    .await?
    .unwrap_or_default();
    let n = |k: QueueAttributeName| {
        attrs
            .get(&k)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok((
        n(QueueAttributeName::ApproximateNumberOfMessages),
        n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        n(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
    ))
}

/// How long peeked messages stay hidden while the listing runs: released at once afterwards.
const PEEK_VISIBILITY_SECS: i32 = 30;

/// Up to `max` messages of a dead-letter queue, without consuming them: received with a short
/// visibility timeout, then made visible again at once (ChangeMessageVisibility 0). This adds
/// one to each message's ApproximateReceiveCount, which only matters on a queue with a redrive
/// policy of its own — a dead-letter queue has none — and hides them from other readers for
/// the few seconds the listing takes.
pub async fn peek(ctx: &Ctx, dlq: &Dlq, max: usize) -> Result<Vec<DlqMessage>, Error> {
    let now = crate::lock::now_ms();
    let mut seen = Vec::new();
    let mut handles = Vec::new();
    let mut result = Ok(());
    while seen.len() < max {
        let want = (max - seen.len()).min(10) as i32;
        let got = ctx
            .aws
            .sqs
            .receive_message()
            .queue_url(&dlq.url)
            .max_number_of_messages(want)
            .visibility_timeout(PEEK_VISIBILITY_SECS)
            // Long polling (1 s): a short poll samples only some SQS servers and can miss
            // messages of a small queue.
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await;
        let page = match got {
            Ok(p) => p,
            Err(e) => {
                result = Err(Error::aws(&dlq.physical, "ReceiveMessage", e));
                break;
            }
        };
        if page.messages().is_empty() {
            break;
        }
        for m in page.messages() {
            if let Some(h) = m.receipt_handle() {
                handles.push(h.to_string());
            }
            seen.push(describe(m, now));
        }
    }
    // Released whatever happened above: a failed listing must not hide messages.
    release(ctx, dlq, &handles).await?;
    result?;
    seen.sort_by(|a, b| a.sent_at.cmp(&b.sent_at));
    Ok(seen)
}

async fn release(ctx: &Ctx, dlq: &Dlq, handles: &[String]) -> Result<(), Error> {
    for (batch_no, chunk) in handles.chunks(10).enumerate() {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, h)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(format!("m{batch_no}-{i}"))
                    .receipt_handle(h)
                    .visibility_timeout(0)
                    .build()
                    .expect("id and receipt handle are set")
            })
            .collect();
        ctx.aws
            .sqs
            .change_message_visibility_batch()
            .queue_url(&dlq.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| Error::aws(&dlq.physical, "ChangeMessageVisibilityBatch", e))?;
    }
    Ok(())
}

/// How a redrive moved the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RedrivePath {
    /// SQS's own message move task (StartMessageMoveTask).
    SqsMoveTask,
    /// Received, sent to the source queue, deleted from the DLQ once sent.
    ReceiveSendDelete,
    /// Received, the function invoked asynchronously with the event, deleted once accepted.
    InvokeFunction,
}

#[derive(Debug, Clone, Serialize)]
pub struct Redrive {
    pub queue: String,
    pub path: RedrivePath,
    /// Where the messages went: a queue or function (logical name).
    pub to: String,
    pub moved: u64,
    /// Messages left in the dead-letter queue because they cannot go back (not an event).
    pub left: Vec<Left>,
    /// Why the native move task was not used, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Move up to `max` messages (all when `None`) back to where they came from.
pub async fn redrive(
    ctx: &Ctx,
    dlq: &Dlq,
    max: Option<u64>,
    progress: &Progress,
) -> Result<Redrive, Error> {
    let queue_sources: Vec<&str> = dlq
        .sources
        .iter()
        .filter_map(|s| match s {
            Source::Queue { queue } => Some(queue.as_str()),
            _ => None,
        })
        .collect();
    let functions: Vec<&str> = {
        let mut f: Vec<&str> = dlq.sources.iter().filter_map(Source::function).collect();
        f.sort_unstable();
        f.dedup();
        f
    };
    // EventBridge's dead-letter message is the event as matched, not as the target received it
    // (after `input_path` or a transformer), so only a function target is sent it back as is.
    if let Some(Source::RuleTarget { rule, destination }) = dlq.sources.iter().find(
        |s| matches!(s, Source::RuleTarget { destination, .. } if destination.function().is_none()),
    ) {
        return Err(Error::Other(format!(
            "{} holds events rule {rule} could not deliver to {destination}: orderflow redrives \
             undeliverable events to functions only; read them with `orderflow dlq list`",
            dlq.name
        )));
    }
    match (queue_sources.as_slice(), functions.as_slice()) {
        ([source], []) => redrive_to_queue(ctx, dlq, source, max, progress).await,
        ([], [function]) => redrive_to_function(ctx, dlq, function, max, progress).await,
        _ => Err(Error::Other(format!(
            "{} receives messages from several sources ({}): orderflow cannot tell where each \
             goes back to, so it does not redrive it",
            dlq.name,
            dlq.sources
                .iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

async fn queue_arn(ctx: &Ctx, name: &str, url: &str) -> Result<String, Error> {
    queue_attributes(
        ctx,
        &format!("queue.{name}"),
        url,
        &[QueueAttributeName::QueueArn],
    )
    .await?
    .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
    .ok_or_else(|| Error::Other(format!("queue {name} has no ARN (was it deleted?)")))
}

async fn redrive_to_queue(
    ctx: &Ctx,
    dlq: &Dlq,
    source: &str,
    max: Option<u64>,
    progress: &Progress,
) -> Result<Redrive, Error> {
    let source_physical = ctx.physical_name(source);
    let source_url = queue_url(ctx, &format!("queue.{source}"), &source_physical)
        .await?
        .ok_or_else(|| {
            Error::Other(format!(
                "source queue {source_physical} does not exist: run `orderflow up` first"
            ))
        })?;
    let note = if max.is_none() {
        match move_task(ctx, dlq, source, &source_url, progress).await? {
            MoveTask::Done(moved) => {
                return Ok(Redrive {
                    queue: dlq.name.clone(),
                    path: RedrivePath::SqsMoveTask,
                    to: source.to_string(),
                    moved,
                    left: Vec::new(),
                    note: None,
                })
            }
            MoveTask::Unsupported(why) => Some(why),
        }
    } else {
        Some("--max given: SQS's move task moves every message".into())
    };
    let (moved, left) = move_messages(ctx, dlq, max, progress, |batch| {
        let source_url = source_url.clone();
        async move {
            let entries = batch
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(format!("m{i}"))
                        .message_body(m.body().unwrap_or_default())
                        .set_message_attributes(m.message_attributes().cloned())
                        .build()
                        .expect("id and body are set")
                })
                .collect();
            let out = match ctx
                .aws
                .sqs
                .send_message_batch()
                .queue_url(&source_url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) => {
                    return Sent {
                        error: Some(Error::aws(format!("queue.{source}"), "SendMessageBatch", e)),
                        ..Sent::default()
                    }
                }
            };
            let index = |id: &str| id.strip_prefix('m')?.parse::<usize>().ok();
            Sent {
                ok: out
                    .successful()
                    .iter()
                    .filter_map(|s| index(s.id()))
                    .collect(),
                skipped: Vec::new(),
                error: out.failed().first().map(|f| {
                    Error::Other(format!(
                        "SendMessageBatch to {source} refused {} message(s): {} {}",
                        out.failed().len(),
                        f.code(),
                        f.message().unwrap_or_default()
                    ))
                }),
            }
        }
    })
    .await?;
    Ok(Redrive {
        queue: dlq.name.clone(),
        path: RedrivePath::ReceiveSendDelete,
        to: source.to_string(),
        moved,
        left,
        note,
    })
}

enum MoveTask {
    Done(u64),
    Unsupported(String),
}

/// How long a native move task may take before orderflow stops waiting (it goes on in SQS).
const MOVE_TASK_DEADLINE: Duration = Duration::from_secs(600);

/// SQS's StartMessageMoveTask, waited for. On an endpoint that does not know the operation (a
/// local emulator), says so instead; on AWS every error is an error.
async fn move_task(
    ctx: &Ctx,
    dlq: &Dlq,
    source: &str,
    source_url: &str,
    progress: &Progress,
) -> Result<MoveTask, Error> {
    use aws_sdk_sqs::error::ProvideErrorMetadata;
    let dlq_arn = queue_arn(ctx, &dlq.name, &dlq.url).await?;
    let source_arn = queue_arn(ctx, source, source_url).await?;
    let started = ctx
        .aws
        .sqs
        .start_message_move_task()
        .source_arn(&dlq_arn)
        .destination_arn(&source_arn)
        .send()
        .await;
    let handle = match started {
        Ok(out) => out.task_handle().unwrap_or_default().to_string(),
        Err(e) if ctx.aws.custom_endpoint && is_unknown_operation(e.code(), e.message()) => {
            return Ok(MoveTask::Unsupported(format!(
                "this endpoint has no SQS message move task ({}); moved message by message",
                e.message()
                    .or(e.code())
                    .unwrap_or("StartMessageMoveTask refused")
            )))
        }
        Err(e) => return Err(Error::aws(&dlq.physical, "StartMessageMoveTask", e)),
    };
    progress.note(format!(
        "SQS is moving the messages of {} back to {source} (task {handle})",
        dlq.physical
    ));
    let deadline = tokio::time::Instant::now() + MOVE_TASK_DEADLINE;
    loop {
        let tasks = ctx
            .aws
            .sqs
            .list_message_move_tasks()
            .source_arn(&dlq_arn)
            .send()
            .await
            .map_err(|e| Error::aws(&dlq.physical, "ListMessageMoveTasks", e))?;
        if let Some(t) = tasks
            .results()
            .iter()
            .find(|t| t.task_handle() == Some(handle.as_str()) || tasks.results().len() == 1)
        {
            match t.status() {
                Some("COMPLETED") => {
                    return Ok(MoveTask::Done(
                        t.approximate_number_of_messages_moved().max(0) as u64,
                    ))
                }
                Some(s @ ("FAILED" | "CANCELLED")) => {
                    return Err(Error::Other(format!(
                        "the SQS move task of {} ended {s}: {}",
                        dlq.physical,
                        t.failure_reason().unwrap_or("no reason given")
                    )))
                }
                _ => {}
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Timeout {
                what: format!("the SQS move task of {} (it goes on in SQS)", dlq.physical),
                secs: MOVE_TASK_DEADLINE.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// An error an endpoint gives for an operation it does not implement.
fn is_unknown_operation(code: Option<&str>, message: Option<&str>) -> bool {
    let code = code.unwrap_or_default();
    matches!(
        code,
        "InvalidAction" | "UnsupportedOperation" | "UnknownOperationException" | "NotImplemented"
    ) || message.is_some_and(|m| m.contains("Unknown action") || m.contains("not implemented"))
}

/// How long a received message stays hidden while it is being sent on.
const MOVE_VISIBILITY_SECS: i32 = 60;

/// What a `send` step did with one received batch (indexes into the batch).
#[derive(Default)]
struct Sent {
    /// Sent on: deleted from the dead-letter queue.
    ok: Vec<usize>,
    /// Not sendable at all (e.g. not an event): left in the queue, with why.
    skipped: Vec<(usize, String)>,
    /// Sending failed: the redrive stops; the rest of the batch is made visible again.
    error: Option<Error>,
}

/// A message a redrive left in the dead-letter queue, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Left {
    pub message_id: String,
    pub why: String,
}

/// Receive batches from the DLQ, hand each to `send`, delete exactly the messages it sent.
/// Stops at `max`, or when a receive comes back empty. Skipped messages stay hidden until the
/// end (so the loop does not receive them again) and are then released; on an error the
/// unsent rest of the batch is released at once — nothing stays hidden for long.
async fn move_messages<F, Fut>(
    ctx: &Ctx,
    dlq: &Dlq,
    max: Option<u64>,
    progress: &Progress,
    send: F,
) -> Result<(u64, Vec<Left>), Error>
where
    F: Fn(Vec<Message>) -> Fut,
    Fut: std::future::Future<Output = Sent>,
{
    let mut moved = 0u64;
    let mut left = Vec::new();
    let mut skipped_handles = Vec::new();
    let outcome = loop {
        let want = max.map_or(10, |m| m.saturating_sub(moved).min(10));
        if want == 0 {
            break Ok(());
        }
        // Long polling (1 s): a short poll samples only some SQS servers and can come back
        // empty while messages remain, which would end the redrive early.
        let page = match ctx
            .aws
            .sqs
            .receive_message()
            .queue_url(&dlq.url)
            .max_number_of_messages(want as i32)
            .visibility_timeout(MOVE_VISIBILITY_SECS)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await
        {
            Ok(p) => p,
            Err(e) => break Err(Error::aws(&dlq.physical, "ReceiveMessage", e)),
        };
        let batch: Vec<Message> = page.messages().to_vec();
        if batch.is_empty() {
            break Ok(());
        }
        let sent = send(batch.clone()).await;
        let entries: Vec<DeleteMessageBatchRequestEntry> = sent
            .ok
            .iter()
            .filter_map(|i| batch.get(*i))
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(format!("d{i}"))
                    .receipt_handle(m.receipt_handle()?)
                    .build()
                    .ok()
            })
            .collect();
        if !entries.is_empty() {
            // A failure here leaves sent messages in the DLQ: they reappear and a second
            // redrive sends them again — a duplicate the idempotent consumers absorb, no loss.
            match ctx
                .aws
                .sqs
                .delete_message_batch()
                .queue_url(&dlq.url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(d) => moved += d.successful().len() as u64,
                Err(e) => break Err(Error::aws(&dlq.physical, "DeleteMessageBatch", e)),
            }
        }
        for (i, why) in &sent.skipped {
            if let Some(m) = batch.get(*i) {
                let id = m.message_id().unwrap_or_default().to_string();
                // Received again when the run outlasts its visibility timeout: listed once.
                if !left.iter().any(|l: &Left| l.message_id == id) {
                    left.push(Left {
                        message_id: id,
                        why: why.clone(),
                    });
                }
                skipped_handles.extend(m.receipt_handle().map(str::to_string));
            }
        }
        let unsent: Vec<String> = batch
            .iter()
            .enumerate()
            .filter(|(i, _)| !sent.ok.contains(i) && !sent.skipped.iter().any(|(s, _)| s == i))
            .filter_map(|(_, m)| m.receipt_handle().map(str::to_string))
            .collect();
        if !unsent.is_empty() || sent.error.is_some() {
            let why = sent.error.unwrap_or_else(|| {
                Error::Other(format!("{} message(s) could not be sent on", unsent.len()))
            });
            if let Err(e) = release(ctx, dlq, &unsent).await {
                progress.note(format!(
                    "could not make the unsent messages visible again: {e}"
                ));
            }
            break Err(Error::Other(format!(
                "{why}; the unsent messages stay in {} (moved so far: {moved})",
                dlq.physical
            )));
        }
        progress.note(format!("moved {moved} message(s) out of {}", dlq.physical));
    };
    // Skipped messages were kept hidden only so this run would not receive them again.
    release(ctx, dlq, &skipped_handles).await?;
    outcome?;
    Ok((moved, left))
}

async fn redrive_to_function(
    ctx: &Ctx,
    dlq: &Dlq,
    function: &str,
    max: Option<u64>,
    progress: &Progress,
) -> Result<Redrive, Error> {
    let physical = ctx.physical_name(function);
    let (moved, left) = move_messages(ctx, dlq, max, progress, |batch| {
        let physical = physical.clone();
        async move {
            let mut sent = Sent::default();
            for (i, m) in batch.iter().enumerate() {
                let body = m.body().unwrap_or_default();
                if serde_json::from_str::<serde_json::Value>(body).is_err() {
                    // Not an event: invoking the function with it would only fail again.
                    sent.skipped.push((
                        i,
                        format!("not JSON, so not an event {function} can be invoked with"),
                    ));
                    continue;
                }
                let invoked = ctx
                    .aws
                    .lambda
                    .invoke()
                    .function_name(&physical)
                    .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
                    .payload(aws_smithy_types::Blob::new(body.as_bytes()))
                    .send()
                    .await;
                match invoked {
                    Ok(_) => sent.ok.push(i),
                    Err(e) => {
                        // Those invoked so far are still deleted: no duplicate on a rerun.
                        sent.error = Some(Error::aws(format!("function.{function}"), "Invoke", e));
                        break;
                    }
                }
            }
            sent
        }
    })
    .await?;
    Ok(Redrive {
        queue: dlq.name.clone(),
        path: RedrivePath::InvokeFunction,
        to: function.to_string(),
        moved,
        left,
        note: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_dead_letter_queue_knows_its_sources() {
        let spec = crate::spec::parse("pipeline.yaml", include_str!("../../pipeline.yaml"))
            .expect("the default pipeline is valid");
        let s = sources(&spec);
        assert_eq!(
            s["orders-dlq"],
            [Source::Queue {
                queue: "orders".into()
            }]
        );
        // validate-dlq takes both validate-order's failed async invocations and the events
        // EventBridge could not deliver to it: one function to go back to.
        assert_eq!(
            s["validate-dlq"],
            [
                Source::Function {
                    function: "validate-order".into()
                },
                Source::RuleTarget {
                    rule: "order-placed".into(),
                    destination: Destination::Function("validate-order".into())
                }
            ]
        );
        // import-dlq likewise: import-orders' failed invocations and undeliverable file events.
        assert_eq!(
            s["import-dlq"],
            [
                Source::Function {
                    function: "import-orders".into()
                },
                Source::RuleTarget {
                    rule: "order-files".into(),
                    destination: Destination::Function("import-orders".into())
                }
            ]
        );
        assert_eq!(s.len(), 4);
    }

    #[test]
    fn the_order_id_is_found_in_orders_and_in_events() {
        assert_eq!(
            order_id_of(r#"{"order_id":"o-1","items":[]}"#).as_deref(),
            Some("o-1")
        );
        assert_eq!(
            order_id_of(r#"{"detail-type":"OrderPlaced","detail":{"order_id":"o-2"}}"#).as_deref(),
            Some("o-2")
        );
        assert_eq!(order_id_of("this is not an order"), None);
    }

    #[test]
    fn reasons_come_from_eventbridge_and_lambda_attributes() {
        let attrs = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            reason_of(&attrs(&[
                ("ERROR_CODE", "SDK_CLIENT_ERROR"),
                ("ERROR_MESSAGE", "Lambda returned 429"),
                (
                    "RULE_ARN",
                    "arn:aws:events:us-east-1:1:rule/shop-orders/shop-order-placed"
                ),
            ]))
            .as_deref(),
            Some("SDK_CLIENT_ERROR: Lambda returned 429 (rule shop-order-placed)")
        );
        assert_eq!(
            reason_of(&attrs(&[
                ("ErrorCode", "200"),
                ("ErrorMessage", "table not found"),
                ("RequestID", "r-1")
            ]))
            .as_deref(),
            Some("200: table not found")
        );
        assert_eq!(reason_of(&attrs(&[("RequestID", "r-1")])), None);
        assert_eq!(
            reason_of(&attrs(&[
                ("ERROR_CODE", "RESOURCE_NOT_FOUND"),
                (
                    "TARGET_ARN",
                    "arn:aws:lambda:us-east-1:1:function:shop-validate-order"
                ),
                ("RETRY_ATTEMPTS", "0"),
            ]))
            .as_deref(),
            Some("RESOURCE_NOT_FOUND (target shop-validate-order, 0 retries)")
        );
        // SQS's own redrive says where a message came from, not why.
        assert_eq!(reason_of(&attrs(&[])), None);
    }

    #[test]
    fn only_an_unknown_operation_counts_as_unsupported() {
        assert!(is_unknown_operation(Some("InvalidAction"), None));
        assert!(is_unknown_operation(
            None,
            Some("Unknown action StartMessageMoveTask")
        ));
        assert!(!is_unknown_operation(
            Some("AccessDenied"),
            Some("not allowed")
        ));
    }
}
