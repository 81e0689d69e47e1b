-- The "N requests wait behind this run" count, taken for every job recorded at intake, filters an
-- issue's queued and running jobs on `action` (control jobs are not counted). `jobs_by_issue` lacked
-- `action`, so the count read every such row from the table; with `action` in the index the count reads
-- the index alone, and so do the claim's "is a run of this issue ahead?" test and the stop.

DROP INDEX jobs_by_issue;
CREATE INDEX jobs_by_issue ON jobs (repo_id, issue_number, state, action, id);

-- Nothing looks a job up by its delivery any more (the delivery row points at its job): one index less
-- to write per recorded job.
DROP INDEX jobs_by_delivery;

-- Deliveries are found by their id only: stored in the primary key's b-tree itself (WITHOUT ROWID), a
-- delivery is one b-tree insert instead of a row plus an index entry.
CREATE TABLE deliveries_by_id (
    delivery_id TEXT    NOT NULL PRIMARY KEY,
    event       TEXT    NOT NULL,
    action      TEXT,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('accepted', 'ignored', 'rejected')),
    reason      TEXT,
    job_id      INTEGER REFERENCES jobs (id),
    received_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO deliveries_by_id (delivery_id, event, action, outcome, reason, job_id, received_at)
    SELECT delivery_id, event, action, outcome, reason, job_id, received_at FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_by_id RENAME TO deliveries;
