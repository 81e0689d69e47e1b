//! Workers: claim jobs from the durable queue and run each through its handler — run jobs through one
//! [`Handler`] (the pipeline), control jobs (`/metagpt stop`) through one [`ControlHandler`].
//!
//! Invariants:
//! - `options.workers` run workers run run jobs; one control loop ([`Workers::spawn_control`]) runs control
//!   jobs one at a time, beside them, so a stop is applied while every run worker is busy.
//! - Leases, heartbeats and how a job ends are the same for both classes (see `job`).
//! - Shutdown has two phases. `drain`: workers and the control loop stop claiming and running jobs
//!   continue. `abort` (the grace period is over): running handlers are dropped and their jobs released,
//!   queued again at once without counting an attempt, for this or another process to take.
//! - Workers wake at once when this process enqueues (one [`Notify`], shared by both classes and notified
//!   with `notify_waiters`) and poll otherwise, so jobs enqueued by another replica sharing the database
//!   are found within `poll_interval`.
//! - A reaper re-queues jobs whose lease expired (a worker that died); it runs at start and then
//!   periodically, in every replica (the operation is idempotent).

mod job;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::queue::{Job, JobError, Queue};
use job::{Runs, Worker};

/// Runs one job. Implemented by the pipeline; tests use their own.
pub trait Handler: Send + Sync + 'static {
    /// `cancel` fires when the job was stopped by a user or its lease was lost; a handler that runs long
    /// should watch it and return early. The returned JSON is kept as the job's outcome.
    fn handle<'a>(
        &'a self,
        job: &'a Job,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<serde_json::Value, JobError>>;
}

/// Runs one control job (a `/metagpt stop`). Short: no cancellation token, nothing can stop a stop.
/// The returned JSON is kept as the job's outcome.
pub trait ControlHandler: Send + Sync + 'static {
    fn handle<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<serde_json::Value, JobError>>;
}

/// Tunables for [`spawn`].
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub workers: usize,
    pub lease: Duration,
    pub poll_interval: Duration,
    /// How long running jobs may take to finish after shutdown starts.
    pub grace: Duration,
    /// A prefix that names this process in `lease_owner` (host and pid by default).
    pub owner: String,
}

impl WorkerOptions {
    pub fn new(workers: usize, lease: Duration, grace: Duration) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
        Self {
            workers,
            lease,
            poll_interval: Duration::from_secs(1),
            grace,
            owner: format!("{host}:{}", std::process::id()),
        }
    }
}

/// The running workers of one process.
pub struct Workers {
    tasks: JoinSet<()>,
    drain: CancellationToken,
    abort: CancellationToken,
    options: WorkerOptions,
}

/// Starts `options.workers` run workers and the lease reaper.
pub fn spawn(
    queue: Queue,
    handler: Arc<dyn Handler>,
    wake: Arc<Notify>,
    options: WorkerOptions,
) -> Workers {
    let mut workers = Workers {
        tasks: JoinSet::new(),
        drain: CancellationToken::new(),
        abort: CancellationToken::new(),
        options,
    };
    if workers.options.workers > 0 {
        let reaper = reaper(queue.clone(), workers.options.lease, workers.drain.clone());
        workers.tasks.spawn(reaper);
    }
    for index in 0..workers.options.workers {
        let id = format!("{}#{index}", workers.options.owner);
        workers.start(id, Runs::Run(handler.clone()), &queue, &wake);
    }
    workers
}

impl Workers {
    /// Starts the control loop: one job at a time from [`Queue::claim_control`], woken by `wake` like the
    /// run workers, drained and aborted with them at shutdown.
    pub fn spawn_control(
        &mut self,
        queue: Queue,
        handler: Arc<dyn ControlHandler>,
        wake: Arc<Notify>,
    ) {
        let id = format!("{}#control", self.options.owner);
        self.start(id, Runs::Control(handler), &queue, &wake);
    }

    fn start(&mut self, id: String, runs: Runs, queue: &Queue, wake: &Arc<Notify>) {
        let worker = Worker {
            id,
            runs,
            queue: queue.clone(),
            wake: wake.clone(),
            options: self.options.clone(),
            drain: self.drain.clone(),
            abort: self.abort.clone(),
        };
        self.tasks.spawn(worker.run());
    }

    /// Stops claiming new jobs; running jobs continue. [`Workers::shutdown`] does this first.
    pub fn stop_claiming(&self) {
        self.drain.cancel();
    }

    /// Stops claiming, waits up to the grace period for running jobs, then releases the rest.
    pub async fn shutdown(mut self) {
        self.stop_claiming();
        let grace = self.options.grace;
        let finished = tokio::time::timeout(grace, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if finished.is_err() {
            tracing::warn!(?grace, "grace period over: releasing running jobs");
            self.abort.cancel();
            while self.tasks.join_next().await.is_some() {}
        }
    }
}

async fn reaper(queue: Queue, lease: Duration, drain: CancellationToken) {
    loop {
        match queue.requeue_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(jobs = n, "re-queued jobs whose worker stopped heartbeating"),
            Err(e) => tracing::warn!(error = %e, "cannot re-queue expired leases"),
        }
        tokio::select! {
            _ = tokio::time::sleep(lease / 2) => {}
            _ = drain.cancelled() => return,
        }
    }
}
