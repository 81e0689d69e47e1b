//! The durable job queue: every webhook delivery the server answers, and the jobs its triggers start.
//!
//! Invariants:
//! - `record` answers only after the delivery (and its job, if any) has committed; concurrent callers
//!   share one transaction through a single writer (group commit, see `writer`; on SQLite a thread with
//!   its own connection).
//! - Two classes of jobs: run jobs (MetaGPT on an issue, `jobs::run_issue`) and control jobs (the actions of
//!   [`crate::marks::CONTROL_ACTIONS`]: `/metagpt stop`, see `control`, and label checks). A stop is
//!   stored as a control job and applied by its worker after a permission check, never at intake; a label
//!   check may enqueue a run job once its worker has read the repository's settings.
//! - A delivery id is recorded once; a redelivery starts work again only if its earlier job failed or was
//!   cancelled (see `record`).
//! - At most one run job per (repository, issue) is `running`, enforced by the claim query and by a
//!   partial unique index; run jobs of one issue run in the order they were recorded. Control jobs are
//!   outside that rule both ways: they never wait behind a run job, and run jobs never wait behind them.
//! - A running job belongs to the holder of its lease token; only that holder can extend or end it, and a
//!   lease that expires (a killed worker) returns the job to the queue via `requeue_expired`.
//! - An acknowledged stop wins over a late push: a run passes [`Queue::begin_publish`] right before it
//!   pushes, and a stop (or cancel) and that gate never both win, on either backend (see `control`). A
//!   stop applied after the gate reports the run as [`StopReport::too_late`] instead of flagging it.
//! - SQLite (default, one machine) and Postgres (several machines) run the same logic; their SQL differs
//!   only in the claim's row lock and the form of the batch write (see `sql` and `record`).
//!
//! Wiring: [`Queue::connect`] must run inside a tokio runtime (it starts the writer, which ends at
//! [`Queue::close`] or once every `Queue` handle is dropped). `serve` calls [`Queue::reconcile_on_start`] at start,
//! [`Queue::requeue_expired`] periodically, and [`Queue::close`] last.

mod backend;
mod control;
mod inspect;
mod lease;
mod record;
mod sql;
mod types;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{mpsc, oneshot};

use crate::domain::Trigger;
use backend::{Backend, on_pool};
pub use control::{PublishGate, StopReport};

/// The SQLite file behind `DATABASE_URL`, when it names one (a Postgres URL does not).
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    url.starts_with("sqlite:")
        .then(|| Backend::sqlite_file(url).ok())
        .flatten()
}
pub use inspect::{JobInfo, StoredDelivery};
pub use lease::LeaseLost;
pub use types::{
    DeliveryOutcome, DeliveryRecord, Heartbeat, Job, JobError, JobState, QUEUED_BEHIND_MAX,
    QueueOptions, Recorded,
};

/// Cheap to clone; shared by the server and every worker.
#[derive(Clone)]
pub struct Queue {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    options: QueueOptions,
    writer: mpsc::Sender<writer::Message>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match self.inner.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        };
        f.debug_struct("Queue")
            .field("backend", &backend)
            .field("options", &self.inner.options)
            .finish()
    }
}

impl Queue {
    /// Opens `sqlite://…` (creating the file and its folder, WAL) or `postgres://…`, and runs migrations.
    /// Spawns the group-commit writer on the current tokio runtime.
    pub async fn connect(database_url: &str, options: QueueOptions) -> anyhow::Result<Queue> {
        let backend = Backend::connect(database_url).await?;
        let writer = match &backend {
            Backend::Sqlite(_) => writer::spawn_sqlite(&Backend::sqlite_file(database_url)?)?,
            Backend::Postgres(pool) => writer::spawn_postgres(pool.clone()),
        };
        Ok(Queue {
            inner: Arc::new(Inner {
                backend,
                options,
                writer,
            }),
        })
    }

    /// Persists a delivery and, if given, its trigger's job (a control job for `stop`) in one transaction.
    /// Group-committed: many concurrent callers share one transaction/fsync. Returns only once durable.
    pub async fn record(
        &self,
        delivery: DeliveryRecord,
        trigger: Option<Trigger>,
    ) -> anyhow::Result<Recorded> {
        let (reply, answer) = oneshot::channel();
        let request = writer::Request {
            delivery,
            trigger,
            reply,
        };
        self.inner
            .writer
            .send(writer::Message::Record(request))
            .await
            .ok()
            .context("the queue writer has stopped")?;
        answer
            .await
            .context("the queue writer stopped before committing")?
    }

    /// Claims the oldest runnable run job whose issue has no running run job. `None` when nothing is
    /// runnable. Never returns a control job.
    pub async fn claim(&self, worker_id: &str, lease: Duration) -> anyhow::Result<Option<Job>> {
        lease::claim(&self.inner.backend, lease::Class::Run, worker_id, lease).await
    }

    /// Claims the oldest runnable control job (`stop`, `label`), whatever runs on its issue. `None` when there is
    /// none. Ended like any job ([`Queue::complete`], [`Queue::fail`]).
    pub async fn claim_control(
        &self,
        worker_id: &str,
        lease: Duration,
    ) -> anyhow::Result<Option<Job>> {
        lease::claim(&self.inner.backend, lease::Class::Control, worker_id, lease).await
    }

    /// Applies a stop (the control job `stop_job_id`) to issue `issue_number` of repository `repo_id`:
    /// cancels its queued run jobs and flags its running one, among those recorded before the stop. A
    /// running one already past its publish gate is not flagged: the report names it `too_late`. Applying
    /// the same stop again changes nothing more and reports the same (a retried control job).
    /// Call it only once the sender was found allowed to stop runs.
    pub async fn stop_issue(
        &self,
        repo_id: u64,
        issue_number: u64,
        stop_job_id: i64,
    ) -> anyhow::Result<StopReport> {
        control::stop_issue(&self.inner.backend, repo_id, issue_number, stop_job_id).await
    }

    /// The publish gate, called by a run right before it pushes: in one atomic step, marks the job
    /// `publishing` if this worker still holds it and no stop was requested. After
    /// [`PublishGate::Proceed`] the job is past the point of no return (no stop or cancel flags it any
    /// more); [`PublishGate::Stopped`] means do not push and end it with [`Queue::finish_cancelled`];
    /// [`PublishGate::LeaseLost`] means do not push and write nothing. A job put back in the queue (a
    /// transient failure, a release, an expired lease) passes the gate anew on its next attempt.
    pub async fn begin_publish(&self, job: &Job) -> anyhow::Result<PublishGate> {
        control::begin_publish(&self.inner.backend, job).await
    }

    /// Extends the lease by `lease` from now, and reports a requested stop or a lost lease.
    pub async fn heartbeat(&self, job: &Job, lease: Duration) -> anyhow::Result<Heartbeat> {
        lease::heartbeat(&self.inner.backend, job, lease).await
    }

    /// Marks done with an outcome summary (JSON text shown to operators).
    /// Fails with [`LeaseLost`] (nothing written) if this worker no longer holds the job.
    pub async fn complete(&self, job: &Job, outcome: &serde_json::Value) -> anyhow::Result<()> {
        lease::complete(&self.inner.backend, job, outcome).await
    }

    /// Transient → back to queued with `run_after = now + backoff` (or failed after max attempts);
    /// permanent → failed. The error text is kept in `last_error`. A job whose stop was requested ends
    /// cancelled. Fails with [`LeaseLost`] if this worker no longer holds the job.
    pub async fn fail(&self, job: &Job, error: &JobError) -> anyhow::Result<JobState> {
        lease::fail(&self.inner.backend, &self.inner.options, job, error).await
    }

    /// Ends a job after [`Heartbeat::CancelRequested`]. Fails with [`LeaseLost`] if no longer held.
    pub async fn finish_cancelled(&self, job: &Job) -> anyhow::Result<()> {
        lease::end(&self.inner.backend, job, sql::FINISH_CANCELLED).await
    }

    /// Gives a running job back (graceful shutdown): queued again at once, attempt not counted.
    pub async fn release(&self, job: &Job) -> anyhow::Result<()> {
        lease::end(&self.inner.backend, job, sql::RELEASE).await
    }

    /// Re-queues running jobs whose lease has expired (failed instead once `max_attempts` are used,
    /// cancelled if a stop was requested). Returns how many. Called at start and periodically.
    pub async fn requeue_expired(&self) -> anyhow::Result<u64> {
        lease::requeue_expired(&self.inner.backend, &self.inner.options, backend::now_ms()).await
    }

    /// Start-up reconciliation: re-queues what a previous process left running. On SQLite (one process
    /// per database) that is every running job, lease or not; on Postgres, shared by several live
    /// processes, only jobs whose lease has expired (the others belong to a live worker elsewhere).
    pub async fn reconcile_on_start(&self) -> anyhow::Result<u64> {
        let cutoff = match self.inner.backend {
            Backend::Sqlite(_) => i64::MAX,
            Backend::Postgres(_) => backend::now_ms(),
        };
        lease::requeue_expired(&self.inner.backend, &self.inner.options, cutoff).await
    }

    /// Stops the writer (after what it already took) and closes the database connections (SQLite
    /// checkpoints its WAL). Call once at shutdown, after the server and workers have stopped: every later
    /// call on any clone fails.
    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self
            .inner
            .writer
            .send(writer::Message::Close(done))
            .await
            .is_ok()
        {
            let _ = closed.await;
        }
        on_pool!(&self.inner.backend, pool => pool.close().await)
    }

    /// Counts per state (every state, zeros included), for `/metrics`.
    pub async fn depth(&self) -> anyhow::Result<Vec<(JobState, i64)>> {
        inspect::depth(&self.inner.backend).await
    }

    /// The `/metagpt stop`s of the issue recorded after job `job_id` (id and trigger, oldest first), whoever
    /// sent them. A label check asks before and after it enqueues its run: a stop recorded after the
    /// check's job cancels only runs recorded before that stop.
    pub async fn stops_after(
        &self,
        repo_id: u64,
        issue_number: u64,
        job_id: i64,
    ) -> anyhow::Result<Vec<(i64, Trigger)>> {
        inspect::stops_after(&self.inner.backend, repo_id, issue_number, job_id).await
    }

    /// Cancels one run job: queued, it ends `cancelled`; running, it is asked to stop (its heartbeat and
    /// its publish gate say so) unless it has already passed its publish gate. A finished job, and any
    /// control job, is left as it is.
    pub async fn cancel(&self, job_id: i64) -> anyhow::Result<()> {
        control::cancel(&self.inner.backend, job_id).await
    }

    /// How many run jobs of one issue are queued (waiting behind its running run or each other).
    pub async fn waiting(&self, repo_id: u64, issue_number: u64) -> anyhow::Result<i64> {
        inspect::waiting(&self.inner.backend, repo_id, issue_number).await
    }

    /// `SELECT 1`, for `/readyz` and `doctor`.
    pub async fn ping(&self) -> anyhow::Result<()> {
        inspect::ping(&self.inner.backend).await
    }

    /// The stored record of a delivery id, if any.
    pub async fn delivery(&self, delivery_id: &str) -> anyhow::Result<Option<StoredDelivery>> {
        inspect::delivery(&self.inner.backend, delivery_id).await
    }

    /// A job as stored, if it exists.
    pub async fn job(&self, id: i64) -> anyhow::Result<Option<JobInfo>> {
        inspect::job(&self.inner.backend, id).await
    }
}
