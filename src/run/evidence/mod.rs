//! Evidence of a run: the SOP artifacts MetaGPT left in the repository, the quality gates, the report
//! and the markdown shown on GitHub (PR body, check-run summary), and the evidence folder
//! `.metagpt/runs/<N>/<k>/` on the branch.
//!
//! Everything here is a function of a repository directory and the inputs the run hands in; nothing
//! calls the network or MetaGPT. The run (`run::finish`) calls, after the agent: [`collect`] (artifacts, given the
//! changed paths) → [`evaluate`] (gates) → [`CostReport::build`] (the gateway's) → [`build_report`] →
//! [`Renderer`] (`summary`, `pr_section`, `check_run_summary`) → [`Store::write`]; the publisher renders
//! the same report, or a committed one read back with [`Store::committed`] after a crash.
//!
//! Invariants: untrusted text (issue text, LLM output) reaches markdown only escaped, so it cannot forge
//! the bot's markers; every gate always appears in `gates.json` with a detail naming what failed; a
//! malformed document fails its gate instead of aborting the run's evidence; [`Store`] is the only
//! reader and writer of `.metagpt/runs`.
//!
//! Files: `artifacts.rs` (what MetaGPT left), `gates.rs`, `review.rs` (code review verdicts),
//! `report.rs`, `render.rs` (templates and markdown escaping), `store.rs` (the evidence folder),
//! `error.rs`.
//!
//! [`CostReport::build`]: crate::run::gateway::CostReport::build

mod artifacts;
mod error;
mod gates;
mod render;
mod report;
mod review;
mod scope;
mod store;

pub use artifacts::{
    Artifacts, CodePlan, Design, Doc, Fields, FileRef, Invalid, Places, PoolItem, Prd, SpecChange,
    Tasks, TestOutput, TraceEntry, collect, parse_json, prd_change, read_trace,
};
pub use error::EvidenceError;
pub use gates::{
    Budget, CODE_REVIEWED, DESIGN_PRESENT, Gate, GateInputs, GateReport, NO_SECRETS_IN_DIFF,
    PRD_VALID, PROTECTED_PATHS, SecretFinding, SecretScan, TASKS_COVER_CHANGES, TESTS_PASS,
    TESTS_WRITTEN, TestVerdict, WITHIN_BUDGET, evaluate, judge as judge_test_output,
    scan as scan_secrets,
};
pub use render::{CHECK_RUN, PR_BODY, Renderer, SUMMARY, markdown};
pub use report::{FileChange, IterationRow, Report, ReportInput, RunInfo, build as build_report};
pub use review::{
    FileReview, ReviewVerdict, Verdict, final_verdicts, parse_review_reply, review_file_from_prompt,
};
pub use scope::{ProjectTests, ScopeInputs, evaluate as evaluate_scope};
pub use store::{Committed, Iteration, Store};
