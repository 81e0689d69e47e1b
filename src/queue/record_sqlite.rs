//! [`RecordTx`] on SQLite (rusqlite, on the writer's thread): one cached prepared statement per row. In
//! process, a statement costs microseconds, so a batch needs no set-based SQL.
//!
//! Invariants:
//! - The statements are `sql`'s, the same text the other backend runs; their `$N` placeholders are bound
//!   by name (SQLite numbers named parameters by first appearance, not by `N`).
//! - Nothing here commits or waits: each method is `async` only to share `RecordTx` with sqlx, and never
//!   suspends (the writer polls the batch once, see `sqlite_writer`).

use std::collections::HashMap;
use std::ffi::CStr;

use rusqlite::{CachedStatement, Connection, ToSql};

use super::record_tx::{Existing, NewDelivery, NewJob, RecordTx};
use super::{DeliveryRecord, sql};

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

/// $1 delivery_id → a row when that delivery is stored.
const DELIVERY_STORED: &str = "SELECT 1 FROM deliveries WHERE delivery_id = $1";

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
            let mut statement = prepared(self.0, DELIVERY_STORED, &[id])?;
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
