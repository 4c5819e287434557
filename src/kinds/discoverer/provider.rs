//! Provider of the EventBridge schema discoverer of bus `<stack>-<bus>` (logical name: the bus's).

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::Value;

use super::{
    bus_of_source, description, of_bus, stack_discoverers, unsupported, NOT_FOUND, STARTED,
};
use crate::error::Error;
use crate::kinds::declared;
use crate::kinds::event_schema::registry::{api_tags, update_tags};
use crate::resources::tags::{desired_tags, live_managed_tags};
use crate::resources::{
    absent_as_none, known_value, output, text_value, unknown_attribute, Change, Ctx, Discovered,
    Kind, Known, Live, Outputs, Prop, Props, Provider, ResourceId,
};
use crate::spec::Spec;

pub struct DiscovererProvider;

fn resource(name: &str) -> String {
    format!("{}.{name}", Kind::Discoverer)
}

fn outputs(id: &str, arn: &str) -> Outputs {
    Outputs::from([
        ("id".to_string(), id.to_string()),
        ("arn".to_string(), arn.to_string()),
    ])
}

fn bus_id(name: &str) -> ResourceId {
    ResourceId::new(Kind::Bus, name)
}

#[async_trait]
impl Provider for DiscovererProvider {
    fn kind(&self) -> Kind {
        Kind::Discoverer
    }

    fn dependencies(&self, _spec: &Spec, name: &str) -> Vec<ResourceId> {
        vec![bus_id(name)]
    }

    fn desired(&self, ctx: &Ctx, name: &str, known: &Known) -> Props {
        Props::from([
            ("source_arn".into(), output(known, &bus_id(name), "arn")),
            ("description".into(), description(ctx, name).into()),
            ("state".into(), STARTED.into()),
            ("tags".into(), desired_tags(ctx).into()),
        ])
    }

    async fn read(&self, ctx: &Ctx, name: &str) -> Result<Option<Live>, Error> {
        let res = resource(name);
        let Some(summary) = of_bus(ctx, &res, name).await? else {
            return Ok(None);
        };
        let id = summary
            .discoverer_id()
            .ok_or_else(|| Error::Other(format!("{res}: ListDiscoverers returned no ID")))?;
        // The listing has no description: described once found.
        let described = ctx
            .aws
            .schemas
            .describe_discoverer()
            .discoverer_id(id)
            .send()
            .await
            .map_err(|e| Error::aws(&res, "DescribeDiscoverer", e));
        let Some(d) = absent_as_none(described, NOT_FOUND)? else {
            return Ok(None);
        };
        let arn = d
            .discoverer_arn()
            .ok_or_else(|| Error::Other(format!("{res}: DescribeDiscoverer returned no ARN")))?;
        let tags = d.tags().cloned().unwrap_or_default();
        Ok(Some(Live {
            props: BTreeMap::from([
                ("source_arn".into(), text_value(d.source_arn())),
                ("description".into(), text_value(d.description())),
                ("state".into(), text_value(d.state().map(|s| s.as_str()))),
                ("tags".into(), live_managed_tags(ctx, &tags)),
            ]),
            outputs: outputs(id, arn),
            owned: ctx.is_owned(&tags),
        }))
    }

    async fn create(&self, ctx: &Ctx, name: &str, known: &Known) -> Result<Outputs, Error> {
        let res = resource(name);
        declared(&ctx.spec.buses, name)?;
        let source_arn = match output(known, &bus_id(name), "arn") {
            Prop::Known(Value::String(arn)) => arn,
            _ => super::bus_arn(ctx, &res, name).await?,
        };
        let out = ctx
            .aws
            .schemas
            .create_discoverer()
            .source_arn(&source_arn)
            .description(description(ctx, name))
            .set_tags(Some(api_tags(&ctx.tags())))
            .send()
            .await
            .map_err(|e| Error::aws(&res, "CreateDiscoverer", e))?;
        let id = out
            .discoverer_id()
            .ok_or_else(|| Error::Other(format!("{res}: CreateDiscoverer returned no ID")))?;
        let arn = out
            .discoverer_arn()
            .ok_or_else(|| Error::Other(format!("{res}: CreateDiscoverer returned no ARN")))?;
        Ok(outputs(id, arn))
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
        let id = live.output(&res, "id", "discoverer ID")?;
        let arn = live.output(&res, "arn", "ARN")?;
        for change in changes {
            match change.attribute.as_str() {
                // Found by its bus's ARN, so it can only differ while that is unknown.
                "source_arn" => {
                    if Some(known_value(&res, change)?) != change.old.as_ref() {
                        return Err(Error::Other(format!(
                            "{res}: the discoverer watches {} rather than its bus; delete it and run `up` again",
                            change.old.as_ref().and_then(Value::as_str).unwrap_or("?")
                        )));
                    }
                }
                "description" => {
                    let description = known_value(&res, change)?.as_str().unwrap_or_default();
                    ctx.aws
                        .schemas
                        .update_discoverer()
                        .discoverer_id(id)
                        .description(description)
                        .send()
                        .await
                        .map_err(|e| Error::aws(&res, "UpdateDiscoverer", e))?;
                }
                // Stopped by hand (console, CLI): `discover: true` means discovering.
                "state" => {
                    ctx.aws
                        .schemas
                        .start_discoverer()
                        .discoverer_id(id)
                        .send()
                        .await
                        .map_err(|e| Error::aws(&res, "StartDiscoverer", e))?;
                }
                "tags" => update_tags(ctx, &res, arn, change).await?,
                other => return Err(unknown_attribute(&res, other)),
            }
        }
        Ok(live.outputs.clone())
    }

    async fn discover(&self, ctx: &Ctx) -> Result<Vec<Discovered>, Error> {
        // Nothing can have been created where there is no Schemas API (`plan`/`up` say so).
        if unsupported(ctx).await?.is_some() {
            return Ok(Vec::new());
        }
        let res = format!("{}.*", Kind::Discoverer);
        let mut found = Vec::new();
        for d in stack_discoverers(ctx, &res).await?.iter() {
            let (Some(id), Some(source)) = (d.discoverer_id(), d.source_arn()) else {
                continue;
            };
            let Some(bus) = bus_of_source(ctx, source) else {
                continue;
            };
            // Only the stack's own: a discoverer someone turned on by hand is never deleted.
            if ctx.is_owned(d.tags().cloned().unwrap_or_default()) {
                found.push(Discovered {
                    id: ResourceId::new(Kind::Discoverer, bus),
                    physical: id.to_string(),
                    handle: id.to_string(),
                });
            }
        }
        Ok(found)
    }

    async fn delete(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
        let deleted = ctx
            .aws
            .schemas
            .delete_discoverer()
            .discoverer_id(&target.handle)
            .send()
            .await
            .map_err(|e| Error::aws(target.id.to_string(), "DeleteDiscoverer", e));
        absent_as_none(deleted, NOT_FOUND)?;
        Ok(())
    }

    async fn still_visible(&self, ctx: &Ctx, target: &Discovered) -> Result<bool, Error> {
        let described = ctx
            .aws
            .schemas
            .describe_discoverer()
            .discoverer_id(&target.handle)
            .send()
            .await
            .map_err(|e| Error::aws(target.id.to_string(), "DescribeDiscoverer", e));
        Ok(absent_as_none(described, NOT_FOUND)?.is_some())
    }

    fn display_name(&self, ctx: &Ctx, name: &str) -> String {
        format!("schema discoverer of bus {}", ctx.physical_name(name))
    }

    async fn unsupported(&self, ctx: &Ctx) -> Result<Option<String>, Error> {
        unsupported(ctx).await
    }
}
