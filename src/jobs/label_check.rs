//! The control job of a label check: another label than the default trigger label was added to an open
//! issue; is it the repository's `trigger_label` (`.github/metagpt.yml`)?
//!
//! Invariants:
//! - Quiet: the check writes nothing on GitHub (no reaction, no comment), since most labels have nothing
//!   to do with the bot. Its one effect, when the label is the repository's trigger label, is a run job
//!   for the issue, which then acknowledges and reports like any run.
//! - Idempotent: that run is recorded under a delivery id derived from the check's job id
//!   ([`marks::label_check_delivery`]), so a retried check finds it and enqueues nothing more.
//! - An invalid `.github/metagpt.yml` ends the check quietly too (logged, kept in the job's outcome): the
//!   label cannot be known to be a trigger, and runs of the default label report the file on the issue.
//! - A `/metagpt stop` recorded after the check's job, by someone allowed to stop runs (the stop job's
//!   own rule: write, maintain, admin), wins: the check enqueues nothing, since that stop cancels only
//!   runs recorded before it. A stop recorded while the run was being enqueued is caught by a second
//!   look after the insert and before the run workers are woken, which cancels the run (so does a
//!   failed second look, and a retried check that finds such a stop cancels the run an earlier attempt
//!   recorded). A stop from anyone else changes nothing here. Each sender's permission is asked once
//!   per check. Left open: with several `serve` processes on one Postgres, job ids are not commit order.
//! - GitHub's failures keep their classification (transient ones are retried by the queue).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::Notify;

use super::{Failure, authorise};
use crate::domain::{Request, RunRequest, Trigger};
use crate::github::{Repo, RepoSettings};
use crate::marks;
use crate::queue::{DeliveryOutcome, DeliveryRecord, Job, Queue, Recorded};
use crate::repo_config::PATH;

/// What a label check works with: the queue it records the run in, and the run workers' signal.
pub struct LabelCheck<'a> {
    pub repo: &'a Repo,
    pub queue: &'a Queue,
    /// Wakes the run workers when the check enqueued a run.
    pub wake: &'a Arc<Notify>,
}

impl LabelCheck<'_> {
    /// Checks label `label` of job `job` (see the module documentation); `Ok` is the job's outcome.
    pub async fn check(&self, job: &Job, label: &str) -> Result<Value, Failure> {
        let trigger = &job.trigger;
        let RepoSettings { config, .. } = self.repo.settings().await?;
        let config = match config {
            Ok(config) => config,
            Err(problem) => {
                tracing::warn!(%label, %problem, "label check: the repository's settings are invalid; no run");
                let reason = format!("no run: {PATH} is invalid: {problem}");
                return Ok(json!({ "started": false, "reason": reason }));
            }
        };
        if !config.is_trigger(label) {
            let reason = format!(
                "label `{label}` is not the trigger label `{}`",
                config.trigger_label
            );
            return Ok(json!({ "started": false, "reason": reason }));
        }
        let issue = self.repo.issue(trigger.issue_number).await?;
        let stopped = |run_job: Option<i64>| {
            let reason = format!("a `/metagpt stop` came after the label `{label}`");
            json!({ "started": false, "reason": reason, "run_job_id": run_job })
        };
        let mut senders = HashMap::new();
        if self.allowed_stop_after(job, None, &mut senders).await? {
            // A retried check may have recorded its run before it failed: that run must not start.
            let recorded = self.recorded_run(job).await?;
            if let Some(run_job) = recorded {
                self.cancel(run_job).await?;
            }
            return Ok(stopped(recorded));
        }
        let run = Trigger {
            delivery_id: marks::label_check_delivery(job.id),
            request: Request::Run(RunRequest::Labeled {
                kind: config.kind_for(&issue.labels),
                label: Some(label.to_owned()),
            }),
            ..trigger.clone()
        };
        let Some(run_job) = self.enqueue(run).await? else {
            return Ok(json!({ "started": false, "reason": "the run was not enqueued" }));
        };
        // A stop recorded between the look above and the run's insert would not cancel the run (it was
        // recorded after the stop): look again before waking the workers, and cancel the run ourselves.
        // If the look fails, the run is cancelled too; the retried check records it again.
        let late_stop = self
            .allowed_stop_after(job, Some(run_job), &mut senders)
            .await;
        if !matches!(late_stop, Ok(false)) {
            self.cancel(run_job).await?;
            late_stop?;
            tracing::info!(%label, run_job, "a stop came while the run was enqueued: run cancelled");
            return Ok(stopped(Some(run_job)));
        }
        self.wake.notify_waiters();
        tracing::info!(%label, run_job, "the repository's trigger label: run enqueued");
        Ok(json!({ "started": true, "run_job_id": run_job }))
    }

    /// Whether someone allowed to stop runs sent a stop for the issue after the check's job (and before
    /// job `before`, when given). Such a stop cancels only runs recorded before it, so a run recorded
    /// after it must not start. A stop from anyone else changes nothing: its own job refuses it.
    /// `senders` remembers each sender's answer for the check's second look.
    async fn allowed_stop_after(
        &self,
        job: &Job,
        before: Option<i64>,
        senders: &mut HashMap<u64, bool>,
    ) -> Result<bool, Failure> {
        let trigger = &job.trigger;
        let stops = self
            .queue
            .stops_after(trigger.repo.id, trigger.work_issue(), job.id)
            .await
            .map_err(|e| Failure::Transient(format!("cannot look for a later stop: {e:#}")))?;
        for (id, stop) in stops {
            if before.is_some_and(|before| id >= before) {
                break;
            }
            let allowed = match senders.get(&stop.sender_id) {
                Some(allowed) => *allowed,
                None => {
                    let allowed =
                        authorise::may_stop(self.repo, stop.sender_id, &stop.sender_login).await?;
                    *senders.entry(stop.sender_id).or_insert(allowed)
                }
            };
            if allowed {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The run an earlier attempt of this check recorded, if any.
    async fn recorded_run(&self, job: &Job) -> Result<Option<i64>, Failure> {
        let stored = self
            .queue
            .delivery(&marks::label_check_delivery(job.id))
            .await
            .map_err(|e| Failure::Transient(format!("cannot look up the check's run: {e:#}")))?;
        Ok(stored.and_then(|delivery| delivery.job_id))
    }

    async fn cancel(&self, run_job: i64) -> Result<(), Failure> {
        self.queue
            .cancel(run_job)
            .await
            .map_err(|e| Failure::Transient(format!("{e:#}")))
    }

    /// Records the run (or finds it, for a retried check whose earlier run may run again).
    async fn enqueue(&self, run: Trigger) -> Result<Option<i64>, Failure> {
        let delivery = DeliveryRecord {
            delivery_id: run.delivery_id.clone(),
            event: "issues".to_owned(),
            action: Some("labeled".to_owned()),
            outcome: DeliveryOutcome::Accepted,
        };
        let recorded = self
            .queue
            .record(delivery, Some(run))
            .await
            .map_err(|e| Failure::Transient(format!("cannot enqueue the run: {e:#}")))?;
        Ok(match recorded {
            Recorded::Stored { job_id, .. } | Recorded::Duplicate { job_id } => job_id,
        })
    }
}
