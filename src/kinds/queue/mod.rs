//! `queues:` — standard SQS queues `<stack>-<queue>`, with an optional redrive to a dead-letter
//! queue. Functions may `send` to or `consume` from a queue; triggers (`crate::kinds::trigger`)
//! connect one to a function.
//!
//! A queue's policy ([`QueuePolicyProvider`], `queue_policy.<queue>`) is contributed by the
//! kinds that deliver to the queue: rules (dead-letter queues) and topics (subscriptions).

pub(crate) mod policy;
pub(crate) mod provider;

pub use policy::QueuePolicyProvider;
pub use provider::QueueProvider;

use std::collections::BTreeSet;

use super::{Kind, KindSpec, Section, Spec};
use crate::resources::ResourceId;
use crate::spec::decode::{Checker, Fields};
use crate::spec::schema::{Field, NameLimit, VerbDef};

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

pub(crate) const VISIBILITY_TIMEOUT: Field = Field::integer(
    "visibility_timeout",
    0,
    43_200,
    " seconds",
    Some(30),
    "How long a received message stays invisible to other consumers.",
);
const RETENTION: Field = Field::integer(
    "retention",
    60,
    1_209_600,
    " seconds",
    Some(345_600),
    "How long SQS keeps a message (default 4 days, at most 14).",
);
const ENCRYPTION: Field = Field::choice(
    "encryption",
    &["sqs-managed", "none"],
    Some("sqs-managed"),
    "`sqs-managed` (SSE-SQS) or `none`.",
);
const REDRIVE_QUEUE: Field = Field::name(
    "queue",
    Section::Queue,
    "Logical name of another queue in `queues`.",
)
.required();
const MAX_RECEIVE_COUNT: Field = Field::integer(
    "max_receive_count",
    1,
    1000,
    "",
    None,
    "Receives before a message moves to the dead-letter queue.",
)
.required();
const DEAD_LETTER: Field = Field::mapping(
    "dead_letter",
    &[REDRIVE_QUEUE, MAX_RECEIVE_COUNT],
    "Redrive policy: where messages go after `max_receive_count` receives.",
);

impl KindSpec for Queue {
    const SECTION: Section = Section::Queue;
    const SINGULAR: &'static str = "queue";
    const DOC: &'static str = "SQS queues (`<stack>-<name>`), optionally with a dead-letter queue.";
    const RESOURCE: Kind = Kind::Queue;
    const FIELDS: &'static [Field] = &[VISIBILITY_TIMEOUT, RETENTION, ENCRYPTION, DEAD_LETTER];
    const ATTRIBUTES: &'static [&'static str] = &["name", "arn", "url"];
    const SHOWN_OUTPUT: Option<&'static str> = Some("url");
    const VERBS: &'static [VerbDef] = &[
        VerbDef {
            name: "send",
            actions: &["sqs:SendMessage"],
            doc: "`sqs:SendMessage` on the queue",
        },
        VerbDef {
            name: "consume",
            actions: &[
                "sqs:ChangeMessageVisibility",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:ReceiveMessage",
            ],
            doc: "receive, delete, change visibility, get attributes (what an SQS trigger needs)",
        },
    ];
    const PHYSICAL_NAME: Option<NameLimit> = Some(NameLimit {
        min: 1,
        max: 80,
        what: "SQS queue names",
    });

    fn decode(cx: &mut Checker<'_, '_>, f: &Fields<'_>, _name: &str) -> Queue {
        let visibility_timeout_secs = cx.int_or_default(f, &VISIBILITY_TIMEOUT);
        let retention_secs = cx.int_or_default(f, &RETENTION);
        let encryption = match cx.choice_or_default(f, &ENCRYPTION) {
            "none" => QueueEncryption::None,
            _ => QueueEncryption::SqsManaged,
        };
        let dead_letter = cx.mapping(f, &DEAD_LETTER).and_then(|d| {
            let queue = cx.name(&d, &REDRIVE_QUEUE);
            let max_receive_count = cx.int(&d, &MAX_RECEIVE_COUNT);
            Some(Redrive {
                queue: queue?,
                max_receive_count: max_receive_count?,
            })
        });
        Queue {
            visibility_timeout_secs,
            retention_secs,
            encryption,
            dead_letter,
        }
    }

    fn check(cx: &mut Checker<'_, '_>, spec: &Spec) {
        check_redrive(cx, spec);
    }

    fn resources(&self, name: &str, out: &mut Vec<ResourceId>) {
        out.push(ResourceId::new(Kind::Queue, name));
    }
}

/// Dead-letter chains: no self-redrive, no cycles, and a DLQ keeps messages longer than
/// its source (a message's age counts from its first enqueue, so a DLQ with a shorter or
/// equal retention would drop moved messages early).
fn check_redrive(cx: &mut Checker<'_, '_>, spec: &Spec) {
    let mut reported_cycles: BTreeSet<Vec<String>> = BTreeSet::new();
    for (name, queue) in &spec.queues {
        let Some(redrive) = &queue.dead_letter else {
            continue;
        };
        let path = format!("queues.{name}.dead_letter.queue");
        if redrive.queue == *name {
            let span = cx.span_at(&path);
            cx.error(
                span,
                &path,
                "a queue cannot be its own dead-letter queue",
                None,
            );
            continue;
        }
        let Some(dlq) = spec.queues.get(&redrive.queue) else {
            continue;
        };

        if dlq.retention_secs <= queue.retention_secs {
            let dlq_path = format!("queues.{}.retention", redrive.queue);
            let span = cx.span_at(&dlq_path);
            let written = cx.is_written(&dlq_path);
            cx.error(
                span,
                &dlq_path,
                format!(
                    "must be greater than the retention of queue {name} ({} s), which uses it as dead-letter queue, got {}{}",
                    queue.retention_secs,
                    dlq.retention_secs,
                    if written { "" } else { " (the default)" }
                ),
                Some("a message's age counts from when it was first sent, so the dead-letter queue must keep messages longer; e.g. retention: 1209600 (14 days)".into()),
            );
        }

        // Follow the chain from here; a cycle is reported once, at its smallest member.
        let mut chain = vec![name.clone()];
        let mut current = redrive.queue.clone();
        while let Some(next) = spec.queues.get(&current) {
            if let Some(pos) = chain.iter().position(|c| *c == current) {
                let mut cycle = chain[pos..].to_vec();
                let mut key = cycle.clone();
                key.sort();
                if pos == 0 && reported_cycles.insert(key) {
                    cycle.push(current.clone());
                    let span = cx.span_at(&path);
                    cx.error(
                        span,
                        &path,
                        format!("dead-letter queues form a cycle: {}", cycle.join(" → ")),
                        None,
                    );
                }
                break;
            }
            chain.push(current.clone());
            match &next.dead_letter {
                Some(r) if r.queue != current => current = r.queue.clone(),
                _ => break,
            }
        }
    }
}
