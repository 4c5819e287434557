//! Creating an HTTP API without ever making two: CreateApi is the one create AWS does not make
//! idempotent (API names are not unique).

use aws_sdk_apigatewayv2::operation::create_api::builders::CreateApiFluentBuilder;

use super::provider::{find_api, is_concurrent_modification};
use crate::error::Error;
use crate::resources::Ctx;
use crate::retry::{may_have_been_applied, Backoff};

/// How long to keep trying CreateApi after failures that may or may not have been applied.
const CREATE_API: Backoff = Backoff::new(500, 8_000, 120);

/// CreateApi is not idempotent (API names are not unique), so it must not be retried blindly:
/// after a lost response (a 5xx, a timeout or a dropped connection once API Gateway applied it),
/// a second attempt makes a second API. So the SDK does not retry it; this does, and before each
/// new attempt looks for the API by name and ownership tag, adopting it if the failed attempt
/// made it. Returns the API's id and endpoint.
pub(crate) async fn create_api_once(
    ctx: &Ctx,
    res: &str,
    name: &str,
    request: impl Fn() -> CreateApiFluentBuilder,
) -> Result<(String, String), Error> {
    use aws_sdk_apigatewayv2::config::retry::RetryConfig;
    let start = std::time::Instant::now();
    let mut delay = CREATE_API.first;
    loop {
        let attempt = request()
            .customize()
            .config_override(
                aws_sdk_apigatewayv2::config::Builder::default()
                    .retry_config(RetryConfig::disabled()),
            )
            .send()
            .await;
        let (error, maybe_applied) = match attempt {
            Ok(created) => {
                let id = created
                    .api_id()
                    .ok_or_else(|| Error::Other(format!("{res}: CreateApi returned no API id")))?;
                return Ok((
                    id.to_string(),
                    created.api_endpoint().unwrap_or_default().into(),
                ));
            }
            Err(e) => {
                let maybe_applied = may_have_been_applied(&e);
                (Error::aws(res, "CreateApi", e), maybe_applied)
            }
        };
        if !(maybe_applied || is_concurrent_modification(&error))
            || start.elapsed() + delay >= CREATE_API.deadline
        {
            return Err(error);
        }
        if let Some(found) = find_api(ctx, res, name).await? {
            if found.owned {
                tracing::info!(resource = res, api_id = %found.id, "adopting the API a failed CreateApi made");
                let endpoint = found.api.api_endpoint().unwrap_or_default().to_string();
                return Ok((found.id, endpoint));
            }
        }
        tracing::debug!(error = %error, delay_ms = delay.as_millis() as u64, "CreateApi failed, retrying");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(CREATE_API.max);
    }
}
