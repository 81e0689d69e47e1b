//! Log set-up for the process (the metrics recorder lives with the metric names in
//! [`crate::http::metrics`]).
//!
//! Invariants:
//! - Logs go to stderr, as human text (`LOG_FORMAT=pretty`) or one JSON object per line (`json`); the
//!   level comes from `LOG_LEVEL` (any `tracing` filter directive, e.g. `info,metagpt_bot=debug`).

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the log subscriber. Fails only if `level` is not a valid filter.
pub fn init_logging(level: &str, format: LogFormat) -> Result<(), String> {
    let filter = EnvFilter::try_new(level)
        .map_err(|e| format!("LOG_LEVEL {level:?} is not a valid filter: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    result.map_err(|e| format!("cannot install the logger: {e}"))
}
