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
//! The flags ([`RunArgs`]): exactly one of `--requirement`, `--bugfix`, `--issue-file` is given (clap enforces it,
//! exit 2); `--bug` only marks an `--issue-file` request as a bug fix; numbers are checked here so a bad
//! value is a usage error before anything else happens.
//!
//! Files: this one (the run, its flags and its summary), `local/tally.rs` (the replay tally).

mod tally;

pub use tally::ReplayTally;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, ArgGroup};
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::domain::{Kind, RunTarget};
use crate::marks::{SETTINGS_PATH, local_branch, slug};
use crate::redact::redact;
use crate::repo_config::{RepoConfig, RepoConfigError};
use crate::run::evidence::Store;
use crate::run::resolve_llm_for;
use crate::run::{self, Plan, RunSettings};
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

/// The run's settings once the flags, the file and the defaults are weighed ([`RunArgs::settings`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen {
    pub run: RunSettings,
    pub source_dir: Option<String>,
    /// MetaGPT's project folder from the settings file (`None`: decided by the layout).
    pub spec_dir: Option<String>,
    /// The model to ask for instead of `LLM_MODEL` (`None`: `LLM_MODEL`).
    pub llm_model: Option<String>,
}

// ---- the flags ----

/// `metagpt-bot run`: one local run on a repository on disk.
#[derive(Debug, Clone, clap::Args)]
#[command(group(
    ArgGroup::new("request").required(true).args(["requirement", "bugfix", "issue_file"])
))]
#[command(after_help = SETTINGS_HELP)]
pub struct RunArgs {
    /// The repository on disk (not cloned, not pushed). The run's branch starts from its checked-out
    /// commit; its checkout is switched back once the run has committed.
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
    /// Also write pr-body.md, cost.json, gates.json and trace.jsonl into this directory (a failed run:
    /// cost.json, trace.jsonl and failure.md).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Rounds of MetaGPT's team (a full incremental run needs 7 to 11) [file: n_round; default: 20].
    #[arg(long, value_name = "N")]
    pub n_round: Option<u32>,
    /// The hard LLM budget of this run in USD; the gateway refuses calls past it [file: max_cost_usd;
    /// default: 3].
    #[arg(long, value_name = "USD")]
    pub max_cost_usd: Option<f64>,
    /// Let the engineer review each file it writes (true|false) [file: code_review; default: true].
    #[arg(long, action = ArgAction::Set, value_name = "BOOL")]
    pub code_review: Option<bool>,
    /// Let QA write and run tests (true|false) [file: run_tests; default: true].
    #[arg(long, action = ArgAction::Set, value_name = "BOOL")]
    pub run_tests: Option<bool>,
    /// The source folder relative to the repository [file: source_dir; default: detected —
    /// `<repo>/<repo-name>/` in MetaGPT's layout, else the one `src/<package>/` or top-level package].
    #[arg(long, value_name = "DIR")]
    pub source_dir: Option<String>,
    /// The model to ask for instead of LLM_MODEL; it needs a known price [file: llm_model; default:
    /// LLM_MODEL]. Not with --replay (a replay asks for the recorded model).
    #[arg(long, value_name = "MODEL", conflicts_with = "replay")]
    pub llm_model: Option<String>,
    /// Wall-clock limit of the MetaGPT run, in seconds.
    #[arg(long, default_value_t = 3600, value_name = "SECS")]
    pub timeout: u64,
    /// Time-out of one attempt of an LLM call at the provider, in seconds; the gateway makes up to 4
    /// attempts, then the call (and the run) fails.
    #[arg(long, default_value_t = 600, value_name = "SECS")]
    pub llm_timeout: u64,
    /// Paths the run must not change (glob, `**` crosses folders); repeat for several; the flags replace
    /// the file's list [file: protected_paths; default: `.github/workflows/**`].
    #[arg(long = "protected-path", value_name = "GLOB")]
    pub protected_paths: Vec<String>,
    /// Audit: replay this recorded llm.jsonl instead of calling the provider (no LLM key or URL needed).
    /// Every call must be one the recording holds, in its recorded order; the first other call is refused
    /// ("not in the recording: the run diverged at call N, step X"). Give the recorded run's
    /// --max-cost-usd to reproduce its budget.
    #[arg(long, value_name = "FILE")]
    pub replay: Option<PathBuf>,
}

/// How the flags and the repository's settings file are weighed, for `run --help`.
const SETTINGS_HELP: &str = "\
Settings: the repository's .github/metagpt.yml is read as the checked-out commit (HEAD) has it, like the \
App reads it from the default branch; an uncommitted edit is not used (and a dirty tree is refused). A flag \
marked [file: KEY] wins over that key when it is given on the command line; otherwise the file's value \
applies, then the default. A file that does not parse is a usage error (exit 2) naming its line and column.

Branches: the run's branch metagpt/local-<slug> starts from the checked-out commit (an existing one for \
the same request is reused). Nothing is spent and no branch is touched before the tree and its layout are \
checked. After a run that reached its verdict the checkout is switched back, the result stays on the run's \
branch; after a failed run the tree is left on the run's branch as MetaGPT wrote it, for inspection.";

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

    /// Checks the numbers given on the command line (the file's are checked when it is parsed).
    pub fn check(&self) -> Result<(), String> {
        if let Some(usd) = self.max_cost_usd
            && (!usd.is_finite() || usd <= 0.0)
        {
            return Err(format!(
                "--max-cost-usd must be a positive number of dollars, got {usd}"
            ));
        }
        if self.n_round == Some(0) {
            return Err("--n-round must be at least 1".into());
        }
        if self.timeout == 0 {
            return Err("--timeout must be at least 1 second".into());
        }
        if self.llm_timeout == 0 {
            return Err("--llm-timeout must be at least 1 second".into());
        }
        if let Some(model) = &self.llm_model
            && model.trim().is_empty()
        {
            return Err("--llm-model is empty: name a model, or leave the flag out".into());
        }
        Ok(())
    }

    /// The run's settings: each flag given on the command line, else the key of the repository's
    /// settings `file` (whose defaults are the run's defaults).
    pub fn settings(&self, file: &RepoConfig) -> Chosen {
        let protected_paths = if self.protected_paths.is_empty() {
            file.protected_paths.clone()
        } else {
            self.protected_paths.clone()
        };
        Chosen {
            run: RunSettings {
                n_round: self.n_round.unwrap_or(file.n_round),
                max_cost_usd: self.max_cost_usd.unwrap_or(file.max_cost_usd),
                code_review: self.code_review.unwrap_or(file.code_review),
                run_tests: self.run_tests.unwrap_or(file.run_tests),
                timeout: self.timeout(),
                protected_paths,
                llm_timeout: self.llm_timeout(),
                setup: file.setup.clone(),
                project_tests: file.project_tests.clone(),
                max_changed_lines: file.max_changed_lines,
            },
            source_dir: self.source_dir.clone().or_else(|| file.source_dir.clone()),
            spec_dir: file.spec_dir.clone(),
            llm_model: self.llm_model.clone().or_else(|| file.llm_model.clone()),
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }

    pub fn llm_timeout(&self) -> Duration {
        Duration::from_secs(self.llm_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    #[command(name = "metagpt-bot run")]
    struct Cli {
        #[command(flatten)]
        args: RunArgs,
    }

    fn args(flags: &[&str]) -> RunArgs {
        let mut argv = vec!["run", "--repo", "/tmp/shop", "--requirement", "x"];
        argv.extend_from_slice(flags);
        Cli::try_parse_from(argv).expect("flags parse").args
    }

    #[test]
    fn a_flag_given_wins_over_the_file_and_the_file_over_the_default() {
        let file = RepoConfig::parse(
            "n_round: 9\nmax_cost_usd: 1.5\ncode_review: false\nsource_dir: src/shop\n\
             protected_paths: ['infra/**']\nllm_model: gpt-4o\n",
        )
        .unwrap();
        let from_file = args(&[]).settings(&file);
        assert_eq!(from_file.run.n_round, 9);
        assert_eq!(from_file.run.max_cost_usd, 1.5);
        assert!(!from_file.run.code_review);
        assert!(from_file.run.run_tests, "not in the file: the default");
        assert_eq!(from_file.run.protected_paths, ["infra/**"]);
        assert_eq!(from_file.source_dir.as_deref(), Some("src/shop"));
        assert_eq!(from_file.llm_model.as_deref(), Some("gpt-4o"));

        let flags = args(&[
            "--n-round",
            "4",
            "--max-cost-usd",
            "0.5",
            "--code-review",
            "true",
            "--run-tests",
            "false",
            "--source-dir",
            "shop",
            "--protected-path",
            "a/**",
            "--protected-path",
            "b/*",
            "--llm-model",
            "gpt-4o-mini",
        ])
        .settings(&file);
        assert_eq!(flags.run.n_round, 4);
        assert_eq!(flags.run.max_cost_usd, 0.5);
        assert!(flags.run.code_review && !flags.run.run_tests);
        assert_eq!(flags.run.protected_paths, ["a/**", "b/*"]);
        assert_eq!(flags.source_dir.as_deref(), Some("shop"));
        assert_eq!(flags.llm_model.as_deref(), Some("gpt-4o-mini"));

        let defaults = args(&[]).settings(&RepoConfig::default());
        assert_eq!(defaults.run.n_round, 20);
        assert_eq!(defaults.run.max_cost_usd, 3.0);
        assert_eq!(defaults.run.protected_paths, [".github/workflows/**"]);
        assert_eq!((defaults.source_dir, defaults.llm_model), (None, None));
    }

    #[test]
    fn the_help_says_which_flags_the_settings_file_backs_and_where_the_run_branches_from() {
        use clap::CommandFactory;
        insta::assert_snapshot!("run_help", Cli::command().render_help().to_string());
    }

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
