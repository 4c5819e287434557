//! The last `up` or `down` that finished its work on a stack, kept next to the stack's lock (one
//! item `<stack>#last-run` in the lock table) so `orderflow status` can say when the stack was
//! last deployed and by whom, without a state file. Written by the run holding the lock, after
//! its work succeeded and before it releases the lock. A stack name is `[a-z0-9-]`, so the key
//! never collides with a stack's lock item.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use super::holder::{now_ms, utc};
use super::{aws_error, Holder, LockTable, NOT_FOUND, TABLE};
use crate::error::Error;

/// A run that changed (or confirmed) the stack: who, which command, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastRun {
    /// `orderflow up`, `orderflow down`
    pub command: String,
    /// `user@host`
    pub by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    #[serde(serialize_with = "ser_ms")]
    pub started_at: u64,
    #[serde(serialize_with = "ser_ms")]
    pub finished_at: u64,
    /// The orderflow version that ran.
    pub version: String,
}

fn ser_ms<S: serde::Serializer>(ms: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&utc(*ms))
}

impl LastRun {
    fn key(stack: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([(
            "stack".to_string(),
            AttributeValue::S(format!("{stack}#last-run")),
        )])
    }

    fn item(&self, stack: &str) -> HashMap<String, AttributeValue> {
        let mut item = LastRun::key(stack);
        item.extend([
            ("command".into(), AttributeValue::S(self.command.clone())),
            ("by".into(), AttributeValue::S(self.by.clone())),
            (
                "started_at".into(),
                AttributeValue::N(self.started_at.to_string()),
            ),
            (
                "finished_at".into(),
                AttributeValue::N(self.finished_at.to_string()),
            ),
            ("version".into(), AttributeValue::S(self.version.clone())),
        ]);
        if let Some(job) = &self.job {
            item.insert("job".into(), AttributeValue::S(job.clone()));
        }
        item
    }

    fn from_item(item: &HashMap<String, AttributeValue>) -> Option<LastRun> {
        let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        let n = |k: &str| {
            item.get(k)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<u64>().ok())
        };
        Some(LastRun {
            command: s("command")?,
            by: s("by")?,
            job: s("job"),
            started_at: n("started_at")?,
            finished_at: n("finished_at")?,
            version: s("version").unwrap_or_default(),
        })
    }
}

impl LockTable {
    /// Record that `holder`'s run finished its work now. Counted with the lock's calls.
    pub(super) async fn record_run(&self, holder: &Holder) -> Result<(), Error> {
        let run = LastRun {
            command: holder.command.clone(),
            by: holder.holder.clone(),
            job: holder.job.clone(),
            started_at: holder.acquired_at,
            finished_at: now_ms(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        };
        self.calls.write();
        self.client
            .put_item()
            .table_name(TABLE)
            .set_item(Some(run.item(&self.stack)))
            .send()
            .await
            .map_err(|e| aws_error(format!("{TABLE}[{}#last-run]", self.stack), "PutItem", e))?;
        Ok(())
    }

    /// The stack's last recorded run; `None` when there is none (or no lock table yet).
    pub async fn last_run(&self) -> Result<Option<LastRun>, Error> {
        self.calls.read();
        match self
            .client
            .get_item()
            .table_name(TABLE)
            .set_key(Some(LastRun::key(&self.stack)))
            .send()
            .await
        {
            Ok(out) => Ok(out.item.as_ref().and_then(LastRun::from_item)),
            Err(e) if e.code() == Some(NOT_FOUND) => Ok(None),
            Err(e) => Err(aws_error(
                format!("{TABLE}[{}#last-run]", self.stack),
                "GetItem",
                e,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_reads_back_as_written_under_its_own_key() {
        let run = LastRun {
            command: "orderflow up".into(),
            by: "ci@runner".into(),
            job: Some("https://ci.example/job/7".into()),
            started_at: 1_700_000_000_000,
            finished_at: 1_700_000_004_000,
            version: "0.1.0".into(),
        };
        let item = run.item("shop");
        assert_eq!(item["stack"].as_s().unwrap(), "shop#last-run");
        assert_eq!(LastRun::from_item(&item), Some(run));
        // A lock item (no `by`) is not a run record.
        let lock = HashMap::from([("stack".to_string(), AttributeValue::S("shop".into()))]);
        assert_eq!(LastRun::from_item(&lock), None);
    }
}
