//! S3 bucket `<stack>-<name>-<account id>`: tagged at creation (CreateBucket takes tags, so a
//! bucket never exists without its ownership tag), public access blocked, default encryption,
//! versioning, orderflow's lifecycle rule and EventBridge notifications. Lifecycle rules and
//! notification configurations of others on the bucket are kept: orderflow replaces only its own
//! rule (id [`LIFECYCLE_RULE_ID`]) and the EventBridge switch.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint,
    BucketVersioningStatus, CreateBucketConfiguration, Delete, EventBridgeConfiguration,
    ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter,
    NoncurrentVersionExpiration, NotificationConfiguration, ObjectIdentifier,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging,
    VersioningConfiguration,
};
use serde_json::{json, Value};

use crate::error::Error;
use crate::kinds::declared;
use crate::resources::tags::{desired_tags, live_managed_tags, tag_changes};
use crate::resources::{
    known_value, unknown_attribute, Change, Ctx, Discovered, Kind, Known, Live, Outputs, Prop,
    Props, Provider, ResourceId,
};
use crate::spec::model::Bucket;
use crate::spec::Spec;

pub struct BucketProvider;

/// Id of orderflow's rule in the bucket's lifecycle configuration.
pub const LIFECYCLE_RULE_ID: &str = "orderflow";
/// Incomplete multipart uploads (a partner's upload that died halfway) cost storage until
/// aborted; S3 aborts them this many days after they started.
const ABORT_INCOMPLETE_UPLOADS_DAYS: i32 = 7;
/// DeleteObjects takes at most 1000 keys per call.
const DELETE_BATCH: usize = 1000;

const NOT_FOUND: &[&str] = &["NotFound", "NoSuchBucket"];

fn rid(name: &str) -> ResourceId {
    ResourceId::new(Kind::Bucket, name)
}

fn is(e: &Error, codes: &[&str]) -> bool {
    e.code().is_some_and(|c| codes.contains(&c))
}

/// `<stack>-<name>-<account>`, with the account of the credentials in use.
pub async fn bucket_name(ctx: &Ctx, name: &str) -> Result<String, Error> {
    let (_, account) = ctx.partition_and_account(&rid(name).to_string()).await?;
    Ok(format!("{}-{account}", ctx.physical_name(name)))
}

/// The logical name of a bucket of this stack in this account, if `physical` is one.
fn logical_of<'a>(ctx: &Ctx, physical: &'a str, account: &str) -> Option<&'a str> {
    ctx.logical_name(physical)?
        .strip_suffix(account)?
        .strip_suffix('-')
        .filter(|n| !n.is_empty())
}

fn outputs(partition: &str, physical: &str) -> Outputs {
    let arn = format!("arn:{partition}:s3:::{physical}");
    BTreeMap::from([
        ("name".to_string(), physical.to_string()),
        ("objects_arn".to_string(), format!("{arn}/*")),
        ("arn".to_string(), arn),
    ])
}

fn s3_tags(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>, Error> {
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

fn public_access_blocked() -> Value {
    json!({
        "block_public_acls": true,
        "ignore_public_acls": true,
        "block_public_policy": true,
        "restrict_public_buckets": true,
    })
}

/// orderflow's lifecycle rule, normalised.
fn lifecycle_value(expire_after_days: Option<i32>, versioning: bool) -> Value {
    json!({
        "abort_incomplete_uploads_days": ABORT_INCOMPLETE_UPLOADS_DAYS,
        "expire_after_days": expire_after_days,
        "noncurrent_expire_after_days": expire_after_days.filter(|_| versioning),
    })
}

fn live_lifecycle_value(rule: &LifecycleRule) -> Value {
    json!({
        "abort_incomplete_uploads_days": rule
            .abort_incomplete_multipart_upload()
            .and_then(|a| a.days_after_initiation()),
        "expire_after_days": rule.expiration().and_then(|e| e.days()),
        "noncurrent_expire_after_days": rule
            .noncurrent_version_expiration()
            .and_then(|n| n.noncurrent_days()),
    })
}

fn sdk_lifecycle_rule(v: &Value) -> Result<LifecycleRule, Error> {
    let days = |k: &str| v[k].as_i64().and_then(|d| i32::try_from(d).ok());
    let mut b = LifecycleRule::builder()
        .id(LIFECYCLE_RULE_ID)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("").build());
    if let Some(d) = days("abort_incomplete_uploads_days") {
        b = b.abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(d)
                .build(),
        );
    }
    if let Some(d) = days("expire_after_days") {
        b = b.expiration(LifecycleExpiration::builder().days(d).build());
    }
    if let Some(d) = days("noncurrent_expire_after_days") {
        b = b.noncurrent_version_expiration(
            NoncurrentVersionExpiration::builder()
                .noncurrent_days(d)
                .build(),
        );
    }
    b.build()
        .map_err(|e| Error::Other(format!("building the lifecycle rule: {e}")))
}

fn desired_props(ctx: &Ctx, bucket: &Bucket) -> Props {
    let expire = bucket.expire_after_days.and_then(|d| i32::try_from(d).ok());
    Props::from([
        (
            "encryption".into(),
            Prop::Known(json!(bucket.encryption.algorithm())),
        ),
        ("versioning".into(), Prop::Known(json!(bucket.versioning))),
        (
            "public_access_block".into(),
            Prop::Known(public_access_blocked()),
        ),
        (
            "lifecycle".into(),
            Prop::Known(lifecycle_value(expire, bucket.versioning)),
        ),
        ("eventbridge".into(), Prop::Known(json!(true))),
        ("tags".into(), Prop::Known(desired_tags(ctx))),
    ])
}

/// The bucket's tags (none: an empty map); `None` when the bucket is gone. Read once per plan
/// (the bucket's read and discovery share it).
async fn bucket_tags(
    ctx: &Ctx,
    res: &str,
    physical: &str,
) -> Result<Option<BTreeMap<String, String>>, Error> {
    ctx.aws
        .reads
        .cloned("S3.GetBucketTagging", physical, || async {
            match ctx
                .aws
                .s3
                .get_bucket_tagging()
                .bucket(physical)
                .send()
                .await
            {
                Ok(out) => Ok(Some(
                    out.tag_set()
                        .iter()
                        .map(|t| (t.key().to_string(), t.value().to_string()))
                        .collect(),
                )),
                Err(e) => {
                    let e = Error::aws(res, "GetBucketTagging", e);
                    if is(&e, &["NoSuchTagSet"]) {
                        Ok(Some(BTreeMap::new()))
                    } else if is(&e, NOT_FOUND) {
                        Ok(None)
                    } else {
                        Err(e)
                    }
                }
            }
        })
        .await
}

/// Every bucket of the account (ListBuckets), shared while planning.
async fn list_buckets(ctx: &Ctx, res: &str) -> Result<Vec<String>, Error> {
    ctx.aws
        .reads
        .cloned("S3.ListBuckets", "", || async {
            let mut names = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let out = ctx
                    .aws
                    .s3
                    .list_buckets()
                    .prefix(format!("{}-", ctx.spec.stack))
                    .set_continuation_token(token.take())
                    .send()
                    .await
                    .map_err(|e| Error::aws(res, "ListBuckets", e))?;
                names.extend(
                    out.buckets()
                        .iter()
                        .filter_map(|b| b.name().map(str::to_string)),
                );
                match out.continuation_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_string()),
                    _ => return Ok(names),
                }
            }
        })
        .await
}

async fn lifecycle_rules(
    ctx: &Ctx,
    res: &str,
    physical: &str,
) -> Result<Vec<LifecycleRule>, Error> {
    match ctx
        .aws
        .s3
        .get_bucket_lifecycle_configuration()
        .bucket(physical)
        .send()
        .await
    {
        Ok(out) => Ok(out.rules().to_vec()),
        Err(e) => {
            let e = Error::aws(res, "GetBucketLifecycleConfiguration", e);
            if is(&e, &["NoSuchLifecycleConfiguration"]) {
                Ok(Vec::new())
            } else {
                Err(e)
            }
        }
    }
}

async fn notification_configuration(
    ctx: &Ctx,
    res: &str,
    physical: &str,
) -> Result<NotificationConfiguration, Error> {
    let out = ctx
        .aws
        .s3
        .get_bucket_notification_configuration()
        .bucket(physical)
        .send()
        .await
        .map_err(|e| Error::aws(res, "GetBucketNotificationConfiguration", e))?;
    Ok(NotificationConfiguration::builder()
        .set_topic_configurations(out.topic_configurations.clone())
        .set_queue_configurations(out.queue_configurations.clone())
        .set_lambda_function_configurations(out.lambda_function_configurations.clone())
        .set_event_bridge_configuration(out.event_bridge_configuration.clone())
        .build())
}

/// Read every prop of an existing bucket.
async fn read_props(
    ctx: &Ctx,
    res: &str,
    physical: &str,
    tags: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, Value>, Error> {
    let s3 = &ctx.aws.s3;
    let encryption = match s3.get_bucket_encryption().bucket(physical).send().await {
        Ok(out) => out
            .server_side_encryption_configuration()
            .and_then(|c| c.rules().first())
            .and_then(|r| r.apply_server_side_encryption_by_default())
            .map(|d| json!(d.sse_algorithm().as_str()))
            .unwrap_or(Value::Null),
        Err(e) => {
            let e = Error::aws(res, "GetBucketEncryption", e);
            if !is(&e, &["ServerSideEncryptionConfigurationNotFoundError"]) {
                return Err(e);
            }
            Value::Null
        }
    };
    let versioning = s3
        .get_bucket_versioning()
        .bucket(physical)
        .send()
        .await
        .map_err(|e| Error::aws(res, "GetBucketVersioning", e))?
        .status()
        == Some(&BucketVersioningStatus::Enabled);
    let public_access_block = match s3.get_public_access_block().bucket(physical).send().await {
        Ok(out) => {
            let c = out.public_access_block_configuration();
            let flag = |f: Option<bool>| f.unwrap_or(false);
            json!({
                "block_public_acls": flag(c.and_then(|c| c.block_public_acls())),
                "ignore_public_acls": flag(c.and_then(|c| c.ignore_public_acls())),
                "block_public_policy": flag(c.and_then(|c| c.block_public_policy())),
                "restrict_public_buckets": flag(c.and_then(|c| c.restrict_public_buckets())),
            })
        }
        Err(e) => {
            let e = Error::aws(res, "GetPublicAccessBlock", e);
            if !is(&e, &["NoSuchPublicAccessBlockConfiguration"]) {
                return Err(e);
            }
            Value::Null
        }
    };
    let lifecycle = lifecycle_rules(ctx, res, physical)
        .await?
        .iter()
        .find(|r| r.id() == Some(LIFECYCLE_RULE_ID))
        .map(live_lifecycle_value)
        .unwrap_or(Value::Null);
    let eventbridge = notification_configuration(ctx, res, physical)
        .await?
        .event_bridge_configuration()
        .is_some();
    Ok(BTreeMap::from([
        ("encryption".into(), encryption),
        ("versioning".into(), json!(versioning)),
        ("public_access_block".into(), public_access_block),
        ("lifecycle".into(), lifecycle),
        ("eventbridge".into(), json!(eventbridge)),
        ("tags".into(), live_managed_tags(ctx, tags)),
    ]))
}

async fn put_encryption(
    ctx: &Ctx,
    res: &str,
    physical: &str,
    algorithm: &str,
) -> Result<(), Error> {
    let default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::from(algorithm))
        .build()
        .map_err(|e| Error::Other(format!("{res}: {e}")))?;
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(default)
        // S3 Bucket Keys cut SSE-KMS requests to KMS (and their cost) by orders of magnitude.
        .bucket_key_enabled(algorithm == "aws:kms")
        .build();
    let config = ServerSideEncryptionConfiguration::builder()
        .rules(rule)
        .build()
        .map_err(|e| Error::Other(format!("{res}: {e}")))?;
    ctx.aws
        .s3
        .put_bucket_encryption()
        .bucket(physical)
        .server_side_encryption_configuration(config)
        .send()
        .await
        .map_err(|e| Error::aws(res, "PutBucketEncryption", e))?;
    Ok(())
}

async fn put_versioning(ctx: &Ctx, res: &str, physical: &str, on: bool) -> Result<(), Error> {
    let status = if on {
        BucketVersioningStatus::Enabled
    } else {
        BucketVersioningStatus::Suspended
    };
    ctx.aws
        .s3
        .put_bucket_versioning()
        .bucket(physical)
        .versioning_configuration(VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .map_err(|e| Error::aws(res, "PutBucketVersioning", e))?;
    Ok(())
}

async fn put_public_access_block(ctx: &Ctx, res: &str, physical: &str) -> Result<(), Error> {
    ctx.aws
        .s3
        .put_public_access_block()
        .bucket(physical)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(|e| Error::aws(res, "PutPublicAccessBlock", e))?;
    Ok(())
}

/// Replace orderflow's lifecycle rule, keeping every other rule.
async fn put_lifecycle(ctx: &Ctx, res: &str, physical: &str, ours: &Value) -> Result<(), Error> {
    let mut rules: Vec<LifecycleRule> = lifecycle_rules(ctx, res, physical)
        .await?
        .into_iter()
        .filter(|r| r.id() != Some(LIFECYCLE_RULE_ID))
        .collect();
    rules.push(sdk_lifecycle_rule(ours).map_err(|e| Error::Other(format!("{res}: {e}")))?);
    let config = BucketLifecycleConfiguration::builder()
        .set_rules(Some(rules))
        .build()
        .map_err(|e| Error::Other(format!("{res}: {e}")))?;
    ctx.aws
        .s3
        .put_bucket_lifecycle_configuration()
        .bucket(physical)
        .lifecycle_configuration(config)
        .send()
        .await
        .map_err(|e| Error::aws(res, "PutBucketLifecycleConfiguration", e))?;
    Ok(())
}

/// Turn S3's EventBridge notifications on, keeping the bucket's other notifications.
async fn put_eventbridge(ctx: &Ctx, res: &str, physical: &str) -> Result<(), Error> {
    let current = notification_configuration(ctx, res, physical).await?;
    let config = NotificationConfiguration::builder()
        .set_topic_configurations(current.topic_configurations)
        .set_queue_configurations(current.queue_configurations)
        .set_lambda_function_configurations(current.lambda_function_configurations)
        .event_bridge_configuration(EventBridgeConfiguration::builder().build())
        .build();
    ctx.aws
        .s3
        .put_bucket_notification_configuration()
        .bucket(physical)
        .notification_configuration(config)
        .send()
        .await
        .map_err(|e| Error::aws(res, "PutBucketNotificationConfiguration", e))?;
    Ok(())
}

async fn put_tags(
    ctx: &Ctx,
    res: &str,
    physical: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(), Error> {
    let tagging = Tagging::builder()
        .set_tag_set(Some(s3_tags(tags)?))
        .build()
        .map_err(|e| Error::Other(format!("{res}: {e}")))?;
    ctx.aws
        .s3
        .put_bucket_tagging()
        .bucket(physical)
        .tagging(tagging)
        .send()
        .await
        .map_err(|e| Error::aws(res, "PutBucketTagging", e))?;
    Ok(())
}

/// One page of object versions and delete markers: (key, version id).
async fn versions_page(
    ctx: &Ctx,
    res: &str,
    physical: &str,
    max: i32,
) -> Result<Vec<(String, Option<String>)>, Error> {
    let out = ctx
        .aws
        .s3
        .list_object_versions()
        .bucket(physical)
        .max_keys(max)
        .send()
        .await
        .map_err(|e| Error::aws(res, "ListObjectVersions", e))?;
    let versions = out
        .versions()
        .iter()
        .filter_map(|v| Some((v.key()?.to_string(), v.version_id().map(str::to_string))));
    let markers = out
        .delete_markers()
        .iter()
        .filter_map(|m| Some((m.key()?.to_string(), m.version_id().map(str::to_string))));
    Ok(versions.chain(markers).collect())
}

/// Delete every object version and delete marker, a page at a time (the listing restarts from
/// the beginning each time: what was deleted is gone from it).
async fn empty_bucket(ctx: &Ctx, res: &str, physical: &str) -> Result<(), Error> {
    loop {
        let page = versions_page(ctx, res, physical, DELETE_BATCH as i32).await?;
        if page.is_empty() {
            return Ok(());
        }
        let objects: Vec<ObjectIdentifier> = page
            .into_iter()
            .map(|(key, version)| {
                ObjectIdentifier::builder()
                    .key(key)
                    .set_version_id(version.filter(|v| v != "null"))
                    .build()
                    .map_err(|e| Error::Other(format!("{res}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| Error::Other(format!("{res}: {e}")))?;
        let out = ctx
            .aws
            .s3
            .delete_objects()
            .bucket(physical)
            .delete(delete)
            .send()
            .await
            .map_err(|e| Error::aws(res, "DeleteObjects", e))?;
        if let Some(err) = out.errors().first() {
            return Err(Error::Aws {
                resource: res.to_string(),
                action: "DeleteObjects".into(),
                code: err.code().map(str::to_string),
                message: format!(
                    "{}: {}: {}",
                    err.key().unwrap_or("?"),
                    err.code().unwrap_or("error"),
                    err.message().unwrap_or("no message")
                ),
            });
        }
    }
}

#[async_trait]
impl Provider for BucketProvider {
    fn kind(&self) -> Kind {
        Kind::Bucket
    }

    fn dependencies(&self, _spec: &Spec, _name: &str) -> Vec<ResourceId> {
        Vec::new()
    }

    fn desired(&self, ctx: &Ctx, name: &str, _known: &Known) -> Props {
        match ctx.spec.buckets.get(name) {
            Some(b) => desired_props(ctx, b),
            None => Props::new(),
        }
    }

    async fn read(&self, ctx: &Ctx, name: &str) -> Result<Option<Live>, Error> {
        let res = rid(name).to_string();
        let physical = bucket_name(ctx, name).await?;
        let (partition, _) = ctx.partition_and_account(&res).await?;
        match ctx.aws.s3.head_bucket().bucket(&physical).send().await {
            Ok(_) => {}
            Err(e) => {
                let e = Error::aws(&res, "HeadBucket", e);
                if is(&e, NOT_FOUND) {
                    return Ok(None);
                }
                return Err(e);
            }
        }
        let Some(tags) = bucket_tags(ctx, &res, &physical).await? else {
            return Ok(None);
        };
        let owned = ctx.is_owned(&tags);
        // Not ours: only what the refusal needs.
        let props = if owned {
            read_props(ctx, &res, &physical, &tags).await?
        } else {
            BTreeMap::from([("tags".into(), live_managed_tags(ctx, &tags))])
        };
        Ok(Some(Live {
            props,
            outputs: outputs(&partition, &physical),
            owned,
        }))
    }

    async fn create(&self, ctx: &Ctx, name: &str, _known: &Known) -> Result<Outputs, Error> {
        let res = rid(name).to_string();
        let bucket = declared(&ctx.spec.buckets, name)?;
        let physical = bucket_name(ctx, name).await?;
        let (partition, _) = ctx.partition_and_account(&res).await?;
        let mut config = CreateBucketConfiguration::builder().set_tags(Some(s3_tags(&ctx.tags())?));
        // us-east-1 is the one region that takes no location constraint.
        if ctx.region != "us-east-1" {
            config =
                config.location_constraint(BucketLocationConstraint::from(ctx.region.as_str()));
        }
        let created = ctx
            .aws
            .s3
            .create_bucket()
            .bucket(&physical)
            .create_bucket_configuration(config.build())
            .send()
            .await;
        if let Err(e) = created {
            let e = Error::aws(&res, "CreateBucket", e);
            // The plan found no bucket of this name: ours, then, created by an attempt the SDK
            // retried after its answer was lost (with the tags the request carried).
            if !is(&e, &["BucketAlreadyOwnedByYou"]) {
                return Err(if is(&e, &["BucketAlreadyExists"]) {
                    Error::Other(format!(
                        "{res}: the bucket name {physical} is taken by another AWS account (bucket names are global); rename the bucket or the stack"
                    ))
                } else {
                    e
                });
            }
        }
        let props = desired_props(ctx, bucket);
        put_public_access_block(ctx, &res, &physical).await?;
        put_encryption(ctx, &res, &physical, bucket.encryption.algorithm()).await?;
        if bucket.versioning {
            put_versioning(ctx, &res, &physical, true).await?;
        }
        if let Some(Prop::Known(lifecycle)) = props.get("lifecycle") {
            put_lifecycle(ctx, &res, &physical, lifecycle).await?;
        }
        put_eventbridge(ctx, &res, &physical).await?;
        Ok(outputs(&partition, &physical))
    }

    async fn update(
        &self,
        ctx: &Ctx,
        name: &str,
        _known: &Known,
        live: &Live,
        changes: &[Change],
    ) -> Result<Outputs, Error> {
        let res = rid(name).to_string();
        let physical = live.output(&res, "name", "name")?.clone();
        for change in changes {
            let desired = known_value(&res, change)?;
            match change.attribute.as_str() {
                "encryption" => {
                    let algorithm = desired.as_str().unwrap_or("AES256");
                    put_encryption(ctx, &res, &physical, algorithm).await?;
                }
                "versioning" => {
                    put_versioning(ctx, &res, &physical, desired.as_bool() == Some(true)).await?
                }
                "public_access_block" => put_public_access_block(ctx, &res, &physical).await?,
                "lifecycle" => put_lifecycle(ctx, &res, &physical, desired).await?,
                "eventbridge" => put_eventbridge(ctx, &res, &physical).await?,
                "tags" => {
                    // PutBucketTagging replaces the whole set: keep the tags of others.
                    let mut tags = bucket_tags(ctx, &res, &physical).await?.unwrap_or_default();
                    let (set, remove) = tag_changes(live.props.get("tags"), &ctx.tags());
                    for k in remove {
                        tags.remove(&k);
                    }
                    tags.extend(set);
                    put_tags(ctx, &res, &physical, &tags).await?;
                }
                other => return Err(unknown_attribute(&res, other)),
            }
        }
        Ok(live.outputs.clone())
    }

    async fn discover(&self, ctx: &Ctx) -> Result<Vec<Discovered>, Error> {
        let res = format!("{}.*", Kind::Bucket);
        let (_, account) = ctx.partition_and_account(&res).await?;
        let mut found = Vec::new();
        for physical in list_buckets(ctx, &res).await? {
            let Some(logical) = logical_of(ctx, &physical, &account) else {
                continue;
            };
            // Deleted between the listing and now: nothing to discover.
            let Some(tags) = bucket_tags(ctx, &res, &physical).await? else {
                continue;
            };
            if ctx.is_owned(&tags) {
                found.push(Discovered {
                    id: rid(logical),
                    physical: physical.clone(),
                    handle: physical,
                });
            }
        }
        Ok(found)
    }

    /// A bucket is found again until HeadBucket says it is gone.
    async fn still_visible(&self, ctx: &Ctx, target: &Discovered) -> Result<bool, Error> {
        match ctx.aws.s3.head_bucket().bucket(&target.handle).send().await {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = Error::aws(&target.id, "HeadBucket", e);
                if is(&e, NOT_FOUND) {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }

    fn holds_data(&self) -> bool {
        true
    }

    /// Any object version or delete marker is data.
    async fn holds_data_now(&self, ctx: &Ctx, target: &Discovered) -> Result<bool, Error> {
        match versions_page(ctx, &target.id.to_string(), &target.handle, 1).await {
            Ok(page) => Ok(!page.is_empty()),
            Err(e) if is(&e, NOT_FOUND) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// DeleteBucket alone: S3 refuses it for a bucket with objects, so objects written since
    /// the plan found it empty are never deleted without `--delete-data`.
    async fn delete(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
        let res = target.id.to_string();
        match ctx
            .aws
            .s3
            .delete_bucket()
            .bucket(&target.handle)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = Error::aws(&res, "DeleteBucket", e);
                if is(&e, NOT_FOUND) {
                    Ok(())
                } else if is(&e, &["BucketNotEmpty"]) {
                    Err(Error::Other(format!(
                        "{res}: bucket {} received objects since the plan found it empty: kept; run again, or pass --delete-data to delete it with its objects",
                        target.handle
                    )))
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn delete_with_data(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
        let res = target.id.to_string();
        match empty_bucket(ctx, &res, &target.handle).await {
            Err(e) if is(&e, NOT_FOUND) => return Ok(()),
            other => other?,
        }
        self.delete(ctx, target).await
    }

    fn display_name(&self, ctx: &Ctx, name: &str) -> String {
        match ctx.aws.caller.lock().expect("caller lock").as_ref() {
            Some((_, account)) => format!("{}-{account}", ctx.physical_name(name)),
            None => format!("{}-<account>", ctx.physical_name(name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::test_support::{spec, test_ctx};

    #[test]
    fn a_physical_name_is_read_back_only_for_this_stack_and_account() {
        let ctx = test_ctx(spec());
        assert_eq!(
            logical_of(&ctx, "shop-imports-123456789012", "123456789012"),
            Some("imports")
        );
        assert_eq!(logical_of(&ctx, "shop-imports-999", "123456789012"), None);
        assert_eq!(
            logical_of(&ctx, "shopx-imports-123456789012", "123456789012"),
            None
        );
        assert_eq!(logical_of(&ctx, "shop-123456789012", "123456789012"), None);
    }

    #[test]
    fn the_lifecycle_rule_round_trips_through_the_sdk_form() {
        for (expire, versioning) in [(None, false), (Some(30), false), (Some(7), true)] {
            let desired = lifecycle_value(expire, versioning);
            let rule = sdk_lifecycle_rule(&desired).unwrap();
            assert_eq!(rule.id(), Some(LIFECYCLE_RULE_ID));
            assert_eq!(live_lifecycle_value(&rule), desired);
        }
        assert_eq!(
            lifecycle_value(Some(7), true)["noncurrent_expire_after_days"],
            json!(7)
        );
        assert_eq!(
            lifecycle_value(Some(7), false)["noncurrent_expire_after_days"],
            Value::Null
        );
    }

    #[test]
    fn outputs_name_the_bucket_and_its_objects() {
        let o = outputs("aws", "shop-imports-1");
        assert_eq!(o["arn"], "arn:aws:s3:::shop-imports-1");
        assert_eq!(o["objects_arn"], "arn:aws:s3:::shop-imports-1/*");
    }
}
