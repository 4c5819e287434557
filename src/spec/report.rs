//! Collects [`SpecError`]s while a file is read, turning YAML spans into miette spans.

use miette::SourceSpan;

use super::diagnostic::SpecError;
use super::yaml::Span;

pub(crate) struct Reporter<'t> {
    file: String,
    text: &'t str,
    pub(crate) errors: Vec<SpecError>,
}

impl<'t> Reporter<'t> {
    pub(crate) fn new(file: &str, text: &'t str) -> Self {
        Reporter {
            file: file.to_string(),
            text,
            errors: Vec::new(),
        }
    }

    pub(crate) fn text(&self) -> &'t str {
        self.text
    }

    pub(crate) fn error(
        &mut self,
        span: Span,
        key: impl Into<String>,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        self.errors.push(SpecError {
            file: self.file.clone(),
            line: span.line,
            column: span.column,
            key: key.into(),
            message: message.into(),
            help,
            span: self.label_span(span),
        });
    }

    /// Labels stay on the first line of what they point at: a block mapping's span runs to
    /// the next key, which would underline half the file.
    fn label_span(&self, span: Span) -> SourceSpan {
        let start = span.offset.min(self.text.len());
        let end = (span.offset + span.len).min(self.text.len());
        let line_end = self.text[start..end]
            .find('\n')
            .map_or(end, |nl| start + nl);
        let end = line_end.max(start);
        // Trailing spaces or comments are not part of the value.
        let trimmed = self.text[start..end].trim_end();
        SourceSpan::new(start.into(), trimmed.len())
    }
}
