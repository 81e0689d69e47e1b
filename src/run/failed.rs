//! What a run that failed leaves in `--out` (`run --out`): `cost.json` (what was spent, the same format as
//! a successful run's), `trace.jsonl` (MetaGPT's messages so far) and `failure.md` (the error, the step
//! it failed at, what was spent), so a crash, a refused budget, garbage answers or a time-out cost
//! money and still leave an account of it.
//!
//! Invariants:
//! - Only a failure writes here, and only into `--out`: nothing in the repository, nothing committed.
//! - The trace is redacted like a successful run's (the provider key and every credential shape, which
//!   includes the run token) and so is the error message; `cost.json` is built from the gateway's
//!   ledger as a successful run's is, so its tokens and cost are the calls actually paid for.
//! - `pr-body.md` and `gates.json` are removed from `--out`: a failed run has no verdict, and a copy left
//!   by an earlier run must not pass for this one's.
//! - Writing the account never changes the run's error: a problem writing it is logged.

use std::path::{Path, PathBuf};

use super::{Plan, RunError, SoFar};
use crate::marks::{COST_JSON, FAILURE_MD, GATES_JSON, TRACE_JSONL, target_dir};
use crate::redact::redact;
use crate::run::evidence::Store;
use crate::run::gateway::{CallRecord, CostReport, read_jsonl};
use crate::run::steps::last_step;
use secrecy::ExposeSecret;

/// What is known of a run before it starts, for the account of its failure.
pub(super) struct Before {
    out: PathBuf,
    run: String,
    iteration: u32,
    previous_cost: Option<CostReport>,
    max_usd: f64,
    key: String,
}

impl Before {
    /// `None` without `--out`: a failure then leaves no account.
    pub(super) fn of(plan: &Plan<'_>) -> Option<Before> {
        let out = plan.out?.to_path_buf();
        let (iteration, previous_cost) = Store::new(plan.workspace, &plan.target).next();
        Some(Before {
            out,
            run: target_dir(&plan.target),
            iteration,
            previous_cost,
            max_usd: plan.settings.max_cost_usd,
            key: plan.llm.key().expose_secret().to_owned(),
        })
    }

    /// Writes the account of `error` from the gateway's `ledger` and the agent's `trace` (either may be
    /// missing: the run failed before writing it).
    pub(super) fn leave(&self, ledger: &Path, trace: &Path, error: &RunError) {
        if let Err(e) = self.write(ledger, trace, error) {
            tracing::error!(error = %e, out = %self.out.display(), "cannot write the failed run's account");
        }
    }

    fn write(&self, ledger: &Path, trace: &Path, error: &RunError) -> std::io::Result<()> {
        let records = if ledger.exists() {
            read_jsonl(ledger).map_err(std::io::Error::other)?
        } else {
            Vec::new()
        };
        let cost = CostReport::build(self.iteration, &records, self.previous_cost.as_ref());
        let trace = match std::fs::read(trace) {
            Ok(bytes) => redact(&String::from_utf8_lossy(&bytes), &[&self.key]),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let failure = Failure {
            run: &self.run,
            iteration: self.iteration,
            message: redact(&error.to_string(), &[&self.key]),
            step: last_step(&trace),
            last_call: records.last(),
            cost: &cost,
            max_usd: error.spent().map_or(self.max_usd, |b| b.max_usd),
            exhausted: error.spent().is_some_and(|b| b.exhausted),
        };
        let mut cost_json = serde_json::to_string_pretty(&cost).map_err(std::io::Error::other)?;
        cost_json.push('\n');
        std::fs::create_dir_all(&self.out)?;
        for stale in ["pr-body.md", GATES_JSON] {
            match std::fs::remove_file(self.out.join(stale)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::write(self.out.join(COST_JSON), cost_json)?;
        std::fs::write(self.out.join(TRACE_JSONL), trace)?;
        std::fs::write(self.out.join(FAILURE_MD), failure.render())
    }
}

/// How far a failed agent got, from the gateway's `ledger` and the agent's `trace` (either may be
/// missing or unreadable: then it says nothing of it).
pub(super) fn so_far(ledger: &Path, trace: &Path) -> SoFar {
    let records = read_jsonl(ledger).unwrap_or_default();
    let trace = std::fs::read_to_string(trace).unwrap_or_default();
    // Counted as cost.json counts them.
    let total = CostReport::build(1, &records, None).total;
    SoFar {
        last_step: last_step(&trace),
        calls: total.calls,
        prompt_tokens: total.prompt_tokens,
        completion_tokens: total.completion_tokens,
    }
}

/// The failure as `failure.md` tells it.
struct Failure<'a> {
    /// `local-<slug>` or the issue number.
    run: &'a str,
    iteration: u32,
    /// The run's error, redacted.
    message: String,
    /// The step of MetaGPT's last message in its trace (`ProductManager: WritePRD`), if it wrote one.
    step: Option<String>,
    last_call: Option<&'a CallRecord>,
    cost: &'a CostReport,
    max_usd: f64,
    exhausted: bool,
}

impl Failure<'_> {
    fn render(&self) -> String {
        let total = &self.cost.total;
        let finished = self.step.as_deref().map_or_else(
            || "none".to_owned(),
            |step| format!("`{step}` (the last message in the trace)"),
        );
        let last_call = self.last_call.map_or_else(
            || "none".to_owned(),
            |call| {
                let error = call
                    .error
                    .as_deref()
                    .map(|e| format!(": {}", one_line(e)))
                    .unwrap_or_default();
                format!(
                    "#{} at step `{}` ({}), HTTP {}{error}",
                    call.seq, call.step, call.role, call.status
                )
            },
        );
        let budget = if self.exhausted {
            " The budget was exhausted: the gateway refused the next call."
        } else {
            ""
        };
        let mut text = format!(
            "# The run failed\n\n\
             Run `{run}`, iteration {iteration}. Nothing was committed.\n\n\
             - Last LLM call: {last_call}\n\
             - Last step finished: {finished}\n\
             - Spent: ${spent:.4} of ${max:.2} in {calls} LLM call(s), {prompt} prompt and {completion} \
             completion tokens.{budget}\n\n\
             ## The error\n\n```text\n{message}\n```\n\n\
             ## Files\n\n\
             - `{COST_JSON}`: the calls paid for, by role (the same format as a successful run's)\n\
             - `{TRACE_JSONL}`: MetaGPT's messages up to the failure, secrets redacted\n",
            run = self.run,
            iteration = self.iteration,
            spent = total.cost_usd,
            max = self.max_usd,
            calls = total.calls,
            prompt = total.prompt_tokens,
            completion = total.completion_tokens,
            message = self.message.trim_end().replace("```", "'''"),
        );
        if self.cost.cumulative != *total {
            text.push_str(&format!(
                "\nAll iterations of this run so far: ${:.4}.\n",
                self.cost.cumulative.cost_usd
            ));
        }
        text
    }
}

/// `text` on one line, at most 200 characters.
fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::gateway::Step;

    fn call(seq: u64, step: Step, error: Option<&str>) -> CallRecord {
        serde_json::from_value(serde_json::json!({
            "seq": seq, "ts": "2025-01-01T00:00:00Z", "role": "ProductManager", "step": step,
            "model": "gpt-4o-mini", "provider": "openai", "stream": false,
            "status": if error.is_some() { 402 } else { 200 },
            "prompt_tokens": 1200, "completion_tokens": 300, "usage_reported": true,
            "cost_usd": 0.0048, "priced": true, "latency_ms": 10, "attempts": 1,
            "request_hash": "00", "error": error,
        }))
        .expect("a ledger record")
    }

    #[test]
    fn failure_md_names_the_step_the_last_call_and_what_was_spent() {
        let records = [
            call(1, Step::Prd, None),
            call(2, Step::Prd, Some("budget exhausted:\n$0.0048 of $0.0050")),
        ];
        let previous = CostReport::build(1, &records[..1], None);
        let cost = CostReport::build(2, &records, Some(&previous));
        let failure = Failure {
            run: "local-add-a-discount-code",
            iteration: 2,
            message: "MetaGPT failed in the requirement flow: budget exhausted\nspent $0.0096 of \
                      $0.01. Nothing was committed."
                .into(),
            step: Some("ProductManager: WritePRD".into()),
            last_call: records.last(),
            cost: &cost,
            max_usd: 0.01,
            exhausted: true,
        };
        insta::assert_snapshot!("failure_md", failure.render());
    }

    #[test]
    fn a_failure_before_any_call_says_so() {
        let cost = CostReport::build(1, &[], None);
        let failure = Failure {
            run: "local-fix-the-crash",
            iteration: 1,
            message: "the MetaGPT wrapper exited (signal 9) without writing its result".into(),
            step: None,
            last_call: None,
            cost: &cost,
            max_usd: 3.0,
            exhausted: false,
        };
        insta::assert_snapshot!("failure_md_before_any_call", failure.render());
    }
}
