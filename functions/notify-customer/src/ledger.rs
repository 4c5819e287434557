//! The notification ledger: what notify-customer records on the order's own item in the orders
//! table so that each (order, final status) is notified once as far as the customer can tell.
//!
//! ```text
//! notifications (M)                       absent until the first notification of the order
//! └── PROCESSED | REJECTED (M)            one entry per status notified
//!     ├── state (S)          CLAIMED → SENT | EMAIL_UNDELIVERABLE
//!     ├── claim (S)          token of the invocation holding (or last holding) the claim
//!     ├── lease_until (N)    epoch milliseconds; a CLAIMED entry past it may be taken over
//!     ├── attempts (N)       claims made (1 + takeovers)
//!     ├── at (S)             the OrderStatusChanged `at` being notified
//!     ├── claimed_at (S)     RFC 3339, latest claim
//!     ├── email (S)          SENT | NO_ADDRESS | UNDELIVERABLE, once the email step is done
//!     ├── email_message_id (S) / email_error (S)
//!     ├── sns_message_id (S) once published
//!     └── completed_at (S)   RFC 3339, when the entry became final
//! ```
//!
//! The other writers of the table never touch `notifications`: the lifecycle's transitions
//! SET only the attributes they own and `settle` ADDs to its set.

use order_domain::item::Status;

/// The map attribute holding one entry per notified status.
pub const NOTIFICATIONS: &str = order_domain::item::NOTIFICATIONS;
pub const STATE: &str = "state";
pub const CLAIM: &str = "claim";
pub const LEASE_UNTIL: &str = "lease_until";
pub const ATTEMPTS: &str = "attempts";
pub const AT: &str = "at";
pub const CLAIMED_AT: &str = "claimed_at";
pub const EMAIL: &str = "email";
pub const EMAIL_MESSAGE_ID: &str = "email_message_id";
pub const EMAIL_ERROR: &str = "email_error";
pub const SNS_MESSAGE_ID: &str = "sns_message_id";
pub const COMPLETED_AT: &str = "completed_at";

/// Where the notification of one status stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryState {
    /// An invocation is notifying (or died while notifying: see the lease).
    Claimed,
    /// Final: the email went out (or there was no address to send it to) and the SNS
    /// notification is published.
    Sent,
    /// Final: SES refused the email for good; the SNS notification is published.
    EmailUndeliverable,
}

impl EntryState {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryState::Claimed => "CLAIMED",
            EntryState::Sent => "SENT",
            EntryState::EmailUndeliverable => "EMAIL_UNDELIVERABLE",
        }
    }

    pub fn parse(text: &str) -> Option<EntryState> {
        [
            EntryState::Claimed,
            EntryState::Sent,
            EntryState::EmailUndeliverable,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }

    pub fn is_final(self) -> bool {
        self != EntryState::Claimed
    }
}

/// How the email step ended, recorded as soon as it is known so a retry never sends twice
/// what it knows was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailOutcome {
    /// SES accepted the message.
    Sent { message_id: String },
    /// The order has no (usable) address: nothing to send.
    NoAddress,
    /// SES refused it with an error retrying cannot fix.
    Undeliverable { error: String },
}

impl EmailOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            EmailOutcome::Sent { .. } => "SENT",
            EmailOutcome::NoAddress => "NO_ADDRESS",
            EmailOutcome::Undeliverable { .. } => "UNDELIVERABLE",
        }
    }
}

/// One status's entry in [`NOTIFICATIONS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub state: EntryState,
    pub claim: String,
    pub lease_until_ms: i64,
    pub attempts: i64,
    pub at: String,
    pub claimed_at: String,
    pub email: Option<EmailOutcome>,
    pub sns_message_id: Option<String>,
    pub completed_at: Option<String>,
}

impl Entry {
    /// A claim held by a running invocation: CLAIMED and its lease not yet over.
    pub fn is_live(&self, now_ms: i64) -> bool {
        self.state == EntryState::Claimed && self.lease_until_ms >= now_ms
    }
}

/// The order's record and the ledger entry of one status, as read (strongly consistent).
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub record: order_domain::item::OrderRecord,
    /// Whether the item has a [`NOTIFICATIONS`] map at all.
    pub has_ledger: bool,
    /// The entry of the status being notified.
    pub entry: Option<Entry>,
}

/// The conditional write that claims a status, chosen from what was read. Each one's
/// condition is exactly the state it was chosen for, so two invocations that read the same
/// state cannot both succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimWrite {
    /// No `notifications` map yet: create it holding the new entry
    /// (`attribute_exists(order_id) AND attribute_not_exists(notifications)`).
    NewLedger,
    /// The map exists without this status: add the entry
    /// (`attribute_exists(notifications) AND attribute_not_exists(notifications.S)`).
    NewEntry,
    /// A CLAIMED entry whose lease is over: take it over, keeping what it recorded
    /// (`notifications.S.state = CLAIMED AND notifications.S.lease_until < now`).
    Takeover,
}

/// A claim to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub status: Status,
    pub token: String,
    pub now_ms: i64,
    pub lease_until_ms: i64,
    pub at: String,
    pub claimed_at: String,
}

impl Claim {
    /// The entry a new claim creates.
    pub fn new_entry(&self) -> Entry {
        Entry {
            state: EntryState::Claimed,
            claim: self.token.clone(),
            lease_until_ms: self.lease_until_ms,
            attempts: 1,
            at: self.at.clone(),
            claimed_at: self.claimed_at.clone(),
            email: None,
            sns_message_id: None,
            completed_at: None,
        }
    }
}

/// What a claim write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The claim is ours. `previous` is the entry as it was just before a takeover (what the
    /// earlier attempt recorded); `None` for a new entry.
    Claimed { previous: Option<Entry> },
    /// The condition failed: the state changed since it was read. `current` is the entry
    /// now stored, when known.
    Refused { current: Option<Entry> },
}

/// The final mark of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub state: EntryState,
    pub email: EmailOutcome,
    pub sns_message_id: String,
    pub completed_at: String,
}

/// What to do, given the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The status is already notified: do nothing.
    AlreadyNotified(Entry),
    /// Another invocation holds a live claim: fail, so Lambda retries later.
    Held(Entry),
    /// Claim it with this write.
    Claim(ClaimWrite),
}

pub fn decide(snapshot: &Snapshot, now_ms: i64) -> Decision {
    match &snapshot.entry {
        Some(entry) if entry.state.is_final() => Decision::AlreadyNotified(entry.clone()),
        Some(entry) if entry.is_live(now_ms) => Decision::Held(entry.clone()),
        Some(_) => Decision::Claim(ClaimWrite::Takeover),
        None if snapshot.has_ledger => Decision::Claim(ClaimWrite::NewEntry),
        None => Decision::Claim(ClaimWrite::NewLedger),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use order_domain::item::OrderRecord;
    use order_domain::{sample, validate};
    use std::time::UNIX_EPOCH;

    fn entry(state: EntryState, lease_until_ms: i64) -> Entry {
        Entry {
            state,
            claim: "req-1@0".into(),
            lease_until_ms,
            attempts: 1,
            at: "t".into(),
            claimed_at: "t".into(),
            email: None,
            sns_message_id: None,
            completed_at: None,
        }
    }

    fn snapshot(has_ledger: bool, entry: Option<Entry>) -> Snapshot {
        let order = validate(&sample::valid_order(Some("ord-d".into()))).unwrap();
        Snapshot {
            record: OrderRecord::processed(&order, "m", UNIX_EPOCH, None),
            has_ledger,
            entry,
        }
    }

    #[test]
    fn states_round_trip_their_names() {
        for state in [
            EntryState::Claimed,
            EntryState::Sent,
            EntryState::EmailUndeliverable,
        ] {
            assert_eq!(EntryState::parse(state.as_str()), Some(state));
        }
        assert_eq!(EntryState::parse("DONE"), None);
        assert!(!EntryState::Claimed.is_final());
        assert!(EntryState::Sent.is_final() && EntryState::EmailUndeliverable.is_final());
    }

    #[test]
    fn decisions_follow_the_entry() {
        let now = 10_000;
        assert_eq!(
            decide(&snapshot(false, None), now),
            Decision::Claim(ClaimWrite::NewLedger)
        );
        assert_eq!(
            decide(&snapshot(true, None), now),
            Decision::Claim(ClaimWrite::NewEntry)
        );
        let live = entry(EntryState::Claimed, now);
        assert_eq!(
            decide(&snapshot(true, Some(live.clone())), now),
            Decision::Held(live)
        );
        assert_eq!(
            decide(
                &snapshot(true, Some(entry(EntryState::Claimed, now - 1))),
                now
            ),
            Decision::Claim(ClaimWrite::Takeover)
        );
        // A final entry is final whatever its lease says.
        for state in [EntryState::Sent, EntryState::EmailUndeliverable] {
            let done = entry(state, now + 1_000_000);
            assert_eq!(
                decide(&snapshot(true, Some(done.clone())), now),
                Decision::AlreadyNotified(done)
            );
        }
    }
}
