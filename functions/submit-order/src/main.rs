//! submit-order: `POST /orders` behind an API Gateway HTTP API (payload format 2.0). Checks
//! the order with the pipeline's rules, records it as RECEIVED (idempotently, by
//! `Idempotency-Key` or order id) and announces it as `OrderPlaced` + `OrderStatusChanged`;
//! answers 202 with where to follow it. See `handler` for the whole contract.

mod aws;
mod handler;
mod ids;

use std::sync::Arc;
use std::time::SystemTime;

use aws_config::BehaviorVersion;
use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_runtime::{service_fn, LambdaEvent};
use order_domain::http::DependencyError;

fn new_order_id(at: SystemTime) -> Result<String, DependencyError> {
    ids::random_order_id(at).map_err(|err| DependencyError {
        operation: "getrandom",
        message: err.to_string(),
    })
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    order_domain::runtime::init_json_logging();
    let config = aws::Config::from_env().map_err(|message| {
        tracing::error!(error = %message, "invalid configuration");
        message
    })?;
    // Honours AWS_ENDPOINT_URL, which is how the local emulator routes calls back to itself.
    let sdk_config = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let table = Arc::new(aws::DynamoTable {
        client: aws_sdk_dynamodb::Client::new(&sdk_config),
        name: config.table_name,
    });
    let bus = Arc::new(aws::Bus {
        client: aws_sdk_eventbridge::Client::new(&sdk_config),
        name: config.event_bus_name,
    });
    let ttl_days = config.ttl_days;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| {
            let table = Arc::clone(&table);
            let bus = Arc::clone(&bus);
            async move {
                let cx = handler::Context {
                    table: &*table,
                    bus: &*bus,
                    now: SystemTime::now(),
                    ttl_days,
                    new_order_id: &new_order_id,
                };
                Ok::<ApiGatewayV2httpResponse, lambda_runtime::Error>(
                    handler::handle(&event.payload, &cx).await,
                )
            }
        },
    ))
    .await
}
