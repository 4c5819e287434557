//! CRUD of a table's change-events pipe (EventBridge Pipes API).

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_pipes::operation::describe_pipe::DescribePipeOutput;
use aws_sdk_pipes::types::{
    DynamoDbStreamStartPosition, Filter, FilterCriteria, PipeSourceDynamoDbStreamParameters,
    PipeSourceParameters, PipeState, PipeTargetEventBridgeEventBusParameters, PipeTargetParameters,
    RequestedPipeState, UpdatePipeSourceDynamoDbStreamParameters, UpdatePipeSourceParameters,
};
use serde_json::{json, Value};

use super::{pipe_name, table_of};
use crate::error::Error;
use crate::kinds::service_role::pipe_role;
use crate::kinds::table::ChangeEvents;
use crate::resources::tags::{desired_tags, live_managed_tags, tag_changes};
use crate::resources::{
    output, output_value, text_value, Change, Ctx, Discovered, Kind, Known, Live, Outputs, Props,
    Provider, ResourceId,
};
use crate::retry::{poll_until, retry, Backoff};
use crate::spec::Spec;

pub struct PipeProvider;

/// One stream record per event, in stream order.
const BATCH_SIZE: i32 = 1;
/// Pipes moves through CREATING/UPDATING/STARTING for a while (a minute is common).
const SETTLE: Backoff = Backoff::new(1_000, 8_000, 300);
/// CreatePipe/UpdatePipe check that Pipes can assume the role, which IAM may not show yet.
const ROLE_PROPAGATION: Backoff = Backoff::new(1_000, 8_000, 90);
const NOT_FOUND: &[&str] = &["NotFoundException"];

fn rid(table: &str) -> ResourceId {
    ResourceId::new(Kind::Pipe, table)
}

fn change_events<'s>(spec: &'s Spec, table: &str) -> Result<&'s ChangeEvents, Error> {
    spec.tables
        .get(table)
        .and_then(|t| t.change_events.as_ref())
        .ok_or_else(|| {
            Error::Other(format!(
                "{}: the table declares no change_events",
                rid(table)
            ))
        })
}

/// The parameters orderflow sets, normalised as `read` reports them.
fn parameters_value(events: &ChangeEvents) -> Value {
    json!({
        "starting_position": "TRIM_HORIZON",
        "batch_size": BATCH_SIZE,
        "filters": events.filter.iter().map(Value::to_string).collect::<Vec<_>>(),
        "source": events.source,
        "detail_type": events.detail_type,
    })
}

fn live_parameters(out: &DescribePipeOutput) -> Option<Value> {
    let source = out.source_parameters()?;
    let stream = source.dynamo_db_stream_parameters();
    let filters: Vec<&str> = source
        .filter_criteria()
        .map(|f| f.filters().iter().filter_map(|f| f.pattern()).collect())
        .unwrap_or_default();
    let bus = out
        .target_parameters()
        .and_then(|t| t.event_bridge_event_bus_parameters());
    Some(json!({
        "starting_position": stream.map(|s| s.starting_position().as_str()),
        "batch_size": stream.and_then(|s| s.batch_size()),
        // Patterns come back as written; re-serialised so key order and spacing do not count.
        "filters": filters
            .iter()
            .map(|p| serde_json::from_str::<Value>(p).map(|v| v.to_string()).unwrap_or_else(|_| p.to_string()))
            .collect::<Vec<_>>(),
        "source": bus.and_then(|b| b.source()),
        "detail_type": bus.and_then(|b| b.detail_type()),
    }))
}

fn filter_criteria(events: &ChangeEvents) -> FilterCriteria {
    FilterCriteria::builder()
        .set_filters(Some(
            events
                .filter
                .iter()
                .map(|p| Filter::builder().pattern(p.to_string()).build())
                .collect(),
        ))
        .build()
}

fn target_parameters(events: &ChangeEvents) -> PipeTargetParameters {
    PipeTargetParameters::builder()
        .event_bridge_event_bus_parameters(
            PipeTargetEventBridgeEventBusParameters::builder()
                .source(&events.source)
                .detail_type(&events.detail_type)
                .build(),
        )
        .build()
}

fn description(ctx: &Ctx, table: &str) -> String {
    format!(
        "Changes of table {} published on the bus (orderflow stack {})",
        ctx.physical_name(table),
        ctx.spec.stack
    )
}

/// What the pipe needs from its dependencies: stream, bus and role ARNs.
struct Ends {
    stream: String,
    bus: String,
    role: String,
}

fn ends(spec: &Spec, table: &str, known: &Known) -> Option<Ends> {
    let events = spec.tables.get(table)?.change_events.as_ref()?;
    Some(Ends {
        stream: output_value(known, &ResourceId::new(Kind::Table, table), "stream_arn")?,
        bus: output_value(known, &ResourceId::new(Kind::Bus, &events.bus), "arn")?,
        role: output_value(known, &pipe_role(table), "arn")?,
    })
}

fn outputs(name: &str, arn: &str) -> Outputs {
    BTreeMap::from([
        ("name".to_string(), name.to_string()),
        ("arn".to_string(), arn.to_string()),
    ])
}

/// Pipes validates the role when a pipe is created or updated; a role created a moment ago
/// may not be assumable yet.
fn is_role_not_ready(e: &Error) -> bool {
    e.code() == Some("ValidationException")
        && e.aws_message()
            .is_some_and(|m| m.to_ascii_lowercase().contains("role"))
}

/// DescribePipe; `None` when the pipe does not exist. Shared while planning by the pipe's read
/// and discovery.
async fn describe(
    ctx: &Ctx,
    id: &ResourceId,
    name: &str,
) -> Result<Option<DescribePipeOutput>, Error> {
    ctx.aws
        .reads
        .cloned("Pipes.DescribePipe", name, || describe_now(ctx, id, name))
        .await
}

async fn describe_now(
    ctx: &Ctx,
    id: &ResourceId,
    name: &str,
) -> Result<Option<DescribePipeOutput>, Error> {
    let out = ctx
        .aws
        .pipes
        .describe_pipe()
        .name(name)
        .send()
        .await
        .map_err(|e| Error::aws(id, "DescribePipe", e));
    crate::resources::absent_as_none(out, NOT_FOUND)
}

/// Wait until the pipe is RUNNING; a failed state is an error with Pipes' reason.
async fn wait_running(ctx: &Ctx, id: &ResourceId, name: &str) -> Result<DescribePipeOutput, Error> {
    poll_until(
        format!("{id}: waiting for state RUNNING"),
        SETTLE,
        || async {
            let Some(out) = describe(ctx, id, name).await? else {
                return Err(Error::Other(format!(
                    "{id}: the pipe {name} disappeared while starting"
                )));
            };
            match out.current_state() {
                Some(PipeState::Running) => Ok(Some(out)),
                Some(
                    s @ (PipeState::CreateFailed
                    | PipeState::UpdateFailed
                    | PipeState::StartFailed
                    | PipeState::CreateRollbackFailed
                    | PipeState::UpdateRollbackFailed
                    | PipeState::Stopped),
                ) => Err(Error::Other(format!(
                    "{id}: the pipe {name} is {}: {}",
                    s.as_str(),
                    out.state_reason().unwrap_or("Pipes gave no reason")
                ))),
                _ => Ok(None),
            }
        },
    )
    .await
}

async fn create_pipe(ctx: &Ctx, table: &str, known: &Known) -> Result<Outputs, Error> {
    let id = rid(table);
    let name = pipe_name(&ctx.spec.stack, table);
    let events = change_events(&ctx.spec, table)?;
    let ends = ends(&ctx.spec, table, known).ok_or_else(|| {
        Error::Other(format!(
            "{id}: the stream, bus or role ARN is still unknown at create time"
        ))
    })?;
    let stream = PipeSourceDynamoDbStreamParameters::builder()
        .starting_position(DynamoDbStreamStartPosition::TrimHorizon)
        .batch_size(BATCH_SIZE)
        .build()
        .map_err(|e| Error::Other(format!("{id}: building the source parameters: {e}")))?;
    let source = PipeSourceParameters::builder()
        .dynamo_db_stream_parameters(stream)
        .set_filter_criteria(events.filter.as_ref().map(|_| filter_criteria(events)))
        .build();
    let tags: HashMap<String, String> = ctx.tags().into_iter().collect();
    retry(ROLE_PROPAGATION, is_role_not_ready, || async {
        ctx.aws
            .pipes
            .create_pipe()
            .name(&name)
            .description(description(ctx, table))
            .desired_state(RequestedPipeState::Running)
            .source(&ends.stream)
            .source_parameters(source.clone())
            .target(&ends.bus)
            .target_parameters(target_parameters(events))
            .role_arn(&ends.role)
            .set_tags(Some(tags.clone()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| Error::aws(&id, "CreatePipe", e))
    })
    .await?;
    let out = wait_running(ctx, &id, &name).await?;
    Ok(outputs(&name, out.arn().unwrap_or_default()))
}

async fn delete_pipe(ctx: &Ctx, id: &ResourceId, name: &str) -> Result<(), Error> {
    match ctx.aws.pipes.delete_pipe().name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = Error::aws(id, "DeletePipe", e);
            if e.code().is_some_and(|c| NOT_FOUND.contains(&c)) {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

/// Deleting is asynchronous (DELETING): a new pipe of the same name waits until it is gone.
async fn wait_gone(ctx: &Ctx, id: &ResourceId, name: &str) -> Result<(), Error> {
    poll_until(
        format!("{id}: waiting for the old pipe to go"),
        SETTLE,
        || async { Ok(describe(ctx, id, name).await?.is_none().then_some(())) },
    )
    .await
}

/// The pipe's current state and Pipes' reason for it; `None` when it does not exist.
pub async fn state(ctx: &Ctx, table: &str) -> Result<Option<(String, Option<String>)>, Error> {
    let name = pipe_name(&ctx.spec.stack, table);
    Ok(describe(ctx, &rid(table), &name).await?.map(|out| {
        (
            out.current_state()
                .map_or_else(String::new, |s| s.as_str().to_string()),
            out.state_reason()
                .filter(|r| !r.is_empty())
                .map(str::to_string),
        )
    }))
}

#[async_trait]
impl Provider for PipeProvider {
    fn kind(&self) -> Kind {
        Kind::Pipe
    }

    fn dependencies(&self, spec: &Spec, table: &str) -> Vec<ResourceId> {
        let mut deps = vec![ResourceId::new(Kind::Table, table), pipe_role(table)];
        if let Ok(events) = change_events(spec, table) {
            deps.push(ResourceId::new(Kind::Bus, &events.bus));
        }
        deps
    }

    fn desired(&self, ctx: &Ctx, table: &str, known: &Known) -> Props {
        let Ok(events) = change_events(&ctx.spec, table) else {
            return Props::new();
        };
        Props::from([
            (
                "source".into(),
                output(known, &ResourceId::new(Kind::Table, table), "stream_arn"),
            ),
            (
                "target".into(),
                output(known, &ResourceId::new(Kind::Bus, &events.bus), "arn"),
            ),
            ("role_arn".into(), output(known, &pipe_role(table), "arn")),
            ("parameters".into(), parameters_value(events).into()),
            (
                "description".into(),
                Value::String(description(ctx, table)).into(),
            ),
            ("state".into(), Value::String("RUNNING".into()).into()),
            ("tags".into(), desired_tags(ctx).into()),
        ])
    }

    async fn read(&self, ctx: &Ctx, table: &str) -> Result<Option<Live>, Error> {
        let id = rid(table);
        let name = pipe_name(&ctx.spec.stack, table);
        let Some(out) = describe(ctx, &id, &name).await? else {
            return Ok(None);
        };
        // A pipe being deleted is as good as gone: `create` waits for it to go.
        if out.current_state() == Some(&PipeState::Deleting) {
            return Ok(None);
        }
        let tags: BTreeMap<String, String> = out
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        // AWS always reports a stream source's parameters (its starting position is required).
        // An endpoint that reports none (MiniStack 1.5 keeps only source, target and role)
        // cannot show drift in them: they are taken as declared.
        let parameters = match live_parameters(&out) {
            Some(p) => p,
            None => {
                tracing::info!("{id}: the endpoint does not report the pipe's parameters; taking them as declared");
                change_events(&ctx.spec, table)
                    .map(parameters_value)
                    .unwrap_or(Value::Null)
            }
        };
        let state = match out.current_state() {
            // A pipe on its way to running counts as running; `create` and `update` wait.
            Some(PipeState::Creating | PipeState::Updating | PipeState::Starting) => "RUNNING",
            Some(s) => s.as_str(),
            None => "",
        };
        let props = BTreeMap::from([
            ("source".into(), text_value(out.source())),
            ("target".into(), text_value(out.target())),
            ("role_arn".into(), text_value(out.role_arn())),
            ("parameters".into(), parameters),
            ("description".into(), text_value(out.description())),
            ("state".into(), Value::String(state.to_string())),
            ("tags".into(), live_managed_tags(ctx, &tags)),
        ]);
        Ok(Some(Live {
            props,
            outputs: outputs(&name, out.arn().unwrap_or_default()),
            owned: ctx.is_owned(&tags),
        }))
    }

    async fn create(&self, ctx: &Ctx, table: &str, known: &Known) -> Result<Outputs, Error> {
        create_pipe(ctx, table, known).await
    }

    async fn update(
        &self,
        ctx: &Ctx,
        table: &str,
        known: &Known,
        live: &Live,
        changes: &[Change],
    ) -> Result<Outputs, Error> {
        let id = rid(table);
        let name = pipe_name(&ctx.spec.stack, table);
        // Pipes cannot change a pipe's source (a re-enabled stream has a new ARN): replace it.
        // The new pipe starts at the new stream's oldest record, so no change is skipped. A pipe
        // that failed to be created or updated is replaced too: Pipes may refuse to update it.
        let failed = live
            .props
            .get("state")
            .and_then(Value::as_str)
            .is_some_and(|s| s.ends_with("_FAILED"));
        if failed || changes.iter().any(|c| c.attribute == "source") {
            delete_pipe(ctx, &id, &name).await?;
            wait_gone(ctx, &id, &name).await?;
            return create_pipe(ctx, table, known).await;
        }
        let events = change_events(&ctx.spec, table)?;
        let mut settle = false;
        if changes.iter().any(|c| c.attribute != "tags") {
            let ends = ends(&ctx.spec, table, known).ok_or_else(|| {
                Error::Other(format!(
                    "{id}: the bus or role ARN is still unknown at update time"
                ))
            })?;
            let stream = UpdatePipeSourceDynamoDbStreamParameters::builder()
                .batch_size(BATCH_SIZE)
                .build();
            // An empty filter list removes the filter.
            let source = UpdatePipeSourceParameters::builder()
                .dynamo_db_stream_parameters(stream)
                .filter_criteria(filter_criteria(events))
                .build();
            retry(ROLE_PROPAGATION, is_role_not_ready, || async {
                ctx.aws
                    .pipes
                    .update_pipe()
                    .name(&name)
                    .description(description(ctx, table))
                    .desired_state(RequestedPipeState::Running)
                    .source_parameters(source.clone())
                    .target(&ends.bus)
                    .target_parameters(target_parameters(events))
                    .role_arn(&ends.role)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| Error::aws(&id, "UpdatePipe", e))
            })
            .await?;
            settle = true;
        }
        let arn = live.output(&id.to_string(), "arn", "ARN")?;
        if changes.iter().any(|c| c.attribute == "tags") {
            let (set, remove) = tag_changes(live.props.get("tags"), &ctx.tags());
            if !set.is_empty() {
                ctx.aws
                    .pipes
                    .tag_resource()
                    .resource_arn(arn.as_str())
                    .set_tags(Some(set.into_iter().collect()))
                    .send()
                    .await
                    .map_err(|e| Error::aws(&id, "TagResource", e))?;
            }
            if !remove.is_empty() {
                ctx.aws
                    .pipes
                    .untag_resource()
                    .resource_arn(arn.as_str())
                    .set_tag_keys(Some(remove))
                    .send()
                    .await
                    .map_err(|e| Error::aws(&id, "UntagResource", e))?;
            }
        }
        if settle {
            wait_running(ctx, &id, &name).await?;
        }
        Ok(outputs(&name, arn))
    }

    async fn discover(&self, ctx: &Ctx) -> Result<Vec<Discovered>, Error> {
        let mut found = Vec::new();
        let mut pages = ctx
            .aws
            .pipes
            .list_pipes()
            .name_prefix(format!("{}-", ctx.spec.stack))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| Error::aws("pipes", "ListPipes", e))?;
            for pipe in page.pipes() {
                let Some(name) = pipe.name() else { continue };
                let Some(table) = table_of(&ctx.spec.stack, name) else {
                    continue;
                };
                // ListPipes does not report tags; DescribePipe does.
                let id = rid(table);
                let Some(out) = describe(ctx, &id, name).await? else {
                    continue;
                };
                let owned = out.tags().is_some_and(|t| ctx.is_owned(t.iter()));
                if owned {
                    found.push(Discovered {
                        id,
                        physical: name.to_string(),
                        handle: name.to_string(),
                    });
                }
            }
        }
        Ok(found)
    }

    async fn still_visible(&self, ctx: &Ctx, target: &Discovered) -> Result<bool, Error> {
        Ok(describe_now(ctx, &target.id, &target.handle)
            .await?
            .is_some())
    }

    async fn delete(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
        delete_pipe(ctx, &target.id, &target.handle).await
    }

    fn display_name(&self, ctx: &Ctx, table: &str) -> String {
        pipe_name(&ctx.spec.stack, table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(filter: Option<Value>) -> ChangeEvents {
        ChangeEvents {
            bus: "orders".into(),
            source: "orderflow.orders.changes".into(),
            detail_type: "Order changed".into(),
            filter,
        }
    }

    #[test]
    fn described_parameters_compare_equal_to_the_declared_ones() {
        let e = events(Some(
            json!({ "eventName": ["INSERT"], "dynamodb": { "Keys": {} } }),
        ));
        let out = DescribePipeOutput::builder()
            .source_parameters(
                PipeSourceParameters::builder()
                    .dynamo_db_stream_parameters(
                        PipeSourceDynamoDbStreamParameters::builder()
                            .starting_position(DynamoDbStreamStartPosition::TrimHorizon)
                            .batch_size(1)
                            .build()
                            .unwrap(),
                    )
                    // As written by someone else: other key order and spacing.
                    .filter_criteria(
                        FilterCriteria::builder()
                            .filters(
                                Filter::builder()
                                    .pattern(
                                        r#"{"dynamodb": {"Keys": {}}, "eventName": ["INSERT"]}"#,
                                    )
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .target_parameters(target_parameters(&e))
            .build();
        assert_eq!(live_parameters(&out), Some(parameters_value(&e)));
        // A changed filter is a change.
        assert_ne!(live_parameters(&out), Some(parameters_value(&events(None))));
        // No parameters reported: not comparable.
        assert_eq!(
            live_parameters(&DescribePipeOutput::builder().build()),
            None
        );
    }
}
