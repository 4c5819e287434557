//! IAM execution role of one function: `<stack>-<function>` under path `/orderflow/<stack>/`,
//! the Lambda trust policy, and one inline least-privilege policy generated from the function's
//! declared access (see [`crate::resources::policy`]). The role itself is an
//! [`IamRoleProvider`] of this shape.

use crate::resources::iam_role::{IamRoleProvider, RoleShape};
use crate::resources::policy;
use crate::resources::{Ctx, Kind, Known, Prop, ResourceId};
use crate::spec::Spec;

pub struct FunctionRole;

pub type RoleProvider = IamRoleProvider<FunctionRole>;

/// The provider of function roles (for the kind registry).
pub const ROLE_PROVIDER: RoleProvider = IamRoleProvider::new();

/// Path every function role of a stack lives under, so `discover` can list them by prefix.
pub fn role_path(stack: &str) -> String {
    format!("/orderflow/{stack}/")
}

impl RoleShape for FunctionRole {
    const KIND: Kind = Kind::Role;

    fn path(stack: &str) -> String {
        role_path(stack)
    }

    fn role_name(ctx: &Ctx, name: &str) -> String {
        ctx.physical_name(name)
    }

    fn logical_name(ctx: &Ctx, role_name: &str) -> Option<String> {
        ctx.logical_name(role_name).map(str::to_string)
    }

    fn description(ctx: &Ctx, name: &str) -> String {
        format!(
            "Execution role of Lambda function {} (orderflow stack {})",
            ctx.physical_name(name),
            ctx.spec.stack
        )
    }

    fn dependencies(spec: &Spec, name: &str) -> Vec<ResourceId> {
        spec.functions
            .get(name)
            .map(|f| {
                f.access
                    .iter()
                    .map(|a| policy::access_target_id(&a.target))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn trust_policy(_ctx: &Ctx, _name: &str) -> Prop {
        Prop::Known(policy::trust_policy())
    }

    fn access_policy(ctx: &Ctx, name: &str, known: &Known) -> Prop {
        policy::role_policy(&ctx.spec, name, &ctx.region, known)
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
