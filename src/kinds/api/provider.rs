//! HTTP API `<stack>-<api>` (API Gateway v2, protocol HTTP) with its `$default` stage.
//!
//! The stage is part of this resource rather than a kind of its own: an HTTP API serves nothing
//! without a stage, `$default` is the only one orderflow declares, its name is fixed and its
//! settings (auto-deploy, default route throttling) are settings of the API as declared in
//! `pipeline.yaml`; deleting the API deletes it. A separate kind would only add a resource users
//! never name and an ordering constraint. A stage that went missing shows up as the `stage`
//! attribute changing from null and is created again by `update`.
//!
//! API names are not unique in API Gateway: the API is found by name among all APIs of the
//! region (GetApis), and it is this stack's when it carries the ownership tag (read with GetTags:
//! GetApis does not reliably report tags changed since creation). Several tagged APIs with the
//! same name are an error rather than a guess.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_apigatewayv2::types::{
    Api as SdkApi, Cors as SdkCors, ProtocolType, RouteSettings as SdkRouteSettings,
};
use serde_json::{json, Value};

use super::Cors;
use crate::error::Error;
use crate::kinds::declared;
use crate::resources::tags::{desired_tags, live_managed_tags, tag_changes};
use crate::resources::{
    absent_as_none, known_value, text_value, unknown_attribute, Change, Ctx, Discovered, Kind,
    Known, Live, Outputs, Prop, Props, Provider, ResourceId,
};
use crate::retry::{retry, Backoff};
use crate::spec::Spec;

pub struct ApiProvider;

/// The only stage orderflow declares: served at the root of the API's URL.
pub const STAGE: &str = "$default";

/// API Gateway's answer for an API, route, integration or stage that does not exist.
pub(crate) const NOT_FOUND: &[&str] = &["NotFoundException"];

pub(crate) fn is_not_found(e: &Error) -> bool {
    e.code().is_some_and(|c| NOT_FOUND.contains(&c))
}

/// "Unable to complete operation due to concurrent modification. Please try again later.":
/// API Gateway serialises changes to one API, and routes of one API are applied concurrently.
pub(crate) fn is_concurrent_modification(e: &Error) -> bool {
    e.code() == Some("ConflictException")
        && e.aws_message()
            .unwrap_or_default()
            .contains("concurrent modification")
}

/// Concurrent modifications of one API resolve within seconds.
pub(crate) const CONCURRENT_MODIFICATION: Backoff = Backoff::new(500, 5_000, 60);

/// A write to API Gateway, retried while another change to the same API is in progress.
pub(crate) async fn write<T, F, Fut>(op: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    retry(CONCURRENT_MODIFICATION, is_concurrent_modification, op).await
}

fn resource(name: &str) -> String {
    format!("{}.{name}", Kind::Api)
}

/// The AWS partition of a region (for ARNs built before any ARN was read).
pub(crate) fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The ARN that tags an HTTP API: `arn:<partition>:apigateway:<region>::/apis/<id>`.
pub(crate) fn tag_arn(region: &str, api_id: &str) -> String {
    format!(
        "arn:{}:apigateway:{region}::/apis/{api_id}",
        partition(region)
    )
}

/// The execute-api ARN of an API: the prefix of the ARN of every request to it
/// (`<arn>/<stage>/<METHOD>/<path>`), which permissions and IAM policies scope to.
pub fn execute_api_arn(partition: &str, region: &str, account: &str, api_id: &str) -> String {
    format!("arn:{partition}:execute-api:{region}:{account}:{api_id}")
}

/// The invoke URL of the `$default` stage, which serves at the root of the API's endpoint.
///
/// On AWS that is `ApiEndpoint` + `/`. An emulator behind a custom endpoint reports an endpoint
/// on the host `<api id>.execute-api.<its host>`, which needs wildcard DNS for `*.localhost`
/// (not something a client can count on); emulators also serve every API under the
/// LocalStack-compatible path `<its host>/_aws/execute-api/<api id>/`, which resolves like the
/// endpoint itself, so that is the URL there. Route paths are appended to either without their
/// leading `/`.
pub fn invoke_url(api_endpoint: &str, api_id: &str, custom_endpoint: bool) -> String {
    let endpoint = api_endpoint.trim_end_matches('/');
    if custom_endpoint {
        if let Some((scheme, rest)) = endpoint.split_once("://") {
            if let Some(host) = rest.strip_prefix(&format!("{api_id}.execute-api.")) {
                let aws_host = host.split(':').next().is_some_and(|h| {
                    h.ends_with(".amazonaws.com") || h.ends_with(".amazonaws.com.cn")
                });
                if !aws_host {
                    return format!("{scheme}://{host}/_aws/execute-api/{api_id}/");
                }
            }
        }
    }
    format!("{endpoint}/")
}

/// Every API of the region; listed once per plan while planning (the API, its routes, its
/// permissions and discovery all look APIs up).
pub(crate) async fn all_apis(ctx: &Ctx, res: &str) -> Result<Vec<SdkApi>, Error> {
    ctx.aws
        .reads
        .cloned("ApiGatewayV2.GetApis", "", || all_apis_now(ctx, res))
        .await
}

/// Every API of the region (GetApis, all pages).
pub(crate) async fn all_apis_now(ctx: &Ctx, res: &str) -> Result<Vec<SdkApi>, Error> {
    let mut apis = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = ctx
            .aws
            .apigateway
            .get_apis()
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| Error::aws(res, "GetApis", e))?;
        apis.extend(out.items().iter().cloned());
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(apis),
        }
    }
}

/// Tags of an API, or `None` if it is gone; once per plan while planning. (GetApis lists tags
/// too, but the emulator does not update them there on TagResource, so tags come from GetTags.)
pub(crate) async fn api_tags(
    ctx: &Ctx,
    res: &str,
    api_id: &str,
) -> Result<Option<BTreeMap<String, String>>, Error> {
    let arn = tag_arn(&ctx.aws.region, api_id);
    if let Some(tags) = crate::resources::tag_index::tags_of(ctx, &arn).await {
        return Ok(Some(tags));
    }
    ctx.aws
        .reads
        .cloned("ApiGatewayV2.GetTags", api_id, || {
            api_tags_now(ctx, res, api_id)
        })
        .await
}

/// Tags of an API, or `None` if it is gone.
pub(crate) async fn api_tags_now(
    ctx: &Ctx,
    res: &str,
    api_id: &str,
) -> Result<Option<BTreeMap<String, String>>, Error> {
    let got = ctx
        .aws
        .apigateway
        .get_tags()
        .resource_arn(tag_arn(&ctx.aws.region, api_id))
        .send()
        .await
        .map_err(|e| Error::aws(res, "GetTags", e));
    Ok(absent_as_none(got, NOT_FOUND)?.map(|out| {
        out.tags()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }))
}

/// An API found by name, with its tags.
pub(crate) struct FoundApi {
    pub api: SdkApi,
    pub id: String,
    pub tags: BTreeMap<String, String>,
    pub owned: bool,
}

/// The API `<stack>-<name>`: the one carrying this stack's tag if there is one (several are an
/// error), else a same-named foreign one (reported as not owned), else `None`.
pub(crate) async fn find_api(ctx: &Ctx, res: &str, name: &str) -> Result<Option<FoundApi>, Error> {
    let physical = ctx.physical_name(name);
    let mut owned = Vec::new();
    let mut foreign = None;
    for api in all_apis(ctx, res).await? {
        if api.name() != Some(physical.as_str()) {
            continue;
        }
        let Some(id) = api.api_id().map(str::to_string) else {
            continue;
        };
        // Deleted between the listing and now: not there.
        let Some(tags) = api_tags(ctx, res, &id).await? else {
            continue;
        };
        let is_ours = ctx.is_owned(&tags);
        let found = FoundApi {
            api,
            id,
            tags,
            owned: is_ours,
        };
        if is_ours {
            owned.push(found);
        } else {
            foreign.get_or_insert(found);
        }
    }
    if owned.len() > 1 {
        let ids: Vec<&str> = owned.iter().map(|f| f.id.as_str()).collect();
        return Err(Error::Other(format!(
            "{res}: {} APIs named {physical} carry the tag orderflow:stack={} (ids {}); delete all but one",
            owned.len(),
            ctx.spec.stack,
            ids.join(", ")
        )));
    }
    Ok(owned.pop().or(foreign))
}

/// APIs named `<stack>-*` that carry this stack's tag: (logical name, API).
pub(crate) async fn owned_apis(ctx: &Ctx, res: &str) -> Result<Vec<(String, SdkApi)>, Error> {
    let mut found = Vec::new();
    for api in all_apis(ctx, res).await? {
        let (Some(physical), Some(id)) = (api.name(), api.api_id()) else {
            continue;
        };
        let Some(logical) = ctx.logical_name(physical) else {
            continue;
        };
        let Some(tags) = api_tags(ctx, res, id).await? else {
            continue;
        };
        if ctx.is_owned(&tags) {
            found.push((logical.to_string(), api));
        }
    }
    Ok(found)
}

/// Sorted, without repeats.
fn normalised(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = items.into_iter().collect();
    v.sort();
    v.dedup();
    v
}

/// A CORS configuration in the form `desired` and `read` share: lists sorted and without
/// repeats, methods upper case, origins and header names lower case (compared without case by
/// HTTP and browsers; AWS may return them in another order or case than sent), absent lists
/// empty.
pub(crate) fn cors_value(
    origins: &[String],
    methods: &[String],
    headers: &[String],
    expose: &[String],
    max_age: Option<i64>,
    credentials: bool,
) -> Value {
    json!({
        "allow_origins": normalised(origins.iter().map(|o| o.to_ascii_lowercase())),
        "allow_methods": normalised(methods.iter().map(|m| m.to_ascii_uppercase())),
        "allow_headers": normalised(headers.iter().map(|h| h.to_ascii_lowercase())),
        "expose_headers": normalised(expose.iter().map(|h| h.to_ascii_lowercase())),
        "max_age": max_age,
        "allow_credentials": credentials,
    })
}

fn desired_cors(cors: Option<&Cors>) -> Value {
    match cors {
        None => Value::Null,
        Some(c) => cors_value(
            &c.allow_origins,
            &c.allow_methods,
            &c.allow_headers,
            &c.expose_headers,
            c.max_age.map(i64::from),
            c.allow_credentials,
        ),
    }
}

fn live_cors(cors: Option<&SdkCors>) -> Value {
    match cors {
        None => Value::Null,
        Some(c) => cors_value(
            c.allow_origins(),
            c.allow_methods(),
            c.allow_headers(),
            c.expose_headers(),
            c.max_age().map(i64::from),
            c.allow_credentials().unwrap_or(false),
        ),
    }
}

/// The SDK CORS configuration of a normalised one. Lists are always sent, empty ones too, so
/// a list dropped from the file is cleared whether UpdateApi replaces the configuration or
/// merges it into the one it has.
fn sdk_cors(v: &Value) -> SdkCors {
    let list = |k: &str| -> Option<Vec<String>> {
        Some(
            v[k].as_array()?
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
        )
    };
    SdkCors::builder()
        .set_allow_origins(list("allow_origins"))
        .set_allow_methods(list("allow_methods"))
        .set_allow_headers(list("allow_headers"))
        .set_expose_headers(list("expose_headers"))
        .set_max_age(v["max_age"].as_i64().and_then(|n| i32::try_from(n).ok()))
        .set_allow_credentials(v["allow_credentials"].as_bool().filter(|b| *b))
        .build()
}

/// A throttling rate as JSON: an integer when it is whole (as declared), else the float; a
/// negative value (how "not configured" is sometimes reported) is null.
fn rate_value(rate: Option<f64>) -> Value {
    match rate {
        Some(r) if r < 0.0 => Value::Null,
        Some(r) if r.fract() == 0.0 && r <= f64::from(u32::MAX) => json!(r as u64),
        Some(r) => json!(r),
        None => Value::Null,
    }
}

fn burst_value(burst: Option<i32>) -> Value {
    json!(burst.filter(|b| *b >= 0))
}

/// The `$default` stage's default route settings for the desired limits; `None` (leave the
/// settings out) when no throttling is declared: a settings object without limits is not
/// something to send, since API Gateway may take a missing limit as 0.
fn route_settings(rate: &Value, burst: &Value) -> Option<SdkRouteSettings> {
    let rate = rate.as_f64()?;
    let burst = i32::try_from(burst.as_i64()?).ok()?;
    Some(
        SdkRouteSettings::builder()
            .throttling_rate_limit(rate)
            .throttling_burst_limit(burst)
            .build(),
    )
}

fn prop<'a>(props: &'a Props, key: &str) -> &'a Value {
    match props.get(key) {
        Some(Prop::Known(v)) => v,
        _ => &Value::Null,
    }
}

async fn create_stage(ctx: &Ctx, res: &str, api_id: &str, desired: &Props) -> Result<(), Error> {
    let settings = route_settings(
        prop(desired, "throttling_rate_limit"),
        prop(desired, "throttling_burst_limit"),
    );
    let tags: HashMap<String, String> = ctx.tags().into_iter().collect();
    write(|| async {
        ctx.aws
            .apigateway
            .create_stage()
            .api_id(api_id)
            .stage_name(STAGE)
            .auto_deploy(true)
            .set_default_route_settings(settings.clone())
            .set_tags(Some(tags.clone()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| Error::aws(res, "CreateStage", e))
    })
    .await
}

fn outputs(physical: &str, api_id: &str, arn: &str, url: &str) -> Outputs {
    Outputs::from([
        ("name".to_string(), physical.to_string()),
        ("id".to_string(), api_id.to_string()),
        ("arn".to_string(), arn.to_string()),
        ("url".to_string(), url.to_string()),
    ])
}

#[async_trait]
impl Provider for ApiProvider {
    fn kind(&self) -> Kind {
        Kind::Api
    }

    fn dependencies(&self, _spec: &Spec, _name: &str) -> Vec<ResourceId> {
        Vec::new()
    }

    fn desired(&self, ctx: &Ctx, name: &str, _known: &Known) -> Props {
        let Some(api) = ctx.spec.apis.get(name) else {
            return Props::new();
        };
        Props::from([
            ("protocol_type".into(), ProtocolType::Http.as_str().into()),
            (
                "description".into(),
                text_value(api.description.as_deref()).into(),
            ),
            ("cors".into(), desired_cors(api.cors.as_ref()).into()),
            ("stage".into(), STAGE.into()),
            ("auto_deploy".into(), true.into()),
            (
                "throttling_rate_limit".into(),
                json!(api.throttling.map(|t| t.rate_limit)).into(),
            ),
            (
                "throttling_burst_limit".into(),
                json!(api.throttling.map(|t| t.burst_limit)).into(),
            ),
            ("tags".into(), desired_tags(ctx).into()),
        ])
    }

    async fn read(&self, ctx: &Ctx, name: &str) -> Result<Option<Live>, Error> {
        let res = resource(name);
        let Some(found) = find_api(ctx, &res, name).await? else {
            return Ok(None);
        };
        let stage = ctx
            .aws
            .apigateway
            .get_stage()
            .api_id(&found.id)
            .stage_name(STAGE)
            .send()
            .await
            .map_err(|e| Error::aws(&res, "GetStage", e));
        let stage = absent_as_none(stage, NOT_FOUND)?;
        let settings = stage.as_ref().and_then(|s| s.default_route_settings());
        let (partition, account) = ctx.partition_and_account(&res).await?;
        let api = &found.api;
        let props = BTreeMap::from([
            (
                "protocol_type".into(),
                json!(api.protocol_type().map(|p| p.as_str())),
            ),
            ("description".into(), text_value(api.description())),
            ("cors".into(), live_cors(api.cors_configuration())),
            (
                "stage".into(),
                json!(stage.as_ref().and_then(|s| s.stage_name())),
            ),
            (
                "auto_deploy".into(),
                json!(stage.as_ref().map(|s| s.auto_deploy().unwrap_or(false))),
            ),
            (
                "throttling_rate_limit".into(),
                rate_value(settings.and_then(|s| s.throttling_rate_limit())),
            ),
            (
                "throttling_burst_limit".into(),
                burst_value(settings.and_then(|s| s.throttling_burst_limit())),
            ),
            ("tags".into(), live_managed_tags(ctx, &found.tags)),
        ]);
        let arn = execute_api_arn(&partition, &ctx.aws.region, &account, &found.id);
        let url = invoke_url(
            api.api_endpoint().unwrap_or_default(),
            &found.id,
            ctx.aws.custom_endpoint,
        );
        Ok(Some(Live {
            props,
            outputs: outputs(&ctx.physical_name(name), &found.id, &arn, &url),
            owned: found.owned,
        }))
    }

    async fn create(&self, ctx: &Ctx, name: &str, known: &Known) -> Result<Outputs, Error> {
        let res = resource(name);
        let api = declared(&ctx.spec.apis, name)?;
        let physical = ctx.physical_name(name);
        let desired = self.desired(ctx, name, known);
        let cors = api.cors.as_ref().map(|_| sdk_cors(prop(&desired, "cors")));
        let tags: HashMap<String, String> = ctx.tags().into_iter().collect();
        let request = || {
            ctx.aws
                .apigateway
                .create_api()
                .name(&physical)
                .protocol_type(ProtocolType::Http)
                .set_description(api.description.clone())
                .set_cors_configuration(cors.clone())
                .set_tags(Some(tags.clone()))
        };
        let (api_id, endpoint) = super::create::create_api_once(ctx, &res, name, request).await?;
        create_stage(ctx, &res, &api_id, &desired).await?;
        let (partition, account) = ctx.partition_and_account(&res).await?;
        let url = invoke_url(&endpoint, &api_id, ctx.aws.custom_endpoint);
        Ok(outputs(
            &physical,
            &api_id,
            &execute_api_arn(&partition, &ctx.aws.region, &account, &api_id),
            &url,
        ))
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
        let api_id = live.output(&res, "id", "API id")?.clone();
        let desired = self.desired(ctx, name, known);
        let changed = |attribute: &str| changes.iter().any(|c| c.attribute == attribute);

        for change in changes {
            let known_attribute = matches!(
                change.attribute.as_str(),
                "protocol_type"
                    | "description"
                    | "cors"
                    | "stage"
                    | "auto_deploy"
                    | "throttling_rate_limit"
                    | "throttling_burst_limit"
                    | "tags"
            );
            if !known_attribute {
                return Err(unknown_attribute(&res, &change.attribute));
            }
        }

        if changed("protocol_type") {
            return Err(Error::Other(format!(
                "{res}: {} is a {} API; its protocol cannot change to HTTP: delete it and run again",
                ctx.physical_name(name),
                live.props
                    .get("protocol_type")
                    .and_then(Value::as_str)
                    .unwrap_or("non-HTTP")
            )));
        }

        // UpdateApi replaces a CORS configuration but cannot remove one.
        let new_cors = changes.iter().find(|c| c.attribute == "cors");
        let cors = match new_cors {
            Some(c) => Some(known_value(&res, c)?),
            None => None,
        };
        if cors.is_some_and(Value::is_null) {
            write(|| async {
                ctx.aws
                    .apigateway
                    .delete_cors_configuration()
                    .api_id(&api_id)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| Error::aws(&res, "DeleteCorsConfiguration", e))
            })
            .await?;
        }
        let set_cors = cors.filter(|v| !v.is_null()).map(sdk_cors);
        // An empty description clears the previous one.
        let description = changed("description").then(|| {
            prop(&desired, "description")
                .as_str()
                .unwrap_or_default()
                .to_string()
        });
        if set_cors.is_some() || description.is_some() {
            write(|| async {
                ctx.aws
                    .apigateway
                    .update_api()
                    .api_id(&api_id)
                    .set_description(description.clone())
                    .set_cors_configuration(set_cors.clone())
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| Error::aws(&res, "UpdateApi", e))
            })
            .await?;
        }

        if changed("stage") {
            // The stage is missing: create it with every setting.
            create_stage(ctx, &res, &api_id, &desired).await?;
        } else if changed("auto_deploy")
            || changed("throttling_rate_limit")
            || changed("throttling_burst_limit")
        {
            let settings = route_settings(
                prop(&desired, "throttling_rate_limit"),
                prop(&desired, "throttling_burst_limit"),
            );
            let live_throttled = ["throttling_rate_limit", "throttling_burst_limit"]
                .iter()
                .any(|k| live.props.get(*k).is_some_and(|v| !v.is_null()));
            if settings.is_none() && live_throttled {
                // API Gateway has no call that takes a stage's default route throttling back to
                // "not configured" (UpdateStage keeps omitted limits; 0 rejects every request):
                // the stage is made again, and auto-deploy deploys the current routes to it.
                // Requests in the moment between get 404.
                let deleted = write(|| async {
                    ctx.aws
                        .apigateway
                        .delete_stage()
                        .api_id(&api_id)
                        .stage_name(STAGE)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| Error::aws(&res, "DeleteStage", e))
                })
                .await;
                match deleted {
                    Err(e) if is_not_found(&e) => {}
                    other => other?,
                }
                create_stage(ctx, &res, &api_id, &desired).await?;
            } else {
                write(|| async {
                    ctx.aws
                        .apigateway
                        .update_stage()
                        .api_id(&api_id)
                        .stage_name(STAGE)
                        .auto_deploy(true)
                        .set_default_route_settings(settings.clone())
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| Error::aws(&res, "UpdateStage", e))
                })
                .await?;
            }
        }

        if let Some(change) = changes.iter().find(|c| c.attribute == "tags") {
            let (set, remove) = tag_changes(change.old.as_ref(), &ctx.tags());
            let arn = tag_arn(&ctx.aws.region, &api_id);
            if !set.is_empty() {
                let set: HashMap<String, String> = set.into_iter().collect();
                write(|| async {
                    ctx.aws
                        .apigateway
                        .tag_resource()
                        .resource_arn(&arn)
                        .set_tags(Some(set.clone()))
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| Error::aws(&res, "TagResource", e))
                })
                .await?;
            }
            if !remove.is_empty() {
                write(|| async {
                    ctx.aws
                        .apigateway
                        .untag_resource()
                        .resource_arn(&arn)
                        .set_tag_keys(Some(remove.clone()))
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| Error::aws(&res, "UntagResource", e))
                })
                .await?;
            }
        }

        Ok(live.outputs.clone())
    }

    async fn discover(&self, ctx: &Ctx) -> Result<Vec<Discovered>, Error> {
        let res = format!("{}.*", Kind::Api);
        Ok(owned_apis(ctx, &res)
            .await?
            .into_iter()
            .filter_map(|(logical, api)| {
                Some(Discovered {
                    id: ResourceId::new(Kind::Api, logical),
                    physical: api.name()?.to_string(),
                    handle: api.api_id()?.to_string(),
                })
            })
            .collect())
    }

    async fn delete(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
        let res = target.id.to_string();
        let deleted = write(|| async {
            ctx.aws
                .apigateway
                .delete_api()
                .api_id(&target.handle)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| Error::aws(&res, "DeleteApi", e))
        })
        .await;
        match deleted {
            Err(e) if is_not_found(&e) => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::api::{Api, Throttling};
    use crate::resources::test_support::{spec, test_ctx};

    #[test]
    fn invoke_url_is_the_endpoint_on_aws_and_the_path_form_on_an_emulator() {
        assert_eq!(
            invoke_url(
                "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
                "a1b2c3d4e5",
                false
            ),
            "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/"
        );
        // A custom endpoint that still is AWS (e.g. a VPC endpoint setup) keeps the AWS URL.
        assert_eq!(
            invoke_url("https://a1.execute-api.us-east-1.amazonaws.com", "a1", true),
            "https://a1.execute-api.us-east-1.amazonaws.com/"
        );
        assert_eq!(
            invoke_url(
                "http://0f3a9c21.execute-api.localhost:45123",
                "0f3a9c21",
                true
            ),
            "http://localhost:45123/_aws/execute-api/0f3a9c21/"
        );
        // An endpoint of another shape is taken as it is.
        assert_eq!(
            invoke_url("http://gateway.internal:8080/", "x1", true),
            "http://gateway.internal:8080/"
        );
    }

    #[test]
    fn arns_for_tags_and_requests() {
        assert_eq!(
            tag_arn("us-east-1", "abc123"),
            "arn:aws:apigateway:us-east-1::/apis/abc123"
        );
        assert_eq!(
            tag_arn("cn-north-1", "abc123"),
            "arn:aws-cn:apigateway:cn-north-1::/apis/abc123"
        );
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(
            execute_api_arn("aws", "eu-west-1", "123456789012", "abc123"),
            "arn:aws:execute-api:eu-west-1:123456789012:abc123"
        );
    }

    fn api() -> Api {
        Api {
            description: Some("Order intake".into()),
            throttling: Some(Throttling {
                rate_limit: 50,
                burst_limit: 100,
            }),
            cors: Some(Cors {
                allow_origins: vec!["https://shop.example.com".into()],
                allow_methods: vec!["POST".into(), "GET".into(), "GET".into()],
                allow_headers: vec!["Idempotency-Key".into(), "content-type".into()],
                expose_headers: vec![],
                max_age: Some(300),
                allow_credentials: false,
            }),
            routes: vec![],
        }
    }

    #[test]
    fn desired_props_describe_the_api_and_its_default_stage() {
        let mut s = spec();
        s.apis.insert("orders".into(), api());
        let ctx = test_ctx(s);
        let props = ApiProvider.desired(&ctx, "orders", &Known::new());
        let known = |k: &str| match &props[k] {
            Prop::Known(v) => v.clone(),
            Prop::Unknown => panic!("{k} unknown"),
        };
        assert_eq!(known("protocol_type"), json!("HTTP"));
        assert_eq!(known("description"), json!("Order intake"));
        assert_eq!(known("stage"), json!("$default"));
        assert_eq!(known("auto_deploy"), json!(true));
        assert_eq!(known("throttling_rate_limit"), json!(50));
        assert_eq!(known("throttling_burst_limit"), json!(100));
        assert_eq!(
            known("cors"),
            json!({
                "allow_origins": ["https://shop.example.com"],
                "allow_methods": ["GET", "POST"],
                "allow_headers": ["content-type", "idempotency-key"],
                "expose_headers": [],
                "max_age": 300,
                "allow_credentials": false,
            })
        );
        assert_eq!(
            known("tags"),
            json!({"orderflow:stack": "shop", "team": "orders"})
        );
    }

    #[test]
    fn live_cors_in_another_order_and_case_compares_equal() {
        let cors = api().cors.unwrap();
        let sdk = SdkCors::builder()
            .allow_origins("https://shop.example.com")
            .allow_methods("POST")
            .allow_methods("GET")
            .allow_headers("content-type")
            .allow_headers("idempotency-key")
            .max_age(300)
            .build();
        assert_eq!(live_cors(Some(&sdk)), desired_cors(Some(&cors)));
        // And the SDK form built from the normalised one says the same.
        let round_trip = sdk_cors(&desired_cors(Some(&cors)));
        assert_eq!(live_cors(Some(&round_trip)), desired_cors(Some(&cors)));
        assert_eq!(round_trip.expose_headers(), &[] as &[String]);
        assert_eq!(round_trip.allow_credentials(), None);
        assert_eq!(live_cors(None), Value::Null);
        // Origins compare without case too (host names do).
        let mut upper = cors.clone();
        upper.allow_origins = vec!["https://Shop.Example.com".into()];
        assert_eq!(desired_cors(Some(&upper)), desired_cors(Some(&cors)));
    }

    #[test]
    fn throttling_rates_read_back_as_declared() {
        assert_eq!(rate_value(Some(50.0)), json!(50));
        assert_eq!(rate_value(Some(0.5)), json!(0.5));
        assert_eq!(rate_value(None), Value::Null);
        assert_eq!(rate_value(Some(-1.0)), Value::Null);
        assert_eq!(burst_value(Some(-1)), Value::Null);
        assert_eq!(burst_value(Some(0)), json!(0));
        let s = route_settings(&json!(50), &json!(0)).expect("both limits");
        assert_eq!(s.throttling_rate_limit(), Some(50.0));
        assert_eq!(s.throttling_burst_limit(), Some(0));
        // No throttling declared: no settings sent at all.
        assert!(route_settings(&Value::Null, &Value::Null).is_none());
    }

    #[test]
    fn concurrent_modification_is_retried_other_conflicts_are_not() {
        let err = |code: &str, message: &str| Error::Aws {
            resource: "api.x".into(),
            action: "CreateRoute".into(),
            code: Some(code.into()),
            message: message.into(),
        };
        assert!(is_concurrent_modification(&err(
            "ConflictException",
            "ConflictException: Unable to complete operation due to concurrent modification. Please try again later."
        )));
        assert!(!is_concurrent_modification(&err(
            "ConflictException",
            "ConflictException: Route with key POST /orders already exists for this API"
        )));
        assert!(is_not_found(&err("NotFoundException", "gone")));
    }
}
