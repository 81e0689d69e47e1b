//! The statements of the record path, on one connection inside the writer's open transaction.
//!
//! Invariants:
//! - Nothing here commits or decides; `record` decides, these only read and write rows.
//! - [`RecordTx`] is implemented for both backends' connections by one macro, so each statement's binding
//!   and decoding is written once; the set-based statements come from `sql_batch` for each backend.
//! - A batch travels as one JSON array (see `sql_batch`); its field names are the `New*` structs' names.

use anyhow::Context;
use serde::Serialize;

use super::{DeliveryOutcome, DeliveryRecord, sql, sql_batch};
use crate::trigger::Trigger;

/// What an earlier delivery with the same id left behind.
pub(super) struct Existing {
    pub(super) outcome: String,
    pub(super) job_id: Option<i64>,
    pub(super) job_state: Option<String>,
}

/// One job of a fast-path batch.
#[derive(Serialize)]
pub(super) struct NewJob<'a> {
    pub(super) delivery_id: &'a str,
    pub(super) repo_id: i64,
    pub(super) repo_full_name: String,
    pub(super) issue_number: i64,
    pub(super) action: &'static str,
    pub(super) trigger_json: String,
}

impl<'a> NewJob<'a> {
    pub(super) fn new(delivery_id: &'a str, trigger: &Trigger) -> anyhow::Result<NewJob<'a>> {
        let (repo_id, issue_number) = issue_key(trigger)?;
        Ok(NewJob {
            delivery_id,
            repo_id,
            repo_full_name: trigger.repo.full_name(),
            issue_number,
            action: trigger.action.name(),
            trigger_json: serde_json::to_string(trigger)?,
        })
    }
}

/// The `(repo_id, issue_number)` columns of a trigger.
fn issue_key(trigger: &Trigger) -> anyhow::Result<(i64, i64)> {
    let repo_id = i64::try_from(trigger.repo.id).context("repository id does not fit a BIGINT")?;
    let issue =
        i64::try_from(trigger.work_issue()).context("issue number does not fit a BIGINT")?;
    Ok((repo_id, issue))
}

/// One delivery of a fast-path batch.
#[derive(Serialize)]
pub(super) struct NewDelivery<'a> {
    pub(super) delivery_id: &'a str,
    pub(super) event: &'a str,
    pub(super) action: Option<&'a str>,
    pub(super) outcome: &'static str,
    pub(super) reason: Option<&'a str>,
}

impl<'a> NewDelivery<'a> {
    pub(super) fn new(delivery: &'a DeliveryRecord) -> NewDelivery<'a> {
        let (outcome, reason) = outcome_columns(&delivery.outcome);
        NewDelivery {
            delivery_id: &delivery.delivery_id,
            event: &delivery.event,
            action: delivery.action.as_deref(),
            outcome,
            reason,
        }
    }
}

/// The `outcome` and `reason` columns of a delivery.
fn outcome_columns(outcome: &DeliveryOutcome) -> (&'static str, Option<&str>) {
    match outcome {
        DeliveryOutcome::Accepted => ("accepted", None),
        DeliveryOutcome::Ignored { reason } => ("ignored", Some(reason)),
        DeliveryOutcome::Rejected { reason } => ("rejected", Some(reason)),
    }
}

pub(super) trait RecordTx {
    // One delivery at a time (redeliveries).
    async fn find_delivery(&mut self, delivery_id: &str) -> anyhow::Result<Option<Existing>>;
    /// Inserts or overwrites a delivery; keeps its old job link when `job_id` is `None`.
    async fn upsert_delivery(
        &mut self,
        delivery: &DeliveryRecord,
        job_id: Option<i64>,
        now: i64,
    ) -> anyhow::Result<()>;
    /// Enqueues one job; returns its id and how many jobs of its issue are ahead of it.
    async fn insert_job(&mut self, job: &NewJob<'_>, now: i64) -> anyhow::Result<(i64, i64)>;

    // A whole batch at once.
    /// Which of these delivery ids are already stored.
    async fn existing_ids(&mut self, ids: &[&str]) -> anyhow::Result<Vec<String>>;
    /// Writes new jobs and new deliveries (each pointing at its job, if any);
    /// returns `(delivery id, job id, queued_behind)` per job.
    async fn insert_new(
        &mut self,
        jobs: &[NewJob<'_>],
        deliveries: &[NewDelivery<'_>],
        now: i64,
    ) -> anyhow::Result<Vec<(String, i64, i64)>>;
}

macro_rules! impl_record_tx {
    ($connection:ty, $batch:expr) => {
        impl RecordTx for $connection {
            async fn find_delivery(
                &mut self,
                delivery_id: &str,
            ) -> anyhow::Result<Option<Existing>> {
                let row: Option<(String, Option<i64>, Option<String>)> =
                    sqlx::query_as(sql::FIND_DELIVERY)
                        .bind(delivery_id)
                        .fetch_optional(&mut *self)
                        .await?;
                Ok(row.map(|(outcome, job_id, job_state)| Existing {
                    outcome,
                    job_id,
                    job_state,
                }))
            }

            async fn upsert_delivery(
                &mut self,
                delivery: &DeliveryRecord,
                job_id: Option<i64>,
                now: i64,
            ) -> anyhow::Result<()> {
                let row = NewDelivery::new(delivery);
                sqlx::query(sql::UPSERT_DELIVERY)
                    .bind(row.delivery_id)
                    .bind(row.event)
                    .bind(row.action)
                    .bind(row.outcome)
                    .bind(row.reason)
                    .bind(job_id)
                    .bind(now)
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }

            async fn insert_job(
                &mut self,
                job: &NewJob<'_>,
                now: i64,
            ) -> anyhow::Result<(i64, i64)> {
                let row: (i64, i64) = sqlx::query_as(sql::INSERT_JOB)
                    .bind(job.repo_id)
                    .bind(&job.repo_full_name)
                    .bind(job.issue_number)
                    .bind(job.action)
                    .bind(&job.trigger_json)
                    .bind(now)
                    .bind(job.delivery_id)
                    .fetch_one(&mut *self)
                    .await?;
                Ok(row)
            }

            async fn existing_ids(&mut self, ids: &[&str]) -> anyhow::Result<Vec<String>> {
                let rows: Vec<(String,)> = sqlx::query_as($batch.existing)
                    .bind(serde_json::to_string(ids)?)
                    .fetch_all(&mut *self)
                    .await?;
                Ok(rows.into_iter().map(|(id,)| id).collect())
            }

            async fn insert_new(
                &mut self,
                jobs: &[NewJob<'_>],
                deliveries: &[NewDelivery<'_>],
                now: i64,
            ) -> anyhow::Result<Vec<(String, i64, i64)>> {
                let rows = sqlx::query_as($batch.insert_new)
                    .bind(serde_json::to_string(jobs)?)
                    .bind(serde_json::to_string(deliveries)?)
                    .bind(now)
                    .fetch_all(&mut *self)
                    .await?;
                Ok(rows)
            }
        }
    };
}

impl_record_tx!(sqlx::SqliteConnection, sql_batch::SQLITE);
impl_record_tx!(sqlx::PgConnection, sql_batch::POSTGRES);
