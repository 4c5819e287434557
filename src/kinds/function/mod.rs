//! `functions:` — Lambda functions `<stack>-<function>` built from a crate under `functions/`,
//! each with its own IAM role whose least-privilege policy is generated from the function's
//! `access` (`crate::resources::policy`), and the statements on its resource policy that let
//! services invoke it (`permission`: rule targets, topic subscribers, API routes).

pub(crate) mod permission;
pub(crate) mod provider;
pub(crate) mod role;
pub(crate) mod role_details;
pub(crate) mod shared;

pub use provider::FunctionProvider;
pub use role::{RoleProvider, ROLE_PROVIDER};

use std::collections::{BTreeMap, BTreeSet};

use super::{Kind, KindSpec, Section, Spec};
use crate::resources::ResourceId;
use crate::spec::decode::{Checker, Fields};
use crate::spec::model::{Access, Template};
use crate::spec::schema::{Field, NameLimit, Type};
use crate::spec::text::{describe, join};
use crate::spec::yaml::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    /// Cargo package under `functions/` whose binary becomes `bootstrap`.
    pub crate_name: String,
    /// MB, 128..=10240. Default 128.
    pub memory_mb: u32,
    /// Seconds, 1..=900. Default 3.
    pub timeout_secs: u32,
    pub architecture: Architecture,
    /// Environment variables; values may reference other resources, resolved at apply time.
    pub environment: BTreeMap<String, Template>,
    /// Declared access, from which the function's IAM role policy is generated.
    pub access: Vec<Access>,
    /// Queue (logical name) that receives events whose asynchronous invocation failed
    /// after Lambda's retries (the function's DeadLetterConfig).
    pub dead_letter_queue: Option<String>,
    /// Retries of a failed asynchronous invocation, 0..=2 (Lambda's default is 2).
    pub async_retry_attempts: Option<u32>,
    /// Days the function's log group keeps its events (one of CloudWatch Logs' allowed
    /// retentions, `crate::kinds::log_group::RETENTION_DAYS`). Default 14.
    pub log_retention_days: u32,
    /// Take over an existing log group without an ownership tag (one Lambda created).
    pub adopt_log_group: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    X86_64,
    Arm64,
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }
}

const CRATE: Field = Field::string(
    "crate",
    "Cargo package under `functions/`: letters, digits, `-`, `_`; starts with a letter; at most 64 characters.",
)
.required();
pub(crate) const MEMORY: Field =
    Field::integer("memory", 128, 10_240, " MB", Some(128), "Memory in MB.");
pub(crate) const TIMEOUT: Field = Field::integer(
    "timeout",
    1,
    900,
    " seconds",
    Some(3),
    "Timeout in seconds.",
);
const ARCHITECTURE: Field = Field::choice(
    "architecture",
    &["x86_64", "arm64"],
    Some("x86_64"),
    "Instruction set the function runs on.",
);
const ENVIRONMENT: Field = Field::new(
    "environment",
    Type::Environment,
    "Variable name → string; values may contain `${section.name.attribute}` references.",
);
const ACCESS: Field = Field::new(
    "access",
    Type::Access,
    "What the function's role may do: `{ <kind>: <name>, verb: <verb> }` entries.",
);
const DEAD_LETTER_QUEUE: Field = Field::name(
    "dead_letter_queue",
    Section::Queue,
    "Queue receiving events whose asynchronous invocation failed after the retries (Lambda DeadLetterConfig).",
);
const ASYNC_RETRY_ATTEMPTS: Field = Field::integer(
    "async_retry_attempts",
    0,
    2,
    "",
    None,
    "Retries of a failed asynchronous invocation (Lambda's default is 2).",
);

pub(crate) const LOG_RETENTION: Field = Field::integer(
    "log_retention",
    1,
    3653,
    " days",
    Some(14),
    "Days the function's log group `/aws/lambda/<stack>-<function>` keeps log events: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653.",
);
const ADOPT_LOG_GROUP: Field = Field::boolean(
    "adopt_log_group",
    false,
    "Take over an existing log group that carries no ownership tag (Lambda created it): tag it, set its retention; `down` then deletes it.",
);

/// Environment variable names Lambda sets itself and refuses in a function's configuration.
const RESERVED_ENV: &[&str] = &[
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
    "TZ",
];

impl KindSpec for Function {
    const SECTION: Section = Section::Function;
    const SINGULAR: &'static str = "function";
    const DOC: &'static str = "Lambda functions built from a crate under functions/, each with its own least-privilege role and log group.";
    const RESOURCE: Kind = Kind::Function;
    const FIELDS: &'static [Field] = &[
        CRATE,
        MEMORY,
        TIMEOUT,
        ARCHITECTURE,
        ENVIRONMENT,
        ACCESS,
        DEAD_LETTER_QUEUE,
        ASYNC_RETRY_ATTEMPTS,
        LOG_RETENTION,
        ADOPT_LOG_GROUP,
    ];
    const ATTRIBUTES: &'static [&'static str] = &["name", "arn"];
    const SHOWN_OUTPUT: Option<&'static str> = Some("arn");
    const PHYSICAL_NAME: Option<NameLimit> = Some(NameLimit {
        min: 1,
        max: 64,
        what: "Lambda function and IAM role names",
    });

    fn decode(cx: &mut Checker<'_, '_>, f: &Fields<'_>, name: &str) -> Function {
        let crate_name = cx.string(f, &CRATE).unwrap_or_default();
        if f.get(CRATE.key).is_some() && !crate_name.is_empty() {
            if let Err(why) = check_crate_name(&crate_name) {
                let p = f.path_of(CRATE.key);
                let span = cx.span_at(&p);
                cx.error(
                    span,
                    &p,
                    format!("{crate_name:?} is not a valid Cargo package name: {why}"),
                    None,
                );
            }
        }
        let memory_mb = cx.int_or_default(f, &MEMORY);
        let timeout_secs = cx.int_or_default(f, &TIMEOUT);
        let architecture = match cx.choice_or_default(f, &ARCHITECTURE) {
            "arm64" => Architecture::Arm64,
            _ => Architecture::X86_64,
        };
        let environment = environment(cx, f, name);
        let access = cx.access(f, &ACCESS);
        let dead_letter_queue = cx.name(f, &DEAD_LETTER_QUEUE);
        let async_retry_attempts = cx.int(f, &ASYNC_RETRY_ATTEMPTS);
        let log_retention_days = super::log_group::retention(cx, f, &LOG_RETENTION);
        let adopt_log_group = cx.boolean(f, &ADOPT_LOG_GROUP);
        Function {
            crate_name,
            memory_mb,
            timeout_secs,
            architecture,
            environment,
            access,
            dead_letter_queue,
            async_retry_attempts,
            log_retention_days,
            adopt_log_group,
        }
    }

    fn check(cx: &mut Checker<'_, '_>, spec: &Spec) {
        check_environment_cycles(cx, spec);
    }

    /// A dead-letter queue implies `send` on it.
    fn implied_access(&self, name: &str) -> Vec<(String, Access)> {
        self.dead_letter_queue
            .iter()
            .map(|dlq| (name.to_string(), Access::new(Section::Queue, dlq, "send")))
            .collect()
    }

    fn resources(&self, name: &str, out: &mut Vec<ResourceId>) {
        out.push(ResourceId::new(Kind::LogGroup, name));
        out.push(ResourceId::new(Kind::Role, name));
        out.push(ResourceId::new(Kind::Function, name));
    }
}

/// The `environment` mapping: Lambda's rules for names, string values with references.
fn environment(
    cx: &mut Checker<'_, '_>,
    f: &Fields<'_>,
    function: &str,
) -> BTreeMap<String, Template> {
    let mut environment = BTreeMap::new();
    let Some(node) = f.get(ENVIRONMENT.key) else {
        return environment;
    };
    let path = f.path_of(ENVIRONMENT.key);
    let owner = cx.key_span(&path);
    let env = cx.free_fields(node, &path, owner);
    for entry in env.entries {
        let var_path = join(&path, &entry.key);
        if !is_env_name(&entry.key) {
            cx.error(
                entry.key_span,
                &var_path,
                format!("invalid environment variable name `{}`", entry.key),
                Some("Lambda accepts names of 2 or more characters: a letter, then letters, digits or _".into()),
            );
        } else if RESERVED_ENV.contains(&entry.key.as_str()) {
            cx.error(
                entry.key_span,
                &var_path,
                format!("`{}` is reserved by Lambda and cannot be set", entry.key),
                None,
            );
        }
        let text = match &entry.value.value {
            Value::Scalar(s) => s.text.clone(),
            _ => {
                let help = matches!(entry.value.value, Value::Null)
                    .then(|| "write \"\" for an empty value".to_string());
                cx.error(
                    entry.value.span,
                    &var_path,
                    format!("expected a string, got {}", describe(&entry.value)),
                    help,
                );
                continue;
            }
        };
        if let Some(template) = cx.template(&text, &entry.value, &var_path, function) {
            environment.insert(entry.key.clone(), template);
        }
    }
    environment
}

/// Functions may reference each other in their environment; the one created first could
/// not know the other's name or ARN if they reference each other.
fn check_environment_cycles(cx: &mut Checker<'_, '_>, spec: &Spec) {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut self_refs = Vec::new();
    for r in &cx.env_refs {
        if r.reference.kind != Section::Function || !spec.functions.contains_key(&r.reference.name)
        {
            continue;
        }
        if r.reference.name == r.function {
            self_refs.push((r.span, r.path.clone(), r.reference.attribute));
            continue;
        }
        edges
            .entry(r.function.clone())
            .or_default()
            .insert(r.reference.name.clone());
    }
    for (span, path, attribute) in self_refs {
        let help = match attribute {
            "arn" => "read the ARN at run time from the invocation context (invoked_function_arn)",
            _ => "read the name at run time from AWS_LAMBDA_FUNCTION_NAME, which Lambda sets",
        };
        cx.error(
            span,
            &path,
            "a function cannot reference itself in its environment",
            Some(help.into()),
        );
    }

    let mut cycles: Vec<Vec<String>> = Vec::new();
    let mut reported: BTreeSet<Vec<String>> = BTreeSet::new();
    for start in edges.keys() {
        // Depth-first search for paths back to `start`, only through members greater
        // than it: each cycle is found from its smallest member.
        let mut stack: Vec<Vec<&String>> = vec![vec![start]];
        while let Some(path) = stack.pop() {
            let Some(last) = path.last() else { continue };
            for next in edges.get(*last).into_iter().flatten() {
                if next == start {
                    let members: Vec<String> = path.iter().map(|s| s.to_string()).collect();
                    let mut key = members.clone();
                    key.sort();
                    if reported.insert(key) {
                        cycles.push(members);
                    }
                } else if next > start && !path.contains(&next) {
                    let mut longer = path.clone();
                    longer.push(next);
                    stack.push(longer);
                }
            }
        }
    }
    for cycle in cycles {
        let first = &cycle[0];
        let second = cycle.get(1).unwrap_or(first);
        let at = cx
            .env_refs
            .iter()
            .find(|r| {
                r.function == *first
                    && r.reference.kind == Section::Function
                    && r.reference.name == *second
            })
            .map(|r| (r.span, r.path.clone()));
        let Some((span, path)) = at else { continue };
        let mut shown = cycle.clone();
        shown.push(first.clone());
        cx.error(
            span,
            &path,
            format!("functions reference each other in their environment: {}", shown.join(" → ")),
            Some("one of them has to be created first and cannot know the other's name or ARN; pass it another way (e.g. in the event)".into()),
        );
    }
}

/// What Cargo accepts as a package name (and crates.io's 64-character limit).
fn check_crate_name(name: &str) -> Result<(), String> {
    let first = name.chars().next().ok_or("must not be empty")?;
    if !first.is_ascii_alphabetic() {
        return Err("must start with a letter".into());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "`{bad}` is not allowed (letters, digits, - and _ only)"
        ));
    }
    if name.len() > 64 {
        return Err(format!("at most 64 characters, got {}", name.len()));
    }
    Ok(())
}

/// Lambda's pattern for variable names: `[a-zA-Z][a-zA-Z0-9_]+`.
fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
