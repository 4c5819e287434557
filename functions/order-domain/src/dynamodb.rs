//! [`OrderRecord`] as a DynamoDB item and back (feature `dynamodb`).

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use crate::item::{self, OrderRecord, Status};
use crate::{LineItem, Reason, ReasonCode};

/// A stored item that does not have the orders-table shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("orders-table item attribute {attribute}: {problem}")]
pub struct ItemError {
    pub attribute: String,
    pub problem: String,
}

/// The attribute map PutItem stores. Absent optional fields are left out, never stored as
/// NULL, so `attribute_exists` checks and TTL behave.
pub fn to_item(record: &OrderRecord) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::new();
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let n = |v: i64| AttributeValue::N(v.to_string());
    item.insert(item::ORDER_ID.to_owned(), s(&record.order_id));
    item.insert(item::STATUS.to_owned(), s(record.status.as_str()));
    item.insert(item::RECEIVED_AT.to_owned(), s(&record.received_at));
    if let Some(customer_id) = &record.customer_id {
        item.insert(item::CUSTOMER_ID.to_owned(), s(customer_id));
    }
    if let Some(currency) = &record.currency {
        item.insert(item::CURRENCY.to_owned(), s(currency));
    }
    if let Some(total) = record.total_minor {
        item.insert(item::TOTAL_MINOR.to_owned(), n(total));
    }
    if let Some(items) = &record.items {
        let list = items
            .iter()
            .map(|line| {
                AttributeValue::M(HashMap::from([
                    (item::SKU.to_owned(), s(&line.sku)),
                    (item::QUANTITY.to_owned(), n(line.quantity)),
                    (item::UNIT_PRICE_MINOR.to_owned(), n(line.unit_price_minor)),
                ]))
            })
            .collect();
        item.insert(item::ITEMS.to_owned(), AttributeValue::L(list));
    }
    if let Some(message_id) = &record.message_id {
        item.insert(item::MESSAGE_ID.to_owned(), s(message_id));
    }
    if let Some(event_id) = &record.event_id {
        item.insert(item::EVENT_ID.to_owned(), s(event_id));
    }
    if !record.reasons.is_empty() {
        let list = record
            .reasons
            .iter()
            .map(|reason| {
                AttributeValue::M(HashMap::from([
                    (item::REASON_CODE.to_owned(), s(reason.code.as_str())),
                    (item::REASON_MESSAGE.to_owned(), s(&reason.message)),
                ]))
            })
            .collect();
        item.insert(item::REASONS.to_owned(), AttributeValue::L(list));
    }
    if let Some(expires_at) = record.expires_at {
        item.insert(item::EXPIRES_AT.to_owned(), n(expires_at));
    }
    item
}

/// What [`insert_if_absent`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Insert {
    /// The record is now stored.
    Stored,
    /// A record with this order id already existed and was left untouched. `existing` is that
    /// record when DynamoDB returned it and it has the orders-table shape.
    AlreadyExists { existing: Option<Box<OrderRecord>> },
}

/// Stores `record` unless an item with its order id exists: a conditional PutItem, so a stored
/// order is never overwritten, whichever writer comes second.
pub async fn insert_if_absent(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    record: &OrderRecord,
) -> Result<Insert, SdkError<PutItemError>> {
    let result = client
        .put_item()
        .table_name(table)
        .set_item(Some(to_item(record)))
        .condition_expression("attribute_not_exists(#order_id)")
        .expression_attribute_names("#order_id", item::ORDER_ID)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await;
    match result {
        Ok(_) => Ok(Insert::Stored),
        Err(err) => match err.as_service_error() {
            Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                Ok(Insert::AlreadyExists {
                    existing: failed
                        .item()
                        .and_then(|old| from_item(old).ok())
                        .map(Box::new),
                })
            }
            _ => Err(err),
        },
    }
}

/// A one-line description of any AWS SDK error (they share `SdkError`): `Code: message` for a
/// service error, the whole cause chain for a transport or timeout failure.
pub fn describe_sdk_error<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(_) => format!(
            "{}: {}",
            err.code().unwrap_or("UnknownError"),
            err.message().unwrap_or("no message")
        ),
        _ => DisplayErrorContext(err).to_string(),
    }
}

/// Reads an item written by [`to_item`].
pub fn from_item(item: &HashMap<String, AttributeValue>) -> Result<OrderRecord, ItemError> {
    let status_text = required_string(item, item::STATUS)?;
    let status = Status::parse(&status_text).ok_or_else(|| ItemError {
        attribute: item::STATUS.to_owned(),
        problem: format!(
            "{status_text:?} is neither {} nor {}",
            item::STATUS_PROCESSED,
            item::STATUS_REJECTED
        ),
    })?;
    let items = match item.get(item::ITEMS) {
        None => None,
        Some(value) => Some(
            list(value, item::ITEMS)?
                .iter()
                .enumerate()
                .map(|(index, entry)| {
                    let path = format!("{}[{index}]", item::ITEMS);
                    let entry = map(entry, &path)?;
                    Ok(LineItem {
                        sku: required_string(entry, item::SKU)?,
                        quantity: required_number(entry, item::QUANTITY)?,
                        unit_price_minor: required_number(entry, item::UNIT_PRICE_MINOR)?,
                    })
                })
                .collect::<Result<Vec<_>, ItemError>>()?,
        ),
    };
    let reasons = match item.get(item::REASONS) {
        None => Vec::new(),
        Some(value) => list(value, item::REASONS)?
            .iter()
            .enumerate()
            .map(|(index, entry)| {
                let path = format!("{}[{index}]", item::REASONS);
                let entry = map(entry, &path)?;
                let code_text = required_string(entry, item::REASON_CODE)?;
                let code = ReasonCode::parse(&code_text).ok_or_else(|| ItemError {
                    attribute: format!("{path}.{}", item::REASON_CODE),
                    problem: format!("unknown reason code {code_text:?}"),
                })?;
                Ok(Reason {
                    code,
                    message: required_string(entry, item::REASON_MESSAGE)?,
                })
            })
            .collect::<Result<Vec<_>, ItemError>>()?,
    };
    Ok(OrderRecord {
        order_id: required_string(item, item::ORDER_ID)?,
        status,
        customer_id: optional_string(item, item::CUSTOMER_ID)?,
        currency: optional_string(item, item::CURRENCY)?,
        total_minor: optional_number(item, item::TOTAL_MINOR)?,
        items,
        received_at: required_string(item, item::RECEIVED_AT)?,
        message_id: optional_string(item, item::MESSAGE_ID)?,
        event_id: optional_string(item, item::EVENT_ID)?,
        reasons,
        expires_at: optional_number(item, item::EXPIRES_AT)?,
    })
}

fn problem(attribute: &str, problem: impl Into<String>) -> ItemError {
    ItemError {
        attribute: attribute.to_owned(),
        problem: problem.into(),
    }
}

fn optional_string(
    item: &HashMap<String, AttributeValue>,
    name: &str,
) -> Result<Option<String>, ItemError> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::S(s)) => Ok(Some(s.clone())),
        Some(_) => Err(problem(name, "expected a string (S)")),
    }
}

fn required_string(
    item: &HashMap<String, AttributeValue>,
    name: &str,
) -> Result<String, ItemError> {
    optional_string(item, name)?.ok_or_else(|| problem(name, "missing"))
}

fn optional_number(
    item: &HashMap<String, AttributeValue>,
    name: &str,
) -> Result<Option<i64>, ItemError> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::N(n)) => n
            .parse::<i64>()
            .map(Some)
            .map_err(|_| problem(name, format!("{n:?} is not a 64-bit integer"))),
        Some(_) => Err(problem(name, "expected a number (N)")),
    }
}

fn required_number(item: &HashMap<String, AttributeValue>, name: &str) -> Result<i64, ItemError> {
    optional_number(item, name)?.ok_or_else(|| problem(name, "missing"))
}

fn list<'a>(value: &'a AttributeValue, name: &str) -> Result<&'a [AttributeValue], ItemError> {
    match value {
        AttributeValue::L(list) => Ok(list),
        _ => Err(problem(name, "expected a list (L)")),
    }
}

fn map<'a>(
    value: &'a AttributeValue,
    name: &str,
) -> Result<&'a HashMap<String, AttributeValue>, ItemError> {
    match value {
        AttributeValue::M(map) => Ok(map),
        _ => Err(problem(name, "expected a map (M)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{sample, validate, validate_json};
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn processed_item_shape_and_round_trip() {
        let order = validate(&sample::valid_order(Some("ord-1".into()))).unwrap();
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let record = OrderRecord::processed(&order, "msg-1", at, Some(2));
        let item = to_item(&record);
        assert_eq!(item["order_id"], AttributeValue::S("ord-1".into()));
        assert_eq!(item["status"], AttributeValue::S("PROCESSED".into()));
        assert_eq!(item["total_minor"], AttributeValue::N("2999".into()));
        assert_eq!(
            item["received_at"],
            AttributeValue::S("2023-11-14T22:13:20.000Z".into())
        );
        assert_eq!(item["message_id"], AttributeValue::S("msg-1".into()));
        assert_eq!(item["expires_at"], AttributeValue::N("1700172800".into()));
        let AttributeValue::L(items) = &item["items"] else {
            panic!("items is a list")
        };
        assert_eq!(
            items[0],
            AttributeValue::M(HashMap::from([
                ("sku".to_owned(), AttributeValue::S("SKU-1".into())),
                ("quantity".to_owned(), AttributeValue::N("2".into())),
                (
                    "unit_price_minor".to_owned(),
                    AttributeValue::N("1250".into())
                ),
            ]))
        );
        assert!(!item.contains_key("reasons"));
        assert!(!item.contains_key("event_id"));
        assert_eq!(from_item(&item).unwrap(), record);

        let without_ttl = OrderRecord::processed(&order, "msg-1", at, None);
        assert!(!to_item(&without_ttl).contains_key("expires_at"));
    }

    #[test]
    fn rejected_item_round_trips() {
        let raw = serde_json::to_value(sample::invalid_order()).unwrap();
        let reasons = validate_json(&raw).unwrap_err();
        let record =
            OrderRecord::rejected(&raw, reasons, Some("ev".into()), UNIX_EPOCH, None).unwrap();
        let item = to_item(&record);
        let AttributeValue::L(reasons) = &item["reasons"] else {
            panic!("reasons is a list")
        };
        assert_eq!(
            reasons[0],
            AttributeValue::M(HashMap::from([
                (
                    "code".to_owned(),
                    AttributeValue::S("total_mismatch".into())
                ),
                (
                    "message".to_owned(),
                    AttributeValue::S("total_minor is 2998 but the items sum to 2999".into())
                ),
            ]))
        );
        assert_eq!(from_item(&item).unwrap(), record);
    }

    #[test]
    fn malformed_items_are_errors() {
        let mut item = HashMap::from([
            ("order_id".to_owned(), AttributeValue::S("o".into())),
            ("status".to_owned(), AttributeValue::S("DONE".into())),
            ("received_at".to_owned(), AttributeValue::S("t".into())),
        ]);
        assert_eq!(from_item(&item).unwrap_err().attribute, "status");
        item.insert("status".into(), AttributeValue::S("PROCESSED".into()));
        item.insert("total_minor".into(), AttributeValue::N("1.5".into()));
        assert_eq!(from_item(&item).unwrap_err().attribute, "total_minor");
        item.remove("total_minor");
        item.remove("order_id");
        assert_eq!(from_item(&item).unwrap_err().attribute, "order_id");
    }
}
