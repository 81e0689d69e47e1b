//! The volatile parts of a request: what may differ between two faithful runs of the same work, and
//! nothing else.
//!
//! MetaGPT's QA quotes the output of the test run it made (`## Running Output` of a test-run summary,
//! `# Console logs` of a debug prompt, and the debug logs an engineer is later shown). Two runs of the same
//! code print the same output except for the time the tests took (unittest's `Ran 2 tests in 0.006s`,
//! pytest's `1 failed, 2 passed in 0.12s`) and the random name of the temporary directory the work tree
//! sits in (`/tmp/.tmpmQpIG4/seed/tests/test_calc.py` in a traceback). [`normalise`] folds exactly these
//! into fixed placeholders, so an audit replay can recognise such a request as the recorded one.
//!
//! Invariants: folding is narrow, by shape, never by position or step: a duration is folded only in a
//! test runner's summary line (the test counts and outcomes around it are kept), a path only in its
//! random temporary-directory component under a system temporary root (the file path below it, the line
//! number and the message are kept). Every other byte of the body is kept, so two bodies with the same
//! normalised hash differ in nothing but these. A body that is not UTF-8 is not folded. The report says
//! which kinds were folded, never the folded text (the ledger holds no prompt text).

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A kind of volatile text [`normalise`] folds.
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

#[cfg(test)]
#[path = "normalise_tests.rs"]
mod tests;
