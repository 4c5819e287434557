//! `orderflow unlock`: break the stack's lock, for a run that crashed and left it behind
//! (otherwise it frees itself when its lease expires). Shows the holder and asks first.

use std::fmt;
use std::process::ExitCode;

use serde::Serialize;

use super::{confirm, connect, emit, load_spec};
use crate::cli::{Global, UnlockArgs};
use crate::error::Error;
use crate::lock::{now_ms, Holder, LockTable, TABLE};

#[derive(Debug, Serialize)]
pub struct UnlockResult {
    pub stack: String,
    pub table: String,
    /// `unlocked` (this run broke it) or `not_locked`.
    pub status: &'static str,
    /// The lock that was broken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<Holder>,
    /// The item deleted instead when it was not a lock orderflow wrote (`name=value, …`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub foreign_item: Option<String>,
}

impl fmt::Display for UnlockResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.holder {
            Some(h) => writeln!(
                f,
                "Unlocked stack {}: broke the lock {} took at {}.",
                self.stack,
                h.who(),
                crate::lock::utc(h.acquired_at)
            ),
            None if self.status == "unlocked" => writeln!(
                f,
                "Unlocked stack {}: deleted its item in {}, which orderflow had not written.",
                self.stack, self.table
            ),
            None => writeln!(f, "Stack {} is not locked.", self.stack),
        }
    }
}

pub async fn run(g: &Global, args: UnlockArgs) -> Result<ExitCode, Error> {
    let spec = load_spec(g)?;
    let ctx = connect(g, spec).await?;
    let table = LockTable::new(&ctx);
    let stack = ctx.spec.stack.clone();
    let mut holder = table.read().await?;
    if holder.is_none() {
        if let Some(item) = table.foreign().await? {
            return delete_foreign(g, &table, &stack, &item, &args).await;
        }
    }
    loop {
        let Some(h) = holder else {
            emit(
                g.output,
                &UnlockResult {
                    stack,
                    table: TABLE.into(),
                    status: "not_locked",
                    holder: None,
                    foreign_item: None,
                },
            )?;
            return Ok(ExitCode::SUCCESS);
        };
        let now = now_ms();
        let warning = if h.expired(now) {
            String::new()
        } else {
            " Its lease is still live: if that run is still working, it stops at its next \
             renewal, and another run may start while it does."
                .to_string()
        };
        confirm(
            &format!(
                "Break the lock on stack {stack} held by {}?{warning}",
                h.describe(now)
            ),
            args.yes,
        )?;
        // Only the lock the user was shown: if another run took it meanwhile, show that one.
        match table.break_lock(&h.token).await? {
            None => {
                emit(
                    g.output,
                    &UnlockResult {
                        stack,
                        table: TABLE.into(),
                        status: "unlocked",
                        holder: Some(h),
                        foreign_item: None,
                    },
                )?;
                return Ok(ExitCode::SUCCESS);
            }
            Some(Some(other)) if !args.yes => {
                eprintln!(
                    "The lock changed meanwhile: it is now held by {}.",
                    other.describe(now_ms())
                );
                holder = Some(other);
            }
            Some(Some(other)) => {
                return Err(Error::Refused(format!(
                    "not breaking the lock on stack {stack}: it changed meanwhile and is now held by {} \
                     (run `orderflow unlock` again to break that one)",
                    other.describe(now_ms())
                )));
            }
            // Released or broken by someone else meanwhile.
            Some(None) => holder = None,
        }
    }
}

/// The stack's item is not a lock orderflow wrote (it blocks `up`/`down`, which refuse to
/// guess whether its writer still works): show it, ask, delete it.
async fn delete_foreign(
    g: &Global,
    table: &LockTable,
    stack: &str,
    item: &str,
    args: &UnlockArgs,
) -> Result<ExitCode, Error> {
    confirm(
        &format!(
            "The item of stack {stack} in the lock table {TABLE} is not a lock orderflow wrote \
             ({item}). Delete it?"
        ),
        args.yes,
    )?;
    if !table.delete_foreign().await? {
        return Err(Error::Refused(format!(
            "not deleting the item of stack {stack} in {TABLE}: it changed meanwhile; run \
             `orderflow unlock` again to see it"
        )));
    }
    emit(
        g.output,
        &UnlockResult {
            stack: stack.to_string(),
            table: TABLE.into(),
            status: "unlocked",
            holder: None,
            foreign_item: Some(item.to_string()),
        },
    )?;
    Ok(ExitCode::SUCCESS)
}
