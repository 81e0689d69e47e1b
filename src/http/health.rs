//! `GET /healthz` and `GET /readyz`.
//!
//! Invariants:
//! - `/healthz` answers 200 `ok` whenever the process serves HTTP; it checks nothing else, so an
//!   orchestrator restarts only a wedged process.
//! - `/readyz` answers 200 `ready` only when the database answers a ping within [`PING_TIMEOUT`], a webhook
//!   secret is configured and the state's readiness check reports no problem; otherwise 503 with one
//!   problem per line, each saying what to fix.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;

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
