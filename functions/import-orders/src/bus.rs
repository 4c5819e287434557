//! [`EventBus`] on order-domain's `put_all`: entries in calls of at most 10, entries that
//! failed with a retryable code resent with backoff. Generic over the PutEvents call and the
//! clock, so the resending is exercised in tests with fakes.

use order_domain::eventbridge::{self, Backoff, Clock, PutEvents};
use order_domain::BusEvent;

use crate::import::{DependencyError, EventBus};

pub struct PutAllBus<P, C> {
    pub client: P,
    pub clock: C,
    pub bus_name: String,
    pub backoff: Backoff,
}

impl<P: PutEvents, C: Clock> EventBus for PutAllBus<P, C> {
    async fn publish(&self, events: &[BusEvent]) -> Result<(), DependencyError> {
        let publish_error = |message: String| DependencyError {
            operation: "EventBridge PutEvents",
            message,
        };
        let entries = events
            .iter()
            .map(|event| eventbridge::entry(&self.bus_name, event))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| publish_error(err.message))?;
        eventbridge::put_all(&self.client, &self.clock, &entries, self.backoff)
            .await
            .map(|_| ())
            .map_err(|err| publish_error(err.message))
    }
}
