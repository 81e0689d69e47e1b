//! The gateway's HTTP server: one per process, on 127.0.0.1, shared by runs through per-run tokens.
//!
//! Invariants: it listens on the loopback interface only, on a port the OS picks; it serves one route,
//! `POST /v1/chat/completions`; it stops when `shutdown` is called or the `Gateway` is dropped.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use axum::serve::ListenerExt as _;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::config::GatewayConfig;
use super::handler::{App, chat_completions, not_found};
use super::recording::Recording;
use super::run::{Registry, RunHandle, RunOptions};
use super::upstream::Upstream;

/// A running gateway. Point agents at `base_url()` with a run's token as their API key.
pub struct Gateway {
    addr: SocketAddr,
    registry: Arc<Registry>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Binds 127.0.0.1 on a free port and starts serving.
    pub async fn start(config: GatewayConfig) -> anyhow::Result<Gateway> {
        let registry = Arc::new(Registry::default());
        let app = Arc::new(App {
            registry: registry.clone(),
            upstream: Upstream::new(&config)?,
            prices: config.prices.clone(),
        });
        let router = Router::new()
            .route("/v1/chat/completions", post(chat_completions))
            .fallback(not_found)
            .layer(DefaultBodyLimit::max(config.max_body_bytes))
            .with_state(app);
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .context("binding the LLM gateway on 127.0.0.1")?;
        let addr = listener
            .local_addr()
            .context("reading the LLM gateway's address")?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            // SSE chunks are forwarded as small writes; without TCP_NODELAY the last one of a stream
            // waits for the agent's delayed ACK (~40 ms a call, measured by bench/gateway.sh).
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(error) = serve.await {
                tracing::error!(%error, "LLM gateway server stopped");
            }
        });
        tracing::info!(%addr, "LLM gateway listening");
        Ok(Gateway {
            addr,
            registry,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The OpenAI-style base URL agents use, e.g. `http://127.0.0.1:41234/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Registers a run and returns its handle (token, budget, ledger).
    pub fn open_run(&self, options: RunOptions) -> anyhow::Result<RunHandle> {
        self.registry.open(options, None)
    }

    /// Registers a run that replays `recording` for audit: each call is answered with the recorded
    /// answer to the same request (in recorded order for repeats) or refused as a divergence; the
    /// provider is never called, so the gateway may have been started with `UpstreamConfig::offline()`.
    /// `options.cache` is not used by such a run.
    pub fn open_replay(
        &self,
        options: RunOptions,
        recording: Recording,
    ) -> anyhow::Result<RunHandle> {
        self.registry.open(options, Some(recording))
    }

    /// Stops accepting connections and waits for calls in flight to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
