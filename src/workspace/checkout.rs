//! The user's own checkout, for a local run on their repository: what is checked out (a branch or a
//! detached commit), a file as the checked-out commit has it, and going back to the checkout once the run
//! has committed its result on its own branch.
//!
//! Invariants:
//! - [`Workspace::checked_out`] and [`Workspace::committed_file`] only read; neither touches the work
//!   tree, the index or a ref.
//! - A committed file is read from `HEAD`'s tree, never from the work tree, so an uncommitted edit is
//!   never used silently.
//! - [`Workspace::return_to`] is a safe checkout: a change in the work tree it would overwrite makes it
//!   fail instead, and then `HEAD` stays where it was.

use std::path::Path;

use super::error::git;
use super::{Workspace, WorkspaceError};

/// What the user had checked out before a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckedOut {
    /// A local branch (`main`), by its short name.
    Branch(String),
    /// A detached `HEAD` at this commit.
    Detached(git2::Oid),
}

impl std::fmt::Display for CheckedOut {
    /// `main`, or `the detached commit 1a2b3c4d5e6f`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckedOut::Branch(name) => f.write_str(name),
            CheckedOut::Detached(id) => {
                let id = id.to_string();
                write!(f, "the detached commit {}", &id[..12.min(id.len())])
            }
        }
    }
}

impl Workspace {
    /// The branch or detached commit `HEAD` is on (an error on an unborn `HEAD`: there is no commit yet).
    pub fn checked_out(&self) -> Result<CheckedOut, WorkspaceError> {
        let head = self.repo.head().map_err(git("reading HEAD"))?;
        if head.is_branch()
            && let Some(name) = head.shorthand().ok()
        {
            return Ok(CheckedOut::Branch(name.to_owned()));
        }
        let commit = head.peel_to_commit().map_err(git("reading HEAD"))?;
        Ok(CheckedOut::Detached(commit.id()))
    }

    /// The content of `path` (relative, `/`-separated) in `HEAD`'s tree; `None` when the commit has no
    /// such file.
    pub fn committed_file(&self, path: &str) -> Result<Option<Vec<u8>>, WorkspaceError> {
        let action = format!("reading {path} from HEAD");
        let head = self
            .repo
            .head()
            .and_then(|h| h.peel_to_commit())
            .map_err(git(&action))?;
        let tree = head.tree().map_err(git(&action))?;
        let entry = match tree.get_path(Path::new(path)) {
            Ok(entry) => entry,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(git(&action)(e)),
        };
        match entry.to_object(&self.repo).map(|o| o.into_blob()) {
            Ok(Ok(blob)) => Ok(Some(blob.content().to_vec())),
            // A folder (or a submodule) where the file should be: there is no such file.
            Ok(Err(_)) => Ok(None),
            Err(e) => Err(git(&action)(e)),
        }
    }

    /// Checks `to` out again (safely) and points `HEAD` at it: the branch at its current tip, or the
    /// detached commit.
    pub fn return_to(&self, to: &CheckedOut) -> Result<(), WorkspaceError> {
        let action = format!("switching back to {to}");
        let (refname, commit) = match to {
            CheckedOut::Branch(name) => {
                let refname = format!("refs/heads/{name}");
                let commit = self
                    .repo
                    .find_reference(&refname)
                    .and_then(|r| r.peel_to_commit())
                    .map_err(git(&action))?;
                (Some(refname), commit)
            }
            CheckedOut::Detached(id) => (None, self.repo.find_commit(*id).map_err(git(&action))?),
        };
        self.checkout(&to.to_string(), commit.as_object())?;
        match refname {
            Some(refname) => self.repo.set_head(&refname),
            None => self.repo.set_head_detached(commit.id()),
        }
        .map_err(git(&action))
    }
}
