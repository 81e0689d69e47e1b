//! The probes: `GET /healthz`, `GET /readyz` and `GET /metrics` (Prometheus text), and the webhook
//! route's metrics middleware (one count and one duration per delivery). Metric names and the recorder live
//! in [`crate::telemetry`].
//!
//! Invariants:
//! - `/healthz` answers 200 `ok` whenever the process serves HTTP; it checks nothing else, so an
//!   orchestrator restarts only a wedged process.
//! - `/readyz` answers 200 `ready` only when the database answers a ping within [`PING_TIMEOUT`], a webhook
//!   secret is configured and the state's readiness check reports no problem; otherwise 503 with one
//!   problem per line, each saying what to fix.
//! - Label values are bounded: a delivery's `event` label is the GitHub event name only when the request
//!   was signed (or a fixed word otherwise), its `outcome` one of a few fixed words.
//! - The job gauge is refreshed from [`crate::queue::Queue::depth`] at scrape time, every state present
//!   (0 when it has no jobs); a failing database is logged and the rest still rendered.

use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::queue::JobState;
use crate::telemetry::{JOBS, WEBHOOK_DELIVERIES_TOTAL, WEBHOOK_DURATION_SECONDS};

/// A database that does not answer within this is reported as unreachable.
pub const PING_TIMEOUT: Duration = Duration::from_secs(3);

pub(crate) async fn healthz() -> &'static str {
    "ok"
}

pub(crate) async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    let mut problems = (state.readiness)();
    if state.config.webhook_secrets.is_empty() {
        problems.push("no webhook secret is configured: set WEBHOOK_SECRET".to_owned());
    }
    match tokio::time::timeout(PING_TIMEOUT, state.queue.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => problems.push(format!(
            "database unreachable: {error:#} (check DATABASE_URL)"
        )),
        Err(_) => problems.push(format!(
            "database did not answer within {} s (check DATABASE_URL and the database server)",
            PING_TIMEOUT.as_secs()
        )),
    }
    if problems.is_empty() {
        (StatusCode::OK, "ready".to_owned())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready:\n{}\n", problems.join("\n")),
        )
    }
}

const ALL_JOB_STATES: [JobState; 5] = [
    JobState::Queued,
    JobState::Running,
    JobState::Done,
    JobState::Failed,
    JobState::Cancelled,
];

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
