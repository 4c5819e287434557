//! process-order: consumes the orders queue through an SQS event source mapping with
//! ReportBatchItemFailures and stores each order as PROCESSED, exactly once per order id.

mod handler;

use std::sync::Arc;
use std::time::SystemTime;

use aws_config::BehaviorVersion;
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};
use order_domain::dynamodb::Insert;
use order_domain::item::OrderRecord;
use tracing_subscriber::EnvFilter;

use handler::{OrderStore, StoreError};

struct DynamoTable {
    client: aws_sdk_dynamodb::Client,
    name: String,
}

impl OrderStore for DynamoTable {
    async fn insert_if_absent(&self, record: &OrderRecord) -> Result<Insert, StoreError> {
        order_domain::dynamodb::insert_if_absent(&self.client, &self.name, record)
            .await
            .map_err(|err| StoreError(order_domain::dynamodb::describe_sdk_error(&err)))
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_logging();
    let table_name = std::env::var("ORDERS_TABLE")
        .ok()
        .filter(|name| !name.trim().is_empty())
        .ok_or("environment variable ORDERS_TABLE is not set")
        .inspect_err(|message| tracing::error!(error = %message, "invalid configuration"))?;
    let ttl = std::env::var(order_domain::item::ORDER_TTL_DAYS_ENV).ok();
    let ttl_days = order_domain::item::parse_ttl_days(ttl.as_deref())
        .inspect_err(|message| tracing::error!(error = %message, "invalid configuration"))?;
    // Honours AWS_ENDPOINT_URL, which is how the local emulator routes calls back to itself.
    let sdk_config = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let table = Arc::new(DynamoTable {
        client: aws_sdk_dynamodb::Client::new(&sdk_config),
        name: table_name,
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let table = Arc::clone(&table);
        async move { handler::handle(event.payload, &*table, SystemTime::now(), ttl_days).await }
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
