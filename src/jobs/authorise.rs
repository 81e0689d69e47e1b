//! Which issue a trigger is for, and whether its sender may ask for it; the one reply a refused command
//! gets.
//!
//! Invariants:
//! - A label trigger needs no check here: GitHub only lets triage-or-above users label, and intake
//!   accepted only the trigger label (or a label check found it in the repository's settings).
//! - A comment trigger is checked by the sender's numeric user id: write, maintain or admin may ask;
//!   anyone else (read, triage, none, a renamed account) gets one short reply and nothing happens.
//! - A comment on a pull request is for the issue of the bot's branch `metagpt/issue-<N>`, and only when
//!   the PR's head is that branch of the same repository (never a fork's code), and when the PR body's
//!   marker named that issue at intake (so the job waited in that issue's line).
//! - One reply per command comment: the reply names the comment it answers (`marks::reply_to`), and a
//!   retried job that finds its own earlier reply posts none.

use super::{Failure, voice};
use crate::domain::Trigger;
use crate::github::{GitHubError, Permission, Repo};
use crate::marks;

/// The issue to act on, or why not (already answered on GitHub).
pub enum Resolved {
    Issue(u64),
    Refused(String),
}

/// Checks the sender and finds the issue (see the module documentation).
pub async fn resolve(repo: &Repo, trigger: &Trigger) -> Result<Resolved, Failure> {
    if let Some(permission) = weak_sender(repo, trigger).await? {
        return refuse(
            repo,
            trigger,
            voice::refused_permission(trigger, permission),
        )
        .await;
    }
    if !trigger.is_pull_request {
        return Ok(Resolved::Issue(trigger.issue_number));
    }
    let pull = repo.pull(trigger.issue_number).await?;
    let own_repo = pull.head_repo.as_deref() == Some(pull.base_repo.as_str());
    match marks::branch_issue(&pull.head_ref) {
        Some(issue) if own_repo && trigger.work_issue == Some(issue) => Ok(Resolved::Issue(issue)),
        Some(issue) if own_repo => {
            refuse(repo, trigger, voice::refused_lost_marker(trigger, issue)).await
        }
        _ => {
            let reason =
                voice::refused_not_ours(trigger, &pull.head_ref, pull.head_repo.as_deref());
            refuse(repo, trigger, reason).await
        }
    }
}

async fn refuse(repo: &Repo, trigger: &Trigger, reason: String) -> Result<Resolved, Failure> {
    reply(repo, trigger, &reason).await?;
    Ok(Resolved::Refused(reason))
}

/// The sender's permission when it is too weak for what the trigger asks (see the module
/// documentation); `None` when the sender may ask, including every label trigger (not looked up).
pub async fn weak_sender(
    repo: &Repo,
    trigger: &Trigger,
) -> Result<Option<Permission>, GitHubError> {
    if trigger.request.comment_id().is_none() {
        return Ok(None);
    }
    let permission = repo
        .permission(trigger.sender_id, &trigger.sender_login)
        .await?;
    Ok((!permission.can_trigger()).then_some(permission))
}

/// Whether `sender` may stop runs (the stop job's own rule), asked of GitHub.
pub async fn may_stop(repo: &Repo, sender_id: u64, login: &str) -> Result<bool, GitHubError> {
    Ok(repo.permission(sender_id, login).await?.can_trigger())
}

/// Answers `trigger` with a short comment, once (see the module documentation).
pub async fn reply(repo: &Repo, trigger: &Trigger, text: &str) -> Result<(), Failure> {
    let answers = trigger.request.comment_id();
    if let Some(comment) = answers {
        let marker = marks::reply_to(comment);
        if repo
            .find_own_comment(trigger.issue_number, &marker)
            .await?
            .is_some()
        {
            return Ok(());
        }
    }
    let body = voice::reply(answers, text);
    repo.create_comment(trigger.issue_number, &body).await?;
    Ok(())
}
