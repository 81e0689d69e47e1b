//! `metagpt-bot serve`: wires settings, queue, HTTP server and workers together, and shuts them down in
//! order.
//!
//! Invariants:
//! - The process starts even when App settings are incomplete: it then logs every problem with its fix,
//!   `/readyz` answers 503 with the same list, and no worker starts (a worker without credentials could
//!   only fail jobs). Deliveries are still recorded, so nothing GitHub sends meanwhile is lost.
//! - While the App is not registered at all ([`Settings::needs_setup`]), `/setup` registers it
//!   ([`crate::http::setup`]); its credentials then replace the served routes (the new webhook secret,
//!   the announcer) and start the workers in this process, before the operator is sent on. Once the App
//!   has an identity, `/setup` only says so.
//! - Where run workers start, the control loop starts beside them (one `/metagpt stop` or label check at a
//!   time); both hand their jobs to the one dispatcher, [`Jobs`]. With `WORKERS=0` or without App
//!   credentials neither starts.
//! - The App honours each repository's `trigger_label` ([`Face::App`]).
//! - Start-up reconciles the queue before any worker claims: jobs left running by a previous process are
//!   queued again (see [`Queue::reconcile_on_start`]).
//! - Shutdown (SIGTERM or SIGINT): the listener stops accepting and in-flight requests finish; workers stop
//!   claiming and get the grace period for running jobs, then release them; the queue flushes last.

use std::future::IntoFuture as _;
use std::sync::{Arc, PoisonError, RwLock};

use anyhow::Context as _;
use metrics_exporter_prometheus::PrometheusHandle;
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use crate::config::{Settings, redact_url};
use crate::github::GitHubApp;
use crate::http::intake::IntakeConfig;
use crate::http::setup::{self, SetupOptions};
use crate::http::{self, AppState};
use crate::jobs::worker::{self, WorkerOptions, Workers};
use crate::jobs::{Context, Face, Jobs, start_announcer, voice};
use crate::queue::{Queue, QueueOptions};

/// Runs until SIGTERM or SIGINT.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    tokio::spawn(super::cancel_on_signal(shutdown.clone(), "shutting down"));
    serve_until(settings, shutdown).await
}

/// When the bot is root and the agent runs as its own user (`AGENT_UID`), makes the files the bot keeps
/// secret (the App's key, read by now, `.env`, and the SQLite database with its journal files) unreadable
/// to that user, saying what it changed; a file it cannot change is a warning with the fix.
fn close_secret_files(settings: &Settings) {
    use crate::run::agent::{Closing, RunAs, close_secret_file};
    let Some(run_as) = RunAs::for_this_bot(settings.agent_uid) else {
        return;
    };
    let mut files: Vec<std::path::PathBuf> = settings.private_key_path.iter().cloned().collect();
    // `.env` holds the LLM key and the webhook secret (and, after /setup, names the key file).
    files.push(settings.env_file.clone());
    if let Some(db) = crate::queue::sqlite_file(settings.database_url.expose_secret()) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = db.clone().into_os_string();
            name.push(suffix);
            files.push(name.into());
        }
    }
    for file in files {
        match close_secret_file(run_as, &file) {
            Ok(Closing::AlreadyClosed) => {}
            Ok(Closing::Closed(how)) => tracing::warn!(
                "{} was readable by the agent's user (uid {}, AGENT_UID): closed to it ({how})",
                file.display(),
                run_as.uid
            ),
            Err(e) => tracing::warn!(
                "{} is readable by the agent's user (uid {}, AGENT_UID) and cannot be closed to it ({e}): \
                 make it mode 0600 and owned by the bot's user, or run the agent in a sandbox \
                 (AGENT_SANDBOX=bwrap or landlock), which does not reach it",
                file.display(),
                run_as.uid
            ),
        }
    }
}

/// Binds `HOST:PORT` and runs until `shutdown` fires.
pub async fn serve_until(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind((settings.host.as_str(), settings.port))
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}:{} (HOST, PORT)",
                settings.host, settings.port
            )
        })?;
    serve_on(settings, listener, shutdown).await
}

/// Runs on an already bound listener until `shutdown` fires (tests bind port 0 themselves).
pub async fn serve_on(
    mut settings: Settings,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    for problem in settings.problems() {
        tracing::warn!("not ready: {problem}");
    }
    let database = settings.database_url.expose_secret();
    let queue = Queue::connect(database, QueueOptions::default())
        .await
        .with_context(|| format!("cannot open DATABASE_URL {}", redact_url(database)))?;
    let requeued = queue
        .reconcile_on_start()
        .await
        .context("cannot reconcile the queue at start")?;
    if requeued > 0 {
        tracing::warn!(
            jobs = requeued,
            "re-queued jobs a previous process left running"
        );
    }
    close_secret_files(&settings);
    // Said at start, not at the first run: which sandbox runs get, and as which user.
    let _ = crate::run::agent::select_sandbox(
        settings.agent_sandbox,
        crate::run::agent::RunAs::for_this_bot(settings.agent_uid),
    );
    let metrics = crate::telemetry::install_recorder()?;
    let address = listener.local_addr()?;
    let (router, mut workers, registration) = if settings.needs_setup() {
        let (setup_routes, registration) = setup::routes(setup_options(&settings));
        let public = settings
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{address}"));
        tracing::warn!(
            "the GitHub App is not registered yet: open {public}/setup to register it in one click"
        );
        let state = app_state(&settings, queue.clone(), metrics.clone(), None);
        (
            http::router(state).merge(setup_routes),
            None,
            Some(registration),
        )
    } else {
        let (router, workers) = configured(&settings, &queue, metrics.clone());
        (router, workers, None)
    };
    let routes = Routes::new(router);
    tracing::info!(%address, webhook_path = %settings.webhook_path, "listening");
    let mut server = tokio::spawn(
        axum::serve(listener, routes.service())
            .with_graceful_shutdown(shutdown.clone().cancelled_owned())
            .into_future(),
    );
    let mut served = None;
    if let Some(mut registration) = registration {
        tokio::select! {
            result = &mut server => served = Some(result),
            Some(registration) = registration.recv() => {
                let credentials = registration.credentials;
                settings.app_id = Some(credentials.app_id);
                settings.private_key = Some(credentials.private_key);
                settings.private_key_error = None;
                settings.webhook_secrets = credentials.webhook_secret.into_iter().collect();
                let (router, started) = configured(&settings, &queue, metrics.clone());
                routes.replace(router);
                workers = started;
                tracing::info!(app_id = credentials.app_id, workers = workers.is_some(), "the App is registered; its credentials are saved and live");
                let _ = registration.taken.send(());
            }
        }
    }
    let served = match served {
        Some(result) => result,
        None => server.await,
    };
    let served = served
        .context("the HTTP server task failed")
        .and_then(|result| result.context("the HTTP server failed"));
    tracing::info!("no longer accepting deliveries; stopping workers");
    if let Some(workers) = workers {
        workers.shutdown().await;
    }
    queue.close().await;
    tracing::info!("stopped");
    served
}

/// The routes and workers of an App with credentials (or with a problem that setup cannot fix).
fn configured(
    settings: &Settings,
    queue: &Queue,
    metrics: PrometheusHandle,
) -> (axum::Router, Option<Workers>) {
    let github = app_client(settings);
    let state = app_state(settings, queue.clone(), metrics, github.as_ref());
    let wake = state.job_notify.clone();
    let workers = github.and_then(|github| start_workers(settings, github, queue.clone(), wake));
    (
        http::router(state).merge(setup::configured_routes()),
        workers,
    )
}

fn app_state(
    settings: &Settings,
    queue: Queue,
    metrics: PrometheusHandle,
    github: Option<&Arc<GitHubApp>>,
) -> AppState {
    let problems: Vec<String> = settings
        .problems()
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut state = AppState::new(intake_config(settings), queue.clone(), metrics)
        .with_readiness(move || problems.clone());
    if let Some(github) = github {
        state = state.with_queued(start_announcer(github.clone(), queue));
    }
    state
}

fn setup_options(settings: &Settings) -> SetupOptions {
    SetupOptions {
        github_api_url: settings.github_api_url.clone(),
        github_server_url: settings.github_server_url.clone(),
        public_url: settings.public_url.clone(),
        webhook_path: settings.webhook_path.clone(),
        env_file: settings.env_file.clone(),
    }
}

/// The router being served, replaceable while the listener keeps running: `/setup` swaps the
/// unregistered App's routes for the registered one's without a restart.
#[derive(Clone)]
struct Routes(Arc<RwLock<axum::Router>>);

impl Routes {
    fn new(router: axum::Router) -> Self {
        Self(Arc::new(RwLock::new(router)))
    }

    fn replace(&self, router: axum::Router) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = router;
    }

    /// A router that hands every request to the current one.
    fn service(&self) -> axum::Router {
        let routes = self.clone();
        axum::Router::new().fallback(move |request: axum::extract::Request| {
            let current = routes
                .0
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            async move {
                current
                    .oneshot(request)
                    .await
                    .unwrap_or_else(|never| match never {})
            }
        })
    }
}

fn intake_config(settings: &Settings) -> IntakeConfig {
    IntakeConfig {
        webhook_path: settings.webhook_path.clone(),
        webhook_secrets: settings.webhook_secrets.clone(),
        app_id: settings.app_id,
        ..IntakeConfig::default()
    }
}

/// The App's client, when its credentials are set and valid (else workers cannot start).
fn app_client(settings: &Settings) -> Option<Arc<GitHubApp>> {
    let (Some(app_id), Some(key)) = (settings.app_id, settings.private_key.as_ref()) else {
        tracing::warn!(
            "no App credentials: workers not started; jobs stay queued until they are set"
        );
        return None;
    };
    match GitHubApp::new(app_id, key, &settings.github_api_url) {
        Ok(github) => Some(Arc::new(github)),
        Err(e) => {
            tracing::error!("workers not started: {e}");
            None
        }
    }
}

fn start_workers(
    settings: &Settings,
    github: Arc<GitHubApp>,
    queue: Queue,
    wake: Arc<tokio::sync::Notify>,
) -> Option<Workers> {
    if settings.workers == 0 {
        tracing::info!("WORKERS=0: intake only, jobs wait for another replica");
        return None;
    }
    let llm = crate::run::resolve_llm(settings);
    if let Err(problems) = &llm {
        let problems = voice::incomplete_agent_settings(problems);
        tracing::warn!("runs will fail until the agent settings are complete: {problems}");
    }
    let face = Face::App {
        queue: queue.clone(),
    };
    let context = match Context::new(settings.work_dir.clone(), llm, settings.run_timeout, face) {
        Ok(context) => Arc::new(context),
        Err(e) => {
            tracing::error!("workers not started: {e:#}");
            return None;
        }
    };
    let options = WorkerOptions::new(
        settings.workers,
        settings.job_lease,
        settings.shutdown_grace,
    );
    let jobs = Arc::new(Jobs::new(github, context, queue.clone(), wake.clone()));
    let mut workers = worker::spawn(queue.clone(), jobs.clone(), wake.clone(), options);
    workers.spawn_control(queue, jobs, wake);
    Some(workers)
}
