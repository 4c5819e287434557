//! validate-order: invoked asynchronously by the pipeline's EventBridge rule with each
//! `OrderPlaced` event. Valid orders are recorded as VALIDATED and go to the orders queue;
//! invalid ones are recorded as REJECTED and announced as `OrderRejected`; every status change
//! is announced as `OrderStatusChanged`. Failed AWS calls fail the invocation so Lambda
//! retries it and finally dead-letters the event.

mod aws;
mod handler;

use std::sync::Arc;
use std::time::SystemTime;

use aws_config::BehaviorVersion;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{service_fn, LambdaEvent};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_logging();
    let config = aws::Config::from_env().map_err(|message| {
        tracing::error!(error = %message, "invalid configuration");
        message
    })?;
    // Honours AWS_ENDPOINT_URL, which is how the local emulator routes calls back to itself.
    let sdk_config = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let ttl_days = config.ttl_days;
    let effects = Arc::new(aws::AwsEffects {
        sqs: aws_sdk_sqs::Client::new(&sdk_config),
        dynamodb: aws_sdk_dynamodb::Client::new(&sdk_config),
        events: aws_sdk_eventbridge::Client::new(&sdk_config),
        config,
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<EventBridgeEvent<order_domain::RawJson>>| {
        let effects = Arc::clone(&effects);
        async move { handler::handle(event.payload, &*effects, SystemTime::now(), ttl_days).await }
    }))
    .await
}

/// JSON lines for CloudWatch: level, target, fields and the invocation span (request id);
/// `RUST_LOG` overrides the default `info`.
fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(true)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .init();
}
