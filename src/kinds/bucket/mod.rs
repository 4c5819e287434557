//! `buckets:` — S3 buckets `<stack>-<name>-<account id>` (bucket names are global across every
//! AWS account, so the account id keeps two accounts' stacks from colliding), always with their
//! public access blocked, default encryption, EventBridge notifications on (S3 sends every
//! object event to the account's `default` bus, where rules match them), and orderflow's
//! lifecycle rule: incomplete multipart uploads aborted after 7 days, objects expired after
//! `expire_after_days` when set.
//!
//! `down`, and `up` for an undeclared bucket, delete a bucket only while it holds no objects
//! (no object versions either), unless `--delete-data` is given: then it is emptied first.

pub(crate) mod provider;

pub use provider::BucketProvider;

use super::{Kind, KindSpec, Section};
use crate::resources::ResourceId;
use crate::spec::decode::{Checker, Fields};
use crate::spec::schema::{Field, NameLimit, VerbDef};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BucketEncryption {
    /// SSE-S3 (AES256), S3's default.
    #[default]
    S3Managed,
    /// SSE-KMS with the AWS managed key `aws/s3`.
    KmsManaged,
}

impl BucketEncryption {
    /// The `SSEAlgorithm` S3 reports.
    pub fn algorithm(self) -> &'static str {
        match self {
            BucketEncryption::S3Managed => "AES256",
            BucketEncryption::KmsManaged => "aws:kms",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Bucket {
    pub encryption: BucketEncryption,
    /// Keep every version of every object (S3 versioning; once on, `false` suspends it).
    pub versioning: bool,
    /// Days after which objects (and noncurrent versions) expire; none: kept.
    pub expire_after_days: Option<u32>,
}

const ENCRYPTION: Field = Field::choice(
    "encryption",
    &["s3-managed", "kms-managed"],
    Some("s3-managed"),
    "Default encryption: `s3-managed` (SSE-S3) or `kms-managed` (SSE-KMS with the AWS managed key aws/s3).",
);
const VERSIONING: Field = Field::boolean(
    "versioning",
    false,
    "Keep every version of every object; `false` after `true` suspends versioning (S3 cannot turn it off).",
);
const EXPIRE_AFTER_DAYS: Field = Field::integer(
    "expire_after_days",
    1,
    36_500,
    " days",
    None,
    "Delete objects (and noncurrent versions) this many days after they were written; absent: kept.",
);

impl KindSpec for Bucket {
    const SECTION: Section = Section::Bucket;
    const SINGULAR: &'static str = "bucket";
    const DOC: &'static str = "S3 buckets (`<stack>-<name>-<account id>`): private, encrypted, announcing object events on the default EventBridge bus.";
    const RESOURCE: Kind = Kind::Bucket;
    const FIELDS: &'static [Field] = &[ENCRYPTION, VERSIONING, EXPIRE_AFTER_DAYS];
    const ATTRIBUTES: &'static [&'static str] = &["name", "arn"];
    const SHOWN_OUTPUT: Option<&'static str> = Some("name");
    const VERBS: &'static [VerbDef] = &[
        VerbDef {
            name: "read",
            actions: &["s3:GetObject"],
            doc: "`s3:GetObject` on the bucket's objects",
        },
        VerbDef {
            name: "write",
            actions: &["s3:PutObject"],
            doc: "`s3:PutObject` on the bucket's objects",
        },
    ];
    const GRANT_ATTRIBUTE: &'static str = "objects_arn";
    // 63, less the `-<12-digit account id>` suffix.
    const PHYSICAL_NAME: Option<NameLimit> = Some(NameLimit {
        min: 3,
        max: 50,
        what: "S3 bucket names (63 characters with the `-<account id>` suffix)",
    });

    fn decode(cx: &mut Checker<'_, '_>, f: &Fields<'_>, _name: &str) -> Bucket {
        let encryption = match cx.choice_or_default(f, &ENCRYPTION) {
            "kms-managed" => BucketEncryption::KmsManaged,
            _ => BucketEncryption::S3Managed,
        };
        Bucket {
            encryption,
            versioning: cx.boolean(f, &VERSIONING),
            expire_after_days: cx.int(f, &EXPIRE_AFTER_DAYS),
        }
    }

    fn resources(&self, name: &str, out: &mut Vec<ResourceId>) {
        out.push(ResourceId::new(Kind::Bucket, name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::test_support::errors;

    #[test]
    fn a_bucket_decodes_with_defaults_and_settings() {
        let spec = crate::spec::parse(
            "p.yaml",
            "stack: shop\nbuckets:\n  plain: {}\n  kept: { encryption: kms-managed, versioning: true, expire_after_days: 30 }\n",
        )
        .expect("valid");
        assert_eq!(spec.buckets["plain"], Bucket::default());
        assert_eq!(
            spec.buckets["kept"],
            Bucket {
                encryption: BucketEncryption::KmsManaged,
                versioning: true,
                expire_after_days: Some(30),
            }
        );
    }

    #[test]
    fn wrong_buckets_are_reported_with_positions() {
        let all = errors(
            "stack: shop\nbuckets:\n  b: { encryption: public, expire_after_days: 0 }\n  a-name-that-is-far-too-long-for-a-bucket-name-x: {}\n",
        )
        .join("\n");
        assert!(all.contains("p.yaml:3:20: buckets.b.encryption"), "{all}");
        assert!(all.contains("buckets.b.expire_after_days"), "{all}");
        assert!(all.contains("S3 bucket names"), "{all}");
    }
}
