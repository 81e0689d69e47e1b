//! The project's dependency files after a run: MetaGPT 0.8.2 rewrites `requirements.txt` from a set
//! (order lost, last newline dropped) and creates it where the project has none. A maintainer's
//! dependency files are theirs: [`Workspace::settle_dependencies`] puts every one the run touched back
//! byte for byte, and only a package the run really asked for and the file did not name is added, as
//! one line at the end of an existing requirements file, and reported.
//!
//! Invariants:
//! - A dependency file the run created is removed; one it changed or deleted is restored exactly as
//!   the run's start commit had it, then (for a requirements file it changed) the new packages are
//!   appended, one line each, after a newline if the file lacked one. Other files are never touched.
//! - Package names are compared as PEP 503 normalises them (case, `-`/`_`/`.`), so `Foo_Bar>=1` is
//!   not added to a file that says `foo-bar`.
//! - pyproject.toml, setup.py, setup.cfg and lock files are only ever restored: what they should say
//!   is the maintainer's call, and the report says what the run asked for.

use std::path::Path;

use super::error::git;
use super::{Workspace, WorkspaceError};

/// What the run did to the dependency files, after they were settled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DependencyReport {
    /// `(file, line)` appended to an existing requirements file.
    pub added: Vec<(String, String)>,
    /// Packages the run asked for that were not added (no requirements file to add them to), with the
    /// file the run wrote them in.
    pub not_added: Vec<(String, String)>,
}

/// Whether `path` (root-relative) is a dependency file.
pub fn is_dependency_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    is_requirements(path)
        || matches!(
            name,
            "pyproject.toml"
                | "setup.py"
                | "setup.cfg"
                | "Pipfile"
                | "Pipfile.lock"
                | "poetry.lock"
                | "uv.lock"
                | "pdm.lock"
                | "environment.yml"
                | "environment.yaml"
        ) && !path.contains('/')
}

/// A pip requirements file: `requirements*.txt`, `*requirements.txt`, or a `.txt` under `requirements/`.
fn is_requirements(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let top = !path.contains('/') || path.starts_with("requirements/");
    top && name.ends_with(".txt")
        && (name.contains("requirements") || path.starts_with("requirements/"))
}

impl Workspace {
    /// Settles the dependency files among `changed` (paths changed since `start`) as the module says.
    pub fn settle_dependencies(
        &self,
        start: git2::Oid,
        changed: &[String],
    ) -> Result<DependencyReport, WorkspaceError> {
        let action = "settling the dependency files";
        let tree = self
            .repo
            .find_commit(start)
            .and_then(|c| c.tree())
            .map_err(git(action))?;
        let mut report = DependencyReport::default();
        for path in changed.iter().filter(|p| is_dependency_file(p)) {
            let full = self.root.join(path);
            if full.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                continue;
            }
            let now = std::fs::read(&full).ok();
            let before = match tree.get_path(Path::new(path)) {
                Ok(entry) => Some(
                    self.repo
                        .find_blob(entry.id())
                        .map_err(git(action))?
                        .content()
                        .to_vec(),
                ),
                Err(_) => None,
            };
            if now == before {
                continue;
            }
            let asked = now
                .as_deref()
                .filter(|_| is_requirements(path))
                .map(|bytes| new_packages(before.as_deref().unwrap_or_default(), bytes))
                .unwrap_or_default();
            match before {
                None => {
                    std::fs::remove_file(&full).map_err(|e| io("removing", &full, e))?;
                    report
                        .not_added
                        .extend(asked.into_iter().map(|line| (path.clone(), line)));
                }
                Some(mut bytes) => {
                    if !asked.is_empty() {
                        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
                            bytes.push(b'\n');
                        }
                        for line in &asked {
                            bytes.extend_from_slice(line.as_bytes());
                            bytes.push(b'\n');
                            report.added.push((path.clone(), line.clone()));
                        }
                    }
                    let _ = std::fs::remove_file(&full);
                    std::fs::write(&full, &bytes).map_err(|e| io("restoring", &full, e))?;
                }
            }
        }
        Ok(report)
    }
}

/// The requirement lines of `after` whose package `before` does not name, in `after`'s order.
pub fn new_packages(before: &[u8], after: &[u8]) -> Vec<String> {
    let known: std::collections::BTreeSet<String> = String::from_utf8_lossy(before)
        .lines()
        .filter_map(package_name)
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    String::from_utf8_lossy(after)
        .lines()
        .filter_map(|line| {
            let name = package_name(line)?;
            (!known.contains(&name) && seen.insert(name)).then(|| line.trim().to_owned())
        })
        .collect()
}

/// The PEP 503 name a requirement line names; `None` for comments, options and blank lines.
fn package_name(line: &str) -> Option<String> {
    let line = line.split('#').next()?.trim();
    if line.is_empty() || line.starts_with('-') {
        return None;
    }
    let name: String = line
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    if name.is_empty() {
        return None;
    }
    let mut normal = String::new();
    for c in name.to_ascii_lowercase().chars() {
        let c = if matches!(c, '_' | '.') { '-' } else { c };
        if !(c == '-' && normal.ends_with('-')) {
            normal.push(c);
        }
    }
    Some(normal)
}

fn io(action: &str, path: &Path, source: std::io::Error) -> WorkspaceError {
    WorkspaceError::Io {
        action: format!("{action} {}", path.display()),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_packages_the_file_did_not_name_are_new() {
        let before = b"wheel==0.38.1\npytest==6.2.5\n# a comment\n-r dev.txt\nFoo_Bar>=1";
        let after = b"foo-bar\npytest\nrequests>=2.31\nwheel\nrequests\n";
        assert_eq!(new_packages(before, after), ["requests>=2.31"]);
        assert_eq!(new_packages(b"", b"\n"), Vec::<String>::new());
    }

    #[test]
    fn dependency_files_are_the_packaging_and_requirements_files_at_the_root() {
        for path in [
            "requirements.txt",
            "dev.requirements.txt",
            "requirements-test.txt",
            "requirements/base.txt",
            "pyproject.toml",
            "setup.py",
            "setup.cfg",
            "poetry.lock",
        ] {
            assert!(is_dependency_file(path), "{path}");
        }
        for path in [
            "src/pkg/setup.py",
            "docs/requirements.md",
            "notes.txt",
            "pkg/requirements.txt",
        ] {
            assert!(!is_dependency_file(path), "{path}");
        }
    }
}
