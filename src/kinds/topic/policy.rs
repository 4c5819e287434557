//! orderflow's statement in a topic's SNS policy, `topic_policy.<topic>`: EventBridge may publish
//! to the topic for the rules that target it, and for no other rule (`Sid` = [`SID`], condition
//! `aws:SourceArn` on the rules' ARNs). AWS requires it: without a topic policy granting
//! `events.amazonaws.com`, EventBridge's deliveries to the topic fail.
//!
//! Contributed by every rule with a `topic:` target. orderflow owns only the statement with its
//! Sid: the rest of the policy (SNS's default statement for the account, anything added by hand)
//! is kept on every write, never compared and never removed.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::Value;

use crate::error::Error;
use crate::kinds::topic::provider::{owned_topics, topic_arn, topic_attributes, NOT_FOUND};
use crate::resources::resource_policy::{self, policy_prop, service_statement, statements};
use crate::resources::{
    absent_as_none, known_value, output, Change, Ctx, Discovered, Kind, Known, Live, Outputs, Prop,
    Props, Provider, ResourceId,
};
use crate::spec::model::Destination;
use crate::spec::Spec;

pub struct TopicPolicyProvider;

/// Sid of orderflow's EventBridge statement; how `discover` recognises a policy as this tool's.
pub const SID: &str = "orderflow-eventbridge-rules";

const OUR_SIDS: [&str; 1] = [SID];

fn resource(name: &str) -> String {
    format!("{}.{name}", Kind::TopicPolicy)
}

/// Logical names of the rules with a target that is `topic`.
fn source_rules<'a>(spec: &'a Spec, topic: &str) -> Vec<&'a str> {
    spec.rules
        .iter()
        .filter(|(_, r)| {
            r.targets
                .iter()
                .any(|t| t.destination == Destination::Topic(topic.to_string()))
        })
        .map(|(name, _)| name.as_str())
        .collect()
}

/// The topic's policy document (`None` within: the topic has none; `None`: no topic).
async fn current_policy(ctx: &Ctx, res: &str, arn: &str) -> Result<Option<Option<Value>>, Error> {
    let Some(attributes) = topic_attributes(ctx, res, arn).await? else {
        return Ok(None);
    };
    let raw = attributes.get("Policy").map(String::as_str);
    resource_policy::parse_policy("the topic's policy", raw)
        .map(Some)
        .map_err(|e| Error::Other(format!("{res}: {e}")))
}

async fn set_policy(ctx: &Ctx, res: &str, arn: &str, doc: &Value) -> Result<(), Error> {
    ctx.aws
        .sns
        .set_topic_attributes()
        .topic_arn(arn)
        .attribute_name("Policy")
        .attribute_value(doc.to_string())
        .send()
        .await
        .map_err(|e| Error::aws(res, "SetTopicAttributes", e))?;
    Ok(())
}

/// Write orderflow's statement into the topic policy, keeping the others.
async fn put_statement(
    ctx: &Ctx,
    name: &str,
    known: &Known,
    desired_policy: &Value,
) -> Result<Outputs, Error> {
    let res = resource(name);
    let physical = ctx.physical_name(name);
    let arn = match known
        .get(&ResourceId::new(Kind::Topic, name))
        .and_then(|o| o.get("arn"))
    {
        Some(a) => a.clone(),
        None => topic_arn(ctx, &res, &physical)
            .await?
            .ok_or_else(|| Error::Other(format!("{res}: topic {physical} does not exist")))?,
    };
    let ours: Vec<Value> = statements(desired_policy)
        .into_iter()
        .filter(|s| resource_policy::is_ours(&OUR_SIDS, s))
        .collect();
    let Some(existing) = current_policy(ctx, &res, &arn).await? else {
        return Err(Error::Other(format!(
            "{res}: topic {physical} does not exist"
        )));
    };
    // A topic always keeps a policy: SNS's default statement at least, so `merge` leaves one.
    if let Some(doc) = resource_policy::merge(&OUR_SIDS, existing.as_ref(), ours) {
        set_policy(ctx, &res, &arn, &doc).await?;
    }
    Ok(Outputs::from([("name".to_string(), physical)]))
}

#[async_trait]
impl Provider for TopicPolicyProvider {
    fn kind(&self) -> Kind {
        Kind::TopicPolicy
    }

    fn dependencies(&self, spec: &Spec, name: &str) -> Vec<ResourceId> {
        let mut deps = vec![ResourceId::new(Kind::Topic, name)];
        deps.extend(
            source_rules(spec, name)
                .into_iter()
                .map(|r| ResourceId::new(Kind::Rule, r)),
        );
        deps
    }

    fn desired(&self, ctx: &Ctx, name: &str, known: &Known) -> Props {
        let unknown = || Props::from([("policy".into(), Prop::Unknown)]);
        let mut rule_arns = Vec::new();
        for rule in source_rules(&ctx.spec, name) {
            match output(known, &ResourceId::new(Kind::Rule, rule), "arn") {
                Prop::Known(Value::String(arn)) => rule_arns.push(arn),
                _ => return unknown(),
            }
        }
        let Prop::Known(Value::String(topic_arn)) =
            output(known, &ResourceId::new(Kind::Topic, name), "arn")
        else {
            return unknown();
        };
        let statement = service_statement(
            SID,
            "events.amazonaws.com",
            "sns:Publish",
            &topic_arn,
            &rule_arns,
        );
        Props::from([("policy".into(), Prop::Known(policy_prop([statement])))])
    }

    async fn read(&self, ctx: &Ctx, name: &str) -> Result<Option<Live>, Error> {
        let res = resource(name);
        let physical = ctx.physical_name(name);
        let Some(arn) = topic_arn(ctx, &res, &physical).await? else {
            return Ok(None);
        };
        let Some(existing) = current_policy(ctx, &res, &arn).await? else {
            return Ok(None);
        };
        let ours = existing
            .as_ref()
            .map(|d| resource_policy::our_statements(&OUR_SIDS, d))
            .unwrap_or_default();
        if ours.is_empty() {
            return Ok(None);
        }
        let owned = owned_topics(ctx, &res)
            .await?
            .iter()
            .any(|(logical, _)| logical == name);
        Ok(Some(Live {
            props: BTreeMap::from([("policy".to_string(), policy_prop(ours))]),
            outputs: Outputs::from([("name".to_string(), physical)]),
            owned,
        }))
    }

    async fn create(&self, ctx: &Ctx, name: &str, known: &Known) -> Result<Outputs, Error> {
        let res = resource(name);
        let Some(Prop::Known(policy)) = self.desired(ctx, name, known).remove("policy") else {
            return Err(Error::Other(format!(
                "{res}: the topic or a rule ARN is still unknown at create time"
            )));
        };
        put_statement(ctx, name, known, &policy).await
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
        match changes.iter().find(|c| c.attribute == "policy") {
            Some(change) => put_statement(ctx, name, known, known_value(&res, change)?).await,
            None => Ok(live.outputs.clone()),
        }
    }

    async fn discover(&self, ctx: &Ctx) -> Result<Vec<Discovered>, Error> {
        let res = format!("{}.*", Kind::TopicPolicy);
        let mut found = Vec::new();
        for (logical, arn) in owned_topics(ctx, &res).await? {
            let Some(Some(existing)) = current_policy(ctx, &resource(&logical), &arn).await? else {
                continue;
            };
            if statements(&existing)
                .iter()
                .any(|s| resource_policy::is_ours(&OUR_SIDS, s))
            {
                found.push(Discovered {
                    id: ResourceId::new(Kind::TopicPolicy, &logical),
                    physical: ctx.physical_name(&logical),
                    handle: arn,
                });
            }
        }
        Ok(found)
    }

    async fn delete(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
        let res = target.id.to_string();
        let arn = &target.handle;
        let Some(Some(existing)) = current_policy(ctx, &res, arn).await? else {
            return Ok(());
        };
        if !statements(&existing)
            .iter()
            .any(|s| resource_policy::is_ours(&OUR_SIDS, s))
        {
            return Ok(());
        }
        // Without ours, what is left (SNS's default statement); an empty policy is not
        // something SNS takes, so the account owner's default is written back then.
        let doc = resource_policy::merge(&OUR_SIDS, Some(&existing), Vec::new())
            .unwrap_or_else(|| default_policy(arn));
        let set = set_policy(ctx, &res, arn, &doc).await;
        absent_as_none(set, NOT_FOUND)?;
        Ok(())
    }
}

/// The policy SNS gives a new topic: the owning account may use it.
fn default_policy(topic_arn: &str) -> Value {
    let account = topic_arn.split(':').nth(4).unwrap_or_default();
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "__default_statement_ID",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": [
                "SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission",
                "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe",
                "SNS:ListSubscriptionsByTopic", "SNS:Publish"
            ],
            "Resource": topic_arn,
            "Condition": {"StringEquals": {"AWS:SourceOwner": account}},
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::test_support::test_ctx;

    #[test]
    fn the_statement_lets_only_the_targeting_rules_publish() {
        let spec = crate::spec::parse(
            "p.yaml",
            r#"
stack: shop
buses: { b: {} }
topics: { t: {} }
rules:
  r1: { bus: b, event_pattern: { source: [x] }, targets: [{ topic: t }] }
  r2: { bus: b, event_pattern: { source: [y] }, targets: [{ topic: t, input_path: "$.detail" }] }
  r3: { bus: b, event_pattern: { source: [z] }, targets: [{ function: f }] }
functions: { f: { crate: f } }
"#,
        )
        .expect("valid");
        let ctx = test_ctx(spec);
        let mut known = Known::new();
        let arn = |s: &str| BTreeMap::from([("arn".to_string(), s.to_string())]);
        known.insert(
            ResourceId::new(Kind::Topic, "t"),
            arn("arn:aws:sns:us-east-1:1:shop-t"),
        );
        assert_eq!(
            TopicPolicyProvider.desired(&ctx, "t", &known)["policy"],
            Prop::Unknown,
            "unknown until every rule exists"
        );
        known.insert(ResourceId::new(Kind::Rule, "r1"), arn("arn:r1"));
        known.insert(ResourceId::new(Kind::Rule, "r2"), arn("arn:r2"));
        let Prop::Known(doc) = &TopicPolicyProvider.desired(&ctx, "t", &known)["policy"] else {
            panic!("policy unknown")
        };
        let s = &statements(doc)[0];
        assert_eq!(s["Sid"], SID);
        assert_eq!(
            s["Principal"]["Service"],
            serde_json::json!(["events.amazonaws.com"])
        );
        assert_eq!(s["Action"], serde_json::json!(["sns:Publish"]));
        assert_eq!(
            s["Resource"],
            serde_json::json!(["arn:aws:sns:us-east-1:1:shop-t"])
        );
        assert_eq!(
            s["Condition"]["ArnEquals"]["aws:SourceArn"],
            serde_json::json!(["arn:r1", "arn:r2"])
        );
        let mut deps = TopicPolicyProvider.dependencies(&ctx.spec, "t");
        deps.sort();
        assert_eq!(
            deps,
            vec![
                ResourceId::new(Kind::Rule, "r1"),
                ResourceId::new(Kind::Rule, "r2"),
                ResourceId::new(Kind::Topic, "t"),
            ]
        );
    }

    #[test]
    fn removing_ours_from_a_policy_of_ours_alone_restores_the_default() {
        let arn = "arn:aws:sns:us-east-1:123456789012:shop-t";
        let doc = default_policy(arn);
        assert_eq!(
            doc["Statement"][0]["Condition"]["StringEquals"]["AWS:SourceOwner"],
            "123456789012"
        );
    }
}
