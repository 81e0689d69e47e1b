//! Publishing a finished iteration: the issue's one pull request (opened, updated or reopened), the
//! check run on the pushed head, and what the progress comment and the job record say.
//!
//! Invariants:
//! - What is published comes from one [`Evidence`]: built from the run that just finished, or, when a
//!   crashed attempt already committed the run (its `MetaGPT-Job:` trailer is on the branch head), read
//!   back from that iteration's evidence on the branch and rendered as the run rendered it, so the PR
//!   body keeps its `Closes #N` / `Fixes #N` line and the issue marker.
//! - Exactly one PR per issue: the PR is found by its head branch before one is created; a create that
//!   GitHub refuses because one already exists (a concurrent or crashed earlier attempt) finds it again
//!   and updates it instead. A PR a human closed without merging is reopened, never duplicated; when
//!   GitHub refuses to reopen it (its branch was deleted and pushed again), a new one is opened.
//! - The body keeps everything a human wrote outside the bot's marked section; only the section is
//!   replaced (`marks::merge_body`).
//! - The PR is a draft while a gate fails and ready for review once all pass (best effort: GitHub
//!   changes draft state only through GraphQL, which octocrab cannot reach on GitHub Enterprise Server).
//! - The check run `MetaGPT quality gates` is created on the pushed head commit, one per iteration.

use serde_json::{Value, json};

use super::{Failure, voice};
use crate::domain::{Kind, RunTarget};
use crate::github::{
    CheckRun, Conclusion, GitHubError, Issue, NewCheckRun, NewPull, PullRequest, PullUpdate, Repo,
};
use crate::marks;
use crate::run::Outcome;
use crate::run::evidence::{EvidenceError, GateReport, Renderer, Store};
use crate::run::gateway::CostReport;
use crate::workspace::Workspace;

/// What one iteration publishes.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub iteration: u32,
    pub gates: GateReport,
    pub cost: CostReport,
    /// The PR body's bot section, markers included.
    pub section: String,
    pub check_summary: String,
}

impl Evidence {
    /// What the run that just finished rendered.
    pub fn from_outcome(outcome: Outcome) -> Self {
        Self {
            iteration: outcome.iteration,
            gates: outcome.gates,
            cost: outcome.cost,
            section: outcome.pr_section,
            check_summary: outcome.check_summary,
        }
    }

    /// The last iteration's evidence as committed on the branch, rendered as its run published it
    /// (`kind`, from the issue's labels, words the closing line of an iteration written before its
    /// report was kept).
    pub fn from_branch(
        workspace: &Workspace,
        target: &RunTarget,
        kind: Kind,
        renderer: &Renderer,
    ) -> Result<Self, Failure> {
        let failed = |e: EvidenceError| {
            Failure::Internal(format!("the branch's commit has no usable evidence: {e}"))
        };
        let committed = Store::new(workspace, target).committed().map_err(failed)?;
        Ok(Self {
            iteration: committed.iteration,
            section: committed.pr_section(renderer, kind).map_err(failed)?,
            check_summary: committed.check_run_summary(renderer).map_err(failed)?,
            gates: committed.gates,
            cost: committed.cost,
        })
    }

    fn failed_gates(&self) -> Vec<String> {
        let failed = self.gates.gates.iter().filter(|g| !g.passed);
        failed.map(|g| g.name.clone()).collect()
    }
}

/// Whether the checked-out head is the bot's commit of job `job` (a crashed attempt's run, found by its
/// trailer), or a merge the bot made on top of it to keep commits humans pushed meanwhile.
pub fn already_committed(workspace: &Workspace, job: &str) -> bool {
    for message in workspace.first_parent_messages(8) {
        if marks::has_job_trailer(&message, job) {
            return true;
        }
        if !marks::is_bot_merge(&message) {
            return false;
        }
    }
    false
}

/// The PR and check run of a published iteration.
pub struct Published {
    pub pr_number: u64,
    pub pr_url: String,
    pub check_url: String,
}

impl Published {
    pub fn done(&self, what: &str, evidence: &Evidence) -> voice::Done {
        voice::Done {
            what: what.to_owned(),
            iteration: evidence.iteration,
            pr_number: self.pr_number,
            pr_url: self.pr_url.clone(),
            cost_usd: evidence.cost.total.cost_usd,
            cumulative_usd: evidence.cost.cumulative.cost_usd,
            gates_passed: evidence.gates.passed,
            failed_gates: evidence.failed_gates(),
            check_url: Some(self.check_url.clone()),
        }
    }

    /// The job's recorded outcome.
    pub fn record(&self, evidence: &Evidence) -> Value {
        json!({
            "pr_number": self.pr_number,
            "pr_url": self.pr_url,
            "iteration": evidence.iteration,
            "gates_passed": evidence.gates.passed,
            "cost_usd": evidence.cost.total.cost_usd,
            "cumulative_cost_usd": evidence.cost.cumulative.cost_usd,
            "check_url": self.check_url,
            "summary": evidence.check_summary,
        })
    }
}

/// Where a published iteration goes.
pub struct Target<'a> {
    /// The default branch, the PR's base.
    pub base: &'a str,
    /// The issue's branch, the PR's head.
    pub branch: &'a str,
    /// The pushed head commit, where the check run goes.
    pub head_sha: &'a str,
    pub issue: &'a Issue,
}

/// Opens or updates the PR of the branch and creates the check run on the pushed head.
pub async fn publish(
    repo: &Repo,
    target: &Target<'_>,
    evidence: &Evidence,
) -> Result<Published, GitHubError> {
    let content = PullContent {
        branch: target.branch,
        base: target.base,
        title: voice::pr_title(&target.issue.title, target.issue.number),
        section: &evidence.section,
        gates_passed: evidence.gates.passed,
    };
    let pull = upsert(repo, &content).await?;
    let title = voice::check_title(
        evidence.gates.passed,
        evidence.failed_gates().len(),
        evidence.iteration,
    );
    let check = create_check(
        repo,
        target.head_sha,
        evidence.gates.passed,
        &title,
        &evidence.check_summary,
    )
    .await?;
    Ok(Published {
        pr_number: pull.number,
        pr_url: pull.html_url,
        check_url: check.html_url,
    })
}

/// What the PR should say.
struct PullContent<'a> {
    branch: &'a str,
    base: &'a str,
    title: String,
    /// The bot's section (`Renderer::pr_section`), markers included.
    section: &'a str,
    gates_passed: bool,
}

/// Opens the branch's PR or updates the existing one; returns it as it now is.
async fn upsert(repo: &Repo, content: &PullContent<'_>) -> Result<PullRequest, GitHubError> {
    let existing = pick(repo.pulls_by_head(content.branch).await?);
    let pull = match existing {
        Some(pull) if pull.state == "open" => update(repo, &pull, content).await?,
        // GitHub refuses to reopen a PR whose branch was deleted and pushed again (422): the old one
        // stays closed and a new one is opened, so there is still one open PR for the issue.
        Some(closed) => match update(repo, &closed, content).await {
            Err(error) if error.status() == Some(422) => create(repo, content).await?,
            other => other?,
        },
        None => create(repo, content).await?,
    };
    if let Err(error) = repo.set_draft(&pull, !content.gates_passed).await {
        // GitHub Enterprise Server serves GraphQL where octocrab does not look; the PR keeps its state.
        tracing::warn!(pull = pull.number, %error, "could not change the pull request's draft state");
    }
    repo.pull(pull.number).await
}

/// Opens the PR; when GitHub says one already exists for the head (a concurrent or crashed attempt),
/// finds and updates that one instead.
async fn create(repo: &Repo, content: &PullContent<'_>) -> Result<PullRequest, GitHubError> {
    let new = NewPull {
        title: &content.title,
        head: content.branch,
        base: content.base,
        body: content.section,
        draft: !content.gates_passed,
    };
    match repo.create_pull(&new).await {
        Err(error) if error.is_already_exists() => {
            let found = repo.pulls_by_head(content.branch).await?;
            let open = found.into_iter().find(|p| p.state == "open").ok_or(error)?;
            update(repo, &open, content).await
        }
        other => other,
    }
}

/// The open PR of the branch, else a closed one that was not merged (to reopen); merged ones are done.
fn pick(pulls: Vec<PullRequest>) -> Option<PullRequest> {
    let open = pulls.iter().find(|p| p.state == "open").cloned();
    open.or_else(|| pulls.into_iter().find(|p| !p.merged))
}

async fn update(
    repo: &Repo,
    pull: &PullRequest,
    content: &PullContent<'_>,
) -> Result<PullRequest, GitHubError> {
    let body = marks::merge_body(&pull.body, content.section);
    let reopen = pull.state != "open";
    let update = PullUpdate {
        title: None,
        body: Some(body),
        state: reopen.then(|| "open".to_owned()),
    };
    repo.update_pull(pull.number, &update).await
}

/// The gates check run on `head_sha`.
async fn create_check(
    repo: &Repo,
    head_sha: &str,
    passed: bool,
    title: &str,
    summary: &str,
) -> Result<CheckRun, GitHubError> {
    let run = NewCheckRun {
        name: marks::CHECK_RUN_NAME,
        head_sha,
        conclusion: if passed {
            Conclusion::Success
        } else {
            Conclusion::Failure
        },
        title,
        summary,
        text: None,
        details_url: None,
    };
    repo.create_check_run(&run).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::Credentials;

    fn commit(repo: &git2::Repository, message: &str, parents: &[&git2::Commit<'_>]) -> git2::Oid {
        let who = git2::Signature::now("t", "t@example.com").unwrap();
        let tree = repo
            .find_tree(repo.index().unwrap().write_tree().unwrap())
            .unwrap();
        repo.commit(Some("HEAD"), &who, &who, message, &tree, parents)
            .unwrap()
    }

    #[test]
    fn the_run_commit_is_found_under_the_bots_merges_but_not_under_a_human_commit() {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let trailer = marks::job_trailer("app-7");
        let run = commit(
            &repo,
            &format!("metagpt: issue #5, iteration 1\n\n{trailer}\n"),
            &[],
        );
        let run = repo.find_commit(run).unwrap();
        let workspace = Workspace::open(dir.path(), Credentials::none()).unwrap();
        assert!(already_committed(&workspace, "app-7"));
        assert!(!already_committed(&workspace, "app-8"));

        let merge = commit(
            &repo,
            &marks::merge_message("origin", "metagpt/issue-5"),
            &[&run],
        );
        let merge = repo.find_commit(merge).unwrap();
        assert!(
            already_committed(&workspace, "app-7"),
            "seen through the bot's merge"
        );

        commit(&repo, "a human's fix", &[&merge]);
        assert!(
            !already_committed(&workspace, "app-7"),
            "a human commit on top means the run is not the branch's last word"
        );
    }
}
