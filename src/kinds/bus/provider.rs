//! Provider of EventBridge custom event bus `<stack>-<bus>`, and the EventBridge helpers rules share.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_eventbridge::types::{EventBus, Tag};

use crate::error::Error;
use crate::kinds::declared;
use crate::resources::tags::{desired_tags, live_managed_tags, tags_to_set};
use crate::resources::{
    absent_as_none, known_value, text_value, unknown_attribute, Change, Ctx, Discovered, Kind,
    Known, Live, Outputs, Props, Provider, ResourceId,
};
use crate::spec::Spec;

pub struct BusProvider;

/// EventBridge's answer for a bus or rule that does not exist.
const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

/// EventBridge tags from a tag map.
pub(crate) fn event_tags(
    resource: &str,
    tags: &BTreeMap<String, String>,
) -> Result<Vec<Tag>, Error> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| Error::Other(format!("{resource}: building tag {k}: {e}")))
        })
        .collect()
}

/// Live tags of an EventBridge resource (bus or rule), as a map; shared while planning by the
/// resource's read and discovery.
pub(crate) async fn event_resource_tags(
    ctx: &Ctx,
    resource: &str,
    arn: &str,
) -> Result<BTreeMap<String, String>, Error> {
    if let Some(tags) = crate::resources::tag_index::tags_of(ctx, arn).await {
        return Ok(tags);
    }
    let tags = ctx
        .aws
        .reads
        .get("EventBridge.ListTagsForResource", arn, || async {
            let out = ctx
                .aws
                .events
                .list_tags_for_resource()
                .resource_arn(arn)
                .send()
                .await
                .map_err(|e| Error::aws(resource, "ListTagsForResource", e))?;
            Ok(out
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect::<BTreeMap<String, String>>())
        })
        .await?;
    Ok((*tags).clone())
}

/// Apply a changed `tags` prop to an EventBridge resource.
pub(crate) async fn update_event_tags(
    ctx: &Ctx,
    resource: &str,
    arn: &str,
    change: &Change,
) -> Result<(), Error> {
    let set = tags_to_set(known_value(resource, change)?, change.old.as_ref());
    if set.is_empty() {
        return Ok(());
    }
    ctx.aws
        .events
        .tag_resource()
        .resource_arn(arn)
        .set_tags(Some(event_tags(resource, &set)?))
        .send()
        .await
        .map_err(|e| Error::aws(resource, "TagResource", e))?;
    Ok(())
}

/// The buses whose name starts with `<stack>-` (ListEventBuses, every page; shared while
/// planning by the buses' reads and the bus and rule discoveries).
async fn stack_buses(ctx: &Ctx, resource: &str) -> Result<Arc<Vec<EventBus>>, Error> {
    let prefix = format!("{}-", ctx.spec.stack);
    ctx.aws
        .reads
        .get("EventBridge.ListEventBuses", &prefix, || async {
            let mut buses = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let out = ctx
                    .aws
                    .events
                    .list_event_buses()
                    .name_prefix(&prefix)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| Error::aws(resource, "ListEventBuses", e))?;
                buses.extend(out.event_buses().iter().cloned());
                match out.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_string()),
                    _ => return Ok(buses),
                }
            }
        })
        .await
}

/// Names of the buses whose name starts with `<stack>-` (ownership is checked by the caller).
pub(crate) async fn list_stack_buses(
    ctx: &Ctx,
    resource: &str,
) -> Result<Vec<(String, String)>, Error> {
    Ok(stack_buses(ctx, resource)
        .await?
        .iter()
        .filter_map(|b| Some((b.name()?.to_string(), b.arn()?.to_string())))
        .collect())
}

/// One bus: while planning from the stack's bus listing, else (or when the listing, which may
/// lag, does not show it) from DescribeEventBus. (ARN, description); `None`: no such bus.
async fn bus_details(
    ctx: &Ctx,
    res: &str,
    physical: &str,
) -> Result<Option<(String, Option<String>)>, Error> {
    if ctx.aws.reads.is_planning() {
        let listed = stack_buses(ctx, res).await?;
        if let Some(b) = listed.iter().find(|b| b.name() == Some(physical)) {
            if let Some(arn) = b.arn() {
                return Ok(Some((arn.to_string(), b.description().map(str::to_string))));
            }
        }
    }
    let described = ctx
        .aws
        .events
        .describe_event_bus()
        .name(physical)
        .send()
        .await
        .map_err(|e| Error::aws(res, "DescribeEventBus", e));
    let Some(bus) = absent_as_none(described, NOT_FOUND)? else {
        return Ok(None);
    };
    let arn = bus
        .arn()
        .ok_or_else(|| Error::Other(format!("{res}: DescribeEventBus returned no ARN")))?
        .to_string();
    Ok(Some((arn, bus.description().map(str::to_string))))
}

fn resource(name: &str) -> String {
    format!("{}.{name}", Kind::Bus)
}

fn outputs(physical: &str, arn: &str) -> Outputs {
    Outputs::from([
        ("name".to_string(), physical.to_string()),
        ("arn".to_string(), arn.to_string()),
    ])
}

#[async_trait]
impl Provider for BusProvider {
    fn kind(&self) -> Kind {
        Kind::Bus
    }

    fn dependencies(&self, _spec: &Spec, _name: &str) -> Vec<ResourceId> {
        Vec::new()
    }

    fn desired(&self, ctx: &Ctx, name: &str, _known: &Known) -> Props {
        let description = ctx
            .spec
            .buses
            .get(name)
            .and_then(|b| b.description.as_deref());
        Props::from([
            ("description".into(), text_value(description).into()),
            ("tags".into(), desired_tags(ctx).into()),
        ])
    }

    async fn read(&self, ctx: &Ctx, name: &str) -> Result<Option<Live>, Error> {
        let res = resource(name);
        let physical = ctx.physical_name(name);
        let Some((arn, description)) = bus_details(ctx, &res, &physical).await? else {
            return Ok(None);
        };
        // A bus deleted a moment ago may still be listed: gone if its tags are.
        let tags = event_resource_tags(ctx, &res, &arn).await;
        let Some(tags) = absent_as_none(tags, NOT_FOUND)? else {
            return Ok(None);
        };
        Ok(Some(Live {
            props: BTreeMap::from([
                ("description".into(), text_value(description.as_deref())),
                ("tags".into(), live_managed_tags(ctx, &tags)),
            ]),
            outputs: outputs(&physical, &arn),
            owned: ctx.is_owned(&tags),
        }))
    }

    async fn create(&self, ctx: &Ctx, name: &str, _known: &Known) -> Result<Outputs, Error> {
        let res = resource(name);
        let physical = ctx.physical_name(name);
        let bus = declared(&ctx.spec.buses, name)?;
        let out = ctx
            .aws
            .events
            .create_event_bus()
            .name(&physical)
            .set_description(bus.description.clone())
            .set_tags(Some(event_tags(&res, &ctx.tags())?))
            .send()
            .await
            .map_err(|e| Error::aws(&res, "CreateEventBus", e))?;
        let arn = out
            .event_bus_arn()
            .ok_or_else(|| Error::Other(format!("{res}: CreateEventBus returned no ARN")))?;
        Ok(outputs(&physical, arn))
    }

    async fn update(
        &self,
        ctx: &Ctx,
        name: &str,
        _known: &Known,
        live: &Live,
        changes: &[Change],
    ) -> Result<Outputs, Error> {
        let res = resource(name);
        let physical = ctx.physical_name(name);
        let arn = live.output(&res, "arn", "ARN")?;
        for change in changes {
            match change.attribute.as_str() {
                "description" => {
                    // An empty description clears it.
                    let description = known_value(&res, change)?.as_str().unwrap_or_default();
                    // UpdateEventBus resets what it is not given (e.g. a customer-managed KMS
                    // key reverts to an AWS-owned one): pass the settings orderflow does not
                    // manage through unchanged.
                    let current = ctx
                        .aws
                        .events
                        .describe_event_bus()
                        .name(&physical)
                        .send()
                        .await
                        .map_err(|e| Error::aws(&res, "DescribeEventBus", e))?;
                    ctx.aws
                        .events
                        .update_event_bus()
                        .name(&physical)
                        .description(description)
                        .set_kms_key_identifier(current.kms_key_identifier().map(str::to_string))
                        .set_dead_letter_config(current.dead_letter_config().cloned())
                        .set_log_config(current.log_config().cloned())
                        .send()
                        .await
                        .map_err(|e| Error::aws(&res, "UpdateEventBus", e))?;
                }
                "tags" => update_event_tags(ctx, &res, arn, change).await?,
                other => return Err(unknown_attribute(&res, other)),
            }
        }
        Ok(live.outputs.clone())
    }

    async fn discover(&self, ctx: &Ctx) -> Result<Vec<Discovered>, Error> {
        let res = format!("{}.*", Kind::Bus);
        let mut found = Vec::new();
        for (physical, arn) in list_stack_buses(ctx, &res).await? {
            let Some(logical) = ctx.logical_name(&physical) else {
                continue;
            };
            let tags = event_resource_tags(ctx, &resource(logical), &arn).await;
            // Deleted between the listing and now: nothing to discover.
            let Some(tags) = absent_as_none(tags, NOT_FOUND)? else {
                continue;
            };
            if ctx.is_owned(&tags) {
                found.push(Discovered {
                    id: ResourceId::new(Kind::Bus, logical),
                    physical: physical.clone(),
                    handle: physical,
                });
            }
        }
        Ok(found)
    }

    async fn delete(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
        let res = target.id.to_string();
        let deleted = ctx
            .aws
            .events
            .delete_event_bus()
            .name(&target.handle)
            .send()
            .await
            .map_err(|e| Error::aws(&res, "DeleteEventBus", e));
        absent_as_none(deleted, NOT_FOUND)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn desired_bus_props() {
        let mut spec = crate::resources::test_support::spec();
        spec.buses.insert(
            "orders".into(),
            crate::spec::model::Bus {
                description: Some("order events".into()),
                ..Default::default()
            },
        );
        spec.buses.insert("plain".into(), Default::default());
        let ctx = crate::resources::test_support::test_ctx(spec);
        let props = BusProvider.desired(&ctx, "orders", &Known::new());
        assert_eq!(props["description"], json!("order events").into());
        let props = BusProvider.desired(&ctx, "plain", &Known::new());
        assert_eq!(props["description"], Value::Null.into());
        assert!(BusProvider.dependencies(&ctx.spec, "orders").is_empty());
    }

    #[test]
    fn empty_description_means_none() {
        assert_eq!(text_value(Some("")), Value::Null);
        assert_eq!(text_value(None), Value::Null);
        assert_eq!(text_value(Some("orders")), json!("orders"));
    }
}
