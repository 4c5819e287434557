//! The account's roles in one paginated read while planning: IAM GetAccountAuthorizationDetails
//! with `Filter=Role` reports each role with its trust policy, inline policies and tags, which
//! otherwise take GetRole + GetRolePolicy per role (and ListRoles + a tag read per role for
//! discovery). It lists every role of the account, 1000 per page: the cost is one call per
//! thousand roles in the account, whatever the size of the pipeline.
//!
//! IAM is eventually consistent, so a role created a moment ago may be missing: a declared role
//! the listing does not show is read directly (GetRole), never taken as absent. Some accounts
//! deny GetAccountAuthorizationDetails (it shows every policy of the account): then every role
//! is read directly, as before this listing existed.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_iam::types::{EntityType, RoleDetail};

use crate::error::Error;
use crate::resources::Ctx;

/// Role details by role name, every page (only while planning, and `None` when the listing is
/// not allowed).
pub(crate) async fn account_roles(
    ctx: &Ctx,
) -> Result<Option<Arc<HashMap<String, RoleDetail>>>, Error> {
    if !ctx.aws.reads.is_planning() {
        return Ok(None);
    }
    let roles = ctx
        .aws
        .reads
        .get("IAM.GetAccountAuthorizationDetails", "Role", || async {
            let mut roles = HashMap::new();
            let mut marker: Option<String> = None;
            loop {
                let out = ctx
                    .aws
                    .iam
                    .get_account_authorization_details()
                    .filter(EntityType::Role)
                    .max_items(1000)
                    .set_marker(marker.take())
                    .send()
                    .await
                    .map_err(|e| Error::aws("roles", "GetAccountAuthorizationDetails", e));
                let out = match out {
                    Ok(out) => out,
                    Err(e) if e.code() == Some("AccessDenied") => {
                        tracing::info!("iam:GetAccountAuthorizationDetails is denied: reading roles one by one");
                        return Ok(None);
                    }
                    Err(e) => return Err(e),
                };
                for role in out.role_detail_list() {
                    if let Some(name) = role.role_name() {
                        roles.insert(name.to_string(), role.clone());
                    }
                }
                match out.marker() {
                    Some(m) if out.is_truncated() && !m.is_empty() => marker = Some(m.to_string()),
                    _ => return Ok(Some(Arc::new(roles))),
                }
            }
        })
        .await?;
    Ok(roles.as_ref().clone())
}
