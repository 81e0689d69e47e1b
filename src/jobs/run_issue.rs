//! A run of an issue on GitHub, for the App and the Action alike, as named steps: settings (the label
//! gate) → authorise → the repository's settings and the issue → checkout → MetaGPT (the face-independent
//! [`crate::run`]) → push → publish. Each step is a function below; [`run_issue`] only orders them.
//!
//! Invariants:
//! - Nothing is visible on GitHub for a label run whose label is not the repository's trigger label: it
//!   ends at the gate, before the 👀.
//! - A comment trigger runs only for a sender whose permission, checked by numeric user id, is write,
//!   maintain or admin; a comment on a pull request only on the bot's own PRs (`authorise`).
//! - Nothing is pushed when the run failed or was stopped; the progress comment says what happened and
//!   what to do. In the App the queue is asked right before the push whether a `/metagpt stop` came
//!   (`Queue::begin_publish`): a stop the bot acknowledged wins, and once past that point a later stop
//!   is told it came too late.
//! - The issue has at most one progress comment, found by its marker among the comments the bot itself
//!   wrote (never another bot's or a person's) before one is created, and edited in place as the run
//!   goes (running, done, failed, stopped; in the App also how many runs wait behind it). Failing to
//!   update it never fails the run.
//! - Idempotent after a crash: the bot's commit carries a `MetaGPT-Job:` trailer; a retried job whose
//!   commit is already on the branch does not run MetaGPT again, it pushes and publishes what is there,
//!   so a crash between push and PR creation still ends with exactly one PR.
//! - One work tree per (repository, issue): `<work_dir>/<owner>/<repo>/issue-<N>/<repo>` (the last
//!   component is the repository's name, as MetaGPT's incremental mode needs). Whatever a previous run
//!   left there is discarded before the branch is prepared; commits are not (an unpushed commit of a
//!   crashed run is pushed by the retry). git2 blocks, so every git step runs in `spawn_blocking`, with a
//!   token minted right before it. The push never forces: when humans pushed meanwhile, their commits are
//!   merged in and the push is tried again, once.

use std::path::Path;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::authorise::{self, Resolved};
use super::publish::{self, Evidence, Target};
use super::voice::{self, Hint, Status, Step};
use super::{Context, Face, Failure, JobKey, request, work_tree};
use crate::domain::{RepoRef, RunRequest, RunTarget, Trigger};
use crate::github::{GitHubError, Issue, ReactionTarget, Repo, RepoSettings, Repository};
use crate::marks;
use crate::queue::{PublishGate, Queue};
use crate::repo_config::RepoConfig;
use crate::run::gateway::CacheOptions;
use crate::run::{self, LlmSetup, Plan, RunError};
use crate::workspace::{
    CommitSubject, Credentials, PreparedBranch, SourceLayout, Workspace, WorkspaceError,
};

/// Runs `request` for `trigger` as described in the module documentation; `Ok` is the job's outcome.
pub async fn run_issue(
    ctx: &Context,
    repo: &Repo,
    trigger: &Trigger,
    request: &RunRequest,
    job: &JobKey,
    cancel: CancellationToken,
) -> Result<Value, Failure> {
    let (issue_number, read) = match admit(ctx, repo, trigger, request).await? {
        Admitted::Run { issue, settings } => (issue, settings),
        Admitted::Ended(outcome) => return Ok(outcome),
    };
    let RepoSettings { repository, config } = match read {
        Some(read) => *read,
        None => repo.settings().await?,
    };
    let issue = repo.issue(issue_number).await?;
    let waiting = ctx.queue().map(|queue| (queue.clone(), trigger.repo.id));
    let mut progress = ProgressComment::find(repo, issue_number, waiting).await?;
    let what = voice::what(trigger);
    let (config, llm) = configure(ctx, config, &mut progress, &what).await?;
    progress.show(&running(&what, 0, Step::Cloning)).await;
    let mut checkout = checkout(
        ctx,
        repo,
        &repository,
        issue_number,
        &config,
        &mut progress,
        &what,
    )
    .await?;
    let inputs = RunInputs {
        trigger,
        request,
        job,
        issue: &issue,
        repository: &repository,
        config: &config,
        llm: &llm,
        what: &what,
    };
    let evidence = produce(ctx, &mut checkout, &inputs, &mut progress, &cancel).await?;
    let head = push(
        ctx,
        repo,
        checkout,
        job,
        &evidence,
        &mut progress,
        &what,
        &cancel,
    )
    .await?;
    let target = Target {
        base: &repository.default_branch,
        branch: &marks::issue_branch(issue_number),
        head_sha: &head.to_string(),
        issue: &issue,
    };
    let published = publish::publish(repo, &target, &evidence).await?;
    let done = published.done(&what, &evidence);
    progress.show(&Status::Done(done)).await;
    let mut record = published.record(&evidence);
    record["branch"] = target.branch.into();
    record["evidence_dir"] =
        marks::evidence_dir(&RunTarget::Issue(issue_number), evidence.iteration).into();
    Ok(record)
}

/// Whether the run goes on: for which issue, with the repository's settings when the gate read them.
enum Admitted {
    Run {
        issue: u64,
        settings: Option<Box<RepoSettings>>,
    },
    /// It ends here, quietly or with a reply already posted; the job's outcome.
    Ended(Value),
}

/// The label gate, the 👀, and who asked: a label needs no check (GitHub lets only triage and above
/// label); a command's sender and target are checked ([`authorise::resolve`]).
async fn admit(
    ctx: &Context,
    repo: &Repo,
    trigger: &Trigger,
    request: &RunRequest,
) -> Result<Admitted, Failure> {
    let settings = match label_gate(ctx, repo, request).await? {
        Gate::Open(settings) => settings,
        Gate::Closed(reason) => {
            tracing::info!(%reason, "not this repository's trigger label; nothing to do");
            return Ok(Admitted::Ended(json!({ "skipped": reason })));
        }
    };
    acknowledge(repo, trigger).await;
    let issue = match request {
        RunRequest::Labeled { .. } => trigger.issue_number,
        RunRequest::Iterate { .. } | RunRequest::Retry { .. } => {
            match authorise::resolve(repo, trigger).await? {
                Resolved::Issue(issue) => issue,
                Resolved::Refused(reason) => {
                    return Ok(Admitted::Ended(json!({ "refused": reason })));
                }
            }
        }
    };
    Ok(Admitted::Run { issue, settings })
}

/// What the label gate decided.
enum Gate {
    /// Go on; with the settings when the gate had to read them (so the run does not read them again).
    Open(Option<Box<RepoSettings>>),
    /// End quietly, for this reason (kept in the job's outcome and the log only).
    Closed(String),
}

/// Ends a label run of the App quietly when its label is not the repository's trigger label: that is
/// the default label `metagpt` in a repository whose `.github/metagpt.yml` renamed the trigger (intake
/// cannot read the file). An invalid file does not end it: the run reports the file's problem on the
/// issue. Every other request, and every run of the Action (its `trigger-label` input decided at
/// intake), passes without a request.
async fn label_gate(ctx: &Context, repo: &Repo, request: &RunRequest) -> Result<Gate, Failure> {
    let (
        RunRequest::Labeled {
            label: Some(label), ..
        },
        Face::App { .. },
    ) = (request, &ctx.face)
    else {
        return Ok(Gate::Open(None));
    };
    let settings = repo.settings().await?;
    match &settings.config {
        Ok(config) if !config.is_trigger(label) => Ok(Gate::Closed(format!(
            "label `{label}` is not the trigger label of {} (`trigger_label: {}` in {}): nothing \
             to do",
            repo.full_name(),
            config.trigger_label,
            crate::repo_config::PATH
        ))),
        _ => Ok(Gate::Open(Some(Box::new(settings)))),
    }
}

fn running(what: &str, iteration: u32, step: Step) -> Status {
    Status::Running {
        what: what.to_owned(),
        iteration,
        step,
    }
}

/// A 👀 on what started the run (the labelled issue, or the comment). Best effort.
async fn acknowledge(repo: &Repo, trigger: &Trigger) {
    let target = match trigger.request.comment_id() {
        Some(comment) => ReactionTarget::Comment(comment),
        None => ReactionTarget::Issue(trigger.issue_number),
    };
    if let Err(error) = repo.react(target, "eyes").await {
        tracing::warn!(%error, "could not react to the trigger");
    }
}

/// The repository's settings and the LLM setup the run uses, or the failure told on the issue.
async fn configure(
    ctx: &Context,
    config: Result<RepoConfig, crate::repo_config::RepoConfigError>,
    progress: &mut ProgressComment<'_>,
    what: &str,
) -> Result<(RepoConfig, LlmSetup), Failure> {
    let config = match config {
        Ok(config) => config,
        Err(problem) => {
            let told = progress
                .fail(what, problem.to_string(), Hint::SettingsFile)
                .await;
            return Err(Failure::Misconfigured(told.message().to_owned()));
        }
    };
    let llm = match &ctx.llm {
        Err(problems) => {
            let problems = voice::incomplete_agent_settings(problems);
            let told = progress.fail(what, problems, Hint::Operator).await;
            return Err(Failure::Misconfigured(told.message().to_owned()));
        }
        Ok(llm) => match &config.llm_model {
            None => llm.clone(),
            Some(model) => match llm.for_model(model) {
                Ok(llm) => llm,
                Err(problem) => {
                    let told = progress
                        .fail(what, problem.to_string(), Hint::LlmModel)
                        .await;
                    return Err(Failure::Misconfigured(told.message().to_owned()));
                }
            },
        },
    };
    Ok((config, llm))
}

/// A checked-out issue branch that passed the preflight.
struct Checkout {
    workspace: Workspace,
    branch: PreparedBranch,
    layout: SourceLayout,
}

/// Clones or fetches the issue's work tree, discards leftovers, prepares the branch and runs the
/// preflight; an unsuitable tree is told on the issue.
async fn checkout(
    ctx: &Context,
    repo: &Repo,
    repository: &Repository,
    issue: u64,
    config: &RepoConfig,
    progress: &mut ProgressComment<'_>,
    what: &str,
) -> Result<Checkout, Failure> {
    let token = repo.git_token().await?;
    let dir = work_tree(
        &ctx.work_dir,
        &RepoRef {
            id: repository.id,
            owner: repo.owner().to_owned(),
            name: repo.name().to_owned(),
        },
        issue,
    );
    let url = match &ctx.face {
        Face::Action { clone_url, .. } => clone_url.clone(),
        Face::App { .. } => repository.clone_url.clone(),
    };
    let (source_dir, spec_dir) = (config.source_dir.clone(), config.spec_dir.clone());
    let prepared = blocking(move || {
        prepare(
            &url,
            &dir,
            token,
            issue,
            source_dir.as_deref(),
            spec_dir.as_deref(),
        )
    })
    .await;
    match prepared {
        Ok(Ok(checkout)) => Ok(checkout),
        Ok(Err(unsuitable)) => Err(progress.fail(what, unsuitable, Hint::Layout).await),
        Err(error) => Err(Failure::workspace(error)),
    }
}

/// The blocking part of [`checkout`]: `Ok(Err(reason))` is a tree the preflight refused.
fn prepare(
    url: &str,
    dir: &Path,
    token: SecretString,
    issue: u64,
    source_dir: Option<&str>,
    spec_dir: Option<&str>,
) -> Result<Result<Checkout, String>, WorkspaceError> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|source| WorkspaceError::Io {
            action: format!("creating {}", parent.display()),
            source,
        })?;
    }
    let workspace = Workspace::clone_or_open(url, dir, Credentials::token(token))?;
    workspace.discard_changes()?;
    let branch = workspace.prepare_branch(&marks::issue_branch(issue))?;
    Ok(match workspace.preflight(source_dir, spec_dir) {
        Ok(layout) => Ok(Checkout {
            workspace,
            branch,
            layout,
        }),
        Err(refused) => Err(refused.to_string()),
    })
}

/// What the agent step needs besides the checkout.
struct RunInputs<'a> {
    trigger: &'a Trigger,
    request: &'a RunRequest,
    job: &'a JobKey,
    issue: &'a Issue,
    repository: &'a Repository,
    config: &'a RepoConfig,
    llm: &'a LlmSetup,
    what: &'a str,
}

/// The iteration's evidence: what a crashed attempt of this job already committed (its trailer is on
/// the branch head: run nothing, publish that), or a new run of MetaGPT.
async fn produce(
    ctx: &Context,
    checkout: &mut Checkout,
    inputs: &RunInputs<'_>,
    progress: &mut ProgressComment<'_>,
    cancel: &CancellationToken,
) -> Result<Evidence, Failure> {
    if !publish::already_committed(&checkout.workspace, &inputs.job.key) {
        return agent(ctx, checkout, inputs, progress, cancel).await;
    }
    let issue = inputs.issue.number;
    tracing::info!(issue, job = %inputs.job.key, "the run's commit is already on the branch; publishing it");
    let kind = inputs.config.kind_for(&inputs.issue.labels);
    let target = RunTarget::Issue(issue);
    Evidence::from_branch(&checkout.workspace, &target, kind, &ctx.renderer)
}

/// The shortest time between two step edits of the progress comment, so a long run does not spend the
/// installation's rate limit on edits.
const STEP_EDIT_INTERVAL: Duration = Duration::from_secs(20);

/// Runs MetaGPT on the checkout (the shared [`run::execute`]), showing its current SOP step on the
/// progress comment; a failure or a stop is told there and nothing is pushed.
async fn agent(
    ctx: &Context,
    checkout: &mut Checkout,
    inputs: &RunInputs<'_>,
    progress: &mut ProgressComment<'_>,
    cancel: &CancellationToken,
) -> Result<Evidence, Failure> {
    let target = RunTarget::Issue(inputs.issue.number);
    let iteration = run::next_iteration(&checkout.workspace, &target);
    let text = request::text(
        &checkout.workspace.root().join(&checkout.layout.spec_dir),
        inputs.request,
        inputs.issue,
        inputs.config,
        iteration,
        &inputs.trigger.sender_login,
    );
    let what = inputs.what;
    progress
        .show(&running(what, iteration, Step::TeamAtWork))
        .await;
    let settings = ctx.run_settings(inputs.config);
    let replay = inputs.job.attempt > 1 || matches!(inputs.request, RunRequest::Retry { .. });
    let (steps, step) = watch::channel(None);
    let plan = Plan {
        workspace: &mut checkout.workspace,
        branch: &checkout.branch,
        layout: &checkout.layout,
        target: target.clone(),
        subject: CommitSubject::Issue(inputs.issue.number),
        kind: inputs.config.kind_for(&inputs.issue.labels),
        title: inputs.issue.title.clone(),
        text,
        settings: &settings,
        llm: inputs.llm,
        cache: Some(CacheOptions {
            dir: ctx.cache_dir(&inputs.trigger.repo, inputs.issue.number, iteration),
            replay,
        }),
        out: None,
        email: &ctx.email,
        trailer: Some(marks::job_trailer(&inputs.job.key)),
        link_base: Some(format!(
            "{}/blob/{}",
            inputs.repository.html_url.trim_end_matches('/'),
            checkout.branch.name
        )),
        steps: Some(steps),
    };
    let result = execute_showing_steps(plan, step, progress, what, iteration, cancel).await;
    match result {
        Ok(outcome) => Ok(Evidence::from_outcome(outcome)),
        Err(stopped @ RunError::Cancelled { .. }) => {
            progress
                .show(&Status::Stopped {
                    what: what.to_owned(),
                    by: ctx.stopped_by(),
                })
                .await;
            Err(Failure::Cancelled(stopped.to_string()))
        }
        Err(failed) => Err(failed_run(progress, what, failed).await),
    }
}

/// Runs the plan ([`run::execute`]), editing the progress comment with MetaGPT's current SOP step as
/// its trace names it, at most every [`STEP_EDIT_INTERVAL`].
async fn execute_showing_steps(
    plan: Plan<'_>,
    mut step: watch::Receiver<Option<String>>,
    progress: &mut ProgressComment<'_>,
    what: &str,
    iteration: u32,
    cancel: &CancellationToken,
) -> Result<run::Outcome, RunError> {
    let executed = run::execute(plan, cancel.clone());
    tokio::pin!(executed);
    let mut last_edit: Option<Instant> = None;
    loop {
        tokio::select! {
            result = &mut executed => return result,
            Ok(()) = step.changed() => {
                let current = step.borrow_and_update().clone();
                let due = last_edit.is_none_or(|at| at.elapsed() >= STEP_EDIT_INTERVAL);
                if let (Some(current), true) = (current, due) {
                    last_edit = Some(Instant::now());
                    progress.show(&running(what, iteration, Step::Agent(current))).await;
                }
            }
        }
    }
}

/// A run that reached no verdict, by what its error says: a git or scratch-space failure that may pass
/// is retried (calls already paid for are replayed); evidence the bot could not gather is its own bug,
/// told and logged as such; anything else (MetaGPT, the LLM, the budget, the time limit) is told.
async fn failed_run(progress: &mut ProgressComment<'_>, what: &str, failed: RunError) -> Failure {
    let transient = match &failed {
        RunError::Git { error, .. } => Failure::workspace_is_transient(error),
        RunError::Scratch(_) => true,
        _ => false,
    };
    if transient {
        return Failure::Transient(failed.to_string());
    }
    let told = progress
        .fail(what, failed.to_string(), Hint::RunFailed)
        .await;
    match failed {
        RunError::Evidence { .. } => Failure::Internal(told.message().to_owned()),
        _ => told,
    }
}

/// Pushes the branch (merging commits humans pushed meanwhile, never forcing), unless a stop came first:
/// in the App the queue is asked right before the push ([`Queue::begin_publish`]), so a stop the bot
/// acknowledged wins, whichever replica applied it and however long until the next heartbeat.
#[allow(clippy::too_many_arguments)]
async fn push(
    ctx: &Context,
    repo: &Repo,
    checkout: Checkout,
    job: &JobKey,
    evidence: &Evidence,
    progress: &mut ProgressComment<'_>,
    what: &str,
    cancel: &CancellationToken,
) -> Result<git2::Oid, Failure> {
    let stopped = Status::Stopped {
        what: what.to_owned(),
        by: ctx.stopped_by(),
    };
    if cancel.is_cancelled() {
        progress.show(&stopped).await;
        return Err(Failure::Cancelled("stopped before the push".into()));
    }
    progress
        .show(&running(what, evidence.iteration, Step::Publishing))
        .await;
    if let Some(stop) = publish_gate(ctx, job).await? {
        if matches!(stop, Failure::Cancelled(_)) {
            progress.show(&stopped).await;
        }
        return Err(stop);
    }
    let token = repo.git_token().await?;
    let Checkout {
        mut workspace,
        branch,
        ..
    } = checkout;
    let email = ctx.email.clone();
    let pushed = blocking(move || {
        workspace.set_credentials(Credentials::token(token));
        match workspace.push(&branch.name) {
            Err(WorkspaceError::RemoteMoved { .. }) => {
                workspace.integrate_remote(&branch.name, &email)?;
                workspace.push(&branch.name)?;
            }
            other => other?,
        }
        workspace.head()
    })
    .await;
    match pushed {
        Ok(head) => Ok(head),
        Err(error) if Failure::workspace_is_transient(&error) => Err(Failure::workspace(error)),
        // Commits pushed meanwhile that do not merge, or a branch the server refuses: the branch is the
        // people's to fix before the next run.
        Err(error) => Err(progress.fail(what, error.to_string(), Hint::Branch).await),
    }
}

/// The issue's progress comment, created on first use.
pub struct ProgressComment<'a> {
    repo: &'a Repo,
    issue: u64,
    id: Option<u64>,
    /// The queue and repository id, to show how many runs wait behind this one (the App).
    waiting: Option<(Queue, u64)>,
}

impl<'a> ProgressComment<'a> {
    /// Finds the issue's progress comment written by the bot (none is created yet). With `waiting`,
    /// every edit shows how many runs of the issue wait in that queue.
    pub async fn find(
        repo: &'a Repo,
        issue: u64,
        waiting: Option<(Queue, u64)>,
    ) -> Result<ProgressComment<'a>, GitHubError> {
        let id = repo
            .find_own_comment(issue, marks::PROGRESS)
            .await?
            .map(|comment| comment.id);
        Ok(Self {
            repo,
            issue,
            id,
            waiting,
        })
    }

    /// Shows that the run failed for a reason the person can act on; returns that failure as told.
    pub async fn fail(&mut self, what: &str, reason: String, hint: Hint) -> Failure {
        let status = Status::Failed {
            what: what.to_owned(),
            reason: reason.clone(),
            hint,
        };
        self.show(&status).await;
        Failure::Told(reason)
    }

    /// Shows `status`: edits the comment, or creates it the first time. Failures are logged only.
    pub async fn show(&mut self, status: &Status) {
        if let Err(error) = self.try_show(status).await {
            tracing::warn!(issue = self.issue, %error, "could not update the progress comment");
        }
    }

    async fn try_show(&mut self, status: &Status) -> Result<(), GitHubError> {
        let mut body = status.render();
        if let Some((queue, repo_id)) = &self.waiting {
            let waiting = queue.waiting(*repo_id, self.issue).await.unwrap_or(0);
            body = voice::with_queued_note(&body, waiting);
        }
        match self.id {
            Some(id) => {
                self.repo.update_comment(id, &body).await?;
            }
            None => {
                let comment = self.repo.create_comment(self.issue, &body).await?;
                self.id = Some(comment.id);
            }
        }
        Ok(())
    }
}

/// In the App, the queue's word right before the push ([`Queue::begin_publish`]): `None` to push (the
/// job is past its point of no return), else why not — a stop came first, or the lease was lost.
async fn publish_gate(ctx: &Context, job: &JobKey) -> Result<Option<Failure>, Failure> {
    let (Face::App { queue }, Some(queued)) = (&ctx.face, &job.queued) else {
        return Ok(None);
    };
    let gate = queue
        .begin_publish(queued)
        .await
        .map_err(|e| Failure::Transient(format!("cannot pass the publish gate: {e:#}")))?;
    Ok(match gate {
        PublishGate::Proceed => None,
        PublishGate::Stopped => Some(Failure::Cancelled("stopped right before the push".into())),
        // Another worker holds the job now and will run it: nothing to say, nothing to write.
        PublishGate::LeaseLost => Some(Failure::Transient(
            "the job's lease was lost before the push".into(),
        )),
    })
}

/// Runs blocking git work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, WorkspaceError> + Send + 'static,
) -> Result<T, WorkspaceError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|join| {
            Err(WorkspaceError::Io {
                action: "running git in the background".into(),
                source: std::io::Error::other(join.to_string()),
            })
        })
}
