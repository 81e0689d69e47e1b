//! The things the fake GitHub keeps: users, repositories and what lives in them (issues, pull requests,
//! comments, reactions, check runs, files, collaborators). Plain data; the rules are in `state.rs`,
//! `world.rs` and `pull_rules.rs`.
//!
//! Invariants:
//! - Issue and pull request numbers share one sequence per repository (a pull request is also an issue
//!   with `is_pull_request`), comment and check run ids are global, as on GitHub.

use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub login: String,
    pub id: u64,
}

impl User {
    pub fn new(login: &str, id: u64) -> Self {
        Self {
            login: login.to_owned(),
            id,
        }
    }

    /// GitHub's account type: `Bot` for `name[bot]` accounts, else `User`.
    pub fn kind(&self) -> &'static str {
        if self.login.ends_with("[bot]") {
            "Bot"
        } else {
            "User"
        }
    }
}

#[derive(Debug, Clone)]
pub struct Repo {
    pub id: u64,
    pub owner: User,
    pub name: String,
    pub issues: BTreeMap<u64, Issue>,
    pub default_branch: String,
    /// What `clone_url` answers; a test points it at its git server.
    pub clone_url: String,
    pub fork: bool,
    pub private: bool,
    /// A bare repository whose `refs/heads/*` are the branches GitHub sees (pull request heads).
    pub git_dir: Option<PathBuf>,
    /// File contents by (ref, path), for the contents API.
    pub files: BTreeMap<(String, String), Vec<u8>>,
    /// Collaborators by lower-case login (GitHub logins are case-insensitive).
    pub collaborators: BTreeMap<String, Collaborator>,
    pub pulls: BTreeMap<u64, Pull>,
}

impl Repo {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner.login, self.name)
    }

    /// The next issue or pull request number.
    pub fn next_number(&self) -> u64 {
        self.issues.keys().next_back().map_or(1, |last| last + 1)
    }
}

#[derive(Debug, Clone)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub labels: Vec<String>,
    /// `open` or `closed`.
    pub state: String,
    pub user: User,
    pub is_pull_request: bool,
}

impl Issue {
    /// An open issue with no labels.
    pub fn open(number: u64, title: &str, body: &str, user: User) -> Self {
        Self {
            number,
            title: title.to_owned(),
            body: Some(body.to_owned()),
            labels: Vec::new(),
            state: "open".to_owned(),
            user,
            is_pull_request: false,
        }
    }

    pub fn with_labels(mut self, labels: &[&str]) -> Self {
        self.labels = labels.iter().map(|label| (*label).to_owned()).collect();
        self
    }
}

/// A collaborator's role: `role_name` (admin, maintain, write, triage, read or a custom name) and
/// `permission`, its base (admin, write, read, none).
#[derive(Debug, Clone)]
pub struct Collaborator {
    pub user: User,
    pub role_name: String,
    pub permission: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub id: u64,
    /// `owner/name`.
    pub repo: String,
    pub issue: u64,
    pub user: User,
    pub body: String,
    /// The App it was made through (`performed_via_github_app`): the App whose installation token (or
    /// GitHub Actions, for a job token) wrote it; `None` for a person's comment.
    pub via_app: Option<u64>,
}

/// What a reaction is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReactionOn {
    Issue { repo: String, number: u64 },
    Comment(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    pub id: u64,
    pub on: ReactionOn,
    pub content: String,
    pub user: User,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pull {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    /// `open` or `closed`.
    pub state: String,
    pub draft: bool,
    pub merged: bool,
    pub head_ref: String,
    /// The head commit when last resolved (re-read from `git_dir` while open).
    pub head_sha: String,
    /// `None` when the head repository (a fork) was deleted.
    pub head_repo: Option<String>,
    pub base_ref: String,
    pub user: User,
}

/// A check run exactly as it was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRun {
    pub id: u64,
    pub repo: String,
    pub name: String,
    pub head_sha: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub completed_at: Option<String>,
    pub details_url: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
    /// Who created it (the App's bot, or `github-actions[bot]` for a job token).
    pub app_user: User,
}
