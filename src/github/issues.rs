//! Typed issue operations over an installation client.
//!
//! Invariants:
//! - [`Issue`] holds only what the bot reads, decoded from GitHub's REST answer by a small local struct
//!   (octocrab's full models break when GitHub adds or nulls fields).
//! - GitHub serves pull requests through the issues endpoint too; [`Issue::is_pull_request`] tells them
//!   apart (the answer has a `pull_request` object for them).

use octocrab::Octocrab;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::GitHubError;
use super::call::{observe, path_segment};

/// An issue (or pull request) as the bot needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    /// The body text; empty when the issue has none.
    pub body: String,
    /// Label names, in GitHub's order.
    pub labels: Vec<String>,
    pub state: IssueState,
    pub is_pull_request: bool,
    /// The author; `None` only if GitHub sends no user (GitHub shows deleted accounts as `ghost`).
    pub user: Option<IssueUser>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueState {
    Open,
    Closed,
}

/// An account by login and numeric id (permission checks use the id).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IssueUser {
    pub login: String,
    pub id: u64,
}

/// `GET /repos/{owner}/{repo}/issues/{number}` with an installation client.
pub async fn get_issue(
    client: &Octocrab,
    owner: &str,
    repo: &str,
    number: u64,
) -> Result<Issue, GitHubError> {
    const OPERATION: &str = "get_issue";
    let owner = path_segment(OPERATION, "owner", owner)?;
    let repo = path_segment(OPERATION, "repository", repo)?;
    let path = format!("/repos/{owner}/{repo}/issues/{number}");
    let wire: WireIssue = observe(OPERATION, client.get(path, None::<&()>)).await?;
    Ok(wire.into())
}

#[derive(Deserialize)]
struct WireIssue {
    number: u64,
    title: String,
    body: Option<String>,
    #[serde(default)]
    labels: Vec<WireLabel>,
    state: IssueState,
    pull_request: Option<IgnoredAny>,
    user: Option<IssueUser>,
}

/// GitHub documents a label in an issue as either an object or a bare name.
#[derive(Deserialize)]
#[serde(untagged)]
enum WireLabel {
    Object { name: String },
    Name(String),
}

impl From<WireIssue> for Issue {
    fn from(wire: WireIssue) -> Self {
        Issue {
            number: wire.number,
            title: wire.title,
            body: wire.body.unwrap_or_default(),
            labels: wire
                .labels
                .into_iter()
                .map(|label| match label {
                    WireLabel::Object { name } | WireLabel::Name(name) => name,
                })
                .collect(),
            state: wire.state,
            is_pull_request: wire.pull_request.is_some(),
            user: wire.user,
        }
    }
}
