//! The two files exchanged with the wrapper: `job.json` (written here, read by `wrapper.py`) and
//! `result.json` (written by the wrapper, read here).
//!
//! Invariants: the job file holds no secret (the gateway token is only in `config2.yaml`); field names
//! are the wrapper's contract, so renaming one is a change to `wrapper.py` too. A result file that does
//! not parse is reported as such, never taken for success.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::domain::Kind;

/// What the wrapper is asked to do.
#[derive(Debug, Serialize)]
pub(crate) struct Job<'a> {
    pub project_path: &'a Path,
    pub idea: &'a str,
    pub kind: Kind,
    pub n_round: u32,
    pub code_review: bool,
    pub run_tests: bool,
    pub investment: f64,
    pub trace_path: &'a Path,
    pub result_path: &'a Path,
    /// The source folder relative to `project_path`; `None` means MetaGPT's `<repo>/<basename(repo)>/`.
    pub source_dir: Option<&'a Path>,
    /// The model name and its price (USD per 1,000 tokens) so MetaGPT's own counter is not 0.
    pub model: &'a str,
    pub price_per_1k: Option<PricePer1k>,
    /// For a sandboxed run with a network of its own: where `gateway_relay.py` listens and relays to.
    pub gateway_relay: Option<GatewayRelay<'a>>,
}

/// The gateway's address as the agent uses it (`listen`: host and port of its `base_url`) and the
/// gateway's Unix socket, mounted into the sandbox, that the relay connects to.
#[derive(Debug, Serialize)]
pub(crate) struct GatewayRelay<'a> {
    pub listen: (String, u16),
    pub socket: &'a Path,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct PricePer1k {
    pub prompt: f64,
    pub completion: f64,
}

/// Which of MetaGPT's flows ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// A new or changed requirement: PRD, design, tasks, code, review, tests.
    Requirement,
    /// A bug report on a repository MetaGPT worked on before: engineer and QA only.
    Bugfix,
    /// A bug report on a repository without `docs/prd`: MetaGPT's bug flow needs the design and tasks of
    /// an earlier run, so the report went through the requirement flow.
    RequirementForBug,
}

impl Flow {
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::Requirement => "requirement",
            Flow::Bugfix => "bugfix",
            Flow::RequirementForBug => "requirement_for_bug",
        }
    }
}

/// MetaGPT's own cost counters (`ctx.cost_manager`); the gateway's ledger replaces them in reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MetagptCost {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_cost: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    Ok,
    Error,
}

/// What the wrapper reports.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct WrapperResult {
    pub status: Status,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub flow: Option<Flow>,
    #[serde(default)]
    pub rounds: u32,
    #[serde(default)]
    pub idle: bool,
    #[serde(default)]
    pub cost: MetagptCost,
}

/// Reads the wrapper's result file: `Ok(None)` when it was never written, `Err` with the reason when it
/// exists but does not parse.
pub(crate) fn read_result(path: &Path) -> Result<Option<WrapperResult>, String> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        format!(
            "the wrapper's result {} does not parse: {e}",
            path.display()
        )
    })
}

/// Where the job and result files live inside the run's private directory.
pub(crate) struct JobFiles {
    pub job: PathBuf,
    pub result: PathBuf,
}

impl JobFiles {
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            job: dir.join("job.json"),
            result: dir.join("result.json"),
        }
    }
}
