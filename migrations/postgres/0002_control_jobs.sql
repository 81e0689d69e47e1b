-- Control jobs (`/metagpt stop`, action 'stop') run beside an issue's run jobs: a stop must reach a run
-- that is running, so "one running job per issue" holds for run jobs only.

DROP INDEX jobs_one_running_per_issue;
CREATE UNIQUE INDEX jobs_one_running_per_issue ON jobs (repo_id, issue_number)
    WHERE state = 'running' AND action <> 'stop';
