//! The one error type of orderflow. Spec errors carry their own diagnostics (file, line,
//! column, key); everything else names the resource and the AWS action that failed.

use std::fmt;

use aws_sdk_lambda::error::ProvideErrorMetadata;
use miette::Diagnostic;

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum Error {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Spec(#[from] crate::spec::SpecErrors),

    #[error("{resource}: {action} failed: {message}")]
    #[diagnostic(code(orderflow::aws))]
    Aws {
        resource: String,
        action: String,
        /// The service's error code, when it gave one (e.g. `ResourceConflictException`).
        code: Option<String>,
        message: String,
    },

    #[error("{resource}: {physical} already exists but does not carry the tag orderflow:stack={stack}; refusing to manage a resource this stack does not own")]
    #[diagnostic(code(orderflow::not_owned))]
    NotOwned {
        resource: String,
        physical: String,
        stack: String,
        /// What to do about it; the kind's own advice where it has one
        /// (`crate::resources::not_owned`).
        #[help]
        help: String,
    },

    #[error("building function crate `{crate_name}` failed: {message}")]
    #[diagnostic(code(orderflow::build))]
    Build { crate_name: String, message: String },

    #[error("{what}: timed out after {secs} s")]
    #[diagnostic(code(orderflow::timeout))]
    Timeout { what: String, secs: u64 },

    #[error("{0}")]
    #[diagnostic(code(orderflow::refused))]
    Refused(String),

    #[error("local emulator: {0}")]
    #[diagnostic(code(orderflow::emulator))]
    Emulator(String),

    #[error("{context}: {source}")]
    #[diagnostic(code(orderflow::io))]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{0}")]
    #[diagnostic(code(orderflow::error))]
    Other(String),
}

impl Error {
    /// Wrap an SDK error, keeping the service's error code for retry decisions.
    pub fn aws<E>(resource: impl fmt::Display, action: &str, err: E) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let code = err.code().map(str::to_string);
        let message = match err.message() {
            Some(m) => format!("{}: {m}", code.as_deref().unwrap_or("error")),
            None => aws_smithy_types::error::display::DisplayErrorContext(&err).to_string(),
        };
        Error::Aws {
            resource: resource.to_string(),
            action: action.to_string(),
            code,
            message,
        }
    }

    pub fn io(context: impl fmt::Display, source: std::io::Error) -> Self {
        Error::Io {
            context: context.to_string(),
            source,
        }
    }

    /// The AWS error code, if this is an AWS error.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Aws { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// The AWS error message, if this is an AWS error.
    pub fn aws_message(&self) -> Option<&str> {
        match self {
            Error::Aws { message, .. } => Some(message),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
