//! Where a repository keeps its code, its tests and MetaGPT's project folder: the [`SourceLayout`] a run
//! works with, decided from the files of the checked-out tree (and the repository's settings) before
//! any money is spent.
//!
//! Invariants:
//! - A repository in MetaGPT's own layout (a `docs/prd/` folder at the root, or a folder named like the
//!   repository that is not part of a packaged Python project) keeps it: source `<repo-name>/`, MetaGPT's
//!   project folder at the root. Everything else gets `.metagpt/` as MetaGPT's project folder, so a run's
//!   diff holds only the code change, its tests and `.metagpt/` (CONTRACT.md, "What it leaves").
//! - Detection is deterministic and never guesses between candidates: a `src/<package>/` layout wins
//!   over top-level folders; otherwise one top-level package (a folder with `__init__.py` that is not a
//!   test, documentation, example or build folder). Several candidates, or none, is a refusal that
//!   lists what was found and says how to choose (`source_dir`).
//! - A repository with no Python package is refused (MetaGPT 0.8.2's QA writes and runs Python tests
//!   only) unless its settings name the source folder.
//! - The import root is the folder the project's own CI puts first on `sys.path`: the parent of a package
//!   (`src` for a `src/` layout, the root for a top-level package); for a folder of plain modules (MetaGPT's
//!   layout) the folder itself and the root, as MetaGPT 0.8.2 runs its tests.
//! - Only the file system is read; symlinks are never followed out of the tree.

use std::path::Path;

use super::PreflightError;

pub use crate::marks::SPEC_DIR;

/// Folders that hold a project's tests, in the order they are preferred; the first that exists takes
/// the run's new tests.
const TEST_FOLDERS: [&str; 3] = ["tests", "test", "testing"];

/// Top-level folders that are never the source folder, even with an `__init__.py`.
const NOT_SOURCE: [&str; 16] = [
    "tests",
    "test",
    "testing",
    "docs",
    "doc",
    "examples",
    "example",
    "benchmarks",
    "bench",
    "scripts",
    "tools",
    "build",
    "dist",
    "site-packages",
    "node_modules",
    "venv",
];

/// Files that make the root a packaged Python project.
const PACKAGING: [&str; 3] = ["pyproject.toml", "setup.py", "setup.cfg"];

/// Where a run's code, tests and MetaGPT's bookkeeping go, relative to the repository root
/// (`/`-separated; `""` is the root itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLayout {
    /// The folder MetaGPT edits code in, e.g. `src/iniconfig`, `jmespath`, `<repo-name>`.
    pub source_dir: String,
    /// MetaGPT's project folder: `""` for MetaGPT-shaped repositories, [`SPEC_DIR`] otherwise.
    pub spec_dir: String,
    /// Where the run's new test files go.
    pub tests_dir: String,
    /// What goes on `PYTHONPATH` for the tests, first first.
    pub import_roots: Vec<String>,
    pub found: Found,
}

/// How the source folder was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// MetaGPT's own layout, `<repo>/<repo-name>/`: MetaGPT finds it by itself.
    Metagpt,
    /// Named by `source_dir` in the settings (or `--source-dir`).
    Configured,
    /// A `src/<package>/` layout or the one top-level package.
    Detected,
}

impl SourceLayout {
    /// Whether MetaGPT finds the source folder by itself (the wrapper need not point it elsewhere).
    pub fn is_metagpt(&self) -> bool {
        self.found == Found::Metagpt
    }
}

/// `relative` inside the folder `dir` (relative to the root; `""` is the root itself).
pub fn within(dir: &str, relative: &str) -> String {
    if dir.is_empty() {
        relative.to_owned()
    } else {
        format!("{dir}/{relative}")
    }
}

/// The layout of the tree at `root` (whose last component is the repository's name). `source_dir`
/// is the checked setting (already validated as a relative folder); `spec_dir` the setting, if any.
pub fn decide(
    root: &Path,
    source_dir: Option<&str>,
    spec_dir: Option<&str>,
) -> Result<SourceLayout, PreflightError> {
    let name = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let shaped = metagpt_shaped(root, &name);
    let (source_dir, found) = match source_dir {
        Some(dir) => (dir.to_owned(), Found::Configured),
        None if shaped => (name, Found::Metagpt),
        None => (detect(root)?, Found::Detected),
    };
    let spec_dir = match spec_dir {
        Some(dir) => dir.to_owned(),
        None if shaped => String::new(),
        None => SPEC_DIR.to_owned(),
    };
    let tests_dir = TEST_FOLDERS
        .iter()
        .find(|dir| is_dir(&root.join(dir)))
        .unwrap_or(&TEST_FOLDERS[0])
        .to_string();
    let import_roots = import_roots(root, &source_dir);
    Ok(SourceLayout {
        source_dir,
        spec_dir,
        tests_dir,
        import_roots,
        found,
    })
}

/// MetaGPT's own layout: its bookkeeping at the root, or `<repo-name>/` holding code in a repository
/// that is not a packaged Python project (a package named like its repository is detected instead).
fn metagpt_shaped(root: &Path, name: &str) -> bool {
    if is_dir(&root.join("docs/prd")) {
        return true;
    }
    let packaged = PACKAGING.iter().any(|f| root.join(f).is_file());
    !name.is_empty() && !packaged && is_dir(&root.join(name))
}

/// The one `src/<package>/`, else the one top-level package.
fn detect(root: &Path) -> Result<String, PreflightError> {
    let src = packages(&root.join("src"), &[]);
    let candidates: Vec<String> = if src.is_empty() {
        packages(root, &NOT_SOURCE)
    } else {
        src.into_iter().map(|p| format!("src/{p}")).collect()
    };
    match candidates.as_slice() {
        [one] => Ok(one.clone()),
        [] if has_python(root, 3) => Err(PreflightError::NoPackage),
        [] => Err(PreflightError::NotPython {
            found: main_languages(root),
        }),
        _ => Err(PreflightError::SeveralPackages { candidates }),
    }
}

/// Sub-folders of `dir` that hold an `__init__.py`, sorted, except hidden ones and `skip`.
fn packages(dir: &Path, skip: &[&str]) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| !n.starts_with('.') && !n.ends_with(".egg-info") && !skip.contains(&n.as_str()))
        .filter(|n| dir.join(n).join("__init__.py").is_file())
        .collect();
    found.sort();
    found
}

/// The import roots of `source_dir`: the parent of a package, else the folder itself and the root.
fn import_roots(root: &Path, source_dir: &str) -> Vec<String> {
    if root.join(source_dir).join("__init__.py").is_file() {
        let parent = source_dir.rsplit_once('/').map_or("", |(parent, _)| parent);
        vec![parent.to_owned()]
    } else {
        vec![source_dir.to_owned(), String::new()]
    }
}

/// Whether a `.py` file lies within `depth` levels of `dir` (hidden folders skipped).
fn has_python(dir: &Path, depth: u32) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        match e.file_type() {
            Ok(t) if t.is_file() => name.ends_with(".py"),
            Ok(t) if t.is_dir() && depth > 0 && !name.starts_with('.') => {
                has_python(&e.path(), depth - 1)
            }
            _ => false,
        }
    })
}

/// The three most common file extensions near the root, for the refusal of a non-Python repository.
fn main_languages(root: &Path) -> Vec<String> {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    count_extensions(root, 2, &mut counts);
    let mut sorted: Vec<(String, usize)> = counts.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    sorted.into_iter().take(3).map(|(ext, _)| ext).collect()
}

fn count_extensions(
    dir: &Path,
    depth: u32,
    counts: &mut std::collections::BTreeMap<String, usize>,
) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        match e.file_type() {
            Ok(t) if t.is_file() => {
                const SOURCE: [&str; 12] = [
                    "rs", "go", "js", "ts", "java", "c", "cpp", "rb", "php", "cs", "kt", "swift",
                ];
                if let Some((_, ext)) = name.rsplit_once('.')
                    && SOURCE.contains(&ext)
                {
                    *counts.entry(format!(".{ext}")).or_default() += 1;
                }
            }
            Ok(t) if t.is_dir() && depth > 0 => count_extensions(&e.path(), depth - 1, counts),
            _ => {}
        }
    }
}

fn is_dir(path: &Path) -> bool {
    path.symlink_metadata().is_ok_and(|m| m.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(name: &str, files: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(name);
        for file in files {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        std::fs::create_dir_all(&root).unwrap();
        (dir, root)
    }

    #[test]
    fn a_src_layout_is_found_with_its_import_root_and_test_folder() {
        let (_d, root) = tree(
            "iniconfig",
            &[
                "pyproject.toml",
                "src/iniconfig/__init__.py",
                "src/iniconfig/_parse.py",
                "testing/test_iniconfig.py",
            ],
        );
        let layout = decide(&root, None, None).unwrap();
        assert_eq!(
            layout,
            SourceLayout {
                source_dir: "src/iniconfig".into(),
                spec_dir: ".metagpt".into(),
                tests_dir: "testing".into(),
                import_roots: vec!["src".into()],
                found: Found::Detected,
            }
        );
        assert_eq!(
            within(&layout.spec_dir, "docs/requirement.txt"),
            ".metagpt/docs/requirement.txt"
        );
    }

    #[test]
    fn one_top_level_package_named_unlike_the_repository_is_found() {
        let (_d, root) = tree(
            "jmespath.py",
            &[
                "setup.py",
                "jmespath/__init__.py",
                "jmespath/ast.py",
                "tests/__init__.py",
                "extra/x.py",
                "bin/jp.py",
            ],
        );
        let layout = decide(&root, None, None).unwrap();
        assert_eq!(layout.source_dir, "jmespath");
        assert_eq!(layout.import_roots, [""]);
        assert_eq!(
            (layout.spec_dir.as_str(), layout.tests_dir.as_str()),
            (".metagpt", "tests")
        );
    }

    #[test]
    fn a_package_named_like_its_repository_is_a_real_project_not_metagpts_layout() {
        let (_d, root) = tree(
            "slugify",
            &["pyproject.toml", "slugify/__init__.py", "test.py"],
        );
        let layout = decide(&root, None, None).unwrap();
        assert_eq!(
            (layout.found, layout.spec_dir.as_str()),
            (Found::Detected, ".metagpt")
        );
        assert_eq!(layout.tests_dir, "tests");
    }

    #[test]
    fn metagpts_own_layout_keeps_its_project_folder_at_the_root() {
        let (_d, root) = tree("seed", &["seed/calc.py", ".gitignore"]);
        let layout = decide(&root, None, None).unwrap();
        assert_eq!(layout.source_dir, "seed");
        assert_eq!(layout.spec_dir, "");
        assert_eq!(layout.import_roots, ["seed", ""]);
        assert!(layout.is_metagpt());
        assert_eq!(
            within(&layout.spec_dir, "docs/bugfix.txt"),
            "docs/bugfix.txt"
        );
        let (_d, root) = tree(
            "app",
            &["pyproject.toml", "docs/prd/1.json", "src/app/__init__.py"],
        );
        let layout = decide(&root, Some("src/app"), None).unwrap();
        assert_eq!(
            (layout.spec_dir.as_str(), layout.found),
            ("", Found::Configured)
        );
    }

    #[test]
    fn settings_win_over_detection() {
        let (_d, root) = tree("r", &["a/__init__.py", "b/__init__.py"]);
        let layout = decide(&root, Some("b"), Some("meta")).unwrap();
        assert_eq!(
            (layout.source_dir.as_str(), layout.spec_dir.as_str()),
            ("b", "meta")
        );
        assert_eq!(layout.found, Found::Configured);
    }

    #[test]
    fn several_candidates_none_or_another_language_are_refused_with_what_was_found() {
        let (_d, root) = tree(
            "r",
            &["b/__init__.py", "a/__init__.py", "tests/__init__.py"],
        );
        assert_eq!(
            decide(&root, None, None).unwrap_err(),
            PreflightError::SeveralPackages {
                candidates: vec!["a".into(), "b".into()]
            }
        );
        let (_d, root) = tree(
            "r",
            &["src/a/__init__.py", "src/b/__init__.py", "c/__init__.py"],
        );
        assert_eq!(
            decide(&root, None, None).unwrap_err(),
            PreflightError::SeveralPackages {
                candidates: vec!["src/a".into(), "src/b".into()]
            }
        );
        let (_d, root) = tree("r", &["six.py", "setup.py"]);
        assert_eq!(
            decide(&root, None, None).unwrap_err(),
            PreflightError::NoPackage
        );
        let (_d, root) = tree(
            "r",
            &["Cargo.toml", "src/main.rs", "src/lib.rs", "web/app.ts"],
        );
        assert_eq!(
            decide(&root, None, None).unwrap_err(),
            PreflightError::NotPython {
                found: vec![".rs".into(), ".ts".into()]
            }
        );
        let layout = decide(&root, Some("src"), None).unwrap();
        assert_eq!(layout.found, Found::Configured);
    }
}
