//! EventBridge rule `<stack>-<rule>` on a declared bus, with one target per declared destination
//! (target id: [`crate::kinds::rule::Destination::target_id`]), each with its input, retry
//! policy and optional dead-letter queue. What lets EventBridge deliver to a target is another
//! resource's job (`Kind::Permission`, `Kind::QueuePolicy`, `Kind::TopicPolicy`).

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_eventbridge::types::{Rule as SdkRule, RuleState};
use serde_json::Value;

use super::targets::{
    desired_targets, list_targets, live_target_value, put_targets, remove_targets, sorted_targets,
    target_changes,
};
use crate::error::Error;
use crate::kinds::bus::provider::{
    event_resource_tags, event_tags, list_stack_buses, update_event_tags,
};
use crate::kinds::declared;
use crate::resources::tags::{desired_tags, live_managed_tags};
use crate::resources::{
    absent_as_none, known_value, ref_target, resolve_template, text_value, unknown_attribute,
    Change, Ctx, Discovered, Kind, Known, Live, Outputs, Prop, Props, Provider, ResourceId,
};
use crate::retry::{retry, Backoff};
use crate::spec::model::Rule;
use crate::spec::Spec;

pub struct RuleProvider;

/// RemoveTargets is eventually consistent: DeleteRule can still see the targets for a moment.
const TARGETS_DETACHING: Backoff = Backoff::new(500, 5_000, 60);

/// The account's default event bus (where AWS services such as S3 send their events); a rule
/// may be on it, but it is never the stack's: not created, tagged or deleted.
pub const DEFAULT_BUS: &str = "default";

/// The bus name EventBridge knows: `default`, or `<stack>-<bus>`.
fn bus_physical(ctx: &Ctx, bus: &str) -> String {
    if bus == DEFAULT_BUS {
        DEFAULT_BUS.to_string()
    } else {
        ctx.physical_name(bus)
    }
}

fn resource(name: &str) -> String {
    format!("{}.{name}", Kind::Rule)
}

/// The event pattern with its `${...}` references filled in; `Unknown` until they are known.
fn rendered_pattern(rule: &Rule, known: &Known) -> Prop {
    fn render(v: &Value, rule: &Rule, known: &Known) -> Option<Value> {
        Some(match v {
            Value::String(s) => match rule.pattern_references.get(s) {
                Some(t) => match resolve_template(t, known) {
                    Prop::Known(rendered) => rendered,
                    Prop::Unknown => return None,
                },
                None => v.clone(),
            },
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| render(i, rule, known))
                    .collect::<Option<_>>()?,
            ),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| Some((k.clone(), render(v, rule, known)?)))
                    .collect::<Option<_>>()?,
            ),
            other => other.clone(),
        })
    }
    match render(&rule.event_pattern, rule, known) {
        Some(p) => Prop::Known(p),
        None => Prop::Unknown,
    }
}

/// The rules named `<stack>-*` on one bus (ListRules, every page; `None` when the bus does not
/// exist). Shared while planning by the rules' reads and discovery: ListRules reports what
/// DescribeRule does (pattern, state, description, ARN).
async fn stack_rules(
    ctx: &Ctx,
    res: &str,
    bus: &str,
) -> Result<std::sync::Arc<Option<Vec<SdkRule>>>, Error> {
    let prefix = format!("{}-", ctx.spec.stack);
    ctx.aws
        .reads
        .get("EventBridge.ListRules", bus, || async {
            let mut rules = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let out = match ctx
                    .aws
                    .events
                    .list_rules()
                    .event_bus_name(bus)
                    .name_prefix(&prefix)
                    .set_next_token(token.take())
                    .send()
                    .await
                {
                    Ok(out) => out,
                    Err(e) => {
                        let err = Error::aws(res, "ListRules", e);
                        return if is_not_found(&err) {
                            Ok(None)
                        } else {
                            Err(err)
                        };
                    }
                };
                rules.extend(out.rules().iter().cloned());
                match out.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_string()),
                    _ => return Ok(Some(rules)),
                }
            }
        })
        .await
}

/// What a read needs of a rule: ARN, event pattern, state, description.
struct RuleDetails {
    arn: String,
    pattern: Option<String>,
    state: Option<String>,
    description: Option<String>,
}

/// One rule: while planning from its bus's rule listing, else (or when the listing, which may
/// lag, does not show it) from DescribeRule. `None`: no such rule (or bus).
async fn rule_details(
    ctx: &Ctx,
    res: &str,
    bus: &str,
    physical: &str,
) -> Result<Option<RuleDetails>, Error> {
    if ctx.aws.reads.is_planning() {
        let listed = stack_rules(ctx, res, bus).await?;
        let found = listed
            .as_ref()
            .iter()
            .flatten()
            .find(|r| r.name() == Some(physical));
        if let Some(r) = found {
            if let Some(arn) = r.arn() {
                return Ok(Some(RuleDetails {
                    arn: arn.to_string(),
                    pattern: r.event_pattern().map(str::to_string),
                    state: r.state().map(|s| s.as_str().to_string()),
                    description: r.description().map(str::to_string),
                }));
            }
        }
    }
    let described = match ctx
        .aws
        .events
        .describe_rule()
        .name(physical)
        .event_bus_name(bus)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            let err = Error::aws(res, "DescribeRule", e);
            // Also what AWS answers when the bus itself does not exist.
            if is_not_found(&err) {
                return Ok(None);
            }
            return Err(err);
        }
    };
    let arn = described
        .arn()
        .ok_or_else(|| Error::Other(format!("{res}: DescribeRule returned no ARN")))?
        .to_string();
    Ok(Some(RuleDetails {
        arn,
        pattern: described.event_pattern().map(str::to_string),
        state: described.state().map(|s| s.as_str().to_string()),
        description: described.description().map(str::to_string),
    }))
}

/// PutRule with every rule attribute: PutRule replaces the rule's definition (tags excepted).
async fn put_rule(
    ctx: &Ctx,
    res: &str,
    name: &str,
    known: &Known,
    with_tags: bool,
) -> Result<String, Error> {
    let rule = declared(&ctx.spec.rules, name)?;
    let Prop::Known(pattern) = rendered_pattern(rule, known) else {
        return Err(Error::Other(format!(
            "{res}: a reference in the event pattern is still unknown"
        )));
    };
    let mut request = ctx
        .aws
        .events
        .put_rule()
        .name(ctx.physical_name(name))
        .event_bus_name(bus_physical(ctx, &rule.bus))
        .event_pattern(pattern.to_string())
        .state(RuleState::Enabled)
        // An empty description clears a previous one.
        .description(rule.description.clone().unwrap_or_default());
    if with_tags {
        request = request.set_tags(Some(event_tags(res, &ctx.tags())?));
    }
    let out = request
        .send()
        .await
        .map_err(|e| Error::aws(res, "PutRule", e))?;
    out.rule_arn()
        .map(str::to_string)
        .ok_or_else(|| Error::Other(format!("{res}: PutRule returned no ARN")))
}

fn outputs(physical: &str, arn: &str) -> Outputs {
    Outputs::from([
        ("name".to_string(), physical.to_string()),
        ("arn".to_string(), arn.to_string()),
    ])
}

/// EventBridge's answer for a rule (or its bus) that does not exist.
const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

fn is_not_found(e: &Error) -> bool {
    e.code().is_some_and(|c| NOT_FOUND.contains(&c))
}

#[async_trait]
impl Provider for RuleProvider {
    fn kind(&self) -> Kind {
        Kind::Rule
    }

    fn dependencies(&self, spec: &Spec, name: &str) -> Vec<ResourceId> {
        let Some(rule) = spec.rules.get(name) else {
            return Vec::new();
        };
        let mut deps = Vec::new();
        if rule.bus != DEFAULT_BUS {
            deps.push(ResourceId::new(Kind::Bus, rule.bus.clone()));
        }
        deps.extend(
            rule.pattern_references
                .values()
                .flat_map(|t| t.refs())
                .map(ref_target),
        );
        for t in &rule.targets {
            deps.push(t.destination.resource());
            if matches!(t.destination, crate::kinds::rule::Destination::Bus(_)) {
                deps.push(crate::kinds::service_role::rule_role(name));
            }
            if let Some(q) = &t.dead_letter_queue {
                deps.push(ResourceId::new(Kind::Queue, q.clone()));
            }
        }
        deps.sort();
        deps.dedup();
        deps
    }

    fn desired(&self, ctx: &Ctx, name: &str, known: &Known) -> Props {
        let Some(rule) = ctx.spec.rules.get(name) else {
            return Props::new();
        };
        Props::from([
            ("event_pattern".into(), rendered_pattern(rule, known)),
            ("state".into(), RuleState::Enabled.as_str().into()),
            (
                "description".into(),
                text_value(rule.description.as_deref()).into(),
            ),
            ("targets".into(), desired_targets(name, rule, known)),
            ("tags".into(), desired_tags(ctx).into()),
        ])
    }

    async fn read(&self, ctx: &Ctx, name: &str) -> Result<Option<Live>, Error> {
        let res = resource(name);
        let rule = declared(&ctx.spec.rules, name)?;
        let physical = ctx.physical_name(name);
        let bus = bus_physical(ctx, &rule.bus);
        let Some(described) = rule_details(ctx, &res, &bus, &physical).await? else {
            return Ok(None);
        };
        let arn = described.arn.clone();
        let pattern = described
            .pattern
            .as_deref()
            .map(|p| serde_json::from_str(p).unwrap_or_else(|_| Value::String(p.to_string())))
            .unwrap_or(Value::Null);
        // A rule deleted a moment ago may still be listed: gone if its targets or tags are.
        let targets = list_targets(ctx, &res, &bus, &physical).await;
        let Some(targets) = absent_as_none(targets, NOT_FOUND)? else {
            return Ok(None);
        };
        let tags = event_resource_tags(ctx, &res, &arn).await;
        let Some(tags) = absent_as_none(tags, NOT_FOUND)? else {
            return Ok(None);
        };
        Ok(Some(Live {
            props: BTreeMap::from([
                ("event_pattern".into(), pattern),
                (
                    "state".into(),
                    described.state.map(Value::String).unwrap_or(Value::Null),
                ),
                (
                    "description".into(),
                    text_value(described.description.as_deref()),
                ),
                (
                    "targets".into(),
                    sorted_targets(targets.iter().map(live_target_value).collect()),
                ),
                ("tags".into(), live_managed_tags(ctx, &tags)),
            ]),
            outputs: outputs(&physical, &arn),
            owned: ctx.is_owned(&tags),
        }))
    }

    async fn create(&self, ctx: &Ctx, name: &str, known: &Known) -> Result<Outputs, Error> {
        let res = resource(name);
        let rule = declared(&ctx.spec.rules, name)?;
        let physical = ctx.physical_name(name);
        let bus = bus_physical(ctx, &rule.bus);
        let Prop::Known(targets) = desired_targets(name, rule, known) else {
            return Err(Error::Other(format!(
                "{res}: a target function or dead-letter queue is still unknown at create time"
            )));
        };
        let arn = put_rule(ctx, &res, name, known, true).await?;
        let (put, _) = target_changes(&targets, None);
        put_targets(ctx, &res, &bus, &physical, &put).await?;
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
        let rule = declared(&ctx.spec.rules, name)?;
        let physical = ctx.physical_name(name);
        let bus = bus_physical(ctx, &rule.bus);
        let mut outputs = live.outputs.clone();
        let arn = live.output(&res, "arn", "ARN")?.clone();
        if changes.iter().any(|c| {
            matches!(
                c.attribute.as_str(),
                "event_pattern" | "state" | "description"
            )
        }) {
            let new_arn = put_rule(ctx, &res, name, known, false).await?;
            outputs.insert("arn".into(), new_arn);
        }
        for change in changes {
            match change.attribute.as_str() {
                "event_pattern" | "state" | "description" => {}
                "targets" => {
                    let desired = known_value(&res, change)?;
                    let (put, remove) = target_changes(desired, change.old.as_ref());
                    // Remove first: a target id could otherwise collide with the per-rule limit.
                    remove_targets(ctx, &res, &bus, &physical, &remove).await?;
                    put_targets(ctx, &res, &bus, &physical, &put).await?;
                }
                "tags" => update_event_tags(ctx, &res, &arn, change).await?,
                other => return Err(unknown_attribute(&res, other)),
            }
        }
        Ok(outputs)
    }

    async fn discover(&self, ctx: &Ctx) -> Result<Vec<Discovered>, Error> {
        let res = format!("{}.*", Kind::Rule);
        let prefix = format!("{}-", ctx.spec.stack);
        let mut found = Vec::new();
        // The default bus too: rules on it (S3 events) are the stack's by name and tag.
        let mut buses: Vec<String> = list_stack_buses(ctx, &res)
            .await?
            .into_iter()
            .map(|(bus, _)| bus)
            .collect();
        buses.push(DEFAULT_BUS.to_string());
        for bus in buses {
            // The bus was deleted since it was listed: nothing on it.
            let listed = stack_rules(ctx, &res, &bus).await?;
            for r in listed.as_ref().iter().flatten() {
                let (Some(physical), Some(arn)) = (r.name(), r.arn()) else {
                    continue;
                };
                if !physical.starts_with(&prefix) {
                    continue;
                }
                let Some(logical) = ctx.logical_name(physical) else {
                    continue;
                };
                let tags = event_resource_tags(ctx, &resource(logical), arn).await;
                // Deleted between the listing and now: nothing to discover.
                let Some(tags) = absent_as_none(tags, NOT_FOUND)? else {
                    continue;
                };
                if ctx.is_owned(&tags) {
                    found.push(Discovered {
                        id: ResourceId::new(Kind::Rule, logical),
                        physical: physical.to_string(),
                        handle: format!("{bus}/{physical}"),
                    });
                }
            }
        }
        Ok(found)
    }

    /// The rule's `bus` changed: the copy on the old bus is not the declared one any more.
    fn is_stale(&self, ctx: &Ctx, found: &Discovered) -> bool {
        let Some(rule) = ctx.spec.rules.get(&found.id.name) else {
            return false;
        };
        let declared_bus = bus_physical(ctx, &rule.bus);
        found
            .handle
            .split_once('/')
            .is_some_and(|(bus, _)| bus != declared_bus)
    }

    async fn delete(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
        let res = target.id.to_string();
        let (bus, rule) = target.handle.split_once('/').ok_or_else(|| {
            Error::Other(format!(
                "{res}: malformed handle `{}` (expected <bus>/<rule>)",
                target.handle
            ))
        })?;
        let Some(targets) = absent_as_none(list_targets(ctx, &res, bus, rule).await, NOT_FOUND)?
        else {
            return Ok(());
        };
        let ids: Vec<String> = targets.iter().map(|t| t.id().to_string()).collect();
        let removed = remove_targets(ctx, &res, bus, rule, &ids).await;
        if absent_as_none(removed, NOT_FOUND)?.is_none() {
            return Ok(());
        }
        let deleted = retry(
            TARGETS_DETACHING,
            |e| {
                e.code() == Some("ValidationException")
                    && e.aws_message().is_some_and(|m| m.contains("target"))
            },
            || async {
                ctx.aws
                    .events
                    .delete_rule()
                    .name(rule)
                    .event_bus_name(bus)
                    .send()
                    .await
                    .map_err(|e| Error::aws(&res, "DeleteRule", e))
            },
        )
        .await;
        absent_as_none(deleted, NOT_FOUND)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::targets::sdk_target;
    use super::*;
    use crate::resources::test_support::{spec, test_ctx};
    use crate::spec::model::{Destination, RuleTarget, TargetInput};
    use aws_sdk_eventbridge::types::Target;
    use serde_json::json;

    fn rule() -> Rule {
        Rule {
            bus: "orders".into(),
            description: None,
            event_pattern: json!({"source": ["shop.orders"], "detail-type": ["OrderPlaced"]}),
            pattern_references: Default::default(),
            targets: vec![
                RuleTarget {
                    destination: Destination::Function("validate-order".into()),
                    input: TargetInput::Event,
                    maximum_retry_attempts: 3,
                    maximum_event_age_secs: 3600,
                    dead_letter_queue: Some("rule-dlq".into()),
                },
                RuleTarget {
                    destination: Destination::Queue("audit".into()),
                    input: TargetInput::Path("$.detail".into()),
                    maximum_retry_attempts: 185,
                    maximum_event_age_secs: 86400,
                    dead_letter_queue: None,
                },
                RuleTarget {
                    destination: Destination::Topic("news".into()),
                    input: TargetInput::Transformer {
                        paths: BTreeMap::from([("order".into(), "$.detail.order_id".into())]),
                        template: r#"{"order": <order>, "rule": "<aws.events.rule-name>"}"#.into(),
                    },
                    maximum_retry_attempts: 185,
                    maximum_event_age_secs: 86400,
                    dead_letter_queue: None,
                },
            ],
        }
    }

    fn known_all() -> Known {
        let mut known = Known::new();
        for (kind, name, arn) in [
            (
                Kind::Function,
                "validate-order",
                "arn:aws:lambda:us-east-1:1:function:shop-validate-order",
            ),
            (
                Kind::Function,
                "audit",
                "arn:aws:lambda:us-east-1:1:function:shop-audit",
            ),
            (
                Kind::Queue,
                "rule-dlq",
                "arn:aws:sqs:us-east-1:1:shop-rule-dlq",
            ),
            (Kind::Queue, "audit", "arn:aws:sqs:us-east-1:1:shop-audit"),
            (Kind::Topic, "news", "arn:aws:sns:us-east-1:1:shop-news"),
        ] {
            known.insert(
                ResourceId::new(kind, name),
                Outputs::from([("arn".to_string(), arn.to_string())]),
            );
        }
        known
    }

    #[test]
    fn targets_are_sorted_by_id_with_retry_policy_and_dlq() {
        let Prop::Known(targets) = desired_targets("x", &rule(), &known_all()) else {
            panic!("targets should be known");
        };
        assert_eq!(
            targets,
            json!([
                {
                    "id": "queue-audit",
                    "arn": "arn:aws:sqs:us-east-1:1:shop-audit",
                    "input": {"path": "$.detail"},
                    "retry_policy": {"maximum_retry_attempts": 185, "maximum_event_age_in_seconds": 86400},
                    "dead_letter_arn": null,
                    "role_arn": null,
                },
                {
                    "id": "topic-news",
                    "arn": "arn:aws:sns:us-east-1:1:shop-news",
                    "input": {
                        "paths": {"order": "$.detail.order_id"},
                        "template": "{\"order\": <order>, \"rule\": \"<aws.events.rule-name>\"}",
                    },
                    "retry_policy": {"maximum_retry_attempts": 185, "maximum_event_age_in_seconds": 86400},
                    "dead_letter_arn": null,
                    "role_arn": null,
                },
                {
                    "id": "validate-order",
                    "arn": "arn:aws:lambda:us-east-1:1:function:shop-validate-order",
                    "input": null,
                    "retry_policy": {"maximum_retry_attempts": 3, "maximum_event_age_in_seconds": 3600},
                    "dead_letter_arn": "arn:aws:sqs:us-east-1:1:shop-rule-dlq",
                    "role_arn": null,
                },
            ])
        );
    }

    #[test]
    fn targets_are_unknown_until_every_dependency_exists() {
        let mut known = known_all();
        known.remove(&ResourceId::new(Kind::Queue, "rule-dlq"));
        assert_eq!(desired_targets("x", &rule(), &known), Prop::Unknown);
    }

    #[test]
    fn live_targets_round_trip_to_the_desired_form() {
        let Prop::Known(desired) = desired_targets("x", &rule(), &known_all()) else {
            panic!("targets should be known");
        };
        let sdk: Vec<Target> = desired
            .as_array()
            .unwrap()
            .iter()
            .map(|t| sdk_target("rule.x", t).unwrap())
            .collect();
        let live = sorted_targets(sdk.iter().rev().map(live_target_value).collect());
        assert_eq!(live, desired);
    }

    #[test]
    fn target_changes_put_changed_and_remove_undeclared() {
        let desired = json!([
            {"id": "a", "arn": "arn:a2", "retry_policy": null, "dead_letter_arn": null},
            {"id": "b", "arn": "arn:b", "retry_policy": null, "dead_letter_arn": null},
        ]);
        let live = json!([
            {"id": "a", "arn": "arn:a1", "retry_policy": null, "dead_letter_arn": null},
            {"id": "b", "arn": "arn:b", "retry_policy": null, "dead_letter_arn": null},
            {"id": "c", "arn": "arn:c", "retry_policy": null, "dead_letter_arn": null},
        ]);
        let (put, remove) = target_changes(&desired, Some(&live));
        assert_eq!(put, vec![&desired[0]]);
        assert_eq!(remove, vec!["c".to_string()]);
        let (put, remove) = target_changes(&desired, None);
        assert_eq!(put.len(), 2);
        assert!(remove.is_empty());
    }

    #[test]
    fn dependencies_cover_bus_destinations_and_dead_letter_queues() {
        let mut s = spec();
        s.rules.insert("placed".into(), rule());
        let deps = RuleProvider.dependencies(&s, "placed");
        assert_eq!(
            deps,
            vec![
                ResourceId::new(Kind::Topic, "news"),
                ResourceId::new(Kind::Function, "validate-order"),
                ResourceId::new(Kind::Queue, "audit"),
                ResourceId::new(Kind::Queue, "rule-dlq"),
                ResourceId::new(Kind::Bus, "orders"),
            ]
        );
    }

    #[test]
    fn desired_props_compare_equal_to_normalised_live_props() {
        let mut s = spec();
        s.rules.insert("placed".into(), rule());
        let ctx = test_ctx(s);
        let props = RuleProvider.desired(&ctx, "placed", &known_all());
        assert_eq!(props["state"], Prop::Known(json!("ENABLED")));
        assert_eq!(props["description"], Prop::Known(Value::Null));
        assert_eq!(
            props["tags"],
            Prop::Known(json!({"orderflow:stack": "shop", "team": "orders"}))
        );
        // A live pattern with keys in another order is the same pattern.
        let live_pattern: Value =
            serde_json::from_str(r#"{"detail-type":["OrderPlaced"],"source":["shop.orders"]}"#)
                .unwrap();
        assert_eq!(props["event_pattern"], Prop::Known(live_pattern));
    }
}
