//! The evidence folder `.metagpt/runs/<N>/<k>/` (CONTRACT.md): `trace.jsonl` and `llm.jsonl` copied from
//! where the agent and the gateway wrote them, `cost.json` (the gateway's `CostReport`), `gates.json` and
//! `summary.md`.
//!
//! Invariants: the folder name comes only from the issue number or a slug, never from free text; files
//! are written through [`Workspace::write_file`] (no symlink followed, nothing outside the work tree); a
//! trace or ledger that does not exist (the agent died before writing it) is written empty.

use std::path::{Path, PathBuf};

use super::error::{EvidenceError, io};
use super::gates::GateReport;
use crate::domain::RunTarget;
use crate::marks::{COST_JSON, GATES_JSON, LLM_JSONL, SUMMARY_MD, TRACE_JSONL, evidence_dir};
use crate::run::gateway::CostReport;
use crate::workspace::Workspace;

pub struct EvidenceInput<'a> {
    pub target: &'a RunTarget,
    pub iteration: u32,
    pub trace: Option<&'a Path>,
    pub llm: Option<&'a Path>,
    pub cost: &'a CostReport,
    pub gates: &'a GateReport,
    pub summary_md: &'a str,
}

/// The evidence files as `(path relative to the repository, contents)`.
pub fn evidence_files(input: &EvidenceInput) -> Result<Vec<(String, Vec<u8>)>, EvidenceError> {
    let dir = evidence_dir(input.target, input.iteration);
    let mut cost = serde_json::to_string_pretty(input.cost).map_err(|e| EvidenceError::Json {
        path: format!("{dir}/{COST_JSON}"),
        message: e.to_string(),
    })?;
    cost.push('\n');
    Ok(vec![
        (
            format!("{dir}/{SUMMARY_MD}"),
            input.summary_md.as_bytes().to_vec(),
        ),
        (
            format!("{dir}/{GATES_JSON}"),
            input.gates.to_json().into_bytes(),
        ),
        (format!("{dir}/{COST_JSON}"), cost.into_bytes()),
        (format!("{dir}/{TRACE_JSONL}"), read_or_empty(input.trace)?),
        (format!("{dir}/{LLM_JSONL}"), read_or_empty(input.llm)?),
    ])
}

/// Writes the evidence files into the workspace; returns their full paths.
pub fn write_evidence(
    workspace: &Workspace,
    input: &EvidenceInput,
) -> Result<Vec<PathBuf>, EvidenceError> {
    evidence_files(input)?
        .into_iter()
        .map(|(path, contents)| Ok(workspace.write_file(&path, &contents)?))
        .collect()
}

fn read_or_empty(path: Option<&Path>) -> Result<Vec<u8>, EvidenceError> {
    match path.map(std::fs::read) {
        None => Ok(Vec::new()),
        Some(Ok(bytes)) => Ok(bytes),
        Some(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Some(Err(e)) => Err(io("reading", path.unwrap_or(Path::new("")))(e)),
    }
}
