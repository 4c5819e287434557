//! IAM policy documents for function execution roles: the Lambda trust policy and the
//! least-privilege inline policy generated from a function's declared `access`.
//!
//! Everything here is pure, so the exact documents are unit-tested. Output is deterministic
//! (statements in a fixed order, actions sorted, stable Sids) so that an unchanged pipeline
//! compares equal to what IAM reports back.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::{Kind, Known, Prop, ResourceId};
use crate::spec::model::{Access, Section, Spec, Target};

/// Name of the inline policy orderflow writes on every function role.
pub const INLINE_POLICY_NAME: &str = "orderflow-access";

const POLICY_VERSION: &str = "2012-10-17";

/// Trust policy letting the Lambda service assume the role.
///
/// Deliberately without `aws:SourceAccount`/`aws:SourceArn` conditions: AWS documents them for
/// resource policies that service principals act through (orderflow scopes every Lambda
/// permission by `AWS:SourceArn` and every queue policy by `aws:SourceArn`), but Lambda's
/// execution-role documentation specifies only the `lambda.amazonaws.com` principal and does not
/// document which context keys Lambda sets when it assumes the role; a condition it does not
/// satisfy makes the role unassumable and every function fail on real AWS. The role can only be
/// attached to a function by a caller allowed `iam:PassRole` on it, in this account.
pub fn trust_policy() -> Value {
    json!({
        "Version": POLICY_VERSION,
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "lambda.amazonaws.com" },
            "Action": "sts:AssumeRole",
        }],
    })
}

/// IAM actions a kind's verb grants, sorted (each kind declares its verbs:
/// [`Section::verbs`]); empty for a verb the kind does not offer.
pub fn actions(section: Section, verb: &str) -> &'static [&'static str] {
    section
        .verbs()
        .iter()
        .find(|v| v.name == verb)
        .map_or(&[], |v| v.actions)
}

/// The parts of an ARN orderflow needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

/// Split `arn:partition:service:region:account:resource` (the resource may itself contain `:`).
pub fn parse_arn(arn: &str) -> Option<Arn<'_>> {
    let mut parts = arn.splitn(6, ':');
    if parts.next()? != "arn" {
        return None;
    }
    let parsed = Arn {
        partition: parts.next()?,
        service: parts.next()?,
        region: parts.next()?,
        account: parts.next()?,
        resource: parts.next()?,
    };
    (!parsed.partition.is_empty() && !parsed.service.is_empty()).then_some(parsed)
}

/// One access grant with the ARN it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub access: Access,
    pub arn: String,
}

/// Inline policy document for a function: one statement per (resource, verb), then writing to
/// the function's own CloudWatch Logs group. `partition`/`account` come from any ARN in the same
/// account; `region` is where the function runs.
///
/// No `logs:CreateLogGroup`: orderflow creates the group (tagged, with its retention) before the
/// function. With the permission, a group deleted outside orderflow would be re-created by
/// Lambda on the next invocation with infinite retention and no owner; without it, Lambda drops
/// those log lines until `up` (whose plan shows the group missing) creates the group again.
pub fn access_policy_document(
    grants: &[Grant],
    function_physical: &str,
    partition: &str,
    region: &str,
    account: &str,
) -> Value {
    let mut unique: Vec<&Grant> = grants.iter().collect();
    unique.sort_by(|a, b| a.access.cmp(&b.access));
    unique.dedup_by(|a, b| a.access == b.access);

    let mut used_sids = BTreeSet::new();
    let mut statements: Vec<Value> = unique
        .iter()
        .map(|g| {
            let sid = unique_sid(&mut used_sids, grant_sid(&g.access));
            statement(&sid, g.access.actions(), &g.arn)
        })
        .collect();

    let log_group = format!(
        "arn:{partition}:logs:{region}:{account}:log-group:/aws/lambda/{function_physical}"
    );
    statements.push(statement(
        &unique_sid(&mut used_sids, "LogsWriteEvents".into()),
        &["logs:CreateLogStream", "logs:PutLogEvents"],
        &format!("{log_group}:*"),
    ));

    json!({ "Version": POLICY_VERSION, "Statement": statements })
}

fn statement(sid: &str, actions: &[&str], resource: &str) -> Value {
    let mut sorted: Vec<&str> = actions.to_vec();
    sorted.sort_unstable();
    json!({
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted,
        "Resource": resource,
    })
}

/// IAM Sids in identity policies may only contain ASCII letters and digits, so logical names
/// are camel-cased: `queue orders-dlq` + send → `SendQueueOrdersDlq`.
fn grant_sid(access: &Access) -> String {
    format!(
        "{}{}{}",
        camel_alnum(access.verb),
        camel_alnum(access.target.section.singular()),
        camel_alnum(&access.target.name)
    )
}

fn camel_alnum(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut chars = s.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// Distinct logical names can camel-case to the same Sid (`a-b`, `a_b`); number the repeats.
fn unique_sid(used: &mut BTreeSet<String>, base: String) -> String {
    let mut sid = base.clone();
    let mut n = 2;
    while !used.insert(sid.clone()) {
        sid = format!("{base}{n}");
        n += 1;
    }
    sid
}

/// Graph id of an access target.
pub fn access_target_id(target: &Target) -> ResourceId {
    ResourceId::new(target.section.resource(), target.name.clone())
}

/// The inline policy of `function`'s role, or `Prop::Unknown` while an ARN it needs (an access
/// target's, or any ARN to learn the account from) does not exist yet.
pub fn role_policy(spec: &Spec, function: &str, region: &str, known: &Known) -> Prop {
    let Some(f) = spec.functions.get(function) else {
        return Prop::Unknown;
    };
    let arn_of = |id: &ResourceId| known.get(id).and_then(|o| o.get("arn")).cloned();

    let mut grants = Vec::with_capacity(f.access.len());
    for access in &f.access {
        let granted = known
            .get(&access_target_id(&access.target))
            .and_then(|o| o.get(access.target.section.grant_attribute()));
        let Some(arn) = granted.cloned() else {
            return Prop::Unknown;
        };
        grants.push(Grant {
            access: access.clone(),
            arn,
        });
    }

    // Account and partition: the role's own ARN first, then the access targets', then any
    // other known ARN (in id order, so the choice is deterministic).
    let own = arn_of(&ResourceId::new(Kind::Role, function));
    let sorted_known: BTreeMap<&ResourceId, &String> = known
        .iter()
        .filter_map(|(id, o)| o.get("arn").map(|a| (id, a)))
        .collect();
    let account_source = own
        .iter()
        .chain(grants.iter().map(|g| &g.arn))
        .chain(sorted_known.values().copied())
        .find_map(|a| {
            parse_arn(a)
                .filter(|p| !p.account.is_empty())
                .map(|p| (p.partition.to_string(), p.account.to_string()))
        });
    let Some((partition, account)) = account_source else {
        return Prop::Unknown;
    };

    let physical = super::physical_name(&spec.stack, function);
    Prop::Known(access_policy_document(
        &grants, &physical, &partition, region, &account,
    ))
}

/// Parse a policy document as IAM returns it: URL-encoded JSON on real AWS (RFC 3986), plain
/// JSON from some emulators.
pub fn decode_policy_document(raw: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str(raw) {
        return Some(v);
    }
    let decoded = percent_decode(raw, false)?;
    if let Ok(v) = serde_json::from_str(&decoded) {
        return Some(v);
    }
    // Form-style encoders write spaces as `+`.
    serde_json::from_str(&percent_decode(raw, true)?).ok()
}

fn percent_decode(s: &str, plus_is_space: bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Every `Resource` and `Action` of a document, for assertions that nothing is a wildcard.
pub fn actions_and_resources(doc: &Value) -> Vec<(String, String)> {
    let as_list = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    };
    let mut out = Vec::new();
    for st in doc["Statement"].as_array().into_iter().flatten() {
        for a in as_list(&st["Action"]) {
            for r in as_list(&st["Resource"]) {
                out.push((a.clone(), r));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::model::{Architecture, Function};

    const ACCOUNT: &str = "123456789012";

    fn spec_with(access: Vec<Access>) -> Spec {
        let f = Function {
            crate_name: "process-order".into(),
            memory_mb: 128,
            timeout_secs: 3,
            architecture: Architecture::X86_64,
            environment: BTreeMap::new(),
            access,
            dead_letter_queue: None,
            async_retry_attempts: None,
            log_retention_days: 14,
            adopt_log_group: false,
        };
        Spec {
            functions: BTreeMap::from([("process".to_string(), f)]),
            ..Spec::empty("shop")
        }
    }

    fn known_arns() -> Known {
        let mut known = Known::new();
        let mut put = |kind, name: &str, arn: String| {
            known.insert(
                ResourceId::new(kind, name),
                BTreeMap::from([("arn".to_string(), arn)]),
            );
        };
        put(
            Kind::Queue,
            "orders",
            format!("arn:aws:sqs:eu-west-1:{ACCOUNT}:shop-orders"),
        );
        put(
            Kind::Queue,
            "dlq",
            format!("arn:aws:sqs:eu-west-1:{ACCOUNT}:shop-dlq"),
        );
        put(
            Kind::Table,
            "orders",
            format!("arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/shop-orders"),
        );
        put(
            Kind::Bus,
            "events",
            format!("arn:aws:events:eu-west-1:{ACCOUNT}:event-bus/shop-events"),
        );
        known
    }

    fn acc(section: Section, name: &str, verb: &'static str) -> Access {
        Access::new(section, name, verb)
    }

    #[test]
    fn trust_policy_lets_only_lambda_assume_the_role() {
        let t = trust_policy();
        assert_eq!(t["Version"], "2012-10-17");
        let st = t["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 1);
        assert_eq!(st[0]["Effect"], "Allow");
        assert_eq!(
            st[0]["Principal"],
            json!({"Service": "lambda.amazonaws.com"})
        );
        assert_eq!(st[0]["Action"], "sts:AssumeRole");
    }

    #[test]
    fn full_document_for_a_consumer_that_writes_a_table() {
        let spec = spec_with(vec![
            acc(Section::Table, "orders", "write"),
            acc(Section::Queue, "orders", "consume"),
            acc(Section::Queue, "dlq", "send"),
        ]);
        let Prop::Known(doc) = role_policy(&spec, "process", "eu-west-1", &known_arns()) else {
            panic!("policy should be known");
        };
        let expected = json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "SendQueueDlq", "Effect": "Allow", "Action": ["sqs:SendMessage"],
                 "Resource": format!("arn:aws:sqs:eu-west-1:{ACCOUNT}:shop-dlq")},
                {"Sid": "ConsumeQueueOrders", "Effect": "Allow",
                 "Action": ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
                 "Resource": format!("arn:aws:sqs:eu-west-1:{ACCOUNT}:shop-orders")},
                {"Sid": "WriteTableOrders", "Effect": "Allow",
                 "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem"],
                 "Resource": format!("arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/shop-orders")},
                {"Sid": "LogsWriteEvents", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                 "Resource": format!("arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/shop-process:*")},
            ]
        });
        assert_eq!(doc, expected);
    }

    #[test]
    fn every_verb_maps_to_its_documented_actions() {
        assert_eq!(actions(Section::Bus, "publish"), ["events:PutEvents"]);
        assert_eq!(actions(Section::Queue, "send"), ["sqs:SendMessage"]);
        assert_eq!(actions(Section::Table, "read"), ["dynamodb:GetItem"]);
        assert_eq!(actions(Section::Table, "query"), ["dynamodb:Query"]);
        assert_eq!(
            actions(Section::Table, "write"),
            ["dynamodb:PutItem", "dynamodb:UpdateItem"]
        );
        // No function makes transactions or batch calls: no verb grants them.
        for section in Section::ALL {
            for verb in section.verbs() {
                for action in verb.actions {
                    assert!(
                        ![
                            "ConditionCheckItem",
                            "BatchGetItem",
                            "BatchWriteItem",
                            "Transact",
                            "Scan"
                        ]
                        .iter()
                        .any(|a| action.contains(a)),
                        "{section} {} grants {action}",
                        verb.name
                    );
                }
            }
        }
        // Recording an order must not imply being able to remove one.
        assert!(!actions(Section::Table, "write")
            .iter()
            .any(|a| a.contains("Delete") || a.contains("BatchWrite")));
        assert_eq!(actions(Section::Table, "delete"), ["dynamodb:DeleteItem"]);
        for (section, verb) in [
            (Section::Bus, "publish"),
            (Section::Queue, "send"),
            (Section::Queue, "consume"),
            (Section::Table, "read"),
            (Section::Table, "query"),
            (Section::Table, "write"),
            (Section::Table, "delete"),
        ] {
            let a = actions(section, verb);
            let mut sorted = a.to_vec();
            sorted.sort_unstable();
            assert_eq!(a, sorted.as_slice(), "{verb} actions must be sorted");
        }
    }

    #[test]
    fn bus_publish_grants_put_events_on_the_bus_only() {
        let spec = spec_with(vec![acc(Section::Bus, "events", "publish")]);
        let Prop::Known(doc) = role_policy(&spec, "process", "eu-west-1", &known_arns()) else {
            panic!()
        };
        assert_eq!(doc["Statement"][0]["Sid"], "PublishBusEvents");
        assert_eq!(doc["Statement"][0]["Action"], json!(["events:PutEvents"]));
        assert_eq!(
            doc["Statement"][0]["Resource"],
            format!("arn:aws:events:eu-west-1:{ACCOUNT}:event-bus/shop-events")
        );
    }

    #[test]
    fn no_wildcard_actions_or_resources() {
        let spec = spec_with(vec![
            acc(Section::Bus, "events", "publish"),
            acc(Section::Queue, "orders", "consume"),
            acc(Section::Queue, "orders", "send"),
            acc(Section::Table, "orders", "read"),
            acc(Section::Table, "orders", "write"),
        ]);
        let Prop::Known(doc) = role_policy(&spec, "process", "eu-west-1", &known_arns()) else {
            panic!()
        };
        let pairs = actions_and_resources(&doc);
        assert!(!pairs.is_empty());
        for (action, resource) in pairs {
            assert!(!action.contains('*'), "wildcard action {action}");
            assert!(resource.starts_with("arn:aws:"), "resource {resource}");
            // Only the log streams of the function's own group use a trailing `:*`.
            if resource.contains('*') {
                assert!(
                    resource.ends_with("log-group:/aws/lambda/shop-process:*"),
                    "{resource}"
                );
                assert!(action == "logs:CreateLogStream" || action == "logs:PutLogEvents");
            }
        }
    }

    /// orderflow creates the log group; a role that could create it would let Lambda re-create
    /// a deleted one with infinite retention and no owner.
    #[test]
    fn the_role_writes_its_own_log_group_but_cannot_create_one() {
        let spec = spec_with(vec![acc(Section::Queue, "orders", "consume")]);
        let Prop::Known(doc) = role_policy(&spec, "process", "eu-west-1", &known_arns()) else {
            panic!()
        };
        let logs: Vec<(String, String)> = actions_and_resources(&doc)
            .into_iter()
            .filter(|(a, _)| a.starts_with("logs:"))
            .collect();
        let streams =
            format!("arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/shop-process:*");
        assert_eq!(
            logs,
            [
                ("logs:CreateLogStream".to_string(), streams.clone()),
                ("logs:PutLogEvents".to_string(), streams),
            ]
        );
    }

    #[test]
    fn output_is_deterministic_and_deduplicated() {
        let a = spec_with(vec![
            acc(Section::Queue, "orders", "consume"),
            acc(Section::Table, "orders", "write"),
            acc(Section::Queue, "orders", "consume"),
        ]);
        let b = spec_with(vec![
            acc(Section::Table, "orders", "write"),
            acc(Section::Queue, "orders", "consume"),
        ]);
        let known = known_arns();
        let pa = role_policy(&a, "process", "eu-west-1", &known);
        let pb = role_policy(&b, "process", "eu-west-1", &known);
        assert_eq!(pa, pb);
        let Prop::Known(doc) = pa else { panic!() };
        // consume, write, the log statement
        assert_eq!(doc["Statement"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn unknown_while_an_access_target_does_not_exist() {
        let spec = spec_with(vec![acc(Section::Queue, "new-queue", "send")]);
        assert_eq!(
            role_policy(&spec, "process", "eu-west-1", &known_arns()),
            Prop::Unknown
        );
    }

    #[test]
    fn unknown_without_any_arn_to_learn_the_account_from() {
        let spec = spec_with(vec![]);
        assert_eq!(
            role_policy(&spec, "process", "eu-west-1", &Known::new()),
            Prop::Unknown
        );
    }

    #[test]
    fn account_and_partition_come_from_the_role_arn_first() {
        let spec = spec_with(vec![]);
        let mut known = Known::new();
        known.insert(
            ResourceId::new(Kind::Role, "process"),
            BTreeMap::from([(
                "arn".to_string(),
                "arn:aws-cn:iam::999999999999:role/orderflow/shop/shop-process".to_string(),
            )]),
        );
        let Prop::Known(doc) = role_policy(&spec, "process", "cn-north-1", &known) else {
            panic!()
        };
        assert_eq!(
            doc["Statement"][0]["Resource"],
            "arn:aws-cn:logs:cn-north-1:999999999999:log-group:/aws/lambda/shop-process:*"
        );
    }

    #[test]
    fn sids_are_alphanumeric_and_unique() {
        let mut known = known_arns();
        for n in ["a-b", "a_b"] {
            known.insert(
                ResourceId::new(Kind::Queue, n),
                BTreeMap::from([(
                    "arn".to_string(),
                    format!("arn:aws:sqs:eu-west-1:{ACCOUNT}:shop-{n}"),
                )]),
            );
        }
        let spec = spec_with(vec![
            acc(Section::Queue, "a-b", "send"),
            acc(Section::Queue, "a_b", "send"),
        ]);
        let Prop::Known(doc) = role_policy(&spec, "process", "eu-west-1", &known) else {
            panic!()
        };
        let sids: Vec<&str> = doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Sid"].as_str().unwrap())
            .collect();
        assert_eq!(sids, ["SendQueueAB", "SendQueueAB2", "LogsWriteEvents"]);
        assert!(sids
            .iter()
            .all(|s| s.chars().all(|c| c.is_ascii_alphanumeric())));
    }

    #[test]
    fn parses_arns_with_colons_in_the_resource() {
        let a = parse_arn("arn:aws:logs:us-east-1:123:log-group:/aws/lambda/x:*").unwrap();
        assert_eq!(a.service, "logs");
        assert_eq!(a.account, "123");
        assert_eq!(a.resource, "log-group:/aws/lambda/x:*");
        assert!(parse_arn("not-an-arn").is_none());
        assert!(parse_arn("arn:aws:sqs").is_none());
    }

    #[test]
    fn decodes_url_encoded_and_plain_documents() {
        let doc = trust_policy();
        let plain = serde_json::to_string(&doc).unwrap();
        let encoded: String = plain
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        assert_eq!(decode_policy_document(&plain), Some(doc.clone()));
        assert_eq!(decode_policy_document(&encoded), Some(doc.clone()));
        let pretty_form = serde_json::to_string_pretty(&doc)
            .unwrap()
            .replace(' ', "+")
            .replace('\n', "%0A");
        assert_eq!(decode_policy_document(&pretty_form), Some(doc));
        assert_eq!(decode_policy_document("%zz"), None);
    }
}
