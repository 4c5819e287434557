//! [`OrderStore`] and [`StatusEvents`] on the real services.

use order_domain::dynamodb::describe_sdk_error;
use order_domain::item::{OrderRecord, Status};
use order_domain::lifecycle::TransitionOutcome;
use order_domain::{BusEvent, OrderStatusChanged};

use crate::handler::{OrderStore, PublishError, StatusEvents, StoreError};

/// Resource names from the function's environment.
#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub event_bus_name: String,
    pub ttl_days: Option<u32>,
}

impl Config {
    /// Reads `ORDERS_TABLE`, `EVENT_BUS_NAME` and `ORDER_TTL_DAYS`.
    pub fn from_env() -> Result<Config, String> {
        let required = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
                .ok_or_else(|| format!("environment variable {name} is not set"))
        };
        let ttl = std::env::var(order_domain::item::ORDER_TTL_DAYS_ENV).ok();
        Ok(Config {
            table_name: required("ORDERS_TABLE")?,
            event_bus_name: required("EVENT_BUS_NAME")?,
            ttl_days: order_domain::item::parse_ttl_days(ttl.as_deref())?,
        })
    }
}

pub struct DynamoTable {
    pub client: aws_sdk_dynamodb::Client,
    pub name: String,
}

impl OrderStore for DynamoTable {
    async fn transition(&self, candidate: &OrderRecord) -> Result<TransitionOutcome, StoreError> {
        order_domain::dynamodb::transition(&self.client, &self.name, candidate)
            .await
            .map_err(|err| StoreError(describe_sdk_error(&err)))
    }

    async fn settle(&self, order_id: &str, status: Status) -> Result<(), StoreError> {
        order_domain::dynamodb::settle(&self.client, &self.name, order_id, status)
            .await
            .map(|_| ())
            .map_err(|err| StoreError(describe_sdk_error(&err)))
    }
}

pub struct EventBus {
    pub client: aws_sdk_eventbridge::Client,
    pub name: String,
}

impl StatusEvents for EventBus {
    async fn publish_status(&self, change: &OrderStatusChanged) -> Result<(), PublishError> {
        order_domain::eventbridge::publish(
            &self.client,
            &self.name,
            &[BusEvent::StatusChanged(change.clone())],
        )
        .await
        .map_err(|err| PublishError(err.message))
    }
}
