//! Issue comments (create, edit, find the bot's own by a marker) and reactions.
//!
//! Invariants:
//! - [`find_comment`] reads every page of an issue's comments (100 per page, following GitHub's `Link:
//!   rel="next"` by page number, with paths only) and returns the oldest comment that contains the
//!   marker *and* was written by us ([`OwnAuthor`]): as the App, a bot account's comment made through
//!   our App (`performed_via_github_app.id` is our App id); with an Action's `GITHUB_TOKEN`, a comment by
//!   `github-actions[bot]`. A human quoting the marker, or another bot planting it, is never taken for
//!   ours, so the bot never edits a comment it did not write.
//! - A reaction is one of GitHub's eight contents; anything else is refused before any request. GitHub
//!   answers 201 for a new reaction and 200 when the same one already exists: both are success.

use octocrab::{Octocrab, Page};
use serde::{Deserialize, Serialize};

use super::GitHubError;
use super::call::observe;
use super::repos::repo_route;

/// A comment as the bot needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub id: u64,
    pub html_url: String,
    pub body: String,
    pub user_login: String,
}

/// What a reaction is put on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReactionTarget {
    /// An issue or pull request, by number.
    Issue(u64),
    /// An issue comment, by id.
    Comment(u64),
}

/// GitHub's reaction contents.
const REACTIONS: [&str; 8] = [
    "+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes",
];

const PER_PAGE: u32 = 100;

/// Who "we" are on GitHub, to tell our own comments from anyone else's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnAuthor {
    /// The GitHub App with this id, writing through an installation token as its bot account.
    App(u64),
    /// A fixed account, e.g. `github-actions[bot]` for an Action's `GITHUB_TOKEN`.
    Login(String),
}

#[derive(Deserialize)]
struct WireComment {
    id: u64,
    html_url: String,
    body: Option<String>,
    user: Option<WireAuthor>,
    #[serde(default)]
    performed_via_github_app: Option<WireApp>,
}

/// The App a comment was made through (`performed_via_github_app`, GitHub's "integration").
#[derive(Deserialize)]
struct WireApp {
    id: u64,
}

#[derive(Deserialize)]
struct WireAuthor {
    login: String,
    #[serde(rename = "type", default)]
    kind: String,
}

impl WireComment {
    fn by_bot(&self) -> bool {
        self.user
            .as_ref()
            .is_some_and(|user| user.login.ends_with("[bot]") || user.kind == "Bot")
    }

    /// Whether `we` wrote it. Through an App, a user-to-server token would also carry the App's id, so
    /// the author must be a bot account as well.
    fn written_by(&self, we: &OwnAuthor) -> bool {
        match we {
            OwnAuthor::App(app_id) => {
                self.by_bot()
                    && self
                        .performed_via_github_app
                        .as_ref()
                        .is_some_and(|app| app.id == *app_id)
            }
            OwnAuthor::Login(login) => self
                .user
                .as_ref()
                .is_some_and(|user| user.login.eq_ignore_ascii_case(login)),
        }
    }
}

impl From<WireComment> for Comment {
    fn from(wire: WireComment) -> Self {
        Comment {
            id: wire.id,
            html_url: wire.html_url,
            body: wire.body.unwrap_or_default(),
            user_login: wire.user.map(|user| user.login).unwrap_or_default(),
        }
    }
}

#[derive(Serialize)]
struct BodyText<'a> {
    body: &'a str,
}

/// `POST /repos/{owner}/{repo}/issues/{issue}/comments`.
pub async fn create_comment(
    client: &Octocrab,
    owner: &str,
    repo: &str,
    issue: u64,
    body: &str,
) -> Result<Comment, GitHubError> {
    const OPERATION: &str = "create_comment";
    let base = repo_route(OPERATION, owner, repo)?;
    let route = format!("{base}/issues/{issue}/comments");
    let wire: WireComment =
        observe(OPERATION, client.post(route, Some(&BodyText { body }))).await?;
    Ok(wire.into())
}

/// `PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}`.
pub async fn update_comment(
    client: &Octocrab,
    owner: &str,
    repo: &str,
    comment_id: u64,
    body: &str,
) -> Result<Comment, GitHubError> {
    const OPERATION: &str = "update_comment";
    let base = repo_route(OPERATION, owner, repo)?;
    let route = format!("{base}/issues/comments/{comment_id}");
    let wire: WireComment =
        observe(OPERATION, client.patch(route, Some(&BodyText { body }))).await?;
    Ok(wire.into())
}

#[derive(Serialize)]
struct PageQuery {
    per_page: u32,
    page: u32,
}

/// The oldest comment `we` wrote on `issue` whose body contains `marker`, reading every page.
pub async fn find_comment(
    client: &Octocrab,
    owner: &str,
    repo: &str,
    issue: u64,
    marker: &str,
    we: &OwnAuthor,
) -> Result<Option<Comment>, GitHubError> {
    const OPERATION: &str = "find_comment";
    let base = repo_route(OPERATION, owner, repo)?;
    let route = format!("{base}/issues/{issue}/comments");
    let mut page = 1;
    loop {
        let query = PageQuery {
            per_page: PER_PAGE,
            page,
        };
        let answer: Page<WireComment> =
            observe(OPERATION, client.get(&route, Some(&query))).await?;
        let more = answer.next.is_some() && !answer.items.is_empty();
        let found = answer.items.into_iter().find(|comment| {
            comment.written_by(we)
                && comment
                    .body
                    .as_deref()
                    .is_some_and(|body| body.contains(marker))
        });
        if let Some(comment) = found {
            return Ok(Some(comment.into()));
        }
        if !more {
            return Ok(None);
        }
        page += 1;
    }
}

#[derive(Serialize)]
struct NewReaction<'a> {
    content: &'a str,
}

/// `POST .../issues/{number}/reactions` or `POST .../issues/comments/{id}/reactions`.
pub async fn add_reaction(
    client: &Octocrab,
    owner: &str,
    repo: &str,
    target: ReactionTarget,
    content: &str,
) -> Result<(), GitHubError> {
    const OPERATION: &str = "add_reaction";
    let base = repo_route(OPERATION, owner, repo)?;
    if !REACTIONS.contains(&content) {
        return Err(GitHubError::Invalid {
            operation: OPERATION,
            detail: format!("{content:?} is not a GitHub reaction (one of {REACTIONS:?})"),
        });
    }
    let route = match target {
        ReactionTarget::Issue(number) => format!("{base}/issues/{number}/reactions"),
        ReactionTarget::Comment(id) => format!("{base}/issues/comments/{id}/reactions"),
    };
    let _: serde::de::IgnoredAny = observe(
        OPERATION,
        client.post(route, Some(&NewReaction { content })),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
#[path = "comments_tests.rs"]
mod tests;
