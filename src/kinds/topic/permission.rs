//! Lambda resource-policy statement letting SNS invoke a function for one topic: principal
//! `sns.amazonaws.com`, action `lambda:InvokeFunction`, scoped by `AWS:SourceArn` to the topic's
//! ARN (SNS invokes subscribed functions asynchronously, under this grant).
//!
//! Logical name `<topic>/<function>`; statement id `orderflow-topic-<topic>` on the function's
//! policy (rules use `orderflow-rule-<rule>`, so the two never collide). Reading, adding,
//! removing and discovering the statement is the function's
//! ([`crate::kinds::function::permission`]).

use serde_json::Value;

use crate::error::Error;
use crate::kinds::function::permission::{split_source_name, InvokePermission, StatementRef};
use crate::resources::{Ctx, Kind, ResourceId};
use crate::spec::Spec;

pub struct TopicPermissionProvider;

pub const PRINCIPAL: &str = "sns.amazonaws.com";
pub const SID_PREFIX: &str = "orderflow-topic-";

/// Logical name of the permission letting `topic` invoke `function`.
pub fn permission_name(topic: &str, function: &str) -> String {
    format!("{topic}/{function}")
}

/// `<topic>/<function>` → (topic, function).
pub fn split_name(name: &str) -> Option<(&str, &str)> {
    split_source_name(name)
}

pub fn statement_id(topic: &str) -> String {
    format!("{SID_PREFIX}{topic}")
}

fn parts(name: &str) -> Result<(&str, &str), Error> {
    split_name(name).ok_or_else(|| {
        Error::Other(format!(
            "{}: topic permission names have the form <topic>/<function>",
            ResourceId::new(Kind::TopicPermission, name)
        ))
    })
}

impl InvokePermission for TopicPermissionProvider {
    const KIND: Kind = Kind::TopicPermission;
    const PRINCIPAL: &'static str = PRINCIPAL;
    const SID_PREFIX: &'static str = SID_PREFIX;

    fn depends_on(&self, _spec: &Spec, name: &str) -> Vec<ResourceId> {
        match split_name(name) {
            Some((topic, function)) => vec![
                ResourceId::new(Kind::Function, function),
                ResourceId::new(Kind::Topic, topic),
            ],
            None => Vec::new(),
        }
    }

    fn source(&self, name: &str) -> Result<ResourceId, Error> {
        parts(name).map(|(topic, _)| ResourceId::new(Kind::Topic, topic))
    }

    fn locate(&self, ctx: &Ctx, name: &str) -> Result<StatementRef, Error> {
        let (topic, function) = parts(name)?;
        Ok(StatementRef {
            function: ctx.physical_name(function),
            sid: statement_id(topic),
        })
    }

    fn name_found(&self, sid: &str, _statement: &Value, function: &str) -> Option<String> {
        let topic = sid.strip_prefix(SID_PREFIX)?;
        Some(permission_name(topic, function))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::function::permission::statement_props;
    use crate::resources::test_support::{spec, test_ctx};
    use crate::resources::{Known, Outputs, Prop, Provider};
    use serde_json::json;

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
