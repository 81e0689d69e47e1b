-- Label checks (action 'label') are control jobs like `/metagpt stop` (action 'stop'): another label than
-- the default trigger label is checked against the repository's `.github/metagpt.yml` beside the issue's
-- runs, so the one-running-per-issue index leaves it out. The control
-- actions are listed once in the code (`trigger::CONTROL_ACTIONS`, `queue::sql::control_actions!`); a test
-- keeps these migrations equal to them.

DROP INDEX jobs_one_running_per_issue;
CREATE UNIQUE INDEX jobs_one_running_per_issue ON jobs (repo_id, issue_number)
    WHERE state = 'running' AND action NOT IN ('stop', 'label');

