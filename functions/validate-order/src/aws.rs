//! [`Effects`] on the real services.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_sqs::types::MessageAttributeValue;
use order_domain::dynamodb::{describe_sdk_error, insert_if_absent, Insert};
use order_domain::item::OrderRecord;
use order_domain::{
    OrderRejected, ValidOrder, ORDER_ID_MESSAGE_ATTRIBUTE, ORDER_REJECTED, REJECTED_SOURCE,
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

    async fn record_rejection(&self, record: &OrderRecord) -> Result<Insert, EffectError> {
        insert_if_absent(&self.dynamodb, &self.config.table_name, record)
            .await
            .map_err(|err| EffectError {
                operation: "DynamoDB PutItem",
                message: describe_sdk_error(&err),
            })
    }

    async fn publish_rejection(&self, rejection: &OrderRejected) -> Result<(), EffectError> {
        const OPERATION: &str = "EventBridge PutEvents";
        let detail = serde_json::to_string(rejection).map_err(|err| EffectError {
            operation: OPERATION,
            message: format!("could not serialize the OrderRejected detail: {err}"),
        })?;
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.config.event_bus_name)
            .source(REJECTED_SOURCE)
            .detail_type(ORDER_REJECTED)
            .detail(detail)
            .build();
        let output = self
            .events
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|err| EffectError {
                operation: OPERATION,
                message: describe_sdk_error(&err),
            })?;
        // PutEvents succeeds as a call even when entries fail; each entry carries its own
        // outcome.
        let failed_entry = output.entries().iter().find(|e| e.error_code().is_some());
        if output.failed_entry_count() > 0 || failed_entry.is_some() {
            let (code, message) = failed_entry
                .map(|e| {
                    (
                        e.error_code().unwrap_or("unknown"),
                        e.error_message().unwrap_or(""),
                    )
                })
                .unwrap_or(("unknown", "no entry reported the error"));
            return Err(EffectError {
                operation: OPERATION,
                message: format!(
                    "{} of 1 entries failed: {code}: {message}",
                    output.failed_entry_count()
                ),
            });
        }
        Ok(())
    }
}
