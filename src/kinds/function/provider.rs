//! Lambda function `<stack>-<name>`: custom runtime (`provided.al2023`, handler `bootstrap`),
//! zip package from the build, environment resolved from references, optional dead-letter queue
//! and asynchronous retry setting.
//!
//! Configuration and code are separate Lambda updates, each followed by a wait until the update
//! has finished; the code is only uploaded when its SHA-256 differs from what Lambda runs.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput;
use aws_sdk_lambda::types::{
    Architecture, DeadLetterConfig, Environment, FunctionCode, LastUpdateStatus, PackageType,
    Runtime, State,
};
use aws_smithy_types::Blob;
use serde_json::{json, Value};

use crate::error::Error;
use crate::resources::policy::parse_arn;
use crate::resources::tags::{desired_tags, live_managed_tags, tag_changes};
use crate::resources::{
    absent_as_none, output, ref_target, resolve_template, Change, Ctx, Discovered, Kind, Known,
    Live, Outputs, Prop, Props, Provider, ResourceId,
};
use crate::retry::{poll_until, retry, Backoff};
use crate::spec::model::{Function, TemplatePart};
use crate::spec::Spec;

pub struct FunctionProvider;

pub const RUNTIME: &str = "provided.al2023";
pub const HANDLER: &str = "bootstrap";

/// A just-created IAM role (or its fresh policy) is not usable by Lambda for a few seconds;
/// AWS documents this propagation delay, usually well under a minute.
const ROLE_PROPAGATION: Backoff = Backoff::new(1_000, 8_000, 60);
/// "An update is in progress": Lambda serialises changes to one function; updates of a
/// zip function finish within seconds, a couple of minutes covers slow regions.
const UPDATE_IN_PROGRESS: Backoff = Backoff::new(1_000, 10_000, 120);
/// Pending → Active / InProgress → Successful: Lambda's own waiters allow 5 minutes.
const FUNCTION_SETTLE: Backoff = Backoff::new(500, 5_000, 300);

/// Props changed through UpdateFunctionConfiguration.
const CONFIG_PROPS: [&str; 7] = [
    "runtime",
    "handler",
    "memory_size",
    "timeout",
    "role",
    "environment",
    "dead_letter_target_arn",
];

fn rid(name: &str) -> ResourceId {
    ResourceId::new(Kind::Function, name)
}

/// Lambda's answer for a function (or mapping, or permission) that does not exist.
pub(crate) const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

pub(crate) fn is_not_found(e: &Error) -> bool {
    e.code().is_some_and(|c| NOT_FOUND.contains(&c))
}

pub(crate) fn is_update_in_progress(e: &Error) -> bool {
    e.code() == Some("ResourceConflictException")
        && !e
            .aws_message()
            .unwrap_or_default()
            .contains("already exist")
}

/// Lambda's answers while a new role or its policy has not propagated yet.
fn is_role_not_ready(e: &Error) -> bool {
    let msg = e.aws_message().unwrap_or_default();
    e.code() == Some("InvalidParameterValueException")
        && (msg.contains("cannot be assumed by Lambda")
            || msg.contains("does not have permissions"))
}

pub(crate) use super::shared::{owned_functions, unqualified};

fn outputs(physical: &str, arn: &str) -> Outputs {
    BTreeMap::from([
        ("name".to_string(), physical.to_string()),
        ("arn".to_string(), unqualified(arn).to_string()),
    ])
}

impl FunctionProvider {
    fn spec_fn<'a>(ctx: &'a Ctx, name: &str) -> Result<&'a Function, Error> {
        ctx.spec
            .functions
            .get(name)
            .ok_or_else(|| Error::Other(format!("{}: not declared in the spec", rid(name))))
    }

    /// Environment with every reference resolved. References to the function itself are
    /// answered from its own name (and ARN, derived from the role's account) so that a
    /// self-reference does not make the function wait for itself.
    fn environment(ctx: &Ctx, name: &str, f: &Function, known: &Known) -> Prop {
        let self_id = rid(name);
        let refers_to_self = f.environment.values().any(|t| {
            t.parts
                .iter()
                .any(|p| matches!(p, TemplatePart::Ref(r) if ref_target(r) == self_id))
        });
        let with_self;
        let known = if refers_to_self && !known.contains_key(&self_id) {
            let physical = ctx.physical_name(name);
            let mut own = BTreeMap::from([("name".to_string(), physical.clone())]);
            let role_arn = known
                .get(&ResourceId::new(Kind::Role, name))
                .and_then(|o| o.get("arn"));
            if let Some(arn) = role_arn.and_then(|a| parse_arn(a)) {
                own.insert(
                    "arn".to_string(),
                    format!(
                        "arn:{}:lambda:{}:{}:function:{physical}",
                        arn.partition, ctx.region, arn.account
                    ),
                );
            }
            let mut k = known.clone();
            k.insert(self_id, own);
            with_self = k;
            &with_self
        } else {
            known
        };

        let mut vars = serde_json::Map::new();
        for (key, template) in &f.environment {
            match resolve_template(template, known) {
                Prop::Known(v) => {
                    vars.insert(key.clone(), v);
                }
                Prop::Unknown => return Prop::Unknown,
            }
        }
        Prop::Known(Value::Object(vars))
    }

    fn architecture(f: &Function) -> Architecture {
        Architecture::from(f.architecture.as_str())
    }

    async fn configuration(
        ctx: &Ctx,
        id: &ResourceId,
        physical: &str,
    ) -> Result<GetFunctionConfigurationOutput, Error> {
        ctx.aws
            .lambda
            .get_function_configuration()
            .function_name(physical)
            .send()
            .await
            .map_err(|e| Error::aws(id, "GetFunctionConfiguration", e))
    }

    /// Wait until a new function leaves Pending.
    async fn wait_active(ctx: &Ctx, id: &ResourceId, physical: &str) -> Result<(), Error> {
        poll_until(
            format!("{id}: waiting for state Active"),
            FUNCTION_SETTLE,
            || async {
                let c = Self::configuration(ctx, id, physical).await?;
                match c.state() {
                    Some(State::Active) => Ok(Some(())),
                    Some(State::Failed) => Err(Error::Other(format!(
                        "{id}: function failed to become active: {}: {}",
                        c.state_reason_code()
                            .map(|c| c.as_str())
                            .unwrap_or("unknown"),
                        c.state_reason().unwrap_or("no reason given")
                    ))),
                    _ => Ok(None),
                }
            },
        )
        .await
    }

    /// Upload a function's new code and wait until it serves: one UpdateFunctionCode (retried
    /// while another update is in progress), then reads until the update has been applied.
    /// What `up` does for a code change and `orderflow dev` for an edit.
    pub(crate) async fn update_code(
        ctx: &Ctx,
        name: &str,
        artifact: &crate::build::Artifact,
    ) -> Result<(), Error> {
        let f = crate::kinds::declared(&ctx.spec.functions, name)?;
        let id = ResourceId::new(Kind::Function, name);
        let physical = ctx.physical_name(name);
        retry(UPDATE_IN_PROGRESS, is_update_in_progress, || async {
            ctx.aws
                .lambda
                .update_function_code()
                .function_name(&physical)
                .zip_file(Blob::new(artifact.zip.clone()))
                .architectures(Self::architecture(f))
                .publish(false)
                .send()
                .await
                .map_err(|e| Error::aws(&id, "UpdateFunctionCode", e))
        })
        .await?;
        Self::wait_updated(ctx, &id, &physical).await
    }

    /// Wait until the last configuration or code update has been applied.
    async fn wait_updated(ctx: &Ctx, id: &ResourceId, physical: &str) -> Result<(), Error> {
        poll_until(
            format!("{id}: waiting for the update to finish"),
            FUNCTION_SETTLE,
            || async {
                let c = Self::configuration(ctx, id, physical).await?;
                match c.last_update_status() {
                    Some(LastUpdateStatus::Successful) | None => Ok(Some(())),
                    Some(LastUpdateStatus::Failed) => Err(Error::Other(format!(
                        "{id}: function update failed: {}: {}",
                        c.last_update_status_reason_code()
                            .map(|c| c.as_str())
                            .unwrap_or("unknown"),
                        c.last_update_status_reason().unwrap_or("no reason given")
                    ))),
                    _ => Ok(None),
                }
            },
        )
        .await
    }

    async fn set_async_retries(
        ctx: &Ctx,
        id: &ResourceId,
        physical: &str,
        want: Option<i32>,
        exists: bool,
    ) -> Result<(), Error> {
        retry(UPDATE_IN_PROGRESS, is_update_in_progress, || async {
            let result = match (want, exists) {
                (None, _) => ctx
                    .aws
                    .lambda
                    .delete_function_event_invoke_config()
                    .function_name(physical)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| Error::aws(id, "DeleteFunctionEventInvokeConfig", e)),
                // Update keeps settings orderflow does not manage (event age, destinations).
                (Some(n), true) => ctx
                    .aws
                    .lambda
                    .update_function_event_invoke_config()
                    .function_name(physical)
                    .maximum_retry_attempts(n)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| Error::aws(id, "UpdateFunctionEventInvokeConfig", e)),
                (Some(n), false) => ctx
                    .aws
                    .lambda
                    .put_function_event_invoke_config()
                    .function_name(physical)
                    .maximum_retry_attempts(n)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| Error::aws(id, "PutFunctionEventInvokeConfig", e)),
            };
            match result {
                Err(e) if want.is_none() && is_not_found(&e) => Ok(()),
                other => other,
            }
        })
        .await
    }
}

fn not_built(name: &str) -> Error {
    Error::Other(format!(
        "{}: the function was not built (no deployment package for it); build it before `up`",
        rid(name)
    ))
}

/// A desired prop that must be known by apply time (its dependencies exist by then).
fn known_prop<'a>(props: &'a Props, key: &str, id: &ResourceId) -> Result<&'a Value, Error> {
    match props.get(key) {
        Some(Prop::Known(v)) => Ok(v),
        _ => Err(Error::Other(format!(
            "{id}: `{key}` depends on a resource that does not exist yet"
        ))),
    }
}

fn env_vars(v: &Value) -> HashMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn as_i32(v: &Value) -> Option<i32> {
    v.as_i64().and_then(|n| i32::try_from(n).ok())
}

#[async_trait]
impl Provider for FunctionProvider {
    fn kind(&self) -> Kind {
        Kind::Function
    }

    fn dependencies(&self, spec: &Spec, name: &str) -> Vec<ResourceId> {
        let self_id = rid(name);
        // Its log group first: Lambda must find the group orderflow owns, not create its own.
        let mut deps = vec![
            ResourceId::new(Kind::Role, name),
            ResourceId::new(Kind::LogGroup, name),
        ];
        if let Some(f) = spec.functions.get(name) {
            for template in f.environment.values() {
                for part in &template.parts {
                    if let TemplatePart::Ref(r) = part {
                        let target = ref_target(r);
                        if target != self_id {
                            deps.push(target);
                        }
                    }
                }
            }
            if let Some(q) = &f.dead_letter_queue {
                deps.push(ResourceId::new(Kind::Queue, q.clone()));
            }
        }
        deps.sort();
        deps.dedup();
        deps
    }

    fn desired(&self, ctx: &Ctx, name: &str, known: &Known) -> Props {
        let Some(f) = ctx.spec.functions.get(name) else {
            return Props::new();
        };
        let mut props = Props::from([
            ("runtime".to_string(), Prop::from(RUNTIME)),
            ("handler".to_string(), Prop::from(HANDLER)),
            ("memory_size".to_string(), Prop::from(f.memory_mb)),
            ("timeout".to_string(), Prop::from(f.timeout_secs)),
            (
                "architectures".to_string(),
                Prop::Known(json!([f.architecture.as_str()])),
            ),
            (
                "role".to_string(),
                output(known, &ResourceId::new(Kind::Role, name), "arn"),
            ),
            (
                "environment".to_string(),
                Self::environment(ctx, name, f, known),
            ),
            (
                "dead_letter_target_arn".to_string(),
                match &f.dead_letter_queue {
                    Some(q) => output(known, &ResourceId::new(Kind::Queue, q.clone()), "arn"),
                    None => Prop::Known(Value::Null),
                },
            ),
            (
                "async_retry_attempts".to_string(),
                Prop::Known(f.async_retry_attempts.map_or(Value::Null, Value::from)),
            ),
            ("tags".to_string(), Prop::Known(desired_tags(ctx))),
        ]);
        if let Some(artifact) = ctx.artifacts.get(name) {
            props.insert(
                "code_sha256".to_string(),
                Prop::from(artifact.code_sha256.clone()),
            );
        }
        props
    }

    async fn read(&self, ctx: &Ctx, name: &str) -> Result<Option<Live>, Error> {
        let id = rid(name);
        let physical = ctx.physical_name(name);
        // Shared with discovery, which takes ownership from these tags.
        let got = super::shared::get_function(ctx, &id, &physical).await?;
        let Some(out) = got.as_ref() else {
            return Ok(None);
        };
        let Some(c) = out.configuration() else {
            return Ok(None);
        };
        let tags: Vec<(String, String)> = out
            .tags()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let owned = ctx.is_owned(tags.iter().map(|(k, v)| (k, v)));

        let mut props = BTreeMap::new();
        let mut put = |k: &str, v: Value| {
            props.insert(k.to_string(), v);
        };
        put("runtime", json!(c.runtime().map(|r| r.as_str())));
        put("handler", json!(c.handler()));
        put("memory_size", json!(c.memory_size()));
        put("timeout", json!(c.timeout()));
        put(
            "architectures",
            json!(c
                .architectures()
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()),
        );
        put("role", json!(c.role()));
        let vars: BTreeMap<&String, &String> = c
            .environment()
            .and_then(|e| e.variables())
            .into_iter()
            .flatten()
            .collect();
        put("environment", json!(vars));
        put(
            "dead_letter_target_arn",
            json!(c
                .dead_letter_config()
                .and_then(|d| d.target_arn())
                .filter(|a| !a.is_empty())),
        );
        put("code_sha256", json!(c.code_sha256()));
        put(
            "tags",
            live_managed_tags(ctx, tags.iter().map(|(k, v)| (k, v))),
        );

        let retries = match ctx
            .aws
            .lambda
            .get_function_event_invoke_config()
            .function_name(&physical)
            .send()
            .await
        {
            Ok(cfg) => json!(cfg.maximum_retry_attempts()),
            Err(e) => {
                let e = Error::aws(&id, "GetFunctionEventInvokeConfig", e);
                if !is_not_found(&e) {
                    return Err(e);
                }
                Value::Null
            }
        };
        props.insert("async_retry_attempts".to_string(), retries);

        let arn = c
            .function_arn()
            .ok_or_else(|| Error::Other(format!("{id}: GetFunction returned no ARN")))?;
        Ok(Some(Live {
            props,
            outputs: outputs(&physical, arn),
            owned,
        }))
    }

    async fn create(&self, ctx: &Ctx, name: &str, known: &Known) -> Result<Outputs, Error> {
        let id = rid(name);
        let physical = ctx.physical_name(name);
        let f = Self::spec_fn(ctx, name)?;
        let artifact = ctx.artifacts.get(name).ok_or_else(|| not_built(name))?;
        let desired = self.desired(ctx, name, known);
        let role = known_prop(&desired, "role", &id)?
            .as_str()
            .unwrap_or_default()
            .to_string();
        let env = env_vars(known_prop(&desired, "environment", &id)?);
        let dead_letter = known_prop(&desired, "dead_letter_target_arn", &id)?
            .as_str()
            .map(|arn| DeadLetterConfig::builder().target_arn(arn).build());
        let tags: HashMap<String, String> = ctx.tags().into_iter().collect();

        let created = retry(ROLE_PROPAGATION, is_role_not_ready, || async {
            ctx.aws
                .lambda
                .create_function()
                .function_name(&physical)
                .runtime(Runtime::from(RUNTIME))
                .handler(HANDLER)
                .role(&role)
                .package_type(PackageType::Zip)
                .code(
                    FunctionCode::builder()
                        .zip_file(Blob::new(artifact.zip.clone()))
                        .build(),
                )
                .architectures(Self::architecture(f))
                .memory_size(f.memory_mb as i32)
                .timeout(f.timeout_secs as i32)
                .environment(
                    Environment::builder()
                        .set_variables(Some(env.clone()))
                        .build(),
                )
                .set_dead_letter_config(dead_letter.clone())
                .set_tags(Some(tags.clone()))
                .publish(false)
                .send()
                .await
                .map_err(|e| Error::aws(&id, "CreateFunction", e))
        })
        .await?;
        let arn = created
            .function_arn()
            .ok_or_else(|| Error::Other(format!("{id}: CreateFunction returned no ARN")))?
            .to_string();

        Self::wait_active(ctx, &id, &physical).await?;
        if let Some(n) = f.async_retry_attempts {
            Self::set_async_retries(ctx, &id, &physical, Some(n as i32), false).await?;
        }
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
        let id = rid(name);
        let physical = ctx.physical_name(name);
        let f = Self::spec_fn(ctx, name)?;
        let desired = self.desired(ctx, name, known);
        let changed: BTreeSet<&str> = changes.iter().map(|c| c.attribute.as_str()).collect();

        if CONFIG_PROPS.iter().any(|p| changed.contains(p)) {
            let mut req = ctx
                .aws
                .lambda
                .update_function_configuration()
                .function_name(&physical);
            if changed.contains("runtime") {
                req = req.runtime(Runtime::from(RUNTIME));
            }
            if changed.contains("handler") {
                req = req.handler(HANDLER);
            }
            if changed.contains("memory_size") {
                req = req.memory_size(f.memory_mb as i32);
            }
            if changed.contains("timeout") {
                req = req.timeout(f.timeout_secs as i32);
            }
            if changed.contains("role") {
                let role = known_prop(&desired, "role", &id)?;
                req = req.role(role.as_str().unwrap_or_default());
            }
            if changed.contains("environment") {
                let env = env_vars(known_prop(&desired, "environment", &id)?);
                req = req.environment(Environment::builder().set_variables(Some(env)).build());
            }
            if changed.contains("dead_letter_target_arn") {
                // An empty target ARN removes the dead-letter configuration.
                let target = known_prop(&desired, "dead_letter_target_arn", &id)?
                    .as_str()
                    .unwrap_or_default();
                req =
                    req.dead_letter_config(DeadLetterConfig::builder().target_arn(target).build());
            }
            retry(
                UPDATE_IN_PROGRESS,
                |e| is_update_in_progress(e) || is_role_not_ready(e),
                || async {
                    req.clone()
                        .send()
                        .await
                        .map_err(|e| Error::aws(&id, "UpdateFunctionConfiguration", e))
                },
            )
            .await?;
            Self::wait_updated(ctx, &id, &physical).await?;
        }

        // Architecture can only change together with the code (UpdateFunctionCode).
        let arch_changed = changed.contains("architectures");
        if changed.contains("code_sha256") || arch_changed {
            let artifact = ctx.artifacts.get(name).ok_or_else(|| not_built(name))?;
            let live_sha = live.props.get("code_sha256").and_then(Value::as_str);
            if arch_changed || live_sha != Some(artifact.code_sha256.as_str()) {
                Self::update_code(ctx, name, artifact).await?;
            }
        }

        if changed.contains("async_retry_attempts") {
            let want = known_prop(&desired, "async_retry_attempts", &id)?;
            let exists = live
                .props
                .get("async_retry_attempts")
                .is_some_and(|v| !v.is_null());
            Self::set_async_retries(ctx, &id, &physical, as_i32(want), exists).await?;
        }

        let arn = live
            .outputs
            .get("arn")
            .cloned()
            .ok_or_else(|| Error::Other(format!("{id}: live function has no ARN")))?;
        if changed.contains("tags") {
            let (set, remove) = tag_changes(live.props.get("tags"), &ctx.tags());
            if !set.is_empty() {
                ctx.aws
                    .lambda
                    .tag_resource()
                    .resource(&arn)
                    .set_tags(Some(set.into_iter().collect()))
                    .send()
                    .await
                    .map_err(|e| Error::aws(&id, "TagResource", e))?;
            }
            if !remove.is_empty() {
                ctx.aws
                    .lambda
                    .untag_resource()
                    .resource(&arn)
                    .set_tag_keys(Some(remove))
                    .send()
                    .await
                    .map_err(|e| Error::aws(&id, "UntagResource", e))?;
            }
        }
        Ok(outputs(&physical, &arn))
    }

    async fn discover(&self, ctx: &Ctx) -> Result<Vec<Discovered>, Error> {
        Ok(owned_functions(ctx)
            .await?
            .into_iter()
            .map(|f| Discovered {
                id: rid(&f.logical),
                handle: f.physical.clone(),
                physical: f.physical,
            })
            .collect())
    }

    /// Gone once GetFunction stops finding it. Called after planning, so `get_function` asks AWS
    /// (never the plan's shared reads or listings).
    async fn still_visible(&self, ctx: &Ctx, target: &Discovered) -> Result<bool, Error> {
        let found = super::shared::get_function(ctx, &target.id, &target.handle).await?;
        Ok(found.is_some())
    }

    async fn delete(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
        let result = retry(UPDATE_IN_PROGRESS, is_update_in_progress, || async {
            ctx.aws
                .lambda
                .delete_function()
                .function_name(&target.handle)
                .send()
                .await
                .map_err(|e| Error::aws(&target.id, "DeleteFunction", e))
        })
        .await;
        absent_as_none(result, NOT_FOUND)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::{Clients, Target};
    use crate::spec::model::{Architecture, Ref, Section, Spec, Template, TemplatePart};
    use std::sync::Arc;

    fn function() -> Function {
        Function {
            crate_name: "validate-order".into(),
            memory_mb: 256,
            timeout_secs: 10,
            architecture: Architecture::Arm64,
            environment: BTreeMap::from([
                (
                    "QUEUE_URL".to_string(),
                    Template {
                        parts: vec![TemplatePart::Ref(Ref {
                            kind: Section::Queue,
                            name: "orders".into(),
                            attribute: "url",
                        })],
                    },
                ),
                (
                    "SELF".to_string(),
                    Template {
                        parts: vec![
                            TemplatePart::Literal("fn=".into()),
                            TemplatePart::Ref(Ref {
                                kind: Section::Function,
                                name: "validate".into(),
                                attribute: "arn",
                            }),
                        ],
                    },
                ),
            ]),
            access: vec![],
            dead_letter_queue: Some("dlq".into()),
            async_retry_attempts: Some(1),
            log_retention_days: 14,
            adopt_log_group: false,
        }
    }

    async fn ctx() -> Ctx {
        let spec = Spec {
            tags: BTreeMap::from([("team".to_string(), "orders".to_string())]),
            functions: BTreeMap::from([("validate".to_string(), function())]),
            ..Spec::empty("shop")
        };
        let target = Target {
            endpoint_url: Some("http://127.0.0.1:9".into()),
            region: Some("eu-west-1".into()),
            local: true,
            ..Default::default()
        };
        Ctx {
            spec: Arc::new(spec),
            aws: Clients::new(&target, None).await,
            region: "eu-west-1".into(),
            artifacts: HashMap::new(),
            parallelism: 10,
        }
    }

    fn known() -> Known {
        Known::from([
            (
                ResourceId::new(Kind::Role, "validate"),
                BTreeMap::from([(
                    "arn".to_string(),
                    "arn:aws:iam::123456789012:role/orderflow/shop/shop-validate".to_string(),
                )]),
            ),
            (
                ResourceId::new(Kind::Queue, "orders"),
                BTreeMap::from([(
                    "url".to_string(),
                    "https://sqs.eu-west-1.amazonaws.com/123456789012/shop-orders".to_string(),
                )]),
            ),
            (
                ResourceId::new(Kind::Queue, "dlq"),
                BTreeMap::from([(
                    "arn".to_string(),
                    "arn:aws:sqs:eu-west-1:123456789012:shop-dlq".to_string(),
                )]),
            ),
        ])
    }

    #[test]
    fn dependencies_skip_self_references() {
        let spec_fn = function();
        let spec = Spec {
            functions: BTreeMap::from([("validate".to_string(), spec_fn)]),
            ..Spec::empty("shop")
        };
        assert_eq!(
            FunctionProvider.dependencies(&spec, "validate"),
            vec![
                ResourceId::new(Kind::Role, "validate"),
                ResourceId::new(Kind::LogGroup, "validate"),
                ResourceId::new(Kind::Queue, "dlq"),
                ResourceId::new(Kind::Queue, "orders"),
            ]
        );
    }

    #[tokio::test]
    async fn desired_props_resolve_references_and_omit_code_without_a_build() {
        let ctx = ctx().await;
        let props = FunctionProvider.desired(&ctx, "validate", &known());
        let get = |k: &str| props.get(k).cloned().unwrap();
        assert_eq!(get("runtime"), Prop::from("provided.al2023"));
        assert_eq!(get("handler"), Prop::from("bootstrap"));
        assert_eq!(get("memory_size"), Prop::from(256));
        assert_eq!(get("timeout"), Prop::from(10));
        assert_eq!(get("architectures"), Prop::Known(json!(["arm64"])));
        assert_eq!(
            get("role"),
            Prop::from("arn:aws:iam::123456789012:role/orderflow/shop/shop-validate")
        );
        assert_eq!(
            get("environment"),
            Prop::Known(json!({
                "QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/shop-orders",
                "SELF": "fn=arn:aws:lambda:eu-west-1:123456789012:function:shop-validate",
            }))
        );
        assert_eq!(
            get("dead_letter_target_arn"),
            Prop::from("arn:aws:sqs:eu-west-1:123456789012:shop-dlq")
        );
        assert_eq!(get("async_retry_attempts"), Prop::from(1));
        assert_eq!(
            get("tags"),
            Prop::Known(json!({"orderflow:stack": "shop", "team": "orders"}))
        );
        assert!(!props.contains_key("code_sha256"));
    }

    #[tokio::test]
    async fn unknown_until_dependencies_exist_and_code_hash_with_a_build() {
        let mut ctx = ctx().await;
        ctx.artifacts.insert(
            "validate".into(),
            crate::build::Artifact {
                function: "validate".into(),
                zip: vec![1, 2, 3],
                code_sha256: "abc=".into(),
            },
        );
        let props = FunctionProvider.desired(&ctx, "validate", &Known::new());
        assert_eq!(props["role"], Prop::Unknown);
        assert_eq!(props["environment"], Prop::Unknown);
        assert_eq!(props["dead_letter_target_arn"], Prop::Unknown);
        assert_eq!(props["code_sha256"], Prop::from("abc="));
    }

    #[test]
    fn classifies_lambda_errors() {
        let err = |code: &str, msg: &str| Error::Aws {
            resource: "function.x".into(),
            action: "CreateFunction".into(),
            code: Some(code.into()),
            message: format!("{code}: {msg}"),
        };
        assert!(is_role_not_ready(&err(
            "InvalidParameterValueException",
            "The role defined for the function cannot be assumed by Lambda."
        )));
        assert!(!is_role_not_ready(&err(
            "InvalidParameterValueException",
            "Unzipped size must be smaller than 262144000 bytes"
        )));
        assert!(is_update_in_progress(&err(
            "ResourceConflictException",
            "The operation cannot be performed at this time. An update is in progress for resource"
        )));
        assert!(!is_update_in_progress(&err(
            "ResourceConflictException",
            "Function already exist: shop-validate"
        )));
        assert_eq!(
            unqualified("arn:aws:lambda:eu-west-1:1:function:f:$LATEST"),
            "arn:aws:lambda:eu-west-1:1:function:f"
        );
    }
}
