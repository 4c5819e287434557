//! DynamoDB table `<stack>-<table>` (on-demand), with point-in-time recovery, TTL and deletion
//! protection managed as attributes. The key schema is immutable: changing it would mean replacing
//! the table and its data, which orderflow refuses to do.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, PointInTimeRecoverySpecification,
    PointInTimeRecoveryStatus, ScalarAttributeType, TableDescription, TableStatus, Tag,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use serde_json::{json, Value};

use crate::error::Error;
use crate::kinds::declared;
use crate::resources::known_value;
use crate::resources::tags::{desired_tags, live_managed_tags, tags_to_set};
use crate::resources::{
    absent_as_none, unknown_attribute, Change, Ctx, Discovered, Kind, Known, Live, Outputs, Props,
    Provider, ResourceId,
};
use crate::retry::{poll_until, retry, Backoff};
use crate::spec::model::{Billing, KeyKind, Table};
use crate::spec::Spec;

use super::stream;

pub struct TableProvider;

/// DynamoDB's answer for a table that does not exist.
const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

/// On-demand tables usually turn ACTIVE within seconds; minutes when AWS is busy.
const UNTIL_ACTIVE: Backoff = Backoff::new(500, 5_000, 300);

/// Deleting a large table can take several minutes.
const UNTIL_GONE: Backoff = Backoff::new(1_000, 5_000, 600);

/// Right after CreateTable, UpdateContinuousBackups answers ContinuousBackupsUnavailableException
/// until backups are set up for the new table (typically well under a minute).
const BACKUPS_AVAILABLE: Backoff = Backoff::new(1_000, 10_000, 180);

/// A table being created or updated cannot be deleted; wait for it to settle.
const TABLE_IN_USE: Backoff = Backoff::new(1_000, 5_000, 300);

fn resource(name: &str) -> String {
    format!("{}.{name}", Kind::Table)
}

fn build_error(res: &str, what: &str, e: impl std::fmt::Display) -> Error {
    Error::Other(format!("{res}: building {what}: {e}"))
}

/// The table's key: (attribute, HASH|RANGE, S|N|B), partition key first.
fn key_elements(t: &Table) -> Vec<(&str, &'static str, KeyKind)> {
    let mut keys = vec![(t.partition_key.name.as_str(), "HASH", t.partition_key.kind)];
    if let Some(sk) = &t.sort_key {
        keys.push((sk.name.as_str(), "RANGE", sk.kind));
    }
    keys
}

fn key_schema_value(keys: &[(&str, &str)]) -> Value {
    let mut keys = keys.to_vec();
    // HASH sorts before RANGE, which is the order DynamoDB requires and reports.
    keys.sort_by(|a, b| a.1.cmp(b.1));
    Value::Array(
        keys.iter()
            .map(|(name, key_type)| json!({"attribute_name": name, "key_type": key_type}))
            .collect(),
    )
}

fn attribute_definitions_value(defs: &[(&str, &str)]) -> Value {
    let mut defs = defs.to_vec();
    defs.sort();
    Value::Array(
        defs.iter()
            .map(|(name, kind)| json!({"attribute_name": name, "attribute_type": kind}))
            .collect(),
    )
}

fn billing_mode_str(b: Billing) -> &'static str {
    match b {
        Billing::OnDemand => "PAY_PER_REQUEST",
    }
}

/// Props of a table as DynamoDB describes it (tags, PITR and TTL added by the caller).
fn described_props(t: &TableDescription) -> BTreeMap<String, Value> {
    let keys: Vec<(&str, &str)> = t
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().as_str()))
        .collect();
    // Only the key attributes: definitions that exist for indexes orderflow does not manage
    // are not a key-schema change.
    let defs: Vec<(&str, &str)> = t
        .attribute_definitions()
        .iter()
        .filter(|d| keys.iter().any(|(k, _)| *k == d.attribute_name()))
        .map(|d| (d.attribute_name(), d.attribute_type().as_str()))
        .collect();
    // Tables created as provisioned and never switched carry no billing mode summary.
    let billing = t
        .billing_mode_summary()
        .and_then(|b| b.billing_mode())
        .map(|b| b.as_str().to_string())
        .unwrap_or_else(|| "PROVISIONED".to_string());
    BTreeMap::from([
        ("key_schema".into(), key_schema_value(&keys)),
        (
            "attribute_definitions".into(),
            attribute_definitions_value(&defs),
        ),
        ("billing_mode".into(), Value::String(billing)),
        (
            "deletion_protection".into(),
            Value::Bool(t.deletion_protection_enabled().unwrap_or(false)),
        ),
    ])
}

/// The TTL attribute in effect: enabled or being enabled.
fn ttl_value(status: Option<&TimeToLiveStatus>, attribute: Option<&str>) -> Value {
    match (status, attribute) {
        (Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling), Some(a)) => {
            Value::String(a.to_string())
        }
        _ => Value::Null,
    }
}

/// DescribeTable; once per plan while planning (read and discovery share it), else fresh.
async fn describe(ctx: &Ctx, res: &str, physical: &str) -> Result<Option<TableDescription>, Error> {
    ctx.aws
        .reads
        .cloned("DynamoDB.DescribeTable", physical, || {
            describe_now(ctx, res, physical)
        })
        .await
}

async fn describe_now(
    ctx: &Ctx,
    res: &str,
    physical: &str,
) -> Result<Option<TableDescription>, Error> {
    let described = ctx
        .aws
        .dynamodb
        .describe_table()
        .table_name(physical)
        .send()
        .await
        .map_err(|e| Error::aws(res, "DescribeTable", e));
    Ok(absent_as_none(described, NOT_FOUND)?.and_then(|out| out.table().cloned()))
}

pub(super) async fn wait_active(
    ctx: &Ctx,
    res: &str,
    physical: &str,
) -> Result<TableDescription, Error> {
    poll_until(
        format!("{res}: waiting for ACTIVE"),
        UNTIL_ACTIVE,
        || async {
            match describe(ctx, res, physical).await? {
                Some(t) if t.table_status() == Some(&TableStatus::Active) => Ok(Some(t)),
                Some(_) => Ok(None),
                None => Err(Error::Other(format!(
                    "{res}: table {physical} disappeared while waiting for it to become ACTIVE"
                ))),
            }
        },
    )
    .await
}

async fn wait_gone(ctx: &Ctx, res: &str, physical: &str) -> Result<(), Error> {
    poll_until(
        format!("{res}: waiting for deletion"),
        UNTIL_GONE,
        || async { Ok(describe(ctx, res, physical).await?.is_none().then_some(())) },
    )
    .await
}

/// Tags of a table; once per plan while planning (read and discovery share them).
async fn table_tags(ctx: &Ctx, res: &str, arn: &str) -> Result<BTreeMap<String, String>, Error> {
    if let Some(tags) = crate::resources::tag_index::tags_of(ctx, arn).await {
        return Ok(tags);
    }
    ctx.aws
        .reads
        .cloned("DynamoDB.ListTagsOfResource", arn, || {
            table_tags_now(ctx, res, arn)
        })
        .await
}

async fn table_tags_now(
    ctx: &Ctx,
    res: &str,
    arn: &str,
) -> Result<BTreeMap<String, String>, Error> {
    let mut tags = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let out = ctx
            .aws
            .dynamodb
            .list_tags_of_resource()
            .resource_arn(arn)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| Error::aws(res, "ListTagsOfResource", e))?;
        tags.extend(
            out.tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string())),
        );
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(tags),
        }
    }
}

fn dynamo_tags(res: &str, tags: &BTreeMap<String, String>) -> Result<Vec<Tag>, Error> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| build_error(res, "tag", e))
        })
        .collect()
}

async fn set_pitr(ctx: &Ctx, res: &str, physical: &str, enabled: bool) -> Result<(), Error> {
    let spec = PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(enabled)
        .build()
        .map_err(|e| build_error(res, "PITR specification", e))?;
    retry(
        BACKUPS_AVAILABLE,
        |e| e.code() == Some("ContinuousBackupsUnavailableException"),
        || async {
            ctx.aws
                .dynamodb
                .update_continuous_backups()
                .table_name(physical)
                .point_in_time_recovery_specification(spec.clone())
                .send()
                .await
                .map_err(|e| Error::aws(res, "UpdateContinuousBackups", e))
        },
    )
    .await?;
    Ok(())
}

async fn set_ttl(
    ctx: &Ctx,
    res: &str,
    physical: &str,
    attribute: &str,
    enabled: bool,
) -> Result<(), Error> {
    let spec = TimeToLiveSpecification::builder()
        .attribute_name(attribute)
        .enabled(enabled)
        .build()
        .map_err(|e| build_error(res, "TTL specification", e))?;
    let result = ctx
        .aws
        .dynamodb
        .update_time_to_live()
        .table_name(physical)
        .time_to_live_specification(spec)
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) => Err(explain_ttl_error(Error::aws(res, "UpdateTimeToLive", e))),
    }
}

/// DynamoDB accepts one TTL change per table per hour; say so instead of only relaying
/// "modified multiple times within a fixed interval".
fn explain_ttl_error(err: Error) -> Error {
    match err {
        Error::Aws {
            resource,
            action,
            code,
            message,
        } if code.as_deref() == Some("ValidationException")
            && message.to_ascii_lowercase().contains("multiple times") =>
        {
            Error::Aws {
                resource,
                action,
                code,
                message: format!(
                    "{message} — DynamoDB allows one time-to-live change per table per hour \
                     (disabling counts as one); run `orderflow up` again once the hour has passed"
                ),
            }
        }
        other => other,
    }
}

fn outputs(physical: &str, arn: &str, t: &TableDescription) -> Outputs {
    let mut out = Outputs::from([
        ("name".to_string(), physical.to_string()),
        ("arn".to_string(), arn.to_string()),
    ]);
    if let Some(stream) = stream::stream_arn(t) {
        out.insert("stream_arn".to_string(), stream.to_string());
    }
    out
}

fn arn_of(res: &str, t: &TableDescription) -> Result<String, Error> {
    t.table_arn().map(str::to_string).ok_or_else(|| {
        Error::Other(format!(
            "{res}: DynamoDB described the table without an ARN"
        ))
    })
}

async fn create_table(ctx: &Ctx, res: &str, physical: &str, t: &Table) -> Result<(), Error> {
    let mut request = ctx
        .aws
        .dynamodb
        .create_table()
        .table_name(physical)
        .billing_mode(BillingMode::from(billing_mode_str(t.billing)))
        .deletion_protection_enabled(t.deletion_protection)
        .set_stream_specification(if t.stream {
            Some(stream::specification(res, true)?)
        } else {
            None
        })
        .set_tags(Some(dynamo_tags(res, &ctx.tags())?));
    for (name, key_type, kind) in key_elements(t) {
        request = request
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(KeyType::from(key_type))
                    .build()
                    .map_err(|e| build_error(res, "key schema", e))?,
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::from(kind.as_str()))
                    .build()
                    .map_err(|e| build_error(res, "attribute definition", e))?,
            );
    }
    request
        .send()
        .await
        .map_err(|e| Error::aws(res, "CreateTable", e))?;
    Ok(())
}

#[async_trait]
impl Provider for TableProvider {
    fn holds_data(&self) -> bool {
        true
    }

    fn kind(&self) -> Kind {
        Kind::Table
    }

    fn dependencies(&self, _spec: &Spec, _name: &str) -> Vec<ResourceId> {
        Vec::new()
    }

    fn desired(&self, ctx: &Ctx, name: &str, _known: &Known) -> Props {
        let Some(t) = ctx.spec.tables.get(name) else {
            return Props::new();
        };
        let keys = key_elements(t);
        let schema: Vec<(&str, &str)> = keys.iter().map(|(n, kt, _)| (*n, *kt)).collect();
        let defs: Vec<(&str, &str)> = keys.iter().map(|(n, _, k)| (*n, k.as_str())).collect();
        Props::from([
            ("key_schema".into(), key_schema_value(&schema).into()),
            (
                "attribute_definitions".into(),
                attribute_definitions_value(&defs).into(),
            ),
            ("billing_mode".into(), billing_mode_str(t.billing).into()),
            (
                "point_in_time_recovery".into(),
                t.point_in_time_recovery.into(),
            ),
            (
                "ttl_attribute".into(),
                t.ttl_attribute
                    .clone()
                    .map(Value::String)
                    .unwrap_or(Value::Null)
                    .into(),
            ),
            ("deletion_protection".into(), t.deletion_protection.into()),
            ("stream".into(), stream::desired_value(t.stream).into()),
            ("tags".into(), desired_tags(ctx).into()),
        ])
    }

    async fn read(&self, ctx: &Ctx, name: &str) -> Result<Option<Live>, Error> {
        let res = resource(name);
        let physical = ctx.physical_name(name);
        let Some(table) = describe(ctx, &res, &physical).await? else {
            return Ok(None);
        };
        // A table on its way out is as good as gone: `create` waits for it to disappear.
        if table.table_status() == Some(&TableStatus::Deleting) {
            return Ok(None);
        }
        let arn = arn_of(&res, &table)?;
        let mut props = described_props(&table);
        props.insert("stream".into(), stream::stream_value(&table));

        let backups = ctx
            .aws
            .dynamodb
            .describe_continuous_backups()
            .table_name(&physical)
            .send()
            .await
            .map_err(|e| Error::aws(&res, "DescribeContinuousBackups", e))?;
        let pitr = backups
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|p| p.point_in_time_recovery_status())
            == Some(&PointInTimeRecoveryStatus::Enabled);
        props.insert("point_in_time_recovery".into(), Value::Bool(pitr));

        let ttl = ctx
            .aws
            .dynamodb
            .describe_time_to_live()
            .table_name(&physical)
            .send()
            .await
            .map_err(|e| Error::aws(&res, "DescribeTimeToLive", e))?;
        let ttl = ttl.time_to_live_description();
        props.insert(
            "ttl_attribute".into(),
            ttl_value(
                ttl.and_then(|t| t.time_to_live_status()),
                ttl.and_then(|t| t.attribute_name()),
            ),
        );

        let tags = table_tags(ctx, &res, &arn).await?;
        props.insert("tags".into(), live_managed_tags(ctx, &tags));
        Ok(Some(Live {
            props,
            outputs: outputs(&physical, &arn, &table),
            owned: ctx.is_owned(&tags),
        }))
    }

    async fn create(&self, ctx: &Ctx, name: &str, _known: &Known) -> Result<Outputs, Error> {
        let res = resource(name);
        let physical = ctx.physical_name(name);
        let t = declared(&ctx.spec.tables, name)?;
        match create_table(ctx, &res, &physical, t).await {
            Ok(()) => {}
            // The previous incarnation is still being deleted: wait it out, then create.
            Err(e) if e.code() == Some("ResourceInUseException") => {
                match describe(ctx, &res, &physical).await? {
                    Some(d) if d.table_status() == Some(&TableStatus::Deleting) => {
                        wait_gone(ctx, &res, &physical).await?;
                        create_table(ctx, &res, &physical, t).await?;
                    }
                    None => create_table(ctx, &res, &physical, t).await?,
                    Some(_) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
        let table = wait_active(ctx, &res, &physical).await?;
        if t.point_in_time_recovery {
            set_pitr(ctx, &res, &physical, true).await?;
        }
        if let Some(attribute) = &t.ttl_attribute {
            set_ttl(ctx, &res, &physical, attribute, true).await?;
        }
        Ok(outputs(&physical, &arn_of(&res, &table)?, &table))
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
        let physical = ctx.physical_name(name);
        let arn = live.output(&res, "arn", "ARN")?;

        // Refuse before changing anything else, so a refused plan leaves the table untouched.
        if let Some(c) = changes
            .iter()
            .find(|c| c.attribute == "key_schema" || c.attribute == "attribute_definitions")
        {
            return Err(Error::Refused(format!(
                "{res}: changing the key schema requires replacing the table and its data; \
                 orderflow will not do that — the live table {physical} has {} = {}, the spec wants {}. \
                 Restore the key in pipeline.yaml, or declare a new table under another name and migrate the data yourself",
                c.attribute,
                c.old.clone().unwrap_or(Value::Null),
                c.new
            )));
        }

        let mut table_update = ctx.aws.dynamodb.update_table().table_name(&physical);
        let mut update_table = false;
        let mut pitr = None;
        let mut ttl: Option<(Option<String>, Option<String>)> = None;
        let mut tags = None;
        let mut stream_change = None;
        for change in changes {
            let value = known_value(&res, change)?;
            match change.attribute.as_str() {
                "billing_mode" => {
                    let mode = value.as_str().unwrap_or_default();
                    table_update = table_update.billing_mode(BillingMode::from(mode));
                    update_table = true;
                }
                "deletion_protection" => {
                    table_update =
                        table_update.deletion_protection_enabled(value.as_bool().unwrap_or(false));
                    update_table = true;
                }
                "point_in_time_recovery" => pitr = Some(value.as_bool().unwrap_or(false)),
                "ttl_attribute" => {
                    let old = change
                        .old
                        .as_ref()
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    ttl = Some((old, value.as_str().map(str::to_string)));
                }
                "tags" => tags = Some(tags_to_set(value, change.old.as_ref())),
                "stream" => stream_change = Some((change.old.clone(), !value.is_null())),
                other => return Err(unknown_attribute(&res, other)),
            }
        }

        if update_table {
            // UpdateTable is refused while a previous change is still in progress.
            wait_active(ctx, &res, &physical).await?;
            table_update
                .send()
                .await
                .map_err(|e| Error::aws(&res, "UpdateTable", e))?;
            wait_active(ctx, &res, &physical).await?;
        }
        if let Some((old, enabled)) = &stream_change {
            stream::set_stream(ctx, &res, &physical, old.as_ref(), *enabled).await?;
        }
        if let Some(enabled) = pitr {
            set_pitr(ctx, &res, &physical, enabled).await?;
        }
        if let Some((old, new)) = ttl {
            // Only one attribute can have TTL; a rename disables the old one first.
            if let Some(old) = &old {
                set_ttl(ctx, &res, &physical, old, false).await?;
            }
            if let Some(new) = &new {
                set_ttl(ctx, &res, &physical, new, true).await.map_err(|e| {
                    match (&old, e) {
                        (
                            Some(old),
                            Error::Aws {
                                resource,
                                action,
                                code,
                                message,
                            },
                        ) => Error::Aws {
                            resource,
                            action,
                            code,
                            message: format!(
                                "{message} (time to live on `{old}` was disabled; enabling it on `{new}` has to wait)"
                            ),
                        },
                        (_, e) => e,
                    }
                })?;
            }
        }
        if let Some(set) = tags.filter(|s| !s.is_empty()) {
            ctx.aws
                .dynamodb
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(dynamo_tags(&res, &set)?))
                .send()
                .await
                .map_err(|e| Error::aws(&res, "TagResource", e))?;
        }
        if stream_change.is_some() {
            // A new stream has a new ARN.
            let table = wait_active(ctx, &res, &physical).await?;
            return Ok(outputs(&physical, arn, &table));
        }
        Ok(live.outputs.clone())
    }

    async fn discover(&self, ctx: &Ctx) -> Result<Vec<Discovered>, Error> {
        let res = format!("{}.*", Kind::Table);
        let prefix = format!("{}-", ctx.spec.stack);
        let mut names = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let out = ctx
                .aws
                .dynamodb
                .list_tables()
                .set_exclusive_start_table_name(start.take())
                .send()
                .await
                .map_err(|e| Error::aws(&res, "ListTables", e))?;
            names.extend(
                out.table_names()
                    .iter()
                    .filter(|n| n.starts_with(&prefix))
                    .cloned(),
            );
            match out.last_evaluated_table_name() {
                Some(last) => start = Some(last.to_string()),
                None => break,
            }
        }
        let mut found = Vec::new();
        for physical in names {
            let Some(logical) = ctx.logical_name(&physical) else {
                continue;
            };
            let item = resource(logical);
            let Some(table) = describe(ctx, &item, &physical).await? else {
                continue;
            };
            let arn = arn_of(&item, &table)?;
            // Deleted between the listing and now: nothing to discover.
            let Some(tags) = absent_as_none(table_tags(ctx, &item, &arn).await, NOT_FOUND)? else {
                continue;
            };
            if ctx.is_owned(&tags) {
                found.push(Discovered {
                    id: ResourceId::new(Kind::Table, logical),
                    physical: physical.clone(),
                    handle: physical,
                });
            }
        }
        Ok(found)
    }

    async fn delete(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
        let res = target.id.to_string();
        let physical = &target.handle;
        let Some(table) = describe(ctx, &res, physical).await? else {
            return Ok(());
        };
        if table.deletion_protection_enabled() == Some(true) {
            return Err(Error::Refused(format!(
                "{res}: table {physical} has deletion protection enabled; set \
                 `deletion_protection: false` for it in pipeline.yaml (declaring it again if you \
                 removed it) and run `orderflow up` first"
            )));
        }
        if table.table_status() != Some(&TableStatus::Deleting) {
            let deleted = retry(
                TABLE_IN_USE,
                |e| e.code() == Some("ResourceInUseException"),
                || async {
                    ctx.aws
                        .dynamodb
                        .delete_table()
                        .table_name(physical)
                        .send()
                        .await
                        .map_err(|e| Error::aws(&res, "DeleteTable", e))
                },
            )
            .await;
            if absent_as_none(deleted, NOT_FOUND)?.is_none() {
                return Ok(());
            }
        }
        wait_gone(ctx, &res, physical).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::model::KeyAttribute;

    fn table(sort_key: bool) -> Table {
        Table {
            partition_key: KeyAttribute {
                name: "pk".into(),
                kind: KeyKind::S,
            },
            sort_key: sort_key.then(|| KeyAttribute {
                name: "created".into(),
                kind: KeyKind::N,
            }),
            billing: Billing::OnDemand,
            point_in_time_recovery: true,
            ttl_attribute: Some("expires".into()),
            deletion_protection: false,
            stream: false,
            change_events: None,
        }
    }

    #[test]
    fn key_schema_puts_the_partition_key_first_and_sorts_definitions() {
        let t = table(true);
        let keys = key_elements(&t);
        let schema: Vec<(&str, &str)> = keys.iter().map(|(n, kt, _)| (*n, *kt)).collect();
        let defs: Vec<(&str, &str)> = keys.iter().map(|(n, _, k)| (*n, k.as_str())).collect();
        assert_eq!(
            key_schema_value(&schema),
            json!([
                {"attribute_name": "pk", "key_type": "HASH"},
                {"attribute_name": "created", "key_type": "RANGE"},
            ])
        );
        assert_eq!(
            attribute_definitions_value(&defs),
            json!([
                {"attribute_name": "created", "attribute_type": "N"},
                {"attribute_name": "pk", "attribute_type": "S"},
            ])
        );
    }

    #[test]
    fn described_table_normalises_to_the_same_shape() {
        let t = TableDescription::builder()
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("created")
                    .key_type(KeyType::Range)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("gsi_key")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("created")
                    .attribute_type(ScalarAttributeType::N)
                    .build()
                    .unwrap(),
            )
            .build();
        let props = described_props(&t);
        assert_eq!(
            props["key_schema"],
            json!([
                {"attribute_name": "pk", "key_type": "HASH"},
                {"attribute_name": "created", "key_type": "RANGE"},
            ])
        );
        // The index-only attribute is not part of the managed key.
        assert_eq!(
            props["attribute_definitions"],
            json!([
                {"attribute_name": "created", "attribute_type": "N"},
                {"attribute_name": "pk", "attribute_type": "S"},
            ])
        );
        // No billing summary: a table that has always been provisioned.
        assert_eq!(props["billing_mode"], json!("PROVISIONED"));
        assert_eq!(props["deletion_protection"], json!(false));
    }

    #[test]
    fn ttl_counts_only_when_enabled_or_enabling() {
        assert_eq!(
            ttl_value(Some(&TimeToLiveStatus::Enabled), Some("expires")),
            json!("expires")
        );
        assert_eq!(
            ttl_value(Some(&TimeToLiveStatus::Enabling), Some("expires")),
            json!("expires")
        );
        assert_eq!(
            ttl_value(Some(&TimeToLiveStatus::Disabled), Some("expires")),
            Value::Null
        );
        assert_eq!(
            ttl_value(Some(&TimeToLiveStatus::Disabling), Some("expires")),
            Value::Null
        );
        assert_eq!(ttl_value(None, None), Value::Null);
    }

    #[test]
    fn ttl_rate_limit_is_explained() {
        let err = explain_ttl_error(Error::Aws {
            resource: "table.orders".into(),
            action: "UpdateTimeToLive".into(),
            code: Some("ValidationException".into()),
            message: "ValidationException: Time to live has been modified multiple times within a fixed interval".into(),
        });
        assert!(err
            .to_string()
            .contains("one time-to-live change per table per hour"));
        let other = explain_ttl_error(Error::Aws {
            resource: "table.orders".into(),
            action: "UpdateTimeToLive".into(),
            code: Some("ValidationException".into()),
            message: "attribute name too long".into(),
        });
        assert!(!other.to_string().contains("per hour"));
    }
}
