//! Pull requests over REST: find by head branch, get, create, update. Draft state is in `draft.rs`.
//!
//! Invariants:
//! - [`PullRequest`] holds only what the bot reads. `merged` comes from GitHub's `merged` field where the
//!   answer has one (single pull) and from `merged_at` otherwise (lists do not carry `merged`).
//! - [`find_pulls_by_head`] asks for `head=<owner>:<branch>` in every state, newest first; one head
//!   branch has few pull requests, so the first 100 are all of them in practice.
//! - Creating a second pull request for a head that already has an open one fails with GitHub's 422,
//!   which [`GitHubError::is_already_exists`] recognises, so the caller can find and update the existing
//!   one instead.

use octocrab::Octocrab;
use serde::{Deserialize, Serialize};

use super::GitHubError;
use super::call::observe;
use super::repos::repo_route;

/// A pull request as the bot needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub number: u64,
    /// The GraphQL node id (for the draft mutations).
    pub node_id: String,
    pub html_url: String,
    /// `open` or `closed`.
    pub state: String,
    pub merged: bool,
    pub draft: bool,
    pub title: String,
    /// The body text; empty when it has none.
    pub body: String,
    pub head_ref: String,
    pub head_sha: String,
    /// The head repository's full name; `None` when the fork was deleted.
    pub head_repo: Option<String>,
    pub base_ref: String,
    pub base_repo: String,
}

/// What [`create_pull`] asks for. `head` is a branch of the same repository (or `owner:branch`).
#[derive(Debug, Clone, Serialize)]
pub struct NewPull<'a> {
    pub title: &'a str,
    pub head: &'a str,
    pub base: &'a str,
    pub body: &'a str,
    pub draft: bool,
}

/// What [`update_pull`] changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PullUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// `open` reopens a PR a human closed; `closed` closes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

#[derive(Deserialize)]
struct WirePull {
    number: u64,
    node_id: String,
    html_url: String,
    state: String,
    #[serde(default)]
    merged: Option<bool>,
    #[serde(default)]
    merged_at: Option<String>,
    #[serde(default)]
    draft: bool,
    title: String,
    body: Option<String>,
    head: WireBranch,
    base: WireBranch,
}

#[derive(Deserialize)]
struct WireBranch {
    #[serde(rename = "ref")]
    name: String,
    sha: String,
    repo: Option<WireRepo>,
}

#[derive(Deserialize)]
struct WireRepo {
    full_name: String,
}

impl From<WirePull> for PullRequest {
    fn from(wire: WirePull) -> Self {
        PullRequest {
            number: wire.number,
            node_id: wire.node_id,
            html_url: wire.html_url,
            state: wire.state,
            merged: wire.merged.unwrap_or(wire.merged_at.is_some()),
            draft: wire.draft,
            title: wire.title,
            body: wire.body.unwrap_or_default(),
            head_ref: wire.head.name,
            head_sha: wire.head.sha,
            head_repo: wire.head.repo.map(|repo| repo.full_name),
            base_ref: wire.base.name,
            base_repo: wire
                .base
                .repo
                .map(|repo| repo.full_name)
                .unwrap_or_default(),
        }
    }
}

#[derive(Serialize)]
struct HeadQuery<'a> {
    head: &'a str,
    state: &'static str,
    sort: &'static str,
    direction: &'static str,
    per_page: u32,
}

/// `GET /repos/{owner}/{repo}/pulls?head={owner}:{branch}&state=all`, newest first.
pub async fn find_pulls_by_head(
    client: &Octocrab,
    owner: &str,
    repo: &str,
    branch: &str,
) -> Result<Vec<PullRequest>, GitHubError> {
    const OPERATION: &str = "find_pulls_by_head";
    let base = repo_route(OPERATION, owner, repo)?;
    if branch.is_empty() || branch.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(GitHubError::Invalid {
            operation: OPERATION,
            detail: format!("{branch:?} is not a branch name"),
        });
    }
    let head = format!("{owner}:{branch}");
    let query = HeadQuery {
        head: &head,
        state: "all",
        sort: "created",
        direction: "desc",
        per_page: 100,
    };
    let route = format!("{base}/pulls");
    let wire: Vec<WirePull> = observe(OPERATION, client.get(route, Some(&query))).await?;
    Ok(wire.into_iter().map(PullRequest::from).collect())
}

/// `GET /repos/{owner}/{repo}/pulls/{number}`.
pub async fn get_pull(
    client: &Octocrab,
    owner: &str,
    repo: &str,
    number: u64,
) -> Result<PullRequest, GitHubError> {
    const OPERATION: &str = "get_pull";
    let base = repo_route(OPERATION, owner, repo)?;
    let route = format!("{base}/pulls/{number}");
    let wire: WirePull = observe(OPERATION, client.get(route, None::<&()>)).await?;
    Ok(wire.into())
}

/// `POST /repos/{owner}/{repo}/pulls`.
pub async fn create_pull(
    client: &Octocrab,
    owner: &str,
    repo: &str,
    pull: &NewPull<'_>,
) -> Result<PullRequest, GitHubError> {
    const OPERATION: &str = "create_pull";
    let base = repo_route(OPERATION, owner, repo)?;
    let route = format!("{base}/pulls");
    let wire: WirePull = observe(OPERATION, client.post(route, Some(pull))).await?;
    Ok(wire.into())
}

/// `PATCH /repos/{owner}/{repo}/pulls/{number}` with the fields of `update` that are set.
pub async fn update_pull(
    client: &Octocrab,
    owner: &str,
    repo: &str,
    number: u64,
    update: &PullUpdate,
) -> Result<PullRequest, GitHubError> {
    const OPERATION: &str = "update_pull";
    let base = repo_route(OPERATION, owner, repo)?;
    let route = format!("{base}/pulls/{number}");
    let wire: WirePull = observe(OPERATION, client.patch(route, Some(update))).await?;
    Ok(wire.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pull(extra: serde_json::Value) -> PullRequest {
        let mut json = serde_json::json!({
            "number": 3, "node_id": "PR_x", "html_url": "u", "state": "closed", "title": "t",
            "body": null,
            "head": { "ref": "metagpt/issue-1", "sha": "abc", "repo": null },
            "base": { "ref": "main", "sha": "def", "repo": { "full_name": "o/r" } },
        });
        if let (Some(json), Some(extra)) = (json.as_object_mut(), extra.as_object()) {
            json.extend(extra.clone());
        }
        serde_json::from_value::<WirePull>(json)
            .expect("wire shape")
            .into()
    }

    #[test]
    fn merged_comes_from_merged_or_merged_at() {
        assert!(pull(serde_json::json!({ "merged": true })).merged);
        assert!(pull(serde_json::json!({ "merged_at": "2024-01-01T00:00:00Z" })).merged);
        assert!(!pull(serde_json::json!({ "merged_at": null })).merged);
    }

    #[test]
    fn a_deleted_fork_leaves_no_head_repo_and_a_null_body_is_empty() {
        let pull = pull(serde_json::json!({}));
        assert_eq!(pull.head_repo, None);
        assert_eq!(pull.base_repo, "o/r");
        assert_eq!(pull.body, "");
        assert!(!pull.draft);
    }

    #[test]
    fn an_update_sends_only_what_it_changes() {
        let update = PullUpdate {
            body: Some("b".into()),
            ..PullUpdate::default()
        };
        assert_eq!(
            serde_json::to_value(&update).expect("json"),
            serde_json::json!({ "body": "b" })
        );
    }
}
