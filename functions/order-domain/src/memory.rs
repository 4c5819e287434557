//! An in-memory orders table with the semantics of the conditional writes in
//! `crate::dynamodb` (transitions per [`crate::lifecycle`], insert-if-absent, settling), for
//! the functions' handler tests. It counts writes, so a test can prove a redelivery wrote
//! nothing.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::item::{OrderRecord, Status};
use crate::lifecycle::{self, TransitionOutcome};

/// What an insert-if-absent found (the DynamoDB flavour is `crate::dynamodb::Insert`; this one
/// always knows the stored record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    Stored,
    AlreadyExists(Box<OrderRecord>),
}

#[derive(Debug, Default)]
pub struct MemoryTable {
    items: Mutex<BTreeMap<String, OrderRecord>>,
    writes: Mutex<usize>,
}

impl MemoryTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts `record` as is, without counting a write (test set-up).
    pub fn seed(&self, record: OrderRecord) {
        self.items
            .lock()
            .unwrap()
            .insert(record.order_id.clone(), record);
    }

    pub fn get(&self, order_id: &str) -> Option<OrderRecord> {
        self.items.lock().unwrap().get(order_id).cloned()
    }

    pub fn len(&self) -> usize {
        self.items.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Successful writes so far (transitions, inserts and settles).
    pub fn writes(&self) -> usize {
        *self.writes.lock().unwrap()
    }

    /// The conditional transition write.
    pub fn transition(&self, candidate: &OrderRecord) -> TransitionOutcome {
        let mut items = self.items.lock().unwrap();
        let existing = items.get(&candidate.order_id);
        if !lifecycle::condition_allows(existing, candidate) {
            return TransitionOutcome::Refused {
                current: existing.cloned().map(Box::new),
            };
        }
        let outcome = TransitionOutcome::Applied {
            old_status: existing.map(|record| record.status),
            old_customer_id: existing.and_then(|record| record.customer_id.clone()),
        };
        let after = lifecycle::merge(existing, candidate);
        items.insert(candidate.order_id.clone(), after);
        *self.writes.lock().unwrap() += 1;
        outcome
    }

    /// The conditional put: stores `record` unless its order id is taken.
    pub fn insert_if_absent(&self, record: &OrderRecord) -> Inserted {
        let mut items = self.items.lock().unwrap();
        if let Some(existing) = items.get(&record.order_id) {
            return Inserted::AlreadyExists(Box::new(existing.clone()));
        }
        items.insert(record.order_id.clone(), record.clone());
        *self.writes.lock().unwrap() += 1;
        Inserted::Stored
    }

    /// Adds `status` to the record's settled statuses; `false` when there is no record.
    pub fn settle(&self, order_id: &str, status: Status) -> bool {
        let mut items = self.items.lock().unwrap();
        let Some(record) = items.get_mut(order_id) else {
            return false;
        };
        if !record.settled.contains(&status) {
            record.settled.push(status);
            record.settled.sort();
        }
        *self.writes.lock().unwrap() += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{sample, validate};
    use std::time::UNIX_EPOCH;

    #[test]
    fn transitions_follow_the_lifecycle_and_count_writes() {
        let table = MemoryTable::new();
        let order = validate(&sample::valid_order(Some("ord-mem".into()))).unwrap();
        let validated = OrderRecord::validated(&order, None, UNIX_EPOCH, None);
        assert_eq!(
            table.transition(&validated),
            TransitionOutcome::Applied {
                old_status: None,
                old_customer_id: None
            }
        );
        let processed = OrderRecord::processed(&order, "m", UNIX_EPOCH, None);
        assert_eq!(
            table.transition(&processed),
            TransitionOutcome::Applied {
                old_status: Some(Status::Validated),
                old_customer_id: Some(sample::SAMPLE_CUSTOMER_ID.into())
            }
        );
        let TransitionOutcome::Refused {
            current: Some(current),
        } = table.transition(&validated)
        else {
            panic!("VALIDATED after PROCESSED must be refused");
        };
        assert_eq!(current.status, Status::Processed);
        assert_eq!(table.writes(), 2);
        assert!(table.settle("ord-mem", Status::Processed));
        assert!(table.settle("ord-mem", Status::Processed));
        assert_eq!(table.get("ord-mem").unwrap().settled, [Status::Processed]);
        assert!(!table.settle("nope", Status::Processed));
        assert_eq!(
            table.insert_if_absent(&validated),
            Inserted::AlreadyExists(Box::new(table.get("ord-mem").unwrap()))
        );
    }
}
