//! A GitHub trigger, start to finish: the one module that knows the order of a run's steps on GitHub.
//! Both faces use it: the App (`serve`: one job from the queue, as an installation, [`Pipeline`]) and the
//! Action (one event, with the job's `GITHUB_TOKEN`), through [`handle`].
//!
//! Invariants:
//! - The order lives in [`flow`]; every step is a call into a module that knows one thing (GitHub
//!   operations, the workspace, the shared [`crate::run`], evidence rendering).
//! - A failure is classified once, here: transient (GitHub 5xx, rate limits, the network: retried by the
//!   queue with backoff), permanent (the repository's or the request's problem: told on the issue, not
//!   retried), or cancelled (`/metagpt stop`).

mod acknowledge;
pub mod announcer;
mod app;
mod checkout;
mod control;
mod flow;
mod label;
mod label_check;
mod progress;
mod publish;
mod pull;
mod queued;
mod request;
mod session;
mod settings;
mod stop;
mod target;
pub mod worker;

pub use app::Pipeline;
pub use checkout::work_tree;
pub use control::ControlJobs;
pub use flow::{JobKey, handle};
pub use label_check::LabelCheck;
pub use progress::Status;
pub use session::{GIT_TOKEN_VALIDITY, Session};
pub use stop::StopHandler;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use octocrab::Octocrab;

use crate::domain::{RepoRef, Trigger};
use crate::github::{GitHubApp, GitHubError};
use crate::queue::JobError;
use crate::repo_config::RepoConfig;
use crate::run::evidence::Renderer;
use crate::run::{LlmSetup, RunSettings};
use crate::workspace::{DEFAULT_BOT_EMAIL, WorkspaceError};

/// What every run of the process shares.
pub struct Context {
    /// Work trees (one per issue) live under it.
    pub work_dir: PathBuf,
    /// Replay caches (one per issue and iteration) live under it.
    pub cache_root: PathBuf,
    /// The agent's LLM setup, or every problem of the settings (each with its fix).
    pub llm: Result<LlmSetup, String>,
    /// The bot's commit e-mail.
    pub email: String,
    pub renderer: Renderer,
    /// MetaGPT's wall-clock limit per run.
    pub timeout: Duration,
    /// Knobs that override the repository's `.github/metagpt.yml` (the Action's inputs).
    pub overrides: Option<RunOverrides>,
    /// The App's queue, to show on the progress comment how many runs wait (`None` in the Action).
    pub queue: Option<crate::queue::Queue>,
    /// Where to clone from instead of the API's `clone_url` (the Action's
    /// `$GITHUB_SERVER_URL/$GITHUB_REPOSITORY.git`).
    pub clone_url: Option<String>,
    /// Whether a label's run starts only when the label is the repository's `trigger_label` (the App; see
    /// `label`). Off by default: the Action's `trigger-label` input decides at intake instead.
    pub honour_trigger_label: bool,
}

/// Run knobs set by the face rather than the repository (the Action's inputs).
#[derive(Debug, Clone, PartialEq)]
pub struct RunOverrides {
    pub n_round: u32,
    pub max_cost_usd: f64,
    pub code_review: bool,
    pub run_tests: bool,
}

impl Context {
    /// A context with the built-in templates and the bot's default e-mail.
    pub fn new(
        work_dir: PathBuf,
        llm: Result<LlmSetup, String>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            cache_root: work_dir.join(".cache"),
            work_dir,
            llm,
            email: DEFAULT_BOT_EMAIL.to_owned(),
            renderer: Renderer::new(None)?,
            timeout,
            overrides: None,
            clone_url: None,
            queue: None,
            honour_trigger_label: false,
        })
    }

    fn run_settings(&self, config: &RepoConfig) -> RunSettings {
        let mut settings = RunSettings {
            n_round: config.n_round,
            max_cost_usd: config.max_cost_usd,
            code_review: config.code_review,
            run_tests: config.run_tests,
            timeout: self.timeout,
            protected_paths: config.protected_paths.clone(),
            llm_timeout: crate::run::DEFAULT_LLM_TIMEOUT,
        };
        if let Some(o) = &self.overrides {
            settings.n_round = o.n_round;
            settings.max_cost_usd = o.max_cost_usd;
            settings.code_review = o.code_review;
            settings.run_tests = o.run_tests;
        }
        settings
    }

    fn cache_dir(&self, repo: &RepoRef, issue: u64, iteration: u32) -> PathBuf {
        self.cache_root
            .join(&repo.owner)
            .join(&repo.name)
            .join(format!("issue-{issue}"))
            .join(iteration.to_string())
    }
}

/// Why a run did not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// May succeed later: retry.
    Transient(String),
    /// Will not succeed by retrying; already told on the issue when it is the person's to fix.
    Permanent(String),
    /// `/metagpt stop` (or a lost lease) ended it; nothing was pushed.
    Cancelled(String),
    /// The repository's settings or the credentials' permissions are wrong (told on the issue when
    /// possible); not retried. The Action exits 2 for it.
    Misconfigured(String),
}

/// The App installation `trigger` came through. A delivery without one (from a webhook set up outside
/// the App) fails for good, saying to install the App on the repository and then `again`; `what` names
/// the request ("the label `x`", "the `/metagpt stop`").
pub(crate) fn installation_of(trigger: &Trigger, what: &str, again: &str) -> Result<u64, JobError> {
    trigger.installation_id.ok_or_else(|| {
        JobError::Permanent(format!(
            "{what} on {}#{} came without an App installation; install the App on the repository \
             and {again}",
            trigger.repo.full_name(),
            trigger.issue_number
        ))
    })
}

/// The client of the installation `trigger` came through (see [`installation_of`]), for control jobs.
pub(crate) async fn installation_client(
    github: &GitHubApp,
    trigger: &Trigger,
    what: &str,
    again: &str,
) -> Result<Arc<Octocrab>, JobError> {
    let installation = installation_of(trigger, what, again)?;
    let client = github
        .installation(installation)
        .await
        .map_err(Failure::github)?;
    Ok(client)
}

impl Failure {
    pub fn github(error: GitHubError) -> Self {
        if error.is_transient() {
            Failure::Transient(error.to_string())
        } else if matches!(error.status(), Some(401 | 403)) {
            Failure::Misconfigured(format!(
                "{error}; the App's installation (or the workflow's GITHUB_TOKEN) needs contents, \
                 issues, pull-requests and checks write permission on this repository"
            ))
        } else {
            Failure::Permanent(error.to_string())
        }
    }

    pub fn workspace(error: WorkspaceError) -> Self {
        match error {
            WorkspaceError::RemoteMoved { .. }
            | WorkspaceError::Git { .. }
            | WorkspaceError::Io { .. }
            | WorkspaceError::TokenRefused { .. } => Failure::Transient(error.to_string()),
            other => Failure::Permanent(other.to_string()),
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Failure::Transient(m)
            | Failure::Permanent(m)
            | Failure::Cancelled(m)
            | Failure::Misconfigured(m) => m,
        }
    }
}

impl From<Failure> for crate::queue::JobError {
    fn from(failure: Failure) -> Self {
        use crate::queue::JobError;
        match failure {
            Failure::Transient(message) => JobError::Transient(message),
            Failure::Permanent(message) | Failure::Misconfigured(message) => {
                JobError::Permanent(message)
            }
            Failure::Cancelled(message) => JobError::Permanent(format!("cancelled: {message}")),
        }
    }
}
