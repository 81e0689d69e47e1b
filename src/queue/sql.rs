//! The queue's SQL, one text for both backends (`$N` placeholders, `TRUE`/`FALSE`, `RETURNING` and
//! `ON CONFLICT` mean the same on SQLite and Postgres). Two things differ: the claim, where Postgres adds
//! `FOR UPDATE SKIP LOCKED` so concurrent claimers on several machines pass over each other's rows while
//! SQLite serialises writers and needs no row lock; and the batch write of new deliveries, set-based on
//! Postgres ([`POSTGRES_BATCH`]) where SQLite's in-process writer runs `INSERT_JOB` and `UPSERT_DELIVERY`
//! row by row.
//!
//! Invariants every statement keeps:
//! - A statement that ends or extends a lease matches `state = 'running' AND lease_token = $token`, so a
//!   worker whose lease was taken over changes nothing.
//! - Leaving `running` clears `lease_token` and `lease_expires_at` (the owner is kept for operators).
//! - A job whose stop was requested is never put back in the queue: it ends `cancelled`.
//! - `publishing` (set by `BEGIN_PUBLISH`) and `cancel_requested` (set by `STOP_ISSUE` and `CANCEL_JOB`)
//!   are never both true: each statement sets its flag only on a row where the other is false (and
//!   migration `0005`'s CHECK refuses the row otherwise). A queued job is never publishing: every
//!   statement that puts a job back in the queue clears the flag, so each attempt passes the gate anew.
//! - `cancel_requested` means "a running job was asked to stop"; a queued job is cancelled outright.
//! - Control jobs (the actions of [`crate::marks::CONTROL_ACTIONS`]: `stop`, `label`) are outside the
//!   per-issue rules: the run claim, the "ahead of you" and "waiting" counts and `STOP_ISSUE` skip them,
//!   and only the control claim takes them. Every statement (and migration `0004`'s partial indexes)
//!   names them through `control_actions!`, one list, kept equal to the Rust one by a test.

/// The control actions as an SQL list, for `action IN …` / `action NOT IN …`. The partial indexes of
/// migration `0004_label_checks` spell the same condition, `action NOT IN ('stop', 'label')`, so that the
/// planner may use them for the statements here.
macro_rules! control_actions {
    () => {
        "('stop', 'label')"
    };
}

/// The condition "`$alias` is a run job", e.g. `run_job!("j.")`.
macro_rules! run_job {
    ($alias:literal) => {
        concat!($alias, "action NOT IN ", control_actions!())
    };
}
/// [`super::QUEUED_BEHIND_MAX`] as SQL text (a test keeps the two equal).
macro_rules! queued_behind_cap {
    () => {
        "10"
    };
}

// ---- record, one delivery at a time (redeliveries, and every SQLite write) ----

/// $1 delivery_id → (outcome, job_id, state of that job).
pub(super) const FIND_DELIVERY: &str = "SELECT d.outcome, d.job_id, j.state FROM deliveries d \
     LEFT JOIN jobs j ON j.id = d.job_id WHERE d.delivery_id = $1";

/// $1 delivery_id → a row when that delivery is stored (SQLite's form of `POSTGRES_BATCH.existing`).
pub(super) const DELIVERY_STORED: &str = "SELECT 1 FROM deliveries WHERE delivery_id = $1";

/// Stores a delivery, or overwrites it with its newest answer (keeping the old job link when no new job
/// was made). $1 delivery_id, $2 event, $3 action, $4 outcome, $5 reason, $6 job_id, $7 received_at.
pub(super) const UPSERT_DELIVERY: &str = "INSERT INTO deliveries \
     (delivery_id, event, action, outcome, reason, job_id, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (delivery_id) DO UPDATE SET event = excluded.event, action = excluded.action, \
     outcome = excluded.outcome, reason = excluded.reason, \
     job_id = COALESCE(excluded.job_id, deliveries.job_id), received_at = excluded.received_at";

/// $1 repo_id, $2 repo_full_name, $3 issue_number, $4 action, $5 trigger_json, $6 now, $7 delivery_id
/// → (id, queued_behind). A control job waits behind nothing and nothing waits behind it: it counts 0 and
/// is not counted.
pub(super) const INSERT_JOB: &str = concat!(
    "INSERT INTO jobs \
     (delivery_id, repo_id, repo_full_name, issue_number, action, trigger_json, state, attempts, run_after, \
      cancel_requested, created_at, updated_at) \
     VALUES ($7, $1, $2, $3, $4, $5, 'queued', 0, $6, FALSE, $6, $6) \
     RETURNING id, (SELECT COUNT(*) FROM (SELECT 1 FROM jobs ahead WHERE ahead.repo_id = $1 \
        AND ahead.issue_number = $3 AND ahead.state IN ('queued', 'running') AND ahead.id < jobs.id \
        AND ",
    run_job!("ahead."),
    " AND $4 NOT IN ",
    control_actions!(),
    " LIMIT ",
    queued_behind_cap!(),
    ") capped)"
);

// ---- record, a batch of new deliveries at once (Postgres's group-commit fast path) ----
//
// Throughput is limited by round trips to the server, not by the work inside the database, so a whole
// batch of new deliveries costs two statements: one to find ids already stored, one to write every job and
// delivery. (SQLite's writer runs in process and needs none of this: see `record`.) The batch travels as
// JSON array parameters; rows are read with `r.value ->> 'field'` and `CAST`; the write is one statement
// with data-modifying CTEs. Like `INSERT_JOB`, the "ahead of you" count leaves control jobs (`run_job!`)
// out on both sides; its terms are all in `jobs_by_issue` (migration 0003), so the count reads only that
// index.

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

/// The fast-path statements.
pub(super) struct BatchSql {
    /// $1 JSON array of delivery ids → the ids already stored.
    pub(super) existing: &'static str,
    /// $1 JSON array of new jobs, $2 JSON array of new deliveries, $3 now
    /// → (delivery_id, job id, queued_behind) per new job. Each delivery points at its job.
    pub(super) insert_new: &'static str,
}

pub(super) const POSTGRES_BATCH: BatchSql = BatchSql {
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

// ---- leases (workers) ----

/// The oldest runnable job of a class, moved to `running` under a fresh lease.
/// $1 owner, $2 token, $3 lease_expires_at, $4 now → (id, trigger_json, attempts).
macro_rules! claim_sql {
    ($filter:expr, $lock:literal) => {
        concat!(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = $1, \
             lease_token = $2, lease_expires_at = $3, updated_at = $4 \
             WHERE id = (SELECT j.id FROM jobs j WHERE j.state = 'queued' AND j.run_after <= $4 ",
            $filter,
            " ORDER BY j.id LIMIT 1",
            $lock,
            ") RETURNING id, trigger_json, attempts"
        )
    };
}
/// Run jobs: the oldest whose issue has no running run job and no older queued run job (FIFO per issue).
/// Control jobs are invisible to this rule in both directions.
macro_rules! run_filter {
    () => {
        concat!(
            "AND ",
            run_job!("j."),
            " AND NOT EXISTS (SELECT 1 FROM jobs o WHERE o.repo_id = j.repo_id \
             AND o.issue_number = j.issue_number AND ",
            run_job!("o."),
            " AND (o.state = 'running' OR (o.state = 'queued' AND o.id < j.id)))"
        )
    };
}
pub(super) const CLAIM_SQLITE: &str = claim_sql!(run_filter!(), "");
pub(super) const CLAIM_POSTGRES: &str = claim_sql!(run_filter!(), " FOR UPDATE SKIP LOCKED");
/// Control jobs (`stop`, `label`): the oldest, whatever runs on its issue.
macro_rules! control_filter {
    () => {
        concat!("AND j.action IN ", control_actions!())
    };
}
pub(super) const CLAIM_CONTROL_SQLITE: &str = claim_sql!(control_filter!(), "");
pub(super) const CLAIM_CONTROL_POSTGRES: &str =
    claim_sql!(control_filter!(), " FOR UPDATE SKIP LOCKED");

/// $1 id, $2 token, $3 lease_expires_at, $4 now → cancel_requested.
pub(super) const HEARTBEAT: &str = "UPDATE jobs SET lease_expires_at = $3, updated_at = $4 \
     WHERE id = $1 AND lease_token = $2 AND state = 'running' RETURNING cancel_requested";

/// $1 id, $2 token, $3 outcome JSON, $4 now.
pub(super) const COMPLETE: &str = "UPDATE jobs SET state = 'done', outcome = $3, lease_token = NULL, \
     lease_expires_at = NULL, updated_at = $4 WHERE id = $1 AND lease_token = $2 AND state = 'running'";

/// Transient failure: queued again at $5 unless attempts are used up ($6 max_attempts).
/// $1 id, $2 token, $3 error, $4 now, $5 run_after, $6 max_attempts → new state.
pub(super) const FAIL_TRANSIENT: &str = "UPDATE jobs SET \
     state = CASE WHEN cancel_requested THEN 'cancelled' WHEN attempts >= $6 THEN 'failed' ELSE 'queued' END, \
     run_after = $5, last_error = $3, lease_token = NULL, lease_expires_at = NULL, publishing = FALSE, \
     updated_at = $4 \
     WHERE id = $1 AND lease_token = $2 AND state = 'running' RETURNING state";

/// $1 id, $2 token, $3 error, $4 now → new state: failed, or cancelled when a stop was requested (a run
/// that a stop woke, or that its publish gate stopped, ends as the stop left it).
pub(super) const FAIL_PERMANENT: &str = "UPDATE jobs SET \
     state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'failed' END, last_error = $3, \
     lease_token = NULL, lease_expires_at = NULL, updated_at = $4 \
     WHERE id = $1 AND lease_token = $2 AND state = 'running' RETURNING state";

/// $1 id, $2 token, $3 now.
pub(super) const FINISH_CANCELLED: &str = "UPDATE jobs SET state = 'cancelled', lease_token = NULL, \
     lease_expires_at = NULL, updated_at = $3 WHERE id = $1 AND lease_token = $2 AND state = 'running'";

/// Graceful shutdown: back to the queue at once, the attempt not counted. $1 id, $2 token, $3 now.
pub(super) const RELEASE: &str = "UPDATE jobs SET \
     state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END, \
     attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, run_after = $3, \
     lease_token = NULL, lease_expires_at = NULL, publishing = FALSE, updated_at = $3 \
     WHERE id = $1 AND lease_token = $2 AND state = 'running'";

/// Leases expired before $3: queued again, or failed once attempts are used up.
/// $1 now, $2 max_attempts, $3 cutoff (now, or "any lease" when reconciling a single-process database).
pub(super) const REQUEUE_EXPIRED: &str = "UPDATE jobs SET \
     state = CASE WHEN cancel_requested THEN 'cancelled' WHEN attempts >= $2 THEN 'failed' ELSE 'queued' END, \
     last_error = 'lease expired: the worker stopped without finishing the job', \
     run_after = $1, lease_token = NULL, lease_expires_at = NULL, publishing = FALSE, updated_at = $1 \
     WHERE state = 'running' AND lease_expires_at < $3";

// ---- control: stop, cancel, and the publish gate they race with ----

/// The publish gate: a running job still held by $2 becomes `publishing` unless a stop was requested,
/// in one statement (see `control` for why a stop and the gate cannot both win).
/// $1 id, $2 token, $3 now → publishing (TRUE: proceed; FALSE: stopped); no row: the lease is lost.
pub(super) const BEGIN_PUBLISH: &str = "UPDATE jobs SET publishing = NOT cancel_requested, updated_at = $3 \
     WHERE id = $1 AND lease_token = $2 AND state = 'running' RETURNING publishing";

/// `/metagpt stop`, applied by its control job: cancels the issue's queued run jobs and flags its running
/// one unless it is already publishing, in one statement so a job claimed or gated meanwhile is seen as it
/// is now rather than missed. Only jobs recorded before the stop ($4, the stop job's id) are touched: a
/// trigger sent after the stop is not cancelled by it. Each job it reaches first remembers it
/// (`stopped_by`), and the jobs this stop reached before are returned again (untouched), so a retried stop
/// reports what its first attempt did. `SET` reads the row as it was before this statement.
/// $1 repo_id, $2 issue_number, $3 now, $4 stop job id → (id, state, cancel_requested, publishing).
pub(super) const STOP_ISSUE: &str = concat!(
    "UPDATE jobs SET \
     state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END, \
     cancel_requested = CASE WHEN state = 'running' AND NOT publishing THEN TRUE ELSE cancel_requested END, \
     stopped_by = CASE WHEN state IN ('queued', 'running') THEN COALESCE(stopped_by, $4) ELSE stopped_by END, \
     updated_at = CASE WHEN state IN ('queued', 'running') THEN $3 ELSE updated_at END \
     WHERE repo_id = $1 AND issue_number = $2 AND ",
    run_job!(""),
    " AND id < $4 AND (state IN ('queued', 'running') OR stopped_by = $4) \
     RETURNING id, state, cancel_requested, publishing"
);

/// $1 job id, $2 now: a queued run job ends cancelled, a running one is asked to stop unless it is already
/// publishing (see `STOP_ISSUE`). Control jobs are never touched.
pub(super) const CANCEL_JOB: &str = concat!(
    "UPDATE jobs SET \
     state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END, \
     cancel_requested = CASE WHEN state = 'running' THEN TRUE ELSE cancel_requested END, updated_at = $2 \
     WHERE id = $1 AND (state = 'queued' OR (state = 'running' AND NOT publishing)) AND ",
    run_job!("")
);

// ---- inspection ----

pub(super) const DEPTH: &str = "SELECT state, COUNT(*) FROM jobs GROUP BY state";

pub(super) const GET_DELIVERY: &str = "SELECT delivery_id, event, action, outcome, reason, job_id, \
     received_at FROM deliveries WHERE delivery_id = $1";

/// $1 repo_id, $2 issue_number → queued run jobs of the issue.
pub(super) const WAITING: &str = concat!(
    "SELECT COUNT(*) FROM jobs WHERE repo_id = $1 AND issue_number = $2 AND state = 'queued' AND ",
    run_job!("")
);

/// $1 repo_id, $2 issue_number, $3 job id → (id, trigger_json) of the issue's stops recorded after that
/// job, oldest first.
pub(super) const STOPS_AFTER: &str = "SELECT id, trigger_json FROM jobs WHERE repo_id = $1 \
     AND issue_number = $2 AND action = 'stop' AND id > $3 ORDER BY id";

pub(super) const GET_JOB: &str = "SELECT id, repo_full_name, issue_number, action, trigger_json, state, \
     attempts, run_after, lease_owner, cancel_requested, publishing, stopped_by, last_error, outcome, \
     created_at, updated_at FROM jobs WHERE id = $1";

#[cfg(test)]
mod tests {
    use crate::marks::CONTROL_ACTIONS;

    /// The names in `control_actions!`, in order.
    fn sql_list() -> Vec<String> {
        control_actions!()
            .trim_matches(|c| c == '(' || c == ')')
            .split(", ")
            .map(|name| name.trim_matches('\'').to_owned())
            .collect()
    }

    #[test]
    fn the_sql_list_of_control_actions_is_the_rust_one() {
        assert_eq!(sql_list(), CONTROL_ACTIONS);
    }

    #[test]
    fn the_partial_indexes_leave_out_the_same_control_actions() {
        let condition = run_job!("");
        for migration in [
            include_str!("../../migrations/sqlite/0004_label_checks.sql"),
            include_str!("../../migrations/postgres/0004_label_checks.sql"),
        ] {
            let indexes = migration.matches("CREATE ").count();
            assert_eq!(migration.matches(condition).count(), indexes, "{migration}");
        }
    }

    #[test]
    fn the_sql_cap_of_queued_behind_is_the_rust_one() {
        assert_eq!(
            queued_behind_cap!(),
            super::super::QUEUED_BEHIND_MAX.to_string()
        );
    }
}
