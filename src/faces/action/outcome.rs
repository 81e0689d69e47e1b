//! What a finished `metagpt-bot action` leaves for the workflow: the step outputs (`pr-number`, `pr-url`,
//! `cost-usd`, `gates-passed`), the job summary, an `::error::` annotation when it failed, and the exit code.
//!
//! Invariants:
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

use super::env::ActionEnv;
use super::runner;

/// The result of one run of the pipeline, as the workflow sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionOutcome {
    pub pr_number: Option<u64>,
    pub pr_url: Option<String>,
    /// What this run's LLM calls cost.
    pub cost_usd: f64,
    pub gates_passed: bool,
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
        Err(error) => {
            let title = match error {
                ActionError::Misconfigured(_) => MISCONFIGURED,
                ActionError::Failed(_) | ActionError::NothingRan(_) => "MetaGPT run failed",
            };
            let _ = writeln!(out, "{}", runner::error(title, &error.to_string()));
            let summary = format!("### {title}\n\n{error}\n");
            write_all(env, ["", "", "", "false"], &summary)
        }
    };
    report_write_error(written, code, out)
}

/// `code`, or at least 1 with an annotation when the outputs or summary could not be written.
fn report_write_error(written: std::io::Result<()>, code: u8, out: &mut impl Write) -> u8 {
    match written {
        Ok(()) => code,
        Err(error) => {
            let message = format!("could not write the step outputs or job summary: {error}");
            let _ = writeln!(out, "{}", runner::error("MetaGPT action outputs", &message));
            code.max(1)
        }
    }
}

/// A job whose event asks for nothing: a `::notice::` with the reason, the outputs and a one-line summary;
/// returns the exit code (0, or 1 when the outputs cannot be written).
pub fn nothing_to_do(env: &ActionEnv, reason: &str, out: &mut impl Write) -> u8 {
    let _ = writeln!(
        out,
        "{}",
        runner::notice(&format!("nothing to do: {reason}"))
    );
    let summary = format!("MetaGPT: nothing to do: {reason}\n");
    report_write_error(write_all(env, ["", "", "0", ""], &summary), 0, out)
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
    ];
    write_all(env, values, &outcome.summary_markdown)
}

/// The outputs in `action.yml`'s order.
pub const OUTPUTS: [&str; 4] = ["pr-number", "pr-url", "cost-usd", "gates-passed"];

fn write_all(env: &ActionEnv, values: [&str; 4], summary: &str) -> std::io::Result<()> {
    for (name, value) in OUTPUTS.iter().zip(values) {
        runner::append_output(&env.output_file, name, value)?;
    }
    runner::append_summary(&env.summary_file, summary)
}

#[cfg(test)]
#[path = "outcome_tests.rs"]
mod tests;
