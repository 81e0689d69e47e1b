//! One MetaGPT run on a prepared branch, shared by every face (`run`, the App, the Action): write the
//! issue text, start the LLM gateway, run the agent, judge the result, write the evidence, commit.
//!
//! The caller owns everything around it: getting the repository (open or clone), preparing the branch,
//! the preflight, and what happens to the commit afterwards (nothing locally; push and pull request on
//! GitHub). [`execute`] does, in order: the iteration (1 + the highest `.metagpt/runs/<target>/<k>/` on
//! the branch) → `docs/requirement.txt` or `docs/bugfix.txt` → the gateway on 127.0.0.1 with the real key
//! and a run with the budget (ledger in a private temporary directory, replay cache when asked) →
//! [`agent::run`] → protected paths restored → evidence (gates, cost, report) into
//! `.metagpt/runs/<target>/<k>/` → one commit as the bot (`finish.rs`).
//!
//! Invariants:
//! - The provider key reaches only the gateway; MetaGPT sees a per-run token. Both are redacted from the
//!   trace, the ledger and every error message, and `no_secrets_in_diff` checks the diff for them.
//! - A run that failed (agent error, time-out, budget refused, LLM failing, cancelled, a resource limit
//!   hit by the agent or by the project's suite after it) commits nothing: the work tree is left as the
//!   agent wrote it, and the [`RunError`] says why and what was spent. A run that fails while it is being
//!   cancelled is [`RunError::Cancelled`]. With `out`, it leaves there what was spent (`cost.json`), the
//!   redacted trace so far and `failure.md` (`failed.rs`).
//! - Protected paths the agent changed fail the `protected_paths` gate and are restored to the run's
//!   start commit before the commit, so nothing protected is ever committed.
//! - `cost.json`'s `cumulative` adds the previous iteration's; changes (gates, line counts, protected
//!   paths) are measured against the commit the run started from, so an iteration is judged on its own.
//! - Inside `run`, dependencies point one way: this module → {`agent`, `gateway`, `evidence`}; `evidence`
//!   uses the gateway's ledger and cost types; `agent` and `gateway` never name each other or `evidence`
//!   (the model's price is `domain::Price`).
//!
//! Files: this one (the run as named steps), `finish.rs` (after the agent: restore, evidence, commit),
//! `failed.rs` (a failed run's account in `out`), `error.rs` ([`RunError`]), `llm.rs` (the LLM settings), `steps.rs` (MetaGPT's current step, for a
//! progress comment).

pub mod agent;
mod error;
pub mod evidence;
mod failed;
mod finish;
pub mod gateway;
mod llm;
pub mod project;
mod steps;

pub use error::{RunError, SoFar};
pub use llm::{
    LlmSetup, Provider, UnpricedModel, provider as llm_provider, resolve as resolve_llm,
    resolve_for as resolve_llm_for,
};

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::ExposeSecret;
use tempfile::TempDir;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::domain::{Kind, RunTarget};
use crate::redact::redact;
use crate::run::evidence::{Budget, GateReport, ProjectTests, Report, RunInfo, Store};
use crate::run::gateway::{
    CacheOptions, CostReport, Gateway, GatewayConfig, RunBudget, RunHandle, RunOptions,
};
use crate::workspace::{
    CommitRequest, CommitSubject, PreparedBranch, SourceLayout, Workspace, WorkspaceError,
};
use agent::{AgentOptions, AgentOutcome, AgentRun};
use finish::Finished;

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
    /// `setup` of `.github/metagpt.yml`: commands that prepare the project's environment.
    pub setup: Option<Vec<String>>,
    /// `project_tests`: the command of the repository's own suite.
    pub project_tests: Option<String>,
    /// `max_changed_lines`: the `within_size` gate's limit.
    pub max_changed_lines: u32,
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
    pub steps: Option<watch::Sender<Option<String>>>,
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
    /// The PR body's bot section (markers included) and the check run's summary, rendered.
    pub pr_section: String,
    pub check_summary: String,
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

/// The iteration a run on this work tree would be (1 + the highest on the branch).
pub fn next_iteration(workspace: &Workspace, target: &RunTarget) -> u32 {
    Store::new(workspace, target).next().0
}

/// Runs MetaGPT as described in the module documentation.
pub async fn execute(plan: Plan<'_>, cancel: CancellationToken) -> Result<Outcome, RunError> {
    let failed = failed::Before::of(&plan);
    let scratch = Scratch::create(agent::RunAs::for_this_bot(plan.llm.agent_uid).is_some())?;
    let result = execute_steps(plan, &scratch, &cancel).await;
    result.map_err(|error| {
        // A run that failed while it was being cancelled was stopped: the failure is the stop's doing.
        let error = if cancel.is_cancelled() {
            error.cancelled()
        } else {
            error
        };
        if let Some(failed) = failed {
            failed.leave(&scratch.ledger(), &scratch.trace(), &error);
        }
        error
    })
}

/// The run's steps, in order. The plan is held by value across every `await` (it is `Send`, a
/// reference to it is not), so the steps that wait take only the parts they need.
async fn execute_steps(
    plan: Plan<'_>,
    scratch: &Scratch,
    cancel: &CancellationToken,
) -> Result<Outcome, RunError> {
    let key = plan.llm.key().expose_secret().to_owned();
    let (iteration, previous_cost) = Store::new(plan.workspace, &plan.target).next();
    plan.workspace
        .write_issue_text(&plan.layout.spec_dir, plan.kind, &plan.text)
        .map_err(git(None))?;
    let parts = Parts {
        root: plan.workspace.root().to_path_buf(),
        layout: plan.layout,
        settings: plan.settings,
        llm: plan.llm,
    };
    let project = prepare_project(&parts, scratch, cancel).await?;
    let (gateway, handle) = start_gateway(plan.llm, plan.settings, plan.cache.clone(), scratch)
        .await
        .map_err(|e| RunError::Gateway {
            detail: redact(&format!("{e:#}"), &[&key]),
        })?;
    let secrets = vec![key, handle.token().expose_secret().to_owned()];

    let project_python = project.env.as_ref().map(|env| env.python.clone());
    let agent = agent_run(&plan, iteration, &gateway, &handle, scratch, project_python);
    let outcome = run_agent(agent, plan.steps.clone(), cancel).await;
    let spent = budget(plan.settings, &handle);
    let outcome = outcome.map_err(|error| {
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        RunError::Agent {
            error: error.redacted(&secrets),
            spent,
            so_far: Box::new(failed::so_far(&scratch.ledger(), &scratch.trace())),
        }
    })?;

    let tests = project_after(&parts, &project, cancel).await;
    if let Some(error) = suite_limit(&tests) {
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        return Err(RunError::Agent {
            error: error.redacted(&secrets),
            spent,
            so_far: Box::new(failed::so_far(&scratch.ledger(), &scratch.trace())),
        });
    }
    let start = plan.branch.head;
    let protected =
        finish::restore_protected(plan.workspace, start, &plan.settings.protected_paths)
            .map_err(git(Some(spent)))?;
    let written = finish::write(
        &Finished {
            workspace: &*plan.workspace,
            run: &run_info(&plan, iteration, &outcome),
            start,
            layout: plan.layout,
            code_review: plan.settings.code_review,
            run_tests: plan.settings.run_tests,
            protected_touched: &protected,
            project: &tests,
            max_changed_lines: plan.settings.max_changed_lines,
            budget: spent,
            ledger: &handle.ledger(),
            previous_cost: previous_cost.as_ref(),
            trace: &scratch.trace(),
            reviews: &scratch.reviews(),
            llm: &scratch.ledger(),
            secrets: &secrets,
            out: plan.out,
            link_base: plan.link_base.as_deref(),
        },
        scratch.path(),
    )?;
    drop(handle);
    gateway.shutdown().await;

    let body = finish::commit_body(&plan.title, &written, plan.trailer.as_deref());
    let commit = finish::commit(
        plan.workspace,
        &CommitRequest {
            subject: plan.subject.clone(),
            iteration,
            body: &body,
            email: plan.email,
        },
    )
    .map_err(git(Some(spent)))?;
    Ok(Outcome {
        iteration,
        commit,
        evidence_dir: written.dir,
        gates: written.gates,
        cost: written.cost,
        report: written.report,
        pr_section: written.pr_section,
        check_summary: written.check_summary,
    })
}

/// The run's private temporary directory: the gateway's ledger, and the agent's trace and review
/// verdicts. Removed when the run ends.
struct Scratch(TempDir);

impl Scratch {
    /// A new scratch directory; `enterable` by others (search only, mode 0711) when the agent runs as
    /// its own user, who must reach its trace files and the project's venv in it.
    fn create(enterable: bool) -> Result<Scratch, RunError> {
        let mut builder = tempfile::Builder::new();
        if enterable {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o711));
        }
        let dir = builder
            .prefix("metagpt-run-")
            .tempdir()
            .map_err(RunError::Scratch)?;
        std::fs::create_dir_all(dir.path().join("agent")).map_err(RunError::Scratch)?;
        Ok(Scratch(dir))
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    /// Where the gateway appends the ledger.
    fn ledger(&self) -> PathBuf {
        self.path().join(crate::marks::LLM_JSONL)
    }

    /// Where the agent appends its messages; its review verdicts go beside it.
    fn trace(&self) -> PathBuf {
        self.path().join("agent").join(crate::marks::TRACE_JSONL)
    }

    fn reviews(&self) -> PathBuf {
        agent::reviews_path(&self.trace())
    }
}

/// The project's own environment, prepared by its `setup` before any money is spent, with the suite
/// listed and run on the tree the run starts from (what was already failing is not the run's doing).
async fn prepare_project(
    plan: &Parts<'_>,
    scratch: &Scratch,
    cancel: &CancellationToken,
) -> Result<Project, RunError> {
    let root = &plan.root;
    let request = project::EnvRequest {
        root,
        layout: plan.layout,
        setup: plan.settings.setup.as_deref(),
        project_tests: plan.settings.project_tests.as_deref(),
        base_python: &plan.llm.project_python,
        dir: scratch.path(),
        limits: plan.llm.limits,
        run_as: agent::RunAs::for_this_bot(plan.llm.agent_uid),
    };
    let env = project::prepare(&request, cancel)
        .await
        .map_err(|e| match e {
            project::ProjectError::Cancelled => RunError::Cancelled {
                detail: e.to_string(),
                spent: None,
            },
            other => RunError::Setup {
                detail: other.to_string(),
            },
        })?;
    let (mut before, mut baseline) = (None, None);
    if let Some(env) = &env
        && let Some(suite) = &env.suite
    {
        let isolation = agent::Isolation::of(plan.llm.sandbox, plan.llm.agent_uid);
        before = suite
            .collect(env, root, plan.layout, &isolation, cancel)
            .await;
        baseline = Some(suite.run(env, root, plan.layout, &isolation, cancel).await);
    }
    Ok(Project {
        env,
        before,
        baseline,
    })
}

/// The project's suite after the agent: its ids and its result, run in the agent's sandbox.
async fn project_after(
    plan: &Parts<'_>,
    project: &Project,
    cancel: &CancellationToken,
) -> ProjectTests {
    let Some(env) = &project.env else {
        return ProjectTests::default();
    };
    let Some(suite) = &env.suite else {
        return ProjectTests::default();
    };
    let root = &plan.root;
    let isolation = agent::Isolation::of(plan.llm.sandbox, plan.llm.agent_uid);
    let after = suite
        .collect(env, root, plan.layout, &isolation, cancel)
        .await;
    let run = suite.run(env, root, plan.layout, &isolation, cancel).await;
    ProjectTests {
        command: suite.command(root, false),
        before: project.before.clone(),
        after,
        baseline: project.baseline.clone(),
        run: Some(run),
    }
}

/// The project's suite stopped at a resource limit after the agent: the run's code ran away, so the run
/// fails as if the agent had (nothing is committed), with the end of the suite's output.
fn suite_limit(tests: &ProjectTests) -> Option<agent::AgentError> {
    let run = tests.run.as_ref()?;
    let exceeded = run.limit.clone()?;
    if tests.baseline.as_ref().is_some_and(|b| b.limit.is_some()) {
        // The suite hit a limit before the run too: the project's (or the limits') doing, not the
        // run's; `project_tests_pass` says the suite failed before and after.
        return None;
    }
    let log_tail = project::tail(&run.tail)
        .lines()
        .map(str::to_owned)
        .collect();
    Some(agent::AgentError::LimitExceeded { exceeded, log_tail })
}

/// The parts of a [`Plan`] the project's steps need (a `Plan` is not `Sync`, so it cannot be borrowed
/// across an `await`).
struct Parts<'a> {
    root: PathBuf,
    layout: &'a SourceLayout,
    settings: &'a RunSettings,
    llm: &'a LlmSetup,
}

/// The project's environment, and its suite on the start tree: the test ids listed and the result.
struct Project {
    env: Option<project::ProjectEnv>,
    before: Option<project::TestIds>,
    baseline: Option<project::SuiteRun>,
}

/// The gateway on 127.0.0.1 with the real key, and this run opened on it with the budget (a replay of
/// the recording with `--replay`).
async fn start_gateway(
    llm: &LlmSetup,
    settings: &RunSettings,
    cache: Option<CacheOptions>,
    scratch: &Scratch,
) -> anyhow::Result<(Gateway, RunHandle)> {
    let mut config = GatewayConfig::new(llm.upstream.clone());
    config.prices = llm.prices.clone();
    config.request_timeout = settings.llm_timeout;
    let gateway = Gateway::start(config).await?;
    let handle = llm.open_run(
        &gateway,
        RunOptions {
            budget: RunBudget {
                max_cost_usd: settings.max_cost_usd,
            },
            ledger_path: Some(scratch.ledger()),
            cache,
        },
    )?;
    Ok((gateway, handle))
}

/// What the agent is asked to do, with the gateway's address and this run's token.
fn agent_run(
    plan: &Plan<'_>,
    iteration: u32,
    gateway: &Gateway,
    handle: &RunHandle,
    scratch: &Scratch,
    project_python: Option<PathBuf>,
) -> AgentRun {
    AgentRun {
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
            limits: plan.llm.limits,
            agent_uid: plan.llm.agent_uid,
        },
        gateway_url: gateway.base_url(),
        gateway_socket: gateway.socket_path().map(Path::to_path_buf),
        token: handle.token().clone(),
        model: plan.llm.model.clone(),
        price: Some(plan.llm.price),
        source_dir: (!plan.layout.is_metagpt()).then(|| plan.layout.source_dir.clone().into()),
        spec_dir: plan.layout.spec_dir.clone(),
        tests_dir: plan.layout.tests_dir.clone(),
        import_roots: plan.layout.import_roots.clone(),
        project_python,
        trace_path: scratch.trace(),
        timeout: plan.settings.timeout,
    }
}

/// MetaGPT at work; its current step goes to `steps` while it works.
async fn run_agent(
    agent: AgentRun,
    steps: Option<watch::Sender<Option<String>>>,
    cancel: &CancellationToken,
) -> Result<AgentOutcome, agent::AgentError> {
    let watcher = steps.map(|steps| tokio::spawn(steps::watch(agent.trace_path.clone(), steps)));
    let outcome = agent::run(agent, cancel.clone()).await;
    if let Some(watcher) = watcher {
        watcher.abort();
    }
    outcome
}

/// What the run spent against its budget.
fn budget(settings: &RunSettings, handle: &RunHandle) -> Budget {
    Budget {
        spent_usd: handle.spent_usd(),
        max_usd: settings.max_cost_usd,
        exhausted: handle.budget_exhausted(),
    }
}

fn run_info(plan: &Plan<'_>, iteration: u32, outcome: &AgentOutcome) -> RunInfo {
    RunInfo {
        target: plan.target.clone(),
        iteration,
        kind: plan.kind,
        flow: outcome.flow,
        title: plan.title.clone(),
        request: plan.text.clone(),
    }
}

fn git(spent: Option<Budget>) -> impl FnOnce(WorkspaceError) -> RunError {
    move |error| RunError::Git { error, spent }
}
