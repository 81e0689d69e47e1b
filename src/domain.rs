//! The domain of what starts work: a [`Trigger`] is one accepted webhook delivery that asks the bot to do
//! something for one issue of one repository.
//!
//! Invariants:
//! - A trigger always names one repository (by numeric id and full name) and one issue number; a comment on
//!   a pull request names the PR's number, which GitHub shares with issues.
//! - The sender is kept by numeric id: permission checks use the id, never the login.
//! - A trigger is plain data (serde) so the queue can persist it as JSON and a worker can rebuild it.
//!   Renaming a variant or field is a migration: stored rows use these names.
//! - Requests come in two types: [`RunRequest`]s (MetaGPT on the issue's branch, one at a time per issue)
//!   and [`ControlRequest`]s (short jobs beside the runs, see [`crate::queue`]); their stored names are
//!   [`Request::name`], the control ones listed once in [`crate::marks::CONTROL_ACTIONS`] for the
//!   queue's SQL.

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

/// The price of one model, USD per million tokens (the gateway's ledger prices every call with it;
/// MetaGPT's own counter is given it too).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub prompt_per_million: f64,
    pub completion_per_million: f64,
}

impl Price {
    pub fn cost_usd(&self, prompt_tokens: u64, completion_tokens: u64) -> f64 {
        (prompt_tokens as f64 * self.prompt_per_million
            + completion_tokens as f64 * self.completion_per_million)
            / 1_000_000.0
    }
}

/// What a trigger asks for: a run of the issue (the agent, one at a time per issue) or a control action
/// (short, beside the runs). Stored in the queue as `{"type": <name>, …}` (see [`Request::name`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Request {
    Run(RunRequest),
    Control(ControlRequest),
}

/// A request that runs MetaGPT on the issue's branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunRequest {
    /// `issues.labeled` with the trigger label: a first (or repeated) run of the issue. `label` is the
    /// label that was added; the App runs only when it is still the repository's `trigger_label` (rows
    /// stored before the field existed have none and run as they did).
    #[serde(rename = "run")]
    Labeled {
        kind: Kind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
    /// `/metagpt <feedback>`: another iteration on the same branch with that feedback.
    Iterate { feedback: String, comment_id: u64 },
    /// `/metagpt retry`: the last request again.
    Retry { comment_id: u64 },
}

/// A control request: never waits behind the issue's run, and a run never waits behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ControlRequest {
    /// `/metagpt stop`: cancel the queued or running runs of the issue.
    Stop { comment_id: u64 },
    /// `issues.labeled` with another label than the default trigger label: the App checks, after the
    /// webhook was answered, whether it is the repository's `trigger_label` (`.github/metagpt.yml`) and
    /// then enqueues the run.
    #[serde(rename = "label")]
    LabelCheck { label: String },
}

impl Request {
    /// A short stable name, used in logs, metrics labels and the jobs table (`jobs.action`).
    pub fn name(&self) -> &'static str {
        match self {
            Request::Run(RunRequest::Labeled { .. }) => "run",
            Request::Run(RunRequest::Iterate { .. }) => "iterate",
            Request::Run(RunRequest::Retry { .. }) => "retry",
            Request::Control(ControlRequest::Stop { .. }) => "stop",
            Request::Control(ControlRequest::LabelCheck { .. }) => "label",
        }
    }

    /// The id of the comment that asked for this, for the requests a comment makes.
    pub fn comment_id(&self) -> Option<u64> {
        match self {
            Request::Run(
                RunRequest::Iterate { comment_id, .. } | RunRequest::Retry { comment_id },
            )
            | Request::Control(ControlRequest::Stop { comment_id }) => Some(*comment_id),
            Request::Run(RunRequest::Labeled { .. })
            | Request::Control(ControlRequest::LabelCheck { .. }) => None,
        }
    }

    /// Whether this is a control request (its name is one of [`crate::marks::CONTROL_ACTIONS`]).
    pub fn is_control(&self) -> bool {
        matches!(self, Request::Control(_))
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
    /// Stored as `action` (the field's name before requests were split into run and control).
    #[serde(rename = "action")]
    pub request: Request,
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
    use crate::marks::CONTROL_ACTIONS;

    fn all() -> Vec<Request> {
        vec![
            Request::Run(RunRequest::Labeled {
                kind: Kind::Bugfix,
                label: Some("metagpt".into()),
            }),
            Request::Run(RunRequest::Iterate {
                feedback: "more".into(),
                comment_id: 1,
            }),
            Request::Run(RunRequest::Retry { comment_id: 2 }),
            Request::Control(ControlRequest::Stop { comment_id: 3 }),
            Request::Control(ControlRequest::LabelCheck { label: "ai".into() }),
        ]
    }

    #[test]
    fn control_requests_are_exactly_the_marked_control_actions() {
        for request in all() {
            assert_eq!(
                request.is_control(),
                CONTROL_ACTIONS.contains(&request.name()),
                "{request:?}"
            );
        }
    }

    #[test]
    fn every_request_round_trips_under_its_stored_name() {
        for request in all() {
            let json = serde_json::to_value(&request).expect("json");
            assert_eq!(json["type"], request.name(), "{json}");
            let back: Request = serde_json::from_value(json).expect("back");
            assert_eq!(back, request);
        }
    }

    #[test]
    fn rows_stored_by_earlier_versions_still_read() {
        let stored = r#"{"type":"run","kind":"bugfix"}"#;
        let request: Request = serde_json::from_str(stored).expect("old row");
        assert_eq!(
            request,
            Request::Run(RunRequest::Labeled {
                kind: Kind::Bugfix,
                label: None
            })
        );
        let check = Request::Control(ControlRequest::LabelCheck { label: "ai".into() });
        let json = serde_json::to_string(&check).expect("json");
        assert_eq!(json, r#"{"type":"label","label":"ai"}"#);
        let trigger = r#"{"delivery_id":"d","installation_id":1,"repo":{"id":2,"owner":"o","name":"r"},
            "issue_number":5,"is_pull_request":false,"sender_id":7,"sender_login":"alice",
            "action":{"type":"stop","comment_id":9}}"#;
        let trigger: Trigger = serde_json::from_str(trigger).expect("stored trigger");
        assert_eq!(
            trigger.request,
            Request::Control(ControlRequest::Stop { comment_id: 9 })
        );
    }
}
