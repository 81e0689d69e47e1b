-- The "N requests wait behind this run" count, taken for every job recorded at intake, reads only the
-- run jobs of one issue that are still waiting or running. This partial index holds exactly those, so
-- the count is an index-only range scan however many finished jobs the issue has; `jobs_by_issue` lacks
-- `action` and made the count read every row. Control jobs ('stop', and 'label' of 0004) are left out.

CREATE INDEX jobs_waiting ON jobs (repo_id, issue_number, id)
    WHERE state IN ('queued', 'running') AND action NOT IN ('stop', 'label');
