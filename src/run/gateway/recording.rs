//! Audit replay: a recorded `llm.jsonl` answers a run again, offline, call for call; and the volatile
//! parts of a request ([`normalise`]) that may differ between two faithful runs of the same work.
//!
//! A run opened with a [`Recording`] (`Gateway::open_replay`) never calls the provider. Each call gets
//! the first recorded call not yet answered whose request had the same SHA-256 (`request_hash`), so
//! repeated identical requests get the recorded answers in their recorded order, and calls MetaGPT makes
//! in a different order from run to run (QA tests files in set order) still find theirs. When no
//! recorded call had the exact request, a call whose request had volatile parts (test timings, temporary
//! directory names) gets the first unanswered recorded call of the same SOP step and model whose request
//! normalises to the same hash, marked `normalised` with what was folded. The agent receives the
//! recorded status and body (a recorded gateway failure comes back as the same status with its recorded,
//! redacted message), and the replay's ledger gets a record with the recorded usage and cost, marked
//! `replayed`, so a faithful replay has the recording's totals.
//!
//! Invariants:
//! - Each recorded call answers at most once. A call that the recording does not hold (a body that
//!   differs in anything but its volatile parts, another step or model, or one occurrence more than
//!   recorded) is refused with "not in the recording: the run diverged at call N, step X", recorded in
//!   the ledger and remembered as the run's divergence; nothing is ever forwarded. A recording is checked
//!   whole when it is loaded: a ledger written before answers were kept is refused then, not halfway
//!   through a replay.
//! - Folding is narrow, by shape, never by position or step: a duration is folded only in a test
//!   runner's summary line (the test counts and outcomes around it are kept), a path only in its random
//!   temporary-directory component under a system temporary root (the file path below it, the line
//!   number and the message are kept). Every other byte of the body is kept, so two bodies with the same
//!   normalised hash differ in nothing but these. A body that is not UTF-8 is not folded. The report says
//!   which kinds were folded, never the folded text (the ledger holds no prompt text).

use std::collections::HashMap;
use std::path::Path;
use std::sync::LazyLock;
use std::sync::{Mutex, PoisonError};

use anyhow::bail;
use regex::Regex;
use sha2::{Digest, Sha256};

use super::classify::Step;
use super::error::GatewayError;
use super::ledger::{CallRecord, Fold, ReplayMatch, read_jsonl};

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

// ---- normalising: the volatile parts of a request ----
// MetaGPT's QA quotes the output of the test run it made (`## Running Output` of a test-run summary,
// `# Console logs` of a debug prompt, and the debug logs an engineer is later shown). Two runs of the same
// code print the same output except for the time the tests took (unittest's `Ran 2 tests in 0.006s`,
// pytest's `1 failed, 2 passed in 0.12s`) and the random name of the temporary directory the work tree
// sits in (`/tmp/.tmpmQpIG4/seed/tests/test_calc.py` in a traceback). [`normalise`] folds exactly these
// into fixed placeholders, so an audit replay can recognise such a request as the recorded one.

/// The rules, each a shape and what it becomes. They run on the body as sent (JSON text, where a newline
/// is `\n`), so a shape never starts with `\b`: `\nRan 2 tests` has no word boundary before `Ran`.
static RULES: LazyLock<[(Fold, Regex, &'static str); 3]> = LazyLock::new(|| {
    let rule = |pattern: &str| Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
    [
        // unittest: "Ran 2 tests in 0.006s" (the count is kept).
        (
            Fold::TestDuration,
            rule(r"(Ran \d+ tests? in )\d+(?:\.\d+)?s\b"),
            "${1}<duration>",
        ),
        // pytest: "1 failed, 2 passed, 1 warning in 0.12s (0:00:00)" (the counts are kept).
        (
            Fold::TestDuration,
            rule(
                r"(\d+ (?:passed|failed|errors?|skipped|xfailed|xpassed|warnings?|deselected)(?:, \d+ [a-z]+)* in )\d+(?:\.\d+)?s(?: \(\d+:\d\d:\d\d\))?",
            ),
            "${1}<duration>",
        ),
        // A random temporary directory under a system temporary root; the path below it is kept.
        (
            Fold::TempDir,
            rule(
                r"(?:/private)?(?:/tmp|/var/tmp|/var/folders/[0-9A-Za-z_+-]{2}/[0-9A-Za-z_+-]+/T)/(?:\.tmp[0-9A-Za-z]{6,}|tmp[0-9a-z_]{8}|pytest-of-[^/\s]+/pytest-\d+)",
            ),
            "<tmpdir>",
        ),
    ]
});

/// A request body with its volatile parts folded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalised {
    /// The body after folding (the body itself when nothing was folded).
    pub text: String,
    /// The kinds folded, sorted, each once; empty when the body had no volatile part.
    pub folded: Vec<Fold>,
}

impl Normalised {
    /// SHA-256 (hex) of the folded body.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.text.as_bytes()))
    }
}

/// `body` with every volatile part folded into its placeholder; `None` when the body is not UTF-8.
pub fn normalise(body: &[u8]) -> Option<Normalised> {
    let mut text = std::str::from_utf8(body).ok()?.to_owned();
    let mut folded = Vec::new();
    for (fold, pattern, placeholder) in RULES.iter() {
        if let std::borrow::Cow::Owned(changed) = pattern.replace_all(&text, *placeholder) {
            text = changed;
            folded.push(*fold);
        }
    }
    folded.sort();
    folded.dedup();
    Some(Normalised { text, folded })
}

/// What the normaliser folds (the volatile parts of real test output) and what it must keep.
#[cfg(test)]
mod tests {
    use super::*;

    fn folded(text: &str) -> (String, Vec<Fold>) {
        let n = normalise(text.as_bytes()).expect("UTF-8");
        (n.text, n.folded)
    }

    fn same(a: &str, b: &str) -> bool {
        normalise(a.as_bytes()).map(|n| n.hash()) == normalise(b.as_bytes()).map(|n| n.hash())
    }

    /// A summary prompt's running output as MetaGPT 0.8.2 sends it (JSON-escaped), from a real recorded run.
    fn running_output(tmp: &str, seconds: &str) -> String {
        format!(
            "## Running Output\\nstandard errors: \\n```text\\n.F\\n===\\nTraceback (most recent call last):\\n  File \\\"{tmp}/seed/tests/test_calc.py\\\", line 12, in test_subtract\\n    self.assertEqual(subtract(5, 3), -2)\\nAssertionError: 2 != -2\\n---\\nRan 2 tests in {seconds}s\\n\\nFAILED (failures=1)\\n```"
        )
    }

    #[test]
    fn a_unittest_run_differing_in_its_timing_and_temporary_directory_normalises_the_same() {
        let recorded = running_output("/tmp/.tmpmQpIG4", "0.001");
        let replayed = running_output("/tmp/.tmp2BghVf", "0.006");
        assert_ne!(recorded, replayed);
        assert!(same(&recorded, &replayed));
        let (text, kinds) = folded(&replayed);
        assert_eq!(kinds, vec![Fold::TestDuration, Fold::TempDir]);
        assert!(text.contains("File \\\"<tmpdir>/seed/tests/test_calc.py\\\", line 12"));
        assert!(text.contains("Ran 2 tests in <duration>\\n\\nFAILED (failures=1)"));
    }

    #[test]
    fn pytest_summaries_and_other_temporary_roots_are_folded() {
        assert!(same(
            "===== 1 failed, 2 passed, 1 warning in 0.12s =====",
            "===== 1 failed, 2 passed, 1 warning in 13.70s (0:00:13) ====="
        ));
        assert!(same("1 passed in 0.01s", "1 passed in 2s"));
        assert!(same("/tmp/tmpab_cd123/x.py", "/tmp/tmp9z8y7x6w/x.py"));
        assert!(same(
            "/private/var/folders/3k/abc123/T/.tmpQwErTy/x.py",
            "/private/var/folders/3k/abc123/T/.tmpAsDfGh/x.py"
        ));
        assert!(same(
            "/tmp/pytest-of-runner/pytest-3/test_a0/x.py",
            "/tmp/pytest-of-runner/pytest-12/test_a0/x.py"
        ));
    }

    #[test]
    fn what_a_test_run_says_is_kept() {
        // The number of tests, the outcome, the file below the temporary directory, the line and the message.
        assert!(!same("Ran 2 tests in 0.001s", "Ran 3 tests in 0.001s"));
        assert!(!same(
            "1 failed, 2 passed in 0.1s",
            "2 failed, 1 passed in 0.1s"
        ));
        assert!(!same(
            &running_output("/tmp/.tmpmQpIG4", "0.001"),
            &running_output("/tmp/.tmpmQpIG4", "0.001").replace("line 12", "line 13")
        ));
        assert!(!same(
            "/tmp/.tmpmQpIG4/seed/tests/test_calc.py",
            "/tmp/.tmpmQpIG4/seed/tests/test_main.py"
        ));
        assert!(!same(
            "AssertionError: 2 != -2 /tmp/.tmpA1b2C3",
            "AssertionError: 2 != 3 /tmp/.tmpA1b2C3"
        ));
    }

    #[test]
    fn durations_and_paths_outside_those_shapes_are_not_folded() {
        // A requirement's own numbers and a project's own paths are content, not noise.
        for text in [
            "the API must answer in 0.5s",
            "retry after 2.5s",
            "Ran the migration in 0.3s",
            "/home/runner/work/app/app/src/main.py",
            "/tmp/data/input.csv",
            "/tmp/.tmp/x",
        ] {
            let (kept, kinds) = folded(text);
            assert_eq!(kept, text);
            assert!(kinds.is_empty(), "{text}");
        }
        assert!(!same(
            "the API must answer in 0.5s",
            "the API must answer in 0.9s"
        ));
    }

    #[test]
    fn a_body_without_volatile_parts_is_its_own_normal_form_and_non_utf8_is_not_folded() {
        let body =
        br###"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"## Code: calc.py"}]}"###;
        let n = normalise(body).expect("UTF-8");
        assert!(n.folded.is_empty());
        assert_eq!(n.text.as_bytes(), body);
        assert_eq!(normalise(&[0xff, 0xfe, b'R']), None);
    }
}
