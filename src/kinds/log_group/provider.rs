//! Provider of a function's log group `/aws/lambda/<stack>-<function>`: created tagged, with
//! the function's `log_retention`; retention and tags updated in place; deleted when owned.
//!
//! Reads while planning come from one DescribeLogGroups with the stack's prefix
//! (`/aws/lambda/<stack>-`, 50 groups a page), shared by every group's read and by discovery;
//! tags from the tag index when it lists the group (AWS's tagging API covers log groups), else
//! from ListTagsForResource.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::types::LogGroup;
use serde_json::{json, Value};

use super::log_group_name;
use crate::error::Error;
use crate::resources::tags::{desired_tags, live_managed_tags, tag_changes};
use crate::resources::{
    absent_as_none, known_value, unknown_attribute, Change, Ctx, Discovered, Kind, Known, Live,
    Outputs, Prop, Props, Provider, ResourceId,
};
use crate::retry::{retry, Backoff};
use crate::spec::model::OWNERSHIP_TAG;
use crate::spec::Spec;

pub struct LogGroupProvider;

/// CloudWatch Logs' answer for a log group that does not exist.
const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

/// A group just created may not be visible to the next call at once on a busy control plane.
const CREATED_VISIBLE: Backoff = Backoff::new(250, 2_000, 20);

fn rid(name: &str) -> ResourceId {
    ResourceId::new(Kind::LogGroup, name)
}

fn is_not_found(e: &Error) -> bool {
    e.code().is_some_and(|c| NOT_FOUND.contains(&c))
}

/// Every log group of the stack's functions starts with this.
fn stack_prefix(stack: &str) -> String {
    log_group_name(stack, "")
}

/// The ARN the tagging APIs take: DescribeLogGroups' `arn` ends in `:*` (the group's streams),
/// `logGroupArn` does not.
fn group_arn(g: &LogGroup) -> Option<String> {
    g.log_group_arn().map(str::to_string).or_else(|| {
        g.arn()
            .map(|a| a.strip_suffix(":*").unwrap_or(a).to_string())
    })
}

fn outputs(physical: &str, arn: &str) -> Outputs {
    Outputs::from([
        ("name".to_string(), physical.to_string()),
        ("arn".to_string(), arn.to_string()),
    ])
}

/// Log groups whose name starts with `prefix` (DescribeLogGroups, every page).
async fn describe(ctx: &Ctx, resource: &str, prefix: &str) -> Result<Vec<LogGroup>, Error> {
    let mut groups = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = ctx
            .aws
            .logs
            .describe_log_groups()
            .log_group_name_prefix(prefix)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| Error::aws(resource, "DescribeLogGroups", e))?;
        groups.extend(out.log_groups().iter().cloned());
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(groups),
        }
    }
}

/// The log groups of the stack's functions, shared while planning by every group's read and by
/// discovery; outside planning, read afresh.
async fn stack_groups(ctx: &Ctx) -> Result<Arc<Vec<LogGroup>>, Error> {
    let prefix = stack_prefix(&ctx.spec.stack);
    ctx.aws
        .reads
        .get("Logs.DescribeLogGroups", &prefix, || {
            describe(ctx, "log groups", &prefix)
        })
        .await
}

/// One log group by name; `None` when it does not exist. CloudWatch Logs has no call for one
/// group: outside planning, a DescribeLogGroups with its name as the prefix.
async fn find_group(ctx: &Ctx, id: &ResourceId, physical: &str) -> Result<Option<LogGroup>, Error> {
    let named = |g: &&LogGroup| g.log_group_name() == Some(physical);
    if ctx.aws.reads.is_planning() {
        return Ok(stack_groups(ctx).await?.iter().find(named).cloned());
    }
    Ok(describe(ctx, &id.to_string(), physical)
        .await?
        .iter()
        .find(named)
        .cloned())
}

/// A group's tags: from the tag index if it lists the group, else ListTagsForResource (shared
/// while planning by the read and discovery). `None`: the group is gone.
async fn group_tags(
    ctx: &Ctx,
    resource: &str,
    arn: &str,
) -> Result<Option<BTreeMap<String, String>>, Error> {
    // The tagging API names a log group without the streams' `:*`; either form is accepted.
    for listed in [arn.to_string(), format!("{arn}:*")] {
        if let Some(tags) = crate::resources::tag_index::tags_of(ctx, &listed).await {
            return Ok(Some(tags));
        }
    }
    let tags = ctx
        .aws
        .reads
        .get("Logs.ListTagsForResource", arn, || async {
            let listed = ctx
                .aws
                .logs
                .list_tags_for_resource()
                .resource_arn(arn)
                .send()
                .await
                .map_err(|e| Error::aws(resource, "ListTagsForResource", e));
            Ok(absent_as_none(listed, NOT_FOUND)?.map(|out| {
                out.tags()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<BTreeMap<String, String>>()
            }))
        })
        .await?;
    Ok((*tags).clone())
}

/// May this stack take over the group `name` although it does not carry the ownership tag? Only
/// when the function says so, and never a group another stack owns.
fn adoptable(ctx: &Ctx, name: &str, tags: &BTreeMap<String, String>) -> bool {
    ctx.spec
        .functions
        .get(name)
        .is_some_and(|f| f.adopt_log_group)
        && !tags.contains_key(OWNERSHIP_TAG)
}

impl LogGroupProvider {
    async fn put_retention(
        ctx: &Ctx,
        id: &ResourceId,
        physical: &str,
        days: i32,
    ) -> Result<(), Error> {
        retry(CREATED_VISIBLE, is_not_found, || async {
            ctx.aws
                .logs
                .put_retention_policy()
                .log_group_name(physical)
                .retention_in_days(days)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| Error::aws(id, "PutRetentionPolicy", e))
        })
        .await
    }

    fn retention(ctx: &Ctx, id: &ResourceId) -> Result<i32, Error> {
        let f = crate::kinds::declared(&ctx.spec.functions, &id.name)?;
        i32::try_from(f.log_retention_days)
            .map_err(|_| Error::Other(format!("{id}: retention out of range")))
    }
}

#[async_trait]
impl Provider for LogGroupProvider {
    fn kind(&self) -> Kind {
        Kind::LogGroup
    }

    fn dependencies(&self, _spec: &Spec, _name: &str) -> Vec<ResourceId> {
        Vec::new()
    }

    fn desired(&self, ctx: &Ctx, name: &str, _known: &Known) -> Props {
        let retention = ctx
            .spec
            .functions
            .get(name)
            .map_or(Value::Null, |f| json!(f.log_retention_days));
        Props::from([
            ("retention_in_days".to_string(), Prop::Known(retention)),
            ("tags".to_string(), Prop::Known(desired_tags(ctx))),
        ])
    }

    async fn read(&self, ctx: &Ctx, name: &str) -> Result<Option<Live>, Error> {
        let id = rid(name);
        let physical = self.display_name(ctx, name);
        let Some(group) = find_group(ctx, &id, &physical).await? else {
            return Ok(None);
        };
        let arn = group_arn(&group)
            .ok_or_else(|| Error::Other(format!("{id}: DescribeLogGroups returned no ARN")))?;
        let Some(tags) = group_tags(ctx, &id.to_string(), &arn).await? else {
            return Ok(None);
        };
        let props = BTreeMap::from([
            (
                "retention_in_days".to_string(),
                json!(group.retention_in_days()),
            ),
            ("tags".to_string(), live_managed_tags(ctx, &tags)),
        ]);
        Ok(Some(Live {
            props,
            outputs: outputs(&physical, &arn),
            // An adoptable group plans as an update that tags it and sets its retention.
            owned: ctx.is_owned(&tags) || adoptable(ctx, name, &tags),
        }))
    }

    async fn create(&self, ctx: &Ctx, name: &str, _known: &Known) -> Result<Outputs, Error> {
        let id = rid(name);
        let physical = self.display_name(ctx, name);
        let days = Self::retention(ctx, &id)?;
        ctx.aws
            .logs
            .create_log_group()
            .log_group_name(&physical)
            .set_tags(Some(ctx.tags().into_iter().collect()))
            .send()
            .await
            .map_err(|e| Error::aws(&id, "CreateLogGroup", e))?;
        // Until this is set the group keeps events forever; a failure here leaves an owned
        // group whose retention the next `up` sets.
        Self::put_retention(ctx, &id, &physical, days).await?;
        let (partition, account) = ctx.partition_and_account(&id.to_string()).await?;
        let arn = format!(
            "arn:{partition}:logs:{}:{account}:log-group:{physical}",
            ctx.region
        );
        Ok(outputs(&physical, &arn))
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
        let resource = id.to_string();
        let physical = self.display_name(ctx, name);
        let arn = live.output(&resource, "arn", "ARN")?.clone();
        for change in changes {
            match change.attribute.as_str() {
                "retention_in_days" => {
                    let days = known_value(&resource, change)?
                        .as_i64()
                        .and_then(|d| i32::try_from(d).ok())
                        .ok_or_else(|| {
                            Error::Other(format!("{id}: retention is not a number of days"))
                        })?;
                    Self::put_retention(ctx, &id, &physical, days).await?;
                }
                "tags" => {
                    let (set, remove) = tag_changes(live.props.get("tags"), &ctx.tags());
                    if !set.is_empty() {
                        ctx.aws
                            .logs
                            .tag_resource()
                            .resource_arn(&arn)
                            .set_tags(Some(set.into_iter().collect()))
                            .send()
                            .await
                            .map_err(|e| Error::aws(&id, "TagResource", e))?;
                    }
                    if !remove.is_empty() {
                        ctx.aws
                            .logs
                            .untag_resource()
                            .resource_arn(&arn)
                            .set_tag_keys(Some(remove))
                            .send()
                            .await
                            .map_err(|e| Error::aws(&id, "UntagResource", e))?;
                    }
                }
                other => return Err(unknown_attribute(&resource, other)),
            }
        }
        Ok(outputs(&physical, &arn))
    }

    async fn discover(&self, ctx: &Ctx) -> Result<Vec<Discovered>, Error> {
        let prefix = stack_prefix(&ctx.spec.stack);
        let mut found = Vec::new();
        for group in stack_groups(ctx).await?.iter() {
            let Some(physical) = group.log_group_name() else {
                continue;
            };
            // The prefix of stack `shop` also lists stack `shop-dev`'s groups: the ownership
            // tag tells them apart.
            let Some(logical) = physical
                .strip_prefix(&prefix)
                .filter(|rest| !rest.is_empty())
            else {
                continue;
            };
            let Some(arn) = group_arn(group) else {
                continue;
            };
            let resource = rid(logical).to_string();
            let Some(tags) = group_tags(ctx, &resource, &arn).await? else {
                continue;
            };
            if ctx.is_owned(&tags) {
                found.push(Discovered {
                    id: rid(logical),
                    physical: physical.to_string(),
                    handle: physical.to_string(),
                });
            }
        }
        Ok(found)
    }

    /// Gone once DescribeLogGroups no longer lists it (asked directly: this runs after planning).
    async fn still_visible(&self, ctx: &Ctx, target: &Discovered) -> Result<bool, Error> {
        Ok(describe(ctx, &target.id.to_string(), &target.handle)
            .await?
            .iter()
            .any(|g| g.log_group_name() == Some(target.handle.as_str())))
    }

    async fn delete(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
        let deleted = ctx
            .aws
            .logs
            .delete_log_group()
            .log_group_name(&target.handle)
            .send()
            .await
            .map_err(|e| Error::aws(&target.id, "DeleteLogGroup", e));
        absent_as_none(deleted, NOT_FOUND)?;
        Ok(())
    }

    fn display_name(&self, ctx: &Ctx, name: &str) -> String {
        log_group_name(&ctx.spec.stack, name)
    }

    fn not_owned_help(&self, ctx: &Ctx, name: &str) -> Option<String> {
        let adopting = ctx
            .spec
            .functions
            .get(name)
            .is_some_and(|f| f.adopt_log_group);
        Some(if adopting {
            format!(
                "function `{name}` sets `adopt_log_group: true`, but this group carries another stack's `{OWNERSHIP_TAG}` tag: it is that stack's, and orderflow adopts only untagged groups"
            )
        } else {
            format!(
                "Lambda creates this group itself for a function that logged before orderflow managed its log group (with infinite retention). To let this stack take it over — tag it, keep its logs for `log_retention` days, delete it with `down` — set `adopt_log_group: true` on function `{name}` in pipeline.yaml; or delete the group (and its logs) yourself"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::test_support::{spec, test_ctx};
    use crate::spec::model::{Architecture, Function};

    fn function(adopt: bool) -> Function {
        Function {
            crate_name: "validate-order".into(),
            memory_mb: 128,
            timeout_secs: 3,
            architecture: Architecture::X86_64,
            environment: BTreeMap::new(),
            access: Vec::new(),
            dead_letter_queue: None,
            async_retry_attempts: None,
            log_retention_days: 30,
            adopt_log_group: adopt,
        }
    }

    fn ctx(adopt: bool) -> Ctx {
        let mut s = spec();
        s.functions.insert("validate".into(), function(adopt));
        test_ctx(s)
    }

    #[test]
    fn desired_state_is_the_declared_retention_and_the_stack_tags() {
        let ctx = ctx(false);
        let props = LogGroupProvider.desired(&ctx, "validate", &Known::new());
        assert_eq!(props["retention_in_days"], Prop::Known(json!(30)));
        assert_eq!(
            props["tags"],
            Prop::Known(json!({"orderflow:stack": "shop", "team": "orders"}))
        );
        assert_eq!(
            LogGroupProvider.display_name(&ctx, "validate"),
            "/aws/lambda/shop-validate"
        );
    }

    #[test]
    fn only_untagged_groups_of_adopting_functions_are_adoptable() {
        let untagged = BTreeMap::new();
        let foreign = BTreeMap::from([("team".to_string(), "x".to_string())]);
        let other_stack = BTreeMap::from([(OWNERSHIP_TAG.to_string(), "other".to_string())]);
        assert!(!adoptable(&ctx(false), "validate", &untagged));
        assert!(adoptable(&ctx(true), "validate", &untagged));
        assert!(adoptable(&ctx(true), "validate", &foreign));
        assert!(!adoptable(&ctx(true), "validate", &other_stack));
        assert!(!adoptable(&ctx(true), "undeclared", &untagged));
    }

    #[test]
    fn the_refusal_says_how_to_adopt() {
        let help = LogGroupProvider
            .not_owned_help(&ctx(false), "validate")
            .unwrap();
        assert!(
            help.contains("set `adopt_log_group: true` on function `validate`"),
            "{help}"
        );
        let help = LogGroupProvider
            .not_owned_help(&ctx(true), "validate")
            .unwrap();
        assert!(
            help.contains("another stack's `orderflow:stack` tag"),
            "{help}"
        );
    }

    #[test]
    fn arns_for_tagging_have_no_stream_wildcard() {
        let g = LogGroup::builder()
            .log_group_name("/aws/lambda/shop-validate")
            .arn("arn:aws:logs:us-east-1:1:log-group:/aws/lambda/shop-validate:*")
            .build();
        assert_eq!(
            group_arn(&g).unwrap(),
            "arn:aws:logs:us-east-1:1:log-group:/aws/lambda/shop-validate"
        );
        let with_arn = LogGroup::builder()
            .log_group_name("/aws/lambda/shop-validate")
            .log_group_arn("arn:aws:logs:us-east-1:2:log-group:/aws/lambda/shop-validate")
            .build();
        assert_eq!(
            group_arn(&with_arn).unwrap(),
            "arn:aws:logs:us-east-1:2:log-group:/aws/lambda/shop-validate"
        );
        assert_eq!(stack_prefix("shop"), "/aws/lambda/shop-");
    }
}
