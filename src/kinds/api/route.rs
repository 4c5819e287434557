//! One route of an HTTP API and the Lambda proxy integration it targets (`AWS_PROXY`, payload
//! format 2.0, the declared timeout), named `<api>/<route key>`.
//!
//! Routes and integrations take no tags: they are this stack's because their API is. The
//! integration carries the description `orderflow route <route key>`, so one left behind by an
//! interrupted create (integration made, route not) is recognised and removed by the next
//! create instead of piling up.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_apigatewayv2::types::{AuthorizationType, Integration, IntegrationType, Route};
use serde_json::{json, Value};

use super::provider::{find_api, is_not_found, owned_apis, write, NOT_FOUND};
use super::{spec_route, split_route_resource_name, ApiRoute, RouteKey};
use crate::error::Error;
use crate::resources::{
    absent_as_none, known_value, output, unknown_attribute, Change, Ctx, Discovered, Kind, Known,
    Live, Outputs, Prop, Props, Provider, ResourceId,
};
use crate::spec::Spec;

pub struct RouteProvider;

pub const INTEGRATION_TYPE: &str = "AWS_PROXY";
pub const PAYLOAD_FORMAT_VERSION: &str = "2.0";

/// Props that live on the integration (the rest, `authorization_type`, on the route).
const INTEGRATION_PROPS: [&str; 4] = [
    "integration_type",
    "integration_uri",
    "payload_format_version",
    "timeout_in_millis",
];

fn resource(name: &str) -> String {
    format!("{}.{name}", Kind::ApiRoute)
}

fn parts(name: &str) -> Result<(&str, RouteKey), Error> {
    split_route_resource_name(name).ok_or_else(|| {
        Error::Other(format!(
            "{}: route names have the form <api>/<METHOD> <path>",
            resource(name)
        ))
    })
}

fn spec_route_of<'a>(ctx: &'a Ctx, name: &str) -> Result<&'a ApiRoute, Error> {
    let (api, key) = parts(name)?;
    spec_route(&ctx.spec, api, &key).ok_or_else(|| {
        Error::Other(format!(
            "route `{key}` of api `{api}` is not declared in the spec"
        ))
    })
}

/// The description that marks an integration as orderflow's, for one route.
pub fn integration_description(key: &RouteKey) -> String {
    format!("orderflow route {key}")
}

/// `integrations/<id>` → `<id>`.
pub fn target_integration(target: Option<&str>) -> Option<&str> {
    target?
        .strip_prefix("integrations/")
        .filter(|id| !id.is_empty())
}

/// The routes of an API, or `None` if the API is gone; once per API and plan while planning
/// (every route's read and discovery share it).
async fn api_routes(ctx: &Ctx, res: &str, api_id: &str) -> Result<Option<Vec<Route>>, Error> {
    ctx.aws
        .reads
        .cloned("ApiGatewayV2.GetRoutes", api_id, || {
            api_routes_now(ctx, res, api_id)
        })
        .await
}

/// The routes of an API (all pages), or `None` if the API is gone.
async fn api_routes_now(ctx: &Ctx, res: &str, api_id: &str) -> Result<Option<Vec<Route>>, Error> {
    let mut routes = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = ctx
            .aws
            .apigateway
            .get_routes()
            .api_id(api_id)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| Error::aws(res, "GetRoutes", e));
        let Some(out) = absent_as_none(out, NOT_FOUND)? else {
            return Ok(None);
        };
        routes.extend(out.items().iter().cloned());
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(Some(routes)),
        }
    }
}

/// The integrations of an API (all pages); empty if the API is gone.
async fn api_integrations(ctx: &Ctx, res: &str, api_id: &str) -> Result<Vec<Integration>, Error> {
    let mut integrations = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = ctx
            .aws
            .apigateway
            .get_integrations()
            .api_id(api_id)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| Error::aws(res, "GetIntegrations", e));
        let Some(out) = absent_as_none(out, NOT_FOUND)? else {
            return Ok(Vec::new());
        };
        integrations.extend(out.items().iter().cloned());
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(integrations),
        }
    }
}

/// A route's integration as read (from GetIntegrations or GetIntegration).
struct LiveIntegration {
    id: Option<String>,
    props: [(String, Value); 4],
}

/// The integration props of a live integration (all null when the route targets none).
fn integration_props(
    integration_type: Option<&str>,
    uri: Option<&str>,
    payload_format_version: Option<&str>,
    timeout_in_millis: Option<i32>,
) -> [(String, Value); 4] {
    [
        ("integration_type".into(), json!(integration_type)),
        ("integration_uri".into(), json!(uri)),
        (
            "payload_format_version".into(),
            json!(payload_format_version),
        ),
        ("timeout_in_millis".into(), json!(timeout_in_millis)),
    ]
}

fn desired_str<'a>(res: &str, desired: &'a Props, key: &str) -> Result<&'a str, Error> {
    match desired.get(key) {
        Some(Prop::Known(Value::String(s))) => Ok(s),
        _ => Err(Error::Other(format!(
            "{res}: attribute `{key}` is still unknown at apply time"
        ))),
    }
}

fn millis(res: &str, v: &Value) -> Result<i32, Error> {
    v.as_i64()
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| Error::Other(format!("{res}: timeout_in_millis is not a number: {v}")))
}

/// Delete integrations marked for this route that no route targets (left by an interrupted
/// create).
async fn remove_orphans(ctx: &Ctx, res: &str, api_id: &str, key: &RouteKey) -> Result<(), Error> {
    let marker = integration_description(key);
    let ours: Vec<String> = api_integrations(ctx, res, api_id)
        .await?
        .iter()
        .filter(|i| i.description() == Some(marker.as_str()))
        .filter_map(|i| i.integration_id().map(str::to_string))
        .collect();
    if ours.is_empty() {
        return Ok(());
    }
    let targeted: Vec<String> = api_routes(ctx, res, api_id)
        .await?
        .unwrap_or_default()
        .iter()
        .filter_map(|r| target_integration(r.target()).map(str::to_string))
        .collect();
    for id in ours.iter().filter(|id| !targeted.contains(id)) {
        delete_integration(ctx, res, api_id, id).await?;
    }
    Ok(())
}

async fn delete_integration(ctx: &Ctx, res: &str, api_id: &str, id: &str) -> Result<(), Error> {
    let deleted = write(|| async {
        ctx.aws
            .apigateway
            .delete_integration()
            .api_id(api_id)
            .integration_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| Error::aws(res, "DeleteIntegration", e))
    })
    .await;
    match deleted {
        Err(e) if is_not_found(&e) => Ok(()),
        other => other,
    }
}

async fn create_integration(
    ctx: &Ctx,
    res: &str,
    api_id: &str,
    key: &RouteKey,
    desired: &Props,
) -> Result<String, Error> {
    let uri = desired_str(res, desired, "integration_uri")?;
    let timeout = match desired.get("timeout_in_millis") {
        Some(Prop::Known(v)) => millis(res, v)?,
        _ => {
            return Err(Error::Other(format!(
                "{res}: timeout_in_millis is not known"
            )))
        }
    };
    let out = write(|| async {
        ctx.aws
            .apigateway
            .create_integration()
            .api_id(api_id)
            .integration_type(IntegrationType::from(INTEGRATION_TYPE))
            .integration_uri(uri)
            .payload_format_version(PAYLOAD_FORMAT_VERSION)
            .timeout_in_millis(timeout)
            .description(integration_description(key))
            .send()
            .await
            .map_err(|e| Error::aws(res, "CreateIntegration", e))
    })
    .await?;
    out.integration_id()
        .map(str::to_string)
        .ok_or_else(|| Error::Other(format!("{res}: CreateIntegration returned no id")))
}

fn outputs(key: &RouteKey, api_id: &str, route_id: &str, integration_id: Option<&str>) -> Outputs {
    let mut out = BTreeMap::from([
        ("name".to_string(), key.to_string()),
        ("api_id".to_string(), api_id.to_string()),
        ("id".to_string(), route_id.to_string()),
    ]);
    if let Some(i) = integration_id {
        out.insert("integration_id".to_string(), i.to_string());
    }
    out
}

#[async_trait]
impl Provider for RouteProvider {
    fn kind(&self) -> Kind {
        Kind::ApiRoute
    }

    fn display_name(&self, ctx: &Ctx, name: &str) -> String {
        match name.split_once('/') {
            Some((api, key)) => format!("{} {key}", ctx.physical_name(api)),
            None => ctx.physical_name(name),
        }
    }

    /// The API, the function, and the permission: the route only starts sending requests once
    /// the function accepts them.
    fn dependencies(&self, spec: &Spec, name: &str) -> Vec<ResourceId> {
        let Some((api, key)) = split_route_resource_name(name) else {
            return Vec::new();
        };
        let mut deps = vec![
            ResourceId::new(Kind::Api, api),
            ResourceId::new(Kind::ApiPermission, name),
        ];
        if let Some(route) = spec_route(spec, api, &key) {
            deps.push(ResourceId::new(Kind::Function, route.function.clone()));
        }
        deps
    }

    fn desired(&self, ctx: &Ctx, name: &str, known: &Known) -> Props {
        let Ok(route) = spec_route_of(ctx, name) else {
            return Props::new();
        };
        Props::from([
            (
                "authorization_type".into(),
                route.authorization.as_aws().into(),
            ),
            ("integration_type".into(), INTEGRATION_TYPE.into()),
            (
                "integration_uri".into(),
                output(
                    known,
                    &ResourceId::new(Kind::Function, route.function.clone()),
                    "arn",
                ),
            ),
            (
                "payload_format_version".into(),
                PAYLOAD_FORMAT_VERSION.into(),
            ),
            (
                "timeout_in_millis".into(),
                (route.timeout_secs * 1000).into(),
            ),
        ])
    }

    async fn read(&self, ctx: &Ctx, name: &str) -> Result<Option<Live>, Error> {
        let res = resource(name);
        let (api, key) = parts(name)?;
        let Some(found) = find_api(ctx, &res, api).await? else {
            return Ok(None);
        };
        let Some(routes) = api_routes(ctx, &res, &found.id).await? else {
            return Ok(None);
        };
        let key_text = key.to_string();
        let Some(route) = routes
            .iter()
            .find(|r| r.route_key() == Some(key_text.as_str()))
        else {
            return Ok(None);
        };
        let route_id = route.route_id().unwrap_or_default();
        let integration = match target_integration(route.target()) {
            None => None,
            Some(id) => {
                // While planning, one GetIntegrations per API serves every route; one the
                // listing does not show is asked for directly.
                let listed = if ctx.aws.reads.is_planning() {
                    ctx.aws
                        .reads
                        .cloned("ApiGatewayV2.GetIntegrations", &found.id, || {
                            api_integrations(ctx, &res, &found.id)
                        })
                        .await?
                        .into_iter()
                        .find(|i| i.integration_id() == Some(id))
                } else {
                    None
                };
                match listed {
                    Some(i) => Some(LiveIntegration {
                        id: i.integration_id().map(str::to_string),
                        props: integration_props(
                            i.integration_type().map(|t| t.as_str()),
                            i.integration_uri(),
                            i.payload_format_version(),
                            i.timeout_in_millis(),
                        ),
                    }),
                    None => {
                        let got = ctx
                            .aws
                            .apigateway
                            .get_integration()
                            .api_id(&found.id)
                            .integration_id(id)
                            .send()
                            .await
                            .map_err(|e| Error::aws(&res, "GetIntegration", e));
                        absent_as_none(got, NOT_FOUND)?.map(|i| LiveIntegration {
                            id: i.integration_id().map(str::to_string),
                            props: integration_props(
                                i.integration_type().map(|t| t.as_str()),
                                i.integration_uri(),
                                i.payload_format_version(),
                                i.timeout_in_millis(),
                            ),
                        })
                    }
                }
            }
        };
        let mut props = BTreeMap::from([(
            "authorization_type".to_string(),
            json!(route.authorization_type().map_or("NONE", |a| a.as_str())),
        )]);
        let integration_id = integration.as_ref().and_then(|i| i.id.clone());
        props.extend(match integration {
            Some(i) => i.props,
            None => integration_props(None, None, None, None),
        });
        let integration_id = integration_id.as_deref();
        Ok(Some(Live {
            props,
            outputs: outputs(&key, &found.id, route_id, integration_id),
            owned: found.owned,
        }))
    }

    async fn create(&self, ctx: &Ctx, name: &str, known: &Known) -> Result<Outputs, Error> {
        let res = resource(name);
        let (api, key) = parts(name)?;
        let route = spec_route_of(ctx, name)?;
        let Prop::Known(Value::String(api_id)) =
            output(known, &ResourceId::new(Kind::Api, api), "id")
        else {
            return Err(Error::Other(format!(
                "{res}: the id of api `{api}` is not known yet"
            )));
        };
        let desired = self.desired(ctx, name, known);
        remove_orphans(ctx, &res, &api_id, &key).await?;
        let integration_id = create_integration(ctx, &res, &api_id, &key, &desired).await?;
        let created = write(|| async {
            ctx.aws
                .apigateway
                .create_route()
                .api_id(&api_id)
                .route_key(key.to_string())
                .target(format!("integrations/{integration_id}"))
                .authorization_type(AuthorizationType::from(route.authorization.as_aws()))
                .send()
                .await
                .map_err(|e| Error::aws(&res, "CreateRoute", e))
        })
        .await;
        // CreateIntegration is not idempotent: if its response was lost and the SDK retried it,
        // the first integration is left targeted by no route. Remove it now, not next time —
        // also when CreateRoute failed (e.g. "already exists" after its own lost response, which
        // the engine then adopts).
        let cleaned = remove_orphans(ctx, &res, &api_id, &key).await;
        let created = created?;
        cleaned?;
        let route_id = created
            .route_id()
            .ok_or_else(|| Error::Other(format!("{res}: CreateRoute returned no id")))?;
        Ok(outputs(&key, &api_id, route_id, Some(&integration_id)))
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
        let (_, key) = parts(name)?;
        let get = |k: &str| live.output(&res, k, k).cloned();
        let (api_id, route_id) = (get("api_id")?, get("id")?);
        for change in changes {
            if change.attribute != "authorization_type"
                && !INTEGRATION_PROPS.contains(&change.attribute.as_str())
            {
                return Err(unknown_attribute(&res, &change.attribute));
            }
        }
        let mut outputs = live.outputs.clone();
        let integration_changes: Vec<&Change> = changes
            .iter()
            .filter(|c| INTEGRATION_PROPS.contains(&c.attribute.as_str()))
            .collect();
        let mut new_target = None;
        if !integration_changes.is_empty() {
            match live.outputs.get("integration_id") {
                // The route targets no (existing) integration: make one and point the route at it.
                None => {
                    let desired = self.desired(ctx, name, known);
                    let id = create_integration(ctx, &res, &api_id, &key, &desired).await?;
                    outputs.insert("integration_id".into(), id.clone());
                    new_target = Some(format!("integrations/{id}"));
                }
                Some(id) => {
                    let mut request = ctx
                        .aws
                        .apigateway
                        .update_integration()
                        .api_id(&api_id)
                        .integration_id(id);
                    for change in integration_changes {
                        let value = known_value(&res, change)?;
                        let text = value.as_str().unwrap_or_default();
                        request = match change.attribute.as_str() {
                            "integration_type" => {
                                request.integration_type(IntegrationType::from(text))
                            }
                            "integration_uri" => request.integration_uri(text),
                            "payload_format_version" => request.payload_format_version(text),
                            _ => request.timeout_in_millis(millis(&res, value)?),
                        };
                    }
                    write(|| async {
                        request
                            .clone()
                            .send()
                            .await
                            .map(|_| ())
                            .map_err(|e| Error::aws(&res, "UpdateIntegration", e))
                    })
                    .await?;
                }
            }
        }
        let authorization = match changes.iter().find(|c| c.attribute == "authorization_type") {
            Some(c) => known_value(&res, c)?.as_str().map(AuthorizationType::from),
            None => None,
        };
        if new_target.is_some() || authorization.is_some() {
            write(|| async {
                ctx.aws
                    .apigateway
                    .update_route()
                    .api_id(&api_id)
                    .route_id(&route_id)
                    .set_target(new_target.clone())
                    .set_authorization_type(authorization.clone())
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| Error::aws(&res, "UpdateRoute", e))
            })
            .await?;
        }
        Ok(outputs)
    }

    async fn discover(&self, ctx: &Ctx) -> Result<Vec<Discovered>, Error> {
        let res = format!("{}.*", Kind::ApiRoute);
        let mut found = Vec::new();
        for (api, sdk_api) in owned_apis(ctx, &res).await? {
            let (Some(api_id), Some(physical)) = (sdk_api.api_id(), sdk_api.name()) else {
                continue;
            };
            let Some(routes) = api_routes(ctx, &res, api_id).await? else {
                continue;
            };
            for r in routes {
                let (Some(key), Some(route_id)) = (r.route_key(), r.route_id()) else {
                    continue;
                };
                let integration = target_integration(r.target()).unwrap_or_default();
                found.push(Discovered {
                    // A route key orderflow would not declare ($default, ...) still gets a
                    // name, never a declared one, so it is deleted.
                    id: ResourceId::new(Kind::ApiRoute, format!("{api}/{key}")),
                    physical: format!("{physical} {key}"),
                    handle: format!("{api_id}|{route_id}|{integration}"),
                });
            }
        }
        Ok(found)
    }

    async fn delete(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
        let res = target.id.to_string();
        let mut handle = target.handle.splitn(3, '|');
        let (Some(api_id), Some(route_id), integration) =
            (handle.next(), handle.next(), handle.next())
        else {
            return Err(Error::Other(format!(
                "{res}: malformed handle {:?} (expected <api id>|<route id>|<integration id>)",
                target.handle
            )));
        };
        let deleted = write(|| async {
            ctx.aws
                .apigateway
                .delete_route()
                .api_id(api_id)
                .route_id(route_id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| Error::aws(&res, "DeleteRoute", e))
        })
        .await;
        match deleted {
            Err(e) if is_not_found(&e) => {}
            other => other?,
        }
        if let Some(id) = integration.filter(|i| !i.is_empty()) {
            delete_integration(ctx, &res, api_id, id).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::api::{Api, Authorization, HttpMethod};
    use crate::resources::test_support::{spec, test_ctx};

    fn key(text: &str) -> RouteKey {
        RouteKey::parse(text).unwrap()
    }

    fn with_api() -> Spec {
        let mut s = spec();
        s.apis.insert(
            "orders".into(),
            Api {
                description: None,
                throttling: None,
                cors: None,
                routes: vec![ApiRoute {
                    route: key("GET /orders/{order_id}"),
                    function: "get-order".into(),
                    authorization: Authorization::AwsIam,
                    timeout_secs: 10,
                }],
            },
        );
        s
    }

    #[test]
    fn desired_props_are_a_lambda_proxy_integration_of_payload_format_2() {
        let ctx = test_ctx(with_api());
        let name = "orders/GET /orders/{order_id}";
        let props = RouteProvider.desired(&ctx, name, &Known::new());
        assert_eq!(props["integration_uri"], Prop::Unknown);
        let mut known = Known::new();
        known.insert(
            ResourceId::new(Kind::Function, "get-order"),
            Outputs::from([(
                "arn".to_string(),
                "arn:aws:lambda:us-east-1:1:function:shop-get-order".to_string(),
            )]),
        );
        let props = RouteProvider.desired(&ctx, name, &known);
        let expected: Props = Props::from([
            ("authorization_type".into(), "AWS_IAM".into()),
            ("integration_type".into(), "AWS_PROXY".into()),
            (
                "integration_uri".into(),
                "arn:aws:lambda:us-east-1:1:function:shop-get-order".into(),
            ),
            ("payload_format_version".into(), "2.0".into()),
            ("timeout_in_millis".into(), 10_000.into()),
        ]);
        assert_eq!(props, expected);
        // Live props of the same integration compare equal.
        let mut live = BTreeMap::from([("authorization_type".to_string(), json!("AWS_IAM"))]);
        live.extend(integration_props(
            Some("AWS_PROXY"),
            Some("arn:aws:lambda:us-east-1:1:function:shop-get-order"),
            Some("2.0"),
            Some(10_000),
        ));
        assert!(crate::resources::diff(&props, &live).is_empty());
    }

    #[test]
    fn dependencies_put_the_permission_before_the_route() {
        let s = with_api();
        assert_eq!(
            RouteProvider.dependencies(&s, "orders/GET /orders/{order_id}"),
            vec![
                ResourceId::new(Kind::Api, "orders"),
                ResourceId::new(Kind::ApiPermission, "orders/GET /orders/{order_id}"),
                ResourceId::new(Kind::Function, "get-order"),
            ]
        );
        assert!(RouteProvider.dependencies(&s, "no-route").is_empty());
        let ctx = test_ctx(s);
        assert_eq!(
            RouteProvider.display_name(&ctx, "orders/GET /orders/{order_id}"),
            "shop-orders GET /orders/{order_id}"
        );
    }

    #[test]
    fn targets_and_markers() {
        assert_eq!(
            target_integration(Some("integrations/abc1234")),
            Some("abc1234")
        );
        assert_eq!(target_integration(Some("integrations/")), None);
        assert_eq!(target_integration(Some("http://elsewhere")), None);
        assert_eq!(target_integration(None), None);
        assert_eq!(
            integration_description(&key("POST /orders")),
            "orderflow route POST /orders"
        );
        let (api, k) = split_route_resource_name("orders/ANY /{proxy+}").unwrap();
        assert_eq!((api, k.method), ("orders", HttpMethod::Any));
    }
}
