//! Reads shared within one plan: `plan` reads every declared resource and then runs every kind's
//! discovery, and several kinds read the same thing (a function's resource policy is read by
//! three permission kinds, the function list by every kind that lives on functions, a queue's
//! attributes by the queue and its policy). While a plan is being made, [`Reads::get`] makes
//! each distinct read once and hands every caller the same answer, also callers asking at the
//! same time.
//!
//! Only planning may use it: everything after a write (apply's waiters, the read-back of an
//! adopted resource, `still_visible`) must see AWS as it is now, so the memo is off outside
//! [`Reads::planning`] and forgotten when planning ends. Failed reads are never remembered.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::error::Error;

type Value = Arc<dyn Any + Send + Sync>;
type Cell = Arc<OnceCell<Value>>;

/// Memo of read calls, keyed by operation and key (a function name, a queue URL, ...).
#[derive(Default)]
pub struct Reads {
    enabled: AtomicBool,
    cells: Mutex<HashMap<(&'static str, String), Cell>>,
}

impl std::fmt::Debug for Reads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reads")
            .field("enabled", &self.enabled.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

/// Memo on while alive; dropping it (also on an error or a panic) turns it off and forgets.
pub struct Planning<'a>(&'a Reads);

impl Drop for Planning<'_> {
    fn drop(&mut self) {
        self.0.enabled.store(false, Ordering::SeqCst);
        self.0.cells.lock().expect("reads lock").clear();
    }
}

impl Reads {
    /// Share reads until the returned guard is dropped.
    pub fn planning(&self) -> Planning<'_> {
        self.cells.lock().expect("reads lock").clear();
        self.enabled.store(true, Ordering::SeqCst);
        Planning(self)
    }

    pub fn is_planning(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }

    /// The answer of `fetch` for (`operation`, `key`): made once while planning, every time
    /// otherwise. One operation name must always come with one value type `T`.
    pub async fn get<T, F, Fut>(
        &self,
        operation: &'static str,
        key: &str,
        fetch: F,
    ) -> Result<Arc<T>, Error>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        if !self.is_planning() {
            return fetch().await.map(Arc::new);
        }
        let cell = self
            .cells
            .lock()
            .expect("reads lock")
            .entry((operation, key.to_string()))
            .or_default()
            .clone();
        let value = cell
            .get_or_try_init(|| async { fetch().await.map(|v| Arc::new(v) as Value) })
            .await?
            .clone();
        value.downcast::<T>().map_err(|_| {
            Error::Other(format!(
                "shared read {operation}: asked for two different types (a bug)"
            ))
        })
    }

    /// [`Reads::get`] for values cheap enough to clone out of the memo.
    pub async fn cloned<T, F, Fut>(
        &self,
        operation: &'static str,
        key: &str,
        fetch: F,
    ) -> Result<T, Error>
    where
        T: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        Ok((*self.get(operation, key, fetch).await?).clone())
    }

    /// A value already read while planning, without reading it (`None` when not read, or not
    /// planning): lets a listing tell which of its entries a declared read has already seen.
    pub fn peek<T: Send + Sync + 'static>(
        &self,
        operation: &'static str,
        key: &str,
    ) -> Option<Arc<T>> {
        if !self.is_planning() {
            return None;
        }
        let cell = self
            .cells
            .lock()
            .expect("reads lock")
            .get(&(operation, key.to_string()))
            .cloned()?;
        cell.get().cloned()?.downcast::<T>().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    async fn counted(reads: &Reads, calls: &AtomicUsize, key: &str) -> Result<Arc<String>, Error> {
        reads
            .get("Op", key, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                Ok(format!("value of {key}"))
            })
            .await
    }

    #[tokio::test]
    async fn planning_reads_once_per_key_also_concurrently() {
        let reads = Reads::default();
        let calls = AtomicUsize::new(0);
        let planning = reads.planning();
        let (a, b, c) = tokio::join!(
            counted(&reads, &calls, "x"),
            counted(&reads, &calls, "x"),
            counted(&reads, &calls, "y")
        );
        assert_eq!(*a.unwrap(), "value of x");
        assert_eq!(*b.unwrap(), "value of x");
        assert_eq!(*c.unwrap(), "value of y");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(*reads.peek::<String>("Op", "x").unwrap(), "value of x");
        assert!(reads.peek::<String>("Op", "z").is_none());
        drop(planning);
        // Off again: every read goes to AWS, nothing remembered.
        counted(&reads, &calls, "x").await.unwrap();
        counted(&reads, &calls, "x").await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert!(reads.peek::<String>("Op", "x").is_none());
        let _again = reads.planning();
        counted(&reads, &calls, "x").await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 5, "a new plan reads afresh");
    }

    #[tokio::test]
    async fn failures_are_not_remembered() {
        let reads = Reads::default();
        let _planning = reads.planning();
        let failed: Result<Arc<u32>, Error> = reads
            .get("Op", "k", || async {
                Err(Error::Other("throttled".into()))
            })
            .await;
        assert!(failed.is_err());
        let ok = reads.get("Op", "k", || async { Ok(7u32) }).await.unwrap();
        assert_eq!(*ok, 7);
        let wrong: Result<Arc<String>, Error> =
            reads.get("Op", "k", || async { Ok(String::new()) }).await;
        assert!(wrong.is_err(), "one operation, one type");
    }
}
