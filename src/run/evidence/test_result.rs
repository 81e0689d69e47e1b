//! Whether one test run passed, read from its `test_outputs/<test>.json`.
//!
//! MetaGPT's QA decides by its LLM summary alone: `## Send To: NoOne` ends the loop, `Engineer` or
//! `QaEngineer` asks for a fix. The summary can be wrong, so the test runner's own words in `stderr`
//! (Python's unittest writes its result there) win when present: `FAILED (...)`, or a traceback without a
//! final `OK`, fails; `OK` passes unless the summary asks for a fix. With neither, the summary decides, and
//! a summary with no verdict at all fails. Invariant: the reason always says which source decided.

use super::sop::TestOutput;

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
