//! Changes on jmespath.py a maintainer would refuse, each of which one gate must catch: the scripted
//! requirement of `changes.rs` (`upper(string)` in `functions.py`, with QA's passing tests), plus one
//! thing a model gets wrong.
//!
//! - [`deletes_a_test`]: the task list also names the project's `tests/test_functions.py` (as
//!   `../tests/test_functions.py`, relative to the source folder, the way MetaGPT's task list names
//!   files) and the engineer rewrites it without its last test → `existing_tests_kept`.
//! - [`breaks_the_suite`]: the new `functions.py` also makes `length()` count one too many, which the
//!   project's compliance tests catch and QA's tests of `upper` do not → `project_tests_pass`.
//! - [`touches_outside`]: the task list also names the repository's `README.rst` (`../README.rst`) and
//!   the engineer appends a line to it → `diff_in_scope`.
//!
//! Each returns the scenario and what the failing gate must name (a test id, the runner's summary
//! word, a path); the files' texts are built from the work tree when the scenario is made.

use std::path::Path;

use super::Scenario;
use super::changes;
use crate::support::projects::Project;

/// The project's test file the engineer rewrites, relative to the root.
const TEST_FILE: &str = "tests/test_functions.py";
/// The test [`deletes_a_test`] drops: the last one of [`TEST_FILE`].
const DROPPED_TEST: &str = "test_variadic_is_pluralized";
/// The file outside the source folder, its tests and `.metagpt/` that [`touches_outside`] edits.
const OUTSIDE_FILE: &str = "README.rst";

/// What a gate must name when it fails.
pub struct Overreach {
    pub scenario: Scenario,
    /// The failing gate.
    pub gate: &'static str,
    /// What its detail names.
    pub named: String,
}

/// The requirement with the project's existing test file rewritten without [`DROPPED_TEST`].
pub fn deletes_a_test(work: &Path) -> Overreach {
    let text = read(work, TEST_FILE);
    let marker = format!("    def {DROPPED_TEST}(self):\n");
    let at = text
        .find(&marker)
        .unwrap_or_else(|| panic!("{TEST_FILE} has no {DROPPED_TEST}"));
    // The dropped test is the file's last: everything from its `def` on goes.
    let kept = text[..at].trim_end().to_owned() + "\n";
    let scenario = with_extra_task(
        work,
        "jmespath: add upper(string) and tidy the functions' tests",
        &format!("../{TEST_FILE}"),
        "Tidy the error-message tests of the functions",
        kept,
    );
    Overreach {
        scenario,
        gate: "existing_tests_kept",
        named: format!("{TEST_FILE}::TestFunctions::{DROPPED_TEST}"),
    }
}

/// The requirement whose new `functions.py` also breaks `length()`.
pub fn breaks_the_suite(work: &Path) -> Overreach {
    let mut scenario = changes::requirement(Project::Jmespath, work);
    scenario.requirement =
        "jmespath: add upper(string) and make length() count like the other functions".to_owned();
    let script = scenario.script.as_mut().expect("a project scenario");
    let (_, code) = &mut script.code[0];
    let correct = "    def _func_length(self, arg):\n        return len(arg)\n";
    assert_eq!(code.matches(correct).count(), 1, "functions.py's length()");
    *code = code.replace(
        correct,
        "    def _func_length(self, arg):\n        return len(arg) + 1\n",
    );
    Overreach {
        scenario,
        gate: "project_tests_pass",
        named: "failed".to_owned(),
    }
}

/// The requirement plus a line appended to the repository's README.
pub fn touches_outside(work: &Path) -> Overreach {
    let readme = read(work, OUTSIDE_FILE) + "\nNew in this version: ``upper(string)``.\n";
    let scenario = with_extra_task(
        work,
        "jmespath: add upper(string) and announce it in the README",
        &format!("../{OUTSIDE_FILE}"),
        "Mention upper() in the README",
        readme,
    );
    Overreach {
        scenario,
        gate: "diff_in_scope",
        named: OUTSIDE_FILE.to_owned(),
    }
}

/// jmespath's requirement under `request`, with `file` (relative to the source folder) added to the task
/// list as `what`, written as `text`. QA writes no tests for it: MetaGPT's QA skips files that are not
/// Python or whose name says `test`.
fn with_extra_task(work: &Path, request: &str, file: &str, what: &str, text: String) -> Scenario {
    let mut scenario = changes::requirement(Project::Jmespath, work);
    scenario.requirement = request.to_owned();
    let script = scenario.script.as_mut().expect("a project scenario");
    script.tasks.push((file.to_owned(), what.to_owned()));
    script.plan.push(format!("In {file}: {what}"));
    script.change.push(format!(
        "```diff\n--- Old/{file}\n+++ New/{file}\n+(the whole file)\n```"
    ));
    script.code.push((file.to_owned(), text));
    scenario
}

fn read(work: &Path, path: &str) -> String {
    std::fs::read_to_string(work.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}
