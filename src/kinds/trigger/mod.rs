//! `triggers:` — SQS event source mappings: a queue's messages invoke a function in batches.
//! A trigger gives its function `consume` on the queue, and requires the queue's visibility
//! timeout to cover six times the function's timeout.

pub(crate) mod provider;

pub use provider::EventSourceMappingProvider;

use std::collections::BTreeMap;

use super::{Kind, KindSpec, Section, Spec};
use crate::resources::ResourceId;
use crate::spec::decode::{Checker, Fields};
use crate::spec::model::Access;
use crate::spec::schema::Field;

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

/// AWS recommends a source queue's visibility timeout of at least six times the timeout of
/// the function it triggers, so a batch that is retried after throttling is not redelivered
/// while still in flight.
const VISIBILITY_FACTOR: u32 = 6;

const QUEUE: Field =
    Field::name("queue", Section::Queue, "Logical name of the source queue.").required();
const FUNCTION: Field = Field::name(
    "function",
    Section::Function,
    "Logical name of the function invoked.",
)
.required();
const BATCH_SIZE: Field = Field::integer(
    "batch_size",
    1,
    10_000,
    "",
    Some(10),
    "Messages per invocation; above 10 needs a batching_window of at least 1 second.",
);
const BATCHING_WINDOW: Field = Field::integer(
    "batching_window",
    0,
    300,
    " seconds",
    Some(0),
    "How long to gather messages before invoking.",
);
const REPORT_BATCH_ITEM_FAILURES: Field = Field::boolean(
    "report_batch_item_failures",
    true,
    "The function reports failed messages one by one (only those are retried).",
);
const MAXIMUM_CONCURRENCY: Field = Field::integer(
    "maximum_concurrency",
    2,
    1000,
    "",
    None,
    "Most concurrent invocations this trigger makes.",
);
const ENABLED: Field = Field::boolean("enabled", true, "Whether messages are delivered.");

impl KindSpec for Trigger {
    const SECTION: Section = Section::Trigger;
    const SINGULAR: &'static str = "trigger";
    const DOC: &'static str = "Queue → function event source mappings: the function consumes the queue's messages in batches.";
    const RESOURCE: Kind = Kind::EventSourceMapping;
    const FIELDS: &'static [Field] = &[
        QUEUE,
        FUNCTION,
        BATCH_SIZE,
        BATCHING_WINDOW,
        REPORT_BATCH_ITEM_FAILURES,
        MAXIMUM_CONCURRENCY,
        ENABLED,
    ];

    fn decode(cx: &mut Checker<'_, '_>, f: &Fields<'_>, _name: &str) -> Trigger {
        Trigger {
            queue: cx.name(f, &QUEUE).unwrap_or_default(),
            function: cx.name(f, &FUNCTION).unwrap_or_default(),
            batch_size: cx.int_or_default(f, &BATCH_SIZE),
            batching_window_secs: cx.int_or_default(f, &BATCHING_WINDOW),
            report_batch_item_failures: cx.boolean(f, &REPORT_BATCH_ITEM_FAILURES),
            maximum_concurrency: cx.int(f, &MAXIMUM_CONCURRENCY),
            enabled: cx.boolean(f, &ENABLED),
        }
    }

    fn check(cx: &mut Checker<'_, '_>, spec: &Spec) {
        check_triggers(cx, spec);
    }

    /// A trigger gives its function `consume` on its queue.
    fn implied_access(&self, _name: &str) -> Vec<(String, Access)> {
        vec![(
            self.function.clone(),
            Access::new(Section::Queue, &self.queue, "consume"),
        )]
    }

    fn resources(&self, name: &str, out: &mut Vec<ResourceId>) {
        out.push(ResourceId::new(Kind::EventSourceMapping, name));
    }
}

/// One mapping per queue and function, batching rules, and the queue's visibility timeout
/// against the function's timeout.
fn check_triggers(cx: &mut Checker<'_, '_>, spec: &Spec) {
    let mut seen: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    for (name, trigger) in &spec.triggers {
        let base = format!("triggers.{name}");
        let first = *seen
            .entry((&trigger.queue, &trigger.function))
            .or_insert(name.as_str());
        if first != name && !trigger.queue.is_empty() && !trigger.function.is_empty() {
            let span = cx.key_span(&base);
            cx.error(
                span,
                &base,
                format!(
                    "trigger {first} already connects queue {} to function {}",
                    trigger.queue, trigger.function
                ),
                Some("Lambda allows one event source mapping per queue and function".into()),
            );
        }
        if trigger.batch_size > 10 && trigger.batching_window_secs < 1 {
            let p = format!("{base}.batch_size");
            let span = cx.span_at(&p);
            cx.error(
                span,
                &p,
                format!("a batch size above 10 needs batching_window of at least 1 second, got batch_size {} with batching_window {}", trigger.batch_size, trigger.batching_window_secs),
                Some("set batching_window: 1 (or more), or a batch_size of at most 10".into()),
            );
        }
        let (Some(queue), Some(function)) = (
            spec.queues.get(&trigger.queue),
            spec.functions.get(&trigger.function),
        ) else {
            continue;
        };
        let needed = VISIBILITY_FACTOR * function.timeout_secs;
        if queue.visibility_timeout_secs < needed {
            let vis_path = format!("queues.{}.visibility_timeout", trigger.queue);
            let help = Some(format!(
                "set queues.{}.visibility_timeout to {needed} or more, or lower the function's timeout",
                trigger.queue
            ));
            if cx.is_written(&vis_path) {
                let span = cx.span_at(&vis_path);
                cx.error(
                    span,
                    &vis_path,
                    format!(
                        "must be at least {VISIBILITY_FACTOR} × the timeout of function {} ({} s) = {needed} s, got {}",
                        trigger.function, function.timeout_secs, queue.visibility_timeout_secs
                    ),
                    help,
                );
            } else {
                let p = format!("{base}.queue");
                let span = cx.span_at(&p);
                cx.error(
                    span,
                    &p,
                    format!(
                        "queue {} has the default visibility_timeout of {} s; it must be at least {VISIBILITY_FACTOR} × the timeout of function {} ({} s) = {needed} s",
                        trigger.queue, queue.visibility_timeout_secs, trigger.function, function.timeout_secs
                    ),
                    help,
                );
            }
        }
    }
}
