//! The evidence of a finished run: gates, cost, report, `.metagpt/runs/<target>/<k>/` and the
//! `--out` copies.
//!
//! Invariants: the trace and the ledger are redacted (provider key, run token, credential shapes) before
//! they are written anywhere; review verdicts come from the wrapper's `reviews.jsonl` and a malformed
//! line is skipped with a warning (the gate then reports the file as never reviewed, so nothing passes
//! by accident).

use std::path::{Path, PathBuf};

use crate::redact::redact;
use crate::run::evidence::{
    Budget, EvidenceInput, GateInputs, GateReport, Renderer, Report, ReportInput, ReviewVerdict,
    RunInfo, build_report, collect, evaluate, write_evidence,
};
use crate::run::gateway::{CallRecord, CostReport};
use crate::workspace::{SourceLayout, Workspace};

use super::repo;

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
}

/// Evaluates the gates, writes the evidence into the work tree and, with `out`, the copies there.
pub fn write(done: &Finished<'_>, scratch: &Path) -> Result<Written, String> {
    let root = done.workspace.root();
    let changed = done
        .workspace
        .changed_paths(done.start)
        .map_err(|e| e.to_string())?;
    let artifacts = collect(root, &changed).map_err(|e| e.to_string())?;
    let reviews = read_reviews(done.reviews);
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
    let cost = CostReport::build(done.run.iteration, done.ledger, done.previous_cost);
    let changes = repo::file_changes(root, done.start)?;
    let previous_prd = artifacts
        .prds
        .iter()
        .find(|d| d.changed)
        .and_then(|d| repo::prd_at(root, done.start, &d.path));
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
    });
    report.iterations = repo::iterations(root, &done.run.target, &cost, gates.passed);
    let renderer = Renderer::new(None).map_err(|e| e.to_string())?;
    let summary = renderer.summary(&report).map_err(|e| e.to_string())?;
    let trace = redacted_copy(done.trace, &scratch.join("trace.jsonl"), done.secrets)?;
    let llm = redacted_copy(done.llm, &scratch.join("llm.jsonl"), done.secrets)?;
    let input = EvidenceInput {
        target: &done.run.target,
        iteration: done.run.iteration,
        trace: Some(&trace),
        llm: Some(&llm),
        cost: &cost,
        gates: &gates,
        summary_md: &summary,
    };
    write_evidence(done.workspace, &input).map_err(|e| e.to_string())?;
    if let Some(out) = done.out {
        let body = renderer.pr_section(&report).map_err(|e| e.to_string())?;
        write_out(out, &body, &cost, &gates, &trace)?;
    }
    Ok(Written {
        dir: crate::marks::evidence_dir(&done.run.target, done.run.iteration),
        gates,
        report,
        cost,
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
fn redacted_copy(from: &Path, to: &Path, secrets: &[String]) -> Result<PathBuf, String> {
    let text = match std::fs::read(from) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", from.display())),
    };
    let known: Vec<&str> = secrets.iter().map(String::as_str).collect();
    std::fs::write(to, redact(&text, &known))
        .map_err(|e| format!("cannot write {}: {e}", to.display()))?;
    Ok(to.to_path_buf())
}

fn write_out(
    out: &Path,
    body: &str,
    cost: &CostReport,
    gates: &GateReport,
    trace: &Path,
) -> Result<(), String> {
    let fail =
        |what: &str, e: std::io::Error| format!("cannot write {what} into {}: {e}", out.display());
    std::fs::create_dir_all(out).map_err(|e| fail("the folder", e))?;
    let mut cost_json = serde_json::to_string_pretty(cost).map_err(|e| e.to_string())?;
    cost_json.push('\n');
    std::fs::write(out.join("pr-body.md"), body).map_err(|e| fail("pr-body.md", e))?;
    std::fs::write(out.join("cost.json"), cost_json).map_err(|e| fail("cost.json", e))?;
    std::fs::write(out.join("gates.json"), gates.to_json()).map_err(|e| fail("gates.json", e))?;
    std::fs::copy(trace, out.join("trace.jsonl")).map_err(|e| fail("trace.jsonl", e))?;
    Ok(())
}
