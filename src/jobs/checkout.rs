//! The git side of a GitHub run: the kept work tree of one issue, brought up to date and checked out on
//! `metagpt/issue-<N>`, and the push at the end.
//!
//! Invariants:
//! - One work tree per (repository, issue): `<work_dir>/<owner>/<repo>/issue-<N>/<repo>` (the last
//!   component is the repository's name, as MetaGPT's incremental mode needs). Runs of one issue never
//!   overlap (the queue runs one job per issue at a time), so the directory is never shared.
//! - Whatever a previous run left in the work tree is discarded before the branch is prepared; commits
//!   are not (an unpushed commit of a crashed run is pushed by the retry).
//! - git2 blocks: every step runs in `spawn_blocking`, with a token minted right before it.
//! - The push never forces: when humans pushed meanwhile, their commits are merged in and the push is
//!   tried again, once.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use crate::domain::RepoRef;
use crate::workspace::{Credentials, PreparedBranch, SourceLayout, Workspace, WorkspaceError};

/// A checked-out issue branch that passed the preflight.
pub struct Checkout {
    pub workspace: Workspace,
    pub branch: PreparedBranch,
    pub layout: SourceLayout,
}

/// Where an issue's work tree lives.
pub fn work_tree(work_dir: &Path, repo: &RepoRef, issue: u64) -> PathBuf {
    work_dir
        .join(&repo.owner)
        .join(&repo.name)
        .join(format!("issue-{issue}"))
        .join(&repo.name)
}

/// Why the checkout failed: the repository's fault (tell the person) or the bot's (retry).
pub enum CheckoutError {
    /// The preflight refused the tree: what to fix in the repository.
    Unsuitable(String),
    Git(WorkspaceError),
}

/// Clones or fetches, discards leftovers, prepares the branch and runs the preflight.
pub async fn checkout(
    url: String,
    dir: PathBuf,
    token: SecretString,
    issue: u64,
    source_dir: Option<String>,
) -> Result<Checkout, CheckoutError> {
    blocking(move || {
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(|source| {
                CheckoutError::Git(WorkspaceError::Io {
                    action: format!("creating {}", parent.display()),
                    source,
                })
            })?;
        }
        let workspace = Workspace::clone_or_open(&url, &dir, Credentials::token(token))
            .map_err(CheckoutError::Git)?;
        workspace.discard_changes().map_err(CheckoutError::Git)?;
        let branch = workspace
            .prepare_branch(&crate::marks::issue_branch(issue))
            .map_err(CheckoutError::Git)?;
        let layout = workspace
            .preflight(source_dir.as_deref())
            .map_err(|e| CheckoutError::Unsuitable(e.to_string()))?;
        Ok(Checkout {
            workspace,
            branch,
            layout,
        })
    })
    .await
}

/// Pushes the branch with `token`; when the remote moved, merges it in (bot's merge commit) and pushes
/// once more. Returns the pushed head.
pub async fn push(
    mut workspace: Workspace,
    branch: String,
    token: SecretString,
    email: String,
) -> Result<git2::Oid, WorkspaceError> {
    let pushed = tokio::task::spawn_blocking(move || {
        workspace.set_credentials(Credentials::token(token));
        match workspace.push(&branch) {
            Err(WorkspaceError::RemoteMoved { .. }) => {
                workspace.integrate_remote(&branch, &email)?;
                workspace.push(&branch)?;
            }
            other => other?,
        }
        workspace.head()
    })
    .await;
    pushed.unwrap_or_else(|join| Err(join_error(join)))
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, CheckoutError> + Send + 'static,
) -> Result<T, CheckoutError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|join| Err(CheckoutError::Git(join_error(join))))
}

fn join_error(join: tokio::task::JoinError) -> WorkspaceError {
    WorkspaceError::Io {
        action: "running git in the background".into(),
        source: std::io::Error::other(join.to_string()),
    }
}
