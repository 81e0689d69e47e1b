//! `metagpt-bot run`: one MetaGPT run on a repository on disk, without GitHub.
//!
//! [`run`] does, in order: check the flags and the agent settings (exit 2 on any problem, each with its
//! fix) → open the repository (no clone, no push, no token), refuse a dirty tree, check out
//! `metagpt/local-<slug>`, [`Workspace::preflight`] (exit 2 before any LLM call) → [`run::execute`]
//! (gateway, agent, evidence into `.metagpt/runs/local-<slug>/<k>/`, one commit) → the `--out` copies.
//! With `--replay`, the summary also tallies how the calls matched the recording ([`ReplayTally`]).
//!
//! Invariants:
//! - Nothing is spent before the flags, the settings, the tree and its layout have been checked.
//! - A run that failed commits nothing: the work tree is left as the agent wrote it, for inspection, and
//!   the message says how to look at it or discard it (exit 1).

mod args;
mod replay_tally;

pub use crate::run::{LlmSetup, resolve_llm, resolve_llm_for};
pub use args::{Request, RunArgs};
pub use replay_tally::ReplayTally;

use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::domain::RunTarget;
use crate::marks::{local_branch, slug};
use crate::redact::redact;
use crate::run::evidence::Store;
use crate::run::{self, Plan, RunSettings};
use crate::workspace::{CommitSubject, Credentials, DEFAULT_BOT_EMAIL, Workspace};

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
    /// With `--replay`: how the calls were matched to the recording (`None` for a live run, or when the
    /// replay's ledger could not be read back).
    pub replay: Option<ReplayTally>,
}

/// Runs MetaGPT on `args.repo` as described in the module documentation.
pub async fn run(
    args: &RunArgs,
    settings: &Settings,
    cancel: CancellationToken,
) -> Result<RunSummary, RunError> {
    args.check().map_err(RunError::Usage)?;
    let request = args.request().map_err(RunError::Usage)?;
    let llm = resolve_llm_for(settings, args.replay.as_deref()).map_err(|problems| {
        let list: Vec<String> = problems.iter().map(|p| format!("- {p}")).collect();
        RunError::Usage(format!(
            "the agent settings are incomplete:\n{}",
            list.join("\n")
        ))
    })?;
    let key = llm.key().expose_secret().to_owned();
    let usage = |e: String| RunError::Usage(redact(&e, &[&key]));

    let mut workspace =
        Workspace::open(&args.repo, Credentials::none()).map_err(|e| usage(e.to_string()))?;
    let mut dirty = workspace
        .unclean_paths(None)
        .map_err(|e| usage(e.to_string()))?;
    dirty.truncate(10);
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
    let run_settings = RunSettings {
        n_round: args.n_round,
        max_cost_usd: args.max_cost_usd,
        code_review: args.code_review,
        run_tests: args.run_tests,
        timeout: args.timeout(),
        protected_paths: args.protected_paths.clone(),
        llm_timeout: args.llm_timeout(),
    };
    let plan = Plan {
        workspace: &mut workspace,
        branch: &branch,
        layout: &layout,
        target: target.clone(),
        subject: CommitSubject::Local(slug),
        kind: request.kind,
        title: request.title(),
        text: request.text.clone(),
        settings: &run_settings,
        llm: &llm,
        cache: None,
        out: args.out.as_deref(),
        email: DEFAULT_BOT_EMAIL,
        trailer: None,
        link_base: None,
        steps: None,
    };
    let outcome = run::execute(plan, cancel).await.map_err(|e| {
        RunError::Failed(format!(
            "{e} The work tree of {} on branch {} is left as MetaGPT wrote it, for inspection \
             (`git status`; `git checkout -- . && git clean -fd` discards it).",
            workspace.root().display(),
            branch.name
        ))
    })?;
    let replay = args.replay.as_ref().and_then(|_| {
        Store::new(&workspace, &target)
            .ledger(outcome.iteration)
            .map(|ledger| ReplayTally::of(&ledger))
            .inspect_err(|e| tracing::warn!(error = %e, "cannot tally the replay"))
            .ok()
    });
    Ok(RunSummary {
        branch: branch.name,
        iteration: outcome.iteration,
        commit: outcome.commit,
        gates_passed: outcome.gates.passed,
        failed_gates: outcome.failed_gates(),
        cost_usd: outcome.cost.total.cost_usd,
        cumulative_cost_usd: outcome.cost.cumulative.cost_usd,
        evidence_dir: outcome.evidence_dir,
        replay,
    })
}
