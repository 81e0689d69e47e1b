//! What a run reads from git besides the workspace's own operations: the run's iteration and the
//! previous iteration's cost, per-file line counts, the PRD as it was, and restoring protected paths.
//!
//! Invariants: only the repository on disk is read; nothing here commits or moves a branch.
//! Restoring a protected path puts back exactly what the run's start commit had there (or removes a file
//! the run created), never following a symlink.

use std::path::Path;

use crate::domain::RunTarget;
use crate::marks::{COST_JSON, GATES_JSON, evidence_dir, iteration_of, runs_dir};
use crate::run::evidence::{FileChange, IterationRow, Prd, parse_json};
use crate::run::gateway::CostReport;

fn open(root: &Path) -> Result<git2::Repository, String> {
    git2::Repository::open(root)
        .map_err(|e| format!("cannot open {}: {}", root.display(), e.message()))
}

/// The iteration this run is (1 + the highest existing `.metagpt/runs/<target>/<k>/`) and the previous
/// iteration's `cost.json`, if it parses.
pub fn iteration(root: &Path, target: &RunTarget) -> (u32, Option<CostReport>) {
    let runs = root.join(runs_dir(target));
    let last = std::fs::read_dir(&runs)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| iteration_of(e.file_name().to_str()?))
        .max();
    let Some(last) = last else {
        return (1, None);
    };
    let cost = root.join(evidence_dir(target, last)).join(COST_JSON);
    let previous = std::fs::read_to_string(cost)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    (last.saturating_add(1), previous)
}

/// Added and removed lines per changed path between `base` and the work tree (untracked included).
pub fn file_changes(root: &Path, base: git2::Oid) -> Result<Vec<FileChange>, String> {
    let repo = open(root)?;
    let fail = |e: git2::Error| format!("cannot diff the work tree: {}", e.message());
    let tree = repo
        .find_commit(base)
        .and_then(|c| c.tree())
        .map_err(fail)?;
    let mut options = git2::DiffOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .show_untracked_content(true);
    let diff = repo
        .diff_tree_to_workdir_with_index(Some(&tree), Some(&mut options))
        .map_err(fail)?;
    let mut changes = Vec::new();
    for (index, delta) in diff.deltas().enumerate() {
        let Some(path) = delta.new_file().path().or(delta.old_file().path()) else {
            continue;
        };
        let (added, removed) = git2::Patch::from_diff(&diff, index)
            .ok()
            .flatten()
            .and_then(|p| p.line_stats().ok())
            .map_or((0, 0), |(_, a, r)| (a as u64, r as u64));
        changes.push(FileChange {
            path: path.to_string_lossy().into_owned(),
            added,
            removed,
        });
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(changes)
}

/// The PRD at `path` as commit `base` had it.
pub fn prd_at(root: &Path, base: git2::Oid, path: &str) -> Option<Prd> {
    let repo = open(root).ok()?;
    let tree = repo.find_commit(base).ok()?.tree().ok()?;
    let entry = tree.get_path(Path::new(path)).ok()?;
    let blob = repo.find_blob(entry.id()).ok()?;
    let text = std::str::from_utf8(blob.content()).ok()?;
    parse_json(path, text).ok()
}

/// Puts `paths` back as commit `base` had them: restored when it had them, removed otherwise.
pub fn restore(root: &Path, base: git2::Oid, paths: &[String]) -> Result<(), String> {
    if paths.is_empty() {
        return Ok(());
    }
    let repo = open(root)?;
    let fail = |e: git2::Error| format!("cannot restore the protected paths: {}", e.message());
    let commit = repo.find_commit(base).map_err(fail)?;
    let tree = commit.tree().map_err(fail)?;
    let mut tracked = Vec::new();
    for path in paths {
        if tree.get_path(Path::new(path)).is_ok() {
            tracked.push(path.as_str());
        } else {
            let full = root.join(path);
            if full.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
                std::fs::remove_file(&full)
                    .map_err(|e| format!("cannot remove {}: {e}", full.display()))?;
            }
        }
    }
    if !tracked.is_empty() {
        let mut checkout = git2::build::CheckoutBuilder::new();
        checkout.force().update_index(true);
        for path in &tracked {
            checkout.path(path);
        }
        repo.checkout_tree(commit.as_object(), Some(&mut checkout))
            .map_err(fail)?;
    }
    Ok(())
}

/// The iterations table: each earlier iteration's `cost.json`/`gates.json` from the work tree, then
/// `current` (this iteration's cost and verdict).
pub fn iterations(
    root: &Path,
    target: &RunTarget,
    current: &CostReport,
    current_passed: bool,
) -> Vec<IterationRow> {
    let mut rows: Vec<IterationRow> = (1..current.iteration)
        .filter_map(|k| {
            let dir = root.join(evidence_dir(target, k));
            let cost: CostReport =
                serde_json::from_str(&std::fs::read_to_string(dir.join(COST_JSON)).ok()?).ok()?;
            let passed = std::fs::read_to_string(dir.join(GATES_JSON))
                .ok()
                .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
                .and_then(|gates| gates.get("passed")?.as_bool());
            Some(row(k, &cost, passed))
        })
        .collect();
    rows.push(row(current.iteration, current, Some(current_passed)));
    rows
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
