//! The provider interface between the engine (`plan`, `apply`) and the resource kinds: the engine
//! only talks to [`Provider`]; each kind's providers live with the kind (`crate::kinds`).
//!
//! Desired and live state are compared as flat property maps ([`Props`]) so that `plan` can print
//! every changed attribute (old → new) without knowing the kind.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use crate::aws::Clients;
use crate::error::Error;
use crate::spec::model::{Ref, Spec, Template, TemplatePart};

pub(crate) mod iam_role;
pub mod policy;
pub mod reads;
pub mod resource_policy;
pub mod tag_index;
pub mod tags;

pub use crate::kinds::Kind;

/// Identity of one resource in the graph: its kind and logical name.
///
/// Logical names of derived resources: a function's role is named after the function;
/// a queue policy after its queue; a permission is `<rule>/<function>`; an event source
/// mapping after its trigger.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct ResourceId {
    pub kind: Kind,
    pub name: String,
}

impl ResourceId {
    pub fn new(kind: Kind, name: impl Into<String>) -> Self {
        ResourceId {
            kind,
            name: name.into(),
        }
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind, self.name)
    }
}

/// One attribute value of desired state: known, or only known once a dependency exists.
#[derive(Debug, Clone, PartialEq)]
pub enum Prop {
    Known(Value),
    /// Depends on a resource that does not exist yet ("known after apply").
    Unknown,
}

impl fmt::Display for Prop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Prop::Known(Value::String(s)) => write!(f, "{s:?}"),
            Prop::Known(v) => write!(f, "{v}"),
            Prop::Unknown => f.write_str("(known after apply)"),
        }
    }
}

impl<T: Into<Value>> From<T> for Prop {
    fn from(v: T) -> Self {
        Prop::Known(v.into())
    }
}

/// Attribute name → value. Only attributes orderflow manages appear.
pub type Props = BTreeMap<String, Prop>;

/// What a created or existing resource exposes to others: `name`, `arn`, `url` (queues).
pub type Outputs = BTreeMap<String, String>;

/// Outputs of every resource known so far (existing ones after `read`, new ones after `create`).
pub type Known = HashMap<ResourceId, Outputs>;

/// Live state of a declared resource, as read from AWS.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// Same keys as the provider's `desired`, with the values AWS reports.
    pub props: BTreeMap<String, Value>,
    pub outputs: Outputs,
    /// Carries this stack's ownership tag (or is provably this stack's, for untaggable kinds).
    pub owned: bool,
}

impl Live {
    /// An output an update needs (`arn`, `url`); `what` names it in the error (`ARN`).
    pub(crate) fn output(&self, resource: &str, key: &str, what: &str) -> Result<&String, Error> {
        self.outputs
            .get(key)
            .ok_or_else(|| Error::Other(format!("{resource}: live state has no {what}")))
    }
}

/// A resource found in AWS that carries this stack's ownership tag.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Discovered {
    pub id: ResourceId,
    /// Physical name shown to the user.
    pub physical: String,
    /// What the provider needs to delete it (queue URL, mapping UUID, "bus/rule", ...).
    pub handle: String,
}

/// One changed attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub attribute: String,
    pub old: Option<Value>,
    pub new: Prop,
}

/// Attributes whose desired value differs from the live one. Live attributes that are
/// not desired are ignored (they are not orderflow's to manage).
pub fn diff(desired: &Props, live: &BTreeMap<String, Value>) -> Vec<Change> {
    desired
        .iter()
        .filter_map(|(attribute, want)| {
            let have = live.get(attribute);
            let same = matches!((want, have), (Prop::Known(w), Some(h)) if w == h);
            (!same).then(|| Change {
                attribute: attribute.clone(),
                old: have.cloned(),
                new: want.clone(),
            })
        })
        .collect()
}

/// Everything a provider needs: the spec, clients, built function artifacts.
pub struct Ctx {
    pub spec: Arc<Spec>,
    pub aws: Clients,
    pub region: String,
    /// Built function packages by function logical name (filled by `up`, empty for `plan`).
    pub artifacts: HashMap<String, crate::build::Artifact>,
    /// How many resources are read or changed at once (`--parallelism`).
    pub parallelism: usize,
}

/// Default of `--parallelism`: Terraform's default, small enough that a large pipeline on real
/// AWS slows down under its API rate limits instead of failing.
pub const DEFAULT_PARALLELISM: u16 = 10;

impl Ctx {
    /// Physical name of a declared resource: `<stack>-<logical>`.
    pub fn physical_name(&self, logical: &str) -> String {
        physical_name(&self.spec.stack, logical)
    }

    /// Tags for every taggable resource: the spec's tags plus the ownership tag.
    pub fn tags(&self) -> BTreeMap<String, String> {
        let mut tags = self.spec.tags.clone();
        tags.insert(
            crate::spec::model::OWNERSHIP_TAG.to_string(),
            self.spec.stack.clone(),
        );
        tags
    }

    /// Does this tag set (a map, or any key–value pairs) mark the resource as this stack's?
    pub fn is_owned<K, V>(&self, tags: impl IntoIterator<Item = (K, V)>) -> bool
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        tags.into_iter().any(|(k, v)| {
            k.as_ref() == crate::spec::model::OWNERSHIP_TAG && v.as_ref() == self.spec.stack
        })
    }

    /// Partition and account of the credentials in use, for ARNs that services do not report
    /// (API Gateway, SES identities). Learnt from the ARN of the region's `default` event bus —
    /// every account has one, and orderflow's deployer reads EventBridge anyway — once per run.
    pub async fn partition_and_account(&self, resource: &str) -> Result<(String, String), Error> {
        if let Some(known) = self.aws.caller.lock().expect("caller lock").clone() {
            return Ok(known);
        }
        let out = self
            .aws
            .events
            .describe_event_bus()
            .name("default")
            .send()
            .await
            .map_err(|e| Error::aws(resource, "DescribeEventBus", e))?;
        let arn = out.arn().unwrap_or_default();
        let parsed = policy::parse_arn(arn)
            .filter(|a| !a.account.is_empty())
            .ok_or_else(|| {
                Error::Other(format!(
                    "{resource}: cannot tell the account from the default event bus ARN {arn:?}"
                ))
            })?;
        let known = (parsed.partition.to_string(), parsed.account.to_string());
        *self.aws.caller.lock().expect("caller lock") = Some(known.clone());
        Ok(known)
    }

    /// Logical name of a physical one, if it carries this stack's prefix.
    pub fn logical_name<'a>(&self, physical: &'a str) -> Option<&'a str> {
        physical
            .strip_prefix(self.spec.stack.as_str())
            .and_then(|rest| rest.strip_prefix('-'))
            .filter(|rest| !rest.is_empty())
    }
}

/// The desired value of a changed attribute, or an error if it is still unknown (the engine only
/// calls create/update once every dependency exists, so this is a bug, not a user error).
pub(crate) fn known_value<'a>(resource: &str, change: &'a Change) -> Result<&'a Value, Error> {
    match &change.new {
        Prop::Known(v) => Ok(v),
        Prop::Unknown => Err(Error::Other(format!(
            "{resource}: attribute `{}` is still unknown at apply time",
            change.attribute
        ))),
    }
}

/// An update was asked to change an attribute the provider does not manage (a bug: `desired`
/// and `update` disagree).
pub(crate) fn unknown_attribute(resource: &str, attribute: &str) -> Error {
    Error::Other(format!(
        "{resource}: don't know how to update attribute `{attribute}`"
    ))
}

/// An optional text (a description, a display name) as a prop. Services report an unset one as
/// absent or as "", depending on the API; both mean none (`null`).
pub(crate) fn text_value(text: Option<&str>) -> Value {
    match text {
        Some(s) if !s.is_empty() => Value::String(s.to_string()),
        _ => Value::Null,
    }
}

/// `Ok(None)` when the call failed with one of `codes` (the service's "it does not exist"
/// answers); any other error passes through.
pub(crate) fn absent_as_none<T>(
    result: Result<T, Error>,
    codes: &[&str],
) -> Result<Option<T>, Error> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.code().is_some_and(|c| codes.contains(&c)) => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn physical_name(stack: &str, logical: &str) -> String {
    format!("{stack}-{logical}")
}

/// Graph id of the resource a reference points at.
pub fn ref_target(r: &Ref) -> ResourceId {
    ResourceId::new(r.kind.resource(), r.name.clone())
}

/// Value of one reference, if the target is known.
pub fn resolve_ref(r: &Ref, known: &Known) -> Option<String> {
    known.get(&ref_target(r))?.get(r.attribute).cloned()
}

/// Render a template, or `Prop::Unknown` if any reference is not known yet.
pub fn resolve_template(t: &Template, known: &Known) -> Prop {
    let mut out = String::new();
    for part in &t.parts {
        match part {
            TemplatePart::Literal(s) => out.push_str(s),
            TemplatePart::Ref(r) => match resolve_ref(r, known) {
                Some(v) => out.push_str(&v),
                None => return Prop::Unknown,
            },
        }
    }
    Prop::Known(Value::String(out))
}

/// Output value of a dependency (`arn`, `url`, `name`) as a Prop.
pub fn output(known: &Known, id: &ResourceId, key: &str) -> Prop {
    match output_value(known, id, key) {
        Some(v) => Prop::Known(Value::String(v)),
        None => Prop::Unknown,
    }
}

/// Output value of a dependency, if it exists yet.
pub fn output_value(known: &Known, id: &ResourceId, key: &str) -> Option<String> {
    known.get(id).and_then(|o| o.get(key)).cloned()
}

/// A resource kind: how to read, create, update, delete and discover it.
///
/// Contract:
/// - `desired` is pure: it computes attributes from the spec and the outputs of dependencies
///   (`Prop::Unknown` where a dependency does not exist yet).
/// - `read` returns `None` when the resource does not exist; it issues only read calls.
/// - `create`/`update` wait until the resource is usable (waiters), retry what real AWS makes
///   transient (IAM propagation, update in progress, ...) and return the resource's outputs.
/// - `update` receives the changed attributes and only calls the APIs that change them.
/// - `discover` lists the resources of this kind carrying this stack's ownership tag.
/// - `delete` treats "already gone" as success.
#[async_trait]
pub trait Provider: Send + Sync {
    fn kind(&self) -> Kind;

    /// Graph ids this resource needs to exist first.
    fn dependencies(&self, spec: &Spec, name: &str) -> Vec<ResourceId>;

    fn desired(&self, ctx: &Ctx, name: &str, known: &Known) -> Props;

    async fn read(&self, ctx: &Ctx, name: &str) -> Result<Option<Live>, Error>;

    async fn create(&self, ctx: &Ctx, name: &str, known: &Known) -> Result<Outputs, Error>;

    async fn update(
        &self,
        ctx: &Ctx,
        name: &str,
        known: &Known,
        live: &Live,
        changes: &[Change],
    ) -> Result<Outputs, Error>;

    async fn discover(&self, ctx: &Ctx) -> Result<Vec<Discovered>, Error>;

    async fn delete(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error>;

    /// Does AWS still answer for a resource `delete` just removed? The engine polls this after
    /// each deletion until it says no, so `down` does not report done, and the next `up` does
    /// not read a ghost, while the deletion settles (SQS documents up to 60 s for a queue).
    /// Default: discovery still lists it. Kinds whose reads lag override it with those reads.
    async fn still_visible(&self, ctx: &Ctx, target: &Discovered) -> Result<bool, Error> {
        Ok(self.discover(ctx).await?.contains(target))
    }

    /// A discovered resource whose logical name is still declared but that lives somewhere the
    /// declaration no longer puts it (e.g. a rule whose `bus` changed): the old one is deleted.
    fn is_stale(&self, _ctx: &Ctx, _found: &Discovered) -> bool {
        false
    }

    /// Does deleting it lose data (a table)? Such resources are kept by `down` and by `up` when
    /// undeclared, unless `--delete-data` is given.
    fn holds_data(&self) -> bool {
        false
    }

    /// Does deleting this one, now, lose data? By default [`Self::holds_data`]; a bucket asks
    /// whether it holds objects (an empty one is deleted like any other resource).
    async fn holds_data_now(&self, _ctx: &Ctx, _target: &Discovered) -> Result<bool, Error> {
        Ok(self.holds_data())
    }

    /// Delete a resource and the data it holds (`--delete-data`). By default [`Self::delete`]
    /// (deleting a table deletes its items); a bucket is emptied first. `delete` itself never
    /// deletes data that appeared after the plan.
    async fn delete_with_data(&self, ctx: &Ctx, target: &Discovered) -> Result<(), Error> {
        self.delete(ctx, target).await
    }

    /// Name of the resource in AWS, for messages.
    fn display_name(&self, ctx: &Ctx, name: &str) -> String {
        ctx.physical_name(name)
    }

    /// What to tell the user when the resource exists without this stack's ownership tag, where
    /// the kind knows better than the generic advice (a log group Lambda created: adopt it).
    fn not_owned_help(&self, _ctx: &Ctx, _name: &str) -> Option<String> {
        None
    }

    /// Why this kind cannot be managed at this endpoint, if so: a custom endpoint (a local
    /// emulator) without the service's API. `plan` and `up` then skip its resources and say so
    /// rather than fail. Always `None` on AWS, where a missing API is an error. Default: `None`.
    async fn unsupported(&self, _ctx: &Ctx) -> Result<Option<String>, Error> {
        Ok(None)
    }
}

/// The refusal to manage `id`, which exists as `physical` without this stack's ownership tag.
pub(crate) fn not_owned(ctx: &Ctx, id: &ResourceId, physical: &str) -> Error {
    let help = id
        .kind
        .provider()
        .not_owned_help(ctx, &id.name)
        .unwrap_or_else(|| {
            "rename the resource in pipeline.yaml, change the stack name, or delete/tag the existing resource yourself".to_string()
        });
    Error::NotOwned {
        resource: id.to_string(),
        physical: physical.to_string(),
        stack: ctx.spec.stack.clone(),
        help,
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! A `Ctx` for pure unit tests: clients are built but never called.

    use std::collections::{BTreeMap, HashMap};
    use std::sync::Arc;

    use crate::aws::Clients;
    use crate::resources::Ctx;
    use crate::spec::Spec;

    /// An empty spec for stack `shop` with one extra tag, `team=orders`.
    pub(crate) fn spec() -> Spec {
        Spec {
            tags: BTreeMap::from([("team".to_string(), "orders".to_string())]),
            ..Spec::empty("shop")
        }
    }

    pub(crate) fn test_ctx(spec: Spec) -> Ctx {
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        Ctx {
            spec: Arc::new(spec),
            aws: Clients::from_config(&config),
            region: "us-east-1".into(),
            artifacts: HashMap::new(),
            parallelism: usize::from(crate::resources::DEFAULT_PARALLELISM),
        }
    }
}
