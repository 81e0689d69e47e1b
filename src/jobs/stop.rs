//! `/metagpt stop`: the App's control job checks who asked, then stops the issue's runs; in the Action,
//! which cannot reach another workflow run, the refusal that says how to cancel it.
//!
//! Invariants:
//! - Intake stored the stop without looking at who sent it; nothing is cancelled until here, where the
//!   sender's permission is checked by numeric user id. Write, maintain and admin may stop; anyone else
//!   gets one short reply and nothing is stopped.
//! - A stop on a pull request stops the runs of the bot's issue behind it (head branch
//!   `metagpt/issue-<N>` of the same repository, where the run jobs are recorded under N); on any other
//!   pull request it is refused with a reply.
//! - Only runs recorded before the stop are touched (see `Queue::stop_issue`). A running run in this
//!   process is woken at once ([`Running`]); in another replica it learns of the stop at its next
//!   heartbeat, and in any case before it pushes (`Queue::begin_publish`), so an acknowledged stop wins.
//! - A stop that came after the run passed its point of no return (`Queue::begin_publish`) stops
//!   nothing: the sender is told it came too late instead of getting a 👍.
//! - Retrying is harmless: a retried stop gets the report its first attempt got (the queue records which
//!   stop stopped each run), the 👍 is idempotent (GitHub keeps one per user and content), and a reply
//!   names the comment it answers, so a retry posts it once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::authorise::{self, Resolved};
use super::{Failure, voice};
use crate::domain::Trigger;
use crate::github::{ReactionTarget, Repo};
use crate::queue::{Job, Queue};

/// The cancellation tokens of the run jobs running in this process, by job id, so a stop applied here
/// wakes its run at once instead of at the run's next heartbeat.
#[derive(Clone, Default)]
pub struct Running {
    jobs: Arc<Mutex<HashMap<i64, CancellationToken>>>,
}

impl Running {
    /// Registers `job` as running with `cancel` until the returned guard is dropped.
    pub fn register(&self, job: i64, cancel: CancellationToken) -> RunningGuard {
        self.lock().insert(job, cancel);
        RunningGuard {
            running: self.clone(),
            job,
        }
    }

    /// Fires the token of `job` if it runs in this process; whether it did.
    pub fn cancel(&self, job: i64) -> bool {
        match self.lock().get(&job) {
            Some(cancel) => {
                cancel.cancel();
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, CancellationToken>> {
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Unregisters a running job when dropped.
pub struct RunningGuard {
    running: Running,
    job: i64,
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.running.lock().remove(&self.job);
    }
}

/// Applies the stop job `job` (asked by comment `comment_id`), as described in the module documentation.
pub async fn stop(
    repo: &Repo,
    queue: &Queue,
    running: &Running,
    job: &Job,
    comment_id: u64,
) -> Result<Value, Failure> {
    let trigger = &job.trigger;
    let issue = match authorise::resolve(repo, trigger).await? {
        Resolved::Issue(issue) => issue,
        Resolved::Refused(reason) => return Ok(json!({"stopped": false, "refused": reason})),
    };
    let report = queue
        .stop_issue(trigger.repo.id, issue, job.id)
        .await
        .map_err(|e| Failure::Transient(format!("{e:#}")))?;
    tracing::info!(issue, ?report, "stop applied");
    if let Some(run) = report.running_job
        && running.cancel(run)
    {
        tracing::info!(run, "the stopped run runs in this process: woken at once");
    }
    if !report.is_empty() {
        repo.react(ReactionTarget::Comment(comment_id), "+1")
            .await?;
    } else if report.too_late.is_some() {
        let text = voice::too_late_to_stop(&trigger.sender_login, issue);
        authorise::reply(repo, trigger, &text).await?;
    } else {
        let text = voice::nothing_to_stop(&trigger.sender_login, issue);
        authorise::reply(repo, trigger, &text).await?;
    }
    Ok(json!({
        "stopped": !report.is_empty(),
        "issue": issue,
        "cancelled_queued": report.cancelled_queued,
        "running_signalled": report.running_job.is_some(),
        "too_late": report.too_late.is_some(),
    }))
}

/// `/metagpt stop` in a GitHub Actions workflow: acknowledged and answered with how to cancel the
/// workflow run instead, after the same permission check as the App's.
pub async fn refuse_in_action(repo: &Repo, trigger: &Trigger) -> Result<Value, Failure> {
    if let Some(comment) = trigger.request.comment_id()
        && let Err(error) = repo.react(ReactionTarget::Comment(comment), "eyes").await
    {
        tracing::warn!(%error, "could not react to the stop");
    }
    if let Resolved::Refused(reason) = authorise::resolve(repo, trigger).await? {
        return Ok(json!({ "refused": reason }));
    }
    authorise::reply(repo, trigger, voice::STOP_IN_ACTION).await?;
    Ok(json!({ "refused": voice::STOP_IN_ACTION }))
}
