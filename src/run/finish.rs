//! What a run does once the agent succeeded: protected paths put back, the evidence gathered (gates,
//! cost, report) and written into `.metagpt/runs/<target>/<k>/` with the `--out` copies, then the run's
//! one commit.
//!
//! Invariants:
//! - Restoring a protected path puts back exactly what the run's start commit had there (or removes a
//!   file the run created), never following a symlink; it happens before the evidence is gathered, so
//!   nothing protected is ever committed.
//! - The trace and the ledger are redacted (provider key, run token, credential shapes) before they are
//!   written anywhere; review verdicts come from the wrapper's `reviews.jsonl` and a malformed line is
//!   skipped with a warning (the gate then reports the file as never reviewed, so nothing passes by
//!   accident).
//! - Changes (gates, line counts, the PRD's change) are measured against the commit the run started
//!   from, so an iteration is judged on its own; git is only read here, except for the one commit.
//! - The commit is made only after the evidence is written; it is the bot's, with a message that names
//!   the target, the iteration and the gates' verdict (and the caller's trailer, e.g. the job).

use std::path::{Path, PathBuf};

use super::error::RunError;
use crate::marks::{COST_JSON, GATES_JSON, LLM_JSONL, TRACE_JSONL};
use crate::redact::redact;
use crate::run::evidence::{
    Budget, EvidenceError, FileChange, GateInputs, GateReport, Iteration, Places, Prd,
    ProjectTests, Renderer, Report, ReportInput, ReviewVerdict, RunInfo, ScopeInputs, Store,
    build_report, collect, evaluate, evaluate_scope, parse_json,
};
use crate::run::gateway::{CallRecord, CostReport};
use crate::workspace::{CommitOutcome, CommitRequest, SourceLayout, Workspace, WorkspaceError};

/// What the run produced, as the gates and the report need it.
pub struct Finished<'a> {
    pub workspace: &'a Workspace,
    pub run: &'a RunInfo,
    /// The commit the run started from (changes are measured against it).
    pub start: git2::Oid,
    pub layout: &'a SourceLayout,
    pub code_review: bool,
    pub run_tests: bool,
    pub protected_touched: &'a [String],
    /// The project's suite before and after the agent.
    pub project: &'a ProjectTests,
    pub max_changed_lines: u32,
    pub budget: Budget,
    pub ledger: &'a [CallRecord],
    pub previous_cost: Option<&'a CostReport>,
    /// The agent's trace and reviews, and the gateway's ledger, in the run's private directory.
    pub trace: &'a Path,
    pub reviews: &'a Path,
    pub llm: &'a Path,
    /// Exact secret values: the provider key and the run token.
    pub secrets: &'a [String],
    pub out: Option<&'a Path>,
    /// Prefix for the report's evidence links (e.g. the branch's blob URL); relative when `None`.
    pub link_base: Option<&'a str>,
}

/// The written evidence.
pub struct Written {
    pub gates: GateReport,
    pub report: Report,
    pub cost: CostReport,
    pub dir: String,
    /// The PR body's bot section and the check run's summary, rendered from `report`.
    pub pr_section: String,
    pub check_summary: String,
}

/// Puts the protected paths the agent changed since `start` back as `start` had them; returns them
/// (the `protected_paths` gate names them).
pub fn restore_protected(
    workspace: &Workspace,
    start: git2::Oid,
    patterns: &[String],
) -> Result<Vec<String>, WorkspaceError> {
    let touched = workspace.protected_changes(start, patterns)?;
    restore(workspace.root(), start, &touched)?;
    Ok(touched)
}

/// Evaluates the gates, writes the evidence into the work tree and, with `out`, the copies there.
pub fn write(done: &Finished<'_>, scratch: &Path) -> Result<Written, RunError> {
    let spent = done.budget;
    let git = |error| RunError::Git {
        error,
        spent: Some(spent),
    };
    let evidence = |error| RunError::Evidence { error, spent };
    let root = done.workspace.root();
    let changed = done.workspace.changed_paths(done.start).map_err(git)?;
    let dependencies = done
        .workspace
        .settle_dependencies(done.start, &changed)
        .map_err(git)?;
    let changed = done.workspace.changed_paths(done.start).map_err(git)?;
    let places = Places {
        spec_dir: done.layout.spec_dir.clone(),
        tests_dir: done.layout.tests_dir.clone(),
    };
    let artifacts = collect(root, &places, &changed).map_err(evidence)?;
    let reviews = read_reviews(done.reviews);
    let changes = file_changes(root, done.start).map_err(git)?;
    let (touched, deleted) = existing_changes(root, done.start, &changed).map_err(git)?;
    let line_changes: Vec<(String, u64)> = changes
        .iter()
        .map(|c| (c.path.clone(), c.added + c.removed))
        .collect();
    let additions: Vec<String> = dependencies.added.iter().map(|(f, _)| f.clone()).collect();
    let scope = evaluate_scope(&ScopeInputs {
        places: &places,
        source_dir: &done.layout.source_dir,
        changed_paths: &changed,
        touched_existing: &touched,
        deleted: &deleted,
        dependency_additions: &additions,
        project: done.project,
        line_changes: &line_changes,
        max_changed_lines: done.max_changed_lines,
    });
    let gates = evaluate(
        root,
        &artifacts,
        &GateInputs {
            kind: done.run.kind,
            source_dir: &done.layout.source_dir,
            changed_paths: &changed,
            reviews: &reviews,
            code_review: done.code_review,
            run_tests: done.run_tests,
            budget: done.budget,
            protected_touched: done.protected_touched,
            known_secrets: done.secrets,
        },
    );
    let gates = GateReport::new(gates.gates.into_iter().chain(scope).collect());
    let cost = CostReport::build(done.run.iteration, done.ledger, done.previous_cost);
    let previous_prd = artifacts
        .prds
        .iter()
        .find(|d| d.changed)
        .and_then(|d| prd_at(root, done.start, &d.path));
    let mut report = build_report(&ReportInput {
        run: done.run,
        artifacts: &artifacts,
        gates: &gates,
        cost: &cost,
        reviews: &reviews,
        changes: &changes,
        previous_prd: previous_prd.as_ref(),
        source_dir: &done.layout.source_dir,
        link_base: done.link_base,
        project: done.project,
        touched_existing: &touched,
        deleted: &deleted,
        dependencies: &dependencies,
    });
    let store = Store::new(done.workspace, &done.run.target);
    report.iterations = store.iterations(&cost, gates.passed);
    let renderer = Renderer::new().map_err(evidence)?;
    let summary = renderer.summary(&report).map_err(evidence)?;
    let trace =
        redacted_copy(done.trace, &scratch.join(TRACE_JSONL), done.secrets).map_err(evidence)?;
    let llm = redacted_copy(done.llm, &scratch.join(LLM_JSONL), done.secrets).map_err(evidence)?;
    store
        .write(&Iteration {
            iteration: done.run.iteration,
            trace: Some(&trace),
            llm: Some(&llm),
            cost: &cost,
            gates: &gates,
            report: &report,
            summary_md: &summary,
        })
        .map_err(evidence)?;
    let pr_section = renderer.pr_section(&report).map_err(evidence)?;
    let check_summary = renderer.check_run_summary(&report).map_err(evidence)?;
    if let Some(out) = done.out {
        write_out(out, &pr_section, &cost, &gates, &trace).map_err(evidence)?;
    }
    Ok(Written {
        dir: store.dir(done.run.iteration),
        gates,
        report,
        cost,
        pr_section,
        check_summary,
    })
}

/// The body of the run's commit message: the title, the gates' verdict, where the evidence is, and the
/// caller's trailer (e.g. the job's).
pub fn commit_body(title: &str, written: &Written, trailer: Option<&str>) -> String {
    let verdict = if written.gates.passed {
        "All quality gates passed.".to_owned()
    } else {
        let failed: Vec<&str> = written
            .gates
            .gates
            .iter()
            .filter(|g| !g.passed)
            .map(|g| g.name.as_str())
            .collect();
        format!("Quality gates failed: {}.", failed.join(", "))
    };
    let mut body = format!("{title}\n\n{verdict}\nEvidence: {}/", written.dir);
    if let Some(trailer) = trailer {
        body.push_str("\n\n");
        body.push_str(trailer);
    }
    body
}

/// The run's one commit: everything the agent and the evidence wrote, as the bot; `None` when the work
/// tree did not change at all.
pub fn commit(
    workspace: &Workspace,
    request: &CommitRequest<'_>,
) -> Result<Option<git2::Oid>, WorkspaceError> {
    Ok(match workspace.commit_all(request)? {
        CommitOutcome::Committed(id) => Some(id),
        CommitOutcome::NoChanges => None,
    })
}

/// The wrapper's review verdicts, one `{"file","verdict"}` a line, in call order.
fn read_reviews(path: &Path) -> Vec<ReviewVerdict> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .filter_map(|line| match serde_json::from_str(line) {
            Ok(verdict) => Some(verdict),
            Err(error) => {
                tracing::warn!(%error, "skipping a malformed line of reviews.jsonl");
                None
            }
        })
        .collect()
}

/// Copies `from` (missing: empty) to `to` with the secrets redacted; returns `to`.
fn redacted_copy(from: &Path, to: &Path, secrets: &[String]) -> Result<PathBuf, EvidenceError> {
    let text = match std::fs::read(from) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io("cannot read", from, e)),
    };
    let known: Vec<&str> = secrets.iter().map(String::as_str).collect();
    std::fs::write(to, redact(&text, &known)).map_err(|e| io("cannot write", to, e))?;
    Ok(to.to_path_buf())
}

/// The `--out` copies: `pr-body.md`, `cost.json`, `gates.json`, `trace.jsonl`.
fn write_out(
    out: &Path,
    body: &str,
    cost: &CostReport,
    gates: &GateReport,
    trace: &Path,
) -> Result<(), EvidenceError> {
    let write = |name: &str, bytes: &[u8]| {
        let path = out.join(name);
        std::fs::write(&path, bytes).map_err(|e| io("cannot write", &path, e))
    };
    std::fs::create_dir_all(out).map_err(|e| io("cannot create", out, e))?;
    let mut cost_json = serde_json::to_string_pretty(cost).map_err(|e| EvidenceError::Json {
        path: out.join(COST_JSON).display().to_string(),
        message: e.to_string(),
    })?;
    cost_json.push('\n');
    write("pr-body.md", body.as_bytes())?;
    write(COST_JSON, cost_json.as_bytes())?;
    write(GATES_JSON, gates.to_json().as_bytes())?;
    let copy = out.join(TRACE_JSONL);
    std::fs::copy(trace, &copy).map_err(|e| io("cannot write", &copy, e))?;
    Ok(())
}

fn io(action: &'static str, path: &Path, source: std::io::Error) -> EvidenceError {
    EvidenceError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

fn open(root: &Path) -> Result<git2::Repository, WorkspaceError> {
    git2::Repository::open(root).map_err(git(format!("opening {}", root.display())))
}

fn git(action: impl Into<String>) -> impl FnOnce(git2::Error) -> WorkspaceError {
    let action = action.into();
    move |source| WorkspaceError::Git { action, source }
}

/// Added and removed lines per changed path between `base` and the work tree (untracked included).
fn file_changes(root: &Path, base: git2::Oid) -> Result<Vec<FileChange>, WorkspaceError> {
    let repo = open(root)?;
    let action = "diffing the work tree";
    let tree = repo
        .find_commit(base)
        .and_then(|c| c.tree())
        .map_err(git(action))?;
    let mut options = git2::DiffOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .show_untracked_content(true);
    let diff = repo
        .diff_tree_to_workdir_with_index(Some(&tree), Some(&mut options))
        .map_err(git(action))?;
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

/// Of `changed`, the paths commit `base` had (the run modified or deleted them), and of those the
/// ones the work tree no longer has.
fn existing_changes(
    root: &Path,
    base: git2::Oid,
    changed: &[String],
) -> Result<(Vec<String>, Vec<String>), WorkspaceError> {
    let repo = open(root)?;
    let tree = repo
        .find_commit(base)
        .and_then(|c| c.tree())
        .map_err(git("reading the start commit"))?;
    let touched: Vec<String> = changed
        .iter()
        .filter(|p| tree.get_path(Path::new(p)).is_ok())
        .cloned()
        .collect();
    let deleted = touched
        .iter()
        .filter(|p| root.join(p).symlink_metadata().is_err())
        .cloned()
        .collect();
    Ok((touched, deleted))
}

/// The PRD at `path` as commit `base` had it.
fn prd_at(root: &Path, base: git2::Oid, path: &str) -> Option<Prd> {
    let repo = open(root).ok()?;
    let tree = repo.find_commit(base).ok()?.tree().ok()?;
    let entry = tree.get_path(Path::new(path)).ok()?;
    let blob = repo.find_blob(entry.id()).ok()?;
    let text = std::str::from_utf8(blob.content()).ok()?;
    parse_json(path, text).ok()
}

/// Puts `paths` back as commit `base` had them: restored when it had them, removed otherwise.
fn restore(root: &Path, base: git2::Oid, paths: &[String]) -> Result<(), WorkspaceError> {
    if paths.is_empty() {
        return Ok(());
    }
    let repo = open(root)?;
    let action = "restoring the protected paths";
    let commit = repo.find_commit(base).map_err(git(action))?;
    let tree = commit.tree().map_err(git(action))?;
    let mut tracked = Vec::new();
    for path in paths {
        if tree.get_path(Path::new(path)).is_ok() {
            tracked.push(path.as_str());
        } else {
            let full = root.join(path);
            if full.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
                std::fs::remove_file(&full).map_err(|source| WorkspaceError::Io {
                    action: format!("removing {}", full.display()),
                    source,
                })?;
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
            .map_err(git(action))?;
    }
    Ok(())
}
