//! Protected paths: the changed files a run must not touch (default `.github/workflows/**`), matched
//! with glob patterns in which `*` stays inside one folder and `**` crosses folders.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use super::error::git;
use super::{Workspace, WorkspaceError};

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
