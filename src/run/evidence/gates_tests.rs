//! The test gates: every changed Python source file has its MetaGPT test (`tests/test_<file>`) and that
//! test's last run (`test_outputs/test_<file>.json`) passed.
//!
//! Which files get tests follows MetaGPT's QA: changed `.py` files whose name does not contain `test`.

use super::artifacts::{Artifacts, TESTS_DIR};
use super::gates::{Gate, TESTS_PASS, TESTS_WRITTEN, gate};
use super::source::SourceFile;
use super::test_result::judge;

/// `test_<name>` for the source files QA writes tests for.
pub fn expected_tests(sources: &[SourceFile]) -> Vec<(&SourceFile, String)> {
    sources
        .iter()
        .filter(|s| s.name.ends_with(".py") && !s.name.contains("test"))
        .map(|s| (s, format!("test_{}", s.name)))
        .collect()
}

pub fn tests_written(artifacts: &Artifacts, run_tests: bool, sources: &[SourceFile]) -> Gate {
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
    let missing: Vec<String> = expected
        .iter()
        .map(|(_, test)| format!("{TESTS_DIR}/{test}"))
        .filter(|path| !artifacts.tests.iter().any(|t| &t.path == path))
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

pub fn tests_pass(artifacts: &Artifacts, run_tests: bool, sources: &[SourceFile]) -> Gate {
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
        let output = format!("test_outputs/{test}.json");
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
