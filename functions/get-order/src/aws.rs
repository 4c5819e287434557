//! [`OrderReader`] on DynamoDB.

use order_domain::dynamodb::{describe_sdk_error, from_item, get_item};
use order_domain::http::DependencyError;
use order_domain::item::OrderRecord;

use crate::handler::{OrderReader, ReadError};

pub struct DynamoTable {
    pub client: aws_sdk_dynamodb::Client,
    pub name: String,
}

impl OrderReader for DynamoTable {
    async fn get(&self, order_id: &str) -> Result<Option<OrderRecord>, ReadError> {
        let item = get_item(&self.client, &self.name, order_id)
            .await
            .map_err(|err| {
                ReadError::Dependency(DependencyError {
                    operation: "DynamoDB GetItem",
                    message: describe_sdk_error(&err),
                })
            })?;
        item.map(|item| from_item(&item).map_err(|err| ReadError::Unreadable(err.to_string())))
            .transpose()
    }
}
