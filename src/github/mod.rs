//! Talking to GitHub: the App's credentials and installation clients ([`GitHubApp`]), one repository as
//! a job sees it ([`Repo`], with every operation the bot makes as a method). What the bot says there is
//! `jobs::voice`.
//!
//! Invariants:
//! - [`GitHubApp`] is built once per process and shared; it hands out exactly one octocrab client per
//!   installation, so every task of that installation shares one installation-token cache (octocrab's
//!   `CachedToken` is copied, not shared, when a client is cloned, so clients are never cloned per task).
//! - Requests are made with paths (`/repos/...`), never absolute URLs: octocrab drops the `Authorization`
//!   header for absolute URLs whose host is not `api.github.com`, and the base URL (which may carry a path
//!   prefix such as GitHub Enterprise's `/api/v3`) is joined by octocrab.
//! - Every operation counts `metagpt_bot_github_api_calls_total{operation}` and, on failure,
//!   `metagpt_bot_github_api_errors_total{operation,status}`, and fails with a [`GitHubError`] that says
//!   whether trying again later can help ([`GitHubError::is_transient`]).
//! - Every request is one GitHub's REST API documents (plus the two documented GraphQL draft mutations).

pub mod app;
mod comments;
mod error;
pub mod manifest;
mod pulls;
mod repo;

pub use app::{AppInfo, GitHubApp, OwnAuthor, token_client};
pub use comments::{Comment, ReactionTarget};
pub use error::GitHubError;
pub use pulls::{CheckRun, Conclusion, NewCheckRun, NewPull, PullRequest, PullUpdate};
pub use repo::{
    GIT_TOKEN_VALIDITY, Issue, IssueState, IssueUser, Permission, Repo, RepoSettings, Repository,
};
