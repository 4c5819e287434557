//! SNS standard topic `<stack>-<topic>`, and the SNS helpers subscriptions share.
//!
//! SNS looks topics up by ARN only, and orderflow keeps no state, so a topic is found by name
//! in `ListTopics` (read calls only; `CreateTopic` would find it too, but it is a write).

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_sns::types::Tag;

use crate::error::Error;
use crate::kinds::declared;
use crate::resources::tags::{desired_tags, live_managed_tags, tags_to_set};
use crate::resources::{
    absent_as_none, known_value, text_value, unknown_attribute, Change, Ctx, Discovered, Kind,
    Known, Live, Outputs, Props, Provider, ResourceId,
};
use crate::spec::Spec;

pub struct TopicProvider;

/// SNS's answers for a topic (or subscription) that does not exist: the API reference's codes
/// and the `…Exception` forms some endpoints use.
pub(crate) const NOT_FOUND: &[&str] = &[
    "NotFound",
    "NotFoundException",
    "ResourceNotFound",
    "ResourceNotFoundException",
];

/// The topic name of a topic ARN (`arn:aws:sns:<region>:<account>:<name>`).
pub(crate) fn name_from_arn(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

/// Every topic ARN of the account in this region; listed once per plan while planning.
pub(crate) async fn list_topics(ctx: &Ctx, resource: &str) -> Result<Vec<String>, Error> {
    ctx.aws
        .reads
        .cloned("SNS.ListTopics", "", || list_topics_now(ctx, resource))
        .await
}

/// Every topic ARN of the account in this region (ListTopics pages through 100 at a time).
pub(crate) async fn list_topics_now(ctx: &Ctx, resource: &str) -> Result<Vec<String>, Error> {
    let mut arns = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = ctx
            .aws
            .sns
            .list_topics()
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| Error::aws(resource, "ListTopics", e))?;
        arns.extend(
            out.topics()
                .iter()
                .filter_map(|t| t.topic_arn().map(str::to_string)),
        );
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(arns),
        }
    }
}

/// ARN of the topic named `physical`, or `None` if there is none.
pub(crate) async fn topic_arn(
    ctx: &Ctx,
    resource: &str,
    physical: &str,
) -> Result<Option<String>, Error> {
    Ok(list_topics(ctx, resource)
        .await?
        .into_iter()
        .find(|arn| name_from_arn(arn) == physical))
}

/// Tags of a topic, or `None` if it is gone; read once per plan (read and discovery share it).
pub(crate) async fn topic_tags(
    ctx: &Ctx,
    resource: &str,
    arn: &str,
) -> Result<Option<BTreeMap<String, String>>, Error> {
    if let Some(tags) = crate::resources::tag_index::tags_of(ctx, arn).await {
        return Ok(Some(tags));
    }
    ctx.aws
        .reads
        .cloned("SNS.ListTagsForResource", arn, || {
            topic_tags_now(ctx, resource, arn)
        })
        .await
}

/// Tags of a topic, or `None` if it is gone.
pub(crate) async fn topic_tags_now(
    ctx: &Ctx,
    resource: &str,
    arn: &str,
) -> Result<Option<BTreeMap<String, String>>, Error> {
    let listed = ctx
        .aws
        .sns
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| Error::aws(resource, "ListTagsForResource", e));
    Ok(absent_as_none(listed, NOT_FOUND)?.map(|out| {
        out.tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect()
    }))
}

/// A topic's attributes (DisplayName, Policy...), or `None` if it is gone; read once per plan
/// (the topic's read and its policy's discovery share it).
pub(crate) async fn topic_attributes(
    ctx: &Ctx,
    resource: &str,
    arn: &str,
) -> Result<Option<HashMap<String, String>>, Error> {
    ctx.aws
        .reads
        .cloned("SNS.GetTopicAttributes", arn, || async {
            let got = ctx
                .aws
                .sns
                .get_topic_attributes()
                .topic_arn(arn)
                .send()
                .await
                .map_err(|e| Error::aws(resource, "GetTopicAttributes", e));
            Ok(absent_as_none(got, NOT_FOUND)?.map(|out| out.attributes.unwrap_or_default()))
        })
        .await
}

/// Topics named `<stack>-*` that carry this stack's ownership tag: (logical name, ARN).
pub(crate) async fn owned_topics(
    ctx: &Ctx,
    resource: &str,
) -> Result<Vec<(String, String)>, Error> {
    let mut owned = Vec::new();
    for arn in list_topics(ctx, resource).await? {
        let Some(logical) = ctx.logical_name(name_from_arn(&arn)) else {
            continue;
        };
        // Deleted between the listing and now: nothing to discover.
        let Some(tags) = topic_tags(ctx, resource, &arn).await? else {
            continue;
        };
        if ctx.is_owned(&tags) {
            owned.push((logical.to_string(), arn));
        }
    }
    Ok(owned)
}

fn sns_tags(resource: &str, tags: &BTreeMap<String, String>) -> Result<Vec<Tag>, Error> {
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

fn resource(name: &str) -> String {
    format!("{}.{name}", Kind::Topic)
}

fn outputs(physical: &str, arn: &str) -> Outputs {
    Outputs::from([
        ("name".to_string(), physical.to_string()),
        ("arn".to_string(), arn.to_string()),
    ])
}

#[async_trait]
impl Provider for TopicProvider {
    fn kind(&self) -> Kind {
        Kind::Topic
    }

    fn dependencies(&self, _spec: &Spec, _name: &str) -> Vec<ResourceId> {
        Vec::new()
    }

    fn desired(&self, ctx: &Ctx, name: &str, _known: &Known) -> Props {
        let display_name = ctx
            .spec
            .topics
            .get(name)
            .and_then(|t| t.display_name.as_deref());
        Props::from([
            ("display_name".into(), text_value(display_name).into()),
            ("tags".into(), desired_tags(ctx).into()),
        ])
    }

    async fn read(&self, ctx: &Ctx, name: &str) -> Result<Option<Live>, Error> {
        let res = resource(name);
        let physical = ctx.physical_name(name);
        let Some(arn) = topic_arn(ctx, &res, &physical).await? else {
            return Ok(None);
        };
        let Some(attributes) = topic_attributes(ctx, &res, &arn).await? else {
            return Ok(None);
        };
        let display_name = attributes.get("DisplayName").map(String::as_str);
        let Some(tags) = topic_tags(ctx, &res, &arn).await? else {
            return Ok(None);
        };
        Ok(Some(Live {
            props: BTreeMap::from([
                ("display_name".into(), text_value(display_name)),
                ("tags".into(), live_managed_tags(ctx, &tags)),
            ]),
            outputs: outputs(&physical, &arn),
            owned: ctx.is_owned(&tags),
        }))
    }

    async fn create(&self, ctx: &Ctx, name: &str, _known: &Known) -> Result<Outputs, Error> {
        let res = resource(name);
        let physical = ctx.physical_name(name);
        let topic = declared(&ctx.spec.topics, name)?;
        let attributes: HashMap<String, String> = topic
            .display_name
            .iter()
            .map(|d| ("DisplayName".to_string(), d.clone()))
            .collect();
        let out = ctx
            .aws
            .sns
            .create_topic()
            .name(&physical)
            .set_attributes((!attributes.is_empty()).then_some(attributes))
            .set_tags(Some(sns_tags(&res, &ctx.tags())?))
            .send()
            .await
            .map_err(|e| Error::aws(&res, "CreateTopic", e))?;
        let arn = out
            .topic_arn()
            .ok_or_else(|| Error::Other(format!("{res}: CreateTopic returned no ARN")))?;
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
        let arn = live.output(&res, "arn", "ARN")?;
        for change in changes {
            let value = known_value(&res, change)?;
            match change.attribute.as_str() {
                "display_name" => {
                    // An empty display name clears it.
                    ctx.aws
                        .sns
                        .set_topic_attributes()
                        .topic_arn(arn)
                        .attribute_name("DisplayName")
                        .attribute_value(value.as_str().unwrap_or_default())
                        .send()
                        .await
                        .map_err(|e| Error::aws(&res, "SetTopicAttributes", e))?;
                }
                "tags" => {
                    let set = tags_to_set(value, change.old.as_ref());
                    if !set.is_empty() {
                        ctx.aws
                            .sns
                            .tag_resource()
                            .resource_arn(arn)
                            .set_tags(Some(sns_tags(&res, &set)?))
                            .send()
                            .await
                            .map_err(|e| Error::aws(&res, "TagResource", e))?;
                    }
                }
                other => return Err(unknown_attribute(&res, other)),
            }
        }
        Ok(live.outputs.clone())
    }

    async fn discover(&self, ctx: &Ctx) -> Result<Vec<Discovered>, Error> {
        let res = format!("{}.*", Kind::Topic);
        Ok(owned_topics(ctx, &res)
            .await?
            .into_iter()
            .map(|(logical, arn)| Discovered {
                id: ResourceId::new(Kind::Topic, logical),
                physical: name_from_arn(&arn).to_string(),
                handle: arn,
            })
            .collect())
    }

    /// Deleting a topic also deletes its subscriptions (asynchronously); DeleteTopic of a topic
    /// that is gone succeeds.
    async fn delete(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
        let deleted = ctx
            .aws
            .sns
            .delete_topic()
            .topic_arn(&target.handle)
            .send()
            .await
            .map_err(|e| Error::aws(&target.id, "DeleteTopic", e));
        absent_as_none(deleted, NOT_FOUND)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::test_support::{spec, test_ctx};
    use crate::spec::model::Topic;
    use serde_json::{json, Value};

    #[test]
    fn desired_topic_props() {
        let mut s = spec();
        s.topics.insert(
            "notifications".into(),
            Topic {
                display_name: Some("Order updates".into()),
                subscriptions: Vec::new(),
            },
        );
        s.topics.insert("plain".into(), Topic::default());
        let ctx = test_ctx(s);
        let props = TopicProvider.desired(&ctx, "notifications", &Known::new());
        assert_eq!(props["display_name"], json!("Order updates").into());
        assert_eq!(
            props["tags"],
            json!({"orderflow:stack": "shop", "team": "orders"}).into()
        );
        let props = TopicProvider.desired(&ctx, "plain", &Known::new());
        assert_eq!(props["display_name"], Value::Null.into());
        assert!(TopicProvider.dependencies(&ctx.spec, "plain").is_empty());
    }

    #[test]
    fn names_and_display_names() {
        assert_eq!(
            name_from_arn("arn:aws:sns:us-east-1:123456789012:shop-orders"),
            "shop-orders"
        );
        assert_eq!(text_value(Some("")), Value::Null);
        assert_eq!(text_value(None), Value::Null);
        assert_eq!(text_value(Some("x")), json!("x"));
    }
}
