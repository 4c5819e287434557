//! Publishing [`BusEvent`]s with PutEvents (feature `eventbridge`), for the functions and
//! `orderflow send-order` alike.
//!
//! PutEvents succeeds as a call even when some of its entries fail: each result entry carries
//! either an event id or an `ErrorCode`. AWS documents `InternalFailure` and
//! `ThrottlingException` as the retryable entry errors and asks callers to detect the failed
//! entries and include them in a subsequent call (EventBridge API reference,
//! `PutEventsResultEntry`; user guide, "Handling failures with PutEvents"). [`put_all`] does that:
//! it resends only the entries that failed with a retryable code, in their original order, with
//! exponential backoff and jitter, until they are accepted or its time budget is spent. Any other
//! entry error (`AccessDeniedException`, `MalformedDetail`, …) is final and reported at once with
//! its code and message. Whole-call errors (throttling of the call itself, 5xx) are retried by the
//! SDK's own retry strategy before they reach here.

use std::time::{Duration, Instant};

use aws_sdk_eventbridge::error::ProvideErrorMetadata;
use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use crate::dynamodb::describe_sdk_error;
use crate::events::BusEvent;

/// Most entries one PutEvents call takes.
pub const MAX_ENTRIES: usize = 10;

/// Entry error codes PutEvents documents as retryable; every other code is final.
pub const RETRYABLE_ENTRY_ERRORS: [&str; 2] = ["InternalFailure", "ThrottlingException"];

/// Why a publish failed: the call itself, or one of its entries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PublishError {
    /// The AWS error code of the call or of the (first) failed entry, when there is one.
    pub code: Option<String>,
    pub message: String,
}

impl PublishError {
    fn new(code: Option<&str>, message: impl Into<String>) -> Self {
        PublishError {
            code: code.map(str::to_owned),
            message: message.into(),
        }
    }
}

/// How long and how often [`put_all`] resends failed entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Upper bound of the first pause; each retry doubles it, up to `max`.
    pub first: Duration,
    pub max: Duration,
    /// Time from the first call's answer after which no retry starts (a pause that would end
    /// past it is not taken: the entries are reported as failed instead). Counted from the
    /// answer, not the request: the SDK's own retries of that call (throttling, 5xx) can take
    /// longer than the whole budget, and the failed entries still deserve their resends.
    pub budget: Duration,
}

impl Backoff {
    /// For the functions: short enough to leave room in their timeouts (the smallest that
    /// publishes is 10 s), after which Lambda's own retry of the invocation takes over.
    pub const FUNCTION: Backoff = Backoff {
        first: Duration::from_millis(100),
        max: Duration::from_secs(1),
        budget: Duration::from_secs(3),
    };

    /// The pause before retry number `retry` (0-based): "equal jitter", uniformly random in
    /// [cap/2, cap] with cap = min(max, first × 2^retry), so concurrent publishers spread out
    /// while each still backs off.
    pub fn pause(&self, retry: u32) -> Duration {
        let cap = self
            .first
            .saturating_mul(1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX))
            .min(self.max);
        let half = cap / 2;
        let jitter_nanos = u64::try_from((cap - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(fastrand::u64(0..=jitter_nanos))
    }
}

/// The result of one entry of one PutEvents call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryResult {
    Accepted { event_id: Option<String> },
    Failed { code: String, message: String },
}

/// One PutEvents call. A trait so the retry logic is tested with a fake.
#[allow(async_fn_in_trait)]
pub trait PutEvents {
    /// Sends `entries` in one call; `Ok` holds one result per entry, in order.
    async fn put_events(
        &self,
        entries: &[PutEventsRequestEntry],
    ) -> Result<Vec<EntryResult>, PublishError>;
}

impl PutEvents for aws_sdk_eventbridge::Client {
    async fn put_events(
        &self,
        entries: &[PutEventsRequestEntry],
    ) -> Result<Vec<EntryResult>, PublishError> {
        let output = self
            .put_events()
            .set_entries(Some(entries.to_vec()))
            .send()
            .await
            .map_err(|err| {
                PublishError::new(
                    err.code(),
                    format!("PutEvents failed: {}", describe_sdk_error(&err)),
                )
            })?;
        entry_results(&output, entries.len())
    }
}

/// The per-entry results of a PutEvents response to `sent` entries. A response that does not
/// say which entries failed cannot be retried entry by entry, so it is an error.
pub fn entry_results(
    output: &PutEventsOutput,
    sent: usize,
) -> Result<Vec<EntryResult>, PublishError> {
    let entries = output.entries();
    if entries.len() != sent {
        return Err(PublishError::new(
            None,
            format!(
                "PutEvents answered {} result entries for {sent} events sent",
                entries.len()
            ),
        ));
    }
    let results: Vec<EntryResult> = entries
        .iter()
        .map(|entry| match entry.error_code() {
            Some(code) => EntryResult::Failed {
                code: code.to_owned(),
                message: entry.error_message().unwrap_or("").to_owned(),
            },
            None => EntryResult::Accepted {
                event_id: entry.event_id().map(str::to_owned),
            },
        })
        .collect();
    let flagged = results
        .iter()
        .filter(|r| matches!(r, EntryResult::Failed { .. }))
        .count();
    if usize::try_from(output.failed_entry_count()).unwrap_or(0) > flagged {
        return Err(PublishError::new(
            None,
            format!(
                "PutEvents reported {} failed entries but only {flagged} carry an error code",
                output.failed_entry_count()
            ),
        ));
    }
    Ok(results)
}

/// Time for [`put_all`]: the real clock, or a fake one in tests.
#[allow(async_fn_in_trait)]
pub trait Clock {
    fn now(&self) -> Instant;
    async fn sleep(&self, pause: Duration);
}

/// The real clock (tokio's timer).
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    async fn sleep(&self, pause: Duration) {
        tokio::time::sleep(pause).await;
    }
}

/// `detail-type` of an entry, to name it in messages.
fn describe(entry: &PutEventsRequestEntry) -> &str {
    entry.detail_type().unwrap_or("event")
}

/// Sends every entry (in calls of at most [`MAX_ENTRIES`]) and resends those that failed with a
/// retryable code, with `backoff`, until all are accepted. Returns the event ids in the order of
/// `entries`. Fails at once on a call error or a non-retryable entry error, and when retryable
/// failures persist past the budget; the message names every failed entry's code and message.
pub async fn put_all(
    client: &impl PutEvents,
    clock: &impl Clock,
    entries: &[PutEventsRequestEntry],
    backoff: Backoff,
) -> Result<Vec<Option<String>>, PublishError> {
    // Set when the first call answers (see `Backoff::budget`).
    let mut started = None;
    let mut event_ids: Vec<Option<String>> = vec![None; entries.len()];
    // Indices into `entries` still to send, in their original order.
    let mut pending: Vec<usize> = (0..entries.len()).collect();
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let mut retryable: Vec<(usize, String, String)> = Vec::new();
        let mut fatal: Vec<(usize, String, String)> = Vec::new();
        for chunk in pending.chunks(MAX_ENTRIES) {
            let batch: Vec<PutEventsRequestEntry> =
                chunk.iter().map(|&i| entries[i].clone()).collect();
            let results = client.put_events(&batch).await?;
            if results.len() != batch.len() {
                return Err(PublishError::new(
                    None,
                    format!(
                        "PutEvents answered {} result entries for {} events sent",
                        results.len(),
                        batch.len()
                    ),
                ));
            }
            for (&index, result) in chunk.iter().zip(results) {
                match result {
                    EntryResult::Accepted { event_id } => event_ids[index] = event_id,
                    EntryResult::Failed { code, message }
                        if RETRYABLE_ENTRY_ERRORS.contains(&code.as_str()) =>
                    {
                        retryable.push((index, code, message))
                    }
                    EntryResult::Failed { code, message } => fatal.push((index, code, message)),
                }
            }
        }
        let summary = |failed: &[(usize, String, String)]| {
            failed
                .iter()
                .map(|(index, code, message)| {
                    format!("{}: {code}: {message}", describe(&entries[*index]))
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        if !fatal.is_empty() {
            // A non-retryable error will not go away by resending; the rest is left to the
            // caller's own retry (the events are at-least-once anyway).
            return Err(PublishError::new(
                Some(&fatal[0].1),
                format!(
                    "{} of {} events rejected by EventBridge (not retryable): {}",
                    fatal.len(),
                    entries.len(),
                    summary(&fatal)
                ),
            ));
        }
        if retryable.is_empty() {
            return Ok(event_ids);
        }
        let pause = backoff.pause(attempt - 1);
        let started = *started.get_or_insert_with(|| clock.now());
        let elapsed = clock.now().saturating_duration_since(started);
        if elapsed + pause > backoff.budget {
            return Err(PublishError::new(
                Some(&retryable[0].1),
                format!(
                    "{} of {} events still failing after {attempt} attempts in {} ms (retry budget {} ms): {}",
                    retryable.len(),
                    entries.len(),
                    elapsed.as_millis(),
                    backoff.budget.as_millis(),
                    summary(&retryable)
                ),
            ));
        }
        clock.sleep(pause).await;
        pending = retryable.into_iter().map(|(index, _, _)| index).collect();
    }
}

/// The PutEvents entry of `event` on `bus`.
pub fn entry(bus: &str, event: &BusEvent) -> Result<PutEventsRequestEntry, PublishError> {
    let detail = event.detail().map_err(|err| {
        PublishError::new(
            None,
            format!(
                "could not serialize the {} detail: {err}",
                event.detail_type()
            ),
        )
    })?;
    Ok(PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source(event.source())
        .detail_type(event.detail_type())
        .detail(detail)
        .build())
}

/// Publishes `events` on `bus` with [`put_all`] and [`Backoff::FUNCTION`]; an error means some
/// event was not accepted, so the caller's retry publishes again.
pub async fn publish(
    client: &aws_sdk_eventbridge::Client,
    bus: &str,
    events: &[BusEvent],
) -> Result<(), PublishError> {
    let entries = events
        .iter()
        .map(|event| entry(bus, event))
        .collect::<Result<Vec<_>, _>>()?;
    put_all(client, &TokioClock, &entries, Backoff::FUNCTION)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::collections::HashMap;

    /// Fails the entries whose detail is a key of `failures` with that code, as many times as
    /// the count says, then accepts them; records every call's details.
    struct FakeBus {
        failures: RefCell<HashMap<String, (String, u32)>>,
        calls: RefCell<Vec<Vec<String>>>,
    }

    impl FakeBus {
        fn new(failures: &[(&str, &str, u32)]) -> Self {
            FakeBus {
                failures: RefCell::new(
                    failures
                        .iter()
                        .map(|(detail, code, times)| {
                            ((*detail).to_owned(), ((*code).to_owned(), *times))
                        })
                        .collect(),
                ),
                calls: RefCell::new(Vec::new()),
            }
        }
    }

    impl PutEvents for FakeBus {
        async fn put_events(
            &self,
            entries: &[PutEventsRequestEntry],
        ) -> Result<Vec<EntryResult>, PublishError> {
            let details: Vec<String> = entries
                .iter()
                .map(|e| e.detail().unwrap_or_default().to_owned())
                .collect();
            self.calls.borrow_mut().push(details.clone());
            let mut failures = self.failures.borrow_mut();
            Ok(details
                .iter()
                .map(|detail| match failures.get_mut(detail) {
                    Some((code, times)) if *times > 0 => {
                        *times -= 1;
                        EntryResult::Failed {
                            code: code.clone(),
                            message: format!("{detail} failed"),
                        }
                    }
                    _ => EntryResult::Accepted {
                        event_id: Some(format!("id-{detail}")),
                    },
                })
                .collect())
        }
    }

    /// A clock that only moves when slept on; records the pauses.
    struct FakeClock {
        start: Instant,
        offset: Cell<Duration>,
        pauses: RefCell<Vec<Duration>>,
    }

    impl FakeClock {
        fn new() -> Self {
            FakeClock {
                start: Instant::now(),
                offset: Cell::new(Duration::ZERO),
                pauses: RefCell::new(Vec::new()),
            }
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> Instant {
            self.start + self.offset.get()
        }

        async fn sleep(&self, pause: Duration) {
            self.offset.set(self.offset.get() + pause);
            self.pauses.borrow_mut().push(pause);
        }
    }

    fn entries(details: &[&str]) -> Vec<PutEventsRequestEntry> {
        details
            .iter()
            .map(|d| {
                PutEventsRequestEntry::builder()
                    .detail_type("OrderStatusChanged")
                    .detail(*d)
                    .build()
            })
            .collect()
    }

    const BACKOFF: Backoff = Backoff {
        first: Duration::from_millis(100),
        max: Duration::from_millis(400),
        budget: Duration::from_secs(2),
    };

    fn run<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn only_the_failed_entries_are_resent_in_order() {
        let bus = FakeBus::new(&[("b", "ThrottlingException", 2), ("d", "InternalFailure", 1)]);
        let clock = FakeClock::new();
        let ids = run(put_all(
            &bus,
            &clock,
            &entries(&["a", "b", "c", "d"]),
            BACKOFF,
        ))
        .unwrap();
        assert_eq!(ids, ["a", "b", "c", "d"].map(|d| Some(format!("id-{d}"))));
        assert_eq!(
            *bus.calls.borrow(),
            vec![vec!["a", "b", "c", "d"], vec!["b", "d"], vec!["b"]]
        );
        assert_eq!(clock.pauses.borrow().len(), 2);
    }

    /// The first call answers late (the SDK retried it through throttling and 5xx for longer
    /// than the whole budget): its failed entries are still resent.
    struct SlowFirstCall<'a> {
        bus: FakeBus,
        clock: &'a FakeClock,
    }

    impl PutEvents for SlowFirstCall<'_> {
        async fn put_events(
            &self,
            entries: &[PutEventsRequestEntry],
        ) -> Result<Vec<EntryResult>, PublishError> {
            if self.bus.calls.borrow().is_empty() {
                self.clock
                    .offset
                    .set(self.clock.offset.get() + Duration::from_secs(30));
            }
            self.bus.put_events(entries).await
        }
    }

    #[test]
    fn a_first_call_slower_than_the_budget_still_gets_its_resends() {
        let clock = FakeClock::new();
        let slow = SlowFirstCall {
            bus: FakeBus::new(&[("a", "InternalFailure", 1)]),
            clock: &clock,
        };
        let ids = run(put_all(&slow, &clock, &entries(&["a"]), BACKOFF)).unwrap();
        assert_eq!(ids, [Some("id-a".to_string())]);
        assert_eq!(slow.bus.calls.borrow().len(), 2);
    }

    #[test]
    fn more_than_ten_entries_go_in_calls_of_ten_and_retries_keep_the_order() {
        let details: Vec<String> = (0..23).map(|i| format!("e{i:02}")).collect();
        let refs: Vec<&str> = details.iter().map(String::as_str).collect();
        let bus = FakeBus::new(&[
            ("e03", "ThrottlingException", 1),
            ("e15", "ThrottlingException", 1),
            ("e22", "InternalFailure", 1),
        ]);
        let ids = run(put_all(&bus, &FakeClock::new(), &entries(&refs), BACKOFF)).unwrap();
        assert!(ids.iter().all(Option::is_some));
        let calls = bus.calls.borrow();
        assert_eq!(
            calls.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![10, 10, 3, 3]
        );
        assert_eq!(calls[3], vec!["e03", "e15", "e22"]);
    }

    #[test]
    fn pauses_grow_exponentially_with_jitter_and_stay_bounded() {
        let bus = FakeBus::new(&[("a", "ThrottlingException", 5)]);
        let clock = FakeClock::new();
        let backoff = Backoff {
            budget: Duration::from_secs(10),
            ..BACKOFF
        };
        run(put_all(&bus, &clock, &entries(&["a"]), backoff)).unwrap();
        let pauses = clock.pauses.borrow();
        assert_eq!(pauses.len(), 5);
        // Caps 100, 200, 400, 400, 400 ms; each pause within [cap/2, cap].
        for (pause, cap_ms) in pauses.iter().zip([100u64, 200, 400, 400, 400]) {
            let cap = Duration::from_millis(cap_ms);
            assert!(
                *pause >= cap / 2 && *pause <= cap,
                "{pause:?} vs cap {cap:?}"
            );
        }
    }

    #[test]
    fn pause_never_exceeds_max_even_for_huge_retry_numbers() {
        for retry in [0, 1, 10, 31, 32, 1000, u32::MAX] {
            let pause = BACKOFF.pause(retry);
            assert!(pause <= BACKOFF.max, "retry {retry}: {pause:?}");
            assert!(pause >= BACKOFF.first / 2, "retry {retry}: {pause:?}");
        }
    }

    #[test]
    fn gives_up_at_the_budget_naming_the_code_and_message() {
        let bus = FakeBus::new(&[("a", "ThrottlingException", u32::MAX)]);
        let clock = FakeClock::new();
        let err = run(put_all(&bus, &clock, &entries(&["a", "b"]), BACKOFF)).unwrap_err();
        assert_eq!(err.code.as_deref(), Some("ThrottlingException"));
        assert!(
            err.message.contains("1 of 2 events still failing")
                && err
                    .message
                    .contains("OrderStatusChanged: ThrottlingException: a failed"),
            "{err}"
        );
        // It never slept past the budget, and stopped well before the failures would end.
        let slept: Duration = clock.pauses.borrow().iter().sum();
        assert!(slept <= BACKOFF.budget, "{slept:?}");
        assert!(
            slept + BACKOFF.max > BACKOFF.budget,
            "gave up early: {slept:?}"
        );
        assert_eq!(bus.calls.borrow().len(), clock.pauses.borrow().len() + 1);
    }

    #[test]
    fn non_retryable_entry_errors_are_not_retried() {
        let bus = FakeBus::new(&[
            ("a", "ThrottlingException", 1),
            ("b", "AccessDeniedException", 1),
        ]);
        let clock = FakeClock::new();
        let err = run(put_all(&bus, &clock, &entries(&["a", "b", "c"]), BACKOFF)).unwrap_err();
        assert_eq!(err.code.as_deref(), Some("AccessDeniedException"));
        assert_eq!(
            err.message,
            "1 of 3 events rejected by EventBridge (not retryable): \
             OrderStatusChanged: AccessDeniedException: b failed"
        );
        assert_eq!(bus.calls.borrow().len(), 1);
        assert!(clock.pauses.borrow().is_empty());
    }

    #[test]
    fn unknown_entry_error_codes_are_final() {
        let bus = FakeBus::new(&[("a", "SomeNewException", 1)]);
        let err = run(put_all(&bus, &FakeClock::new(), &entries(&["a"]), BACKOFF)).unwrap_err();
        assert_eq!(err.code.as_deref(), Some("SomeNewException"));
        assert_eq!(bus.calls.borrow().len(), 1);
    }

    #[test]
    fn a_response_that_does_not_say_which_entry_failed_is_an_error() {
        use aws_sdk_eventbridge::types::PutEventsResultEntry;
        let ok = PutEventsResultEntry::builder().event_id("x").build();
        let failed = PutEventsResultEntry::builder()
            .error_code("ThrottlingException")
            .error_message("slow down")
            .build();
        let output = PutEventsOutput::builder()
            .failed_entry_count(1)
            .entries(ok.clone())
            .entries(failed.clone())
            .build();
        assert_eq!(
            entry_results(&output, 2).unwrap(),
            vec![
                EntryResult::Accepted {
                    event_id: Some("x".into())
                },
                EntryResult::Failed {
                    code: "ThrottlingException".into(),
                    message: "slow down".into()
                }
            ]
        );
        // Fewer results than entries sent, or a failure count no entry explains.
        assert!(entry_results(&output, 3).is_err());
        let unexplained = PutEventsOutput::builder()
            .failed_entry_count(1)
            .entries(ok.clone())
            .build();
        assert!(entry_results(&unexplained, 1).is_err());
    }
}
