//! Control jobs: `/metagpt stop` is recorded at intake as a job of its own (action `stop`), and its
//! handler applies it here once the sender's permission was checked.
//!
//! Invariants:
//! - Nothing is cancelled at intake: the webhook answer comes before any GitHub call, and only a worker
//!   can check who asked.
//! - A stop touches only the run jobs of its issue recorded before it (lower id): queued ones end
//!   `cancelled`, a running one is flagged and learns it through its heartbeat. Control jobs are never
//!   touched, so a stop cannot cancel another stop, nor itself.
//! - Applying the same stop twice changes nothing more (a retried control job is harmless).
//! - [`cancel`] stops one job the same way (a label check's run that an allowed stop came before).

use anyhow::Context;

use super::backend::{Backend, now_ms, on_pool};
use super::sql;

/// What [`super::Queue::stop_issue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopReport {
    /// Queued run jobs now cancelled.
    pub cancelled_queued: i64,
    /// Whether a running run job was asked to stop.
    pub running_signalled: bool,
}

impl StopReport {
    /// Whether there was nothing to stop.
    pub fn is_empty(&self) -> bool {
        self.cancelled_queued == 0 && !self.running_signalled
    }
}

pub(super) async fn stop_issue(
    backend: &Backend,
    repo_id: u64,
    issue_number: u64,
    stop_job_id: i64,
) -> anyhow::Result<StopReport> {
    let repo_id = i64::try_from(repo_id).context("repository id does not fit a BIGINT")?;
    let issue = i64::try_from(issue_number).context("issue number does not fit a BIGINT")?;
    let states: Vec<(String,)> = on_pool!(backend, pool => {
        sqlx::query_as(sql::STOP_ISSUE)
            .bind(repo_id)
            .bind(issue)
            .bind(now_ms())
            .bind(stop_job_id)
            .fetch_all(pool)
            .await
    })
    .context("cannot apply a stop to the issue's jobs")?;
    let cancelled = states
        .iter()
        .filter(|(state,)| state == "cancelled")
        .count();
    Ok(StopReport {
        cancelled_queued: i64::try_from(cancelled).unwrap_or(i64::MAX),
        running_signalled: states.iter().any(|(state,)| state == "running"),
    })
}

pub(super) async fn cancel(backend: &Backend, job_id: i64) -> anyhow::Result<()> {
    on_pool!(backend, pool => {
        sqlx::query(sql::CANCEL_JOB)
            .bind(job_id)
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|_| ())
    })
    .with_context(|| format!("cannot cancel job {job_id}"))?;
    Ok(())
}
