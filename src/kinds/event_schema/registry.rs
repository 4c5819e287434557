//! Provider of the EventBridge schema registry `<stack>-<name>`, and the Schemas API helpers the
//! schemas share (listing the stack's registries, tagging).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_schemas::types::RegistrySummary;

use super::{unsupported, NOT_FOUND};
use crate::error::Error;
use crate::kinds::declared;
use crate::resources::tags::{desired_tags, live_managed_tags, tags_to_set};
use crate::resources::{
    absent_as_none, known_value, text_value, unknown_attribute, Change, Ctx, Discovered, Kind,
    Known, Live, Outputs, Props, Provider, ResourceId,
};
use crate::spec::Spec;

pub struct SchemaRegistryProvider;

fn resource(name: &str) -> String {
    format!("{}.{name}", Kind::SchemaRegistry)
}

fn outputs(physical: &str, arn: &str) -> Outputs {
    Outputs::from([
        ("name".to_string(), physical.to_string()),
        ("arn".to_string(), arn.to_string()),
    ])
}

/// Tags as the Schemas API takes them.
pub(crate) fn api_tags(tags: &BTreeMap<String, String>) -> HashMap<String, String> {
    tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The custom registries whose name starts with `<stack>-`, with their tags (ListRegistries,
/// every page; shared while planning by the registry discovery and the schemas').
pub(crate) async fn stack_registries(
    ctx: &Ctx,
    res: &str,
) -> Result<Arc<Vec<RegistrySummary>>, Error> {
    let prefix = format!("{}-", ctx.spec.stack);
    ctx.aws
        .reads
        .get("Schemas.ListRegistries", &prefix, || async {
            let mut registries = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let out = ctx
                    .aws
                    .schemas
                    .list_registries()
                    .registry_name_prefix(&prefix)
                    // Custom registries only (not `aws.events` nor `discovered-schemas`).
                    .scope("LOCAL")
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| Error::aws(res, "ListRegistries", e))?;
                registries.extend(out.registries().iter().cloned());
                match out.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_string()),
                    _ => return Ok(registries),
                }
            }
        })
        .await
}

/// Set the changed managed tags of a registry or schema (keys dropped from the spec cannot be
/// told from foreign tags, so nothing is removed: as for every other kind).
pub(crate) async fn update_tags(
    ctx: &Ctx,
    res: &str,
    arn: &str,
    change: &Change,
) -> Result<(), Error> {
    let set = tags_to_set(known_value(res, change)?, change.old.as_ref());
    if set.is_empty() {
        return Ok(());
    }
    ctx.aws
        .schemas
        .tag_resource()
        .resource_arn(arn)
        .set_tags(Some(api_tags(&set)))
        .send()
        .await
        .map_err(|e| Error::aws(res, "TagResource", e))?;
    Ok(())
}

#[async_trait]
impl Provider for SchemaRegistryProvider {
    fn kind(&self) -> Kind {
        Kind::SchemaRegistry
    }

    fn dependencies(&self, _spec: &Spec, _name: &str) -> Vec<ResourceId> {
        Vec::new()
    }

    fn desired(&self, ctx: &Ctx, name: &str, _known: &Known) -> Props {
        let description = ctx
            .spec
            .event_schemas
            .get(name)
            .and_then(|r| r.description.as_deref());
        Props::from([
            ("description".into(), text_value(description).into()),
            ("tags".into(), desired_tags(ctx).into()),
        ])
    }

    async fn read(&self, ctx: &Ctx, name: &str) -> Result<Option<Live>, Error> {
        let res = resource(name);
        let physical = ctx.physical_name(name);
        let described = ctx
            .aws
            .schemas
            .describe_registry()
            .registry_name(&physical)
            .send()
            .await
            .map_err(|e| Error::aws(&res, "DescribeRegistry", e));
        let Some(registry) = absent_as_none(described, NOT_FOUND)? else {
            return Ok(None);
        };
        let arn = registry
            .registry_arn()
            .ok_or_else(|| Error::Other(format!("{res}: DescribeRegistry returned no ARN")))?;
        let tags = registry.tags().cloned().unwrap_or_default();
        Ok(Some(Live {
            props: BTreeMap::from([
                ("description".into(), text_value(registry.description())),
                ("tags".into(), live_managed_tags(ctx, &tags)),
            ]),
            outputs: outputs(&physical, arn),
            owned: ctx.is_owned(&tags),
        }))
    }

    async fn create(&self, ctx: &Ctx, name: &str, _known: &Known) -> Result<Outputs, Error> {
        let res = resource(name);
        let physical = ctx.physical_name(name);
        let registry = declared(&ctx.spec.event_schemas, name)?;
        let out = ctx
            .aws
            .schemas
            .create_registry()
            .registry_name(&physical)
            .set_description(registry.description.clone())
            .set_tags(Some(api_tags(&ctx.tags())))
            .send()
            .await
            .map_err(|e| Error::aws(&res, "CreateRegistry", e))?;
        let arn = out
            .registry_arn()
            .ok_or_else(|| Error::Other(format!("{res}: CreateRegistry returned no ARN")))?;
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
                    ctx.aws
                        .schemas
                        .update_registry()
                        .registry_name(&physical)
                        .description(description)
                        .send()
                        .await
                        .map_err(|e| Error::aws(&res, "UpdateRegistry", e))?;
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
        let res = format!("{}.*", Kind::SchemaRegistry);
        let mut found = Vec::new();
        for registry in stack_registries(ctx, &res).await?.iter() {
            let Some(physical) = registry.registry_name() else {
                continue;
            };
            let Some(logical) = ctx.logical_name(physical) else {
                continue;
            };
            if ctx.is_owned(registry.tags().cloned().unwrap_or_default()) {
                found.push(Discovered {
                    id: ResourceId::new(Kind::SchemaRegistry, logical),
                    physical: physical.to_string(),
                    handle: physical.to_string(),
                });
            }
        }
        Ok(found)
    }

    async fn delete(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
        let res = target.id.to_string();
        let deleted = ctx
            .aws
            .schemas
            .delete_registry()
            .registry_name(&target.handle)
            .send()
            .await
            .map_err(|e| Error::aws(&res, "DeleteRegistry", e));
        absent_as_none(deleted, NOT_FOUND)?;
        Ok(())
    }

    async fn still_visible(&self, ctx: &Ctx, target: &Discovered) -> Result<bool, Error> {
        let described = ctx
            .aws
            .schemas
            .describe_registry()
            .registry_name(&target.handle)
            .send()
            .await
            .map_err(|e| Error::aws(target.id.to_string(), "DescribeRegistry", e));
        Ok(absent_as_none(described, NOT_FOUND)?.is_some())
    }

    async fn unsupported(&self, ctx: &Ctx) -> Result<Option<String>, Error> {
        unsupported(ctx).await
    }
}
