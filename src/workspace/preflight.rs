//! The checks that a tree suits MetaGPT 0.8.2's incremental mode, run before any LLM money is spent:
//! a source folder with at least one file (`<repo>/<repo-name>/`, or `source_dir`), a `.gitignore`,
//! and no untracked or modified files in the source folder.

use std::path::{Component, Path};

use super::error::git;
use super::{PreflightError, Workspace, WorkspaceError};

/// The source folder the run works on, relative to the repository root (`/`-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLayout {
    pub source_dir: String,
    /// Whether it is the folder MetaGPT finds by itself (`<repo-name>/`) or one the wrapper must point
    /// MetaGPT to (`source_dir` from `.github/metagpt.yml`).
    pub is_default: bool,
}

impl Workspace {
    /// Checks the tree; `source_dir` is the `source_dir` setting of `.github/metagpt.yml`, if any.
    pub fn preflight(&self, source_dir: Option<&str>) -> Result<SourceLayout, WorkspaceError> {
        let layout = self.source_layout(source_dir)?;
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

    fn source_layout(&self, source_dir: Option<&str>) -> Result<SourceLayout, PreflightError> {
        let Some(dir) = source_dir else {
            let name = self
                .root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
            return Ok(SourceLayout {
                source_dir: name.unwrap_or_default(),
                is_default: true,
            });
        };
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
        Ok(SourceLayout {
            source_dir,
            is_default: false,
        })
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
