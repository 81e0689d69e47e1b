//! The LLM gateway: agents call the bot, the bot calls the provider.
//!
//! MetaGPT is pointed at `Gateway::base_url()` with a per-run token as its API key; the real provider
//! key (a `SecretString` in `UpstreamConfig`) never leaves this process except as a header on the
//! upstream request. For every call the gateway checks the run's token and budget, forwards the request
//! (retrying 429/5xx with backoff, streaming SSE through as it arrives), and appends one `CallRecord` to
//! the run's ledger (`llm.jsonl`) with the role and SOP step it read from the prompt, the provider's token
//! usage, its price and the (redacted) answer. `CostReport` turns a ledger into `cost.json`. With
//! `CacheOptions`, answers are stored by exact request, and a retried run replays the calls it already
//! paid for. A recorded `llm.jsonl` can be replayed for audit (`Recording`, `Gateway::open_replay`):
//! offline, every call gets its recorded answer (a call that differs from the recorded one only in test
//! timings or temporary directory names is accepted and marked `normalised`) and any other call is
//! refused as a divergence.
//!
//! Invariants:
//! - No call is forwarded for an unknown or closed token (401) or a spent budget (402, "budget
//!   exhausted: spent $X of $Y"); a run's calls are serialised, so it overspends by at most one call.
//! - Token counts and cost come only from the provider's `usage` (or, replayed, from the recording);
//!   records never hold prompt text, and secrets are redacted from everything written or returned.
//!   Nothing here reads the process environment.
//! - The [`Gateway`] is one HTTP server per process, shared by runs through per-run tokens. It listens on
//!   the loopback interface only, on a port the OS picks, and on a Unix socket in a private directory
//!   (0700, removed with the `Gateway`), which is how a sandboxed agent with a network of its own reaches
//!   it (`agent::sandbox`); when the socket cannot be made (TMPDIR unwritable or too long), it says so
//!   and serves on 127.0.0.1 only, and sandboxed agents then share the host's network. Both serve the
//!   same one route, `POST /v1/chat/completions`; it stops when `shutdown` is called or the `Gateway` is
//!   dropped.
//!
//! Files: `handler.rs` (the route), `call.rs` (one call to its record), `upstream.rs` (the provider),
//! `run.rs` (tokens, budgets, the registry), `ledger.rs` (records, usage, `cost.json`), `cache.rs` (the
//! retry cache), `recording.rs` (audit replay), `classify.rs` (role and step labels), `config.rs`
//! (settings and prices), `error.rs` (refusals), `metrics.rs`.

mod cache;
mod call;
mod classify;
mod config;
mod error;
mod handler;
mod ledger;
mod recording;
mod run;
mod upstream;

pub use classify::{Labels, Step, classify};
pub use config::{GatewayConfig, PriceTable, RetryPolicy, UpstreamConfig, UpstreamKind};
pub use error::GatewayError;
pub use ledger::{
    CallRecord, CostReport, Fold, RecordedResponse, ReplayMatch, RoleCost, Totals, Usage,
    read_jsonl,
};
pub use recording::{Normalised, Recording, normalise};
pub use run::{CacheOptions, RunBudget, RunHandle, RunOptions};
pub use upstream::install_crypto_provider;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use axum::serve::ListenerExt as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use handler::{App, chat_completions, not_found};
use run::Registry;
use upstream::Upstream;

/// A running gateway. Point agents at `base_url()` with a run's token as their API key.
pub struct Gateway {
    addr: SocketAddr,
    /// The Unix socket and its private directory (removed on drop).
    socket: Option<(PathBuf, tempfile::TempDir)>,
    registry: Arc<Registry>,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("addr", &self.addr)
            .field("socket", &self.socket_path())
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Binds 127.0.0.1 on a free port and a Unix socket in a new private directory, and starts serving.
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
        let (socket, unix) = match bind_socket() {
            Ok((path, dir, listener)) => (Some((path, dir)), Some(listener)),
            Err(error) => {
                tracing::warn!(
                    "the LLM gateway serves on 127.0.0.1 only, so sandboxed agents share the host's \
                     network: {error:#}"
                );
                (None, None)
            }
        };
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            // SSE chunks are forwarded as small writes; without TCP_NODELAY the last one of a stream
            // waits for the agent's delayed ACK (~40 ms a call, measured by bench/gateway.sh).
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let tcp = axum::serve(listener, router.clone())
                .with_graceful_shutdown(stopped.clone().cancelled_owned());
            let unix = async move {
                match unix {
                    Some(unix) => {
                        axum::serve(unix, router)
                            .with_graceful_shutdown(stopped.cancelled_owned())
                            .await
                    }
                    None => Ok(()),
                }
            };
            let (tcp, unix) = tokio::join!(tcp.into_future(), unix);
            for (on, served) in [("127.0.0.1", tcp), ("its Unix socket", unix)] {
                if let Err(error) = served {
                    tracing::error!(%error, "LLM gateway server on {on} stopped");
                }
            }
        });
        tracing::info!(%addr, "LLM gateway listening");
        Ok(Gateway {
            addr,
            socket,
            registry,
            stop,
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Unix socket serving the same routes, for agents with a network of their own; `None` when it
    /// could not be made.
    pub fn socket_path(&self) -> Option<&Path> {
        self.socket.as_ref().map(|(path, _)| path.as_path())
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
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// A new directory with the gateway's socket in it. The path stays short (a socket's path is limited to
/// 107 bytes), so it lives in the temporary directory, not next to the data. The directory can be entered
/// but not listed by others (0711) and the socket connected to by anyone (0666), as an agent running as
/// its own user must: no more than the TCP port on 127.0.0.1 offers every local user, as the per-run token
/// is what lets a call through.
fn bind_socket() -> anyhow::Result<(PathBuf, tempfile::TempDir, tokio::net::UnixListener)> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("metagpt-gateway-")
        .permissions(std::fs::Permissions::from_mode(0o711))
        .tempdir()
        .context("creating its socket's directory in the temporary directory (TMPDIR)")?;
    let socket = dir.path().join("gateway.sock");
    let listener = tokio::net::UnixListener::bind(&socket).with_context(|| {
        format!(
            "binding its Unix socket {} (socket paths are limited to 107 bytes: a shorter TMPDIR helps)",
            socket.display()
        )
    })?;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666))
        .with_context(|| format!("opening its Unix socket {} to the agent", socket.display()))?;
    Ok((socket, dir, listener))
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
