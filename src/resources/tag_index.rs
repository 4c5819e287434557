//! The stack's tags from one listing while planning: the Resource Groups Tagging API's
//! GetResources with a filter on the ownership tag (`orderflow:stack=<stack>`) returns every
//! resource of the stack with all its tags, 100 per page, instead of one tag read per queue,
//! rule, bus, table, topic, API or identity.
//!
//! The index only ever saves a read, it never decides alone:
//! - a resource it does not list (not tagged as ours, a service or resource type the API does
//!   not cover, or just created: the index is eventually consistent) has its tags read
//!   directly, so a missing entry never passes for "not ours" or "absent";
//! - if GetResources fails (e.g. a deployer role without `tag:GetResources`), every tag is read
//!   directly, as without the index;
//! - outside planning there is no index: apply's reads after writes always ask the service.
//!
//! What it can do is lag: a tag changed in the last moments outside orderflow may show as it
//! was until the next plan (the services' own tag reads are the source of truth; the index
//! follows them within seconds to minutes).

use std::collections::{BTreeMap, HashMap};

use aws_sdk_resourcegroupstagging::types::TagFilter;

use crate::error::Error;
use crate::resources::Ctx;

type Tags = BTreeMap<String, String>;

/// ARN → tags of the resources carrying this stack's ownership tag; `None` when not planning or
/// when the listing failed.
async fn index(ctx: &Ctx) -> Option<std::sync::Arc<Option<HashMap<String, Tags>>>> {
    if !ctx.aws.reads.is_planning() {
        return None;
    }
    ctx.aws
        .reads
        .get("Tagging.GetResources", "", || async {
            // A failure only means reading tags one by one: remembered as "no index".
            Ok::<_, Error>(list(ctx).await.ok())
        })
        .await
        .ok()
}

async fn list(ctx: &Ctx) -> Result<HashMap<String, Tags>, Error> {
    let filter = TagFilter::builder()
        .key(crate::spec::model::OWNERSHIP_TAG)
        .values(ctx.spec.stack.clone())
        .build();
    let mut found = HashMap::new();
    let mut token: Option<String> = None;
    loop {
        let out = ctx
            .aws
            .tagging
            .get_resources()
            .tag_filters(filter.clone())
            .resources_per_page(100)
            .set_pagination_token(token.take())
            .send()
            .await
            .map_err(|e| Error::aws("tags", "GetResources", e))?;
        for r in out.resource_tag_mapping_list() {
            let Some(arn) = r.resource_arn() else {
                continue;
            };
            let tags: Tags = r
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            found.insert(arn.to_string(), tags);
        }
        match out.pagination_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(found),
        }
    }
}

/// The tags of the resource with this ARN, if the index lists it (else read them directly).
pub async fn tags_of(ctx: &Ctx, arn: &str) -> Option<Tags> {
    let index = index(ctx).await?;
    let listed = index.as_ref().as_ref()?.get(arn)?.clone();
    // Listed because of the ownership tag: an entry without it would be the index's bug.
    ctx.is_owned(&listed).then_some(listed)
}

/// The tags of the queue with this name, if the index lists it (SQS tag reads take the URL;
/// the index names queues by ARN, `arn:<partition>:sqs:<region>:<account>:<name>`).
pub async fn queue_tags(ctx: &Ctx, name: &str) -> Option<Tags> {
    let index = index(ctx).await?;
    let region = &ctx.aws.region;
    let listed = index
        .as_ref()
        .as_ref()?
        .iter()
        .find(|(arn, _)| is_queue_arn(arn, region, name))
        .map(|(_, tags)| tags.clone())?;
    ctx.is_owned(&listed).then_some(listed)
}

/// Is `arn` the ARN of the queue `name` in `region` (any partition and account)?
fn is_queue_arn(arn: &str, region: &str, name: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", _, "sqs", r, _, n] if *r == region && *n == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_arns_match_by_service_region_and_name() {
        let arn = "arn:aws:sqs:eu-west-1:123456789012:shop-orders";
        assert!(is_queue_arn(arn, "eu-west-1", "shop-orders"));
        assert!(!is_queue_arn(arn, "eu-west-1", "shop-orders-dlq"));
        assert!(!is_queue_arn(arn, "us-east-1", "shop-orders"));
        assert!(!is_queue_arn(
            "arn:aws:sns:eu-west-1:123456789012:shop-orders",
            "eu-west-1",
            "shop-orders"
        ));
        assert!(is_queue_arn(
            "arn:aws-cn:sqs:cn-north-1:1:shop-orders",
            "cn-north-1",
            "shop-orders"
        ));
    }
}
