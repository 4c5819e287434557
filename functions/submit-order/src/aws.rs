//! [`OrderTable`] and [`EventBus`] on the real services.

use order_domain::dynamodb::{describe_sdk_error, Insert};
use order_domain::http::DependencyError;
use order_domain::item::{OrderRecord, Status};
use order_domain::BusEvent;

use crate::handler::{EventBus, OrderTable};

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
        let ttl = std::env::var(order_domain::item::ORDER_TTL_DAYS_ENV).ok();
        Ok(Config {
            table_name: order_domain::runtime::required_env("ORDERS_TABLE")?,
            event_bus_name: order_domain::runtime::required_env("EVENT_BUS_NAME")?,
            ttl_days: order_domain::item::parse_ttl_days(ttl.as_deref())?,
        })
    }
}

pub struct DynamoTable {
    pub client: aws_sdk_dynamodb::Client,
    pub name: String,
}

impl OrderTable for DynamoTable {
    async fn insert_if_absent(&self, record: &OrderRecord) -> Result<Insert, DependencyError> {
        order_domain::dynamodb::insert_if_absent(&self.client, &self.name, record)
            .await
            .map_err(|err| DependencyError {
                operation: "DynamoDB PutItem",
                message: describe_sdk_error(&err),
            })
    }

    async fn settle(&self, order_id: &str, status: Status) -> Result<(), DependencyError> {
        order_domain::dynamodb::settle(&self.client, &self.name, order_id, status)
            .await
            .map(|_| ())
            .map_err(|err| DependencyError {
                operation: "DynamoDB UpdateItem",
                message: describe_sdk_error(&err),
            })
    }
}

pub struct Bus {
    pub client: aws_sdk_eventbridge::Client,
    pub name: String,
}

impl EventBus for Bus {
    async fn publish(&self, events: &[BusEvent]) -> Result<(), DependencyError> {
        order_domain::eventbridge::publish(&self.client, &self.name, events)
            .await
            .map_err(|err| DependencyError {
                operation: "EventBridge PutEvents",
                message: err.message,
            })
    }
}
