//! What every function's `main` does before serving (feature `runtime`): JSON logs and
//! required environment variables.

use tracing_subscriber::EnvFilter;

/// JSON lines for CloudWatch: level, target, fields and the invocation span (request id);
/// `RUST_LOG` overrides the default `info`.
pub fn init_json_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(true)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .init();
}

/// The value of environment variable `name`; an error naming it when unset or blank.
pub fn required_env(name: &str) -> Result<String, String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
        .ok_or_else(|| format!("environment variable {name} is not set"))
}
