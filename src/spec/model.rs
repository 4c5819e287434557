//! The resolved, validated pipeline: what `spec::load` returns once every check has passed.
//! Nothing here refers back to YAML; the graph and the resource providers work from these types.
//!
//! [`Spec`] and each kind's entry types live with their kind (`crate::kinds`); they are
//! re-exported here so the whole model is one import away. What is left here is shared by
//! every kind: references between entries and access grants.

use std::cmp::Ordering;

pub use crate::kinds::api::{Api, ApiRoute, Authorization, Cors, HttpMethod, RouteKey, Throttling};
pub use crate::kinds::bucket::{Bucket, BucketEncryption};
pub use crate::kinds::bus::Bus;
pub use crate::kinds::email_identity::EmailIdentity;
pub use crate::kinds::function::{Architecture, Function};
pub use crate::kinds::queue::{Queue, QueueEncryption, Redrive};
pub use crate::kinds::rule::{Destination, Rule, RuleTarget, TargetInput};
pub use crate::kinds::table::{Billing, KeyAttribute, KeyKind, Table};
pub use crate::kinds::topic::{FilterPolicyScope, Subscriber, Topic, TopicSubscription};
pub use crate::kinds::trigger::Trigger;
pub use crate::kinds::{Section, Spec};

/// Tag key that marks a resource as owned by a stack; its value is the stack name.
pub const OWNERSHIP_TAG: &str = "orderflow:stack";

/// A string with `${section.name.attribute}` references, e.g. `${queues.orders.url}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub parts: Vec<TemplatePart>,
}

impl Template {
    /// The references it holds.
    pub fn refs(&self) -> impl Iterator<Item = &Ref> {
        self.parts.iter().filter_map(|p| match p {
            TemplatePart::Ref(r) => Some(r),
            TemplatePart::Literal(_) => None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    Literal(String),
    Ref(Ref),
}

/// A reference to an attribute of another declared entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ref {
    pub kind: Section,
    /// Logical name (a key of the section named by `kind`).
    pub name: String,
    /// One of the section's [`Section::attributes`] (`name`, `arn`, `url`).
    pub attribute: &'static str,
}

/// A declared entry that a function is granted access to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target {
    pub section: Section,
    pub name: String,
}

impl Target {
    pub fn new(section: Section, name: impl Into<String>) -> Target {
        Target {
            section,
            name: name.into(),
        }
    }
}

/// One grant: a verb the target's kind offers ([`Section::verbs`]) on one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub target: Target,
    pub verb: &'static str,
}

impl Access {
    pub fn new(section: Section, name: impl Into<String>, verb: &'static str) -> Access {
        Access {
            target: Target::new(section, name),
            verb,
        }
    }

    /// Position of the verb among its kind's verbs: grants sort by target, then in the order
    /// the kind lists its verbs.
    fn verb_rank(&self) -> usize {
        self.target
            .section
            .verbs()
            .iter()
            .position(|v| v.name == self.verb)
            .unwrap_or(usize::MAX)
    }

    /// The IAM actions this grant allows (empty for a verb the kind does not offer, which the
    /// validator rejects).
    pub fn actions(&self) -> &'static [&'static str] {
        crate::resources::policy::actions(self.target.section, self.verb)
    }
}

impl Ord for Access {
    fn cmp(&self, other: &Self) -> Ordering {
        (&self.target, self.verb_rank(), self.verb).cmp(&(
            &other.target,
            other.verb_rank(),
            other.verb,
        ))
    }
}

impl PartialOrd for Access {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
