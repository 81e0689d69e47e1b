//! The evidence folder `.metagpt/runs/<target>/<k>/` (CONTRACT.md) on a branch, and the one module that
//! reads or writes it. A run writes its iteration once ([`Store::write`]): `summary.md`, `gates.json`,
//! `cost.json`, `trace.jsonl` and `llm.jsonl` (copied from where the agent and the gateway wrote them)
//! and `report.json` (the [`Report`] the PR body and the check run are rendered from). The folder is
//! read back for the next iteration's number and the cumulative cost ([`Store::next`]), the iterations
//! table ([`Store::iterations`]), a publish after a crash ([`Store::committed`]) and the tally of a
//! local replay ([`Store::ledger`]).
//!
//! Invariants:
//! - Every path and file name comes from `crate::marks`: the folder is named only after the issue
//!   number or a slug, never free text. Files are written through [`Workspace::write_file`] (no symlink
//!   followed, nothing outside the work tree); a trace or ledger that does not exist (the agent died
//!   before writing it) is written empty.
//! - An earlier iteration whose `cost.json` or `gates.json` is missing or does not parse never fails a
//!   run: it is left out of the iterations table (or shown without a verdict), and the next iteration
//!   then counts from no previous cost.
//! - A committed iteration renders exactly what its run published: `report.json` round-trips through
//!   serde. An iteration written before `report.json` existed (or whose `report.json` no longer parses)
//!   renders its `summary.md` with the closing line (`Closes #N` / `Fixes #N`) and the issue marker, so a
//!   merged PR still closes its issue.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::{EvidenceError, io};
use super::gates::GateReport;
use super::render::Renderer;
use super::report::{IterationRow, Report, closing};
use crate::domain::{Kind, RunTarget};
use crate::marks::{
    self, COST_JSON, GATES_JSON, LLM_JSONL, REPORT_JSON, SUMMARY_MD, TRACE_JSONL, evidence_dir,
    iteration_of, runs_dir,
};
use crate::run::gateway::{CallRecord, CostReport, read_jsonl};
use crate::workspace::Workspace;

/// The evidence of one target (an issue or a local request) on the checked-out branch.
pub struct Store<'a> {
    workspace: &'a Workspace,
    target: &'a RunTarget,
}

/// One iteration's evidence, as the run hands it over to be written.
pub struct Iteration<'a> {
    pub iteration: u32,
    /// The agent's trace and the gateway's ledger, already redacted; `None` or missing: written empty.
    pub trace: Option<&'a Path>,
    pub llm: Option<&'a Path>,
    pub cost: &'a CostReport,
    pub gates: &'a GateReport,
    pub report: &'a Report,
    pub summary_md: &'a str,
}

/// An iteration as committed on the branch, read back to publish it again after a crash.
#[derive(Debug, Clone)]
pub struct Committed {
    pub iteration: u32,
    pub issue: Option<u64>,
    pub gates: GateReport,
    pub cost: CostReport,
    /// `None` for an iteration written before `report.json` existed.
    pub report: Option<Report>,
    pub summary: String,
}

impl<'a> Store<'a> {
    pub fn new(workspace: &'a Workspace, target: &'a RunTarget) -> Self {
        Self { workspace, target }
    }

    /// The folder of `iteration`, relative to the repository.
    pub fn dir(&self, iteration: u32) -> String {
        evidence_dir(self.target, iteration)
    }

    fn path(&self, iteration: u32, name: &str) -> PathBuf {
        self.workspace.root().join(self.dir(iteration)).join(name)
    }

    /// The highest iteration on the branch (`.metagpt/runs/<target>/<k>/`), if any.
    pub fn last(&self) -> Option<u32> {
        let runs = self.workspace.root().join(runs_dir(self.target));
        std::fs::read_dir(runs)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| iteration_of(e.file_name().to_str()?))
            .max()
    }

    /// The iteration a run on this branch would be (1 + the highest existing one), and the previous
    /// iteration's `cost.json` when it parses.
    pub fn next(&self) -> (u32, Option<CostReport>) {
        match self.last() {
            None => (1, None),
            Some(last) => (last.saturating_add(1), self.cost(last)),
        }
    }

    fn cost(&self, iteration: u32) -> Option<CostReport> {
        let text = std::fs::read_to_string(self.path(iteration, COST_JSON)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The iterations table: each earlier iteration's cost and verdict from the branch, then `current`
    /// (this iteration's cost and verdict).
    pub fn iterations(&self, current: &CostReport, current_passed: bool) -> Vec<IterationRow> {
        let mut rows: Vec<IterationRow> = (1..current.iteration)
            .filter_map(|k| {
                let cost = self.cost(k)?;
                let passed = std::fs::read_to_string(self.path(k, GATES_JSON))
                    .ok()
                    .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
                    .and_then(|gates| gates.get("passed")?.as_bool());
                Some(row(k, &cost, passed))
            })
            .collect();
        rows.push(row(current.iteration, current, Some(current_passed)));
        rows
    }

    /// The evidence files of `iteration` as `(path relative to the repository, contents)`, in the order
    /// of `marks::EVIDENCE_FILES`.
    pub fn files(&self, iteration: &Iteration) -> Result<Vec<(String, Vec<u8>)>, EvidenceError> {
        let dir = self.dir(iteration.iteration);
        let path = |name: &str| format!("{dir}/{name}");
        Ok(vec![
            (path(SUMMARY_MD), iteration.summary_md.as_bytes().to_vec()),
            (path(GATES_JSON), iteration.gates.to_json().into_bytes()),
            (path(COST_JSON), pretty(&path(COST_JSON), iteration.cost)?),
            (path(TRACE_JSONL), read_or_empty(iteration.trace)?),
            (path(LLM_JSONL), read_or_empty(iteration.llm)?),
            (
                path(REPORT_JSON),
                pretty(&path(REPORT_JSON), iteration.report)?,
            ),
        ])
    }

    /// Writes the evidence files of `iteration` into the work tree; returns their full paths.
    pub fn write(&self, iteration: &Iteration) -> Result<Vec<PathBuf>, EvidenceError> {
        self.files(iteration)?
            .into_iter()
            .map(|(path, contents)| Ok(self.workspace.write_file(&path, &contents)?))
            .collect()
    }

    /// The last iteration on the branch, as its run committed it.
    pub fn committed(&self) -> Result<Committed, EvidenceError> {
        let iteration = self.last().unwrap_or(1);
        let read = |name: &str| {
            let path = self.path(iteration, name);
            std::fs::read_to_string(&path).map_err(io("reading", path))
        };
        let parse = |name: &str, e: serde_json::Error| EvidenceError::Json {
            path: format!("{}/{name}", self.dir(iteration)),
            message: e.to_string(),
        };
        let gates = serde_json::from_str(&read(GATES_JSON)?).map_err(|e| parse(GATES_JSON, e))?;
        let cost = serde_json::from_str(&read(COST_JSON)?).map_err(|e| parse(COST_JSON, e))?;
        let summary = read(SUMMARY_MD)?;
        let report = match read(REPORT_JSON) {
            Ok(text) => serde_json::from_str(&text)
                .inspect_err(|error| {
                    tracing::warn!(%error, iteration, "report.json does not parse; publishing summary.md");
                })
                .ok(),
            Err(_) => None,
        };
        Ok(Committed {
            iteration,
            issue: self.target.issue(),
            gates,
            cost,
            report,
            summary,
        })
    }

    /// The ledger (`llm.jsonl`) of `iteration`.
    pub fn ledger(&self, iteration: u32) -> Result<Vec<CallRecord>, EvidenceError> {
        read_jsonl(&self.path(iteration, LLM_JSONL)).map_err(EvidenceError::Ledger)
    }
}

impl Committed {
    /// The bot's section of the PR body, as the run that wrote this iteration rendered it; without
    /// `report.json`, its `summary.md` under the closing line for `kind` (the issue's labels decide it),
    /// with the issue marker.
    pub fn pr_section(&self, renderer: &Renderer, kind: Kind) -> Result<String, EvidenceError> {
        if let Some(report) = &self.report {
            return renderer.pr_section(report);
        }
        let content = match self.issue {
            Some(issue) => format!("{}\n\n{}", closing(kind, issue), self.summary),
            None => self.summary.clone(),
        };
        Ok(marks::pr_section(self.issue, &content))
    }

    /// The check run's summary, as the run rendered it; without `report.json`, `summary.md`.
    pub fn check_run_summary(&self, renderer: &Renderer) -> Result<String, EvidenceError> {
        match &self.report {
            Some(report) => renderer.check_run_summary(report),
            None => Ok(self.summary.clone()),
        }
    }
}

fn row(iteration: u32, cost: &CostReport, gates_passed: Option<bool>) -> IterationRow {
    IterationRow {
        iteration,
        calls: cost.total.calls,
        cost_usd: cost.total.cost_usd,
        cumulative_usd: cost.cumulative.cost_usd,
        gates_passed,
    }
}

/// `value` as pretty JSON with a final new line.
fn pretty(path: &str, value: &impl Serialize) -> Result<Vec<u8>, EvidenceError> {
    let mut json = serde_json::to_string_pretty(value).map_err(|e| EvidenceError::Json {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    json.push('\n');
    Ok(json.into_bytes())
}

fn read_or_empty(path: Option<&Path>) -> Result<Vec<u8>, EvidenceError> {
    match path.map(std::fs::read) {
        None => Ok(Vec::new()),
        Some(Ok(bytes)) => Ok(bytes),
        Some(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Some(Err(e)) => Err(io("reading", path.unwrap_or(Path::new("")))(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::Credentials;

    fn workspace() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        git2::Repository::init(dir.path()).unwrap();
        let workspace = Workspace::open(dir.path(), Credentials::none()).unwrap();
        (dir, workspace)
    }

    fn put(root: &Path, relative: &str, text: &str) {
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn cost(iteration: u32, previous: Option<&CostReport>) -> CostReport {
        CostReport::build(iteration, &[], previous)
    }

    #[test]
    fn the_next_iteration_follows_the_highest_one_and_carries_its_cost() {
        let (dir, workspace) = workspace();
        let target = RunTarget::Issue(5);
        let store = Store::new(&workspace, &target);
        assert_eq!(store.last(), None);
        assert_eq!(store.next(), (1, None));

        let first = cost(1, None);
        put(
            dir.path(),
            ".metagpt/runs/5/1/cost.json",
            &serde_json::to_string(&first).unwrap(),
        );
        // Neither a folder named like a padded number nor a file is an iteration.
        std::fs::create_dir_all(dir.path().join(".metagpt/runs/5/07")).unwrap();
        put(dir.path(), ".metagpt/runs/5/9", "not a folder");
        assert_eq!(store.next(), (2, Some(first)));

        // An iteration whose cost.json is unreadable counts, without a previous cost.
        put(dir.path(), ".metagpt/runs/5/2/cost.json", "{");
        assert_eq!(store.next(), (3, None));
        // Other targets are other folders.
        let other = RunTarget::Issue(6);
        assert_eq!(Store::new(&workspace, &other).next(), (1, None));
    }

    #[test]
    fn the_iterations_table_lists_the_readable_earlier_iterations_then_this_one() {
        let (dir, workspace) = workspace();
        let target = RunTarget::Issue(5);
        let store = Store::new(&workspace, &target);
        let first = cost(1, None);
        put(
            dir.path(),
            ".metagpt/runs/5/1/cost.json",
            &serde_json::to_string(&first).unwrap(),
        );
        put(
            dir.path(),
            ".metagpt/runs/5/1/gates.json",
            r#"{"passed": false, "gates": []}"#,
        );
        let second = cost(2, Some(&first));
        put(
            dir.path(),
            ".metagpt/runs/5/2/cost.json",
            &serde_json::to_string(&second).unwrap(),
        );
        put(dir.path(), ".metagpt/runs/5/3/cost.json", "not json");
        let fourth = cost(4, Some(&second));
        let rows = store.iterations(&fourth, true);
        let shown: Vec<(u32, Option<bool>)> =
            rows.iter().map(|r| (r.iteration, r.gates_passed)).collect();
        assert_eq!(shown, vec![(1, Some(false)), (2, None), (4, Some(true))]);
    }

    #[test]
    fn a_branch_without_the_iteration_says_which_file_is_missing() {
        let (_dir, workspace) = workspace();
        let target = RunTarget::Issue(5);
        let error = Store::new(&workspace, &target).committed().unwrap_err();
        let text = error.to_string();
        assert!(text.contains(".metagpt/runs/5/1/gates.json"), "{text}");
    }
}
