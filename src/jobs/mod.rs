//! What a worker does with a claimed job (bors' `handlers/mod.rs`): ONE dispatch over the job's typed
//! request, a tracing span per arm, and ONE error policy for every job.
//!
//! - A run request ([`RunRequest`]: a label, `/metagpt <feedback>`, `/metagpt retry`) runs the issue
//!   ([`run_issue()`]: settings → authorise → checkout → MetaGPT → push → publish), shared with the
//!   Action.
//! - A control request ([`ControlRequest`]) is short: `/metagpt stop` ([`stop`]) or a label check
//!   ([`label_check`]).
//! - Every job acts as the App installation its delivery came through, on one [`Repo`] built once.
//!
//! The error policy ([`Failure`]): what the person who asked must act on is told on GitHub (the progress
//! comment or a reply) and not retried; what may pass (GitHub's 5xx and rate limits, the network, the
//! database) is retried by the queue with backoff; the operator's or repository's misconfiguration is not
//! retried; anything else is internal (a bug), not retried and logged as an error; a stop ends the job
//! cancelled. The worker loop, leases and heartbeats are in [`worker`].

mod announce;
mod authorise;
mod label_check;
mod publish;
mod request;
mod run_issue;
mod stop;
pub mod voice;
pub mod worker;

pub use announce::start as start_announcer;
pub use run_issue::run_issue;
pub use stop::{Running, refuse_in_action as refuse_stop_in_action};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::config::Problem;
use crate::domain::{ControlRequest, RepoRef, Request, RunRequest, Trigger};
use crate::github::{GitHubApp, GitHubError, Repo};
use crate::queue::{Job, JobError, Queue};
use crate::repo_config::RepoConfig;
use crate::run::evidence::Renderer;
use crate::run::{self, LlmSetup, RunSettings};
use crate::workspace::{DEFAULT_BOT_EMAIL, WorkspaceError};

/// What every run of the process shares.
pub struct Context {
    /// Work trees (one per issue) live under it.
    pub work_dir: PathBuf,
    /// Replay caches (one per issue and iteration) live under it.
    pub cache_root: PathBuf,
    /// The agent's LLM setup, or every problem of the settings (each with its fix).
    pub llm: Result<LlmSetup, Vec<Problem>>,
    /// The bot's commit e-mail.
    pub email: String,
    pub renderer: Renderer,
    /// MetaGPT's wall-clock limit per run.
    pub timeout: Duration,
    pub face: Face,
}

/// Where the run happens, and what differs there.
pub enum Face {
    /// The GitHub App: it honours each repository's `trigger_label` (intake cannot read it), shows on
    /// the progress comment how many runs wait in its queue, and asks the queue before pushing.
    App { queue: Queue },
    /// A GitHub Actions job: its `trigger-label` input decided at intake, its inputs override the
    /// repository's run knobs, and it clones from `$GITHUB_SERVER_URL/$GITHUB_REPOSITORY.git`.
    Action {
        overrides: RunOverrides,
        clone_url: String,
    },
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
        llm: Result<LlmSetup, Vec<Problem>>,
        timeout: Duration,
        face: Face,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            cache_root: work_dir.join(".cache"),
            work_dir,
            llm,
            email: DEFAULT_BOT_EMAIL.to_owned(),
            renderer: Renderer::new()?,
            timeout,
            face,
        })
    }

    /// Who a cancellation comes from: `/metagpt stop` in the App; the workflow job's cancellation (the
    /// runner's SIGINT or SIGTERM) in the Action, where `/metagpt stop` is refused.
    fn stopped_by(&self) -> voice::StoppedBy {
        match &self.face {
            Face::App { .. } => voice::StoppedBy::Command,
            Face::Action { .. } => voice::StoppedBy::JobCancelled,
        }
    }

    fn queue(&self) -> Option<&Queue> {
        match &self.face {
            Face::App { queue } => Some(queue),
            Face::Action { .. } => None,
        }
    }

    fn run_settings(&self, config: &RepoConfig) -> RunSettings {
        let mut settings = RunSettings {
            n_round: config.n_round,
            max_cost_usd: config.max_cost_usd,
            code_review: config.code_review,
            run_tests: config.run_tests,
            timeout: self.timeout,
            protected_paths: config.protected_paths.clone(),
            llm_timeout: run::DEFAULT_LLM_TIMEOUT,
            setup: config.setup.clone(),
            project_tests: config.project_tests.clone(),
            max_changed_lines: config.max_changed_lines,
        };
        if let Face::Action { overrides: o, .. } = &self.face {
            settings.n_round = o.n_round;
            settings.max_cost_usd = o.max_cost_usd;
            settings.code_review = o.code_review;
            settings.run_tests = o.run_tests;
        }
        settings
    }

    /// The replay cache of one iteration of an issue's runs.
    fn cache_dir(&self, repo: &RepoRef, issue: u64, iteration: u32) -> PathBuf {
        issue_dir(&self.cache_root, repo, issue).join(iteration.to_string())
    }
}

/// The job a run belongs to: the queue's job (the App: its lease is what the publish gate checks), its
/// key, stable across attempts (`app-<job id>`, `action-<run id>`), which the run's commit carries, and
/// its attempt (1-based).
#[derive(Debug, Clone)]
pub struct JobKey {
    pub queued: Option<Job>,
    pub key: String,
    pub attempt: i32,
}

/// Where an issue's work tree lives.
fn work_tree(work_dir: &Path, repo: &RepoRef, issue: u64) -> PathBuf {
    issue_dir(work_dir, repo, issue).join(&repo.name)
}

/// An issue's own folder under `root`: `<root>/<owner>/<repo>/issue-<N>` (its work tree, its caches).
fn issue_dir(root: &Path, repo: &RepoRef, issue: u64) -> PathBuf {
    root.join(&repo.owner)
        .join(&repo.name)
        .join(format!("issue-{issue}"))
}

/// Why a job did not finish: the one error policy (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Told on GitHub (the progress comment or a reply): the person's to act on. Not retried.
    Told(String),
    /// The repository's settings file, the bot's settings or the credentials' permissions are wrong (told
    /// on the issue when possible). Not retried; the Action exits 2 for it.
    Misconfigured(String),
    /// GitHub, the network or the database failed in a way that may pass. Retried with backoff.
    Transient(String),
    /// A state that should not happen (a bug, unreadable evidence the bot wrote itself). Not retried.
    Internal(String),
    /// `/metagpt stop` (or a lost lease) ended it; nothing was pushed.
    Cancelled(String),
}

impl Failure {
    /// A workspace (git) failure: the network and the disk may recover, anything else will not.
    pub fn workspace(error: WorkspaceError) -> Self {
        if Self::workspace_is_transient(&error) {
            Failure::Transient(error.to_string())
        } else {
            Failure::Internal(error.to_string())
        }
    }

    /// Whether a workspace (git) failure may pass by itself: the network, the disk, a remote that moved
    /// or refused a token that a fresh one may fix.
    pub fn workspace_is_transient(error: &WorkspaceError) -> bool {
        matches!(
            error,
            WorkspaceError::RemoteMoved { .. }
                | WorkspaceError::Git { .. }
                | WorkspaceError::Io { .. }
                | WorkspaceError::TokenRefused { .. }
        )
    }

    pub fn message(&self) -> &str {
        match self {
            Failure::Told(m)
            | Failure::Misconfigured(m)
            | Failure::Transient(m)
            | Failure::Internal(m)
            | Failure::Cancelled(m) => m,
        }
    }
}

/// GitHub's own classification: transient failures are retried; a refusal of the credentials is the
/// operator's to fix; anything else will not pass by retrying.
impl From<GitHubError> for Failure {
    fn from(error: GitHubError) -> Self {
        if error.is_transient() {
            Failure::Transient(error.to_string())
        } else if matches!(error.status(), Some(401 | 403)) {
            Failure::Misconfigured(format!(
                "{error}; the App's installation (or the workflow's GITHUB_TOKEN) needs contents, \
                 issues, pull-requests and checks write permission on this repository"
            ))
        } else {
            Failure::Internal(error.to_string())
        }
    }
}

impl From<Failure> for JobError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Transient(message) => JobError::Transient(message),
            Failure::Told(message) | Failure::Misconfigured(message) => {
                JobError::Permanent(message)
            }
            Failure::Internal(message) => {
                tracing::error!(%message, "job failed on an internal error");
                JobError::Permanent(message)
            }
            Failure::Cancelled(message) => JobError::Permanent(format!("cancelled: {message}")),
        }
    }
}

/// The App's jobs: every job the workers claim goes through [`Jobs::dispatch`].
pub struct Jobs {
    github: Arc<GitHubApp>,
    context: Arc<Context>,
    queue: Queue,
    /// The run workers' signal: a label check that enqueues a run rings it.
    wake: Arc<Notify>,
    running: Running,
}

impl Jobs {
    pub fn new(
        github: Arc<GitHubApp>,
        context: Arc<Context>,
        queue: Queue,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            github,
            context,
            queue,
            wake,
            running: Running::default(),
        }
    }

    /// The one dispatch: the job's request, as the installation it came through.
    async fn dispatch(&self, job: &Job, cancel: CancellationToken) -> Result<Value, Failure> {
        let trigger = &job.trigger;
        let repo = self.repo(trigger).await?;
        match &trigger.request {
            Request::Run(request) => {
                let span = tracing::info_span!("run_issue", request = trigger.request.name());
                self.run(&repo, job, request, cancel).instrument(span).await
            }
            Request::Control(ControlRequest::Stop { comment_id }) => {
                let span = tracing::info_span!("stop", comment = comment_id);
                let stop = stop::stop(&repo, &self.queue, &self.running, job, *comment_id);
                stop.instrument(span).await
            }
            Request::Control(ControlRequest::LabelCheck { label }) => {
                let span = tracing::info_span!("label_check", %label);
                let check = label_check::LabelCheck {
                    repo: &repo,
                    queue: &self.queue,
                    wake: &self.wake,
                };
                check.check(job, label).instrument(span).await
            }
        }
    }

    async fn run(
        &self,
        repo: &Repo,
        job: &Job,
        request: &RunRequest,
        cancel: CancellationToken,
    ) -> Result<Value, Failure> {
        let _running = self.running.register(job.id, cancel.clone());
        let key = JobKey {
            queued: Some(job.clone()),
            key: format!("app-{}", job.id),
            attempt: job.attempts,
        };
        run_issue(&self.context, repo, &job.trigger, request, &key, cancel).await
    }

    /// The repository of `trigger`, as the App installation the delivery came through. A delivery
    /// without one (from a webhook set up outside the App) fails for good, saying what to do.
    async fn repo(&self, trigger: &Trigger) -> Result<Repo, Failure> {
        let Some(installation) = trigger.installation_id else {
            let (what, again) = match &trigger.request {
                Request::Run(RunRequest::Labeled { .. }) => {
                    ("the delivery".to_owned(), "label the issue again")
                }
                Request::Run(_) => ("the delivery".to_owned(), "comment again"),
                Request::Control(ControlRequest::Stop { .. }) => {
                    ("the `/metagpt stop`".to_owned(), "comment again")
                }
                Request::Control(ControlRequest::LabelCheck { label }) => {
                    (format!("the label `{label}`"), "label the issue again")
                }
            };
            return Err(Failure::Misconfigured(format!(
                "{what} on {}#{} came without an App installation; install the App on the repository \
                 and {again}",
                trigger.repo.full_name(),
                trigger.issue_number
            )));
        };
        let (owner, name) = (&trigger.repo.owner, &trigger.repo.name);
        Ok(Repo::for_installation(self.github.clone(), installation, owner, name).await?)
    }
}

impl worker::Handler for Jobs {
    fn handle<'a>(
        &'a self,
        job: &'a Job,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<Value, JobError>> {
        Box::pin(async move { self.dispatch(job, cancel).await.map_err(JobError::from) })
    }
}
