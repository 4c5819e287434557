//! `discoverer` — the EventBridge schema discoverer of a bus declared with
//! `schemas: { discover: true }` (`buses:` in `crate::kinds::bus`; not a section of its own).
//!
//! A discoverer makes EventBridge infer the schema of every event on its bus (its `SourceArn`)
//! into the account's `discovered-schemas` registry, where `orderflow schema events --diff`
//! compares them with the schemas generated from the code. AWS names a discoverer itself (an
//! ID), so it is found by its bus's ARN; its logical name is its bus's. It carries the ownership
//! tag like every other resource: one without it is never changed nor deleted.
//!
//! Discovery is billed beyond a monthly free tier, hence off by default. Local emulators may
//! lack the Schemas API (MiniStack does): against a custom endpoint that answers so, `plan` and
//! `up` skip the discoverer and say so ([`unsupported`]), as for the schema registry.

pub(crate) mod provider;

pub use provider::DiscovererProvider;

use std::sync::Arc;

use aws_sdk_schemas::types::DiscovererSummary;

use crate::error::Error;
use crate::resources::Ctx;

/// The Schemas API's answer for a discoverer that does not exist.
pub(crate) const NOT_FOUND: &[&str] = &["NotFoundException"];

/// The state orderflow keeps a declared discoverer in: discovering.
pub(crate) const STARTED: &str = "STARTED";

/// Why discoverers cannot be managed at this endpoint, if so (a custom endpoint without the
/// Schemas API; never on AWS).
pub(crate) async fn unsupported(ctx: &Ctx) -> Result<Option<String>, Error> {
    Ok(crate::kinds::event_schema::schemas_api_missing(ctx)
        .await?
        .map(|why| format!("{why}; schema discovery is managed on AWS only")))
}

/// The discoverer's description: which stack and bus it serves (the Schemas API allows 256
/// characters; a bus name allows 256 alone, so a long one is cut).
pub(crate) fn description(ctx: &Ctx, bus: &str) -> String {
    let text = format!(
        "Schema discovery on event bus {} (orderflow stack {})",
        ctx.physical_name(bus),
        ctx.spec.stack
    );
    text.chars().take(256).collect()
}

/// ARN prefix of the stack's buses: `arn:<partition>:events:<region>:<account>:event-bus/<stack>-`.
async fn stack_bus_arn_prefix(ctx: &Ctx, res: &str) -> Result<String, Error> {
    let (partition, account) = ctx.partition_and_account(res).await?;
    Ok(format!(
        "arn:{partition}:events:{}:{account}:event-bus/{}-",
        ctx.region, ctx.spec.stack
    ))
}

/// ARN of the stack's bus `bus` (whether it exists or not: a discoverer is found by it).
pub(crate) async fn bus_arn(ctx: &Ctx, res: &str, bus: &str) -> Result<String, Error> {
    Ok(format!("{}{bus}", stack_bus_arn_prefix(ctx, res).await?))
}

/// Logical bus name of a discoverer's source ARN, if it is a bus of this stack.
pub(crate) fn bus_of_source<'a>(ctx: &Ctx, source_arn: &'a str) -> Option<&'a str> {
    let (_, bus) = source_arn.split_once(":event-bus/")?;
    ctx.logical_name(bus)
}

/// The discoverers whose source ARN starts with the stack's bus prefix, with their tags
/// (ListDiscoverers, every page; shared while planning by reads and discovery).
pub(crate) async fn stack_discoverers(
    ctx: &Ctx,
    res: &str,
) -> Result<Arc<Vec<DiscovererSummary>>, Error> {
    let prefix = stack_bus_arn_prefix(ctx, res).await?;
    ctx.aws
        .reads
        .get("Schemas.ListDiscoverers", &prefix, || async {
            let mut found = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let out = ctx
                    .aws
                    .schemas
                    .list_discoverers()
                    .source_arn_prefix(&prefix)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| Error::aws(res, "ListDiscoverers", e))?;
                found.extend(out.discoverers().iter().cloned());
                match out.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_string()),
                    _ => return Ok(found),
                }
            }
        })
        .await
}

/// The discoverer of the stack's bus `bus`, owned or not. The ARN prefix of bus `orders` also
/// matches bus `orders-audit`: only an exact source ARN counts.
pub(crate) async fn of_bus(
    ctx: &Ctx,
    res: &str,
    bus: &str,
) -> Result<Option<DiscovererSummary>, Error> {
    let arn = bus_arn(ctx, res, bus).await?;
    Ok(stack_discoverers(ctx, res)
        .await?
        .iter()
        .find(|d| d.source_arn() == Some(arn.as_str()))
        .cloned())
}

#[cfg(test)]
mod tests {
    use crate::kinds::test_support::errors;
    use crate::resources::{Kind, ResourceId};

    #[test]
    fn discoverer_only_for_a_bus_that_asks_for_discovery() {
        let spec = crate::spec::parse(
            "p.yaml",
            "stack: s\nbuses:\n  orders: { schemas: { discover: true } }\n  audit: { schemas: { discover: false } }\n  plain: {}\n  empty: { schemas: {} }\n",
        )
        .unwrap();
        assert!(spec.buses["orders"].discover_schemas);
        assert!(!spec.buses["audit"].discover_schemas);
        assert!(!spec.buses["plain"].discover_schemas);
        assert!(!spec.buses["empty"].discover_schemas);
        let discoverers: Vec<ResourceId> = spec
            .resources()
            .into_iter()
            .filter(|r| r.kind == Kind::Discoverer)
            .collect();
        assert_eq!(discoverers, [ResourceId::new(Kind::Discoverer, "orders")]);
        // Deleted before the bus it watches.
        assert!(Kind::Discoverer.delete_rank() < Kind::Bus.delete_rank());
        let p = Kind::Discoverer.provider();
        assert_eq!(
            p.dependencies(&spec, "orders"),
            [ResourceId::new(Kind::Bus, "orders")]
        );
    }

    #[test]
    fn discoverer_keys_are_checked_with_positions() {
        assert_eq!(
            errors("stack: s\nbuses:\n  orders:\n    schemas: { discovr: true }\n  b: { schemas: { discover: yes please } }\n  c: { schemas: true }\n"),
            [
                "p.yaml:4:16: buses.orders.schemas.discovr: unknown key `discovr`",
                "p.yaml:5:29: buses.b.schemas.discover: expected a boolean (true or false), got string \"yes please\"",
                "p.yaml:6:17: buses.c.schemas: expected a mapping, got boolean true",
            ]
        );
        let err = crate::spec::parse(
            "p.yaml",
            "stack: s\nbuses:\n  o: { schemas: { discovr: true } }\n",
        )
        .unwrap_err();
        assert_eq!(
            err.errors[0].help.as_deref(),
            Some("did you mean `discover`?")
        );
    }
}
