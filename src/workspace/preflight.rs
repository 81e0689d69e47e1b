//! The checks that a tree suits MetaGPT 0.8.2's incremental mode, run before any LLM money is spent:
//! its layout ([`super::layout`]: a source folder found or configured), a source folder with at least
//! one file, a `.gitignore`, and no untracked or modified files in the source folder.

use std::path::{Component, Path};

use super::error::git;
use super::layout::{SourceLayout, decide};
use super::{PreflightError, Workspace, WorkspaceError};

impl Workspace {
    /// Checks the tree and decides its layout; `source_dir` and `spec_dir` are the settings of
    /// `.github/metagpt.yml` (or the local flags), if any.
    pub fn preflight(
        &self,
        source_dir: Option<&str>,
        spec_dir: Option<&str>,
    ) -> Result<SourceLayout, WorkspaceError> {
        let configured = source_dir
            .map(|dir| self.checked_source_dir(dir))
            .transpose()?;
        let layout = decide(&self.root, configured.as_deref(), spec_dir)?;
        let folder = self.root.join(&layout.source_dir);
        let exists = folder.symlink_metadata().is_ok_and(|m| m.is_dir());
        if !exists {
            return Err(match source_dir {
                Some(dir) => invalid(dir, "names no folder of the repository"),
                None => PreflightError::MissingSourceFolder {
                    folder: layout.source_dir,
                },
            }
            .into());
        }
        if !holds_a_file(&folder) {
            return Err(PreflightError::EmptySourceFolder {
                folder: layout.source_dir,
            }
            .into());
        }
        if !self
            .root
            .join(".gitignore")
            .symlink_metadata()
            .is_ok_and(|m| m.is_file())
        {
            return Err(PreflightError::MissingGitignore.into());
        }
        let dirty = self.unclean_paths(Some(&layout.source_dir))?;
        if !dirty.is_empty() {
            return Err(PreflightError::DirtySourceFolder {
                folder: layout.source_dir,
                paths: dirty,
            }
            .into());
        }
        Ok(layout)
    }

    /// The configured source folder, `/`-separated, if it is a folder inside the work tree.
    fn checked_source_dir(&self, dir: &str) -> Result<String, PreflightError> {
        let path = Path::new(dir.trim_end_matches('/'));
        let mut parts = Vec::new();
        for component in path.components() {
            match component {
                Component::Normal(part) if part != ".git" => {
                    parts.push(part.to_string_lossy().into_owned())
                }
                Component::CurDir => {}
                _ => {
                    return Err(invalid(
                        dir,
                        "must be a relative path to a folder inside the repository (no `..`, no `.git`)",
                    ));
                }
            }
        }
        if parts.is_empty() {
            return Err(invalid(
                dir,
                "must name a folder inside the repository, e.g. `src/acme`",
            ));
        }
        let source_dir = parts.join("/");
        let resolved = self.root.join(&source_dir).canonicalize();
        if resolved.as_ref().is_ok_and(|r| !r.starts_with(&self.root)) {
            return Err(invalid(
                dir,
                "resolves outside the repository (through a symlink)",
            ));
        }
        Ok(source_dir)
    }

    /// Modified, staged or untracked paths (ignored files excepted), only those under `folder/` when
    /// given.
    pub fn unclean_paths(&self, folder: Option<&str>) -> Result<Vec<String>, WorkspaceError> {
        let mut options = git2::StatusOptions::new();
        options
            .include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(false)
            .exclude_submodules(true);
        let statuses = self
            .repo
            .statuses(Some(&mut options))
            .map_err(git("reading the work tree's status"))?;
        let prefix = folder
            .map(|folder| format!("{folder}/"))
            .unwrap_or_default();
        Ok(statuses
            .iter()
            .filter(|entry| entry.status() != git2::Status::CURRENT)
            .filter_map(|entry| entry.path().ok().map(str::to_owned))
            .filter(|path| path.starts_with(&prefix))
            .collect())
    }
}

fn invalid(source_dir: &str, reason: &str) -> PreflightError {
    PreflightError::InvalidSourceDir {
        source_dir: source_dir.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Whether `dir` holds a regular file, at any depth (symlinks are not followed).
fn holds_a_file(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| match entry.file_type() {
        Ok(kind) if kind.is_file() => true,
        Ok(kind) if kind.is_dir() => holds_a_file(&entry.path()),
        _ => false,
    })
}
