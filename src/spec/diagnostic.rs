//! Errors of a pipeline file: every problem with its position and key path, all reported
//! together, printable as plain `file:line:col: key: message` lines or rendered by miette.

use std::fmt;
use std::sync::OnceLock;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode, SourceSpan};
use serde::Serialize;

/// One problem in a pipeline file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpecError {
    pub file: String,
    /// 1-based; 0 when the problem is not at a position (e.g. the file could not be read).
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// Dotted key path, e.g. `queues.orders.visibility_timeout` ("" for the whole document).
    pub key: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Byte range in the source that the problem is about.
    #[serde(skip)]
    pub span: SourceSpan,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for SpecError {}

impl Diagnostic for SpecError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("orderflow::spec"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        label(self)
    }
}

fn label(error: &SpecError) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
    if error.line == 0 {
        return None;
    }
    Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
        None, error.span,
    ))))
}

/// All problems found in one file. `Display` prints one `file:line:col: key: message`
/// line per problem; miette renders each with a snippet of the file.
#[derive(Debug)]
pub struct SpecErrors {
    pub file: String,
    /// Sorted by position.
    pub errors: Vec<SpecError>,
    source: Box<NamedSource<String>>,
    /// Per-error diagnostics shown under the summary when there is more than one error.
    details: OnceLock<Vec<Detail>>,
}

impl SpecErrors {
    /// `source` is the file's text (empty when it could not be read).
    pub fn new(
        file: impl Into<String>,
        source: impl Into<String>,
        mut errors: Vec<SpecError>,
    ) -> Self {
        let file = file.into();
        errors.sort_by_key(|e| (e.line, e.column));
        errors.dedup();
        SpecErrors {
            source: Box::new(NamedSource::new(file.clone(), source.into()).with_language("yaml")),
            file,
            errors,
            details: OnceLock::new(),
        }
    }

    /// One line per error, in the `file:line:col: key: message` format.
    pub fn summary(&self) -> String {
        self.errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn details(&self) -> &[Detail] {
        self.details.get_or_init(|| {
            self.errors
                .iter()
                .map(|e| Detail {
                    title: if e.key.is_empty() {
                        e.message.clone()
                    } else {
                        format!("{}: {}", e.key, e.message)
                    },
                    error: e.clone(),
                })
                .collect()
        })
    }
}

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.errors.is_empty() {
            return write!(f, "{}: invalid pipeline", self.file);
        }
        f.write_str(&self.summary())
    }
}

impl std::error::Error for SpecErrors {}

impl Diagnostic for SpecErrors {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("orderflow::spec"))
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(self.source.as_ref())
    }

    // With one error the report is that error; with several, the summary lists them all
    // and each follows with its snippet (titled without the position the snippet shows).
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        match self.errors.as_slice() {
            [only] => only.help(),
            _ => None,
        }
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        match self.errors.as_slice() {
            [only] => label(only),
            _ => None,
        }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.errors.len() < 2 {
            return None;
        }
        Some(Box::new(
            self.details().iter().map(|d| d as &dyn Diagnostic),
        ))
    }
}

/// An error as shown below the summary.
#[derive(Debug)]
struct Detail {
    title: String,
    error: SpecError,
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.title)
    }
}

impl std::error::Error for Detail {}

impl Diagnostic for Detail {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.error.code()
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.error.help()
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        label(&self.error)
    }
}
