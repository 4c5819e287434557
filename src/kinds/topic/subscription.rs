//! One subscription of a topic: `<topic>/queue:<queue>` (protocol `sqs`),
//! `<topic>/function:<function>` (`lambda`) or `<topic>/email:<address>` (`email`).
//!
//! SNS semantics this follows:
//! - a subscription is identified by topic, protocol and endpoint; `Subscribe` is idempotent
//!   only for the same attributes (different ones are refused), so attributes are changed with
//!   `SetSubscriptionAttributes`, one call per changed attribute, and a filter policy is
//!   removed by setting it to `{}`;
//! - an email subscription waits for its recipient to confirm: `Subscribe` answers
//!   "pending confirmation" instead of an ARN, and `ListSubscriptionsByTopic` lists it with the
//!   ARN `PendingConfirmation`. Its attributes cannot be read or changed until it is confirmed,
//!   and it cannot be unsubscribed (SNS deletes unconfirmed subscriptions after 48 hours). So a
//!   pending subscription reads as exactly what the spec declares (no perpetual difference in
//!   `plan`), a changed filter policy is applied once it is confirmed, and `discover` leaves it
//!   out (there is nothing `down` could do about it);
//! - subscriptions take no tags: they are this stack's because their topic is. On a topic this
//!   stack owns, orderflow manages the subscriptions of this stack's queues and functions and
//!   every confirmed email subscription; others (a queue of another stack, an HTTP endpoint)
//!   are left alone.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use serde_json::{json, Value};

use super::provider::{name_from_arn, owned_topics, topic_arn, NOT_FOUND};
use super::{parse_subscription_name, subscription_name, FilterPolicyScope, Subscriber};
use crate::error::Error;
use crate::resources::policy::parse_arn;
use crate::resources::{
    absent_as_none, known_value, output, unknown_attribute, Change, Ctx, Discovered, Kind, Known,
    Live, Outputs, Prop, Props, Provider, ResourceId,
};
use crate::spec::model::TopicSubscription;
use crate::spec::Spec;

pub struct SubscriptionProvider;

/// The SubscriptionArn SNS gives a subscription awaiting confirmation: Subscribe answers
/// "pending confirmation", the listings "PendingConfirmation".
fn is_pending(arn: &str) -> bool {
    !arn.starts_with("arn:")
}

const STATUS_CONFIRMED: &str = "confirmed";
const STATUS_PENDING: &str = "pending confirmation";

fn rid(name: &str) -> ResourceId {
    ResourceId::new(Kind::Subscription, name)
}

fn parts(name: &str) -> Result<(&str, Subscriber), Error> {
    parse_subscription_name(name).ok_or_else(|| {
        Error::Other(format!(
            "{}: subscription names have the form <topic>/<queue|function|email>:<name>",
            rid(name)
        ))
    })
}

/// The declared subscription, if still declared.
fn declared<'a>(spec: &'a Spec, name: &str) -> Option<&'a TopicSubscription> {
    let (topic, subscriber) = parse_subscription_name(name)?;
    spec.topics
        .get(topic)?
        .subscriptions
        .iter()
        .find(|s| s.subscriber == subscriber)
}

/// The managed attributes of a declared subscription, as props: the filter policy (`null`:
/// none) with its scope when there is one, and raw delivery for queues.
fn spec_props(s: &TopicSubscription) -> BTreeMap<String, Value> {
    let mut props = BTreeMap::from([(
        "filter_policy".to_string(),
        s.filter_policy.clone().unwrap_or(Value::Null),
    )]);
    if s.filter_policy.is_some() {
        props.insert(
            "filter_policy_scope".into(),
            Value::from(s.filter_policy_scope.as_sns()),
        );
    }
    if matches!(s.subscriber, Subscriber::Queue(_)) {
        props.insert(
            "raw_message_delivery".into(),
            Value::Bool(s.raw_message_delivery),
        );
    }
    props
}

/// The same props from GetSubscriptionAttributes' answer. An absent, empty or `{}` filter
/// policy is no filter policy.
fn live_props(attrs: &HashMap<String, String>) -> BTreeMap<String, Value> {
    let filter_policy = attrs
        .get("FilterPolicy")
        .map(|raw| raw.trim())
        .filter(|raw| !raw.is_empty())
        .map(|raw| serde_json::from_str::<Value>(raw).unwrap_or_else(|_| Value::from(raw)))
        .filter(|v| v.as_object().is_none_or(|o| !o.is_empty()))
        .unwrap_or(Value::Null);
    let scope = attrs
        .get("FilterPolicyScope")
        .filter(|s| !s.is_empty())
        .cloned()
        .unwrap_or_else(|| FilterPolicyScope::default().as_sns().to_string());
    let raw = attrs
        .get("RawMessageDelivery")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    BTreeMap::from([
        ("filter_policy".to_string(), filter_policy),
        ("filter_policy_scope".to_string(), Value::String(scope)),
        ("raw_message_delivery".to_string(), Value::Bool(raw)),
    ])
}

/// SNS attribute name and value of a managed prop.
fn attribute(prop: &str, value: &Value) -> Option<(&'static str, String)> {
    match prop {
        // `{}` is how SNS removes a filter policy.
        "filter_policy" if value.is_null() => Some(("FilterPolicy", "{}".into())),
        "filter_policy" => Some(("FilterPolicy", value.to_string())),
        "filter_policy_scope" => Some((
            "FilterPolicyScope",
            value.as_str().unwrap_or_default().to_string(),
        )),
        "raw_message_delivery" => Some((
            "RawMessageDelivery",
            value.as_bool().unwrap_or(false).to_string(),
        )),
        _ => None,
    }
}

/// Changed attributes in the order SNS accepts them: a policy that nests is only valid once the
/// scope is the message body, and one that is flat again only needs it after the change.
fn ordered(changes: &[Change]) -> Vec<&Change> {
    let to_body = changes.iter().any(|c| {
        c.attribute == "filter_policy_scope"
            && c.new == Prop::Known(json!(FilterPolicyScope::MessageBody.as_sns()))
    });
    let rank = |c: &&Change| match (c.attribute.as_str(), to_body) {
        ("filter_policy_scope", true) | ("filter_policy", false) => 0,
        ("filter_policy", true) | ("filter_policy_scope", false) => 1,
        _ => 2,
    };
    let mut out: Vec<&Change> = changes.iter().collect();
    out.sort_by_key(rank);
    out
}

/// The endpoint SNS knows the subscriber by: a queue or function ARN in the topic's account and
/// region (where the stack puts them), or the address.
fn endpoint_in_account(ctx: &Ctx, topic_arn: &str, subscriber: &Subscriber) -> Option<String> {
    let arn = parse_arn(topic_arn)?;
    let (partition, region, account) = (arn.partition, arn.region, arn.account);
    Some(match subscriber {
        Subscriber::Queue(q) => format!(
            "arn:{partition}:sqs:{region}:{account}:{}",
            ctx.physical_name(q)
        ),
        Subscriber::Function(f) => format!(
            "arn:{partition}:lambda:{region}:{account}:function:{}",
            ctx.physical_name(f)
        ),
        Subscriber::Email(address) => address.clone(),
    })
}

/// The endpoint from the outputs of the resources created in this run.
fn endpoint_from_known(
    name: &str,
    subscriber: &Subscriber,
    known: &Known,
) -> Result<String, Error> {
    let arn_of =
        |kind: Kind, logical: &str| match output(known, &ResourceId::new(kind, logical), "arn") {
            Prop::Known(Value::String(arn)) => Ok(arn),
            _ => Err(Error::Other(format!(
                "{}: the ARN of {kind} `{logical}` is not known yet",
                rid(name)
            ))),
        };
    match subscriber {
        Subscriber::Queue(q) => arn_of(Kind::Queue, q),
        Subscriber::Function(f) => arn_of(Kind::Function, f),
        Subscriber::Email(address) => Ok(address.clone()),
    }
}

/// One subscription as ListSubscriptionsByTopic shows it.
struct Listed {
    arn: String,
    protocol: String,
    endpoint: String,
}

/// The topic's subscriptions, or `None` if the topic is gone.
async fn list_subscriptions(
    ctx: &Ctx,
    resource: &str,
    topic_arn: &str,
) -> Result<Option<Vec<Listed>>, Error> {
    let mut listed = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = ctx
            .aws
            .sns
            .list_subscriptions_by_topic()
            .topic_arn(topic_arn)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| Error::aws(resource, "ListSubscriptionsByTopic", e));
        let Some(page) = absent_as_none(page, NOT_FOUND)? else {
            return Ok(None);
        };
        for s in page.subscriptions() {
            if let (Some(arn), Some(protocol), Some(endpoint)) =
                (s.subscription_arn(), s.protocol(), s.endpoint())
            {
                listed.push(Listed {
                    arn: arn.to_string(),
                    protocol: protocol.to_string(),
                    endpoint: endpoint.to_string(),
                });
            }
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(Some(listed)),
        }
    }
}

/// The subscription's attributes, or `None` if it is gone.
async fn subscription_attributes(
    ctx: &Ctx,
    resource: &str,
    arn: &str,
) -> Result<Option<HashMap<String, String>>, Error> {
    let got = ctx
        .aws
        .sns
        .get_subscription_attributes()
        .subscription_arn(arn)
        .send()
        .await
        .map_err(|e| Error::aws(resource, "GetSubscriptionAttributes", e));
    Ok(absent_as_none(got, NOT_FOUND)?.map(|out| out.attributes().cloned().unwrap_or_default()))
}

fn outputs(topic_arn: &str, endpoint: &str, arn: Option<&str>) -> Outputs {
    let mut out = Outputs::from([
        ("topic_arn".to_string(), topic_arn.to_string()),
        ("endpoint".to_string(), endpoint.to_string()),
        (
            "status".to_string(),
            if arn.is_some() {
                STATUS_CONFIRMED
            } else {
                STATUS_PENDING
            }
            .to_string(),
        ),
    ]);
    if let Some(arn) = arn {
        out.insert("arn".into(), arn.to_string());
    }
    out
}

/// A subscription awaiting confirmation: nothing can be read or changed until the recipient
/// confirms, so it reads as declared (no difference in `plan`) and has no ARN.
fn pending_live(spec: &Spec, name: &str, topic_arn: &str, endpoint: &str) -> Live {
    Live {
        props: declared(spec, name).map(spec_props).unwrap_or_default(),
        outputs: outputs(topic_arn, endpoint, None),
        owned: true,
    }
}

/// The subscriber a listed subscription on one of this stack's topics stands for, if it is one
/// orderflow manages (see the module docs).
fn managed_subscriber(ctx: &Ctx, protocol: &str, endpoint: &str) -> Option<Subscriber> {
    match protocol {
        "email" => Some(Subscriber::Email(endpoint.to_string())),
        "sqs" => {
            let arn = parse_arn(endpoint).filter(|a| a.service == "sqs")?;
            let logical = ctx.logical_name(arn.resource)?;
            Some(Subscriber::Queue(logical.to_string()))
        }
        "lambda" => {
            let arn = parse_arn(endpoint).filter(|a| a.service == "lambda")?;
            let function = arn.resource.strip_prefix("function:")?;
            // An unqualified function ARN only: a subscription of a version or alias is not ours.
            if function.contains(':') {
                return None;
            }
            let logical = ctx.logical_name(function)?;
            Some(Subscriber::Function(logical.to_string()))
        }
        _ => None,
    }
}

#[async_trait]
impl Provider for SubscriptionProvider {
    fn kind(&self) -> Kind {
        Kind::Subscription
    }

    fn display_name(&self, ctx: &Ctx, name: &str) -> String {
        match parse_subscription_name(name) {
            Some((topic, Subscriber::Email(address))) => {
                format!("{} -> {address}", ctx.physical_name(topic))
            }
            Some((topic, s)) => format!(
                "{} -> {}",
                ctx.physical_name(topic),
                ctx.physical_name(s.name())
            ),
            None => name.to_string(),
        }
    }

    /// The topic; the queue and its policy (delivery is allowed before the subscription
    /// exists), or the function and its invoke permission.
    fn dependencies(&self, _spec: &Spec, name: &str) -> Vec<ResourceId> {
        let Some((topic, subscriber)) = parse_subscription_name(name) else {
            return Vec::new();
        };
        let mut deps = vec![ResourceId::new(Kind::Topic, topic)];
        match &subscriber {
            Subscriber::Queue(q) => {
                deps.push(ResourceId::new(Kind::Queue, q.clone()));
                deps.push(ResourceId::new(Kind::QueuePolicy, q.clone()));
            }
            Subscriber::Function(f) => {
                deps.push(ResourceId::new(Kind::Function, f.clone()));
                deps.push(ResourceId::new(
                    Kind::TopicPermission,
                    super::permission::permission_name(topic, f),
                ));
            }
            Subscriber::Email(_) => {}
        }
        deps
    }

    fn desired(&self, ctx: &Ctx, name: &str, _known: &Known) -> Props {
        declared(&ctx.spec, name)
            .map(spec_props)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, Prop::Known(v)))
            .collect()
    }

    async fn read(&self, ctx: &Ctx, name: &str) -> Result<Option<Live>, Error> {
        let id = rid(name);
        let res = id.to_string();
        let (topic, subscriber) = parts(name)?;
        let Some(topic_arn) = topic_arn(ctx, &res, &ctx.physical_name(topic)).await? else {
            return Ok(None);
        };
        let Some(endpoint) = endpoint_in_account(ctx, &topic_arn, &subscriber) else {
            return Err(Error::Other(format!(
                "{res}: cannot parse the topic ARN {topic_arn}"
            )));
        };
        let Some(listed) = list_subscriptions(ctx, &res, &topic_arn).await? else {
            return Ok(None);
        };
        let protocol = subscriber.protocol();
        // A confirmed subscription first: an address can be pending again after an
        // unsubscribe, next to nothing else.
        let mut matching: Vec<&Listed> = listed
            .iter()
            .filter(|l| {
                l.protocol == protocol
                    && match &subscriber {
                        Subscriber::Email(_) => l.endpoint.eq_ignore_ascii_case(&endpoint),
                        _ => l.endpoint == endpoint,
                    }
            })
            .collect();
        matching.sort_by_key(|l| is_pending(&l.arn));
        let Some(found) = matching.first() else {
            return Ok(None);
        };
        if is_pending(&found.arn) {
            return Ok(Some(pending_live(
                &ctx.spec,
                name,
                &topic_arn,
                &found.endpoint,
            )));
        }
        let Some(attrs) = subscription_attributes(ctx, &res, &found.arn).await? else {
            return Ok(None);
        };
        if attrs
            .get("PendingConfirmation")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return Ok(Some(pending_live(
                &ctx.spec,
                name,
                &topic_arn,
                &found.endpoint,
            )));
        }
        Ok(Some(Live {
            props: live_props(&attrs),
            outputs: outputs(&topic_arn, &found.endpoint, Some(&found.arn)),
            // Untaggable: this stack's because the topic is (checked by the topic's own read).
            owned: true,
        }))
    }

    async fn create(&self, ctx: &Ctx, name: &str, known: &Known) -> Result<Outputs, Error> {
        let id = rid(name);
        let (topic, subscriber) = parts(name)?;
        let topic_arn = match output(known, &ResourceId::new(Kind::Topic, topic), "arn") {
            Prop::Known(Value::String(arn)) => arn,
            _ => {
                return Err(Error::Other(format!(
                    "{id}: the ARN of topic `{topic}` is not known yet"
                )))
            }
        };
        let endpoint = endpoint_from_known(name, &subscriber, known)?;
        let declared = declared(&ctx.spec, name).ok_or_else(|| {
            Error::Other(format!("{id}: subscription is not declared in the spec"))
        })?;
        // Only what differs from SNS's defaults, so that a subscription made by hand with the
        // same settings is the same subscription (Subscribe is idempotent for equal attributes).
        let mut attributes = HashMap::new();
        for (prop, value) in spec_props(declared) {
            let default = match prop.as_str() {
                "filter_policy" => value.is_null(),
                "raw_message_delivery" => value == Value::Bool(false),
                "filter_policy_scope" => value == FilterPolicyScope::default().as_sns(),
                _ => false,
            };
            if let (false, Some((attr, raw))) = (default, attribute(&prop, &value)) {
                attributes.insert(attr.to_string(), raw);
            }
        }
        let out = ctx
            .aws
            .sns
            .subscribe()
            .topic_arn(&topic_arn)
            .protocol(subscriber.protocol())
            .endpoint(&endpoint)
            .set_attributes((!attributes.is_empty()).then_some(attributes))
            .send()
            .await
            .map_err(|e| Error::aws(&id, "Subscribe", e))?;
        let arn = out
            .subscription_arn()
            .filter(|arn| !is_pending(arn))
            .map(str::to_string);
        Ok(outputs(&topic_arn, &endpoint, arn.as_deref()))
    }

    async fn update(
        &self,
        ctx: &Ctx,
        name: &str,
        _known: &Known,
        live: &Live,
        changes: &[Change],
    ) -> Result<Outputs, Error> {
        let res = rid(name).to_string();
        let Some(arn) = live.outputs.get("arn") else {
            return Err(Error::Refused(format!(
                "{res}: the subscription is pending confirmation; its attributes can be changed once the recipient has confirmed it"
            )));
        };
        for change in ordered(changes) {
            let value = known_value(&res, change)?;
            let Some((attr, raw)) = attribute(&change.attribute, value) else {
                return Err(unknown_attribute(&res, &change.attribute));
            };
            ctx.aws
                .sns
                .set_subscription_attributes()
                .subscription_arn(arn)
                .attribute_name(attr)
                .attribute_value(raw)
                .send()
                .await
                .map_err(|e| Error::aws(&res, "SetSubscriptionAttributes", e))?;
        }
        Ok(live.outputs.clone())
    }

    async fn discover(&self, ctx: &Ctx) -> Result<Vec<Discovered>, Error> {
        let res = format!("{}.*", Kind::Subscription);
        let mut found = Vec::new();
        for (topic, topic_arn) in owned_topics(ctx, &res).await? {
            let Some(listed) = list_subscriptions(ctx, &res, &topic_arn).await? else {
                continue;
            };
            for l in listed {
                // Pending ones cannot be unsubscribed; SNS drops them after 48 hours.
                if is_pending(&l.arn) {
                    continue;
                }
                let Some(subscriber) = managed_subscriber(ctx, &l.protocol, &l.endpoint) else {
                    continue;
                };
                let name = subscription_name(&topic, &subscriber);
                found.push(Discovered {
                    physical: format!("{} -> {}", name_from_arn(&topic_arn), l.endpoint),
                    id: rid(&name),
                    handle: l.arn,
                });
            }
        }
        Ok(found)
    }

    async fn delete(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
        let deleted = ctx
            .aws
            .sns
            .unsubscribe()
            .subscription_arn(&target.handle)
            .send()
            .await
            .map_err(|e| Error::aws(&target.id, "Unsubscribe", e));
        absent_as_none(deleted, NOT_FOUND)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::test_support::{spec, test_ctx};
    use crate::spec::model::Topic;

    fn sub(subscriber: Subscriber, filter: Option<Value>, raw: bool) -> TopicSubscription {
        TopicSubscription {
            subscriber,
            filter_policy: filter,
            filter_policy_scope: FilterPolicyScope::MessageAttributes,
            raw_message_delivery: raw,
        }
    }

    fn ctx_with(subs: Vec<TopicSubscription>) -> Ctx {
        let mut s = spec();
        s.topics.insert(
            "notify".into(),
            Topic {
                display_name: None,
                subscriptions: subs,
            },
        );
        test_ctx(s)
    }

    #[test]
    fn desired_props_per_protocol() {
        let ctx = ctx_with(vec![
            sub(
                Subscriber::Queue("audit".into()),
                Some(json!({"status": ["PROCESSED"]})),
                true,
            ),
            sub(Subscriber::Function("f".into()), None, false),
            sub(Subscriber::Email("ops@example.com".into()), None, false),
        ]);
        let known = Known::new();
        assert_eq!(
            SubscriptionProvider.desired(&ctx, "notify/queue:audit", &known),
            Props::from([
                (
                    "filter_policy".to_string(),
                    json!({"status": ["PROCESSED"]}).into()
                ),
                (
                    "filter_policy_scope".to_string(),
                    "MessageAttributes".into()
                ),
                ("raw_message_delivery".to_string(), true.into()),
            ])
        );
        assert_eq!(
            SubscriptionProvider.desired(&ctx, "notify/function:f", &known),
            Props::from([("filter_policy".to_string(), Value::Null.into())])
        );
        assert_eq!(
            SubscriptionProvider.desired(&ctx, "notify/email:ops@example.com", &known),
            Props::from([("filter_policy".to_string(), Value::Null.into())])
        );
        assert!(SubscriptionProvider
            .desired(&ctx, "notify/queue:undeclared", &known)
            .is_empty());
    }

    #[test]
    fn dependencies_put_delivery_rights_first() {
        let ctx = ctx_with(Vec::new());
        assert_eq!(
            SubscriptionProvider.dependencies(&ctx.spec, "notify/queue:audit"),
            vec![
                ResourceId::new(Kind::Topic, "notify"),
                ResourceId::new(Kind::Queue, "audit"),
                ResourceId::new(Kind::QueuePolicy, "audit"),
            ]
        );
        assert_eq!(
            SubscriptionProvider.dependencies(&ctx.spec, "notify/function:f"),
            vec![
                ResourceId::new(Kind::Topic, "notify"),
                ResourceId::new(Kind::Function, "f"),
                ResourceId::new(Kind::TopicPermission, "notify/f"),
            ]
        );
        assert_eq!(
            SubscriptionProvider.dependencies(&ctx.spec, "notify/email:a@example.com"),
            vec![ResourceId::new(Kind::Topic, "notify")]
        );
        assert_eq!(
            SubscriptionProvider.display_name(&ctx, "notify/queue:audit"),
            "shop-notify -> shop-audit"
        );
        assert_eq!(
            SubscriptionProvider.display_name(&ctx, "notify/email:a@example.com"),
            "shop-notify -> a@example.com"
        );
    }

    #[test]
    fn live_attributes_normalise_like_desired() {
        let attrs = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let props = live_props(&attrs(&[
            ("FilterPolicy", r#"{"status":["PROCESSED","REJECTED"]}"#),
            ("FilterPolicyScope", "MessageAttributes"),
            ("RawMessageDelivery", "true"),
            ("PendingConfirmation", "false"),
        ]));
        let declared = spec_props(&sub(
            Subscriber::Queue("q".into()),
            Some(json!({"status": ["PROCESSED", "REJECTED"]})),
            true,
        ));
        assert_eq!(props, declared);
        // No policy, the `{}` SNS keeps after a removal, and an empty one all mean none.
        for raw in [None, Some("{}"), Some("")] {
            let mut a = attrs(&[("RawMessageDelivery", "false")]);
            if let Some(raw) = raw {
                a.insert("FilterPolicy".into(), raw.into());
            }
            let props = live_props(&a);
            assert_eq!(props["filter_policy"], Value::Null);
            assert_eq!(props["filter_policy_scope"], json!("MessageAttributes"));
            assert_eq!(props["raw_message_delivery"], json!(false));
        }
    }

    #[test]
    fn attributes_are_sns_strings() {
        assert_eq!(
            attribute("filter_policy", &Value::Null),
            Some(("FilterPolicy", "{}".to_string()))
        );
        assert_eq!(
            attribute("filter_policy", &json!({"a": [1]})),
            Some(("FilterPolicy", r#"{"a":[1]}"#.to_string()))
        );
        assert_eq!(
            attribute("raw_message_delivery", &json!(true)),
            Some(("RawMessageDelivery", "true".to_string()))
        );
        assert_eq!(
            attribute("filter_policy_scope", &json!("MessageBody")),
            Some(("FilterPolicyScope", "MessageBody".to_string()))
        );
        assert_eq!(attribute("endpoint", &json!("x")), None);
    }

    #[test]
    fn scope_and_policy_change_in_an_order_sns_accepts() {
        let change = |attribute: &str, new: Value| Change {
            attribute: attribute.into(),
            old: None,
            new: Prop::Known(new),
        };
        let to_body = [
            change("filter_policy", json!({"order": {"total": [1]}})),
            change("raw_message_delivery", json!(true)),
            change("filter_policy_scope", json!("MessageBody")),
        ];
        let order: Vec<&str> = ordered(&to_body)
            .iter()
            .map(|c| c.attribute.as_str())
            .collect();
        assert_eq!(
            order,
            [
                "filter_policy_scope",
                "filter_policy",
                "raw_message_delivery"
            ]
        );
        let to_attributes = [
            change("filter_policy_scope", json!("MessageAttributes")),
            change("filter_policy", json!({"status": ["A"]})),
        ];
        let order: Vec<&str> = ordered(&to_attributes)
            .iter()
            .map(|c| c.attribute.as_str())
            .collect();
        assert_eq!(order, ["filter_policy", "filter_policy_scope"]);
    }

    #[tokio::test]
    async fn a_pending_subscription_shows_no_difference_and_refuses_updates() {
        let mut policy = sub(Subscriber::Email("ops@example.com".into()), None, false);
        policy.filter_policy = Some(json!({"status": ["REJECTED"]}));
        let ctx = ctx_with(vec![policy]);
        let name = "notify/email:ops@example.com";
        let live = pending_live(
            &ctx.spec,
            name,
            "arn:aws:sns:us-east-1:1:shop-notify",
            "ops@example.com",
        );
        let desired = SubscriptionProvider.desired(&ctx, name, &Known::new());
        assert!(crate::resources::diff(&desired, &live.props).is_empty());
        assert_eq!(live.outputs["status"], "pending confirmation");
        assert!(!live.outputs.contains_key("arn"));
        // Should a change come anyway, it is refused without a call.
        let change = Change {
            attribute: "filter_policy".into(),
            old: None,
            new: Prop::Known(Value::Null),
        };
        let err = SubscriptionProvider
            .update(&ctx, name, &Known::new(), &live, &[change])
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Refused(m) if m.contains("pending confirmation")),
            "{err}"
        );
        assert!(ctx.aws.calls.calls().is_empty());
    }

    #[test]
    fn endpoints_and_managed_subscribers() {
        let ctx = ctx_with(Vec::new());
        let topic = "arn:aws:sns:eu-west-1:123456789012:shop-notify";
        assert_eq!(
            endpoint_in_account(&ctx, topic, &Subscriber::Queue("audit".into())).as_deref(),
            Some("arn:aws:sqs:eu-west-1:123456789012:shop-audit")
        );
        assert_eq!(
            endpoint_in_account(&ctx, topic, &Subscriber::Function("f".into())).as_deref(),
            Some("arn:aws:lambda:eu-west-1:123456789012:function:shop-f")
        );
        assert_eq!(
            managed_subscriber(&ctx, "sqs", "arn:aws:sqs:eu-west-1:1:shop-audit"),
            Some(Subscriber::Queue("audit".into()))
        );
        assert_eq!(
            managed_subscriber(&ctx, "lambda", "arn:aws:lambda:eu-west-1:1:function:shop-f"),
            Some(Subscriber::Function("f".into()))
        );
        assert_eq!(
            managed_subscriber(
                &ctx,
                "lambda",
                "arn:aws:lambda:eu-west-1:1:function:shop-f:live"
            ),
            None
        );
        assert_eq!(
            managed_subscriber(&ctx, "sqs", "arn:aws:sqs:eu-west-1:1:other-audit"),
            None
        );
        assert_eq!(
            managed_subscriber(&ctx, "https", "https://example.com/hook"),
            None
        );
        assert_eq!(
            managed_subscriber(&ctx, "email", "ops@example.com"),
            Some(Subscriber::Email("ops@example.com".into()))
        );
        assert!(is_pending("PendingConfirmation"));
        assert!(is_pending("pending confirmation"));
        assert!(!is_pending(
            "arn:aws:sns:eu-west-1:1:shop-notify:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"
        ));
    }
}
