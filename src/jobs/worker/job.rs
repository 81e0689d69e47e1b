//! One worker's loop: claim a job of its class, run it under a kept lease, write how it ended.
//!
//! Invariants:
//! - A worker claims only its class: run workers take run jobs ([`Queue::claim`]), the control loop takes
//!   control jobs ([`Queue::claim_control`]), so a stop is never stuck behind busy run workers.
//! - A job is held only while its lease is alive: a heartbeat extends it every third of the lease. When
//!   the heartbeat says the lease was lost, or no heartbeat got through before the lease would run out
//!   (database unreachable), the handler is stopped and nothing is written for the job.
//! - A stop reaches a running run job through its heartbeat: the handler's cancellation token fires, the
//!   handler gets up to half a lease to wind down (kill its agent, say so on GitHub), and the job ends
//!   `cancelled` whatever the handler returns.
//! - The wake signal is registered before each claim, so a job enqueued between the claim and the wait
//!   is not missed; otherwise the worker polls, backing off while the database fails.

use std::sync::Arc;
use std::time::Instant;

use futures_util::future::BoxFuture;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::{ControlHandler, Handler, WorkerOptions};
use crate::queue::{Heartbeat, Job, JobError, JobState, Queue};
use crate::telemetry::JOB_DURATION_SECONDS;

/// What a worker claims and who runs it.
#[derive(Clone)]
pub(super) enum Runs {
    Run(Arc<dyn Handler>),
    Control(Arc<dyn ControlHandler>),
}

impl Runs {
    async fn claim(
        &self,
        queue: &Queue,
        id: &str,
        options: &WorkerOptions,
    ) -> anyhow::Result<Option<Job>> {
        match self {
            Runs::Run(_) => queue.claim(id, options.lease).await,
            Runs::Control(_) => queue.claim_control(id, options.lease).await,
        }
    }

    fn handle<'a>(
        &'a self,
        job: &'a Job,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<serde_json::Value, JobError>> {
        match self {
            Runs::Run(handler) => handler.handle(job, cancel),
            Runs::Control(handler) => handler.handle(job),
        }
    }
}

pub(super) struct Worker {
    pub(super) id: String,
    pub(super) runs: Runs,
    pub(super) queue: Queue,
    pub(super) wake: Arc<Notify>,
    pub(super) options: WorkerOptions,
    pub(super) drain: CancellationToken,
    pub(super) abort: CancellationToken,
}

impl Worker {
    pub(super) async fn run(self) {
        let mut failures = 0u32;
        while !self.drain.is_cancelled() {
            // Register interest before claiming so a notify between claim and wait is not lost.
            let notified = self.wake.notified();
            match self.runs.claim(&self.queue, &self.id, &self.options).await {
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
        let handled = self.runs.handle(&job, cancel.clone());
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
        metrics::histogram!(JOB_DURATION_SECONDS, "action" => job.trigger.action.name(), "outcome" => label)
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
