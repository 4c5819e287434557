//! Provider of CloudWatch metric alarm `<stack>-<alarm>`.
//!
//! PutMetricAlarm creates or replaces a whole alarm and ignores `Tags` on an existing one, so an
//! update puts the definition again and changes tags with TagResource. An alarm of that name the
//! stack does not own is found by `read` first and refused by the plan, never overwritten.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, MetricAlarm, Statistic, Tag};
use serde_json::{json, Value};

use super::Alarm;
use crate::error::Error;
use crate::kinds::api::provider::STAGE;
use crate::kinds::{declared, Section};
use crate::resources::tags::{desired_tags, live_managed_tags, tags_to_set};
use crate::resources::{
    known_value, output, text_value, unknown_attribute, Change, Ctx, Discovered, Kind, Known, Live,
    Outputs, Prop, Props, Provider, ResourceId,
};
use crate::spec::Spec;

pub struct AlarmProvider;

/// Missing data (no messages, no invocations) is not a failure.
const TREAT_MISSING_DATA: &str = "notBreaching";

fn resource(name: &str) -> String {
    format!("{}.{name}", Kind::Alarm)
}

fn watched_id(a: &Alarm) -> ResourceId {
    let kind = match a.watched.section {
        Section::Function => Kind::Function,
        Section::Api => Kind::Api,
        _ => Kind::Queue,
    };
    ResourceId::new(kind, &a.watched.name)
}

/// The metric's dimensions; unknown until the API exists (its id names it).
fn dimensions(ctx: &Ctx, a: &Alarm, known: &Known) -> Prop {
    let physical = ctx.physical_name(&a.watched.name);
    match a.watched.section {
        Section::Queue => json!({ "QueueName": physical }).into(),
        Section::Function => json!({ "FunctionName": physical }).into(),
        _ => match output(known, &watched_id(a), "id") {
            Prop::Known(Value::String(id)) => json!({ "ApiId": id, "Stage": STAGE }).into(),
            _ => Prop::Unknown,
        },
    }
}

/// Alarm and OK actions: the notified topic's ARN, once it exists.
fn actions(a: &Alarm, known: &Known) -> Prop {
    match &a.notify {
        None => json!([]).into(),
        Some(topic) => match output(known, &ResourceId::new(Kind::Topic, topic), "arn") {
            Prop::Known(arn) => json!([arn]).into(),
            Prop::Unknown => Prop::Unknown,
        },
    }
}

/// The stack's alarms (DescribeAlarms by the `<stack>-` prefix, every page), shared while
/// planning by every alarm's read and the discovery.
pub(crate) async fn stack_alarms(ctx: &Ctx, res: &str) -> Result<Arc<Vec<MetricAlarm>>, Error> {
    let prefix = format!("{}-", ctx.spec.stack);
    ctx.aws
        .reads
        .get("CloudWatch.DescribeAlarms", &prefix, || async {
            let mut all = Vec::new();
            let mut pages = ctx
                .aws
                .cloudwatch
                .describe_alarms()
                .alarm_name_prefix(&prefix)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| Error::aws(res, "DescribeAlarms", e))?;
                all.extend(page.metric_alarms().iter().cloned());
            }
            Ok(all)
        })
        .await
}

async fn alarm_tags(ctx: &Ctx, res: &str, arn: &str) -> Result<BTreeMap<String, String>, Error> {
    if let Some(tags) = crate::resources::tag_index::tags_of(ctx, arn).await {
        return Ok(tags);
    }
    let tags = ctx
        .aws
        .reads
        .get("CloudWatch.ListTagsForResource", arn, || async {
            let out = ctx
                .aws
                .cloudwatch
                .list_tags_for_resource()
                .resource_arn(arn)
                .send()
                .await
                .map_err(|e| Error::aws(res, "ListTagsForResource", e))?;
            Ok(out
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect::<BTreeMap<String, String>>())
        })
        .await?;
    Ok((*tags).clone())
}

fn cloudwatch_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn outputs(physical: &str, arn: &str) -> Outputs {
    Outputs::from([
        ("name".to_string(), physical.to_string()),
        ("arn".to_string(), arn.to_string()),
    ])
}

/// PutMetricAlarm with the declared definition (creating or replacing it).
async fn put(ctx: &Ctx, name: &str, known: &Known, with_tags: bool) -> Result<(), Error> {
    let res = resource(name);
    let a = declared(&ctx.spec.alarms, name)?;
    let (namespace, metric, statistic) = a.metric.cloudwatch();
    let Prop::Known(Value::Object(dims)) = dimensions(ctx, a, known) else {
        return Err(Error::Other(format!(
            "{res}: the watched {} does not exist yet",
            watched_id(a)
        )));
    };
    let Prop::Known(Value::Array(arns)) = actions(a, known) else {
        return Err(Error::Other(format!(
            "{res}: the notified topic does not exist yet"
        )));
    };
    let arns: Vec<String> = arns
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let mut put = ctx
        .aws
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(ctx.physical_name(name))
        .set_alarm_description(a.description.clone())
        .namespace(namespace)
        .metric_name(metric)
        .statistic(Statistic::from(statistic))
        .period(a.period_secs as i32)
        .evaluation_periods(a.evaluation_periods as i32)
        .threshold(f64::from(a.threshold))
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .treat_missing_data(TREAT_MISSING_DATA)
        .actions_enabled(true)
        .set_alarm_actions(Some(arns.clone()))
        .set_ok_actions(Some(arns));
    for (k, v) in &dims {
        put = put.dimensions(
            Dimension::builder()
                .name(k)
                .value(v.as_str().unwrap_or_default())
                .build(),
        );
    }
    if with_tags {
        put = put.set_tags(Some(cloudwatch_tags(&ctx.tags())));
    }
    put.send()
        .await
        .map_err(|e| Error::aws(&res, "PutMetricAlarm", e))?;
    Ok(())
}

#[async_trait]
impl Provider for AlarmProvider {
    fn kind(&self) -> Kind {
        Kind::Alarm
    }

    fn dependencies(&self, spec: &Spec, name: &str) -> Vec<ResourceId> {
        let Some(a) = spec.alarms.get(name) else {
            return Vec::new();
        };
        let mut deps = vec![watched_id(a)];
        if let Some(topic) = &a.notify {
            deps.push(ResourceId::new(Kind::Topic, topic));
        }
        deps
    }

    fn desired(&self, ctx: &Ctx, name: &str, known: &Known) -> Props {
        let Some(a) = ctx.spec.alarms.get(name) else {
            return Props::new();
        };
        let (namespace, metric, statistic) = a.metric.cloudwatch();
        Props::from([
            (
                "description".into(),
                text_value(a.description.as_deref()).into(),
            ),
            ("namespace".into(), namespace.into()),
            ("metric_name".into(), metric.into()),
            ("statistic".into(), statistic.into()),
            ("dimensions".into(), dimensions(ctx, a, known)),
            ("period".into(), json!(a.period_secs).into()),
            (
                "evaluation_periods".into(),
                json!(a.evaluation_periods).into(),
            ),
            ("threshold".into(), json!(f64::from(a.threshold)).into()),
            ("comparison".into(), "GreaterThanOrEqualToThreshold".into()),
            ("treat_missing_data".into(), TREAT_MISSING_DATA.into()),
            ("actions".into(), actions(a, known)),
            ("tags".into(), desired_tags(ctx).into()),
        ])
    }

    async fn read(&self, ctx: &Ctx, name: &str) -> Result<Option<Live>, Error> {
        let res = resource(name);
        let physical = ctx.physical_name(name);
        let alarms = stack_alarms(ctx, &res).await?;
        let Some(a) = alarms
            .iter()
            .find(|a| a.alarm_name() == Some(physical.as_str()))
        else {
            return Ok(None);
        };
        let arn = a.alarm_arn().unwrap_or_default().to_string();
        let tags = alarm_tags(ctx, &res, &arn).await?;
        let dims: serde_json::Map<String, Value> = a
            .dimensions()
            .iter()
            .filter_map(|d| Some((d.name()?.to_string(), json!(d.value()?))))
            .collect();
        let ok: Vec<&str> = a.ok_actions().iter().map(String::as_str).collect();
        let alarm: Vec<&str> = a.alarm_actions().iter().map(String::as_str).collect();
        // One list stands for both: a differing OK list shows as a change too.
        let actions = if ok == alarm {
            json!(alarm)
        } else {
            json!({ "alarm": alarm, "ok": ok })
        };
        Ok(Some(Live {
            props: BTreeMap::from([
                ("description".into(), text_value(a.alarm_description())),
                ("namespace".into(), json!(a.namespace())),
                ("metric_name".into(), json!(a.metric_name())),
                ("statistic".into(), json!(a.statistic().map(|s| s.as_str()))),
                ("dimensions".into(), Value::Object(dims)),
                ("period".into(), json!(a.period())),
                ("evaluation_periods".into(), json!(a.evaluation_periods())),
                ("threshold".into(), json!(a.threshold())),
                (
                    "comparison".into(),
                    json!(a.comparison_operator().map(|c| c.as_str())),
                ),
                ("treat_missing_data".into(), json!(a.treat_missing_data())),
                ("actions".into(), actions),
                ("tags".into(), live_managed_tags(ctx, &tags)),
            ]),
            outputs: outputs(&physical, &arn),
            owned: ctx.is_owned(&tags),
        }))
    }

    async fn create(&self, ctx: &Ctx, name: &str, known: &Known) -> Result<Outputs, Error> {
        put(ctx, name, known, true).await?;
        let physical = ctx.physical_name(name);
        let (partition, account) = ctx.partition_and_account(&resource(name)).await?;
        let arn = format!(
            "arn:{partition}:cloudwatch:{}:{account}:alarm:{physical}",
            ctx.region
        );
        Ok(outputs(&physical, &arn))
    }

    async fn update(
        &self,
        ctx: &Ctx,
        name: &str,
        known: &Known,
        live: &Live,
        changes: &[Change],
    ) -> Result<Outputs, Error> {
        let res = resource(name);
        let arn = live.output(&res, "arn", "ARN")?;
        if changes.iter().any(|c| c.attribute != "tags") {
            put(ctx, name, known, false).await?;
        }
        for change in changes {
            match change.attribute.as_str() {
                "tags" => {
                    let set = tags_to_set(known_value(&res, change)?, change.old.as_ref());
                    if !set.is_empty() {
                        ctx.aws
                            .cloudwatch
                            .tag_resource()
                            .resource_arn(arn)
                            .set_tags(Some(cloudwatch_tags(&set)))
                            .send()
                            .await
                            .map_err(|e| Error::aws(&res, "TagResource", e))?;
                    }
                }
                "description" | "namespace" | "metric_name" | "statistic" | "dimensions"
                | "period" | "evaluation_periods" | "threshold" | "comparison"
                | "treat_missing_data" | "actions" => {}
                other => return Err(unknown_attribute(&res, other)),
            }
        }
        Ok(live.outputs.clone())
    }

    async fn discover(&self, ctx: &Ctx) -> Result<Vec<Discovered>, Error> {
        let res = format!("{}.*", Kind::Alarm);
        let mut found = Vec::new();
        for a in stack_alarms(ctx, &res).await?.iter() {
            let (Some(physical), Some(arn)) = (a.alarm_name(), a.alarm_arn()) else {
                continue;
            };
            let Some(logical) = ctx.logical_name(physical) else {
                continue;
            };
            if ctx.is_owned(&alarm_tags(ctx, &resource(logical), arn).await?) {
                found.push(Discovered {
                    id: ResourceId::new(Kind::Alarm, logical),
                    physical: physical.to_string(),
                    handle: physical.to_string(),
                });
            }
        }
        Ok(found)
    }

    async fn delete(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
        // DeleteAlarms succeeds for a name that does not exist: repeating it is harmless.
        ctx.aws
            .cloudwatch
            .delete_alarms()
            .alarm_names(&target.handle)
            .send()
            .await
            .map_err(|e| Error::aws(target.id.to_string(), "DeleteAlarms", e))?;
        Ok(())
    }

    /// Gone once DescribeAlarms no longer lists it.
    async fn still_visible(&self, ctx: &Ctx, target: &Discovered) -> Result<bool, Error> {
        let out = ctx
            .aws
            .cloudwatch
            .describe_alarms()
            .alarm_names(&target.handle)
            .send()
            .await
            .map_err(|e| Error::aws(target.id.to_string(), "DescribeAlarms", e))?;
        Ok(!out.metric_alarms().is_empty())
    }
}
