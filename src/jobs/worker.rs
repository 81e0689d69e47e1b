//! Workers: claim jobs from the durable queue and run each through the one [`Handler`] (the App's
//! dispatcher, `jobs::Jobs`); run workers claim run jobs, the control loop control jobs.
//!
//! Invariants:
//! - `options.workers` run workers run run jobs; one control loop ([`Workers::spawn_control`]) runs control
//!   jobs one at a time, beside them, so a stop is applied while every run worker is busy.
//! - Leases, heartbeats and how a job ends are the same for both classes.
//! - Shutdown has two phases. `drain`: workers and the control loop stop claiming and running jobs
//!   continue. `abort` (the grace period is over): running handlers are dropped and their jobs released,
//!   queued again at once without counting an attempt, for this or another process to take.
//! - Workers wake at once when this process enqueues (one [`Notify`], shared by both classes and notified
//!   with `notify_waiters`) and poll otherwise, so jobs enqueued by another replica sharing the database
//!   are found within `poll_interval`.
//! - A reaper re-queues jobs whose lease expired (a worker that died); it runs at start and then
//!   periodically, in every replica (the operation is idempotent).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::queue::{Heartbeat, Job, JobError, JobState, LeaseLost, Queue};
use crate::telemetry::JOB_DURATION_SECONDS;

/// Runs one job, run or control. Implemented by the App's dispatcher (`jobs::Jobs`); tests use their own.
pub trait Handler: Send + Sync + 'static {
    /// `cancel` fires when the job was stopped by a user or its lease was lost; a handler that runs long
    /// should watch it and return early (a control job is short and may ignore it). The returned JSON is
    /// kept as the job's outcome.
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
        workers.start(id, Class::Run, handler.clone(), &queue, &wake);
    }
    workers
}

impl Workers {
    /// Starts the control loop: one job at a time from [`Queue::claim_control`], woken by `wake` like the
    /// run workers, drained and aborted with them at shutdown.
    pub fn spawn_control(&mut self, queue: Queue, handler: Arc<dyn Handler>, wake: Arc<Notify>) {
        let id = format!("{}#control", self.options.owner);
        self.start(id, Class::Control, handler, &queue, &wake);
    }

    fn start(
        &mut self,
        id: String,
        class: Class,
        handler: Arc<dyn Handler>,
        queue: &Queue,
        wake: &Arc<Notify>,
    ) {
        let worker = Worker {
            id,
            class,
            handler,
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

/// Which jobs a worker claims: run workers take run jobs ([`Queue::claim`]), the control loop takes
/// control jobs ([`Queue::claim_control`]), so a stop is never stuck behind busy run workers.
#[derive(Clone, Copy)]
enum Class {
    Run,
    Control,
}

impl Class {
    async fn claim(
        self,
        queue: &Queue,
        id: &str,
        options: &WorkerOptions,
    ) -> anyhow::Result<Option<Job>> {
        match self {
            Class::Run => queue.claim(id, options.lease).await,
            Class::Control => queue.claim_control(id, options.lease).await,
        }
    }
}

/// One worker's loop: claim a job of its class, run it under a kept lease, write how it ended.
///
/// - A job is held only while its lease is alive: a heartbeat extends it every third of the lease. When
///   the heartbeat says the lease was lost, or no heartbeat got through before the lease would run out
///   (database unreachable), the handler is stopped and nothing is written for the job.
/// - A stop reaches a running run job through its heartbeat (or at once, through the dispatcher, when
///   the stop was applied in this process): the handler's cancellation token fires, the handler gets up
///   to half a lease to wind down (kill its agent, say so on GitHub), and the job ends `cancelled`
///   whatever the handler returns. A handler woken first (a stop applied in this process, or the
///   publish gate) returns before the heartbeat knows; the queue then ends the job `cancelled` too,
///   since its stop was requested.
/// - The wake signal is registered before each claim, so a job enqueued between the claim and the wait
///   is not missed; otherwise the worker polls, backing off while the database fails.
struct Worker {
    id: String,
    class: Class,
    handler: Arc<dyn Handler>,
    queue: Queue,
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
            match self.class.claim(&self.queue, &self.id, &self.options).await {
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
            issue = job.trigger.issue_number, action = job.trigger.request.name(), attempt = job.attempts);
        self.run_job_in_span(job).instrument(span).await
    }

    async fn run_job_in_span(&self, job: Job) {
        let started = Instant::now();
        tracing::info!("job started");
        let cancel = CancellationToken::new();
        let handled = self.handler.handle(&job, cancel.clone());
        tokio::pin!(handled);
        let outcome = tokio::select! {
            result = &mut handled => Ended::Returned(result),
            why = self.keep_lease(&job, &cancel) => {
                if matches!(why, Ended::Cancelled) {
                    // The handler saw its token fire: give it a moment to wind down (kill the agent,
                    // tell the issue it stopped) before its future is dropped. Within half a lease,
                    // so the lease is still ours while it does.
                    let wind_down = self.options.lease / 2;
                    tokio::select! {
                        _ = tokio::time::timeout(wind_down, &mut handled) => {}
                        _ = self.abort.cancelled() => {}
                    }
                }
                why
            }
            _ = self.abort.cancelled() => Ended::Aborted,
        };
        let label = self.finish(&job, outcome).await;
        metrics::histogram!(JOB_DURATION_SECONDS, "action" => job.trigger.request.name(), "outcome" => label)
            .record(started.elapsed().as_secs_f64());
    }

    /// Heartbeats until the lease is lost or a stop is requested; never returns while all is well.
    async fn keep_lease(&self, job: &Job, cancel: &CancellationToken) -> Ended {
        let period = self.options.lease / 3;
        // The lease is ours until `held_until`; past it another worker may take the job, so the
        // handler must stop even when the database never answered that the lease was lost.
        let mut held_until = Instant::now() + self.options.lease;
        loop {
            tokio::time::sleep(period).await;
            if Instant::now() + period >= held_until {
                tracing::warn!("no heartbeat got through for a whole lease; stopping the job");
                cancel.cancel();
                return Ended::LeaseLost;
            }
            let sent = Instant::now();
            match self.queue.heartbeat(job, self.options.lease).await {
                Ok(Heartbeat::Extended) => held_until = sent + self.options.lease,
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
                    // A stop woke the handler (or its publish gate stopped it) before a heartbeat did.
                    Ok(JobState::Cancelled) => ("cancelled", Ok(())),
                    Ok(_) => ("failed", Ok(())),
                    Err(e) if e.is::<LeaseLost>() => ("lease_lost", Ok(())),
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
