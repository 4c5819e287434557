//! The notification ledger ([`crate::ledger`]) as DynamoDB attributes, and the conditional
//! UpdateItem requests of the claim, the email step, the final mark and the release. Pure:
//! `aws.rs` sends them.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use order_domain::item::{self, Status};

use crate::ledger::{
    self, Claim, ClaimWrite, Completion, EmailOutcome, Entry, EntryState, Snapshot,
};

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// An entry as the map stored under `notifications.<STATUS>`.
pub fn entry_value(entry: &Entry) -> AttributeValue {
    let mut map = HashMap::from([
        (ledger::STATE.to_owned(), s(entry.state.as_str())),
        (ledger::CLAIM.to_owned(), s(&entry.claim)),
        (ledger::LEASE_UNTIL.to_owned(), n(entry.lease_until_ms)),
        (ledger::ATTEMPTS.to_owned(), n(entry.attempts)),
        (ledger::AT.to_owned(), s(&entry.at)),
        (ledger::CLAIMED_AT.to_owned(), s(&entry.claimed_at)),
    ]);
    if let Some(email) = &entry.email {
        map.extend(email_attributes(email));
    }
    if let Some(id) = &entry.sns_message_id {
        map.insert(ledger::SNS_MESSAGE_ID.to_owned(), s(id));
    }
    if let Some(at) = &entry.completed_at {
        map.insert(ledger::COMPLETED_AT.to_owned(), s(at));
    }
    AttributeValue::M(map)
}

/// `email` and its detail (`email_message_id` or `email_error`).
fn email_attributes(email: &EmailOutcome) -> Vec<(String, AttributeValue)> {
    let mut attributes = vec![(ledger::EMAIL.to_owned(), s(email.as_str()))];
    match email {
        EmailOutcome::Sent { message_id } => {
            attributes.push((ledger::EMAIL_MESSAGE_ID.to_owned(), s(message_id)))
        }
        EmailOutcome::Undeliverable { error } => {
            attributes.push((ledger::EMAIL_ERROR.to_owned(), s(error)))
        }
        EmailOutcome::NoAddress => {}
    }
    attributes
}

/// Reads an entry written by [`entry_value`] and the updates below.
pub fn parse_entry(value: &AttributeValue) -> Result<Entry, String> {
    let AttributeValue::M(map) = value else {
        return Err("expected a map (M)".into());
    };
    let string = |name: &str| -> Result<Option<String>, String> {
        match map.get(name) {
            None => Ok(None),
            Some(AttributeValue::S(text)) => Ok(Some(text.clone())),
            Some(_) => Err(format!("{name}: expected a string (S)")),
        }
    };
    let number = |name: &str| -> Result<i64, String> {
        match map.get(name) {
            Some(AttributeValue::N(text)) => text
                .parse()
                .map_err(|_| format!("{name}: {text:?} is not a 64-bit integer")),
            Some(_) => Err(format!("{name}: expected a number (N)")),
            None => Err(format!("{name}: missing")),
        }
    };
    let required = |name: &str| string(name)?.ok_or_else(|| format!("{name}: missing"));
    let state_text = required(ledger::STATE)?;
    let state = EntryState::parse(&state_text)
        .ok_or_else(|| format!("{}: unknown state {state_text:?}", ledger::STATE))?;
    let email = match string(ledger::EMAIL)?.as_deref() {
        None => None,
        Some("SENT") => Some(EmailOutcome::Sent {
            message_id: string(ledger::EMAIL_MESSAGE_ID)?.unwrap_or_default(),
        }),
        Some("NO_ADDRESS") => Some(EmailOutcome::NoAddress),
        Some("UNDELIVERABLE") => Some(EmailOutcome::Undeliverable {
            error: string(ledger::EMAIL_ERROR)?.unwrap_or_default(),
        }),
        Some(other) => return Err(format!("{}: unknown outcome {other:?}", ledger::EMAIL)),
    };
    Ok(Entry {
        state,
        claim: required(ledger::CLAIM)?,
        lease_until_ms: number(ledger::LEASE_UNTIL)?,
        attempts: number(ledger::ATTEMPTS)?,
        at: required(ledger::AT)?,
        claimed_at: required(ledger::CLAIMED_AT)?,
        email,
        sns_message_id: string(ledger::SNS_MESSAGE_ID)?,
        completed_at: string(ledger::COMPLETED_AT)?,
    })
}

/// The entry of `status` in an item's ledger: `Ok(None)` when the item has no ledger or no
/// entry for the status.
pub fn entry_of(
    item: &HashMap<String, AttributeValue>,
    status: Status,
) -> Result<Option<Entry>, String> {
    match item.get(ledger::NOTIFICATIONS) {
        None => Ok(None),
        Some(AttributeValue::M(ledger_map)) => ledger_map
            .get(status.as_str())
            .map(|value| {
                parse_entry(value)
                    .map_err(|problem| format!("{}.{status}.{problem}", ledger::NOTIFICATIONS))
            })
            .transpose(),
        Some(_) => Err(format!("{}: expected a map (M)", ledger::NOTIFICATIONS)),
    }
}

/// The order and its ledger entry of `status`, from a stored item.
pub fn snapshot(
    item: &HashMap<String, AttributeValue>,
    status: Status,
) -> Result<Snapshot, String> {
    Ok(Snapshot {
        record: order_domain::dynamodb::from_item(item).map_err(|err| err.to_string())?,
        has_ledger: item.contains_key(ledger::NOTIFICATIONS),
        entry: entry_of(item, status)?,
    })
}

/// The parameters of one conditional UpdateItem.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateRequest {
    pub update_expression: String,
    pub condition_expression: String,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

/// Declares each placeholder once, only when used (DynamoDB refuses unused ones).
#[derive(Default)]
struct Expressions {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expressions {
    fn name(&mut self, placeholder: &str, attribute: &str) -> String {
        let placeholder = format!("#{placeholder}");
        self.names.insert(placeholder.clone(), attribute.to_owned());
        placeholder
    }

    fn value(&mut self, placeholder: &str, value: AttributeValue) -> String {
        let placeholder = format!(":{placeholder}");
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    /// `#notifications.#status`: the entry of `status`.
    fn entry_path(&mut self, status: Status) -> String {
        let ledger = self.name("notifications", ledger::NOTIFICATIONS);
        let status = self.name("status", status.as_str());
        format!("{ledger}.{status}")
    }

    /// `#notifications.#status.#<field>`.
    fn field(&mut self, status: Status, field: &str) -> String {
        let entry = self.entry_path(status);
        let field = self.name(field, field);
        format!("{entry}.{field}")
    }

    /// `SET` assignments of `attributes` inside the entry of `status`.
    fn set_fields(
        &mut self,
        status: Status,
        attributes: Vec<(String, AttributeValue)>,
    ) -> Vec<String> {
        attributes
            .into_iter()
            .map(|(field, value)| {
                let path = self.field(status, &field);
                let value = self.value(&field, value);
                format!("{path} = {value}")
            })
            .collect()
    }

    /// The claim belongs to `token` and is not final.
    fn owned_by(&mut self, status: Status, token: &str) -> String {
        let claim = self.field(status, ledger::CLAIM);
        let token = self.value("token", s(token));
        let state = self.field(status, ledger::STATE);
        let claimed = self.value("claimed", s(EntryState::Claimed.as_str()));
        format!("{claim} = {token} AND {state} = {claimed}")
    }

    fn finish(self, sets: Vec<String>, adds: Vec<String>, condition: String) -> UpdateRequest {
        let mut update = format!("SET {}", sets.join(", "));
        if !adds.is_empty() {
            update.push_str(&format!(" ADD {}", adds.join(", ")));
        }
        UpdateRequest {
            update_expression: update,
            condition_expression: condition,
            names: self.names,
            values: self.values,
        }
    }
}

/// The claim write (see [`ClaimWrite`] for each condition).
pub fn claim_request(write: ClaimWrite, claim: &Claim) -> UpdateRequest {
    let mut x = Expressions::default();
    match write {
        ClaimWrite::NewLedger => {
            let ledger = x.name("notifications", ledger::NOTIFICATIONS);
            let order_id = x.name("order_id", item::ORDER_ID);
            let value = x.value(
                "ledger",
                AttributeValue::M(HashMap::from([(
                    claim.status.as_str().to_owned(),
                    entry_value(&claim.new_entry()),
                )])),
            );
            x.finish(
                vec![format!("{ledger} = {value}")],
                vec![],
                format!("attribute_exists({order_id}) AND attribute_not_exists({ledger})"),
            )
        }
        ClaimWrite::NewEntry => {
            let ledger = x.name("notifications", ledger::NOTIFICATIONS);
            let entry = x.entry_path(claim.status);
            let value = x.value("entry", entry_value(&claim.new_entry()));
            x.finish(
                vec![format!("{entry} = {value}")],
                vec![],
                format!("attribute_exists({ledger}) AND attribute_not_exists({entry})"),
            )
        }
        ClaimWrite::Takeover => {
            let status = claim.status;
            let sets = x.set_fields(
                status,
                vec![
                    (ledger::CLAIM.to_owned(), s(&claim.token)),
                    (ledger::LEASE_UNTIL.to_owned(), n(claim.lease_until_ms)),
                    (ledger::AT.to_owned(), s(&claim.at)),
                    (ledger::CLAIMED_AT.to_owned(), s(&claim.claimed_at)),
                ],
            );
            let attempts = x.field(status, ledger::ATTEMPTS);
            let one = x.value("one", n(1));
            let state = x.field(status, ledger::STATE);
            let claimed = x.value("claimed", s(EntryState::Claimed.as_str()));
            let lease = x.field(status, ledger::LEASE_UNTIL);
            let now = x.value("now", n(claim.now_ms));
            x.finish(
                sets,
                vec![format!("{attempts} {one}")],
                format!("{state} = {claimed} AND {lease} < {now}"),
            )
        }
    }
}

/// Records the email step's outcome, while `token` holds the claim.
pub fn record_email_request(status: Status, token: &str, email: &EmailOutcome) -> UpdateRequest {
    let mut x = Expressions::default();
    let sets = x.set_fields(status, email_attributes(email));
    let condition = x.owned_by(status, token);
    x.finish(sets, vec![], condition)
}

/// Marks the entry final, while `token` holds the claim.
pub fn complete_request(status: Status, token: &str, completion: &Completion) -> UpdateRequest {
    let mut x = Expressions::default();
    let mut attributes = vec![(ledger::STATE.to_owned(), s(completion.state.as_str()))];
    attributes.extend(email_attributes(&completion.email));
    attributes.push((
        ledger::SNS_MESSAGE_ID.to_owned(),
        s(&completion.sns_message_id),
    ));
    attributes.push((ledger::COMPLETED_AT.to_owned(), s(&completion.completed_at)));
    let sets = x.set_fields(status, attributes);
    let condition = x.owned_by(status, token);
    x.finish(sets, vec![], condition)
}

/// Ends `token`'s lease now (lease_until = 0), while it holds the claim.
pub fn release_request(status: Status, token: &str) -> UpdateRequest {
    let mut x = Expressions::default();
    let sets = x.set_fields(status, vec![(ledger::LEASE_UNTIL.to_owned(), n(0))]);
    let condition = x.owned_by(status, token);
    x.finish(sets, vec![], condition)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn claim() -> Claim {
        Claim {
            status: Status::Processed,
            token: "req-1@1000".into(),
            now_ms: 1000,
            lease_until_ms: 21_000,
            at: "2025-01-01T00:00:00.000Z".into(),
            claimed_at: "2025-01-01T00:00:01.000Z".into(),
        }
    }

    /// Every `#name` and `:value` the expressions use is declared, and nothing else is.
    fn assert_placeholders_match(request: &UpdateRequest) {
        let text = format!(
            "{} {}",
            request.update_expression, request.condition_expression
        );
        let used = |sigil: char| -> BTreeSet<String> {
            text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == sigil))
                .filter(|token| token.starts_with(sigil))
                .map(str::to_owned)
                .collect()
        };
        let names: BTreeSet<String> = request.names.keys().cloned().collect();
        let values: BTreeSet<String> = request.values.keys().cloned().collect();
        assert_eq!(used('#'), names, "{text}");
        assert_eq!(used(':'), values, "{text}");
    }

    #[test]
    fn entries_round_trip() {
        let mut entry = claim().new_entry();
        assert_eq!(parse_entry(&entry_value(&entry)).unwrap(), entry);
        for email in [
            EmailOutcome::Sent {
                message_id: "ses-1".into(),
            },
            EmailOutcome::NoAddress,
            EmailOutcome::Undeliverable {
                error: "MessageRejected: no".into(),
            },
        ] {
            entry.email = Some(email);
            entry.state = EntryState::Sent;
            entry.sns_message_id = Some("sns-1".into());
            entry.completed_at = Some("t".into());
            assert_eq!(parse_entry(&entry_value(&entry)).unwrap(), entry);
        }
        let AttributeValue::M(map) = entry_value(&claim().new_entry()) else {
            panic!("an entry is a map")
        };
        assert_eq!(map["state"], s("CLAIMED"));
        assert_eq!(map["lease_until"], n(21_000));
        assert_eq!(map["attempts"], n(1));
        assert!(!map.contains_key("email") && !map.contains_key("sns_message_id"));
        assert!(parse_entry(&s("x")).is_err());
        let mut broken = map.clone();
        broken.insert("state".into(), s("DONE"));
        assert!(parse_entry(&AttributeValue::M(broken))
            .unwrap_err()
            .contains("DONE"));
    }

    #[test]
    fn snapshots_find_the_entry_of_the_status() {
        let order =
            order_domain::validate(&order_domain::sample::valid_order(Some("ord-s".into())))
                .unwrap();
        let record =
            order_domain::item::OrderRecord::processed(&order, "m", std::time::UNIX_EPOCH, None);
        let mut item = order_domain::dynamodb::to_item(&record);
        let without = snapshot(&item, Status::Processed).unwrap();
        assert_eq!(without.record, record);
        assert!(!without.has_ledger && without.entry.is_none());
        item.insert(
            "notifications".into(),
            AttributeValue::M(HashMap::from([(
                "PROCESSED".to_owned(),
                entry_value(&claim().new_entry()),
            )])),
        );
        let with = snapshot(&item, Status::Processed).unwrap();
        assert!(with.has_ledger);
        assert_eq!(with.entry, Some(claim().new_entry()));
        let other = snapshot(&item, Status::Rejected).unwrap();
        assert!(other.has_ledger && other.entry.is_none());
        // The record itself is untouched by the ledger.
        assert_eq!(with.record, record);
        item.insert("notifications".into(), s("x"));
        assert!(snapshot(&item, Status::Processed).is_err());
    }

    #[test]
    fn claim_requests_encode_their_conditions() {
        let new_ledger = claim_request(ClaimWrite::NewLedger, &claim());
        assert_placeholders_match(&new_ledger);
        assert_eq!(new_ledger.update_expression, "SET #notifications = :ledger");
        assert_eq!(
            new_ledger.condition_expression,
            "attribute_exists(#order_id) AND attribute_not_exists(#notifications)"
        );
        assert_eq!(
            new_ledger.values[":ledger"],
            AttributeValue::M(HashMap::from([(
                "PROCESSED".to_owned(),
                entry_value(&claim().new_entry())
            )]))
        );

        let new_entry = claim_request(ClaimWrite::NewEntry, &claim());
        assert_placeholders_match(&new_entry);
        assert_eq!(
            new_entry.update_expression,
            "SET #notifications.#status = :entry"
        );
        assert_eq!(
            new_entry.condition_expression,
            "attribute_exists(#notifications) AND attribute_not_exists(#notifications.#status)"
        );
        assert_eq!(new_entry.names["#status"], "PROCESSED");

        let takeover = claim_request(ClaimWrite::Takeover, &claim());
        assert_placeholders_match(&takeover);
        assert_eq!(
            takeover.condition_expression,
            "#notifications.#status.#state = :claimed AND #notifications.#status.#lease_until < :now"
        );
        assert_eq!(takeover.values[":now"], n(1000));
        for part in [
            "#notifications.#status.#claim = :claim",
            "#notifications.#status.#lease_until = :lease_until",
            " ADD #notifications.#status.#attempts :one",
        ] {
            assert!(
                takeover.update_expression.contains(part),
                "{part}: {}",
                takeover.update_expression
            );
        }
        // What the earlier attempt recorded is kept.
        assert!(!takeover.update_expression.contains("#email"));
        assert!(!takeover.update_expression.contains("#sns_message_id"));
    }

    #[test]
    fn owned_updates_require_the_claim() {
        let owned =
            "#notifications.#status.#claim = :token AND #notifications.#status.#state = :claimed";
        let sent = EmailOutcome::Sent {
            message_id: "ses-1".into(),
        };
        let record = record_email_request(Status::Rejected, "tok", &sent);
        assert_placeholders_match(&record);
        assert_eq!(record.condition_expression, owned);
        assert_eq!(record.names["#status"], "REJECTED");
        assert_eq!(record.values[":token"], s("tok"));
        assert_eq!(
            record.update_expression,
            "SET #notifications.#status.#email = :email, #notifications.#status.#email_message_id = :email_message_id"
        );

        let completion = Completion {
            state: EntryState::EmailUndeliverable,
            email: EmailOutcome::Undeliverable { error: "e".into() },
            sns_message_id: "sns-1".into(),
            completed_at: "t".into(),
        };
        let complete = complete_request(Status::Processed, "tok", &completion);
        assert_placeholders_match(&complete);
        assert_eq!(complete.condition_expression, owned);
        assert_eq!(complete.values[":state"], s("EMAIL_UNDELIVERABLE"));
        assert_eq!(complete.values[":email"], s("UNDELIVERABLE"));
        assert_eq!(complete.values[":email_error"], s("e"));
        assert_eq!(complete.values[":sns_message_id"], s("sns-1"));

        let release = release_request(Status::Processed, "tok");
        assert_placeholders_match(&release);
        assert_eq!(
            release.update_expression,
            "SET #notifications.#status.#lease_until = :lease_until"
        );
        assert_eq!(release.values[":lease_until"], n(0));
        assert_eq!(release.condition_expression, owned);
    }
}
