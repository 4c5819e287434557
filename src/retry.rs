//! Bounded retries for conditions real AWS makes transient (IAM propagation, a Lambda update in
//! progress, a queue deleted in the last 60 s, a table still creating). Throttling is left to the
//! SDK's own retry configuration.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::Error;

/// How long and how often to retry.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    pub deadline: Duration,
}

impl Backoff {
    pub const fn new(first_ms: u64, max_ms: u64, deadline_secs: u64) -> Self {
        Backoff {
            first: Duration::from_millis(first_ms),
            max: Duration::from_millis(max_ms),
            deadline: Duration::from_secs(deadline_secs),
        }
    }
}

/// Run `op` until it succeeds, fails with an error `transient` rejects, or the deadline passes
/// (then the last error is returned).
pub async fn retry<T, F, Fut>(
    backoff: Backoff,
    transient: impl Fn(&Error) -> bool,
    mut op: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let start = Instant::now();
    let mut delay = backoff.first;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if transient(&e) && start.elapsed() + delay < backoff.deadline => {
                tracing::debug!(error = %e, delay_ms = delay.as_millis() as u64, "transient error, retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(backoff.max);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Could a failed request have reached AWS and been applied, or be worth repeating? Timeouts,
/// dropped connections, unreadable responses, 5xx and throttling: yes. Other 4xx: no.
pub fn may_have_been_applied<E>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> bool {
    use aws_smithy_runtime_api::client::result::SdkError;
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(se) => {
            let status = se.raw().status();
            status.is_server_error() || status.as_u16() == 429
        }
        _ => false,
    }
}

/// Poll `probe` until it returns `Some`, or fail with a timeout naming `what`.
pub async fn poll_until<T, F, Fut>(
    what: impl std::fmt::Display,
    backoff: Backoff,
    mut probe: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, Error>>,
{
    let start = Instant::now();
    let mut delay = backoff.first;
    loop {
        if let Some(v) = probe().await? {
            return Ok(v);
        }
        if start.elapsed() >= backoff.deadline {
            return Err(Error::Timeout {
                what: what.to_string(),
                secs: backoff.deadline.as_secs(),
            });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(backoff.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn conflict() -> Error {
        Error::Aws {
            resource: "function.x".into(),
            action: "UpdateFunctionCode".into(),
            code: Some("ResourceConflictException".into()),
            message: "update in progress".into(),
        }
    }

    #[tokio::test]
    async fn retries_transient_errors_then_succeeds() {
        let calls = AtomicU32::new(0);
        let out = retry(
            Backoff::new(1, 2, 5),
            |e| e.code() == Some("ResourceConflictException"),
            || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                    Err(conflict())
                } else {
                    Ok(7)
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(out, 7);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn does_not_retry_permanent_errors() {
        let calls = AtomicU32::new(0);
        let err = retry(
            Backoff::new(1, 2, 5),
            |_| false,
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(conflict())
            },
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), Some("ResourceConflictException"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn gives_up_at_the_deadline() {
        let calls = AtomicU32::new(0);
        let err = retry(
            Backoff::new(10, 10, 0),
            |_| true,
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(conflict())
            },
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), Some("ResourceConflictException"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn only_failures_that_may_have_reached_aws_count_as_maybe_applied() {
        use aws_smithy_runtime_api::client::result::SdkError;
        use aws_smithy_runtime_api::http::{Response, StatusCode};
        use aws_smithy_types::body::SdkBody;
        let answered = |status: u16| -> SdkError<&'static str, Response> {
            SdkError::service_error(
                "error",
                Response::new(StatusCode::try_from(status).unwrap(), SdkBody::empty()),
            )
        };
        assert!(may_have_been_applied(&answered(500)));
        assert!(may_have_been_applied(&answered(503)));
        assert!(may_have_been_applied(&answered(429)));
        assert!(!may_have_been_applied(&answered(400)));
        assert!(!may_have_been_applied(&answered(409)));
        let timeout: SdkError<&'static str, Response> = SdkError::timeout_error("timed out");
        assert!(may_have_been_applied(&timeout));
    }

    #[tokio::test]
    async fn poll_times_out_with_a_clear_error() {
        let err = poll_until("queue.orders deletion", Backoff::new(1, 1, 0), || async {
            Ok::<Option<()>, Error>(None)
        })
        .await
        .unwrap_err();
        assert!(err.to_string().contains("queue.orders deletion: timed out"));
    }
}
