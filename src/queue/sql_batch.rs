//! Set-based SQL for Postgres's group-commit fast path. Throughput is limited by round trips to the
//! server, not by the work inside the database, so a whole batch of new deliveries costs two statements:
//! one to find ids already stored, one to write every job and delivery. (SQLite's writer runs in process
//! and needs none of this: see `record_sqlite`.)
//!
//! The batch travels as JSON array parameters; rows are read with `r.value ->> 'field'` and `CAST`; the
//! write is one statement with data-modifying CTEs.
//!
//! Like `INSERT_JOB`, the "ahead of you" count leaves control jobs (`run_job!`) out on both sides; its terms
//! are all in `jobs_by_issue` (migration 0003), so the count reads only that index.

/// The `SELECT` list that turns one JSON job (`NewJob`) into a queued `jobs` row; `$3` is now.
macro_rules! job_columns {
    () => {
        "r.value ->> 'delivery_id', CAST(r.value ->> 'repo_id' AS BIGINT), r.value ->> 'repo_full_name', \
         CAST(r.value ->> 'issue_number' AS BIGINT), r.value ->> 'action', r.value ->> 'trigger_json', \
         'queued', 0, $3, FALSE, $3, $3"
    };
}

/// The `SELECT` list of one JSON delivery (`NewDelivery`), without `job_id` and `received_at`.
macro_rules! delivery_columns {
    () => {
        "r.value ->> 'delivery_id', r.value ->> 'event', r.value ->> 'action', r.value ->> 'outcome', \
         r.value ->> 'reason'"
    };
}

use super::sql::{control_actions, queued_behind_cap, run_job};

/// The fast-path statements.
pub(super) struct BatchSql {
    /// $1 JSON array of delivery ids → the ids already stored.
    pub(super) existing: &'static str,
    /// $1 JSON array of new jobs, $2 JSON array of new deliveries, $3 now
    /// → (delivery_id, job id, queued_behind) per new job. Each delivery points at its job.
    pub(super) insert_new: &'static str,
}

pub(super) const POSTGRES: BatchSql = BatchSql {
    existing: "SELECT delivery_id FROM deliveries \
         WHERE delivery_id IN (SELECT r.value FROM jsonb_array_elements_text(CAST($1 AS JSONB)) AS r(value))",
    insert_new: concat!(
        "WITH new_jobs AS (INSERT INTO jobs (delivery_id, repo_id, repo_full_name, issue_number, action, \
         trigger_json, state, attempts, run_after, cancel_requested, created_at, updated_at) SELECT ",
        job_columns!(),
        " FROM jsonb_array_elements(CAST($1 AS JSONB)) AS r(value) \
         RETURNING id, delivery_id, repo_id, issue_number, action), ",
        "new_deliveries AS (INSERT INTO deliveries (delivery_id, event, action, outcome, reason, job_id, \
         received_at) SELECT ",
        delivery_columns!(),
        ", nj.id, $3 FROM jsonb_array_elements(CAST($2 AS JSONB)) AS r(value) \
         LEFT JOIN new_jobs nj ON nj.delivery_id = r.value ->> 'delivery_id') ",
        // The statement's own inserts are invisible to its subqueries: count older jobs and new peers apart.
        "SELECT nj.delivery_id, nj.id, LEAST(",
        queued_behind_cap!(),
        ", (SELECT COUNT(*) FROM (SELECT 1 FROM jobs ahead WHERE ahead.repo_id = nj.repo_id \
           AND ahead.issue_number = nj.issue_number AND ahead.state IN ('queued', 'running') AND ahead.id < nj.id \
           AND ",
        run_job!("ahead."),
        " AND ",
        run_job!("nj."),
        " LIMIT ",
        queued_behind_cap!(),
        ") capped) + (SELECT COUNT(*) FROM new_jobs peer WHERE peer.repo_id = nj.repo_id \
           AND peer.issue_number = nj.issue_number AND peer.id < nj.id AND ",
        run_job!("peer."),
        " AND ",
        run_job!("nj."),
        ")) FROM new_jobs nj"
    ),
};
