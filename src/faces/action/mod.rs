//! `metagpt-bot action`: one run inside a GitHub Actions job, started by the event that started the job.
//!
//! The steps, in order (the binary's `action` command drives them):
//! 1. print `::add-mask::` for every secret in the environment ([`secrets_to_mask`]) before anything else;
//! 2. read the runner's variables and the inputs ([`ActionEnv::from_env`]); problems → exit 2;
//! 3. turn the event file into a [`Trigger`] with the App's own decisions ([`ActionEnv::decision`]);
//!    nothing to do → a notice, empty outputs, a one-line summary, exit 0;
//! 4. [`run`] the trigger and [`finish`]: outputs, job summary, annotation, exit code.
//!
//! Invariants: this module talks to the runner only through [`runner`]'s protocol helpers; it shares the
//! trigger rules with the App (no second copy of them); it never prints a secret.
//!
//! The run is the App's run of an issue ([`crate::jobs::run_issue`]) with the job's `GITHUB_TOKEN` for
//! the API and for git, the LLM settings from the inputs, and the inputs' run knobs over the
//! repository's `.github/metagpt.yml`:
//! - The same steps, checks and evidence as the App: only who the bot is (the token) and where its work
//!   tree lives (`RUNNER_TEMP`) differ.
//! - The provider key goes only into the gateway, as in every face; `METAGPT_PYTHON` and price overrides
//!   (`LLM_PRICE_*`) come from the job's environment (the image sets `METAGPT_PYTHON`).
//! - A run whose commit is already on the branch (a re-run of the same workflow run) is published, not run
//!   again. A re-run (`GITHUB_RUN_ATTEMPT` > 1) replays LLM calls already paid for only where the runner
//!   keeps `RUNNER_TEMP` between attempts (self-hosted runners); hosted runners start empty.

mod env;
mod event;
pub mod runner;

pub use env::{ActionEnv, AppCredentials, SECRET_VARIABLES, secrets_to_mask};
pub use event::ACTIONS_BOT_LOGIN;
pub use runner::{
    ActionError, ActionOutcome, MISCONFIGURED, OUTPUTS, exit_code, finish, nothing_to_do,
    write_outcome,
};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::domain::{ControlRequest, Request, Trigger};
use crate::github::{GitHubApp, OwnAuthor, Repo, token_client};
use crate::jobs::{Context, Face, Failure, JobKey, RunOverrides, refuse_stop_in_action, run_issue};
use crate::run::resolve_llm;

/// Runs `trigger` in the job described by `env` (the job's environment supplies `METAGPT_PYTHON`,
/// `RUNNER_TEMP`, `GITHUB_RUN_ATTEMPT` and price overrides). `cancel` is the job's cancellation (the
/// runner's SIGINT or SIGTERM): the agent is killed, nothing is pushed, and the progress comment says the
/// job was cancelled.
pub async fn run(
    env: &ActionEnv,
    trigger: Trigger,
    cancel: CancellationToken,
) -> Result<ActionOutcome, ActionError> {
    run_with(env, trigger, |name| std::env::var(name).ok(), cancel).await
}

/// The default LLM endpoint when the `llm-base-url` input is empty.
pub const DEFAULT_LLM_BASE_URL: &str = "https://api.openai.com/v1";
/// The default model when the `llm-model` input is empty.
pub const DEFAULT_LLM_MODEL: &str = "gpt-4o-mini";
/// MetaGPT's wall-clock limit inside a job (GitHub stops jobs after 6 hours).
const RUN_TIMEOUT: Duration = Duration::from_secs(3 * 3600);

/// Runs `trigger` with the job's token; `lookup` reads the job's environment.
pub async fn run_with(
    env: &ActionEnv,
    trigger: Trigger,
    lookup: impl Fn(&str) -> Option<String>,
    cancel: CancellationToken,
) -> Result<ActionOutcome, ActionError> {
    let llm = resolve_llm(&settings(env, &lookup)?).map_err(|problems| {
        let list: Vec<String> = problems.iter().map(|p| format!("- {p}")).collect();
        ActionError::Misconfigured(format!(
            "the agent settings are incomplete:\n{}",
            list.join("\n")
        ))
    })?;
    let work_dir = lookup("RUNNER_TEMP")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join("metagpt-bot");
    let face = Face::Action {
        overrides: RunOverrides {
            n_round: env.n_round,
            max_cost_usd: env.max_cost_usd,
            code_review: env.code_review,
            run_tests: env.run_tests,
        },
        clone_url: env.clone_url(),
    };
    let context = Context::new(work_dir, Ok(llm), RUN_TIMEOUT, face)
        .map_err(|e| ActionError::Failed(format!("{e:#}")))?;
    let (owner, name) = (&trigger.repo.owner, &trigger.repo.name);
    let repo = match &env.app {
        Some(app) => as_app(env, app, owner, name).await?,
        None => {
            let client = token_client(&env.api_url, &env.github_token)
                .map_err(|e| ActionError::Misconfigured(e.to_string()))?;
            let author = OwnAuthor::Login(ACTIONS_BOT_LOGIN.to_owned());
            Repo::with_token(
                Arc::new(client),
                env.github_token.clone(),
                author,
                owner,
                name,
            )
            .map_err(|e| ActionError::Misconfigured(e.to_string()))?
        }
    };
    let job = JobKey {
        queued: None,
        key: format!(
            "action-{}",
            env.run_id
                .clone()
                .unwrap_or_else(|| trigger.delivery_id.clone())
        ),
        attempt: lookup("GITHUB_RUN_ATTEMPT")
            .and_then(|a| a.parse().ok())
            .unwrap_or(1),
    };
    let handled = match &trigger.request {
        Request::Run(request) => run_issue(&context, &repo, &trigger, request, &job, cancel).await,
        Request::Control(ControlRequest::Stop { .. }) => {
            refuse_stop_in_action(&repo, &trigger).await
        }
        // The Action's intake turns other labels into nothing to do, never a label check.
        Request::Control(ControlRequest::LabelCheck { label }) => Err(Failure::Internal(format!(
            "a label check for `{label}` reached the Action, which decides labels at intake"
        ))),
    };
    let record = handled.map_err(|failure| match failure {
        Failure::Misconfigured(m) => ActionError::Misconfigured(m),
        Failure::Told(m) | Failure::Transient(m) | Failure::Internal(m) | Failure::Cancelled(m) => {
            ActionError::Failed(m)
        }
    })?;
    if let Some(reason) = record["refused"].as_str() {
        return Err(ActionError::NothingRan(reason.to_owned()));
    }
    Ok(outcome(&record))
}

/// `owner/name` as the App of inputs `app-id` and `private-key` sees it: its installation there, whose
/// token clones, pushes (so the repository's workflows run on the bot's pull requests) and comments as
/// `<app-slug>[bot]`.
async fn as_app(
    env: &ActionEnv,
    app: &AppCredentials,
    owner: &str,
    name: &str,
) -> Result<Repo, ActionError> {
    let misconfigured = |what: &str, e: &dyn std::fmt::Display| {
        ActionError::Misconfigured(format!(
            "inputs `app-id` and `private-key`: {what}: {e}. Check the App's id and key, and that the \
             App is installed on {owner}/{name} with contents, issues, pull requests and checks write"
        ))
    };
    let github = GitHubApp::new(app.app_id, &app.private_key, &env.api_url)
        .map_err(|e| misconfigured("the App's credentials", &e))?;
    let installation = github
        .repository_installation(owner, name)
        .await
        .map_err(|e| misconfigured(&format!("the App's installation on {owner}/{name}"), &e))?;
    Repo::for_installation(Arc::new(github), installation, owner, name)
        .await
        .map_err(|e| misconfigured("the installation's token", &e))
}

/// The outputs and summary from the run's record.
fn outcome(record: &serde_json::Value) -> ActionOutcome {
    let pr_url = record["pr_url"].as_str().map(str::to_owned);
    let summary = record["summary"].as_str().unwrap_or_default();
    let link = pr_url
        .as_deref()
        .map(|url| format!("Pull request: {url}\n\n"))
        .unwrap_or_default();
    ActionOutcome {
        pr_number: record["pr_number"].as_u64(),
        pr_url,
        cost_usd: record["cost_usd"].as_f64().unwrap_or(0.0),
        gates_passed: record["gates_passed"].as_bool().unwrap_or(false),
        branch: record["branch"].as_str().map(str::to_owned),
        evidence_dir: record["evidence_dir"].as_str().map(str::to_owned),
        summary_markdown: format!("## MetaGPT\n\n{link}{summary}"),
    }
}

/// The agent settings of the job: inputs for the LLM, the job's environment for the interpreter, price
/// overrides, the sandbox and the run limits.
fn settings(
    env: &ActionEnv,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Settings, ActionError> {
    let key = env.llm_api_key.expose_secret().to_owned();
    let mut pairs: Vec<(&str, String)> = vec![
        (
            "LLM_BASE_URL",
            env.llm_base_url
                .clone()
                .unwrap_or_else(|| DEFAULT_LLM_BASE_URL.into()),
        ),
        (
            "LLM_MODEL",
            env.llm_model
                .clone()
                .unwrap_or_else(|| DEFAULT_LLM_MODEL.into()),
        ),
        (
            "LLM_API_TYPE",
            env.llm_api_type.clone().unwrap_or_else(|| "openai".into()),
        ),
        ("LLM_API_KEY", key),
    ];
    for name in [
        "METAGPT_PYTHON",
        "LLM_PRICE_PROMPT",
        "LLM_PRICE_COMPLETION",
        "AGENT_SANDBOX",
        "AGENT_MEMORY_MB",
        "AGENT_MAX_PROCESSES",
        "AGENT_CPU_SECS",
        "AGENT_UID",
    ] {
        if let Some(value) = lookup(name).filter(|v| !v.trim().is_empty()) {
            pairs.push((name, value));
        }
    }
    Settings::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
        .map_err(|e| ActionError::Misconfigured(format!("the agent settings: {e}")))
}
