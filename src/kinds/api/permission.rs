//! Lambda resource-policy statement letting API Gateway invoke a function for one route:
//! principal `apigateway.amazonaws.com`, action `lambda:InvokeFunction`, scoped by
//! `AWS:SourceArn` to the API and the route — `arn:…:execute-api:<region>:<account>:<api id>/*/
//! <METHOD>/<path>` (any stage; `*` as the method of an `ANY` route, whose requests carry their
//! own method), so no other API, route or method can use the grant.
//!
//! Logical name `<api>/<route key>`; statement id `orderflow-api-<api>-<16 hex digits>` (a hash
//! of the route key: statement ids only allow letters, digits, `-` and `_`). The statement is
//! untaggable: it is this stack's when it carries our Sid prefix on a function this stack owns.
//! `discover` reads the route back from the statement's source ARN.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{spec_route, split_route_resource_name, RouteKey};
use crate::error::Error;
use crate::kinds::function::provider::{is_not_found, is_update_in_progress, owned_functions};
use crate::kinds::rule::permission::statement_props;
use crate::resources::policy::parse_arn;
use crate::resources::{
    output, Change, Ctx, Discovered, Kind, Known, Live, Outputs, Prop, Props, Provider, ResourceId,
};
use crate::retry::{retry, Backoff};
use crate::spec::Spec;

pub struct ApiPermissionProvider;

pub const PRINCIPAL: &str = "apigateway.amazonaws.com";
pub const ACTION: &str = "lambda:InvokeFunction";
pub const SID_PREFIX: &str = "orderflow-api-";

/// Concurrent edits of one function's policy (several routes to one function, or a function
/// update in progress) are rejected with ResourceConflictException; they resolve within seconds.
const POLICY_CONFLICT: Backoff = Backoff::new(500, 5_000, 60);

fn rid(name: &str) -> ResourceId {
    ResourceId::new(Kind::ApiPermission, name)
}

/// FNV-1a, 64 bits: a hash that stays the same across builds and Rust versions (statement ids
/// are compared with what earlier runs wrote).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `orderflow-api-<api>-<hash of the route key>`.
pub fn statement_id(api: &str, key: &RouteKey) -> String {
    format!("{SID_PREFIX}{api}-{:016x}", fnv1a(&key.to_string()))
}

/// `orderflow-api-<api>-<hash>` → (api, hash).
fn parse_statement_id(sid: &str) -> Option<(&str, &str)> {
    let rest = sid.strip_prefix(SID_PREFIX)?;
    let (api, hash) = rest.rsplit_once('-')?;
    (!api.is_empty() && hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some((api, hash))
}

/// The route a statement of API `api` with hash `hash` grants, from its source ARN
/// (`arn:…:execute-api:…:<api id>/*/<METHOD>/<path>`); `None` when the ARN does not name a
/// route whose key hashes to `hash` (the statement was edited by hand).
fn route_of_statement(statement: &Value, api: &str, hash: &str) -> Option<RouteKey> {
    let source_arn = statement["Condition"]["ArnLike"]["AWS:SourceArn"].as_str()?;
    let arn = parse_arn(source_arn)?;
    let (_, suffix) = arn.resource.split_once('/')?;
    let key = RouteKey::from_source_arn_suffix(suffix)?;
    (statement_id(api, &key) == format!("{SID_PREFIX}{api}-{hash}")).then_some(key)
}

/// The source ARN of requests to `key` on the API with execute-api ARN `api_arn`.
pub fn source_arn(api_arn: &str, key: &RouteKey) -> String {
    format!("{api_arn}/{}", key.source_arn_suffix())
}

fn parts(name: &str) -> Result<(&str, RouteKey), Error> {
    split_route_resource_name(name).ok_or_else(|| {
        Error::Other(format!(
            "{}: permission names have the form <api>/<METHOD> <path>",
            rid(name)
        ))
    })
}

/// Physical name of the function behind a declared route.
fn function_physical(ctx: &Ctx, name: &str) -> Result<String, Error> {
    let (api, key) = parts(name)?;
    spec_route(&ctx.spec, api, &key)
        .map(|r| ctx.physical_name(&r.function))
        .ok_or_else(|| {
            Error::Other(format!(
                "route `{key}` of api `{api}` is not declared in the spec"
            ))
        })
}

/// The statements of a policy document as returned by GetPolicy.
fn statements(policy: &str) -> Vec<Value> {
    match serde_json::from_str::<Value>(policy) {
        Ok(doc) => match &doc["Statement"] {
            Value::Array(a) => a.clone(),
            v @ Value::Object(_) => vec![v.clone()],
            _ => Vec::new(),
        },
        Err(_) => Vec::new(),
    }
}

/// A function's policy statements; empty when the function or its policy does not exist.
async fn policy_statements(
    ctx: &Ctx,
    id: &ResourceId,
    function_physical: &str,
) -> Result<Vec<Value>, Error> {
    match ctx
        .aws
        .lambda
        .get_policy()
        .function_name(function_physical)
        .send()
        .await
    {
        Ok(out) => Ok(out.policy().map(statements).unwrap_or_default()),
        Err(e) => {
            let e = Error::aws(id, "GetPolicy", e);
            if is_not_found(&e) {
                Ok(Vec::new())
            } else {
                Err(e)
            }
        }
    }
}

async fn add(ctx: &Ctx, name: &str, known: &Known) -> Result<(), Error> {
    let id = rid(name);
    let (api, key) = parts(name)?;
    let Prop::Known(Value::String(api_arn)) =
        output(known, &ResourceId::new(Kind::Api, api), "arn")
    else {
        return Err(Error::Other(format!(
            "{id}: the ARN of api `{api}` is not known yet"
        )));
    };
    let function = function_physical(ctx, name)?;
    let sid = statement_id(api, &key);
    let source = source_arn(&api_arn, &key);
    retry(POLICY_CONFLICT, is_update_in_progress, || async {
        ctx.aws
            .lambda
            .add_permission()
            .function_name(&function)
            .statement_id(&sid)
            .action(ACTION)
            .principal(PRINCIPAL)
            .source_arn(&source)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| Error::aws(&id, "AddPermission", e))
    })
    .await
}

async fn remove(ctx: &Ctx, id: &ResourceId, function: &str, sid: &str) -> Result<(), Error> {
    let result = retry(POLICY_CONFLICT, is_update_in_progress, || async {
        ctx.aws
            .lambda
            .remove_permission()
            .function_name(function)
            .statement_id(sid)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| Error::aws(id, "RemovePermission", e))
    })
    .await;
    match result {
        Err(e) if is_not_found(&e) => Ok(()),
        other => other,
    }
}

fn handle(function: &str, sid: &str) -> String {
    format!("{function}|{sid}")
}

fn outputs(function: &str, sid: &str) -> Outputs {
    BTreeMap::from([("name".to_string(), handle(function, sid))])
}

#[async_trait]
impl Provider for ApiPermissionProvider {
    fn kind(&self) -> Kind {
        Kind::ApiPermission
    }

    fn display_name(&self, ctx: &Ctx, name: &str) -> String {
        match (parts(name), function_physical(ctx, name)) {
            (Ok((api, key)), Ok(function)) => format!("{function}#{}", statement_id(api, &key)),
            _ => name.to_string(),
        }
    }

    fn dependencies(&self, spec: &Spec, name: &str) -> Vec<ResourceId> {
        let Some((api, key)) = split_route_resource_name(name) else {
            return Vec::new();
        };
        let mut deps = vec![ResourceId::new(Kind::Api, api)];
        if let Some(route) = spec_route(spec, api, &key) {
            deps.push(ResourceId::new(Kind::Function, route.function.clone()));
        }
        deps
    }

    fn desired(&self, _ctx: &Ctx, name: &str, known: &Known) -> Props {
        let source = match split_route_resource_name(name) {
            Some((api, key)) => match output(known, &ResourceId::new(Kind::Api, api), "arn") {
                Prop::Known(Value::String(api_arn)) => Prop::from(source_arn(&api_arn, &key)),
                _ => Prop::Unknown,
            },
            None => Prop::Unknown,
        };
        Props::from([
            ("principal".to_string(), Prop::from(PRINCIPAL)),
            ("action".to_string(), Prop::from(ACTION)),
            ("source_arn".to_string(), source),
        ])
    }

    async fn read(&self, ctx: &Ctx, name: &str) -> Result<Option<Live>, Error> {
        let id = rid(name);
        let (api, key) = parts(name)?;
        let function = function_physical(ctx, name)?;
        let sid = statement_id(api, &key);
        Ok(policy_statements(ctx, &id, &function)
            .await?
            .iter()
            .find(|s| s["Sid"] == json!(sid))
            .map(|s| Live {
                props: statement_props(s),
                outputs: outputs(&function, &sid),
                owned: true,
            }))
    }

    async fn create(&self, ctx: &Ctx, name: &str, known: &Known) -> Result<Outputs, Error> {
        add(ctx, name, known).await?;
        let (api, key) = parts(name)?;
        Ok(outputs(
            &function_physical(ctx, name)?,
            &statement_id(api, &key),
        ))
    }

    async fn update(
        &self,
        ctx: &Ctx,
        name: &str,
        known: &Known,
        _live: &Live,
        _changes: &[Change],
    ) -> Result<Outputs, Error> {
        // A policy statement cannot be modified in place.
        let (api, key) = parts(name)?;
        let function = function_physical(ctx, name)?;
        let sid = statement_id(api, &key);
        remove(ctx, &rid(name), &function, &sid).await?;
        add(ctx, name, known).await?;
        Ok(outputs(&function, &sid))
    }

    async fn discover(&self, ctx: &Ctx) -> Result<Vec<Discovered>, Error> {
        let mut found = Vec::new();
        for f in owned_functions(ctx).await? {
            let fid = ResourceId::new(Kind::Function, f.logical.clone());
            for s in policy_statements(ctx, &fid, &f.physical).await? {
                let Some(sid) = s["Sid"].as_str() else {
                    continue;
                };
                let Some((api, hash)) = parse_statement_id(sid) else {
                    continue;
                };
                // A statement whose route cannot be read back gets a name no declaration has,
                // so it is deleted (and the declared one created again).
                let name = match route_of_statement(&s, api, hash) {
                    Some(key) => format!("{api}/{key}"),
                    None => format!("{api}/#{hash}"),
                };
                let handle = handle(&f.physical, sid);
                found.push(Discovered {
                    id: rid(&name),
                    physical: handle.clone(),
                    handle,
                });
            }
        }
        Ok(found)
    }

    /// The route now sends its requests to another function: the statement on the old one is
    /// not the declared one any more.
    fn is_stale(&self, ctx: &Ctx, found: &Discovered) -> bool {
        let Ok(declared) = function_physical(ctx, &found.id.name) else {
            return false;
        };
        found
            .handle
            .split_once('|')
            .is_some_and(|(function, _)| function != declared)
    }

    async fn delete(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
        let (function, sid) = target.handle.split_once('|').ok_or_else(|| {
            Error::Other(format!(
                "{}: malformed handle {:?} (expected <function>|<statement id>)",
                target.id, target.handle
            ))
        })?;
        remove(ctx, &target.id, function, sid).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::api::{Api, ApiRoute, Authorization};
    use crate::resources::test_support::{spec, test_ctx};

    fn key(text: &str) -> RouteKey {
        RouteKey::parse(text).unwrap()
    }

    const API_ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5";

    #[test]
    fn statement_ids_are_stable_valid_and_distinct_per_route() {
        let sid = statement_id("orders", &key("POST /orders"));
        // Pinned: ids written by earlier runs must still be recognised.
        assert_eq!(
            sid,
            format!("orderflow-api-orders-{:016x}", fnv1a("POST /orders"))
        );
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
        assert!(sid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(sid, statement_id("orders", &key("GET /orders")));
        assert_ne!(sid, statement_id("admin", &key("POST /orders")));
        let longest = statement_id(&"a".repeat(super::super::MAX_API_NAME), &key("GET /"));
        assert_eq!(longest.len(), 100);
        assert_eq!(parse_statement_id(&sid).map(|(a, _)| a), Some("orders"));
        assert_eq!(parse_statement_id("orderflow-rule-x"), None);
        assert_eq!(parse_statement_id("orderflow-api-orders-xyz"), None);
    }

    #[test]
    fn source_arns_name_the_api_the_method_and_the_path() {
        assert_eq!(
            source_arn(API_ARN, &key("GET /orders/{order_id}")),
            format!("{API_ARN}/*/GET/orders/{{order_id}}")
        );
        assert_eq!(
            source_arn(API_ARN, &key("ANY /{proxy+}")),
            format!("{API_ARN}/*/*/{{proxy+}}")
        );
        assert_eq!(
            source_arn(API_ARN, &key("GET /")),
            format!("{API_ARN}/*/GET/")
        );
    }

    #[test]
    fn discover_reads_the_route_back_from_the_statement() {
        for text in [
            "POST /orders",
            "GET /orders/{order_id}",
            "ANY /{proxy+}",
            "GET /",
        ] {
            let k = key(text);
            let sid = statement_id("orders", &k);
            let statement = json!({
                "Sid": sid,
                "Effect": "Allow",
                "Principal": {"Service": PRINCIPAL},
                "Action": ACTION,
                "Resource": "arn:aws:lambda:us-east-1:123456789012:function:shop-f",
                "Condition": {"ArnLike": {"AWS:SourceArn": source_arn(API_ARN, &k)}},
            });
            let (api, hash) = parse_statement_id(&sid).unwrap();
            assert_eq!(
                route_of_statement(&statement, api, hash),
                Some(k.clone()),
                "{text}"
            );
            // The statement as read compares equal to the desired props.
            let mut known = Known::new();
            known.insert(
                ResourceId::new(Kind::Api, "orders"),
                Outputs::from([("arn".to_string(), API_ARN.to_string())]),
            );
            let desired =
                ApiPermissionProvider.desired(&test_ctx(spec()), &format!("orders/{k}"), &known);
            assert!(crate::resources::diff(&desired, &statement_props(&statement)).is_empty());
            // Another route's ARN under this Sid is not read back as this route.
            let mut edited = statement.clone();
            edited["Condition"]["ArnLike"]["AWS:SourceArn"] =
                json!(format!("{API_ARN}/*/DELETE/other"));
            assert_eq!(route_of_statement(&edited, api, hash), None);
        }
    }

    #[test]
    fn desired_source_arn_is_unknown_until_the_api_exists_and_stale_follows_the_function() {
        let mut s = spec();
        s.apis.insert(
            "orders".into(),
            Api {
                description: None,
                throttling: None,
                cors: None,
                routes: vec![ApiRoute {
                    route: key("POST /orders"),
                    function: "submit-order".into(),
                    authorization: Authorization::None,
                    timeout_secs: 30,
                }],
            },
        );
        assert_eq!(
            ApiPermissionProvider.dependencies(&s, "orders/POST /orders"),
            vec![
                ResourceId::new(Kind::Api, "orders"),
                ResourceId::new(Kind::Function, "submit-order"),
            ]
        );
        let ctx = test_ctx(s);
        let props = ApiPermissionProvider.desired(&ctx, "orders/POST /orders", &Known::new());
        assert_eq!(props["source_arn"], Prop::Unknown);
        assert_eq!(props["principal"], Prop::from("apigateway.amazonaws.com"));
        let sid = statement_id("orders", &key("POST /orders"));
        assert_eq!(
            ApiPermissionProvider.display_name(&ctx, "orders/POST /orders"),
            format!("shop-submit-order#{sid}")
        );
        let found = |function: &str| Discovered {
            id: rid("orders/POST /orders"),
            physical: String::new(),
            handle: handle(function, &sid),
        };
        assert!(!ApiPermissionProvider.is_stale(&ctx, &found("shop-submit-order")));
        assert!(ApiPermissionProvider.is_stale(&ctx, &found("shop-old-handler")));
    }
}
