//! The control job of a label check: another label than the default trigger label was added to an open
//! issue; is it the repository's `trigger_label` (`.github/metagpt.yml`)?
//!
//! Invariants:
//! - Quiet: the check writes nothing on GitHub (no reaction, no comment), since most labels have nothing
//!   to do with the bot. Its one effect, when the label is the repository's trigger label, is a run job
//!   for the issue, which then acknowledges and reports like any run.
//! - Idempotent: that run is recorded under a delivery id derived from the check's job id
//!   ([`run_delivery_id`]), so a retried check finds it and enqueues nothing more.
//! - An invalid `.github/metagpt.yml` ends the check quietly too (logged, kept in the job's outcome): the
//!   label cannot be known to be a trigger, and runs of the default label report the file on the issue.
//! - A `/metagpt stop` recorded after the check wins: the check then enqueues nothing (the stop, applied
//!   after it, would not cancel a run recorded after the stop). Only a stop recorded in the moment between
//!   that look and the run's insert slips through.
//! - GitHub's failures keep their classification (transient ones are retried by the queue).

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::label::{self, RepoSettings};
use super::{Failure, installation_of, request};
use crate::github::{GitHubApp, get_issue};
use crate::queue::{DeliveryOutcome, DeliveryRecord, Job, JobError, Queue, Recorded};
use crate::trigger::{Action, Trigger};
use crate::worker::ControlHandler;

/// The delivery id under which the check with job id `check_job` records its run.
pub fn run_delivery_id(check_job: i64) -> String {
    format!("label-check-{check_job}")
}

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
        let installation = installation_of(
            trigger,
            &format!("the label `{label}`"),
            "label the issue again",
        )?;
        let client = self
            .github
            .installation(installation)
            .await
            .map_err(Failure::github)?;
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
        if self.stopped_after(job).await? {
            let reason = format!("a `/metagpt stop` came after the label `{label}`");
            return Ok(json!({ "started": false, "reason": reason }));
        }
        let run = Trigger {
            delivery_id: run_delivery_id(job.id),
            action: Action::Run {
                kind: request::kind_of(&issue, &config),
                label: Some(label.clone()),
            },
            ..trigger.clone()
        };
        let run_job = self.enqueue(run).await?;
        tracing::info!(%label, run_job, "the repository's trigger label: run enqueued");
        Ok(json!({ "started": true, "run_job_id": run_job }))
    }

    /// Whether a stop for the issue was recorded after the check: that stop is applied after the check
    /// (control jobs run in order) and cancels only runs recorded before it, so the run must not start.
    async fn stopped_after(&self, job: &Job) -> Result<bool, JobError> {
        let trigger = &job.trigger;
        self.queue
            .stopped_after(trigger.repo.id, trigger.work_issue(), job.id)
            .await
            .map_err(|e| JobError::Transient(format!("cannot look for a later stop: {e:#}")))
    }

    /// Records the run (or finds it, for a retried check) and wakes the run workers.
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
        self.wake.notify_waiters();
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
