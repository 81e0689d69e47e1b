//! The domain of what starts work: a [`Trigger`] is one accepted webhook delivery that asks the bot to do
//! something for one issue of one repository.
//!
//! Invariants:
//! - A trigger always names one repository (by numeric id and full name) and one issue number; a comment on
//!   a pull request names the PR's number, which GitHub shares with issues.
//! - The sender is kept by numeric id: permission checks use the id, never the login.
//! - A trigger is plain data (serde) so the queue can persist it as JSON and a worker can rebuild it.
//!   Renaming a variant or field is a migration: stored rows use these names.
//! - Actions come in two classes: run actions (the pipeline, one at a time per issue) and control actions
//!   ([`crate::marks::CONTROL_ACTIONS`]: short jobs beside the runs, see [`crate::queue`]). [`Action::is_control`] and
//!   the queue's SQL read that one list.

use serde::{Deserialize, Serialize};

/// Whether a run implements a requirement or fixes a bug (decided by labels, never by an LLM call).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Requirement,
    Bugfix,
}

/// Which of MetaGPT's flows a run used: the agent reports it (its names are the wrapper's `result.json`
/// contract), the evidence describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// A new or changed requirement: PRD, design, tasks, code, review, tests.
    Requirement,
    /// A bug report on a repository MetaGPT worked on before (`docs/bugfix.txt`): engineer and QA only.
    Bugfix,
    /// A bug report on a repository without `docs/prd`: MetaGPT's bug flow needs the design and tasks of
    /// an earlier run, so the report went through the requirement flow.
    RequirementForBug,
}

impl Flow {
    /// The name the wrapper reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::Requirement => "requirement",
            Flow::Bugfix => "bugfix",
            Flow::RequirementForBug => "requirement_for_bug",
        }
    }
}

/// What the trigger asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// `issues.labeled` with the trigger label: a first (or repeated) run of the issue. `label` is the
    /// label that was added; the App runs only when it is still the repository's `trigger_label` (rows
    /// stored before the field existed have none and run as they did).
    Run {
        kind: Kind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
    /// `/metagpt <feedback>`: another iteration on the same branch with that feedback.
    Iterate { feedback: String, comment_id: u64 },
    /// `/metagpt retry`: the last run again.
    Retry { comment_id: u64 },
    /// `/metagpt stop`: cancel the queued or running run of the issue.
    Stop { comment_id: u64 },
    /// `issues.labeled` with another label than the default trigger label: the App checks, after the
    /// webhook was answered, whether it is the repository's `trigger_label` (`.github/metagpt.yml`) and
    /// then enqueues the run. A control action.
    Label { label: String },
}

impl Action {
    /// A short stable name, used in logs, metrics labels and the jobs table.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Run { .. } => "run",
            Action::Iterate { .. } => "iterate",
            Action::Retry { .. } => "retry",
            Action::Stop { .. } => "stop",
            Action::Label { .. } => "label",
        }
    }

    /// The id of the comment that asked for this, for the actions a comment makes.
    pub fn comment_id(&self) -> Option<u64> {
        match self {
            Action::Iterate { comment_id, .. }
            | Action::Retry { comment_id }
            | Action::Stop { comment_id } => Some(*comment_id),
            Action::Run { .. } | Action::Label { .. } => None,
        }
    }

    /// Whether this is a control action (see [`crate::marks::CONTROL_ACTIONS`]).
    pub fn is_control(&self) -> bool {
        crate::marks::CONTROL_ACTIONS.contains(&self.name())
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

/// Whose run this is: it names the evidence folder (`marks::runs_dir`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunTarget {
    Issue(u64),
    /// A local run, named by its text (`marks::slug` of it).
    Local(String),
}

impl RunTarget {
    pub fn issue(&self) -> Option<u64> {
        match self {
            RunTarget::Issue(n) => Some(*n),
            RunTarget::Local(_) => None,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_and_label_checks_are_control_actions_and_runs_are_not() {
        let control = [
            Action::Stop { comment_id: 1 },
            Action::Label { label: "ai".into() },
        ];
        assert!(control.iter().all(Action::is_control));
        let runs = [
            Action::Run {
                kind: Kind::Bugfix,
                label: None,
            },
            Action::Retry { comment_id: 1 },
            Action::Iterate {
                feedback: "more".into(),
                comment_id: 1,
            },
        ];
        assert!(!runs.iter().any(Action::is_control));
    }

    #[test]
    fn a_run_stored_before_labels_were_kept_still_reads() {
        let stored = r#"{"type":"run","kind":"bugfix"}"#;
        let action: Action = serde_json::from_str(stored).expect("old row");
        assert_eq!(
            action,
            Action::Run {
                kind: Kind::Bugfix,
                label: None
            }
        );
        let check = Action::Label { label: "ai".into() };
        let json = serde_json::to_string(&check).expect("json");
        assert_eq!(json, r#"{"type":"label","label":"ai"}"#);
    }
}
