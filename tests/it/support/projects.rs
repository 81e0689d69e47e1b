//! The three real public projects of the end-to-end tests (`tests/fixtures/projects/`, one pinned commit
//! each, see its README): cloned into a test's folder the way a maintainer has them, and the facts about
//! each that a test checks a run against.
//!
//! [`Project::clone_into`] gives a work tree named as the repository, on `main`, whose `origin` is a bare
//! copy beside it (`<parent>/remote/<name>.git`, which a `GitServer` rooted at `<parent>/remote` can also
//! serve over 127.0.0.1).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A vendored project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Project {
    /// `src/iniconfig/`, pyproject (hatch), its tests in `testing/` (pytest).
    Iniconfig,
    /// Top-level `jmespath/` in the repository `jmespath.py`; requirements.txt, setup.py; `ast.py`
    /// shadows the standard library's; `tests/test_functions.py` is the tests of `functions.py`.
    Jmespath,
    /// `slugify/` with a module `slugify/slugify.py`; setup.py + pyproject; its tests in a root `test.py`.
    Slugify,
}

impl Project {
    pub const ALL: [Project; 3] = [Project::Iniconfig, Project::Jmespath, Project::Slugify];

    /// The repository's name, which is the name of its work tree.
    pub fn repo_name(self) -> &'static str {
        match self {
            Project::Iniconfig => "iniconfig",
            Project::Jmespath => "jmespath.py",
            Project::Slugify => "python-slugify",
        }
    }

    /// The import name of its package.
    pub fn package(self) -> &'static str {
        match self {
            Project::Iniconfig => "iniconfig",
            Project::Jmespath => "jmespath",
            Project::Slugify => "slugify",
        }
    }

    /// Where the code lives, relative to the root: what the bot must detect without configuration.
    pub fn source_dir(self) -> &'static str {
        match self {
            Project::Iniconfig => "src/iniconfig",
            Project::Jmespath => "jmespath",
            Project::Slugify => "slugify",
        }
    }

    /// MetaGPT's project folder: none of the three is MetaGPT-shaped.
    pub fn spec_dir(self) -> &'static str {
        ".metagpt"
    }

    /// The folder on `PYTHONPATH` when the project's CI imports the package from the work tree.
    pub fn import_root(self) -> &'static str {
        match self {
            Project::Iniconfig => "src",
            Project::Jmespath | Project::Slugify => "",
        }
    }

    /// The project's test folder, where new test files belong (`tests` when it has none).
    pub fn tests_dir(self) -> &'static str {
        match self {
            Project::Iniconfig => "testing",
            Project::Jmespath | Project::Slugify => "tests",
        }
    }

    /// The dependency files at the root, which a run must leave byte-identical.
    pub fn dependency_files(self) -> &'static [&'static str] {
        match self {
            Project::Iniconfig => &["pyproject.toml"],
            Project::Jmespath => &["requirements.txt", "setup.py", "setup.cfg"],
            Project::Slugify => &["pyproject.toml", "setup.py", "dev.requirements.txt"],
        }
    }

    /// Every name a dependency file may have: a run must create none of them.
    pub const DEPENDENCY_NAMES: [&'static str; 6] = [
        "requirements.txt",
        "dev.requirements.txt",
        "pyproject.toml",
        "setup.py",
        "setup.cfg",
        "Pipfile",
    ];

    /// The project's own suite, as arguments to its interpreter, run from the root with
    /// [`Project::import_root`] on `PYTHONPATH`.
    pub fn suite(self) -> &'static [&'static str] {
        match self {
            Project::Iniconfig => &["-m", "pytest", "-q", "testing"],
            Project::Jmespath => &["-m", "pytest", "-q", "tests"],
            Project::Slugify => &["test.py"],
        }
    }

    /// The vendored bundle.
    pub fn bundle(self) -> PathBuf {
        super::fixture_path(&format!("projects/{}.bundle", self.repo_name()))
    }

    /// The bare copy `origin` of the work tree [`Project::clone_into`] made in `parent`.
    pub fn bare(self, parent: &Path) -> PathBuf {
        parent
            .join("remote")
            .join(format!("{}.git", self.repo_name()))
    }

    /// Clones the project into `<parent>/<repo name>`, on `main` with `origin` at a bare copy
    /// ([`Project::bare`]), committing as a maintainer; returns the work tree.
    pub fn clone_into(self, parent: &Path) -> PathBuf {
        let bare = self.bare(parent);
        let work = parent.join(self.repo_name());
        git(
            parent,
            &[
                "clone",
                "--quiet",
                "--bare",
                &self.bundle().display().to_string(),
                &bare.display().to_string(),
            ],
        );
        git(&bare, &["remote", "remove", "origin"]);
        git(
            parent,
            &[
                "clone",
                "--quiet",
                "--branch",
                "main",
                &bare.display().to_string(),
                &work.display().to_string(),
            ],
        );
        git(&work, &["config", "user.name", "Maintainer"]);
        git(&work, &["config", "user.email", "maintainer@example.com"]);
        work
    }

    /// Whether `path` (relative to the root, `/`-separated) is one of the project's tests: a file in its
    /// test folder, `test*.py`/`*_test.py` anywhere, or a `conftest.py`.
    pub fn is_test_file(self, path: &str) -> bool {
        let name = path.rsplit('/').next().unwrap_or(path);
        path.starts_with(&format!("{}/", self.tests_dir()))
            || (name.ends_with(".py") && (name.starts_with("test") || name.ends_with("_test.py")))
            || name == "conftest.py"
    }
}

/// Runs `git args` in `dir`, failing the test with git's stderr; returns its stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git starts");
    assert!(
        output.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every blob of `commit`'s tree: path → blob id.
pub fn tree_files(
    git: &git2::Repository,
    commit: git2::Oid,
) -> std::collections::BTreeMap<String, git2::Oid> {
    let tree = git
        .find_commit(commit)
        .expect("commit")
        .tree()
        .expect("tree");
    let mut files = std::collections::BTreeMap::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() == Some(git2::ObjectType::Blob) {
            files.insert(format!("{dir}{}", entry.name().unwrap_or("")), entry.id());
        }
        git2::TreeWalkResult::Ok
    })
    .expect("walk");
    files
}
