//! Lambda resource-policy statement letting EventBridge invoke a function for one rule:
//! principal `events.amazonaws.com`, action `lambda:InvokeFunction`, scoped by `AWS:SourceArn`
//! to the rule's ARN (EventBridge invokes targets asynchronously, under this grant).
//!
//! Logical name `<rule>/<function>`; statement id `orderflow-rule-<rule>` on the function's
//! policy. Reading, adding, removing and discovering the statement is the function's
//! ([`crate::kinds::function::permission`]).

use serde_json::Value;

use crate::error::Error;
use crate::kinds::function::permission::{InvokePermission, StatementRef};
use crate::resources::{Ctx, Kind, ResourceId};
use crate::spec::Spec;

pub use crate::kinds::function::permission::split_source_name as split_name;

pub struct PermissionProvider;

pub const PRINCIPAL: &str = "events.amazonaws.com";
pub const SID_PREFIX: &str = "orderflow-rule-";

pub fn statement_id(rule: &str) -> String {
    format!("{SID_PREFIX}{rule}")
}

/// `<rule>/<function>` → (rule, function).
fn parts(name: &str) -> Result<(&str, &str), Error> {
    split_name(name).ok_or_else(|| {
        Error::Other(format!(
            "{}: permission names have the form <rule>/<function>",
            ResourceId::new(Kind::Permission, name)
        ))
    })
}

impl InvokePermission for PermissionProvider {
    const KIND: Kind = Kind::Permission;
    const PRINCIPAL: &'static str = PRINCIPAL;
    const SID_PREFIX: &'static str = SID_PREFIX;

    fn depends_on(&self, _spec: &Spec, name: &str) -> Vec<ResourceId> {
        match split_name(name) {
            Some((rule, function)) => vec![
                ResourceId::new(Kind::Function, function),
                ResourceId::new(Kind::Rule, rule),
            ],
            None => Vec::new(),
        }
    }

    fn source(&self, name: &str) -> Result<ResourceId, Error> {
        parts(name).map(|(rule, _)| ResourceId::new(Kind::Rule, rule))
    }

    fn locate(&self, ctx: &Ctx, name: &str) -> Result<StatementRef, Error> {
        let (rule, function) = parts(name)?;
        Ok(StatementRef {
            function: ctx.physical_name(function),
            sid: statement_id(rule),
        })
    }

    fn name_found(&self, sid: &str, _statement: &Value, function: &str) -> Option<String> {
        let rule = sid.strip_prefix(SID_PREFIX)?;
        Some(format!("{rule}/{function}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::test_support::{spec, test_ctx};
    use crate::resources::{Known, Outputs, Prop, Provider};

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
    fn desired_statement_is_scoped_to_the_rule() {
        let ctx = test_ctx(spec());
        let p = PermissionProvider;
        assert_eq!(
            p.dependencies(&ctx.spec, "new-orders/validate"),
            vec![
                ResourceId::new(Kind::Function, "validate"),
                ResourceId::new(Kind::Rule, "new-orders"),
            ]
        );
        assert_eq!(
            p.desired(&ctx, "new-orders/validate", &Known::new())["source_arn"],
            Prop::Unknown
        );
        let arn = "arn:aws:events:us-east-1:1:rule/bus/new-orders";
        let known = Known::from([(
            ResourceId::new(Kind::Rule, "new-orders"),
            Outputs::from([("arn".to_string(), arn.to_string())]),
        )]);
        let desired = p.desired(&ctx, "new-orders/validate", &known);
        assert_eq!(desired["principal"], Prop::from("events.amazonaws.com"));
        assert_eq!(desired["action"], Prop::from("lambda:InvokeFunction"));
        assert_eq!(desired["source_arn"], Prop::from(arn));
        assert_eq!(
            p.display_name(&ctx, "new-orders/validate"),
            "shop-validate#orderflow-rule-new-orders"
        );
        assert_eq!(
            p.name_found("orderflow-rule-new-orders", &Value::Null, "validate"),
            Some("new-orders/validate".to_string())
        );
    }
}
