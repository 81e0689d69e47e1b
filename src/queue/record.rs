//! Recording a batch of deliveries inside the group-commit transaction: deduplicate by delivery id, then
//! enqueue each one's job. A `stop` is enqueued like any trigger, as a control job: it is applied later by
//! its worker, once the sender's permission was checked (see `control`).
//!
//! Invariants:
//! - GitHub redelivers with the same `X-GitHub-Delivery` id. A delivery id seen before answers
//!   [`Recorded::Duplicate`] and changes nothing, unless its earlier attempt can be taken again: it was
//!   rejected, or its job failed or was cancelled. Then the row is overwritten and points at the new job.
//! - A delivery that was ignored stays a duplicate forever.
//! - The requests of one batch are concurrent (none has been answered), so any order is a valid one: new
//!   deliveries are written set-based first (two statements for the whole batch), then the rest (ids seen
//!   before or twice in the batch) one at a time, in arrival order.
//! - Nothing here commits; the writer commits the whole batch or none of it. [`record_batch`] decides;
//!   the [`RecordTx`] methods only read and write rows.
//! - [`RecordTx`] is implemented once per backend: on Postgres (sqlx) a whole batch of new deliveries is
//!   two set-based statements (`sql::POSTGRES_BATCH`, the batch travelling as JSON arrays whose field names
//!   are the `New*` structs' names), because each statement is a round trip to the server; on SQLite
//!   (rusqlite, on the writer's own thread) it is one cached prepared statement per row, because
//!   in-process statements cost microseconds.
//! - On SQLite the statements are `sql`'s, the same text Postgres runs; their `$N` placeholders are bound
//!   by name (SQLite numbers named parameters by first appearance, not by `N`). Its methods are `async`
//!   only to share [`RecordTx`] with sqlx, and never suspend (the writer polls the batch once).

use std::collections::{HashMap, HashSet};
use std::ffi::CStr;

use anyhow::Context;
use rusqlite::{CachedStatement, Connection, ToSql};
use serde::Serialize;

use super::{DeliveryOutcome, DeliveryRecord, Recorded, sql};
use crate::domain::Trigger;

/// One `record` call: the delivery and its trigger, if any.
pub(super) type Entry<'a> = (&'a DeliveryRecord, Option<&'a Trigger>);

/// Records every entry of the batch inside the open transaction `tx`; answers in entry order.
pub(super) async fn record_batch<T: RecordTx>(
    tx: &mut T,
    entries: &[Entry<'_>],
    now: i64,
) -> anyhow::Result<Vec<Recorded>> {
    let ids: Vec<&str> = entries
        .iter()
        .map(|(delivery, _)| delivery.delivery_id.as_str())
        .collect();
    let stored: HashSet<String> = tx.existing_ids(&ids).await?.into_iter().collect();
    let mut seen = HashSet::new();
    let (fast, slow): (Vec<usize>, Vec<usize>) = (0..entries.len()).partition(|&index| {
        let (delivery, _) = entries[index];
        let first = seen.insert(delivery.delivery_id.as_str());
        first && !stored.contains(&delivery.delivery_id)
    });

    let mut answers: Vec<Option<Recorded>> = vec![None; entries.len()];
    for (index, answer) in record_new(tx, entries, &fast, now).await? {
        answers[index] = Some(answer);
    }
    for index in slow {
        let (delivery, trigger) = entries[index];
        answers[index] = Some(record_one(tx, delivery, trigger, now).await?);
    }
    answers
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .context("a request of the batch was left unanswered")
}

/// Deliveries never seen before: all their jobs and rows in one statement.
async fn record_new<T: RecordTx>(
    tx: &mut T,
    entries: &[Entry<'_>],
    fast: &[usize],
    now: i64,
) -> anyhow::Result<Vec<(usize, Recorded)>> {
    if fast.is_empty() {
        return Ok(Vec::new());
    }
    let jobs = fast
        .iter()
        .filter_map(|&index| {
            let (delivery, trigger) = entries[index];
            trigger.map(|trigger| NewJob::new(&delivery.delivery_id, trigger))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let deliveries: Vec<NewDelivery> = fast
        .iter()
        .map(|&index| NewDelivery::new(entries[index].0))
        .collect();
    let stored: HashMap<String, (i64, i64)> = tx
        .insert_new(&jobs, &deliveries, now)
        .await?
        .into_iter()
        .map(|(delivery_id, job_id, queued_behind)| (delivery_id, (job_id, queued_behind)))
        .collect();
    Ok(fast
        .iter()
        .map(|&index| {
            let answer = match stored.get(&entries[index].0.delivery_id) {
                Some(&(job_id, queued_behind)) => Recorded::Stored {
                    job_id: Some(job_id),
                    queued_behind,
                },
                None => Recorded::Stored {
                    job_id: None,
                    queued_behind: 0,
                },
            };
            (index, answer)
        })
        .collect())
}

/// One delivery, deciding on redelivery.
async fn record_one<T: RecordTx>(
    tx: &mut T,
    delivery: &DeliveryRecord,
    trigger: Option<&Trigger>,
    now: i64,
) -> anyhow::Result<Recorded> {
    if let Some(existing) = tx.find_delivery(&delivery.delivery_id).await? {
        let may_run_again = existing.outcome == "rejected"
            || matches!(existing.job_state.as_deref(), Some("failed" | "cancelled"));
        if !may_run_again {
            return Ok(Recorded::Duplicate {
                job_id: existing.job_id,
            });
        }
    }
    let recorded = match trigger {
        None => Recorded::Stored {
            job_id: None,
            queued_behind: 0,
        },
        Some(trigger) => {
            let (job_id, queued_behind) = tx
                .insert_job(&NewJob::new(&delivery.delivery_id, trigger)?, now)
                .await?;
            Recorded::Stored {
                job_id: Some(job_id),
                queued_behind,
            }
        }
    };
    let job_id = match recorded {
        Recorded::Stored { job_id, .. } => job_id,
        Recorded::Duplicate { .. } => None,
    };
    tx.upsert_delivery(delivery, job_id, now).await?;
    Ok(recorded)
}

// ---- the rows, and the statements each backend runs for them ----

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

// ---- Postgres (sqlx): a batch in two set-based statements ----

impl RecordTx for sqlx::PgConnection {
    async fn find_delivery(&mut self, delivery_id: &str) -> anyhow::Result<Option<Existing>> {
        let row: Option<(String, Option<i64>, Option<String>)> = sqlx::query_as(sql::FIND_DELIVERY)
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

    async fn insert_job(&mut self, job: &NewJob<'_>, now: i64) -> anyhow::Result<(i64, i64)> {
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
        let rows: Vec<(String,)> = sqlx::query_as(sql::POSTGRES_BATCH.existing)
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
        let rows = sqlx::query_as(sql::POSTGRES_BATCH.insert_new)
            .bind(serde_json::to_string(jobs)?)
            .bind(serde_json::to_string(deliveries)?)
            .bind(now)
            .fetch_all(&mut *self)
            .await?;
        Ok(rows)
    }
}

// ---- SQLite (rusqlite, on the writer's thread): one cached statement per row ----

/// The writer's connection, inside its open transaction.
pub(super) struct SqliteTx<'c>(pub(super) &'c Connection);

/// Names of `$1`…`$8`, as SQLite knows them.
const PARAMETERS: [&CStr; 8] = [c"$1", c"$2", c"$3", c"$4", c"$5", c"$6", c"$7", c"$8"];

/// Takes `text` from the connection's statement cache and binds `values` to `$1`, `$2`, ….
fn prepared<'c>(
    connection: &'c Connection,
    text: &str,
    values: &[&dyn ToSql],
) -> rusqlite::Result<CachedStatement<'c>> {
    let mut statement = connection.prepare_cached(text)?;
    for (name, value) in PARAMETERS.iter().zip(values) {
        statement.raw_bind_parameter(*name, value)?;
    }
    Ok(statement)
}

impl RecordTx for SqliteTx<'_> {
    async fn find_delivery(&mut self, delivery_id: &str) -> anyhow::Result<Option<Existing>> {
        let mut statement = prepared(self.0, sql::FIND_DELIVERY, &[&delivery_id])?;
        let mut rows = statement.raw_query();
        let Some(row) = rows.next()? else {
            return Ok(None);
        };
        Ok(Some(Existing {
            outcome: row.get(0)?,
            job_id: row.get(1)?,
            job_state: row.get(2)?,
        }))
    }

    async fn upsert_delivery(
        &mut self,
        delivery: &DeliveryRecord,
        job_id: Option<i64>,
        now: i64,
    ) -> anyhow::Result<()> {
        write_delivery(self.0, &NewDelivery::new(delivery), job_id, now)
    }

    async fn insert_job(&mut self, job: &NewJob<'_>, now: i64) -> anyhow::Result<(i64, i64)> {
        insert_job(self.0, job, now)
    }

    async fn existing_ids(&mut self, ids: &[&str]) -> anyhow::Result<Vec<String>> {
        let mut stored = Vec::new();
        for id in ids {
            let mut statement = prepared(self.0, sql::DELIVERY_STORED, &[id])?;
            if statement.raw_query().next()?.is_some() {
                stored.push((*id).to_owned());
            }
        }
        Ok(stored)
    }

    async fn insert_new(
        &mut self,
        jobs: &[NewJob<'_>],
        deliveries: &[NewDelivery<'_>],
        now: i64,
    ) -> anyhow::Result<Vec<(String, i64, i64)>> {
        let mut made = Vec::with_capacity(jobs.len());
        let mut job_of = HashMap::with_capacity(jobs.len());
        for job in jobs {
            let (job_id, queued_behind) = insert_job(self.0, job, now)?;
            job_of.insert(job.delivery_id, job_id);
            made.push((job.delivery_id.to_owned(), job_id, queued_behind));
        }
        for delivery in deliveries {
            let job_id = job_of.get(delivery.delivery_id).copied();
            write_delivery(self.0, delivery, job_id, now)?;
        }
        Ok(made)
    }
}

fn insert_job(connection: &Connection, job: &NewJob<'_>, now: i64) -> anyhow::Result<(i64, i64)> {
    let values: [&dyn ToSql; 7] = [
        &job.repo_id,
        &job.repo_full_name,
        &job.issue_number,
        &job.action,
        &job.trigger_json,
        &now,
        &job.delivery_id,
    ];
    let mut statement = prepared(connection, sql::INSERT_JOB, &values)?;
    let mut rows = statement.raw_query();
    let row = rows
        .next()?
        .ok_or_else(|| anyhow::anyhow!("INSERT … RETURNING gave no row"))?;
    Ok((row.get(0)?, row.get(1)?))
}

fn write_delivery(
    connection: &Connection,
    delivery: &NewDelivery<'_>,
    job_id: Option<i64>,
    now: i64,
) -> anyhow::Result<()> {
    let values: [&dyn ToSql; 7] = [
        &delivery.delivery_id,
        &delivery.event,
        &delivery.action,
        &delivery.outcome,
        &delivery.reason,
        &job_id,
        &now,
    ];
    prepared(connection, sql::UPSERT_DELIVERY, &values)?.raw_execute()?;
    Ok(())
}
