//! Audit replay: a recorded `llm.jsonl` answers a run again, offline, call for call.
//!
//! A run opened with a [`Recording`] (`Gateway::open_replay`) never calls the provider. Each call is
//! looked up by the SHA-256 of its exact request body (`request_hash`) and by how many times that same
//! body was sent before in the replay, so repeated identical requests get the recorded answers in their
//! recorded order. The agent receives the recorded status and body (a recorded gateway failure comes back
//! as the same status with its recorded, redacted message), and the replay's ledger gets a record with
//! the recorded usage and cost, marked `replayed`, so a faithful replay has the recording's totals.
//!
//! Invariants: a call that the recording does not hold (new body, or one occurrence more than recorded)
//! is refused with "not in the recording: the run diverged at call N, step X", recorded in the ledger and
//! remembered as the run's divergence; nothing is ever forwarded. A recording is checked whole when it
//! is loaded: a ledger written before answers were kept is refused then, not halfway through a replay.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use anyhow::bail;

use super::classify::Step;
use super::error::GatewayError;
use super::ledger::{CallRecord, read_jsonl};

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

/// A recording being replayed by one run: which occurrences of each request were already answered.
#[derive(Debug)]
pub(crate) struct Replayer {
    recording: Recording,
    seen: Mutex<HashMap<String, usize>>,
}

impl Replayer {
    pub(crate) fn new(recording: Recording) -> Self {
        Self {
            recording,
            seen: Mutex::default(),
        }
    }

    /// The recorded answer to the next occurrence of `request_hash`; `call` and `step` (of the replay's
    /// call) name the divergence when there is none.
    pub(crate) fn next(
        &self,
        request_hash: &str,
        call: u64,
        step: Step,
    ) -> Result<&CallRecord, GatewayError> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let occurrence = seen.get(request_hash).copied().unwrap_or(0);
        let found = self
            .recording
            .by_request
            .get(request_hash)
            .and_then(|positions| positions.get(occurrence));
        match found {
            Some(&index) => {
                seen.insert(request_hash.to_owned(), occurrence + 1);
                Ok(&self.recording.records[index])
            }
            None => Err(self.divergence(request_hash, call, step)),
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
