//! The resolved, validated pipeline: what `spec::load` returns once every check has passed.
//! Nothing here refers back to YAML; the graph and the resource providers work from these types.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Tag key that marks a resource as owned by a stack; its value is the stack name.
pub const OWNERSHIP_TAG: &str = "orderflow:stack";

#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The file this spec was read from (for messages).
    pub file: PathBuf,
    /// Stack name: prefix of every physical name and value of the ownership tag.
    pub stack: String,
    /// Region from the file; `--region` and the credential chain may override it.
    pub region: Option<String>,
    /// Extra tags put on every resource that takes tags (besides the ownership tag).
    pub tags: BTreeMap<String, String>,
    pub buses: BTreeMap<String, Bus>,
    pub queues: BTreeMap<String, Queue>,
    pub tables: BTreeMap<String, Table>,
    pub functions: BTreeMap<String, Function>,
    pub rules: BTreeMap<String, Rule>,
    pub triggers: BTreeMap<String, Trigger>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Bus {
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Queue {
    /// Seconds, 0..=43200. Default 30.
    pub visibility_timeout_secs: u32,
    /// Seconds, 60..=1209600. Default 345600 (4 days).
    pub retention_secs: u32,
    pub encryption: QueueEncryption,
    pub dead_letter: Option<Redrive>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueEncryption {
    /// SSE-SQS (SqsManagedSseEnabled). The default.
    SqsManaged,
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Redrive {
    /// Logical name of the dead-letter queue (a key of `Spec::queues`).
    pub queue: String,
    /// 1..=1000.
    pub max_receive_count: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub partition_key: KeyAttribute,
    pub sort_key: Option<KeyAttribute>,
    /// Only on-demand (PAY_PER_REQUEST) for now.
    pub billing: Billing,
    pub point_in_time_recovery: bool,
    pub ttl_attribute: Option<String>,
    pub deletion_protection: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Billing {
    OnDemand,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeyAttribute {
    pub name: String,
    pub kind: KeyKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    S,
    N,
    B,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::S => "S",
            KeyKind::N => "N",
            KeyKind::B => "B",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    /// Cargo package under `functions/` whose binary becomes `bootstrap`.
    pub crate_name: String,
    /// MB, 128..=10240. Default 128.
    pub memory_mb: u32,
    /// Seconds, 1..=900. Default 3.
    pub timeout_secs: u32,
    pub architecture: Architecture,
    /// Environment variables; values may reference other resources, resolved at apply time.
    pub environment: BTreeMap<String, Template>,
    /// Declared access, from which the function's IAM role policy is generated.
    pub access: Vec<Access>,
    /// Queue (logical name) that receives events whose asynchronous invocation failed
    /// after Lambda's retries (the function's DeadLetterConfig).
    pub dead_letter_queue: Option<String>,
    /// Retries of a failed asynchronous invocation, 0..=2 (Lambda's default is 2).
    pub async_retry_attempts: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    X86_64,
    Arm64,
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }
}

/// A string with `${kind.name.attribute}` references, e.g. `${queues.orders.url}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub parts: Vec<TemplatePart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    Literal(String),
    Ref(Ref),
}

/// A reference to an attribute of another declared resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ref {
    pub kind: RefKind,
    /// Logical name (a key of the section named by `kind`).
    pub name: String,
    pub attribute: RefAttribute,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RefKind {
    Bus,
    Queue,
    Table,
    Function,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RefAttribute {
    /// Physical name.
    Name,
    Arn,
    /// Queues only.
    Url,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub target: AccessTarget,
    pub verb: Verb,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum AccessTarget {
    Bus(String),
    Queue(String),
    Table(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verb {
    /// bus: events:PutEvents
    Publish,
    /// queue: sqs:SendMessage
    Send,
    /// queue: receive/delete/change visibility/get attributes (what an SQS trigger needs)
    Consume,
    /// table: GetItem, Query, BatchGetItem, ConditionCheckItem
    Read,
    /// table: PutItem, UpdateItem, ConditionCheckItem
    Write,
    /// table: DeleteItem. Separate from `write` so a function that only records orders
    /// cannot remove them. (BatchWriteItem, which can do both, is granted by no verb.)
    Delete,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Logical name of the bus (a key of `Spec::buses`).
    pub bus: String,
    pub description: Option<String>,
    /// EventBridge event pattern, as JSON.
    pub event_pattern: serde_json::Value,
    pub targets: Vec<RuleTarget>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleTarget {
    /// Logical name of the function invoked.
    pub function: String,
    /// EventBridge retry policy: 0..=185 attempts (default 185).
    pub maximum_retry_attempts: u32,
    /// Seconds, 60..=86400 (default 86400).
    pub maximum_event_age_secs: u32,
    /// Queue (logical name) for events EventBridge could not deliver.
    pub dead_letter_queue: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    /// Logical name of the source queue.
    pub queue: String,
    /// Logical name of the function.
    pub function: String,
    /// 1..=10000; above 10 needs a batching window > 0. Default 10.
    pub batch_size: u32,
    /// Seconds, 0..=300. Default 0.
    pub batching_window_secs: u32,
    /// Default true.
    pub report_batch_item_failures: bool,
    /// 2..=1000 when set.
    pub maximum_concurrency: Option<u32>,
    /// Default true.
    pub enabled: bool,
}
