//! `metagpt-bot run`: one MetaGPT run on a repository on disk, without GitHub.
//!
//! [`run`] does, in order: check the flags and the agent settings (exit 2 on any problem, each with its
//! fix) → open the repository (no clone, no push, no token), refuse a dirty tree, check out
//! `metagpt/local-<slug>`, [`Workspace::preflight`] (exit 2 before any LLM call), write
//! `docs/requirement.txt` or `docs/bugfix.txt` → start the LLM gateway on 127.0.0.1 with the real key and
//! open a run with the budget (ledger in a private temporary directory) → [`agent::run`] with the gateway
//! URL and the run token → evidence (gates, cost, report) into `.metagpt/runs/local-<slug>/<k>/` → one
//! commit as the bot → the `--out` copies.
//!
//! Invariants:
//! - The provider key reaches only the gateway; MetaGPT sees a per-run token. Both are redacted from the
//!   trace, the ledger and every error message, and `no_secrets_in_diff` checks the diff for them.
//! - A run that failed (agent error, time-out, budget refused, LLM failing) commits nothing: the work tree
//!   is left as the agent wrote it, for inspection, and the message says so (exit 1).
//! - Protected paths the agent changed fail the `protected_paths` gate and are restored to the run's
//!   start commit before the commit, so nothing protected is ever committed.
//! - The iteration is 1 + the highest `.metagpt/runs/local-<slug>/<k>/` on the branch; `cost.json`'s
//!   `cumulative` adds the previous iteration's.
//! - Changes (gates, line counts, protected paths) are measured against the commit the run started from,
//!   so a later iteration is judged on its own work.

mod args;
mod evidence;
mod llm;
mod repo;

pub use args::{Request, RunArgs};
pub use llm::{LlmSetup, resolve as resolve_llm};

use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use crate::agent::{self, AgentOptions, AgentRun};
use crate::config::Settings;
use crate::evidence::{Budget, Flow, RunInfo, RunTarget};
use crate::gateway::{Gateway, GatewayConfig, RunBudget, RunOptions, redact};
use crate::workspace::{
    BOT_NAME, CommitOutcome, CommitRequest, CommitSubject, Credentials, DEFAULT_BOT_EMAIL,
    Workspace, local_branch, slug,
};

/// Why a run did not produce a verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// Bad flags, settings or repository: nothing was spent (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The run started and failed: nothing was committed (exit 1).
    #[error("{0}")]
    Failed(String),
}

impl RunError {
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Usage(_) => 2,
            RunError::Failed(_) => 1,
        }
    }
}

/// A run that ran to its verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    pub branch: String,
    pub iteration: u32,
    /// The bot's commit (`None` when the work tree did not change at all).
    pub commit: Option<git2::Oid>,
    pub evidence_dir: String,
    pub gates_passed: bool,
    /// Names of the gates that failed.
    pub failed_gates: Vec<String>,
    pub cost_usd: f64,
    pub cumulative_cost_usd: f64,
}

/// Runs MetaGPT on `args.repo` as described in the module documentation.
pub async fn run(
    args: &RunArgs,
    settings: &Settings,
    cancel: CancellationToken,
) -> Result<RunSummary, RunError> {
    args.check().map_err(RunError::Usage)?;
    let request = args.request().map_err(RunError::Usage)?;
    let llm = llm::resolve(settings).map_err(|problems| {
        let list: Vec<String> = problems.iter().map(|p| format!("- {p}")).collect();
        RunError::Usage(format!(
            "the agent settings are incomplete:\n{}",
            list.join("\n")
        ))
    })?;
    let key = llm.key().expose_secret().to_owned();
    let usage = |e: String| RunError::Usage(redact(&e, &[&key]));

    let workspace =
        Workspace::open(&args.repo, Credentials::none()).map_err(|e| usage(e.to_string()))?;
    let dirty = repo::unclean_paths(workspace.root(), 10).map_err(usage)?;
    if !dirty.is_empty() {
        return Err(usage(format!(
            "the repository {} has uncommitted changes ({}); commit or stash them first, so the run's \
             commit holds only the run's work",
            workspace.root().display(),
            dirty.join(", ")
        )));
    }
    let slug = slug(&request.text);
    let branch = workspace
        .prepare_branch(&local_branch(&request.text))
        .map_err(|e| usage(e.to_string()))?;
    let layout = workspace
        .preflight(args.source_dir.as_deref())
        .map_err(|e| {
            usage(format!(
                "the repository does not suit MetaGPT's incremental mode: {e}"
            ))
        })?;
    let target = RunTarget::Local(slug.clone());
    let (iteration, previous_cost) = repo::iteration(workspace.root(), &target);
    workspace
        .write_issue_text(request.kind, &request.text)
        .map_err(|e| usage(e.to_string()))?;

    let failed = |e: String| RunError::Failed(redact(&e, &[&key]));
    let scratch = tempfile::Builder::new()
        .prefix("metagpt-local-")
        .tempdir()
        .map_err(|e| failed(format!("cannot create a private temporary directory: {e}")))?;
    let mut config = GatewayConfig::new(llm.upstream.clone());
    config.prices = llm.prices.clone();
    config.request_timeout = args.llm_timeout();
    let gateway = Gateway::start(config)
        .await
        .map_err(|e| failed(format!("{e:#}")))?;
    let llm_path = scratch.path().join("llm.jsonl");
    let handle = gateway
        .open_run(RunOptions {
            budget: RunBudget {
                max_cost_usd: args.max_cost_usd,
            },
            ledger_path: Some(llm_path.clone()),
            cache: None,
        })
        .map_err(|e| failed(format!("{e:#}")))?;
    let token = handle.token().expose_secret().to_owned();
    let secrets = vec![key.clone(), token.clone()];
    let agent_dir = scratch.path().join("agent");
    std::fs::create_dir_all(&agent_dir)
        .map_err(|e| failed(format!("cannot create {}: {e}", agent_dir.display())))?;
    let trace = agent_dir.join("trace.jsonl");
    let agent_run = AgentRun {
        run_id: format!("{}-{iteration}", target.dir_name()),
        python: llm.python.clone(),
        repo: workspace.root().to_path_buf(),
        idea: request.text.clone(),
        kind: request.kind,
        options: AgentOptions {
            n_round: args.n_round,
            code_review: args.code_review,
            run_tests: args.run_tests,
            investment_usd: args.max_cost_usd,
        },
        gateway_url: gateway.base_url(),
        token: handle.token().clone(),
        model: llm.model.clone(),
        price: Some(llm.price),
        source_dir: (!layout.is_default).then(|| layout.source_dir.clone().into()),
        trace_path: trace.clone(),
        timeout: args.timeout(),
    };
    let outcome = agent::run(agent_run, cancel).await;
    let spent = handle.spent_usd();
    let outcome = outcome.map_err(|e| {
        failed(format!(
            "{e}\nspent ${spent:.4} of ${:.2}. Nothing was committed; the work tree of {} on branch {} \
             is left as MetaGPT wrote it, for inspection (`git status`; `git checkout -- . && git clean -fd` \
             discards it).",
            args.max_cost_usd,
            workspace.root().display(),
            branch.name
        ))
    })?;

    let protected = workspace
        .protected_changes(branch.head, &args.protected_paths)
        .map_err(|e| usage(e.to_string()))?;
    repo::restore(workspace.root(), branch.head, &protected).map_err(failed)?;
    let run_info = RunInfo {
        target: target.clone(),
        iteration,
        kind: request.kind,
        flow: match outcome.flow {
            agent::Flow::Requirement => Flow::Requirement,
            agent::Flow::Bugfix => Flow::Bugfix,
            agent::Flow::RequirementForBug => Flow::BugAsRequirement,
        },
        title: request.title(),
        request: request.text.clone(),
    };
    let ledger = handle.ledger();
    let done = evidence::Finished {
        workspace: &workspace,
        run: &run_info,
        start: branch.head,
        layout: &layout,
        code_review: args.code_review,
        run_tests: args.run_tests,
        protected_touched: &protected,
        budget: Budget {
            spent_usd: handle.spent_usd(),
            max_usd: args.max_cost_usd,
            exhausted: handle.budget_exhausted(),
        },
        ledger: &ledger,
        previous_cost: previous_cost.as_ref(),
        trace: &trace,
        reviews: &agent_dir.join("reviews.jsonl"),
        llm: &llm_path,
        secrets: &secrets,
        out: args.out.as_deref(),
    };
    let written = evidence::write(&done, scratch.path()).map_err(failed)?;
    drop(handle);
    gateway.shutdown().await;

    let failed_gates: Vec<String> = written
        .gates
        .gates
        .iter()
        .filter(|g| !g.passed)
        .map(|g| g.name.clone())
        .collect();
    let verdict = if failed_gates.is_empty() {
        "All quality gates passed.".to_owned()
    } else {
        format!("Quality gates failed: {}.", failed_gates.join(", "))
    };
    let body = format!(
        "{}\n\n{verdict}\nEvidence: {}/",
        request.title(),
        written.dir
    );
    let commit = workspace
        .commit_all(&CommitRequest {
            subject: CommitSubject::Local(slug),
            iteration,
            body: &body,
            email: DEFAULT_BOT_EMAIL,
        })
        .map_err(|e| failed(format!("committing as {BOT_NAME}: {e}")))?;
    Ok(RunSummary {
        branch: branch.name,
        iteration,
        commit: match commit {
            CommitOutcome::Committed(id) => Some(id),
            CommitOutcome::NoChanges => None,
        },
        evidence_dir: written.dir,
        gates_passed: written.gates.passed,
        failed_gates,
        cost_usd: written.cost.total.cost_usd,
        cumulative_cost_usd: written.cost.cumulative.cost_usd,
    })
}
