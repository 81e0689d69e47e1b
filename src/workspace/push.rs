//! Pushing the run's branch, never forced, and building on top of commits others pushed meanwhile.

use std::cell::RefCell;

use super::auth::AuthAttempt;
use super::error::git;
use super::{REMOTE, Workspace, WorkspaceError};

/// What [`Workspace::integrate_remote`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integration {
    /// The branch already contains the remote's tip (or the remote has no such branch).
    UpToDate,
    /// The branch had no commit of its own: it now is the remote's tip.
    FastForwarded(git2::Oid),
    /// Both had commits: a merge commit by the bot joins them.
    Merged(git2::Oid),
}

impl Workspace {
    /// Pushes `refs/heads/<branch>` to the remote's branch of the same name, as a fast-forward only.
    pub fn push(&self, branch: &str) -> Result<(), WorkspaceError> {
        let (url, mut remote) = self.remote()?;
        let attempt = AuthAttempt::default();
        let rejected: RefCell<Vec<(String, String)>> = RefCell::default();
        let mut callbacks = attempt.callbacks(&self.credentials);
        callbacks.push_update_reference(|refname, status| {
            if let Some(reason) = status {
                rejected
                    .borrow_mut()
                    .push((refname.to_owned(), reason.to_owned()));
            }
            Ok(())
        });
        let mut options = git2::PushOptions::new();
        options.remote_callbacks(callbacks);
        let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
        let pushed = remote.push(&[refspec.as_str()], Some(&mut options));
        drop(options);
        if let Err(source) = pushed {
            return Err(match source.code() {
                git2::ErrorCode::NotFastForward => WorkspaceError::RemoteMoved {
                    branch: branch.to_owned(),
                },
                _ => attempt.error(&url, &format!("pushing `{branch}` to {url}"), source),
            });
        }
        match rejected.into_inner().into_iter().next() {
            None => Ok(()),
            Some((_, reason)) if is_not_fast_forward(&reason) => Err(WorkspaceError::RemoteMoved {
                branch: branch.to_owned(),
            }),
            Some((refname, reason)) => Err(WorkspaceError::PushRejected { refname, reason }),
        }
    }

    /// Fetches and brings the remote's `branch` into the checked-out `branch`: nothing to do, a
    /// fast-forward, or a merge commit by the bot (conflicts are an error and change nothing).
    /// Call it after [`WorkspaceError::RemoteMoved`], then push again.
    pub fn integrate_remote(
        &self,
        branch: &str,
        email: &str,
    ) -> Result<Integration, WorkspaceError> {
        self.fetch()?;
        let Some(remote) = self.remote_tip(branch) else {
            return Ok(Integration::UpToDate);
        };
        let local = self.head()?;
        if local == remote || self.descends(local, remote)? {
            return Ok(Integration::UpToDate);
        }
        if self.descends(remote, local)? {
            self.switch_to(branch, remote)?;
            return Ok(Integration::FastForwarded(remote));
        }
        let ours = self.repo.find_commit(local).map_err(git("reading HEAD"))?;
        let theirs = self
            .repo
            .find_commit(remote)
            .map_err(git("reading the remote branch"))?;
        let mut merged = self
            .repo
            .merge_commits(&ours, &theirs, None)
            .map_err(git("merging"))?;
        if merged.has_conflicts() {
            let paths = merged
                .conflicts()
                .map_err(git("listing conflicts"))?
                .flatten()
                .filter_map(|c| c.our.or(c.their).or(c.ancestor))
                .map(|entry| String::from_utf8_lossy(&entry.path).into_owned())
                .collect();
            return Err(WorkspaceError::MergeConflict {
                branch: branch.to_owned(),
                paths,
            });
        }
        let tree_id = merged
            .write_tree_to(&self.repo)
            .map_err(git("writing the merged tree"))?;
        let tree = self
            .repo
            .find_tree(tree_id)
            .map_err(git("reading the merged tree"))?;
        self.checkout(branch, tree.as_object())?;
        let message = crate::marks::merge_message(REMOTE, branch);
        let id = self.commit_tree(&tree, &[&ours, &theirs], &message, email)?;
        Ok(Integration::Merged(id))
    }
}

/// The reasons git servers give when a ref update is not a fast-forward.
fn is_not_fast_forward(reason: &str) -> bool {
    ["non-fast-forward", "fetch first", "stale info"]
        .iter()
        .any(|s| reason.contains(s))
}

#[cfg(test)]
mod tests {
    use super::is_not_fast_forward;

    #[test]
    fn the_servers_ways_of_saying_the_branch_moved_are_recognised() {
        for reason in [
            "non-fast-forward",
            "failed to update ref: fetch first",
            "stale info",
        ] {
            assert!(is_not_fast_forward(reason), "{reason}");
        }
        for reason in [
            "pre-receive hook declined",
            "protected branch hook declined",
        ] {
            assert!(!is_not_fast_forward(reason), "{reason}");
        }
    }
}
