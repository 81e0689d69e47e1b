//! [`RecordTx`] on Postgres (sqlx): new deliveries of a batch in two set-based statements, since every
//! statement is a round trip to the server.
//!
//! Invariants: nothing here commits; the statements are `sql`'s and `sql_batch::POSTGRES`, bound in the
//! order their `$N` placeholders are numbered.

use super::record_tx::{Existing, NewDelivery, NewJob, RecordTx};
use super::{DeliveryRecord, sql, sql_batch};

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
        let rows: Vec<(String,)> = sqlx::query_as(sql_batch::POSTGRES.existing)
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
        let rows = sqlx::query_as(sql_batch::POSTGRES.insert_new)
            .bind(serde_json::to_string(jobs)?)
            .bind(serde_json::to_string(deliveries)?)
            .bind(now)
            .fetch_all(&mut *self)
            .await?;
        Ok(rows)
    }
}
