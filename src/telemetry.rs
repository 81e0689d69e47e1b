//! Logs and metrics set-up for the process.
//!
//! Invariants:
//! - One global Prometheus recorder per process, installed once ([`metrics_handle`] is idempotent, so
//!   tests that build several routers in one process share it).
//! - Logs go to stderr, as human text (`LOG_FORMAT=pretty`) or one JSON object per line (`json`); the
//!   level comes from `LOG_LEVEL` (any `tracing` filter directive, e.g. `info,metagpt_bot=debug`).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global metrics recorder on first call and returns a handle that renders `/metrics`.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0,
                ])
                .expect("static bucket list is not empty");
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (a test harness); then ours only renders its own.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Installs the log subscriber. Fails only if `level` is not a valid filter.
pub fn init_logging(level: &str, format: LogFormat) -> Result<(), String> {
    let filter = EnvFilter::try_new(level).map_err(|e| format!("LOG_LEVEL {level:?} is not a valid filter: {e}"))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    result.map_err(|e| format!("cannot install the logger: {e}"))
}
