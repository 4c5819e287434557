//! IAM execution role of one function: `<stack>-<function>` under path `/orderflow/<stack>/`,
//! the Lambda trust policy, and one inline least-privilege policy generated from the function's
//! declared access (see [`super::policy`]).

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_iam::types::{Role, RoleDetail, Tag};
use serde_json::Value;

use super::role_details;
use crate::error::Error;
use crate::resources::policy::{self, INLINE_POLICY_NAME};
use crate::resources::tags::{desired_tags, live_managed_tags, tag_changes};
use crate::resources::{
    Change, Ctx, Discovered, Kind, Known, Live, Outputs, Prop, Props, Provider, ResourceId,
};
use crate::retry::{retry, Backoff};
use crate::spec::Spec;

pub struct RoleProvider;

/// A role created a moment ago is not yet visible to every IAM endpoint (eventual consistency);
/// calls naming it may answer NoSuchEntity for a few seconds.
const IAM_PROPAGATION: Backoff = Backoff::new(500, 4_000, 30);

/// Path every role of a stack lives under, so `discover` can list them by prefix.
pub fn role_path(stack: &str) -> String {
    format!("/orderflow/{stack}/")
}

fn rid(name: &str) -> ResourceId {
    ResourceId::new(Kind::Role, name)
}

fn is_no_such_entity(e: &Error) -> bool {
    e.code() == Some("NoSuchEntity")
}

fn iam_tags(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>, Error> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| Error::Other(format!("invalid tag {k}: {e}")))
        })
        .collect()
}

fn outputs(physical: &str, arn: &str) -> Outputs {
    BTreeMap::from([
        ("name".to_string(), physical.to_string()),
        ("arn".to_string(), arn.to_string()),
    ])
}

impl RoleProvider {
    /// The inline policy for `name` once the role's own ARN is known; an error if an ARN it needs
    /// is still missing (the engine creates dependencies first, so that is a bug, not a user error).
    fn access_policy(
        ctx: &Ctx,
        name: &str,
        known: &Known,
        role_arn: &str,
    ) -> Result<String, Error> {
        let mut known = known.clone();
        known
            .entry(rid(name))
            .or_default()
            .insert("arn".to_string(), role_arn.to_string());
        match policy::role_policy(&ctx.spec, name, &ctx.region, &known) {
            Prop::Known(doc) => Ok(doc.to_string()),
            Prop::Unknown => Err(Error::Other(format!(
                "{}: cannot write the access policy: an ARN of a resource in its access list is not known yet",
                rid(name)
            ))),
        }
    }

    async fn put_policy(ctx: &Ctx, name: &str, physical: &str, doc: String) -> Result<(), Error> {
        retry(IAM_PROPAGATION, is_no_such_entity, || async {
            ctx.aws
                .iam
                .put_role_policy()
                .role_name(physical)
                .policy_name(INLINE_POLICY_NAME)
                .policy_document(doc.clone())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| Error::aws(rid(name), "PutRolePolicy", e))
        })
        .await
    }

    /// Live state from a role's entry in GetAccountAuthorizationDetails (same props as from
    /// GetRole + GetRolePolicy).
    fn live_from_details(ctx: &Ctx, physical: &str, role: &RoleDetail) -> Live {
        let tags: Vec<(&str, &str)> = role.tags().iter().map(|t| (t.key(), t.value())).collect();
        let owned = ctx.is_owned(tags.iter().copied());
        let decode = |doc: &str| {
            policy::decode_policy_document(doc).unwrap_or(Value::String(doc.to_string()))
        };
        let mut props = BTreeMap::new();
        if let Some(doc) = role.assume_role_policy_document() {
            props.insert("assume_role_policy".to_string(), decode(doc));
        }
        props.insert(
            "tags".to_string(),
            live_managed_tags(ctx, tags.iter().copied()),
        );
        let inline = role
            .role_policy_list()
            .iter()
            .find(|p| p.policy_name() == Some(INLINE_POLICY_NAME))
            .and_then(|p| p.policy_document());
        if let (true, Some(doc)) = (owned, inline) {
            props.insert("policy".to_string(), decode(doc));
        }
        Live {
            props,
            outputs: outputs(physical, role.arn().unwrap_or_default()),
            owned,
        }
    }

    /// GetRole (with the role's tags); `None` when it does not exist. Shared while planning by
    /// the role's read and discovery.
    async fn get_role(
        ctx: &Ctx,
        id: &ResourceId,
        physical: &str,
    ) -> Result<std::sync::Arc<Option<Role>>, Error> {
        ctx.aws
            .reads
            .get("IAM.GetRole", physical, || async {
                match ctx.aws.iam.get_role().role_name(physical).send().await {
                    Ok(out) => Ok(out.role),
                    Err(e) => {
                        let e = Error::aws(id, "GetRole", e);
                        if is_no_such_entity(&e) {
                            Ok(None)
                        } else {
                            Err(e)
                        }
                    }
                }
            })
            .await
    }
}

#[async_trait]
impl Provider for RoleProvider {
    fn kind(&self) -> Kind {
        Kind::Role
    }

    fn dependencies(&self, spec: &Spec, name: &str) -> Vec<ResourceId> {
        let mut deps: Vec<ResourceId> = spec
            .functions
            .get(name)
            .map(|f| {
                f.access
                    .iter()
                    .map(|a| policy::access_target_id(&a.target))
                    .collect()
            })
            .unwrap_or_default();
        deps.sort();
        deps.dedup();
        deps
    }

    fn desired(&self, ctx: &Ctx, name: &str, known: &Known) -> Props {
        Props::from([
            (
                "assume_role_policy".to_string(),
                Prop::Known(policy::trust_policy()),
            ),
            (
                "policy".to_string(),
                policy::role_policy(&ctx.spec, name, &ctx.region, known),
            ),
            ("tags".to_string(), Prop::Known(desired_tags(ctx))),
        ])
    }

    async fn read(&self, ctx: &Ctx, name: &str) -> Result<Option<Live>, Error> {
        let physical = ctx.physical_name(name);
        // While planning: from the account's role details, if they show it.
        if let Some(roles) = role_details::account_roles(ctx).await? {
            if let Some(role) = roles.get(&physical) {
                return Ok(Some(Self::live_from_details(ctx, &physical, role)));
            }
        }
        let got = Self::get_role(ctx, &rid(name), &physical).await?;
        let Some(role) = got.as_ref() else {
            return Ok(None);
        };
        let tags: Vec<(String, String)> = role
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        let owned = ctx.is_owned(tags.iter().map(|(k, v)| (k, v)));

        let mut props = BTreeMap::new();
        if let Some(doc) = role.assume_role_policy_document() {
            let parsed =
                policy::decode_policy_document(doc).unwrap_or(Value::String(doc.to_string()));
            props.insert("assume_role_policy".to_string(), parsed);
        }
        props.insert(
            "tags".to_string(),
            live_managed_tags(ctx, tags.iter().map(|(k, v)| (k, v))),
        );

        if owned {
            match ctx
                .aws
                .iam
                .get_role_policy()
                .role_name(&physical)
                .policy_name(INLINE_POLICY_NAME)
                .send()
                .await
            {
                Ok(out) => {
                    let doc = out.policy_document();
                    let parsed = policy::decode_policy_document(doc)
                        .unwrap_or(Value::String(doc.to_string()));
                    props.insert("policy".to_string(), parsed);
                }
                Err(e) => {
                    let e = Error::aws(rid(name), "GetRolePolicy", e);
                    if !is_no_such_entity(&e) {
                        return Err(e);
                    }
                }
            }
        }

        Ok(Some(Live {
            props,
            outputs: outputs(&physical, role.arn()),
            owned,
        }))
    }

    async fn create(&self, ctx: &Ctx, name: &str, known: &Known) -> Result<Outputs, Error> {
        let physical = ctx.physical_name(name);
        let out = ctx
            .aws
            .iam
            .create_role()
            .role_name(&physical)
            .path(role_path(&ctx.spec.stack))
            .description(format!(
                "Execution role of Lambda function {physical} (orderflow stack {})",
                ctx.spec.stack
            ))
            .assume_role_policy_document(policy::trust_policy().to_string())
            .set_tags(Some(iam_tags(&ctx.tags())?))
            .send()
            .await
            .map_err(|e| Error::aws(rid(name), "CreateRole", e))?;
        let arn = out
            .role()
            .map(|r| r.arn().to_string())
            .ok_or_else(|| Error::Other(format!("{}: CreateRole returned no role", rid(name))))?;
        // The account id in the log-group ARNs comes from the role's own ARN.
        let doc = Self::access_policy(ctx, name, known, &arn)?;
        Self::put_policy(ctx, name, &physical, doc).await?;
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
        let physical = ctx.physical_name(name);
        let arn = live
            .outputs
            .get("arn")
            .cloned()
            .ok_or_else(|| Error::Other(format!("{}: live role has no ARN", rid(name))))?;
        for change in changes {
            match change.attribute.as_str() {
                "assume_role_policy" => {
                    ctx.aws
                        .iam
                        .update_assume_role_policy()
                        .role_name(&physical)
                        .policy_document(policy::trust_policy().to_string())
                        .send()
                        .await
                        .map_err(|e| Error::aws(rid(name), "UpdateAssumeRolePolicy", e))?;
                }
                "policy" => {
                    // Recomputed from `known` rather than taken from the plan: ARNs of
                    // dependencies created in this run are only known now.
                    let doc = Self::access_policy(ctx, name, known, &arn)?;
                    Self::put_policy(ctx, name, &physical, doc).await?;
                }
                "tags" => {
                    let desired = ctx.tags();
                    let (set, remove) = tag_changes(live.props.get("tags"), &desired);
                    if !set.is_empty() {
                        ctx.aws
                            .iam
                            .tag_role()
                            .role_name(&physical)
                            .set_tags(Some(iam_tags(&set)?))
                            .send()
                            .await
                            .map_err(|e| Error::aws(rid(name), "TagRole", e))?;
                    }
                    if !remove.is_empty() {
                        ctx.aws
                            .iam
                            .untag_role()
                            .role_name(&physical)
                            .set_tag_keys(Some(remove))
                            .send()
                            .await
                            .map_err(|e| Error::aws(rid(name), "UntagRole", e))?;
                    }
                }
                _ => {}
            }
        }
        Ok(outputs(&physical, &arn))
    }

    async fn discover(&self, ctx: &Ctx) -> Result<Vec<Discovered>, Error> {
        let mut found = Vec::new();
        // While planning: the account's role details carry path and tags of every role.
        if let Some(roles) = role_details::account_roles(ctx).await? {
            let path = role_path(&ctx.spec.stack);
            for (physical, role) in roles.iter() {
                let Some(logical) = ctx.logical_name(physical) else {
                    continue;
                };
                if role.path().is_some_and(|p| p.starts_with(&path))
                    && ctx.is_owned(role.tags().iter().map(|t| (t.key(), t.value())))
                {
                    found.push(Discovered {
                        id: rid(logical),
                        physical: physical.clone(),
                        handle: physical.clone(),
                    });
                }
            }
            return Ok(found);
        }
        let mut pages = ctx
            .aws
            .iam
            .list_roles()
            .path_prefix(role_path(&ctx.spec.stack))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| Error::aws("roles", "ListRoles", e))?;
            for role in page.roles() {
                let physical = role.role_name();
                let Some(logical) = ctx.logical_name(physical) else {
                    continue;
                };
                // ListRoles does not return tags on real AWS; GetRole does (and the read of a
                // declared role has made it already).
                let got = Self::get_role(ctx, &rid(logical), physical).await?;
                let Some(role) = got.as_ref() else {
                    continue;
                };
                if ctx.is_owned(role.tags().iter().map(|t| (t.key(), t.value()))) {
                    found.push(Discovered {
                        id: rid(logical),
                        physical: physical.to_string(),
                        handle: physical.to_string(),
                    });
                }
            }
        }
        Ok(found)
    }

    /// IAM is eventually consistent: gone once GetRole (what `read` uses) answers NoSuchEntity.
    /// A direct call, never cached.
    async fn still_visible(&self, ctx: &Ctx, target: &Discovered) -> Result<bool, Error> {
        match ctx
            .aws
            .iam
            .get_role()
            .role_name(&target.handle)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = Error::aws(&target.id, "GetRole", e);
                if is_no_such_entity(&e) {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn delete(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
        let role = target.handle.as_str();
        let id = &target.id;
        let gone = |e: Error| {
            if is_no_such_entity(&e) {
                Ok(())
            } else {
                Err(e)
            }
        };

        // A role can only be deleted once it has no inline or attached policies.
        let mut inline = Vec::new();
        let mut pages = ctx
            .aws
            .iam
            .list_role_policies()
            .role_name(role)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            match page {
                Ok(p) => inline.extend(p.policy_names().iter().cloned()),
                Err(e) => return gone(Error::aws(id, "ListRolePolicies", e)),
            }
        }
        for policy_name in inline {
            if let Err(e) = ctx
                .aws
                .iam
                .delete_role_policy()
                .role_name(role)
                .policy_name(&policy_name)
                .send()
                .await
            {
                gone(Error::aws(id, "DeleteRolePolicy", e))?;
            }
        }

        let mut attached = Vec::new();
        let mut pages = ctx
            .aws
            .iam
            .list_attached_role_policies()
            .role_name(role)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            match page {
                Ok(p) => attached.extend(
                    p.attached_policies()
                        .iter()
                        .filter_map(|a| a.policy_arn().map(str::to_string)),
                ),
                Err(e) => return gone(Error::aws(id, "ListAttachedRolePolicies", e)),
            }
        }
        for policy_arn in attached {
            if let Err(e) = ctx
                .aws
                .iam
                .detach_role_policy()
                .role_name(role)
                .policy_arn(&policy_arn)
                .send()
                .await
            {
                gone(Error::aws(id, "DetachRolePolicy", e))?;
            }
        }

        match ctx.aws.iam.delete_role().role_name(role).send().await {
            Ok(_) => Ok(()),
            Err(e) => gone(Error::aws(id, "DeleteRole", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_live_under_a_per_stack_path() {
        assert_eq!(role_path("shop"), "/orderflow/shop/");
    }
}
