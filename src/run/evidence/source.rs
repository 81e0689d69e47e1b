//! The run's changed source files: changed paths that still exist as plain files under the source folder,
//! named the way MetaGPT names them (relative to the source folder, `/`-separated).

use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Relative to the repository root.
    pub path: String,
    /// Relative to the source folder (as in the task list and review prompts).
    pub name: String,
}

pub fn changed_sources(root: &Path, source_dir: &str, changed_paths: &[String]) -> Vec<SourceFile> {
    let dir = source_dir.trim_matches('/');
    changed_paths
        .iter()
        .filter_map(|path| {
            let name = path.strip_prefix(dir)?.strip_prefix('/')?;
            let is_file = root
                .join(path)
                .symlink_metadata()
                .is_ok_and(|m| m.is_file());
            (is_file && !name.is_empty()).then(|| SourceFile {
                path: path.clone(),
                name: name.to_owned(),
            })
        })
        .collect()
}

/// A task-list or review entry as a name relative to the source folder (`./a.py`, `<dir>/a.py` → `a.py`).
pub fn normalise(entry: &str, source_dir: &str) -> String {
    let entry = entry.trim().trim_start_matches("./");
    let dir = source_dir.trim_matches('/');
    entry
        .strip_prefix(dir)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(entry)
        .to_owned()
}
