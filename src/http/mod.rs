//! The HTTP face of `serve`: the webhook intake, health and readiness probes, Prometheus metrics, and the
//! App's one-click registration ([`setup`]).
//!
//! Invariants:
//! - [`router`] is the whole HTTP surface; `serve` binds it, tests drive it directly.
//! - The webhook handler verifies, parses, decides, persists and answers; nothing slow happens before the
//!   answer (GitHub waits 10 s and does not retry). After a job is enqueued, [`AppState::job_notify`] is
//!   notified so a local worker wakes at once instead of waiting for its next poll.
//! - No request can panic the server: every input error becomes a 4xx answer.

pub mod command;
pub mod intake;
pub mod payloads;
mod probes;
pub mod setup;
pub mod webhook;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::{Notify, mpsc};

use crate::config::validate_webhook_path;
use crate::domain::Trigger;
use crate::queue::Queue;
use intake::IntakeConfig;

pub use webhook::{
    Delivery, MAX_BODY_BYTES, SignatureError, WebhookRejection, sign, verify_signature,
};

/// Extra readiness check: returns one problem per entry (with its fix), empty when ready.
pub type ReadinessCheck = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

/// Shared by every request. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<IntakeConfig>,
    pub queue: Queue,
    pub metrics: PrometheusHandle,
    /// Notified (`notify_one`) after a job is enqueued.
    pub job_notify: Arc<Notify>,
    /// Consulted by `/readyz` (e.g. "settings complete"); the database ping and the webhook secret are
    /// checked besides.
    pub readiness: ReadinessCheck,
    /// Where an accepted run that waits behind earlier runs of its issue is announced (after the
    /// delivery is stored, before the answer; never waited for: a full channel drops it).
    pub queued: Option<mpsc::Sender<Trigger>>,
}

impl AppState {
    /// A state with a fresh [`Notify`] and no extra readiness check.
    pub fn new(config: IntakeConfig, queue: Queue, metrics: PrometheusHandle) -> Self {
        Self {
            config: Arc::new(config),
            queue,
            metrics,
            job_notify: Arc::new(Notify::new()),
            readiness: Arc::new(Vec::new),
            queued: None,
        }
    }

    /// Announces runs queued behind others on `queued` (the announcer's channel).
    pub fn with_queued(mut self, queued: mpsc::Sender<Trigger>) -> Self {
        self.queued = Some(queued);
        self
    }

    pub fn with_readiness(
        mut self,
        check: impl Fn() -> Vec<String> + Send + Sync + 'static,
    ) -> Self {
        self.readiness = Arc::new(check);
        self
    }
}

/// The application's routes: `POST $WEBHOOK_PATH`, `GET /healthz`, `GET /readyz`, `GET /metrics`.
///
/// An invalid `webhook_path` (see [`validate_webhook_path`]; `config` and `doctor` report it) is logged
/// and the default path served instead, so a bad setting cannot crash the process here.
pub fn router(state: AppState) -> Router {
    let webhook_path = match validate_webhook_path(&state.config.webhook_path) {
        Ok(()) => state.config.webhook_path.clone(),
        Err(problem) => {
            let default = IntakeConfig::default().webhook_path;
            tracing::error!(%problem, fallback = %default, "invalid webhook path; serving the default");
            default
        }
    };
    let webhook = post(intake::receive)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(probes::track_delivery));
    Router::new()
        .route(&webhook_path, webhook)
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz))
        .route("/metrics", get(probes::render))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    use super::*;
    use crate::queue::QueueOptions;

    #[tokio::test]
    async fn every_recorded_payload_of_every_event_is_answered_2xx_when_correctly_signed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/q.db", dir.path().display());
        let queue = Queue::connect(&url, QueueOptions::default())
            .await
            .expect("queue");
        let config = IntakeConfig {
            webhook_secrets: vec!["s3cret".to_owned().into()],
            ..IntakeConfig::default()
        };
        let metrics = crate::telemetry::install_recorder().expect("recorder");
        let app = router(AppState::new(config, queue.clone(), metrics));
        let mut answered = std::collections::BTreeMap::<u16, usize>::new();
        for (event, i, body) in payloads::tests::recorded_payloads() {
            let request = Request::post("/api/github/webhooks")
                .header("x-github-event", &event)
                .header("x-github-delivery", format!("{event}-{i}"))
                .header("x-hub-signature-256", sign("s3cret", &body))
                .header("content-type", "application/json")
                .body(Body::from(body))
                .expect("request");
            let status = app.clone().oneshot(request).await.expect("answer").status();
            assert!(status.is_success(), "{event}[{i}] answered {status}");
            *answered.entry(status.as_u16()).or_default() += 1;
        }
        assert_eq!(answered.values().sum::<usize>(), 329, "{answered:?}");
        queue.close().await;
    }
}
