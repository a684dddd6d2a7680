//! Logging: one JSON object per line on stdout, as CloudWatch Logs expects.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber. Level from `RUST_LOG` (or `AWS_LAMBDA_LOG_LEVEL`), default `info`.
/// `ROLLGATE_LOG_FORMAT=text` switches to human-readable lines for local runs.
pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL").map(|l| l.to_lowercase()))
        .ok()
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let result = if std::env::var("ROLLGATE_LOG_FORMAT").as_deref() == Ok("text") {
        builder.with_ansi(false).try_init()
    } else {
        builder.json().flatten_event(true).with_current_span(false).with_span_list(false).try_init()
    };
    // A second init (tests) keeps the first subscriber.
    drop(result);
}

/// Unwraps a cold-start step, or logs the error as one JSON line and exits with status 1.
/// Lambda then reports `Runtime.ExitError` with that line in the function's logs.
pub fn init_or_exit<T, E: std::fmt::Display>(step: &str, result: Result<T, E>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => {
            tracing::error!(error = %e, step, "cold start failed; fix the function's configuration");
            std::process::exit(1);
        }
    }
}
