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

    /// Another run holds the stack's lock (exit 5).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Locked(Box<crate::lock::Locked>),

    /// No usable credentials, or credentials AWS refuses (expired, invalid).
    #[error("{message}")]
    #[diagnostic(code(orderflow::credentials))]
    Credentials {
        message: String,
        #[help]
        hint: String,
    },

    /// The AWS endpoint does not answer (refused, unresolvable, timed out).
    #[error("cannot reach {endpoint}: {reason}")]
    #[diagnostic(code(orderflow::endpoint_unreachable))]
    Unreachable {
        endpoint: String,
        reason: String,
        #[help]
        hint: String,
    },

    /// The credentials belong to an account the pipeline's `accounts` does not list.
    #[error("refusing to touch account {account}: {file} allows only {allowed} (`accounts`)")]
    #[diagnostic(
        code(orderflow::account_not_allowed),
        help("check the profile or credentials in use (`--profile`, AWS_PROFILE): they reached the wrong account")
    )]
    AccountNotAllowed {
        account: String,
        allowed: String,
        file: String,
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

    /// The stable name of this kind of error in `--output json` (`error.code`).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Spec(_) => "invalid_pipeline",
            Error::Aws { .. } => "aws",
            Error::NotOwned { .. } => "not_owned",
            Error::Build { .. } => "build_failed",
            Error::Timeout { .. } => "timeout",
            Error::Refused(_) => "refused",
            Error::Emulator(_) => "emulator",
            Error::Io { .. } => "io",
            Error::Locked(_) => "locked",
            Error::Credentials { .. } => "credentials",
            Error::Unreachable { .. } => "endpoint_unreachable",
            Error::AccountNotAllowed { .. } => "account_not_allowed",
            Error::Other(_) => "error",
        }
    }

    /// The process exit code for this error (README, "Exit codes").
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Locked(_) => crate::lock::EXIT_LOCKED,
            _ => 1,
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

/// An error as `--output json` prints it on stdout: `{"error": {...}}`, one document, the same
/// shape for every command and every kind of error.
#[derive(Debug, serde::Serialize)]
pub struct ErrorReport {
    pub error: ErrorBody,
}

#[derive(Debug, serde::Serialize)]
pub struct ErrorBody {
    /// Stable kind of error: `invalid_pipeline`, `aws`, `credentials`, `endpoint_unreachable`,
    /// `account_not_allowed`, `locked`, `refused`, `not_owned`, `build_failed`, `timeout`,
    /// `emulator`, `io`, `usage`, `error`.
    pub code: &'static str,
    /// The whole message, as the text output's first line.
    pub message: String,
    /// The resource the error is about (`queue orders`), when there is one.
    pub resource: Option<String>,
    /// The AWS error code (`AccessDeniedException`), for AWS errors that gave one.
    pub aws_code: Option<String>,
    /// What to do about it, when orderflow knows.
    pub hint: Option<String>,
    /// Every problem of an invalid pipeline file, with its position (empty otherwise).
    pub problems: Vec<crate::spec::SpecError>,
    pub exit_code: u8,
}

impl ErrorReport {
    pub fn new(e: &Error) -> ErrorReport {
        let hint = miette::Diagnostic::help(e).map(|h| h.to_string());
        let (resource, aws_code) = match e {
            Error::Aws { resource, code, .. } => (Some(resource.clone()), code.clone()),
            Error::NotOwned { resource, .. } => (Some(resource.clone()), None),
            _ => (None, None),
        };
        let problems = match e {
            Error::Spec(s) => s.errors.clone(),
            _ => Vec::new(),
        };
        ErrorReport {
            error: ErrorBody {
                code: e.kind(),
                message: e.to_string(),
                resource,
                aws_code,
                hint,
                problems,
                exit_code: e.exit_code(),
            },
        }
    }

    /// A command line clap could not parse (exit 1: 2 means "changes" for `plan`).
    pub fn usage(message: String) -> ErrorReport {
        ErrorReport {
            error: ErrorBody {
                code: "usage",
                message,
                resource: None,
                aws_code: None,
                hint: Some("see `orderflow --help`".into()),
                problems: Vec::new(),
                exit_code: 1,
            },
        }
    }
}
