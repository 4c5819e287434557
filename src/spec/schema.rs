//! What an entry of a section may contain: every key with its type, default and meaning.
//!
//! Each kind declares its keys once, as [`Field`]s (`crate::kinds::<kind>`); the decoder takes
//! the allowed keys, ranges, defaults and choices from them, and the reference in docs/ (or a
//! JSON Schema) can be generated from the same list.

use crate::kinds::Section;

/// One key of a mapping.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub key: &'static str,
    pub ty: Type,
    pub required: bool,
    /// One sentence for the reference.
    pub doc: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub enum Type {
    String,
    /// An integer in `min..=max`; `unit` (e.g. " seconds") follows numbers in messages.
    Integer {
        min: u32,
        max: u32,
        unit: &'static str,
        default: Option<u32>,
    },
    Boolean {
        default: bool,
    },
    /// One of `options`.
    Choice {
        options: &'static [&'static str],
        default: Option<&'static str>,
    },
    /// The logical name of an entry of another section.
    Name(Section),
    /// A nested mapping with keys of its own.
    Mapping(&'static [Field]),
    /// A list of mappings with these keys.
    List(&'static [Field]),
    /// Free-form keys with string values that may hold `${section.name.attribute}` references.
    Environment,
    /// A list of `{ <section>: name, verb: ... }` grants; the sections and verbs are those of
    /// the kinds that offer verbs ([`crate::kinds::Section::verbs`]).
    Access,
    /// Free-form keys with string values, checked by the kind (input transformer variables).
    StringMap,
    /// A list of strings, each checked by the kind (CORS origins, event names).
    Strings,
    /// Any YAML, checked by the kind itself (an EventBridge event pattern).
    Pattern,
}

impl Field {
    pub const fn new(key: &'static str, ty: Type, doc: &'static str) -> Field {
        Field {
            key,
            ty,
            required: false,
            doc,
        }
    }

    pub const fn required(mut self) -> Field {
        self.required = true;
        self
    }

    pub const fn string(key: &'static str, doc: &'static str) -> Field {
        Field::new(key, Type::String, doc)
    }

    pub const fn integer(
        key: &'static str,
        min: u32,
        max: u32,
        unit: &'static str,
        default: Option<u32>,
        doc: &'static str,
    ) -> Field {
        Field::new(
            key,
            Type::Integer {
                min,
                max,
                unit,
                default,
            },
            doc,
        )
    }

    pub const fn boolean(key: &'static str, default: bool, doc: &'static str) -> Field {
        Field::new(key, Type::Boolean { default }, doc)
    }

    pub const fn choice(
        key: &'static str,
        options: &'static [&'static str],
        default: Option<&'static str>,
        doc: &'static str,
    ) -> Field {
        Field::new(key, Type::Choice { options, default }, doc)
    }

    pub const fn name(key: &'static str, section: Section, doc: &'static str) -> Field {
        Field::new(key, Type::Name(section), doc)
    }

    pub const fn mapping(key: &'static str, fields: &'static [Field], doc: &'static str) -> Field {
        Field::new(key, Type::Mapping(fields), doc)
    }

    pub const fn list(key: &'static str, fields: &'static [Field], doc: &'static str) -> Field {
        Field::new(key, Type::List(fields), doc)
    }

    /// The default of an integer field (a bug if it has none: such fields are read as optional).
    pub fn default_int(&self) -> u32 {
        match self.ty {
            Type::Integer {
                default: Some(d), ..
            } => d,
            _ => unreachable!("field `{}` has no integer default", self.key),
        }
    }

    /// The keys of a nested mapping or list field.
    pub fn sub_fields(&self) -> &'static [Field] {
        match self.ty {
            Type::Mapping(fields) | Type::List(fields) => fields,
            _ => &[],
        }
    }
}

/// A verb a kind offers to functions' `access`, with the IAM actions it grants on the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerbDef {
    pub name: &'static str,
    /// Sorted.
    pub actions: &'static [&'static str],
    pub doc: &'static str,
}

/// How long `<stack>-<name>` may be for the service that holds it.
#[derive(Debug, Clone, Copy)]
pub struct NameLimit {
    pub min: usize,
    pub max: usize,
    /// "SQS queue names", for messages.
    pub what: &'static str,
}

/// The keys of `fields`, in order.
pub fn keys(fields: &[Field]) -> Vec<&'static str> {
    fields.iter().map(|f| f.key).collect()
}
