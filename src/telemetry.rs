//! What the process tells its operator: logs (set-up) and metrics (every metric name of the crate, and the
//! Prometheus recorder).
//!
//! Invariants:
//! - Metric names live here as consts, each with its labels; other modules record with the `metrics`
//!   macros using these names, so a dashboard's names are found in one place.
//! - The recorder is installed once per process ([`install_recorder`] returns the same handle on every
//!   call), so tests and `serve` can both ask for it.
//! - Logs go to stderr, as human text (`LOG_FORMAT=pretty`) or one JSON object per line (`json`); the
//!   level comes from `LOG_LEVEL` (any `tracing` filter directive, e.g. `info,metagpt_bot=debug`).

use std::sync::Mutex;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
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

/// Counter {event, outcome}: webhook deliveries answered. Outcomes: accepted, duplicate, ignored, rejected,
/// error.
pub const WEBHOOK_DELIVERIES_TOTAL: &str = "metagpt_bot_webhook_deliveries_total";
/// Histogram {outcome}: time from request to answer, body read and persistence included.
pub const WEBHOOK_DURATION_SECONDS: &str = "metagpt_bot_webhook_duration_seconds";
/// Gauge {state}: jobs per state (queued, running, done, failed, cancelled), refreshed at scrape time.
pub const JOBS: &str = "metagpt_bot_jobs";
/// Histogram {action, outcome}: a job's run time in a worker (recorded by the worker).
pub const JOB_DURATION_SECONDS: &str = "metagpt_bot_job_duration_seconds";
/// Counter {provider, model}: LLM calls the gateway forwarded or answered (recorded by `run::gateway`).
pub const LLM_CALLS_TOTAL: &str = "metagpt_bot_llm_calls_total";
/// Counter {provider, model}: LLM calls that failed.
pub const LLM_ERRORS_TOTAL: &str = "metagpt_bot_llm_errors_total";
/// Counter {provider, model}: prompt tokens the provider reported.
pub const LLM_PROMPT_TOKENS_TOTAL: &str = "metagpt_bot_llm_prompt_tokens_total";
/// Counter {provider, model}: completion tokens the provider reported.
pub const LLM_COMPLETION_TOKENS_TOTAL: &str = "metagpt_bot_llm_completion_tokens_total";
/// Counter {provider, model}: cost in micro-USD, priced by the gateway's table.
pub const LLM_COST_MICRO_USD_TOTAL: &str = "metagpt_bot_llm_cost_micro_usd_total";
/// Histogram {provider, model}: an LLM call's latency.
pub const LLM_LATENCY_SECONDS: &str = "metagpt_bot_llm_latency_seconds";
/// Counter {operation}: GitHub API calls (recorded by the github module).
pub const GITHUB_API_CALLS_TOTAL: &str = "metagpt_bot_github_api_calls_total";
/// Counter {operation, status}: failed GitHub API calls (recorded by the github module).
pub const GITHUB_API_ERRORS_TOTAL: &str = "metagpt_bot_github_api_errors_total";

const WEBHOOK_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];
const JOB_BUCKETS: &[f64] = &[
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0,
];
static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// Installs the Prometheus recorder as the process's global `metrics` recorder (once) and returns its
/// handle. Fails only if another recorder was installed first.
pub fn install_recorder() -> anyhow::Result<PrometheusHandle> {
    let mut slot = HANDLE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(handle) = slot.as_ref() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(WEBHOOK_DURATION_SECONDS.to_owned()),
            WEBHOOK_BUCKETS,
        )?
        .set_buckets_for_metric(Matcher::Full(JOB_DURATION_SECONDS.to_owned()), JOB_BUCKETS)?
        .install_recorder()
        .map_err(|error| {
            anyhow::anyhow!("could not install the Prometheus metrics recorder: {error}")
        })?;
    describe();
    *slot = Some(handle.clone());
    Ok(handle)
}

fn describe() {
    metrics::describe_counter!(
        WEBHOOK_DELIVERIES_TOTAL,
        "Webhook deliveries answered, by event and outcome"
    );
    metrics::describe_histogram!(
        WEBHOOK_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Webhook request to answer"
    );
    metrics::describe_gauge!(JOBS, "Jobs in the queue, by state");
    metrics::describe_histogram!(
        JOB_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Job run time in a worker"
    );
    metrics::describe_counter!(LLM_CALLS_TOTAL, "LLM calls, by provider and model");
    metrics::describe_counter!(LLM_ERRORS_TOTAL, "LLM calls that failed");
    metrics::describe_counter!(
        LLM_PROMPT_TOKENS_TOTAL,
        "Prompt tokens the provider reported"
    );
    metrics::describe_counter!(
        LLM_COMPLETION_TOKENS_TOTAL,
        "Completion tokens the provider reported"
    );
    metrics::describe_counter!(LLM_COST_MICRO_USD_TOTAL, "LLM cost in micro-USD");
    metrics::describe_histogram!(
        LLM_LATENCY_SECONDS,
        metrics::Unit::Seconds,
        "LLM call latency"
    );
    metrics::describe_counter!(GITHUB_API_CALLS_TOTAL, "GitHub API calls");
    metrics::describe_counter!(GITHUB_API_ERRORS_TOTAL, "GitHub API requests that failed");
}
