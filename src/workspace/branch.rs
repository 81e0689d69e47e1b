//! The run's branch: `metagpt/issue-N` or `metagpt/local-<slug>`, reused when it exists.

use super::error::git;
use super::{REMOTE, Workspace, WorkspaceError};

/// Where the checked-out branch came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchOrigin {
    /// The remote had it: checked out at the remote tip (with any human commits on it).
    Remote,
    /// A local branch of an earlier run with commits the remote does not have yet.
    Local,
    /// Created from the default branch's tip.
    New,
}

/// The branch a run works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedBranch {
    pub name: String,
    /// The commit checked out.
    pub head: git2::Oid,
    /// The default branch's tip: the base a pull request of this branch is compared with.
    pub base: git2::Oid,
    pub origin: BranchOrigin,
}

impl Workspace {
    /// Checks out `name`, creating it if needed (see [`BranchOrigin`]). Uses the refs of the last fetch.
    /// The checkout is safe: local changes that it would overwrite make it fail instead.
    pub fn prepare_branch(&self, name: &str) -> Result<PreparedBranch, WorkspaceError> {
        let base = self.default_tip()?;
        let local = self.repo.refname_to_id(&format!("refs/heads/{name}")).ok();
        let remote = self.remote_tip(name);
        let (head, origin) = match (remote, local) {
            (Some(r), Some(l)) if l != r && self.descends(l, r)? => (l, BranchOrigin::Local),
            (Some(r), _) => (r, BranchOrigin::Remote),
            (None, Some(l)) => (l, BranchOrigin::Local),
            (None, None) => (base, BranchOrigin::New),
        };
        self.switch_to(name, head)?;
        if remote.is_some() {
            let mut branch = self
                .repo
                .find_branch(name, git2::BranchType::Local)
                .map_err(git("finding the branch"))?;
            branch
                .set_upstream(Some(&format!("{REMOTE}/{name}")))
                .map_err(git("setting the branch's upstream"))?;
        }
        Ok(PreparedBranch {
            name: name.to_owned(),
            head,
            base,
            origin,
        })
    }

    /// Whether `commit` descends from `ancestor` (strictly).
    pub(super) fn descends(
        &self,
        commit: git2::Oid,
        ancestor: git2::Oid,
    ) -> Result<bool, WorkspaceError> {
        self.repo
            .graph_descendant_of(commit, ancestor)
            .map_err(git("comparing commits"))
    }

    /// Safely checks out `target`'s tree, then points `refs/heads/<name>` and `HEAD` at it.
    pub(super) fn switch_to(&self, name: &str, target: git2::Oid) -> Result<(), WorkspaceError> {
        let commit = self
            .repo
            .find_commit(target)
            .map_err(git("finding the commit"))?;
        self.checkout(name, commit.as_object())?;
        let refname = format!("refs/heads/{name}");
        self.repo
            .reference(&refname, target, true, "metagpt-bot: prepare branch")
            .map_err(git("updating the branch"))?;
        self.repo
            .set_head(&refname)
            .map_err(git("switching HEAD"))?;
        Ok(())
    }

    /// Updates the work tree and index to `tree` without overwriting local changes.
    pub(super) fn checkout(
        &self,
        branch: &str,
        tree: &git2::Object<'_>,
    ) -> Result<(), WorkspaceError> {
        let mut options = git2::build::CheckoutBuilder::new();
        options.safe();
        self.repo
            .checkout_tree(tree, Some(&mut options))
            .map_err(|source| match source.code() {
                git2::ErrorCode::Conflict => WorkspaceError::DirtyCheckout {
                    branch: branch.to_owned(),
                    source,
                },
                _ => WorkspaceError::Git {
                    action: format!("checking out `{branch}`"),
                    source,
                },
            })
    }
}
