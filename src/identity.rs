//! Who and where a run acts as, learnt with one quick `sts:GetCallerIdentity` before any work.
//!
//! It is the first AWS call of every command that talks to AWS, so it is also where unusable
//! credentials and unreachable endpoints are turned into one sentence a user can act on, within
//! seconds: this call has a short connect timeout and a single retry, where the calls that do
//! the work keep the patient standard retries (`crate::aws::load_config`).

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use serde::Serialize;

use crate::error::Error;

/// The caller's account and identity, and the region and endpoint in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub account: String,
    /// The caller's ARN (`arn:aws:sts::123456789012:assumed-role/deploy/ci`).
    pub arn: String,
    pub region: String,
    /// `aws`, `aws-cn`, `aws-us-gov`: from the caller's ARN.
    #[serde(skip)]
    pub partition: String,
    /// The custom endpoint (the local emulator), if any.
    pub endpoint: Option<String>,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "account {} as {}, region {}",
            self.account, self.arn, self.region
        )?;
        if let Some(e) = &self.endpoint {
            write!(f, ", endpoint {e}")?;
        }
        Ok(())
    }
}

/// How long the identity call may take to connect, and in all, per attempt. A refused
/// connection fails at once; a black-holed one after the connect timeout (twice).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a run sends its calls, for messages.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The custom endpoint URL, if any.
    pub custom: Option<String>,
    pub region: String,
    /// Targeting the emulator with `--local`.
    pub local: bool,
    /// The profile given with `--profile` (or AWS_PROFILE), for hints.
    pub profile: Option<String>,
}

impl Endpoint {
    fn describe(&self) -> String {
        match &self.custom {
            Some(url) => url.clone(),
            None => format!(
                "AWS STS in {} (sts.{}.amazonaws.com)",
                self.region, self.region
            ),
        }
    }

    fn is_loopback(&self) -> bool {
        self.custom.as_deref().is_some_and(|url| {
            let authority = url.split("://").nth(1).unwrap_or(url);
            let authority = authority.split('/').next().unwrap_or_default();
            let host = match authority.strip_prefix('[') {
                Some(v6) => v6.split(']').next().unwrap_or_default(),
                None => authority.split(':').next().unwrap_or_default(),
            };
            host == "localhost" || host == "::1" || host.starts_with("127.")
        }) || self.local
    }
}

/// Ask STS who the credentials are. Errors are classified: [`Error::Credentials`],
/// [`Error::Unreachable`], or an AWS error with its code.
///
/// Retries are chosen here, not by the SDK: throttling and 5xx are retried with backoff (the
/// service is there and busy), a connection that fails only once more (nothing answers: say so
/// now, not after the SDK's 8 attempts), anything else not at all.
pub async fn whoami(config: &SdkConfig, endpoint: &Endpoint) -> Result<Identity, Error> {
    let conf = aws_sdk_sts::config::Builder::from(config)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        )
        .build();
    let client = aws_sdk_sts::Client::from_conf(conf);
    let started = std::time::Instant::now();
    let mut delay = FIRST_RETRY;
    // A connection that fails is retried once per run, whatever else failed before it.
    let mut connection_failures = 0;
    let out = loop {
        match client.get_caller_identity().send().await {
            Ok(out) => break out,
            Err(e) => {
                let chain = chain_text(&e);
                let again = match &e {
                    SdkError::ServiceError(s) => {
                        let status = s.raw().status().as_u16();
                        status == 429 || status >= 500 || is_throttling(s.err().code())
                    }
                    SdkError::ResponseError(_) => true,
                    // The chain found no credentials: asking again finds none either.
                    SdkError::DispatchFailure(_)
                        if credentials_problem(&chain, endpoint).is_some() =>
                    {
                        false
                    }
                    // Nothing listens, or the host does not resolve: once more, then say so.
                    SdkError::DispatchFailure(d) if d.is_timeout() || unreachable(&chain) => {
                        connection_failures += 1;
                        connection_failures == 1
                    }
                    SdkError::TimeoutError(_) => {
                        connection_failures += 1;
                        connection_failures == 1
                    }
                    // A connection dropped or reset mid-request: the endpoint is there.
                    SdkError::DispatchFailure(_) => true,
                    _ => false,
                };
                if !again || started.elapsed() + delay > BUSY_DEADLINE {
                    return Err(classify(e, endpoint));
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_RETRY);
            }
        }
    };
    let arn = out.arn().unwrap_or_default().to_string();
    let partition = arn.split(':').nth(1).unwrap_or("aws").to_string();
    Ok(Identity {
        account: out.account().unwrap_or_default().to_string(),
        partition: if partition.is_empty() {
            "aws".into()
        } else {
            partition
        },
        arn,
        region: endpoint.region.clone(),
        endpoint: endpoint.custom.clone(),
    })
}

/// Retries of a busy STS: from 200 ms, doubling to 5 s, for at most 30 s in all.
const FIRST_RETRY: Duration = Duration::from_millis(200);
const MAX_RETRY: Duration = Duration::from_secs(5);
const BUSY_DEADLINE: Duration = Duration::from_secs(30);

fn is_throttling(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "Throttling"
                | "ThrottlingException"
                | "ThrottledException"
                | "RequestThrottled"
                | "RequestThrottledException"
                | "TooManyRequestsException"
                | "RequestLimitExceeded"
                | "SlowDown"
        )
    )
}

/// Turn a failed identity call into the error a user can act on.
fn classify<E, R>(err: SdkError<E, R>, endpoint: &Endpoint) -> Error
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    let chain = chain_text(&err);
    if let Some(e) = credentials_problem(&chain, endpoint) {
        return e;
    }
    match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().unwrap_or("error").to_string();
            let message = e.message().unwrap_or_default().to_string();
            match code.as_str() {
                "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" => Error::Credentials {
                    message: format!("the AWS credentials in use have expired ({code})"),
                    hint: refresh_hint(endpoint),
                },
                "InvalidClientTokenId"
                | "SignatureDoesNotMatch"
                | "UnrecognizedClientException"
                | "InvalidAccessKeyId" => Error::Credentials {
                    message: format!(
                        "AWS does not accept the credentials in use ({code}: {message})"
                    ),
                    hint: refresh_hint(endpoint),
                },
                _ => Error::Aws {
                    resource: "identity".into(),
                    action: "GetCallerIdentity".into(),
                    message: format!("{code}: {message}"),
                    code: Some(code),
                },
            }
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            let reason = if matches!(err, SdkError::TimeoutError(_)) || chain.contains("timed out")
            {
                format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs())
            } else if chain.contains("Connection refused") || chain.contains("connection refused") {
                "connection refused".to_string()
            } else if chain.contains("dns error") || chain.contains("failed to lookup") {
                "the host name does not resolve".to_string()
            } else {
                last_line(&chain)
            };
            let hint = if endpoint.is_loopback() && !unreachable(&chain) {
                "the emulator there did not complete the request: check `orderflow local status` and its log"
                    .to_string()
            } else if endpoint.is_loopback() {
                "nothing answers there: start the local emulator with `orderflow local start` \
                 (add `--port N` for another port than 4566), or check --endpoint-url / \
                 AWS_ENDPOINT_URL"
                    .to_string()
            } else if endpoint.custom.is_some() {
                "check the endpoint URL (--endpoint-url or AWS_ENDPOINT_URL) and that it is running"
                    .to_string()
            } else {
                "check the network connection, a proxy (HTTPS_PROXY) or firewall, and the region"
                    .to_string()
            };
            Error::Unreachable {
                endpoint: endpoint.describe(),
                reason,
                hint,
            }
        }
        _ => Error::Other(format!(
            "checking the AWS identity (sts:GetCallerIdentity) failed: {}",
            last_line(&chain)
        )),
    }
}

/// A credential chain that found nothing, or an SSO session that ran out.
fn credentials_problem(chain: &str, endpoint: &Endpoint) -> Option<Error> {
    let lower = chain.to_ascii_lowercase();
    let profile = endpoint
        .profile
        .as_deref()
        .map(|p| format!(" --profile {p}"))
        .unwrap_or_default();
    if lower.contains("sso") && lower.contains("token") {
        let message = if lower.contains("expired") {
            "the AWS SSO session has expired"
        } else {
            "not signed in to AWS SSO (no cached SSO token for this profile)"
        };
        return Some(Error::Credentials {
            message: format!("{message} (the SDK said: {})", last_line(chain)),
            hint: format!("sign in with `aws sso login{profile}`, then rerun"),
        });
    }
    // The chain tried every provider (environment, profile, SSO, web identity, ECS, IMDS) and
    // none gave credentials; what the last one said (often IMDS) is kept for the curious.
    let none = lower.contains("no credentials")
        || lower.contains("loading credentials")
        || lower.contains("load credentials")
        || lower.contains("credentials not loaded")
        || lower.contains("the credential provider was not enabled");
    none.then(|| Error::Credentials {
        message: format!(
            "no AWS credentials found (the last source tried said: {})",
            last_line(chain)
        ),
        hint: "provide them with a profile (`--profile NAME` or AWS_PROFILE, set up by `aws \
               configure`), an SSO login (`aws sso login --profile NAME`), the environment \
               (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a web identity role in CI), or \
               use the local emulator with `--local`"
            .into(),
    })
}

fn refresh_hint(endpoint: &Endpoint) -> String {
    match &endpoint.profile {
        Some(p) => format!(
            "refresh the credentials of profile {p} (`aws sso login --profile {p}` for SSO), or \
             choose another with --profile"
        ),
        None => "refresh the credentials (environment variables, AWS_PROFILE, `aws sso login`), \
                 or choose a profile with --profile"
            .into(),
    }
}

/// A connection nothing accepted: refused, or a host name that does not resolve.
fn unreachable(chain: &str) -> bool {
    let lower = chain.to_ascii_lowercase();
    lower.contains("connection refused")
        || lower.contains("dns error")
        || lower.contains("failed to lookup")
}

/// Every message in the error's source chain, one per line (the SDK nests the cause deep).
fn chain_text(err: &(dyn StdError + 'static)) -> String {
    let mut lines = vec![err.to_string()];
    let mut source = err.source();
    while let Some(s) = source {
        lines.push(s.to_string());
        source = s.source();
    }
    lines.join("\n")
}

/// The innermost message: the actual cause, without the SDK's wrappers.
fn last_line(chain: &str) -> String {
    chain.lines().last().unwrap_or(chain).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(custom: Option<&str>) -> Endpoint {
        Endpoint {
            custom: custom.map(str::to_string),
            region: "eu-west-1".into(),
            local: false,
            profile: Some("prod".into()),
        }
    }

    #[test]
    fn an_expired_sso_session_says_how_to_sign_in_again() {
        let chain = "dispatch failure\nfailed to load credentials\nthe SSO token has expired";
        let Some(Error::Credentials { message, hint }) =
            credentials_problem(chain, &endpoint(None))
        else {
            panic!("not a credentials error");
        };
        assert!(
            message.starts_with("the AWS SSO session has expired"),
            "{message}"
        );
        assert!(hint.contains("aws sso login --profile prod"), "{hint}");
    }

    #[test]
    fn an_empty_chain_names_every_way_to_provide_credentials() {
        let chain = "dispatch failure\nother\nthe credential provider was not enabled\nno credentials in the property bag";
        let Some(Error::Credentials { hint, .. }) = credentials_problem(chain, &endpoint(None))
        else {
            panic!("not a credentials error");
        };
        for way in ["--profile", "aws sso login", "AWS_ACCESS_KEY_ID", "--local"] {
            assert!(hint.contains(way), "{way} missing from {hint}");
        }
    }

    #[test]
    fn loopback_endpoints_are_recognised() {
        assert!(endpoint(Some("http://127.0.0.1:4566")).is_loopback());
        assert!(endpoint(Some("http://localhost:4566/")).is_loopback());
        assert!(endpoint(Some("http://[::1]:4566")).is_loopback());
        assert!(!endpoint(Some("https://sts.example.internal")).is_loopback());
        assert!(!endpoint(None).is_loopback());
    }
}
