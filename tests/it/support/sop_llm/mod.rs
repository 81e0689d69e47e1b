//! A scripted MetaGPT 0.8.2 team for end-to-end tests: answers every SOP step of an incremental run
//! (PRD, design, tasks, code plan, code, review, code summary, tests, test-run summary, debug) the way a good model
//! would, in the exact formats MetaGPT parses, following a [`Scenario`].
//!
//! Install it as the fallback of a `ScriptedLlm`. Each request is classified by the gateway's own
//! `classify` (the step markers of `METAGPT.md`; the rewrite after an LBTM is its own step,
//! `RewriteCode`). Token usage is fixed per step ([`usage`]), so a run's cost is known from
//! the steps it took; [`Sop::served`] lists every answer with the usage it reported. A prompt the script
//! cannot read is answered 400 and listed in [`Sop::unreadable`] (MetaGPT then retries with long
//! backoffs, so a test should check it and fail fast).

pub mod answers;
pub mod changes;
pub mod harness;
pub mod overreach;
pub mod python;
pub mod scenario;
pub mod seed;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use metagpt_bot::run::gateway::{Step, classify};
use serde_json::Value;

use crate::support::scripted_llm::{Reply, ScriptedLlm};
pub use scenario::Scenario;

/// One answer the script gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    pub step: Step,
    /// What was answered, e.g. `code calc.py`, `review calc.py LBTM`, `summary test_calc.py FAIL`.
    pub what: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

#[derive(Default)]
struct State {
    /// Versions of each file (code or test) handed out so far.
    versions: HashMap<String, u32>,
    reviews: HashMap<String, u32>,
    served: Vec<Served>,
    unreadable: Vec<String>,
}

pub struct Sop {
    scenario: Scenario,
    state: Mutex<State>,
}

/// The usage reported for a step: fixed, so costs are predictable from the steps alone.
pub fn usage(step: Step) -> (u64, u64) {
    match step {
        Step::IssueType => (500, 30),
        Step::IsRelative => (600, 40),
        Step::Prd => (1200, 400),
        Step::Design => (1500, 500),
        Step::Tasks => (1300, 300),
        Step::CodePlan => (1400, 350),
        Step::WriteCode => (900, 150),
        Step::RewriteCode => (1250, 160),
        Step::SummarizeCode => (1600, 200),
        Step::CheckSummary => (300, 10),
        Step::CodeReview => (1100, 80),
        Step::WriteTest => (700, 120),
        Step::SummarizeRun => (800, 60),
        Step::Debug => (900, 130),
        Step::Other => (100, 10),
    }
}

impl Sop {
    pub fn new(scenario: Scenario) -> Arc<Sop> {
        Arc::new(Sop {
            scenario,
            state: Mutex::default(),
        })
    }

    /// Makes `llm` answer every request from this script.
    pub fn install(self: &Arc<Self>, llm: &ScriptedLlm) {
        let sop = self.clone();
        llm.set_fallback(move |request| sop.answer(request));
    }

    /// Like [`Sop::install`], but from the first request of `step` on, every request is answered 500:
    /// a provider outage in the middle of a run. The steps before it are answered (and listed) as usual.
    pub fn install_failing_from(self: &Arc<Self>, llm: &ScriptedLlm, step: Step) {
        let sop = self.clone();
        let failing = AtomicBool::new(false);
        llm.set_fallback(move |request| {
            if classify(request).step == step {
                failing.store(true, Ordering::SeqCst);
            }
            if failing.load(Ordering::SeqCst) {
                return Reply::error(500, &format!("scripted outage from the {step:?} step on"));
            }
            sop.answer(request)
        });
    }

    /// Every answer so far, in order.
    pub fn served(&self) -> Vec<Served> {
        self.state.lock().unwrap().served.clone()
    }

    /// The sums of the usage reported so far: (prompt, completion).
    pub fn usage_total(&self) -> (u64, u64) {
        self.served().iter().fold((0, 0), |(p, c), s| {
            (p + s.prompt_tokens, c + s.completion_tokens)
        })
    }

    /// The beginnings of prompts the script could not answer.
    pub fn unreadable(&self) -> Vec<String> {
        self.state.lock().unwrap().unreadable.clone()
    }

    fn answer(&self, request: &Value) -> Reply {
        let prompt = last_user_message(request);
        let step = classify(request).step;
        let mut state = self.state.lock().unwrap();
        let Some((what, content)) = self.reply(&mut state, step, &prompt) else {
            let head: String = prompt.chars().take(300).collect();
            state.unreadable.push(format!("{step:?}: {head}"));
            return Reply::error(400, &format!("sop script cannot read this {step:?} prompt"));
        };
        let (prompt_tokens, completion_tokens) = usage(step);
        state.served.push(Served {
            step,
            what,
            prompt_tokens,
            completion_tokens,
        });
        Reply::chat(&content, prompt_tokens, completion_tokens)
    }

    /// `(what, reply text)` for one prompt, or `None` when the prompt does not read as `step`.
    fn reply(&self, state: &mut State, step: Step, prompt: &str) -> Option<(String, String)> {
        let s = &self.scenario;
        let mut next_version = |file: &str| {
            let n = state.versions.entry(file.to_owned()).or_default();
            *n += 1;
            *n
        };
        Some(match step {
            // The engineer's summary of the code it wrote, and whether that summary leaves anything
            // to do: MetaGPT 0.8.2 asks them when the source folder holds files it did not write.
            Step::SummarizeCode if prompt.contains(answers::SUMMARIZE_CODE) => {
                ("summarize code".to_owned(), answers::code_summary())
            }
            Step::CheckSummary if prompt.contains(answers::IS_PASS) => {
                ("summary passes".to_owned(), "YES".to_owned())
            }
            Step::IssueType
            | Step::IsRelative
            | Step::Prd
            | Step::Design
            | Step::Tasks
            | Step::CodePlan => (
                format!("{step:?}"),
                answers::node(prompt, &s.node_values())?,
            ),
            Step::WriteCode => {
                let file = answers::file_after(prompt, "## Code: ")?;
                let code = s.in_package_text(s.code(&file, next_version(&file))?);
                let code = answers::code(&file, &code, s.code_header());
                (format!("code {file}"), code)
            }
            Step::RewriteCode => {
                let file = answers::file_after(prompt, "# Instruction: rewrite the `")?;
                let code = s.in_package_text(s.code(&file, next_version(&file))?);
                let code = answers::rewrite(&file, &code, s.code_header());
                (format!("rewrite {file}"), code)
            }
            Step::CodeReview => {
                let file = answers::file_after(prompt, "## Code to be Reviewed: ")?;
                let n = state.reviews.entry(file.clone()).or_default();
                *n += 1;
                let reject = *n == 1 && s.reject_review_once == Some(file.as_str());
                let reason = reject.then_some("subtract must return a - b, not b - a.");
                let verdict = if reject { "LBTM" } else { "LGTM" };
                (
                    format!("review {file} {verdict}"),
                    answers::review(&file, reason),
                )
            }
            Step::WriteTest => {
                let path = answers::file_after(prompt, "we will put your test code at ")?;
                let test_file = path.rsplit('/').next()?.to_owned();
                let code_file = answers::file_after(prompt, "the code to test is at ")
                    .and_then(|p| p.rsplit('/').next().map(str::to_owned))
                    .unwrap_or_else(|| Scenario::code_file_of(&test_file));
                // Versions count per code file, so the debug step (which names the code file) follows.
                let nth = next_version(&format!("test_{code_file}"));
                let code = s.block(&test_file, s.tests(&code_file, nth)?);
                (
                    format!("tests {test_file}"),
                    answers::tests(&test_file, &code),
                )
            }
            Step::SummarizeRun => {
                let test_file = answers::file_after(prompt, "## Test File Name\n")?;
                let passed = answers::run_passed(prompt);
                let status = if passed { "PASS" } else { "FAIL" };
                (
                    format!("summary {test_file} {status}"),
                    answers::summary(&test_file, passed, s.send_failures_to),
                )
            }
            Step::Debug => {
                let (_, section) = prompt.split_once("# Unit Test Code")?;
                let code_file = Scenario::code_file_of(&format!(
                    "test_{}",
                    answers::file_after(section, "# test_")?
                ));
                let test_file = format!("test_{code_file}");
                let code = s.block(&test_file, s.tests(&code_file, next_version(&test_file))?);
                (
                    format!("debug {test_file}"),
                    answers::debug(&test_file, &code),
                )
            }
            Step::SummarizeCode | Step::CheckSummary | Step::Other => return None,
        })
    }
}

fn last_user_message(request: &Value) -> String {
    let messages = request.get("messages").and_then(Value::as_array);
    messages
        .into_iter()
        .flatten()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(|m| m.get("content").and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned()
}
