//! The replay tally ([`ReplayTally`]) of `run --replay`: the one-line account of an audit replay, how many
//! calls the recording answered exactly, and how many only after folding their volatile parts (test
//! timings, temporary directory names), so an auditor sees at a glance how faithful the replay was.
//!
//! The tally is made from the replay's own `llm.jsonl` (the evidence it committed, read back through the
//! evidence store), so it counts what the ledger says, call for call; a call the recording did not answer
//! counts in neither.

use std::collections::BTreeSet;
use std::fmt;

use crate::run::gateway::{CallRecord, Fold, ReplayMatch};

/// How the calls of an audit replay were matched to the recording.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplayTally {
    /// Calls whose request was byte for byte the recorded one.
    pub exact: usize,
    /// Calls accepted after folding volatile parts.
    pub normalised: usize,
    /// What was folded, over all normalised calls.
    pub folded: BTreeSet<Fold>,
}

impl ReplayTally {
    /// The tally of a replay's ledger.
    pub fn of(ledger: &[CallRecord]) -> ReplayTally {
        let mut tally = ReplayTally::default();
        for record in ledger {
            match record.replay {
                Some(ReplayMatch::Exact) => tally.exact += 1,
                Some(ReplayMatch::Normalised) => {
                    tally.normalised += 1;
                    tally.folded.extend(record.tolerated.iter().copied());
                }
                None => {}
            }
        }
        tally
    }
}

impl fmt::Display for ReplayTally {
    /// `replay: 16 calls answered from the recording: 14 exactly, 2 after normalising test durations`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "replay: {} calls answered from the recording: {} exactly, {} after normalising",
            self.exact + self.normalised,
            self.exact,
            self.normalised
        )?;
        if !self.folded.is_empty() {
            let kinds: Vec<String> = self.folded.iter().map(Fold::to_string).collect();
            write!(f, " {}", kinds.join(" and "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_how_many_calls_matched_and_what_was_folded() {
        let tally = ReplayTally {
            exact: 14,
            normalised: 2,
            folded: [Fold::TestDuration, Fold::TempDir].into(),
        };
        assert_eq!(
            tally.to_string(),
            "replay: 16 calls answered from the recording: 14 exactly, 2 after normalising test \
             durations and temporary directory names"
        );
        let exact = ReplayTally {
            exact: 3,
            ..ReplayTally::default()
        };
        assert_eq!(
            exact.to_string(),
            "replay: 3 calls answered from the recording: 3 exactly, 0 after normalising"
        );
    }
}
