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
//!
//! The flags ([`RunArgs`]): exactly one of `--requirement`, `--bugfix`, `--issue-file` is given (clap enforces it,
//! exit 2); `--bug` only marks an `--issue-file` request as a bug fix; numbers are checked here so a bad
//! value is a usage error before anything else happens.
//!
//! The replay tally ([`ReplayTally`]): the one-line account of an audit replay: how many calls the
//! recording answered exactly, and how many only after folding their volatile parts (test timings, temporary
//! directory names), so an auditor sees at a glance how faithful the replay was.
//! The tally is made from the replay's own `llm.jsonl` (the evidence it committed, read back
//! through the evidence store), so it counts what the ledger says, call for call; a call the recording
//! did not answer counts in neither.

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, ArgGroup};
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::domain::{Kind, RunTarget};
use crate::marks::{local_branch, slug};
use crate::redact::redact;
use crate::run::evidence::Store;
use crate::run::gateway::{CallRecord, Fold, ReplayMatch};
use crate::run::resolve_llm_for;
use crate::run::{self, Plan, RunSettings};
use crate::workspace::DEFAULT_PROTECTED_PATHS;
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
        .preflight(args.source_dir.as_deref(), None)
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
        setup: None,
        project_tests: None,
        max_changed_lines: crate::repo_config::DEFAULT_MAX_CHANGED_LINES,
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

// ---- the flags ----

/// `metagpt-bot run`: one local run on a repository on disk.
#[derive(Debug, Clone, clap::Args)]
#[command(group(
    ArgGroup::new("request").required(true).args(["requirement", "bugfix", "issue_file"])
))]
pub struct RunArgs {
    /// The repository on disk (not cloned, not pushed). MetaGPT's source folder is `<repo>/<repo-name>/`
    /// unless --source-dir says otherwise.
    #[arg(long, value_name = "PATH")]
    pub repo: PathBuf,
    /// A requirement: MetaGPT's requirement flow (PRD, design, tasks, code, review, tests).
    #[arg(long, value_name = "TEXT")]
    pub requirement: Option<String>,
    /// A bug report: MetaGPT's bug-fix flow (the requirement flow when the repository has no spec yet).
    #[arg(long, value_name = "TEXT")]
    pub bugfix: Option<String>,
    /// A file holding the issue text; a requirement unless --bug is given.
    #[arg(long, value_name = "FILE")]
    pub issue_file: Option<PathBuf>,
    /// With --issue-file: the text is a bug report.
    #[arg(long, requires = "issue_file")]
    pub bug: bool,
    /// Also write pr-body.md, cost.json, gates.json and trace.jsonl into this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Rounds of MetaGPT's team (a full incremental run needs 7 to 11).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub n_round: u32,
    /// The hard LLM budget of this run in USD; the gateway refuses calls past it.
    #[arg(long, default_value_t = 3.0, value_name = "USD")]
    pub max_cost_usd: f64,
    /// Let the engineer review each file it writes (true|false).
    #[arg(long, default_value_t = true, action = ArgAction::Set, value_name = "BOOL")]
    pub code_review: bool,
    /// Let QA write and run tests (true|false).
    #[arg(long, default_value_t = true, action = ArgAction::Set, value_name = "BOOL")]
    pub run_tests: bool,
    /// The source folder relative to the repository, when it is not `<repo>/<repo-name>/`.
    #[arg(long, value_name = "DIR")]
    pub source_dir: Option<String>,
    /// Wall-clock limit of the MetaGPT run, in seconds.
    #[arg(long, default_value_t = 3600, value_name = "SECS")]
    pub timeout: u64,
    /// Time-out of one attempt of an LLM call at the provider, in seconds; the gateway makes up to 4
    /// attempts, then the call (and the run) fails.
    #[arg(long, default_value_t = 600, value_name = "SECS")]
    pub llm_timeout: u64,
    /// Paths the run must not change (glob, `**` crosses folders); repeat for several.
    #[arg(long = "protected-path", value_name = "GLOB",
          default_values_t = DEFAULT_PROTECTED_PATHS.iter().map(|s| s.to_string()))]
    pub protected_paths: Vec<String>,
    /// Audit: replay this recorded llm.jsonl instead of calling the provider (no LLM key or URL needed).
    /// Every call must be one the recording holds, in its recorded order; the first other call is refused
    /// ("not in the recording: the run diverged at call N, step X"). Give the recorded run's
    /// --max-cost-usd to reproduce its budget.
    #[arg(long, value_name = "FILE")]
    pub replay: Option<PathBuf>,
}

/// What the run is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub kind: Kind,
    pub text: String,
}

impl Request {
    /// The first non-empty line, at most 100 characters: the run's title.
    pub fn title(&self) -> String {
        let line = self.text.lines().map(str::trim).find(|l| !l.is_empty());
        line.unwrap_or("local run").chars().take(100).collect()
    }
}

impl RunArgs {
    /// The request text and kind, or a usage error.
    pub fn request(&self) -> Result<Request, String> {
        let (kind, text) = match (&self.requirement, &self.bugfix, &self.issue_file) {
            (Some(text), _, _) => (Kind::Requirement, text.clone()),
            (_, Some(text), _) => (Kind::Bugfix, text.clone()),
            (_, _, Some(file)) => {
                let text = std::fs::read_to_string(file)
                    .map_err(|e| format!("cannot read --issue-file {}: {e}", file.display()))?;
                let kind = if self.bug {
                    Kind::Bugfix
                } else {
                    Kind::Requirement
                };
                (kind, text)
            }
            _ => return Err("give --requirement TEXT, --bugfix TEXT or --issue-file FILE".into()),
        };
        if text.trim().is_empty() {
            return Err("the request text is empty: say what MetaGPT should build or fix".into());
        }
        Ok(Request { kind, text })
    }

    /// Checks the numbers.
    pub fn check(&self) -> Result<(), String> {
        if !self.max_cost_usd.is_finite() || self.max_cost_usd <= 0.0 {
            return Err(format!(
                "--max-cost-usd must be a positive number of dollars, got {}",
                self.max_cost_usd
            ));
        }
        if self.n_round == 0 {
            return Err("--n-round must be at least 1".into());
        }
        if self.timeout == 0 {
            return Err("--timeout must be at least 1 second".into());
        }
        if self.llm_timeout == 0 {
            return Err("--llm-timeout must be at least 1 second".into());
        }
        Ok(())
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }

    pub fn llm_timeout(&self) -> Duration {
        Duration::from_secs(self.llm_timeout)
    }
}

// ---- the replay tally ----

/// How the calls of an audit replay were matched to the recording.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplayTally {
    /// Calls whose request was byte for byte the recorded one.
    pub exact: usize,
    /// Calls accepted after folding volatile parts.
    pub normalised: usize,
    /// What was folded, over all normalised calls.
    pub folded: BTreeSet<Fold>,
}

impl ReplayTally {
    /// The tally of a replay's ledger.
    pub fn of(ledger: &[CallRecord]) -> ReplayTally {
        let mut tally = ReplayTally::default();
        for record in ledger {
            match record.replay {
                Some(ReplayMatch::Exact) => tally.exact += 1,
                Some(ReplayMatch::Normalised) => {
                    tally.normalised += 1;
                    tally.folded.extend(record.tolerated.iter().copied());
                }
                None => {}
            }
        }
        tally
    }
}

impl fmt::Display for ReplayTally {
    /// `replay: 16 calls answered from the recording: 14 exactly, 2 after normalising test durations`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "replay: {} calls answered from the recording: {} exactly, {} after normalising",
            self.exact + self.normalised,
            self.exact,
            self.normalised
        )?;
        if !self.folded.is_empty() {
            let kinds: Vec<String> = self.folded.iter().map(Fold::to_string).collect();
            write!(f, " {}", kinds.join(" and "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_how_many_calls_matched_and_what_was_folded() {
        let tally = ReplayTally {
            exact: 14,
            normalised: 2,
            folded: [Fold::TestDuration, Fold::TempDir].into(),
        };
        assert_eq!(
            tally.to_string(),
            "replay: 16 calls answered from the recording: 14 exactly, 2 after normalising test \
             durations and temporary directory names"
        );
        let exact = ReplayTally {
            exact: 3,
            ..ReplayTally::default()
        };
        assert_eq!(
            exact.to_string(),
            "replay: 3 calls answered from the recording: 3 exactly, 0 after normalising"
        );
    }
}
