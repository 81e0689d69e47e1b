//! Issue comments (create, edit, find the bot's own by a marker) and reactions.
//!
//! Invariants:
//! - [`Repo::find_own_comment`] reads every page of an issue's comments (100 per page, following
//!   GitHub's `Link: rel="next"` by page number, with paths only) and returns the oldest comment that
//!   contains the marker *and* was written by us ([`OwnAuthor`]): as the App, a bot account's comment
//!   made through our App (`performed_via_github_app.id` is our App id) or, since GitHub documents that
//!   field as nullable, a comment by the App's own bot account `<app-slug>[bot]` (from `GET /app`); with an
//!   Action's `GITHUB_TOKEN`, a comment by `github-actions[bot]`. A human quoting the marker, or another
//!   bot planting it, is never taken for ours, so the bot never edits a comment it did not write.
//! - A reaction is one of GitHub's eight contents; anything else is refused before any request. GitHub
//!   answers 201 for a new reaction and 200 when the same one already exists: both are success.

use octocrab::Page;
use serde::{Deserialize, Serialize};

use super::GitHubError;
use super::app::OwnAuthor;
use super::error::observe;
use super::repo::Repo;

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
    /// the author must be a bot account as well; `performed_via_github_app` may be null in a listing, so
    /// the App's own bot account counts too.
    fn written_by(&self, we: &OwnAuthor) -> bool {
        match we {
            OwnAuthor::App { id, bot } => {
                let via_our_app = self
                    .performed_via_github_app
                    .as_ref()
                    .is_some_and(|app| app.id == *id);
                let our_bot = bot.as_deref().is_some_and(|bot| {
                    self.user
                        .as_ref()
                        .is_some_and(|user| user.login.eq_ignore_ascii_case(bot))
                });
                self.by_bot() && (via_our_app || our_bot)
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

impl Repo {
    /// `POST /repos/{owner}/{repo}/issues/{issue}/comments`.
    pub async fn create_comment(&self, issue: u64, body: &str) -> Result<Comment, GitHubError> {
        const OPERATION: &str = "create_comment";
        let route = format!("{}/issues/{issue}/comments", self.route());
        let wire: WireComment = observe(
            OPERATION,
            self.client().post(route, Some(&BodyText { body })),
        )
        .await?;
        Ok(wire.into())
    }

    /// `PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}`.
    pub async fn update_comment(
        &self,
        comment_id: u64,
        body: &str,
    ) -> Result<Comment, GitHubError> {
        const OPERATION: &str = "update_comment";
        let route = format!("{}/issues/comments/{comment_id}", self.route());
        let wire: WireComment = observe(
            OPERATION,
            self.client().patch(route, Some(&BodyText { body })),
        )
        .await?;
        Ok(wire.into())
    }

    /// The oldest comment the bot wrote on `issue` whose body contains `marker`, reading every page.
    pub async fn find_own_comment(
        &self,
        issue: u64,
        marker: &str,
    ) -> Result<Option<Comment>, GitHubError> {
        const OPERATION: &str = "find_comment";
        let we = self.author();
        let route = format!("{}/issues/{issue}/comments", self.route());
        let mut page = 1;
        loop {
            let query = PageQuery {
                per_page: PER_PAGE,
                page,
            };
            let answer: Page<WireComment> =
                observe(OPERATION, self.client().get(&route, Some(&query))).await?;
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

    /// `POST .../issues/{number}/reactions` or `POST .../issues/comments/{id}/reactions`.
    pub async fn react(&self, target: ReactionTarget, content: &str) -> Result<(), GitHubError> {
        const OPERATION: &str = "add_reaction";
        let base = self.route();
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
            self.client().post(route, Some(&NewReaction { content })),
        )
        .await?;
        Ok(())
    }
}

#[derive(Serialize)]
struct PageQuery {
    per_page: u32,
    page: u32,
}

#[derive(Serialize)]
struct NewReaction<'a> {
    content: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(login: &str, kind: &str, body: Option<&str>) -> WireComment {
        via(login, kind, body, None)
    }

    fn via(login: &str, kind: &str, body: Option<&str>, app: Option<u64>) -> WireComment {
        let app = app.map(|id| serde_json::json!({ "id": id, "slug": "some-app" }));
        let json = serde_json::json!({
            "id": 1, "html_url": "u", "body": body, "user": { "login": login, "type": kind },
            "performed_via_github_app": app,
        });
        serde_json::from_value(json).expect("wire shape")
    }

    #[test]
    fn the_app_trusts_only_its_own_bots_comments() {
        let ours = OwnAuthor::App {
            id: 42,
            bot: Some("metagpt[bot]".to_owned()),
        };
        assert!(via("metagpt[bot]", "Bot", None, Some(42)).written_by(&ours));
        assert!(!via("renovate[bot]", "Bot", None, Some(7)).written_by(&ours));
        // A person acting through the App (a user-to-server token) is not the App's bot.
        assert!(!via("alice", "User", None, Some(42)).written_by(&ours));
    }

    #[test]
    fn without_performed_via_github_app_the_apps_bot_account_still_counts_and_no_other() {
        let ours = OwnAuthor::App {
            id: 42,
            bot: Some("metagpt[bot]".to_owned()),
        };
        assert!(via("metagpt[bot]", "Bot", None, None).written_by(&ours));
        assert!(via("MetaGPT[bot]", "Bot", None, None).written_by(&ours));
        assert!(!via("renovate[bot]", "Bot", None, None).written_by(&ours));
        // A person who happens to have a similar login is not a bot account.
        assert!(!via("metagpt", "User", None, None).written_by(&ours));
        // Without the bot's login (GET /app not answered yet), only the App id counts.
        let unknown = OwnAuthor::App { id: 42, bot: None };
        assert!(!via("metagpt[bot]", "Bot", None, None).written_by(&unknown));
        assert!(via("metagpt[bot]", "Bot", None, Some(42)).written_by(&unknown));
    }

    #[test]
    fn a_token_trusts_only_its_accounts_comments() {
        let ours = OwnAuthor::Login("github-actions[bot]".to_owned());
        assert!(via("github-actions[bot]", "Bot", None, Some(15368)).written_by(&ours));
        assert!(!via("renovate[bot]", "Bot", None, Some(7)).written_by(&ours));
        assert!(!wire("alice", "User", None).written_by(&ours));
    }

    #[test]
    fn bots_are_known_by_login_suffix_or_type() {
        assert!(wire("metagpt-bot[bot]", "Bot", None).by_bot());
        assert!(wire("github-actions[bot]", "", None).by_bot());
        assert!(wire("renovate", "Bot", None).by_bot());
        assert!(!wire("alice", "User", None).by_bot());
    }

    #[test]
    fn a_comment_without_body_or_user_decodes_empty() {
        let json = serde_json::json!({ "id": 5, "html_url": "u", "body": null, "user": null });
        let comment: Comment = serde_json::from_value::<WireComment>(json)
            .expect("wire shape")
            .into();
        assert_eq!(
            (comment.body.as_str(), comment.user_login.as_str()),
            ("", "")
        );
    }
}
