//! The control job of `/metagpt stop`: check who asked, then stop the issue's runs.
//!
//! Invariants:
//! - Intake stored the stop without looking at who sent it; nothing is cancelled until here, where the
//!   sender's permission is checked by numeric user id, as the App installation. Write, maintain and
//!   admin may stop; anyone else gets one short reply and nothing is stopped.
//! - A stop on a pull request stops the runs of the bot's issue behind it (head branch
//!   `metagpt/issue-<N>` of the same repository, where the run jobs are recorded under N); on any other
//!   pull request it is refused with a reply.
//! - Only runs recorded before the stop are touched (see [`Queue::stop_issue`]); a running run learns of
//!   it through its heartbeat, and its own progress comment then says "Stopped".
//! - Retrying is harmless: the 👍 reaction (GitHub keeps one per user and content) is put before the stop
//!   is applied, and the "nothing to stop" reply is the last step, so a retry never repeats a visible
//!   step after a stop that did something.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::json;

use super::target::{Resolved, reply, resolve};
use super::{Failure, installation_client};
use crate::domain::Action;
use crate::github::{GitHubApp, OwnAuthor, ReactionTarget, add_reaction};
use crate::jobs::worker::ControlHandler;
use crate::queue::{Job, JobError, Queue};

/// Applies `/metagpt stop` control jobs, as the installation each came through.
pub struct StopHandler {
    github: Arc<GitHubApp>,
    queue: Queue,
}

impl StopHandler {
    pub fn new(github: Arc<GitHubApp>, queue: Queue) -> Self {
        Self { github, queue }
    }

    async fn run(&self, job: &Job) -> Result<serde_json::Value, JobError> {
        let trigger = &job.trigger;
        let Action::Stop { comment_id } = trigger.action else {
            return Err(JobError::Permanent(format!(
                "job {} is a `{}` job, not a stop; it was taken by the control loop by mistake",
                job.id,
                trigger.action.name()
            )));
        };
        let client = installation_client(
            &self.github,
            trigger,
            "the `/metagpt stop`",
            "comment again",
        )
        .await?;
        let (owner, name) = (trigger.repo.owner.as_str(), trigger.repo.name.as_str());
        let we = OwnAuthor::App(self.github.app_id());
        let issue = match resolve(&client, trigger, &we).await? {
            Resolved::Run(issue) => issue,
            Resolved::Refused(reason) => return Ok(json!({"stopped": false, "refused": reason})),
        };
        add_reaction(
            &client,
            owner,
            name,
            ReactionTarget::Comment(comment_id),
            "+1",
        )
        .await
        .map_err(Failure::github)?;
        let report = self
            .queue
            .stop_issue(trigger.repo.id, issue, job.id)
            .await
            .map_err(|e| JobError::Transient(format!("{e:#}")))?;
        tracing::info!(issue, ?report, "stop applied");
        if report.is_empty() {
            let text = format!(
                "@{} nothing to stop: no run of #{issue} is queued or running.",
                trigger.sender_login
            );
            reply(&client, trigger, &we, &text).await?;
        }
        Ok(json!({
            "stopped": !report.is_empty(),
            "issue": issue,
            "cancelled_queued": report.cancelled_queued,
            "running_signalled": report.running_signalled,
        }))
    }
}

impl ControlHandler for StopHandler {
    fn handle<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<serde_json::Value, JobError>> {
        Box::pin(self.run(job))
    }
}
