//! The git workspace of one run: a clone of the repository on disk, the run's branch, safe writes,
//! the bot's commits and the push (libgit2 through `git2`).
//!
//! The API is synchronous: every method blocks on disk and network I/O, so callers run it inside
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
//!   built upon); otherwise it starts from the default branch's tip, or from the base the caller names
//!   ([`Workspace::prepare_branch_from`]: a local run starts from the user's checked-out commit).
//! - [`Workspace::preflight`] refuses a tree MetaGPT's incremental mode cannot work on before any money is
//!   spent, with a message that says how to fix the repository.
//! - Writes never follow a symlink and never land outside the work tree or inside `.git`.
//! - [`Workspace::discard_changes`] throws away what an earlier, failed run left (like `git reset --hard
//!   && git clean -fdx`, symlinks removed, never followed): only for bot-owned workspaces, never a user's
//!   own repository (local runs), where it would destroy uncommitted work.
//! - Branch names (`metagpt/issue-N`, `metagpt/local-<slug>`) and the bot's merge message come from
//!   [`crate::marks`]; this module only checks branches out, commits and pushes them.
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
//!
//! A local run on the user's own repository calls instead: [`Workspace::open`] →
//! [`Workspace::checked_out`] and [`Workspace::committed_file`] (`.github/metagpt.yml` as `HEAD` has it)
//! → [`Workspace::preflight`] on the checked-out tree, so a refused run touches no branch →
//! [`Workspace::prepare_branch_from`] `HEAD` → … → [`Workspace::commit_all`] →
//! [`Workspace::return_to`] the user's checkout (`checkout.rs`).

mod auth;
mod checkout;
mod commit;
mod dependencies;
mod error;
mod layout;
mod preflight;
mod push;
mod write;

pub use auth::Credentials;
pub use checkout::CheckedOut;
pub use commit::{
    BOT_NAME, CommitOutcome, CommitRequest, CommitSubject, DEFAULT_BOT_EMAIL,
    DEFAULT_PROTECTED_PATHS, protected_matcher,
};
pub use dependencies::DependencyReport;
pub use error::{PreflightError, WorkspaceError};
pub use layout::{Found, SPEC_DIR, SourceLayout, within};
pub use push::Integration;
pub use write::issue_text_path;

use std::path::{Path, PathBuf};

use auth::{AuthAttempt, check_url};
use error::{git, io};

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
        let head = self.repo.head().map_err(git("reading HEAD"))?;
        let commit = head.peel_to_commit().map_err(git("reading HEAD"))?;
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

// ---- open: clone the first time, open and fetch afterwards ----

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
        let credentials = credentials.pinned_to(url);
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
        let (url, mut remote) = self.remote()?;
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
        Ok(self.remote()?.0)
    }

    /// The remote and its URL.
    pub(super) fn remote(&self) -> Result<(String, git2::Remote<'_>), WorkspaceError> {
        let remote = self
            .repo
            .find_remote(REMOTE)
            .map_err(git("finding the remote"))?;
        Ok((remote.url().unwrap_or_default().to_owned(), remote))
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
    fn default_tip(&self) -> Result<git2::Oid, WorkspaceError> {
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
    fn remote_tip(&self, branch: &str) -> Option<git2::Oid> {
        let name = format!("refs/remotes/{REMOTE}/{branch}");
        self.repo.refname_to_id(&name).ok()
    }
}

// ---- reset: throw away what an earlier, failed run left ----

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

// ---- the run's branch (named by `crate::marks`), reused when it exists ----

/// Where the checked-out branch came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchOrigin {
    /// The remote had it: checked out at the remote tip (with any human commits on it).
    Remote,
    /// A local branch of an earlier run with commits the remote does not have yet.
    Local,
    /// Created from the base: the default branch's tip, or the commit the caller named.
    New,
}

/// The branch a run works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedBranch {
    pub name: String,
    /// The commit checked out.
    pub head: git2::Oid,
    /// The default branch's tip (the base a pull request of this branch is compared with), or the base
    /// the caller named.
    pub base: git2::Oid,
    pub origin: BranchOrigin,
}

impl Workspace {
    /// Checks out `name`, creating it if needed (see [`BranchOrigin`]). Uses the refs of the last fetch.
    /// The checkout is safe: local changes that it would overwrite make it fail instead.
    pub fn prepare_branch(&self, name: &str) -> Result<PreparedBranch, WorkspaceError> {
        self.prepare_branch_from(name, self.default_tip()?)
    }

    /// [`Workspace::prepare_branch`] with `base` instead of the default branch's tip: a new branch starts
    /// there (a local run: the user's checked-out commit, local commits included). A branch that exists
    /// is reused as it is.
    pub fn prepare_branch_from(
        &self,
        name: &str,
        base: git2::Oid,
    ) -> Result<PreparedBranch, WorkspaceError> {
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
    fn descends(&self, commit: git2::Oid, ancestor: git2::Oid) -> Result<bool, WorkspaceError> {
        self.repo
            .graph_descendant_of(commit, ancestor)
            .map_err(git("comparing commits"))
    }

    /// Safely checks out `target`'s tree, then points `refs/heads/<name>` and `HEAD` at it.
    fn switch_to(&self, name: &str, target: git2::Oid) -> Result<(), WorkspaceError> {
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
    fn checkout(&self, branch: &str, tree: &git2::Object<'_>) -> Result<(), WorkspaceError> {
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
