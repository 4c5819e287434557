//! [`OrderRecord`] as a DynamoDB item and back, and the conditional writes of the lifecycle
//! (feature `dynamodb`).

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::get_item::GetItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use crate::item::{self, HistoryEntry, OrderRecord, Status};
use crate::lifecycle::{self, TransitionOutcome};
use crate::{LineItem, Reason, ReasonCode};

/// A stored item that does not have the orders-table shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("orders-table item attribute {attribute}: {problem}")]
pub struct ItemError {
    pub attribute: String,
    pub problem: String,
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn items_value(items: &[LineItem]) -> AttributeValue {
    AttributeValue::L(
        items
            .iter()
            .map(|line| {
                AttributeValue::M(HashMap::from([
                    (item::SKU.to_owned(), s(&line.sku)),
                    (item::QUANTITY.to_owned(), n(line.quantity)),
                    (item::UNIT_PRICE_MINOR.to_owned(), n(line.unit_price_minor)),
                ]))
            })
            .collect(),
    )
}

fn reasons_value(reasons: &[Reason]) -> AttributeValue {
    AttributeValue::L(
        reasons
            .iter()
            .map(|reason| {
                AttributeValue::M(HashMap::from([
                    (item::REASON_CODE.to_owned(), s(reason.code.as_str())),
                    (item::REASON_MESSAGE.to_owned(), s(&reason.message)),
                ]))
            })
            .collect(),
    )
}

fn history_value(history: &[HistoryEntry]) -> AttributeValue {
    AttributeValue::L(
        history
            .iter()
            .map(|entry| {
                let mut map = HashMap::from([
                    (item::HISTORY_STATUS.to_owned(), s(entry.status.as_str())),
                    (item::HISTORY_AT.to_owned(), s(&entry.at)),
                ]);
                if !entry.reasons.is_empty() {
                    map.insert(
                        item::HISTORY_REASONS.to_owned(),
                        reasons_value(&entry.reasons),
                    );
                }
                AttributeValue::M(map)
            })
            .collect(),
    )
}

/// The attribute map PutItem stores. Absent optional fields (and empty lists and sets) are
/// left out, never stored as NULL, so `attribute_exists` checks and TTL behave.
pub fn to_item(record: &OrderRecord) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::new();
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
        item.insert(item::ITEMS.to_owned(), items_value(items));
    }
    if let Some(message_id) = &record.message_id {
        item.insert(item::MESSAGE_ID.to_owned(), s(message_id));
    }
    if let Some(event_id) = &record.event_id {
        item.insert(item::EVENT_ID.to_owned(), s(event_id));
    }
    if !record.reasons.is_empty() {
        item.insert(item::REASONS.to_owned(), reasons_value(&record.reasons));
    }
    if let Some(expires_at) = record.expires_at {
        item.insert(item::EXPIRES_AT.to_owned(), n(expires_at));
    }
    if let Some(email) = &record.customer_email {
        item.insert(item::CUSTOMER_EMAIL.to_owned(), s(email));
    }
    if !record.status_history.is_empty() {
        item.insert(
            item::STATUS_HISTORY.to_owned(),
            history_value(&record.status_history),
        );
    }
    if let Some(hash) = &record.request_hash {
        item.insert(item::REQUEST_HASH.to_owned(), s(hash));
    }
    if !record.settled.is_empty() {
        item.insert(
            item::SETTLED.to_owned(),
            AttributeValue::Ss(
                record
                    .settled
                    .iter()
                    .map(|status| status.as_str().to_owned())
                    .collect(),
            ),
        );
    }
    item
}

/// The parameters of the conditional UpdateItem of a transition (see [`transition`]).
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateRequest {
    pub update_expression: String,
    pub condition_expression: String,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

/// Builds expressions, declaring each name and value once, only when used (DynamoDB refuses
/// unused ones).
#[derive(Default)]
struct Expressions {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expressions {
    fn name(&mut self, attribute: &str) -> String {
        let placeholder = format!("#{attribute}");
        self.names.insert(placeholder.clone(), attribute.to_owned());
        placeholder
    }

    fn value(&mut self, key: &str, value: AttributeValue) -> String {
        let placeholder = format!(":{key}");
        self.values.insert(placeholder.clone(), value);
        placeholder
    }
}

/// The UpdateItem that moves an order to `candidate`'s status: [`lifecycle::condition_allows`]
/// as a ConditionExpression, [`lifecycle::merge`] as an UpdateExpression. One request, so the
/// check and the write are atomic.
pub fn transition_request(candidate: &OrderRecord) -> UpdateRequest {
    let mut x = Expressions::default();
    let mut sets = Vec::new();

    let status = x.name(item::STATUS);
    let status_value = x.value("status", s(candidate.status.as_str()));
    sets.push(format!("{status} = {status_value}"));
    let history = x.name(item::STATUS_HISTORY);
    let empty = x.value("empty_list", AttributeValue::L(Vec::new()));
    let entry = x.value("entry", history_value(&candidate.status_history));
    sets.push(format!(
        "{history} = list_append(if_not_exists({history}, {empty}), {entry})"
    ));
    // Kept when the record has them (fields of the order, the first time it was seen).
    let mut keep = |x: &mut Expressions, attribute: &str, value: Option<AttributeValue>| {
        if let Some(value) = value {
            let name = x.name(attribute);
            let value = x.value(attribute, value);
            sets.push(format!("{name} = if_not_exists({name}, {value})"));
        }
    };
    keep(&mut x, item::RECEIVED_AT, Some(s(&candidate.received_at)));
    keep(
        &mut x,
        item::CUSTOMER_ID,
        candidate.customer_id.as_deref().map(s),
    );
    keep(&mut x, item::CURRENCY, candidate.currency.as_deref().map(s));
    keep(&mut x, item::TOTAL_MINOR, candidate.total_minor.map(n));
    keep(
        &mut x,
        item::ITEMS,
        candidate.items.as_deref().map(items_value),
    );
    keep(
        &mut x,
        item::CUSTOMER_EMAIL,
        candidate.customer_email.as_deref().map(s),
    );
    keep(
        &mut x,
        item::REQUEST_HASH,
        candidate.request_hash.as_deref().map(s),
    );
    // Replaced: they belong to the latest transition.
    let mut replace = |x: &mut Expressions, attribute: &str, value: Option<AttributeValue>| {
        if let Some(value) = value {
            let name = x.name(attribute);
            let value = x.value(attribute, value);
            sets.push(format!("{name} = {value}"));
        }
    };
    replace(
        &mut x,
        item::MESSAGE_ID,
        candidate.message_id.as_deref().map(s),
    );
    replace(&mut x, item::EVENT_ID, candidate.event_id.as_deref().map(s));
    replace(
        &mut x,
        item::REASONS,
        (!candidate.reasons.is_empty()).then(|| reasons_value(&candidate.reasons)),
    );
    replace(&mut x, item::EXPIRES_AT, candidate.expires_at.map(n));

    let order_id = x.name(item::ORDER_ID);
    let mut condition = format!("attribute_not_exists({order_id})");
    let predecessors = candidate.status.predecessors();
    if !predecessors.is_empty() {
        let from: Vec<String> = predecessors
            .iter()
            .enumerate()
            .map(|(index, from)| x.value(&format!("from{index}"), s(from.as_str())))
            .collect();
        let mut allowed = vec![format!("{status} IN ({})", from.join(", "))];
        if lifecycle::requires_same_order(candidate) {
            // The stored order must be this order: OrderRecord::same_order_fields.
            let mut same = |x: &mut Expressions, attribute: &str, value: Option<AttributeValue>| {
                let name = x.name(attribute);
                allowed.push(match value {
                    Some(value) => format!("{name} = {}", x.value(attribute, value)),
                    None => format!("attribute_not_exists({name})"),
                });
            };
            same(
                &mut x,
                item::CUSTOMER_ID,
                candidate.customer_id.as_deref().map(s),
            );
            same(&mut x, item::CURRENCY, candidate.currency.as_deref().map(s));
            same(&mut x, item::TOTAL_MINOR, candidate.total_minor.map(n));
            same(
                &mut x,
                item::ITEMS,
                candidate.items.as_deref().map(items_value),
            );
            same(
                &mut x,
                item::CUSTOMER_EMAIL,
                candidate.customer_email.as_deref().map(s),
            );
        }
        condition = format!("{condition} OR ({})", allowed.join(" AND "));
    }
    UpdateRequest {
        update_expression: format!("SET {}", sets.join(", ")),
        condition_expression: condition,
        names: x.names,
        values: x.values,
    }
}

/// Moves the order to `candidate`'s status with one conditional UpdateItem (see
/// [`transition_request`]), returning the old item on success and on a failed condition
/// (ALL_OLD both ways), so the caller learns the old status or why nothing was written.
pub async fn transition(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    candidate: &OrderRecord,
) -> Result<TransitionOutcome, SdkError<UpdateItemError>> {
    let request = transition_request(candidate);
    let result = client
        .update_item()
        .table_name(table)
        .key(item::ORDER_ID, s(&candidate.order_id))
        .update_expression(request.update_expression)
        .condition_expression(request.condition_expression)
        .set_expression_attribute_names(Some(request.names))
        .set_expression_attribute_values(Some(request.values))
        .return_values(ReturnValue::AllOld)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await;
    match result {
        Ok(output) => {
            let old = output.attributes().filter(|old| !old.is_empty());
            Ok(TransitionOutcome::Applied {
                old_status: old
                    .and_then(|old| old.get(item::STATUS))
                    .and_then(|status| status.as_s().ok())
                    .and_then(|status| Status::parse(status)),
                old_customer_id: old
                    .and_then(|old| old.get(item::CUSTOMER_ID))
                    .and_then(|id| id.as_s().ok())
                    .cloned(),
            })
        }
        Err(err) => match err.as_service_error() {
            Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                Ok(TransitionOutcome::Refused {
                    current: failed
                        .item()
                        .and_then(|old| from_item(old).ok())
                        .map(Box::new),
                })
            }
            _ => Err(err),
        },
    }
}

/// Records that `status`'s `OrderStatusChanged` event is published (adds it to
/// [`item::SETTLED`]); `false` when the record does not exist. Idempotent.
pub async fn settle(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    order_id: &str,
    status: Status,
) -> Result<bool, SdkError<UpdateItemError>> {
    let result = client
        .update_item()
        .table_name(table)
        .key(item::ORDER_ID, s(order_id))
        .update_expression("ADD #settled :status")
        .condition_expression("attribute_exists(#order_id)")
        .expression_attribute_names("#settled", item::SETTLED)
        .expression_attribute_names("#order_id", item::ORDER_ID)
        .expression_attribute_values(
            ":status",
            AttributeValue::Ss(vec![status.as_str().to_owned()]),
        )
        .send()
        .await;
    match result {
        Ok(_) => Ok(true),
        Err(err) => match err.as_service_error() {
            Some(UpdateItemError::ConditionalCheckFailedException(_)) => Ok(false),
            _ => Err(err),
        },
    }
}

/// The stored item of `order_id`, read with strong consistency.
pub async fn get_item(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    order_id: &str,
) -> Result<Option<HashMap<String, AttributeValue>>, SdkError<GetItemError>> {
    let output = client
        .get_item()
        .table_name(table)
        .key(item::ORDER_ID, s(order_id))
        .consistent_read(true)
        .send()
        .await?;
    Ok(output.item)
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
    let status = parse_status(&status_text, item::STATUS)?;
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
        Some(value) => reasons_list(value, item::REASONS)?,
    };
    let status_history = match item.get(item::STATUS_HISTORY) {
        None => Vec::new(),
        Some(value) => list(value, item::STATUS_HISTORY)?
            .iter()
            .enumerate()
            .map(|(index, entry)| {
                let path = format!("{}[{index}]", item::STATUS_HISTORY);
                let entry = map(entry, &path)?;
                Ok(HistoryEntry {
                    status: parse_status(
                        &required_string(entry, item::HISTORY_STATUS)?,
                        &format!("{path}.{}", item::HISTORY_STATUS),
                    )?,
                    at: required_string(entry, item::HISTORY_AT)?,
                    reasons: match entry.get(item::HISTORY_REASONS) {
                        None => Vec::new(),
                        Some(value) => {
                            reasons_list(value, &format!("{path}.{}", item::HISTORY_REASONS))?
                        }
                    },
                })
            })
            .collect::<Result<Vec<_>, ItemError>>()?,
    };
    let settled = match item.get(item::SETTLED) {
        None => Vec::new(),
        Some(AttributeValue::Ss(names)) => {
            let mut settled = names
                .iter()
                .map(|name| parse_status(name, item::SETTLED))
                .collect::<Result<Vec<_>, ItemError>>()?;
            settled.sort();
            settled.dedup();
            settled
        }
        Some(_) => return Err(problem(item::SETTLED, "expected a string set (SS)")),
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
        customer_email: optional_string(item, item::CUSTOMER_EMAIL)?,
        status_history,
        request_hash: optional_string(item, item::REQUEST_HASH)?,
        settled,
    })
}

fn parse_status(text: &str, attribute: &str) -> Result<Status, ItemError> {
    Status::parse(text).ok_or_else(|| {
        problem(
            attribute,
            format!(
                "{text:?} is not a status ({})",
                Status::ALL.map(Status::as_str).join(", ")
            ),
        )
    })
}

fn reasons_list(value: &AttributeValue, name: &str) -> Result<Vec<Reason>, ItemError> {
    list(value, name)?
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let path = format!("{name}[{index}]");
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
        .collect()
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
    fn lifecycle_attributes_shape_and_round_trip() {
        let order = validate(
            &sample::OrderBuilder::new()
                .order_id("ord-l")
                .customer_email("ana@example.com")
                .build(),
        )
        .unwrap();
        let mut record = OrderRecord::received(&order, "h", UNIX_EPOCH, None);
        record.status_history.push(HistoryEntry {
            status: Status::Rejected,
            at: "1970-01-01T00:00:01.000Z".into(),
            reasons: vec![Reason::new(ReasonCode::TotalMismatch, "m")],
        });
        record.settled = vec![Status::Received, Status::Rejected];
        let item = to_item(&record);
        assert_eq!(item["status"], AttributeValue::S("RECEIVED".into()));
        assert_eq!(
            item["customer_email"],
            AttributeValue::S("ana@example.com".into())
        );
        assert_eq!(item["request_hash"], AttributeValue::S("h".into()));
        assert_eq!(
            item["settled_statuses"],
            AttributeValue::Ss(vec!["RECEIVED".into(), "REJECTED".into()])
        );
        let AttributeValue::L(history) = &item["status_history"] else {
            panic!("status_history is a list")
        };
        assert_eq!(
            history[0],
            AttributeValue::M(HashMap::from([
                ("status".to_owned(), AttributeValue::S("RECEIVED".into())),
                (
                    "at".to_owned(),
                    AttributeValue::S("1970-01-01T00:00:00.000Z".into())
                ),
            ]))
        );
        let AttributeValue::M(rejected) = &history[1] else {
            panic!("history entries are maps")
        };
        assert_eq!(
            rejected["reasons"],
            AttributeValue::L(vec![AttributeValue::M(HashMap::from([
                (
                    "code".to_owned(),
                    AttributeValue::S("total_mismatch".into())
                ),
                ("message".to_owned(), AttributeValue::S("m".into())),
            ]))])
        );
        assert_eq!(from_item(&item).unwrap(), record);
        // Empty history and settled set are left out, not stored empty.
        record.status_history.clear();
        record.settled.clear();
        let item = to_item(&record);
        assert!(!item.contains_key("status_history") && !item.contains_key("settled_statuses"));
    }

    /// Every `#name` and `:value` the expressions use is declared, and nothing else is
    /// (DynamoDB refuses both undeclared and unused placeholders).
    fn assert_placeholders_match(request: &UpdateRequest) {
        let text = format!(
            "{} {}",
            request.update_expression, request.condition_expression
        );
        let used = |sigil: char| -> std::collections::BTreeSet<String> {
            text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == sigil))
                .filter(|token| token.starts_with(sigil))
                .map(str::to_owned)
                .collect()
        };
        let names: std::collections::BTreeSet<String> = request.names.keys().cloned().collect();
        let values: std::collections::BTreeSet<String> = request.values.keys().cloned().collect();
        assert_eq!(used('#'), names, "{text}");
        assert_eq!(used(':'), values, "{text}");
    }

    #[test]
    fn transition_conditions_encode_the_lifecycle() {
        let order = validate(&sample::valid_order(Some("ord-u".into()))).unwrap();
        let validated = OrderRecord::validated(&order, Some("ev".into()), UNIX_EPOCH, Some(1));
        let request = transition_request(&validated);
        assert_placeholders_match(&request);
        assert_eq!(
            request.condition_expression,
            "attribute_not_exists(#order_id) OR (#status IN (:from0) AND #customer_id = :customer_id \
             AND #currency = :currency AND #total_minor = :total_minor AND #items = :items \
             AND attribute_not_exists(#customer_email))"
        );
        assert_eq!(
            request.values[":from0"],
            AttributeValue::S("RECEIVED".into())
        );
        assert_eq!(
            request.values[":status"],
            AttributeValue::S("VALIDATED".into())
        );
        assert_eq!(
            request.values[":entry"],
            history_value(&validated.status_history)
        );
        for part in [
            "#status = :status",
            "#status_history = list_append(if_not_exists(#status_history, :empty_list), :entry)",
            "#received_at = if_not_exists(#received_at, :received_at)",
            "#items = if_not_exists(#items, :items)",
            "#event_id = :event_id",
            "#expires_at = :expires_at",
        ] {
            assert!(
                request.update_expression.contains(part),
                "{part}: {}",
                request.update_expression
            );
        }
        assert!(!request.update_expression.contains("#message_id"));
        assert!(!request.update_expression.contains("#reasons"));

        let processed = OrderRecord::processed(&order, "m", UNIX_EPOCH, None);
        let request = transition_request(&processed);
        assert_placeholders_match(&request);
        assert!(request
            .condition_expression
            .starts_with("attribute_not_exists(#order_id) OR (#status IN (:from0, :from1) AND"));
        assert_eq!(
            request.values[":from1"],
            AttributeValue::S("VALIDATED".into())
        );
        assert!(request
            .update_expression
            .contains("#message_id = :message_id"));

        // A rejection checks only the status, and writes the reasons.
        let raw = serde_json::json!({"order_id": "ord-u", "currency": "E"});
        let reasons = validate_json(&raw).unwrap_err();
        let rejected = OrderRecord::rejected(&raw, reasons, None, UNIX_EPOCH, None).unwrap();
        let request = transition_request(&rejected);
        assert_placeholders_match(&request);
        assert_eq!(
            request.condition_expression,
            "attribute_not_exists(#order_id) OR (#status IN (:from0, :from1))"
        );
        assert!(request.update_expression.contains("#reasons = :reasons"));
        assert!(request
            .update_expression
            .contains("#currency = if_not_exists(#currency, :currency)"));
        assert!(!request.update_expression.contains("#customer_id"));

        // RECEIVED only ever starts a record.
        let received = OrderRecord::received(&order, "h", UNIX_EPOCH, None);
        let request = transition_request(&received);
        assert_placeholders_match(&request);
        assert_eq!(
            request.condition_expression,
            "attribute_not_exists(#order_id)"
        );

        // With an e-mail address, the stored one must be equal.
        let with_email = validate(
            &sample::OrderBuilder::new()
                .order_id("ord-e")
                .customer_email("a@b.co")
                .build(),
        )
        .unwrap();
        let request =
            transition_request(&OrderRecord::processed(&with_email, "m", UNIX_EPOCH, None));
        assert_placeholders_match(&request);
        assert!(request
            .condition_expression
            .ends_with("AND #customer_email = :customer_email)"));
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
        item.insert(
            "settled_statuses".into(),
            AttributeValue::Ss(vec!["DONE".into()]),
        );
        assert_eq!(from_item(&item).unwrap_err().attribute, "settled_statuses");
        item.remove("settled_statuses");
        item.insert("total_minor".into(), AttributeValue::N("1.5".into()));
        assert_eq!(from_item(&item).unwrap_err().attribute, "total_minor");
        item.remove("total_minor");
        item.remove("order_id");
        assert_eq!(from_item(&item).unwrap_err().attribute, "order_id");
    }
}
