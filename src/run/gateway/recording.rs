//! Audit replay: a recorded `llm.jsonl` answers a run again, offline, call for call.
//!
//! A run opened with a [`Recording`] (`Gateway::open_replay`) never calls the provider. Each call gets
//! the first recorded call not yet answered whose request had the same SHA-256 (`request_hash`), so
//! repeated identical requests get the recorded answers in their recorded order, and calls MetaGPT makes
//! in a different order from run to run (QA tests files in set order) still find theirs. When no
//! recorded call had the exact request, a call whose request had volatile parts (`normalise.rs`: test
//! timings, temporary directory names) gets the first unanswered recorded call of the same SOP step and
//! model whose request normalises to the same hash, marked `normalised` with what was folded. The
//! agent receives the recorded status and body (a recorded gateway failure comes back
//! as the same status with its recorded, redacted message), and the replay's ledger gets a record with
//! the recorded usage and cost, marked `replayed`, so a faithful replay has the recording's totals.
//!
//! Invariants: each recorded call answers at most once. A call that the recording does not hold (a body
//! that differs in anything but its volatile parts, another step or model, or one occurrence more than
//! recorded) is refused with "not in the recording: the run diverged at call N, step X", recorded in the ledger and
//! remembered as the run's divergence; nothing is ever forwarded. A recording is checked whole when it
//! is loaded: a ledger written before answers were kept is refused then, not halfway through a replay.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use anyhow::bail;

use super::classify::Step;
use super::error::GatewayError;
use super::ledger::{CallRecord, ReplayMatch, read_jsonl};

/// The calls of a recorded run, indexed by request.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    records: Vec<CallRecord>,
    /// Positions in `records` of each request hash, in call order.
    by_request: HashMap<String, Vec<usize>>,
}

impl Recording {
    /// Reads a recorded `llm.jsonl` (as written by the gateway, or as committed under `.metagpt/runs/`).
    pub fn load(path: &Path) -> anyhow::Result<Recording> {
        let records = read_jsonl(path)?;
        Recording::from_records(records).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// Indexes `records`; refuses records that hold no answer to replay.
    pub fn from_records(records: Vec<CallRecord>) -> anyhow::Result<Recording> {
        if records.is_empty() {
            bail!("the recording holds no LLM calls, so there is nothing to replay");
        }
        if let Some(record) = records
            .iter()
            .find(|r| r.response.is_none() && r.error.is_none())
        {
            bail!(
                "call {} ({}) has no recorded answer: this ledger was written by a metagpt-bot that did \
                 not keep answers, so it cannot be replayed; record the run again with this version",
                record.seq,
                record.step
            );
        }
        let mut by_request: HashMap<String, Vec<usize>> = HashMap::new();
        for (index, record) in records.iter().enumerate() {
            by_request
                .entry(record.request_hash.clone())
                .or_default()
                .push(index);
        }
        Ok(Recording {
            records,
            by_request,
        })
    }

    /// The recorded calls, in order.
    pub fn records(&self) -> &[CallRecord] {
        &self.records
    }
}

/// What a replayed call asks: its exact hash, its normalised hash (when it had volatile parts), its
/// SOP step and model.
pub(crate) struct Asked<'a> {
    pub request_hash: &'a str,
    pub normalised_hash: Option<&'a str>,
    pub step: Step,
    pub model: &'a str,
}

/// A recording being replayed by one run: which recorded calls were already answered.
#[derive(Debug)]
pub(crate) struct Replayer {
    recording: Recording,
    used: Mutex<Vec<bool>>,
}

impl Replayer {
    pub(crate) fn new(recording: Recording) -> Self {
        let used = Mutex::new(vec![false; recording.records.len()]);
        Self { recording, used }
    }

    /// The recorded answer to this call, and how it was matched; `call` (the replay's call number)
    /// names the divergence when there is none.
    pub(crate) fn next(
        &self,
        asked: &Asked<'_>,
        call: u64,
    ) -> Result<(&CallRecord, ReplayMatch), GatewayError> {
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        let exact = self
            .recording
            .by_request
            .get(asked.request_hash)
            .and_then(|positions| positions.iter().copied().find(|&i| !used[i]));
        let found = match (exact, asked.normalised_hash) {
            (Some(index), _) => Some((index, ReplayMatch::Exact)),
            (None, Some(normalised)) => self
                .recording
                .records
                .iter()
                .enumerate()
                .position(|(i, r)| {
                    !used[i]
                        && r.step == asked.step
                        && r.model == asked.model
                        && r.normalised_hash.as_deref().unwrap_or(&r.request_hash) == normalised
                })
                .map(|index| (index, ReplayMatch::Normalised)),
            (None, None) => None,
        };
        match found {
            Some((index, how)) => {
                used[index] = true;
                Ok((&self.recording.records[index], how))
            }
            None => Err(self.divergence(asked.request_hash, call, asked.step)),
        }
    }

    fn divergence(&self, request_hash: &str, call: u64, step: Step) -> GatewayError {
        let position = usize::try_from(call.saturating_sub(1)).unwrap_or(usize::MAX);
        let expected = match self.recording.records.get(position) {
            Some(r) => format!("the recording's call {call} was step {}", r.step),
            None => format!(
                "the recording ends after {} calls",
                self.recording.records.len()
            ),
        };
        let times = self
            .recording
            .by_request
            .get(request_hash)
            .map_or(0, Vec::len);
        let detail = if times == 0 {
            format!("no recorded call sent this request; {expected}")
        } else {
            format!("the recording sent this request only {times} time(s); {expected}")
        };
        GatewayError::NotRecorded {
            call,
            step: step.to_string(),
            detail,
        }
    }
}
