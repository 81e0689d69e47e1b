//! The progress comment: one comment on the issue, marked `<!-- metagpt-bot:progress -->`, edited in
//! place as a run goes queued → running → done (PR link, cost, gates) or failed (reason and what to do)
//! or stopped.
//!
//! Invariants:
//! - There is at most one progress comment per issue: it is found by its marker (written by a bot) before
//!   one is created, and its id is kept for the rest of the job.
//! - Untrusted text (reasons may quote GitHub or MetaGPT) is shown as inline code or a quote, so it cannot
//!   forge the marker or inject markup.
//! - Failing to update the comment never fails the run: it is logged and the run goes on.

use octocrab::Octocrab;

use crate::evidence::markdown::{code, quote};
use crate::github::{GitHubError, create_comment, find_comment, update_comment};

/// The hidden marker of the progress comment (CONTRACT.md).
pub const PROGRESS_MARKER: &str = "<!-- metagpt-bot:progress -->";

/// What the comment says.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// The job waits behind `ahead` other runs of the issue.
    Queued { ahead: i64, what: String },
    /// The run is under way.
    Running {
        what: String,
        iteration: u32,
        step: String,
    },
    /// Pushed and the pull request opened or updated.
    Done(Done),
    /// The run failed; `hint` says what the person can do.
    Failed {
        what: String,
        reason: String,
        hint: String,
    },
    /// `/metagpt stop` ended the run; nothing was pushed.
    Stopped { what: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Done {
    pub what: String,
    pub iteration: u32,
    pub pr_number: u64,
    pub pr_url: String,
    pub cost_usd: f64,
    pub cumulative_usd: f64,
    pub gates_passed: bool,
    pub failed_gates: Vec<String>,
    pub check_url: Option<String>,
}

impl Status {
    /// The comment's markdown, marker first.
    pub fn render(&self) -> String {
        let text = match self {
            Status::Queued { ahead, what } => format!(
                "⏳ **Queued**: {what}. It waits behind {ahead} earlier run{} of this issue and starts \
                 when {} finished.",
                if *ahead == 1 { "" } else { "s" },
                if *ahead == 1 {
                    "that one has"
                } else {
                    "they have"
                },
            ),
            Status::Running {
                what,
                iteration,
                step,
            } => format!(
                "🏃 **Running** iteration {iteration}: {what}.\n\nCurrent step: {step}. This comment is \
                 updated as the run goes; `/metagpt stop` cancels it."
            ),
            Status::Done(done) => render_done(done),
            Status::Failed { what, reason, hint } => {
                format!("❌ **Failed**: {what}.\n\n{}\n\n{hint}", quote(reason))
            }
            Status::Stopped { what } => format!(
                "⏹️ **Stopped**: {what} was cancelled by `/metagpt stop`. Nothing was pushed. \
                 `/metagpt retry` runs it again."
            ),
        };
        format!("{PROGRESS_MARKER}\n{text}\n")
    }
}

fn render_done(done: &Done) -> String {
    let verdict = if done.gates_passed {
        "✅ all quality gates passed".to_owned()
    } else {
        let names: Vec<String> = done.failed_gates.iter().map(|g| code(g)).collect();
        format!(
            "❌ quality gates failed: {} (the PR stays a draft)",
            names.join(", ")
        )
    };
    let check = done
        .check_url
        .as_ref()
        .map(|url| format!(" · [check run]({url})"))
        .unwrap_or_default();
    format!(
        "✅ **Done**: {}, iteration {}.\n\nPull request: #{} ({})\n\n{verdict}{check}\n\nCost: \
         ${:.4} this iteration, ${:.4} in all iterations.\n\nComment `/metagpt <feedback>` to run \
         another iteration on the same branch.",
        done.what, done.iteration, done.pr_number, done.pr_url, done.cost_usd, done.cumulative_usd
    )
}

/// The issue's progress comment, created on first use.
pub struct ProgressComment<'a> {
    client: &'a Octocrab,
    owner: &'a str,
    repo: &'a str,
    issue: u64,
    id: Option<u64>,
}

impl<'a> ProgressComment<'a> {
    /// Finds the issue's progress comment (none is created yet).
    pub async fn find(
        client: &'a Octocrab,
        owner: &'a str,
        repo: &'a str,
        issue: u64,
    ) -> Result<Self, GitHubError> {
        let id = find_comment(client, owner, repo, issue, PROGRESS_MARKER)
            .await?
            .map(|comment| comment.id);
        Ok(Self {
            client,
            owner,
            repo,
            issue,
            id,
        })
    }

    /// Shows `status`: edits the comment, or creates it the first time. Failures are logged only.
    pub async fn show(&mut self, status: &Status) {
        if let Err(error) = self.try_show(status).await {
            tracing::warn!(issue = self.issue, %error, "could not update the progress comment");
        }
    }

    async fn try_show(&mut self, status: &Status) -> Result<(), GitHubError> {
        let body = status.render();
        match self.id {
            Some(id) => {
                update_comment(self.client, self.owner, self.repo, id, &body).await?;
            }
            None => {
                let comment =
                    create_comment(self.client, self.owner, self.repo, self.issue, &body).await?;
                self.id = Some(comment.id);
            }
        }
        Ok(())
    }
}
