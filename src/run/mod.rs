//! One MetaGPT run on a prepared branch, shared by every face (`run`, the App, the Action): write the
//! issue text, start the LLM gateway, run the agent, judge the result, write the evidence, commit.
//!
//! The caller owns everything around it: getting the repository (open or clone), preparing the branch,
//! the preflight, and what happens to the commit afterwards (nothing locally; push and pull request on
//! GitHub). [`execute`] does, in order: the iteration (1 + the highest `.metagpt/runs/<target>/<k>/` on
//! the branch) → `docs/requirement.txt` or `docs/bugfix.txt` → the gateway on 127.0.0.1 with the real key
//! and a run with the budget (ledger in a private temporary directory, replay cache when asked) →
//! [`agent::run`] → protected paths restored → evidence (gates, cost, report) into
//! `.metagpt/runs/<target>/<k>/` → one commit as the bot.
//!
//! Invariants:
//! - The provider key reaches only the gateway; MetaGPT sees a per-run token. Both are redacted from the
//!   trace, the ledger and every error message, and `no_secrets_in_diff` checks the diff for them.
//! - A run that failed (agent error, time-out, budget refused, LLM failing, cancelled) commits nothing:
//!   the work tree is left as the agent wrote it and the error says so.
//! - Protected paths the agent changed fail the `protected_paths` gate and are restored to the run's
//!   start commit before the commit, so nothing protected is ever committed.
//! - `cost.json`'s `cumulative` adds the previous iteration's; changes (gates, line counts, protected
//!   paths) are measured against the commit the run started from, so an iteration is judged on its own.

pub mod agent;
mod commit;
pub mod evidence;
mod finish;
pub mod gateway;
mod llm;
mod repo;
mod steps;

pub use llm::{LlmSetup, resolve as resolve_llm, resolve_for as resolve_llm_for};

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use crate::domain::Kind;
use crate::domain::RunTarget;
use crate::redact::redact;
use crate::run::evidence::{Budget, GateReport, Report, RunInfo};
use crate::run::gateway::{
    CacheOptions, CostReport, Gateway, GatewayConfig, RunBudget, RunOptions,
};
use crate::workspace::{CommitSubject, PreparedBranch, SourceLayout, Workspace};
use agent::{AgentOptions, AgentRun};

/// The knobs of one run (flags locally, `.github/metagpt.yml` and inputs on GitHub).
#[derive(Debug, Clone, PartialEq)]
pub struct RunSettings {
    pub n_round: u32,
    pub max_cost_usd: f64,
    pub code_review: bool,
    pub run_tests: bool,
    pub timeout: Duration,
    pub protected_paths: Vec<String>,
    /// The gateway's time-out per provider attempt.
    pub llm_timeout: Duration,
}

/// The gateway's time-out per provider attempt unless a face sets another.
pub const DEFAULT_LLM_TIMEOUT: Duration = Duration::from_secs(600);

/// Everything [`execute`] needs; the branch is checked out and passed the preflight.
pub struct Plan<'a> {
    /// Borrowed mutably only so the run's future is `Send` (a `Workspace` is `Send`, not `Sync`).
    pub workspace: &'a mut Workspace,
    pub branch: &'a PreparedBranch,
    pub layout: &'a SourceLayout,
    pub target: RunTarget,
    pub subject: CommitSubject,
    pub kind: Kind,
    /// The issue's title (or the request's first line).
    pub title: String,
    /// The text written to `docs/requirement.txt` or `docs/bugfix.txt` and given to MetaGPT.
    pub text: String,
    pub settings: &'a RunSettings,
    pub llm: &'a LlmSetup,
    /// The gateway's replay cache for this iteration (answers stored; replayed when `replay`).
    pub cache: Option<CacheOptions>,
    /// Where `pr-body.md`, `cost.json`, `gates.json`, `trace.jsonl` are copied (`run --out`).
    pub out: Option<&'a Path>,
    pub email: &'a str,
    /// Extra lines at the end of the commit message (e.g. a `MetaGPT-Job:` trailer).
    pub trailer: Option<String>,
    /// Prefix for the evidence links in the report (the branch's blob URL on GitHub).
    pub link_base: Option<String>,
    /// Receives MetaGPT's current SOP step while it works (for a progress comment).
    pub steps: Option<tokio::sync::watch::Sender<Option<String>>>,
}

/// A run that reached its verdict.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub iteration: u32,
    /// The bot's commit (`None` when the work tree did not change at all).
    pub commit: Option<git2::Oid>,
    pub evidence_dir: String,
    pub gates: GateReport,
    pub cost: CostReport,
    /// The report the PR body, check run and summaries are rendered from.
    pub report: Report,
}

impl Outcome {
    /// Names of the gates that failed.
    pub fn failed_gates(&self) -> Vec<String> {
        self.gates
            .gates
            .iter()
            .filter(|g| !g.passed)
            .map(|g| g.name.clone())
            .collect()
    }
}

/// The iteration a run on this work tree would be, and the previous iteration's cost.
pub fn next_iteration(workspace: &Workspace, target: &RunTarget) -> (u32, Option<CostReport>) {
    repo::iteration(workspace.root(), target)
}

/// Runs MetaGPT as described in the module documentation. `Err` is a message for a person, with the
/// secrets already redacted.
pub async fn execute(plan: Plan<'_>, cancel: CancellationToken) -> Result<Outcome, String> {
    let key = plan.llm.key().expose_secret().to_owned();
    let failed = |e: String| redact(&e, &[&key]);
    let (iteration, previous_cost) = next_iteration(plan.workspace, &plan.target);
    plan.workspace
        .write_issue_text(plan.kind, &plan.text)
        .map_err(|e| failed(e.to_string()))?;

    let scratch = tempfile::Builder::new()
        .prefix("metagpt-run-")
        .tempdir()
        .map_err(|e| failed(format!("cannot create a private temporary directory: {e}")))?;
    let mut config = GatewayConfig::new(plan.llm.upstream.clone());
    config.prices = plan.llm.prices.clone();
    config.request_timeout = plan.settings.llm_timeout;
    let gateway = Gateway::start(config)
        .await
        .map_err(|e| failed(format!("{e:#}")))?;
    let llm_path = scratch.path().join("llm.jsonl");
    let handle = plan
        .llm
        .open_run(
            &gateway,
            RunOptions {
                budget: RunBudget {
                    max_cost_usd: plan.settings.max_cost_usd,
                },
                ledger_path: Some(llm_path.clone()),
                cache: plan.cache.clone(),
            },
        )
        .map_err(|e| failed(format!("{e:#}")))?;
    let token = handle.token().expose_secret().to_owned();
    let secrets = vec![key.clone(), token];
    let agent_dir = scratch.path().join("agent");
    std::fs::create_dir_all(&agent_dir)
        .map_err(|e| failed(format!("cannot create {}: {e}", agent_dir.display())))?;
    let trace = agent_dir.join("trace.jsonl");
    let agent_run = AgentRun {
        run_id: format!("{}-{iteration}", crate::marks::target_dir(&plan.target)),
        python: plan.llm.python.clone(),
        repo: plan.workspace.root().to_path_buf(),
        idea: plan.text.clone(),
        kind: plan.kind,
        options: AgentOptions {
            n_round: plan.settings.n_round,
            code_review: plan.settings.code_review,
            run_tests: plan.settings.run_tests,
            investment_usd: plan.settings.max_cost_usd,
            sandbox: plan.llm.sandbox,
        },
        gateway_url: gateway.base_url(),
        gateway_socket: gateway.socket_path().map(Path::to_path_buf),
        token: handle.token().clone(),
        model: plan.llm.model.clone(),
        price: Some(plan.llm.price),
        source_dir: (!plan.layout.is_default).then(|| plan.layout.source_dir.clone().into()),
        trace_path: trace.clone(),
        timeout: plan.settings.timeout,
    };
    let watcher = plan
        .steps
        .clone()
        .map(|steps| tokio::spawn(steps::watch(trace.clone(), steps)));
    let outcome = agent::run(agent_run, cancel).await;
    if let Some(watcher) = watcher {
        watcher.abort();
    }
    let spent = handle.spent_usd();
    let outcome = outcome.map_err(|e| {
        failed(format!(
            "{e}\nspent ${spent:.4} of ${:.2}. Nothing was committed.",
            plan.settings.max_cost_usd
        ))
    })?;

    let start = plan.branch.head;
    let protected = plan
        .workspace
        .protected_changes(start, &plan.settings.protected_paths)
        .map_err(|e| failed(e.to_string()))?;
    repo::restore(plan.workspace.root(), start, &protected).map_err(failed)?;
    let run_info = RunInfo {
        target: plan.target.clone(),
        iteration,
        kind: plan.kind,
        flow: outcome.flow,
        title: plan.title.clone(),
        request: plan.text.clone(),
    };
    let ledger = handle.ledger();
    let written = {
        let done = finish::Finished {
            workspace: &*plan.workspace,
            run: &run_info,
            start,
            layout: plan.layout,
            code_review: plan.settings.code_review,
            run_tests: plan.settings.run_tests,
            protected_touched: &protected,
            budget: Budget {
                spent_usd: handle.spent_usd(),
                max_usd: plan.settings.max_cost_usd,
                exhausted: handle.budget_exhausted(),
            },
            ledger: &ledger,
            previous_cost: previous_cost.as_ref(),
            trace: &trace,
            reviews: &agent_dir.join("reviews.jsonl"),
            llm: &llm_path,
            secrets: &secrets,
            out: plan.out,
            link_base: plan.link_base.as_deref(),
        };
        finish::write(&done, scratch.path()).map_err(failed)?
    };
    drop(handle);
    gateway.shutdown().await;

    let commit = commit::commit(&plan, iteration, &written).map_err(failed)?;
    Ok(Outcome {
        iteration,
        commit,
        evidence_dir: written.dir,
        gates: written.gates,
        cost: written.cost,
        report: written.report,
    })
}

/// A private directory path helper for callers that keep a cache per iteration.
pub fn cache_dir(root: &Path, target: &RunTarget, iteration: u32) -> PathBuf {
    root.join(crate::marks::target_dir(target))
        .join(iteration.to_string())
}
