//! Lambda resource-policy statement letting SNS invoke a function for one topic: principal
//! `sns.amazonaws.com`, action `lambda:InvokeFunction`, scoped by `AWS:SourceArn` to the topic's
//! ARN (SNS invokes subscribed functions asynchronously, under this grant).
//!
//! Logical name `<topic>/<function>`; statement id `orderflow-topic-<topic>` on the function's
//! policy (rules use `orderflow-rule-<rule>`, so the two never collide). The statement is
//! untaggable: it is this stack's when it carries our Sid prefix on a function this stack owns.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{json, Value};

use crate::error::Error;
use crate::kinds::function::provider::{is_not_found, is_update_in_progress, owned_functions};
use crate::kinds::rule::permission::statement_props;
use crate::resources::{
    output, Change, Ctx, Discovered, Kind, Known, Live, Outputs, Prop, Props, Provider, ResourceId,
};
use crate::retry::{retry, Backoff};
use crate::spec::Spec;

pub struct TopicPermissionProvider;

pub const PRINCIPAL: &str = "sns.amazonaws.com";
pub const ACTION: &str = "lambda:InvokeFunction";
pub const SID_PREFIX: &str = "orderflow-topic-";

/// Concurrent edits of one function's policy (a rule's permission, an update in progress) are
/// rejected with ResourceConflictException; they resolve within seconds.
const POLICY_CONFLICT: Backoff = Backoff::new(500, 5_000, 60);

fn rid(name: &str) -> ResourceId {
    ResourceId::new(Kind::TopicPermission, name)
}

/// Logical name of the permission letting `topic` invoke `function`.
pub fn permission_name(topic: &str, function: &str) -> String {
    format!("{topic}/{function}")
}

/// `<topic>/<function>` → (topic, function).
pub fn split_name(name: &str) -> Option<(&str, &str)> {
    name.split_once('/')
        .filter(|(t, f)| !t.is_empty() && !f.is_empty())
}

pub fn statement_id(topic: &str) -> String {
    format!("{SID_PREFIX}{topic}")
}

fn parts(name: &str) -> Result<(&str, &str), Error> {
    split_name(name).ok_or_else(|| {
        Error::Other(format!(
            "{}: topic permission names have the form <topic>/<function>",
            rid(name)
        ))
    })
}

/// The statements of a policy document as returned by GetPolicy.
fn statements(policy: &str) -> Vec<Value> {
    match serde_json::from_str::<Value>(policy) {
        Ok(doc) => match &doc["Statement"] {
            Value::Array(a) => a.clone(),
            v @ Value::Object(_) => vec![v.clone()],
            _ => Vec::new(),
        },
        Err(_) => Vec::new(),
    }
}

/// The function's policy statements; empty when the function or its policy does not exist.
async fn policy_statements(
    ctx: &Ctx,
    id: &ResourceId,
    function_physical: &str,
) -> Result<Vec<Value>, Error> {
    match ctx
        .aws
        .lambda
        .get_policy()
        .function_name(function_physical)
        .send()
        .await
    {
        Ok(out) => Ok(out.policy().map(statements).unwrap_or_default()),
        Err(e) => {
            let e = Error::aws(id, "GetPolicy", e);
            if is_not_found(&e) {
                Ok(Vec::new())
            } else {
                Err(e)
            }
        }
    }
}

async fn add(ctx: &Ctx, name: &str, known: &Known) -> Result<(), Error> {
    let id = rid(name);
    let (topic, function) = parts(name)?;
    let source_arn = match output(known, &ResourceId::new(Kind::Topic, topic), "arn") {
        Prop::Known(Value::String(arn)) => arn,
        _ => {
            return Err(Error::Other(format!(
                "{id}: the ARN of topic `{topic}` is not known yet"
            )))
        }
    };
    let function_physical = ctx.physical_name(function);
    retry(POLICY_CONFLICT, is_update_in_progress, || async {
        ctx.aws
            .lambda
            .add_permission()
            .function_name(&function_physical)
            .statement_id(statement_id(topic))
            .action(ACTION)
            .principal(PRINCIPAL)
            .source_arn(&source_arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| Error::aws(&id, "AddPermission", e))
    })
    .await
}

async fn remove(
    ctx: &Ctx,
    id: &ResourceId,
    function_physical: &str,
    sid: &str,
) -> Result<(), Error> {
    let result = retry(POLICY_CONFLICT, is_update_in_progress, || async {
        ctx.aws
            .lambda
            .remove_permission()
            .function_name(function_physical)
            .statement_id(sid)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| Error::aws(id, "RemovePermission", e))
    })
    .await;
    match result {
        Err(e) if is_not_found(&e) => Ok(()),
        other => other,
    }
}

fn outputs(ctx: &Ctx, name: &str) -> Outputs {
    let (topic, function) = split_name(name).unwrap_or((name, name));
    BTreeMap::from([(
        "name".to_string(),
        format!("{}|{}", ctx.physical_name(function), statement_id(topic)),
    )])
}

#[async_trait]
impl Provider for TopicPermissionProvider {
    fn display_name(&self, ctx: &Ctx, name: &str) -> String {
        let (topic, function) = name.split_once('/').unwrap_or((name, ""));
        format!("{}#{}", ctx.physical_name(function), statement_id(topic))
    }

    fn kind(&self) -> Kind {
        Kind::TopicPermission
    }

    fn dependencies(&self, _spec: &Spec, name: &str) -> Vec<ResourceId> {
        match split_name(name) {
            Some((topic, function)) => vec![
                ResourceId::new(Kind::Function, function),
                ResourceId::new(Kind::Topic, topic),
            ],
            None => Vec::new(),
        }
    }

    fn desired(&self, _ctx: &Ctx, name: &str, known: &Known) -> Props {
        let source_arn = match split_name(name) {
            Some((topic, _)) => output(known, &ResourceId::new(Kind::Topic, topic), "arn"),
            None => Prop::Unknown,
        };
        Props::from([
            ("principal".to_string(), Prop::from(PRINCIPAL)),
            ("action".to_string(), Prop::from(ACTION)),
            ("source_arn".to_string(), source_arn),
        ])
    }

    async fn read(&self, ctx: &Ctx, name: &str) -> Result<Option<Live>, Error> {
        let id = rid(name);
        let (topic, function) = parts(name)?;
        let sid = statement_id(topic);
        let statements = policy_statements(ctx, &id, &ctx.physical_name(function)).await?;
        Ok(statements
            .iter()
            .find(|s| s["Sid"] == json!(sid))
            .map(|s| Live {
                props: statement_props(s),
                outputs: outputs(ctx, name),
                owned: true,
            }))
    }

    async fn create(&self, ctx: &Ctx, name: &str, known: &Known) -> Result<Outputs, Error> {
        add(ctx, name, known).await?;
        Ok(outputs(ctx, name))
    }

    async fn update(
        &self,
        ctx: &Ctx,
        name: &str,
        known: &Known,
        _live: &Live,
        _changes: &[Change],
    ) -> Result<Outputs, Error> {
        // A policy statement cannot be modified in place.
        let (topic, function) = parts(name)?;
        remove(
            ctx,
            &rid(name),
            &ctx.physical_name(function),
            &statement_id(topic),
        )
        .await?;
        add(ctx, name, known).await?;
        Ok(outputs(ctx, name))
    }

    async fn discover(&self, ctx: &Ctx) -> Result<Vec<Discovered>, Error> {
        let mut found = Vec::new();
        for f in owned_functions(ctx).await? {
            let id = ResourceId::new(Kind::Function, f.logical.clone());
            for s in policy_statements(ctx, &id, &f.physical).await? {
                let Some(topic) = s["Sid"]
                    .as_str()
                    .and_then(|sid| sid.strip_prefix(SID_PREFIX))
                else {
                    continue;
                };
                if topic.is_empty() {
                    continue;
                }
                let handle = format!("{}|{}", f.physical, statement_id(topic));
                found.push(Discovered {
                    id: rid(&permission_name(topic, &f.logical)),
                    physical: handle.clone(),
                    handle,
                });
            }
        }
        Ok(found)
    }

    async fn delete(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
        let (function_physical, sid) = target.handle.split_once('|').ok_or_else(|| {
            Error::Other(format!(
                "{}: malformed handle {:?} (expected <function>|<statement id>)",
                target.id, target.handle
            ))
        })?;
        remove(ctx, &target.id, function_physical, sid).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::test_support::{spec, test_ctx};

    #[test]
    fn names_and_statement_ids() {
        assert_eq!(permission_name("notify", "audit"), "notify/audit");
        assert_eq!(split_name("notify/audit"), Some(("notify", "audit")));
        assert_eq!(split_name("notify"), None);
        assert_eq!(statement_id("notify"), "orderflow-topic-notify");
        // Never mistaken for a rule's statement, and the other way round.
        assert!(!statement_id("x").starts_with(crate::kinds::rule::permission::SID_PREFIX));
        assert!(!crate::kinds::rule::permission::statement_id("topic-x").starts_with(SID_PREFIX));
    }

    #[test]
    fn desired_statement_is_scoped_to_the_topic() {
        let ctx = test_ctx(spec());
        let p = TopicPermissionProvider;
        assert_eq!(
            p.dependencies(&ctx.spec, "notify/audit"),
            vec![
                ResourceId::new(Kind::Function, "audit"),
                ResourceId::new(Kind::Topic, "notify"),
            ]
        );
        assert_eq!(
            p.desired(&ctx, "notify/audit", &Known::new())["source_arn"],
            Prop::Unknown
        );
        let mut known = Known::new();
        known.insert(
            ResourceId::new(Kind::Topic, "notify"),
            Outputs::from([(
                "arn".to_string(),
                "arn:aws:sns:us-east-1:1:shop-notify".to_string(),
            )]),
        );
        let desired = p.desired(&ctx, "notify/audit", &known);
        assert_eq!(desired["principal"], Prop::from("sns.amazonaws.com"));
        assert_eq!(desired["action"], Prop::from("lambda:InvokeFunction"));
        assert_eq!(
            desired["source_arn"],
            Prop::from("arn:aws:sns:us-east-1:1:shop-notify")
        );
        // A statement as Lambda returns it reads back equal.
        let statement = json!({
            "Sid": "orderflow-topic-notify", "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "lambda:InvokeFunction",
            "Resource": "arn:aws:lambda:us-east-1:1:function:shop-audit",
            "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:sns:us-east-1:1:shop-notify"}},
        });
        let live = statement_props(&statement);
        assert!(crate::resources::diff(&desired, &live).is_empty());
        assert_eq!(
            p.display_name(&ctx, "notify/audit"),
            "shop-audit#orderflow-topic-notify"
        );
    }
}
