//! The GitHub Actions runner protocol: workflow commands printed on stdout (`::add-mask::`, `::error::`,
//! `::warning::`, `::notice::`) and the environment files the runner reads after the step (`GITHUB_OUTPUT`,
//! `GITHUB_STEP_SUMMARY`).
//!
//! Invariants:
//! - A workflow command is one line. Its message is escaped as GitHub's toolkit does (`%` → `%25`, `\r` →
//!   `%0D`, `\n` → `%0A`); property values additionally escape `:` → `%3A` and `,` → `%2C`, so no text can
//!   end a command early or inject another one.
//! - An output is appended as `name=value` when the value is one line, else in the heredoc form
//!   `name<<DELIMITER` / value / `DELIMITER` with a random delimiter that occurs nowhere in the value, so a
//!   value can never close its own block or set another output.
//! - Files are only ever appended to (the runner creates them; other steps' content stays).
//! - Output names are fixed by `action.yml`: a name with `=`, `<` or a line break is refused.
//!
//! What a finished `metagpt-bot action` leaves for the workflow, through that protocol:
//! - All four outputs are always written, so a later step can test them without guarding for absence:
//!   - a run: `pr-number`/`pr-url` of the pull request (empty if none was opened), `cost-usd` with four
//!     decimals, `gates-passed` `true` or `false`;
//!   - nothing to do: `pr-number`, `pr-url` and `gates-passed` empty (no gates ran), `cost-usd` `0`, and a
//!     one-line summary with the reason;
//!   - a failure: `gates-passed` `false`, the others empty, the summary and an annotation say why.
//! - Exit codes follow the contract: 0 gates passed (or nothing to do), 1 gates failed or the run failed,
//!   2 misconfigured. Outputs that cannot be written turn a 0 into a 1: the workflow would read wrong
//!   values.

use std::io::Write;
use std::path::Path;

use super::env::ActionEnv;
use rand::Rng;

/// Escapes a workflow command's message (GitHub's `escapeData`).
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value (GitHub's `escapeProperty`).
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// One workflow command line, without the trailing newline: `::name key=value,key=value::message`.
pub fn command(name: &str, properties: &[(&str, &str)], message: &str) -> String {
    let properties = properties
        .iter()
        .map(|(key, value)| format!("{key}={}", escape_property(value)))
        .collect::<Vec<_>>()
        .join(",");
    let separator = if properties.is_empty() { "" } else { " " };
    format!("::{name}{separator}{properties}::{}", escape_data(message))
}

/// `::add-mask::<secret>`: the runner replaces the value with `***` in every later log line.
pub fn add_mask(secret: &str) -> String {
    command("add-mask", &[], secret)
}

/// `::error title=…::message`, an annotation on the run.
pub fn error(title: &str, message: &str) -> String {
    command("error", &[("title", title)], message)
}

/// `::warning::message`.
pub fn warning(message: &str) -> String {
    command("warning", &[], message)
}

/// `::notice::message`.
pub fn notice(message: &str) -> String {
    command("notice", &[], message)
}

/// A `GITHUB_OUTPUT` entry (with its final newline) for `name` and `value`.
pub fn output_entry(name: &str, value: &str) -> std::io::Result<String> {
    if name.is_empty() || name.contains(['=', '<', '\n', '\r']) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("`{name}` cannot be an output name"),
        ));
    }
    if !value.contains(['\n', '\r']) {
        return Ok(format!("{name}={value}\n"));
    }
    let delimiter = loop {
        let candidate = format!("ghadelimiter_{:032x}", rand::rng().random::<u128>());
        if !value.contains(&candidate) {
            break candidate;
        }
    };
    Ok(format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"))
}

/// Appends one output to the `GITHUB_OUTPUT` file.
pub fn append_output(file: &Path, name: &str, value: &str) -> std::io::Result<()> {
    append(file, &output_entry(name, value)?)
}

/// Appends markdown to the job summary (`GITHUB_STEP_SUMMARY`), ending it with a newline.
pub fn append_summary(file: &Path, markdown: &str) -> std::io::Result<()> {
    let mut text = markdown.to_owned();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    append(file, &text)
}

fn append(file: &Path, text: &str) -> std::io::Result<()> {
    let mut handle = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(file)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", file.display())))?;
    handle.write_all(text.as_bytes())
}

// ---- the outcome ----

/// The result of one run of an issue, as the workflow sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionOutcome {
    pub pr_number: Option<u64>,
    pub pr_url: Option<String>,
    /// What this run's LLM calls cost.
    pub cost_usd: f64,
    pub gates_passed: bool,
    /// The branch the run pushed (`metagpt/issue-<N>`).
    pub branch: Option<String>,
    /// The iteration's evidence folder on that branch (`.metagpt/runs/<N>/<k>`).
    pub evidence_dir: Option<String>,
    /// The job summary (markdown).
    pub summary_markdown: String,
}

/// The title of the annotations for problems the workflow's author must fix.
pub const MISCONFIGURED: &str = "MetaGPT action misconfigured";

/// Why a run did not produce an outcome.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// Something the workflow's author must fix (inputs, permissions, repository settings): exit 2.
    #[error("{0}")]
    Misconfigured(String),
    /// The run started and failed: exit 1.
    #[error("{0}")]
    Failed(String),
    /// Nothing ran, and the person was told why on the issue (not allowed, a fork, a stop): exit 0.
    #[error("{0}")]
    NothingRan(String),
}

impl ActionError {
    pub fn exit_code(&self) -> u8 {
        match self {
            ActionError::Misconfigured(_) => 2,
            ActionError::Failed(_) => 1,
            ActionError::NothingRan(_) => 0,
        }
    }
}

/// The exit code for a run's result.
pub fn exit_code(result: &Result<ActionOutcome, ActionError>) -> u8 {
    match result {
        Ok(outcome) if outcome.gates_passed => 0,
        Ok(_) => 1,
        Err(error) => error.exit_code(),
    }
}

/// Writes a run's outputs and summary, prints an annotation when it failed; returns the exit code.
pub fn finish(
    env: &ActionEnv,
    result: &Result<ActionOutcome, ActionError>,
    out: &mut impl Write,
) -> u8 {
    let code = exit_code(result);
    let written = match result {
        Ok(outcome) => write_outcome(env, outcome),
        Err(ActionError::NothingRan(reason)) => return nothing_to_do(env, reason, out),
        Err(failure) => {
            let title = match failure {
                ActionError::Misconfigured(_) => MISCONFIGURED,
                ActionError::Failed(_) | ActionError::NothingRan(_) => "MetaGPT run failed",
            };
            let _ = writeln!(out, "{}", error(title, &failure.to_string()));
            let summary = format!("### {title}\n\n{failure}\n");
            write_all(env, ["", "", "", "false", "", ""], &summary)
        }
    };
    report_write_error(written, code, out)
}

/// `code`, or at least 1 with an annotation when the outputs or summary could not be written.
fn report_write_error(written: std::io::Result<()>, code: u8, out: &mut impl Write) -> u8 {
    match written {
        Ok(()) => code,
        Err(failure) => {
            let message = format!("could not write the step outputs or job summary: {failure}");
            let _ = writeln!(out, "{}", error("MetaGPT action outputs", &message));
            code.max(1)
        }
    }
}

/// A job whose event asks for nothing: a `::notice::` with the reason, the outputs and a one-line summary;
/// returns the exit code (0, or 1 when the outputs cannot be written).
pub fn nothing_to_do(env: &ActionEnv, reason: &str, out: &mut impl Write) -> u8 {
    let _ = writeln!(out, "{}", notice(&format!("nothing to do: {reason}")));
    let summary = format!("MetaGPT: nothing to do: {reason}\n");
    report_write_error(write_all(env, ["", "", "0", "", "", ""], &summary), 0, out)
}

/// Writes the outputs and summary of a run that produced an outcome.
pub fn write_outcome(env: &ActionEnv, outcome: &ActionOutcome) -> std::io::Result<()> {
    let pr_number = outcome.pr_number.map(|n| n.to_string()).unwrap_or_default();
    let cost = format!("{:.4}", outcome.cost_usd);
    let gates = outcome.gates_passed.to_string();
    let values = [
        pr_number.as_str(),
        outcome.pr_url.as_deref().unwrap_or_default(),
        cost.as_str(),
        gates.as_str(),
        outcome.branch.as_deref().unwrap_or_default(),
        outcome.evidence_dir.as_deref().unwrap_or_default(),
    ];
    write_all(env, values, &outcome.summary_markdown)
}

/// The outputs in `action.yml`'s order.
pub const OUTPUTS: [&str; 6] = [
    "pr-number",
    "pr-url",
    "cost-usd",
    "gates-passed",
    "branch-name",
    "evidence-dir",
];

fn write_all(env: &ActionEnv, values: [&str; 6], summary: &str) -> std::io::Result<()> {
    for (name, value) in OUTPUTS.iter().zip(values) {
        append_output(&env.output_file, name, value)?;
    }
    append_summary(&env.summary_file, summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a `GITHUB_OUTPUT` file the way the runner does: `name=value` lines, or `name<<DELIM` blocks that
    /// end at the first line equal to `DELIM`.
    fn parse_outputs(text: &str) -> Vec<(String, String)> {
        let mut outputs = Vec::new();
        let mut lines = text.split('\n');
        while let Some(line) = lines.next() {
            if line.is_empty() {
                continue;
            }
            let heredoc = line.find("<<");
            let equals = line.find('=');
            match (heredoc, equals) {
                (Some(h), e) if e.is_none_or(|e| h < e) => {
                    let (name, delimiter) = (&line[..h], &line[h + 2..]);
                    let mut value = Vec::new();
                    for next in lines.by_ref() {
                        if next == delimiter {
                            break;
                        }
                        value.push(next);
                    }
                    outputs.push((name.to_owned(), value.join("\n")));
                }
                (_, Some(e)) => outputs.push((line[..e].to_owned(), line[e + 1..].to_owned())),
                _ => panic!("invalid output line {line:?}"),
            }
        }
        outputs
    }

    #[test]
    fn data_escaping_matches_the_toolkit() {
        assert_eq!(
            escape_data("50% done\r\nnext: a,b"),
            "50%25 done%0D%0Anext: a,b"
        );
    }

    #[test]
    fn property_escaping_also_escapes_colon_and_comma() {
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    }

    #[test]
    fn error_annotation_escapes_title_and_message() {
        assert_eq!(
            error(
                "Input missing: llm-api-key, token",
                "line one\nline two 100%"
            ),
            "::error title=Input missing%3A llm-api-key%2C token::line one%0Aline two 100%25"
        );
    }

    #[test]
    fn warning_notice_and_mask_have_no_properties() {
        assert_eq!(warning("a:b"), "::warning::a:b");
        assert_eq!(notice("nothing to do"), "::notice::nothing to do");
        assert_eq!(add_mask("sk-abc%\n"), "::add-mask::sk-abc%25%0A");
    }

    #[test]
    fn a_message_cannot_start_a_second_command() {
        let line = warning("harmless\n::add-mask::x\n::error::forged");
        assert_eq!(line.lines().count(), 1);
        assert!(line.starts_with("::warning::harmless%0A"));
    }

    #[test]
    fn single_line_output_is_name_equals_value() {
        assert_eq!(output_entry("pr-number", "42").unwrap(), "pr-number=42\n");
        assert_eq!(output_entry("pr-number", "").unwrap(), "pr-number=\n");
    }

    #[test]
    fn multi_line_output_uses_a_delimiter_absent_from_the_value() {
        let value = "line one\nghadelimiter_\nEOF\nline = four";
        let entry = output_entry("summary", value).unwrap();
        let first = entry.lines().next().unwrap();
        let delimiter = first.strip_prefix("summary<<").unwrap();
        assert!(delimiter.len() > "ghadelimiter_".len());
        assert!(!value.contains(delimiter));
        assert!(entry.ends_with(&format!("\n{delimiter}\n")));
        assert_eq!(
            parse_outputs(&entry),
            vec![("summary".to_owned(), value.to_owned())]
        );
    }

    #[test]
    fn a_value_cannot_set_another_output() {
        let value = "x\npr-url=https://evil.example\ngates-passed=true";
        let text =
            output_entry("summary", value).unwrap() + &output_entry("pr-number", "7").unwrap();
        assert_eq!(
            parse_outputs(&text),
            vec![
                ("summary".to_owned(), value.to_owned()),
                ("pr-number".to_owned(), "7".to_owned())
            ]
        );
    }

    #[test]
    fn output_names_that_would_break_the_file_are_refused() {
        for name in ["", "a=b", "a<<b", "a\nb"] {
            assert!(output_entry(name, "v").is_err(), "{name:?}");
        }
    }

    #[test]
    fn files_are_appended_to_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let outputs = dir.path().join("output");
        let summary = dir.path().join("summary");
        std::fs::write(&outputs, "earlier=1\n").unwrap();
        append_output(&outputs, "pr-number", "3").unwrap();
        append_output(&outputs, "gates-passed", "true").unwrap();
        assert_eq!(
            std::fs::read_to_string(&outputs).unwrap(),
            "earlier=1\npr-number=3\ngates-passed=true\n"
        );
        append_summary(&summary, "# One").unwrap();
        append_summary(&summary, "two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&summary).unwrap(), "# One\ntwo\n");
    }

    #[test]
    fn an_unwritable_file_names_its_path() {
        let error = append_summary(Path::new("/nonexistent-dir/summary"), "x").unwrap_err();
        assert!(
            error.to_string().contains("/nonexistent-dir/summary"),
            "{error}"
        );
    }

    use crate::faces::action::env::test_support::{job_vars, read};

    struct Job {
        _dir: tempfile::TempDir,
        env: ActionEnv,
    }

    impl Job {
        fn new() -> Job {
            let dir = tempfile::tempdir().unwrap();
            let output = dir.path().join("output").display().to_string();
            let summary = dir.path().join("summary").display().to_string();
            let env = read(&job_vars("/github/workflow/event.json", &output, &summary)).unwrap();
            Job { _dir: dir, env }
        }
        fn outputs(&self) -> String {
            std::fs::read_to_string(&self.env.output_file).unwrap()
        }
        fn summary(&self) -> String {
            std::fs::read_to_string(&self.env.summary_file).unwrap()
        }
    }

    fn outcome(gates_passed: bool) -> ActionOutcome {
        ActionOutcome {
            pr_number: Some(12),
            pr_url: Some("https://github.com/octo/hello/pull/12".to_owned()),
            cost_usd: 0.123456,
            gates_passed,
            branch: Some("metagpt/issue-7".to_owned()),
            evidence_dir: Some(".metagpt/runs/7/1".to_owned()),
            summary_markdown: "## MetaGPT\n\n| gate | result |\n|---|---|\n| tests | passed |"
                .to_owned(),
        }
    }

    #[test]
    fn a_passing_run_writes_every_output_and_the_summary_and_exits_0() {
        let job = Job::new();
        let mut out = Vec::new();
        assert_eq!(finish(&job.env, &Ok(outcome(true)), &mut out), 0);
        assert_eq!(
            job.outputs(),
            "pr-number=12\npr-url=https://github.com/octo/hello/pull/12\ncost-usd=0.1235\ngates-passed=true\n\
             branch-name=metagpt/issue-7\nevidence-dir=.metagpt/runs/7/1\n"
        );
        assert!(job.summary().starts_with("## MetaGPT\n\n| gate | result |"));
        assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    }

    #[test]
    fn failed_gates_exit_1_with_gates_passed_false() {
        let job = Job::new();
        assert_eq!(finish(&job.env, &Ok(outcome(false)), &mut Vec::new()), 1);
        assert!(job.outputs().contains("gates-passed=false\n"));
    }

    #[test]
    fn a_failed_run_annotates_summarises_and_exits_1() {
        let job = Job::new();
        let mut out = Vec::new();
        let error = ActionError::Failed("MetaGPT exited with 3\nsee the log".to_owned());
        assert_eq!(finish(&job.env, &Err(error), &mut out), 1);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "::error title=MetaGPT run failed::MetaGPT exited with 3%0Asee the log\n"
        );
        assert_eq!(
            job.outputs(),
            "pr-number=\npr-url=\ncost-usd=\ngates-passed=false\nbranch-name=\nevidence-dir=\n"
        );
        assert!(job.summary().contains("MetaGPT exited with 3"));
    }

    #[test]
    fn a_misconfiguration_found_during_the_run_exits_2() {
        let job = Job::new();
        let error = ActionError::Misconfigured("the token cannot write checks".to_owned());
        assert_eq!(finish(&job.env, &Err(error), &mut Vec::new()), 2);
    }

    #[test]
    fn nothing_to_do_leaves_gates_passed_empty_and_one_summary_line() {
        let job = Job::new();
        let mut out = Vec::new();
        let reason = "label `bug` is not the trigger label `metagpt`";
        assert_eq!(nothing_to_do(&job.env, reason, &mut out), 0);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "::notice::nothing to do: label `bug` is not the trigger label `metagpt`\n"
        );
        assert_eq!(
            job.outputs(),
            "pr-number=\npr-url=\ncost-usd=0\ngates-passed=\nbranch-name=\nevidence-dir=\n"
        );
        assert_eq!(
            job.summary(),
            "MetaGPT: nothing to do: label `bug` is not the trigger label `metagpt`\n"
        );
    }

    #[test]
    fn unwritable_outputs_turn_success_into_failure() {
        let mut job = Job::new();
        job.env.output_file = "/nonexistent-dir/output".into();
        let mut out = Vec::new();
        assert_eq!(finish(&job.env, &Ok(outcome(true)), &mut out), 1);
        let printed = String::from_utf8(out).unwrap();
        assert!(printed.starts_with("::error title=MetaGPT action outputs::could not write"));
        assert!(printed.contains("/nonexistent-dir/output"), "{printed}");
    }
}
