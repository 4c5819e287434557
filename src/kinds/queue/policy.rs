//! orderflow's statements in a queue's SQS policy, one resource `queue_policy.<queue>` per queue
//! (a queue has one policy document), contributed by every kind that needs one:
//! - a rule's queue target, or a rule target's dead-letter queue: EventBridge may send the
//!   rule's events, or those it could not hand to the target (`Sid` = [`SID`], condition on the
//!   rules' ARNs);
//! - a topic's queue subscriber: SNS may deliver the topic's messages (`Sid` = [`SNS_SID`],
//!   condition on the topics' ARNs).
//!
//! The `policy` prop holds exactly the statements the spec needs, in that order. orderflow owns
//! only statements with its own Sids: other statements in the queue policy are preserved on every
//! write, never compared and never removed.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

use crate::error::Error;
use crate::kinds::queue::provider::{
    is_missing_queue, owned_queues, queue_attributes, queue_tags, queue_url,
};
use crate::resources::known_value;
use crate::resources::resource_policy::{self, policy_prop, service_statement, statements};
use crate::resources::{
    output, Change, Ctx, Discovered, Kind, Known, Live, Outputs, Prop, Props, Provider, ResourceId,
};
use crate::spec::model::{Destination, Subscriber};
use crate::spec::Spec;

pub struct QueuePolicyProvider;

/// Sid of orderflow's EventBridge statement (rule dead-letter queues); with [`SNS_SID`], how
/// `discover` recognises a policy as this tool's.
pub const SID: &str = "orderflow-eventbridge-dlq";

/// Sid of orderflow's SNS statement (topic subscriptions).
pub const SNS_SID: &str = "orderflow-sns-topics";

/// orderflow's Sids, in the order its statements appear in the `policy` prop.
const OUR_SIDS: [&str; 2] = [SID, SNS_SID];

const SEND: &str = "sqs:SendMessage";

fn is_ours(stmt: &Value) -> bool {
    resource_policy::is_ours(&OUR_SIDS, stmt)
}

fn our_statements(doc: &Value) -> Vec<Value> {
    resource_policy::our_statements(&OUR_SIDS, doc)
}

fn merge(existing: Option<&Value>, ours: impl IntoIterator<Item = Value>) -> Option<Value> {
    resource_policy::merge(&OUR_SIDS, existing, ours)
}

/// Parse a queue's Policy attribute (absent or empty = no policy).
fn parse_policy(res: &str, raw: Option<&String>) -> Result<Option<Value>, Error> {
    resource_policy::parse_policy("the queue's policy", raw.map(String::as_str))
        .map_err(|e| Error::Other(format!("{res}: {e}")))
}

fn resource(name: &str) -> String {
    format!("{}.{name}", Kind::QueuePolicy)
}

/// Logical names of the rules that send to `queue`: as a target, or as a target's dead-letter
/// queue.
fn source_rules<'a>(spec: &'a Spec, queue: &str) -> Vec<&'a str> {
    spec.rules
        .iter()
        .filter(|(_, r)| {
            r.targets.iter().any(|t| {
                t.dead_letter_queue.as_deref() == Some(queue)
                    || t.destination == Destination::Queue(queue.to_string())
            })
        })
        .map(|(name, _)| name.as_str())
        .collect()
}

/// Logical names of the topics with a subscription of `queue`.
fn source_topics<'a>(spec: &'a Spec, queue: &str) -> Vec<&'a str> {
    spec.topics
        .iter()
        .filter(|(_, t)| {
            t.subscriptions
                .iter()
                .any(|s| s.subscriber == Subscriber::Queue(queue.to_string()))
        })
        .map(|(name, _)| name.as_str())
        .collect()
}

/// orderflow's statement for a queue and the rules that may send to it.
fn statement(queue_arn: &str, rule_arns: &[String]) -> Value {
    service_statement(SID, "events.amazonaws.com", SEND, queue_arn, rule_arns)
}

/// orderflow's statement for a queue and the topics that may send to it.
fn sns_statement(queue_arn: &str, topic_arns: &[String]) -> Value {
    service_statement(SNS_SID, "sns.amazonaws.com", SEND, queue_arn, topic_arns)
}

async fn current_policy(ctx: &Ctx, res: &str, url: &str) -> Result<Option<Option<Value>>, Error> {
    // While planning, the queue's own read of all attributes answers this too.
    let names = if ctx.aws.reads.is_planning() {
        QueueAttributeName::All
    } else {
        QueueAttributeName::Policy
    };
    match queue_attributes(ctx, res, url, &[names]).await? {
        None => Ok(None),
        Some(attrs) => Ok(Some(parse_policy(
            res,
            attrs.get(&QueueAttributeName::Policy),
        )?)),
    }
}

async fn set_policy(ctx: &Ctx, res: &str, url: &str, doc: Option<&Value>) -> Result<(), Error> {
    // An empty Policy removes the queue policy.
    let raw = doc.map(Value::to_string).unwrap_or_default();
    ctx.aws
        .sqs
        .set_queue_attributes()
        .queue_url(url)
        .attributes(QueueAttributeName::Policy, raw)
        .send()
        .await
        .map_err(|e| Error::aws(res, "SetQueueAttributes", e))?;
    Ok(())
}

/// Write orderflow's statements into the queue policy, keeping the others.
async fn put_statement(
    ctx: &Ctx,
    name: &str,
    known: &Known,
    desired_policy: &Value,
) -> Result<Outputs, Error> {
    let res = resource(name);
    let physical = ctx.physical_name(name);
    let url = match known
        .get(&ResourceId::new(Kind::Queue, name))
        .and_then(|o| o.get("url"))
    {
        Some(u) => u.clone(),
        None => queue_url(ctx, &res, &physical)
            .await?
            .ok_or_else(|| Error::Other(format!("{res}: queue {physical} does not exist")))?,
    };
    let ours: Vec<Value> = statements(desired_policy)
        .into_iter()
        .filter(is_ours)
        .collect();
    let Some(existing) = current_policy(ctx, &res, &url).await? else {
        return Err(Error::Other(format!(
            "{res}: queue {physical} does not exist"
        )));
    };
    let doc = merge(existing.as_ref(), ours);
    set_policy(ctx, &res, &url, doc.as_ref()).await?;
    Ok(Outputs::from([("name".to_string(), physical)]))
}

#[async_trait]
impl Provider for QueuePolicyProvider {
    fn kind(&self) -> Kind {
        Kind::QueuePolicy
    }

    fn dependencies(&self, spec: &Spec, name: &str) -> Vec<ResourceId> {
        let mut deps = vec![ResourceId::new(Kind::Queue, name)];
        deps.extend(
            source_rules(spec, name)
                .into_iter()
                .map(|r| ResourceId::new(Kind::Rule, r)),
        );
        deps.extend(
            source_topics(spec, name)
                .into_iter()
                .map(|t| ResourceId::new(Kind::Topic, t)),
        );
        deps
    }

    /// The EventBridge statement when rules use the queue as a dead-letter queue, the SNS one
    /// when topics deliver to it (both when both do).
    fn desired(&self, ctx: &Ctx, name: &str, known: &Known) -> Props {
        let queue_arn = output(known, &ResourceId::new(Kind::Queue, name), "arn");
        let unknown = || Props::from([("policy".into(), Prop::Unknown)]);
        let rules = source_rules(&ctx.spec, name);
        let mut rule_arns = Vec::new();
        for rule in &rules {
            match output(known, &ResourceId::new(Kind::Rule, *rule), "arn") {
                Prop::Known(Value::String(arn)) => rule_arns.push(arn),
                _ => return unknown(),
            }
        }
        let topics = source_topics(&ctx.spec, name);
        let mut topic_arns = Vec::new();
        for topic in &topics {
            match output(known, &ResourceId::new(Kind::Topic, *topic), "arn") {
                Prop::Known(Value::String(arn)) => topic_arns.push(arn),
                _ => return unknown(),
            }
        }
        let policy = match queue_arn {
            Prop::Known(Value::String(arn)) => {
                let mut stmts = Vec::new();
                if !rules.is_empty() || topics.is_empty() {
                    stmts.push(statement(&arn, &rule_arns));
                }
                if !topics.is_empty() {
                    stmts.push(sns_statement(&arn, &topic_arns));
                }
                Prop::Known(policy_prop(stmts))
            }
            _ => Prop::Unknown,
        };
        Props::from([("policy".into(), policy)])
    }

    async fn read(&self, ctx: &Ctx, name: &str) -> Result<Option<Live>, Error> {
        let res = resource(name);
        let physical = ctx.physical_name(name);
        let Some(url) = queue_url(ctx, &res, &physical).await? else {
            return Ok(None);
        };
        let Some(existing) = current_policy(ctx, &res, &url).await? else {
            return Ok(None);
        };
        let ours = existing.as_ref().map(our_statements).unwrap_or_default();
        if ours.is_empty() {
            return Ok(None);
        }
        let tags = match queue_tags(ctx, &res, &url).await {
            Ok(t) => t,
            Err(e) if is_missing_queue(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(Live {
            props: BTreeMap::from([("policy".to_string(), policy_prop(ours))]),
            outputs: Outputs::from([("name".to_string(), physical)]),
            owned: ctx.is_owned(&tags),
        }))
    }

    async fn create(&self, ctx: &Ctx, name: &str, known: &Known) -> Result<Outputs, Error> {
        let res = resource(name);
        let Some(Prop::Known(policy)) = self.desired(ctx, name, known).remove("policy") else {
            return Err(Error::Other(format!(
                "{res}: the queue or a rule ARN is still unknown at create time"
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
        let res = format!("{}.*", Kind::QueuePolicy);
        let mut found = Vec::new();
        for (physical, url) in owned_queues(ctx, &res).await? {
            let Some(logical) = ctx.logical_name(&physical) else {
                continue;
            };
            let Some(existing) = current_policy(ctx, &resource(logical), &url).await? else {
                continue;
            };
            if existing
                .as_ref()
                .map(statements)
                .unwrap_or_default()
                .iter()
                .any(is_ours)
            {
                found.push(Discovered {
                    id: ResourceId::new(Kind::QueuePolicy, logical),
                    physical: physical.clone(),
                    handle: url,
                });
            }
        }
        Ok(found)
    }

    async fn delete(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
        let res = target.id.to_string();
        let url = &target.handle;
        let Some(existing) = current_policy(ctx, &res, url).await? else {
            return Ok(());
        };
        let Some(existing) = existing else {
            return Ok(());
        };
        if !statements(&existing).iter().any(is_ours) {
            return Ok(());
        }
        match set_policy(ctx, &res, url, merge(Some(&existing), Vec::new()).as_ref()).await {
            Err(e) if is_missing_queue(&e) => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::resource_policy::normalise_statement;
    use crate::resources::test_support::{spec, test_ctx};
    use crate::spec::model::{Destination, Rule, RuleTarget, TargetInput};
    use serde_json::json;

    fn rule(dlq: Option<&str>) -> Rule {
        Rule {
            bus: "orders".into(),
            description: None,
            event_pattern: json!({"source": ["shop"]}),
            pattern_references: Default::default(),
            targets: vec![RuleTarget {
                destination: Destination::Function("validate".into()),
                input: TargetInput::Event,
                maximum_retry_attempts: 185,
                maximum_event_age_secs: 86400,
                dead_letter_queue: dlq.map(str::to_string),
            }],
        }
    }

    fn arn(known: &mut Known, kind: Kind, name: &str, arn: &str) {
        known.insert(
            ResourceId::new(kind, name),
            Outputs::from([("arn".to_string(), arn.to_string())]),
        );
    }

    #[test]
    fn depends_on_the_queue_and_the_rules_that_use_it() {
        let mut s = spec();
        s.rules.insert("b-placed".into(), rule(Some("dlq")));
        s.rules.insert("a-cancelled".into(), rule(Some("dlq")));
        s.rules.insert("other".into(), rule(None));
        assert_eq!(
            QueuePolicyProvider.dependencies(&s, "dlq"),
            vec![
                ResourceId::new(Kind::Queue, "dlq"),
                ResourceId::new(Kind::Rule, "a-cancelled"),
                ResourceId::new(Kind::Rule, "b-placed"),
            ]
        );
    }

    #[test]
    fn desired_policy_allows_eventbridge_from_the_rules_only() {
        let mut s = spec();
        s.rules.insert("b-placed".into(), rule(Some("dlq")));
        s.rules.insert("a-cancelled".into(), rule(Some("dlq")));
        let ctx = test_ctx(s);
        let mut known = Known::new();
        arn(
            &mut known,
            Kind::Queue,
            "dlq",
            "arn:aws:sqs:us-east-1:1:shop-dlq",
        );
        assert_eq!(
            QueuePolicyProvider.desired(&ctx, "dlq", &known)["policy"],
            Prop::Unknown
        );
        arn(
            &mut known,
            Kind::Rule,
            "b-placed",
            "arn:aws:events:us-east-1:1:rule/shop-orders/shop-b-placed",
        );
        arn(
            &mut known,
            Kind::Rule,
            "a-cancelled",
            "arn:aws:events:us-east-1:1:rule/shop-orders/shop-a-cancelled",
        );
        let Prop::Known(policy) = &QueuePolicyProvider.desired(&ctx, "dlq", &known)["policy"]
        else {
            panic!("policy should be known");
        };
        assert_eq!(
            policy,
            &json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "orderflow-eventbridge-dlq",
                    "Effect": "Allow",
                    "Principal": {"Service": ["events.amazonaws.com"]},
                    "Action": ["sqs:SendMessage"],
                    "Resource": ["arn:aws:sqs:us-east-1:1:shop-dlq"],
                    "Condition": {"ArnEquals": {"aws:SourceArn": [
                        "arn:aws:events:us-east-1:1:rule/shop-orders/shop-a-cancelled",
                        "arn:aws:events:us-east-1:1:rule/shop-orders/shop-b-placed",
                    ]}},
                }],
            })
        );
    }

    #[test]
    fn scalar_and_list_forms_normalise_the_same() {
        let scalar = json!({
            "Sid": SID, "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage", "Resource": "arn:q",
            "Condition": {"ArnEquals": {"aws:SourceArn": "arn:r"}},
        });
        assert_eq!(
            normalise_statement(&scalar),
            statement("arn:q", &["arn:r".to_string()])
        );
    }

    #[test]
    fn merge_keeps_foreign_statements_and_replaces_ours() {
        let foreign = json!({"Sid": "ops", "Effect": "Allow", "Principal": "*", "Action": "sqs:ReceiveMessage", "Resource": "arn:q"});
        let old_ours = statement("arn:q", &["arn:old".to_string()]);
        let existing =
            json!({"Version": "2012-10-17", "Id": "p1", "Statement": [foreign.clone(), old_ours]});
        let new_ours = statement("arn:q", &["arn:new".to_string()]);
        let merged = merge(Some(&existing), Some(new_ours.clone())).unwrap();
        assert_eq!(
            merged,
            json!({"Version": "2012-10-17", "Id": "p1", "Statement": [foreign.clone(), new_ours]})
        );
        // Removing ours keeps the foreign statement; removing the last statement clears the policy.
        let removed = merge(Some(&merged), None).unwrap();
        assert_eq!(removed["Statement"], json!([foreign]));
        let only_ours = json!({"Version": "2012-10-17", "Statement": statement("arn:q", &[])});
        assert_eq!(merge(Some(&only_ours), None), None);
        assert_eq!(
            merge(None, Some(statement("arn:q", &[]))).unwrap()["Version"],
            json!("2012-10-17")
        );
    }
}
