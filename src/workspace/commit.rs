//! What goes into the bot's commits: every change of the work tree (what `.gitignore` ignores excepted),
//! authored by `metagpt-bot`, with a message that names the issue (or local run) and the iteration; and
//! the protected paths a run must not touch (default `.github/workflows/**`), checked against the changes
//! before anything is committed. Protected path patterns are globs in which `*` stays inside one folder
//! and `**` crosses folders.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use super::error::git;
use super::{Workspace, WorkspaceError};

pub const BOT_NAME: &str = "metagpt-bot";
pub const DEFAULT_BOT_EMAIL: &str = "metagpt-bot@users.noreply.github.com";

/// What a commit is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitSubject {
    Issue(u64),
    /// A local run, named by its branch slug.
    Local(String),
}

/// One commit of the bot.
#[derive(Debug, Clone)]
pub struct CommitRequest<'a> {
    pub subject: CommitSubject,
    pub iteration: u32,
    /// The message body (e.g. the requirement's first line, or the gates' verdict).
    pub body: &'a str,
    /// The bot's email ([`DEFAULT_BOT_EMAIL`] unless configured).
    pub email: &'a str,
}

impl CommitRequest<'_> {
    pub fn message(&self) -> String {
        let subject = match &self.subject {
            CommitSubject::Issue(n) => format!("metagpt: issue #{n}, iteration {}", self.iteration),
            CommitSubject::Local(slug) => {
                format!("metagpt: local run {slug}, iteration {}", self.iteration)
            }
        };
        let body = self.body.trim();
        if body.is_empty() {
            subject
        } else {
            format!("{subject}\n\n{body}\n")
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    Committed(git2::Oid),
    /// The work tree equals `HEAD`: nothing was committed.
    NoChanges,
}

impl Workspace {
    /// Stages every change (additions, modifications, deletions; ignored files stay out) and commits it
    /// on the current branch.
    pub fn commit_all(&self, request: &CommitRequest<'_>) -> Result<CommitOutcome, WorkspaceError> {
        let mut index = self.repo.index().map_err(git("opening the index"))?;
        index
            .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
            .map_err(git("staging changes"))?;
        index
            .update_all(["*"], None)
            .map_err(git("staging deletions"))?;
        index.write().map_err(git("writing the index"))?;
        let tree_id = index.write_tree().map_err(git("writing the tree"))?;
        let parent = match self.repo.head() {
            Ok(head) => Some(head.peel_to_commit().map_err(git("reading HEAD"))?),
            Err(e) if e.code() == git2::ErrorCode::UnbornBranch => None,
            Err(e) => return Err(git("reading HEAD")(e)),
        };
        if parent.as_ref().is_some_and(|p| p.tree_id() == tree_id) {
            return Ok(CommitOutcome::NoChanges);
        }
        let tree = self
            .repo
            .find_tree(tree_id)
            .map_err(git("reading the tree"))?;
        let id = self.commit_tree(
            &tree,
            &parent.iter().collect::<Vec<_>>(),
            &request.message(),
            request.email,
        )?;
        Ok(CommitOutcome::Committed(id))
    }

    /// Commits `tree` on `HEAD` as the bot.
    pub(super) fn commit_tree(
        &self,
        tree: &git2::Tree<'_>,
        parents: &[&git2::Commit<'_>],
        message: &str,
        email: &str,
    ) -> Result<git2::Oid, WorkspaceError> {
        let signature =
            git2::Signature::now(BOT_NAME, email).map_err(git("building the bot's signature"))?;
        self.repo
            .commit(Some("HEAD"), &signature, &signature, message, tree, parents)
            .map_err(git("committing"))
    }
}

// ---- protected paths ----

pub const DEFAULT_PROTECTED_PATHS: &[&str] = &[".github/workflows/**"];

/// Compiles protected path patterns.
pub fn protected_matcher<S: AsRef<str>>(patterns: &[S]) -> Result<GlobSet, WorkspaceError> {
    let mut set = GlobSetBuilder::new();
    for pattern in patterns {
        let pattern = pattern.as_ref();
        let glob = GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map_err(|source| WorkspaceError::Pattern {
                pattern: pattern.to_owned(),
                source,
            })?;
        set.add(glob);
    }
    set.build().map_err(|source| WorkspaceError::Pattern {
        pattern: "(the set)".into(),
        source,
    })
}

impl Workspace {
    /// Every path that differs between `base` and the work tree (committed or not, untracked included;
    /// both sides of a rename), sorted, `/`-separated.
    pub fn changed_paths(&self, base: git2::Oid) -> Result<Vec<String>, WorkspaceError> {
        let tree = self
            .repo
            .find_commit(base)
            .and_then(|c| c.tree())
            .map_err(git("reading the base commit"))?;
        let mut options = git2::DiffOptions::new();
        options.include_untracked(true).recurse_untracked_dirs(true);
        let diff = self
            .repo
            .diff_tree_to_workdir_with_index(Some(&tree), Some(&mut options))
            .map_err(git("comparing with the base commit"))?;
        let mut paths: Vec<String> = diff
            .deltas()
            .flat_map(|delta| [delta.old_file().path(), delta.new_file().path()])
            .flatten()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        paths.sort();
        paths.dedup();
        Ok(paths)
    }

    /// The changed paths since `base` that match one of `patterns`.
    pub fn protected_changes<S: AsRef<str>>(
        &self,
        base: git2::Oid,
        patterns: &[S],
    ) -> Result<Vec<String>, WorkspaceError> {
        let matcher = protected_matcher(patterns)?;
        let changed = self.changed_paths(base)?;
        Ok(changed
            .into_iter()
            .filter(|path| matcher.is_match(path))
            .collect())
    }
}
