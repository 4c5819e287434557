//! `pipeline.yaml`: parse (with spans) and validate into the resolved [`model::Spec`].
//!
//! YAML text → [`yaml`] tree (every node with its position) → [`validate`] (the file's own
//! keys; each section read by its kind in `crate::kinds`, through the generic [`decode`]r and
//! the kind's [`schema`]) → [`Spec`].
//! All problems of a file come back together as [`SpecErrors`]. No network, and no file
//! system access beyond reading the file itself.

pub(crate) mod decode;
mod diagnostic;
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

/// Files larger than this are refused before parsing (a pipeline is a few kilobytes).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Read and validate a pipeline file. Makes no network call.
pub fn load(path: &Path) -> Result<Spec, SpecErrors> {
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
    let mut spec = parse(&file, &text)?;
    // Keep the path as given (it need not be UTF-8); `file` is only for messages.
    spec.file = path.to_path_buf();
    Ok(spec)
}

/// Parse and validate pipeline text. `file_name` is used in messages and as `Spec::file`.
pub fn parse(file_name: &str, text: &str) -> Result<Spec, SpecErrors> {
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
        .map(|root| validate::build(file_name, root, &mut report));
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
