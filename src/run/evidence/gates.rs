//! The quality gates of one run and `gates.json` (CONTRACT.md: `{"passed","gates":[{name,passed,detail}]}`):
//! the documents, task coverage and review gates; the test gates (every changed Python source file has
//! its MetaGPT test, and that test's last run passed); and the policy gates (budget, protected paths,
//! secrets in the changed files).
//!
//! Invariants:
//! - Every gate is always present, in a fixed order, with a detail a reviewer can act on (it names the
//!   files at fault); the report passes only when every gate passes. Gates are pure functions of the
//!   collected artifacts, the files on disk under the repository root and the inputs below. A check
//!   turned off in the repository's settings (code review, tests) passes and says so.
//! - Which files get tests follows MetaGPT's QA: changed `.py` files whose name does not contain `test`.
//!   Whether a test run passed ([`judge`]) always says which source decided.
//! - A secret finding never contains the secret, only where it is and at most its first four
//!   characters; symlinks, missing (deleted) files, non-UTF-8 (binary) files and files above
//!   [`MAX_SCANNED_BYTES`] are not read (the last two are reported as unscanned).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::artifacts::{
    Artifacts, DESIGN_DIR, Design, FileRef, PRD_DIR, Prd, SourceFile, TASK_DIR, TestOutput,
    changed_sources, normalise,
};
use super::review::{FileReview, ReviewVerdict, Verdict, final_verdicts};
use crate::domain::Kind;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gate {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateReport {
    pub passed: bool,
    pub gates: Vec<Gate>,
}

impl GateReport {
    pub fn new(gates: Vec<Gate>) -> Self {
        Self {
            passed: gates.iter().all(|g| g.passed),
            gates,
        }
    }

    pub fn get(&self, name: &str) -> Option<&Gate> {
        self.gates.iter().find(|g| g.name == name)
    }

    /// `gates.json`, pretty-printed, with a final new line.
    pub fn to_json(&self) -> String {
        let mut json = serde_json::to_string_pretty(self).unwrap_or_default();
        json.push('\n');
        json
    }
}

/// What the run spent against its budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub spent_usd: f64,
    pub max_usd: f64,
    /// The gateway refused a call because the budget was spent.
    pub exhausted: bool,
}

/// Everything the gates need besides the artifacts.
#[derive(Debug, Clone)]
pub struct GateInputs<'a> {
    pub kind: Kind,
    /// The source folder relative to the root (`<name>` in MetaGPT's layout, or `source_dir`).
    pub source_dir: &'a str,
    pub changed_paths: &'a [String],
    /// Review calls in order (see `review`).
    pub reviews: &'a [ReviewVerdict],
    pub code_review: bool,
    pub run_tests: bool,
    pub budget: Budget,
    /// Changed paths that match the protected patterns.
    pub protected_touched: &'a [String],
    /// Exact secret values that must not appear (provider key, tokens).
    pub known_secrets: &'a [String],
}

pub const PRD_VALID: &str = "prd_valid";
pub const DESIGN_PRESENT: &str = "design_present";
pub const TASKS_COVER_CHANGES: &str = "tasks_cover_changes";
pub const CODE_REVIEWED: &str = "code_reviewed";
pub const TESTS_WRITTEN: &str = "tests_written";
pub const TESTS_PASS: &str = "tests_pass";
pub const WITHIN_BUDGET: &str = "within_budget";
pub const PROTECTED_PATHS: &str = "protected_paths";
pub const NO_SECRETS_IN_DIFF: &str = "no_secrets_in_diff";

/// Evaluates every gate.
pub fn evaluate(root: &Path, artifacts: &Artifacts, inputs: &GateInputs) -> GateReport {
    let sources = changed_sources(root, inputs.source_dir, inputs.changed_paths);
    GateReport::new(vec![
        prd_valid(artifacts, inputs.kind),
        design_present(artifacts, inputs.kind),
        tasks_cover_changes(artifacts, inputs.source_dir, &sources),
        code_reviewed(inputs, &sources),
        tests_written(artifacts, inputs.run_tests, &sources),
        tests_pass(artifacts, inputs.run_tests, &sources),
        within_budget(inputs.budget),
        protected_paths(inputs.protected_touched),
        no_secrets(root, inputs),
    ])
}

fn gate(name: &str, passed: bool, detail: impl Into<String>) -> Gate {
    Gate {
        name: name.to_owned(),
        passed,
        detail: detail.into(),
    }
}

/// Documents of one kind: invalid ones fail, missing ones fail, present ones must have `required`.
fn documents_gate<'a>(
    name: &str,
    what: &str,
    dir: &str,
    artifacts: &Artifacts,
    docs: impl Iterator<Item = (&'a str, bool, Vec<String>)>,
    kind: Kind,
) -> Gate {
    if let Some(bad) = artifacts.invalid_in(dir).next() {
        return gate(
            name,
            false,
            format!("{} is not valid: {}", bad.path, bad.error),
        );
    }
    let dir = &artifacts.places.spec(dir);
    let docs: Vec<_> = docs.collect();
    if docs.is_empty() {
        return gate(name, false, format!("no {what} in {dir}/"));
    }
    if kind == Kind::Requirement && !docs.iter().any(|(_, changed, _)| *changed) {
        return gate(
            name,
            false,
            format!("the run did not write or update a {what} in {dir}/"),
        );
    }
    for (path, _, missing) in &docs {
        if !missing.is_empty() {
            return gate(
                name,
                false,
                format!("{path} lacks `{}`", missing.join("`, `")),
            );
        }
    }
    let paths: Vec<&str> = docs.iter().map(|(p, _, _)| *p).collect();
    let how = if docs.iter().any(|(_, changed, _)| *changed) {
        "written by this run"
    } else {
        "kept from an earlier run (bug fix)"
    };
    gate(name, true, format!("{} ({how})", paths.join(", ")))
}

fn prd_valid(artifacts: &Artifacts, kind: Kind) -> Gate {
    let docs = artifacts.prds.iter().map(|d| {
        (
            d.path.as_str(),
            d.changed,
            d.value.fields.missing(Prd::REQUIRED),
        )
    });
    documents_gate(PRD_VALID, "PRD", PRD_DIR, artifacts, docs, kind)
}

fn design_present(artifacts: &Artifacts, kind: Kind) -> Gate {
    let docs = artifacts.designs.iter().map(|d| {
        (
            d.path.as_str(),
            d.changed,
            d.value.fields.missing(Design::REQUIRED),
        )
    });
    documents_gate(
        DESIGN_PRESENT,
        "system design",
        DESIGN_DIR,
        artifacts,
        docs,
        kind,
    )
}

fn tasks_cover_changes(artifacts: &Artifacts, source_dir: &str, sources: &[SourceFile]) -> Gate {
    if let Some(bad) = artifacts.invalid_in(TASK_DIR).next() {
        return gate(
            TASKS_COVER_CHANGES,
            false,
            format!("{} is not valid: {}", bad.path, bad.error),
        );
    }
    if artifacts.tasks.is_empty() {
        return gate(
            TASKS_COVER_CHANGES,
            false,
            format!("no task document in {}/", artifacts.places.spec(TASK_DIR)),
        );
    }
    let listed: Vec<String> = artifacts
        .tasks
        .iter()
        .flat_map(|d| d.value.task_list())
        .map(|t| normalise(&t, source_dir))
        .collect();
    let uncovered: Vec<&str> = sources
        .iter()
        .filter(|s| !listed.contains(&s.name))
        .map(|s| s.path.as_str())
        .collect();
    if uncovered.is_empty() {
        gate(
            TASKS_COVER_CHANGES,
            true,
            format!(
                "all {} changed source files are in the task list",
                sources.len()
            ),
        )
    } else {
        gate(
            TASKS_COVER_CHANGES,
            false,
            format!("changed but not in the task list: {}", uncovered.join(", ")),
        )
    }
}

fn code_reviewed(inputs: &GateInputs, sources: &[SourceFile]) -> Gate {
    if !inputs.code_review {
        return gate(
            CODE_REVIEWED,
            true,
            "not required: code review is off in the settings",
        );
    }
    let verdicts: BTreeMap<String, FileReview> = final_verdicts(inputs.reviews)
        .into_iter()
        .map(|(file, review)| (normalise(&file, inputs.source_dir), review))
        .collect();
    let mut problems = Vec::new();
    for source in sources {
        match verdicts.get(&source.name) {
            Some(r) if r.verdict == Verdict::Lgtm => {}
            Some(r) => problems.push(format!(
                "{} (last of {} reviews: {})",
                source.path,
                r.rounds,
                r.verdict.label()
            )),
            None => problems.push(format!("{} (never reviewed)", source.path)),
        }
    }
    if problems.is_empty() {
        let reviewed: Vec<&str> = sources.iter().map(|s| s.path.as_str()).collect();
        gate(
            CODE_REVIEWED,
            true,
            format!(
                "all {} changed source files ended with LGTM{}{}",
                sources.len(),
                if reviewed.is_empty() { "" } else { ": " },
                reviewed.join(", ")
            ),
        )
    } else {
        gate(
            CODE_REVIEWED,
            false,
            format!("not approved: {}", problems.join(", ")),
        )
    }
}

// ---- the test gates: `tests/test_<file>` written, `test_outputs/test_<file>.json` passed ----

/// `test_<name>` for the source files QA writes tests for.
fn expected_tests(sources: &[SourceFile]) -> Vec<(&SourceFile, String)> {
    sources
        .iter()
        .filter(|s| s.name.ends_with(".py") && !s.name.contains("test"))
        .map(|s| (s, format!("test_{}", s.name)))
        .collect()
}

/// The test file QA wrote for `test` (`test_<file>.py`): where the project already had that file, the
/// new file QA wrote beside it (`test_<stem>_metagpt*.py`, [`crate::marks::QA_TEST_SUFFIX`], even if the engineer also edited the project's
/// own), else that file; one this run changed first.
fn qa_test<'a>(artifacts: &'a Artifacts, test: &str) -> Option<&'a FileRef> {
    let stem = test.strip_suffix(".py").unwrap_or(test);
    let ours = format!("{stem}{}", crate::marks::QA_TEST_SUFFIX);
    let name = |t: &FileRef| {
        let name = t.path.rsplit('/').next().unwrap_or(&t.path);
        name.strip_suffix(".py").unwrap_or(name).to_owned()
    };
    artifacts
        .tests
        .iter()
        .filter(|t| {
            let name = name(t);
            name == stem || name.starts_with(&ours)
        })
        .max_by_key(|t| (name(t).starts_with(&ours), t.changed))
}

fn tests_written(artifacts: &Artifacts, run_tests: bool, sources: &[SourceFile]) -> Gate {
    if !run_tests {
        return gate(
            TESTS_WRITTEN,
            true,
            "not required: tests are off in the settings",
        );
    }
    let expected = expected_tests(sources);
    if expected.is_empty() {
        return gate(
            TESTS_WRITTEN,
            true,
            "no changed Python source file needs a test",
        );
    }
    let tests_dir = &artifacts.places.tests_dir;
    let missing: Vec<String> = expected
        .iter()
        .filter(|(_, test)| qa_test(artifacts, test).is_none())
        .map(|(_, test)| format!("{tests_dir}/{test}"))
        .collect();
    if missing.is_empty() {
        gate(
            TESTS_WRITTEN,
            true,
            format!("{} test files for the changed sources", expected.len()),
        )
    } else {
        gate(
            TESTS_WRITTEN,
            false,
            format!("missing: {}", missing.join(", ")),
        )
    }
}

fn tests_pass(artifacts: &Artifacts, run_tests: bool, sources: &[SourceFile]) -> Gate {
    if !run_tests {
        return gate(
            TESTS_PASS,
            true,
            "not required: tests are off in the settings",
        );
    }
    let expected = expected_tests(sources);
    if expected.is_empty() {
        return gate(
            TESTS_PASS,
            true,
            "no changed Python source file needs a test",
        );
    }
    let mut failures = Vec::new();
    for (_, test) in &expected {
        let written =
            qa_test(artifacts, test).map(|t| t.path.rsplit('/').next().unwrap_or(&t.path));
        let test = written.unwrap_or(test);
        let output = format!("{}/{test}.json", artifacts.places.spec("test_outputs"));
        if let Some(bad) = artifacts.invalid.iter().find(|i| i.path == output) {
            failures.push(format!("{output} is not valid: {}", bad.error));
            continue;
        }
        match artifacts.test_output(test) {
            None => failures.push(format!("{output} missing (the test never ran)")),
            Some(doc) => {
                let verdict = judge(&doc.value);
                if !verdict.passed {
                    failures.push(format!("{output}: {}", verdict.reason));
                }
            }
        }
    }
    if failures.is_empty() {
        gate(
            TESTS_PASS,
            true,
            format!("{} test runs passed", expected.len()),
        )
    } else {
        gate(
            TESTS_PASS,
            false,
            format!("failed: {}", failures.join("; ")),
        )
    }
}

// ---- whether one test run passed, read from its `test_outputs/<test>.json` ----
// MetaGPT's QA decides by its LLM summary alone: `## Send To: NoOne` ends the loop, `Engineer` or
// `QaEngineer` asks for a fix. The summary can be wrong, so the test runner's own words in `stderr`
// (Python's unittest writes its result there) win when present: `FAILED (...)`, or a traceback without a
// final `OK`, fails; `OK` passes unless the summary asks for a fix. With neither, the summary decides, and
// a summary with no verdict at all fails.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestVerdict {
    pub passed: bool,
    pub reason: String,
}

pub fn judge(output: &TestOutput) -> TestVerdict {
    let fail = |reason: String| TestVerdict {
        passed: false,
        reason,
    };
    let stderr_lines: Vec<&str> = output.stderr.lines().map(str::trim).collect();
    if let Some(line) = stderr_lines.iter().find(|l| l.starts_with("FAILED (")) {
        return fail(format!("the test runner reported `{line}`"));
    }
    let ran = stderr_lines.iter().find(|l| l.starts_with("Ran ")).copied();
    let ok = stderr_lines
        .iter()
        .any(|l| *l == "OK" || l.starts_with("OK ("));
    if !ok && output.stderr.contains("Traceback (most recent call last)") {
        let last = stderr_lines.iter().rev().find(|l| !l.is_empty()).copied();
        return fail(format!(
            "the tests crashed: `{}`",
            last.unwrap_or("traceback")
        ));
    }
    let recipient = field(&output.summary, "Send To");
    let status = field(&output.summary, "Status");
    if let Some(to) = recipient.filter(|to| *to == "Engineer" || *to == "QaEngineer") {
        return fail(format!("QA's summary asks the {to} to fix it"));
    }
    if status == Some("FAIL") {
        return fail("QA's summary says FAIL".to_owned());
    }
    if ok {
        return TestVerdict {
            passed: true,
            reason: ran.map_or("the test runner reported OK".to_owned(), |r| {
                format!("{r}: OK")
            }),
        };
    }
    if recipient == Some("NoOne") || status == Some("PASS") {
        return TestVerdict {
            passed: true,
            reason: "QA's summary approves the run (no runner verdict in the output)".to_owned(),
        };
    }
    fail("neither the runner nor QA's summary gave a verdict".to_owned())
}

/// The first word after `## <name>:` (or `<name>:`), like MetaGPT's `parse_recipient`.
fn field<'a>(summary: &'a str, name: &str) -> Option<&'a str> {
    let heading = format!("## {name}:");
    let plain = format!("{name}:");
    let after = summary
        .split_once(heading.as_str())
        .or_else(|| summary.split_once(plain.as_str()))
        .map(|(_, after)| after)?;
    let word = after
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()?;
    (!word.is_empty()).then_some(word)
}

// ---- the policy gates: budget, protected paths, secrets in the changed files ----

fn within_budget(budget: Budget) -> Gate {
    let spent = format!("spent ${:.4} of ${:.2}", budget.spent_usd, budget.max_usd);
    if budget.exhausted {
        gate(
            WITHIN_BUDGET,
            false,
            format!("budget exhausted: {spent}; the run was cut short"),
        )
    } else if budget.spent_usd > budget.max_usd {
        gate(WITHIN_BUDGET, false, format!("over budget: {spent}"))
    } else {
        gate(WITHIN_BUDGET, true, spent)
    }
}

fn protected_paths(touched: &[String]) -> Gate {
    if touched.is_empty() {
        gate(PROTECTED_PATHS, true, "no protected path changed")
    } else {
        gate(
            PROTECTED_PATHS,
            false,
            format!("protected paths changed: {}", touched.join(", ")),
        )
    }
}

fn no_secrets(root: &Path, inputs: &GateInputs) -> Gate {
    let scan = scan(root, inputs.changed_paths, inputs.known_secrets);
    let unscanned = if scan.unscanned.is_empty() {
        String::new()
    } else {
        format!("; not scanned: {}", scan.unscanned.join(", "))
    };
    if scan.findings.is_empty() {
        let n = inputs.changed_paths.len();
        gate(
            NO_SECRETS_IN_DIFF,
            true,
            format!("no secret found in {n} changed files{unscanned}"),
        )
    } else {
        let found: Vec<String> = scan
            .findings
            .iter()
            .map(|f| format!("{} line {}: {}", f.path, f.line, f.what))
            .collect();
        gate(
            NO_SECRETS_IN_DIFF,
            false,
            format!("{}{unscanned}", found.join("; ")),
        )
    }
}

// ---- secrets in the changed files ----
// Exact known values (the run's own keys and tokens), private key PEM headers, and credential shapes
// (`ghp_`/`ghs_`/`github_pat_…`, `sk-…`, `AKIA…` and the others `crate::redact` knows; it is the single
// definition of those shapes).

pub const MAX_SCANNED_BYTES: u64 = 2 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFinding {
    pub path: String,
    /// 1-based.
    pub line: usize,
    pub what: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretScan {
    pub findings: Vec<SecretFinding>,
    /// Changed files that were not scanned, with why.
    pub unscanned: Vec<String>,
}

/// Scans the changed files under `root`.
pub fn scan(root: &Path, changed_paths: &[String], known: &[String]) -> SecretScan {
    let mut scan = SecretScan::default();
    for path in changed_paths {
        let full = root.join(path);
        let Ok(meta) = full.symlink_metadata() else {
            continue; // deleted
        };
        if !meta.is_file() {
            continue;
        }
        if meta.len() > MAX_SCANNED_BYTES {
            scan.unscanned.push(format!("{path} (larger than 2 MiB)"));
            continue;
        }
        match std::fs::read(&full).map(String::from_utf8) {
            Ok(Ok(text)) => scan.findings.extend(scan_text(path, &text, known)),
            Ok(Err(_)) => scan.unscanned.push(format!("{path} (binary)")),
            Err(e) => scan.unscanned.push(format!("{path} (unreadable: {e})")),
        }
    }
    scan
}

/// The findings in `text`, the content of `path`.
fn scan_text(path: &str, text: &str, known: &[String]) -> Vec<SecretFinding> {
    text.lines()
        .enumerate()
        .filter_map(|(n, line)| {
            finding(line, known).map(|what| SecretFinding {
                path: path.to_owned(),
                line: n + 1,
                what,
            })
        })
        .collect()
}

fn finding(line: &str, known: &[String]) -> Option<String> {
    if known
        .iter()
        .any(|k| k.len() >= 4 && line.contains(k.as_str()))
    {
        return Some("a known secret value".to_owned());
    }
    if line.contains("-----BEGIN") && line.contains("PRIVATE KEY") {
        return Some("a private key".to_owned());
    }
    let redacted = crate::redact::redact(line, &[]);
    // Redaction only replaces tokens, so the first difference is where the first token starts.
    let at = line
        .char_indices()
        .zip(redacted.chars())
        .find(|((_, a), b)| a != b)
        .map(|((i, _), _)| i)?;
    let head: String = line[at..].chars().take(4).collect();
    Some(format!("a credential-shaped token (`{head}…`)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(summary: &str, stderr: &str) -> TestOutput {
        TestOutput {
            summary: summary.into(),
            stdout: String::new(),
            stderr: stderr.into(),
        }
    }

    #[test]
    fn the_runner_beats_an_optimistic_summary() {
        let v = judge(&output(
            "## Status:\nPASS\n## Send To:\nNoOne",
            "F.\n----\nRan 2 tests in 0.001s\n\nFAILED (failures=1)\n",
        ));
        assert!(!v.passed);
        assert!(v.reason.contains("FAILED (failures=1)"), "{}", v.reason);
    }

    #[test]
    fn ok_passes_and_a_fix_request_fails() {
        let ok = judge(&output(
            "## Send To: NoOne",
            "..\nRan 2 tests in 0.001s\n\nOK\n",
        ));
        assert!(ok.passed, "{}", ok.reason);
        assert_eq!(ok.reason, "Ran 2 tests in 0.001s: OK");
        let fix = judge(&output("## Status: FAIL\n## Send To: Engineer", ""));
        assert!(!fix.passed);
        assert!(fix.reason.contains("Engineer"));
        let none = judge(&output("", ""));
        assert!(!none.passed);
    }
}
