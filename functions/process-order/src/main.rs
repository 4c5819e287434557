//! process-order: consumes the orders queue through an SQS event source mapping with
//! ReportBatchItemFailures, moves each order to PROCESSED (exactly once per order id, never
//! backwards) and announces it as `OrderStatusChanged`.

mod aws;
mod handler;

use std::sync::Arc;
use std::time::SystemTime;

use aws_config::BehaviorVersion;
use aws_lambda_events::event::sqs::SqsEvent;
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
    let table = Arc::new(aws::DynamoTable {
        client: aws_sdk_dynamodb::Client::new(&sdk_config),
        name: config.table_name,
    });
    let bus = Arc::new(aws::EventBus {
        client: aws_sdk_eventbridge::Client::new(&sdk_config),
        name: config.event_bus_name,
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let table = Arc::clone(&table);
        let bus = Arc::clone(&bus);
        async move {
            handler::handle(event.payload, &*table, &*bus, SystemTime::now(), ttl_days).await
        }
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
