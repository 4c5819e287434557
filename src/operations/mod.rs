//! Operating a deployed stack (issue 7): what `status`, `logs`, `trace` and `dlq` read and do,
//! apart from how the commands print it (`crate::commands`). One file per concern.

pub mod dlq;
pub mod logs;
pub mod status;
pub mod trace;
