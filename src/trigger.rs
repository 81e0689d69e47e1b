//! The domain of what starts work: a [`Trigger`] is one accepted webhook delivery that asks the bot to do
//! something for one issue of one repository.
//!
//! Invariants:
//! - A trigger always names one repository (by numeric id and full name) and one issue number; a comment on
//!   a pull request names the PR's number, which GitHub shares with issues.
//! - The sender is kept by numeric id: permission checks use the id, never the login.
//! - A trigger is plain data (serde) so the queue can persist it as JSON and a worker can rebuild it.
//!   Renaming a variant or field is a migration: stored rows use these names.

use serde::{Deserialize, Serialize};

/// Whether a run implements a requirement or fixes a bug (decided by labels, never by an LLM call).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Requirement,
    Bugfix,
}

/// What the trigger asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// `issues.labeled` with the trigger label: a first (or repeated) run of the issue.
    Run { kind: Kind },
    /// `/metagpt <feedback>`: another iteration on the same branch with that feedback.
    Iterate { feedback: String, comment_id: u64 },
    /// `/metagpt retry`: the last run again.
    Retry { comment_id: u64 },
    /// `/metagpt stop`: cancel the queued or running run of the issue.
    Stop { comment_id: u64 },
}

impl Action {
    /// A short stable name, used in logs, metrics labels and the jobs table.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Run { .. } => "run",
            Action::Iterate { .. } => "iterate",
            Action::Retry { .. } => "retry",
            Action::Stop { .. } => "stop",
        }
    }
}

/// The repository a trigger belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoRef {
    pub id: u64,
    pub owner: String,
    pub name: String,
}

impl RepoRef {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

/// One accepted request for work on one issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// `X-GitHub-Delivery` of the webhook that carried it (or a synthetic id for the Action and local runs).
    pub delivery_id: String,
    /// The App installation the delivery came through; `None` outside the App (Action, local).
    pub installation_id: Option<u64>,
    pub repo: RepoRef,
    pub issue_number: u64,
    /// Whether the number is a pull request (a comment on a PR) rather than an issue.
    pub is_pull_request: bool,
    pub sender_id: u64,
    pub sender_login: String,
    pub action: Action,
    /// For a comment on the bot's pull request: the issue the PR works on, from the hidden marker of
    /// the PR body (`<!-- metagpt-bot:issue=N -->`), so the job waits in that issue's line. Only a hint
    /// for the queue: the worker checks it against the PR's head branch before running anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_issue: Option<u64>,
}

impl Trigger {
    /// The issue whose runs this trigger lines up with (one run per issue at a time).
    pub fn work_issue(&self) -> u64 {
        self.work_issue.unwrap_or(self.issue_number)
    }
}
