//! The quality gates of one run and `gates.json` (CONTRACT.md: `{"passed","gates":[{name,passed,detail}]}`).
//!
//! Invariants: every gate is always present, in a fixed order, with a detail a reviewer can act on (it
//! names the files at fault); the report passes only when every gate passes. Gates are pure functions
//! of the collected artifacts, the files on disk under the repository root and the inputs below.
//! A check turned off in the repository's settings (code review, tests) passes and says so.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::artifacts::{Artifacts, DESIGN_DIR, PRD_DIR, TASK_DIR};
use super::review::{FileReview, ReviewVerdict, Verdict, final_verdicts};
use super::sop::{Design, Prd};
use super::source::{SourceFile, changed_sources, normalise};
use crate::domain::Kind;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gate {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateReport {
    pub passed: bool,
    pub gates: Vec<Gate>,
}

impl GateReport {
    pub fn new(gates: Vec<Gate>) -> Self {
        Self {
            passed: gates.iter().all(|g| g.passed),
            gates,
        }
    }

    pub fn get(&self, name: &str) -> Option<&Gate> {
        self.gates.iter().find(|g| g.name == name)
    }

    /// `gates.json`, pretty-printed, with a final new line.
    pub fn to_json(&self) -> String {
        let mut json = serde_json::to_string_pretty(self).unwrap_or_default();
        json.push('\n');
        json
    }
}

/// What the run spent against its budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub spent_usd: f64,
    pub max_usd: f64,
    /// The gateway refused a call because the budget was spent.
    pub exhausted: bool,
}

/// Everything the gates need besides the artifacts.
#[derive(Debug, Clone)]
pub struct GateInputs<'a> {
    pub kind: Kind,
    /// The source folder relative to the root (`<name>` in MetaGPT's layout, or `source_dir`).
    pub source_dir: &'a str,
    pub changed_paths: &'a [String],
    /// Review calls in order (see `review`).
    pub reviews: &'a [ReviewVerdict],
    pub code_review: bool,
    pub run_tests: bool,
    pub budget: Budget,
    /// Changed paths that match the protected patterns.
    pub protected_touched: &'a [String],
    /// Exact secret values that must not appear (provider key, tokens).
    pub known_secrets: &'a [String],
}

pub const PRD_VALID: &str = "prd_valid";
pub const DESIGN_PRESENT: &str = "design_present";
pub const TASKS_COVER_CHANGES: &str = "tasks_cover_changes";
pub const CODE_REVIEWED: &str = "code_reviewed";
pub const TESTS_WRITTEN: &str = "tests_written";
pub const TESTS_PASS: &str = "tests_pass";
pub const WITHIN_BUDGET: &str = "within_budget";
pub const PROTECTED_PATHS: &str = "protected_paths";
pub const NO_SECRETS_IN_DIFF: &str = "no_secrets_in_diff";

/// Evaluates every gate.
pub fn evaluate(root: &Path, artifacts: &Artifacts, inputs: &GateInputs) -> GateReport {
    let sources = changed_sources(root, inputs.source_dir, inputs.changed_paths);
    GateReport::new(vec![
        prd_valid(artifacts, inputs.kind),
        design_present(artifacts, inputs.kind),
        tasks_cover_changes(artifacts, inputs.source_dir, &sources),
        code_reviewed(inputs, &sources),
        super::gates_tests::tests_written(artifacts, inputs.run_tests, &sources),
        super::gates_tests::tests_pass(artifacts, inputs.run_tests, &sources),
        super::gates_policy::within_budget(inputs.budget),
        super::gates_policy::protected_paths(inputs.protected_touched),
        super::gates_policy::no_secrets(root, inputs),
    ])
}

pub(crate) fn gate(name: &str, passed: bool, detail: impl Into<String>) -> Gate {
    Gate {
        name: name.to_owned(),
        passed,
        detail: detail.into(),
    }
}

/// Documents of one kind: invalid ones fail, missing ones fail, present ones must have `required`.
fn documents_gate<'a>(
    name: &str,
    what: &str,
    dir: &str,
    artifacts: &Artifacts,
    docs: impl Iterator<Item = (&'a str, bool, Vec<String>)>,
    kind: Kind,
) -> Gate {
    if let Some(bad) = artifacts.invalid_in(dir).next() {
        return gate(
            name,
            false,
            format!("{} is not valid: {}", bad.path, bad.error),
        );
    }
    let docs: Vec<_> = docs.collect();
    if docs.is_empty() {
        return gate(name, false, format!("no {what} in {dir}/"));
    }
    if kind == Kind::Requirement && !docs.iter().any(|(_, changed, _)| *changed) {
        return gate(
            name,
            false,
            format!("the run did not write or update a {what} in {dir}/"),
        );
    }
    for (path, _, missing) in &docs {
        if !missing.is_empty() {
            return gate(
                name,
                false,
                format!("{path} lacks `{}`", missing.join("`, `")),
            );
        }
    }
    let paths: Vec<&str> = docs.iter().map(|(p, _, _)| *p).collect();
    let how = if docs.iter().any(|(_, changed, _)| *changed) {
        "written by this run"
    } else {
        "kept from an earlier run (bug fix)"
    };
    gate(name, true, format!("{} ({how})", paths.join(", ")))
}

fn prd_valid(artifacts: &Artifacts, kind: Kind) -> Gate {
    let docs = artifacts.prds.iter().map(|d| {
        (
            d.path.as_str(),
            d.changed,
            d.value.fields.missing(Prd::REQUIRED),
        )
    });
    documents_gate(PRD_VALID, "PRD", PRD_DIR, artifacts, docs, kind)
}

fn design_present(artifacts: &Artifacts, kind: Kind) -> Gate {
    let docs = artifacts.designs.iter().map(|d| {
        (
            d.path.as_str(),
            d.changed,
            d.value.fields.missing(Design::REQUIRED),
        )
    });
    documents_gate(
        DESIGN_PRESENT,
        "system design",
        DESIGN_DIR,
        artifacts,
        docs,
        kind,
    )
}

fn tasks_cover_changes(artifacts: &Artifacts, source_dir: &str, sources: &[SourceFile]) -> Gate {
    if let Some(bad) = artifacts.invalid_in(TASK_DIR).next() {
        return gate(
            TASKS_COVER_CHANGES,
            false,
            format!("{} is not valid: {}", bad.path, bad.error),
        );
    }
    if artifacts.tasks.is_empty() {
        return gate(
            TASKS_COVER_CHANGES,
            false,
            format!("no task document in {TASK_DIR}/"),
        );
    }
    let listed: Vec<String> = artifacts
        .tasks
        .iter()
        .flat_map(|d| d.value.task_list())
        .map(|t| normalise(&t, source_dir))
        .collect();
    let uncovered: Vec<&str> = sources
        .iter()
        .filter(|s| !listed.contains(&s.name))
        .map(|s| s.path.as_str())
        .collect();
    if uncovered.is_empty() {
        gate(
            TASKS_COVER_CHANGES,
            true,
            format!(
                "all {} changed source files are in the task list",
                sources.len()
            ),
        )
    } else {
        gate(
            TASKS_COVER_CHANGES,
            false,
            format!("changed but not in the task list: {}", uncovered.join(", ")),
        )
    }
}

fn code_reviewed(inputs: &GateInputs, sources: &[SourceFile]) -> Gate {
    if !inputs.code_review {
        return gate(
            CODE_REVIEWED,
            true,
            "not required: code review is off in the settings",
        );
    }
    let verdicts: BTreeMap<String, FileReview> = final_verdicts(inputs.reviews)
        .into_iter()
        .map(|(file, review)| (normalise(&file, inputs.source_dir), review))
        .collect();
    let mut problems = Vec::new();
    for source in sources {
        match verdicts.get(&source.name) {
            Some(r) if r.verdict == Verdict::Lgtm => {}
            Some(r) => problems.push(format!(
                "{} (last of {} reviews: {})",
                source.path,
                r.rounds,
                r.verdict.label()
            )),
            None => problems.push(format!("{} (never reviewed)", source.path)),
        }
    }
    if problems.is_empty() {
        let reviewed: Vec<&str> = sources.iter().map(|s| s.path.as_str()).collect();
        gate(
            CODE_REVIEWED,
            true,
            format!(
                "all {} changed source files ended with LGTM{}{}",
                sources.len(),
                if reviewed.is_empty() { "" } else { ": " },
                reviewed.join(", ")
            ),
        )
    } else {
        gate(
            CODE_REVIEWED,
            false,
            format!("not approved: {}", problems.join(", ")),
        )
    }
}
