//! The git workspace of one run: a clone of the repository on disk, the run's branch, safe writes,
//! the bot's commits and the push (libgit2 through `git2`).
//!
//! The API is synchronous: every method blocks on disk and network I/O, so the pipeline calls it inside
//! `tokio::task::spawn_blocking` (a [`Workspace`] is `Send`; move it in and out of the closure).
//!
//! Invariants:
//! - The GitHub token lives only in memory: it is passed in as a [`secrecy::SecretString`] and exposed
//!   only inside the git2 credentials callback. It never appears in a URL, `.git/config`, argv, the
//!   environment or a file; a URL that carries credentials is refused.
//! - A refused token fails the operation at once: the credentials callback answers once and gives up on
//!   the next call (libgit2 would otherwise call it forever).
//! - The bot never force-pushes. A push the server rejects (libgit2 reports it through
//!   `push_update_reference`, not as an error) is an error naming the ref and the server's reason; a
//!   remote branch that moved since the last fetch is the distinct [`WorkspaceError::RemoteMoved`], so the
//!   caller can [`Workspace::integrate_remote`] and push again, keeping human commits.
//! - A branch the remote already has is checked out at the remote tip (human commits on it are kept and
//!   built upon); otherwise it starts from the default branch's tip.
//! - [`Workspace::preflight`] refuses a tree MetaGPT's incremental mode cannot work on before any money is
//!   spent, with a message that says how to fix the repository.
//! - Writes never follow a symlink and never land outside the work tree or inside `.git`.
//!
//! A workspace directory is kept and reused: [`Workspace::clone_or_open`] clones it the first time and
//! fetches into it incrementally afterwards (cheaper than a fresh clone on big trees). Its last path
//! component must be the repository's name, which MetaGPT uses to find the source folder; keep one per
//! (repository, issue), e.g. `<root>/<owner>/<repo>/issue-<n>/<repo>`, since runs of different issues of
//! one repository may run at the same time.
//!
//! A run calls, in order: [`Workspace::clone_or_open`] → [`Workspace::discard_changes`] (bot-owned
//! workspaces only) → [`Workspace::prepare_branch`] → [`Workspace::preflight`] (refuse before any LLM
//! call) → [`Workspace::write_issue_text`] → the agent → [`Workspace::protected_changes`] (against
//! [`PreparedBranch::base`]) → [`Workspace::commit_all`] → [`Workspace::push`]; on
//! [`WorkspaceError::RemoteMoved`]: [`Workspace::integrate_remote`], then push again.

mod auth;
mod branch;
mod commit;
mod error;
mod open;
mod preflight;
mod protected;
mod push;
mod reset;
mod write;

pub use auth::Credentials;
pub use branch::{BranchOrigin, PreparedBranch};
pub use commit::{BOT_NAME, CommitOutcome, CommitRequest, CommitSubject, DEFAULT_BOT_EMAIL};
pub use error::{PreflightError, WorkspaceError};
pub use preflight::SourceLayout;
pub use protected::{DEFAULT_PROTECTED_PATHS, protected_matcher};
pub use push::Integration;
pub use write::issue_text_path;

use std::path::{Path, PathBuf};

/// The name of the remote the workspace clones from and pushes to.
pub const REMOTE: &str = "origin";

/// A repository checked out on disk, with the credentials used to talk to its remote.
pub struct Workspace {
    repo: git2::Repository,
    /// The work tree, canonicalised (symlinks in its own path resolved once, at open).
    root: PathBuf,
    credentials: Credentials,
}

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspace")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl Workspace {
    /// Replaces the credentials for later fetches and pushes (a fresh token right before a push).
    pub fn set_credentials(&mut self, credentials: Credentials) {
        self.credentials = credentials;
    }

    /// The work tree's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The commit `HEAD` points at.
    pub fn head(&self) -> Result<git2::Oid, WorkspaceError> {
        let head = self.repo.head().map_err(error::git("reading HEAD"))?;
        let commit = head.peel_to_commit().map_err(error::git("reading HEAD"))?;
        Ok(commit.id())
    }

    /// The messages of `HEAD` and its first parents, newest first, at most `limit` (fewer on an unborn
    /// or unreadable history).
    pub fn first_parent_messages(&self, limit: usize) -> Vec<String> {
        let mut messages = Vec::new();
        let mut commit = self.repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        while let Some(current) = commit.take() {
            if messages.len() >= limit {
                break;
            }
            messages.push(current.message().unwrap_or_default().to_owned());
            commit = current.parent(0).ok();
        }
        messages
    }
}
