//! Lambda resource-policy statement letting API Gateway invoke a function for one route:
//! principal `apigateway.amazonaws.com`, action `lambda:InvokeFunction`, scoped by
//! `AWS:SourceArn` to the API and the route — `arn:…:execute-api:<region>:<account>:<api id>/*/
//! <METHOD>/<path>` (any stage; `*` as the method of an `ANY` route, whose requests carry their
//! own method), so no other API, route or method can use the grant.
//!
//! Logical name `<api>/<route key>`; statement id `orderflow-api-<api>-<16 hex digits>` (a hash
//! of the route key: statement ids only allow letters, digits, `-` and `_`). The statement is
//! untaggable: it is this stack's when it carries our Sid prefix on a function this stack owns;
//! `discover` reads the route back from the statement's source ARN. Reading, adding, removing
//! and discovering the statement is the function's ([`crate::kinds::function::permission`]).

use serde_json::Value;

use super::{spec_route, split_route_resource_name, RouteKey};
use crate::error::Error;
use crate::kinds::function::permission::{InvokePermission, StatementRef};
use crate::resources::policy::parse_arn;
use crate::resources::{Ctx, Kind, ResourceId};
use crate::spec::Spec;

pub struct ApiPermissionProvider;

pub const PRINCIPAL: &str = "apigateway.amazonaws.com";
pub const SID_PREFIX: &str = "orderflow-api-";

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

impl InvokePermission for ApiPermissionProvider {
    const KIND: Kind = Kind::ApiPermission;
    const PRINCIPAL: &'static str = PRINCIPAL;
    const SID_PREFIX: &'static str = SID_PREFIX;

    fn depends_on(&self, spec: &Spec, name: &str) -> Vec<ResourceId> {
        let Some((api, key)) = split_route_resource_name(name) else {
            return Vec::new();
        };
        let mut deps = vec![ResourceId::new(Kind::Api, api)];
        if let Some(route) = spec_route(spec, api, &key) {
            deps.push(ResourceId::new(Kind::Function, route.function.clone()));
        }
        deps
    }

    fn source(&self, name: &str) -> Result<ResourceId, Error> {
        parts(name).map(|(api, _)| ResourceId::new(Kind::Api, api))
    }

    /// The API's execute-api ARN narrowed to the route.
    fn scope(&self, name: &str, api_arn: &str) -> String {
        match split_route_resource_name(name) {
            Some((_, key)) => source_arn(api_arn, &key),
            None => api_arn.to_string(),
        }
    }

    fn locate(&self, ctx: &Ctx, name: &str) -> Result<StatementRef, Error> {
        let (api, key) = parts(name)?;
        Ok(StatementRef {
            function: function_physical(ctx, name)?,
            sid: statement_id(api, &key),
        })
    }

    /// The route read back from the statement's source ARN. A statement whose route cannot be
    /// read back gets a name no declaration has, so it is deleted (and the declared one created
    /// again).
    fn name_found(&self, sid: &str, statement: &Value, _function: &str) -> Option<String> {
        let (api, hash) = parse_statement_id(sid)?;
        Some(match route_of_statement(statement, api, hash) {
            Some(key) => format!("{api}/{key}"),
            None => format!("{api}/#{hash}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::api::{Api, ApiRoute, Authorization};
    use crate::kinds::function::permission::{statement_props, ACTION};
    use crate::resources::test_support::{spec, test_ctx};
    use crate::resources::{Discovered, Known, Outputs, Prop, Provider};
    use serde_json::json;

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
            handle: StatementRef {
                function: function.into(),
                sid: sid.clone(),
            }
            .handle(),
        };
        assert!(!ApiPermissionProvider.is_stale(&ctx, &found("shop-submit-order")));
        assert!(ApiPermissionProvider.is_stale(&ctx, &found("shop-old-handler")));
    }
}
