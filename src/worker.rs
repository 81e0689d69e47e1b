//! Workers: claim jobs from the durable queue and run each through one [`Handler`] (the pipeline).
//!
//! Invariants:
//! - A worker holds a job only while its lease is alive: a heartbeat extends it every third of the lease.
//!   When the heartbeat says the lease was lost, the handler is dropped and nothing is written for the job.
//! - `/metagpt stop` reaches a running job through its heartbeat: the handler's cancellation token fires,
//!   and the job ends `cancelled` whatever the handler returns afterwards.
//! - Shutdown has two phases. `drain`: workers stop claiming and running jobs continue. `abort` (the grace
//!   period is over): running handlers are dropped and their jobs released, queued again at once without
//!   counting an attempt, for this or another process to take.
//! - Workers wake at once when this process enqueues (a [`Notify`]) and poll otherwise, so jobs enqueued by
//!   another replica sharing the database are found within `poll_interval`.
//! - A reaper re-queues jobs whose lease expired (a worker that died); it runs at start and then
//!   periodically, in every replica (the operation is idempotent).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::queue::{Heartbeat, Job, JobError, JobState, Queue};
use crate::server::metrics::JOB_DURATION_SECONDS;

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
    grace: Duration,
}

/// Starts `options.workers` workers and the lease reaper.
pub fn spawn(
    queue: Queue,
    handler: Arc<dyn Handler>,
    wake: Arc<Notify>,
    options: WorkerOptions,
) -> Workers {
    let drain = CancellationToken::new();
    let abort = CancellationToken::new();
    let mut tasks = JoinSet::new();
    if options.workers > 0 {
        tasks.spawn(reaper(queue.clone(), options.lease, drain.clone()));
    }
    for index in 0..options.workers {
        let worker = Worker {
            id: format!("{}#{index}", options.owner),
            queue: queue.clone(),
            handler: handler.clone(),
            wake: wake.clone(),
            options: options.clone(),
            drain: drain.clone(),
            abort: abort.clone(),
        };
        tasks.spawn(worker.run());
    }
    Workers {
        tasks,
        drain,
        abort,
        grace: options.grace,
    }
}

impl Workers {
    /// Stops claiming new jobs; running jobs continue. [`Workers::shutdown`] does this first.
    pub fn stop_claiming(&self) {
        self.drain.cancel();
    }

    /// Stops claiming, waits up to the grace period for running jobs, then releases the rest.
    pub async fn shutdown(mut self) {
        self.stop_claiming();
        let finished = tokio::time::timeout(self.grace, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if finished.is_err() {
            tracing::warn!(grace = ?self.grace, "grace period over: releasing running jobs");
            self.abort.cancel();
            while self.tasks.join_next().await.is_some() {}
        }
    }
}

struct Worker {
    id: String,
    queue: Queue,
    handler: Arc<dyn Handler>,
    wake: Arc<Notify>,
    options: WorkerOptions,
    drain: CancellationToken,
    abort: CancellationToken,
}

impl Worker {
    async fn run(self) {
        let mut failures = 0u32;
        while !self.drain.is_cancelled() {
            // Register interest before claiming so a notify between claim and wait is not lost.
            let notified = self.wake.notified();
            match self.queue.claim(&self.id, self.options.lease).await {
                Ok(Some(job)) => {
                    failures = 0;
                    self.run_job(job).await;
                    continue;
                }
                Ok(None) => failures = 0,
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::error!(worker = %self.id, error = %e, "cannot claim a job; the database may be down");
                }
            }
            let pause = self.options.poll_interval * 2u32.saturating_pow(failures.min(5));
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(pause) => {}
                _ = self.drain.cancelled() => {}
            }
        }
    }

    async fn run_job(&self, job: Job) {
        let span = tracing::info_span!("job", id = job.id, repo = %job.trigger.repo.full_name(),
            issue = job.trigger.issue_number, action = job.trigger.action.name(), attempt = job.attempts);
        self.run_job_in_span(job).instrument(span).await
    }

    async fn run_job_in_span(&self, job: Job) {
        let started = Instant::now();
        tracing::info!("job started");
        let cancel = CancellationToken::new();
        let outcome = tokio::select! {
            result = self.handler.handle(&job, cancel.clone()) => Ended::Returned(result),
            why = self.keep_lease(&job, &cancel) => why,
            _ = self.abort.cancelled() => Ended::Aborted,
        };
        let label = self.finish(&job, outcome).await;
        metrics::histogram!(JOB_DURATION_SECONDS, "action" => job.trigger.action.name(), "outcome" => label)
            .record(started.elapsed().as_secs_f64());
    }

    /// Heartbeats until the lease is lost or a stop is requested; never returns while all is well.
    async fn keep_lease(&self, job: &Job, cancel: &CancellationToken) -> Ended {
        let period = self.options.lease / 3;
        loop {
            tokio::time::sleep(period).await;
            match self.queue.heartbeat(job, self.options.lease).await {
                Ok(Heartbeat::Extended) => {}
                Ok(Heartbeat::CancelRequested) => {
                    cancel.cancel();
                    return Ended::Cancelled;
                }
                Ok(Heartbeat::Lost) => {
                    cancel.cancel();
                    return Ended::LeaseLost;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "heartbeat failed; retrying until the lease runs out")
                }
            }
        }
    }

    /// Writes the job's end state; returns the outcome label for metrics.
    async fn finish(&self, job: &Job, ended: Ended) -> &'static str {
        let (label, written) = match ended {
            Ended::Returned(Ok(outcome)) => {
                ("done", self.queue.complete(job, &outcome).await.map(|_| ()))
            }
            Ended::Returned(Err(error)) => {
                tracing::warn!(error = ?error, "job failed");
                match self.queue.fail(job, &error).await {
                    Ok(JobState::Queued) => ("retry", Ok(())),
                    Ok(_) => ("failed", Ok(())),
                    Err(e) => ("failed", Err(e)),
                }
            }
            Ended::Cancelled => ("cancelled", self.queue.finish_cancelled(job).await),
            Ended::Aborted => ("released", self.queue.release(job).await),
            Ended::LeaseLost => ("lease_lost", Ok(())),
        };
        match written {
            Ok(()) => tracing::info!(outcome = label, "job ended"),
            Err(e) => {
                tracing::error!(outcome = label, error = %e, "cannot record the job's end; its lease will expire and it will run again")
            }
        }
        label
    }
}

enum Ended {
    Returned(Result<serde_json::Value, JobError>),
    Cancelled,
    LeaseLost,
    Aborted,
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
