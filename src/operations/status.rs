//! What `orderflow status` reads: every declared resource (present, missing, not owned), the
//! runtime state of functions, mappings, tables and queues, the stack's alarms, the last run
//! recorded under the stack lock, and the orders received in the last hour. Read calls only.
//!
//! "Needs attention" (a non-zero exit, so CI or cron can gate on it) is decided here, in one
//! place: a dead-letter queue holding messages, an alarm in ALARM, a function or mapping in a
//! failed state, a table not ACTIVE, or declared resources missing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::types::StateValue;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use crate::error::Error;
use crate::graph::Graph;
use crate::kinds::alarm::provider::stack_alarms;
use crate::kinds::function::shared::{get_function, mappings_of};
use crate::kinds::queue::provider::{queue_attributes, queue_url};
use crate::kinds::Kind;
use crate::lock::{LastRun, LockTable};
use crate::resources::{Ctx, ResourceId};

/// How far back "orders in the last hour" looks.
pub const ORDERS_WINDOW: Duration = Duration::from_secs(3600);
/// At most this many Scan pages (1 MB each) are read to count recent orders; beyond that the
/// counts are marked partial rather than reading a large table whole.
const ORDER_SCAN_PAGES: usize = 20;

/// One declared resource as found in AWS.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceState {
    pub kind: Kind,
    pub name: String,
    pub physical: String,
    /// `present`, `missing`, `not_owned` (exists without this stack's ownership tag) or
    /// `skipped` (this endpoint has no API for it: a local emulator without EventBridge Schemas).
    pub state: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct FunctionState {
    pub name: String,
    pub physical: String,
    /// Lambda's `State`: Pending, Active, Inactive, Failed.
    pub state: Option<String>,
    /// `LastUpdateStatus`: InProgress, Successful, Failed.
    pub last_update_status: Option<String>,
    /// Why the state or last update is what it is, when Lambda says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MappingState {
    /// The trigger's logical name.
    pub name: String,
    pub queue: String,
    pub function: String,
    /// Enabled, Disabled, Creating, Updating...; None: not found.
    pub state: Option<String>,
    /// Whether the spec declares it enabled.
    pub declared_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_processing_result: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableState {
    pub name: String,
    pub physical: String,
    /// ACTIVE, CREATING, UPDATING...; None: not found.
    pub status: Option<String>,
    /// DynamoDB's estimate (updated about every six hours).
    pub approximate_items: Option<i64>,
}

/// A table's change-events pipe.
#[derive(Debug, Clone, Serialize)]
pub struct PipeState {
    /// The table's logical name.
    pub table: String,
    pub physical: String,
    /// RUNNING, CREATING, STOPPED, START_FAILED...; None: not found.
    pub state: Option<String>,
    /// Why Pipes put it in that state, if it says.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueState {
    pub name: String,
    pub physical: String,
    /// Receives messages others failed on (a queue's redrive target, a function's or rule
    /// target's dead-letter queue).
    pub dead_letter: bool,
    /// None when the queue does not exist.
    pub visible: Option<u64>,
    pub in_flight: Option<u64>,
    pub delayed: Option<u64>,
}

impl QueueState {
    /// Messages held: visible + in flight + delayed.
    pub fn held(&self) -> u64 {
        self.visible.unwrap_or(0) + self.in_flight.unwrap_or(0) + self.delayed.unwrap_or(0)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AlarmState {
    /// The alarm's name in CloudWatch (`<stack>-<alarm>`).
    pub name: String,
    /// OK, ALARM or INSUFFICIENT_DATA.
    pub state: String,
    pub reason: Option<String>,
    /// When the state last changed (RFC 3339).
    pub since: Option<String>,
}

/// Orders received within [`ORDERS_WINDOW`], by current status.
#[derive(Debug, Clone, Serialize)]
pub struct RecentOrders {
    pub table: String,
    /// RFC 3339: orders received at or after this time are counted.
    pub since: String,
    pub by_status: BTreeMap<String, u64>,
    /// False when the table is larger than the bounded scan reads: the counts are a lower bound.
    pub complete: bool,
}

/// Everything `status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct StackStatus {
    pub stack: String,
    pub region: String,
    /// The last `up` or `down` that finished (recorded under the stack lock).
    pub last_run: Option<LastRun>,
    pub resources: Vec<ResourceState>,
    pub functions: Vec<FunctionState>,
    pub mappings: Vec<MappingState>,
    pub tables: Vec<TableState>,
    /// The tables' change-events pipes.
    pub pipes: Vec<PipeState>,
    pub queues: Vec<QueueState>,
    pub alarms: Vec<AlarmState>,
    /// One entry per table of the stack.
    pub orders: Vec<RecentOrders>,
    /// What needs attention, one sentence each with what to do; empty when healthy.
    pub problems: Vec<String>,
}

impl StackStatus {
    pub fn healthy(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Logical names of the queues that receive what others failed on.
pub fn dead_letter_queues(spec: &crate::kinds::Spec) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for q in spec.queues.values() {
        if let Some(r) = &q.dead_letter {
            out.insert(r.queue.clone());
        }
    }
    for f in spec.functions.values() {
        out.extend(f.dead_letter_queue.iter().cloned());
    }
    for r in spec.rules.values() {
        for t in &r.targets {
            out.extend(t.dead_letter_queue.iter().cloned());
        }
    }
    out
}

/// Read the stack's status. Shares reads like a plan does (one listing serves many resources).
pub async fn read(ctx: &Ctx, graph: &Graph) -> Result<StackStatus, Error> {
    let _shared = ctx.aws.reads.planning();
    let unsupported = crate::plan::unsupported_kinds(ctx).await?;
    let unsupported = &unsupported;
    let resources: Vec<ResourceState> = stream::iter(graph.order.iter().cloned())
        .map(|id| async move {
            if unsupported.contains_key(&id.kind) {
                return Ok(ResourceState {
                    kind: id.kind,
                    physical: id.kind.provider().display_name(ctx, &id.name),
                    state: "skipped",
                    name: id.name,
                });
            }
            let live = id.kind.provider().read(ctx, &id.name).await?;
            Ok::<_, Error>(ResourceState {
                kind: id.kind,
                physical: id.kind.provider().display_name(ctx, &id.name),
                state: match &live {
                    None => "missing",
                    Some(l) if !l.owned => "not_owned",
                    Some(_) => "present",
                },
                name: id.name,
            })
        })
        .buffered(ctx.parallelism)
        .try_collect()
        .await?;
    let lock_table = LockTable::new(ctx);
    let (functions, mappings, tables, pipes, queues, alarms, last_run, orders) = tokio::try_join!(
        functions(ctx),
        mappings(ctx),
        tables(ctx),
        pipes(ctx),
        queues(ctx),
        alarms(ctx),
        lock_table.last_run(),
        recent_orders(ctx),
    )?;
    let mut status = StackStatus {
        stack: ctx.spec.stack.clone(),
        region: ctx.region.clone(),
        last_run,
        resources,
        functions,
        mappings,
        tables,
        pipes,
        queues,
        alarms,
        orders,
        problems: Vec::new(),
    };
    status.problems = problems(&status);
    Ok(status)
}

/// What needs attention, most urgent first.
pub fn problems(s: &StackStatus) -> Vec<String> {
    let mut out = Vec::new();
    for q in s.queues.iter().filter(|q| q.dead_letter && q.held() > 0) {
        out.push(format!(
            "dead-letter queue {} holds {} message(s): see them with `orderflow dlq list {}`, \
             and once the cause is fixed move them back with `orderflow dlq redrive {}`",
            q.name,
            q.held(),
            q.name,
            q.name
        ));
    }
    for a in s.alarms.iter().filter(|a| a.state == "ALARM") {
        out.push(format!(
            "alarm {} is in ALARM{}",
            a.name,
            a.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ));
    }
    for f in &s.functions {
        let failed = |v: &Option<String>| v.as_deref() == Some("Failed");
        if failed(&f.state) || failed(&f.last_update_status) {
            out.push(format!(
                "function {} is in a failed state{}: fix the cause and run `orderflow up`",
                f.name,
                f.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ));
        }
    }
    for m in &s.mappings {
        let problem = match m.state.as_deref() {
            None => None, // reported with the missing resources
            Some("Enabled") if m.declared_enabled => None,
            Some("Disabled") if !m.declared_enabled => None,
            Some(state @ ("Creating" | "Enabling" | "Updating" | "Disabling" | "Deleting")) => {
                Some(format!("is {state} (a change is in progress)"))
            }
            Some(state) => Some(format!(
                "is {state} but pipeline.yaml declares it {}",
                if m.declared_enabled {
                    "enabled"
                } else {
                    "disabled"
                }
            )),
        };
        if let Some(p) = problem {
            out.push(format!(
                "trigger {} ({} → {}) {p}",
                m.name, m.queue, m.function
            ));
        }
    }
    for t in &s.tables {
        if let Some(st) = t.status.as_deref().filter(|st| *st != "ACTIVE") {
            out.push(format!("table {} is {st}, not ACTIVE", t.name));
        }
    }
    for p in &s.pipes {
        // Missing: reported with the missing resources.
        if let Some(st) = p.state.as_deref().filter(|st| *st != "RUNNING") {
            out.push(format!(
                "the change events of table {} are not published: pipe {} is {st}{}; fix the cause and run `orderflow up`",
                p.table,
                p.physical,
                p.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ));
        }
    }
    let missing: Vec<&ResourceState> = s
        .resources
        .iter()
        .filter(|r| r.state == "missing")
        .collect();
    if !missing.is_empty() {
        let names: Vec<String> = missing
            .iter()
            .take(5)
            .map(|r| format!("{} {}", r.kind, r.name))
            .collect();
        let more = missing.len().saturating_sub(names.len());
        out.push(format!(
            "{} of {} declared resources do not exist ({}{}): run `orderflow up`",
            missing.len(),
            s.resources.iter().filter(|r| r.state != "skipped").count(),
            names.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    for r in s.resources.iter().filter(|r| r.state == "not_owned") {
        out.push(format!(
            "{} {} exists as {} but does not carry this stack's ownership tag",
            r.kind, r.name, r.physical
        ));
    }
    out
}

async fn functions(ctx: &Ctx) -> Result<Vec<FunctionState>, Error> {
    let names: Vec<String> = ctx.spec.functions.keys().cloned().collect();
    stream::iter(names)
        .map(|name| async move {
            let physical = ctx.physical_name(&name);
            let id = ResourceId::new(Kind::Function, &name);
            let got = get_function(ctx, &id, &physical).await?;
            let config = got.as_ref().as_ref().and_then(|g| g.configuration());
            Ok::<_, Error>(FunctionState {
                state: config
                    .and_then(|c| c.state())
                    .map(|s| s.as_str().to_string()),
                last_update_status: config
                    .and_then(|c| c.last_update_status())
                    .map(|s| s.as_str().to_string()),
                reason: config.and_then(|c| {
                    let failed = |s: Option<&str>| s == Some("Failed");
                    if failed(c.state().map(|s| s.as_str())) {
                        c.state_reason().map(str::to_string)
                    } else if failed(c.last_update_status().map(|s| s.as_str())) {
                        c.last_update_status_reason().map(str::to_string)
                    } else {
                        None
                    }
                }),
                last_modified: config.and_then(|c| c.last_modified()).map(str::to_string),
                name,
                physical,
            })
        })
        .buffered(ctx.parallelism)
        .try_collect()
        .await
}

async fn mappings(ctx: &Ctx) -> Result<Vec<MappingState>, Error> {
    let mut out = Vec::new();
    for (name, t) in &ctx.spec.triggers {
        let function = ctx.physical_name(&t.function);
        let queue = ctx.physical_name(&t.queue);
        let id = ResourceId::new(Kind::EventSourceMapping, name);
        let found = mappings_of(ctx, &id, &function).await?;
        let m = found.iter().find(|m| {
            m.event_source_arn()
                .and_then(crate::kinds::trigger::provider::queue_name_of)
                == Some(queue.as_str())
        });
        out.push(MappingState {
            name: name.clone(),
            queue: t.queue.clone(),
            function: t.function.clone(),
            state: m.and_then(|m| m.state()).map(str::to_string),
            declared_enabled: t.enabled,
            last_processing_result: m
                .and_then(|m| m.last_processing_result())
                .map(str::to_string),
        });
    }
    Ok(out)
}

async fn tables(ctx: &Ctx) -> Result<Vec<TableState>, Error> {
    let mut out = Vec::new();
    for name in ctx.spec.tables.keys() {
        let physical = ctx.physical_name(name);
        let got = ctx
            .aws
            .dynamodb
            .describe_table()
            .table_name(&physical)
            .send()
            .await;
        let table = match got {
            Ok(o) => o.table,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                None
            }
            Err(e) => {
                return Err(Error::aws(
                    ResourceId::new(Kind::Table, name),
                    "DescribeTable",
                    e,
                ))
            }
        };
        out.push(TableState {
            name: name.clone(),
            physical,
            status: table
                .as_ref()
                .and_then(|t| t.table_status())
                .map(|s| s.as_str().to_string()),
            approximate_items: table.as_ref().and_then(|t| t.item_count()),
        });
    }
    Ok(out)
}

async fn pipes(ctx: &Ctx) -> Result<Vec<PipeState>, Error> {
    let mut out = Vec::new();
    for (name, table) in &ctx.spec.tables {
        if table.change_events.is_none() {
            continue;
        }
        let state = crate::kinds::pipe::provider::state(ctx, name).await?;
        out.push(PipeState {
            table: name.clone(),
            physical: crate::kinds::pipe::pipe_name(&ctx.spec.stack, name),
            state: state.as_ref().map(|(s, _)| s.clone()),
            reason: state.and_then(|(_, r)| r),
        });
    }
    Ok(out)
}

async fn queues(ctx: &Ctx) -> Result<Vec<QueueState>, Error> {
    let dead_letter = dead_letter_queues(&ctx.spec);
    let names: Vec<String> = ctx.spec.queues.keys().cloned().collect();
    stream::iter(names)
        .map(|name| {
            let dead_letter = dead_letter.contains(&name);
            async move {
                let physical = ctx.physical_name(&name);
                let res = ResourceId::new(Kind::Queue, &name).to_string();
                let attrs = match queue_url(ctx, &res, &physical).await? {
                    Some(url) => {
                        queue_attributes(ctx, &res, &url, &[QueueAttributeName::All]).await?
                    }
                    None => None,
                };
                let count = |n: QueueAttributeName| {
                    attrs
                        .as_ref()
                        .and_then(|a| a.get(&n))
                        .and_then(|v| v.parse::<u64>().ok())
                };
                Ok::<_, Error>(QueueState {
                    visible: count(QueueAttributeName::ApproximateNumberOfMessages),
                    in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
                    delayed: count(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
                    name,
                    physical,
                    dead_letter,
                })
            }
        })
        .buffered(ctx.parallelism)
        .try_collect()
        .await
}

/// The declared alarms (`alarms:`) and their states, from the listing the alarms' own reads
/// share (one DescribeAlarms); a declared alarm that does not exist is reported with the
/// missing resources.
async fn alarms(ctx: &Ctx) -> Result<Vec<AlarmState>, Error> {
    let declared: BTreeSet<String> = ctx
        .spec
        .alarms
        .keys()
        .map(|a| ctx.physical_name(a))
        .collect();
    let listed = stack_alarms(ctx, &format!("{}.*", Kind::Alarm)).await?;
    let mut out: Vec<AlarmState> = listed
        .iter()
        .filter(|a| a.alarm_name().is_some_and(|n| declared.contains(n)))
        .map(|a| AlarmState {
            name: a.alarm_name().unwrap_or_default().to_string(),
            state: a
                .state_value()
                .map(StateValue::as_str)
                .unwrap_or("INSUFFICIENT_DATA")
                .to_string(),
            reason: a.state_reason().map(str::to_string),
            since: a
                .state_updated_timestamp()
                .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Orders received in the last hour, by status: a Scan of each table (projection: status and
/// received time; filtered on the received time), bounded to [`ORDER_SCAN_PAGES`] pages. The
/// orders table has no index by time, and `status` is an occasional operator's read, so a
/// bounded scan costs less than an index every write would pay for.
async fn recent_orders(ctx: &Ctx) -> Result<Vec<RecentOrders>, Error> {
    let since = order_domain::time::rfc3339_utc(SystemTime::now() - ORDERS_WINDOW);
    let mut out = Vec::new();
    for name in ctx.spec.tables.keys() {
        let physical = ctx.physical_name(name);
        let mut by_status = BTreeMap::new();
        let mut start: Option<std::collections::HashMap<String, AttributeValue>> = None;
        let mut complete = false;
        let mut found = true;
        for _ in 0..ORDER_SCAN_PAGES {
            let got = ctx
                .aws
                .dynamodb
                .scan()
                .table_name(&physical)
                .projection_expression("#s, #r")
                .filter_expression("#r >= :since")
                .expression_attribute_names("#s", order_domain::item::STATUS)
                .expression_attribute_names("#r", order_domain::item::RECEIVED_AT)
                .expression_attribute_values(":since", AttributeValue::S(since.clone()))
                .set_exclusive_start_key(start.take())
                .send()
                .await;
            let page = match got {
                Ok(p) => p,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_resource_not_found_exception()) =>
                {
                    found = false;
                    break;
                }
                Err(e) => return Err(Error::aws(ResourceId::new(Kind::Table, name), "Scan", e)),
            };
            for item in page.items() {
                if let Some(s) = item
                    .get(order_domain::item::STATUS)
                    .and_then(|v| v.as_s().ok())
                {
                    *by_status.entry(s.clone()).or_insert(0) += 1;
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => {
                    complete = true;
                    break;
                }
            }
        }
        if found {
            out.push(RecentOrders {
                table: name.clone(),
                since: since.clone(),
                by_status,
                complete,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> StackStatus {
        StackStatus {
            stack: "shop".into(),
            region: "us-east-1".into(),
            last_run: None,
            resources: vec![ResourceState {
                kind: Kind::Queue,
                name: "orders".into(),
                physical: "shop-orders".into(),
                state: "present",
            }],
            functions: Vec::new(),
            mappings: Vec::new(),
            tables: Vec::new(),
            pipes: Vec::new(),
            queues: vec![
                QueueState {
                    name: "orders".into(),
                    physical: "shop-orders".into(),
                    dead_letter: false,
                    visible: Some(40),
                    in_flight: Some(3),
                    delayed: Some(0),
                },
                QueueState {
                    name: "orders-dlq".into(),
                    physical: "shop-orders-dlq".into(),
                    dead_letter: true,
                    visible: Some(0),
                    in_flight: Some(0),
                    delayed: Some(0),
                },
            ],
            alarms: Vec::new(),
            orders: Vec::new(),
            problems: Vec::new(),
        }
    }

    #[test]
    fn a_pipe_that_is_not_running_needs_attention_with_its_reason() {
        let mut s = status();
        s.pipes = vec![PipeState {
            table: "orders".into(),
            physical: "shop-orders-changes".into(),
            state: Some("RUNNING".into()),
            reason: None,
        }];
        assert!(problems(&s).is_empty(), "{:?}", problems(&s));
        s.pipes[0].state = Some("START_FAILED".into());
        s.pipes[0].reason = Some("the role cannot read the stream".into());
        assert_eq!(
            problems(&s),
            ["the change events of table orders are not published: pipe shop-orders-changes is START_FAILED (the role cannot read the stream); fix the cause and run `orderflow up`"]
        );
    }

    #[test]
    fn a_busy_source_queue_is_healthy_and_a_non_empty_dlq_is_not() {
        let mut s = status();
        assert!(problems(&s).is_empty());
        // A message in flight in a DLQ (someone peeking at it) still counts as held.
        s.queues[1].in_flight = Some(1);
        let p = problems(&s);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("dead-letter queue orders-dlq holds 1 message(s)"));
        assert!(p[0].contains("orderflow dlq redrive orders-dlq"));
    }

    #[test]
    fn alarms_failed_functions_and_missing_resources_need_attention() {
        let mut s = status();
        s.alarms.push(AlarmState {
            name: "shop-orders-dlq-not-empty".into(),
            state: "ALARM".into(),
            reason: Some("Threshold Crossed".into()),
            since: None,
        });
        s.alarms.push(AlarmState {
            name: "shop-ok".into(),
            state: "OK".into(),
            reason: None,
            since: None,
        });
        s.functions.push(FunctionState {
            name: "validate-order".into(),
            physical: "shop-validate-order".into(),
            state: Some("Active".into()),
            last_update_status: Some("Failed".into()),
            reason: Some("EniLimitExceeded".into()),
            last_modified: None,
        });
        s.mappings.push(MappingState {
            name: "process-orders".into(),
            queue: "orders".into(),
            function: "process-order".into(),
            state: Some("Disabled".into()),
            declared_enabled: true,
            last_processing_result: None,
        });
        s.resources[0].state = "missing";
        let p = problems(&s);
        assert_eq!(p.len(), 4, "{p:?}");
        assert_eq!(
            p[0],
            "alarm shop-orders-dlq-not-empty is in ALARM: Threshold Crossed"
        );
        assert!(p[1].contains("validate-order is in a failed state (EniLimitExceeded)"));
        assert!(p[2].contains("is Disabled but pipeline.yaml declares it enabled"));
        assert!(p[3].starts_with("1 of 1 declared resources do not exist (queue orders)"));
    }

    #[test]
    fn every_kind_of_dead_letter_queue_is_found() {
        let spec = crate::spec::parse("pipeline.yaml", include_str!("../../pipeline.yaml"))
            .expect("the default pipeline is valid");
        let dlqs: Vec<String> = dead_letter_queues(&spec).into_iter().collect();
        assert_eq!(
            dlqs,
            ["import-dlq", "notify-dlq", "orders-dlq", "validate-dlq"]
        );
    }
}
