//! The order of a GitHub run: [`label::gate`] → acknowledge → authorise → read the repository's settings
//! and the issue →
//! progress comment → checkout → MetaGPT (the shared [`runner`]) → push → pull request → check run →
//! progress comment done.
//!
//! Invariants:
//! - Nothing is visible on GitHub for a label run whose label is not the repository's trigger label: it
//!   ends at the gate, before the acknowledgement.
//! - A comment trigger runs only for a sender whose permission, checked by numeric user id, is write,
//!   maintain or admin; anyone else gets one short reply and nothing runs.
//! - A comment on a pull request runs only on the bot's own PRs (head `metagpt/issue-<N>` in the same
//!   repository): a fork's code never runs with the App's credentials.
//! - Nothing is pushed when the run failed or was stopped; the progress comment says what happened and
//!   what to do. Failures that are the repository's (bad `.github/metagpt.yml`, unsuitable tree) are
//!   permanent; GitHub's and the network's transient failures are retried by the caller.
//! - Idempotent after a crash: the bot's commit carries a `MetaGPT-Job:` trailer; a retried job whose
//!   commit is already on the branch does not run MetaGPT again, it pushes and publishes what is there,
//!   so a crash between push and PR creation still ends with exactly one PR.

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::acknowledge::{acknowledge, describe};
use super::checkout::{self, Checkout, CheckoutError};
use super::label::{self, Gate, RepoSettings};
use super::progress::{self, ProgressComment, Status};
use super::request;
use super::target::{Resolved, reply, resolve};
use super::{Context, Failure, publish, session::Session};
use crate::domain::RunTarget;
use crate::domain::{Action, Trigger};
use crate::github::get_issue;
use crate::marks;
use crate::run::gateway::CacheOptions;
use crate::run::{self, Plan, RunError};
use crate::workspace::CommitSubject;

/// What the job is (for logs and idempotence): its id and attempt, when it has them.
#[derive(Debug, Clone)]
pub struct JobKey {
    /// Stable across attempts (`app-<job id>`, `action-<run id>`).
    pub key: String,
    /// 1-based.
    pub attempt: i32,
}

/// Runs `trigger` as described in the module documentation; `Ok` holds the job's recorded outcome.
pub async fn handle(
    ctx: &Context,
    session: &Session,
    trigger: &Trigger,
    job: &JobKey,
    cancel: CancellationToken,
) -> Result<Value, Failure> {
    let client = session.client();
    let (owner, name) = (trigger.repo.owner.as_str(), trigger.repo.name.as_str());
    let read = match label::gate(ctx, client, trigger).await? {
        Gate::Open(read) => read,
        Gate::Closed(reason) => {
            tracing::info!(%reason, "not this repository's trigger label; nothing to do");
            return Ok(json!({ "skipped": reason }));
        }
    };
    acknowledge(session, trigger).await;
    let resolved = match resolve(client, trigger, &session.author()).await? {
        Resolved::Run(issue_number) => issue_number,
        Resolved::Refused(reason) => return Ok(json!({ "refused": reason })),
    };
    if matches!(trigger.action, Action::Stop { .. }) {
        // The App applies stops as control jobs and never gets here; a workflow cannot reach another
        // workflow run's agent.
        let reason = "`/metagpt stop` cannot stop a run from inside a GitHub Actions workflow: cancel \
                      the running workflow run from the repository's Actions tab instead.";
        reply(client, trigger, &session.author(), reason).await?;
        return Ok(json!({ "refused": reason }));
    }
    let RepoSettings { repository, config } = match read {
        Some(read) => *read,
        None => label::read(client, owner, name).await?,
    };
    let issue = get_issue(client, owner, name, resolved)
        .await
        .map_err(Failure::github)?;
    let mut progress = ProgressComment::find(client, owner, name, resolved, &session.author())
        .await
        .map_err(Failure::github)?
        .counting(ctx.queue.clone(), trigger.repo.id);
    let config = match config {
        Ok(config) => config,
        Err(problem) => {
            let hint =
                "Fix `.github/metagpt.yml` on the default branch, then comment `/metagpt retry`.";
            let what = describe(trigger);
            let failed = progress.fail(&what, problem.to_string(), hint).await;
            return Err(Failure::Misconfigured(failed.message().to_owned()));
        }
    };
    let what = describe(trigger);
    let llm = match ctx.llm.as_ref().map(|llm| match &config.llm_model {
        Some(model) => llm.for_model(model),
        None => Ok(llm.clone()),
    }) {
        Ok(Ok(llm)) => llm,
        Ok(Err(problem)) => {
            let hint =
                "Change `llm_model` in `.github/metagpt.yml`, then comment `/metagpt retry`.";
            let failed = progress.fail(&what, problem.to_string(), hint).await;
            return Err(Failure::Misconfigured(failed.message().to_owned()));
        }
        Err(problems) => {
            let hint = "The bot's operator must complete its agent settings.";
            return Err(progress.fail(&what, problems.clone(), hint).await);
        }
    };
    progress
        .show(&Status::Running {
            what: what.clone(),
            iteration: 0,
            step: "cloning the repository".into(),
        })
        .await;

    let token = session.git_token().await.map_err(Failure::github)?;
    let dir = checkout::work_tree(&ctx.work_dir, &trigger.repo, resolved);
    let url = ctx
        .clone_url
        .clone()
        .unwrap_or(repository.clone_url.clone());
    let checked = checkout::checkout(url, dir, token, resolved, config.source_dir.clone()).await;
    let Checkout {
        mut workspace,
        branch,
        layout,
    } = match checked {
        Ok(checkout) => checkout,
        Err(CheckoutError::Unsuitable(reason)) => {
            let hint = "Fix the repository's layout (or `source_dir` in `.github/metagpt.yml`), then \
                        comment `/metagpt retry`.";
            return Err(progress.fail(&what, reason, hint).await);
        }
        Err(CheckoutError::Git(error)) => return Err(Failure::workspace(error)),
    };
    let target = RunTarget::Issue(resolved);
    let kind = request::kind_of(&issue, &config);
    let outcome = if publish::already_committed(&workspace, &job.key) {
        tracing::info!(issue = resolved, job = %job.key, "the run's commit is already on the branch; publishing it");
        publish::Evidence::from_branch(&workspace, &target, kind, &ctx.renderer)?
    } else {
        let iteration = run::next_iteration(&workspace, &target);
        let text = match &trigger.action {
            Action::Iterate { feedback, .. } => request::with_feedback(
                workspace.root(),
                kind,
                &issue,
                iteration,
                &trigger.sender_login,
                feedback,
            ),
            Action::Retry { .. } => request::for_retry(workspace.root(), kind, &issue),
            Action::Run { .. } | Action::Stop { .. } | Action::Label { .. } => {
                request::from_issue(&issue)
            }
        };
        progress
            .show(&Status::Running {
                what: what.clone(),
                iteration,
                step: "MetaGPT's team at work (product manager → architect → project manager → \
                       engineer with code review → QA with tests)"
                    .into(),
            })
            .await;
        let settings = ctx.run_settings(&config);
        let replay = job.attempt > 1 || matches!(trigger.action, Action::Retry { .. });
        let plan = Plan {
            workspace: &mut workspace,
            branch: &branch,
            layout: &layout,
            target: target.clone(),
            subject: CommitSubject::Issue(resolved),
            kind,
            title: issue.title.clone(),
            text,
            settings: &settings,
            llm: &llm,
            cache: Some(CacheOptions {
                dir: ctx.cache_dir(&trigger.repo, resolved, iteration),
                replay,
            }),
            out: None,
            email: &ctx.email,
            trailer: Some(marks::job_trailer(&job.key)),
            link_base: Some(format!(
                "{}/blob/{}",
                repository.html_url.trim_end_matches('/'),
                branch.name
            )),
            steps: None,
        };
        let executed =
            progress::run_showing_steps(plan, &mut progress, &what, iteration, &cancel).await;
        match executed {
            Ok(outcome) => publish::Evidence::from_outcome(&outcome, &ctx.renderer)?,
            Err(stopped @ RunError::Cancelled { .. }) => {
                progress.show(&Status::Stopped { what }).await;
                return Err(Failure::Cancelled(stopped.to_string()));
            }
            Err(failed) => {
                let hint = "Nothing was pushed. Comment `/metagpt retry` to run it again (calls \
                            already paid for are replayed), or `/metagpt <feedback>` to change the \
                            request.";
                return Err(progress.fail(&what, failed.to_string(), hint).await);
            }
        }
    };
    if cancel.is_cancelled() {
        progress.show(&Status::Stopped { what }).await;
        return Err(Failure::Cancelled("stopped before the push".into()));
    }
    progress
        .show(&Status::Running {
            what: what.clone(),
            iteration: outcome.iteration,
            step: "pushing and opening the pull request".into(),
        })
        .await;
    let token = session.git_token().await.map_err(Failure::github)?;
    let branch_name = branch.name.clone();
    let head = checkout::push(workspace, branch_name.clone(), token, ctx.email.clone())
        .await
        .map_err(Failure::workspace)?;
    let published = publish::publish(
        client,
        &trigger.repo,
        &repository.default_branch,
        &branch_name,
        &head.to_string(),
        &issue,
        &outcome,
    )
    .await
    .map_err(Failure::github)?;
    progress
        .show(&Status::Done(published.done(&what, &outcome)))
        .await;
    Ok(published.record(&outcome))
}
