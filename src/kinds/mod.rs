//! Every kind of thing `pipeline.yaml` declares, one module each: its spec section (types, keys
//! with defaults and docs, decoding and checks with positions, the references it makes), the
//! resources it puts in the graph (derived ones included), the access verbs it offers to the
//! IAM generator, and its providers.
//!
//! Adding a kind is adding its module and one line to each list of [`registry!`] below: the
//! section list makes the `Spec` field, the top-level key, reference and access resolution,
//! and the resource list makes the graph/provider [`Kind`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::Error;
use crate::resources::{Provider, ResourceId};
use crate::spec::decode::{Checker, Fields};
use crate::spec::model::Access;
use crate::spec::schema::{Field, NameLimit, VerbDef};
use crate::spec::text::describe;
use crate::spec::yaml::{Node, Value as YamlValue};

pub mod alarm;
pub mod api;
pub mod bucket;
pub mod bus;
pub mod discoverer;
pub mod email_identity;
pub mod event_schema;
pub mod function;
pub mod log_group;
pub mod pipe;
pub mod queue;
pub mod rule;
pub mod service_role;
pub mod table;
pub mod topic;
pub mod trigger;

/// The spec side of a kind: what one entry of its section is and how it is read.
pub(crate) trait KindSpec: Sized {
    /// The section in `pipeline.yaml` (`queues:`).
    const SECTION: Section;
    /// Singular, for messages ("queue").
    const SINGULAR: &'static str;
    /// What the section declares, one sentence (the JSON Schema's description).
    const DOC: &'static str;
    /// The resource an entry is, for references and access grants.
    const RESOURCE: Kind;
    /// The keys of one entry.
    const FIELDS: &'static [Field];
    /// Attributes others may reference as `${<section>.<name>.<attribute>}`; none: not referable.
    const ATTRIBUTES: &'static [&'static str] = &[];
    /// The output `up` shows for each entry (a queue's `url`), if any.
    const SHOWN_OUTPUT: Option<&'static str> = None;
    /// Verbs a function may be granted on an entry in its `access`.
    const VERBS: &'static [VerbDef] = &[];
    /// The output whose ARN a grant's statement names (a bucket's objects, not the bucket).
    const GRANT_ATTRIBUTE: &'static str = "arn";
    /// Limits of the physical name `<stack>-<name>`, where the entry has one.
    const PHYSICAL_NAME: Option<NameLimit> = None;

    /// Read one entry (`f` has its keys checked already); report every problem into `cx`.
    fn decode(cx: &mut Checker<'_, '_>, f: &Fields<'_>, name: &str) -> Self;

    /// Checks across kinds that this kind's relations need, once every section is decoded.
    fn check(_cx: &mut Checker<'_, '_>, _spec: &Spec) {}

    /// Access this kind's entries imply for functions (a trigger's `consume` on its queue), as
    /// `(function, access)`.
    fn implied_access(&self, _name: &str) -> Vec<(String, Access)> {
        Vec::new()
    }

    /// The graph resources an entry contributes (itself and what is derived from it).
    fn resources(&self, name: &str, out: &mut Vec<ResourceId>);
}

/// A free-text key of at most `max` characters (a description, a display name); a longer text
/// is reported at the key and kept.
pub(crate) fn text_at_most(
    cx: &mut Checker<'_, '_>,
    f: &Fields<'_>,
    field: &Field,
    max: usize,
) -> Option<String> {
    let text = cx.string(f, field)?;
    let chars = text.chars().count();
    if chars > max {
        let path = f.path_of(field.key);
        let span = cx.span_at(&path);
        cx.error(
            span,
            &path,
            format!("must be at most {max} characters, got {chars}"),
            None,
        );
    }
    Some(text)
}

/// Is `node` a non-empty mapping (an event pattern, a filter policy)? If not, that is reported
/// with `example` as the help.
pub(crate) fn non_empty_mapping(
    cx: &mut Checker<'_, '_>,
    node: &Node,
    path: &str,
    example: &str,
) -> bool {
    if matches!(&node.value, YamlValue::Map(entries) if !entries.is_empty()) {
        return true;
    }
    cx.error(
        node.span,
        path,
        format!("expected a non-empty mapping, got {}", describe(node)),
        Some(example.into()),
    );
    false
}

/// The entry `name` of a section (`&spec.rules`), or the error of a provider asked about an entry
/// the spec does not declare.
pub(crate) fn declared<'a, T: KindSpec>(
    entries: &'a BTreeMap<String, T>,
    name: &str,
) -> Result<&'a T, Error> {
    entries.get(name).ok_or_else(|| {
        Error::Other(format!(
            "{} `{name}` is not declared in the spec",
            T::SINGULAR
        ))
    })
}

macro_rules! registry {
    (
        sections { $( $section:ident : $key:ident => $ty:ty ),* $(,)? }
        resources { $( $kind:ident = $kind_name:literal => $provider:expr ),* $(,)? }
    ) => {
        /// A section of `pipeline.yaml` (a kind of declaration).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Section { $( $section ),* }

        impl Section {
            /// In the order of the file's top-level keys.
            pub const ALL: &'static [Section] = &[ $( Section::$section ),* ];

            /// The top-level key (`queues`).
            pub fn key(self) -> &'static str {
                match self { $( Section::$section => stringify!($key) ),* }
            }
            pub fn singular(self) -> &'static str {
                match self { $( Section::$section => <$ty as KindSpec>::SINGULAR ),* }
            }
            pub fn resource(self) -> Kind {
                match self { $( Section::$section => <$ty as KindSpec>::RESOURCE ),* }
            }
            pub fn doc(self) -> &'static str {
                match self { $( Section::$section => <$ty as KindSpec>::DOC ),* }
            }
            pub fn fields(self) -> &'static [Field] {
                match self { $( Section::$section => <$ty as KindSpec>::FIELDS ),* }
            }
            pub fn attributes(self) -> &'static [&'static str] {
                match self { $( Section::$section => <$ty as KindSpec>::ATTRIBUTES ),* }
            }
            pub fn shown_output(self) -> Option<&'static str> {
                match self { $( Section::$section => <$ty as KindSpec>::SHOWN_OUTPUT ),* }
            }
            pub fn verbs(self) -> &'static [VerbDef] {
                match self { $( Section::$section => <$ty as KindSpec>::VERBS ),* }
            }
            pub fn physical_name(self) -> Option<NameLimit> {
                match self { $( Section::$section => <$ty as KindSpec>::PHYSICAL_NAME ),* }
            }
            pub fn grant_attribute(self) -> &'static str {
                match self { $( Section::$section => <$ty as KindSpec>::GRANT_ATTRIBUTE ),* }
            }
        }

        /// The resolved, validated pipeline: what `spec::load` returns once every check has
        /// passed. One map per section, logical name → entry.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Spec {
            /// The file this spec was read from (for messages).
            pub file: PathBuf,
            /// Stack name: prefix of every physical name and value of the ownership tag.
            pub stack: String,
            /// Region from the file; `--region` and the credential chain may override it.
            pub region: Option<String>,
            /// The environment (`--env`) whose overrides this spec includes; none: the file as is.
            pub environment: Option<String>,
            /// The AWS accounts this pipeline may be deployed to; empty: any. A run whose
            /// credentials reach another account stops before any other call.
            pub accounts: Vec<String>,
            /// Extra tags put on every resource that takes tags (besides the ownership tag).
            pub tags: BTreeMap<String, String>,
            $( pub $key: BTreeMap<String, $ty>, )*
        }

        impl Spec {
            /// A spec of stack `stack` that declares nothing yet (for building one in code).
            pub fn empty(stack: impl Into<String>) -> Spec {
                Spec {
                    file: PathBuf::from("pipeline.yaml"),
                    stack: stack.into(),
                    region: None,
                    environment: None,
                    accounts: Vec::new(),
                    tags: BTreeMap::new(),
                    $( $key: BTreeMap::new(), )*
                }
            }

            /// Declared logical names of a section, sorted.
            pub fn names(&self, section: Section) -> Vec<&str> {
                match section {
                    $( Section::$section => self.$key.keys().map(String::as_str).collect() ),*
                }
            }

            pub fn declares(&self, section: Section, name: &str) -> bool {
                match section { $( Section::$section => self.$key.contains_key(name) ),* }
            }

            /// Every graph resource the sections contribute, sorted and without repeats.
            pub fn resources(&self) -> Vec<ResourceId> {
                let mut out = Vec::new();
                $( for (name, entry) in &self.$key { entry.resources(name, &mut out); } )*
                out.sort();
                out.dedup();
                out
            }

            /// Every graph resource with the section and entry that contribute it, in section
            /// order (a resource two entries need, such as a queue policy, appears for each).
            pub fn contributions(&self) -> Vec<(ResourceId, Section, String)> {
                let mut out = Vec::new();
                $( for (name, entry) in &self.$key {
                    let mut resources = Vec::new();
                    entry.resources(name, &mut resources);
                    out.extend(resources.into_iter().map(|r| (r, Section::$section, name.clone())));
                } )*
                out
            }

            /// Implied access of every entry, as `(function, access)`.
            pub(crate) fn implied_access(&self) -> Vec<(String, Access)> {
                let mut out = Vec::new();
                $( for (name, entry) in &self.$key { out.extend(entry.implied_access(name)); } )*
                out
            }
        }

        /// Decode every section of the file into a spec.
        pub(crate) fn decode_sections(
            cx: &mut Checker<'_, '_>,
            top: &Fields<'_>,
            file: PathBuf,
            stack: String,
            region: Option<String>,
            tags: BTreeMap<String, String>,
        ) -> Spec {
            Spec {
                file,
                stack,
                region,
                environment: None,
                accounts: Vec::new(),
                tags,
                $( $key: cx.section::<$ty>(top), )*
            }
        }

        /// Every kind's cross-kind checks, in section order.
        pub(crate) fn check_sections(cx: &mut Checker<'_, '_>, spec: &Spec) {
            $( <$ty as KindSpec>::check(cx, spec); )*
        }

        /// Every kind of resource orderflow manages, in the order `down` deletes them
        /// (consumers and wiring first, data last).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Kind { $( $kind ),* }

        impl Kind {
            pub const ALL: &'static [Kind] = &[ $( Kind::$kind ),* ];

            pub fn as_str(self) -> &'static str {
                match self { $( Kind::$kind => $kind_name ),* }
            }

            pub fn provider(self) -> &'static dyn Provider {
                match self { $( Kind::$kind => &$provider ),* }
            }
        }
    };
}

registry! {
    sections {
        Bus: buses => bus::Bus,
        Queue: queues => queue::Queue,
        Bucket: buckets => bucket::Bucket,
        Table: tables => table::Table,
        Function: functions => function::Function,
        Rule: rules => rule::Rule,
        Trigger: triggers => trigger::Trigger,
        Api: apis => api::Api,
        Topic: topics => topic::Topic,
        EmailIdentity: email_identities => email_identity::EmailIdentity,
        EventSchema: event_schemas => event_schema::EventSchemaRegistry,
        Alarm: alarms => alarm::Alarm,
    }
    resources {
        Alarm = "alarm" => alarm::AlarmProvider,
        ApiRoute = "api_route" => api::RouteProvider,
        EventSchema = "event_schema" => event_schema::EventSchemaProvider,
        SchemaRegistry = "schema_registry" => event_schema::SchemaRegistryProvider,
        ApiPermission = "api_permission" => api::ApiPermissionProvider,
        Api = "api" => api::ApiProvider,
        EventSourceMapping = "event_source_mapping" => trigger::EventSourceMappingProvider,
        Subscription = "subscription" => topic::SubscriptionProvider,
        TopicPermission = "topic_permission" => topic::TopicPermissionProvider,
        Permission = "permission" => rule::PermissionProvider,
        Pipe = "pipe" => pipe::PipeProvider,
        Rule = "rule" => rule::RuleProvider,
        ServiceRole = "service_role" => service_role::SERVICE_ROLE_PROVIDER,
        QueuePolicy = "queue_policy" => queue::QueuePolicyProvider,
        TopicPolicy = "topic_policy" => topic::TopicPolicyProvider,
        Topic = "topic" => topic::TopicProvider,
        Function = "function" => function::FunctionProvider,
        Role = "role" => function::ROLE_PROVIDER,
        LogGroup = "log_group" => log_group::LogGroupProvider,
        EmailIdentity = "email_identity" => email_identity::EmailIdentityProvider,
        Queue = "queue" => queue::QueueProvider,
        Bucket = "bucket" => bucket::BucketProvider,
        Discoverer = "discoverer" => discoverer::DiscovererProvider,
        Bus = "bus" => bus::BusProvider,
        Table = "table" => table::TableProvider,
    }
}

impl Kind {
    /// Position in deletion order: lower is deleted first.
    pub fn delete_rank(self) -> usize {
        Kind::ALL
            .iter()
            .position(|k| *k == self)
            .unwrap_or(usize::MAX)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for Section {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    /// Validation errors of `text`, one `file:line:col: key: message` line each.
    pub(crate) fn errors(text: &str) -> Vec<String> {
        match crate::spec::parse("p.yaml", text) {
            Ok(spec) => panic!("expected errors, got a valid spec: {spec:?}"),
            Err(e) => e.errors.iter().map(ToString::to_string).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::schema::Type;

    /// Every field list, nested ones included, with the path it sits at.
    fn all_fields() -> Vec<(String, &'static Field)> {
        fn walk(prefix: &str, fields: &'static [Field], out: &mut Vec<(String, &'static Field)>) {
            for f in fields {
                let path = format!("{prefix}.{}", f.key);
                out.push((path.clone(), f));
                walk(&path, f.sub_fields(), out);
            }
        }
        let mut out = Vec::new();
        for s in Section::ALL {
            walk(s.key(), s.fields(), &mut out);
        }
        out
    }

    #[test]
    fn an_undeclared_entry_is_named_by_its_section() {
        let mut spec = Spec::empty("shop");
        spec.buses.insert("orders".into(), bus::Bus::default());
        assert!(declared(&spec.buses, "orders").is_ok());
        assert_eq!(
            declared(&spec.rules, "new-orders").unwrap_err().to_string(),
            "rule `new-orders` is not declared in the spec"
        );
    }

    #[test]
    fn every_provider_serves_the_kind_it_is_registered_for() {
        for kind in Kind::ALL {
            assert_eq!(kind.provider().kind(), *kind);
        }
    }

    #[test]
    fn keys_are_unique_and_documented() {
        for s in Section::ALL {
            let mut keys = crate::spec::schema::keys(s.fields());
            keys.sort_unstable();
            let n = keys.len();
            keys.dedup();
            assert_eq!(keys.len(), n, "{s}: duplicate keys");
        }
        for (path, f) in all_fields() {
            assert!(!f.doc.is_empty(), "{path} has no doc");
            if let Type::Integer {
                min, max, default, ..
            } = f.ty
            {
                assert!(min <= max, "{path}");
                assert!(default.is_none_or(|d| (min..=max).contains(&d)), "{path}");
            }
            if let Type::Choice {
                options,
                default: Some(d),
            } = f.ty
            {
                assert!(options.contains(&d), "{path}");
            }
        }
    }

    /// The reference in docs/ describes every key and verb the kinds declare (the kinds are the
    /// source of truth; this catches a key added without its documentation).
    #[test]
    fn the_reference_covers_every_key_and_verb() {
        let reference = include_str!("../../docs/pipeline-reference.md");
        for s in Section::ALL {
            assert!(
                reference.contains(&format!("## `{}`", s.key())),
                "docs/pipeline-reference.md has no section for `{s}`"
            );
            for v in s.verbs() {
                let entry = format!("{}: <name>, verb: {} }}", s.singular(), v.name);
                assert!(
                    reference.contains(&entry),
                    "docs/pipeline-reference.md does not list `{entry}`"
                );
            }
        }
        for (path, f) in all_fields() {
            // As `key`, or inside an inline form such as `{ name: <attribute>, type: S }`.
            let k = f.key;
            let mentioned = [
                format!("`{k}`"),
                format!(".{k}`"),
                format!("{{ {k}:"),
                format!(", {k}:"),
            ]
            .iter()
            .any(|form| reference.contains(form.as_str()));
            assert!(
                mentioned,
                "docs/pipeline-reference.md does not mention {path}"
            );
        }
    }
}
