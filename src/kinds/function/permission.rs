//! Statements on a function's resource policy: the grants that let a service invoke a function
//! (EventBridge for a rule target, SNS for a topic subscriber, API Gateway for a route). They
//! live on the function, so the mechanism lives here; each kind that needs one says only what is
//! its own, by implementing [`InvokePermission`]: its principal, its statement ids, the resource
//! whose ARN scopes the grant, its logical-name form and its dependencies.
//!
//! Every grant is principal + action `lambda:InvokeFunction` + `AWS:SourceArn`. A statement is
//! untaggable: it is this stack's when its Sid carries the kind's prefix on a function this stack
//! owns. Its handle (and its `name` output) is `<function>|<statement id>`. A statement cannot
//! be modified in place: an update removes it and adds it again.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{json, Value};

use super::provider::{is_not_found, is_update_in_progress, owned_functions};
use super::shared::function_policy;
use crate::error::Error;
use crate::resources::{
    output, Change, Ctx, Discovered, Kind, Known, Live, Outputs, Prop, Props, Provider, ResourceId,
};
use crate::retry::{retry, Backoff};
use crate::spec::Spec;

pub const ACTION: &str = "lambda:InvokeFunction";

/// Concurrent edits of one function's policy (several grants to it, or a function update in
/// progress) are rejected with ResourceConflictException; they resolve within seconds.
const POLICY_CONFLICT: Backoff = Backoff::new(500, 5_000, 60);

/// One kind of invoke grant. Implementing it makes the type a [`Provider`].
pub(crate) trait InvokePermission: Send + Sync {
    /// The graph kind of these grants.
    const KIND: Kind;
    /// The service allowed to invoke (`events.amazonaws.com`).
    const PRINCIPAL: &'static str;
    /// Every statement id of this kind starts with it (and no other kind's does).
    const SID_PREFIX: &'static str;

    /// What must exist first ([`Provider::dependencies`]).
    fn depends_on(&self, spec: &Spec, name: &str) -> Vec<ResourceId>;

    /// The resource whose `arn` output scopes the grant (the rule, the topic, the API); an error
    /// for a name not of this kind's form.
    fn source(&self, name: &str) -> Result<ResourceId, Error>;

    /// The `AWS:SourceArn` of the grant, from the ARN of [`Self::source`] (by default that ARN).
    fn scope(&self, _name: &str, source_arn: &str) -> String {
        source_arn.to_string()
    }

    /// The function (physical name) and statement id of the grant `name`.
    fn locate(&self, ctx: &Ctx, name: &str) -> Result<StatementRef, Error>;

    /// Logical name of a statement found on the function `function` (logical name) whose Sid
    /// starts with [`Self::SID_PREFIX`] followed by something; `None`: not one of ours.
    fn name_found(&self, sid: &str, statement: &Value, function: &str) -> Option<String>;
}

/// Where one statement lives: the function's physical name and the statement id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatementRef {
    pub function: String,
    pub sid: String,
}

impl StatementRef {
    /// `<function>|<statement id>`: the handle of a discovered statement and its `name` output.
    pub fn handle(&self) -> String {
        format!("{}|{}", self.function, self.sid)
    }

    fn outputs(&self) -> Outputs {
        BTreeMap::from([("name".to_string(), self.handle())])
    }

    fn from_handle(target: &Discovered) -> Result<StatementRef, Error> {
        let (function, sid) = target.handle.split_once('|').ok_or_else(|| {
            Error::Other(format!(
                "{}: malformed handle {:?} (expected <function>|<statement id>)",
                target.id, target.handle
            ))
        })?;
        Ok(StatementRef {
            function: function.to_string(),
            sid: sid.to_string(),
        })
    }
}

/// One grant: `principal` may invoke the function of `at` for requests from `source_arn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grant {
    pub at: StatementRef,
    pub principal: &'static str,
    pub source_arn: String,
}

/// `<source>/<function>` → (source, function): the name form of a grant to one function for one
/// source resource (a rule, a topic).
pub fn split_source_name(name: &str) -> Option<(&str, &str)> {
    name.split_once('/')
        .filter(|(s, f)| !s.is_empty() && !f.is_empty())
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

/// A function's policy statements; empty when the function or its policy does not exist.
/// Shared while planning by every permission kind's read and discovery.
pub(crate) async fn policy_statements(
    ctx: &Ctx,
    id: &ResourceId,
    function_physical: &str,
) -> Result<Vec<Value>, Error> {
    Ok(function_policy(ctx, id, function_physical)
        .await?
        .as_deref()
        .map(statements)
        .unwrap_or_default())
}

/// AddPermission, retried while another edit of the function's policy is in progress.
pub(crate) async fn add(ctx: &Ctx, id: &ResourceId, grant: &Grant) -> Result<(), Error> {
    retry(POLICY_CONFLICT, is_update_in_progress, || async {
        ctx.aws
            .lambda
            .add_permission()
            .function_name(&grant.at.function)
            .statement_id(&grant.at.sid)
            .action(ACTION)
            .principal(grant.principal)
            .source_arn(&grant.source_arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| Error::aws(id, "AddPermission", e))
    })
    .await
}

/// RemovePermission, retried like [`add`]; a statement (or function) already gone is done.
pub(crate) async fn remove(ctx: &Ctx, id: &ResourceId, at: &StatementRef) -> Result<(), Error> {
    let result = retry(POLICY_CONFLICT, is_update_in_progress, || async {
        ctx.aws
            .lambda
            .remove_permission()
            .function_name(&at.function)
            .statement_id(&at.sid)
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

/// The desired `AWS:SourceArn` of `name`: unknown until its source exists.
fn desired_source_arn<P: InvokePermission>(p: &P, name: &str, known: &Known) -> Prop {
    let Ok(source) = p.source(name) else {
        return Prop::Unknown;
    };
    match output(known, &source, "arn") {
        Prop::Known(Value::String(arn)) => Prop::from(p.scope(name, &arn)),
        _ => Prop::Unknown,
    }
}

/// The grant to add for `name`, once its source exists.
fn grant<P: InvokePermission>(p: &P, ctx: &Ctx, name: &str, known: &Known) -> Result<Grant, Error> {
    let source = p.source(name)?;
    let Prop::Known(Value::String(source_arn)) = desired_source_arn(p, name, known) else {
        return Err(Error::Other(format!(
            "{}: the ARN of {} `{}` is not known yet",
            ResourceId::new(P::KIND, name),
            source.kind,
            source.name
        )));
    };
    Ok(Grant {
        at: p.locate(ctx, name)?,
        principal: P::PRINCIPAL,
        source_arn,
    })
}

#[async_trait]
impl<P: InvokePermission> Provider for P {
    fn kind(&self) -> Kind {
        P::KIND
    }

    fn display_name(&self, ctx: &Ctx, name: &str) -> String {
        match self.locate(ctx, name) {
            Ok(at) => format!("{}#{}", at.function, at.sid),
            Err(_) => name.to_string(),
        }
    }

    fn dependencies(&self, spec: &Spec, name: &str) -> Vec<ResourceId> {
        self.depends_on(spec, name)
    }

    fn desired(&self, _ctx: &Ctx, name: &str, known: &Known) -> Props {
        Props::from([
            ("principal".to_string(), Prop::from(P::PRINCIPAL)),
            ("action".to_string(), Prop::from(ACTION)),
            (
                "source_arn".to_string(),
                desired_source_arn(self, name, known),
            ),
        ])
    }

    async fn read(&self, ctx: &Ctx, name: &str) -> Result<Option<Live>, Error> {
        let id = ResourceId::new(P::KIND, name);
        let at = self.locate(ctx, name)?;
        Ok(policy_statements(ctx, &id, &at.function)
            .await?
            .iter()
            .find(|s| s["Sid"] == json!(at.sid))
            .map(|s| Live {
                props: statement_props(s),
                outputs: at.outputs(),
                owned: true,
            }))
    }

    async fn create(&self, ctx: &Ctx, name: &str, known: &Known) -> Result<Outputs, Error> {
        let grant = grant(self, ctx, name, known)?;
        add(ctx, &ResourceId::new(P::KIND, name), &grant).await?;
        Ok(grant.at.outputs())
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
        let id = ResourceId::new(P::KIND, name);
        remove(ctx, &id, &self.locate(ctx, name)?).await?;
        let grant = grant(self, ctx, name, known)?;
        add(ctx, &id, &grant).await?;
        Ok(grant.at.outputs())
    }

    async fn discover(&self, ctx: &Ctx) -> Result<Vec<Discovered>, Error> {
        let mut found = Vec::new();
        for f in owned_functions(ctx).await? {
            let fid = ResourceId::new(Kind::Function, f.logical.clone());
            for s in policy_statements(ctx, &fid, &f.physical).await? {
                let Some(sid) = s["Sid"].as_str() else {
                    continue;
                };
                if sid.strip_prefix(P::SID_PREFIX).is_none_or(str::is_empty) {
                    continue;
                }
                let Some(name) = self.name_found(sid, &s, &f.logical) else {
                    continue;
                };
                let handle = StatementRef {
                    function: f.physical.clone(),
                    sid: sid.to_string(),
                }
                .handle();
                found.push(Discovered {
                    id: ResourceId::new(P::KIND, name),
                    physical: handle.clone(),
                    handle,
                });
            }
        }
        Ok(found)
    }

    /// Found on another function than the one the declaration names now (an API route that
    /// sends its requests elsewhere): the statement on the old one is not the declared one. A
    /// `<source>/<function>` name carries its function, so such a grant is never stale.
    fn is_stale(&self, ctx: &Ctx, found: &Discovered) -> bool {
        let Ok(declared) = self.locate(ctx, &found.id.name) else {
            return false;
        };
        found
            .handle
            .split_once('|')
            .is_some_and(|(function, _)| function != declared.function)
    }

    async fn delete(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
        remove(ctx, &target.id, &StatementRef::from_handle(target)?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_source_and_function() {
        assert_eq!(
            split_source_name("new-orders/validate"),
            Some(("new-orders", "validate"))
        );
        assert_eq!(split_source_name("no-slash"), None);
        assert_eq!(split_source_name("/validate"), None);
        assert_eq!(split_source_name("new-orders/"), None);
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

    #[test]
    fn handles_name_the_function_and_the_statement() {
        let at = StatementRef {
            function: "shop-f".into(),
            sid: "orderflow-rule-r".into(),
        };
        assert_eq!(at.handle(), "shop-f|orderflow-rule-r");
        assert_eq!(at.outputs()["name"], "shop-f|orderflow-rule-r");
        let found = |handle: &str| Discovered {
            id: ResourceId::new(Kind::Permission, "r/f"),
            physical: String::new(),
            handle: handle.into(),
        };
        assert_eq!(StatementRef::from_handle(&found(&at.handle())).unwrap(), at);
        assert_eq!(
            StatementRef::from_handle(&found("no-bar"))
                .unwrap_err()
                .to_string(),
            "permission.r/f: malformed handle \"no-bar\" (expected <function>|<statement id>)"
        );
    }
}
