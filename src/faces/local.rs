//! `metagpt-bot run`: one MetaGPT run on a repository on disk, without GitHub.
//!
//! [`run`] does, in order: check the flags and the agent settings (exit 2 on any problem, each with its
//! fix) → open the repository (no clone, no push, no token), refuse a dirty tree, read
//! `.github/metagpt.yml` as the checked-out commit has it (flags win over it, see [`RunArgs::settings`]),
//! [`Workspace::preflight`] on the checked-out tree (exit 2 before any LLM call) → check out
//! `metagpt/local-<slug>` from the checked-out commit → [`run::execute`] (gateway, agent, evidence into
//! `.metagpt/runs/local-<slug>/<k>/`, one commit) → the `--out` copies → back to the user's checkout.
//! With `--replay`, the summary also tallies how the calls matched the recording ([`ReplayTally`]).
//!
//! Invariants:
//! - Nothing is spent, and no branch or checkout is touched, before the flags, the settings, the tree
//!   and its layout have been checked: a refused run leaves the repository exactly as it found it.
//! - The settings file is read from `HEAD`'s tree, never the work tree: an uncommitted edit is never
//!   used silently (and a dirty tree is refused anyway). A file that does not parse is a usage error
//!   naming its line and column.
//! - A new run branch starts from the user's checked-out commit (local commits included), not from the
//!   remote's default branch; an existing `metagpt/local-<slug>` is reused as it is.
//! - A run that reached its verdict committed its work on `metagpt/local-<slug>`, and the user's checkout
//!   (branch or detached commit) is checked out again; the summary says where the result is.
//! - A run that failed commits nothing: the work tree is left on the run's branch as the agent wrote it,
//!   for inspection, and the message says how to look at it, discard it and get back (exit 1); `--out`
//!   then holds what was spent, the trace so far and the failure ([`run::execute`]).
//!
//! Files: this one (the run and its summary), `local/args.rs` (the flags, weighed against the settings
//! file), `local/tally.rs` (the replay tally).

mod args;
mod tally;

pub use args::{Chosen, Request, RunArgs};
pub use tally::ReplayTally;

use std::fmt;

use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::domain::RunTarget;
use crate::marks::{SETTINGS_PATH, local_branch, slug};
use crate::redact::redact;
use crate::repo_config::{RepoConfig, RepoConfigError};
use crate::run::evidence::Store;
use crate::run::resolve_llm_for;
use crate::run::{self, Plan};
use crate::workspace::{CheckedOut, CommitSubject, Credentials, DEFAULT_BOT_EMAIL, Workspace};

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
    /// The run's branch, which holds its commit.
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
    /// The user's checkout, checked out again after the commit (`Ok`, as named for a person), or why it
    /// could not be (the run's branch is then still checked out).
    pub returned_to: Result<String, String>,
}

impl fmt::Display for RunSummary {
    /// What `run` prints on stdout, one `key: value` a line, the gates' verdict last.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let commit = self
            .commit
            .map_or_else(|| "nothing to commit".to_owned(), |id| id.to_string());
        writeln!(f, "branch: {}", self.branch)?;
        writeln!(f, "iteration: {}", self.iteration)?;
        writeln!(f, "commit: {commit}")?;
        match &self.returned_to {
            Ok(checkout) => writeln!(
                f,
                "checkout: back on {checkout}; the run's work is on {branch} \
                 (`git diff HEAD...{branch}` shows it)",
                branch = self.branch
            )?,
            Err(why) => writeln!(
                f,
                "checkout: still on {}: could not switch back ({why})",
                self.branch
            )?,
        }
        writeln!(f, "evidence: {}/ on {}", self.evidence_dir, self.branch)?;
        writeln!(
            f,
            "cost: ${:.4} (all iterations: ${:.4})",
            self.cost_usd, self.cumulative_cost_usd
        )?;
        if let Some(replay) = &self.replay {
            writeln!(f, "{replay}")?;
        }
        if self.gates_passed {
            write!(f, "gates: passed")
        } else {
            write!(f, "gates: failed ({})", self.failed_gates.join(", "))
        }
    }
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
    let checked_out = workspace.checked_out().map_err(|e| usage(e.to_string()))?;
    let start = workspace.head().map_err(|e| usage(e.to_string()))?;
    let file = read_settings(&workspace).map_err(usage)?;
    let chosen = args.settings(&file);
    let llm = match (&chosen.llm_model, &llm.recording) {
        // A replay asks for the recorded model: any other would diverge at the first call.
        (Some(model), None) => llm.for_model(model).map_err(|e| usage(e.to_string()))?,
        _ => llm,
    };
    let layout = workspace
        .preflight(chosen.source_dir.as_deref(), chosen.spec_dir.as_deref())
        .map_err(|e| {
            usage(format!(
                "the repository does not suit MetaGPT's incremental mode: {e}"
            ))
        })?;
    let slug = slug(&request.text);
    let branch = workspace
        .prepare_branch_from(&local_branch(&request.text), start)
        .map_err(|e| usage(e.to_string()))?;
    let target = RunTarget::Local(slug.clone());
    let plan = Plan {
        workspace: &mut workspace,
        branch: &branch,
        layout: &layout,
        target: target.clone(),
        subject: CommitSubject::Local(slug),
        kind: request.kind,
        title: request.title(),
        text: request.text.clone(),
        settings: &chosen.run,
        llm: &llm,
        cache: None,
        out: args.out.as_deref(),
        email: DEFAULT_BOT_EMAIL,
        trailer: None,
        link_base: None,
        steps: None,
    };
    let outcome = run::execute(plan, cancel).await.map_err(|e| {
        let out = args.out.as_ref().map_or_else(String::new, |out| {
            format!(
                "\nWhat was spent, the trace so far and the failure are in {}/ (cost.json, \
                 trace.jsonl, failure.md).",
                out.display()
            )
        });
        RunError::Failed(format!(
            "{e} The work tree of {} on branch {} is left as MetaGPT wrote it, for inspection \
             (`git status`; `git checkout -- . && git clean -fd` discards it, then `{}` gets you back).{out}",
            workspace.root().display(),
            branch.name,
            switch_command(&checked_out),
        ))
    })?;
    let replay = args.replay.as_ref().and_then(|_| {
        Store::new(&workspace, &target)
            .ledger(outcome.iteration)
            .map(|ledger| ReplayTally::of(&ledger))
            .inspect_err(|e| tracing::warn!(error = %e, "cannot tally the replay"))
            .ok()
    });
    let returned_to = workspace
        .return_to(&checked_out)
        .map(|()| checked_out.to_string())
        .map_err(|e| {
            tracing::warn!(error = %e, "cannot switch back to the user's checkout");
            e.to_string()
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
        returned_to,
    })
}

/// The repository's `.github/metagpt.yml` as the checked-out commit has it (the defaults when it has
/// none), or the usage error that says where the file is wrong.
fn read_settings(workspace: &Workspace) -> Result<RepoConfig, String> {
    let bytes = workspace
        .committed_file(SETTINGS_PATH)
        .map_err(|e| e.to_string())?;
    let Some(bytes) = bytes else {
        return Ok(RepoConfig::default());
    };
    let parsed = match std::str::from_utf8(&bytes) {
        Ok(text) => RepoConfig::parse(text),
        Err(_) => Err(RepoConfigError::whole_file(
            "the file is not UTF-8 text; save it as UTF-8",
        )),
    };
    parsed.map_err(|e| {
        format!(
            "the repository's settings (as committed at HEAD) are invalid: {e}; fix the file and commit \
             it, or give the setting as a flag"
        )
    })
}

/// The git command that checks `to` out again.
fn switch_command(to: &CheckedOut) -> String {
    match to {
        CheckedOut::Branch(name) => format!("git checkout {name}"),
        CheckedOut::Detached(id) => format!("git checkout --detach {id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn the_summary_says_where_the_result_is_and_where_the_checkout_is() {
        let mut summary = RunSummary {
            branch: "metagpt/local-add-a-discount-code".into(),
            iteration: 2,
            commit: Some(git2::Oid::from_str("1a2b3c4d5e6f1a2b3c4d5e6f1a2b3c4d5e6f1a2b").unwrap()),
            evidence_dir: ".metagpt/runs/local-add-a-discount-code/2".into(),
            gates_passed: true,
            failed_gates: vec![],
            cost_usd: 0.0123,
            cumulative_cost_usd: 0.0456,
            replay: None,
            returned_to: Ok("main".into()),
        };
        insta::assert_snapshot!("summary_passed", summary.to_string());
        summary.gates_passed = false;
        summary.failed_gates = vec!["tests_pass".into(), "within_size".into()];
        summary.returned_to = Err("checking out `main`: a conflict".into());
        insta::assert_snapshot!("summary_failed_gates_not_back", summary.to_string());
    }
}
