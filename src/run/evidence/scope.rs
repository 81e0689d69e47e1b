//! The gates a maintainer judges a pull request by on a real project: the project's own tests kept
//! (`existing_tests_kept`) and passing (`project_tests_pass`), and a diff that stays in its lane
//! (`diff_in_scope`) and its size (`within_size`).
//!
//! Invariants:
//! - A test of the project is kept when no test file that existed before the run was deleted and every
//!   test id the project's runner collected before the run is still collected after it. Ids are only
//!   ever compared as the runner listed them; when they cannot be listed, a changed test file fails the
//!   gate rather than passing unchecked.
//! - The suite's result is its runner's own (exit status and summary line), run after the run.
//! - In scope: the source folder, the tests folder, MetaGPT's project folder (or, for a repository in
//!   MetaGPT's layout, the bookkeeping MetaGPT keeps at the root), the bot's evidence (`.metagpt/runs/`),
//!   and a dependency file the run added a package to. Everything else is named.
//! - Size counts added and removed lines outside MetaGPT's project folder and the evidence.

use super::artifacts::Places;
use super::gates::Gate;
use crate::marks::RUNS_DIR;
use crate::run::project::{SuiteRun, TestIds};

pub const EXISTING_TESTS_KEPT: &str = "existing_tests_kept";
pub const PROJECT_TESTS_PASS: &str = "project_tests_pass";
pub const DIFF_IN_SCOPE: &str = "diff_in_scope";
pub const WITHIN_SIZE: &str = "within_size";

/// Paths MetaGPT keeps at the root of a repository in its own layout.
const ROOT_BOOKKEEPING: [&str; 6] = [
    "docs/",
    "resources/",
    "test_outputs/",
    ".dependencies.json",
    "requirements.txt",
    "tests/",
];

/// Lines of ids or paths named in a detail before "and N more".
const NAMED: usize = 10;

/// The project's test suite around the run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectTests {
    /// The suite's command; `None` when the repository has none.
    pub command: Option<String>,
    pub before: Option<TestIds>,
    pub after: Option<TestIds>,
    /// The suite on the tree the run started from, run before the agent: what was already failing.
    pub baseline: Option<SuiteRun>,
    pub run: Option<SuiteRun>,
}

/// What the scope gates look at.
pub struct ScopeInputs<'a> {
    pub places: &'a Places,
    pub source_dir: &'a str,
    pub changed_paths: &'a [String],
    /// Changed paths the start commit had (modified or deleted by the run).
    pub touched_existing: &'a [String],
    /// Of those, the ones deleted.
    pub deleted: &'a [String],
    /// Dependency files a package was added to.
    pub dependency_additions: &'a [String],
    pub project: &'a ProjectTests,
    /// Added plus removed lines per changed path.
    pub line_changes: &'a [(String, u64)],
    pub max_changed_lines: u32,
}

/// The four gates, in their fixed order.
pub fn evaluate(inputs: &ScopeInputs<'_>) -> Vec<Gate> {
    vec![
        existing_tests_kept(inputs),
        project_tests_pass(inputs.project),
        diff_in_scope(inputs),
        within_size(inputs),
    ]
}

fn gate(name: &str, passed: bool, detail: impl Into<String>) -> Gate {
    Gate {
        name: name.to_owned(),
        passed,
        detail: detail.into(),
    }
}

/// Whether `path` is a test file of the project (in its tests folder, or a test file anywhere).
pub fn is_test_path(path: &str, places: &Places) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let in_tests = path.starts_with(&format!("{}/", places.tests_dir));
    name.ends_with(".py") && (in_tests || crate::run::project::suite::is_test_file(name))
}

fn named(items: &[String]) -> String {
    let mut text = items
        .iter()
        .take(NAMED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > NAMED {
        text.push_str(&format!(" and {} more", items.len() - NAMED));
    }
    text
}

fn existing_tests_kept(inputs: &ScopeInputs<'_>) -> Gate {
    let places = inputs.places;
    let deleted: Vec<String> = inputs
        .deleted
        .iter()
        .filter(|p| is_test_path(p, places))
        .cloned()
        .collect();
    if !deleted.is_empty() {
        return gate(
            EXISTING_TESTS_KEPT,
            false,
            format!(
                "the run deleted test files of the project: {}",
                named(&deleted)
            ),
        );
    }
    let modified: Vec<String> = inputs
        .touched_existing
        .iter()
        .filter(|p| is_test_path(p, places))
        .cloned()
        .collect();
    let project = inputs.project;
    match (&project.before, &project.after) {
        (Some(before), Some(after)) => {
            let lost: Vec<String> = before.difference(after).cloned().collect();
            if lost.is_empty() {
                let edited = if modified.is_empty() {
                    String::new()
                } else {
                    format!("; edited: {}", named(&modified))
                };
                gate(
                    EXISTING_TESTS_KEPT,
                    true,
                    format!(
                        "all {} tests collected before the run are still collected ({} now){edited}",
                        before.len(),
                        after.len()
                    ),
                )
            } else {
                gate(
                    EXISTING_TESTS_KEPT,
                    false,
                    format!(
                        "{} of the project's {} tests are gone: {}",
                        lost.len(),
                        before.len(),
                        named(&lost)
                    ),
                )
            }
        }
        _ if !modified.is_empty() => gate(
            EXISTING_TESTS_KEPT,
            false,
            format!(
                "the run changed test files of the project whose tests could not be listed: {}",
                named(&modified)
            ),
        ),
        _ if project.command.is_none() => gate(
            EXISTING_TESTS_KEPT,
            true,
            "no test suite found in the repository; no existing test file was changed",
        ),
        _ => gate(
            EXISTING_TESTS_KEPT,
            true,
            "the suite's tests could not be listed; no existing test file was changed or deleted",
        ),
    }
}

fn project_tests_pass(project: &ProjectTests) -> Gate {
    let (command, run) = match (&project.command, &project.run) {
        (None, _) => {
            return gate(
                PROJECT_TESTS_PASS,
                true,
                "no test suite found in the repository (set `project_tests` in .github/metagpt.yml to name one)",
            );
        }
        (Some(command), None) => {
            return gate(
                PROJECT_TESTS_PASS,
                false,
                format!("`{command}` did not run"),
            );
        }
        (Some(_), Some(run)) => (run.command.trim(), run),
    };
    let result = format!("`{command}`: {}", run.summary);
    let baseline = project.baseline.as_ref().filter(|b| !b.passed);
    let Some(baseline) = baseline.filter(|_| !run.passed) else {
        return gate(PROJECT_TESTS_PASS, run.passed, result);
    };
    // The suite failed before the run too: only what the run broke counts, where the runner names it.
    let before = format!("before the run: {}", baseline.summary);
    match (&baseline.failed, &run.failed) {
        (Some(was), Some(now)) if !now.is_empty() => {
            let new: Vec<String> = now.difference(was).cloned().collect();
            if new.is_empty() {
                gate(
                    PROJECT_TESTS_PASS,
                    true,
                    format!(
                        "{result}; all {} failing tests were already failing before the run ({}), none newly",
                        now.len(),
                        named(&now.iter().cloned().collect::<Vec<_>>())
                    ),
                )
            } else {
                gate(
                    PROJECT_TESTS_PASS,
                    false,
                    format!(
                        "{result}; failing since the run: {} ({before})",
                        named(&new)
                    ),
                )
            }
        }
        _ => gate(
            PROJECT_TESTS_PASS,
            false,
            format!(
                "{result}; it failed {before} too, and its runner names no tests, so what the run broke \
                 cannot be told apart"
            ),
        ),
    }
}

fn in_scope(path: &str, inputs: &ScopeInputs<'_>) -> bool {
    let places = inputs.places;
    let under = |dir: &str| !dir.is_empty() && path.starts_with(&format!("{dir}/"));
    under(inputs.source_dir)
        || under(&places.tests_dir)
        || under(&places.spec_dir)
        || under(RUNS_DIR)
        || (places.spec_dir.is_empty()
            && ROOT_BOOKKEEPING
                .iter()
                .any(|p| path == p.trim_end_matches('/') || path.starts_with(p)))
        || inputs.dependency_additions.iter().any(|d| d == path)
        || is_test_path(path, places)
}

fn diff_in_scope(inputs: &ScopeInputs<'_>) -> Gate {
    let outside: Vec<String> = inputs
        .changed_paths
        .iter()
        .filter(|p| !in_scope(p, inputs))
        .cloned()
        .collect();
    let spec = if inputs.places.spec_dir.is_empty() {
        "MetaGPT's files at the root".to_owned()
    } else {
        format!("{}/", inputs.places.spec_dir)
    };
    if outside.is_empty() {
        gate(
            DIFF_IN_SCOPE,
            true,
            format!(
                "every change is in {}/, {}/ or {spec}",
                inputs.source_dir, inputs.places.tests_dir
            ),
        )
    } else {
        gate(
            DIFF_IN_SCOPE,
            false,
            format!(
                "changed outside the source folder, tests and {spec}: {}",
                named(&outside)
            ),
        )
    }
}

fn within_size(inputs: &ScopeInputs<'_>) -> Gate {
    let spec = inputs.places.spec_dir.as_str();
    let counted: u64 = inputs
        .line_changes
        .iter()
        .filter(|(path, _)| {
            let in_spec = !spec.is_empty() && path.starts_with(&format!("{spec}/"));
            !in_spec && !path.starts_with(&format!("{RUNS_DIR}/"))
        })
        .map(|(_, lines)| lines)
        .sum();
    let max = u64::from(inputs.max_changed_lines);
    gate(
        WITHIN_SIZE,
        counted <= max,
        format!(
            "{counted} changed lines outside MetaGPT's files (at most {max}: `max_changed_lines`)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn places() -> Places {
        Places {
            spec_dir: ".metagpt".into(),
            tests_dir: "tests".into(),
        }
    }

    fn ids(list: &[&str]) -> Option<TestIds> {
        Some(list.iter().map(|s| (*s).to_owned()).collect())
    }

    fn inputs<'a>(
        places: &'a Places,
        changed: &'a [String],
        touched: &'a [String],
        deleted: &'a [String],
        project: &'a ProjectTests,
        lines: &'a [(String, u64)],
    ) -> ScopeInputs<'a> {
        ScopeInputs {
            places,
            source_dir: "jmespath",
            changed_paths: changed,
            touched_existing: touched,
            deleted,
            dependency_additions: &[],
            project,
            line_changes: lines,
            max_changed_lines: 100,
        }
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_lost_test_id_or_a_deleted_test_file_fails_existing_tests_kept() {
        let places = places();
        let project = ProjectTests {
            command: Some("pytest".into()),
            before: ids(&["tests/test_f.py::test_a", "tests/test_f.py::test_b"]),
            after: ids(&[
                "tests/test_f.py::test_a",
                "tests/test_f_metagpt.py::test_new",
            ]),
            baseline: None,
            run: None,
        };
        let touched = strings(&["tests/test_f.py"]);
        let gates = evaluate(&inputs(&places, &touched, &touched, &[], &project, &[]));
        assert_eq!(gates[0].name, EXISTING_TESTS_KEPT);
        assert!(!gates[0].passed);
        assert_eq!(
            gates[0].detail,
            "1 of the project's 2 tests are gone: tests/test_f.py::test_b"
        );
        let deleted = strings(&["tests/test_f.py"]);
        let gates = evaluate(&inputs(
            &places,
            &deleted,
            &deleted,
            &deleted,
            &project,
            &[],
        ));
        assert_eq!(
            gates[0].detail,
            "the run deleted test files of the project: tests/test_f.py"
        );
    }

    #[test]
    fn the_suites_result_decides_project_tests_pass() {
        let places = places();
        let project = ProjectTests {
            command: Some("python -m pytest".into()),
            before: ids(&["t::a"]),
            after: ids(&["t::a"]),
            baseline: None,
            run: Some(SuiteRun {
                command: "python -m pytest -q tests".into(),
                passed: false,
                summary: "1 failed, 3 passed in 0.2s".into(),
                tail: String::new(),
                failed: ids(&["t::a"]),
                limit: None,
            }),
        };
        let gates = evaluate(&inputs(&places, &[], &[], &[], &project, &[]));
        assert!(gates[0].passed, "{:?}", gates[0]);
        assert!(!gates[1].passed);
        assert_eq!(
            gates[1].detail,
            "`python -m pytest -q tests`: 1 failed, 3 passed in 0.2s"
        );
        let none = ProjectTests::default();
        let gates = evaluate(&inputs(&places, &[], &[], &[], &none, &[]));
        assert!(gates[0].passed && gates[1].passed);
    }

    #[test]
    fn a_suite_already_failing_before_the_run_fails_the_gate_only_for_what_the_run_broke() {
        let places = places();
        let suite = |passed: bool, summary: &str, failed: Option<TestIds>| SuiteRun {
            command: "python -m pytest -q tests".into(),
            passed,
            summary: summary.into(),
            tail: String::new(),
            failed,
            limit: None,
        };
        let mut project = ProjectTests {
            command: Some("python -m pytest".into()),
            before: ids(&["t::a", "t::b"]),
            after: ids(&["t::a", "t::b"]),
            baseline: Some(suite(false, "1 failed, 1 passed", ids(&["t::a"]))),
            run: Some(suite(false, "1 failed, 1 passed", ids(&["t::a"]))),
        };
        let gate = |project: &ProjectTests| {
            evaluate(&inputs(&places, &[], &[], &[], project, &[]))[1].clone()
        };
        let still = gate(&project);
        assert!(still.passed, "{still:?}");
        assert_eq!(
            still.detail,
            "`python -m pytest -q tests`: 1 failed, 1 passed; all 1 failing tests were already failing \
             before the run (t::a), none newly"
        );

        project.run = Some(suite(false, "2 failed", ids(&["t::a", "t::b"])));
        let broke = gate(&project);
        assert!(!broke.passed);
        assert_eq!(
            broke.detail,
            "`python -m pytest -q tests`: 2 failed; failing since the run: t::b (before the run: 1 failed, \
             1 passed)"
        );

        // A run that fails without naming a test (it crashed) is not excused by an earlier failure.
        project.run = Some(suite(false, "exit 3", ids(&[])));
        assert!(!gate(&project).passed);
        // Nor is a configured command whose runner names nothing.
        project.baseline = Some(suite(false, "exit 1", None));
        project.run = Some(suite(false, "exit 1", None));
        let opaque = gate(&project);
        assert!(!opaque.passed);
        assert!(opaque.detail.contains("cannot be told apart"), "{opaque:?}");
        // A suite that passes after the run passes, whatever it did before.
        project.run = Some(suite(true, "2 passed", ids(&[])));
        assert!(gate(&project).passed);
    }

    #[test]
    fn changes_outside_the_lanes_and_oversized_diffs_fail() {
        let places = places();
        let project = ProjectTests::default();
        let changed = strings(&[
            "jmespath/functions.py",
            "tests/test_functions_metagpt.py",
            ".metagpt/docs/prd/1.json",
            ".metagpt/runs/issue-1/1/cost.json",
            "README.rst",
            "docs/index.rst",
        ]);
        let lines = vec![
            ("jmespath/functions.py".to_owned(), 60),
            ("tests/test_functions_metagpt.py".to_owned(), 50),
            (".metagpt/docs/prd/1.json".to_owned(), 900),
        ];
        let gates = evaluate(&inputs(&places, &changed, &[], &[], &project, &lines));
        assert!(!gates[2].passed);
        assert_eq!(
            gates[2].detail,
            "changed outside the source folder, tests and .metagpt/: README.rst, docs/index.rst"
        );
        assert!(!gates[3].passed);
        assert_eq!(
            gates[3].detail,
            "110 changed lines outside MetaGPT's files (at most 100: `max_changed_lines`)"
        );
        let root = Places::default();
        let metagpt = strings(&["docs/prd/1.json", "requirements.txt", ".dependencies.json"]);
        let gates = evaluate(&inputs(&root, &metagpt, &[], &[], &project, &[]));
        assert!(gates[2].passed, "{:?}", gates[2]);
    }
}
