//! The progress comment: one comment on the issue, marked `<!-- metagpt-bot:progress -->`, edited in
//! place as a run goes queued → running → done (PR link, cost, gates) or failed (reason and what to do)
//! or stopped.
//!
//! Invariants:
//! - There is at most one progress comment per issue: it is found by its marker, among the comments the
//!   bot itself wrote (never another bot's or a person's), before one is created, and its id is kept for
//!   the rest of the job.
//! - Untrusted text (reasons may quote GitHub or MetaGPT) is shown as inline code or a quote, so it cannot
//!   forge the marker or inject markup.
//! - Failing to update the comment never fails the run: it is logged and the run goes on.
//! - While MetaGPT works the comment shows its current SOP step, edited at most every
//!   [`STEP_EDIT_INTERVAL`] so a long run does not spend the installation's rate limit on edits.

use std::time::{Duration, Instant};

use octocrab::Octocrab;
use tokio_util::sync::CancellationToken;

use super::Failure;
use super::queued::with_note;
use crate::github::{GitHubError, OwnAuthor, create_comment, find_comment, update_comment};
use crate::marks;
use crate::queue::Queue;
use crate::run::evidence::markdown::{code, quote};
use crate::run::{self, Plan};

/// What the comment says.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
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
        format!("{}\n{text}\n", marks::PROGRESS)
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
    /// The queue and repository id, to show how many runs wait behind this one.
    waiting: Option<(Queue, u64)>,
}

impl<'a> ProgressComment<'a> {
    /// Finds the issue's progress comment written by `we` (none is created yet).
    pub async fn find(
        client: &'a Octocrab,
        owner: &'a str,
        repo: &'a str,
        issue: u64,
        we: &OwnAuthor,
    ) -> Result<Self, GitHubError> {
        let id = find_comment(client, owner, repo, issue, marks::PROGRESS, we)
            .await?
            .map(|comment| comment.id);
        Ok(Self {
            client,
            owner,
            repo,
            issue,
            id,
            waiting: None,
        })
    }

    /// Makes every edit show how many runs of the issue wait in `queue` (the App's queue).
    pub fn counting(mut self, queue: Option<Queue>, repo_id: u64) -> Self {
        self.waiting = queue.map(|queue| (queue, repo_id));
        self
    }

    /// Shows that the run failed for a reason the person can act on, and returns that permanent failure.
    pub async fn fail(&mut self, what: &str, reason: String, hint: &str) -> Failure {
        let status = Status::Failed {
            what: what.to_owned(),
            reason: reason.clone(),
            hint: hint.to_owned(),
        };
        self.show(&status).await;
        Failure::Permanent(reason)
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
            body = with_note(&body, waiting);
        }
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

/// Runs the plan, editing the progress comment with MetaGPT's current step (at most every
/// [`STEP_EDIT_INTERVAL`], so a long run does not spend the installation's rate limit on edits).
pub async fn run_showing_steps(
    mut plan: Plan<'_>,
    progress: &mut ProgressComment<'_>,
    what: &str,
    iteration: u32,
    cancel: &CancellationToken,
) -> Result<run::Outcome, run::RunError> {
    let (steps, mut step) = tokio::sync::watch::channel(None);
    plan.steps = Some(steps);
    let run = run::execute(plan, cancel.clone());
    tokio::pin!(run);
    let mut last_edit: Option<Instant> = None;
    loop {
        tokio::select! {
            result = &mut run => return result,
            changed = step.changed() => {
                if changed.is_err() {
                    return run.await;
                }
                let current = step.borrow_and_update().clone();
                let due = last_edit.is_none_or(|at| at.elapsed() >= STEP_EDIT_INTERVAL);
                if let (Some(current), true) = (current, due) {
                    last_edit = Some(Instant::now());
                    let status = Status::Running {
                        what: what.to_owned(),
                        iteration,
                        // From the agent's trace: shown as code, so it cannot add markup.
                        step: code(&current),
                    };
                    progress.show(&status).await;
                }
            }
        }
    }
}

/// The shortest time between two step edits of the progress comment.
const STEP_EDIT_INTERVAL: Duration = Duration::from_secs(20);
