//! The handler's traits on the real services: S3 (the files and their results), DynamoDB
//! (the orders table) and EventBridge (through [`crate::bus::PutAllBus`]).

use std::pin::Pin;

use aws_sdk_s3::primitives::ByteStream;
use order_domain::dynamodb::{describe_sdk_error, Insert};
use order_domain::item::{OrderRecord, Status};
use tokio::io::AsyncBufRead;

use crate::handler::{ObjectSource, Opened, ResultSink, UPLOAD_ID_METADATA};
use crate::import::{DependencyError, OrderTable, DEFAULT_MAX_LINE_BYTES};

/// Name of the variable bounding an import line, in bytes.
pub const MAX_LINE_BYTES_ENV: &str = "IMPORT_MAX_LINE_BYTES";
/// Largest accepted `IMPORT_MAX_LINE_BYTES` (a line is held in memory while it is parsed).
pub const MAX_MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// Resource names and limits from the function's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub table_name: String,
    pub event_bus_name: String,
    pub ttl_days: Option<u32>,
    pub max_line_bytes: usize,
}

impl Config {
    /// Reads `ORDERS_TABLE`, `EVENT_BUS_NAME`, `ORDER_TTL_DAYS` and `IMPORT_MAX_LINE_BYTES`.
    pub fn from_env() -> Result<Config, String> {
        let ttl = std::env::var(order_domain::item::ORDER_TTL_DAYS_ENV).ok();
        let max_line = std::env::var(MAX_LINE_BYTES_ENV).ok();
        Ok(Config {
            table_name: order_domain::runtime::required_env("ORDERS_TABLE")?,
            event_bus_name: order_domain::runtime::required_env("EVENT_BUS_NAME")?,
            ttl_days: order_domain::item::parse_ttl_days(ttl.as_deref())?,
            max_line_bytes: parse_max_line_bytes(max_line.as_deref())?,
        })
    }
}

/// Unset or blank: [`DEFAULT_MAX_LINE_BYTES`]; otherwise a whole number of bytes in
/// 1..=[`MAX_MAX_LINE_BYTES`].
pub fn parse_max_line_bytes(value: Option<&str>) -> Result<usize, String> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(DEFAULT_MAX_LINE_BYTES);
    };
    match value.parse::<usize>() {
        Ok(bytes) if (1..=MAX_MAX_LINE_BYTES).contains(&bytes) => Ok(bytes),
        _ => Err(format!(
            "{MAX_LINE_BYTES_ENV} must be a whole number of bytes from 1 to {MAX_MAX_LINE_BYTES}, got {value:?}"
        )),
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

/// The bucket of the event: GetObject of the file (streamed), PutObject of its result.
pub struct S3 {
    pub client: aws_sdk_s3::Client,
}

impl ObjectSource for S3 {
    type Body = Pin<Box<dyn AsyncBufRead + Send>>;

    async fn open(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<Opened<Self::Body>>, DependencyError> {
        match self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(output) => {
                let upload_id = output
                    .metadata()
                    .and_then(|m| m.get(UPLOAD_ID_METADATA))
                    .cloned();
                Ok(Some(Opened {
                    body: Box::pin(output.body.into_async_read()),
                    upload_id,
                }))
            }
            Err(err) => {
                let no_such_key = err.as_service_error().is_some_and(|e| e.is_no_such_key())
                    || err.raw_response().map(|r| r.status().as_u16()) == Some(404);
                if no_such_key {
                    Ok(None)
                } else {
                    Err(DependencyError {
                        operation: "S3 GetObject",
                        message: describe_sdk_error(&err),
                    })
                }
            }
        }
    }
}

impl ResultSink for S3 {
    async fn put_result(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
    ) -> Result<(), DependencyError> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|err| DependencyError {
                operation: "S3 PutObject",
                message: describe_sdk_error(&err),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_limit_defaults_and_is_bounded() {
        assert_eq!(parse_max_line_bytes(None), Ok(262_144));
        assert_eq!(parse_max_line_bytes(Some("  ")), Ok(262_144));
        assert_eq!(parse_max_line_bytes(Some(" 1024 ")), Ok(1024));
        for bad in ["0", "-1", "1k", "67108865"] {
            let err = parse_max_line_bytes(Some(bad)).unwrap_err();
            assert!(err.contains("IMPORT_MAX_LINE_BYTES"), "{err}");
        }
    }
}
