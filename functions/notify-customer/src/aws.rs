//! [`OrderLedger`], [`Mailer`] and [`Notifier`] on DynamoDB, SES (API v2) and SNS.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_sesv2::error::ProvideErrorMetadata;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use aws_sdk_sns::types::MessageAttributeValue;
use order_domain::dynamodb::describe_sdk_error;
use order_domain::item::{self, Status};
use order_domain::runtime::required_env;

use crate::dynamo::{self, UpdateRequest};
use crate::handler::{EffectError, MailError, Mailer, Notifier, OrderLedger};
use crate::ledger::{Claim, ClaimOutcome, ClaimWrite, Completion, EmailOutcome, Snapshot};
use crate::message::{Email, Notification};

/// Resource names from the function's environment.
#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub sender: String,
    pub topic_arn: String,
}

impl Config {
    /// Reads `ORDERS_TABLE`, `SENDER_EMAIL` and `NOTIFICATIONS_TOPIC_ARN`.
    pub fn from_env() -> Result<Config, String> {
        Ok(Config {
            table_name: required_env("ORDERS_TABLE")?,
            sender: required_env("SENDER_EMAIL")?,
            topic_arn: required_env("NOTIFICATIONS_TOPIC_ARN")?,
        })
    }
}

/// Whether a SendEmail error code is one retrying cannot fix. From the SES API v2
/// reference's SendEmail errors:
///
/// - `MessageRejected`: the message or a recipient is refused (an invalid or, in the
///   sandbox, unverified address; content SES will not send);
/// - `MailFromDomainNotVerifiedException`: the sender's MAIL FROM domain is not verified;
/// - `SendingPausedException` / `AccountSuspendedException`: the account may not send
///   (paused until someone acts; suspended for good);
/// - `BadRequestException`: the request is invalid (e.g. a malformed address).
///
/// Everything else — `TooManyRequestsException`, `LimitExceededException` (sending quota),
/// `NotFoundException` (a configuration problem an operator fixes, after which a redrive from
/// the DLQ works), server errors, timeouts, transport errors — is retried.
pub fn is_permanent_ses_error(code: &str) -> bool {
    matches!(
        code,
        "MessageRejected"
            | "MailFromDomainNotVerifiedException"
            | "SendingPausedException"
            | "AccountSuspendedException"
            | "BadRequestException"
    )
}

pub struct SesMailer {
    pub client: aws_sdk_sesv2::Client,
    /// The verified identity to send from.
    pub sender: String,
}

fn utf8(data: &str) -> Result<Content, MailError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|err| MailError::Transient(err.to_string()))
}

impl Mailer for SesMailer {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        let message = Message::builder()
            .subject(utf8(&email.subject)?)
            .body(
                Body::builder()
                    .text(utf8(&email.text)?)
                    .html(utf8(&email.html)?)
                    .build(),
            )
            .build();
        let result = self
            .client
            .send_email()
            .from_email_address(&self.sender)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await;
        match result {
            Ok(output) => Ok(output.message_id().unwrap_or_default().to_owned()),
            Err(err) => match err.code() {
                Some(code) if is_permanent_ses_error(code) => Err(MailError::Permanent {
                    code: code.to_owned(),
                    message: err.message().unwrap_or("no message").to_owned(),
                }),
                _ => Err(MailError::Transient(describe_sdk_error(&err))),
            },
        }
    }
}

pub struct SnsNotifier {
    pub client: aws_sdk_sns::Client,
    pub topic_arn: String,
}

impl Notifier for SnsNotifier {
    async fn publish(&self, notification: &Notification) -> Result<String, EffectError> {
        const OPERATION: &str = "SNS Publish";
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(notification.subject())
            .message(notification.message());
        for (name, value) in notification.attributes() {
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|err| EffectError {
                    operation: OPERATION,
                    message: err.to_string(),
                })?;
            request = request.message_attributes(name, attribute);
        }
        let output = request.send().await.map_err(|err| EffectError {
            operation: OPERATION,
            message: describe_sdk_error(&err),
        })?;
        Ok(output.message_id().unwrap_or_default().to_owned())
    }
}

pub struct DynamoLedger {
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
}

/// What a conditional UpdateItem did: written (with the old item when asked for), or refused
/// (with the stored item, ALL_OLD).
enum Update {
    Written(Option<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>),
    Refused(Option<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>),
}

fn update_error(err: impl std::fmt::Display) -> EffectError {
    EffectError {
        operation: "DynamoDB UpdateItem",
        message: err.to_string(),
    }
}

impl DynamoLedger {
    async fn update(
        &self,
        order_id: &str,
        request: UpdateRequest,
        return_old: bool,
    ) -> Result<Update, EffectError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(
                item::ORDER_ID,
                aws_sdk_dynamodb::types::AttributeValue::S(order_id.to_owned()),
            )
            .update_expression(request.update_expression)
            .condition_expression(request.condition_expression)
            .set_expression_attribute_names(Some(request.names))
            .set_expression_attribute_values(Some(request.values))
            .return_values(if return_old {
                ReturnValue::AllOld
            } else {
                ReturnValue::None
            })
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Update::Written(output.attributes)),
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    Ok(Update::Refused(failed.item.clone()))
                }
                _ => Err(update_error(describe_sdk_error(&err))),
            },
        }
    }

    /// An owned update (email step, final mark, release): `false` when the claim is not
    /// `token`'s any more.
    async fn owned(&self, order_id: &str, request: UpdateRequest) -> Result<bool, EffectError> {
        Ok(matches!(
            self.update(order_id, request, false).await?,
            Update::Written(_)
        ))
    }
}

impl OrderLedger for DynamoLedger {
    async fn read(&self, order_id: &str, status: Status) -> Result<Option<Snapshot>, EffectError> {
        let stored = order_domain::dynamodb::get_item(&self.client, &self.table, order_id)
            .await
            .map_err(|err| EffectError {
                operation: "DynamoDB GetItem",
                message: describe_sdk_error(&err),
            })?;
        stored
            .map(|item| {
                dynamo::snapshot(&item, status).map_err(|problem| EffectError {
                    operation: "reading the orders-table item",
                    message: problem,
                })
            })
            .transpose()
    }

    async fn claim(
        &self,
        order_id: &str,
        write: ClaimWrite,
        claim: &Claim,
    ) -> Result<ClaimOutcome, EffectError> {
        let entry = |item: Option<&std::collections::HashMap<_, _>>| {
            item.map(|item| dynamo::entry_of(item, claim.status))
                .transpose()
                .map(Option::flatten)
                .map_err(update_error)
        };
        let takeover = write == ClaimWrite::Takeover;
        match self
            .update(order_id, dynamo::claim_request(write, claim), takeover)
            .await?
        {
            Update::Written(old) => Ok(ClaimOutcome::Claimed {
                previous: if takeover { entry(old.as_ref())? } else { None },
            }),
            Update::Refused(current) => Ok(ClaimOutcome::Refused {
                current: entry(current.as_ref())?,
            }),
        }
    }

    async fn record_email(
        &self,
        order_id: &str,
        status: Status,
        token: &str,
        email: &EmailOutcome,
    ) -> Result<bool, EffectError> {
        self.owned(order_id, dynamo::record_email_request(status, token, email))
            .await
    }

    async fn complete(
        &self,
        order_id: &str,
        status: Status,
        token: &str,
        completion: &Completion,
    ) -> Result<bool, EffectError> {
        self.owned(
            order_id,
            dynamo::complete_request(status, token, completion),
        )
        .await
    }

    async fn release(
        &self,
        order_id: &str,
        status: Status,
        token: &str,
    ) -> Result<bool, EffectError> {
        self.owned(order_id, dynamo::release_request(status, token))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_ses_errors_are_the_ones_retrying_cannot_fix() {
        for code in [
            "MessageRejected",
            "MailFromDomainNotVerifiedException",
            "SendingPausedException",
            "AccountSuspendedException",
            "BadRequestException",
        ] {
            assert!(is_permanent_ses_error(code), "{code}");
        }
        for code in [
            "TooManyRequestsException",
            "LimitExceededException",
            "NotFoundException",
            "InternalFailure",
            "ServiceUnavailable",
            "ThrottlingException",
            "",
        ] {
            assert!(!is_permanent_ses_error(code), "{code}");
        }
    }
}
