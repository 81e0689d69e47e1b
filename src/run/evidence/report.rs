//! What a run is about ([`RunInfo`]: its target, iteration, kind and the MetaGPT flow used) and the data
//! every template renders ([`Report`]: PR body, check-run summary, `summary.md`), built from the run's
//! inputs and evidence. Values are raw; the renderer escapes every string unless a filter marks it safe.
//!
//! Invariants: the closing keyword is `Closes` for a requirement and `Fixes` for a bug fix; lists are in
//! a stable order (tasks in task-list order, then other changed files by path); evidence links point at
//! `.metagpt/runs/<N>/<k>/` (prefixed with `link_base` when given, e.g. a blob URL of the branch).

use serde::{Deserialize, Serialize};

use super::scope::ProjectTests;
use crate::workspace::DependencyReport;

use super::artifacts::{Artifacts, PoolItem, Prd, SpecChange, normalise, prd_change};
use super::gates::{Gate, GateReport, judge};
use super::review::{FileReview, ReviewVerdict, final_verdicts};
use crate::domain::{Flow, Kind, RunTarget};
use crate::marks::{EVIDENCE_FILES, evidence_dir, target_dir};
use crate::run::gateway::CostReport;

/// How the PR and `summary.md` describe `flow`.
fn describe(flow: Flow) -> &'static str {
    match flow {
        Flow::Requirement => "requirement flow (PRD → design → tasks → code → review → tests)",
        Flow::Bugfix => {
            "bug-fix flow (`docs/bugfix.txt`: code → review → tests, existing spec kept)"
        }
        Flow::RequirementForBug => {
            "requirement flow used for a bug report (the repository had no MetaGPT spec for the bug flow)"
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub target: RunTarget,
    /// 1-based.
    pub iteration: u32,
    pub kind: Kind,
    pub flow: Flow,
    /// The issue's title (or the first line of a local request).
    pub title: String,
    /// The text MetaGPT was given (the issue body, plus feedback on later iterations).
    pub request: String,
}

/// A changed file with its line counts (from the run's diff).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    pub path: String,
    pub added: u64,
    pub removed: u64,
}

/// At most this many changed files outside the task list are listed.
const MAX_OTHER_CHANGES: usize = 30;

pub struct ReportInput<'a> {
    pub run: &'a RunInfo,
    pub artifacts: &'a Artifacts,
    pub gates: &'a GateReport,
    pub cost: &'a CostReport,
    pub reviews: &'a [ReviewVerdict],
    pub changes: &'a [FileChange],
    /// The PRD as it was at the base commit, when there was one.
    pub previous_prd: Option<&'a Prd>,
    pub source_dir: &'a str,
    /// Prefix for evidence links (no trailing slash); relative links when `None`.
    pub link_base: Option<&'a str>,
    /// The project's own suite around the run.
    pub project: &'a ProjectTests,
    /// Files that existed before the run and that it modified, and those it deleted.
    pub touched_existing: &'a [String],
    pub deleted: &'a [String],
    /// What the run did to the dependency files.
    pub dependencies: &'a DependencyReport,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub issue: Option<u64>,
    pub closing: Option<String>,
    pub target: String,
    pub iteration: u32,
    pub kind: String,
    pub flow: String,
    pub title: String,
    pub request: String,
    pub spec: Option<Spec>,
    pub tasks: Vec<TaskRow>,
    pub other_changes: Vec<FileChange>,
    pub other_changes_omitted: usize,
    pub tests: Vec<TestRow>,
    pub cost: CostReport,
    pub gates: Vec<Gate>,
    pub gates_passed: bool,
    pub evidence: Vec<Link>,
    /// Every iteration of the target so far, this one last (filled by the run from the branch's
    /// earlier `cost.json`/`gates.json`; empty until then).
    pub iterations: Vec<IterationRow>,
    /// Files that existed before the run and that it changed, shown first in the PR.
    #[serde(default)]
    pub existing_changed: Vec<ExistingChange>,
    /// The project's own suite after the run; `None` when the repository has none.
    #[serde(default)]
    pub project_suite: Option<SuiteRow>,
    /// Packages added to a requirements file (`file: line`), and packages the run asked for that were
    /// not added anywhere.
    #[serde(default)]
    pub dependencies_added: Vec<String>,
    #[serde(default)]
    pub dependencies_not_added: Vec<String>,
}

/// A file that existed before the run and that the run changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExistingChange {
    pub path: String,
    /// `modified` or `deleted`.
    pub how: String,
}

/// The project's suite as the PR shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteRow {
    pub command: String,
    /// `None`: it did not run.
    pub passed: Option<bool>,
    pub summary: String,
    /// The runner's summary on the tree the run started from, when the suite failed there already.
    #[serde(default)]
    pub failing_before: Option<String>,
}

/// One iteration in the PR's iterations table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterationRow {
    pub iteration: u32,
    pub calls: u64,
    pub cost_usd: f64,
    pub cumulative_usd: f64,
    /// `None` when that iteration's `gates.json` is missing or unreadable.
    pub gates_passed: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub path: String,
    pub changed: bool,
    pub requirements: String,
    pub goals: Vec<String>,
    pub pool: Vec<PoolItem>,
    pub change: Option<SpecChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRow {
    pub file: String,
    pub description: String,
    pub changed: bool,
    pub added: u64,
    pub removed: u64,
    pub review: String,
    pub review_rounds: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestRow {
    pub file: String,
    pub passed: bool,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub name: String,
    pub href: String,
}

pub fn build(input: &ReportInput) -> Report {
    let run = input.run;
    let issue = run.target.issue();
    let (tasks, other) = task_rows(input);
    let dir = evidence_dir(&run.target, run.iteration);
    let base = input
        .link_base
        .map(|b| format!("{}/", b.trim_end_matches('/')))
        .unwrap_or_default();
    let failing_before = input
        .project
        .baseline
        .as_ref()
        .filter(|b| !b.passed)
        .map(|b| b.summary.clone());
    Report {
        issue,
        closing: issue.map(|n| closing(run.kind, n)),
        target: issue.map_or_else(
            || format!("local run {}", target_dir(&run.target)),
            |n| format!("issue #{n}"),
        ),
        iteration: run.iteration,
        kind: match run.kind {
            Kind::Requirement => "requirement",
            Kind::Bugfix => "bug fix",
        }
        .to_owned(),
        flow: describe(run.flow).to_owned(),
        title: run.title.clone(),
        request: run.request.clone(),
        spec: spec(input),
        tasks,
        other_changes_omitted: other.len().saturating_sub(MAX_OTHER_CHANGES),
        other_changes: other.into_iter().take(MAX_OTHER_CHANGES).collect(),
        tests: test_rows(input.artifacts),
        cost: input.cost.clone(),
        gates: input.gates.gates.clone(),
        gates_passed: input.gates.passed,
        evidence: EVIDENCE_FILES
            .iter()
            .map(|name| Link {
                name: (*name).to_owned(),
                href: format!("{base}{dir}/{name}"),
            })
            .collect(),
        iterations: Vec::new(),
        existing_changed: input
            .touched_existing
            .iter()
            .filter(|p| !is_bookkeeping(p, &input.artifacts.places))
            .map(|path| ExistingChange {
                path: path.clone(),
                how: if input.deleted.contains(path) {
                    "deleted"
                } else {
                    "modified"
                }
                .to_owned(),
            })
            .collect(),
        project_suite: input
            .project
            .command
            .as_ref()
            .map(|command| match &input.project.run {
                Some(run) => SuiteRow {
                    command: run.command.trim().to_owned(),
                    passed: Some(run.passed),
                    summary: run.summary.clone(),
                    failing_before: failing_before.clone(),
                },
                None => SuiteRow {
                    command: command.trim().to_owned(),
                    passed: None,
                    summary: "did not run".to_owned(),
                    failing_before: failing_before.clone(),
                },
            }),
        dependencies_added: input
            .dependencies
            .added
            .iter()
            .map(|(file, line)| format!("{file}: {line}"))
            .collect(),
        dependencies_not_added: input
            .dependencies
            .not_added
            .iter()
            .map(|(_, line)| line.clone())
            .collect(),
    }
}

/// MetaGPT's own files (in a project folder of their own) and the bot's evidence: not the project's.
fn is_bookkeeping(path: &str, places: &super::artifacts::Places) -> bool {
    let spec = &places.spec_dir;
    (!spec.is_empty() && path.starts_with(&format!("{spec}/")))
        || path.starts_with(&format!("{}/", crate::marks::RUNS_DIR))
}

/// The line that closes `issue` when the PR is merged: `Closes #N` for a requirement, `Fixes #N` for a
/// bug fix.
pub fn closing(kind: Kind, issue: u64) -> String {
    let keyword = match kind {
        Kind::Requirement => "Closes",
        Kind::Bugfix => "Fixes",
    };
    format!("{keyword} #{issue}")
}

fn spec(input: &ReportInput) -> Option<Spec> {
    let doc = input
        .artifacts
        .prds
        .iter()
        .find(|d| d.changed)
        .or(input.artifacts.prds.first())?;
    let change = input
        .previous_prd
        .filter(|_| doc.changed)
        .map(|previous| prd_change(previous, &doc.value));
    Some(Spec {
        path: doc.path.clone(),
        changed: doc.changed,
        requirements: doc.value.requirements(),
        goals: doc.value.goals(),
        pool: doc.value.requirement_pool(),
        change,
    })
}

fn task_rows(input: &ReportInput) -> (Vec<TaskRow>, Vec<FileChange>) {
    let dir = input.source_dir;
    let verdicts = final_verdicts(input.reviews);
    let review_of = |name: &str| -> Option<FileReview> {
        verdicts
            .iter()
            .find(|(file, _)| normalise(file, dir) == name)
            .map(|(_, r)| *r)
    };
    let mut rows = Vec::new();
    for tasks in &input.artifacts.tasks {
        let analysis = tasks.value.logic_analysis();
        for entry in tasks.value.task_list() {
            let name = normalise(&entry, dir);
            if rows.iter().any(|r: &TaskRow| r.file == name) {
                continue;
            }
            let path = format!("{}/{name}", dir.trim_matches('/'));
            let change = input.changes.iter().find(|c| c.path == path);
            let review = review_of(&name);
            rows.push(TaskRow {
                description: analysis
                    .iter()
                    .find(|(file, _)| normalise(file, dir) == name)
                    .map(|(_, what)| what.clone())
                    .unwrap_or_default(),
                changed: change.is_some(),
                added: change.map_or(0, |c| c.added),
                removed: change.map_or(0, |c| c.removed),
                review: review.map_or_else(
                    || "not reviewed".to_owned(),
                    |r| r.verdict.label().to_owned(),
                ),
                review_rounds: review.map_or(0, |r| r.rounds),
                file: name,
            });
        }
    }
    let in_tasks = |path: &str| {
        rows.iter()
            .any(|r| format!("{}/{}", dir.trim_matches('/'), r.file) == path)
    };
    let mut other: Vec<FileChange> = input
        .changes
        .iter()
        .filter(|c| !in_tasks(&c.path))
        .cloned()
        .collect();
    other.sort_by(|a, b| a.path.cmp(&b.path));
    (rows, other)
}

fn test_rows(artifacts: &Artifacts) -> Vec<TestRow> {
    artifacts
        .test_outputs
        .iter()
        .filter(|d| d.changed)
        .map(|d| {
            let verdict = judge(&d.value);
            TestRow {
                file: d
                    .path
                    .trim_start_matches("test_outputs/")
                    .trim_end_matches(".json")
                    .to_owned(),
                passed: verdict.passed,
                detail: verdict.reason,
            }
        })
        .collect()
}
