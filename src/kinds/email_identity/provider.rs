//! SES (API v2) email address identity: the address itself, tagged `orderflow:stack=<stack>`.
//!
//! - The identity's ARN (`arn:<partition>:ses:<region>:<account>:identity/<address>`) is what
//!   tagging and the IAM grants of `send_email` need; SES does not return it, so the partition
//!   and account are taken from the ARN of the region's `default` EventBridge bus, which every
//!   account has (one read call; no STS client needed).
//! - Verification is SES's business: `CreateEmailIdentity` sends the address a link, and the
//!   identity stays `PENDING` until it is followed. The status is an output (shown after `up`),
//!   not a managed attribute, so `plan` stays clean while verification is pending.
//! - Tags are read with `ListTagsForResource` (what `TagResource` changes), not from
//!   `GetEmailIdentity`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_sesv2::types::{IdentityType, Tag};

use crate::error::Error;
use crate::resources::tags::{desired_tags, live_managed_tags, tags_to_set};
use crate::resources::{
    absent_as_none, known_value, unknown_attribute, Change, Ctx, Discovered, Kind, Known, Live,
    Outputs, Props, Provider, ResourceId,
};
use crate::spec::Spec;

pub struct EmailIdentityProvider;

/// SES v2's answer for an identity (or tagged resource) that does not exist.
const NOT_FOUND: &[&str] = &["NotFoundException"];

/// The status SES reports when it gives no `VerificationStatus` (older endpoints): verified
/// for sending or not.
fn verification_status(status: Option<&str>, verified_for_sending: bool) -> String {
    match status {
        Some(s) if !s.is_empty() => s.to_string(),
        _ if verified_for_sending => "SUCCESS".into(),
        _ => "PENDING".into(),
    }
}

/// `arn:<partition>:ses:<region>:<account>:identity/` for this account and region.
async fn identity_arn_prefix(ctx: &Ctx, resource: &str) -> Result<String, Error> {
    let (partition, account) = ctx.partition_and_account(resource).await?;
    Ok(format!(
        "arn:{partition}:ses:{}:{account}:identity/",
        ctx.region
    ))
}

/// Tags of an identity, or `None` if it is gone; once per plan while planning (read and
/// discovery share them). (GetEmailIdentity reports tags too, but the emulator does not update
/// them there on TagResource.)
async fn identity_tags(
    ctx: &Ctx,
    resource: &str,
    arn: &str,
) -> Result<Option<BTreeMap<String, String>>, Error> {
    if let Some(tags) = crate::resources::tag_index::tags_of(ctx, arn).await {
        return Ok(Some(tags));
    }
    ctx.aws
        .reads
        .cloned("SESv2.ListTagsForResource", arn, || {
            identity_tags_now(ctx, resource, arn)
        })
        .await
}

/// Tags of an identity, or `None` if it is gone.
async fn identity_tags_now(
    ctx: &Ctx,
    resource: &str,
    arn: &str,
) -> Result<Option<BTreeMap<String, String>>, Error> {
    let listed = ctx
        .aws
        .ses
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| Error::aws(resource, "ListTagsForResource", e));
    Ok(absent_as_none(listed, NOT_FOUND)?.map(|out| {
        out.tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect()
    }))
}

fn ses_tags(resource: &str, tags: &BTreeMap<String, String>) -> Result<Vec<Tag>, Error> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| Error::Other(format!("{resource}: building tag {k}: {e}")))
        })
        .collect()
}

fn resource(name: &str) -> String {
    format!("{}.{name}", Kind::EmailIdentity)
}

fn address<'a>(ctx: &'a Ctx, name: &str) -> Result<&'a str, Error> {
    ctx.spec
        .email_identities
        .get(name)
        .map(|i| i.email.as_str())
        .ok_or_else(|| {
            Error::Other(format!(
                "email identity `{name}` is not declared in the spec"
            ))
        })
}

fn outputs(email: &str, arn: &str, status: &str) -> Outputs {
    Outputs::from([
        ("name".to_string(), email.to_string()),
        ("email".to_string(), email.to_string()),
        ("arn".to_string(), arn.to_string()),
        ("verification_status".to_string(), status.to_string()),
    ])
}

#[async_trait]
impl Provider for EmailIdentityProvider {
    fn kind(&self) -> Kind {
        Kind::EmailIdentity
    }

    /// The address, not `<stack>-<name>`.
    fn display_name(&self, ctx: &Ctx, name: &str) -> String {
        address(ctx, name).unwrap_or(name).to_string()
    }

    fn dependencies(&self, _spec: &Spec, _name: &str) -> Vec<ResourceId> {
        Vec::new()
    }

    fn desired(&self, ctx: &Ctx, _name: &str, _known: &Known) -> Props {
        Props::from([("tags".into(), desired_tags(ctx).into())])
    }

    async fn read(&self, ctx: &Ctx, name: &str) -> Result<Option<Live>, Error> {
        let res = resource(name);
        let email = address(ctx, name)?;
        let got = ctx
            .aws
            .ses
            .get_email_identity()
            .email_identity(email)
            .send()
            .await
            .map_err(|e| Error::aws(&res, "GetEmailIdentity", e));
        let Some(identity) = absent_as_none(got, NOT_FOUND)? else {
            return Ok(None);
        };
        let arn = format!("{}{email}", identity_arn_prefix(ctx, &res).await?);
        let Some(tags) = identity_tags(ctx, &res, &arn).await? else {
            return Ok(None);
        };
        let status = verification_status(
            identity.verification_status().map(|s| s.as_str()),
            identity.verified_for_sending_status(),
        );
        Ok(Some(Live {
            props: BTreeMap::from([("tags".into(), live_managed_tags(ctx, &tags))]),
            outputs: outputs(email, &arn, &status),
            owned: ctx.is_owned(&tags),
        }))
    }

    async fn create(&self, ctx: &Ctx, name: &str, _known: &Known) -> Result<Outputs, Error> {
        let res = resource(name);
        let email = address(ctx, name)?;
        let arn = format!("{}{email}", identity_arn_prefix(ctx, &res).await?);
        let out = ctx
            .aws
            .ses
            .create_email_identity()
            .email_identity(email)
            .set_tags(Some(ses_tags(&res, &ctx.tags())?))
            .send()
            .await
            .map_err(|e| Error::aws(&res, "CreateEmailIdentity", e))?;
        let status = verification_status(None, out.verified_for_sending_status());
        Ok(outputs(email, &arn, &status))
    }

    async fn update(
        &self,
        ctx: &Ctx,
        name: &str,
        _known: &Known,
        live: &Live,
        changes: &[Change],
    ) -> Result<Outputs, Error> {
        let res = resource(name);
        let arn = live.output(&res, "arn", "ARN")?;
        for change in changes {
            match change.attribute.as_str() {
                "tags" => {
                    let set = tags_to_set(known_value(&res, change)?, change.old.as_ref());
                    if !set.is_empty() {
                        ctx.aws
                            .ses
                            .tag_resource()
                            .resource_arn(arn)
                            .set_tags(Some(ses_tags(&res, &set)?))
                            .send()
                            .await
                            .map_err(|e| Error::aws(&res, "TagResource", e))?;
                    }
                }
                other => return Err(unknown_attribute(&res, other)),
            }
        }
        Ok(live.outputs.clone())
    }

    /// Email address identities carrying this stack's tag. One still declared is found under
    /// its logical name; one no longer declared under its address.
    async fn discover(&self, ctx: &Ctx) -> Result<Vec<Discovered>, Error> {
        let res = format!("{}.*", Kind::EmailIdentity);
        let mut addresses = Vec::new();
        let mut pages = ctx.aws.ses.list_email_identities().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| Error::aws(&res, "ListEmailIdentities", e))?;
            for i in page.email_identities() {
                if i.identity_type() == Some(&IdentityType::EmailAddress) {
                    if let Some(name) = i.identity_name() {
                        addresses.push(name.to_string());
                    }
                }
            }
        }
        if addresses.is_empty() {
            return Ok(Vec::new());
        }
        let prefix = identity_arn_prefix(ctx, &res).await?;
        let mut found = Vec::new();
        for email in addresses {
            // Deleted between the listing and now: nothing to discover.
            let Some(tags) = identity_tags(ctx, &res, &format!("{prefix}{email}")).await? else {
                continue;
            };
            if !ctx.is_owned(&tags) {
                continue;
            }
            let logical = ctx
                .spec
                .email_identities
                .iter()
                .find(|(_, i)| i.email == email)
                .map_or_else(|| email.clone(), |(name, _)| name.clone());
            found.push(Discovered {
                id: ResourceId::new(Kind::EmailIdentity, logical),
                physical: email.clone(),
                handle: email,
            });
        }
        Ok(found)
    }

    async fn delete(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
        let deleted = ctx
            .aws
            .ses
            .delete_email_identity()
            .email_identity(&target.handle)
            .send()
            .await
            .map_err(|e| Error::aws(&target.id, "DeleteEmailIdentity", e));
        absent_as_none(deleted, NOT_FOUND)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::test_support::{spec, test_ctx};
    use crate::spec::model::EmailIdentity;
    use serde_json::json;

    #[test]
    fn desired_identity_is_its_tags_and_its_name_the_address() {
        let mut s = spec();
        s.email_identities.insert(
            "sender".into(),
            EmailIdentity {
                email: "orders@example.com".into(),
            },
        );
        let ctx = test_ctx(s);
        let p = EmailIdentityProvider;
        assert_eq!(
            p.desired(&ctx, "sender", &Known::new()),
            Props::from([(
                "tags".to_string(),
                json!({"orderflow:stack": "shop", "team": "orders"}).into()
            )])
        );
        assert_eq!(p.display_name(&ctx, "sender"), "orders@example.com");
        assert!(p.dependencies(&ctx.spec, "sender").is_empty());
    }

    #[test]
    fn verification_status_falls_back_to_the_sending_flag() {
        assert_eq!(verification_status(Some("PENDING"), false), "PENDING");
        assert_eq!(verification_status(Some("SUCCESS"), true), "SUCCESS");
        assert_eq!(verification_status(None, true), "SUCCESS");
        assert_eq!(verification_status(None, false), "PENDING");
        assert_eq!(
            outputs(
                "a@example.com",
                "arn:aws:ses:us-east-1:1:identity/a@example.com",
                "PENDING"
            )["verification_status"],
            "PENDING"
        );
    }
}
