-- The "N requests wait behind this run" count, taken for every job recorded at intake, reads only the
-- run jobs of one issue that are still waiting or running. This partial index holds exactly those, so
-- the count is an index-only range scan however many finished jobs the issue has; `jobs_by_issue` lacks
-- `action` and made the count read every row.

CREATE INDEX jobs_waiting ON jobs (repo_id, issue_number, id)
    WHERE state IN ('queued', 'running') AND action <> 'stop';
