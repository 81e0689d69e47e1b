//! The progress comment: one comment on the issue, marked `<!-- metagpt-bot:progress -->`, edited in
//! place as a run goes running → done (PR link, cost, gates), failed (reason and what to do) or stopped.
//! What it says is [`voice::Status`]; this file finds, creates and edits it.
//!
//! Invariants:
//! - There is at most one progress comment per issue: it is found by its marker among the comments the
//!   bot itself wrote (never another bot's or a person's, see `github::OwnAuthor`), before one is
//!   created, and its id is kept for the rest of the job.
//! - Failing to update the comment never fails the run: it is logged and the run goes on.
//! - In the App every edit also shows how many runs of the issue wait behind this one, counted in the
//!   queue at that moment.

use super::Failure;
use super::voice::{Hint, Status};
use crate::github::{GitHubError, Repo};
use crate::marks;
use crate::queue::Queue;

/// The issue's progress comment, created on first use.
pub struct ProgressComment<'a> {
    repo: &'a Repo,
    issue: u64,
    id: Option<u64>,
    /// The queue and repository id, to show how many runs wait behind this one (the App).
    waiting: Option<(Queue, u64)>,
}

impl<'a> ProgressComment<'a> {
    /// Finds the issue's progress comment written by the bot (none is created yet). With `waiting`,
    /// every edit shows how many runs of the issue wait in that queue.
    pub async fn find(
        repo: &'a Repo,
        issue: u64,
        waiting: Option<(Queue, u64)>,
    ) -> Result<ProgressComment<'a>, GitHubError> {
        let id = repo
            .find_own_comment(issue, marks::PROGRESS)
            .await?
            .map(|comment| comment.id);
        Ok(Self {
            repo,
            issue,
            id,
            waiting,
        })
    }

    /// Shows that the run failed for a reason the person can act on; returns that failure as told.
    pub async fn fail(&mut self, what: &str, reason: String, hint: Hint) -> Failure {
        let status = Status::Failed {
            what: what.to_owned(),
            reason: reason.clone(),
            hint,
        };
        self.show(&status).await;
        Failure::Told(reason)
    }

    /// Shows `status`: edits the comment, or creates it the first time. Failures are logged only.
    pub async fn show(&mut self, status: &Status) {
        if let Err(error) = self.try_show(status).await {
            tracing::warn!(issue = self.issue, %error, "could not update the progress comment");
        }
    }

    async fn try_show(&mut self, status: &Status) -> Result<(), GitHubError> {
        let mut body = status.render();
        if let Some((queue, repo_id)) = &self.waiting {
            let waiting = queue.waiting(*repo_id, self.issue).await.unwrap_or(0);
            body = super::voice::with_queued_note(&body, waiting);
        }
        match self.id {
            Some(id) => {
                self.repo.update_comment(id, &body).await?;
            }
            None => {
                let comment = self.repo.create_comment(self.issue, &body).await?;
                self.id = Some(comment.id);
            }
        }
        Ok(())
    }
}
