//! Control jobs, and the publish gate they race with: `/metagpt stop` is recorded at intake as a job of
//! its own (action `stop`), and its handler applies it here once the sender's permission was checked; a
//! label check cancels one run job here; a run passes the gate here right before it pushes.
//!
//! Invariants:
//! - Nothing is cancelled at intake: the webhook answer comes before any GitHub call, and only a worker
//!   can check who asked.
//! - A stop touches only the run jobs of its issue recorded before it (lower id): queued ones end
//!   `cancelled`, a running one is flagged and learns it through its heartbeat, or at the gate at the
//!   latest. Control jobs are never touched, so a stop cannot cancel another stop, nor itself.
//! - An acknowledged stop wins over a late push, and a push that passed the gate wins over a later stop:
//!   never both. [`begin_publish`] marks the running job `publishing` only while no stop was requested;
//!   [`stop_issue`] and [`cancel`] flag a running job only while it is not publishing, and report it
//!   ([`StopReport::too_late`]) otherwise. Each is one `UPDATE` of the job's row, and each reads the flag
//!   the other writes:
//!   - On Postgres a row is written by one transaction at a time. The second statement waits for the
//!     first's row lock, then (READ COMMITTED) re-reads the row as the first committed it, re-checks its
//!     `WHERE` and computes its `SET` from that version. So a gate after a stop reads `cancel_requested`
//!     and answers [`PublishGate::Stopped`]; a stop after a gate reads `publishing` and leaves the job
//!     alone. A stop's snapshot cannot hide a gate from it: the row it updates is always the newest.
//!   - On SQLite one connection writes at a time; a write statement takes the write lock before it reads
//!     anything, so the second statement runs wholly after the first and reads what it wrote.
//!   - Migration `0005`'s CHECK (`NOT (publishing AND cancel_requested)`) makes the state where both won
//!     unrepresentable: a statement that tried to write it would fail.
//! - Applying the same stop twice changes nothing more and reports the same: every run job a stop reaches
//!   first records it (`stopped_by`), and a stop returns those rows again, whatever their state now. (A run
//!   job another stop reached first is reported while it is still queued or running.)
//! - [`cancel`] stops one job the same way (a label check's run that an allowed stop came before).

use anyhow::Context;

use super::backend::{Backend, now_ms, on_pool};
use super::{Job, sql};

/// What [`super::Queue::stop_issue`] did (a retried stop gets the same report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StopReport {
    /// Queued run jobs now cancelled.
    pub cancelled_queued: i64,
    /// The running run job asked to stop: its heartbeat says so, and its publish gate answers
    /// [`PublishGate::Stopped`]. The caller may wake it in-process at once.
    pub running_job: Option<i64>,
    /// The running run job that had already passed its publish gate: past the point of no return, it
    /// will push and publish. It was not flagged.
    pub too_late: Option<i64>,
}

impl StopReport {
    /// Whether nothing was stopped (a run job found [`StopReport::too_late`] was not stopped).
    pub fn is_empty(&self) -> bool {
        self.cancelled_queued == 0 && self.running_job.is_none()
    }

    /// The report from the rows `STOP_ISSUE` returns: (id, state, cancel_requested, publishing), as the
    /// statement left them. A job past the gate was too late; a flagged one was running; one cancelled
    /// without the flag was queued. A job this stop reached once that has since been queued again and
    /// failed (it was publishing, then its attempt failed) is not reported.
    fn from_rows(rows: &[(i64, String, bool, bool)]) -> StopReport {
        let mut report = StopReport::default();
        for (id, state, cancel_requested, publishing) in rows {
            if *publishing {
                report.too_late = Some(*id);
            } else if *cancel_requested {
                report.running_job = Some(*id);
            } else if state == "cancelled" {
                report.cancelled_queued += 1;
            }
        }
        report
    }
}

/// The answer of [`super::Queue::begin_publish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishGate {
    /// The job is now `publishing`: past the point of no return, no stop flags it any more. Push and
    /// publish.
    Proceed,
    /// A stop (or cancel) was requested first: do not push; the job ends `cancelled` (through
    /// [`super::Queue::finish_cancelled`], or [`super::Queue::fail`], which honours the request).
    Stopped,
    /// This worker no longer holds the job: do not push, write nothing.
    LeaseLost,
}

pub(super) async fn begin_publish(backend: &Backend, job: &Job) -> anyhow::Result<PublishGate> {
    let row: Option<(bool,)> = on_pool!(backend, pool => {
        sqlx::query_as(sql::BEGIN_PUBLISH)
            .bind(job.id)
            .bind(&job.lease_token)
            .bind(now_ms())
            .fetch_optional(pool)
            .await
    })
    .with_context(|| format!("cannot pass job {}'s publish gate", job.id))?;
    Ok(match row {
        None => PublishGate::LeaseLost,
        Some((true,)) => PublishGate::Proceed,
        Some((false,)) => PublishGate::Stopped,
    })
}

pub(super) async fn stop_issue(
    backend: &Backend,
    repo_id: u64,
    issue_number: u64,
    stop_job_id: i64,
) -> anyhow::Result<StopReport> {
    let repo_id = i64::try_from(repo_id).context("repository id does not fit a BIGINT")?;
    let issue = i64::try_from(issue_number).context("issue number does not fit a BIGINT")?;
    let rows: Vec<(i64, String, bool, bool)> = on_pool!(backend, pool => {
        sqlx::query_as(sql::STOP_ISSUE)
            .bind(repo_id)
            .bind(issue)
            .bind(now_ms())
            .bind(stop_job_id)
            .fetch_all(pool)
            .await
    })
    .context("cannot apply a stop to the issue's jobs")?;
    Ok(StopReport::from_rows(&rows))
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

#[cfg(test)]
mod tests {
    use super::StopReport;

    fn row(
        id: i64,
        state: &str,
        cancel_requested: bool,
        publishing: bool,
    ) -> (i64, String, bool, bool) {
        (id, state.to_owned(), cancel_requested, publishing)
    }

    #[test]
    fn a_report_tells_cancelled_flagged_and_too_late_jobs_apart() {
        let report = StopReport::from_rows(&[
            row(1, "running", true, false),
            row(2, "cancelled", false, false),
            row(3, "cancelled", false, false),
        ]);
        assert_eq!(
            report,
            StopReport {
                cancelled_queued: 2,
                running_job: Some(1),
                too_late: None
            }
        );
        assert!(!report.is_empty());

        let too_late = StopReport::from_rows(&[row(4, "running", false, true)]);
        assert_eq!(too_late.too_late, Some(4));
        assert!(too_late.is_empty(), "a job past its gate was not stopped");
    }

    #[test]
    fn a_retry_reads_the_same_report_from_jobs_that_ended_since() {
        // First attempt: job 1 flagged while running, job 2 cancelled while queued.
        let first = StopReport::from_rows(&[
            row(1, "running", true, false),
            row(2, "cancelled", false, false),
        ]);
        // Retry: job 1 has ended cancelled (or failed, or done) since; its flag stays.
        for end in ["cancelled", "failed", "done"] {
            let retry = StopReport::from_rows(&[
                row(1, end, true, false),
                row(2, "cancelled", false, false),
            ]);
            assert_eq!(retry, first, "{end}");
        }
        // A job found past its gate stays too late once it has published or failed.
        for end in ["running", "done", "failed"] {
            assert_eq!(
                StopReport::from_rows(&[row(5, end, false, true)]).too_late,
                Some(5)
            );
        }
    }

    #[test]
    fn a_job_queued_again_after_its_gate_and_failed_is_not_reported() {
        assert!(StopReport::from_rows(&[row(6, "failed", false, false)]).is_empty());
        assert_eq!(
            StopReport::from_rows(&[row(6, "failed", false, false)]),
            StopReport::default()
        );
    }
}
