//! Throwing away what an earlier, failed run left in a bot-owned workspace: the work tree and index go
//! back to `HEAD` and every untracked or ignored file is removed (like `git reset --hard && git clean
//! -fdx`). Never call it on a user's own repository (local runs): it destroys uncommitted work.

use std::path::Path;

use super::error::{git, io};
use super::{Workspace, WorkspaceError};

impl Workspace {
    /// Resets the work tree to `HEAD` and removes untracked and ignored files. Symlinks are removed,
    /// never followed. Returns the removed paths (relative, sorted).
    pub fn discard_changes(&self) -> Result<Vec<String>, WorkspaceError> {
        let head = self
            .repo
            .head()
            .and_then(|h| h.peel_to_commit())
            .map_err(git("reading HEAD"))?;
        self.repo
            .reset(head.as_object(), git2::ResetType::Hard, None)
            .map_err(git("resetting the work tree"))?;
        let mut options = git2::StatusOptions::new();
        options
            .include_untracked(true)
            .include_ignored(true)
            .recurse_untracked_dirs(false)
            .recurse_ignored_dirs(false)
            .exclude_submodules(true);
        let statuses = self
            .repo
            .statuses(Some(&mut options))
            .map_err(git("reading the work tree's status"))?;
        let mut removed: Vec<String> = statuses
            .iter()
            .filter(|e| {
                e.status()
                    .intersects(git2::Status::WT_NEW | git2::Status::IGNORED)
            })
            .filter_map(|e| e.path().ok().map(str::to_owned))
            .collect();
        removed.sort();
        for relative in &removed {
            remove(&self.root.join(relative.trim_end_matches('/')))?;
        }
        Ok(removed)
    }
}

/// Removes a file, a symlink (not its target) or a directory tree.
fn remove(path: &Path) -> Result<(), WorkspaceError> {
    let Ok(meta) = path.symlink_metadata() else {
        return Ok(());
    };
    let removed = if meta.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    removed.map_err(io(format!("removing {}", path.display())))
}
