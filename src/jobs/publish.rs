//! Publishing a finished iteration: the PR (opened or updated), the check run on the pushed head, and
//! what the progress comment and the job record say.
//!
//! Invariants:
//! - What is published comes from one [`Evidence`]: built from the run that just finished, or, when a
//!   crashed attempt already committed the run (its `MetaGPT-Job:` trailer is on the branch head), read
//!   back from that iteration's evidence on the branch and rendered as the run rendered it, so the PR
//!   body keeps its `Closes #N` / `Fixes #N` line and the issue marker.
//! - The PR title and body show the issue's title only after [`clean_untrusted`].

use octocrab::Octocrab;
use serde_json::{Value, json};

use super::Failure;
use super::progress::Done;
use super::pull::{PullContent, publish_check, upsert};
use crate::domain::{Kind, RepoRef, RunTarget};
use crate::github::{GitHubError, Issue};
use crate::marks;
use crate::run::Outcome;
use crate::run::evidence::{EvidenceError, GateReport, Renderer, Store};
use crate::run::gateway::CostReport;
use crate::sanitize::clean_untrusted;
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
    pub fn from_outcome(outcome: &Outcome, renderer: &Renderer) -> Result<Self, Failure> {
        let render = |e: EvidenceError| Failure::Permanent(e.to_string());
        Ok(Self {
            iteration: outcome.iteration,
            gates: outcome.gates.clone(),
            cost: outcome.cost.clone(),
            section: renderer.pr_section(&outcome.report).map_err(render)?,
            check_summary: renderer
                .check_run_summary(&outcome.report)
                .map_err(render)?,
        })
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
            Failure::Permanent(format!("the branch's commit has no usable evidence: {e}"))
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
    pub fn done(&self, what: &str, evidence: &Evidence) -> Done {
        Done {
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

/// Opens or updates the PR of `branch` and creates the check run on `head_sha`.
pub async fn publish(
    client: &Octocrab,
    repo: &RepoRef,
    base: &str,
    branch: &str,
    head_sha: &str,
    issue: &Issue,
    evidence: &Evidence,
) -> Result<Published, GitHubError> {
    let title = format!(
        "MetaGPT: {} (#{})",
        clean_untrusted(&issue.title).trim(),
        issue.number
    );
    let pull = upsert(
        client,
        &repo.owner,
        &repo.name,
        &PullContent {
            branch,
            base,
            title,
            section: &evidence.section,
            gates_passed: evidence.gates.passed,
        },
    )
    .await?;
    let verdict = if evidence.gates.passed {
        format!(
            "All quality gates passed (iteration {})",
            evidence.iteration
        )
    } else {
        format!(
            "{} quality gate(s) failed (iteration {})",
            evidence.failed_gates().len(),
            evidence.iteration
        )
    };
    let check = publish_check(
        client,
        &repo.owner,
        &repo.name,
        head_sha,
        evidence.gates.passed,
        &verdict,
        &evidence.check_summary,
    )
    .await?;
    Ok(Published {
        pr_number: pull.number,
        pr_url: pull.html_url,
        check_url: check.html_url,
    })
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
