//! Provider of one event schema in a registry: `<source>@<detail-type>` (OpenAPI 3), its content
//! generated from the order-domain types. Content is compared as JSON (key order and layout do
//! not matter) with the registry's latest version; a difference is an UpdateSchema, which makes
//! a new version and keeps the old ones.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_schemas::types::Type as SchemaType;
use serde_json::Value;

use super::registry::{api_tags, stack_registries, update_tags};
use super::{schema_logical, split_logical, unsupported, NOT_FOUND};
use crate::error::Error;
use crate::resources::tags::{desired_tags, live_managed_tags};
use crate::resources::{
    absent_as_none, known_value, text_value, unknown_attribute, Change, Ctx, Discovered, Kind,
    Known, Live, Outputs, Props, Provider, ResourceId,
};
use crate::spec::Spec;

pub struct EventSchemaProvider;

/// The registry's schema type of every document orderflow writes.
const TYPE: &str = "OpenApi3";

fn resource(name: &str) -> String {
    format!("{}.{name}", Kind::EventSchema)
}

/// (registry physical name, schema name) of a declared schema.
fn names(ctx: &Ctx, name: &str) -> Result<(String, String), Error> {
    let (registry, event) = split_logical(name)?;
    Ok((ctx.physical_name(registry), event.schema_name()))
}

fn outputs(schema: &str, arn: &str, version: Option<&str>) -> Outputs {
    let mut out = Outputs::from([
        ("name".to_string(), schema.to_string()),
        ("arn".to_string(), arn.to_string()),
    ]);
    if let Some(v) = version {
        out.insert("version".into(), v.to_string());
    }
    out
}

/// The document as sent: indented, as people read it in the console.
fn content_text(content: &Value) -> String {
    serde_json::to_string_pretty(content).unwrap_or_default()
}

/// Stored content as a prop: its JSON value (so layout and key order are no difference), or the
/// text itself when it is not JSON (then it differs, and the update replaces it).
fn content_value(text: Option<&str>) -> Value {
    match text {
        Some(t) => serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.to_string())),
        None => Value::Null,
    }
}

#[async_trait]
impl Provider for EventSchemaProvider {
    fn kind(&self) -> Kind {
        Kind::EventSchema
    }

    fn dependencies(&self, _spec: &Spec, name: &str) -> Vec<ResourceId> {
        let registry = name.split_once('/').map_or(name, |(r, _)| r);
        vec![ResourceId::new(Kind::SchemaRegistry, registry)]
    }

    fn desired(&self, ctx: &Ctx, name: &str, _known: &Known) -> Props {
        let Ok((_, event)) = split_logical(name) else {
            // The spec only declares catalogue events; nothing sensible to desire otherwise.
            return Props::new();
        };
        Props::from([
            ("description".into(), Value::from(event.description).into()),
            ("type".into(), Value::from(TYPE).into()),
            ("content".into(), event.openapi3().into()),
            ("tags".into(), desired_tags(ctx).into()),
        ])
    }

    async fn read(&self, ctx: &Ctx, name: &str) -> Result<Option<Live>, Error> {
        let res = resource(name);
        let (registry, schema) = names(ctx, name)?;
        // Without a version, DescribeSchema answers with the latest one.
        let described = ctx
            .aws
            .schemas
            .describe_schema()
            .registry_name(&registry)
            .schema_name(&schema)
            .send()
            .await
            .map_err(|e| Error::aws(&res, "DescribeSchema", e));
        let Some(found) = absent_as_none(described, NOT_FOUND)? else {
            return Ok(None);
        };
        let arn = found
            .schema_arn()
            .ok_or_else(|| Error::Other(format!("{res}: DescribeSchema returned no ARN")))?;
        let tags = found.tags().cloned().unwrap_or_default();
        Ok(Some(Live {
            props: BTreeMap::from([
                ("description".into(), text_value(found.description())),
                ("type".into(), text_value(found.r#type())),
                ("content".into(), content_value(found.content())),
                ("tags".into(), live_managed_tags(ctx, &tags)),
            ]),
            outputs: outputs(&schema, arn, found.schema_version()),
            owned: ctx.is_owned(&tags),
        }))
    }

    async fn create(&self, ctx: &Ctx, name: &str, _known: &Known) -> Result<Outputs, Error> {
        let res = resource(name);
        let (registry, schema) = names(ctx, name)?;
        let (_, event) = split_logical(name)?;
        let out = ctx
            .aws
            .schemas
            .create_schema()
            .registry_name(&registry)
            .schema_name(&schema)
            .r#type(SchemaType::from(TYPE))
            .content(content_text(&event.openapi3()))
            .description(event.description)
            .set_tags(Some(api_tags(&ctx.tags())))
            .send()
            .await
            .map_err(|e| Error::aws(&res, "CreateSchema", e))?;
        let arn = out
            .schema_arn()
            .ok_or_else(|| Error::Other(format!("{res}: CreateSchema returned no ARN")))?;
        Ok(outputs(&schema, arn, out.schema_version()))
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
        let (registry, schema) = names(ctx, name)?;
        let arn = live.output(&res, "arn", "ARN")?;
        let mut outputs = live.outputs.clone();
        let mut document: Option<Value> = None;
        let mut description: Option<String> = None;
        for change in changes {
            match change.attribute.as_str() {
                // Content and type go together: a document is read as the type it is sent with.
                "content" | "type" => {
                    document = Some(split_logical(name)?.1.openapi3());
                }
                "description" => {
                    let text = known_value(&res, change)?.as_str().unwrap_or_default();
                    description = Some(text.to_string());
                }
                "tags" => update_tags(ctx, &res, arn, change).await?,
                other => return Err(unknown_attribute(&res, other)),
            }
        }
        if document.is_some() || description.is_some() {
            // One call: a content change makes a new version (the registry keeps the older ones).
            let mut call = ctx
                .aws
                .schemas
                .update_schema()
                .registry_name(&registry)
                .schema_name(&schema)
                .set_description(description);
            if let Some(document) = &document {
                call = call
                    .r#type(SchemaType::from(TYPE))
                    .content(content_text(document));
            }
            let out = call
                .send()
                .await
                .map_err(|e| Error::aws(&res, "UpdateSchema", e))?;
            if let Some(version) = out.schema_version() {
                outputs.insert("version".into(), version.to_string());
            }
        }
        Ok(outputs)
    }

    async fn discover(&self, ctx: &Ctx) -> Result<Vec<Discovered>, Error> {
        if unsupported(ctx).await?.is_some() {
            return Ok(Vec::new());
        }
        let res = format!("{}.*", Kind::EventSchema);
        let mut found = Vec::new();
        for registry in stack_registries(ctx, &res).await?.iter() {
            let Some(registry_name) = registry.registry_name() else {
                continue;
            };
            let Some(registry_logical) = ctx.logical_name(registry_name) else {
                continue;
            };
            // Schemas of a registry the stack does not own are not the stack's, whatever
            // their tags say.
            if !ctx.is_owned(registry.tags().cloned().unwrap_or_default()) {
                continue;
            }
            let mut token: Option<String> = None;
            loop {
                let listed = ctx
                    .aws
                    .schemas
                    .list_schemas()
                    .registry_name(registry_name)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| Error::aws(&res, "ListSchemas", e));
                // The registry went away since it was listed: nothing in it to discover.
                let Some(listed) = absent_as_none(listed, NOT_FOUND)? else {
                    break;
                };
                for summary in listed.schemas() {
                    let Some(schema) = summary.schema_name() else {
                        continue;
                    };
                    if !ctx.is_owned(summary.tags().cloned().unwrap_or_default()) {
                        continue;
                    }
                    // `<source>@<detail-type>`: the logical name carries the detail-type.
                    let detail_type = schema.rsplit_once('@').map_or(schema, |(_, d)| d);
                    found.push(Discovered {
                        id: ResourceId::new(
                            Kind::EventSchema,
                            schema_logical(registry_logical, detail_type),
                        ),
                        physical: format!("{registry_name}/{schema}"),
                        handle: format!("{registry_name}/{schema}"),
                    });
                }
                match listed.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_string()),
                    _ => break,
                }
            }
        }
        Ok(found)
    }

    /// A declared detail-type stored under another name (its event's source changed): the old
    /// schema goes, the new one is created.
    fn is_stale(&self, ctx: &Ctx, found: &Discovered) -> bool {
        names(ctx, &found.id.name)
            .map(|(registry, schema)| found.handle != format!("{registry}/{schema}"))
            .unwrap_or(false)
    }

    async fn delete(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
        let res = target.id.to_string();
        let (registry, schema) = target
            .handle
            .split_once('/')
            .ok_or_else(|| Error::Other(format!("{res}: bad handle {}", target.handle)))?;
        let deleted = ctx
            .aws
            .schemas
            .delete_schema()
            .registry_name(registry)
            .schema_name(schema)
            .send()
            .await
            .map_err(|e| Error::aws(&res, "DeleteSchema", e));
        absent_as_none(deleted, NOT_FOUND)?;
        Ok(())
    }

    async fn still_visible(&self, ctx: &Ctx, target: &Discovered) -> Result<bool, Error> {
        let Some((registry, schema)) = target.handle.split_once('/') else {
            return Ok(false);
        };
        let described = ctx
            .aws
            .schemas
            .describe_schema()
            .registry_name(registry)
            .schema_name(schema)
            .send()
            .await
            .map_err(|e| Error::aws(target.id.to_string(), "DescribeSchema", e));
        Ok(absent_as_none(described, NOT_FOUND)?.is_some())
    }

    fn display_name(&self, ctx: &Ctx, name: &str) -> String {
        match names(ctx, name) {
            Ok((registry, schema)) => format!("{registry}/{schema}"),
            Err(_) => ctx.physical_name(name),
        }
    }

    async fn unsupported(&self, ctx: &Ctx) -> Result<Option<String>, Error> {
        unsupported(ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_compares_as_json() {
        let doc = json!({"b": 1, "a": {"y": [1, 2], "x": null}});
        let stored = "{\n  \"a\": {\"x\": null, \"y\": [1,2]},\n  \"b\": 1\n}";
        assert_eq!(content_value(Some(stored)), doc);
        assert_eq!(content_value(Some(&content_text(&doc))), doc);
        assert_eq!(content_value(Some("not json")), json!("not json"));
        assert_eq!(content_value(None), Value::Null);
    }

    #[test]
    fn desired_schema_props_come_from_the_catalogue() {
        let mut spec = crate::resources::test_support::spec();
        spec.event_schemas.insert(
            "orders".into(),
            super::super::EventSchemaRegistry {
                description: None,
                events: vec!["OrderPlaced".into()],
            },
        );
        let ctx = crate::resources::test_support::test_ctx(spec);
        let props = EventSchemaProvider.desired(&ctx, "orders/OrderPlaced", &Known::new());
        let event = order_domain::schema::find("OrderPlaced").unwrap();
        assert_eq!(props["content"], event.openapi3().into());
        assert_eq!(props["type"], json!("OpenApi3").into());
        assert_eq!(
            EventSchemaProvider.dependencies(&ctx.spec, "orders/OrderPlaced"),
            vec![ResourceId::new(Kind::SchemaRegistry, "orders")]
        );
        assert_eq!(
            EventSchemaProvider.display_name(&ctx, "orders/OrderPlaced"),
            "shop-orders/orderflow.orders@OrderPlaced"
        );
    }
}
