//! Lambda reads several kinds share while planning (see [`crate::resources::reads`]): a
//! function (GetFunction, which carries its tags), the stack's functions (ListFunctions), a
//! function's resource policy and the region's event source mappings. The function, the three
//! permission kinds and the trigger all read through here, so a plan reads each once.

use std::sync::Arc;

use aws_sdk_lambda::operation::get_function::GetFunctionOutput;
use aws_sdk_lambda::types::{EventSourceMappingConfiguration, FunctionConfiguration};

use super::provider::{is_not_found, NOT_FOUND};
use crate::error::Error;
use crate::resources::{absent_as_none, Ctx, Kind, ResourceId};

/// A function named with this stack's prefix.
#[derive(Debug, Clone)]
pub(crate) struct OwnedFunction {
    pub logical: String,
    pub physical: String,
    /// As ListFunctions reports it (what a read compares, without tags).
    pub config: FunctionConfiguration,
}

/// `arn:…:function:name:$LATEST` → `arn:…:function:name`.
pub(crate) fn unqualified(arn: &str) -> &str {
    arn.strip_suffix(":$LATEST").unwrap_or(arn)
}

/// Configuration and tags of a function; `None` when it does not exist. While planning, from
/// the stack's ListFunctions and the tag index when both show it; else (a function either does
/// not show yet, both being eventually consistent) from GetFunction.
pub(crate) async fn get_function(
    ctx: &Ctx,
    id: &ResourceId,
    physical: &str,
) -> Result<Arc<Option<GetFunctionOutput>>, Error> {
    ctx.aws
        .reads
        .get("Lambda.GetFunction", physical, || async {
            if ctx.aws.reads.is_planning() {
                let listed = stack_functions(ctx).await?;
                if let Some(f) = listed.iter().find(|f| f.physical == physical) {
                    let arn = f.config.function_arn().map(unqualified).unwrap_or_default();
                    if let Some(tags) = crate::resources::tag_index::tags_of(ctx, arn).await {
                        return Ok(Some(
                            GetFunctionOutput::builder()
                                .configuration(f.config.clone())
                                .set_tags(Some(tags.into_iter().collect()))
                                .build(),
                        ));
                    }
                }
            }
            let got = ctx
                .aws
                .lambda
                .get_function()
                .function_name(physical)
                .send()
                .await
                .map_err(|e| Error::aws(id, "GetFunction", e));
            absent_as_none(got, NOT_FOUND)
        })
        .await
}

/// Does the function exist and carry this stack's ownership tag?
pub(crate) async fn is_owned_function(
    ctx: &Ctx,
    id: &ResourceId,
    physical: &str,
) -> Result<bool, Error> {
    Ok(get_function(ctx, id, physical)
        .await?
        .as_ref()
        .as_ref()
        .is_some_and(|f| ctx.is_owned(f.tags().into_iter().flatten())))
}

/// Functions named `<stack>-*` (ListFunctions, every page).
async fn stack_functions(ctx: &Ctx) -> Result<Arc<Vec<OwnedFunction>>, Error> {
    ctx.aws
        .reads
        .get("Lambda.ListFunctions", "", || async {
            let mut found = Vec::new();
            let mut pages = ctx.aws.lambda.list_functions().into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| Error::aws("functions", "ListFunctions", e))?;
                for f in page.functions() {
                    let Some(physical) = f.function_name() else {
                        continue;
                    };
                    if let Some(logical) = ctx.logical_name(physical) {
                        found.push(OwnedFunction {
                            logical: logical.to_string(),
                            physical: physical.to_string(),
                            config: f.clone(),
                        });
                    }
                }
            }
            Ok(found)
        })
        .await
}

/// Functions named with this stack's prefix that carry its ownership tag. The tags come from
/// GetFunction, which the function's own read has already made for declared functions.
pub(crate) async fn owned_functions(ctx: &Ctx) -> Result<Vec<OwnedFunction>, Error> {
    let mut owned = Vec::new();
    for f in stack_functions(ctx).await?.iter() {
        let id = ResourceId::new(Kind::Function, f.logical.clone());
        if is_owned_function(ctx, &id, &f.physical).await? {
            owned.push(f.clone());
        }
    }
    Ok(owned)
}

/// The function's resource policy (GetPolicy) as text; `None` when the function or its policy
/// does not exist.
pub(crate) async fn function_policy(
    ctx: &Ctx,
    id: &ResourceId,
    function_physical: &str,
) -> Result<Arc<Option<String>>, Error> {
    ctx.aws
        .reads
        .get("Lambda.GetPolicy", function_physical, || async {
            let got = ctx
                .aws
                .lambda
                .get_policy()
                .function_name(function_physical)
                .send()
                .await
                .map_err(|e| Error::aws(id, "GetPolicy", e));
            Ok(absent_as_none(got, NOT_FOUND)?.and_then(|out| out.policy))
        })
        .await
}

/// Function name of a function ARN, qualified or not.
fn function_name_of(arn: &str) -> Option<&str> {
    arn.split(':').nth(6)
}

/// Every event source mapping of the region (ListEventSourceMappings without a filter, every
/// page): one listing for all functions instead of one per function.
async fn all_mappings(
    ctx: &Ctx,
    id: &ResourceId,
) -> Result<Arc<Vec<EventSourceMappingConfiguration>>, Error> {
    ctx.aws
        .reads
        .get("Lambda.ListEventSourceMappings", "", || async {
            let mut all = Vec::new();
            let mut pages = ctx
                .aws
                .lambda
                .list_event_source_mappings()
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| Error::aws(id, "ListEventSourceMappings", e))?;
                all.extend(page.event_source_mappings().iter().cloned());
            }
            Ok(all)
        })
        .await
}

/// The mappings of one function (empty when it has none or does not exist). While planning
/// they come from one listing of the region; otherwise from a listing of that function.
pub(crate) async fn mappings_of(
    ctx: &Ctx,
    id: &ResourceId,
    function_physical: &str,
) -> Result<Vec<EventSourceMappingConfiguration>, Error> {
    if ctx.aws.reads.is_planning() {
        return Ok(all_mappings(ctx, id)
            .await?
            .iter()
            .filter(|m| m.function_arn().and_then(function_name_of) == Some(function_physical))
            .cloned()
            .collect());
    }
    let mut all = Vec::new();
    let mut pages = ctx
        .aws
        .lambda
        .list_event_source_mappings()
        .function_name(function_physical)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(p) => all.extend(p.event_source_mappings().iter().cloned()),
            Err(e) => {
                let e = Error::aws(id, "ListEventSourceMappings", e);
                return if is_not_found(&e) {
                    Ok(Vec::new())
                } else {
                    Err(e)
                };
            }
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_of_qualified_and_unqualified_arns() {
        assert_eq!(
            function_name_of("arn:aws:lambda:eu-west-1:1:function:shop-f"),
            Some("shop-f")
        );
        assert_eq!(
            function_name_of("arn:aws:lambda:eu-west-1:1:function:shop-f:$LATEST"),
            Some("shop-f")
        );
        assert_eq!(function_name_of("shop-f"), None);
    }
}
