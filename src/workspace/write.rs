//! Writing files into the work tree without following symlinks: every component of the path must be a
//! plain directory (created when missing) and the file itself a plain file or absent; the content goes to
//! a temporary file beside it that is then renamed over it, so readers never see a half-written file.
//!
//! A process racing to swap a directory for a symlink between the check and the write is out of scope:
//! nothing else writes to a workspace while a run holds it.

use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::io;
use super::{Workspace, WorkspaceError};
use crate::domain::Kind;

/// Where MetaGPT reads the run's text, per kind, inside its project folder (`SourceLayout::spec_dir`).
pub fn issue_text_path(kind: Kind) -> &'static str {
    match kind {
        Kind::Requirement => "docs/requirement.txt",
        Kind::Bugfix => "docs/bugfix.txt",
    }
}

impl Workspace {
    /// Writes the run's text to `docs/requirement.txt` or `docs/bugfix.txt` of MetaGPT's project folder
    /// `spec_dir` (`""`: the root).
    pub fn write_issue_text(
        &self,
        spec_dir: &str,
        kind: Kind,
        text: &str,
    ) -> Result<PathBuf, WorkspaceError> {
        let path = super::layout::within(spec_dir, issue_text_path(kind));
        self.write_file(&path, text.as_bytes())
    }

    /// Writes `contents` to `relative` (a `/`-separated path inside the work tree, outside `.git`).
    pub fn write_file(&self, relative: &str, contents: &[u8]) -> Result<PathBuf, WorkspaceError> {
        let unsafe_path = |reason: &str| WorkspaceError::UnsafePath {
            path: relative.to_owned(),
            reason: reason.to_owned(),
        };
        let mut parts = Vec::new();
        for component in Path::new(relative).components() {
            match component {
                Component::Normal(part) if part.eq_ignore_ascii_case(".git") => {
                    return Err(unsafe_path("it is inside .git"));
                }
                Component::Normal(part) => parts.push(part),
                _ => {
                    return Err(unsafe_path(
                        "it must be a relative path inside the repository, without `..`",
                    ));
                }
            }
        }
        let Some((file, dirs)) = parts.split_last() else {
            return Err(unsafe_path("the path is empty"));
        };
        let mut dir = self.root.clone();
        for part in dirs {
            dir.push(part);
            match dir.symlink_metadata() {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(unsafe_path(&format!("`{}` is a symlink", self.shown(&dir))));
                }
                Ok(meta) if !meta.is_dir() => {
                    return Err(unsafe_path(&format!(
                        "`{}` is not a directory",
                        self.shown(&dir)
                    )));
                }
                Ok(_) => {}
                Err(_) => {
                    std::fs::create_dir(&dir).map_err(io(format!("creating {}", dir.display())))?
                }
            }
        }
        let target = dir.join(file);
        if let Ok(meta) = target.symlink_metadata() {
            if meta.file_type().is_symlink() {
                return Err(unsafe_path("the file is a symlink"));
            }
            if !meta.is_file() {
                return Err(unsafe_path("it is not a regular file"));
            }
        }
        let resolved = dir
            .canonicalize()
            .map_err(io(format!("resolving {}", dir.display())))?;
        if !resolved.starts_with(&self.root) {
            return Err(unsafe_path("it resolves outside the repository"));
        }
        replace(&dir, &target, contents)?;
        Ok(target)
    }

    fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }
}

/// Writes `contents` to a new temporary file in `dir` and renames it to `target`.
fn replace(dir: &Path, target: &Path, contents: &[u8]) -> Result<(), WorkspaceError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        ".metagpt-bot-{}-{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let temp = dir.join(name);
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&temp, target)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written.map_err(io(format!("writing {}", target.display())))
}
