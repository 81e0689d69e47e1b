//! The statements of the record path, on one connection inside the writer's open transaction.
//!
//! Invariants:
//! - Nothing here commits or decides; `record` decides, these only read and write rows.
//! - [`RecordTx`] is implemented once per backend: `record_pg` (sqlx, a whole batch in two set-based
//!   statements, because each statement is a round trip to the server) and `record_sqlite` (rusqlite on the
//!   writer's own thread, one cached statement per row, because in-process statements cost microseconds).
//! - On Postgres a batch travels as one JSON array (see `sql_batch`); its field names are the `New*`
//!   structs' names.

use anyhow::Context;
use serde::Serialize;

use super::{DeliveryOutcome, DeliveryRecord};
use crate::domain::Trigger;

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
            action: trigger.request.name(),
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
