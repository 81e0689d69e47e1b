//! What the normaliser folds (the volatile parts of real test output) and what it must keep.

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
