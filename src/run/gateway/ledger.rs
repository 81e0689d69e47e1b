//! The per-run ledger: one `CallRecord` per agent call, kept in memory and appended to `llm.jsonl`; the
//! provider's token `Usage` it counts; and `cost.json` (`CostReport`, CONTRACT.md "Evidence formats")
//! built from the records.
//!
//! Invariants:
//! - A record holds labels, counts, prices, timings, the hash of the request and the answer the agent
//!   received (so a recorded run can be replayed for audit, see `recording.rs`), never prompt text; every
//!   free-text field (`error`, the answer's body) is redacted before it is stored. Each record is written
//!   as one JSON line as soon as the call ends, so a crash loses at most the call in flight.
//! - Token counts come only from the provider's `usage` object; when it sent none (or a malformed one),
//!   `usage_reported` is false and the counts are 0, never guessed.
//! - A cost report's totals are exact sums of the records; `by_role` has one entry per (role, model),
//!   sorted by role then model; `cumulative` is this iteration's total plus the cumulative total of the
//!   previous iteration's `cost.json` (so it covers every iteration of the issue).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::classify::Step;
use crate::redact::redact;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// 1-based order of the call within its run.
    pub seq: u64,
    /// RFC 3339 time the call started.
    pub ts: String,
    pub role: String,
    pub step: Step,
    /// The model the agent asked for.
    pub model: String,
    pub provider: String,
    pub stream: bool,
    /// The HTTP status the agent received.
    pub status: u16,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub usage_reported: bool,
    pub cost_usd: f64,
    /// False when the model had no price (its cost counts as 0).
    pub priced: bool,
    pub latency_ms: u64,
    /// Upstream attempts made (0 when refused before forwarding).
    pub attempts: u32,
    /// SHA-256 (hex) of the exact request body the agent sent: the key under which a replay finds the answer.
    pub request_hash: String,
    /// SHA-256 (hex) of the request with its volatile parts folded (test timings, temporary directory
    /// names, see `recording::normalise`); present only when the request had such parts. An audit replay accepts
    /// a request whose normalised hash is this one as the same call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalised_hash: Option<String>,
    /// Answered without calling the provider: from the retry cache (nothing paid, tokens and cost 0) or
    /// from an audit recording (the recorded tokens and cost).
    #[serde(default)]
    pub replayed: bool,
    /// How an audit replay found this call in its recording: the same request (`exact`), or one that
    /// differs from it only in the volatile parts listed in `tolerated` (`normalised`). Absent for calls
    /// not answered from a recording.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayMatch>,
    /// What an audit replay folded to accept this call (`test_duration`, `temp_dir`); empty when exact.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerated: Vec<Fold>,
    /// A redacted reason when the call did not succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The answer the agent received, when the provider (or a replay) gave one. Absent in ledgers written
    /// before answers were kept, and for calls the gateway itself failed (`error` says why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<RecordedResponse>,
}

/// How an audit replay matched a call to its recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayMatch {
    /// The request was byte for byte the recorded one.
    Exact,
    /// The request differed from the recorded one (same step, same model) only in volatile parts.
    Normalised,
}

/// A kind of volatile text `recording::normalise` folds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fold {
    /// How long a test run took, in a test runner's summary line.
    TestDuration,
    /// The random name of a temporary directory (`/tmp/.tmpAbC123`, `/tmp/tmpab_cd123`, pytest's
    /// `/tmp/pytest-of-user/pytest-7`).
    TempDir,
}

impl std::fmt::Display for Fold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Fold::TestDuration => "test durations",
            Fold::TempDir => "temporary directory names",
        })
    }
}

/// An answer as the agent received it, redacted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The body as text: JSON for a whole answer, the SSE events for a stream.
    pub body: String,
    /// True when the stored body differs from the bytes the agent received: a credential-shaped word was
    /// redacted, or the bytes were not UTF-8. A replay serves the stored body.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub altered: bool,
}

impl RecordedResponse {
    /// The answer `body`, with `secrets` and credential shapes redacted.
    pub(crate) fn new(content_type: Option<&str>, body: &[u8], secrets: &[&str]) -> Self {
        let text = String::from_utf8_lossy(body);
        let stored = redact(&text, secrets);
        Self {
            content_type: content_type.map(str::to_owned),
            altered: stored.as_bytes() != body,
            body: stored,
        }
    }
}

/// Appends records to `llm.jsonl`.
#[derive(Debug)]
pub struct JsonlSink {
    file: Mutex<File>,
}

impl JsonlSink {
    /// Opens (creating, appending) the ledger file at `path`.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self {
            file: Mutex::new(file),
        })
    }

    /// Writes one line; a failed write is logged, never fatal to the agent's call.
    pub fn append(&self, record: &CallRecord) {
        let line = match serde_json::to_string(record) {
            Ok(line) => line + "\n",
            Err(error) => return tracing::error!(%error, "llm ledger record did not serialise"),
        };
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(error) = file.write_all(line.as_bytes()).and_then(|()| file.flush()) {
            tracing::error!(%error, "could not append to llm.jsonl");
        }
    }
}

/// Reads back an `llm.jsonl` file (for `cost.json` of earlier iterations and for audits).
pub fn read_jsonl(path: &Path) -> anyhow::Result<Vec<CallRecord>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            serde_json::from_str(line)
                .map_err(|e| anyhow::anyhow!("{} line {}: {e}", path.display(), n + 1))
        })
        .collect()
}

// ---- usage, as the provider reports it ----

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Usage {
    /// The `usage` of a chat completion or of a streamed chunk.
    pub fn from_response(body: &Value) -> Option<Usage> {
        let usage = body.get("usage")?;
        Some(Usage {
            prompt_tokens: usage.get("prompt_tokens")?.as_u64()?,
            completion_tokens: usage
                .get("completion_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        })
    }
}

// ---- cost.json, built from the records ----

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub calls: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
}

impl Totals {
    fn add(&mut self, record: &CallRecord) {
        self.calls += 1;
        self.prompt_tokens += record.prompt_tokens;
        self.completion_tokens += record.completion_tokens;
        self.cost_usd += record.cost_usd;
    }

    fn plus(&self, other: &Totals) -> Totals {
        Totals {
            calls: self.calls + other.calls,
            prompt_tokens: self.prompt_tokens + other.prompt_tokens,
            completion_tokens: self.completion_tokens + other.completion_tokens,
            cost_usd: self.cost_usd + other.cost_usd,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleCost {
    pub role: String,
    pub model: String,
    #[serde(flatten)]
    pub totals: Totals,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostReport {
    pub currency: String,
    pub iteration: u32,
    pub total: Totals,
    pub by_role: Vec<RoleCost>,
    pub cumulative: Totals,
}

impl CostReport {
    /// The report for iteration `iteration` from its records and the previous iteration's report.
    pub fn build(iteration: u32, records: &[CallRecord], previous: Option<&CostReport>) -> Self {
        let mut total = Totals::default();
        let mut groups: BTreeMap<(String, String), Totals> = BTreeMap::new();
        for record in records {
            total.add(record);
            groups
                .entry((record.role.clone(), record.model.clone()))
                .or_default()
                .add(record);
        }
        let by_role = groups
            .into_iter()
            .map(|((role, model), totals)| RoleCost {
                role,
                model,
                totals,
            })
            .collect();
        let cumulative = previous.map_or_else(|| total.clone(), |p| p.cumulative.plus(&total));
        Self {
            currency: "USD".to_owned(),
            iteration,
            total,
            by_role,
            cumulative,
        }
    }
}
