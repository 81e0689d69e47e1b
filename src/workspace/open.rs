//! Getting a workspace on disk: clone the first time, open and fetch afterwards.

use std::path::Path;

use super::auth::{AuthAttempt, check_url};
use super::error::{git, io};
use super::{Credentials, REMOTE, Workspace, WorkspaceError};

/// Where fetches put the remote's branches (forced: these are tracking refs, never pushed).
const FETCH_REFSPEC: &str = "+refs/heads/*:refs/remotes/origin/*";
const REMOTE_HEAD: &str = "refs/remotes/origin/HEAD";

impl Workspace {
    /// Clones `url` (https, file:// or a local path) into `dir`, or, when `dir` already holds a clone of
    /// `url`, opens it and fetches the remote's branches into it.
    pub fn clone_or_open(
        url: &str,
        dir: &Path,
        credentials: Credentials,
    ) -> Result<Self, WorkspaceError> {
        check_url(url)?;
        if dir.join(".git").exists() {
            let workspace = Self::open(dir, credentials)?;
            let found = workspace.remote_url()?;
            if found != url {
                return Err(WorkspaceError::OtherOrigin {
                    dir: dir.display().to_string(),
                    found,
                    expected: url.to_owned(),
                });
            }
            workspace.fetch()?;
            return Ok(workspace);
        }
        let attempt = AuthAttempt::default();
        let mut fetch = git2::FetchOptions::new();
        fetch.remote_callbacks(attempt.callbacks(&credentials));
        let repo = git2::build::RepoBuilder::new()
            .fetch_options(fetch)
            .clone(url, dir)
            .map_err(|e| attempt.error(url, &format!("cloning {url}"), e))?;
        let workspace = Self::from_repo(repo, credentials)?;
        workspace.remember_default_branch_from_head()?;
        Ok(workspace)
    }

    /// Opens an existing repository (a previous clone, or a local repository for a local run).
    pub fn open(dir: &Path, credentials: Credentials) -> Result<Self, WorkspaceError> {
        let repo = git2::Repository::open(dir)
            .map_err(git(&format!("opening the repository {}", dir.display())))?;
        Self::from_repo(repo, credentials)
    }

    fn from_repo(repo: git2::Repository, credentials: Credentials) -> Result<Self, WorkspaceError> {
        let workdir = repo
            .workdir()
            .ok_or_else(|| WorkspaceError::Git {
                action: "opening the work tree".into(),
                source: git2::Error::from_str("the repository is bare; a work tree is needed"),
            })?
            .to_path_buf();
        let root = workdir
            .canonicalize()
            .map_err(io(format!("resolving {}", workdir.display())))?;
        Ok(Self {
            repo,
            root,
            credentials,
        })
    }

    /// Fetches every branch of the remote into `refs/remotes/origin/*` (pruning deleted ones) and
    /// records the remote's default branch as `refs/remotes/origin/HEAD`.
    pub fn fetch(&self) -> Result<(), WorkspaceError> {
        let url = self.remote_url()?;
        let mut remote = self
            .repo
            .find_remote(REMOTE)
            .map_err(git("finding the remote"))?;
        let attempt = AuthAttempt::default();
        let mut options = git2::FetchOptions::new();
        options.remote_callbacks(attempt.callbacks(&self.credentials));
        options.prune(git2::FetchPrune::On);
        remote
            .fetch(
                &[FETCH_REFSPEC],
                Some(&mut options),
                Some("metagpt-bot: fetch"),
            )
            .map_err(|e| attempt.error(&url, &format!("fetching {url}"), e))?;
        if let Ok(default) = remote.default_branch()
            && let Some(name) = default
                .as_str()
                .ok()
                .and_then(|r| r.strip_prefix("refs/heads/"))
        {
            self.set_remote_head(name)?;
        }
        Ok(())
    }

    /// The URL of the remote, as stored in `.git/config` (never with credentials).
    pub fn remote_url(&self) -> Result<String, WorkspaceError> {
        let remote = self
            .repo
            .find_remote(REMOTE)
            .map_err(git("finding the remote"))?;
        Ok(remote.url().unwrap_or_default().to_owned())
    }

    /// Right after a clone, `HEAD` is the remote's default branch.
    fn remember_default_branch_from_head(&self) -> Result<(), WorkspaceError> {
        if self.repo.find_reference(REMOTE_HEAD).is_ok() {
            return Ok(());
        }
        let head = self
            .repo
            .head()
            .map_err(git("reading HEAD after the clone"))?;
        match head.shorthand().ok() {
            Some(name) if head.is_branch() => self.set_remote_head(name),
            _ => Ok(()),
        }
    }

    fn set_remote_head(&self, branch: &str) -> Result<(), WorkspaceError> {
        let target = format!("refs/remotes/{REMOTE}/{branch}");
        self.repo
            .reference_symbolic(
                REMOTE_HEAD,
                &target,
                true,
                "metagpt-bot: remote default branch",
            )
            .map_err(git("recording the remote's default branch"))?;
        Ok(())
    }

    /// The tip of the remote's default branch, or `HEAD` for a repository without a remote.
    pub(super) fn default_tip(&self) -> Result<git2::Oid, WorkspaceError> {
        match self.repo.find_reference(REMOTE_HEAD) {
            Ok(reference) => {
                let commit = reference
                    .peel_to_commit()
                    .map_err(git("resolving the default branch"))?;
                Ok(commit.id())
            }
            Err(_) => self.head(),
        }
    }

    /// The tip of `refs/remotes/origin/<branch>` as last fetched, if the remote has the branch.
    pub(super) fn remote_tip(&self, branch: &str) -> Option<git2::Oid> {
        let name = format!("refs/remotes/{REMOTE}/{branch}");
        self.repo.refname_to_id(&name).ok()
    }
}
