//! An IAM role orderflow owns, whatever assumes it: one provider for every kind of role, shaped
//! by a [`RoleShape`] (where the role lives, its name, who may assume it and what it may do).
//! Function execution roles (`crate::kinds::function::role`) and the roles EventBridge and
//! EventBridge Pipes assume (`crate::kinds::service_role`) are shapes of it.
//!
//! The role is created with its tags, then given one inline policy (`orderflow`); it is read
//! from the account's role details while planning (see `role_details`), and deleted after its
//! inline and attached policies.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_iam::types::{Role, RoleDetail, Tag};
use serde_json::Value;

use crate::error::Error;
use crate::kinds::function::role_details;
use crate::resources::policy::{self, INLINE_POLICY_NAME};
use crate::resources::tags::{desired_tags, live_managed_tags, tag_changes};
use crate::resources::{
    Change, Ctx, Discovered, Kind, Known, Live, Outputs, Prop, Props, Provider, ResourceId,
};
use crate::retry::{retry, Backoff};
use crate::spec::Spec;

/// What makes one kind of role: its graph kind, name, path, trust and access.
pub trait RoleShape: Send + Sync + 'static {
    const KIND: Kind;

    /// Path every role of this shape in `stack` lives under, so discovery lists them by prefix.
    fn path(stack: &str) -> String;

    /// The role name of the graph resource `name`.
    fn role_name(ctx: &Ctx, name: &str) -> String;

    /// The graph resource name of a role name under [`Self::path`], if it is one of this stack's.
    fn logical_name(ctx: &Ctx, role_name: &str) -> Option<String>;

    /// The role's IAM description.
    fn description(ctx: &Ctx, name: &str) -> String;

    /// What must exist before the role (what its policies name).
    fn dependencies(spec: &Spec, name: &str) -> Vec<ResourceId>;

    /// Who may assume the role; unknown while an ARN it names is.
    fn trust_policy(ctx: &Ctx, name: &str) -> Prop;

    /// The inline policy; `known` includes the role's own outputs (its ARN holds the account).
    fn access_policy(ctx: &Ctx, name: &str, known: &Known) -> Prop;
}

pub struct IamRoleProvider<S>(PhantomData<S>);

impl<S> IamRoleProvider<S> {
    pub const fn new() -> Self {
        IamRoleProvider(PhantomData)
    }
}

/// A role created a moment ago is not yet visible to every IAM endpoint (eventual consistency);
/// calls naming it may answer NoSuchEntity for a few seconds.
const IAM_PROPAGATION: Backoff = Backoff::new(500, 4_000, 30);

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

fn decode(doc: &str) -> Value {
    policy::decode_policy_document(doc).unwrap_or(Value::String(doc.to_string()))
}

/// A prop needed to write the role, or the error of one still unknown (the engine creates
/// dependencies first, so that is a bug, not a user error).
fn known_document(id: &ResourceId, what: &str, prop: Prop) -> Result<String, Error> {
    match prop {
        Prop::Known(doc) => Ok(doc.to_string()),
        Prop::Unknown => Err(Error::Other(format!(
            "{id}: cannot write the {what}: an ARN it names is not known yet"
        ))),
    }
}

impl<S: RoleShape> IamRoleProvider<S> {
    fn rid(name: &str) -> ResourceId {
        ResourceId::new(S::KIND, name)
    }

    /// The inline policy for `name` once the role's own ARN is known.
    fn policy_document(
        ctx: &Ctx,
        name: &str,
        known: &Known,
        role_arn: &str,
    ) -> Result<String, Error> {
        let mut known = known.clone();
        known
            .entry(Self::rid(name))
            .or_default()
            .insert("arn".to_string(), role_arn.to_string());
        known_document(
            &Self::rid(name),
            "access policy",
            S::access_policy(ctx, name, &known),
        )
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
                .map_err(|e| Error::aws(Self::rid(name), "PutRolePolicy", e))
        })
        .await
    }

    /// Live state from a role's entry in GetAccountAuthorizationDetails (same props as from
    /// GetRole + GetRolePolicy).
    fn live_from_details(ctx: &Ctx, physical: &str, role: &RoleDetail) -> Live {
        let tags: Vec<(&str, &str)> = role.tags().iter().map(|t| (t.key(), t.value())).collect();
        let owned = ctx.is_owned(tags.iter().copied());
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
    ) -> Result<Arc<Option<Role>>, Error> {
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

    /// Is `role` (under this shape's path) one of this stack's? Its graph name if so.
    fn owned_logical(
        ctx: &Ctx,
        physical: &str,
        path: Option<&str>,
        tags: &[Tag],
    ) -> Option<String> {
        let logical = S::logical_name(ctx, physical)?;
        let under = path.is_none_or(|p| p.starts_with(&S::path(&ctx.spec.stack)));
        (under && ctx.is_owned(tags.iter().map(|t| (t.key(), t.value())))).then_some(logical)
    }
}

impl<S: RoleShape> Default for IamRoleProvider<S> {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl<S: RoleShape> Provider for IamRoleProvider<S> {
    fn kind(&self) -> Kind {
        S::KIND
    }

    fn dependencies(&self, spec: &Spec, name: &str) -> Vec<ResourceId> {
        let mut deps = S::dependencies(spec, name);
        deps.sort();
        deps.dedup();
        deps
    }

    fn desired(&self, ctx: &Ctx, name: &str, known: &Known) -> Props {
        Props::from([
            ("assume_role_policy".to_string(), S::trust_policy(ctx, name)),
            ("policy".to_string(), S::access_policy(ctx, name, known)),
            ("tags".to_string(), Prop::Known(desired_tags(ctx))),
        ])
    }

    async fn read(&self, ctx: &Ctx, name: &str) -> Result<Option<Live>, Error> {
        let physical = S::role_name(ctx, name);
        // While planning: from the account's role details, if they show it.
        if let Some(roles) = role_details::account_roles(ctx).await? {
            if let Some(role) = roles.get(&physical) {
                return Ok(Some(Self::live_from_details(ctx, &physical, role)));
            }
        }
        let got = Self::get_role(ctx, &Self::rid(name), &physical).await?;
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
            props.insert("assume_role_policy".to_string(), decode(doc));
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
                    props.insert("policy".to_string(), decode(out.policy_document()));
                }
                Err(e) => {
                    let e = Error::aws(Self::rid(name), "GetRolePolicy", e);
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
        let id = Self::rid(name);
        let physical = S::role_name(ctx, name);
        let trust = known_document(&id, "trust policy", S::trust_policy(ctx, name))?;
        let out = ctx
            .aws
            .iam
            .create_role()
            .role_name(&physical)
            .path(S::path(&ctx.spec.stack))
            .description(S::description(ctx, name))
            .assume_role_policy_document(trust)
            .set_tags(Some(iam_tags(&ctx.tags())?))
            .send()
            .await
            .map_err(|e| Error::aws(&id, "CreateRole", e))?;
        let arn = out
            .role()
            .map(|r| r.arn().to_string())
            .ok_or_else(|| Error::Other(format!("{id}: CreateRole returned no role")))?;
        // The account id in the policy's ARNs may come from the role's own ARN.
        let doc = Self::policy_document(ctx, name, known, &arn)?;
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
        let id = Self::rid(name);
        let physical = S::role_name(ctx, name);
        let arn = live
            .outputs
            .get("arn")
            .cloned()
            .ok_or_else(|| Error::Other(format!("{id}: live role has no ARN")))?;
        for change in changes {
            match change.attribute.as_str() {
                "assume_role_policy" => {
                    let trust = known_document(&id, "trust policy", S::trust_policy(ctx, name))?;
                    retry(IAM_PROPAGATION, is_no_such_entity, || async {
                        ctx.aws
                            .iam
                            .update_assume_role_policy()
                            .role_name(&physical)
                            .policy_document(trust.clone())
                            .send()
                            .await
                            .map(|_| ())
                            .map_err(|e| Error::aws(&id, "UpdateAssumeRolePolicy", e))
                    })
                    .await?;
                }
                "policy" => {
                    // Recomputed from `known` rather than taken from the plan: ARNs of
                    // dependencies created in this run are only known now.
                    let doc = Self::policy_document(ctx, name, known, &arn)?;
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
                            .map_err(|e| Error::aws(&id, "TagRole", e))?;
                    }
                    if !remove.is_empty() {
                        ctx.aws
                            .iam
                            .untag_role()
                            .role_name(&physical)
                            .set_tag_keys(Some(remove))
                            .send()
                            .await
                            .map_err(|e| Error::aws(&id, "UntagRole", e))?;
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
            for (physical, role) in roles.iter() {
                if let Some(logical) = Self::owned_logical(
                    ctx,
                    physical,
                    Some(role.path().unwrap_or_default()),
                    role.tags(),
                ) {
                    found.push(Discovered {
                        id: Self::rid(&logical),
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
            .path_prefix(S::path(&ctx.spec.stack))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| Error::aws("roles", "ListRoles", e))?;
            for role in page.roles() {
                let physical = role.role_name();
                let Some(logical) = S::logical_name(ctx, physical) else {
                    continue;
                };
                // ListRoles does not return tags on real AWS; GetRole does (and the read of a
                // declared role has made it already).
                let got = Self::get_role(ctx, &Self::rid(&logical), physical).await?;
                let Some(role) = got.as_ref() else {
                    continue;
                };
                if let Some(logical) = Self::owned_logical(ctx, physical, None, role.tags()) {
                    found.push(Discovered {
                        id: Self::rid(&logical),
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

    fn display_name(&self, ctx: &Ctx, name: &str) -> String {
        S::role_name(ctx, name)
    }
}
