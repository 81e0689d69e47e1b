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

use futures_util::future::BoxFuture;
use octocrab::Octocrab;
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::label::{self, RepoSettings};
use super::{Failure, installation_client, request};
use crate::domain::{Action, Trigger};
use crate::github::{GitHubApp, get_issue, permission_of};
use crate::jobs::worker::ControlHandler;
use crate::marks;
use crate::queue::{DeliveryOutcome, DeliveryRecord, Job, JobError, Queue, Recorded};

/// Applies label checks, as the installation each came through.
pub struct LabelCheck {
    github: Arc<GitHubApp>,
    queue: Queue,
    /// Wakes the run workers when a check enqueued a run.
    wake: Arc<Notify>,
}

impl LabelCheck {
    pub fn new(github: Arc<GitHubApp>, queue: Queue, wake: Arc<Notify>) -> Self {
        Self {
            github,
            queue,
            wake,
        }
    }

    async fn run(&self, job: &Job) -> Result<Value, JobError> {
        let trigger = &job.trigger;
        let Action::Label { label } = &trigger.action else {
            return Err(JobError::Permanent(format!(
                "job {} is a `{}` job, not a label check; it was given to the label check by mistake",
                job.id,
                trigger.action.name()
            )));
        };
        let what = format!("the label `{label}`");
        let client =
            installation_client(&self.github, trigger, &what, "label the issue again").await?;
        let (owner, name) = (trigger.repo.owner.as_str(), trigger.repo.name.as_str());
        let RepoSettings { config, .. } = label::read(&client, owner, name).await?;
        let config = match config {
            Ok(config) => config,
            Err(problem) => {
                tracing::warn!(%label, %problem, "label check: the repository's settings are invalid; no run");
                let reason = format!("no run: {} is invalid: {problem}", super::settings::PATH);
                return Ok(json!({ "started": false, "reason": reason }));
            }
        };
        if !label::is_trigger(label, &config) {
            let reason = format!(
                "label `{label}` is not the trigger label `{}`",
                config.trigger_label
            );
            return Ok(json!({ "started": false, "reason": reason }));
        }
        let issue = get_issue(&client, owner, name, trigger.issue_number)
            .await
            .map_err(Failure::github)?;
        let stopped = |run_job: Option<i64>| {
            let reason = format!("a `/metagpt stop` came after the label `{label}`");
            json!({ "started": false, "reason": reason, "run_job_id": run_job })
        };
        let mut senders = HashMap::new();
        if self
            .allowed_stop_after(&client, job, None, &mut senders)
            .await?
        {
            // A retried check may have recorded its run before it failed: that run must not start.
            let recorded = self.recorded_run(job).await?;
            if let Some(run_job) = recorded {
                self.cancel(run_job).await?;
            }
            return Ok(stopped(recorded));
        }
        let run = Trigger {
            delivery_id: marks::label_check_delivery(job.id),
            action: Action::Run {
                kind: request::kind_of(&issue, &config),
                label: Some(label.clone()),
            },
            ..trigger.clone()
        };
        let Some(run_job) = self.enqueue(run).await? else {
            return Ok(json!({ "started": false, "reason": "the run was not enqueued" }));
        };
        // A stop recorded between the look above and the run's insert would not cancel the run (it was
        // recorded after the stop): look again before waking the workers, and cancel the run ourselves.
        // If the look fails, the run is cancelled too; the retried check records it again.
        let late_stop = self
            .allowed_stop_after(&client, job, Some(run_job), &mut senders)
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
        client: &Octocrab,
        job: &Job,
        before: Option<i64>,
        senders: &mut HashMap<u64, bool>,
    ) -> Result<bool, JobError> {
        let trigger = &job.trigger;
        let stops = self
            .queue
            .stops_after(trigger.repo.id, trigger.work_issue(), job.id)
            .await
            .map_err(|e| JobError::Transient(format!("cannot look for a later stop: {e:#}")))?;
        let (owner, name) = (trigger.repo.owner.as_str(), trigger.repo.name.as_str());
        for (id, stop) in stops {
            if before.is_some_and(|before| id >= before) {
                break;
            }
            let allowed = match senders.get(&stop.sender_id) {
                Some(allowed) => *allowed,
                None => {
                    let permission =
                        permission_of(client, owner, name, stop.sender_id, &stop.sender_login)
                            .await
                            .map_err(Failure::github)?;
                    *senders
                        .entry(stop.sender_id)
                        .or_insert(permission.can_trigger())
                }
            };
            if allowed {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The run an earlier attempt of this check recorded, if any.
    async fn recorded_run(&self, job: &Job) -> Result<Option<i64>, JobError> {
        let stored = self
            .queue
            .delivery(&marks::label_check_delivery(job.id))
            .await
            .map_err(|e| JobError::Transient(format!("cannot look up the check's run: {e:#}")))?;
        Ok(stored.and_then(|delivery| delivery.job_id))
    }

    async fn cancel(&self, run_job: i64) -> Result<(), JobError> {
        self.queue
            .cancel(run_job)
            .await
            .map_err(|e| JobError::Transient(format!("{e:#}")))
    }

    /// Records the run (or finds it, for a retried check whose earlier run may run again).
    async fn enqueue(&self, run: Trigger) -> Result<Option<i64>, JobError> {
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
            .map_err(|e| JobError::Transient(format!("cannot enqueue the run: {e:#}")))?;
        Ok(match recorded {
            Recorded::Stored { job_id, .. } | Recorded::Duplicate { job_id } => job_id,
        })
    }
}

impl ControlHandler for LabelCheck {
    fn handle<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<Value, JobError>> {
        Box::pin(self.run(job))
    }
}
