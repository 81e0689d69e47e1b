//! Read-only views of the queue for operators, `/metrics`, `/readyz`, `doctor` and tests.
//!
//! Invariant: nothing here writes; every function reads committed state only, so what it shows is what a
//! restarted process would see.

use anyhow::Context;

use super::backend::{Backend, on_pool};
use super::{DeliveryOutcome, JobState, sql};
use crate::domain::Trigger;

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDelivery {
    pub delivery_id: String,
    pub event: String,
    pub action: Option<String>,
    pub outcome: DeliveryOutcome,
    /// The job this delivery (last) enqueued.
    pub job_id: Option<i64>,
    /// Unix milliseconds of the latest recording of this id.
    pub received_at_ms: i64,
}

/// A job as stored, for operators.
#[derive(Debug, Clone)]
pub struct JobInfo {
    pub id: i64,
    pub repo_full_name: String,
    pub issue_number: i64,
    /// [`crate::domain::Request::name`] of its trigger.
    pub action: String,
    pub trigger_json: String,
    pub state: JobState,
    pub attempts: i32,
    /// Unix milliseconds before which it is not claimed.
    pub run_after_ms: i64,
    pub lease_owner: Option<String>,
    /// A stop or cancel asked the running job to stop.
    pub cancel_requested: bool,
    /// The job's current (or last) attempt passed its publish gate ([`super::Queue::begin_publish`]).
    pub publishing: bool,
    /// The `/metagpt stop` job that reached this run job first (cancelled it, flagged it, or found it
    /// publishing).
    pub stopped_by: Option<i64>,
    pub last_error: Option<String>,
    pub outcome: Option<serde_json::Value>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    delivery_id: String,
    event: String,
    action: Option<String>,
    outcome: String,
    reason: Option<String>,
    job_id: Option<i64>,
    received_at: i64,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: i64,
    repo_full_name: String,
    issue_number: i64,
    action: String,
    trigger_json: String,
    state: String,
    attempts: i32,
    run_after: i64,
    lease_owner: Option<String>,
    cancel_requested: bool,
    publishing: bool,
    stopped_by: Option<i64>,
    last_error: Option<String>,
    outcome: Option<String>,
    created_at: i64,
    updated_at: i64,
}

pub(super) async fn depth(backend: &Backend) -> anyhow::Result<Vec<(JobState, i64)>> {
    let rows: Vec<(String, i64)> =
        on_pool!(backend, pool => sqlx::query_as(sql::DEPTH).fetch_all(pool).await)
            .context("cannot count jobs")?;
    let all = [
        JobState::Queued,
        JobState::Running,
        JobState::Done,
        JobState::Failed,
        JobState::Cancelled,
    ];
    Ok(all
        .into_iter()
        .map(|state| {
            let count = rows
                .iter()
                .find(|(name, _)| name == state.as_str())
                .map_or(0, |(_, count)| *count);
            (state, count)
        })
        .collect())
}

pub(super) async fn stops_after(
    backend: &Backend,
    repo_id: u64,
    issue_number: u64,
    job_id: i64,
) -> anyhow::Result<Vec<(i64, Trigger)>> {
    let (repo_id, issue_number) = (repo_id as i64, issue_number as i64);
    let rows: Vec<(i64, String)> = on_pool!(backend, pool => sqlx::query_as(sql::STOPS_AFTER)
        .bind(repo_id)
        .bind(issue_number)
        .bind(job_id)
        .fetch_all(pool)
        .await)
    .context("cannot look for an issue's later stops")?;
    rows.into_iter()
        .map(|(id, trigger)| {
            let trigger = serde_json::from_str(&trigger)
                .with_context(|| format!("stop job {id} has an unreadable trigger"))?;
            Ok((id, trigger))
        })
        .collect()
}

pub(super) async fn waiting(
    backend: &Backend,
    repo_id: u64,
    issue_number: u64,
) -> anyhow::Result<i64> {
    let (repo_id, issue_number) = (repo_id as i64, issue_number as i64);
    let (count,): (i64,) = on_pool!(backend, pool => sqlx::query_as(sql::WAITING)
        .bind(repo_id)
        .bind(issue_number)
        .fetch_one(pool)
        .await)
    .context("cannot count an issue's queued jobs")?;
    Ok(count)
}

pub(super) async fn ping(backend: &Backend) -> anyhow::Result<()> {
    on_pool!(backend, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop))
        .context("the queue database does not answer")?;
    Ok(())
}

pub(super) async fn delivery(
    backend: &Backend,
    delivery_id: &str,
) -> anyhow::Result<Option<StoredDelivery>> {
    let row: Option<DeliveryRow> =
        on_pool!(backend, pool => sqlx::query_as(sql::GET_DELIVERY).bind(delivery_id).fetch_optional(pool).await)
            .context("cannot read a delivery")?;
    let Some(row) = row else { return Ok(None) };
    let reason = row.reason.unwrap_or_default();
    let outcome = match row.outcome.as_str() {
        "accepted" => DeliveryOutcome::Accepted,
        "ignored" => DeliveryOutcome::Ignored { reason },
        _ => DeliveryOutcome::Rejected { reason },
    };
    Ok(Some(StoredDelivery {
        delivery_id: row.delivery_id,
        event: row.event,
        action: row.action,
        outcome,
        job_id: row.job_id,
        received_at_ms: row.received_at,
    }))
}

pub(super) async fn job(backend: &Backend, id: i64) -> anyhow::Result<Option<JobInfo>> {
    let row: Option<JobRow> =
        on_pool!(backend, pool => sqlx::query_as(sql::GET_JOB).bind(id).fetch_optional(pool).await)
            .context("cannot read a job")?;
    let Some(row) = row else { return Ok(None) };
    let state = JobState::parse(&row.state)
        .with_context(|| format!("job {id} has an unknown state `{}`", row.state))?;
    let outcome = row
        .outcome
        .map(|text| serde_json::from_str(&text))
        .transpose()
        .context("job outcome is not JSON")?;
    Ok(Some(JobInfo {
        id: row.id,
        repo_full_name: row.repo_full_name,
        issue_number: row.issue_number,
        action: row.action,
        trigger_json: row.trigger_json,
        state,
        attempts: row.attempts,
        run_after_ms: row.run_after,
        lease_owner: row.lease_owner,
        cancel_requested: row.cancel_requested,
        publishing: row.publishing,
        stopped_by: row.stopped_by,
        last_error: row.last_error,
        outcome,
        created_at_ms: row.created_at,
        updated_at_ms: row.updated_at,
    }))
}
