//! The stack lock: at most one `up` or `down` changes a stack at a time, across machines.
//!
//! One item per stack in the DynamoDB table [`TABLE`] (created on first use, shared by every
//! stack of the account and region). Acquiring is a single conditional PutItem — "no item, or
//! its lease has expired" — and DynamoDB evaluates a condition against the item's latest
//! version atomically, so two runners can never both succeed. The lock is a lease: the holder
//! renews it every third of the lease (a PutItem conditioned on its own token) while it works,
//! so a crashed holder (kill -9, lost machine) blocks others for at most one lease. Release is a
//! DeleteItem conditioned on the token, so a run never removes a lock someone else now holds.
//! If a renewal finds the lock gone or taken over (`orderflow unlock`, or the lease ran out
//! while AWS was unreachable), the run stops instead of working on unprotected.
//!
//! Expiry compares clocks of different machines. A holder whose renewals fail stops working a
//! sixth of the lease before its lease runs out by its own clock, so clocks that agree to
//! within that margin (20 s by default; NTP keeps them within milliseconds) never let two runs
//! work at once.

mod holder;
mod last_run;

use holder::span;
pub use holder::{now_ms, utc, Holder};
pub use last_run::LastRun;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ReturnValue,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TableStatus, Tag,
};
use miette::Diagnostic;
use serde::Serialize;

use crate::error::Error;
use crate::progress::Progress;
use crate::resources::Ctx;

/// The lock table. A dot cannot appear in a stack's physical names (`<stack>-<logical>`, both
/// `[a-z0-9-]`), so it never collides with, or is discovered as, a stack's own table.
pub const TABLE: &str = "orderflow.locks";
/// Default of `--lock-timeout`: long enough to queue behind a typical full `up` on real AWS.
pub const DEFAULT_TIMEOUT_SECS: u64 = 600;
/// Exit code of `up`/`down` when another run holds the stack's lock past `--lock-timeout`.
pub const EXIT_LOCKED: u8 = 5;
/// How long a holder that stopped renewing blocks others (`ORDERFLOW_LOCK_LEASE` seconds).
/// Two minutes: a crashed CI job delays the next run by at most that (well inside the default
/// `--lock-timeout`, so the next run simply waits it out), while a holder rides out a minute
/// and more of failing renewals (throttling, a network blip, a stalled machine) before it must
/// stop mid-apply.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(120);
/// Waiting: how often the lock is tried again, and how often "still waiting" is printed.
const POLL: Duration = Duration::from_secs(2);
const NOTE_EVERY: Duration = Duration::from_secs(15);
/// A new table is usually ACTIVE within seconds.
const TABLE_ACTIVE_DEADLINE: Duration = Duration::from_secs(120);
/// Release after a signal must not hang the exit.
const RELEASE_ON_SIGNAL_DEADLINE: Duration = Duration::from_secs(10);
/// Release at the end of the work: longer, the SDK's retries of a throttled call get time.
const RELEASE_DEADLINE: Duration = Duration::from_secs(30);

const NOT_FOUND: &str = "ResourceNotFoundException";

/// The lease, from `ORDERFLOW_LOCK_LEASE` (seconds, 3..=3600) or [`DEFAULT_LEASE`].
pub fn lease() -> Result<Duration, Error> {
    match std::env::var("ORDERFLOW_LOCK_LEASE") {
        Ok(v) if !v.trim().is_empty() => match v.trim().parse::<u64>() {
            Ok(s) if (3..=3600).contains(&s) => Ok(Duration::from_secs(s)),
            _ => Err(Error::Other(format!(
                "ORDERFLOW_LOCK_LEASE must be a number of seconds from 3 to 3600, not `{v}`"
            ))),
        },
        _ => Ok(DEFAULT_LEASE),
    }
}

/// Another run holds the lock and `--lock-timeout` ran out (or was 0).
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("stack {stack} is locked by {}: {waited}", holder.describe(*at))]
#[diagnostic(
    code(orderflow::locked),
    help("another `up` or `down` is changing this stack: wait for it to finish (or pass a longer --lock-timeout). If that run crashed, the lock frees itself when its lease expires; `orderflow unlock` breaks it now")
)]
pub struct Locked {
    pub stack: String,
    pub holder: Holder,
    /// When the holder was last seen (Unix ms).
    pub at: u64,
    /// "not waiting (--lock-timeout 0)" or "gave up after waiting 600 s (--lock-timeout)".
    pub waited: String,
}

/// What `up`/`down --output json` report about the lock.
#[derive(Debug, Clone, Serialize)]
pub struct LockReport {
    pub table: String,
    #[serde(flatten)]
    pub holder: Holder,
    /// How long this run waited for another run's lock.
    pub waited_seconds: f64,
    /// The expired lock of a run that stopped renewing (crashed), taken over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub took_over: Option<Holder>,
    pub renewals: usize,
    /// False when the release failed (the lease then expires by itself) or another run holds
    /// the lock now.
    pub released: bool,
    #[serde(serialize_with = "ser_opt_ms")]
    pub released_at: Option<u64>,
    /// Calls the lock made (acquire, waiting, renewals, release; table creation on first use).
    pub api_calls: usize,
    /// Of which change state (PutItem, DeleteItem, CreateTable).
    #[serde(skip)]
    pub writes: usize,
}

fn ser_opt_ms<S: serde::Serializer>(ms: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => s.serialize_str(&utc(*ms)),
        None => s.serialize_none(),
    }
}

/// Counts the lock's own calls, so `api_calls.writes` can keep meaning "writes to the stack".
#[derive(Debug, Default)]
struct Calls {
    reads: AtomicUsize,
    writes: AtomicUsize,
}

impl Calls {
    fn read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }
    fn write(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }
}

/// `name=value, …` of an item, sorted by name, for messages about items orderflow did not write.
fn describe_item(item: &HashMap<String, AttributeValue>) -> String {
    let mut pairs: Vec<String> = item
        .iter()
        .map(|(k, v)| match v {
            AttributeValue::S(s) => format!("{k}={s:?}"),
            AttributeValue::N(n) => format!("{k}={n}"),
            AttributeValue::Bool(b) => format!("{k}={b}"),
            other => format!("{k}={other:?}"),
        })
        .collect();
    pairs.sort();
    pairs.join(", ")
}

/// An AWS error of a lock call. A permission error says where the lock lives and where the
/// actions it needs are listed, since the deployer's policy may predate the lock.
fn aws_error<E>(resource: impl std::fmt::Display, action: &str, err: E) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let mut err = Error::aws(resource, action, err);
    if let Error::Aws { code, message, .. } = &mut err {
        if matches!(
            code.as_deref(),
            Some("AccessDeniedException" | "AccessDenied")
        ) {
            message.push_str(&format!(
                " (orderflow keeps each stack's lock in the DynamoDB table {TABLE}; the README's \
                 \"Stack lock\" section lists the IAM actions it needs)"
            ));
        }
    }
    err
}

/// The DynamoDB side of the lock for one stack.
#[derive(Debug, Clone)]
pub struct LockTable {
    client: aws_sdk_dynamodb::Client,
    stack: String,
    calls: Arc<Calls>,
}

/// The result of one conditional write on the lock item.
enum Attempt {
    /// Written; for a PutItem, the item it replaced (an expired lease taken over), if any.
    Done(Option<Holder>),
    /// The condition failed; the item as it is (None: there is no item).
    Refused(Option<Holder>),
}

impl LockTable {
    pub fn new(ctx: &Ctx) -> LockTable {
        LockTable {
            client: ctx.aws.dynamodb.clone(),
            stack: ctx.spec.stack.clone(),
            calls: Arc::default(),
        }
    }

    fn key(&self) -> HashMap<String, AttributeValue> {
        HashMap::from([("stack".to_string(), AttributeValue::S(self.stack.clone()))])
    }

    fn resource(&self) -> String {
        format!("lock {TABLE}[{}]", self.stack)
    }

    /// The current lock item, read consistently. `None`: not locked (or no table yet); an item
    /// orderflow did not write counts as not locked here (see [`acquire`] for the difference).
    pub async fn read(&self) -> Result<Option<Holder>, Error> {
        Ok(self.read_item().await?.as_ref().and_then(Holder::from_item))
    }

    /// The stack's item when it is not a lock orderflow wrote (hand-written, or by a
    /// version with another layout), described as `name=value` pairs; `None` otherwise.
    pub async fn foreign(&self) -> Result<Option<String>, Error> {
        Ok(self
            .read_item()
            .await?
            .filter(|item| Holder::from_item(item).is_none())
            .map(|item| describe_item(&item)))
    }

    /// `orderflow unlock` on an item orderflow did not write: delete it, unless a real lock
    /// (which always has a fresh random token) has replaced it since it was shown. False: it
    /// changed or went meanwhile.
    pub async fn delete_foreign(&self) -> Result<bool, Error> {
        let Some(item) = self.read_item().await? else {
            return Ok(false);
        };
        if Holder::from_item(&item).is_some() {
            return Ok(false);
        }
        let request = self
            .client
            .delete_item()
            .table_name(TABLE)
            .set_key(Some(self.key()))
            .expression_attribute_names("#t", "token");
        let request = match item.get("token") {
            Some(token) => request
                .condition_expression("#t = :t")
                .expression_attribute_values(":t", token.clone()),
            None => request.condition_expression("attribute_not_exists(#t)"),
        };
        self.calls.write();
        match request.send().await {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(aws_error(self.resource(), "DeleteItem", e)),
        }
    }

    async fn read_item(&self) -> Result<Option<HashMap<String, AttributeValue>>, Error> {
        self.calls.read();
        match self
            .client
            .get_item()
            .table_name(TABLE)
            .set_key(Some(self.key()))
            .consistent_read(true)
            .send()
            .await
        {
            Ok(out) => Ok(out.item),
            Err(e) if e.code() == Some(NOT_FOUND) => Ok(None),
            Err(e) => Err(aws_error(self.resource(), "GetItem", e)),
        }
    }

    /// PutItem `item` if `condition` holds. `create_table`: on a missing table, create it and retry.
    async fn put(
        &self,
        item: &Holder,
        condition: &str,
        names: HashMap<String, String>,
        values: HashMap<String, AttributeValue>,
        create_table: bool,
        progress: &Progress,
    ) -> Result<Attempt, Error> {
        let mut created = false;
        loop {
            self.calls.write();
            let out = self
                .client
                .put_item()
                .table_name(TABLE)
                .set_item(Some(item.item(&self.stack)))
                .condition_expression(condition)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .return_values(ReturnValue::AllOld)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            match out {
                Ok(out) => {
                    let previous = out.attributes().and_then(Holder::from_item);
                    // A retried write (response lost) replaces the item its first attempt wrote.
                    return Ok(Attempt::Done(previous.filter(|p| p.token != item.token)));
                }
                Err(SdkError::ServiceError(e))
                    if e.err().is_conditional_check_failed_exception() =>
                {
                    let current = match e.err() {
                        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => {
                            c.item().and_then(Holder::from_item)
                        }
                        _ => None,
                    };
                    return Ok(Attempt::Refused(current));
                }
                // Once: a table that is ACTIVE yet unknown to PutItem is an error, not a loop.
                Err(e) if e.code() == Some(NOT_FOUND) && create_table && !created => {
                    self.create_table(progress).await?;
                    created = true;
                }
                // A renewal finding no table: it was deleted, and with it our lock. Waiting out
                // the lease would let a run that recreates it work alongside us.
                Err(e) if e.code() == Some(NOT_FOUND) && !create_table => {
                    return Ok(Attempt::Refused(None))
                }
                Err(e) => return Err(aws_error(self.resource(), "PutItem", e)),
            }
        }
    }

    /// Create the lock table (on-demand, tagged) and wait until it is ACTIVE. A concurrent
    /// creation by another runner (`ResourceInUseException`) is waited for the same way.
    async fn create_table(&self, progress: &Progress) -> Result<(), Error> {
        progress.note(format!(
            "creating the stack lock table {TABLE} (once per account and region, shared by all stacks)"
        ));
        let resource = format!("lock table {TABLE}");
        self.calls.write();
        let created = self
            .client
            .create_table()
            .table_name(TABLE)
            .billing_mode(BillingMode::PayPerRequest)
            // Deleting it while runs hold locks would let two runs hold one: make that a
            // deliberate two-step act.
            .deletion_protection_enabled(true)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("stack")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(|e| Error::Other(e.to_string()))?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("stack")
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(|e| Error::Other(e.to_string()))?,
            )
            .tags(
                Tag::builder()
                    .key("orderflow:purpose")
                    .value("stack-locks")
                    .build()
                    .map_err(|e| Error::Other(e.to_string()))?,
            )
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e) if e.code() == Some("ResourceInUseException") => {}
            Err(e) => return Err(aws_error(&resource, "CreateTable", e)),
        }
        let deadline = Instant::now() + TABLE_ACTIVE_DEADLINE;
        loop {
            self.calls.read();
            let status = self
                .client
                .describe_table()
                .table_name(TABLE)
                .send()
                .await
                .map_err(|e| aws_error(&resource, "DescribeTable", e))?
                .table
                .and_then(|t| t.table_status);
            if status == Some(TableStatus::Active) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("{resource} to become ACTIVE"),
                    secs: TABLE_ACTIVE_DEADLINE.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Try once: take the lock if it is free or its lease expired.
    async fn try_acquire(&self, me: &Holder, progress: &Progress) -> Result<Attempt, Error> {
        let values = HashMap::from([(":now".to_string(), AttributeValue::N(now_ms().to_string()))]);
        let names = HashMap::from([
            ("#s".to_string(), "stack".to_string()),
            ("#e".to_string(), "expires_at".to_string()),
        ]);
        self.put(
            me,
            "attribute_not_exists(#s) OR #e < :now",
            names,
            values,
            true,
            progress,
        )
        .await
    }

    /// Extend our lease (condition: the item is still ours).
    async fn renew(&self, me: &Holder) -> Result<Attempt, Error> {
        let values = HashMap::from([(":t".to_string(), AttributeValue::S(me.token.clone()))]);
        let names = HashMap::from([("#t".to_string(), "token".to_string())]);
        self.put(me, "#t = :t", names, values, false, &Progress::new(true))
            .await
    }

    /// Delete the item if it holds `token`. Refused(None): it was already gone.
    async fn delete(&self, token: &str) -> Result<Attempt, Error> {
        self.calls.write();
        let out = self
            .client
            .delete_item()
            .table_name(TABLE)
            .set_key(Some(self.key()))
            .condition_expression("#t = :t")
            .expression_attribute_names("#t", "token")
            .expression_attribute_values(":t", AttributeValue::S(token.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match out {
            Ok(_) => Ok(Attempt::Done(None)),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                let current = match e.err() {
                    aws_sdk_dynamodb::operation::delete_item::DeleteItemError::ConditionalCheckFailedException(c) => {
                        c.item().and_then(Holder::from_item)
                    }
                    _ => None,
                };
                Ok(Attempt::Refused(current))
            }
            Err(e) if e.code() == Some(NOT_FOUND) => Ok(Attempt::Refused(None)),
            Err(e) => Err(aws_error(self.resource(), "DeleteItem", e)),
        }
    }

    /// `orderflow unlock`: delete the lock if it is still the one the user saw (`token`).
    /// `Refused(Some(h))`: someone else holds it now; `Refused(None)`: it was already gone.
    pub async fn break_lock(&self, token: &str) -> Result<Option<Option<Holder>>, Error> {
        Ok(match self.delete(token).await? {
            Attempt::Done(_) => None,
            Attempt::Refused(h) => Some(h),
        })
    }
}

/// A held stack lock. Use [`StackLock::hold`] to run the work under it (heartbeat, release).
pub struct StackLock {
    table: LockTable,
    me: Holder,
    lease: Duration,
    waited: Duration,
    took_over: Option<Holder>,
}

/// How [`acquire`] ended when it did not fail.
pub enum Acquired {
    Held(Box<StackLock>),
    Busy(Box<Locked>),
}

/// Take the stack's lock for `command`, waiting up to `timeout` for another run to finish.
pub async fn acquire(
    ctx: &Ctx,
    command: &str,
    timeout: Duration,
    progress: &Progress,
) -> Result<Acquired, Error> {
    let lease = lease()?;
    let table = LockTable::new(ctx);
    let started = Instant::now();
    // A huge --lock-timeout means "wait as long as it takes", not an overflow.
    let deadline = started
        .checked_add(timeout)
        .unwrap_or_else(|| started + Duration::from_secs(100 * 365 * 24 * 3600));
    let mut announced: Option<String> = None;
    let mut last_note = started;
    // Spread waiters' retries so they do not hit the item in lockstep.
    let jitter = Duration::from_millis(u64::from(std::process::id() % 500));
    loop {
        let me = Holder::me(command, lease);
        let holder = match table.try_acquire(&me, progress).await? {
            Attempt::Done(previous) => {
                // The write replaced an item: the lease of a holder that stopped renewing.
                if let Some(dead) = &previous {
                    progress.note(format!(
                        "took over the expired lock on stack {}: its holder stopped renewing it ({})",
                        table.stack,
                        dead.describe(now_ms())
                    ));
                }
                return Ok(Acquired::Held(Box::new(StackLock {
                    table,
                    me,
                    lease,
                    waited: started.elapsed(),
                    took_over: previous,
                })));
            }
            // Our own write, applied before its response was lost and the SDK retried it.
            Attempt::Refused(Some(holder)) if holder.token == me.token => {
                return Ok(Acquired::Held(Box::new(StackLock {
                    table,
                    me: holder,
                    lease,
                    waited: started.elapsed(),
                    took_over: None,
                })));
            }
            Attempt::Refused(Some(holder)) => holder,
            // The refusal did not say by whom: released since (retry at once), or an item
            // orderflow did not write (say so rather than wait on it forever).
            Attempt::Refused(None) => match table.read_item().await? {
                None => continue,
                Some(item) => match Holder::from_item(&item) {
                    Some(holder) => holder,
                    None => {
                        return Err(Error::Other(format!(
                            "the item of stack {} in the lock table {TABLE} is not a lock \
                             orderflow wrote ({}); if nothing else uses it, `orderflow unlock` \
                             deletes it",
                            table.stack,
                            describe_item(&item)
                        )))
                    }
                },
            },
        };
        let now = now_ms();
        if timeout.is_zero() || Instant::now() >= deadline {
            let waited = if timeout.is_zero() {
                "not waiting (--lock-timeout 0)".to_string()
            } else {
                format!(
                    "gave up after waiting {} (--lock-timeout {})",
                    span(started.elapsed().as_millis() as u64),
                    timeout.as_secs()
                )
            };
            return Ok(Acquired::Busy(Box::new(Locked {
                stack: table.stack.clone(),
                holder,
                at: now,
                waited,
            })));
        }
        if announced.as_deref() != Some(holder.token.as_str()) {
            progress.note(format!(
                "stack {} is locked by {}; waiting up to {} s for it (--lock-timeout)",
                table.stack,
                holder.describe(now),
                timeout.as_secs()
            ));
            announced = Some(holder.token.clone());
            last_note = Instant::now();
        } else if last_note.elapsed() >= NOTE_EVERY {
            progress.note(format!(
                "still waiting for the lock on stack {} ({} so far; held by {})",
                table.stack,
                span(started.elapsed().as_millis() as u64),
                holder.describe(now)
            ));
            last_note = Instant::now();
        }
        // Try again at the next poll, or just after the holder's lease runs out if sooner, never
        // past the deadline (then once more, to report the holder as of then).
        let until_expiry = Duration::from_millis(holder.expires_at.saturating_sub(now) + 100);
        let nap = (POLL + jitter)
            .min(until_expiry)
            .min(deadline.saturating_duration_since(Instant::now()));
        tokio::time::sleep(nap).await;
    }
}

impl StackLock {
    pub fn holder(&self) -> &Holder {
        &self.me
    }

    /// Run `work` while holding the lock: renew the lease in the background, stop the work if
    /// the lock is lost, release it on Ctrl-C/SIGTERM (then exit 130), and release it when
    /// the work ends, successfully or not.
    pub async fn hold<T>(
        self,
        work: impl Future<Output = Result<T, Error>>,
        progress: &Progress,
    ) -> (Result<T, Error>, LockReport) {
        let current = Arc::new(Mutex::new(self.me.clone()));
        let renewals = Arc::new(AtomicUsize::new(0));
        let (lost_tx, mut lost_rx) = tokio::sync::watch::channel::<Option<String>>(None);
        let heartbeat = tokio::spawn(heartbeat(
            self.table.clone(),
            current.clone(),
            self.lease,
            renewals.clone(),
            lost_tx,
        ));
        let signals = tokio::spawn(release_on_signal(self.table.clone(), self.me.clone()));

        let result = tokio::select! {
            r = work => r,
            why = lost_rx.wait_for(Option::is_some) => {
                let why = why.map(|w| w.clone().unwrap_or_default()).unwrap_or_default();
                Err(Error::Other(format!(
                    "stopped: lost the lock on stack {} while working ({why}); another run may \
                     now be changing it. Run `orderflow plan` once it is done to see the state",
                    self.table.stack
                )))
            }
        };
        heartbeat.abort();
        signals.abort();
        let _ = heartbeat.await;

        let me = current.lock().expect("lock state poisoned").clone();
        if result.is_ok() {
            // For `status` ("last deploy"); the work is done either way, so a failure only warns.
            let record = tokio::time::timeout(RELEASE_DEADLINE, self.table.record_run(&me));
            match record.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("warning: could not record this run for `status`: {e}"),
                Err(_) => eprintln!(
                    "warning: could not record this run for `status`: no answer within {} s",
                    RELEASE_DEADLINE.as_secs()
                ),
            }
        }
        // Bounded: an unreachable AWS must not hold up the exit, the lease ends by itself.
        let release = tokio::time::timeout(RELEASE_DEADLINE, self.table.delete(&me.token));
        let release = release.await.unwrap_or_else(|_| {
            Err(Error::Timeout {
                what: "the lock's release (DeleteItem)".into(),
                secs: RELEASE_DEADLINE.as_secs(),
            })
        });
        let released = match release {
            Ok(Attempt::Done(_)) => true,
            Ok(Attempt::Refused(Some(other))) => {
                progress.note(format!(
                    "not releasing the lock on stack {}: it is now held by {}",
                    self.table.stack,
                    other.describe(now_ms())
                ));
                false
            }
            // Gone already: a retried DeleteItem whose first attempt was applied, or a lock
            // broken with `orderflow unlock` since the last renewal. Either way none is left.
            Ok(Attempt::Refused(None)) => true,
            Err(e) => {
                // Not fatal to the work's result: the lease ends by itself.
                eprintln!(
                    "warning: could not release the lock on stack {}: {e}; it expires at {} \
                     (or run `orderflow unlock`)",
                    self.table.stack,
                    utc(me.expires_at)
                );
                false
            }
        };
        let report = LockReport {
            table: TABLE.to_string(),
            holder: me,
            waited_seconds: self.waited.as_secs_f64(),
            took_over: self.took_over,
            renewals: renewals.load(Ordering::Relaxed),
            released,
            released_at: released.then(now_ms),
            api_calls: self.table.calls.reads.load(Ordering::Relaxed)
                + self.table.calls.writes.load(Ordering::Relaxed),
            writes: self.table.calls.writes.load(Ordering::Relaxed),
        };
        (result, report)
    }
}

/// Renew every third of the lease. A refused renewal (lock broken or taken over) reports the
/// loss at once. A failed one (AWS unreachable, throttled, a call that hangs) is retried every
/// [`renew_retry`] until a sixth of the lease before it runs out by our clock; then the loss is
/// reported, so the run stops before another run may take the lock over (the sixth is the
/// margin for clock skew and for requests still in flight).
async fn heartbeat(
    table: LockTable,
    current: Arc<Mutex<Holder>>,
    lease: Duration,
    renewals: Arc<AtomicUsize>,
    lost: tokio::sync::watch::Sender<Option<String>>,
) {
    let every = lease / 3;
    let margin = lease.as_millis() as u64 / 6;
    let mut next = every;
    loop {
        tokio::time::sleep(next).await;
        let expires = current.lock().expect("lock state poisoned").expires_at;
        let stop_at = expires.saturating_sub(margin);
        let mut renewed = current.lock().expect("lock state poisoned").clone();
        renewed.expires_at = now_ms() + lease.as_millis() as u64;
        // A renewal that hangs must not outlive the lease it is meant to extend.
        let budget = Duration::from_millis(stop_at.saturating_sub(now_ms()));
        let failure = match tokio::time::timeout(budget, table.renew(&renewed)).await {
            Ok(Ok(Attempt::Done(_))) => {
                renewals.fetch_add(1, Ordering::Relaxed);
                *current.lock().expect("lock state poisoned") = renewed;
                next = every;
                continue;
            }
            Ok(Ok(Attempt::Refused(other))) => {
                let why = match other {
                    Some(h) => format!("it is now held by {}", h.describe(now_ms())),
                    None => {
                        "it was broken with `orderflow unlock`, or its table deleted".to_string()
                    }
                };
                let _ = lost.send(Some(why));
                return;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {}", span(budget.as_millis() as u64)),
        };
        let now = now_ms();
        if now >= stop_at {
            let _ = lost.send(Some(format!(
                "its lease runs out at {} and renewing it failed: {failure}",
                utc(expires)
            )));
            return;
        }
        eprintln!(
            "warning: renewing the lock on stack {} failed (retrying; the lease runs out at {}): {failure}",
            table.stack,
            utc(expires)
        );
        next = renew_retry(lease).min(Duration::from_millis(stop_at - now));
    }
}

/// After a failed renewal, try again this soon (several tries fit before the run must stop).
fn renew_retry(lease: Duration) -> Duration {
    (lease / 12).max(Duration::from_millis(250))
}

/// Ctrl-C or SIGTERM (CI cancelling a job): release the lock, then exit 130 or 143 (128 +
/// the signal, the shell convention). A separate task, so it works even while the command
/// waits at the confirmation prompt.
async fn release_on_signal(table: LockTable, me: Holder) {
    let (name, code) = wait_for_signal().await;
    eprintln!(
        "interrupted ({name}): releasing the lock on stack {} and stopping; work in flight is \
         abandoned — run the command again to finish",
        table.stack
    );
    match tokio::time::timeout(RELEASE_ON_SIGNAL_DEADLINE, table.delete(&me.token)).await {
        Ok(Ok(_)) => {}
        _ => eprintln!(
            "could not release the lock; it expires at {} (or run `orderflow unlock`)",
            utc(me.expires_at)
        ),
    }
    std::process::exit(code);
}

async fn wait_for_signal() -> (&'static str, i32) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => ("SIGINT", 130),
                _ = term.recv() => ("SIGTERM", 143),
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    ("SIGINT", 130)
}

#[cfg(test)]
mod tests {
    use super::*;
    use holder::tests::holder;

    /// Renewals that cannot reach AWS: the heartbeat retries, then reports the lock lost
    /// (rather than let the run work on past its lease) and names the expiry.
    #[tokio::test]
    async fn failing_renewals_report_the_lock_lost() {
        use aws_sdk_dynamodb::config::{retry::RetryConfig, BehaviorVersion, Credentials, Region};
        // Nothing listens on port 1: every call fails to connect, at once (no SDK retries, so
        // the heartbeat's own retries are what is counted).
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .retry_config(RetryConfig::disabled())
            .region(Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:1")
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .build();
        let table = LockTable {
            client: aws_sdk_dynamodb::Client::from_conf(conf),
            stack: "shop".into(),
            calls: Arc::default(),
        };
        let lease = Duration::from_secs(3);
        let now = now_ms();
        let me = holder(now, now + 3000);
        let expiry = utc(me.expires_at);
        let (tx, mut rx) = tokio::sync::watch::channel(None);
        let renewals = Arc::new(AtomicUsize::new(0));
        let beat = tokio::spawn(heartbeat(
            table.clone(),
            Arc::new(Mutex::new(me)),
            lease,
            renewals.clone(),
            tx,
        ));
        let why = tokio::time::timeout(Duration::from_secs(60), rx.wait_for(Option::is_some))
            .await
            .expect("the heartbeat never reported the loss")
            .unwrap()
            .clone()
            .unwrap();
        assert!(
            why.starts_with(&format!(
                "its lease runs out at {expiry} and renewing it failed"
            )),
            "{why}"
        );
        beat.await.unwrap();
        assert_eq!(renewals.load(Ordering::Relaxed), 0);
        // It retried before giving up: more than one PutItem.
        assert!(table.calls.writes.load(Ordering::Relaxed) > 1);
    }
}
