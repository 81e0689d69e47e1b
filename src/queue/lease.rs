//! Leases: how a worker claims a job, keeps it, and ends it.
//!
//! Invariants:
//! - A claim is one atomic statement: it moves the oldest runnable job to `running` with a fresh random
//!   lease token, so no two claimers ever hold the same job. On Postgres the candidate row is locked with
//!   `FOR UPDATE SKIP LOCKED`; on SQLite writers are serialised by the database.
//! - At most one run job per issue runs: the run claim skips issues with a running run job or an older
//!   queued one, and a partial unique index refuses a second running run job should two claims ever race.
//! - Control jobs (`stop`, `label`) are claimed apart ([`Class::Control`]), beside whatever runs on their
//!   issue, so a stop or a label check never waits for busy run workers.
//! - A transient failure comes back after a capped, jittered exponential backoff ([`backoff`]).
//! - Every later write names the lease token. A worker whose lease expired and was taken again (or which
//!   released the job) gets [`LeaseLost`] and changes nothing.

use std::time::Duration;

use anyhow::Context;
use rand::Rng;

use super::backend::{Backend, ms_after, now_ms, on_pool};
use super::{Heartbeat, Job, JobError, JobState, QueueOptions, sql};

/// A worker tried to write to a job whose lease it no longer holds. Nothing was written.
#[derive(Debug, thiserror::Error)]
#[error(
    "job {job_id}: this worker no longer holds its lease (it expired and the job was taken again, \
     or it was released or finished); nothing was written"
)]
pub struct LeaseLost {
    pub job_id: i64,
}

/// Which jobs a claim takes: run jobs (MetaGPT on an issue) or control jobs (`stop`, `label`).
#[derive(Debug, Clone, Copy)]
pub(super) enum Class {
    Run,
    Control,
}

pub(super) async fn claim(
    backend: &Backend,
    class: Class,
    worker_id: &str,
    lease: Duration,
) -> anyhow::Result<Option<Job>> {
    let now = now_ms();
    let token = format!("{:032x}", rand::rng().random::<u128>());
    let claim_sql = match (backend, class) {
        (Backend::Sqlite(_), Class::Run) => sql::CLAIM_SQLITE,
        (Backend::Postgres(_), Class::Run) => sql::CLAIM_POSTGRES,
        (Backend::Sqlite(_), Class::Control) => sql::CLAIM_CONTROL_SQLITE,
        (Backend::Postgres(_), Class::Control) => sql::CLAIM_CONTROL_POSTGRES,
    };
    let claimed: Result<Option<(i64, String, i32)>, sqlx::Error> = on_pool!(backend, pool => {
        sqlx::query_as(claim_sql)
            .bind(worker_id)
            .bind(&token)
            .bind(ms_after(now, lease))
            .bind(now)
            .fetch_optional(pool)
            .await
    });
    let (id, trigger_json, attempts) = match claimed {
        Ok(Some(row)) => row,
        Ok(None) => return Ok(None),
        // Another process started a job of the same issue between our read and our write.
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => return Ok(None),
        Err(error) => return Err(error).context("cannot claim a job"),
    };
    let job = |trigger| Job {
        id,
        trigger,
        attempts,
        lease_token: token.clone(),
    };
    match serde_json::from_str(&trigger_json) {
        Ok(trigger) => Ok(Some(job(trigger))),
        Err(error) => {
            // A row this version cannot read can never run: fail it with the reason instead of looping.
            let reason = format!("the stored trigger cannot be read by this version: {error}");
            tracing::error!(job_id = id, %reason, "failing unreadable job");
            fail_permanent(backend, id, &token, &reason).await?;
            Ok(None)
        }
    }
}

pub(super) async fn heartbeat(
    backend: &Backend,
    job: &Job,
    lease: Duration,
) -> anyhow::Result<Heartbeat> {
    let now = now_ms();
    let row: Option<(bool,)> = on_pool!(backend, pool => {
        sqlx::query_as(sql::HEARTBEAT)
            .bind(job.id)
            .bind(&job.lease_token)
            .bind(ms_after(now, lease))
            .bind(now)
            .fetch_optional(pool)
            .await
    })
    .context("cannot extend a job lease")?;
    Ok(match row {
        None => Heartbeat::Lost,
        Some((true,)) => Heartbeat::CancelRequested,
        Some((false,)) => Heartbeat::Extended,
    })
}

pub(super) async fn complete(
    backend: &Backend,
    job: &Job,
    outcome: &serde_json::Value,
) -> anyhow::Result<()> {
    let outcome = outcome.to_string();
    let done = on_pool!(backend, pool => {
        sqlx::query(sql::COMPLETE)
            .bind(job.id)
            .bind(&job.lease_token)
            .bind(&outcome)
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
    })
    .context("cannot mark a job done")?;
    held(job.id, done)
}

pub(super) async fn fail(
    backend: &Backend,
    options: &QueueOptions,
    job: &Job,
    error: &JobError,
) -> anyhow::Result<JobState> {
    match error {
        JobError::Permanent(reason) => {
            fail_permanent(backend, job.id, &job.lease_token, reason).await
        }
        JobError::Transient(reason) => {
            let now = now_ms();
            let retry_at = ms_after(
                now,
                backoff(job.attempts, options.backoff_base, options.backoff_max),
            );
            let state: Option<(String,)> = on_pool!(backend, pool => {
                sqlx::query_as(sql::FAIL_TRANSIENT)
                    .bind(job.id)
                    .bind(&job.lease_token)
                    .bind(reason)
                    .bind(now)
                    .bind(retry_at)
                    .bind(options.max_attempts)
                    .fetch_optional(pool)
                    .await
            })
            .context("cannot record a job failure")?;
            new_state(job.id, state)
        }
    }
}

async fn fail_permanent(
    backend: &Backend,
    id: i64,
    token: &str,
    reason: &str,
) -> anyhow::Result<JobState> {
    let state: Option<(String,)> = on_pool!(backend, pool => {
        sqlx::query_as(sql::FAIL_PERMANENT)
            .bind(id)
            .bind(token)
            .bind(reason)
            .bind(now_ms())
            .fetch_optional(pool)
            .await
    })
    .context("cannot record a job failure")?;
    new_state(id, state)
}

/// Runs `FINISH_CANCELLED` or `RELEASE` (same parameters: id, token, now).
pub(super) async fn end(
    backend: &Backend,
    job: &Job,
    statement: &'static str,
) -> anyhow::Result<()> {
    let done = on_pool!(backend, pool => {
        sqlx::query(statement)
            .bind(job.id)
            .bind(&job.lease_token)
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
    })
    .context("cannot end a job")?;
    held(job.id, done)
}

/// Re-queues running jobs whose lease expired before `cutoff` (unix ms).
pub(super) async fn requeue_expired(
    backend: &Backend,
    options: &QueueOptions,
    cutoff: i64,
) -> anyhow::Result<u64> {
    on_pool!(backend, pool => {
        sqlx::query(sql::REQUEUE_EXPIRED)
            .bind(now_ms())
            .bind(options.max_attempts)
            .bind(cutoff)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
    })
    .context("cannot re-queue jobs with expired leases")
}

fn held(job_id: i64, rows: u64) -> anyhow::Result<()> {
    if rows == 0 {
        return Err(LeaseLost { job_id }.into());
    }
    Ok(())
}

fn new_state(job_id: i64, state: Option<(String,)>) -> anyhow::Result<JobState> {
    let (state,) = state.ok_or(LeaseLost { job_id })?;
    JobState::parse(&state).with_context(|| format!("job {job_id} has an unknown state `{state}`"))
}

/// The delay before the job that has just failed its `attempts`-th attempt runs again: exponential in the
/// attempt number, capped, with jitter so jobs that failed together (a GitHub outage) do not all come back
/// at the same instant. It lies in `[d/2, d]` where `d = min(base * 2^(n-1), max)`; it never exceeds
/// `max` and never falls below half of the un-jittered delay.
fn backoff(attempts: i32, base: Duration, max: Duration) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(30);
    let full = base.saturating_mul(1 << exponent).min(max);
    let half = full / 2;
    let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    half + Duration::from_nanos(rand::rng().random_range(0..=jitter_nanos))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::backoff;

    const BASE: Duration = Duration::from_secs(10);
    const MAX: Duration = Duration::from_secs(600);

    #[test]
    fn grows_exponentially_within_jitter_bounds() {
        for (attempts, full) in [(1, 10), (2, 20), (3, 40), (4, 80)] {
            let full = Duration::from_secs(full);
            for _ in 0..100 {
                let delay = backoff(attempts, BASE, MAX);
                assert!(
                    delay >= full / 2 && delay <= full,
                    "attempt {attempts}: {delay:?} outside [{:?}, {full:?}]",
                    full / 2
                );
            }
        }
    }

    #[test]
    fn never_exceeds_the_maximum() {
        for attempts in [7, 30, 31, 1000, i32::MAX] {
            let delay = backoff(attempts, BASE, MAX);
            assert!(
                delay <= MAX && delay >= MAX / 2,
                "attempt {attempts}: {delay:?}"
            );
        }
    }

    #[test]
    fn nonsense_attempt_counts_use_the_base_delay() {
        for attempts in [0, -5, i32::MIN] {
            assert!(backoff(attempts, BASE, MAX) <= BASE);
        }
    }
}
