-- The durable job queue (SQLite). Timestamps are unix milliseconds (BIGINT-compatible INTEGER).

CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id      TEXT    NOT NULL,
    repo_id          INTEGER NOT NULL,
    repo_full_name   TEXT    NOT NULL,
    issue_number     INTEGER NOT NULL,
    action           TEXT    NOT NULL,
    trigger_json     TEXT    NOT NULL,
    state            TEXT    NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    run_after        INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_token      TEXT,
    lease_expires_at INTEGER,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    last_error       TEXT,
    outcome          TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);

-- At most one running job per issue, whatever the claim query does.
CREATE UNIQUE INDEX jobs_one_running_per_issue ON jobs (repo_id, issue_number) WHERE state = 'running';
CREATE INDEX jobs_by_issue ON jobs (repo_id, issue_number, state, id);
CREATE INDEX jobs_by_delivery ON jobs (delivery_id);
CREATE INDEX jobs_queued ON jobs (id) WHERE state = 'queued';
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE state = 'running';

CREATE TABLE deliveries (
    delivery_id TEXT    PRIMARY KEY,
    event       TEXT    NOT NULL,
    action      TEXT,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('accepted', 'ignored', 'rejected')),
    reason      TEXT,
    job_id      INTEGER REFERENCES jobs (id),
    received_at INTEGER NOT NULL
);
