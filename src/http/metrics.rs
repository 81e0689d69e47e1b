//! Prometheus metrics: every metric name of the crate (one place), the process-wide recorder, the
//! per-delivery counter and histogram, and the `GET /metrics` scrape.
//!
//! Invariants:
//! - Metric names live here as consts; other modules record with the `metrics` macros using these names.
//! - The recorder is installed once per process ([`install_recorder`] returns the same handle on every
//!   call), so tests and `serve` can both ask for it.
//! - Label values are bounded: a delivery's `event` label is the GitHub event name only when the request
//!   was signed (or a fixed word otherwise), its `outcome` one of a few fixed words.
//! - The job gauge is refreshed from [`crate::queue::Queue::depth`] at scrape time, every state present
//!   (0 when it has no jobs); a failing database is logged and the rest still rendered.

use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::AppState;
use crate::queue::JobState;

/// Counter {event, outcome}: webhook deliveries answered. Outcomes: accepted, duplicate, ignored, rejected,
/// error.
pub const WEBHOOK_DELIVERIES_TOTAL: &str = "metagpt_bot_webhook_deliveries_total";
/// Histogram {outcome}: time from request to answer, body read and persistence included.
pub const WEBHOOK_DURATION_SECONDS: &str = "metagpt_bot_webhook_duration_seconds";
/// Gauge {state}: jobs per state (queued, running, done, failed, cancelled), refreshed at scrape time.
pub const JOBS: &str = "metagpt_bot_jobs";
/// Histogram {action, outcome}: a job's run time in a worker (recorded by the worker).
pub const JOB_DURATION_SECONDS: &str = "metagpt_bot_job_duration_seconds";
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
const ALL_JOB_STATES: [JobState; 5] = [
    JobState::Queued,
    JobState::Running,
    JobState::Done,
    JobState::Failed,
    JobState::Cancelled,
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
    metrics::describe_counter!(GITHUB_API_CALLS_TOTAL, "GitHub API calls");
    metrics::describe_counter!(GITHUB_API_ERRORS_TOTAL, "GitHub API requests that failed");
}

/// Set by the delivery handler on its response, read by [`track_delivery`].
#[derive(Debug, Clone)]
pub(crate) struct DeliveryLabels {
    event: String,
    outcome: &'static str,
}

impl DeliveryLabels {
    /// For a signed delivery: its event name, if it looks like one.
    pub(crate) fn verified(event: &str) -> Self {
        let looks_like_event = !event.is_empty()
            && event.len() <= 64
            && event.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        let event = if looks_like_event { event } else { "unknown" };
        Self {
            event: event.to_owned(),
            outcome: "unknown",
        }
    }

    /// For a request whose signature was not verified: its claimed event is not trusted.
    pub(crate) fn unverified() -> Self {
        Self {
            event: "unverified".to_owned(),
            outcome: "unknown",
        }
    }

    /// Puts the labels, with `outcome`, on `response` for [`track_delivery`].
    pub(crate) fn attach(self, outcome: &'static str, response: impl IntoResponse) -> Response {
        let mut response = response.into_response();
        response
            .extensions_mut()
            .insert(DeliveryLabels { outcome, ..self });
        response
    }
}

/// Middleware around the webhook route: counts each delivery and times it, body read included.
pub(crate) async fn track_delivery(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = response
        .extensions()
        .get::<DeliveryLabels>()
        .cloned()
        .unwrap_or(DeliveryLabels {
            event: "unknown".to_owned(),
            outcome: "unknown",
        });
    let outcome = labels.outcome;
    metrics::counter!(WEBHOOK_DELIVERIES_TOTAL, "event" => labels.event, "outcome" => outcome)
        .increment(1);
    metrics::histogram!(WEBHOOK_DURATION_SECONDS, "outcome" => labels.outcome)
        .record(started.elapsed().as_secs_f64());
    response
}

/// `GET /metrics`: Prometheus text format.
pub(crate) async fn render(State(state): State<AppState>) -> Response {
    match state.queue.depth().await {
        Ok(depth) => {
            for job_state in ALL_JOB_STATES {
                let count = depth
                    .iter()
                    .find(|(s, _)| *s == job_state)
                    .map_or(0, |(_, n)| *n);
                metrics::gauge!(JOBS, "state" => job_state.as_str()).set(count as f64);
            }
        }
        Err(error) => {
            tracing::warn!(error = %format!("{error:#}"), "could not read the queue depth for /metrics")
        }
    }
    state.metrics.run_upkeep();
    let content_type = [(
        header::CONTENT_TYPE,
        "text/plain; version=0.0.4; charset=utf-8",
    )];
    (StatusCode::OK, content_type, state.metrics.render()).into_response()
}
