//! Pull requests and their check runs, as methods of [`Repo`]: find by head branch, get, create,
//! update, draft state (GraphQL), and the completed check run on a head commit.
//!
//! Invariants:
//! - [`PullRequest`] holds only what the bot reads. `merged` comes from GitHub's `merged` field where the
//!   answer has one (single pull) and from `merged_at` otherwise (lists do not carry `merged`).
//! - [`Repo::pulls_by_head`] asks for `head=<owner>:<branch>` in every state, newest first; one head
//!   branch has few pull requests, so the first 100 are all of them in practice.
//! - Creating a second pull request for a head that already has an open one fails with GitHub's 422,
//!   which [`GitHubError::is_already_exists`] recognises.
//! - Draft state changes only through GitHub's GraphQL mutations `convertPullRequestToDraft` and
//!   `markPullRequestReadyForReview` with the pull request's node id (`POST /graphql` under the API
//!   base); nothing is sent when the pull request is already in the wanted state, and a GraphQL `errors`
//!   array or an answer whose `isDraft` is not what was asked is a failure. GitHub Enterprise Server
//!   serves GraphQL at `/api/graphql`, outside the REST base, so there the call fails (404); callers
//!   treat a failed draft change as degraded, not as a failed run.
//! - A check run is created already completed (`status: completed`, `completed_at` now, a conclusion).
//!   GitHub refuses an output `summary` or `text` over 65,535 characters; both are cut at a character
//!   boundary so that, with the note [`TRUNCATION_NOTE`], they fit, and the reader is told where the
//!   rest is.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::GitHubError;
use super::error::observe;
use super::repo::Repo;

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

/// What [`Repo::create_pull`] asks for. `head` is a branch of the same repository (or `owner:branch`).
#[derive(Debug, Clone, Serialize)]
pub struct NewPull<'a> {
    pub title: &'a str,
    pub head: &'a str,
    pub base: &'a str,
    pub body: &'a str,
    pub draft: bool,
}

/// What [`Repo::update_pull`] changes; `None` leaves a field as it is.
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

impl Repo {
    /// `GET /repos/{owner}/{repo}/pulls?head={owner}:{branch}&state=all`, newest first.
    pub async fn pulls_by_head(&self, branch: &str) -> Result<Vec<PullRequest>, GitHubError> {
        const OPERATION: &str = "find_pulls_by_head";
        let base = self.route();
        if branch.is_empty() || branch.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(GitHubError::Invalid {
                operation: OPERATION,
                detail: format!("{branch:?} is not a branch name"),
            });
        }
        let head = format!("{}:{branch}", self.owner());
        let query = HeadQuery {
            head: &head,
            state: "all",
            sort: "created",
            direction: "desc",
            per_page: 100,
        };
        let route = format!("{base}/pulls");
        let wire: Vec<WirePull> =
            observe(OPERATION, self.client().get(route, Some(&query))).await?;
        Ok(wire.into_iter().map(PullRequest::from).collect())
    }

    /// `GET /repos/{owner}/{repo}/pulls/{number}`.
    pub async fn pull(&self, number: u64) -> Result<PullRequest, GitHubError> {
        const OPERATION: &str = "get_pull";
        let route = format!("{}/pulls/{number}", self.route());
        let wire: WirePull = observe(OPERATION, self.client().get(route, None::<&()>)).await?;
        Ok(wire.into())
    }

    /// `POST /repos/{owner}/{repo}/pulls`.
    pub async fn create_pull(&self, pull: &NewPull<'_>) -> Result<PullRequest, GitHubError> {
        const OPERATION: &str = "create_pull";
        let route = format!("{}/pulls", self.route());
        let wire: WirePull = observe(OPERATION, self.client().post(route, Some(pull))).await?;
        Ok(wire.into())
    }

    /// `PATCH /repos/{owner}/{repo}/pulls/{number}` with the fields of `update` that are set.
    pub async fn update_pull(
        &self,
        number: u64,
        update: &PullUpdate,
    ) -> Result<PullRequest, GitHubError> {
        const OPERATION: &str = "update_pull";
        let route = format!("{}/pulls/{number}", self.route());
        let wire: WirePull = observe(OPERATION, self.client().patch(route, Some(update))).await?;
        Ok(wire.into())
    }

    /// Makes `pull` a draft (`draft = true`) or ready for review (`false`); nothing if it already is.
    pub async fn set_draft(&self, pull: &PullRequest, draft: bool) -> Result<(), GitHubError> {
        const OPERATION: &str = "set_draft";
        if pull.draft == draft {
            return Ok(());
        }
        let query = if draft { TO_DRAFT } else { READY };
        let payload = json!({ "query": query, "variables": { "pullRequestId": pull.node_id } });
        let data: WireData = observe(OPERATION, self.client().graphql(&payload)).await?;
        let payload = if draft {
            data.convert_pull_request_to_draft
        } else {
            data.mark_pull_request_ready_for_review
        };
        match payload {
            Some(payload) if payload.pull_request.is_draft == draft => Ok(()),
            _ => Err(GitHubError::GraphQl {
                operation: OPERATION,
                detail: format!(
                    "pull request #{} is still {} after the mutation",
                    pull.number,
                    if draft { "ready for review" } else { "a draft" }
                ),
                rate_limited: false,
            }),
        }
    }

    /// `POST /repos/{owner}/{repo}/check-runs`, completed now.
    pub async fn create_check_run(&self, run: &NewCheckRun<'_>) -> Result<CheckRun, GitHubError> {
        const OPERATION: &str = "create_check_run";
        let wire = WireCheckRun {
            name: run.name,
            head_sha: run.head_sha,
            status: "completed",
            conclusion: run.conclusion,
            completed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            details_url: run.details_url,
            output: WireOutput {
                title: run.title,
                summary: fit(run.summary),
                text: run.text.map(fit),
            },
        };
        let route = format!("{}/check-runs", self.route());
        observe(OPERATION, self.client().post(route, Some(&wire))).await
    }
}

// ---- draft state (GraphQL) ----

const TO_DRAFT: &str = "mutation($pullRequestId: ID!) { \
    convertPullRequestToDraft(input: {pullRequestId: $pullRequestId}) { pullRequest { isDraft } } }";
const READY: &str = "mutation($pullRequestId: ID!) { \
    markPullRequestReadyForReview(input: {pullRequestId: $pullRequestId}) { pullRequest { isDraft } } }";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireData {
    convert_pull_request_to_draft: Option<WirePayload>,
    mark_pull_request_ready_for_review: Option<WirePayload>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePayload {
    pull_request: WireDraft,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireDraft {
    is_draft: bool,
}

// ---- check runs ----

/// GitHub's limit on a check run's output `summary` and `text`, in characters.
pub const OUTPUT_LIMIT: usize = 65_535;
/// What replaces the end of a summary or text that was too long.
pub const TRUNCATION_NOTE: &str = "\n\n… (truncated; see the evidence files)";

/// How a completed check run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Conclusion {
    Success,
    Failure,
    Neutral,
    Cancelled,
}

impl fmt::Display for Conclusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Conclusion::Success => "success",
            Conclusion::Failure => "failure",
            Conclusion::Neutral => "neutral",
            Conclusion::Cancelled => "cancelled",
        })
    }
}

/// What [`Repo::create_check_run`] creates.
#[derive(Debug, Clone)]
pub struct NewCheckRun<'a> {
    pub name: &'a str,
    /// The commit the check run is about (40 hex digits).
    pub head_sha: &'a str,
    pub conclusion: Conclusion,
    pub title: &'a str,
    /// Markdown; cut to [`OUTPUT_LIMIT`] characters.
    pub summary: &'a str,
    /// Markdown details; cut to [`OUTPUT_LIMIT`] characters.
    pub text: Option<&'a str>,
    pub details_url: Option<&'a str>,
}

/// A created check run.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckRun {
    pub id: u64,
    pub html_url: String,
}

#[derive(Serialize)]
struct WireCheckRun<'a> {
    name: &'a str,
    head_sha: &'a str,
    status: &'static str,
    conclusion: Conclusion,
    completed_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    details_url: Option<&'a str>,
    output: WireOutput<'a>,
}

#[derive(Serialize)]
struct WireOutput<'a> {
    title: &'a str,
    summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

/// `text` if it fits GitHub's limit, else its start cut at a character boundary plus the note.
fn fit(text: &str) -> String {
    if text.chars().count() <= OUTPUT_LIMIT {
        return text.to_owned();
    }
    let keep = OUTPUT_LIMIT - TRUNCATION_NOTE.chars().count();
    let mut cut: String = text.chars().take(keep).collect();
    cut.push_str(TRUNCATION_NOTE);
    cut
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

    #[test]
    fn text_within_the_limit_is_kept_whole() {
        let exact = "a".repeat(OUTPUT_LIMIT);
        assert_eq!(fit(&exact), exact);
    }

    #[test]
    fn longer_text_is_cut_at_a_char_boundary_with_the_note() {
        let long = "é".repeat(OUTPUT_LIMIT + 10);
        let cut = fit(&long);
        assert_eq!(cut.chars().count(), OUTPUT_LIMIT);
        assert!(cut.ends_with("… (truncated; see the evidence files)"));
        assert!(cut.starts_with("éé"));
    }

    #[test]
    fn conclusions_are_github_words() {
        let words: Vec<String> = [
            Conclusion::Success,
            Conclusion::Failure,
            Conclusion::Neutral,
            Conclusion::Cancelled,
        ]
        .iter()
        .map(|conclusion| {
            let json = serde_json::to_value(conclusion).expect("json");
            assert_eq!(json.as_str(), Some(conclusion.to_string().as_str()));
            conclusion.to_string()
        })
        .collect();
        assert_eq!(words, ["success", "failure", "neutral", "cancelled"]);
    }
}
