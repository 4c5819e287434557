//! What notify-customer does with one `OrderStatusChanged` event, independent of AWS: the
//! orders table goes through [`OrderLedger`], SES through [`Mailer`] and SNS through
//! [`Notifier`], so every path is unit-tested with in-memory fakes.
//!
//! # Once per (order, status), as far as the customer can tell
//!
//! Events arrive at least once (a function that failed after publishing publishes again;
//! EventBridge and Lambda retry), and a duplicate may arrive while the first is still being
//! handled. SES and SNS take no idempotency key, so the dedupe lives on the order's own item,
//! with conditional writes (see [`crate::ledger`] for the attributes):
//!
//! 1. **read** the order (strongly consistent) and its `notifications.<STATUS>` entry;
//! 2. **claim**: create the entry as `CLAIMED` with a lease (2 × the function's timeout),
//!    on condition that it does not exist — or take over a `CLAIMED` entry whose lease is
//!    over (its invocation died or gave up), keeping what that attempt recorded;
//! 3. **email** (unless the entry says an earlier attempt already did), then record the
//!    outcome on the entry at once (`email = SENT`, conditional on still holding the claim);
//! 4. **publish** the SNS notification;
//! 5. **mark** the entry `SENT` (or `EMAIL_UNDELIVERABLE`), conditional on the claim.
//!
//! - A duplicate after success finds a final entry and does nothing (no write either).
//! - A duplicate *during* the first finds a live claim and **fails** the invocation: it
//!   cannot know yet whether the first will succeed, and dropping it would lose the
//!   notification if the first then failed. Lambda retries it later (≈1 and 2 minutes on
//!   AWS), when it finds the entry final (no-op) or abandoned (takes over).
//! - A failure after the claim releases it (lease set to 0, best effort) and fails the
//!   invocation, so the retry takes over at once instead of waiting for the lease.
//!
//! **Trade-off.** Exactly-once delivery through services without idempotency keys is not
//! possible; this makes duplicates need a crash (or a DynamoDB failure) in the instant between
//! SES accepting the email and the `email = SENT` write — then the retry sends the email again
//! (at least once rather than at most once: a customer told twice beats one never told). A
//! failure between publishing and the final mark makes the retry publish the notification
//! again but not the email, so subscribers must tolerate a rare repeat of
//! (`order_id`, `status`). The lease must outlive any invocation (2 × timeout does, Lambda
//! kills an invocation at its timeout), or a slow first attempt could be taken over while
//! running. The price of all this is up to four small writes per notification on the orders
//! table, none for duplicates.
//!
//! # Failures
//!
//! Every DynamoDB, SNS or SES failure makes the invocation fail: Lambda retries the
//! asynchronous invocation (`async_retry_attempts`), then puts the event in the function's
//! dead-letter queue — nothing is lost silently. One exception, by decision: SES errors that
//! retrying cannot fix (the recipient or message rejected, the sender's MAIL FROM domain not
//! verified, the account's sending paused or suspended, a malformed request) are logged with
//! the order id, counted as the `EmailUndeliverable` metric, recorded on the entry
//! (`email = UNDELIVERABLE` with the error, state `EMAIL_UNDELIVERABLE`), and the SNS
//! notification is still published; the invocation succeeds. A customer's bad address would
//! otherwise fail three invocations and fill the DLQ with events no redrive can fix, hiding
//! the ones it can; the table, the logs and the metric say which orders were affected (and
//! an account-wide pause shows up as a jump in that metric, to be alarmed on).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use order_domain::item::{OrderRecord, Status};
use order_domain::{OrderStatusChanged, ReasonCode, ORDER_STATUS_CHANGED, STATUS_SOURCE};
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;

use crate::ledger::{
    decide, Claim, ClaimOutcome, ClaimWrite, Completion, Decision, EmailOutcome, Entry, EntryState,
    Snapshot,
};
use crate::message::{Email, Notification, OrderSummary};

/// The orders table as notify-customer uses it: the order and its notification ledger.
pub trait OrderLedger {
    /// The order and the ledger entry of `status`, read with strong consistency; `None` when
    /// there is no such order.
    async fn read(&self, order_id: &str, status: Status) -> Result<Option<Snapshot>, EffectError>;
    /// The conditional claim write.
    async fn claim(
        &self,
        order_id: &str,
        write: ClaimWrite,
        claim: &Claim,
    ) -> Result<ClaimOutcome, EffectError>;
    /// Records how the email step ended; `false` when the claim is no longer `token`'s.
    async fn record_email(
        &self,
        order_id: &str,
        status: Status,
        token: &str,
        email: &EmailOutcome,
    ) -> Result<bool, EffectError>;
    /// Marks the entry final; `false` when the claim is no longer `token`'s.
    async fn complete(
        &self,
        order_id: &str,
        status: Status,
        token: &str,
        completion: &Completion,
    ) -> Result<bool, EffectError>;
    /// Ends `token`'s lease now so a retry need not wait; `false` when it is not its claim.
    async fn release(
        &self,
        order_id: &str,
        status: Status,
        token: &str,
    ) -> Result<bool, EffectError>;
}

/// SES as notify-customer uses it.
pub trait Mailer {
    /// Sends `email`; returns the SES message id.
    async fn send(&self, email: &Email) -> Result<String, MailError>;
}

/// The notifications topic.
pub trait Notifier {
    /// Publishes `notification` with its message attributes; returns the SNS message id.
    async fn publish(&self, notification: &Notification) -> Result<String, EffectError>;
}

/// A failed DynamoDB or SNS call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed: {message}")]
pub struct EffectError {
    /// e.g. "DynamoDB UpdateItem".
    pub operation: &'static str,
    pub message: String,
}

/// A failed SendEmail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Retrying cannot fix it (see `aws::classify_ses_error`).
    #[error("SES SendEmail refused the message: {code}: {message}")]
    Permanent { code: String, message: String },
    /// Throttling, a timeout, a transport error, a server error: retry.
    #[error("SES SendEmail failed: {0}")]
    Transient(String),
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The rule routed an event this function does not handle (a configuration mistake).
    #[error(
        "unexpected event (source {event_source:?}, detail-type {detail_type:?}); notify-customer handles only source {STATUS_SOURCE:?} with detail-type {ORDER_STATUS_CHANGED:?}"
    )]
    UnexpectedEvent {
        event_source: String,
        detail_type: String,
    },
    #[error("the OrderStatusChanged detail is malformed: {0}")]
    MalformedDetail(String),
    /// The event announces a transition of an order the table does not hold.
    #[error("order {order_id} is not in the orders table")]
    OrderNotFound { order_id: String },
    /// Another invocation is notifying this (order, status) right now.
    #[error(
        "another invocation holds the {status} notification of order {order_id} (lease until {lease_until_ms} ms); failing so Lambda retries later"
    )]
    ClaimHeld {
        order_id: String,
        status: Status,
        lease_until_ms: i64,
    },
    /// This invocation's claim was taken over while it ran (its lease ran out).
    #[error("the {status} notification claim of order {order_id} was taken over")]
    ClaimLost { order_id: String, status: Status },
    #[error(transparent)]
    Email(MailError),
    #[error(transparent)]
    Effect(#[from] EffectError),
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(err: HandlerError) -> Self {
        let error_type = match &err {
            HandlerError::UnexpectedEvent { .. } => "UnexpectedEvent",
            HandlerError::MalformedDetail(_) => "MalformedDetail",
            HandlerError::OrderNotFound { .. } => "OrderNotFound",
            HandlerError::ClaimHeld { .. } => "NotificationInProgress",
            HandlerError::ClaimLost { .. } => "NotificationClaimLost",
            HandlerError::Email(_) | HandlerError::Effect(_) => "TransientFailure",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: err.to_string(),
        }
    }
}

/// How the email step ended, in the function's response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailReport {
    Sent,
    NoAddress,
    Undeliverable,
}

impl From<&EmailOutcome> for EmailReport {
    fn from(outcome: &EmailOutcome) -> Self {
        match outcome {
            EmailOutcome::Sent { .. } => EmailReport::Sent,
            EmailOutcome::NoAddress => EmailReport::NoAddress,
            EmailOutcome::Undeliverable { .. } => EmailReport::Undeliverable,
        }
    }
}

/// The function's response (ignored by EventBridge's asynchronous invocation; useful when it
/// is invoked directly).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The customer is notified (this invocation published the SNS notification).
    Notified {
        order_id: String,
        status: Status,
        email: EmailReport,
        /// The email step was done by an earlier attempt; it was not repeated.
        email_by_earlier_attempt: bool,
        sns_message_id: String,
    },
    /// An earlier invocation already notified this status: nothing sent, nothing written.
    Duplicate { order_id: String, status: Status },
    /// Nothing to notify (a status that is not final, or an event the record contradicts).
    Ignored {
        order_id: Option<String>,
        reason: String,
    },
}

/// One invocation's context.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The Lambda request id (the same across the retries of an asynchronous invocation).
    pub request_id: String,
    /// The function's name, for the metric's dimension.
    pub function_name: String,
    pub now: SystemTime,
    /// How long a claim stays live; see [`lease_for`].
    pub lease: Duration,
}

/// Lambda's longest function timeout.
pub const MAX_FUNCTION_TIMEOUT: Duration = Duration::from_secs(900);
/// Shortest lease, whatever the deadline says.
pub const MIN_LEASE: Duration = Duration::from_secs(2);

/// The lease of a claim made at `now` by an invocation that must end by `deadline_ms` (epoch
/// milliseconds, from the invocation's context): twice its remaining time — at the start of
/// an invocation, 2 × the function's timeout. An unknown or implausible deadline gets the
/// longest (2 × 15 minutes), which never lets a running invocation be taken over.
pub fn lease_for(deadline_ms: u64, now: SystemTime) -> Duration {
    let now_ms = unix_millis(now);
    let remaining = i64::try_from(deadline_ms)
        .ok()
        .map(|deadline| deadline - now_ms)
        .filter(|&ms| ms > 0 && ms <= MAX_FUNCTION_TIMEOUT.as_millis() as i64 + 1000)
        .map(|ms| Duration::from_millis(ms as u64));
    match remaining {
        Some(remaining) => (remaining * 2).max(MIN_LEASE),
        None => MAX_FUNCTION_TIMEOUT * 2,
    }
}

pub fn unix_millis(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// Handles one event. `Ok` when the customer is notified, already was, or there is nothing
/// to notify; `Err` (so Lambda retries, then dead-letters) otherwise.
/// Every line about the event carries the order id (as the detail states it) through an
/// `order` span, so `orderflow trace` finds them all.
pub async fn handle(
    event: EventBridgeEvent<Value>,
    ledger: &impl OrderLedger,
    mailer: &impl Mailer,
    notifier: &impl Notifier,
    invocation: &Invocation,
) -> Result<Outcome, HandlerError> {
    let stated_id = event
        .detail
        .get("order_id")
        .and_then(|id| id.as_str())
        .map(str::to_owned);
    let span = tracing::info_span!("order", order_id = stated_id.as_deref());
    async {
        tracing::info!(
            event_id = event.id.as_deref(),
            detail_type = %event.detail_type,
            "event received"
        );
        handle_in_span(event, ledger, mailer, notifier, invocation).await
    }
    .instrument(span)
    .await
}

async fn handle_in_span(
    event: EventBridgeEvent<Value>,
    ledger: &impl OrderLedger,
    mailer: &impl Mailer,
    notifier: &impl Notifier,
    invocation: &Invocation,
) -> Result<Outcome, HandlerError> {
    let event_id = event.id.as_deref();
    if event.source != STATUS_SOURCE || event.detail_type != ORDER_STATUS_CHANGED {
        tracing::error!(
            event_id,
            source = %event.source,
            detail_type = %event.detail_type,
            "unexpected event; failing so it ends in the dead-letter queue"
        );
        return Err(HandlerError::UnexpectedEvent {
            event_source: event.source,
            detail_type: event.detail_type,
        });
    }
    let change: OrderStatusChanged =
        serde_json::from_value(event.detail.clone()).map_err(|err| {
            tracing::error!(
                event_id,
                error = %err,
                detail = %event.detail,
                "malformed OrderStatusChanged detail; failing so it ends in the dead-letter queue"
            );
            HandlerError::MalformedDetail(err.to_string())
        })?;
    let order_id = change.order_id.as_str();
    let status = change.new_status;
    if !status.is_final() {
        tracing::info!(
            event_id,
            order_id,
            new_status = %status,
            "not a final status; customers are told only how their order ended"
        );
        return Ok(Outcome::Ignored {
            order_id: Some(change.order_id.clone()),
            reason: format!("{status} is not a final status"),
        });
    }

    let snapshot = ledger.read(order_id, status).await.inspect_err(|err| {
        tracing::error!(order_id, status = %status, error = %err, "could not read the order; failing so Lambda retries");
    })?;
    let Some(snapshot) = snapshot else {
        tracing::error!(
            event_id,
            order_id,
            status = %status,
            "the event announces an order the table does not hold; failing so the event ends in the dead-letter queue"
        );
        return Err(HandlerError::OrderNotFound {
            order_id: change.order_id.clone(),
        });
    };
    if snapshot.record.status != status {
        // Final statuses are final and the event is published after its transition is
        // stored, so the record contradicting it means the event is not genuine.
        tracing::error!(
            event_id,
            order_id,
            event_status = %status,
            stored_status = %snapshot.record.status,
            "the event's status is not the order's; not notifying"
        );
        return Ok(Outcome::Ignored {
            order_id: Some(change.order_id.clone()),
            reason: format!(
                "the event says {status} but the order is {}",
                snapshot.record.status
            ),
        });
    }

    let now_ms = unix_millis(invocation.now);
    let lease_ms = i64::try_from(invocation.lease.as_millis()).unwrap_or(i64::MAX);
    let claim = Claim {
        status,
        token: format!("{}@{now_ms}", invocation.request_id),
        now_ms,
        lease_until_ms: now_ms.saturating_add(lease_ms),
        at: change.at.clone(),
        claimed_at: order_domain::time::rfc3339_utc(invocation.now),
    };
    let duplicate = |entry: &Entry| {
        tracing::info!(
            event_id,
            order_id,
            status = %status,
            state = entry.state.as_str(),
            notified_at = entry.completed_at.as_deref(),
            "duplicate event: this status is already notified; nothing sent"
        );
        Outcome::Duplicate {
            order_id: change.order_id.clone(),
            status,
        }
    };
    let held = |entry: Option<&Entry>| {
        let lease_until_ms = entry.map_or(0, |entry| entry.lease_until_ms);
        tracing::warn!(
            event_id,
            order_id,
            status = %status,
            lease_until_ms,
            "another invocation is notifying this status; failing so Lambda retries later"
        );
        HandlerError::ClaimHeld {
            order_id: change.order_id.clone(),
            status,
            lease_until_ms,
        }
    };
    let previous = match decide(&snapshot, now_ms) {
        Decision::AlreadyNotified(entry) => return Ok(duplicate(&entry)),
        Decision::Held(entry) => return Err(held(Some(&entry))),
        Decision::Claim(write) => {
            let outcome = ledger.claim(order_id, write, &claim).await.inspect_err(|err| {
                tracing::error!(order_id, status = %status, error = %err, "could not claim the notification; failing so Lambda retries");
            })?;
            match outcome {
                ClaimOutcome::Claimed { previous } => previous,
                ClaimOutcome::Refused {
                    current: Some(entry),
                } if entry.state.is_final() => return Ok(duplicate(&entry)),
                ClaimOutcome::Refused { current } => return Err(held(current.as_ref())),
            }
        }
    };
    tracing::info!(
        event_id,
        order_id,
        status = %status,
        takeover = previous.is_some(),
        "notification claimed"
    );

    let summary = OrderSummary::new(
        &snapshot.record,
        status,
        &change.at,
        change.customer_id.as_deref(),
        &change.reasons,
    );
    match notify(
        &summary,
        &snapshot.record,
        previous.as_ref(),
        &claim,
        ledger,
        mailer,
        notifier,
        invocation,
    )
    .await
    {
        Ok(outcome) => Ok(outcome),
        Err(err) => {
            if !matches!(err, HandlerError::ClaimLost { .. }) {
                release(order_id, &claim, ledger).await;
            }
            Err(err)
        }
    }
}

/// Why the order cannot be emailed, if it cannot.
fn usable_address(record: &OrderRecord) -> Result<&str, &'static str> {
    let address = record
        .customer_email
        .as_deref()
        .map(str::trim)
        .filter(|address| !address.is_empty())
        .ok_or("the order has no customer_email")?;
    let rejected_address = record.reasons.iter().any(|reason| {
        matches!(
            reason.code,
            ReasonCode::CustomerEmailInvalid | ReasonCode::CustomerEmailTooLong
        )
    });
    if rejected_address {
        return Err("the order was rejected for its customer_email");
    }
    Ok(address)
}

/// Steps 3 to 5, holding the claim.
#[allow(clippy::too_many_arguments)]
async fn notify(
    summary: &OrderSummary,
    record: &OrderRecord,
    previous: Option<&Entry>,
    claim: &Claim,
    ledger: &impl OrderLedger,
    mailer: &impl Mailer,
    notifier: &impl Notifier,
    invocation: &Invocation,
) -> Result<Outcome, HandlerError> {
    let order_id = summary.order_id.as_str();
    let status = summary.status;
    let lost = || HandlerError::ClaimLost {
        order_id: order_id.to_owned(),
        status,
    };

    let (email, email_by_earlier_attempt) = match previous.and_then(|entry| entry.email.clone()) {
        Some(done) => {
            tracing::info!(
                order_id,
                status = %status,
                email = done.as_str(),
                "an earlier attempt already did the email step; not repeating it"
            );
            (done, true)
        }
        None => {
            let outcome = match usable_address(record) {
                Err(why) => {
                    tracing::info!(
                        order_id,
                        status = %status,
                        reason = why,
                        "no email sent; the SNS notification still goes out"
                    );
                    EmailOutcome::NoAddress
                }
                Ok(address) => match mailer.send(&summary.email(address)).await {
                    Ok(message_id) => {
                        tracing::info!(order_id, status = %status, ses_message_id = %message_id, "email sent");
                        EmailOutcome::Sent { message_id }
                    }
                    Err(MailError::Permanent { code, message }) => {
                        tracing::error!(
                            order_id,
                            status = %status,
                            error_code = %code,
                            error = %message,
                            email_undeliverable = 1,
                            "email undeliverable: SES refused it for good; recording it, publishing the notification and not retrying"
                        );
                        println!(
                            "{}",
                            crate::metrics::email_undeliverable(
                                &invocation.function_name,
                                order_id,
                                &code,
                                claim.now_ms
                            )
                        );
                        EmailOutcome::Undeliverable {
                            error: truncate(&format!("{code}: {message}"), 1000),
                        }
                    }
                    Err(err @ MailError::Transient(_)) => {
                        tracing::error!(order_id, status = %status, error = %err, "could not send the email; failing so Lambda retries");
                        return Err(HandlerError::Email(err));
                    }
                },
            };
            if outcome != EmailOutcome::NoAddress {
                let still_ours = ledger
                    .record_email(order_id, status, &claim.token, &outcome)
                    .await
                    .inspect_err(|err| {
                        tracing::error!(
                            order_id,
                            status = %status,
                            error = %err,
                            "could not record the email step; failing so Lambda retries (the retry sends the email again)"
                        );
                    })?;
                if !still_ours {
                    tracing::error!(order_id, status = %status, "the claim was taken over while this invocation ran");
                    return Err(lost());
                }
            }
            (outcome, false)
        }
    };

    let sns_message_id = notifier
        .publish(&summary.notification())
        .await
        .inspect_err(|err| {
            tracing::error!(order_id, status = %status, error = %err, "could not publish the notification; failing so Lambda retries (without repeating the email)");
        })?;

    let completion = Completion {
        state: match email {
            EmailOutcome::Undeliverable { .. } => EntryState::EmailUndeliverable,
            _ => EntryState::Sent,
        },
        email: email.clone(),
        sns_message_id: sns_message_id.clone(),
        completed_at: order_domain::time::rfc3339_utc(invocation.now),
    };
    let still_ours = ledger
        .complete(order_id, status, &claim.token, &completion)
        .await
        .inspect_err(|err| {
            tracing::error!(
                order_id,
                status = %status,
                error = %err,
                "could not mark the notification done; failing so Lambda retries (the retry publishes the notification again, not the email)"
            );
        })?;
    if !still_ours {
        tracing::error!(order_id, status = %status, "the claim was taken over while this invocation ran");
        return Err(lost());
    }
    tracing::info!(
        order_id,
        status = %status,
        email = email.as_str(),
        email_by_earlier_attempt,
        sns_message_id = %sns_message_id,
        "customer notified"
    );
    Ok(Outcome::Notified {
        order_id: order_id.to_owned(),
        status,
        email: EmailReport::from(&email),
        email_by_earlier_attempt,
        sns_message_id,
    })
}

/// Best effort: when it fails, the lease runs out on its own.
async fn release(order_id: &str, claim: &Claim, ledger: &impl OrderLedger) {
    match ledger.release(order_id, claim.status, &claim.token).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(order_id, status = %claim.status, "the claim to release is no longer this invocation's")
        }
        Err(err) => tracing::warn!(
            order_id,
            status = %claim.status,
            error = %err,
            "could not release the claim; a retry waits for its lease to run out"
        ),
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::EntryState;
    use order_domain::{sample, validate, validate_json};
    use serde_json::json;
    use std::collections::{BTreeMap, HashSet, VecDeque};
    use std::sync::Mutex;

    const T0: u64 = 1_700_000_000;
    const LEASE: Duration = Duration::from_secs(20);

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(T0 + secs)
    }

    fn invocation(request_id: &str, secs: u64) -> Invocation {
        Invocation {
            request_id: request_id.into(),
            function_name: "test-notify-customer".into(),
            now: at(secs),
            lease: LEASE,
        }
    }

    /// The item of one order: its record and its ledger (`None`: no `notifications` map).
    #[derive(Clone)]
    struct Item {
        record: OrderRecord,
        ledger: Option<BTreeMap<Status, Entry>>,
    }

    /// The orders table with the semantics of the conditional writes in `crate::dynamo`.
    /// `fail` names operations that fail; `race` is an entry another invocation stores between
    /// this one's read and its claim.
    #[derive(Default)]
    struct FakeLedger {
        items: Mutex<BTreeMap<String, Item>>,
        writes: Mutex<usize>,
        fail: Mutex<HashSet<&'static str>>,
        race: Mutex<Option<Entry>>,
    }

    impl FakeLedger {
        fn with(record: OrderRecord) -> Self {
            let ledger = FakeLedger::default();
            ledger.items.lock().unwrap().insert(
                record.order_id.clone(),
                Item {
                    record,
                    ledger: None,
                },
            );
            ledger
        }

        fn fail(&self, operation: &'static str) {
            self.fail.lock().unwrap().insert(operation);
        }

        fn heal(&self) {
            self.fail.lock().unwrap().clear();
        }

        fn check(&self, operation: &'static str) -> Result<(), EffectError> {
            if self.fail.lock().unwrap().contains(operation) {
                return Err(EffectError {
                    operation,
                    message: "service unavailable".into(),
                });
            }
            Ok(())
        }

        fn entry(&self, order_id: &str, status: Status) -> Option<Entry> {
            self.items.lock().unwrap()[order_id]
                .ledger
                .as_ref()
                .and_then(|ledger| ledger.get(&status).cloned())
        }

        fn set_entry(&self, order_id: &str, status: Status, entry: Entry) {
            self.items
                .lock()
                .unwrap()
                .get_mut(order_id)
                .unwrap()
                .ledger
                .get_or_insert_with(BTreeMap::new)
                .insert(status, entry);
        }

        fn writes(&self) -> usize {
            *self.writes.lock().unwrap()
        }

        fn wrote(&self) {
            *self.writes.lock().unwrap() += 1;
        }

        /// Applies `update` to the entry when it is CLAIMED by `token`.
        fn update_owned(
            &self,
            order_id: &str,
            status: Status,
            token: &str,
            update: impl FnOnce(&mut Entry),
        ) -> bool {
            let mut items = self.items.lock().unwrap();
            let entry = items
                .get_mut(order_id)
                .and_then(|item| item.ledger.as_mut())
                .and_then(|ledger| ledger.get_mut(&status));
            match entry {
                Some(entry) if entry.claim == token && entry.state == EntryState::Claimed => {
                    update(entry);
                    drop(items);
                    self.wrote();
                    true
                }
                _ => false,
            }
        }
    }

    impl OrderLedger for FakeLedger {
        async fn read(
            &self,
            order_id: &str,
            status: Status,
        ) -> Result<Option<Snapshot>, EffectError> {
            self.check("read")?;
            Ok(self
                .items
                .lock()
                .unwrap()
                .get(order_id)
                .map(|item| Snapshot {
                    record: item.record.clone(),
                    has_ledger: item.ledger.is_some(),
                    entry: item
                        .ledger
                        .as_ref()
                        .and_then(|ledger| ledger.get(&status).cloned()),
                }))
        }

        async fn claim(
            &self,
            order_id: &str,
            write: ClaimWrite,
            claim: &Claim,
        ) -> Result<ClaimOutcome, EffectError> {
            self.check("claim")?;
            if let Some(raced) = self.race.lock().unwrap().take() {
                self.set_entry(order_id, claim.status, raced);
            }
            let mut items = self.items.lock().unwrap();
            let Some(item) = items.get_mut(order_id) else {
                return Ok(ClaimOutcome::Refused { current: None });
            };
            let current = item
                .ledger
                .as_ref()
                .and_then(|ledger| ledger.get(&claim.status).cloned());
            let allowed = match write {
                ClaimWrite::NewLedger => item.ledger.is_none(),
                ClaimWrite::NewEntry => item.ledger.is_some() && current.is_none(),
                ClaimWrite::Takeover => current.as_ref().is_some_and(|entry| {
                    entry.state == EntryState::Claimed && entry.lease_until_ms < claim.now_ms
                }),
            };
            if !allowed {
                return Ok(ClaimOutcome::Refused { current });
            }
            let entry = match &current {
                None => claim.new_entry(),
                Some(previous) => Entry {
                    state: EntryState::Claimed,
                    claim: claim.token.clone(),
                    lease_until_ms: claim.lease_until_ms,
                    attempts: previous.attempts + 1,
                    at: claim.at.clone(),
                    claimed_at: claim.claimed_at.clone(),
                    ..previous.clone()
                },
            };
            item.ledger
                .get_or_insert_with(BTreeMap::new)
                .insert(claim.status, entry);
            drop(items);
            self.wrote();
            Ok(ClaimOutcome::Claimed { previous: current })
        }

        async fn record_email(
            &self,
            order_id: &str,
            status: Status,
            token: &str,
            email: &EmailOutcome,
        ) -> Result<bool, EffectError> {
            self.check("record_email")?;
            Ok(self.update_owned(order_id, status, token, |entry| {
                entry.email = Some(email.clone())
            }))
        }

        async fn complete(
            &self,
            order_id: &str,
            status: Status,
            token: &str,
            completion: &Completion,
        ) -> Result<bool, EffectError> {
            self.check("complete")?;
            Ok(self.update_owned(order_id, status, token, |entry| {
                entry.state = completion.state;
                entry.email = Some(completion.email.clone());
                entry.sns_message_id = Some(completion.sns_message_id.clone());
                entry.completed_at = Some(completion.completed_at.clone());
            }))
        }

        async fn release(
            &self,
            order_id: &str,
            status: Status,
            token: &str,
        ) -> Result<bool, EffectError> {
            self.check("release")?;
            Ok(self.update_owned(order_id, status, token, |entry| entry.lease_until_ms = 0))
        }
    }

    /// Records what SES accepted; answers from `script` first (then accepts).
    #[derive(Default)]
    struct FakeMailer {
        sent: Mutex<Vec<Email>>,
        calls: Mutex<usize>,
        script: Mutex<VecDeque<MailError>>,
    }

    impl FakeMailer {
        fn failing(errors: impl IntoIterator<Item = MailError>) -> Self {
            FakeMailer {
                script: Mutex::new(errors.into_iter().collect()),
                ..FakeMailer::default()
            }
        }

        fn sent(&self) -> Vec<Email> {
            self.sent.lock().unwrap().clone()
        }

        fn calls(&self) -> usize {
            *self.calls.lock().unwrap()
        }
    }

    impl Mailer for FakeMailer {
        async fn send(&self, email: &Email) -> Result<String, MailError> {
            *self.calls.lock().unwrap() += 1;
            if let Some(err) = self.script.lock().unwrap().pop_front() {
                return Err(err);
            }
            let mut sent = self.sent.lock().unwrap();
            sent.push(email.clone());
            Ok(format!("ses-{}", sent.len()))
        }
    }

    /// Records what was published; fails while `failing` is set.
    #[derive(Default)]
    struct FakeNotifier {
        published: Mutex<Vec<Notification>>,
        failing: Mutex<bool>,
    }

    impl FakeNotifier {
        fn published(&self) -> Vec<Notification> {
            self.published.lock().unwrap().clone()
        }

        fn set_failing(&self, failing: bool) {
            *self.failing.lock().unwrap() = failing;
        }
    }

    impl Notifier for FakeNotifier {
        async fn publish(&self, notification: &Notification) -> Result<String, EffectError> {
            if *self.failing.lock().unwrap() {
                return Err(EffectError {
                    operation: "SNS Publish",
                    message: "NotFound: Topic does not exist".into(),
                });
            }
            let mut published = self.published.lock().unwrap();
            published.push(notification.clone());
            Ok(format!("sns-{}", published.len()))
        }
    }

    fn processed_record(order_id: &str, email: Option<&str>) -> OrderRecord {
        let mut builder = sample::OrderBuilder::new().order_id(order_id);
        if let Some(email) = email {
            builder = builder.customer_email(email);
        }
        let order = validate(&builder.build()).unwrap();
        OrderRecord::processed(&order, "m", at(0), None)
    }

    fn rejected_record(order_id: &str, email: Option<&str>) -> OrderRecord {
        let mut raw = serde_json::to_value(sample::invalid_order()).unwrap();
        raw["order_id"] = json!(order_id);
        if let Some(email) = email {
            raw["customer_email"] = json!(email);
        }
        let reasons = validate_json(&raw).unwrap_err();
        OrderRecord::rejected(&raw, reasons, None, at(0), None).unwrap()
    }

    fn event_for(record: &OrderRecord) -> EventBridgeEvent<Value> {
        let (old_status, entry) = record
            .transition_to(record.status)
            .expect("a history entry");
        let change = OrderStatusChanged {
            order_id: record.order_id.clone(),
            old_status,
            new_status: record.status,
            at: entry.at.clone(),
            reasons: entry.reasons.clone(),
            customer_id: record.customer_id.clone(),
        };
        event(
            STATUS_SOURCE,
            ORDER_STATUS_CHANGED,
            serde_json::to_value(change).unwrap(),
        )
    }

    fn event(source: &str, detail_type: &str, detail: Value) -> EventBridgeEvent<Value> {
        serde_json::from_value(json!({
            "version": "0", "id": "ev-1", "detail-type": detail_type, "source": source,
            "account": "000000000000", "time": "2023-11-14T22:13:20Z", "region": "us-east-1",
            "resources": [], "detail": detail
        }))
        .unwrap()
    }

    async fn run(
        event: &EventBridgeEvent<Value>,
        ledger: &FakeLedger,
        mailer: &FakeMailer,
        notifier: &FakeNotifier,
        invocation: &Invocation,
    ) -> Result<Outcome, HandlerError> {
        handle(event.clone(), ledger, mailer, notifier, invocation).await
    }

    #[tokio::test]
    async fn processed_order_is_emailed_and_announced() {
        let record = processed_record("ord-p1", Some("ana@example.com"));
        let ledger = FakeLedger::with(record.clone());
        let (mailer, notifier) = (FakeMailer::default(), FakeNotifier::default());
        let outcome = run(
            &event_for(&record),
            &ledger,
            &mailer,
            &notifier,
            &invocation("req-1", 1),
        )
        .await
        .unwrap();
        assert_eq!(
            outcome,
            Outcome::Notified {
                order_id: "ord-p1".into(),
                status: Status::Processed,
                email: EmailReport::Sent,
                email_by_earlier_attempt: false,
                sns_message_id: "sns-1".into(),
            }
        );
        let sent = mailer.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].to, "ana@example.com");
        assert_eq!(sent[0].subject, "Your order ord-p1 is confirmed");
        assert!(
            sent[0].text.contains("Total:  29.99 EUR"),
            "{}",
            sent[0].text
        );
        assert!(sent[0].text.contains("2 x SKU-1 at 12.50 EUR = 25.00 EUR"));

        let published = notifier.published();
        assert_eq!(published.len(), 1);
        assert_eq!(
            serde_json::from_str::<Value>(&published[0].message()).unwrap(),
            json!({
                "order_id": "ord-p1", "customer_id": sample::SAMPLE_CUSTOMER_ID,
                "status": "PROCESSED", "at": "2023-11-14T22:13:20.000Z",
                "total_minor": 2999, "currency": "EUR"
            })
        );
        assert_eq!(
            published[0].attributes(),
            [
                ("status", "PROCESSED".to_owned()),
                ("customer_id", sample::SAMPLE_CUSTOMER_ID.to_owned())
            ]
        );

        let entry = ledger.entry("ord-p1", Status::Processed).unwrap();
        assert_eq!(entry.state, EntryState::Sent);
        assert_eq!(
            entry.email,
            Some(EmailOutcome::Sent {
                message_id: "ses-1".into()
            })
        );
        assert_eq!(entry.sns_message_id.as_deref(), Some("sns-1"));
        assert_eq!(entry.attempts, 1);
        assert_eq!(entry.claim, format!("req-1@{}", (T0 + 1) * 1000));
        assert_eq!(entry.lease_until_ms, ((T0 + 1) * 1000 + 20_000) as i64);
        assert_eq!(
            entry.completed_at.as_deref(),
            Some("2023-11-14T22:13:21.000Z")
        );
        // Claim, email step, final mark.
        assert_eq!(ledger.writes(), 3);
    }

    #[tokio::test]
    async fn rejected_order_email_lists_the_reasons() {
        let record = rejected_record("ord-r1", Some("bo@example.com"));
        let ledger = FakeLedger::with(record.clone());
        let (mailer, notifier) = (FakeMailer::default(), FakeNotifier::default());
        let outcome = run(
            &event_for(&record),
            &ledger,
            &mailer,
            &notifier,
            &invocation("req-1", 1),
        )
        .await
        .unwrap();
        assert!(matches!(
            outcome,
            Outcome::Notified {
                status: Status::Rejected,
                email: EmailReport::Sent,
                ..
            }
        ));
        let sent = mailer.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].to, "bo@example.com");
        assert_eq!(sent[0].subject, "Your order ord-r1 could not be accepted");
        assert!(
            sent[0].text.contains(
                "Why it was rejected:\n  - total_minor is 2998 but the items sum to 2999 (total_mismatch)"
            ),
            "{}",
            sent[0].text
        );
        let published = notifier.published();
        assert_eq!(published.len(), 1);
        assert_eq!(published[0].status, Status::Rejected);
        assert_eq!(published[0].reasons[0].code, ReasonCode::TotalMismatch);
        assert_eq!(published[0].attributes()[0], ("status", "REJECTED".into()));
        assert_eq!(
            ledger.entry("ord-r1", Status::Rejected).unwrap().state,
            EntryState::Sent
        );
    }

    #[tokio::test]
    async fn without_an_address_only_the_notification_goes_out() {
        let record = processed_record("ord-n1", None);
        let ledger = FakeLedger::with(record.clone());
        let (mailer, notifier) = (FakeMailer::default(), FakeNotifier::default());
        let outcome = run(
            &event_for(&record),
            &ledger,
            &mailer,
            &notifier,
            &invocation("req-1", 1),
        )
        .await
        .unwrap();
        assert!(matches!(
            outcome,
            Outcome::Notified {
                email: EmailReport::NoAddress,
                ..
            }
        ));
        assert_eq!(mailer.calls(), 0);
        assert_eq!(notifier.published().len(), 1);
        let entry = ledger.entry("ord-n1", Status::Processed).unwrap();
        assert_eq!(entry.state, EntryState::Sent);
        assert_eq!(entry.email, Some(EmailOutcome::NoAddress));
        // No email step to record: claim and final mark only.
        assert_eq!(ledger.writes(), 2);

        // An address the order was rejected for is not used either.
        let record = rejected_record("ord-n2", Some("not an address"));
        assert!(record
            .reasons
            .iter()
            .any(|r| r.code == ReasonCode::CustomerEmailInvalid));
        let ledger = FakeLedger::with(record.clone());
        let outcome = run(
            &event_for(&record),
            &ledger,
            &mailer,
            &notifier,
            &invocation("req-2", 1),
        )
        .await
        .unwrap();
        assert!(matches!(
            outcome,
            Outcome::Notified {
                email: EmailReport::NoAddress,
                ..
            }
        ));
        assert_eq!(mailer.calls(), 0);
        assert_eq!(notifier.published().len(), 2);
    }

    #[tokio::test]
    async fn a_duplicate_event_sends_nothing_and_writes_nothing() {
        let record = processed_record("ord-d1", Some("ana@example.com"));
        let ledger = FakeLedger::with(record.clone());
        let (mailer, notifier) = (FakeMailer::default(), FakeNotifier::default());
        let event = event_for(&record);
        run(&event, &ledger, &mailer, &notifier, &invocation("req-1", 1))
            .await
            .unwrap();
        let writes = ledger.writes();
        // Redelivered later (even long after any lease), by another request.
        for (request, secs) in [("req-2", 2), ("req-3", 3600)] {
            let outcome = run(
                &event,
                &ledger,
                &mailer,
                &notifier,
                &invocation(request, secs),
            )
            .await
            .unwrap();
            assert_eq!(
                outcome,
                Outcome::Duplicate {
                    order_id: "ord-d1".into(),
                    status: Status::Processed
                }
            );
        }
        assert_eq!(mailer.calls(), 1);
        assert_eq!(notifier.published().len(), 1);
        assert_eq!(ledger.writes(), writes);
    }

    #[tokio::test]
    async fn a_retry_after_a_failed_send_sends_again() {
        let record = processed_record("ord-f1", Some("ana@example.com"));
        let ledger = FakeLedger::with(record.clone());
        let mailer = FakeMailer::failing([MailError::Transient("TooManyRequestsException".into())]);
        let notifier = FakeNotifier::default();
        let event = event_for(&record);
        let err = run(&event, &ledger, &mailer, &notifier, &invocation("req-1", 1))
            .await
            .unwrap_err();
        assert!(
            matches!(err, HandlerError::Email(MailError::Transient(_))),
            "{err}"
        );
        assert!(notifier.published().is_empty());
        // Claimed but not sent, and released so the retry need not wait for the lease.
        let entry = ledger.entry("ord-f1", Status::Processed).unwrap();
        assert_eq!(entry.state, EntryState::Claimed);
        assert_eq!(entry.email, None);
        assert_eq!(entry.lease_until_ms, 0);

        // Lambda's retry (same request id), a second later.
        let outcome = run(&event, &ledger, &mailer, &notifier, &invocation("req-1", 2))
            .await
            .unwrap();
        assert!(matches!(
            outcome,
            Outcome::Notified {
                email: EmailReport::Sent,
                email_by_earlier_attempt: false,
                ..
            }
        ));
        assert_eq!(mailer.calls(), 2);
        assert_eq!(mailer.sent().len(), 1);
        assert_eq!(notifier.published().len(), 1);
        let entry = ledger.entry("ord-f1", Status::Processed).unwrap();
        assert_eq!(entry.state, EntryState::Sent);
        assert_eq!(entry.attempts, 2);
    }

    #[tokio::test]
    async fn an_unreleased_claim_is_taken_over_once_its_lease_is_over() {
        let record = processed_record("ord-f2", Some("ana@example.com"));
        let ledger = FakeLedger::with(record.clone());
        let mailer = FakeMailer::failing([MailError::Transient("timeout".into())]);
        let notifier = FakeNotifier::default();
        let event = event_for(&record);
        // The release fails too (as if the function had died): the lease stays.
        ledger.fail("release");
        run(&event, &ledger, &mailer, &notifier, &invocation("req-1", 1))
            .await
            .unwrap_err();
        ledger.heal();
        let lease_until = ledger
            .entry("ord-f2", Status::Processed)
            .unwrap()
            .lease_until_ms;
        assert_eq!(lease_until, ((T0 + 1) * 1000 + 20_000) as i64);
        // Within the lease: the claim is live, the retry fails without sending.
        let err = run(
            &event,
            &ledger,
            &mailer,
            &notifier,
            &invocation("req-1", 21),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, HandlerError::ClaimHeld { .. }), "{err}");
        assert_eq!(mailer.calls(), 1);
        // After it: taken over, sent.
        run(
            &event,
            &ledger,
            &mailer,
            &notifier,
            &invocation("req-1", 22),
        )
        .await
        .unwrap();
        assert_eq!(mailer.sent().len(), 1);
        assert_eq!(notifier.published().len(), 1);
    }

    #[tokio::test]
    async fn a_retry_after_a_failed_publish_does_not_email_again() {
        let record = processed_record("ord-s1", Some("ana@example.com"));
        let ledger = FakeLedger::with(record.clone());
        let (mailer, notifier) = (FakeMailer::default(), FakeNotifier::default());
        let event = event_for(&record);
        notifier.set_failing(true);
        let err = run(&event, &ledger, &mailer, &notifier, &invocation("req-1", 1))
            .await
            .unwrap_err();
        assert!(matches!(err, HandlerError::Effect(_)), "{err}");
        let entry = ledger.entry("ord-s1", Status::Processed).unwrap();
        assert_eq!(entry.state, EntryState::Claimed);
        assert_eq!(
            entry.email,
            Some(EmailOutcome::Sent {
                message_id: "ses-1".into()
            })
        );
        // The retry fails the same way: still one email.
        run(&event, &ledger, &mailer, &notifier, &invocation("req-1", 2))
            .await
            .unwrap_err();
        notifier.set_failing(false);
        let outcome = run(&event, &ledger, &mailer, &notifier, &invocation("req-1", 4))
            .await
            .unwrap();
        assert!(matches!(
            outcome,
            Outcome::Notified {
                email: EmailReport::Sent,
                email_by_earlier_attempt: true,
                ..
            }
        ));
        assert_eq!(mailer.calls(), 1);
        assert_eq!(notifier.published().len(), 1);
        let entry = ledger.entry("ord-s1", Status::Processed).unwrap();
        assert_eq!(entry.state, EntryState::Sent);
        assert_eq!(entry.attempts, 3);
        // The SES message id of the one email is kept.
        assert_eq!(
            entry.email,
            Some(EmailOutcome::Sent {
                message_id: "ses-1".into()
            })
        );
    }

    #[tokio::test]
    async fn a_concurrent_duplicate_fails_the_invocation_and_sends_nothing() {
        let record = processed_record("ord-c1", Some("ana@example.com"));
        let ledger = FakeLedger::with(record.clone());
        let (mailer, notifier) = (FakeMailer::default(), FakeNotifier::default());
        // Another invocation claimed it a second ago and is still running.
        let other = Claim {
            status: Status::Processed,
            token: "req-0@1".into(),
            now_ms: ((T0 + 1) * 1000) as i64,
            lease_until_ms: ((T0 + 21) * 1000) as i64,
            at: "t".into(),
            claimed_at: "t".into(),
        };
        ledger.set_entry("ord-c1", Status::Processed, other.new_entry());
        let err = run(
            &event_for(&record),
            &ledger,
            &mailer,
            &notifier,
            &invocation("req-1", 2),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, HandlerError::ClaimHeld { lease_until_ms, .. } if *lease_until_ms == other.lease_until_ms),
            "{err}"
        );
        assert_eq!(
            lambda_runtime::Diagnostic::from(err).error_type,
            "NotificationInProgress"
        );
        assert_eq!(mailer.calls(), 0);
        assert!(notifier.published().is_empty());
        // The other invocation's claim is untouched.
        assert_eq!(
            ledger.entry("ord-c1", Status::Processed),
            Some(other.new_entry())
        );
        assert_eq!(ledger.writes(), 0);
    }

    #[tokio::test]
    async fn losing_the_claim_race_fails_or_is_a_duplicate() {
        let record = processed_record("ord-c2", Some("ana@example.com"));
        let (mailer, notifier) = (FakeMailer::default(), FakeNotifier::default());
        let rival = Claim {
            status: Status::Processed,
            token: "req-0@1".into(),
            now_ms: 0,
            lease_until_ms: ((T0 + 30) * 1000) as i64,
            at: "t".into(),
            claimed_at: "t".into(),
        }
        .new_entry();
        // The rival claimed between this invocation's read and its claim.
        let ledger = FakeLedger::with(record.clone());
        *ledger.race.lock().unwrap() = Some(rival.clone());
        let err = run(
            &event_for(&record),
            &ledger,
            &mailer,
            &notifier,
            &invocation("req-1", 1),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, HandlerError::ClaimHeld { .. }), "{err}");
        // ... or already finished.
        let ledger = FakeLedger::with(record.clone());
        *ledger.race.lock().unwrap() = Some(Entry {
            state: EntryState::Sent,
            ..rival
        });
        let outcome = run(
            &event_for(&record),
            &ledger,
            &mailer,
            &notifier,
            &invocation("req-1", 1),
        )
        .await
        .unwrap();
        assert!(matches!(outcome, Outcome::Duplicate { .. }));
        assert_eq!(mailer.calls(), 0);
        assert!(notifier.published().is_empty());
    }

    #[tokio::test]
    async fn a_permanent_ses_error_is_recorded_and_the_notification_still_published() {
        let record = processed_record("ord-u1", Some("bounce@example.com"));
        let ledger = FakeLedger::with(record.clone());
        let mailer = FakeMailer::failing([MailError::Permanent {
            code: "MessageRejected".into(),
            message: "Email address is not verified.".into(),
        }]);
        let notifier = FakeNotifier::default();
        let event = event_for(&record);
        let outcome = run(&event, &ledger, &mailer, &notifier, &invocation("req-1", 1))
            .await
            .unwrap();
        assert!(matches!(
            outcome,
            Outcome::Notified {
                email: EmailReport::Undeliverable,
                ..
            }
        ));
        assert_eq!(notifier.published().len(), 1);
        let entry = ledger.entry("ord-u1", Status::Processed).unwrap();
        assert_eq!(entry.state, EntryState::EmailUndeliverable);
        assert_eq!(
            entry.email,
            Some(EmailOutcome::Undeliverable {
                error: "MessageRejected: Email address is not verified.".into()
            })
        );
        // Final: a redelivery does not try again.
        let outcome = run(&event, &ledger, &mailer, &notifier, &invocation("req-2", 5))
            .await
            .unwrap();
        assert!(matches!(outcome, Outcome::Duplicate { .. }));
        assert_eq!(mailer.calls(), 1);
        assert_eq!(notifier.published().len(), 1);
    }

    #[tokio::test]
    async fn a_permanent_ses_error_then_a_failed_publish_retries_only_the_publish() {
        let record = rejected_record("ord-u2", Some("bounce@example.com"));
        let ledger = FakeLedger::with(record.clone());
        let mailer = FakeMailer::failing([MailError::Permanent {
            code: "MailFromDomainNotVerifiedException".into(),
            message: "m".into(),
        }]);
        let notifier = FakeNotifier::default();
        let event = event_for(&record);
        notifier.set_failing(true);
        run(&event, &ledger, &mailer, &notifier, &invocation("req-1", 1))
            .await
            .unwrap_err();
        notifier.set_failing(false);
        let outcome = run(&event, &ledger, &mailer, &notifier, &invocation("req-1", 2))
            .await
            .unwrap();
        assert!(matches!(
            outcome,
            Outcome::Notified {
                email: EmailReport::Undeliverable,
                email_by_earlier_attempt: true,
                ..
            }
        ));
        assert_eq!(mailer.calls(), 1);
        assert_eq!(
            ledger.entry("ord-u2", Status::Rejected).unwrap().state,
            EntryState::EmailUndeliverable
        );
    }

    #[tokio::test]
    async fn table_failures_fail_the_invocation() {
        let record = processed_record("ord-t1", Some("ana@example.com"));
        let event = event_for(&record);
        for operation in ["read", "claim", "record_email", "complete"] {
            let ledger = FakeLedger::with(record.clone());
            let (mailer, notifier) = (FakeMailer::default(), FakeNotifier::default());
            ledger.fail(operation);
            let err = run(&event, &ledger, &mailer, &notifier, &invocation("req-1", 1))
                .await
                .unwrap_err();
            assert!(matches!(err, HandlerError::Effect(_)), "{operation}: {err}");
            assert_eq!(
                lambda_runtime::Diagnostic::from(err).error_type,
                "TransientFailure"
            );
            // Whatever failed after the claim released it.
            if let Some(entry) = ledger.entry("ord-t1", Status::Processed) {
                assert_eq!(entry.state, EntryState::Claimed, "{operation}");
                assert_eq!(entry.lease_until_ms, 0, "{operation}");
            }
            // And the retry finishes the job, emailing at most once more when the email
            // step's outcome could not be recorded.
            ledger.heal();
            run(&event, &ledger, &mailer, &notifier, &invocation("req-1", 2))
                .await
                .unwrap();
            let emails = mailer.sent().len();
            let expected = if operation == "record_email" { 2 } else { 1 };
            assert_eq!(emails, expected, "{operation}");
            assert_eq!(
                notifier.published().len(),
                if operation == "complete" { 2 } else { 1 },
                "{operation}"
            );
        }
    }

    #[tokio::test]
    async fn a_claim_taken_over_mid_flight_fails_without_publishing() {
        let record = processed_record("ord-l1", Some("ana@example.com"));
        let ledger = FakeLedger::with(record.clone());
        let (mailer, notifier) = (FakeMailer::default(), FakeNotifier::default());
        // Simulate a takeover: the mailer hands the entry to someone else while sending.
        struct StealingMailer<'a> {
            ledger: &'a FakeLedger,
            inner: FakeMailer,
        }
        impl Mailer for StealingMailer<'_> {
            async fn send(&self, email: &Email) -> Result<String, MailError> {
                let mut entry = self.ledger.entry("ord-l1", Status::Processed).unwrap();
                entry.claim = "someone-else".into();
                self.ledger.set_entry("ord-l1", Status::Processed, entry);
                self.inner.send(email).await
            }
        }
        let stealing = StealingMailer {
            ledger: &ledger,
            inner: mailer,
        };
        let err = handle(
            event_for(&record),
            &ledger,
            &stealing,
            &notifier,
            &invocation("req-1", 1),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, HandlerError::ClaimLost { .. }), "{err}");
        assert!(notifier.published().is_empty());
        // Not released: it is not this invocation's to release.
        assert_ne!(
            ledger
                .entry("ord-l1", Status::Processed)
                .unwrap()
                .lease_until_ms,
            0
        );
    }

    #[tokio::test]
    async fn events_that_are_not_for_this_function() {
        let record = processed_record("ord-x1", Some("ana@example.com"));
        let ledger = FakeLedger::with(record.clone());
        let (mailer, notifier) = (FakeMailer::default(), FakeNotifier::default());
        let inv = invocation("req-1", 1);

        // Wrong source or type: a configuration mistake, failed (DLQ).
        let placed = event(
            order_domain::SOURCE,
            order_domain::ORDER_PLACED,
            json!({"order_id": "ord-x1"}),
        );
        let err = run(&placed, &ledger, &mailer, &notifier, &inv)
            .await
            .unwrap_err();
        assert!(matches!(err, HandlerError::UnexpectedEvent { .. }), "{err}");
        // An unreadable detail: failed.
        let broken = event(STATUS_SOURCE, ORDER_STATUS_CHANGED, json!({"order_id": 5}));
        let err = run(&broken, &ledger, &mailer, &notifier, &inv)
            .await
            .unwrap_err();
        assert!(matches!(err, HandlerError::MalformedDetail(_)), "{err}");
        // A status that is not final: nothing to tell.
        let validated = event(
            STATUS_SOURCE,
            ORDER_STATUS_CHANGED,
            json!({"order_id": "ord-x1", "old_status": "RECEIVED", "new_status": "VALIDATED",
                   "at": "t", "customer_id": "c"}),
        );
        let outcome = run(&validated, &ledger, &mailer, &notifier, &inv)
            .await
            .unwrap();
        assert!(matches!(outcome, Outcome::Ignored { .. }));
        // REJECTED for an order the table says is PROCESSED: not genuine, not notified.
        let forged = event(
            STATUS_SOURCE,
            ORDER_STATUS_CHANGED,
            json!({"order_id": "ord-x1", "old_status": "VALIDATED", "new_status": "REJECTED",
                   "at": "t", "customer_id": "c",
                   "reasons": [{"code": "total_mismatch", "message": "m"}]}),
        );
        let outcome = run(&forged, &ledger, &mailer, &notifier, &inv)
            .await
            .unwrap();
        assert!(matches!(outcome, Outcome::Ignored { .. }));
        // An order the table does not hold: failed (DLQ), as the event cannot be true yet.
        let unknown = event(
            STATUS_SOURCE,
            ORDER_STATUS_CHANGED,
            json!({"order_id": "ord-nope", "old_status": null, "new_status": "PROCESSED",
                   "at": "t", "customer_id": "c"}),
        );
        let err = run(&unknown, &ledger, &mailer, &notifier, &inv)
            .await
            .unwrap_err();
        assert!(matches!(err, HandlerError::OrderNotFound { .. }), "{err}");

        assert_eq!(mailer.calls(), 0);
        assert!(notifier.published().is_empty());
        assert_eq!(ledger.writes(), 0);
    }

    #[test]
    fn the_lease_is_twice_the_remaining_time() {
        let now = at(0);
        let now_ms = T0 * 1000;
        assert_eq!(lease_for(now_ms + 10_000, now), Duration::from_secs(20));
        assert_eq!(lease_for(now_ms + 300, now), MIN_LEASE);
        // Unknown (0), past, or beyond Lambda's limit: the longest.
        for deadline in [0, now_ms - 1, now_ms + 3_600_000] {
            assert_eq!(lease_for(deadline, now), Duration::from_secs(1800));
        }
        assert_eq!(unix_millis(at(0)), (T0 * 1000) as i64);
    }
}
