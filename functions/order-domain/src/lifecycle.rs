//! The status lifecycle as rules on records, independent of DynamoDB:
//!
//! ```text
//! (absent) ──▶ RECEIVED ──▶ VALIDATED ──▶ PROCESSED
//!     │            │            │
//!     │            └────────────┴──────▶ REJECTED
//!     └──▶ VALIDATED | PROCESSED | REJECTED   (orders published straight to the bus)
//! ```
//!
//! A transition is one conditional write of a *candidate* record (built by the
//! `OrderRecord` constructors: the target status, the order's fields and the one history entry
//! of the move). The write succeeds when no record exists (the candidate becomes the record)
//! or when the stored status is one of the target's [`Status::predecessors`] and — for a
//! valid order — the stored order is the same order; then [`merge`] says what the record
//! becomes. Otherwise nothing is written and [`classify_refusal`] says why, from the stored
//! record DynamoDB returns with the failure.
//!
//! `crate::dynamodb::transition` is the conditional UpdateItem implementing [`condition_allows`]
//! and [`merge`]; `crate::memory::MemoryTable` applies these functions directly for tests.

use crate::events::OrderStatusChanged;
use crate::item::{OrderRecord, Status};

/// What a conditional transition write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionOutcome {
    /// Written. `old_status` is `None` when there was no record; `old_customer_id` is the
    /// stored record's customer id, if it had one.
    Applied {
        old_status: Option<Status>,
        old_customer_id: Option<String>,
    },
    /// Not written: the condition failed. `current` is the stored record, when the service
    /// returned it (ReturnValuesOnConditionCheckFailure=ALL_OLD) in the orders-table shape.
    Refused { current: Option<Box<OrderRecord>> },
}

/// Why a transition was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The order already has the target status (an earlier attempt stored it). `replay` is
    /// the event of that transition when it is not known to be published (a failed publish
    /// before this retry): publish it again. `None`: nothing to publish.
    AlreadyInTarget { replay: Option<OrderStatusChanged> },
    /// The order already moved past this transition (or to the other final status): a late or
    /// redelivered event. Nothing to write, nothing to publish.
    Superseded { current: Status },
    /// The id holds a different order. Nothing is written.
    Conflict { current: Status },
    /// The stored record was not returned (or not readable): nothing is known.
    Unknown,
}

/// Whether the candidate must match the stored order's fields to move it: every transition
/// carrying a valid order. A REJECTED candidate carries whatever of the broken order was
/// well-typed, so only the status decides.
pub fn requires_same_order(candidate: &OrderRecord) -> bool {
    candidate.status != Status::Rejected
}

/// The write condition: no record, or a record in an allowed predecessor status holding the
/// same order.
pub fn condition_allows(existing: Option<&OrderRecord>, candidate: &OrderRecord) -> bool {
    match existing {
        None => true,
        Some(stored) => {
            candidate.status.predecessors().contains(&stored.status)
                && (!requires_same_order(candidate) || stored.same_order_fields(candidate))
        }
    }
}

/// The record after a successful transition: the candidate itself when there was none;
/// otherwise the stored record with the new status, the candidate's history entry appended,
/// order fields it lacked filled in (never replaced), the delivery ids, reasons and expiry of
/// the new transition, and `received_at`, the request hash and the settled statuses kept.
pub fn merge(existing: Option<&OrderRecord>, candidate: &OrderRecord) -> OrderRecord {
    let Some(stored) = existing else {
        return candidate.clone();
    };
    let mut record = stored.clone();
    record.status = candidate.status;
    record
        .status_history
        .extend(candidate.status_history.iter().cloned());
    let keep = |old: &Option<String>, new: &Option<String>| old.clone().or_else(|| new.clone());
    record.customer_id = keep(&stored.customer_id, &candidate.customer_id);
    record.currency = keep(&stored.currency, &candidate.currency);
    record.customer_email = keep(&stored.customer_email, &candidate.customer_email);
    record.request_hash = keep(&stored.request_hash, &candidate.request_hash);
    record.total_minor = stored.total_minor.or(candidate.total_minor);
    record.items = stored.items.clone().or_else(|| candidate.items.clone());
    record.message_id = keep(&candidate.message_id, &stored.message_id);
    record.event_id = keep(&candidate.event_id, &stored.event_id);
    if !candidate.reasons.is_empty() {
        record.reasons = candidate.reasons.clone();
    }
    record.expires_at = candidate.expires_at.or(stored.expires_at);
    record
}

/// Why the transition to `candidate` was refused, given the stored record (`None`: unknown).
pub fn classify_refusal(candidate: &OrderRecord, current: Option<&OrderRecord>) -> Refusal {
    let Some(stored) = current else {
        return Refusal::Unknown;
    };
    if requires_same_order(candidate) && !stored.same_order_fields(candidate) {
        return Refusal::Conflict {
            current: stored.status,
        };
    }
    if stored.status == candidate.status {
        let replay = if stored.is_settled(candidate.status) {
            None
        } else {
            OrderStatusChanged::replay(stored, candidate.status)
        };
        return Refusal::AlreadyInTarget { replay };
    }
    if condition_allows(Some(stored), candidate) {
        // The returned record satisfies the condition that failed: it is not the state the
        // write saw (DynamoDB returns exactly that state, so this does not happen there).
        return Refusal::Unknown;
    }
    Refusal::Superseded {
        current: stored.status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::HistoryEntry;
    use crate::{sample, validate, validate_json, ValidOrder};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn order(id: &str) -> ValidOrder {
        validate(&sample::valid_order(Some(id.into()))).unwrap()
    }

    /// A candidate of each status for the same order.
    fn candidate(status: Status, valid: &ValidOrder) -> OrderRecord {
        match status {
            Status::Received => OrderRecord::received(valid, "hash", at(0), None),
            Status::Validated => OrderRecord::validated(valid, Some("ev".into()), at(1), None),
            Status::Processed => OrderRecord::processed(valid, "msg", at(2), None),
            Status::Rejected => {
                let raw = serde_json::to_value(valid.order()).unwrap();
                let reasons = validate_json(&serde_json::json!({})).unwrap_err();
                OrderRecord::rejected(&raw, reasons, Some("ev".into()), at(3), None).unwrap()
            }
        }
    }

    #[test]
    fn predecessors_are_the_lifecycle() {
        use Status::*;
        assert_eq!(Received.predecessors(), &[] as &[Status]);
        assert_eq!(Validated.predecessors(), &[Received]);
        assert_eq!(Processed.predecessors(), &[Received, Validated]);
        assert_eq!(Rejected.predecessors(), &[Received, Validated]);
    }

    #[test]
    fn every_allowed_and_forbidden_move() {
        use Status::*;
        let valid = order("ord-l");
        let allowed = [
            (Received, Validated),
            (Received, Processed),
            (Validated, Processed),
            (Received, Rejected),
            (Validated, Rejected),
        ];
        for from in Status::ALL {
            let stored = candidate(from, &valid);
            for to in Status::ALL {
                let want = allowed.contains(&(from, to));
                assert_eq!(
                    condition_allows(Some(&stored), &candidate(to, &valid)),
                    want,
                    "{from} → {to}"
                );
            }
        }
        // From no record, every status may be written.
        for to in Status::ALL {
            assert!(
                condition_allows(None, &candidate(to, &valid)),
                "absent → {to}"
            );
        }
    }

    #[test]
    fn a_different_order_never_moves_a_stored_one() {
        let stored = candidate(Status::Received, &order("ord-x"));
        let other = validate(
            &sample::OrderBuilder::new()
                .order_id("ord-x")
                .item("OTHER", 1, 5)
                .build(),
        )
        .unwrap();
        for to in [Status::Validated, Status::Processed] {
            let cand = candidate(to, &other);
            assert!(!condition_allows(Some(&stored), &cand));
            assert_eq!(
                classify_refusal(&cand, Some(&stored)),
                Refusal::Conflict {
                    current: Status::Received
                }
            );
        }
        // The e-mail is part of the order.
        let mut with_email = candidate(Status::Validated, &order("ord-x"));
        with_email.customer_email = Some("a@b.co".into());
        assert!(!condition_allows(Some(&stored), &with_email));
        // A rejection only looks at the status.
        assert!(condition_allows(
            Some(&stored),
            &candidate(Status::Rejected, &other)
        ));
    }

    #[test]
    fn merge_appends_history_and_keeps_what_the_record_had() {
        let valid = order("ord-m");
        let received = candidate(Status::Received, &valid);
        let validated = candidate(Status::Validated, &valid);
        let after = merge(Some(&received), &validated);
        assert_eq!(after.status, Status::Validated);
        assert_eq!(after.received_at, received.received_at);
        assert_eq!(after.request_hash.as_deref(), Some("hash"));
        assert_eq!(after.event_id.as_deref(), Some("ev"));
        assert_eq!(
            after
                .status_history
                .iter()
                .map(|e| e.status)
                .collect::<Vec<_>>(),
            [Status::Received, Status::Validated]
        );
        let processed = merge(Some(&after), &candidate(Status::Processed, &valid));
        assert_eq!(processed.message_id.as_deref(), Some("msg"));
        assert_eq!(processed.status_history.len(), 3);
        assert!(processed.same_order_as(&candidate(Status::Processed, &valid)));
        // A rejection of a recorded order keeps its fields and adds the reasons.
        let rejected_candidate = candidate(Status::Rejected, &valid);
        let rejected = merge(Some(&after), &rejected_candidate);
        assert_eq!(rejected.status, Status::Rejected);
        assert_eq!(rejected.reasons, rejected_candidate.reasons);
        assert_eq!(
            rejected.status_history.last().unwrap().reasons,
            rejected_candidate.reasons
        );
        assert_eq!(rejected.items, after.items);
        // Without a record, the candidate is the record.
        assert_eq!(merge(None, &validated), validated);
    }

    #[test]
    fn refusals_are_classified_from_the_stored_record() {
        let valid = order("ord-c");
        let processed_candidate = candidate(Status::Processed, &valid);
        let mut stored = merge(
            Some(&candidate(Status::Validated, &valid)),
            &processed_candidate,
        );
        // Already PROCESSED, its event not known to be published: replay that event.
        let Refusal::AlreadyInTarget {
            replay: Some(replay),
        } = classify_refusal(&processed_candidate, Some(&stored))
        else {
            panic!("expected a replay");
        };
        assert_eq!(replay.old_status, Some(Status::Validated));
        assert_eq!(replay.new_status, Status::Processed);
        assert_eq!(replay.at, "2023-11-14T22:13:22.000Z");
        // Settled: nothing to publish.
        stored.settled = vec![Status::Processed];
        assert_eq!(
            classify_refusal(&processed_candidate, Some(&stored)),
            Refusal::AlreadyInTarget { replay: None }
        );
        // VALIDATED arriving after PROCESSED: superseded.
        assert_eq!(
            classify_refusal(&candidate(Status::Validated, &valid), Some(&stored)),
            Refusal::Superseded {
                current: Status::Processed
            }
        );
        // REJECTED after PROCESSED: superseded too.
        assert_eq!(
            classify_refusal(&candidate(Status::Rejected, &valid), Some(&stored)),
            Refusal::Superseded {
                current: Status::Processed
            }
        );
        // A record without history (written before the lifecycle) has nothing to replay.
        let mut legacy = processed_candidate.clone();
        legacy.status_history.clear();
        assert_eq!(
            classify_refusal(&processed_candidate, Some(&legacy)),
            Refusal::AlreadyInTarget { replay: None }
        );
        assert_eq!(
            classify_refusal(&processed_candidate, None),
            Refusal::Unknown
        );
        // A "refusal" by a record that allows the move is not a state the write saw.
        assert_eq!(
            classify_refusal(
                &processed_candidate,
                Some(&candidate(Status::Validated, &valid))
            ),
            Refusal::Unknown
        );
    }

    #[test]
    fn history_entries_serialize_reasons_only_when_present() {
        let entry = HistoryEntry {
            status: Status::Validated,
            at: "t".into(),
            reasons: vec![],
        };
        assert_eq!(
            serde_json::to_value(&entry).unwrap(),
            serde_json::json!({"status": "VALIDATED", "at": "t"})
        );
    }
}
