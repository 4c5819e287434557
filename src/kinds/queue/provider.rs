//! SQS standard queue `<stack>-<queue>`, optionally redriving to a dead-letter queue.
//!
//! SQS reports every attribute as a string; `read` normalises them to the JSON types `desired`
//! uses (numbers, bools, the redrive policy as an object) so an unchanged queue diffs empty.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{json, Value};

use crate::error::Error;
use crate::kinds::declared;
use crate::resources::known_value;
use crate::resources::tags::{desired_tags, live_managed_tags, tags_to_set};
use crate::resources::{
    absent_as_none, output, unknown_attribute, Change, Ctx, Discovered, Kind, Known, Live, Outputs,
    Prop, Props, Provider, ResourceId,
};
use crate::retry::{retry, Backoff};
use crate::spec::model::QueueEncryption;
use crate::spec::Spec;

pub struct QueueProvider;

/// AWS refuses to create a queue under a name deleted less than 60 s ago; keep trying a little
/// longer than that.
const DELETED_RECENTLY: Backoff = Backoff::new(2_000, 10_000, 90);

/// A queue just created can briefly be invisible to other SQS endpoints (eventual consistency).
const JUST_CREATED: Backoff = Backoff::new(250, 2_000, 20);

/// SQS's answers for a queue that does not exist. SQS is query-compatible: the SDK may report the
/// JSON code or the legacy query code.
pub(crate) const MISSING_QUEUE: &[&str] = &[
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
];

/// Does this error say the queue does not exist?
pub(crate) fn is_missing_queue(err: &Error) -> bool {
    err.code().is_some_and(|c| MISSING_QUEUE.contains(&c))
}

fn is_deleted_recently(err: &Error) -> bool {
    matches!(
        err.code(),
        Some("QueueDeletedRecently") | Some("AWS.SimpleQueueService.QueueDeletedRecently")
    )
}

/// URL of a queue by physical name, or `None` if it does not exist. While planning it comes from
/// the stack's queue listing (one call for every queue and for discovery); a queue the listing
/// does not show (SQS lists with a delay) is asked for by name, so a missing entry never
/// passes for a missing queue.
pub(crate) async fn queue_url(
    ctx: &Ctx,
    resource: &str,
    physical: &str,
) -> Result<Option<String>, Error> {
    if ctx.aws.reads.is_planning() {
        let listed = stack_queue_urls(ctx, resource).await?;
        if let Some(url) = listed.iter().find(|u| name_from_url(u) == physical) {
            return Ok(Some(url.clone()));
        }
    }
    match ctx
        .aws
        .sqs
        .get_queue_url()
        .queue_name(physical)
        .send()
        .await
    {
        Ok(out) => Ok(out.queue_url().map(str::to_string)),
        Err(e) => {
            let err = Error::aws(resource, "GetQueueUrl", e);
            if is_missing_queue(&err) {
                Ok(None)
            } else {
                Err(err)
            }
        }
    }
}

/// Tags of a queue (shared while planning by the queue, its policy and discovery).
pub(crate) async fn queue_tags(
    ctx: &Ctx,
    resource: &str,
    url: &str,
) -> Result<BTreeMap<String, String>, Error> {
    if let Some(tags) = crate::resources::tag_index::queue_tags(ctx, name_from_url(url)).await {
        return Ok(tags);
    }
    let tags = ctx
        .aws
        .reads
        .get("SQS.ListQueueTags", url, || async {
            let out = ctx
                .aws
                .sqs
                .list_queue_tags()
                .queue_url(url)
                .send()
                .await
                .map_err(|e| Error::aws(resource, "ListQueueTags", e))?;
            Ok(out
                .tags()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<BTreeMap<String, String>>())
        })
        .await?;
    Ok((*tags).clone())
}

/// Attributes of a queue, or `None` if it is gone (shared while planning: the queue's policy
/// asks for all of them too, so one call serves both).
pub(crate) async fn queue_attributes(
    ctx: &Ctx,
    resource: &str,
    url: &str,
    names: &[QueueAttributeName],
) -> Result<Option<HashMap<QueueAttributeName, String>>, Error> {
    let key = format!(
        "{url} {}",
        names
            .iter()
            .map(|n| n.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    let attrs = ctx
        .aws
        .reads
        .get("SQS.GetQueueAttributes", &key, || async {
            match ctx
                .aws
                .sqs
                .get_queue_attributes()
                .queue_url(url)
                .set_attribute_names(Some(names.to_vec()))
                .send()
                .await
            {
                Ok(out) => Ok(Some(out.attributes().cloned().unwrap_or_default())),
                Err(e) => {
                    let err = Error::aws(resource, "GetQueueAttributes", e);
                    if is_missing_queue(&err) {
                        Ok(None)
                    } else {
                        Err(err)
                    }
                }
            }
        })
        .await?;
    Ok((*attrs).clone())
}

/// Physical queue name from its URL (`https://sqs.<region>.amazonaws.com/<account>/<name>`).
pub(crate) fn name_from_url(url: &str) -> &str {
    url.trim_end_matches('/').rsplit('/').next().unwrap_or(url)
}

/// URLs of the queues named `<stack>-*` (ListQueues, every page).
async fn stack_queue_urls(ctx: &Ctx, resource: &str) -> Result<std::sync::Arc<Vec<String>>, Error> {
    let prefix = format!("{}-", ctx.spec.stack);
    ctx.aws
        .reads
        .get("SQS.ListQueues", &prefix, || async {
            let mut urls = Vec::new();
            let mut token: Option<String> = None;
            loop {
                // MaxResults is what makes ListQueues paginate (and return more than 1000 at all).
                let out = ctx
                    .aws
                    .sqs
                    .list_queues()
                    .queue_name_prefix(&prefix)
                    .max_results(1000)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| Error::aws(resource, "ListQueues", e))?;
                urls.extend(out.queue_urls().iter().cloned());
                match out.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_string()),
                    _ => break,
                }
            }
            Ok(urls)
        })
        .await
}

/// Queues named `<stack>-*` that carry this stack's ownership tag: (physical name, URL).
pub(crate) async fn owned_queues(
    ctx: &Ctx,
    resource: &str,
) -> Result<Vec<(String, String)>, Error> {
    let mut owned = Vec::new();
    for url in stack_queue_urls(ctx, resource).await?.iter() {
        // Deleted between the listing and now: nothing to discover.
        let Some(tags) = absent_as_none(queue_tags(ctx, resource, url).await, MISSING_QUEUE)?
        else {
            continue;
        };
        if ctx.is_owned(&tags) {
            owned.push((name_from_url(url).to_string(), url.clone()));
        }
    }
    Ok(owned)
}

fn resource(name: &str) -> String {
    format!("{}.{name}", Kind::Queue)
}

/// SQS attribute name of a managed prop.
fn attribute_name(prop: &str) -> Option<QueueAttributeName> {
    match prop {
        "visibility_timeout" => Some(QueueAttributeName::VisibilityTimeout),
        "message_retention_period" => Some(QueueAttributeName::MessageRetentionPeriod),
        "sqs_managed_sse" => Some(QueueAttributeName::SqsManagedSseEnabled),
        "redrive_policy" => Some(QueueAttributeName::RedrivePolicy),
        _ => None,
    }
}

/// SQS attribute value (always a string) of a managed prop value.
fn attribute_value(prop: &str, value: &Value) -> String {
    match (prop, value) {
        // An empty RedrivePolicy removes the dead-letter queue.
        ("redrive_policy", Value::Null) => String::new(),
        ("redrive_policy", v) => v.to_string(),
        (_, Value::String(s)) => s.clone(),
        (_, v) => v.to_string(),
    }
}

/// A numeric attribute as a JSON number (kept as the raw string if SQS sent something odd, so it
/// shows up as a difference rather than an error).
fn number(raw: Option<&String>) -> Value {
    match raw {
        Some(s) => s
            .parse::<u64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(s.clone())),
        None => Value::Null,
    }
}

/// RedrivePolicy as `{deadLetterTargetArn, maxReceiveCount}` with a numeric count (SQS has
/// returned the count both as a number and as a string).
fn redrive_value(raw: Option<&String>) -> Value {
    let Some(raw) = raw.filter(|s| !s.is_empty()) else {
        return Value::Null;
    };
    let Ok(parsed) = serde_json::from_str::<Value>(raw) else {
        return Value::String(raw.clone());
    };
    let count = match parsed.get("maxReceiveCount") {
        Some(Value::String(s)) => s.parse::<u64>().map(Value::from).unwrap_or(Value::Null),
        Some(v) => v.clone(),
        None => Value::Null,
    };
    json!({
        "deadLetterTargetArn": parsed.get("deadLetterTargetArn").cloned().unwrap_or(Value::Null),
        "maxReceiveCount": count,
    })
}

/// Managed props from the attributes GetQueueAttributes returned.
fn live_props(attrs: &HashMap<QueueAttributeName, String>) -> BTreeMap<String, Value> {
    let sse = attrs
        .get(&QueueAttributeName::SqsManagedSseEnabled)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    BTreeMap::from([
        (
            "visibility_timeout".into(),
            number(attrs.get(&QueueAttributeName::VisibilityTimeout)),
        ),
        (
            "message_retention_period".into(),
            number(attrs.get(&QueueAttributeName::MessageRetentionPeriod)),
        ),
        ("sqs_managed_sse".into(), Value::Bool(sse)),
        (
            "redrive_policy".into(),
            redrive_value(attrs.get(&QueueAttributeName::RedrivePolicy)),
        ),
    ])
}

fn outputs(physical: &str, arn: &str, url: &str) -> Outputs {
    Outputs::from([
        ("name".to_string(), physical.to_string()),
        ("arn".to_string(), arn.to_string()),
        ("url".to_string(), url.to_string()),
    ])
}

#[async_trait]
impl Provider for QueueProvider {
    fn kind(&self) -> Kind {
        Kind::Queue
    }

    fn dependencies(&self, spec: &Spec, name: &str) -> Vec<ResourceId> {
        spec.queues
            .get(name)
            .and_then(|q| q.dead_letter.as_ref())
            .map(|d| vec![ResourceId::new(Kind::Queue, d.queue.clone())])
            .unwrap_or_default()
    }

    fn desired(&self, ctx: &Ctx, name: &str, known: &Known) -> Props {
        let Some(q) = ctx.spec.queues.get(name) else {
            return Props::new();
        };
        let redrive = match &q.dead_letter {
            None => Prop::Known(Value::Null),
            Some(d) => match output(known, &ResourceId::new(Kind::Queue, d.queue.clone()), "arn") {
                Prop::Known(arn) => Prop::Known(json!({
                    "deadLetterTargetArn": arn,
                    "maxReceiveCount": d.max_receive_count,
                })),
                Prop::Unknown => Prop::Unknown,
            },
        };
        Props::from([
            (
                "visibility_timeout".into(),
                q.visibility_timeout_secs.into(),
            ),
            ("message_retention_period".into(), q.retention_secs.into()),
            (
                "sqs_managed_sse".into(),
                (q.encryption == QueueEncryption::SqsManaged).into(),
            ),
            ("redrive_policy".into(), redrive),
            ("tags".into(), desired_tags(ctx).into()),
        ])
    }

    async fn read(&self, ctx: &Ctx, name: &str) -> Result<Option<Live>, Error> {
        let res = resource(name);
        let physical = ctx.physical_name(name);
        let Some(url) = queue_url(ctx, &res, &physical).await? else {
            return Ok(None);
        };
        let Some(attrs) = queue_attributes(ctx, &res, &url, &[QueueAttributeName::All]).await?
        else {
            return Ok(None);
        };
        let arn = attrs
            .get(&QueueAttributeName::QueueArn)
            .cloned()
            .ok_or_else(|| {
                Error::Other(format!("{res}: GetQueueAttributes returned no QueueArn"))
            })?;
        let Some(tags) = absent_as_none(queue_tags(ctx, &res, &url).await, MISSING_QUEUE)? else {
            return Ok(None);
        };
        let mut props = live_props(&attrs);
        props.insert("tags".into(), live_managed_tags(ctx, &tags));
        Ok(Some(Live {
            props,
            outputs: outputs(&physical, &arn, &url),
            owned: ctx.is_owned(&tags),
        }))
    }

    async fn create(&self, ctx: &Ctx, name: &str, known: &Known) -> Result<Outputs, Error> {
        let res = resource(name);
        let physical = ctx.physical_name(name);
        declared(&ctx.spec.queues, name)?;
        let desired = self.desired(ctx, name, known);
        let mut attributes = HashMap::new();
        for (prop, value) in &desired {
            let Some(attr) = attribute_name(prop) else {
                continue;
            };
            let Prop::Known(value) = value else {
                return Err(Error::Other(format!(
                    "{res}: attribute `{prop}` is still unknown at create time"
                )));
            };
            // No redrive policy: leave the attribute out rather than sending an empty one.
            if !value.is_null() {
                attributes.insert(attr, attribute_value(prop, value));
            }
        }
        let tags: HashMap<String, String> = ctx.tags().into_iter().collect();
        let url = retry(DELETED_RECENTLY, is_deleted_recently, || {
            let request = ctx
                .aws
                .sqs
                .create_queue()
                .queue_name(&physical)
                .set_attributes(Some(attributes.clone()))
                .set_tags(Some(tags.clone()));
            let res = &res;
            async move {
                let out = request
                    .send()
                    .await
                    .map_err(|e| Error::aws(res, "CreateQueue", e))?;
                out.queue_url()
                    .map(str::to_string)
                    .ok_or_else(|| Error::Other(format!("{res}: CreateQueue returned no URL")))
            }
        })
        .await?;
        let attrs = retry(JUST_CREATED, is_missing_queue, || async {
            queue_attributes(ctx, &res, &url, &[QueueAttributeName::QueueArn])
                .await?
                .ok_or_else(|| Error::Aws {
                    resource: res.clone(),
                    action: "GetQueueAttributes".into(),
                    code: Some("QueueDoesNotExist".into()),
                    message: "the queue just created is not visible yet".into(),
                })
        })
        .await?;
        let arn = attrs.get(&QueueAttributeName::QueueArn).ok_or_else(|| {
            Error::Other(format!("{res}: GetQueueAttributes returned no QueueArn"))
        })?;
        Ok(outputs(&physical, arn, &url))
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
        let url = live.output(&res, "url", "URL")?;
        let mut attributes = HashMap::new();
        for change in changes {
            let value = known_value(&res, change)?;
            if let Some(attr) = attribute_name(&change.attribute) {
                attributes.insert(attr, attribute_value(&change.attribute, value));
                continue;
            }
            match change.attribute.as_str() {
                "tags" => {
                    let set = tags_to_set(value, change.old.as_ref());
                    if !set.is_empty() {
                        ctx.aws
                            .sqs
                            .tag_queue()
                            .queue_url(url)
                            .set_tags(Some(set.into_iter().collect()))
                            .send()
                            .await
                            .map_err(|e| Error::aws(&res, "TagQueue", e))?;
                    }
                }
                other => return Err(unknown_attribute(&res, other)),
            }
        }
        if !attributes.is_empty() {
            ctx.aws
                .sqs
                .set_queue_attributes()
                .queue_url(url)
                .set_attributes(Some(attributes))
                .send()
                .await
                .map_err(|e| Error::aws(&res, "SetQueueAttributes", e))?;
        }
        Ok(live.outputs.clone())
    }

    async fn discover(&self, ctx: &Ctx) -> Result<Vec<Discovered>, Error> {
        let res = format!("{}.*", Kind::Queue);
        Ok(owned_queues(ctx, &res)
            .await?
            .into_iter()
            .filter_map(|(physical, url)| {
                let logical = ctx.logical_name(&physical)?.to_string();
                Some(Discovered {
                    id: ResourceId::new(Kind::Queue, logical),
                    physical,
                    handle: url,
                })
            })
            .collect())
    }

    /// SQS documents that a deletion takes up to 60 s, during which the queue can still answer
    /// by name and by URL: gone once neither GetQueueUrl (what `read` starts with) nor
    /// GetQueueAttributes on the deleted URL finds it. Called after planning, so these
    /// helpers ask AWS, never the plan's shared reads.
    async fn still_visible(&self, ctx: &Ctx, target: &Discovered) -> Result<bool, Error> {
        let res = target.id.to_string();
        if queue_url(ctx, &res, &target.physical).await?.is_some() {
            return Ok(true);
        }
        let arn = [QueueAttributeName::QueueArn];
        Ok(queue_attributes(ctx, &res, &target.handle, &arn)
            .await?
            .is_some())
    }

    async fn delete(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
        let res = target.id.to_string();
        match ctx
            .aws
            .sqs
            .delete_queue()
            .queue_url(&target.handle)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = Error::aws(&res, "DeleteQueue", e);
                if is_missing_queue(&err) {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(QueueAttributeName, &str)]) -> HashMap<QueueAttributeName, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect()
    }

    #[test]
    fn live_attributes_are_normalised_to_json_types() {
        let props = live_props(&attrs(&[
            (QueueAttributeName::VisibilityTimeout, "60"),
            (QueueAttributeName::MessageRetentionPeriod, "1209600"),
            (QueueAttributeName::SqsManagedSseEnabled, "true"),
            (
                QueueAttributeName::RedrivePolicy,
                r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:shop-dlq","maxReceiveCount":"5"}"#,
            ),
        ]));
        assert_eq!(props["visibility_timeout"], json!(60));
        assert_eq!(props["message_retention_period"], json!(1209600));
        assert_eq!(props["sqs_managed_sse"], json!(true));
        assert_eq!(
            props["redrive_policy"],
            json!({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:1:shop-dlq", "maxReceiveCount": 5})
        );
    }

    #[test]
    fn absent_attributes_mean_off() {
        let props = live_props(&attrs(&[(QueueAttributeName::RedrivePolicy, "")]));
        assert_eq!(props["sqs_managed_sse"], json!(false));
        assert_eq!(props["redrive_policy"], Value::Null);
        assert_eq!(props["visibility_timeout"], Value::Null);
    }

    #[test]
    fn numeric_redrive_count_is_accepted_too() {
        let raw = r#"{"maxReceiveCount":3,"deadLetterTargetArn":"arn:x"}"#.to_string();
        assert_eq!(
            redrive_value(Some(&raw)),
            json!({"deadLetterTargetArn": "arn:x", "maxReceiveCount": 3})
        );
    }

    #[test]
    fn attribute_values_are_sqs_strings() {
        assert_eq!(attribute_value("visibility_timeout", &json!(30)), "30");
        assert_eq!(attribute_value("sqs_managed_sse", &json!(false)), "false");
        assert_eq!(attribute_value("redrive_policy", &Value::Null), "");
        let redrive = json!({"deadLetterTargetArn": "arn:x", "maxReceiveCount": 3});
        let written: Value =
            serde_json::from_str(&attribute_value("redrive_policy", &redrive)).unwrap();
        assert_eq!(written, redrive);
    }

    #[test]
    fn queue_name_is_the_last_url_segment() {
        assert_eq!(
            name_from_url("https://sqs.us-east-1.amazonaws.com/123456789012/shop-orders"),
            "shop-orders"
        );
        assert_eq!(
            name_from_url("http://127.0.0.1:4566/000000000000/shop-dlq/"),
            "shop-dlq"
        );
    }
}
