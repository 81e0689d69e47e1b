//! The faces of the bot: `serve` (the GitHub App), `action` (one run in a GitHub Actions job), `run`
//! (local, no GitHub) and `doctor`.

pub mod action;
pub mod doctor;
pub mod local;
pub mod serve;

use tokio_util::sync::CancellationToken;

/// Cancels `token` at the first SIGINT or SIGTERM (a runner cancelling its job sends SIGINT, then SIGTERM;
/// Docker and Kubernetes send SIGTERM), saying so in the log with `then` (what happens next).
pub async fn cancel_on_signal(token: CancellationToken, then: &'static str) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received: {then}"),
        _ = term => tracing::info!("SIGTERM received: {then}"),
    }
    token.cancel();
}
