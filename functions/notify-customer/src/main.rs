//! notify-customer: invoked asynchronously by the pipeline's `order-finished` rule with each
//! `OrderStatusChanged` event whose new status is PROCESSED or REJECTED. Emails the customer
//! (SES) and publishes a notification on the stack's topic (SNS), once per order and status as
//! far as the customer can tell; see `handler` for the design and its trade-offs. Failures fail
//! the invocation, so Lambda retries it and finally dead-letters the event.

mod aws;
mod dynamo;
mod handler;
mod ledger;
mod message;
mod metrics;
mod money;

use std::sync::Arc;
use std::time::SystemTime;

use aws_config::BehaviorVersion;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    order_domain::runtime::init_json_logging();
    let config = aws::Config::from_env()
        .inspect_err(|message| tracing::error!(error = %message, "invalid configuration"))?;
    let function_name =
        std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "notify-customer".into());
    // Honours AWS_ENDPOINT_URL, which is how the local emulator routes calls back to itself.
    let sdk_config = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let ledger = Arc::new(aws::DynamoLedger {
        client: aws_sdk_dynamodb::Client::new(&sdk_config),
        table: config.table_name,
    });
    let mailer = Arc::new(aws::SesMailer {
        client: aws_sdk_sesv2::Client::new(&sdk_config),
        sender: config.sender,
    });
    let notifier = Arc::new(aws::SnsNotifier {
        client: aws_sdk_sns::Client::new(&sdk_config),
        topic_arn: config.topic_arn,
    });
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<Value>>| {
            let (ledger, mailer, notifier) = (
                Arc::clone(&ledger),
                Arc::clone(&mailer),
                Arc::clone(&notifier),
            );
            let function_name = function_name.clone();
            async move {
                let now = SystemTime::now();
                let invocation = handler::Invocation {
                    lease: handler::lease_for(event.context.deadline, now),
                    request_id: event.context.request_id,
                    function_name,
                    now,
                };
                handler::handle(event.payload, &*ledger, &*mailer, &*notifier, &invocation).await
            }
        },
    ))
    .await
}
