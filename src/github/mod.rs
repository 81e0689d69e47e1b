//! Talking to GitHub as a GitHub App: credentials, one API client per installation, and the typed
//! operations the rest of the bot uses.
//!
//! Invariants:
//! - [`GitHubApp`] is built once per process and shared; it hands out exactly one octocrab client per
//!   installation, so every task of that installation shares one installation-token cache (octocrab's
//!   `CachedToken` is copied, not shared, when a client is cloned, so clients are never cloned per task).
//! - Requests are made with paths (`/repos/...`), never absolute URLs: octocrab drops the `Authorization`
//!   header for absolute URLs whose host is not `api.github.com`, and the base URL (which may carry a path
//!   prefix such as GitHub Enterprise's `/api/v3`) is joined by octocrab.
//! - Every wrapped operation counts `metagpt_bot_github_api_calls_total{operation}` and, on failure,
//!   `metagpt_bot_github_api_errors_total{operation,status}`, and fails with a [`GitHubError`] that says
//!   whether trying again later can help ([`GitHubError::is_transient`]).
//! - Webhook payload structs live in [`payloads`]; they describe what GitHub sends, not what we ask.

pub mod app;
mod call;
pub mod checks;
pub mod comments;
mod draft;
pub mod error;
pub mod issues;
mod key;
pub mod permissions;
pub mod pulls;
pub mod repos;

pub use app::{AppInfo, GitHubApp, token_client};
pub use checks::{CheckRun, Conclusion, NewCheckRun, create_check_run};
pub use comments::{
    Comment, OwnAuthor, ReactionTarget, add_reaction, create_comment, find_comment, update_comment,
};
pub use draft::set_draft;
pub use error::GitHubError;
pub use issues::{Issue, IssueState, IssueUser, get_issue};
pub use permissions::{Permission, permission_of};
pub use pulls::{
    NewPull, PullRequest, PullUpdate, create_pull, find_pulls_by_head, get_pull, update_pull,
};
pub use repos::{Repository, get_file_text, get_repository};
