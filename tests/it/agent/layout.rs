//! End to end on a project MetaGPT never generated: the real MetaGPT 0.8.2 and the scripted team
//! (`support/sop_llm`) on a `src/<package>/` layout whose package is named unlike the repository, with a
//! module named like the standard library's `ast` and the project's own `tests/test_calc.py`.
//!
//! What a maintainer relies on: MetaGPT's bookkeeping lands in `.metagpt/` only (later runs read it back);
//! no file starts with MetaGPT's `## <file>` header line; the project's test file stays byte-identical and
//! QA's tests go to a new file; QA's test run imports the package from `src/` with the run's own
//! interpreter and never pip-installs into MetaGPT's venv; MetaGPT commits nothing and creates no git
//! repository; files MetaGPT never wrote neither crash SummarizeCode nor send a bug report into MetaGPT's
//! bug flow (which needs a record of every source file), which takes the requirement flow instead.
//!
//! Skipped, with the reason printed, when neither `METAGPT_PYTHON` nor `.venv-metagpt/bin/python` exists.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::fixture::commit_all;
use crate::support::sop_llm;

use metagpt_bot::domain::{Flow, Kind};
use sop_llm::harness::{
    Bench, Layout, assert_code, assert_test_passed_in, json_docs, metagpt_python, read,
};
use sop_llm::{Scenario, python, seed};

const PACKAGE: &str = "calcpkg";
const SPEC_DIR: &str = ".metagpt";

/// The project's own tests of `calc.py`, which QA must keep as they are.
const PROJECT_TEST_CALC: &str = "import unittest\n\nfrom calcpkg.calc import add\n\n\nclass TestAdd(unittest.TestCase):\n    def test_small(self):\n        self.assertEqual(add(1, 2), 3)\n\n    def test_negative(self):\n        self.assertEqual(add(-1, -2), -3)\n";

/// A module of the package named like the standard library's `ast`: on `PYTHONPATH` as a folder, it
/// breaks `import unittest` (`module 'ast' has no attribute 'NodeVisitor'`).
const SHADOWING_AST: &str = "\"\"\"Expression trees of the calculator.\"\"\"\n\n\ndef parse(text: str) -> list:\n    return text.split()\n";

/// `<parent>/calc-project`: `src/calcpkg/{__init__,ast,calc}.py`, `tests/test_calc.py`, `pyproject.toml`,
/// committed once as "project".
fn src_layout_repository(parent: &Path) -> PathBuf {
    let repo = parent.join("calc-project");
    let package = repo.join("src").join(PACKAGE);
    std::fs::create_dir_all(&package).expect("package folder");
    std::fs::create_dir_all(repo.join("tests")).expect("tests folder");
    let files: [(PathBuf, &str); 6] = [
        (repo.join(".gitignore"), "__pycache__/\n*.pyc\n"),
        (
            repo.join("pyproject.toml"),
            "[project]\nname = \"calcpkg\"\nversion = \"0.1.0\"\n",
        ),
        (
            package.join("__init__.py"),
            "\"\"\"A tiny calculator.\"\"\"\n",
        ),
        (package.join("ast.py"), SHADOWING_AST),
        (package.join("calc.py"), python::SEED_CALC),
        (repo.join("tests").join("test_calc.py"), PROJECT_TEST_CALC),
    ];
    for (path, text) in files {
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    git2::Repository::init(&repo).expect("git init");
    commit_all(&repo, "project");
    repo
}

/// What every interpreter start of the project venv writes to stderr (its `sitecustomize`).
const PROJECT_VENV_MARK: &str = "[the run's project venv]";

/// The run's own project venv (no pip; the standard library is all the tests need), outside the repo,
/// marking every start of its interpreter with [`PROJECT_VENV_MARK`] on stderr.
fn project_venv(python: &Path, dir: &Path) -> PathBuf {
    let venv = dir.join("project-venv");
    let status = Command::new(python)
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .expect("python -m venv");
    assert!(status.success(), "python -m venv failed");
    let venv_python = venv.join("bin").join("python");
    let mark = format!("import sys\nsys.stderr.write({PROJECT_VENV_MARK:?} + '\\n')\n");
    std::fs::write(site_packages(&venv_python).join("sitecustomize.py"), mark)
        .expect("sitecustomize.py");
    venv_python
}

/// The site-packages folder of `python`.
fn site_packages(python: &Path) -> PathBuf {
    let out = Command::new(python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ])
        .output()
        .expect("python");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// What the MetaGPT venv has installed: the entries of its site-packages.
fn installed(python: &Path) -> Vec<String> {
    let site = site_packages(python);
    let mut names: Vec<String> = std::fs::read_dir(&site)
        .unwrap_or_else(|e| panic!("{}: {e}", site.display()))
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Paths (relative to the repository) the run changed or added, from `git status`.
fn changed_paths(repo: &Path) -> Vec<String> {
    let repository = git2::Repository::open(repo).expect("open");
    let mut options = git2::StatusOptions::new();
    options.include_untracked(true).recurse_untracked_dirs(true);
    let statuses = repository.statuses(Some(&mut options)).expect("status");
    let mut paths: Vec<String> = statuses
        .iter()
        .filter_map(|s| s.path().ok().map(str::to_owned))
        .collect();
    paths.sort();
    paths
}

/// The code as the scripted team writes it for this layout, without its header line.
fn expected(text: &str) -> String {
    Scenario::requirement("")
        .in_package(PACKAGE)
        .block("", text)
}

#[tokio::test]
async fn on_a_src_layout_metagpt_keeps_to_its_folder_and_the_project_tests_and_env_stay_as_they_were()
 {
    let Some(python) = metagpt_python() else {
        return;
    };
    let bench = Bench::start(python.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = src_layout_repository(dir.path());
    let layout = Layout {
        source_dir: Some(PathBuf::from(format!("src/{PACKAGE}"))),
        spec_dir: SPEC_DIR.into(),
        tests_dir: "tests".into(),
        import_roots: vec!["src".into()],
        project_python: Some(project_venv(&python, dir.path())),
    };
    let venv_before = installed(&python);

    // A requirement, the scripted model writing MetaGPT's `## <file>` line atop every block.
    let idea = "Add a subtract function to the calculator and a main program";
    let scenario = Scenario::requirement(idea)
        .in_package(PACKAGE)
        .with_header_lines();
    let ran = bench
        .run_in(&repo, &layout, Kind::Requirement, idea, scenario)
        .await;
    assert_eq!(ran.outcome.flow, Flow::Requirement);
    assert!(ran.outcome.idle, "the team stopped before it was done");

    // Bookkeeping in .metagpt/ only; the code in src/calcpkg/, the tests in tests/.
    let changed = changed_paths(&repo);
    let allowed = [".metagpt/", "src/calcpkg/", "tests/"];
    let stray: Vec<&String> = changed
        .iter()
        .filter(|p| !allowed.iter().any(|a| p.starts_with(a)) && *p != "requirements.txt")
        .collect();
    assert!(stray.is_empty(), "outside the run's folders: {stray:?}");
    for root_folder in [
        "docs",
        "resources",
        "test_outputs",
        ".dependencies.json",
        "calc-project",
    ] {
        assert!(
            !repo.join(root_folder).exists(),
            "{root_folder} at the root"
        );
    }
    assert_eq!(read(&repo.join(".metagpt/docs/requirement.txt")), idea);
    assert_eq!(json_docs(&repo, ".metagpt/docs/prd").len(), 1);
    assert_eq!(json_docs(&repo, ".metagpt/docs/task").len(), 1);
    let dependencies: serde_json::Value =
        serde_json::from_str(&read(&repo.join(".metagpt/.dependencies.json"))).expect("JSON");
    let calc_deps = dependencies["src/calcpkg/calc.py"]
        .as_array()
        .unwrap_or_else(|| panic!("no root-relative key for calc.py: {dependencies}"));
    assert!(
        calc_deps.iter().any(|d| d
            .as_str()
            .unwrap_or_default()
            .starts_with(".metagpt/docs/task/")),
        "{calc_deps:?}"
    );
    assert!(
        !repo.join(".metagpt/.git").exists(),
        "a nested git repository"
    );
    assert_eq!(seed::commit_messages(&repo), vec!["project".to_owned()]);

    // The code without header lines; the project's tests untouched, QA's in a new file.
    assert_code(&repo, "src/calcpkg/calc.py", &expected(python::CALC));
    assert_code(&repo, "src/calcpkg/main.py", &expected(python::MAIN));
    assert_eq!(read(&repo.join("tests/test_calc.py")), PROJECT_TEST_CALC);
    assert_code(
        &repo,
        "tests/test_calc_metagpt.py",
        &expected(python::TEST_CALC),
    );
    assert_code(&repo, "tests/test_main.py", &expected(python::TEST_MAIN));
    for path in changed.iter().filter(|p| p.ends_with(".py")) {
        let text = read(&repo.join(path));
        assert!(!text.starts_with("## "), "{path} starts with a header line");
    }
    // QA's tests ran from the repository root with src/ as the import root: the package's ast.py
    // did not shadow the standard library, and the tests passed.
    assert_test_passed_in(&repo, SPEC_DIR, "test_calc_metagpt.py");
    assert_test_passed_in(&repo, SPEC_DIR, "test_main.py");
    let output = read(&repo.join(".metagpt/test_outputs/test_calc_metagpt.py.json"));
    assert!(
        output.contains(PROJECT_VENV_MARK),
        "not the project's interpreter: {output}"
    );
    assert_eq!(
        installed(&python),
        venv_before,
        "QA installed into MetaGPT's venv"
    );
    ran.assert_costs_match_the_script();

    // A bug report once that result is merged: MetaGPT's records cover calc.py and main.py but not
    // __init__.py and ast.py, so the bug flow would die on them; the requirement flow takes it, reading
    // back the PRD of the first run from .metagpt/.
    commit_all(&repo, "requirement run");
    let bug = "calc accepts strings: add(\"2\", \"3\") returns \"23\" instead of refusing them";
    let ran = bench
        .run_in(
            &repo,
            &layout,
            Kind::Bugfix,
            bug,
            Scenario::bugfix(bug).in_package(PACKAGE),
        )
        .await;
    assert_eq!(ran.outcome.flow, Flow::RequirementForBug);
    assert!(ran.outcome.idle, "the team stopped before it was done");
    assert_eq!(
        json_docs(&repo, ".metagpt/docs/prd").len(),
        1,
        "the PRD is refined in place"
    );
    assert_code(&repo, "src/calcpkg/calc.py", &expected(python::CALC_FIXED));
    assert_eq!(read(&repo.join("tests/test_calc.py")), PROJECT_TEST_CALC);
    assert_code(
        &repo,
        "tests/test_calc_metagpt.py",
        &expected(python::TEST_CALC),
    );
    assert_code(
        &repo,
        "tests/test_calc_metagpt_2.py",
        &expected(python::TEST_CALC_FIXED),
    );
    assert_test_passed_in(&repo, SPEC_DIR, "test_calc_metagpt_2.py");
    assert_eq!(
        installed(&python),
        venv_before,
        "QA installed into MetaGPT's venv"
    );
    assert_eq!(
        seed::commit_messages(&repo),
        vec!["requirement run".to_owned(), "project".to_owned()]
    );
}
