//! Lambda resource-policy statement letting EventBridge invoke a function for one rule:
//! principal `events.amazonaws.com`, action `lambda:InvokeFunction`, scoped by `AWS:SourceArn`
//! to the rule's ARN (EventBridge invokes targets asynchronously, under this grant).
//!
//! Logical name `<rule>/<function>`; statement id `orderflow-rule-<rule>` on the function's
//! policy. The statement is untaggable: it is this stack's when it carries our Sid prefix on a
//! function this stack owns.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{json, Value};

use crate::error::Error;
use crate::kinds::function::provider::{is_not_found, is_update_in_progress, owned_functions};
use crate::resources::{
    output, Change, Ctx, Discovered, Kind, Known, Live, Outputs, Prop, Props, Provider, ResourceId,
};
use crate::retry::{retry, Backoff};
use crate::spec::Spec;

pub struct PermissionProvider;

pub const PRINCIPAL: &str = "events.amazonaws.com";
pub const ACTION: &str = "lambda:InvokeFunction";
pub const SID_PREFIX: &str = "orderflow-rule-";

/// Concurrent edits of one function's policy (several rules targeting it, or a function update
/// in progress) are rejected with ResourceConflictException; they resolve within seconds.
const POLICY_CONFLICT: Backoff = Backoff::new(500, 5_000, 60);

fn rid(name: &str) -> ResourceId {
    ResourceId::new(Kind::Permission, name)
}

/// `<rule>/<function>` → (rule, function).
pub fn split_name(name: &str) -> Option<(&str, &str)> {
    name.split_once('/')
        .filter(|(r, f)| !r.is_empty() && !f.is_empty())
}

pub fn statement_id(rule: &str) -> String {
    format!("{SID_PREFIX}{rule}")
}

fn parts(name: &str) -> Result<(&str, &str), Error> {
    split_name(name).ok_or_else(|| {
        Error::Other(format!(
            "{}: permission names have the form <rule>/<function>",
            rid(name)
        ))
    })
}

/// The props of one statement of a Lambda resource policy, in the shape of `desired`.
pub fn statement_props(statement: &Value) -> BTreeMap<String, Value> {
    let principal = match &statement["Principal"] {
        Value::String(s) => Value::String(s.clone()),
        Value::Object(m) => m.get("Service").cloned().unwrap_or(Value::Null),
        _ => Value::Null,
    };
    let action = match &statement["Action"] {
        Value::Array(a) if a.len() == 1 => a[0].clone(),
        other => other.clone(),
    };
    let source_arn = statement["Condition"]["ArnLike"]["AWS:SourceArn"].clone();
    BTreeMap::from([
        ("principal".to_string(), principal),
        ("action".to_string(), action),
        ("source_arn".to_string(), source_arn),
    ])
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

impl PermissionProvider {
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
        let (rule, function) = parts(name)?;
        let source_arn = match output(known, &ResourceId::new(Kind::Rule, rule), "arn") {
            Prop::Known(Value::String(arn)) => arn,
            _ => {
                return Err(Error::Other(format!(
                    "{id}: the ARN of rule `{rule}` is not known yet"
                )))
            }
        };
        let function_physical = ctx.physical_name(function);
        retry(POLICY_CONFLICT, is_update_in_progress, || async {
            ctx.aws
                .lambda
                .add_permission()
                .function_name(&function_physical)
                .statement_id(statement_id(rule))
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
        let (rule, function) = split_name(name).unwrap_or((name, name));
        BTreeMap::from([(
            "name".to_string(),
            format!("{}|{}", ctx.physical_name(function), statement_id(rule)),
        )])
    }
}

#[async_trait]
impl Provider for PermissionProvider {
    fn display_name(&self, ctx: &Ctx, name: &str) -> String {
        let (rule, function) = name.split_once('/').unwrap_or((name, ""));
        format!("{}#orderflow-rule-{rule}", ctx.physical_name(function))
    }

    fn kind(&self) -> Kind {
        Kind::Permission
    }

    fn dependencies(&self, _spec: &Spec, name: &str) -> Vec<ResourceId> {
        match split_name(name) {
            Some((rule, function)) => vec![
                ResourceId::new(Kind::Function, function),
                ResourceId::new(Kind::Rule, rule),
            ],
            None => Vec::new(),
        }
    }

    fn desired(&self, _ctx: &Ctx, name: &str, known: &Known) -> Props {
        let source_arn = match split_name(name) {
            Some((rule, _)) => output(known, &ResourceId::new(Kind::Rule, rule), "arn"),
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
        let (rule, function) = parts(name)?;
        let sid = statement_id(rule);
        let statements = Self::policy_statements(ctx, &id, &ctx.physical_name(function)).await?;
        Ok(statements
            .iter()
            .find(|s| s["Sid"] == json!(sid))
            .map(|s| Live {
                props: statement_props(s),
                outputs: Self::outputs(ctx, name),
                owned: true,
            }))
    }

    async fn create(&self, ctx: &Ctx, name: &str, known: &Known) -> Result<Outputs, Error> {
        Self::add(ctx, name, known).await?;
        Ok(Self::outputs(ctx, name))
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
        let (rule, function) = parts(name)?;
        Self::remove(
            ctx,
            &rid(name),
            &ctx.physical_name(function),
            &statement_id(rule),
        )
        .await?;
        Self::add(ctx, name, known).await?;
        Ok(Self::outputs(ctx, name))
    }

    async fn discover(&self, ctx: &Ctx) -> Result<Vec<Discovered>, Error> {
        let mut found = Vec::new();
        for f in owned_functions(ctx).await? {
            let id = ResourceId::new(Kind::Function, f.logical.clone());
            for s in Self::policy_statements(ctx, &id, &f.physical).await? {
                let Some(rule) = s["Sid"]
                    .as_str()
                    .and_then(|sid| sid.strip_prefix(SID_PREFIX))
                else {
                    continue;
                };
                if rule.is_empty() {
                    continue;
                }
                let handle = format!("{}|{}{rule}", f.physical, SID_PREFIX);
                found.push(Discovered {
                    id: rid(&format!("{rule}/{}", f.logical)),
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
        Self::remove(ctx, &target.id, function_physical, sid).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_rule_and_function() {
        assert_eq!(
            split_name("new-orders/validate"),
            Some(("new-orders", "validate"))
        );
        assert_eq!(split_name("no-slash"), None);
        assert_eq!(split_name("/validate"), None);
        assert_eq!(statement_id("new-orders"), "orderflow-rule-new-orders");
    }

    #[test]
    fn reads_a_statement_as_lambda_returns_it() {
        let policy = json!({
            "Version": "2012-10-17",
            "Id": "default",
            "Statement": [
                {"Sid": "someone-else", "Effect": "Allow", "Principal": "*",
                 "Action": "lambda:InvokeFunction", "Resource": "arn:aws:lambda:us-east-1:1:function:f"},
                {"Sid": "orderflow-rule-new-orders", "Effect": "Allow",
                 "Principal": {"Service": "events.amazonaws.com"},
                 "Action": "lambda:InvokeFunction",
                 "Resource": "arn:aws:lambda:us-east-1:1:function:f",
                 "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:events:us-east-1:1:rule/bus/new-orders"}}}
            ]
        })
        .to_string();
        let all = statements(&policy);
        assert_eq!(all.len(), 2);
        let ours = all
            .iter()
            .find(|s| s["Sid"] == "orderflow-rule-new-orders")
            .unwrap();
        assert_eq!(
            statement_props(ours),
            BTreeMap::from([
                ("principal".to_string(), json!("events.amazonaws.com")),
                ("action".to_string(), json!("lambda:InvokeFunction")),
                (
                    "source_arn".to_string(),
                    json!("arn:aws:events:us-east-1:1:rule/bus/new-orders")
                ),
            ])
        );
    }

    #[test]
    fn a_statement_without_source_arn_differs_from_desired() {
        let s = json!({"Sid": "orderflow-rule-r", "Principal": {"Service": "events.amazonaws.com"},
                       "Action": "lambda:InvokeFunction"});
        assert_eq!(statement_props(&s)["source_arn"], Value::Null);
        assert!(statements("not json").is_empty());
    }
}
