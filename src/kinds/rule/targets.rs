//! A rule's targets: the normalised form `desired` and `read` compare (id, ARN, input, retry
//! policy, dead-letter queue), its SDK form, and PutTargets/RemoveTargets in batches with their
//! failed entries reported.

use std::collections::BTreeMap;

use aws_sdk_eventbridge::types::{DeadLetterConfig, InputTransformer, RetryPolicy, Target};
use serde_json::{json, Value};

use crate::error::Error;
use crate::resources::{output, Ctx, Kind, Known, Prop, ResourceId};
use crate::spec::model::{Rule, TargetInput};

/// PutTargets and RemoveTargets take at most 10 / 100 entries per call.
const PUT_TARGETS_BATCH: usize = 10;
const REMOVE_TARGETS_BATCH: usize = 100;

/// One target in the normalised form both `desired` and `read` produce.
pub(super) fn target_value(
    id: &str,
    arn: &str,
    input: Value,
    retry_policy: Option<(Option<i32>, Option<i32>)>,
    dead_letter_arn: Option<&str>,
    role_arn: Option<&str>,
) -> Value {
    json!({
        "id": id,
        "arn": arn,
        "input": input,
        "retry_policy": retry_policy.map(|(attempts, age)| json!({
            "maximum_retry_attempts": attempts,
            "maximum_event_age_in_seconds": age,
        })),
        "dead_letter_arn": dead_letter_arn,
        "role_arn": role_arn,
    })
}

/// What the target receives, normalised: `null` (the whole event), `{ "path": ... }` or
/// `{ "paths": {...}, "template": ... }`.
pub(super) fn input_value(input: &TargetInput) -> Value {
    match input {
        TargetInput::Event => Value::Null,
        TargetInput::Path(path) => json!({ "path": path }),
        TargetInput::Transformer { paths, template } => {
            json!({ "paths": paths, "template": template })
        }
    }
}

pub(super) fn live_input_value(t: &Target) -> Value {
    if let Some(tf) = t.input_transformer() {
        let paths: BTreeMap<&String, &String> =
            tf.input_paths_map().into_iter().flatten().collect();
        return json!({ "paths": paths, "template": tf.input_template() });
    }
    match t.input_path() {
        Some(path) => json!({ "path": path }),
        None => Value::Null,
    }
}

pub(super) fn sorted_targets(mut targets: Vec<Value>) -> Value {
    targets.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    Value::Array(targets)
}

/// Desired targets, or `Unknown` while a destination or dead-letter queue does not exist yet.
/// A bus target is put with the rule's service role (`rule`: the rule's logical name).
pub(super) fn desired_targets(rule_name: &str, rule: &Rule, known: &Known) -> Prop {
    let mut targets = Vec::new();
    for t in &rule.targets {
        let Prop::Known(Value::String(arn)) = output(known, &t.destination.resource(), "arn")
        else {
            return Prop::Unknown;
        };
        let dead_letter_arn = match &t.dead_letter_queue {
            None => None,
            Some(q) => match output(known, &ResourceId::new(Kind::Queue, q.clone()), "arn") {
                Prop::Known(Value::String(a)) => Some(a),
                _ => return Prop::Unknown,
            },
        };
        let role_arn = match &t.destination {
            crate::kinds::rule::Destination::Bus(_) => {
                let role = crate::kinds::service_role::rule_role(rule_name);
                match output(known, &role, "arn") {
                    Prop::Known(Value::String(a)) => Some(a),
                    _ => return Prop::Unknown,
                }
            }
            _ => None,
        };
        targets.push(target_value(
            &t.destination.target_id(),
            &arn,
            input_value(&t.input),
            Some((
                i32::try_from(t.maximum_retry_attempts).ok(),
                i32::try_from(t.maximum_event_age_secs).ok(),
            )),
            dead_letter_arn.as_deref(),
            role_arn.as_deref(),
        ));
    }
    Prop::Known(sorted_targets(targets))
}

pub(super) fn live_target_value(t: &Target) -> Value {
    target_value(
        t.id(),
        t.arn(),
        live_input_value(t),
        t.retry_policy()
            .map(|r| (r.maximum_retry_attempts(), r.maximum_event_age_in_seconds())),
        t.dead_letter_config().and_then(|d| d.arn()),
        t.role_arn(),
    )
}

/// An SDK target from its normalised form.
pub(super) fn sdk_target(res: &str, v: &Value) -> Result<Target, Error> {
    let mut b = Target::builder()
        .id(v["id"].as_str().unwrap_or_default())
        .arn(v["arn"].as_str().unwrap_or_default());
    if let Some(path) = v["input"]["path"].as_str() {
        b = b.input_path(path);
    }
    if let Some(template) = v["input"]["template"].as_str() {
        let paths = v["input"]["paths"].as_object().map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect::<std::collections::HashMap<_, _>>()
        });
        b = b.input_transformer(
            InputTransformer::builder()
                .set_input_paths_map(paths.filter(|p| !p.is_empty()))
                .input_template(template)
                .build()
                .map_err(|e| Error::Other(format!("{res}: building input transformer: {e}")))?,
        );
    }
    if let Some(r) = v["retry_policy"].as_object() {
        let num = |k: &str| {
            r.get(k)
                .and_then(Value::as_i64)
                .and_then(|n| i32::try_from(n).ok())
        };
        b = b.retry_policy(
            RetryPolicy::builder()
                .set_maximum_retry_attempts(num("maximum_retry_attempts"))
                .set_maximum_event_age_in_seconds(num("maximum_event_age_in_seconds"))
                .build(),
        );
    }
    if let Some(role) = v["role_arn"].as_str() {
        b = b.role_arn(role);
    }
    if let Some(dlq) = v["dead_letter_arn"].as_str() {
        b = b.dead_letter_config(DeadLetterConfig::builder().arn(dlq).build());
    }
    b.build()
        .map_err(|e| Error::Other(format!("{res}: building target: {e}")))
}

/// Targets to put (new or changed) and target ids to remove (no longer desired).
pub(super) fn target_changes<'a>(
    desired: &'a Value,
    live: Option<&'a Value>,
) -> (Vec<&'a Value>, Vec<String>) {
    let desired: &[Value] = desired.as_array().map(Vec::as_slice).unwrap_or(&[]);
    let live: &[Value] = live
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let by_id = |list: &'a [Value]| -> BTreeMap<&'a str, &'a Value> {
        list.iter()
            .filter_map(|t| Some((t["id"].as_str()?, t)))
            .collect()
    };
    let (want, have) = (by_id(desired), by_id(live));
    let put = want
        .iter()
        .filter(|(id, t)| have.get(*id) != Some(*t))
        .map(|(_, t)| *t)
        .collect();
    let remove = have
        .keys()
        .filter(|id| !want.contains_key(*id))
        .map(|id| id.to_string())
        .collect();
    (put, remove)
}

/// A failed PutTargets/RemoveTargets entry as an error naming the target and its error code.
pub(super) fn failed_entry(
    res: &str,
    action: &str,
    id: Option<&str>,
    code: Option<&str>,
    msg: Option<&str>,
) -> Error {
    Error::Aws {
        resource: res.to_string(),
        action: action.to_string(),
        code: code.map(str::to_string),
        message: format!(
            "target `{}`: {}: {}",
            id.unwrap_or("?"),
            code.unwrap_or("error"),
            msg.unwrap_or("no message")
        ),
    }
}

pub(super) async fn put_targets(
    ctx: &Ctx,
    res: &str,
    bus: &str,
    rule: &str,
    targets: &[&Value],
) -> Result<(), Error> {
    for chunk in targets.chunks(PUT_TARGETS_BATCH) {
        let sdk: Vec<Target> = chunk
            .iter()
            .map(|t| sdk_target(res, t))
            .collect::<Result<_, _>>()?;
        let out = ctx
            .aws
            .events
            .put_targets()
            .rule(rule)
            .event_bus_name(bus)
            .set_targets(Some(sdk))
            .send()
            .await
            .map_err(|e| Error::aws(res, "PutTargets", e))?;
        if let Some(f) = out.failed_entries().first() {
            return Err(failed_entry(
                res,
                "PutTargets",
                f.target_id(),
                f.error_code(),
                f.error_message(),
            ));
        }
        if out.failed_entry_count() > 0 {
            return Err(Error::Other(format!(
                "{res}: PutTargets reported {} failed entries without details",
                out.failed_entry_count()
            )));
        }
    }
    Ok(())
}

pub(super) async fn remove_targets(
    ctx: &Ctx,
    res: &str,
    bus: &str,
    rule: &str,
    ids: &[String],
) -> Result<(), Error> {
    for chunk in ids.chunks(REMOVE_TARGETS_BATCH) {
        let out = ctx
            .aws
            .events
            .remove_targets()
            .rule(rule)
            .event_bus_name(bus)
            .set_ids(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| Error::aws(res, "RemoveTargets", e))?;
        if let Some(f) = out.failed_entries().first() {
            return Err(failed_entry(
                res,
                "RemoveTargets",
                f.target_id(),
                f.error_code(),
                f.error_message(),
            ));
        }
        if out.failed_entry_count() > 0 {
            return Err(Error::Other(format!(
                "{res}: RemoveTargets reported {} failed entries without details",
                out.failed_entry_count()
            )));
        }
    }
    Ok(())
}

pub(super) async fn list_targets(
    ctx: &Ctx,
    res: &str,
    bus: &str,
    rule: &str,
) -> Result<Vec<Target>, Error> {
    let mut targets = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = ctx
            .aws
            .events
            .list_targets_by_rule()
            .rule(rule)
            .event_bus_name(bus)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| Error::aws(res, "ListTargetsByRule", e))?;
        targets.extend(out.targets().iter().cloned());
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(targets),
        }
    }
}
