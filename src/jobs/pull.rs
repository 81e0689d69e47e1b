//! The pull request of an issue and its check run.
//!
//! Invariants:
//! - Exactly one PR per issue: the PR is found by its head branch before one is created; a create that
//!   GitHub refuses because one already exists (a concurrent or crashed earlier attempt) finds it again
//!   and updates it instead. A PR a human closed without merging is reopened, never duplicated.
//! - The body keeps everything a human wrote outside the bot's marked section; only the section is
//!   replaced ([`merge_body`]).
//! - The PR is a draft while a gate fails and ready for review once all pass (best effort: GitHub
//!   changes draft state only through GraphQL, which octocrab cannot reach on GitHub Enterprise Server).
//! - The check run `MetaGPT quality gates` is created on the pushed head commit, one per iteration.

use octocrab::Octocrab;

use crate::github::{
    CheckRun, Conclusion, GitHubError, NewCheckRun, NewPull, PullRequest, PullUpdate,
    create_check_run, create_pull, find_pulls_by_head, get_pull, set_draft, update_pull,
};
use crate::marks::merge_body;

/// What the PR should say.
pub struct PullContent<'a> {
    pub branch: &'a str,
    pub base: &'a str,
    pub title: String,
    /// The bot's section ([`crate::run::evidence::Renderer::pr_section`]), markers included.
    pub section: &'a str,
    pub gates_passed: bool,
}

/// Opens the branch's PR or updates the existing one; returns it as it now is.
pub async fn upsert(
    client: &Octocrab,
    owner: &str,
    repo: &str,
    content: &PullContent<'_>,
) -> Result<PullRequest, GitHubError> {
    let existing = pick(find_pulls_by_head(client, owner, repo, content.branch).await?);
    let pull = match existing {
        Some(pull) if pull.state == "open" => update(client, owner, repo, &pull, content).await?,
        // GitHub refuses to reopen a PR whose branch was deleted and pushed again (422): the old one
        // stays closed and a new one is opened, so there is still one open PR for the issue.
        Some(closed) => match update(client, owner, repo, &closed, content).await {
            Err(error) if error.status() == Some(422) => {
                create(client, owner, repo, content).await?
            }
            other => other?,
        },
        None => create(client, owner, repo, content).await?,
    };
    if let Err(error) = set_draft(client, &pull, !content.gates_passed).await {
        // GitHub Enterprise Server serves GraphQL where octocrab does not look; the PR keeps its state.
        tracing::warn!(pull = pull.number, %error, "could not change the pull request's draft state");
    }
    get_pull(client, owner, repo, pull.number).await
}

/// Opens the PR; when GitHub says one already exists for the head (a concurrent or crashed attempt),
/// finds and updates that one instead.
async fn create(
    client: &Octocrab,
    owner: &str,
    repo: &str,
    content: &PullContent<'_>,
) -> Result<PullRequest, GitHubError> {
    let new = NewPull {
        title: &content.title,
        head: content.branch,
        base: content.base,
        body: content.section,
        draft: !content.gates_passed,
    };
    match create_pull(client, owner, repo, &new).await {
        Err(error) if error.is_already_exists() => {
            let found = find_pulls_by_head(client, owner, repo, content.branch).await?;
            let open = found.into_iter().find(|p| p.state == "open").ok_or(error)?;
            update(client, owner, repo, &open, content).await
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
    client: &Octocrab,
    owner: &str,
    repo: &str,
    pull: &PullRequest,
    content: &PullContent<'_>,
) -> Result<PullRequest, GitHubError> {
    let body = merge_body(&pull.body, content.section);
    let reopen = pull.state != "open";
    update_pull(
        client,
        owner,
        repo,
        pull.number,
        &PullUpdate {
            title: None,
            body: Some(body),
            state: reopen.then(|| "open".to_owned()),
        },
    )
    .await
}

/// The gates check run on `head_sha`.
pub async fn publish_check(
    client: &Octocrab,
    owner: &str,
    repo: &str,
    head_sha: &str,
    passed: bool,
    title: &str,
    summary: &str,
) -> Result<CheckRun, GitHubError> {
    create_check_run(
        client,
        owner,
        repo,
        &NewCheckRun {
            name: crate::marks::CHECK_RUN_NAME,
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
        },
    )
    .await
}
