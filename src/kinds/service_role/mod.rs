//! Roles AWS services assume to deliver for the stack: EventBridge, for a rule whose targets
//! include another bus (`rule/<rule>`), and EventBridge Pipes, for a table's change events
//! (`pipe/<table>`). Derived, never declared.
//!
//! Each is an [`IamRoleProvider`] role named `<stack>-<owner>.<rule|pipe>` — the dot cannot
//! occur in a logical name, so it never collides with a function's role `<stack>-<function>` —
//! under its own path `/orderflow-service/<stack>/`. Its trust lets only the service assume it,
//! and only for that rule or pipe of this account (`aws:SourceArn`, `aws:SourceAccount`: the
//! confused-deputy guard AWS recommends); its one inline policy allows only the delivery.

use serde_json::{json, Value};

use crate::kinds::pipe::pipe_name;
use crate::kinds::rule::provider::DEFAULT_BUS;
use crate::kinds::rule::Destination;
use crate::resources::iam_role::{IamRoleProvider, RoleShape};
use crate::resources::{output_value, Ctx, Kind, Known, Prop, ResourceId};
use crate::spec::Spec;

pub struct ServiceRole;

pub type ServiceRoleProvider = IamRoleProvider<ServiceRole>;

/// The provider of service roles (for the kind registry).
pub const SERVICE_ROLE_PROVIDER: ServiceRoleProvider = IamRoleProvider::new();

/// Who a service role is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner<'a> {
    /// EventBridge delivering a rule's events to another bus.
    Rule(&'a str),
    /// EventBridge Pipes publishing a table's stream records on a bus.
    Pipe(&'a str),
}

impl<'a> Owner<'a> {
    /// The graph name `rule/<rule>` or `pipe/<table>`.
    pub fn parse(name: &'a str) -> Option<Owner<'a>> {
        match name.split_once('/')? {
            ("rule", rule) => Some(Owner::Rule(rule)),
            ("pipe", table) => Some(Owner::Pipe(table)),
            _ => None,
        }
    }

    fn suffix(&self) -> (&'a str, &'static str) {
        match self {
            Owner::Rule(n) => (n, "rule"),
            Owner::Pipe(n) => (n, "pipe"),
        }
    }
}

/// The graph id of the role EventBridge assumes for `rule`'s bus targets.
pub fn rule_role(rule: &str) -> ResourceId {
    ResourceId::new(Kind::ServiceRole, format!("rule/{rule}"))
}

/// The graph id of the role EventBridge Pipes assumes for `table`'s change events.
pub fn pipe_role(table: &str) -> ResourceId {
    ResourceId::new(Kind::ServiceRole, format!("pipe/{table}"))
}

/// Role names are at most 64 characters.
pub const MAX_ROLE_NAME: usize = 64;

/// The role name of a service role: `<stack>-<owner>.<rule|pipe>`.
pub fn role_name(stack: &str, owner: &Owner<'_>) -> String {
    let (name, suffix) = owner.suffix();
    format!("{stack}-{name}.{suffix}")
}

/// The buses (logical names) a rule delivers to with its role.
fn target_buses<'s>(spec: &'s Spec, rule: &str) -> Vec<&'s str> {
    spec.rules
        .get(rule)
        .map(|r| {
            r.targets
                .iter()
                .filter_map(|t| match &t.destination {
                    Destination::Bus(b) => Some(b.as_str()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn statement(sid: &str, actions: &[&str], resource: &str) -> Value {
    json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resource })
}

impl RoleShape for ServiceRole {
    const KIND: Kind = Kind::ServiceRole;

    fn path(stack: &str) -> String {
        format!("/orderflow-service/{stack}/")
    }

    fn role_name(ctx: &Ctx, name: &str) -> String {
        match Owner::parse(name) {
            Some(owner) => role_name(&ctx.spec.stack, &owner),
            None => ctx.physical_name(name),
        }
    }

    fn logical_name(ctx: &Ctx, role_name: &str) -> Option<String> {
        let rest = ctx.logical_name(role_name)?;
        let (owner, suffix) = rest.rsplit_once('.')?;
        matches!(suffix, "rule" | "pipe").then(|| format!("{suffix}/{owner}"))
    }

    fn description(ctx: &Ctx, name: &str) -> String {
        let stack = &ctx.spec.stack;
        match Owner::parse(name) {
            Some(Owner::Rule(rule)) => format!(
                "EventBridge delivers rule {} to its bus targets (orderflow stack {stack})",
                ctx.physical_name(rule)
            ),
            Some(Owner::Pipe(table)) => format!(
                "EventBridge Pipes publishes the changes of table {} (orderflow stack {stack})",
                ctx.physical_name(table)
            ),
            None => format!("orderflow stack {stack}"),
        }
    }

    fn dependencies(spec: &Spec, name: &str) -> Vec<ResourceId> {
        match Owner::parse(name) {
            Some(Owner::Rule(rule)) => target_buses(spec, rule)
                .into_iter()
                .map(|b| ResourceId::new(Kind::Bus, b))
                .collect(),
            Some(Owner::Pipe(table)) => {
                let mut deps = vec![ResourceId::new(Kind::Table, table)];
                if let Some(events) = spec
                    .tables
                    .get(table)
                    .and_then(|t| t.change_events.as_ref())
                {
                    deps.push(ResourceId::new(Kind::Bus, &events.bus));
                }
                deps
            }
            None => Vec::new(),
        }
    }

    fn trust_policy(ctx: &Ctx, name: &str) -> Prop {
        let Some((partition, account)) = ctx.aws.caller.lock().expect("caller lock").clone() else {
            return Prop::Unknown;
        };
        let region = &ctx.region;
        let (service, source_arn) = match Owner::parse(name) {
            Some(Owner::Rule(rule)) => {
                let Some(r) = ctx.spec.rules.get(rule) else {
                    return Prop::Unknown;
                };
                let rule_physical = ctx.physical_name(rule);
                // A rule on the default bus has no bus in its ARN.
                let path = if r.bus == DEFAULT_BUS {
                    rule_physical
                } else {
                    format!("{}/{rule_physical}", ctx.physical_name(&r.bus))
                };
                (
                    "events.amazonaws.com",
                    format!("arn:{partition}:events:{region}:{account}:rule/{path}"),
                )
            }
            Some(Owner::Pipe(table)) => (
                "pipes.amazonaws.com",
                format!(
                    "arn:{partition}:pipes:{region}:{account}:pipe/{}",
                    pipe_name(&ctx.spec.stack, table)
                ),
            ),
            None => return Prop::Unknown,
        };
        Prop::Known(trust_document(service, &account, &source_arn))
    }

    fn access_policy(ctx: &Ctx, name: &str, known: &Known) -> Prop {
        let mut statements = Vec::new();
        match Owner::parse(name) {
            Some(Owner::Rule(rule)) => {
                for (i, bus) in target_buses(&ctx.spec, rule).into_iter().enumerate() {
                    let Some(bus_arn) =
                        output_value(known, &ResourceId::new(Kind::Bus, bus), "arn")
                    else {
                        return Prop::Unknown;
                    };
                    statements.push(statement(
                        &format!("PutEventsOnTargetBus{i}"),
                        &["events:PutEvents"],
                        &bus_arn,
                    ));
                }
            }
            Some(Owner::Pipe(table)) => {
                let Some(events) = ctx
                    .spec
                    .tables
                    .get(table)
                    .and_then(|t| t.change_events.as_ref())
                else {
                    return Prop::Unknown;
                };
                let (Some(stream), Some(bus_arn)) = (
                    output_value(known, &ResourceId::new(Kind::Table, table), "stream_arn"),
                    output_value(known, &ResourceId::new(Kind::Bus, &events.bus), "arn"),
                ) else {
                    return Prop::Unknown;
                };
                // What Pipes documents for a DynamoDB stream source, on this stream only.
                statements.push(statement(
                    "ReadTableStream",
                    &[
                        "dynamodb:DescribeStream",
                        "dynamodb:GetRecords",
                        "dynamodb:GetShardIterator",
                        "dynamodb:ListStreams",
                    ],
                    &stream,
                ));
                statements.push(statement("PutEventsOnBus", &["events:PutEvents"], &bus_arn));
            }
            None => return Prop::Unknown,
        }
        Prop::Known(json!({ "Version": "2012-10-17", "Statement": statements }))
    }
}

/// Only `service`, and only on behalf of `source_arn` in `account`, may assume the role.
pub fn trust_document(service: &str, account: &str, source_arn: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": service },
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {
                    "aws:SourceAccount": account,
                    "aws:SourceArn": source_arn,
                }
            }
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::test_support::{spec, test_ctx};

    #[test]
    fn role_names_read_back_to_their_owner_and_never_as_a_function_role() {
        let ctx = test_ctx(spec());
        assert_eq!(role_name("shop", &Owner::Rule("audit")), "shop-audit.rule");
        assert_eq!(
            role_name("shop", &Owner::Pipe("orders")),
            "shop-orders.pipe"
        );
        assert_eq!(
            ServiceRole::logical_name(&ctx, "shop-orders.pipe").as_deref(),
            Some("pipe/orders")
        );
        assert_eq!(
            ServiceRole::logical_name(&ctx, "shop-audit.rule").as_deref(),
            Some("rule/audit")
        );
        // A function's role (no dot) and another stack's roles are not service roles.
        assert_eq!(ServiceRole::logical_name(&ctx, "shop-audit"), None);
        assert_eq!(ServiceRole::logical_name(&ctx, "shopx-audit.rule"), None);
        assert_eq!(Owner::parse("queue/x"), None);
    }

    #[test]
    fn the_trust_names_one_service_one_account_and_one_source() {
        let doc = trust_document(
            "pipes.amazonaws.com",
            "123456789012",
            "arn:aws:pipes:us-east-1:123456789012:pipe/shop-orders-changes",
        );
        let st = &doc["Statement"][0];
        assert_eq!(st["Principal"]["Service"], "pipes.amazonaws.com");
        assert_eq!(
            st["Condition"]["StringEquals"]["aws:SourceArn"],
            "arn:aws:pipes:us-east-1:123456789012:pipe/shop-orders-changes"
        );
        assert_eq!(
            st["Condition"]["StringEquals"]["aws:SourceAccount"],
            "123456789012"
        );
    }
}
