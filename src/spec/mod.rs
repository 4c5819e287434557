//! `pipeline.yaml`: parse (with spans) and validate into the resolved [`model::Spec`].
//!
//! YAML text → [`yaml`] tree (every node with its position) → [`validate`] (the file's own
//! keys; each section read by its kind in `crate::kinds`, through the generic [`decode`]r and
//! the kind's [`schema`]) → [`Spec`].
//! All problems of a file come back together as [`SpecErrors`]. No network, and no file
//! system access beyond reading the file itself.

pub(crate) mod decode;
mod diagnostic;
mod environments;
pub mod json_schema;
pub mod model;
mod report;
pub mod schema;
pub mod template;
pub(crate) mod text;
mod validate;
pub mod yaml;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use diagnostic::{SpecError, SpecErrors};
pub use model::Spec;

/// The file without environments, then each environment merged onto it, all validated; the
/// spec of `env` (or of the file itself) is returned. An error that only an environment causes
/// says which; one the file already has is reported once.
fn build_selected(
    file_name: &str,
    root: &yaml::Node,
    env: Option<&str>,
    report: &mut report::Reporter<'_>,
) -> Option<Spec> {
    let (base_root, environments) = environments::split(root, report);
    let base_from = report.errors.len();
    let base = validate::build(file_name, &base_root, report);
    let base_errors: Vec<SpecError> = report.errors[base_from..].to_vec();
    let same = |a: &SpecError, b: &SpecError| {
        (a.line, a.column, &a.key, &a.message) == (b.line, b.column, &b.key, &b.message)
    };
    let mut selected = None;
    let mut stacks: Vec<(String, String)> = Vec::new();
    for e in &environments {
        let from = report.errors.len();
        let mut spec = validate::build(file_name, &environments::apply(&base_root, e), report);
        let mut own: Vec<SpecError> = report.errors.split_off(from);
        own.retain(|err| !base_errors.iter().any(|b| same(b, err)));
        for err in &mut own {
            err.message = format!("{} (environment `{}`)", err.message, e.name);
        }
        report.errors.extend(own);
        spec.environment = Some(e.name.clone());
        let clash = if spec.stack == base.stack && !base.stack.is_empty() {
            Some((
                format!(
                    "environment `{}` uses the file's own stack `{}`; each environment needs its own stack to coexist with the file's",
                    e.name, spec.stack
                ),
                "remove its `stack` (the default is `<stack>-<environment>`)",
            ))
        } else {
            stacks.iter().find(|(_, stack)| *stack == spec.stack).map(|(other, _)| {
                (
                    format!(
                        "environments `{other}` and `{}` both use stack `{}`; each environment needs its own stack to coexist with the others",
                        e.name, spec.stack
                    ),
                    "remove `stack` from one of them (the default is `<stack>-<environment>`)",
                )
            })
        };
        if let Some((message, help)) = clash {
            report.error(
                e.key_span,
                format!("{}.{}", environments::KEY, e.name),
                message,
                Some(help.into()),
            );
        }
        stacks.push((e.name.clone(), spec.stack.clone()));
        if env == Some(e.name.as_str()) {
            selected = Some(spec);
        }
    }
    match env {
        None => Some(base),
        Some(name) => {
            if selected.is_none() {
                let at = root
                    .as_map()
                    .and_then(|m| m.iter().find(|e| e.key == environments::KEY))
                    .map_or(text::first_position(), |e| e.key_span);
                environments::unknown(name, &environments, at, report);
            }
            selected
        }
    }
}

/// Files larger than this are refused before parsing (a pipeline is a few kilobytes).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Read and validate a pipeline file. Makes no network call.
pub fn load(path: &Path) -> Result<Spec, SpecErrors> {
    load_env(path, None)
}

/// [`load`] for environment `env` (`--env`): the file with that environment's overrides.
/// Every environment is checked either way: a file is valid only if all of them are.
pub fn load_env(path: &Path, env: Option<&str>) -> Result<Spec, SpecErrors> {
    let file = path.display().to_string();
    let io_error = |message: String| {
        SpecErrors::new(
            file.clone(),
            String::new(),
            vec![SpecError {
                file: file.clone(),
                line: 0,
                column: 0,
                key: String::new(),
                message,
                help: None,
                span: (0, 0).into(),
            }],
        )
    };
    let size = std::fs::metadata(path)
        .map_err(|e| io_error(format!("cannot read the file: {e}")))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(io_error(format!(
            "the file is {size} bytes; pipeline files are limited to {MAX_FILE_BYTES} bytes"
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| io_error(format!("cannot read the file: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        io_error(format!(
            "the file is not valid UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    let mut spec = parse_env(&file, &text, env)?;
    // Keep the path as given (it need not be UTF-8); `file` is only for messages.
    spec.file = path.to_path_buf();
    Ok(spec)
}

/// Parse and validate pipeline text. `file_name` is used in messages and as `Spec::file`.
pub fn parse(file_name: &str, text: &str) -> Result<Spec, SpecErrors> {
    parse_env(file_name, text, None)
}

/// [`parse`] for environment `env`; every environment is validated, `env`'s spec returned.
pub fn parse_env(file_name: &str, text: &str, env: Option<&str>) -> Result<Spec, SpecErrors> {
    // A byte-order mark is not content.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut report = report::Reporter::new(file_name, text);
    let document = yaml::parse(text);
    for e in &document.errors {
        report.error(e.span, e.key.clone(), e.message.clone(), e.help.clone());
    }
    let yaml_errors = report.errors.len();
    let spec = document
        .root
        .as_ref()
        .and_then(|root| build_selected(file_name, root, env, &mut report));
    let mut errors = std::mem::take(&mut report.errors);
    // A node the YAML reader already complained about (e.g. an unsupported tag) would
    // only produce follow-on noise from validation.
    let poisoned: Vec<_> = errors[..yaml_errors]
        .iter()
        .map(|e| e.span.offset())
        .collect();
    let mut index = 0;
    errors.retain(|e| {
        index += 1;
        index <= yaml_errors || !poisoned.contains(&e.span.offset())
    });
    match spec {
        Some(spec) if errors.is_empty() => Ok(spec),
        _ => Err(SpecErrors::new(file_name, text, errors)),
    }
}
