//! Changes on jmespath.py a maintainer would refuse, each of which one gate must catch: the scripted
//! requirement of `changes.rs` (`upper(string)` in `functions.py`, with QA's passing tests), plus one
//! thing a model gets wrong.
//!
//! - [`touches_outside`]: the task list also names the repository's `README.rst` (`../README.rst`) and
//!   the engineer appends a line to it → `diff_in_scope`.
//!
//! Each returns the scenario and what the failing gate must name (a test id, the runner's summary
//! word, a path); the files' texts are built from the work tree when the scenario is made.

use std::path::Path;

use super::Scenario;
use super::changes;
use crate::support::projects::Project;

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
