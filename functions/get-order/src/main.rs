//! get-order: `GET /orders/{order_id}` behind an API Gateway HTTP API (payload format 2.0).
//! Reads the order with a strongly consistent GetItem and answers its status, contents and
//! status history. See `handler` for the contract.

mod aws;
mod handler;

use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    order_domain::runtime::init_json_logging();
    let table_name = order_domain::runtime::required_env("ORDERS_TABLE")
        .inspect_err(|message| tracing::error!(error = %message, "invalid configuration"))?;
    // Honours AWS_ENDPOINT_URL, which is how the local emulator routes calls back to itself.
    let sdk_config = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let table = Arc::new(aws::DynamoTable {
        client: aws_sdk_dynamodb::Client::new(&sdk_config),
        name: table_name,
    });
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| {
            let table = Arc::clone(&table);
            async move {
                Ok::<ApiGatewayV2httpResponse, lambda_runtime::Error>(
                    handler::handle(&event.payload, &*table).await,
                )
            }
        },
    ))
    .await
}
