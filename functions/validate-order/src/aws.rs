//! [`Effects`] on the real services.

use aws_sdk_sqs::types::MessageAttributeValue;
use order_domain::dynamodb::describe_sdk_error;
use order_domain::item::{OrderRecord, Status};
use order_domain::lifecycle::TransitionOutcome;
use order_domain::{
    BusEvent, OrderRejected, OrderStatusChanged, ValidOrder, ORDER_ID_MESSAGE_ATTRIBUTE,
};

use crate::handler::{EffectError, Effects};

/// Resource names from the function's environment.
#[derive(Debug, Clone)]
pub struct Config {
    pub queue_url: String,
    pub event_bus_name: String,
    pub table_name: String,
    pub ttl_days: Option<u32>,
}

impl Config {
    /// Reads `ORDERS_QUEUE_URL`, `EVENT_BUS_NAME`, `ORDERS_TABLE` and `ORDER_TTL_DAYS`.
    pub fn from_env() -> Result<Config, String> {
        let required = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
                .ok_or_else(|| format!("environment variable {name} is not set"))
        };
        let ttl = std::env::var(order_domain::item::ORDER_TTL_DAYS_ENV).ok();
        Ok(Config {
            queue_url: required("ORDERS_QUEUE_URL")?,
            event_bus_name: required("EVENT_BUS_NAME")?,
            table_name: required("ORDERS_TABLE")?,
            ttl_days: order_domain::item::parse_ttl_days(ttl.as_deref())?,
        })
    }
}

pub struct AwsEffects {
    pub sqs: aws_sdk_sqs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub config: Config,
}

impl AwsEffects {
    async fn publish(&self, event: BusEvent) -> Result<(), EffectError> {
        order_domain::eventbridge::publish(&self.events, &self.config.event_bus_name, &[event])
            .await
            .map_err(|err| EffectError {
                operation: "EventBridge PutEvents",
                message: err.message,
            })
    }
}

impl Effects for AwsEffects {
    async fn enqueue(&self, order: &ValidOrder) -> Result<String, EffectError> {
        const OPERATION: &str = "SQS SendMessage";
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(order.order_id())
            .build()
            .map_err(|err| EffectError {
                operation: OPERATION,
                message: err.to_string(),
            })?;
        let sent = self
            .sqs
            .send_message()
            .queue_url(&self.config.queue_url)
            .message_body(order.to_json())
            .message_attributes(ORDER_ID_MESSAGE_ATTRIBUTE, attribute)
            .send()
            .await
            .map_err(|err| EffectError {
                operation: OPERATION,
                message: describe_sdk_error(&err),
            })?;
        Ok(sent.message_id().unwrap_or_default().to_owned())
    }

    async fn transition(&self, candidate: &OrderRecord) -> Result<TransitionOutcome, EffectError> {
        order_domain::dynamodb::transition(&self.dynamodb, &self.config.table_name, candidate)
            .await
            .map_err(|err| EffectError {
                operation: "DynamoDB UpdateItem",
                message: describe_sdk_error(&err),
            })
    }

    async fn settle(&self, order_id: &str, status: Status) -> Result<(), EffectError> {
        order_domain::dynamodb::settle(&self.dynamodb, &self.config.table_name, order_id, status)
            .await
            .map(|_| ())
            .map_err(|err| EffectError {
                operation: "DynamoDB UpdateItem",
                message: describe_sdk_error(&err),
            })
    }

    async fn publish_status(&self, change: &OrderStatusChanged) -> Result<(), EffectError> {
        self.publish(BusEvent::StatusChanged(change.clone())).await
    }

    async fn publish_rejection(&self, rejection: &OrderRejected) -> Result<(), EffectError> {
        self.publish(BusEvent::Rejected(rejection.clone())).await
    }
}
