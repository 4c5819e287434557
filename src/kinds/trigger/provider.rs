//! SQS → Lambda event source mapping of one trigger. A mapping has no name: it is identified by
//! its (function, queue) pair, which SQS mappings keep unique.
//!
//! Mappings change state asynchronously (Creating, Enabling, Updating, Disabling, Deleting);
//! create, update and delete return once the mapping has reached a steady state.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_lambda::types::{EventSourceMappingConfiguration, FunctionResponseType, ScalingConfig};
use serde_json::{json, Value};

use crate::error::Error;
use crate::kinds::function::provider::{is_not_found, owned_functions};
use crate::kinds::function::shared::{is_owned_function, mappings_of};
use crate::resources::{
    output, Change, Ctx, Discovered, Kind, Known, Live, Outputs, Prop, Props, Provider, ResourceId,
};
use crate::retry::{poll_until, retry, Backoff};
use crate::spec::model::Trigger;
use crate::spec::Spec;

pub struct EventSourceMappingProvider;

/// Lambda checks the function role can read the queue when the mapping is created; right after
/// the role policy was written that check fails until IAM has propagated (seconds, rarely a
/// minute).
const ROLE_PROPAGATION: Backoff = Backoff::new(1_000, 8_000, 90);
/// A mapping that is still transitioning rejects updates and deletes with ResourceInUseException.
const IN_USE: Backoff = Backoff::new(1_000, 8_000, 120);
/// Creating/Enabling/Updating/Deleting usually take seconds; AWS gives no bound, so allow a few
/// minutes before reporting a stuck mapping.
const SETTLE: Backoff = Backoff::new(500, 5_000, 300);
/// How long a mapping may still report the steady state it is leaving (reads are eventually
/// consistent) before that state counts as final.
const OPPOSITE_STATE_GRACE: Duration = Duration::from_secs(30);

fn rid(name: &str) -> ResourceId {
    ResourceId::new(Kind::EventSourceMapping, name)
}

fn is_in_use(e: &Error) -> bool {
    e.code() == Some("ResourceInUseException")
}

fn is_role_not_ready(e: &Error) -> bool {
    e.code() == Some("InvalidParameterValueException")
        && e.aws_message()
            .unwrap_or_default()
            .contains("execution role does not have permissions")
}

/// Last segment of an SQS queue ARN: its name.
pub fn queue_name_of(arn: &str) -> Option<&str> {
    arn.rsplit(':').next().filter(|n| !n.is_empty())
}

/// `enabled` as the mapping's state reports it; None while the direction is not known.
pub fn state_enabled(state: &str) -> Option<bool> {
    match state {
        "Enabled" | "Enabling" | "Creating" => Some(true),
        "Disabled" | "Disabling" => Some(false),
        _ => None,
    }
}

fn response_types(report_batch_item_failures: bool) -> Vec<FunctionResponseType> {
    if report_batch_item_failures {
        vec![FunctionResponseType::ReportBatchItemFailures]
    } else {
        Vec::new()
    }
}

/// Props of a mapping as Lambda reports it, in the shape of `desired`.
pub fn mapping_props(m: &EventSourceMappingConfiguration) -> BTreeMap<String, Value> {
    let mut types: Vec<&str> = m
        .function_response_types()
        .iter()
        .map(|t| t.as_str())
        .collect();
    types.sort_unstable();
    BTreeMap::from([
        ("batch_size".to_string(), json!(m.batch_size())),
        (
            "maximum_batching_window".to_string(),
            // Absent means the default of 0 for SQS.
            json!(m.maximum_batching_window_in_seconds().unwrap_or(0)),
        ),
        ("function_response_types".to_string(), json!(types)),
        (
            "maximum_concurrency".to_string(),
            json!(m.scaling_config().and_then(|s| s.maximum_concurrency())),
        ),
        (
            "enabled".to_string(),
            json!(m.state().and_then(state_enabled)),
        ),
    ])
}

fn outputs(name: &str, uuid: &str) -> Outputs {
    BTreeMap::from([
        ("uuid".to_string(), uuid.to_string()),
        ("name".to_string(), name.to_string()),
    ])
}

impl EventSourceMappingProvider {
    fn trigger<'a>(ctx: &'a Ctx, name: &str) -> Result<&'a Trigger, Error> {
        ctx.spec
            .triggers
            .get(name)
            .ok_or_else(|| Error::Other(format!("{}: not declared in the spec", rid(name))))
    }

    /// Poll until the mapping is in the steady state `want_enabled` asks for.
    async fn wait_steady(
        ctx: &Ctx,
        id: &ResourceId,
        uuid: &str,
        want_enabled: bool,
    ) -> Result<(), Error> {
        let target = if want_enabled { "Enabled" } else { "Disabled" };
        let started = Instant::now();
        poll_until(
            format!("{id}: waiting for state {target}"),
            SETTLE,
            || async {
                let m = ctx
                    .aws
                    .lambda
                    .get_event_source_mapping()
                    .uuid(uuid)
                    .send()
                    .await
                    .map_err(|e| Error::aws(id, "GetEventSourceMapping", e))?;
                match m.state() {
                    Some(s) if s == target => Ok(Some(())),
                    // Right after an update a read may still show the previous steady state;
                    // one that persists past the grace period will not move on its own.
                    Some(s @ ("Enabled" | "Disabled"))
                        if started.elapsed() > OPPOSITE_STATE_GRACE =>
                    {
                        Err(Error::Other(format!(
                            "{id}: mapping stays in state {s} instead of {target}: {}",
                            m.state_transition_reason().unwrap_or("no reason given")
                        )))
                    }
                    _ => Ok(None),
                }
            },
        )
        .await
    }
}

#[async_trait]
impl Provider for EventSourceMappingProvider {
    fn display_name(&self, ctx: &Ctx, name: &str) -> String {
        match ctx.spec.triggers.get(name) {
            Some(t) => format!(
                "{} -> {}",
                ctx.physical_name(&t.queue),
                ctx.physical_name(&t.function)
            ),
            None => name.to_string(),
        }
    }

    fn kind(&self) -> Kind {
        Kind::EventSourceMapping
    }

    fn dependencies(&self, spec: &Spec, name: &str) -> Vec<ResourceId> {
        match spec.triggers.get(name) {
            // The role must allow consuming the queue before Lambda accepts the mapping.
            Some(t) => vec![
                ResourceId::new(Kind::Function, t.function.clone()),
                ResourceId::new(Kind::Queue, t.queue.clone()),
                ResourceId::new(Kind::Role, t.function.clone()),
            ],
            None => Vec::new(),
        }
    }

    fn desired(&self, ctx: &Ctx, name: &str, _known: &Known) -> Props {
        let Some(t) = ctx.spec.triggers.get(name) else {
            return Props::new();
        };
        let types: Vec<String> = response_types(t.report_batch_item_failures)
            .iter()
            .map(|r| r.as_str().to_string())
            .collect();
        Props::from([
            ("batch_size".to_string(), Prop::from(t.batch_size)),
            (
                "maximum_batching_window".to_string(),
                Prop::from(t.batching_window_secs),
            ),
            (
                "function_response_types".to_string(),
                Prop::Known(json!(types)),
            ),
            (
                "maximum_concurrency".to_string(),
                Prop::Known(t.maximum_concurrency.map_or(Value::Null, Value::from)),
            ),
            ("enabled".to_string(), Prop::from(t.enabled)),
        ])
    }

    async fn read(&self, ctx: &Ctx, name: &str) -> Result<Option<Live>, Error> {
        let id = rid(name);
        let t = Self::trigger(ctx, name)?;
        let function_physical = ctx.physical_name(&t.function);
        let queue_physical = ctx.physical_name(&t.queue);
        let mappings = mappings_of(ctx, &id, &function_physical).await?;
        let Some(m) = mappings.iter().find(|m| {
            m.event_source_arn().and_then(queue_name_of) == Some(queue_physical.as_str())
        }) else {
            return Ok(None);
        };
        let uuid = m
            .uuid()
            .ok_or_else(|| Error::Other(format!("{id}: mapping without a UUID")))?;

        // Mappings are this stack's when the function is (tags on mappings are optional).
        let owned = is_owned_function(ctx, &id, &function_physical).await?;
        Ok(Some(Live {
            props: mapping_props(m),
            outputs: outputs(name, uuid),
            owned,
        }))
    }

    async fn create(&self, ctx: &Ctx, name: &str, known: &Known) -> Result<Outputs, Error> {
        let id = rid(name);
        let t = Self::trigger(ctx, name)?;
        let queue_arn = match output(known, &ResourceId::new(Kind::Queue, t.queue.clone()), "arn") {
            Prop::Known(Value::String(arn)) => arn,
            _ => {
                return Err(Error::Other(format!(
                    "{id}: the ARN of queue `{}` is not known yet",
                    t.queue
                )))
            }
        };
        let function_physical = ctx.physical_name(&t.function);
        let created = retry(ROLE_PROPAGATION, is_role_not_ready, || async {
            ctx.aws
                .lambda
                .create_event_source_mapping()
                .function_name(&function_physical)
                .event_source_arn(&queue_arn)
                .batch_size(t.batch_size as i32)
                .maximum_batching_window_in_seconds(t.batching_window_secs as i32)
                .set_function_response_types(Some(response_types(t.report_batch_item_failures)))
                .set_scaling_config(t.maximum_concurrency.map(|n| {
                    ScalingConfig::builder()
                        .maximum_concurrency(n as i32)
                        .build()
                }))
                .enabled(t.enabled)
                .set_tags(Some(ctx.tags().into_iter().collect()))
                .send()
                .await
                .map_err(|e| Error::aws(&id, "CreateEventSourceMapping", e))
        })
        .await?;
        let uuid = created
            .uuid()
            .ok_or_else(|| {
                Error::Other(format!("{id}: CreateEventSourceMapping returned no UUID"))
            })?
            .to_string();
        Self::wait_steady(ctx, &id, &uuid, t.enabled).await?;
        Ok(outputs(name, &uuid))
    }

    async fn update(
        &self,
        ctx: &Ctx,
        name: &str,
        _known: &Known,
        live: &Live,
        changes: &[Change],
    ) -> Result<Outputs, Error> {
        let id = rid(name);
        let t = Self::trigger(ctx, name)?;
        let uuid = live
            .outputs
            .get("uuid")
            .cloned()
            .ok_or_else(|| Error::Other(format!("{id}: live mapping has no UUID")))?;
        let changed: BTreeSet<&str> = changes.iter().map(|c| c.attribute.as_str()).collect();

        let mut req = ctx.aws.lambda.update_event_source_mapping().uuid(&uuid);
        if changed.contains("batch_size") {
            req = req.batch_size(t.batch_size as i32);
        }
        // AWS validates batch size against the batching window, so send both when either moves.
        if changed.contains("maximum_batching_window") || changed.contains("batch_size") {
            req = req
                .batch_size(t.batch_size as i32)
                .maximum_batching_window_in_seconds(t.batching_window_secs as i32);
        }
        if changed.contains("function_response_types") {
            req =
                req.set_function_response_types(Some(response_types(t.report_batch_item_failures)));
        }
        if changed.contains("maximum_concurrency") {
            // An empty ScalingConfig removes the concurrency limit.
            let scaling = match t.maximum_concurrency {
                Some(n) => ScalingConfig::builder()
                    .maximum_concurrency(n as i32)
                    .build(),
                None => ScalingConfig::builder().build(),
            };
            req = req.scaling_config(scaling);
        }
        if changed.contains("enabled") {
            req = req.enabled(t.enabled);
        }
        retry(IN_USE, is_in_use, || async {
            req.clone()
                .send()
                .await
                .map_err(|e| Error::aws(&id, "UpdateEventSourceMapping", e))
        })
        .await?;
        Self::wait_steady(ctx, &id, &uuid, t.enabled).await?;
        Ok(outputs(name, &uuid))
    }

    async fn discover(&self, ctx: &Ctx) -> Result<Vec<Discovered>, Error> {
        let queue_prefix = format!("{}-", ctx.spec.stack);
        let mut found = Vec::new();
        for f in owned_functions(ctx).await? {
            let fid = ResourceId::new(Kind::Function, f.logical.clone());
            for m in mappings_of(ctx, &fid, &f.physical).await? {
                let (Some(uuid), Some(queue_physical)) =
                    (m.uuid(), m.event_source_arn().and_then(queue_name_of))
                else {
                    continue;
                };
                if !queue_physical.starts_with(&queue_prefix) {
                    continue;
                }
                let Some(queue_logical) = ctx.logical_name(queue_physical) else {
                    continue;
                };
                let declared = ctx
                    .spec
                    .triggers
                    .iter()
                    .find(|(_, t)| t.function == f.logical && t.queue == queue_logical)
                    .map(|(n, _)| n.clone());
                let name = declared.unwrap_or_else(|| format!("{queue_logical}->{}", f.logical));
                found.push(Discovered {
                    id: rid(&name),
                    physical: format!("{queue_physical} -> {} ({uuid})", f.physical),
                    handle: uuid.to_string(),
                });
            }
        }
        Ok(found)
    }

    async fn delete(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
        let id = &target.id;
        let uuid = target.handle.as_str();
        let deleted = retry(IN_USE, is_in_use, || async {
            ctx.aws
                .lambda
                .delete_event_source_mapping()
                .uuid(uuid)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| Error::aws(id, "DeleteEventSourceMapping", e))
        })
        .await;
        match deleted {
            Err(e) if is_not_found(&e) => return Ok(()),
            other => other?,
        }
        // Deletion is asynchronous (state Deleting); wait until the mapping is gone.
        poll_until(format!("{id}: waiting for deletion"), SETTLE, || async {
            match ctx
                .aws
                .lambda
                .get_event_source_mapping()
                .uuid(uuid)
                .send()
                .await
            {
                Ok(_) => Ok(None),
                Err(e) => {
                    let e = Error::aws(id, "GetEventSourceMapping", e);
                    if is_not_found(&e) {
                        Ok(Some(()))
                    } else {
                        Err(e)
                    }
                }
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mapping_props_as_desired_shapes_them() {
        let m = EventSourceMappingConfiguration::builder()
            .uuid("u-1")
            .batch_size(25)
            .maximum_batching_window_in_seconds(5)
            .function_response_types(FunctionResponseType::ReportBatchItemFailures)
            .scaling_config(ScalingConfig::builder().maximum_concurrency(4).build())
            .state("Enabling")
            .build();
        assert_eq!(
            mapping_props(&m),
            BTreeMap::from([
                ("batch_size".to_string(), json!(25)),
                ("maximum_batching_window".to_string(), json!(5)),
                (
                    "function_response_types".to_string(),
                    json!(["ReportBatchItemFailures"])
                ),
                ("maximum_concurrency".to_string(), json!(4)),
                ("enabled".to_string(), json!(true)),
            ])
        );
        let bare = EventSourceMappingConfiguration::builder()
            .batch_size(10)
            .state("Disabled")
            .build();
        let p = mapping_props(&bare);
        assert_eq!(p["maximum_batching_window"], json!(0));
        assert_eq!(p["function_response_types"], json!([]));
        assert_eq!(p["maximum_concurrency"], Value::Null);
        assert_eq!(p["enabled"], json!(false));
    }

    #[test]
    fn states_map_to_enabled() {
        assert_eq!(state_enabled("Enabled"), Some(true));
        assert_eq!(state_enabled("Creating"), Some(true));
        assert_eq!(state_enabled("Disabling"), Some(false));
        assert_eq!(state_enabled("Updating"), None);
        assert_eq!(state_enabled("Deleting"), None);
    }

    #[test]
    fn queue_names_of_arns() {
        assert_eq!(
            queue_name_of("arn:aws:sqs:us-east-1:123:shop-orders"),
            Some("shop-orders")
        );
    }

    #[test]
    fn role_propagation_errors_are_recognised() {
        let e = Error::Aws {
            resource: "event_source_mapping.t".into(),
            action: "CreateEventSourceMapping".into(),
            code: Some("InvalidParameterValueException".into()),
            message: "InvalidParameterValueException: The provided execution role does not have permissions to call ReceiveMessage on SQS".into(),
        };
        assert!(is_role_not_ready(&e));
    }
}
